"""The measure registry: the contract's twelve measures, extension without editing the
package, and improvement that follows each measure's direction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dnoutcomes import Measure, MeasureRegistry, RequestError, default_registry


def test_default_registry_is_the_contract_table() -> None:
    reg = default_registry()
    frame = reg.to_frame().set_index("name")
    assert list(frame.index) == [
        "nprs",
        "odi",
        "rmdq",
        "lumbar_flexion_deg",
        "lumbar_extension_deg",
        "schober_cm",
        "ppt_kg_cm2",
        "pgic",
        "analgesic_use",
        "opioid_use",
        "analgesic_doses_week",
        "opioid_mme_day",
    ]
    # range, integer, direction, MCID as in the contract's registry table
    assert frame.loc["nprs", ["low", "high", "integer", "direction"]].tolist() == [
        0.0,
        10.0,
        True,
        "lower",
    ]
    assert frame.loc["nprs", ["mcid_points", "mcid_percent"]].tolist() == [2.0, 30.0]
    assert frame.loc["odi", ["high", "integer", "mcid_points"]].tolist() == [100.0, False, 10.0]
    assert frame.loc["rmdq", ["high", "integer", "mcid_points"]].tolist() == [24.0, True, 5.0]
    assert frame.loc["lumbar_flexion_deg", "direction"] == "higher"
    assert np.isnan(frame.loc["schober_cm", "mcid_points"])
    assert frame.loc["pgic", ["low", "high"]].tolist() == [1.0, 7.0]
    assert reg["pgic"].responder_values == (1.0, 2.0)
    assert frame.loc["opioid_mme_day", "high"] == 1000.0
    assert len(reg) == 12 and "odi" in reg and "vas" not in reg


def test_with_measure_returns_a_new_registry() -> None:
    base = default_registry()
    psfs = Measure(
        "psfs",
        "Patient-Specific Functional Scale",
        "points",
        0,
        10,
        direction="higher",
        mcid_points=2.0,
    )
    extended = base.with_measure(psfs)
    assert "psfs" in extended and "psfs" not in base
    assert extended["psfs"] is psfs
    with pytest.raises(RequestError, match="already registered"):
        extended.with_measure(psfs)
    replaced = extended.with_measure(Measure("psfs", "PSFS", "points", 0, 12), replace=True)
    assert replaced["psfs"].high == 12


def test_unknown_measure_lookup_is_a_request_error() -> None:
    with pytest.raises(RequestError, match="Unknown measure 'vas'.*nprs"):
        default_registry()["vas"]
    assert default_registry().get("vas") is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "Bad Name"}, "not usable"),
        ({"low": 5, "high": 1}, "low <= high"),
        ({"high": float("inf")}, "finite"),
        ({"direction": "up"}, "direction must be"),
    ],
)
def test_measure_refuses_unusable_definitions(kwargs: dict[str, object], match: str) -> None:
    base: dict[str, object] = {"name": "x", "label": "X", "unit": "", "low": 0, "high": 1}
    base.update(kwargs)
    with pytest.raises(RequestError, match=match):
        Measure(**base)  # type: ignore[arg-type]


def test_duplicate_names_are_refused() -> None:
    m = Measure("x", "X", "", 0, 1)
    with pytest.raises(RequestError, match="twice"):
        MeasureRegistry([m, m])


def test_improvement_follows_direction() -> None:
    reg = default_registry()
    assert reg["nprs"].improvement(7.0, 3.0) == 4.0
    assert reg["lumbar_flexion_deg"].improvement(40.0, 55.0) == 15.0
    base = pd.Series([50.0, np.nan, 20.0])
    later = pd.Series([30.0, 10.0, 35.0])
    got = reg["odi"].improvement(base, later)
    assert got.iloc[0] == 20.0 and np.isnan(got.iloc[1]) and got.iloc[2] == -15.0
