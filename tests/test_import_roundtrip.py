"""The imports' round trip (issue 17, done when): ``data/sample`` → a REDCap project (raw
and label exports) or a FHIR Bundle, written by the test-side exporters of
``tests/_export_shapes.py`` → ``import`` → ``validate`` → :func:`dnoutcomes.stats.analyze`
gives the numbers of ``data/sample`` itself: every float of ``Analysis.to_dict()`` (ANCOVA,
mixed model, responders, time to response, medication, IPTW, site meta-analysis, safety,
patient flow) within 1e-9 relative, every count and label equal."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _export_shapes import write_fhir, write_redcap
from conftest import SAMPLE

import dnoutcomes
from dnoutcomes.dataset import Dataset
from dnoutcomes.importers import import_fhir, import_redcap, write_import
from dnoutcomes.stats import analyze

pytestmark = pytest.mark.slow  # each round trip takes several seconds (800 episodes)

TABLES = ("patients", "episodes", "sessions", "outcomes", "adverse_events")


def _flat(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flat(v, f"{prefix}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _flat(v, f"{prefix}[{i}]")
    else:
        yield prefix, value


def _differences(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    a, b = dict(_flat(expected)), dict(_flat(got))
    out = [f"{k}: missing" for k in a.keys() ^ b.keys()]
    for key, x in a.items():
        y = b.get(key)
        if isinstance(x, float) and isinstance(y, float):
            if math.isnan(x) and math.isnan(y):
                continue
            if abs(x - y) > 1e-9 * max(1.0, abs(x)):
                out.append(f"{key}: {x!r} vs {y!r}")
        elif type(x) is not type(y) or x != y:
            out.append(f"{key}: {x!r} vs {y!r}")
    return out


@pytest.fixture(scope="module")
def sample() -> Dataset:
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return dnoutcomes.load(SAMPLE)


@pytest.fixture(scope="module")
def expected(sample: Dataset) -> dict[str, Any]:
    result: dict[str, Any] = analyze(sample).to_dict()
    return result


def _sets(frame: pd.DataFrame) -> pd.DataFrame:
    lists = [c for c in ("contraindications", "muscles", "modalities") if c in frame]
    return frame.assign(**{c: frame[c].map(lambda t: tuple(sorted(t))) for c in lists})


def _imported(result: Any, out: Path) -> Dataset:
    assert not result.problems, result.issues.to_string()
    report = write_import(result, out)
    assert report.valid, report.problems.head().to_string()
    assert report.dataset is not None
    return report.dataset


@pytest.mark.parametrize("labels", [False, True], ids=["raw", "labels"])
def test_redcap_round_trip_gives_the_same_data_and_analysis(
    tmp_path: Path, sample: Dataset, expected: dict[str, Any], labels: bool
) -> None:
    paths = write_redcap(sample, tmp_path / "redcap", labels=labels)
    result = import_redcap(paths["dictionary"], paths["records"], paths["mapping"])
    # the export's identifier fields (names, birth dates) are dropped by name
    assert "patient_name, dob" in " ".join(result.issues["message"])
    got = _imported(result, tmp_path / "out")
    assert result.accounting.iloc[0]["not_used"] == 0
    # REDCap ids are study ids and pass through: the tables are the sample's, cell for cell
    # (a checkbox is a set: its choices come back in the dictionary's order)
    for name in TABLES:
        pd.testing.assert_frame_equal(_sets(getattr(got, name)), _sets(getattr(sample, name)),
                                      obj=name)  # fmt: skip
    assert _differences(expected, analyze(got).to_dict()) == []


def test_fhir_round_trip_gives_the_same_analysis(
    tmp_path: Path, sample: Dataset, expected: dict[str, Any]
) -> None:
    paths = write_fhir(sample, tmp_path / "fhir")
    result = import_fhir(paths["bundle"], paths["mapping"])
    got = _imported(result, tmp_path / "out")
    assert (result.accounting["not_used"] == 0).all()
    # every id is a pseudonym: none of the sample's ids, MRNs or names is in the export
    text = "\n".join(p.read_text() for p in (tmp_path / "out").glob("*.csv"))
    for never in ("P000001", "E000001", "S0000001", "AE000001", "MRN1", "Doe", "555-123"):
        assert never not in text
    # the same rows, up to the pseudonyms
    for name in TABLES:
        assert len(getattr(got, name)) == len(getattr(sample, name)), name
    cols = ["sex", "age", "age_top_coded", "condition", "symptom_weeks", "site_id"]
    pd.testing.assert_frame_equal(got.patients[cols], sample.patients[cols])
    cols = ["start_date", "end_date", "arm", "arm_declared", "n_sessions", "dn_sessions"]
    pd.testing.assert_frame_equal(got.episodes[cols], sample.episodes[cols])
    assert _differences(expected, analyze(got).to_dict()) == []
