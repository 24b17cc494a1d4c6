"""The ``--protocol FILE`` option shared by the commands that analyse an export, the
``--reference``/``--comparator`` overrides of its arms, and the loading options every
command that reads an export takes (``--allow-column NAME``, ``--follow-symlinks``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset
    from dnoutcomes.protocol import Protocol

__all__ = [
    "add_arm_arguments",
    "add_load_arguments",
    "add_protocol_argument",
    "check_fit",
    "load_for",
    "load_options",
    "read_protocol",
]


def add_protocol_argument(parser: argparse.ArgumentParser) -> None:
    """Declare ``--protocol FILE``."""
    parser.add_argument(
        "--protocol",
        metavar="FILE",
        default=None,
        help="a study protocol (TOML; see docs/protocols.md): arms, measures, outcomes, "
        "covariates and estimand; default: the built-in analysis plan "
        "('dnoutcomes protocol init' prints it)",
    )


def add_arm_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``--reference ARM`` and ``--comparator ARM`` (overriding the protocol's)."""
    parser.add_argument(
        "--reference",
        default=None,
        metavar="ARM",
        help="reference arm (default: the protocol's, dn_only)",
    )
    parser.add_argument(
        "--comparator",
        default=None,
        metavar="ARM",
        help="comparator arm (default: the protocol's, dn_manual_exercise); effects read "
        "comparator minus reference",
    )


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``--allow-column NAME`` (repeatable) and ``--follow-symlinks``, the options
    of :func:`dnoutcomes.load` that every command reading an export passes on."""
    parser.add_argument(
        "--allow-column",
        action="append",
        default=[],
        metavar="NAME",
        help="a column the identifier screen of column names should let through, because "
        "the clinic knows it holds nothing personal (case-insensitive; repeatable; its "
        "values are still screened)",
    )
    parser.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="read table files that are symbolic links (refused by default)",
    )


def load_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`dnoutcomes.load` given by
    :func:`add_load_arguments`' options."""
    return {
        "allow_columns": tuple(getattr(args, "allow_column", None) or ()),
        "follow_symlinks": bool(getattr(args, "follow_symlinks", False)),
    }


def read_protocol(args: argparse.Namespace) -> Protocol:
    """The protocol of ``--protocol`` (the built-in one without it), arms overridden by
    ``--reference``/``--comparator`` when given."""
    from dnoutcomes.protocol import Protocol, default_protocol

    path = getattr(args, "protocol", None)
    protocol = Protocol.from_toml(path) if path else default_protocol()
    return protocol.with_arms(getattr(args, "reference", None), getattr(args, "comparator", None))


def load_for(args: argparse.Namespace, protocol: Protocol, **kwargs: Any) -> Dataset:
    """Load ``args.path`` with the protocol's measures registered (strict, or quarantine
    with ``--quarantine``), with ``--allow-column`` and ``--follow-symlinks``."""
    from dnoutcomes import load

    mode: Literal["strict", "quarantine"] = (
        "quarantine" if getattr(args, "quarantine", False) else "strict"
    )
    return load(args.path, mode=mode, protocol=protocol, **(load_options(args) | kwargs))


def check_fit(args: argparse.Namespace, protocol: Protocol, dataset: Dataset) -> None:
    """With ``--protocol``: refuse (a :class:`~dnoutcomes.errors.ProtocolError`, exit 2)
    a protocol the export cannot answer, before any analysis, naming each key and its line
    (an arm, outcome timepoint or covariate the data do not have)."""
    if getattr(args, "protocol", None):
        protocol.check_data(dataset, raise_errors=True)
