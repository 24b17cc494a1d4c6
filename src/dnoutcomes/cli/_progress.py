"""Progress lines on stderr for steps that take more than a couple of seconds.

A step that finishes quickly prints nothing (small exports stay quiet, and scripts that read
stderr see only real messages). A step still running after ``after`` seconds prints
``dnoutcomes analyze: loading PATH…`` once, and ``… done in 12.3 s`` when it ends.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from dnoutcomes.cli._output import clean

__all__ = ["Progress"]


class Progress:
    """Announce slow steps of one subcommand on stderr.

    Parameters
    ----------
    command
        The subcommand's name, shown at the start of each line (``"analyze"``).
    after
        Seconds a step may run before its line is printed (default 2).
    stream
        Where to write (default :data:`sys.stderr`, looked up when a line is written).
    """

    def __init__(self, command: str, *, after: float = 2.0, stream: TextIO | None = None):
        self.command = command
        self.after = after
        self.stream = stream
        self._lock = threading.Lock()

    def _write(self, text: str) -> None:
        with self._lock:
            out = self.stream if self.stream is not None else sys.stderr
            try:
                out.write(clean(f"dnoutcomes {self.command}: {text}") + "\n")
                out.flush()
            except (OSError, ValueError):  # a closed or full stderr: progress is optional
                pass

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Run the body as one step called ``what``; announce it if it is slow."""
        began = time.perf_counter()
        shown = threading.Event()

        def announce() -> None:
            shown.set()
            self._write(f"{what}…")

        timer = threading.Timer(self.after, announce)
        timer.daemon = True
        timer.start()
        finished = False
        try:
            yield
            finished = True
        finally:
            timer.cancel()
            timer.join()
            if shown.is_set() and finished:  # a failed step ends with its error message
                self._write(f"{what}: done in {time.perf_counter() - began:.1f} s")
