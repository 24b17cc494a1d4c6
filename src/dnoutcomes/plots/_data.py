"""Getting the tidy frame a figure draws from a result object or a frame, with clear errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from dnoutcomes.errors import RequestError

__all__ = ["attribute", "tidy_frame"]


def tidy_frame(
    source: Any,
    *,
    attributes: Sequence[str],
    required: Sequence[str],
    figure: str,
) -> pd.DataFrame:
    """Return the frame a figure draws, checked for the columns it needs.

    Parameters
    ----------
    source
        A :class:`pandas.DataFrame`, or a result object holding one of ``attributes`` (tried
        in order; ``"to_frame"`` calls the method).
    attributes
        Names of the attributes that may hold the frame.
    required
        Columns the figure needs.
    figure
        The figure's name, for the error message.

    Returns
    -------
    pandas.DataFrame
        The frame itself (not a copy: callers never modify it).

    Raises
    ------
    RequestError
        When no frame is found or a column is missing; the message lists the columns found.
    """
    frame: Any = None
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        for name in attributes:
            value = getattr(source, name, None)
            if name == "to_frame" and callable(value):
                value = value()
            if isinstance(value, pd.DataFrame):
                frame = value
                break
    if frame is None:
        raise RequestError(
            f"{figure}: expected a data frame or a result with one of the attributes "
            f"{', '.join(attributes)}; got {type(source).__name__}. Pass the result of the "
            "matching analysis or its tidy frame."
        )
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise RequestError(
            f"{figure}: the frame lacks the column(s) {', '.join(missing)}; expected "
            f"{', '.join(required)}; got {', '.join(map(str, frame.columns)) or 'no columns'}. "
            "Pass the frame the analysis returned, or rename the columns."
        )
    if frame.empty:
        raise RequestError(
            f"{figure}: the frame has no rows; expected at least one row to draw. "
            "Check that the analysis used any episodes."
        )
    return frame


def attribute(source: Any, name: str, default: Any = None) -> Any:
    """Return ``source.name`` when ``source`` is a result object, else ``default``."""
    if isinstance(source, pd.DataFrame):
        return default
    return getattr(source, name, default)
