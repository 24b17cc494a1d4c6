"""The per-episode frame multiple imputation works on, the imputation of it, and the
ANCOVA fitted on each completed frame (shared by :mod:`dnoutcomes.stats.mi` and the
tipping-point analysis)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dnoutcomes.cohort import outcome_pairs
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._mice import Imputations, crossprod, impute_chained, matvec
from dnoutcomes.stats._ols import design_matrix

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = [
    "ancova_design",
    "ancova_sets",
    "filled",
    "impute_episodes",
    "mi_frame",
    "model_columns",
    "ols_arm",
]

#: Columns of :func:`mi_frame` that identify an episode and never enter a model.
ID_COLUMNS = ("episode_id", "arm")


def _names(values: Sequence[str]) -> tuple[str, ...]:
    return (values,) if isinstance(values, str) else tuple(values)


def mi_frame(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    timepoint: str = "discharge",
    covariates: Sequence[str] = (),
    auxiliaries: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per comparison episode with everything the imputation models use.

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms compared.
    measure, timepoint
        The analysed outcome.
    covariates
        Columns of the episode or patient tables (``"age"``, ``"sex"``, ``"site_id"``…),
        or ``"baseline:<measure>"`` (another measure's baseline value).
    auxiliaries
        Other registered measures whose baseline and ``timepoint`` values help predict the
        missing outcome (``"odi"``); they enter the imputation models only.

    Returns
    -------
    pandas.DataFrame
        ``episode_id`` (str), ``arm`` (str), ``treated`` (0/1, 1 = comparator),
        ``baseline`` and ``value`` (float: ``measure`` at baseline and at ``timepoint``,
        NaN when missing), the covariates as in :func:`~dnoutcomes.cohort.outcome_pairs`,
        then ``<aux>_baseline`` and ``<aux>_<timepoint>`` for each auxiliary measure. Every
        episode of the two arms is kept, whatever is missing.

    Raises
    ------
    RequestError
        Unknown arm, measure, timepoint, covariate or auxiliary measure.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> import warnings
    >>> with warnings.catch_warnings():  # the sample's data-quality warnings
    ...     warnings.simplefilter("ignore")
    ...     dataset = generate(episodes=300, seed=1).to_dataset()
    >>> frame = mi_frame(dataset, covariates=["age"], auxiliaries=["odi"])
    >>> list(frame.columns)
    ['episode_id', 'arm', 'treated', 'baseline', 'value', 'age', 'odi_baseline', 'odi_discharge']
    """
    covariates, auxiliaries = _names(covariates), _names(auxiliaries)
    pairs = outcome_pairs(
        dataset, measure=measure, timepoint=timepoint, reference=reference, comparator=comparator
    )
    baselines = [c for c in covariates if c.startswith("baseline:")]
    if baselines:
        pairs = pairs.copy()  # never add columns to a frame the dataset may cache
    for name in baselines:
        other = outcome_pairs(
            dataset,
            measure=name.partition(":")[2],
            timepoint=timepoint,
            reference=reference,
            comparator=comparator,
        )
        pairs[name] = other["baseline"].to_numpy()
    unknown = [c for c in covariates if c not in pairs.columns]
    reserved = {"episode_id", "arm", "treated", "baseline", "value", "improvement"}
    clash = [c for c in covariates if c in reserved]
    if unknown or clash:
        raise RequestError(
            f"multiple imputation covariates: {', '.join(unknown or clash)} "
            f"{'not found' if unknown else 'is a column the analysis builds itself'}; "
            "expected columns of the episodes or patients tables: "
            f"{', '.join(c for c in map(str, pairs.columns) if c not in reserved)}."
        )
    frame = pairs[["episode_id", "arm", "treated", "baseline", "value", *covariates]].copy()
    frame["episode_id"] = frame["episode_id"].astype(str)
    for aux in auxiliaries:
        if aux == measure:
            continue
        other = outcome_pairs(
            dataset, measure=aux, timepoint=timepoint, reference=reference, comparator=comparator
        )
        if f"baseline:{aux}" not in covariates:  # else already there, as a covariate
            frame[f"{aux}_baseline"] = other["baseline"].to_numpy()
        frame[f"{aux}_{timepoint}"] = other["value"].to_numpy()
    return frame.reset_index(drop=True)


def model_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of an :func:`mi_frame` that enter the imputation models."""
    return [c for c in frame.columns if c not in ID_COLUMNS]


def impute_episodes(
    frame: pd.DataFrame,
    *,
    m: int,
    maxit: int,
    rng: int | np.random.Generator | None,
    label: str,
) -> Imputations:
    """Impute an :func:`mi_frame`, after checking that each arm has observed outcomes."""
    for arm, group in frame.groupby("treated"):
        if int(group["value"].notna().sum()) < 2:
            role = "comparator" if arm == 1 else "reference"
            raise InsufficientDataError(
                f"{label}: the {role} arm has {int(group['value'].notna().sum())} observed "
                "outcomes; multiple imputation needs at least 2 per arm to model them."
            )
    if frame["treated"].nunique() < 2:
        raise InsufficientDataError(f"{label}: only one arm has episodes; needs two.")
    return impute_chained(frame, columns=model_columns(frame), m=m, maxit=maxit, rng=rng)


def filled(imp: Imputations, name: str, index: int) -> NDArray[np.float64]:
    """Numeric column ``name`` of the ``index``-th completed frame, without building it."""
    values = imp.data[name].to_numpy(dtype=np.float64, na_value=np.nan)
    if name in imp.missing:
        values = values.copy()
        values[imp.missing[name]] = imp.imputed[name][index].astype(np.float64)
    return values


def ancova_design(
    completed: pd.DataFrame, covariates: Sequence[str]
) -> tuple[NDArray[np.float64], list[str]]:
    """The ANCOVA design ``1, treated, baseline, covariates`` of one completed frame."""
    covs, _ = design_matrix(completed, columns=list(covariates))
    parts = [
        np.ones(len(completed)),
        completed["treated"].to_numpy(dtype=np.float64),
        completed["baseline"].to_numpy(dtype=np.float64),
    ]
    x = np.column_stack([*parts, covs.to_numpy(dtype=np.float64)])
    return x, ["intercept", "arm", "baseline", *map(str, covs.columns)]


def ancova_sets(
    imp: Imputations, covariates: Sequence[str]
) -> Iterator[tuple[NDArray[np.float64], NDArray[np.float64], list[str]]]:
    """``(X, y, terms)`` of the ANCOVA in each imputed set, as :func:`ancova_design` on
    ``imp.complete(i)`` gives them, but encoding the complete covariates only once (at
    100,000 episodes, completing and encoding each set costs more than the fits)."""
    data = imp.data
    covariates = list(covariates)
    varying = [c for c in covariates if c in imp.missing]
    fixed, fixed_origin = design_matrix(data, columns=[c for c in covariates if c not in varying])
    for i in range(imp.m):
        covs = fixed
        origin = fixed_origin
        if varying:
            sub = data[varying].copy()
            for name in varying:
                column = sub[name]
                if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
                    sub[name] = column.astype(np.float64)
                sub.loc[imp.missing[name], name] = imp.imputed[name][i]
            extra, extra_origin = design_matrix(sub, columns=varying)
            covs = pd.concat([fixed, extra], axis=1)
            origin = {**fixed_origin, **extra_origin}
        names = [col for c in covariates for col in covs.columns if origin[col] == c]
        x = np.column_stack(
            [
                np.ones(len(data)),
                filled(imp, "treated", i),
                filled(imp, "baseline", i),
                covs[names].to_numpy(dtype=np.float64),
            ]
        )
        yield x, filled(imp, "value", i), ["intercept", "arm", "baseline", *names]


def ols_arm(
    x: NDArray[np.float64], y: NDArray[np.float64], *, label: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """OLS coefficients, their classical variances σ̂²(XᵀX)⁻¹ (diagonal) and n − p."""
    n, p = x.shape
    xtx = crossprod(x)
    if n - p < 1 or np.linalg.matrix_rank(xtx, hermitian=True) < p:
        raise InsufficientDataError(
            f"{label}: {n} episodes for {p} model columns, or collinear columns; needs a "
            "full-rank design with at least one residual degree of freedom. Use fewer "
            "covariates."
        )
    xtx_inv = np.linalg.inv(xtx)
    beta = xtx_inv @ crossprod(x, y[:, None])[:, 0]
    resid = y - matvec(x, beta)
    sigma2 = float(np.einsum("i,i->", resid, resid)) / (n - p)
    return beta, sigma2 * np.diag(xtx_inv), float(n - p)
