"""``dnoutcomes summarise`` and ``dnoutcomes pool``: files written whole, refused with a
clear message (no traceback) when a statistic would disclose, when a summary was edited,
or when summaries of different protocols are pooled; the pooled numbers are the row-level
ones."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.cli import main

PROTOCOL = """\
[primary]
measure = "nprs"
timepoint = "discharge"

[report]
min_cell = 5
"""


def split_export(source: Path, target: Path, *, recode_sex: bool = False) -> list[Path]:
    """One export folder per site from a CSV export (rows of every table kept with their
    episode's site)."""
    tables = {
        f.stem: pd.read_csv(f, dtype=str, keep_default_na=False) for f in source.glob("*.csv")
    }
    episodes, patients = tables["episodes"], tables["patients"]
    if recode_sex:  # a network of sites without rare sex categories
        patients["sex"] = patients["sex"].where(patients["sex"].isin(["female", "male"]), "female")
    if "site_id" in episodes.columns:
        site_of_episode = episodes.set_index("episode_id")["site_id"]
    else:
        site_of_episode = episodes.set_index("episode_id")["patient_id"].map(
            patients.set_index("patient_id")["site_id"]
        )
    folders = []
    for site in sorted(site_of_episode.unique()):
        folder = target / f"site_id={site}"
        folder.mkdir(parents=True)
        ids = set(site_of_episode.index[site_of_episode == site])
        eps = episodes.loc[episodes["episode_id"].isin(ids)]
        sessions = tables["sessions"].loc[tables["sessions"]["episode_id"].isin(ids)]
        parts = {
            "episodes": eps,
            "patients": patients.loc[patients["patient_id"].isin(eps["patient_id"])],
            "sessions": sessions,
            "outcomes": tables["outcomes"].loc[tables["outcomes"]["episode_id"].isin(ids)],
        }
        if "adverse_events" in tables:
            ae = tables["adverse_events"]
            parts["adverse_events"] = ae.loc[ae["session_id"].isin(sessions["session_id"])]
        for name, frame in parts.items():
            frame.to_csv(folder / f"{name}.csv", index=False)
        folders.append(folder)
    return folders


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from dnoutcomes.sample import generate

    root = tmp_path_factory.mktemp("network")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generate(episodes=4000, seed=3, sites=2).write(root / "whole", format="csv")
    folders = split_export(root / "whole", root / "sites", recode_sex=True)
    protocol = root / "network.toml"
    protocol.write_text(PROTOCOL, encoding="utf-8")
    summaries = []
    for folder in folders:
        out = root / f"{folder.name.split('=')[1]}.json"
        code = main(
            [
                "summarise",
                str(folder),
                "--protocol",
                str(protocol),
                "--out",
                str(out),
                "--grid-days",
                "28",
                "--horizon-days",
                "84",
                "--no-charts",
                # the mixed model's episode sizes, the rare adverse-event types and opioid
                # use have cells below min_cell here (tests/test_network_extra.py)
                "--no-trajectory",
                "--no-medication",
                "--no-safety",
            ]
        )
        assert code == 0
        summaries.append(out)
    return {"root": root, "folders": folders, "protocol": protocol, "summaries": summaries}


def _ints(node: Any, key: str = "") -> list[tuple[str, int]]:
    """Every integer in a JSON document, with the key it sits under."""
    if isinstance(node, bool):
        return []
    if isinstance(node, int):
        return [(key, node)]
    if isinstance(node, dict):
        return [pair for k, v in node.items() for pair in _ints(v, k)]
    if isinstance(node, list):
        return [pair for v in node for pair in _ints(v, key)]
    return []


def test_summary_files_hold_no_small_count(network: dict[str, Any]) -> None:
    min_cell = 5
    for path in network["summaries"]:
        document = json.loads(path.read_text(encoding="utf-8"))
        assert document["format_version"] == 2 and document["min_cell"] == min_cell
        counts = [
            (k, v)
            for k, v in _ints(document)
            if k not in {"format_version", "min_cell", "min_obs_per_parameter"}
        ]
        assert counts, "the scan found the counts"
        small = [(k, v) for k, v in counts if 0 < v < min_cell]
        assert small == []
        # counts inside the cross-products: indicator columns × indicator columns
        for block in document["blocks"].values():
            for entry in block["ancova"]:
                xtx = np.asarray(entry["xtx"])
                counted = [0, 1] + [i for i, c in enumerate(entry["columns"]) if c["level"]]
                cells = xtx[np.ix_(counted, counted)]
                assert not ((cells > 0) & (cells < min_cell)).any()
        assert "episode_id" not in path.read_text(encoding="utf-8")


def test_pool_writes_html_json_and_xlsx_equal_to_row_level(network: dict[str, Any]) -> None:
    import dnoutcomes
    from dnoutcomes.protocol import Protocol
    from dnoutcomes.stats.ancova import compare_ancova

    root = network["root"]
    out, data, xlsx = root / "network.html", root / "network.json", root / "network.xlsx"
    code = main(
        [
            "pool",
            *map(str, network["summaries"]),
            "--out",
            str(out),
            "--data",
            str(data),
            "--xlsx",
            str(xlsx),
        ]
    )
    assert code == 0
    assert "<html" in out.read_text(encoding="utf-8")
    assert xlsx.read_bytes()[:2] == b"PK"
    document = json.loads(data.read_text(encoding="utf-8"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = dnoutcomes.load(root / "whole", protocol=Protocol.from_toml(network["protocol"]))
    row = compare_ancova(whole)
    np.testing.assert_allclose(document["ancova"][0]["estimate"], row.estimate, rtol=1e-9)
    np.testing.assert_allclose(document["ancova"][0]["se"], row.std_error, rtol=1e-9)


def test_fine_grid_and_monthly_counts_are_refused_naming_the_statistic(
    network: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = network["folders"][0]
    out = tmp_path / "site.json"
    code = main(
        ["summarise", str(folder), "--protocol", str(network["protocol"]), "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert not out.exists()
    assert "Traceback" not in err
    assert "not written" in err and "min_cell = 5" in err
    # the default grid leaves a few responses in a late week, and the charts a small month
    assert "time to response" in err and "days = " in err


def test_rare_category_refused(
    network: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folders = split_export(network["root"] / "whole", tmp_path / "sites")  # sex kept as is
    code = main(
        [
            "summarise",
            str(folders[0]),
            "--protocol",
            str(network["protocol"]),
            "--out",
            str(tmp_path / "s.json"),
            "--grid-days",
            "28",
            "--horizon-days",
            "84",
            "--no-charts",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "Table 1: sex = " in err and "Traceback" not in err


def test_small_arm_refused(
    network: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A site whose comparator arm has 3 episodes: every count of that arm is refused."""
    folder = network["folders"][0]
    small = tmp_path / "small"
    small.mkdir()
    episodes = pd.read_csv(folder / "episodes.csv", dtype=str, keep_default_na=False)
    sessions = pd.read_csv(folder / "sessions.csv", dtype=str, keep_default_na=False)
    comp = episodes.loc[episodes["arm"] == "dn_manual_exercise", "episode_id"]
    drop = set(comp.iloc[3:])
    keep_sessions = sessions.loc[~sessions["episode_id"].isin(drop)]
    episodes.loc[~episodes["episode_id"].isin(drop)].to_csv(small / "episodes.csv", index=False)
    keep_sessions.to_csv(small / "sessions.csv", index=False)
    for name in ("patients", "outcomes", "adverse_events"):
        frame = pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
        if "episode_id" in frame.columns:
            frame = frame.loc[~frame["episode_id"].isin(drop)]
        if name == "adverse_events":
            frame = frame.loc[frame["session_id"].isin(keep_sessions["session_id"])]
        frame.to_csv(small / f"{name}.csv", index=False)
    code = main(
        [
            "summarise",
            str(small),
            "--protocol",
            str(network["protocol"]),
            "--out",
            str(tmp_path / "s.json"),
            "--grid-days",
            "28",
            "--horizon-days",
            "84",
            "--no-charts",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "complete episodes, comparator arm = 3" in err or "comparator arm = 3" in err


def test_tampered_summary_is_refused(
    network: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(network["summaries"][0].read_text(encoding="utf-8"))
    site = next(iter(document["blocks"]))
    document["blocks"][site]["responders"]["responders"][0] += 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document), encoding="utf-8")
    code = main(["pool", str(bad), str(network["summaries"][1]), "--out", str(tmp_path / "n.html")])
    err = capsys.readouterr().err
    assert code == 1 and "checksum does not match" in err and "Traceback" not in err
    assert not (tmp_path / "n.html").exists()


def test_summaries_of_different_protocols_are_not_pooled(
    network: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.toml"
    other.write_text(PROTOCOL.replace("min_cell = 5", "min_cell = 6"), encoding="utf-8")
    out = tmp_path / "other.json"
    assert (
        main(
            [
                "summarise",
                str(network["folders"][1]),
                "--protocol",
                str(other),
                "--out",
                str(out),
                "--grid-days",
                "28",
                "--horizon-days",
                "84",
                "--no-charts",
                "--no-trajectory",
                "--no-medication",
                "--no-safety",
            ]
        )
        == 0
    )
    capsys.readouterr()
    code = main(["pool", str(network["summaries"][0]), str(out), "--out", str(tmp_path / "n.html")])
    err = capsys.readouterr().err
    assert code == 2 and "different protocols" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "code", "words"),
    [
        (b"{not json", 2, "is not JSON"),
        (b'{"format": "something else"}', 1, "not a dnoutcomes site summary"),
        (b"\xff\xfe", 2, "not UTF-8"),
    ],
)
def test_unreadable_summaries(
    content: bytes, code: int, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    assert main(["pool", str(bad), "--out", str(tmp_path / "n.html")]) == code
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_missing_summary_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pool", str(tmp_path / "nope.json"), "--out", str(tmp_path / "n.html")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_defaults_are_the_library_defaults() -> None:
    from dnoutcomes.cli import summarise as cli
    from dnoutcomes.network import summary

    assert (cli.DEFAULT_GRID_DAYS, cli.DEFAULT_HORIZON_DAYS) == (
        summary.DEFAULT_GRID_DAYS,
        summary.DEFAULT_HORIZON_DAYS,
    )


def test_summary_of_the_wrong_shape_is_refused(
    network: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file whose checksum was recomputed over a damaged content: a clear error, exit 1."""
    from dnoutcomes.network.summary import _checksum

    document = json.loads(network["summaries"][0].read_text(encoding="utf-8"))
    site = next(iter(document["blocks"]))
    del document["blocks"][site]["responders"]
    document["sha256"] = _checksum(document)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document), encoding="utf-8")
    code = main(["pool", str(bad), str(network["summaries"][1]), "--out", str(tmp_path / "n.html")])
    err = capsys.readouterr().err
    assert code == 1 and "summarise again" in err and "Traceback" not in err
