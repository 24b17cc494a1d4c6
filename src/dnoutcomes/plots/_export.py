"""Writing figures for journals: file formats, resolution and column-width sizes.

:func:`save_figure` writes PNG, SVG, PDF, TIFF or EPS atomically with a chosen resolution;
:func:`figure_size` gives the width of a journal's single or double column (85 mm or
170 mm, the common sizes of Elsevier, BMJ, Springer and PLOS figures) at an aspect ratio.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from dnoutcomes.errors import RequestError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DEFAULT_DPI",
    "JOURNAL_WIDTHS_MM",
    "ImageFormat",
    "figure_size",
    "save_figure",
]

ImageFormat = Literal["png", "svg", "pdf", "tiff", "eps"]

#: Figure widths of journal layouts, in millimetres.
JOURNAL_WIDTHS_MM: dict[str, float] = {"single": 85.0, "double": 170.0}

#: Resolution (dots per inch) of raster formats when none is given: 200 for PNG (screens
#: and reports), 300 for TIFF (the minimum most journals ask of halftone figures).
DEFAULT_DPI: dict[str, int] = {"png": 200, "tiff": 300}

_SUFFIXES = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".tif": "tiff", ".tiff": "tiff"}
_SUFFIXES[".eps"] = "eps"
_MM_PER_INCH = 25.4


def figure_size(
    width: Literal["single", "double"] | float = "single", aspect: float = 0.75
) -> tuple[float, float]:
    """Return a figure size in inches for a journal column.

    Parameters
    ----------
    width
        ``"single"`` (85 mm), ``"double"`` (170 mm), or a width in millimetres.
    aspect
        Height divided by width.

    Returns
    -------
    tuple of float
        ``(width, height)`` in inches, for ``figsize=`` or ``fig.set_size_inches``.

    Raises
    ------
    RequestError
        For an unknown preset or a width or aspect that is not positive.

    Examples
    --------
    >>> figure_size("single")
    (3.346..., 2.509...)
    >>> [round(v, 3) for v in figure_size("double", aspect=0.5)]
    [6.693, 3.346]
    """
    if isinstance(width, str):
        if width not in JOURNAL_WIDTHS_MM:
            raise RequestError(
                f"figure_size: unknown width {width!r}; expected 'single' (85 mm), 'double' "
                "(170 mm) or a number of millimetres. Pick one of those."
            )
        millimetres = JOURNAL_WIDTHS_MM[width]
    else:
        millimetres = float(width)
    if not millimetres > 0 or not aspect > 0:
        raise RequestError(
            f"figure_size: width and aspect must be positive; got width {millimetres} mm and "
            f"aspect {aspect}. Give positive numbers."
        )
    inches = millimetres / _MM_PER_INCH
    return inches, inches * aspect


def _format_of(target: Path, format: str | None) -> str:
    if format is None:
        found = _SUFFIXES.get(target.suffix.lower())
        if found is None:
            raise RequestError(
                f"save_figure {target}: cannot tell the format from the suffix "
                f"{target.suffix!r}; expected one of {sorted(_SUFFIXES)}. Pass format= or "
                "change the file name."
            )
        return found
    name = "tiff" if format == "tif" else format
    if name not in get_args(ImageFormat):
        raise RequestError(
            f"save_figure {target}: unknown format {format!r}; expected one of "
            f"{list(get_args(ImageFormat))}. Pick one of those."
        )
    return name


def save_figure(
    fig: Figure,
    path: str | os.PathLike[str],
    *,
    dpi: float | None = None,
    format: ImageFormat | None = None,
) -> Path:
    """Write a figure to ``path`` atomically (temporary file, then rename).

    Parameters
    ----------
    fig
        The figure.
    path
        Where to write it; the folder must exist.
    dpi
        Resolution of raster output (PNG, TIFF; also the images embedded in PDF/EPS, such
        as rasterised individual lines); default :data:`DEFAULT_DPI` (200 for PNG, 300 for
        TIFF) and 200 for the vector formats.
    format
        ``"png"``, ``"svg"`` (text kept as text), ``"pdf"`` (fonts embedded as TrueType),
        ``"tiff"`` (LZW-compressed, through Pillow) or ``"eps"``; default from the file's
        suffix (``.tif`` and ``.tiff`` are TIFF).

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    RequestError
        For an unknown format or suffix, or a resolution that is not positive.

    Notes
    -----
    SVG and PDF files carry no creation date, so the same figure gives the same bytes; PNG
    files carry no software tag. The figure keeps its size: choose it with
    :func:`figure_size` before drawing, or ``fig.set_size_inches(*figure_size("single"))``.
    """
    from dnoutcomes.plots._style import plot_style

    target = Path(path)
    name = _format_of(target, format)
    resolution = float(dpi) if dpi is not None else float(DEFAULT_DPI.get(name, 200))
    if not resolution > 0:
        raise RequestError(
            f"save_figure {target}: dpi must be positive; got {dpi}. Give, say, 300."
        )
    options: dict[str, Any] = {"format": name, "dpi": resolution}
    if name == "svg":
        options["metadata"] = {"Date": None}
    elif name == "pdf":
        options["metadata"] = {"CreationDate": None, "ModDate": None}
    elif name == "png":
        options["metadata"] = {"Software": None}
    elif name == "tiff":
        options["pil_kwargs"] = {"compression": "tiff_lzw"}
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            with plot_style():
                fig.savefig(fh, **options)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return cast(Path, target)
