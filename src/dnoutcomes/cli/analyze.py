"""``dnoutcomes analyze PATH [--protocol FILE] [--reference A] [--comparator B] [--json]
[--quarantine] [--allow-column NAME] [--follow-symlinks]``: run every analysis of a study
protocol (default: the built-in analysis plan) on a clinic export.

Text mode prints a readable summary (headline estimates, patient flow, Table 1, each
section with its notes). ``--json`` prints one JSON document whose keys are those of the
analysis plan ("Machine-readable results"); numbers are unrounded and a section the data
cannot support is ``null`` with the reason under ``notes``. Exit code 0 when done, 1 when
the data break the contract or are too few for the primary analysis, 2 for a bad request
(unknown arm) or unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

from dnoutcomes.cli._protocol_args import (
    add_arm_arguments,
    add_load_arguments,
    add_protocol_argument,
    check_fit,
    load_for,
    read_protocol,
)
from dnoutcomes.errors import DnOutcomesWarning

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Declare the ``analyze`` subcommand and its arguments."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "analyze",
        help="compare two arms with every analysis of the plan",
        description=(
            "Compare two arms of a clinic export (default: dn_manual_exercise against "
            "dn_only) with every analysis of the analysis plan: ANCOVA, mixed model, "
            "responders, time to response, medication, IPTW, sites pooled and safety."
        ),
    )
    parser.add_argument("path", metavar="PATH", help="the export folder or .xlsx workbook")
    add_protocol_argument(parser)
    add_load_arguments(parser)
    add_arm_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--quarantine",
        action="store_true",
        help="analyse the valid rows and leave the invalid ones out (default: strict, any "
        "problem stops the analysis)",
    )
    parser.add_argument(
        "--engine",
        choices=("memory", "dask"),
        default="memory",
        help="memory (default): load the export and run every section; dask: summarise each "
        "partition of a partitioned export (a folder of export folders, e.g. site_id=north/) "
        "on a Dask cluster and pool the summaries (the sections that pool exactly; see "
        'docs/network.md; needs pip install "dnoutcomes[dask]")',
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="with --engine dask: a running scheduler (tcp://host:8786); default a local "
        "cluster on this machine",
    )
    parser.add_argument(
        "--grid-days",
        type=float,
        default=None,
        metavar="D",
        help="with --engine dask: width of the time-to-response grid in days (default 7)",
    )
    parser.set_defaults(run=run)
    return parser


def _run_dask(args: argparse.Namespace) -> int:
    """``--engine dask``: summaries per partition on a Dask cluster, pooled."""
    from dnoutcomes.cli._progress import Progress
    from dnoutcomes.network.dask_engine import analyze_partitions

    protocol = read_protocol(args)
    progress = Progress("analyze")
    with progress.step(f"summarising the partitions of {args.path} on Dask"):
        result = analyze_partitions(
            args.path, protocol, scheduler=args.scheduler, grid_days=args.grid_days
        )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        print(str(result))
        if result.notes:
            print("\nNotes")
            print("\n".join(f"- {note}" for note in result.notes))
    return 0


def run(args: argparse.Namespace) -> int:
    """Load the export, analyse it and print the text summary or the JSON document."""
    if getattr(args, "engine", "memory") == "dask":
        return _run_dask(args)
    from dnoutcomes.cli._progress import Progress
    from dnoutcomes.stats.analysis import analyze

    protocol = read_protocol(args)
    progress = Progress("analyze")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DnOutcomesWarning)
        with progress.step(f"loading and checking {args.path}"):
            dataset = load_for(args, protocol)
    check_fit(args, protocol, dataset)
    with progress.step(f"analysing {len(dataset.episodes):,} episodes"):
        result = analyze(dataset, protocol)
    n_warnings = max(len(dataset.warnings), len(caught))
    if args.json:
        document = result.to_dict()
        document["data_quality_warnings"] = n_warnings
        document["rejected_rows"] = len(dataset.rejects)
        print(json.dumps(document, indent=2, allow_nan=False))
    else:
        print(str(result))
    if n_warnings:
        print(
            f"dnoutcomes: the export has {n_warnings} data-quality warnings; run "
            f"'dnoutcomes validate {args.path}' to see them.",
            file=sys.stderr,
        )
    if len(dataset.rejects):
        print(
            f"dnoutcomes: quarantine mode left out {len(dataset.rejects)} invalid rows "
            "(and the rows that depend on them).",
            file=sys.stderr,
        )
    return 0
