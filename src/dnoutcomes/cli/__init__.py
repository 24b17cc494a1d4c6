"""The ``dnoutcomes`` command line: argparse wiring only, and the only place that prints.

Each subcommand lives in its own module of this package with two functions:
``add_parser(subparsers)`` that declares its arguments, and ``run(args) -> int`` that does
the work and returns the exit code. Exit codes are the same for every subcommand:

* 0 — done (for ``validate``: the data are valid);
* 1 — the data break the contract, or are too few for the analysis;
* 2 — a usage error or input that cannot be read (missing folder, table, bad encoding).

No subcommand lets a Python traceback reach the user for bad input: the errors of
:mod:`dnoutcomes.errors` are turned into a message and an exit code here.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from dnoutcomes import __version__
from dnoutcomes.errors import (
    DatasetError,
    InsufficientDataError,
    RequestError,
    UnreadableInputError,
)

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS: tuple[str, ...] = (
    "validate",
    "analyze",
    "sample",
    "figures",
    "report",
    "protocol",
)

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="dnoutcomes",
        description=(
            "Outcomes of dry needling for low back pain: check a clinic export, compare "
            "treatments, draw figures and write quality-improvement reports."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"dnoutcomes.cli.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except UnreadableInputError as exc:
        print(f"dnoutcomes: cannot read the input: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RequestError as exc:
        print(f"dnoutcomes: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (DatasetError, InsufficientDataError) as exc:
        print(f"dnoutcomes: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("dnoutcomes: interrupted; nothing was written.", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
