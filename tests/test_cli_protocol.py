"""``dnoutcomes protocol init|check`` and ``validate --protocol``: exit codes 0 / 1 / 2,
every problem with its key and line, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dnoutcomes.cli import main
from dnoutcomes.protocol import Protocol, builtin_toml, default_protocol
from dnoutcomes.sample import generate

TSK = """\
title = "Kinesiophobia at discharge"

[[measures]]
name = "tsk"
label = "Tampa Scale of Kinesiophobia"
low = 0
high = 100
direction = "lower"
mcid_points = 6

[primary]
measure = "tsk"
timepoint = "discharge"
covariates = ["age", "smoker", "baseline:nprs"]

[weighting]
covariates = ["age", "sex", "baseline:tsk"]
"""


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated export whose ODI rows are renamed to a user measure ``tsk``, with an
    extra patient column ``smoker``."""
    folder = Path(generate(episodes=120, seed=5).write(tmp_path_factory.mktemp("export")))
    outcomes = pd.read_csv(folder / "outcomes.csv", dtype=str, keep_default_na=False)
    outcomes["measure"] = outcomes["measure"].replace("odi", "tsk")
    outcomes.to_csv(folder / "outcomes.csv", index=False)
    patients = pd.read_csv(folder / "patients.csv", dtype=str, keep_default_na=False)
    patients["smoker"] = ["yes" if i % 4 == 0 else "no" for i in range(len(patients))]
    patients.to_csv(folder / "patients.csv", index=False)
    return folder


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_init_prints_the_commented_builtin_protocol(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = _run(["protocol", "init"], capsys)
    assert code == 0
    assert out == builtin_toml()
    assert Protocol.from_toml(_file(tmp_path, out)) == default_protocol()


def test_init_out_writes_and_refuses_to_overwrite(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "study.toml"
    code, out, err = _run(["protocol", "init", "--out", str(target)], capsys)
    assert (code, out) == (0, "")
    assert target.read_text(encoding="utf-8") == builtin_toml()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    target.write_text("mine", encoding="utf-8")
    code, _, err = _run(["protocol", "init", "--out", str(target)], capsys)
    assert code == 2 and "already exists" in err and "--force" in err
    assert target.read_text(encoding="utf-8") == "mine"
    code, _, _ = _run(["protocol", "init", "--out", str(target), "--force"], capsys)
    assert code == 0 and target.read_text(encoding="utf-8") == builtin_toml()
    code, _, err = _run(["protocol", "init", "--out", str(tmp_path / "no" / "x.toml")], capsys)
    assert code == 2 and "does not exist" in err


def test_check_a_valid_protocol(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _file(tmp_path, builtin_toml())
    code, out, err = _run(["protocol", "check", str(path)], capsys)
    assert code == 0, err
    first = out.splitlines()[0]
    assert first == f"Protocol {path} is valid (sha256 {default_protocol().sha256()})."
    assert "Primary outcome (ANCOVA): Numeric Pain Rating Scale at discharge" in out


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            '[primary]\nmeasure = "nprs"\ncolour = "red"\n',
            "line 3, key primary.colour: unknown key",
        ),
        (
            'title = "x"\n[primary]\nmeasure = "tsk"\n',
            "line 3, key primary.measure: unknown measure",
        ),
        (
            '[primary]\nmeasure = "nprs"\ncovariates = ["improvement"]\n',
            "line 3, key primary.covariates: 'improvement' is derived from the outcome",
        ),
        ('[primary]\nmeasure = "nprs"\ntimepoint = discharge\n', "line 3: not valid TOML"),
    ],
)
def test_check_a_bad_protocol_exits_2_with_its_line(
    text: str, where: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _file(tmp_path, text)
    code, out, err = _run(["protocol", "check", str(path)], capsys)
    assert code == 2
    assert out == ""
    assert err == f"dnoutcomes: {path} {where}" + err.split(where, 1)[1]
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


def test_check_against_an_export(
    export: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _file(tmp_path, TSK)
    code, out, err = _run(["protocol", "check", str(path), str(export)], capsys)
    assert code == 0, err
    assert "It fits the export" in out
    assert "data-quality warnings" in err  # summarised, not a Python warning


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            ('title = "Kinesiophobia at discharge"\n', '[arms]\nreference = "usual_care"\n'),
            "line 2, key arms.reference: arm 'usual_care' has no episode in the data; the arms "
            "present are",
        ),
        (
            ('timepoint = "discharge"', 'timepoint = "followup_26w"'),
            "line 13, key primary.timepoint: no tsk values at followup_26w",
        ),
        (('"smoker"', '"bmi"'), "line 14, key primary.covariates: covariate 'bmi' is not"),
    ],
)
def test_check_a_protocol_the_export_cannot_answer(
    change: tuple[str, str],
    where: str,
    export: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    path = _file(tmp_path, TSK.replace(*change))
    code, out, err = _run(["protocol", "check", str(path), str(export)], capsys)
    assert code == 2
    assert out == ""
    assert f"dnoutcomes: {path} {where}" in err
    assert "Traceback" not in err


def test_check_against_an_invalid_export_exits_1(
    export: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _file(tmp_path, builtin_toml())  # tsk is not declared: the export is invalid
    code, out, err = _run(["protocol", "check", str(path), str(export)], capsys)
    assert code == 1
    assert "breaks the data contract" in err and "got tsk" in err


def test_validate_protocol_accepts_a_declared_measure(
    export: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = _run(["validate", str(export)], capsys)
    assert code == 1
    assert "unknown_measure" in out
    path = _file(tmp_path, TSK)
    code, out, err = _run(["validate", str(export), "--protocol", str(path)], capsys)
    assert code == 0, out + err
    assert out.count("Valid:") == 1
    narrow = _file(tmp_path, TSK.replace("high = 100", "high = 5"))
    code, out, _ = _run(["validate", str(export), "--protocol", str(narrow)], capsys)
    assert code == 1 and "tsk" in out and "unknown_measure" not in out


def test_validate_with_a_bad_or_missing_protocol_exits_2(
    export: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = _file(tmp_path, '[primary]\nmeasure = "nprs"\nestimand = "ate"\n')
    code, out, err = _run(["validate", str(export), "--protocol", str(bad), "--json"], capsys)
    assert (code, out) == (2, "")
    assert f"{bad} line 3, key primary.estimand: unknown key" in err
    code, _, err = _run(["validate", str(export), "--protocol", str(tmp_path / "x.toml")], capsys)
    assert code == 2 and "does not exist" in err


@pytest.mark.slow
def test_no_traceback_from_the_installed_entry_point(tmp_path: Path) -> None:
    path = _file(tmp_path, "[primary\n")
    result = subprocess.run(
        [sys.executable, "-m", "dnoutcomes.cli", "protocol", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path} line 1: not valid TOML" in result.stderr
