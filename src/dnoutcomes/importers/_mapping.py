"""Reading the TOML mapping files of the importers, with errors that say where and how.

The two importers share the file format (TOML) and these helpers; what each file may hold
is described in ``docs/imports.md`` and checked by the importer that reads it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dnoutcomes.errors import RequestError, UnreadableInputError

__all__ = ["as_table", "as_tables", "check_keys", "load_mapping", "norm", "string_map"]


def load_mapping(path: str | Path) -> dict[str, Any]:
    """Read a TOML mapping file.

    Parameters
    ----------
    path
        The ``.toml`` file.

    Returns
    -------
    dict
        The parsed document.

    Raises
    ------
    UnreadableInputError
        When the file is missing, not UTF-8 or not valid TOML (the message gives TOML's
        line and column).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UnreadableInputError(
            f"mapping {file}: no such file; expected a TOML mapping file. Check the path."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableInputError(
            f"mapping {file}: cannot be read ({type(exc).__name__}); expected a UTF-8 TOML "
            "file. Save it as UTF-8."
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UnreadableInputError(
            f"mapping {file}: not valid TOML ({exc}); fix the file at that line."
        ) from None


def check_keys(where: str, table: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Refuse keys a mapping section does not know (a misspelling would be ignored)."""
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise RequestError(
            f"mapping [{where}]: unknown key(s) {', '.join(unknown)}; expected some of "
            f"{', '.join(sorted(allowed))}. Fix the spelling or remove them."
        )


def as_table(where: str, value: Any) -> dict[str, Any]:
    """A mapping section that must be a TOML table (``{}`` when absent)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(
            f"mapping [{where}]: expected a table (key = value lines under [{where}]); "
            f"got {type(value).__name__}. Write it as a TOML table."
        )
    return value


def as_tables(where: str, value: Any) -> list[dict[str, Any]]:
    """A section given once (``[x]``) or several times (``[[x]]``), as a list of tables."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return list(value)
    raise RequestError(
        f"mapping [{where}]: expected a table ([{where}]) or an array of tables "
        f"([[{where}]]); got {type(value).__name__}. Write it as one of those."
    )


def string_map(where: str, value: Any) -> dict[str, str]:
    """A table of text keys to text values (codes to contract values)."""
    table = as_table(where, value)
    bad = sorted(k for k, v in table.items() if not isinstance(v, str | int | float | bool))
    if bad:
        raise RequestError(
            f"mapping [{where}]: the value of {', '.join(bad)} must be text; got a table or "
            'a list. Write key = "value".'
        )
    return {str(k): _text(v) for k, v in table.items()}


def _text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def norm(text: str) -> str:
    """Lower case, every run of characters other than ``a-z 0-9`` → ``_``, trimmed of ``_``.

    Examples
    --------
    >>> norm("Muscle strain")
    'muscle_strain'
    >>> norm(" Session Log ")
    'session_log'
    """
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")
