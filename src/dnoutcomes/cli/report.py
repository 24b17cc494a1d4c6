"""``dnoutcomes report PATH --out report.html``: the periodic quality-improvement report.

One self-contained HTML file (and, on request, an Excel workbook of its tables and a JSON
document of its numbers) for the episodes discharged in one period. Progress lines go to
stderr; every output is written atomically. Exit codes as ``validate``: 0 done, 1 the data
break the contract or are too few, 2 a usage error or input that cannot be read.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import Any

from dnoutcomes.cli._protocol_args import (
    add_arm_arguments,
    add_load_arguments,
    add_protocol_argument,
)
from dnoutcomes.errors import DnOutcomesWarning, RequestError

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Declare the ``report`` subcommand and its arguments.

    Parameters
    ----------
    subparsers
        The ``add_subparsers()`` object of the top-level parser.

    Returns
    -------
    argparse.ArgumentParser
        The subcommand's parser (its ``run`` default is :func:`run`).
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="write the periodic quality-improvement report (one HTML file)",
        description=(
            "Write the quality-improvement report of one period: the episodes discharged in "
            "it, compared with the previous period, with control charts over the trailing "
            "24 months. Default period: the last complete quarter with discharges in the "
            "data. Counts below --min-cell are suppressed in every output."
        ),
    )
    parser.add_argument("path", metavar="PATH", help="the export folder or .xlsx workbook")
    parser.add_argument(
        "--out", required=True, metavar="FILE", help="the HTML report to write (report.html)"
    )
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--period", metavar="PERIOD", help="a quarter (2025-Q3) or a month (2025-07)")
    when.add_argument(
        "--from", dest="date_from", metavar="DATE", help="first discharge date (YYYY-MM-DD)"
    )
    parser.add_argument(
        "--to", dest="date_to", metavar="DATE", help="last discharge date (YYYY-MM-DD)"
    )
    parser.add_argument("--site", metavar="S", help="report on one site only")
    add_protocol_argument(parser)
    add_load_arguments(parser)
    add_arm_arguments(parser)
    parser.add_argument(
        "--min-cell",
        type=int,
        default=None,
        metavar="N",
        help="suppress counts from 1 to N-1 (default: the protocol's, 11)",
    )
    parser.add_argument(
        "--benchmark",
        choices=("adjusted", "raw"),
        default="adjusted",
        help="therapists and sites against the outcomes expected for their case mix, the raw "
        "funnel beside (adjusted, the default), or the unadjusted therapist funnel only (raw)",
    )
    parser.add_argument("--xlsx", metavar="FILE", help="also write the tables as a workbook")
    parser.add_argument("--data", metavar="FILE", help="also write the numbers as JSON")
    parser.add_argument(
        "--restricted",
        metavar="FILE",
        help="also write the listings that name episodes (JSON, NOT for circulation)",
    )
    parser.add_argument(
        "--run-time",
        metavar="ISO",
        help="the run time printed in the report (default now); fix it for a reproducible file",
    )
    parser.add_argument(
        "--quarantine",
        action="store_true",
        help="load the valid rows and report the rejected ones (default: strict)",
    )
    parser.add_argument(
        "--engine",
        choices=("memory", "dask"),
        default="memory",
        help="memory (default): load the export; dask: summarise each partition of a "
        "partitioned export on a Dask cluster and build the sections that come from "
        "summaries (every section but benchmarking: the same numbers as in memory; see "
        'docs/network.md; needs pip install "dnoutcomes[dask]")',
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="with --engine dask: a running scheduler (tcp://host:8786); default a local "
        "cluster on this machine",
    )
    parser.set_defaults(run=run)
    return parser


class _Progress:
    """Progress lines on stderr: ``dnoutcomes report: step… (1.2 s)``."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, step: str) -> None:
        elapsed = time.perf_counter() - self.start
        print(f"dnoutcomes report: {step} ({elapsed:.1f} s)", file=sys.stderr, flush=True)


def _period(args: argparse.Namespace) -> Any:
    from dnoutcomes.report.period import parse_period, period_from_dates

    if args.period is not None:
        if args.date_to is not None:
            raise RequestError(
                "--period and --to: give either --period or --from with --to, not both."
            )
        return parse_period(args.period)
    if args.date_from is not None or args.date_to is not None:
        if args.date_from is None or args.date_to is None:
            raise RequestError(
                "--from/--to: both dates are needed for a date range; got only "
                f"{'--from' if args.date_from else '--to'}. Add the other one, or use "
                "--period 2025-Q3."
            )
        return period_from_dates(args.date_from, args.date_to)
    return None


def run(args: argparse.Namespace) -> int:
    """Load the export, build the report and write the files asked for.

    Parameters
    ----------
    args
        The parsed arguments.

    Returns
    -------
    int
        0 when every file was written. Errors are raised as the package's exceptions and
        turned into messages and exit codes by :func:`dnoutcomes.cli.main`.
    """
    from dnoutcomes.report.provenance import parse_run_time

    say = _Progress()
    period = _period(args)
    run_time = parse_run_time(args.run_time)
    from dnoutcomes.report.outputs import check_outputs

    check_outputs(
        args.path,
        {
            "--out": args.out,
            "--xlsx": args.xlsx,
            "--data": args.data,
            "--restricted": args.restricted,
        },
        protocol=getattr(args, "protocol", None),
    )

    if getattr(args, "engine", "memory") == "dask":
        from dnoutcomes.cli._protocol_args import read_protocol
        from dnoutcomes.network.report import report_partitions

        report = report_partitions(
            args.path,
            protocol=read_protocol(args),
            period=period,
            site=args.site,
            min_cell=args.min_cell,
            run_time=run_time,
            scheduler=args.scheduler,
            progress=say,
        )
    else:
        report = _in_memory(args, period, run_time, say)
    _write(args, report, say)
    return 0


def _in_memory(args: argparse.Namespace, period: Any, run_time: Any, say: _Progress) -> Any:
    """Load the export and build the report in memory (the default engine)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DnOutcomesWarning)
        from dnoutcomes.cli._protocol_args import check_fit, load_for, read_protocol
        from dnoutcomes.report.build import build_report

        protocol = read_protocol(args)
        say(f"loading {args.path}")
        dataset = load_for(args, protocol)
        check_fit(args, protocol, dataset)
        for warning in caught:
            if issubclass(warning.category, DnOutcomesWarning):
                print(f"dnoutcomes report: warning: {warning.message}", file=sys.stderr)
        caught.clear()
        report = build_report(
            dataset,
            period=period,
            site=args.site,
            protocol=protocol,
            min_cell=args.min_cell,
            run_time=run_time,
            progress=say,
            benchmark=args.benchmark,
        )
    return report


def _write(args: argparse.Namespace, report: Any, say: _Progress) -> None:
    """Write the files asked for and print where they went."""
    from dnoutcomes.report.render_html import write_html

    say(f"writing {args.out}")
    write_html(report, args.out)
    if args.xlsx:
        from dnoutcomes.report.render_xlsx import write_xlsx

        say(f"writing {args.xlsx}")
        write_xlsx(report, args.xlsx)
    if args.data:
        from dnoutcomes.report.render_json import write_json

        say(f"writing {args.data}")
        write_json(report, args.data)
    if args.restricted:
        from dnoutcomes.report.restricted import write_restricted

        say(f"writing {args.restricted} (restricted: not for circulation)")
        write_restricted(report, args.restricted)
    say("done")
    print(report.period_note)
    where = f"site {report.site}" if report.site else "all sites"
    print(
        f"Report of {report.period.label} ({report.period.start} to {report.period.end}, "
        f"{where}) written to {args.out}"
        + (f", tables to {args.xlsx}" if args.xlsx else "")
        + (f", numbers to {args.data}" if args.data else "")
        + (f", restricted listings to {args.restricted}" if args.restricted else "")
        + "."
    )
