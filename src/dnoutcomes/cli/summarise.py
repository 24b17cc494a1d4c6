"""``dnoutcomes summarise PATH [--protocol FILE] --out site.json [--grid-days D]
[--horizon-days H] [--no-charts] [--no-trajectory] [--no-medication] [--no-safety]``:
reduce one site's export to the sufficient statistics of the protocol's analyses,
checked for disclosure, for a network to pool (``dnoutcomes pool``).

Exit code 0 when written; 1 when the data break the contract or a statistic would disclose
(every such statistic is named and nothing is written); 2 for a bad request or unreadable
input.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from dnoutcomes.cli._protocol_args import (
    add_arm_arguments,
    add_protocol_argument,
    check_fit,
    load_for,
    read_protocol,
)
from dnoutcomes.errors import DnOutcomesWarning

__all__ = ["add_parser", "run"]

# The defaults of dnoutcomes.network.summary, written here so that building the parser
# does not import the statistics (tests/test_cli_network.py checks they agree).
DEFAULT_GRID_DAYS = 7.0
DEFAULT_HORIZON_DAYS = 182.0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Declare the ``summarise`` subcommand and its arguments."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "summarise",
        help="reduce a site's export to poolable, disclosure-checked summaries",
        description=(
            "Reduce one site's export to the sufficient statistics of the protocol's "
            "analyses (cross-products, 2x2 counts, event tables on a time grid, moments, "
            "monthly aggregates), refuse any statistic that would disclose a small count, "
            "and write them as a checksummed JSON file for 'dnoutcomes pool'."
        ),
    )
    parser.add_argument("path", metavar="PATH", help="the site's export folder or .xlsx workbook")
    add_protocol_argument(parser)
    add_arm_arguments(parser)
    parser.add_argument("--out", required=True, metavar="FILE", help="the summary to write (.json)")
    parser.add_argument(
        "--grid-days",
        type=float,
        default=DEFAULT_GRID_DAYS,
        metavar="D",
        help=f"width of the time-to-response grid in days (default {DEFAULT_GRID_DAYS:g}); "
        "every site of the network must use the same",
    )
    parser.add_argument(
        "--horizon-days",
        type=float,
        default=DEFAULT_HORIZON_DAYS,
        metavar="H",
        help=f"end of the time grid in days (default {DEFAULT_HORIZON_DAYS:g}); later times are "
        "censored there",
    )
    parser.add_argument(
        "--no-charts", action="store_true", help="leave out the monthly control-chart data"
    )
    for name, what in (
        ("trajectory", "the mixed model's sums (grouped by episode size)"),
        ("medication", "the medication counts and cross-products"),
        ("safety", "the adverse-event counts"),
    ):
        parser.add_argument(f"--no-{name}", action="store_true", help=f"leave out {what}")
    parser.add_argument(
        "--quarantine",
        action="store_true",
        help="summarise the valid rows and leave the invalid ones out",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Load the export, summarise it and write the summary atomically."""
    from dnoutcomes.cli._output import record_written
    from dnoutcomes.network import summarise
    from dnoutcomes.report._atomic import write_atomic

    protocol = read_protocol(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DnOutcomesWarning)
        dataset = load_for(args, protocol)
    check_fit(args, protocol, dataset)
    summary = summarise(
        dataset,
        protocol,
        grid_days=args.grid_days,
        horizon_days=args.horizon_days,
        charts=not args.no_charts,
        trajectory=not args.no_trajectory,
        medication=not args.no_medication,
        safety=not args.no_safety,
    )
    write_atomic(args.out, summary.to_json())
    record_written(args.out)
    print(
        f"dnoutcomes: site summary of {len(summary.blocks)} site(s) written to {args.out} "
        f"(protocol {summary.protocol_sha256[:12]}…, min_cell {summary.min_cell}).",
        file=sys.stderr,
    )
    return 0
