"""Text that reaches the terminal: control characters removed, undecodable bytes made
visible, and the files written so far remembered for an interruption message.

A cell of an export can hold terminal control sequences (``ESC [ 2 J`` clears the screen,
``ESC ] 8`` writes links), bidirectional overrides that reorder what is shown, or bytes of
a path that are not UTF-8 (held by Python as lone surrogates, which cannot be printed).
Everything the command line prints goes through :func:`clean`.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["clean", "clean_json", "forget_written", "record_written", "written"]

# C0 controls but tab and line feed, DEL, C1 controls, bidirectional embeddings, overrides
# and isolates, and lone surrogates
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_WRITTEN: list[Path] = []


def _visible(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of a path (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return "\ufffd" if code >= 0xD800 else ""


def clean(text: str) -> str:
    """Text safe to print on a terminal.

    Parameters
    ----------
    text
        Any text (messages quoting cells, paths, column names).

    Returns
    -------
    str
        Control characters (but line feeds and tabs) and bidirectional controls removed;
        an undecodable byte of a path shown as ``\\xff``.

    Examples
    --------
    >>> clean("got \\x1b[2Jx\\u202e; folder bad\\udcffname")
    'got [2Jx; folder bad\\\\xffname'
    """
    return _CONTROL.sub(_visible, text)


def clean_json(text: str) -> str:
    """A JSON document (``ensure_ascii=False``) safe to print: C1 controls, bidirectional
    controls and lone surrogates written as ``\\uXXXX`` escapes (still valid JSON, the
    same strings once parsed; ``json`` already escapes C0 controls)."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def record_written(path: str | Path) -> None:
    """Remember a file a command has finished writing (for the interruption message)."""
    _WRITTEN.append(Path(path))


def written() -> list[Path]:
    """The files recorded by :func:`record_written` since the command started."""
    return list(_WRITTEN)


def forget_written() -> None:
    """Start a new command: no file written yet."""
    _WRITTEN.clear()
