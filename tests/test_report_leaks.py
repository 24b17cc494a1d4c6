"""Two leaks of issue 13 ("Safe to circulate"), each tried the way a reader would: by doing
the arithmetic on the circulated report (its HTML text and its ``--data`` JSON).

* The patient flow's "other arms" row: "excluded 22, other arms: manual_exercise (19
  episodes), other (<11)" gives the hidden arm as 22 − 19 = 3.
* Table 1's "Contraindications: any" of the reference arm is hidden, but the safety
  section says how many episodes were needled despite a contraindication: that number
  minus the comparator's shown "any" gives the hidden one (every episode of both compared
  arms is needled, and no other arm carries a contraindication here).

Each test first checks that its arithmetic *does* recover the hidden count from the text
the old report printed (so the attack is real), then that it recovers nothing from the
report built today.
"""

from __future__ import annotations

import html as html_module
import json
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import dnoutcomes
from dnoutcomes.report.build import build_report
from dnoutcomes.report.model import Report
from dnoutcomes.report.render_html import render_html
from dnoutcomes.report.render_json import render_json
from dnoutcomes.stats.iptw import IptwResult

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
PERIOD = "2025-Q3"
RUN_TIME = "2025-10-06T08:00:00Z"
#: How many reference / comparator episodes of the period get a contraindication.
CONTRA_REFERENCE, CONTRA_COMPARATOR = 3, 12


def _load(folder: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dnoutcomes.load(folder)


def _in_period(dataset: Any) -> pd.DataFrame:
    episodes = dataset.episodes
    end = pd.to_datetime(episodes["end_date"])
    return episodes[(end >= "2025-07-01") & (end <= "2025-09-30")]


def _text(report: Report) -> str:
    page = re.sub(r"<svg.*?</svg>", "", render_html(report), flags=re.DOTALL)
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """data/sample with contraindications only on chosen patients: 3 needled reference and
    12 needled comparator episodes of the period (patients with one episode in it)."""
    folder = tmp_path_factory.mktemp("contra")
    for path in SAMPLE.glob("*.csv"):
        shutil.copy(path, folder / path.name)
    dataset = _load(SAMPLE)
    period = _in_period(dataset)
    single = period.groupby("patient_id")["episode_id"].transform("size").eq(1)
    once = ~dataset.episodes["patient_id"].duplicated(keep=False)
    candidates = period[single & period["patient_id"].isin(dataset.episodes["patient_id"][once])]
    candidates = candidates[candidates["dn_sessions"] > 0].sort_values("episode_id")
    chosen = pd.concat(
        [
            candidates[candidates["arm"] == "dn_only"].head(CONTRA_REFERENCE),
            candidates[candidates["arm"] == "dn_manual_exercise"].head(CONTRA_COMPARATOR),
        ]
    )
    patients = pd.read_csv(folder / "patients.csv", dtype=str, keep_default_na=False)
    patients["contraindications"] = np.where(
        patients["patient_id"].isin(chosen["patient_id"]), "anticoagulants", ""
    )
    patients.to_csv(folder / "patients.csv", index=False)
    data = _load(folder)
    # A count key no one has listed yet, as a future to_dict might add one (issue 13:
    # "a new count key in any to_dict slips through" the old list of key names).
    original = IptwResult.to_dict

    def with_new_counts(self: IptwResult) -> dict[str, Any]:
        block = original(self)
        block["n_new_subgroup"] = np.int64(4)
        block["new_block"] = {"events_in_subgroup": 7, "share": 0.25, "crossings": 3}
        return block

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(IptwResult, "to_dict", with_new_counts)
        report = build_report(data, period=PERIOD, run_time=RUN_TIME, figures=False)
    return {"dataset": data, "report": report, "chosen": chosen}


# --- (a) the other arms of the flow ---------------------------------------------------------


def _other_arm_by_subtraction(excluded: Any, reason: str) -> dict[str, int]:
    """What a reader gets from the "other arms" row: when the excluded total is a number
    and every other arm but one carries its count, the last one is the total minus them."""
    if not isinstance(excluded, int):
        return {}
    arms = re.findall(r"(\w+)(?: \((<?\d+) episodes?\))?", reason.removeprefix("other arms: "))
    shown = {arm: int(n) for arm, n in arms if n and not n.startswith("<")}
    unknown = [arm for arm, n in arms if arm not in shown]
    if len(unknown) != 1:
        return {}
    return {unknown[0]: excluded - sum(shown.values())}


def test_other_arms_row_gives_no_hidden_arm_back(export: dict[str, Any]) -> None:
    period = _in_period(export["dataset"])
    others = period["arm"].value_counts().drop(["dn_only", "dn_manual_exercise"])
    small = others[(others > 0) & (others < 11)]
    assert len(others) == 2 and len(small) == 1  # one large, one small other arm
    hidden_arm, hidden = str(small.index[0]), int(small.iloc[0])
    excluded = int(others.sum())
    # The sentence as the report printed it before (per-arm counts through the threshold).
    old = "other arms: " + ", ".join(
        f"{arm} ({n if n >= 11 else '<11'} episodes)" for arm, n in others.items()
    )
    assert _other_arm_by_subtraction(excluded, old) == {hidden_arm: hidden}

    document = json.loads(render_json(export["report"]))
    rows = document["tables"]["patient_flow"]["rows"]
    row = next(r for r in rows if r["arm"] == "all" and r["stage"] == "in_compared_arms")
    assert row["reason"].startswith("other arms: ")
    assert _other_arm_by_subtraction(row["excluded"], row["reason"]) == {}
    assert not re.search(r"\(\d+ episodes?\)", row["reason"])
    # The HTML says the same, and nowhere else pairs an arm with its count in words.
    text = _text(export["report"])
    assert row["reason"] in text
    for arm in others.index:
        assert not re.search(rf"{arm} \(\d+ episodes?\)", text)


# --- (b) Table 1's contraindications against the safety sentence ----------------------------


def _needled_despite(text: str) -> int | None:
    match = re.search(r"despite a recorded contraindication in (\d+) episodes", text)
    return int(match.group(1)) if match else None


def _table1_any(document: dict[str, Any]) -> dict[str, Any]:
    rows = document["tables"]["table1"]["rows"]
    row = next(r for r in rows if r["characteristic"] == "Contraindications: any")
    return {"reference": row["reference_value"], "comparator": row["comparator_value"]}


def test_safety_sentence_gives_no_hidden_contraindication_back(export: dict[str, Any]) -> None:
    period = _in_period(export["dataset"])
    contra = period["patient_id"].isin(export["chosen"]["patient_id"])
    needled = int((contra & (period["dn_sessions"] > 0)).sum())
    reference = int((contra & (period["arm"] == "dn_only")).sum())
    comparator = int((contra & (period["arm"] == "dn_manual_exercise")).sum())
    assert (reference, comparator, needled) == (CONTRA_REFERENCE, CONTRA_COMPARATOR, 15)

    document = json.loads(render_json(export["report"]))
    any_row = _table1_any(document)
    assert any_row["reference"] == "<11"  # Table 1 hides the reference arm's 3
    # The safety section's sentence as printed before: 15 needled - 12 shown = 3.
    old = f"Dry needling was given despite a recorded contraindication in {needled} episodes."
    assert _needled_despite(old) is not None
    assert _needled_despite(old) - comparator == reference  # type: ignore[operator]

    text = _text(export["report"])
    total = _needled_despite(text)
    if total is not None and isinstance(any_row["comparator"], int):
        recovered = total - any_row["comparator"]
        assert not 0 < recovered < 11, f"{total} − {any_row['comparator']} = {recovered}"
    # The sentence is still there and says where the list is.
    assert "despite a recorded contraindication" in text
    assert "--restricted" in text


# --- suppression of --data not by key name ---------------------------------------------------


def test_unknown_count_key_in_to_dict_is_suppressed_in_json(export: dict[str, Any]) -> None:
    iptw = json.loads(render_json(export["report"]))["results"]["iptw"]
    # The old rule hid only keys named in a fixed list; these names are in no list.
    old_count_keys = {"n", "n_reference", "n_comparator", "n_obs", "n_episodes", "events"}
    assert not {"n_new_subgroup", "events_in_subgroup"} & old_count_keys
    assert iptw["n_new_subgroup"] == "<11"
    assert iptw["new_block"]["events_in_subgroup"] == "<11"
    # A share is a statistic, kept; a declared non-count (a run-test statistic) is kept.
    assert iptw["new_block"]["share"] == 0.25
    assert iptw["new_block"]["crossings"] == 3
    # The analysis's own counts are still shown when not small.
    assert isinstance(iptw["n"], int) and iptw["n"] >= 11
