"""Turn a matplotlib figure into inline SVG text that is the same on every run."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

__all__ = ["figure_to_svg"]

_SIZE = re.compile(r'<svg([^>]*?)\swidth="([\d.]+)pt"\sheight="([\d.]+)pt"')


def _prefix_ids(text: str, prefix: str) -> str:
    """Prefix every id inside the SVG and every reference to it, so that several figures
    in one page never share an id (``figure_1``, ``axes_1``, glyph and clip-path ids)."""
    root = f'id="{prefix}"'
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', text)
    text = text.replace(f'id="{prefix}-{prefix}"', root, 1)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", text)
    return re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', text)


def figure_to_svg(fig: MplFigure, *, key: str) -> str:
    """Render ``fig`` as an SVG element for inlining in HTML, then close it.

    Parameters
    ----------
    fig
        The figure.
    key
        A name unique in the report: it salts the SVG's internal ids (so two figures in one
        page never share an id) and becomes the root element's id (``fig-<key>``).

    Returns
    -------
    str
        The ``<svg>`` element, without XML declaration or DOCTYPE, scaled to the width of
        its container (``width="100%"``, the original size kept as ``viewBox`` and
        ``max-width``).

    Notes
    -----
    Every id inside the SVG (and every ``url(#…)`` or ``href="#…"`` pointing at one) is
    prefixed with ``fig-<key>-``. Byte-identical output needs three things, all set here:
    ``svg.hashsalt`` (ids are
    hashes salted with the key, not random), ``metadata={"Date": None}`` (no creation
    time) and text drawn as paths (``svg.fonttype="path"``, no dependence on the fonts of
    the reader's machine).
    """
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    rc: Any = {"svg.hashsalt": f"dnoutcomes-{key}", "svg.fonttype": "path", "svg.id": f"fig-{key}"}
    try:
        with mpl.rc_context(rc):
            fig.savefig(
                buffer,
                format="svg",
                metadata={"Date": None, "Creator": None},
                bbox_inches="tight",
            )
    finally:
        plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.DOTALL)
    text = _prefix_ids(text, f"fig-{key}")
    return _SIZE.sub(
        lambda m: f'<svg{m.group(1)} width="100%" style="max-width:{m.group(2)}pt;height:auto"',
        text,
        count=1,
    ).strip()
