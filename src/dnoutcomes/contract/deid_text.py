"""Text normalisation for the identifier screen: what a cell or a header *means*, not how it
is spelled.

Before any pattern or word list is applied, text is

1. normalised to Unicode NFKC (fullwidth ``ｊｏ＠ｅｘａｍｐｌｅ．ｃｏｍ`` → ``jo@example.com``,
   fullwidth and mathematical digits → ``0-9``, ``﹫`` → ``@``, no-break spaces → space);
2. stripped of format characters (Unicode category Cf: zero-width space, zero-width
   joiners, soft hyphen, word joiner, byte-order mark, bidirectional controls);
3. folded for confusables: every dash (category Pd, and the minus sign) → ``-``, slash-like
   signs → ``/``, and Cyrillic and Greek letters that look like Latin ones
   (:data:`CONFUSABLES`) → the Latin letter.

:func:`fold_arrow` does this for a whole Arrow column (cells of ASCII text are already
folded and are not touched); :func:`fold_str` for one string (headers).
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["CONFUSABLES", "fold_arrow", "fold_str"]

#: Letters that look like Latin ones, by the Latin letter they fold to (Cyrillic, Greek,
#: and a few Latin variants NFKC leaves alone).
CONFUSABLES: dict[str, str] = {
    "a": "аɑαａ",
    "b": "Ьḃ",
    "c": "сϲ",
    "d": "ԁ",
    "e": "еєε",
    "g": "ɡ",
    "h": "һ",
    "i": "іɩι",
    "j": "ј",
    "k": "κ",
    "l": "ӏ",
    "m": "м",
    "n": "η",
    "o": "оοσ",
    "p": "рρ",
    "q": "ԛ",
    "s": "ѕ",
    "t": "т",
    "u": "υ",
    "v": "ν",
    "w": "ԝ",
    "x": "хχ",
    "y": "уγ",
    "A": "АΑ",
    "B": "ВΒ",
    "C": "СϹ",
    "E": "ЕΕ",
    "H": "НΗ",
    "I": "ІΙ",
    "J": "Ј",
    "K": "КΚ",
    "M": "МΜ",
    "N": "Ν",
    "O": "ОΟ",
    "P": "РΡ",
    "S": "Ѕ",
    "T": "ТΤ",
    "X": "ХΧ",
    "Y": "ҮΥ",
    "Z": "Ζ",
}
_DASHES = r"[\p{Pd}\x{2212}\x{2796}\x{FE63}\x{FF0D}]"
_SLASHES = r"[\x{2044}\x{2215}\x{29F8}]"
_FORMAT = r"\p{Cf}"
_TABLE = {ord(ch): latin for latin, chars in CONFUSABLES.items() for ch in chars}
_PY_DASHES = re.compile("[\u2010-\u2015\u2212\u2796\ufe58\ufe63\uff0d\u2e3a\u2e3b\u301c\u30a0]")
_PY_SLASHES = re.compile("[\u2044\u2215\u29f8]")


def fold_str(text: str) -> str:
    """One string normalised as :func:`fold_arrow` does (NFKC, no format characters,
    confusables folded).

    Examples
    --------
    >>> fold_str("ｅｍａｉｌ"), fold_str("em\\u200bail"), fold_str("еmаil"), fold_str("020–7946")
    ('email', 'email', 'email', '020-7946')
    """
    if text.isascii():  # nothing to fold
        return text
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = _PY_SLASHES.sub("/", _PY_DASHES.sub("-", text))
    return text.translate(_TABLE)


def fold_arrow(text: pa.Array) -> pa.Array:
    """Normalise every cell of a text column (see the module notes).

    Parameters
    ----------
    text
        Arrow ``string`` array.

    Returns
    -------
    pyarrow.Array
        The folded text, same length; cells that are plain ASCII come back unchanged and
        only the others are normalised (a handful of Arrow passes over those cells).
    """
    if len(text) == 0:
        return text
    ascii_ = pc.string_is_ascii(text)
    other = np.flatnonzero(~np.asarray(ascii_.fill_null(True).to_numpy(zero_copy_only=False)))
    if len(other) == 0:
        return text
    sub = text.take(pa.array(other))
    sub = pc.utf8_normalize(sub, "NFKC")
    sub = pc.replace_substring_regex(sub, _FORMAT, "")
    sub = pc.replace_substring_regex(sub, _DASHES, "-")
    sub = pc.replace_substring_regex(sub, _SLASHES, "/")
    for latin, chars in CONFUSABLES.items():
        sub = pc.replace_substring_regex(sub, f"[{chars}]", latin)
    if len(other) == len(text):
        return sub
    # put the folded cells back in place: a gather from [text, folded]
    index = np.arange(len(text), dtype=np.int64)
    index[other] = len(text) + np.arange(len(other), dtype=np.int64)
    both = pa.concat_arrays([text, sub.cast(text.type)])
    return both.take(pa.array(index))
