"""The protocol's routine-care settings (issue 15): missing data, MMRM, flexible
trajectories, AIPW, Cox/RMST and clustering. Off by default, each selectable from the file,
every bad value one clear problem naming its key and line."""

from __future__ import annotations

import json

import pytest

from dnoutcomes.errors import ProtocolError
from dnoutcomes.protocol import (
    ClusteringSpec,
    MissingDataSpec,
    MmrmSpec,
    Protocol,
    TimeToResponseSpec,
    TrajectorySpec,
    WeightingSpec,
    builtin_toml,
    default_protocol,
)

ALL_ON = """\
[primary]
measure = "nprs"

[trajectory]
random_slopes = true
time = "linear"
spline_df = 4
contrast_weeks = [0, 3.5]
extrapolate = true

[time_to_response]
cox = true
rmst_horizon = 42

[weighting]
method = "aipw"
trim = 0.05

[missing_data]
method = "mi"
m = 5
maxit = 4
seed = 11
auxiliaries = ["odi"]
tipping = true
tipping_shifted = "reference"
tipping_deltas = [0, 0.5, 1]

[mmrm]
enabled = true
visits = ["discharge", "followup_12w"]

[clustering]
cluster = "therapist"
type = "HC0"
"""


def test_every_setting_is_read() -> None:
    p = Protocol.from_toml_text(ALL_ON)
    assert p.trajectory == TrajectorySpec(None, ("baseline", "session", "discharge"), True,
                                          "linear", 4, (0.0, 3.5), True)  # fmt: skip
    assert p.time_to_response == TimeToResponseSpec(None, ("session", "discharge"), True, 42.0)
    assert p.weighting.method == "aipw" and p.weighting.trim == 0.05
    assert p.missing_data == MissingDataSpec(
        "mi", 5, 4, 11, ("odi",), True, "reference", (0.0, 0.5, 1.0)
    )
    assert p.mmrm == MmrmSpec(True, ("discharge", "followup_12w"), "satterthwaite")
    assert p.clustering == ClusteringSpec("therapist", "HC0")


def test_settings_round_trip_through_toml_and_json() -> None:
    p = Protocol.from_toml_text(ALL_ON)
    assert Protocol.from_toml_text(p.to_toml()) == p
    assert Protocol.from_toml_text(p.to_toml(commented=True)) == p
    assert Protocol.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert Protocol.from_toml_text(p.to_toml()).sha256() == p.sha256()


def test_defaults_keep_the_text_and_checksum_they_had() -> None:
    """The built-in protocol's plain TOML has none of the new keys, its checksum is the
    one computed before they existed (main at issue 15), and the commented file shows every
    new section commented out."""
    p = default_protocol()
    assert p.sha256() == "ab58e551f2998b6794e94fdba9fd25db27f579d9ac0b31726ff8229c5bcf1a61"
    plain = p.to_toml()
    for word in ("missing_data", "mmrm", "clustering", "random_slopes", "cox", "method"):
        assert word not in plain
    text = builtin_toml()
    for header in ("# [missing_data]", "# [mmrm]", "# [clustering]"):
        assert header in text.splitlines()
    assert "# random_slopes = false" in text and "# cox = false" in text
    # spelling out a default does not change the checksum; any setting does
    spelled = Protocol.from_toml_text('[primary]\nmeasure = "nprs"\n[mmrm]\nenabled = false\n')
    assert spelled.sha256() == Protocol().sha256()
    on = Protocol.from_toml_text('[primary]\nmeasure = "nprs"\n[mmrm]\nenabled = true\n')
    assert on.sha256() != Protocol().sha256()


_P = "[primary]\nmeasure = 'nprs'\n"


@pytest.mark.parametrize(
    ("text", "key", "line", "expected"),
    [
        (_P + "[missing_data]\nmethod = 'multiple'\n", "missing_data.method", 4, "'mi'"),
        (_P + "[missing_data]\nm = 1\n", "missing_data.m", 4, "from 2 to 1000"),
        (_P + "[missing_data]\nm = 2.5\n", "missing_data.m", 4, "whole number"),
        (_P + "[missing_data]\nmaxit = 0\n", "missing_data.maxit", 4, "from 1 to 100"),
        (_P + "[missing_data]\nseed = -1\n", "missing_data.seed", 4, "whole number"),
        (
            _P + "[missing_data]\nauxiliaries = ['xyz']\n",
            "missing_data.auxiliaries",
            4,
            "unknown measure 'xyz'",
        ),  # fmt: skip
        (
            _P + "[missing_data]\nauxiliaries = ['nprs']\n",
            "missing_data.auxiliaries",
            4,
            "primary outcome's measure",
        ),  # fmt: skip
        (_P + "[missing_data]\ntipping = true\n", "missing_data.tipping", 4, 'method = "mi"'),
        (
            _P + "[missing_data]\nmethod = 'mi'\ntipping_deltas = [0, 'a']\n",
            "missing_data.tipping_deltas",
            5,
            "item 2",
        ),  # fmt: skip
        (
            _P + "[missing_data]\nmethod = 'mi'\ntipping_shifted = 'both'\n",
            "missing_data.tipping_shifted",
            5,
            "'reference'",
        ),  # fmt: skip
        (_P + "[missing_data]\nimputations = 5\n", "missing_data.imputations", 4, "unknown key"),
        (_P + "[mmrm]\nenabled = 'yes'\n", "mmrm.enabled", 4, "true or false"),
        (_P + "[mmrm]\nvisits = ['baseline']\n", "mmrm.visits", 4, "post-baseline"),
        (_P + "[mmrm]\ndf = 'kr'\n", "mmrm.df", 4, "'kenward-roger'"),
        (_P + "[mmrm]\ndf = 'residual'\n", "mmrm.df", 4, "'satterthwaite'"),
        (_P + "[trajectory]\nrandom_slopes = 1\n", "trajectory.random_slopes", 4, "true or false"),
        (_P + "[trajectory]\ntime = 'cubic'\n", "trajectory.time", 4, "'linear'"),
        (_P + "[trajectory]\nspline_df = 11\n", "trajectory.spline_df", 4, "from 1 to 10"),
        (_P + "[trajectory]\ncontrast_weeks = []\n", "trajectory.contrast_weeks", 4, "at least"),
        (_P + "[trajectory]\ncontrast_weeks = [-1]\n", "trajectory.contrast_weeks", 4, "0 or more"),
        (_P + "[time_to_response]\ncox = 'yes'\n", "time_to_response.cox", 4, "true or false"),
        (
            _P + "[time_to_response]\nrmst_horizon = 0\n",
            "time_to_response.rmst_horizon",
            4,
            "above 0",
        ),  # fmt: skip
        (_P + "[weighting]\nmethod = 'tmle'\n", "weighting.method", 4, "'aipw'"),
        (_P + "[weighting]\nmethod = 'aipw'\ntrim = 0.5\n", "weighting.trim", 5, "below 0.5"),
        (_P + "[weighting]\ntrim = 0.1\n", "weighting.trim", 4, 'method = "aipw"'),
        (_P + "[weighting]\nmethod = 'aipw'\nestimand = 'ato'\n", "weighting.method", 4, "ATE"),
        (
            _P + "[weighting]\nmethod = 'aipw'\ncovariates = ['age']\n",
            "weighting.method",
            4,
            "plan's propensity covariates",
        ),  # fmt: skip
        (
            "[primary]\nmeasure = 'odi'\n[weighting]\nmethod = 'aipw'\n",
            "weighting.method",
            4,
            "NPRS at discharge",
        ),  # fmt: skip
        (_P + "[clustering]\ncluster = 'clinic'\n", "clustering.cluster", 4, "'site'"),
        (_P + "[clustering]\ntype = 'CR3'\n", "clustering.type", 4, "'CR2'"),
        ("clustering = 'site'\n" + _P, "clustering", 1, "expected a table"),
    ],
)
def test_bad_values_name_the_key_and_line(text: str, key: str, line: int, expected: str) -> None:
    with pytest.raises(ProtocolError) as info:
        Protocol.from_toml_text(text, source="study.toml")
    assert len(info.value.problems) == 1, info.value.problems
    found_key, found_line, message = info.value.problems[0]
    assert (found_key, found_line) == (key, line)
    assert expected in message
    assert f"study.toml line {line}" in str(info.value)


def test_describe_names_the_methods_switched_on() -> None:
    text = "\n".join(Protocol.from_toml_text(ALL_ON).describe())
    for phrase in ("random intercepts and slopes", "MMRM", "Cox", "AIPW", "therapist",
                   "multiple imputation", "tipping point"):  # fmt: skip
        assert phrase in text
    assert "imputation" not in "\n".join(default_protocol().describe())


def test_weighting_spec_defaults_are_the_old_ones() -> None:
    assert WeightingSpec() == WeightingSpec("ate", WeightingSpec().covariates, "iptw", None)


def test_check_data_finds_mmrm_visits_and_auxiliaries_without_values() -> None:
    import warnings

    from dnoutcomes.sample import generate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = generate(episodes=200, seed=1).to_dataset()
    text = (
        '[primary]\nmeasure = "nprs"\n[mmrm]\nenabled = true\nvisits = ["discharge", '
        '"followup_52w"]\n[missing_data]\nmethod = "mi"\nauxiliaries = ["rmdq", "odi"]\n'
    )
    problems = Protocol.from_toml_text(text).check_data(dataset)
    assert [(k, ln) for k, ln, _ in problems] == [
        ("mmrm.visits", 5),
        ("missing_data.auxiliaries", 8),
    ]
    assert "no nprs values at followup_52w" in problems[0][2]
    assert "'rmdq' has no baseline values" in problems[1][2]
    fine = text.replace(', "followup_52w"', "").replace('"rmdq", ', "")
    assert Protocol.from_toml_text(fine).check_data(dataset) == []


def test_small_sample_options_parse_and_keep_the_default_checksum() -> None:
    """``df = "kenward-roger"`` and ``type = "CR2"`` are accepted, round-trip through the
    writer, change the checksum and are described; the defaults stay as they were."""
    text = _P + "[mmrm]\nenabled = true\ndf = 'kenward-roger'\n[clustering]\ncluster = 'site'\n"
    p = Protocol.from_toml_text(text + "type = 'CR2'\n")
    assert p.mmrm.df == "kenward-roger" and p.clustering.type == "CR2"
    assert Protocol.from_toml_text(p.to_toml()).sha256() == p.sha256()
    assert p.sha256() != Protocol.from_toml_text(text).sha256()
    described = " ".join(p.describe())
    assert "Kenward-Roger adjusted standard errors and df" in described
    assert "CR2, Bell-McCaffrey, with Satterthwaite df" in described
    assert MmrmSpec().df == "satterthwaite" and ClusteringSpec().type == "HC1"
