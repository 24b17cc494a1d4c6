"""Exports too large to generate in one call, built from chunks (shared by the benchmarks).

Each chunk is one :func:`dnoutcomes.sample.generate` call with its own seed, so generation
never holds more than one chunk in memory. :func:`chunks` yields them;
:func:`write_single_export` writes them into one Parquet file per table (a row group or
more per chunk, through :class:`pyarrow.parquet.ParquetWriter`), with every id made
unique across chunks by a per-chunk prefix; ``bench_dask.py`` splits each chunk into
partition folders instead.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TABLES = ("patients", "episodes", "sessions", "outcomes", "adverse_events")
# The id columns of each table (own key and references): prefixed per chunk.
ID_COLUMNS = {
    "patients": ("patient_id",),
    "episodes": ("episode_id", "patient_id"),
    "sessions": ("session_id", "episode_id"),
    "outcomes": ("episode_id", "session_id"),
    "adverse_events": ("event_id", "session_id"),
}


def chunks(episodes: int, chunk: int, sites: int, seed: int) -> Iterator[tuple[int, Any]]:
    """``(index, SampleData)`` for each chunk of at most ``chunk`` episodes, chunk ``i``
    generated with seed ``seed + i``; ``episodes`` in all."""
    from dnoutcomes.sample import generate

    done = 0
    index = 0
    while done < episodes:
        size = min(chunk, episodes - done)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = generate(episodes=size, seed=seed + index, sites=sites)
        yield index, data
        done += size
        index += 1


def _prefixed(table: Any, columns: tuple[str, ...], prefix: str) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in columns:
        if name in table.column_names:
            at = table.column_names.index(name)
            column = pc.binary_join_element_wise(prefix, pc.cast(table[name], pa.string()), "")
            table = table.set_column(at, name, column)
    return table


def write_single_export(episodes: int, chunk: int, sites: int, seed: int, folder: Path) -> Path:
    """One Parquet file per table under ``folder``, ``episodes`` episodes generated in
    chunks (ids prefixed ``c<index>_``); reused when ``folder/_done.json`` says the same
    arguments."""
    import pyarrow.parquet as pq

    wanted = {"episodes": episodes, "chunk": chunk, "sites": sites, "seed": seed}
    stamp = folder / "_done.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    writers: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    try:
        for index, data in chunks(episodes, chunk, sites, seed):
            for name in TABLES:
                table = _prefixed(data.tables[name], ID_COLUMNS[name], f"c{index}_")
                if name not in writers:
                    schemas[name] = table.schema
                    writers[name] = pq.ParquetWriter(folder / f"{name}.parquet", table.schema)
                writers[name].write_table(table.cast(schemas[name]))
            del data, table
            print(f"chunk {index} written", flush=True)
    finally:
        for writer in writers.values():
            writer.close()
    stamp.write_text(json.dumps(wanted))
    return folder
