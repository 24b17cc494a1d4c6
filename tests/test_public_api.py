"""The curated top-level API: every name of ``dnoutcomes.__all__`` is importable, is the
object of the module that defines it, and importing the package alone stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import dnoutcomes

#: What a new user reaches for first (the issue's list): these must stay top-level.
ESSENTIAL = (
    "load",
    "validate",
    "Dataset",
    "Protocol",
    "analyze",
    "Analysis",
    "describe_baseline",
    "compare_ancova",
    "compare_iptw",
    "compare_trajectories",
    "compare_responders",
    "compare_sites",
    "compare_safety",
    "Table",
    "table_one",
    "results_table",
    "safety_table",
    "write_figures",
    "save_figure",
    "import_redcap",
    "import_fhir",
    "build_report",
    "DnOutcomesError",
)


def test_all_is_curated_unique_and_holds_the_essentials() -> None:
    names = dnoutcomes.__all__
    assert len(names) == len(set(names))
    assert [n for n in ESSENTIAL if n not in names] == []
    assert not [n for n in names if n.startswith("_") and n != "__version__"]


@pytest.mark.parametrize("name", [n for n in dnoutcomes.__all__ if n != "__version__"])
def test_every_name_resolves_to_its_defining_object(name: str) -> None:
    value = getattr(dnoutcomes, name)
    module = sys.modules[value.__module__]
    assert getattr(module, value.__name__) is value
    assert (value.__doc__ or "").strip(), f"{name} has no docstring"


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from dnoutcomes import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(dnoutcomes.__all__)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'compare_everything'"):
        _ = dnoutcomes.compare_everything  # type: ignore[attr-defined]


@pytest.mark.slow  # a fresh interpreter
def test_import_dnoutcomes_stays_light() -> None:
    code = (
        "import sys, dnoutcomes\n"
        "heavy = [m for m in ('statsmodels', 'matplotlib', 'docx') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "dnoutcomes.table_one\n"
        "assert 'dnoutcomes.present.table_one' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_present_keeps_its_modules_reachable() -> None:
    """A function re-exported under its module's name would hide the module."""
    import importlib
    import types

    import dnoutcomes.present as present

    for name in ("table", "table_one", "result_tables", "gallery"):
        module = importlib.import_module(f"dnoutcomes.present.{name}")
        assert getattr(present, name) is module
        assert isinstance(module, types.ModuleType)
    assert present.table_one.table_one is dnoutcomes.table_one
