"""``dnoutcomes figures``: writes every figure with stable names in every journal format,
at a dpi and a column width; bad input exits 2."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dnoutcomes.cli import main
from dnoutcomes.present.gallery import FIGURE_NAMES, write_figures


@pytest.mark.slow
def test_writes_every_png(
    clinic_a_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "figures"
    code = main(["figures", str(clinic_a_path), "--out", str(out)])
    assert code == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{n}.png" for n in FIGURE_NAMES]
    for path in out.iterdir():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stdout = capsys.readouterr().out
    assert stdout.rstrip().endswith(f"10 of 10 figures written to {out}")


def test_unknown_arm_is_a_usage_error(
    clinic_a_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["figures", str(clinic_a_path), "--out", str(tmp_path), "--comparator", "x"])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown comparator arm 'x'" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_missing_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["figures", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "cannot read the input" in capsys.readouterr().err


def test_bad_format_is_refused_by_argparse(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["figures", str(tmp_path), "--out", str(tmp_path), "--format", "jpg"])
    assert exc.value.code == 2


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--dpi", "0", "--dpi: expected a positive number, got '0'"),
        ("--dpi", "lots", "--dpi: expected a positive number, got 'lots'"),
        ("--size", "triple", "--size: expected single, double or a width in millimetres"),
        ("--size", "-85", "--size: expected single, double or a width in millimetres"),
    ],
)
def test_bad_dpi_or_size_is_a_usage_error(
    option: str, value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["figures", str(tmp_path), "--out", str(tmp_path / "o"), option, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def analysed(clinic_a_dataset: Any) -> Any:
    from dnoutcomes.stats import analyze

    return analyze(clinic_a_dataset)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fmt", "head"), [("pdf", b"%PDF"), ("eps", b"%!PS"), ("svg", b"<?xm")]
)  # fmt: skip
def test_vector_formats_at_a_journal_width(
    fmt: str, head: bytes, analysed: Any, clinic_a_dataset: Any, tmp_path: Path
) -> None:
    outcomes = write_figures(
        analysed,
        tmp_path,
        dataset=clinic_a_dataset,
        format=fmt,
        size="double",  # type: ignore[arg-type]
    )
    assert [o.path.name for o in outcomes if o.path] == [f"{n}.{fmt}" for n in FIGURE_NAMES]
    width_pt = 170 / 25.4 * 72  # 170 mm in PostScript points
    for outcome in outcomes:
        assert outcome.path is not None
        data = outcome.path.read_bytes()
        assert data[:4] == head
        if fmt == "pdf":
            box = re.search(rb"/MediaBox \[ *0 0 ([\d.]+) ([\d.]+) *\]", data)
            assert box is not None
            drawn = float(box.group(1))
        elif fmt == "eps":
            box = re.search(rb"%%BoundingBox: (-?\d+) (-?\d+) (\d+) (\d+)", data)
            assert box is not None
            drawn = int(box.group(3)) - int(box.group(1))
        else:
            width = re.search(rb'<svg [^>]*width="([\d.]+)pt"', data)
            assert width is not None
            drawn = float(width.group(1))
        assert 0.97 * width_pt <= drawn <= 1.005 * width_pt + 1  # fit_to_width's tolerance
        assert outcome.smallest_font is not None and outcome.smallest_font > 5


@pytest.mark.slow
def test_tiff_at_the_dpi_and_single_column_from_the_command_line(
    clinic_a_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    out = tmp_path / "figures"
    args = ["figures", str(clinic_a_path), "--out", str(out), "--format", "tiff"]
    assert main([*args, "--dpi", "600", "--size", "single"]) == 0
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == [f"{n}.tiff" for n in FIGURE_NAMES]
    for path in out.iterdir():
        with Image.open(path) as image:
            assert image.info["dpi"] == pytest.approx((600, 600), abs=0.01)
            width = 85 / 25.4 * 600  # 85 mm at 600 dpi, within fit_to_width's tolerance
            assert 0.97 * width <= image.size[0] <= 1.005 * width
    # scaled to 85 mm, the figures drawn for slides have text under 6 pt: said, not hidden
    assert "note: 01-patient-flow has text of" in captured.err
    assert "Traceback" not in captured.err


def test_docs_hold_the_sample_figures_the_readme_shows() -> None:
    repo = Path(__file__).resolve().parents[1]
    committed = sorted(p.name for p in (repo / "docs" / "figures").glob("*.png"))
    assert committed == [f"{n}.png" for n in FIGURE_NAMES]
    readme = (repo / "README.md").read_text(encoding="utf-8")
    guide = (repo / "docs" / "figures.md").read_text(encoding="utf-8")
    for name in FIGURE_NAMES:
        assert f"docs/figures/{name}.png" in readme
        assert f"figures/{name}.png" in guide


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"format": "jpg"}, "the format must be one of png, svg, pdf, tiff, eps"),
        ({"dpi": 0}, "dpi must be positive"),
        ({"size": "triple"}, "unknown width 'triple'"),
        ({"size": -85.0}, "must be positive"),
    ],
)
def test_write_figures_refuses_bad_options_before_drawing(
    options: dict[str, Any], message: str, tmp_path: Path
) -> None:
    from dnoutcomes.errors import RequestError

    with pytest.raises(RequestError, match=message):
        write_figures(None, tmp_path / "o", dataset=None, **options)  # type: ignore[arg-type]
    assert not (tmp_path / "o").exists()
