"""``dnoutcomes import redcap|fhir …``: turn a REDCap or FHIR export into a contract export.

* ``dnoutcomes import redcap --dictionary DICT.csv --records RECORDS.csv --mapping MAP.toml
  --out DIR``
* ``dnoutcomes import fhir BUNDLE.json --mapping MAP.toml --out DIR``

Both write the contract tables (CSV) and ``import-report.json`` into DIR, atomically,
after the de-identification screen has passed, then print what could not be mapped and
the validation of the result. Exit code 0: imported, everything mapped, the result valid;
1: something could not be mapped, or the result breaks the contract, or the screen found
identifiers (then nothing is written); 2: a usage error or an unreadable input. Messages
name fields, columns and codes, never a value that may identify a person.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser", "run"]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mapping", required=True, metavar="MAP.toml", help="the TOML mapping file"
    )
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="the contract export folder to write"
    )
    parser.add_argument(
        "--force", action="store_true", help="replace DIR if it exists and is not empty"
    )
    parser.add_argument(
        "--salt-file",
        metavar="FILE",
        help="secret bytes keying the pseudonyms (default: a random salt for this run, so "
        "pseudonyms differ between runs)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Declare the ``import`` subcommand with its ``redcap`` and ``fhir`` subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "import",
        help="turn a REDCap or FHIR export into a contract export",
        description=(
            "Turn a REDCap project export or a FHIR R4 Bundle into a contract export (CSV "
            "folder), following a TOML mapping file (see docs/imports.md). Identifiers never "
            "pass through. Exit code 0: imported and valid; 1: something could not be "
            "mapped or the result breaks the contract; 2: usage error or unreadable input."
        ),
    )
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    redcap = sources.add_parser(
        "redcap",
        help="a REDCap data dictionary and records export (raw or label)",
        description="Import a REDCap project: its data dictionary and a records export.",
    )
    redcap.add_argument(
        "--dictionary", required=True, metavar="DICT.csv", help="the data dictionary (CSV)"
    )
    redcap.add_argument(
        "--records", required=True, metavar="RECORDS.csv", help="the records export (CSV)"
    )
    _common(redcap)
    fhir = sources.add_parser(
        "fhir",
        help="a FHIR R4 Bundle (JSON)",
        description="Import a FHIR R4 Bundle of Patient, EpisodeOfCare, Encounter, Procedure, "
        "Condition, Observation, QuestionnaireResponse and AdverseEvent resources.",
    )
    fhir.add_argument("bundle", metavar="BUNDLE.json", help="the Bundle (JSON)")
    _common(fhir)
    return parser


def run(args: argparse.Namespace) -> int:
    """Import, write, and print the report; return the exit code."""
    from dnoutcomes.importers import import_fhir, import_redcap, write_import

    if args.source == "redcap":
        result = import_redcap(
            args.dictionary, args.records, args.mapping, salt_file=args.salt_file
        )
    else:
        result = import_fhir(args.bundle, args.mapping, salt_file=args.salt_file)
    report = write_import(result, args.out, force=args.force)
    if args.json:
        document = {**result.to_dict(), "out": str(args.out), "valid": report.valid}
        document["validation_problems"] = len(report.problems)
        print(json.dumps(document, indent=2, default=str))
    else:
        print(f"dnoutcomes import {args.source}: wrote {args.out}")
        print(result.summary())
        if report.valid:
            print("validate: the export meets the data contract.")
        else:
            counts = report.problems.groupby("rule").size()
            print(
                "validate: the export breaks the contract: "
                + ", ".join(f"{rule} ×{n}" for rule, n in counts.items())
                + f". Run `dnoutcomes validate {args.out}` for every problem."
            )
    code = 0 if report.valid and not result.problems else 1
    if code and not args.json:
        print("exit 1: see the lines above.", file=sys.stderr)
    return code
