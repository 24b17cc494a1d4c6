"""``dnoutcomes sample OUT --episodes N --seed S``: write a synthetic clinic export.

Writes the five tables in the data contract's raw format plus ``truth.json`` (what is true
in the data) atomically into OUT. A non-empty OUT is refused unless ``--force`` is given,
which replaces it whole. Exit code 0 when written, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Declare the ``sample`` subcommand and its arguments."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sample",
        help="write a synthetic clinic export with a known ground truth",
        description=(
            "Write a synthetic, de-identified clinic export (patients, episodes, sessions, "
            "outcomes, adverse_events) with known effects, confounding, dropout, a site "
            "shift and published adverse-event rates, plus truth.json saying what is true "
            "in it. The same seed and options give byte-identical CSV and Parquet files."
        ),
    )
    parser.add_argument(
        "out",
        metavar="OUT",
        help="output folder (for --format xlsx: the workbook, ending .xlsx)",
    )
    parser.add_argument("--episodes", type=int, required=True, metavar="N", help="episodes")
    parser.add_argument("--seed", type=int, required=True, metavar="S", help="random seed")
    parser.add_argument("--sites", type=int, default=3, help="clinic sites (default 3)")
    parser.add_argument(
        "--start", default="2024-01-01", help="first day of the calendar (default 2024-01-01)"
    )
    parser.add_argument("--months", type=int, default=24, help="months covered (default 24)")
    parser.add_argument(
        "--confounding",
        type=float,
        default=1.0,
        help="strength of confounding by indication: 0 = randomised arms (default 1)",
    )
    parser.add_argument(
        "--format",
        choices=("csv", "parquet", "xlsx"),
        default="csv",
        help="file format (default csv)",
    )
    parser.add_argument(
        "--wide", action="store_true", help="write outcomes in wide form (a column per measure)"
    )
    parser.add_argument(
        "--force", action="store_true", help="replace OUT if it exists and is not empty"
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Generate and write the dataset; print what was written to stderr."""
    from dnoutcomes.sample import generate

    began = time.perf_counter()
    data = generate(
        episodes=args.episodes,
        seed=args.seed,
        sites=args.sites,
        start=args.start,
        months=args.months,
        confounding=args.confounding,
    )
    out = data.write(args.out, format=args.format, wide=args.wide, force=args.force)
    truth = out.with_name(out.stem + ".truth.json") if args.format == "xlsx" else out / "truth.json"
    rows = ", ".join(f"{t.num_rows:,} {name}" for name, t in data.tables.items())
    print(
        f"dnoutcomes sample: wrote {out} ({args.format}): {rows} "
        f"in {time.perf_counter() - began:.1f} s; the ground truth is in {truth}.",
        file=sys.stderr,
    )
    return 0
