"""Study protocols: reading and writing the TOML file, its checks, and the fit to an export."""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dnoutcomes
from dnoutcomes._protocol_toml import TIMEPOINTS, derived_covariate, key_lines
from dnoutcomes.contract.measures import Measure, default_registry
from dnoutcomes.errors import ProtocolError, RequestError
from dnoutcomes.protocol import (
    MedicationSpec,
    OutcomeSpec,
    Protocol,
    ReportSpec,
    ResponderSpec,
    TimeToResponseSpec,
    TrajectorySpec,
    WeightingSpec,
    builtin_toml,
    default_protocol,
)
from dnoutcomes.sample import generate

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

TSK = """\
title = "Kinesiophobia at discharge"

[arms]
reference = "dn_only"
comparator = "dn_manual_exercise"

[[measures]]
name = "tsk"
label = "Tampa Scale of Kinesiophobia"
low = 17
high = 68
integer = true
direction = "lower"
mcid_points = 6

[primary]
measure = "tsk"
timepoint = "discharge"
covariates = ["age", "smoker", "baseline:odi"]

[[secondary]]
measure = "nprs"
timepoint = "discharge"

[weighting]
estimand = "ato"
covariates = ["age", "sex", "baseline:tsk"]
"""


def _write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _one_problem(text: str) -> tuple[str, int | None, str]:
    with pytest.raises(ProtocolError) as info:
        Protocol.from_toml_text(text, source="study.toml")
    assert len(info.value.problems) == 1, info.value.problems
    return info.value.problems[0]


# ------------------------------------------------------------------------------- round trips


def test_builtin_text_parses_to_the_default_protocol(tmp_path: Path) -> None:
    text = builtin_toml()
    parsed = Protocol.from_toml(_write(tmp_path, text))
    assert parsed == default_protocol()
    assert parsed.source == str(tmp_path / "study.toml")
    assert parsed.sha256() == default_protocol().sha256()
    # every key of the file is commented, and the text is plain TOML
    assert tomllib.loads(text)["primary"] == {
        "measure": "nprs",
        "timepoint": "discharge",
        "covariates": [],
    }
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#") and not line.startswith("title"):
            key = line.split("=")[0].strip()
            if key not in ("measure", "timepoint", "optional"):  # secondary entries
                assert lines[i - 1].startswith("#"), f"{key} has no comment"


def test_to_dict_is_json_ready_and_round_trips() -> None:
    p = Protocol.from_toml_text(TSK)
    d = p.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert Protocol.from_dict(d) == p
    assert d["measures"][0] == {
        "name": "tsk",
        "label": "Tampa Scale of Kinesiophobia",
        "unit": "points",
        "low": 17.0,
        "high": 68.0,
        "integer": True,
        "direction": "lower",
        "mcid_points": 6.0,
        "mcid_percent": None,
        "responder_values": [],
    }
    assert d["secondary"] == [
        {"measure": "nprs", "timepoint": "discharge", "covariates": None, "optional": False}
    ]
    assert d["responders"] == {
        "measure": None,
        "timepoint": None,
        "definition": "mcid",
        "percent": 30.0,
    }
    assert "source" not in d and "lines" not in d
    assert Protocol.from_toml_text(p.to_toml()) == p
    assert Protocol.from_toml_text(p.to_toml(commented=True)) == p


def test_defaults_and_resolution() -> None:
    p = Protocol.from_dict({"primary": {"measure": "odi", "covariates": ["age"]}})
    assert p == Protocol(primary=OutcomeSpec("odi", "discharge", ("age",)))
    q = Protocol.from_toml_text(TSK)
    assert q.outcomes()[1].covariates == ("age", "smoker", "baseline:odi")
    assert q.registry()["tsk"].high == 68
    assert q.responder_outcome() == ("tsk", "discharge")


def test_sha256_ignores_comments_order_spacing_and_spelled_out_defaults() -> None:
    reordered = """\
# the same protocol, written differently
[weighting]
covariates = ["age", "sex", "baseline:tsk"]   # ordered as before
estimand   = "ato"

[primary]
covariates = ["age", "smoker", "baseline:odi"]
timepoint = "discharge"
measure = "tsk"

[[measures]]
direction = "lower"
high = 68.0
low = 17.0
name = "tsk"
unit = "points"
integer = true
label = "Tampa Scale of Kinesiophobia"
mcid_points = 6.0
responder_values = []

[[secondary]]
measure = "nprs"
optional = false

[responders]
definition = "mcid"
percent = 30

[report]
min_cell = 11

[arms]
comparator = "dn_manual_exercise"
reference = "dn_only"

title = "ignored?"
"""
    # a top-level key after a table belongs to that table: move the title first
    reordered = 'title = "Kinesiophobia at discharge"\n' + reordered.replace(
        'title = "ignored?"\n', ""
    )
    a, b = Protocol.from_toml_text(TSK), Protocol.from_toml_text(reordered)
    assert a == b
    assert a.sha256() == b.sha256()
    assert len(a.sha256()) == 64
    # a real change changes it; list order counts
    c = replace(a, weighting=WeightingSpec("ato", ("sex", "age", "baseline:tsk")))
    assert c.sha256() != a.sha256()


def test_key_lines_follow_tables_arrays_and_multiline_values() -> None:
    text = """\
title = "a [bracket] and # hash"
[arms]
reference = "x"   # comment [
[[secondary]]
measure = "odi"
covariates = [
  "age",   # ]
  "sex",
]
timepoint = "discharge"
[[secondary]]
measure = "nprs"
[primary]
measure = '''multi
timepoint = "x"
'''
covariates = []
"""
    lines = key_lines(text)
    assert lines == {
        "title": 1,
        "arms": 2,
        "arms.reference": 3,
        "secondary.0": 4,
        "secondary.0.measure": 5,
        "secondary.0.covariates": 6,
        "secondary.0.timepoint": 10,
        "secondary.1": 11,
        "secondary.1.measure": 12,
        "primary": 13,
        "primary.measure": 14,
        "primary.covariates": 17,
    }


def test_describe_names_the_question() -> None:
    text = "\n".join(Protocol.from_toml_text(TSK).describe())
    assert (
        "Tampa Scale of Kinesiophobia at discharge, adjusted for its baseline value and age" in text
    )
    assert "overlap weights (ATO)" in text
    assert "tsk (Tampa Scale of Kinesiophobia, 17–68 points, lower is better)" in text


# ------------------------------------------------------------------------------- bad files


def test_unknown_key_names_it_and_its_line() -> None:
    key, line, message = _one_problem('[primary]\nmeasure = "nprs"\ncovariate = ["age"]\n')
    assert (key, line) == ("primary.covariate", 3)
    assert "unknown key 'covariate'" in message and "did you mean 'covariates'" in message


def test_unknown_section_is_an_error() -> None:
    key, line, message = _one_problem('[primary]\nmeasure = "nprs"\n\n[analysis]\nx = 1\n')
    assert (key, line) == ("analysis", 4)
    assert "unknown key 'analysis' in the top level" in message


def test_unknown_measure() -> None:
    key, line, message = _one_problem('title = "t"\n[primary]\nmeasure = "tsk"\n')
    assert (key, line) == ("primary.measure", 3)
    assert "unknown measure 'tsk'" in message and "[[measures]]" in message


@pytest.mark.parametrize(
    ("covariate", "why"),
    [
        ("improvement", "derived from the outcome itself"),
        ("value", "derived from the outcome itself"),
        ("responder", "derived from the outcome itself"),
        ("nprs", "later value"),
        ("nprs_later", "derived from the outcome nprs"),
        ("odi_followup_12w", "derived from the outcome odi"),
        ("discharge:nprs", "value after baseline"),
        ("baseline:walking", "names no known measure"),
        ("baseline:nprs", "own baseline"),
        ("arm", "the treatment compared"),
    ],
)
def test_covariates_derived_from_the_outcome_are_refused(covariate: str, why: str) -> None:
    text = f'[primary]\nmeasure = "nprs"\ncovariates = ["age", "{covariate}"]\n'
    key, line, message = _one_problem(text)
    assert (key, line) == ("primary.covariates", 3)
    assert why in message
    assert "value" not in message.split(".")[-2] or covariate == "value"  # no outcome offered


def test_declared_measures_are_known_to_covariates() -> None:
    assert derived_covariate("baseline:tsk", {"tsk"}) is None
    assert derived_covariate("tsk", {"tsk"}) is not None
    assert derived_covariate("smoker", {"tsk"}) is None
    Protocol.from_toml_text(TSK)  # baseline:tsk in weighting is fine once tsk is declared


def test_invalid_toml_gives_its_line_and_column() -> None:
    key, line, message = _one_problem("[primary]\nmeasure = nprs\n")
    assert (key, line) == ("", 2)
    assert message.startswith("not valid TOML at column 11: invalid value")
    with pytest.raises(ProtocolError, match=r"^study.toml line 2: not valid TOML"):
        Protocol.from_toml_text("[primary]\nmeasure = nprs\n", source="study.toml")


def test_timepoint_message_follows_the_template() -> None:
    with pytest.raises(ProtocolError) as info:
        Protocol.from_toml_text(
            '\n[primary]\nmeasure = "nprs"\ntimepoint = "session"\n', source="study.toml"
        )
    assert str(info.value) == (
        "study.toml line 4, key primary.timepoint: expected discharge or a follow-up "
        "timepoint (followup_4w … followup_52w); got 'session'. Session values enter the "
        "trajectory and time-to-response analyses."
    )
    assert isinstance(info.value, RequestError)


def test_every_problem_is_reported_at_once() -> None:
    text = """\
[arms]
reference = "a"
comparator = "a"

[[measures]]
name = "Bad Name"
low = 5
high = 1
direction = "lower"

[[measures]]
name = "tsk"
low = "17"
direction = "down"

[primary]
measure = "nprs"
timepoint = "followup_8w"
covariates = "age"

[[secondary]]
measure = "nprs"
timepoint = "discharge"

[responders]
definition = "values"

[trajectory]
timepoints = ["baseline"]

[time_to_response]
timepoints = ["baseline", "discharge"]

[weighting]
estimand = "atc"
covariates = []

[report]
min_cell = true
"""
    with pytest.raises(ProtocolError) as info:
        Protocol.from_toml_text(text, source="study.toml")
    found = {(k, ln) for k, ln, _ in info.value.problems}
    assert found == {
        ("arms.comparator", 3),
        ("measures.0.name", 6),
        ("measures.0.high", 8),
        ("measures.1.low", 13),
        ("measures.1.high", 11),
        ("measures.1.direction", 14),
        ("primary.timepoint", 18),
        ("primary.covariates", 19),
        ("responders.definition", 26),
        ("trajectory.timepoints", 29),
        ("time_to_response.timepoints", 32),
        ("weighting.estimand", 35),
        ("weighting.covariates", 36),
        ("report.min_cell", 39),
    }
    text_lines = str(info.value).splitlines()
    assert text_lines[0] == f"{len(found)} problems in the protocol study.toml:"
    assert all(line.startswith("  study.toml line ") for line in text_lines[1:])
    # the duplicate secondary is seen once the primary's timepoint is fixed
    fixed = text.replace("followup_8w", "discharge")
    with pytest.raises(ProtocolError) as again:
        Protocol.from_toml_text(fixed)
    assert ("secondary.0", 21) in {(k, ln) for k, ln, _ in again.value.problems}


_P = "[primary]\nmeasure = 'nprs'\n"
_M = "[[measures]]\nname = 'x'\nlow = 0\nhigh = 1\n"


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("title = 3\n" + _P, "title", "expected text in quotes"),
        (_P + "covariates = ['age', 'age']\n", "primary.covariates", "listed twice"),
        (_P + "covariates = ['age', 3]\n", "primary.covariates", "item 2"),
        (_P + "covariates = ['  ']\n", "primary.covariates", "empty"),
        (_P + "timepoint = 'baseline'\n", "primary.timepoint", "anchor"),
        (_P + "timepoint = 'week_6'\n", "primary.timepoint", "followup_52w"),
        (_P + "optional = true\n", "primary.optional", "unknown key"),
        (_P + "[responders]\npercent = 0\n", "responders.percent", "above 0"),
        ("[primary]\nmeasure = 'pgic'\n", "responders", "MCID"),
        (_P + "[medication]\ntimepoint = 'session'\n", "medication.timepoint", "'session'"),
        (
            _P + "[deidentification]\nallow_columns = 'bmi'\n",
            "deidentification.allow_columns",
            "list",
        ),
        ("primary = 3\n", "primary", "expected a [primary] table"),
        ("[primary]\nmeasure = ['nprs']\n", "primary.measure", "expected text"),
        ("arms = 'x'\n" + _P, "arms", "expected a table"),
        ("title = 'x'\n", "primary", "required"),
        ("[[primary]]\nmeasure = 'nprs'\n", "primary", "expected a [primary] table"),
        (_P + _M, "measures.0.direction", "required"),
        (
            _P + _M + "direction = 'lower'\n" + _M + "direction = 'lower'\n",
            "measures.1.name",
            "twice",
        ),
        (
            _P + _M.replace("high = 1", "high = inf") + "direction = 'lower'\n",
            "measures.0.high",
            "finite",
        ),
    ],
)
def test_bad_values(text: str, key: str, expected: str) -> None:
    found_key, _, message = _one_problem(text)
    assert found_key == key
    assert expected in message


def test_from_toml_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(dnoutcomes.UnreadableInputError, match="does not exist"):
        Protocol.from_toml(tmp_path / "nope.toml")
    (tmp_path / "latin1.toml").write_bytes(b'title = "caf\xe9"\n')
    with pytest.raises(dnoutcomes.UnreadableInputError, match="not UTF-8"):
        Protocol.from_toml(tmp_path / "latin1.toml")


# ------------------------------------------------------------------------------- the data


@pytest.fixture(scope="module")
def sample_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated export with a user measure ``tsk`` (the ODI rows renamed) and an
    extra patient column ``smoker``."""
    folder = generate(episodes=150, seed=12).write(tmp_path_factory.mktemp("export"))
    outcomes = pd.read_csv(folder / "outcomes.csv", dtype=str, keep_default_na=False)
    outcomes["measure"] = outcomes["measure"].replace("odi", "tsk")
    outcomes.to_csv(folder / "outcomes.csv", index=False)
    patients = pd.read_csv(folder / "patients.csv", dtype=str, keep_default_na=False)
    patients["smoker"] = ["yes" if i % 3 == 0 else "no" for i in range(len(patients))]
    patients.to_csv(folder / "patients.csv", index=False)
    return Path(folder)


TSK_DATA = (
    TSK.replace("low = 17\nhigh = 68", "low = 0\nhigh = 100")
    .replace("integer = true", "integer = false")
    .replace('"baseline:odi"', '"baseline:nprs"')
)


def test_user_measure_validates_only_with_the_protocol(sample_export: Path) -> None:
    before = dnoutcomes.validate(sample_export)
    assert not before.valid
    assert set(before.problems["rule"]) == {"unknown_measure"}
    protocol = Protocol.from_toml_text(TSK_DATA)
    after = dnoutcomes.validate(sample_export, protocol=protocol)
    assert after.valid, after.problems.head()
    assert after.dataset is not None and "tsk" in after.dataset.registry
    # the declared range is enforced (ranges included)
    narrow = Protocol.from_toml_text(TSK_DATA.replace("high = 100", "high = 10"))
    report = dnoutcomes.validate(sample_export, protocol=narrow)
    assert not report.valid
    assert "tsk" in report.problems["message"].iloc[0]
    # combinable with registry=: the protocol's measures extend it
    base = default_registry().with_measure(Measure("extra", "Extra", "points", 0, 1))
    combined = dnoutcomes.validate(sample_export, protocol=protocol, registry=base)
    assert combined.dataset is not None and {"extra", "tsk"} <= set(combined.dataset.registry)
    with pytest.raises(RequestError, match="protocol must be a Protocol"):
        dnoutcomes.validate(sample_export, protocol="study.toml")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tsk_dataset(sample_export: Path) -> dnoutcomes.Dataset:
    with pytest.warns(dnoutcomes.DataQualityWarning):
        return dnoutcomes.load(sample_export, protocol=Protocol.from_toml_text(TSK_DATA))


def test_check_data_accepts_a_fitting_protocol(tsk_dataset: dnoutcomes.Dataset) -> None:
    assert Protocol.from_toml_text(TSK_DATA).check_data(tsk_dataset) == []


def test_unknown_arm_lists_the_arms_present(tsk_dataset: dnoutcomes.Dataset) -> None:
    p = Protocol.from_toml_text(TSK_DATA.replace('"dn_only"', '"usual_care"'), source="s.toml")
    problems = p.check_data(tsk_dataset)
    assert len(problems) == 1
    key, line, message = problems[0]
    assert (key, line) == ("arms.reference", 4)
    counts = tsk_dataset.episodes["arm"].value_counts()
    assert f"dn_only ({counts['dn_only']} episodes)" in message
    with pytest.raises(ProtocolError, match=r"s.toml line 4, key arms.reference: arm 'usual_care'"):
        p.check_data(tsk_dataset, raise_errors=True)


def test_timepoint_without_data(tsk_dataset: dnoutcomes.Dataset) -> None:
    p = Protocol.from_toml_text(
        TSK_DATA.replace('timepoint = "discharge"\ncov', 'timepoint = "followup_52w"\ncov')
    )
    problems = p.check_data(tsk_dataset)
    assert [(k, ln) for k, ln, _ in problems] == [("primary.timepoint", 18)]
    assert "no tsk values at followup_52w" in problems[0][2]
    assert "baseline, discharge, followup_12w" in problems[0][2]
    # an optional secondary without data is no problem; a required one is
    q = replace(
        Protocol.from_toml_text(TSK_DATA),
        secondary=(OutcomeSpec("rmdq", "discharge", None, True),),
    )
    assert q.check_data(tsk_dataset) == []
    r = replace(q, secondary=(OutcomeSpec("rmdq", "discharge", None, False),))
    assert [k for k, _, _ in r.check_data(tsk_dataset)] == ["secondary.0.timepoint"]
    s = replace(q, trajectory=TrajectorySpec(None, ("baseline", "followup_52w")))
    assert [k for k, _, _ in s.check_data(tsk_dataset)] == ["trajectory.timepoints"]


def test_covariate_not_in_the_export_lists_what_can_be_named(
    tsk_dataset: dnoutcomes.Dataset,
) -> None:
    p = Protocol.from_toml_text(TSK_DATA.replace('"smoker"', '"bmi"'))
    problems = p.check_data(tsk_dataset)
    assert [(k, ln) for k, ln, _ in problems] == [("primary.covariates", 19)]
    message = problems[0][2]
    assert "covariate 'bmi' is not in this export" in message
    offered = message.split("the names it offers are ")[1].rstrip(".").split(", ")
    assert {"age", "smoker", "baseline:tsk", "baseline:nprs"} <= set(offered)
    assert not {"value", "improvement", "nprs", "tsk", "arm"} & set(offered)


# ------------------------------------------------------------------------------- the example


def test_headache_trial_protocol_parses() -> None:
    p = Protocol.from_toml(EXAMPLES / "headache_trial" / "protocol.toml")
    assert (p.reference, p.comparator) == ("usual_care", "acupuncture")
    assert p.primary == OutcomeSpec(
        "headache_score", "followup_52w", ("age", "sex", "migraine", "chronicity_years")
    )
    assert p.registry()["headache_score"].high == 100
    data = pd.read_csv(
        Path(__file__).resolve().parents[2] / "shared/reference/external/"
        "acupuncture_headache_vickers2004.csv"
    )
    scores = data[["pk1", "pk2", "pk5"]].stack().dropna()
    measure = p.registry()["headache_score"]
    assert scores.between(measure.low, measure.high).all()


# ------------------------------------------------------------------------------- properties

_name = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_number = st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 3))


@st.composite
def _protocols(draw: st.DrawFn) -> Protocol:
    measures = []
    for name in draw(st.lists(_name.map(lambda s: "m_" + s), unique=True, max_size=2)):
        low = draw(st.floats(0, 1e6).map(lambda x: round(x, 3)))
        measures.append(
            Measure(
                name,
                draw(_text),
                draw(_text),
                low,
                low + draw(st.floats(0, 1e3)),
                draw(st.booleans()),
                draw(st.sampled_from(["lower", "higher"])),
                draw(st.none() | st.floats(0.1, 50)),
                draw(st.none() | st.floats(1, 100)),
                tuple(draw(st.lists(_number, max_size=3))),
            )
        )
    known = [*default_registry(), *(m.name for m in measures)]
    later = st.sampled_from(TIMEPOINTS[2:])
    covariates = st.lists(
        st.sampled_from(["age", "sex", "site_id", "bmi", "smoker"]), unique=True, max_size=3
    ).map(tuple)
    primary = OutcomeSpec(draw(st.sampled_from(known)), draw(later), draw(covariates))
    pairs = {(primary.measure, primary.timepoint)}
    secondary = []
    for _ in range(draw(st.integers(0, 3))):
        spec = OutcomeSpec(
            draw(st.sampled_from(known)),
            draw(later),
            draw(st.none() | covariates),
            draw(st.booleans()),
        )
        if (spec.measure, spec.timepoint) not in pairs:
            pairs.add((spec.measure, spec.timepoint))
            secondary.append(spec)
    reference = draw(_text.filter(lambda s: s.strip() != ""))
    comparator = draw(_text.filter(lambda s: s.strip() != "" and s != reference))
    return Protocol(
        title=draw(_text),
        reference=reference,
        comparator=comparator,
        measures=tuple(measures),
        primary=primary,
        secondary=tuple(secondary),
        responders=ResponderSpec(None, None, "percent", draw(st.floats(1, 100))),
        trajectory=TrajectorySpec(
            draw(st.none() | st.sampled_from(known)),
            tuple(draw(st.lists(st.sampled_from(TIMEPOINTS), min_size=2, unique=True))),
        ),
        time_to_response=TimeToResponseSpec(
            None, tuple(draw(st.lists(st.sampled_from(TIMEPOINTS[1:]), min_size=1, unique=True)))
        ),
        weighting=WeightingSpec(
            draw(st.sampled_from(["ate", "att", "ato"])),
            draw(covariates.filter(bool)) + (f"baseline:{draw(st.sampled_from(known))}",),
        ),
        medication=MedicationSpec(draw(st.none() | later)),
        report=ReportSpec(draw(st.integers(1, 100))),
        allow_columns=tuple(draw(st.lists(_name, unique=True, max_size=3))),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_protocols())
def test_random_protocols_round_trip(p: Protocol) -> None:
    text = p.to_toml()
    back = Protocol.from_toml_text(text)
    assert back == p
    assert back.sha256() == p.sha256()
    assert Protocol.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert Protocol.from_toml_text(p.to_toml(commented=True)) == p


# ------------------------------------------------------------------------------- the docs

DOCS = Path(__file__).resolve().parents[1] / "docs" / "protocols.md"


def test_docs_worked_protocols_are_the_real_ones() -> None:
    import re

    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 3
    assert blocks[0] == builtin_toml()
    tsk = Protocol.from_toml_text(blocks[1])
    assert tsk.primary.covariates == ("age", "sex", "smoker", "work_status", "bmi", "baseline:odi")
    assert tsk.outcomes()[1].covariates == ("age", "sex", "smoker", "work_status", "bmi")
    assert tsk.allow_columns == ("smoker", "work_status", "bmi")
    assert blocks[2] == (EXAMPLES / "headache_trial" / "protocol.toml").read_text("utf-8")


def test_docs_error_example_is_what_the_parser_says() -> None:
    import re

    text = DOCS.read_text(encoding="utf-8")
    shown = re.search(r"```text\n(dnoutcomes: 2 problems.*?)```", text, flags=re.S)
    assert shown is not None
    study = "# comment\n" * 11 + (
        '[primary]\nmeasure = "nprs"\ntimepoint = "session"\ncovariates = ["improvement"]\n'
    )
    with pytest.raises(ProtocolError) as info:
        Protocol.from_toml_text(study, source="study.toml")
    assert shown.group(1) == f"dnoutcomes: {info.value}\n"


def test_key_lines_count_toml_lines_only() -> None:
    text = 'title = "a\u2028b\x1cc"\n[primary]\r\nmeasure = "nprs"\n'
    assert key_lines(text) == {"title": 1, "primary": 2, "primary.measure": 3}


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b'\xef\xbb\xbf[primary]\nmeasure = "odi"\n')
    assert Protocol.from_toml(path).primary.measure == "odi"


@pytest.mark.parametrize(
    "name",
    [
        "dnoutcomes.protocol",
        "dnoutcomes._protocol_toml",
        "dnoutcomes._protocol_write",
        "dnoutcomes._protocol_check",
        "dnoutcomes.errors",
    ],
)
def test_doctests(name: str) -> None:
    import doctest
    import importlib

    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0 or name == "dnoutcomes._protocol_check"
