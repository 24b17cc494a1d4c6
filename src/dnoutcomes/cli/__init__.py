"""The ``dnoutcomes`` command line: argparse wiring only, and the only place that prints.

Each subcommand lives in its own module of this package with two functions:
``add_parser(subparsers)`` that declares its arguments, and ``run(args) -> int`` that does
the work and returns the exit code. Exit codes are the same for every subcommand:

* 0 — done (for ``validate``: the data are valid);
* 1 — the data break the contract, or are too few for the analysis;
* 2 — a usage error or input that cannot be read (missing folder, table, bad encoding).

No subcommand lets a Python traceback reach the user for bad input: the errors of
:mod:`dnoutcomes.errors` are turned into a message and an exit code here, as are a closed
pipe (``validate --json | head``: exit 1, quietly), a full disk (``> /dev/full``: exit 2)
and an interruption (exit 130, naming the files already written). Messages are cleaned of
terminal control characters (:func:`dnoutcomes.cli._output.clean`).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Sequence

from dnoutcomes import __version__
from dnoutcomes.cli._output import clean, forget_written, written
from dnoutcomes.errors import (
    DatasetError,
    InsufficientDataError,
    RequestError,
    UnreadableInputError,
)

#: Subcommand modules, in the order ``--help`` lists them (a module's ``add_parser``
#: names its subcommand: module ``import_`` declares ``import``).
SUBCOMMANDS: tuple[str, ...] = (
    "validate",
    "analyze",
    "sample",
    "figures",
    "report",
    "protocol",
    "summarise",
    "pool",
    "tables",
    "import_",  # the module import_ registers the subcommand ``import``
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


def _say(text: str) -> None:
    """Print a message on stderr (cleaned of control characters); never raise."""
    try:
        print(clean(text), file=sys.stderr)
    except (OSError, ValueError):
        pass


def _silence_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's last flush of what is
    still buffered cannot fail again (a closed pipe, a full disk)."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass


def _interrupted() -> str:
    files = written()
    if not files:
        return "dnoutcomes: interrupted; nothing was written."
    names = ", ".join(str(f) for f in files)
    return (
        f"dnoutcomes: interrupted; already written: {names}. Anything else was not "
        "written (files are written whole or not at all)."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    forget_written()
    try:
        code: int = args.run(args)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not at exit
    except UnreadableInputError as exc:
        _say(f"dnoutcomes: cannot read the input: {exc}")
        return EXIT_USAGE
    except RequestError as exc:
        _say(f"dnoutcomes: {exc}")
        return EXIT_USAGE
    except (DatasetError, InsufficientDataError) as exc:
        _say(f"dnoutcomes: {exc}")
        return EXIT_INVALID
    except KeyboardInterrupt:
        _say(_interrupted())
        return 130
    except BrokenPipeError:
        # the reader went away (``dnoutcomes validate --json | head``): stop quietly
        _silence_stdout()
        return EXIT_INVALID
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EIO, errno.EPIPE, errno.EDQUOT, errno.EFBIG):
            raise
        _silence_stdout()
        _say(f"dnoutcomes: cannot write the output ({exc.strerror}); nothing more was written.")
        return EXIT_USAGE
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
