"""save_figure writes every journal format at the dpi asked; figure_size gives column widths."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure
from PIL import Image

from dnoutcomes.errors import RequestError
from dnoutcomes.plots._export import figure_size, save_figure


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


def test_docstring_examples_run() -> None:
    import doctest

    from dnoutcomes.plots import _export as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
