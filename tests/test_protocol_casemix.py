"""The protocol's ``[casemix]`` table: benchmarking settings and the summary page's targets."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from dnoutcomes.errors import ProtocolError
from dnoutcomes.protocol import (
    CASEMIX_COVARIATES,
    CaseMixSpec,
    Protocol,
    builtin_toml,
    default_protocol,
)

FULL = """\
[primary]
measure = "nprs"

[casemix]
covariates = ["age", "chronicity", "baseline", "baseline:odi"]
model = "logistic"
measure = "odi"
timepoint = "followup_12w"
reference_from = 2024-01-01
reference_to = "2024-12-31"
overdispersion = "multiplicative"

[casemix.targets]
responders = 0.5
adverse_events = 3
"""


def _problems(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ProtocolError) as info:
        Protocol.from_toml_text(text, source="study.toml")
    return list(info.value.problems)


def test_defaults_match_the_case_mix_module() -> None:
    from dnoutcomes.qi.casemix import DEFAULT_COVARIATES

    assert CASEMIX_COVARIATES == DEFAULT_COVARIATES
    assert default_protocol().casemix == CaseMixSpec()
    assert default_protocol().casemix_outcome() == ("nprs", "discharge")


def test_full_table_is_read_and_round_trips() -> None:
    p = Protocol.from_toml_text(FULL)
    c = p.casemix
    assert c.covariates == ("age", "chronicity", "baseline", "baseline:odi")
    assert (c.model, c.measure, c.timepoint) == ("logistic", "odi", "followup_12w")
    # a TOML date and a date in quotes are both read as ISO text
    assert (c.reference_from, c.reference_to) == ("2024-01-01", "2024-12-31")
    assert c.overdispersion == "multiplicative"
    assert c.target_map() == {"responders": 0.5, "adverse_events": 3.0}
    assert p.casemix_outcome() == ("odi", "followup_12w")
    assert Protocol.from_toml_text(p.to_toml()) == p
    assert Protocol.from_toml_text(p.to_toml(commented=True)) == p
    assert Protocol.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert p.to_dict()["casemix"]["targets"] == {"responders": 0.5, "adverse_events": 3.0}
    assert any(line.startswith("Benchmarking: expected odi response") for line in p.describe())


def test_checksum_ignores_a_default_table_and_sees_a_change() -> None:
    base = Protocol.from_toml_text('[primary]\nmeasure = "nprs"\n')
    spelled = Protocol.from_toml_text(
        '[primary]\nmeasure = "nprs"\n[casemix]\nmodel = "linear"\noverdispersion = "additive"\n'
    )
    assert spelled == base and spelled.sha256() == base.sha256()
    # the checksum of a protocol without [casemix] is what it was before the table existed
    plain = {k: v for k, v in base.to_dict().items() if k != "casemix"}
    import hashlib

    text = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert base.sha256() == hashlib.sha256(text.encode("utf-8")).hexdigest()
    changed = replace(base, casemix=CaseMixSpec(targets=(("responders", 0.5),)))
    assert changed.sha256() != base.sha256()
    assert replace(base, casemix=CaseMixSpec(model="logistic")).sha256() != base.sha256()


def test_builtin_file_shows_the_table_commented() -> None:
    text = builtin_toml()
    assert "\n[casemix]\n" in text and "# [casemix.targets]\n" in text
    assert Protocol.from_toml_text(text) == default_protocol()


def test_every_bad_key_is_named_with_its_line() -> None:
    text = """\
[primary]
measure = "nprs"

[casemix]
covariates = ["age", "improvement"]
model = "probit"
measure = "nope"
reference_from = "2025-02-01"
reference_to = 2025-01-01
overdispersion = "wide"
colour = 1

[casemix.targets]
responders = 50
adverse_events = -1
speed = 2
"""
    found = {key: (line, message) for key, line, message in _problems(text)}
    assert found["casemix.covariates"][0] == 5
    assert "'improvement' is derived from the outcome" in found["casemix.covariates"][1]
    assert found["casemix.model"] == (6, "expected 'linear' or 'logistic'; got 'probit'.")
    assert found["casemix.measure"][0] == 7
    assert "unknown measure 'nope'" in found["casemix.measure"][1]
    assert found["casemix.reference_to"][0] == 9
    assert "ends (2025-01-01) before it starts (2025-02-01)" in found["casemix.reference_to"][1]
    assert found["casemix.overdispersion"][0] == 10
    assert found["casemix.colour"][0] == 11 and "unknown key 'colour'" in found["casemix.colour"][1]
    assert found["casemix.targets.responders"][0] == 14
    assert "share from 0 to 1" in found["casemix.targets.responders"][1]
    assert found["casemix.targets.adverse_events"][0] == 15
    assert found["casemix.targets.speed"][0] == 16


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('reference_from = "01/02/2025"', 'expected a date such as "2025-01-01"'),
        ("reference_from = 2025-01-01T10:00:00", "no time of day"),
        ("reference_from = 3", "expected a date such as"),
        ("covariates = []", "at least one case-mix variable"),
        ('covariates = ["age", "age"]', "listed twice"),
        ("targets = 3", "expected a table [casemix.targets]"),
    ],
)
def test_bad_values(line: str, message: str) -> None:
    problems = _problems(f'[primary]\nmeasure = "nprs"\n[casemix]\n{line}\n')
    assert len(problems) == 1 and problems[0][1] == 4
    assert message in problems[0][2]


def test_check_data_names_a_missing_case_mix_variable() -> None:
    from dnoutcomes.sample import generate

    dataset = generate(episodes=120, seed=2).to_dataset()
    p = Protocol.from_toml_text(
        '[primary]\nmeasure = "nprs"\n[casemix]\ncovariates = ["age", "smoker", "baseline"]\n'
    )
    problems = p.check_data(dataset)
    assert [(k, line) for k, line, _ in problems] == [("casemix.covariates", 4)]
    assert "'smoker' is not in this export" in problems[0][2]
    assert default_protocol().check_data(dataset) == []


def test_phases_are_read_in_month_order_and_checked() -> None:
    text = (
        '[primary]\nmeasure = "nprs"\n[casemix.phases]\n'
        '"2025-01" = "new exercise programme"\n"2024-07" = "training"\n'
    )
    p = Protocol.from_toml_text(text)
    assert p.casemix.phases == (("2024-07", "training"), ("2025-01", "new exercise programme"))
    assert Protocol.from_toml_text(p.to_toml()) == p
    assert p.to_dict()["casemix"]["phases"] == {
        "2024-07": "training",
        "2025-01": "new exercise programme",
    }
    assert p.sha256() != default_protocol().sha256()
    bad = '[primary]\nmeasure = "nprs"\n[casemix.phases]\n"2025-13" = "x"\n"2025-02" = 3\n'
    found = {k: (line, m) for k, line, m in _problems(bad)}
    assert found["casemix.phases.2025-13"][0] == 4
    assert "expected a month such as" in found["casemix.phases.2025-13"][1]
    assert found["casemix.phases.2025-02"][0] == 5
    assert "the change in words" in found["casemix.phases.2025-02"][1]
