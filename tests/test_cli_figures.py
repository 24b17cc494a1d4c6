"""``dnoutcomes figures``: writes every figure with stable names; bad input exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnoutcomes.cli import main
from dnoutcomes.present.gallery import FIGURE_NAMES


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


def test_docs_hold_the_sample_figures_the_readme_shows() -> None:
    repo = Path(__file__).resolve().parents[1]
    committed = sorted(p.name for p in (repo / "docs" / "figures").glob("*.png"))
    assert committed == [f"{n}.png" for n in FIGURE_NAMES]
    readme = (repo / "README.md").read_text(encoding="utf-8")
    guide = (repo / "docs" / "figures.md").read_text(encoding="utf-8")
    for name in FIGURE_NAMES:
        assert f"docs/figures/{name}.png" in readme
        assert f"figures/{name}.png" in guide
