"""Pseudonyms for source identifiers: keyed hashes with a salt kept by the user or thrown away.

A source id (a FHIR resource id, a REDCap record id flagged as an identifier) never
reaches the contract export. It becomes ``<prefix>`` + the first 16 hex digits of
HMAC-SHA256(salt, ``<kind>/<id>``): the same id of the same kind gets the same pseudonym
within one run (so references keep pointing at the right row), and ids cannot be recovered
or recomputed without the salt. By default the salt is 32 random bytes drawn for the run
and never written; pass a salt file to get the same pseudonyms in later runs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

import pandas as pd

from dnoutcomes.errors import UnreadableInputError

__all__ = ["Pseudonyms", "read_salt"]


def read_salt(path: str | Path | None) -> bytes:
    """The salt: the bytes of ``path`` (at least 16), or 32 fresh random bytes."""
    if path is None:
        return secrets.token_bytes(32)
    file = Path(path)
    try:
        salt = file.read_bytes()
    except OSError as exc:
        raise UnreadableInputError(
            f"salt file {file}: cannot be read ({exc.strerror}); expected a file of at least "
            "16 secret bytes. Check the path."
        ) from None
    if len(salt.strip()) < 16:
        raise UnreadableInputError(
            f"salt file {file}: holds {len(salt.strip())} bytes; expected at least 16 secret "
            "bytes (e.g. `head -c 32 /dev/urandom > salt.bin`). Use a longer salt."
        )
    return salt.strip()


class Pseudonyms:
    """Keyed-hash pseudonyms of one run.

    Parameters
    ----------
    salt
        The secret key of the hash.

    Examples
    --------
    >>> p = Pseudonyms(b"0123456789abcdef")
    >>> a = p.of("Patient", pd.Series(["123-45-6789", "x", "x"]), "P")
    >>> bool(a.str.fullmatch(r"P[0-9a-f]{16}").all()), a[1] == a[2], a[0] == a[1]
    (True, True, False)
    >>> Pseudonyms(b"another salt....").of("Patient", pd.Series(["x"]), "P")[0] == a[1]
    False
    """

    def __init__(self, salt: bytes) -> None:
        self._salt = salt

    def _one(self, kind: str, value: str, prefix: str) -> str:
        digest = hmac.new(self._salt, f"{kind}/{value}".encode(), hashlib.sha256).hexdigest()
        return prefix + digest[:16]

    def of(self, kind: str, ids: pd.Series, prefix: str) -> pd.Series:
        """The pseudonyms of ``ids`` (missing stays missing); hashed once per distinct id."""
        distinct = ids.dropna().unique()
        table = {v: self._one(kind, str(v), prefix) for v in distinct}
        return ids.map(table).astype("str")
