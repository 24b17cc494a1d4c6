"""Writing figures for journals: file formats, resolution and column-width sizes.

:func:`save_figure` writes PNG, SVG, PDF, TIFF or EPS atomically with a chosen resolution;
:func:`figure_size` gives the width of a journal's single or double column (85 mm or
170 mm, the common sizes of Elsevier, BMJ, Springer and PLOS figures) at an aspect ratio;
:func:`fit_to_width` scales a figure already drawn to such a width, and
:func:`smallest_font` says whether its text is still legible.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

import numpy as np

from dnoutcomes.errors import RequestError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DEFAULT_DPI",
    "JOURNAL_WIDTHS_MM",
    "ImageFormat",
    "MIN_FONT_PT",
    "figure_size",
    "fit_to_width",
    "save_figure",
    "smallest_font",
]

ImageFormat = Literal["png", "svg", "pdf", "tiff", "eps"]

#: Figure widths of journal layouts, in millimetres.
JOURNAL_WIDTHS_MM: dict[str, float] = {"single": 85.0, "double": 170.0}

#: Resolution (dots per inch) of raster formats when none is given: 200 for PNG (screens
#: and reports), 300 for TIFF (the minimum most journals ask of halftone figures).
DEFAULT_DPI: dict[str, int] = {"png": 200, "tiff": 300}

#: The smallest legible text at the printed size (points): journals ask for 6-8 pt (Nature
#: 5-7 pt, Elsevier and PLOS at least 6-8 pt); ``dnoutcomes figures`` notes a figure whose
#: text falls below this after :func:`fit_to_width`.
MIN_FONT_PT = 6.0

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


def fit_to_width(fig: Figure, width: Literal["single", "double"] | float) -> Figure:
    """Scale a drawn figure to a journal column's width, as a whole.

    Parameters
    ----------
    fig
        A figure already drawn (at the package's slide size, say 6.4 in wide).
    width
        ``"single"`` (85 mm), ``"double"`` (170 mm), or a width in millimetres.

    Returns
    -------
    matplotlib.figure.Figure
        The same figure, scaled as a whole by one factor ``k``: its width and height and
        every font size, line width, marker size, tick, padding and legend, so that it
        looks as drawn, only smaller (or larger), as if a typesetter had scaled it. ``k``
        makes the file :func:`save_figure` writes ``width`` wide (most figures to 0.1%; one
        whose layout shifts a little from one drawing to the next, such as the risk table
        under the time-to-response curves, up to 3% narrower or 0.5% wider): with the
        package's tight bounding box that is what is drawn, labels reaching past the
        canvas included, plus the padding. Check :func:`smallest_font` afterwards:
        journals ask for text of at least 6-8 pt at the printed size
        (:data:`MIN_FONT_PT`).

    Raises
    ------
    RequestError
        For an unknown preset or a width that is not positive.

    Notes
    -----
    Shrinking the frame but not the text crowds the labels of the package's figures (long
    arm names, estimates printed beside forest rows) until the layout engine gives up;
    scaling the whole keeps the design, and the smallest font says whether it is still
    legible.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(figsize=(6.4, 4.2))
    >>> label = ax.set_xlabel("Weeks", fontsize=11)
    >>> fig = fit_to_width(fig, "double")
    >>> width, height = (float(v) for v in fig.get_size_inches())
    >>> len({round(r, 6) for r in (width / 6.4, height / 4.2, label.get_fontsize() / 11)})
    1
    >>> plt.close(fig)
    """
    from dnoutcomes.plots._style import plot_style

    target, _ = figure_size(width, aspect=1.0)
    _scale(fig, target / float(fig.get_size_inches()[0]))
    with plot_style():  # measured as save_figure draws it
        pad = float(_rc("savefig.pad_inches"))
        tight = _rc("savefig.bbox") == "tight"
        # written with a tight bounding box, the file is as wide as what is drawn (labels
        # may reach past the canvas) plus the padding: scale until that is the width asked
        for _ in range(6):
            if not tight:
                break
            fig.draw_without_rendering()
            drawn = float(fig.get_tightbbox().width)
            if abs(drawn + 2 * pad - target) <= 0.001 * target:
                break
            _scale(fig, (target - 2 * pad) / drawn)
    return fig


def _rc(key: str) -> Any:
    """One matplotlib rc parameter as now set."""
    import matplotlib as mpl

    params: Any = mpl.rcParams
    return params[key]


def _scale(fig: Figure, scale: float) -> None:
    """Scale a figure and everything drawn in it (fonts, lines, markers, ticks, paddings,
    legends, annotation offsets, layout pads) by ``scale``."""
    from matplotlib.collections import Collection
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.text import Annotation, Text

    old_width, old_height = (float(v) for v in fig.get_size_inches())
    ticks = [_tick_params(axis) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)]
    for text in fig.findobj(Text):
        text.set_fontsize(float(text.get_fontsize()) * scale)
    for line in fig.findobj(Line2D):
        line.set_linewidth(line.get_linewidth() * scale)
        line.set_markersize(line.get_markersize() * scale)
        line.set_markeredgewidth(line.get_markeredgewidth() * scale)
    for collection in fig.findobj(Collection):
        widths: Any = collection.get_linewidth()
        collection.set_linewidth([float(w) * scale for w in np.atleast_1d(widths)])
        sizes: Any = getattr(collection, "get_sizes", lambda: None)()
        if sizes is not None and len(sizes):
            collection.set_sizes(np.asarray(sizes) * scale**2)  # type: ignore[attr-defined]
    for patch in fig.findobj(Patch):
        patch.set_linewidth(float(patch.get_linewidth()) * scale)
    for ax in fig.axes:
        _redraw_legend(ax, scale)
    # ticks drawn later (the locator may add some at the new size) take these
    for axis, length, tick_width, labelsize, pad in ticks:
        axis.set_tick_params(
            length=length * scale,
            width=tick_width * scale,
            labelsize=labelsize * scale,
            pad=pad * scale,
        )
        axis.labelpad = axis.labelpad * scale
    for ax in fig.axes:
        title_pad = getattr(ax, "_dnoutcomes_title_pad", None) or _rc("axes.titlepad")
        ax._set_title_offset_trans(float(title_pad) * scale)  # type: ignore[attr-defined]
        ax._dnoutcomes_title_pad = float(title_pad) * scale  # type: ignore[attr-defined]
        for child in ax.texts:  # offsets in points (annotations) scale with the rest
            if isinstance(child, Annotation) and child.anncoords == "offset points":
                child.xyann = (child.xyann[0] * scale, child.xyann[1] * scale)
    engine = fig.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):
        pads = engine.get()
        engine.set(
            w_pad=pads["w_pad"] * scale,
            h_pad=pads["h_pad"] * scale,
            wspace=pads["wspace"],
            hspace=pads["hspace"],
        )
    fig.set_size_inches(old_width * scale, old_height * scale)


def smallest_font(fig: Figure) -> float:
    """The smallest font size (points) of the visible text of a figure.

    Parameters
    ----------
    fig
        A drawn figure.

    Returns
    -------
    float
        The smallest size, or NaN when the figure has no text.
    """
    from matplotlib.text import Text

    sizes = [float(t.get_fontsize()) for t in fig.findobj(Text) if t.get_text() and t.get_visible()]
    return min(sizes) if sizes else float("nan")


def _redraw_legend(ax: Any, scale: float) -> None:
    """Draw an axes' legend again at ``scale`` times its font size (its boxes, paddings and
    handles are laid out in points when it is made), from the artists already scaled."""
    from matplotlib.transforms import IdentityTransform

    old = ax.get_legend()
    if old is None:
        return
    title = old.get_title()
    size = float(old._fontsize) * scale
    ax.legend(
        loc=old._loc,
        # the anchor as made (already in display units, following the axes)
        bbox_to_anchor=old._bbox_to_anchor,
        bbox_transform=IdentityTransform(),
        ncols=old._ncols,
        borderaxespad=old.borderaxespad,
        frameon=old.get_frame_on(),
        title=title.get_text() or None,
        title_fontsize=float(title.get_fontsize()),  # scaled with the other texts
        alignment=old._alignment,
        fontsize=size,
    )


def _tick_params(axis: Any) -> tuple[Any, float, float, float, float]:
    """(axis, tick length, width, label size, pad) of an axis's major ticks as drawn."""
    ticks = axis.get_major_ticks()
    if not ticks:  # pragma: no cover - an axis always has a tick to copy
        return axis, 3.5, 0.8, 10.0, 3.5
    line = ticks[0].tick1line
    return (
        axis,
        float(line.get_markersize()),
        float(line.get_markeredgewidth()),
        float(ticks[0].label1.get_fontsize()),
        float(ticks[0].get_pad()),
    )


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
