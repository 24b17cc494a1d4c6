"""Tests of ``dnoutcomes analyze``: the JSON document reproduces every figure of
expected.json (R) for clinic_a; text mode is readable; bad requests exit 2 with a message,
never a traceback."""

from __future__ import annotations

import inspect
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from conftest import CLINIC_A
from test_analysis import assert_matches_r

from dnoutcomes.cli import main
from dnoutcomes.stats.analysis import analyze


@pytest.mark.slow
def test_json_reproduces_every_figure_of_r(
    capsys: pytest.CaptureFixture[str],
    clinic_a_expected: dict[str, Any],
    clinic_a_dataset: Any,
) -> None:
    code = main(["analyze", str(CLINIC_A), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    document = json.loads(out)
    assert assert_matches_r(document, clinic_a_expected) >= 150
    default_engine = inspect.signature(analyze).parameters["lmm_engine"].default
    assert document["lmm"]["engine"] == default_engine and document["lmm"]["converged"]
    assert document["data_quality_warnings"] == len(clinic_a_dataset.warnings) > 0
    assert "data-quality warnings" in err


@pytest.mark.slow
def test_text_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["analyze", str(CLINIC_A), "--reference", "manual_exercise", "--comparator", "dn_only"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("dnoutcomes analysis: dn_only compared with manual_exercise")
    assert "Headline estimates" in out and "Time to response" in out
    assert "Traceback" not in out + err


def test_unknown_arm_exits_2(
    capsys: pytest.CaptureFixture[str], clinic_a_expected: dict[str, Any]
) -> None:
    code = main(["analyze", str(CLINIC_A), "--comparator", "usual_care"])
    _, err = capsys.readouterr()
    assert code == 2
    n_reference = clinic_a_expected["n_episodes"]["reference"]
    assert "unknown comparator arm 'usual_care'" in err
    assert f"dn_only ({n_reference} episodes)" in err
    assert "Traceback" not in err


def test_missing_folder_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["analyze", str(tmp_path / "nowhere"), "--json"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "cannot read" in err


@pytest.mark.slow
def test_too_few_episodes_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, clinic_a_dataset: Any
) -> None:
    # keep the outcomes of only one dn_manual_exercise episode: no ANCOVA is possible
    import pandas as pd

    folder = tmp_path / "tiny"
    shutil.copytree(CLINIC_A, folder)
    (folder / "expected.json").unlink()
    episodes = clinic_a_dataset.episodes  # arms declared or derived by the loader
    outcomes = pd.read_csv(folder / "outcomes.csv", dtype=str)
    dnme = episodes.loc[episodes["arm"] == "dn_manual_exercise", "episode_id"]
    drop = outcomes["episode_id"].isin(dnme.iloc[1:]) & (outcomes["timepoint"] == "discharge")
    outcomes.loc[~drop].to_csv(folder / "outcomes.csv", index=False)
    code = main(
        ["analyze", str(folder), "--reference", "dn_only", "--comparator", "dn_manual_exercise"]
    )
    _, err = capsys.readouterr()
    assert code == 1, err
    assert "dn_manual_exercise has 1 episodes" in err and "needs at least 2" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_quarantine_analyses_the_valid_rows(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    clinic_a_dataset: Any,
    clinic_a_expected: dict[str, Any],
) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(CLINIC_A, folder)
    (folder / "expected.json").unlink()
    lines = (folder / "outcomes.csv").read_text(encoding="utf-8").splitlines()
    fields = lines[1].split(",")
    assert fields[:5] == ["E1100000", "S11000001", "2025-01-16", "baseline", "nprs"]
    fields[-1] = "11.0"  # NPRS out of range on the first data row
    lines[1] = ",".join(fields)
    (folder / "outcomes.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["analyze", str(folder)]) == 1  # strict: nothing is analysed
    _, err = capsys.readouterr()
    assert "outcomes" in err and "Traceback" not in err
    assert main(["analyze", str(folder), "--quarantine", "--json"]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert document["rejected_rows"] == 1  # an outcome row: nothing depends on it
    assert "quarantine mode left out" in err
    # E1100000 (dn_only) loses its baseline NPRS, so the primary ANCOVA loses exactly it
    episodes = clinic_a_dataset.episodes.set_index("episode_id")
    assert episodes.loc["E1100000", "arm"] == clinic_a_expected["reference"]
    primary = document["ancova"][0]
    assert (primary["measure"], primary["timepoint"]) == ("nprs", "discharge")
    assert primary["n"] == clinic_a_expected["ancova"][0]["n"] - 1


@pytest.mark.slow
def test_stats_never_import_matplotlib() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dnoutcomes.stats, dnoutcomes.cohort, dnoutcomes.cli.analyze\n"
        "sys.exit(1 if 'matplotlib' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize(
    ("body", "key", "line"),
    [
        ('[primary]\nmeasure = "nprs"\ntimepoint = "followup_52w"\n', "primary.timepoint", 3),
        ('[arms]\ncomparator = "usual_care"\n[primary]\nmeasure = "nprs"\n', "arms.comparator", 2),
        ('[primary]\nmeasure = "nprs"\ncovariates = ["improvement"]\n', "primary.covariates", 3),
        ('[primary]\nmeasure = "nprs"\ncolour = "red"\n', "primary.colour", 3),
        ('[primary]\nmeasure = "tsk"\n', "primary.measure", 2),
        ('[primary\nmeasure = "nprs"\n', "", 1),
    ],
    ids=[
        "timepoint-without-data",
        "unknown-arm",
        "derived-covariate",
        "unknown-key",
        "unknown-measure",
        "invalid-toml",
    ],
)
@pytest.mark.parametrize("command", ["analyze", "figures", "report"])
def test_a_bad_protocol_is_one_clear_error_before_any_analysis(
    body: str,
    key: str,
    line: int,
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dnoutcomes.cli import main

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    protocol = tmp_path / "study.toml"
    protocol.write_text(body, encoding="utf-8")
    out = tmp_path / "out"
    if command == "report":
        out.mkdir()
    extra = {
        "analyze": ["--json"],
        "figures": ["--out", str(out)],
        "report": ["--out", str(out / "r.html")],
    }[command]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main([command, str(sample), "--protocol", str(protocol), *extra])
    captured = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in captured.err
    assert f"line {line}" in captured.err
    assert key in captured.err
    assert captured.out == ""
    assert not out.exists() or list(out.iterdir()) == []
