"""Section 1 of the analysis plan: ANCOVA of an outcome at a later timepoint on the arm,
adjusted for the baseline value (and optional user covariates).

:func:`fit_ancova` works on any tidy frame (one row per episode); :func:`compare_ancova`
builds that frame from a :class:`~dnoutcomes.dataset.Dataset`; :func:`compare_outcomes`
runs several measure/timepoint pairs and applies Holm's correction to the secondary ones.

The code lives in three private modules, one per reason to change: ``_ols`` (least squares
on arrays and the covariate design columns), ``_ancova_fit`` (one comparison and its
result) and ``_ancova_sets`` (several outcomes with Holm's correction, every pair of arms).
Import the names from here.
"""

from __future__ import annotations

from dnoutcomes.stats._ancova_fit import MIN_PER_ARM as MIN_PER_ARM
from dnoutcomes.stats._ancova_fit import AncovaResult, compare_ancova, fit_ancova
from dnoutcomes.stats._ancova_sets import (
    DEFAULT_OUTCOMES,
    OutcomesResult,
    PairsResult,
    compare_outcomes,
    compare_pairs,
)
from dnoutcomes.stats._ancova_sets import STANDARD_ARMS as STANDARD_ARMS
from dnoutcomes.stats._ols import design_matrix

__all__ = [
    "DEFAULT_OUTCOMES",
    "AncovaResult",
    "OutcomesResult",
    "PairsResult",
    "compare_ancova",
    "compare_outcomes",
    "compare_pairs",
    "design_matrix",
    "fit_ancova",
]
