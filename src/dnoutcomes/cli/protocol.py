"""``dnoutcomes protocol init|check``: write and check study protocols.

``protocol init`` prints the built-in protocol as a commented TOML file (``--out FILE``
writes it atomically instead). ``protocol check FILE [PATH]`` reads a protocol and reports
every problem with its key and line; given an export, it also loads it with the protocol's
measures and checks that the arms, outcomes and covariates exist there. Exit codes: 0 the
protocol is valid (and fits the export), 1 the export breaks the data contract, 2 the
protocol is wrong (or does not fit the export) or a file cannot be read.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from dnoutcomes.errors import DnOutcomesWarning, RequestError
from dnoutcomes.protocol import Protocol, builtin_toml

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Declare the ``protocol`` subcommand and its ``init`` and ``check`` actions."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "protocol",
        help="write or check a study protocol (what to compare, how)",
        description=(
            "A study protocol (TOML) declares the arms, measures, outcomes, covariates and "
            "estimand of an analysis; see docs/protocols.md. `init` prints the built-in "
            "protocol, commented; `check` checks a protocol file (and, given an export, that "
            "the export can answer it)."
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = actions.add_parser(
        "init",
        help="print the built-in protocol as a commented TOML file",
        description="Print the built-in protocol as a commented TOML file to start from.",
    )
    init.add_argument("--out", metavar="FILE", help="write it to FILE instead of printing it")
    init.add_argument("--force", action="store_true", help="replace FILE if it exists")
    check = actions.add_parser(
        "check",
        help="check a protocol file (and that an export can answer it)",
        description=(
            "Check a protocol file: every problem is reported with its key and line. Given an "
            "export PATH, also load it with the protocol's measures and check that its arms, "
            "outcomes and covariates exist there. Exit code 0: valid; 1: the export breaks "
            "the data contract; 2: the protocol is wrong or does not fit the export."
        ),
    )
    check.add_argument("file", metavar="FILE", help="the protocol (.toml)")
    check.add_argument(
        "path", metavar="PATH", nargs="?", help="an export folder or .xlsx workbook (optional)"
    )
    check.add_argument(
        "--quarantine",
        action="store_true",
        help="load the export's valid rows even if some break the contract",
    )
    parser.set_defaults(run=run)
    return parser


def _write(path: Path, text: str, *, force: bool) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file, then ``os.replace``)."""
    if path.exists() and not force:
        raise RequestError(
            f"output {path} already exists; expected a new file. Pass --force to replace it."
        )
    folder = path.parent
    if not folder.is_dir():
        raise RequestError(
            f"output {path}: the folder {folder} does not exist; create it first or choose "
            "another path."
        )
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o644 & ~umask)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise RequestError(f"output {path} could not be written ({exc.strerror}).") from None


def _fit_summary(protocol: Protocol, path: str, dataset: Any) -> list[str]:
    arms = dataset.episodes["arm"].astype("string").value_counts()
    n_ref, n_cmp = (int(arms.get(a, 0)) for a in (protocol.reference, protocol.comparator))
    return [
        f"It fits the export {path}: {n_ref} episodes in {protocol.reference}, {n_cmp} in "
        f"{protocol.comparator}; every outcome and covariate it names is there."
    ]


def run(args: argparse.Namespace) -> int:
    """Run ``dnoutcomes protocol``; return 0 valid, 1 invalid export, 2 bad protocol."""
    if args.action == "init":
        text = builtin_toml()
        if args.out:
            _write(Path(args.out), text, force=args.force)
            print(f"Wrote the built-in protocol to {args.out}.", file=sys.stderr)
        else:
            sys.stdout.write(text)
        return 0
    protocol = Protocol.from_toml(args.file)  # a ProtocolError is exit 2, every problem shown
    lines = [f"Protocol {args.file} is valid (sha256 {protocol.sha256()})."]
    lines.extend("  " + line for line in protocol.describe())
    if args.path:
        from dnoutcomes.validate import load

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DnOutcomesWarning)
            dataset = load(
                args.path,
                mode="quarantine" if args.quarantine else "strict",
                protocol=protocol,
            )
        protocol.check_data(dataset, raise_errors=True)
        lines.extend(_fit_summary(protocol, args.path, dataset))
        if caught:
            print(
                f"dnoutcomes: the export has {len(dataset.warnings)} data-quality warnings; "
                f"run `dnoutcomes validate {args.path} --protocol {args.file}` to see them.",
                file=sys.stderr,
            )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
