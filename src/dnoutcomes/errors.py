"""The exceptions and warnings dnoutcomes raises.

Every error subclasses :class:`ValueError` (as well as :class:`DnOutcomesError`), so a
caller that catches the built-in keeps working. Messages follow one template: what, where,
expected against got, and how to fix it.

The command line maps them to exit codes: :class:`DatasetError` → 1 (the data break the
contract), :class:`UnreadableInputError` and :class:`RequestError` → 2 (the input cannot be
read at all, or the request itself is wrong), :class:`InsufficientDataError` → 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DataQualityWarning",
    "DatasetError",
    "DnOutcomesError",
    "DnOutcomesWarning",
    "InsufficientDataError",
    "ProtocolError",
    "RequestError",
    "UnreadableInputError",
]


class DnOutcomesError(Exception):
    """Base class of every error dnoutcomes raises on purpose."""


class DatasetError(DnOutcomesError, ValueError):
    """The dataset breaks the data contract.

    Parameters
    ----------
    message
        A summary for people (how many problems, where to look).
    problems
        One row per problem with the columns ``table``, ``file``, ``line``, ``column``,
        ``rule`` and ``message`` (``line`` counts the header as line 1; it is missing for a
        problem that concerns a whole file or column).
    """

    def __init__(self, message: str, problems: pd.DataFrame | None = None) -> None:
        super().__init__(message)
        if problems is None:
            import pandas as pd

            problems = pd.DataFrame(columns=["table", "file", "line", "column", "rule", "message"])
        self.problems: pd.DataFrame = problems


class UnreadableInputError(DatasetError):
    """The input cannot be read at all: a missing folder, table or sheet, a file that is not
    UTF-8, an empty file, a format that is not CSV, Parquet or Excel."""


class RequestError(DnOutcomesError, ValueError):
    """The request itself is wrong: an unknown measure, arm, site or period, or options that
    do not go together. The data may be fine."""


class InsufficientDataError(DnOutcomesError, ValueError):
    """The data are valid but too few for the requested analysis (the message says how many
    there are and how many are needed)."""


class DnOutcomesWarning(UserWarning):
    """Base class of the warnings dnoutcomes issues."""


class DataQualityWarning(DnOutcomesWarning):
    """Legal but suspicious data: a declared arm that disagrees with the sessions, needling
    despite a recorded contraindication, an implausible change between two visits."""


class ProtocolError(RequestError):
    """A study protocol that cannot be used: a file that is not TOML, an unknown key, a
    value of the wrong type or outside its choices, or (checked against a dataset) an arm,
    measure, timepoint or covariate that the data do not have.

    Every problem of the file is reported at once, one per line of the message.

    Parameters
    ----------
    problems
        One ``(key, line, message)`` per problem: the dotted key (``"primary.timepoint"``,
        ``"secondary.1.covariates"``; ``""`` for the whole file), its line in the file
        (``None`` when unknown or built in Python) and what is wrong and how to fix it.
    source
        The protocol file (``None`` when built in Python).
    """

    def __init__(
        self, problems: list[tuple[str, int | None, str]], source: str | None = None
    ) -> None:
        self.problems: list[tuple[str, int | None, str]] = list(problems)
        self.source = source
        lines = [format_protocol_problem(source, *p) for p in self.problems]
        if len(lines) == 1:
            text = lines[0]
        else:
            where = f"the protocol {source}" if source else "the protocol"
            text = f"{len(lines)} problems in {where}:\n" + "\n".join("  " + x for x in lines)
        super().__init__(text)


def format_protocol_problem(source: str | None, key: str, line: int | None, message: str) -> str:
    """One protocol problem as a line of text.

    Examples
    --------
    >>> format_protocol_problem("study.toml", "primary.timepoint", 14, "expected …")
    'study.toml line 14, key primary.timepoint: expected …'
    """
    where = source or "protocol"
    if line is not None:
        where += f" line {line}"
    if key:
        where += f"{',' if line is not None or source else ''} key {key}"
    return f"{where}: {message}"
