"""``dnoutcomes validate PATH [--quarantine] [--json] [--protocol FILE] [--allow-column NAME]
[--follow-symlinks]``: check an export against the contract (the protocol's declared
measures extend the registry).

Text mode prints rows read / loaded / rejected per table, the problems grouped by rule with
counts and the first examples, then the data-quality warnings. ``--json`` prints one
document (see :meth:`dnoutcomes.validate.ValidationReport.to_dict`). Exit code 0 when the
export is valid, 1 when it breaks the contract, 2 when it cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import pandas as pd

from dnoutcomes.cli._output import clean, clean_json
from dnoutcomes.cli._progress import Progress
from dnoutcomes.cli._protocol_args import add_load_arguments, load_options
from dnoutcomes.errors import UnreadableInputError
from dnoutcomes.protocol import Protocol
from dnoutcomes.validate import Mode, ValidationReport, validate

__all__ = ["add_parser", "run"]

_NOUNS = {
    "patients": "patients",
    "episodes": "episodes",
    "sessions": "sessions",
    "outcomes": "outcome rows",
    "adverse_events": "adverse events",
}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Declare the ``validate`` subcommand and its arguments."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "validate",
        help="check a clinic export against the data contract",
        description=(
            "Check a clinic export (a folder of CSV / CSV.gz / Parquet files, or one .xlsx "
            "workbook) against the data contract and report every problem. Exit code 0: "
            "valid; 1: the data break the contract; 2: the input cannot be read."
        ),
    )
    parser.add_argument("path", metavar="PATH", help="the export folder or .xlsx workbook")
    parser.add_argument(
        "--quarantine",
        action="store_true",
        help="load the valid rows and report the rejected ones (default: strict, any "
        "problem loads nothing)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--protocol",
        metavar="FILE",
        help="a study protocol (TOML); the measures it declares are accepted, with their "
        "ranges (see `dnoutcomes protocol init`)",
    )
    parser.add_argument(
        "--examples",
        type=int,
        default=3,
        metavar="N",
        help="examples shown per rule in text mode (default 3)",
    )
    add_load_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def _unreadable_document(path: str, exc: UnreadableInputError) -> dict[str, Any]:
    problems = [
        {
            "table": str(r["table"]),
            "file": str(r["file"]),
            "line": None,
            "column": str(r["column"]),
            "rule": str(r["rule"]),
            "message": str(r["message"]),
        }
        for r in exc.problems.astype(object).to_dict("records")
    ] or [
        {
            "table": "",
            "file": "",
            "line": None,
            "column": "",
            "rule": "unreadable",
            "message": str(exc),
        }
    ]
    return {"valid": False, "path": path, "tables": {}, "problems": problems, "warnings": []}


def _grouped(frame: pd.DataFrame, title: str, examples: int, note: str = "") -> list[str]:
    if frame.empty:
        return []
    lines = [f"{title} ({len(frame):,}{note}), by rule:"]
    counts = frame["rule"].value_counts(sort=True)
    # causes first: rows rejected only because a row they depend on was come last
    counts = pd.concat(
        [counts.drop("rejected_parent", errors="ignore"), counts.filter(["rejected_parent"])]
    )
    for rule, count in counts.items():
        lines.append(f"  {rule} ({count:,})")
        sub = frame.loc[frame["rule"] == rule, "message"]
        lines.extend(f"    {m}" for m in sub.head(max(examples, 0)))
        if count > examples:
            lines.append(f"    … and {count - examples:,} more (see --json)")
    return lines


def format_text(report: ValidationReport, *, examples: int = 3) -> str:
    """The text report of ``dnoutcomes validate``.

    Parameters
    ----------
    report
        What :func:`dnoutcomes.validate` found.
    examples
        Messages shown per rule.

    Returns
    -------
    str
        Rows per table, the verdict, problems and warnings grouped by rule.
    """
    acc = report.accounting
    out = [f"dnoutcomes validate: {report.path} ({report.mode} mode)", ""]
    out.append(f"  {'table':<16}{'read':>10}{'loaded':>10}{'rejected':>10}")
    for r in acc.to_dict("records"):
        out.append(
            f"  {r['table']!s:<16}{int(r['read']):>10,}{int(r['loaded']):>10,}"
            f"{int(r['rejected']):>10,}"
        )
    out.append("")
    counts = {str(r["table"]): int(r["loaded"]) for r in acc.to_dict("records")}
    parts = [f"{counts[t]:,} {noun}" for t, noun in _NOUNS.items() if t in counts]
    if "adverse_events" not in counts:
        parts.append("adverse events not recorded")
    if report.valid:
        out.append("Valid: " + ", ".join(parts) + ".")
    else:
        n = len(report.problems)
        verdict = f"Invalid: {n:,} problem{'s' if n != 1 else ''}"
        if report.mode == "quarantine":
            out.append(f"{verdict}; loaded " + ", ".join(parts) + "; the rest was rejected.")
        else:
            bad = int(acc["rows_with_problems"].sum())
            out.append(
                f"{verdict}; nothing was loaded (strict mode). {bad:,} rows have problems; "
                "--quarantine loads the others."
            )
    out.append("")
    out.extend(_grouped(report.problems, "Problems", examples))
    if not report.problems.empty:
        out.append("")
    out.extend(_grouped(report.warnings, "Warnings", examples, ", not errors"))
    return "\n".join(out).rstrip() + "\n"


def run(args: argparse.Namespace) -> int:
    """Run ``dnoutcomes validate``; return 0 valid, 1 invalid, 2 unreadable."""
    mode: Mode = "quarantine" if args.quarantine else "strict"
    protocol = Protocol.from_toml(args.protocol) if args.protocol else None
    try:
        with Progress("validate").step(f"checking {args.path}"):
            report = validate(
                args.path,
                mode=mode,
                protocol=protocol,
                **load_options(args),
            )
    except UnreadableInputError as exc:
        if args.json:
            doc = json.dumps(_unreadable_document(args.path, exc), indent=2, ensure_ascii=False)
            print(clean_json(doc))
        else:
            print(clean(f"dnoutcomes: cannot read the input: {exc}"), file=sys.stderr)
        return 2
    if args.json:
        print(clean_json(json.dumps(report.to_dict(), indent=2, ensure_ascii=False)))
    else:
        sys.stdout.write(clean(format_text(report, examples=args.examples)))
    return 0 if report.valid else 1
