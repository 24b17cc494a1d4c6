"""Shared fixtures: a fixed-seed generator, the Agg backend, figures closed after each test,
and the paths of the reference data shipped beside the repository."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference"
CLINIC_A = REFERENCE / "clinic_a"
EXTERNAL = REFERENCE / "external"
SAMPLE = REPO / "data" / "sample"


@pytest.fixture
def rng() -> np.random.Generator:
    """A generator with a fixed seed: tests are the same on every run."""
    return np.random.default_rng(20261127)


@pytest.fixture(autouse=True)
def _close_figures() -> Any:
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close("all")


@pytest.fixture(scope="session")
def clinic_a_path() -> Path:
    """The synthetic clinic export whose answers were computed in R."""
    if not CLINIC_A.is_dir():
        pytest.fail(f"reference data missing: {CLINIC_A} (the shared/ folder beside the repo)")
    return CLINIC_A


@pytest.fixture(scope="session")
def clinic_a_expected() -> dict[str, Any]:
    """R's answers for clinic_a (lm, glm, lme4, survival, sandwich, metafor)."""
    with open(CLINIC_A / "expected.json", encoding="utf-8") as fh:
        result: dict[str, Any] = json.load(fh)
    return result


@pytest.fixture(scope="session")
def clinic_a_dataset(clinic_a_path: Path) -> Any:
    """clinic_a loaded once (strict mode); its DataQualityWarning is captured, not raised
    (the warnings are on ``dataset.warnings``)."""
    import warnings

    import dnoutcomes

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return dnoutcomes.load(clinic_a_path)
