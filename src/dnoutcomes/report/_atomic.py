"""Write output files atomically: a temporary file in the same folder, then ``os.replace``.

An interrupted run (Ctrl-C, a full disk, an exception half-way) never leaves a half-written
report where the reader expects a whole one: the target either keeps its old content or
gets the complete new one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from dnoutcomes.errors import RequestError

__all__ = ["write_atomic"]


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    Parameters
    ----------
    path
        The file to write. Its folder must exist.
    data
        The content; text is encoded as UTF-8 (newlines are written as given).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    RequestError
        When the folder does not exist or cannot be written to.

    Notes
    -----
    The temporary file is created in the target's own folder (``os.replace`` is atomic only
    within one file system), flushed and fsync-ed, given the usual ``0o644`` permissions
    (less the umask) and renamed over the target. On any failure it is removed.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise RequestError(
            f"output {target}: the folder {folder} does not exist; expected an existing "
            "folder. Create it first or choose another path."
        )
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise RequestError(
            f"output {target}: cannot write in {folder} ({exc.strerror}); expected a folder "
            "you may write to. Choose another path."
        ) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp_name, 0o644 & ~umask)
        os.replace(temp_name, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise RequestError(
            f"output {target}: could not be written ({exc.strerror}); expected a writable "
            "file path that is not a folder. Free some space or choose another path."
        ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    return target
