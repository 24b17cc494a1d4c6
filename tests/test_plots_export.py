"""save_figure writes every journal format at the dpi asked; figure_size gives column widths."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure
from PIL import Image

from dnoutcomes.errors import RequestError
from dnoutcomes.plots._export import figure_size, fit_to_width, save_figure, smallest_font


def _fig() -> Figure:
    fig = Figure(figsize=figure_size("single", aspect=0.5))
    fig.add_subplot().plot([0, 1], [0, 1])
    return fig


def test_formats_by_suffix_and_dpi(tmp_path: Path) -> None:
    heads = {
        "a.png": b"\x89PNG",
        "a.svg": b"<?xm",
        "a.pdf": b"%PDF",
        "a.tif": b"II*\x00",
        "a.tiff": b"II*\x00",
        "a.eps": b"%!PS",
    }
    for name, head in heads.items():
        assert save_figure(_fig(), tmp_path / name).read_bytes()[:4] == head
    with Image.open(tmp_path / "a.tiff") as image:
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)  # journal default
        assert image.info["compression"] == "tiff_lzw"
    save_figure(_fig(), tmp_path / "b.tiff", dpi=600)
    with Image.open(tmp_path / "b.tiff") as image:
        assert image.info["dpi"] == pytest.approx((600, 600), abs=0.01)
    a = save_figure(_fig(), tmp_path / "x.pdf").read_bytes()
    assert a == save_figure(_fig(), tmp_path / "y.pdf").read_bytes()  # no creation date
    assert save_figure(_fig(), tmp_path / "z.out", format="pdf").read_bytes()[:4] == b"%PDF"
    with pytest.raises(RequestError, match="cannot tell the format"):
        save_figure(_fig(), tmp_path / "a.jpg")
    with pytest.raises(RequestError, match="dpi must be positive"):
        save_figure(_fig(), tmp_path / "c.png", dpi=0)


def test_figure_size_presets() -> None:
    assert figure_size("single") == pytest.approx((85 / 25.4, 0.75 * 85 / 25.4))
    assert figure_size("double", aspect=0.5) == pytest.approx((170 / 25.4, 85 / 25.4))
    assert figure_size(120.0)[0] == pytest.approx(120 / 25.4)
    with pytest.raises(RequestError, match="unknown width"):
        figure_size("triple")  # type: ignore[arg-type]


def _legend_figure() -> tuple[Figure, list[float]]:
    """A constrained-layout figure with a title, labels, an annotation in offset points and
    a legend above the axes (the package's layout); returns it and its text sizes."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [3, 1, 2], marker="o", linewidth=1.8, markersize=5, label="arm A")
    ax.set_title("A title", fontsize=12)
    ax.set_xlabel("Weeks", fontsize=11)
    ax.annotate("note", xy=(1, 1), xytext=(10, -20), textcoords="offset points", fontsize=9)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), title="Legend", fontsize=10)
    fig.draw_without_rendering()
    return fig, [12.0, 11.0, 9.0]


@pytest.mark.parametrize("width", ["single", "double", 120.0])
def test_fit_to_width_scales_the_whole_figure(width: str | float, tmp_path: Path) -> None:
    import re

    fig, sizes = _legend_figure()
    ax = fig.axes[0]
    legend_box = ax.get_legend().get_window_extent()
    title_size = ax.get_legend().get_title().get_fontsize()
    axes_box = ax.get_position()  # in figure fractions
    fit_to_width(fig, width)  # type: ignore[arg-type]
    pdf = save_figure(fig, tmp_path / "f.pdf").read_bytes()
    # the file written (tight bounding box plus padding) is the width asked, to 0.1%
    box = re.search(rb"/MediaBox \[ *0 0 ([\d.]+) ", pdf)
    assert box is not None
    target_pt = figure_size(width, aspect=1.0)[0] * 72  # type: ignore[arg-type]
    assert float(box.group(1)) == pytest.approx(target_pt, rel=0.001)
    # and everything in it is scaled by one factor k
    k = fig.get_size_inches()[0] / 6.4
    assert fig.get_size_inches()[1] == pytest.approx(4.2 * k)
    texts = [ax.title, ax.xaxis.label, ax.texts[0]]
    assert [t.get_fontsize() for t in texts] == pytest.approx([s * k for s in sizes])
    assert ax.texts[0].xyann == pytest.approx((10 * k, -20 * k))
    line = ax.lines[0]
    assert (line.get_linewidth(), line.get_markersize()) == pytest.approx((1.8 * k, 5 * k))
    legend = ax.get_legend()
    assert legend.get_texts()[0].get_fontsize() == pytest.approx(10 * k)
    assert legend.get_title().get_fontsize() == pytest.approx(title_size * k)
    # the legend box, in pixels, scales with the figure (within the font's hinting at small
    # sizes): the layout is the one drawn
    new_box = legend.get_window_extent()
    assert new_box.width == pytest.approx(legend_box.width * k, rel=0.05)
    assert new_box.height == pytest.approx(legend_box.height * k, rel=0.05)
    assert tuple(ax.get_position().bounds) == pytest.approx(tuple(axes_box.bounds), abs=0.01)
    assert smallest_font(fig) == pytest.approx(9 * k)


def test_fit_to_width_refuses_a_bad_width() -> None:
    with pytest.raises(RequestError, match="unknown width"):
        fit_to_width(_fig(), "triple")  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="must be positive"):
        fit_to_width(_fig(), -5.0)


def test_docstring_examples_run() -> None:
    import doctest

    from dnoutcomes.plots import _export as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
