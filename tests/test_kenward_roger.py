"""Kenward–Roger for the MMRM (``df="kenward-roger"``) against R
(tests/reference/small_sample.R, sections 1–2; inputs routine_care_mmrm.csv from clinic_a
and small_sample_mmrm.csv, 36 simulated episodes with dropout).

Two checks, because R has no Kenward–Roger for ``gls`` here (mmrm is not packaged):

1. The formulas (:mod:`dnoutcomes.stats._kenward_roger`) against pbkrtest on ``lmer``
   random-intercept fits — compound symmetry across visits, which both can take. R::

       fit <- lmer(value ~ 0 + visit + visit:treated + visit:baseline + (1 | episode_id),
                   data = d, REML = TRUE)
       vcovAdj(fit)                                  # Phi_A
       Lb_ddf(L, vcov(fit), vcovAdj(fit))            # df of each arm contrast

   Given lmer's variance components, dnoutcomes' ``kr_pieces`` with ``dSigma = (J, I)``
   and ``W`` the inverse expected REML information (pbkrtest's choice) must give the
   same matrix and df (1e-6; R's own hand implementation agrees with pbkrtest to 1e-8).
2. The whole MMRM with the unstructured covariance against that hand implementation of
   Kenward & Roger (1997) on ``gls(corSymm, varIdent)`` with ``W`` the inverse observed
   REML information (its df also through ``pbkrtest::Lb_ddf``): SEs and df to 1e-4, the
   issue's tolerance for the MMRM against gls (two optimisers, numerical Hessians in two
   parameterisations).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dnoutcomes.errors import RequestError
from dnoutcomes.stats._kenward_roger import (
    kr_covariance,
    kr_df,
    kr_pieces,
    reml_expected_information,
)
from dnoutcomes.stats.mmrm import compare_mmrm, mmrm_from_frame

REF = Path(__file__).parent / "reference"
TOL_FORMULA = 1e-6  # same estimates in, formulas compared
TOL_MMRM = 1e-4  # the tolerance for the MMRM against nlme::gls


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    out: dict[str, Any] = json.loads((REF / "small_sample.json").read_text())
    return out


def _frame(name: str, visits: list[str]) -> pd.DataFrame:
    frame = pd.read_csv(REF / name)
    frame["visit"] = pd.Categorical(frame["visit"], categories=visits)
    return frame


def _patterns(frame: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
    """Missingness patterns and the cell-means designs (visit, visit:treated,
    visit:baseline), as lmer's model matrix orders them."""
    ids, subject = np.unique(frame["episode_id"].to_numpy(), return_inverse=True)
    n_vis = len(frame["visit"].cat.categories)
    seen = np.zeros((len(ids), n_vis), dtype=bool)
    seen[subject, frame["visit"].cat.codes.to_numpy()] = True
    treated = np.zeros(len(ids))
    treated[subject] = frame["treated"].to_numpy(float)
    base = np.zeros(len(ids))
    base[subject] = frame["baseline"].to_numpy(float)
    eye = np.eye(n_vis)
    design = np.concatenate(
        [
            np.broadcast_to(eye, (len(ids), n_vis, n_vis)),
            eye[None] * treated[:, None, None],
            eye[None] * base[:, None, None],
        ],
        axis=2,
    )
    pats, which = np.unique(seen, axis=0, return_inverse=True)
    return [(pat, design[which.ravel() == g][:, pat, :]) for g, pat in enumerate(pats)]


@pytest.mark.parametrize(
    ("key", "csv"),
    [("lmer_clinic_a", "routine_care_mmrm.csv"), ("lmer_small", "small_sample_mmrm.csv")],
)
def test_formulas_match_pbkrtest(expected: dict[str, Any], key: str, csv: str) -> None:
    want = expected[key]
    visits = want["visits"]
    n_vis = len(visits)
    sigma = want["tau2"] * np.ones((n_vis, n_vis)) + want["sigma2"] * np.eye(n_vis)
    dsigma = np.stack([np.ones((n_vis, n_vis)), np.eye(n_vis)])
    pieces = kr_pieces(_patterns(_frame(csv, visits)), sigma, dsigma)
    p = pieces.phi.shape[0]
    np.testing.assert_allclose(
        pieces.phi, np.reshape(want["vcov"], (p, p), order="F"), rtol=TOL_FORMULA
    )
    w = np.linalg.inv(reml_expected_information(pieces))
    adjusted = kr_covariance(pieces, w)
    np.testing.assert_allclose(
        adjusted,
        np.reshape(want["vcov_adj"], (p, p), order="F"),
        rtol=TOL_FORMULA,
        atol=TOL_FORMULA * np.abs(adjusted).max(),
    )
    for v in range(n_vis):
        ell = np.zeros(p)
        ell[n_vis + v] = 1.0
        assert kr_df(pieces, w, ell) == pytest.approx(want["contrast_df"][v], rel=TOL_FORMULA)
        assert math.sqrt(ell @ adjusted @ ell) == pytest.approx(
            want["contrast_se"][v], rel=TOL_FORMULA
        )
    # the adjustment only ever widens (Phi_A - Phi is positive semi-definite here)
    assert np.linalg.eigvalsh(adjusted - pieces.phi).min() > -1e-12


@pytest.mark.parametrize(
    ("key", "csv"),
    [("kr_clinic_a", "routine_care_mmrm.csv"), ("kr_small", "small_sample_mmrm.csv")],
)
def test_mmrm_matches_hand_kr_on_gls(expected: dict[str, Any], key: str, csv: str) -> None:
    want = expected[key]
    frame = _frame(csv, want["visits"])
    kr = mmrm_from_frame(frame, df="kenward-roger")
    sat = mmrm_from_frame(frame)
    assert kr.df_method == "kenward-roger" and sat.df_method == "satterthwaite"
    assert kr.n_obs == want["n_obs"] and kr.n_episodes == want["n_episodes"]
    got = kr.table
    np.testing.assert_allclose(got["estimate"], want["contrast_estimate"], rtol=TOL_MMRM)
    np.testing.assert_allclose(got["std_error"], want["contrast_se"], rtol=TOL_MMRM)
    np.testing.assert_allclose(got["df"], want["contrast_df"], rtol=TOL_MMRM)
    # the interval is a t interval on the KR df around the adjusted SE
    crit = stats.t.ppf(0.975, got["df"].to_numpy())
    np.testing.assert_allclose(
        got["conf_high"] - got["estimate"], crit * got["std_error"], rtol=1e-12
    )
    # same point estimates; KR SEs are never smaller; one-contrast KR df = Satterthwaite's
    np.testing.assert_allclose(got["estimate"], sat.table["estimate"], rtol=1e-12)
    assert (got["std_error"] >= sat.table["std_error"] - 1e-12).all()
    np.testing.assert_allclose(got["df"], sat.table["df"], rtol=1e-5)


def test_small_sample_widens_visibly(expected: dict[str, Any]) -> None:
    """With 36 episodes and dropout the adjustment matters at the later visits (the
    first is complete, where it is zero): KR SE more than 1 % above the model-based one."""
    want = expected["kr_small"]
    frame = _frame("small_sample_mmrm.csv", want["visits"])
    kr = mmrm_from_frame(frame, df="kenward-roger").table["std_error"].to_numpy()
    sat = mmrm_from_frame(frame).table["std_error"].to_numpy()
    assert kr[0] == pytest.approx(sat[0], rel=1e-8)
    assert (kr[1:] / sat[1:] > 1.01).all()


def test_dataset_route_and_bad_df(clinic_a_dataset: Any, expected: dict[str, Any]) -> None:
    want = expected["kr_clinic_a"]
    result = compare_mmrm(clinic_a_dataset, visits=want["visits"], df="kenward-roger")
    np.testing.assert_allclose(result.table["std_error"], want["contrast_se"], rtol=TOL_MMRM)
    assert "kenward-roger" in result.title.lower().replace("–", "-")
    doc = result.to_dict()
    assert doc["df_method"] == "kenward-roger"
    assert doc["contrasts"][0]["se"] == pytest.approx(want["contrast_se"][0], rel=TOL_MMRM)
    with pytest.raises(RequestError, match="kenward-roger"):
        compare_mmrm(clinic_a_dataset, visits=want["visits"], df="kr")  # type: ignore[arg-type]
