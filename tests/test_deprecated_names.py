"""The main frame's former type-specific names (``estimates``, ``coefficients``, ``fixed``,
``contrasts``, ``grid``, ``rates``) still read the frame for one release, with a
DeprecationWarning pointing to ``.table``; ``.table`` and the dataclass machinery do not
warn."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import warnings
from typing import Any

import pandas as pd
import pytest

from dnoutcomes.stats.results import ResultMixin


def _aliased_classes() -> dict[type, str]:
    import dnoutcomes.qi
    import dnoutcomes.stats

    for package in (dnoutcomes.stats, dnoutcomes.qi):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
    found: dict[type, str] = {}
    todo = list(ResultMixin.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        name = cls.__dict__.get("__dnoutcomes_table_alias__")
        if name is not None:
            found[cls] = name
    return found


def test_the_former_names_are_aliases_of_table() -> None:
    found = {cls.__name__: name for cls, name in _aliased_classes().items()}
    assert found == {
        "AipwResult": "estimates",
        "AncovaResult": "coefficients",
        "CaseMixModel": "coefficients",
        "ClusteredResult": "estimates",
        "CoxResult": "estimates",
        "IptwResult": "estimates",
        "MiResult": "estimates",
        "MmrmResult": "contrasts",
        "TippingPointResult": "grid",
        "TrajectoryFlexResult": "contrasts",
        "TrajectoryResult": "fixed",
        "SafetyResult": "rates",
        "UseResult": "coefficients",
    }


@pytest.fixture(scope="module")
def safety() -> Any:
    from dnoutcomes.sample import generate
    from dnoutcomes.stats.safety import compare_safety

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = generate(episodes=300, seed=4).to_dataset()
        return compare_safety(dataset)


def test_reading_a_former_name_warns_and_gives_the_frame(safety: Any) -> None:
    with pytest.warns(DeprecationWarning, match=r"SafetyResult\.rates is deprecated.*\.table"):
        old = safety.rates
    pd.testing.assert_frame_equal(old, safety.table)


def test_table_replace_and_equality_do_not_warn(safety: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        safety.table  # noqa: B018
        copy = dataclasses.replace(safety, notes=("x",))
        assert copy.notes == ("x",)
        pd.testing.assert_frame_equal(copy.table, safety.table)
        str(safety)
        safety.to_dict()
