"""The floor under the loader's key checks: Arrow's own hash table over the id columns.

Uniqueness and references need every id of every referencing column looked up. This
script reads only the id columns of a Parquet export (``benchmarks/run.py`` builds them)
and times ``pyarrow.compute.dictionary_encode`` over each key with the columns that refer
to it, which is the least any hash-based check can cost::

    python benchmarks/hash_floor.py benchmarks/out/data/1000000-parquet

Compare its total with the raw read of the same export (``docs/performance.md``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

#: each key: the (table, column) holding it, then the columns that refer to it
KEYS = {
    "patient_id": [("patients", "patient_id"), ("episodes", "patient_id")],
    "episode_id": [
        ("episodes", "episode_id"),
        ("sessions", "episode_id"),
        ("outcomes", "episode_id"),
    ],
    "session_id": [
        ("sessions", "session_id"),
        ("outcomes", "session_id"),
        ("adverse_events", "session_id"),
    ],
}


def main(folder: Path) -> float:
    """Print and return the seconds ``dictionary_encode`` takes over every key's columns."""
    total = 0.0
    cells = 0
    for key, columns in KEYS.items():
        chunks = [
            chunk.cast(pa.string())
            for table, column in columns
            for chunk in pq.read_table(folder / f"{table}.parquet", columns=[column])[0].chunks
        ]
        values = pa.chunked_array(chunks, type=pa.string())
        start = time.perf_counter()
        encoded = pc.dictionary_encode(values)
        seconds = time.perf_counter() - start
        distinct = (
            len(encoded.chunk(encoded.num_chunks - 1).dictionary) if encoded.num_chunks else 0
        )
        print(f"{key}: {len(values):,} cells, {distinct:,} distinct, {seconds:.2f} s")
        total += seconds
        cells += len(values)
    print(f"all keys: {cells:,} cells hashed in {total:.2f} s")
    return total


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/out/data/1000000-parquet"))
