"""IPTW over a network by iterated summaries: the propensity model of
:func:`~dnoutcomes.stats.iptw.compare_iptw` fitted by R's IRLS with one round of site
summaries per iteration, then the weighted outcome model and its HC0 sandwich from two
more rounds. Each :class:`IptwSite` keeps its rows; only sums travel.

Exact up to the order of summation: the coordinator runs the row-level algorithm step by
step (same start, same convergence rule), so the estimate agrees with the row-level one to
rounding (the tests assert 1e-8 relative). Medians, balance tables and per-episode
weights are not returned (they need rows).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from dnoutcomes.errors import InsufficientDataError
from dnoutcomes.stats.results import TIDY_COLUMNS

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset
    from dnoutcomes.protocol import Protocol

__all__ = ["IptwSite", "iterated_iptw"]

FloatArray = NDArray[np.float64]
_EPSILON = 1e-8  # R's glm.control()
_MAXIT = 25


@dataclass(frozen=True, eq=False)
class IptwSite:
    """One site's analysis rows for the weighted comparison (they never leave the site).

    Attributes
    ----------
    treated, outcome, baseline
        Per complete episode: 1 = comparator, the outcome and its baseline.
    covariates
        The propensity covariates as 0/1 and numeric columns, every level of a categorical
        one (:func:`~dnoutcomes.stats.iptw.indicator_columns`).
    continuous, categorical
        The covariate names by kind, in the protocol's order.
    left_out
        Episodes of each arm (reference, comparator) left out for a missing value.
    """

    treated: FloatArray
    outcome: FloatArray
    baseline: FloatArray
    covariates: pd.DataFrame
    continuous: tuple[str, ...]
    categorical: tuple[str, ...]
    left_out: tuple[int, int] = (0, 0)

    @classmethod
    def prepare(cls, dataset: Dataset, protocol: Protocol) -> IptwSite:
        """The complete cases of the protocol's weighted comparison, as ``compare_iptw``
        selects them (primary outcome, weighting covariates)."""
        from dnoutcomes.cohort import check_covariates, outcome_pairs
        from dnoutcomes.stats._balance import indicator_columns
        from dnoutcomes.stats.analysis import _available
        from dnoutcomes.stats.iptw import _covariate_frame

        primary = protocol.outcomes()[0]
        names = check_covariates(dataset, _available(dataset, protocol, []), where="Weighting")
        pairs = outcome_pairs(
            dataset,
            measure=primary.measure,
            timepoint=primary.timepoint,
            reference=protocol.reference,
            comparator=protocol.comparator,
        )
        frame, continuous, categorical = _covariate_frame(pairs, dataset, names)
        needed = ["baseline", "value", *continuous, *categorical]
        complete = frame[list(dict.fromkeys(needed))].notna().all(axis=1)
        data = frame.loc[complete].reset_index(drop=True)
        covs = indicator_columns(data, continuous=continuous, categorical=categorical)
        return cls(
            treated=data["treated"].to_numpy(dtype=np.float64),
            outcome=data["value"].to_numpy(dtype=np.float64),
            baseline=data["baseline"].to_numpy(dtype=np.float64),
            covariates=covs,
            continuous=tuple(continuous),
            categorical=tuple(categorical),
            left_out=(
                int(((frame["treated"] == 0) & ~complete).sum()),
                int(((frame["treated"] == 1) & ~complete).sum()),
            ),
        )

    # -- round 0: what the design can hold -------------------------------------------------
    def design(self) -> dict[str, Any]:
        """Column names, XᵀX of ``[1, every covariate column]`` and the arm counts."""
        x = np.column_stack([np.ones(len(self.treated)), self.covariates.to_numpy(np.float64)])
        return {
            "columns": list(self.covariates.columns),
            "xtx": x.T @ x,
            "n": np.array([(self.treated == 0).sum(), (self.treated == 1).sum()], dtype=float),
            "left_out": np.array(self.left_out, dtype=float),
            "y_sum": np.array([self.outcome[self.treated == a].sum() for a in (0, 1)]),
            "y_sumsq": np.array(
                [self.outcome[self.treated == a] @ self.outcome[self.treated == a] for a in (0, 1)]
            ),
        }

    def _x(self, columns: Sequence[str]) -> FloatArray:
        cols = [
            self.covariates[c].to_numpy(np.float64)
            if c in self.covariates.columns
            else np.zeros(len(self.treated))
            for c in columns
        ]
        return np.column_stack([np.ones(len(self.treated)), *cols])

    # -- rounds 1…k: IRLS ------------------------------------------------------------------
    def irls(self, columns: Sequence[str], beta: FloatArray | None) -> dict[str, Any]:
        """At ``beta`` (``None``: R's start μ = (t + ½)/2): the deviance and the next IRLS
        step's XᵀWX and XᵀWz."""
        from dnoutcomes.stats._propensity import (
            _binomial_deviance,
            _logit_linkinv,
            _logit_mu_eta,
        )

        t = self.treated
        x = self._x(columns)
        if beta is None:
            mu = (t + 0.5) / 2.0
            eta = np.log(mu / (1.0 - mu))
        else:
            eta = x @ beta
            mu = _logit_linkinv(eta)
        mu_eta = _logit_mu_eta(eta)
        w = mu_eta * mu_eta / (mu * (1.0 - mu))
        z = eta + (t - mu) / mu_eta
        xw = x * w[:, None]
        return {"deviance": _binomial_deviance(t, mu), "xtwx": x.T @ xw, "xtwz": xw.T @ z}

    def _weights(
        self, columns: Sequence[str], beta: FloatArray, share: float, estimand: str
    ) -> FloatArray:
        from dnoutcomes.stats._propensity import _logit_linkinv

        e = _logit_linkinv(self._x(columns) @ beta)
        t = self.treated
        if estimand == "att":
            return np.where(t == 1.0, 1.0, e / (1.0 - e))
        if estimand == "ato":
            return np.where(t == 1.0, 1.0 - e, e)
        return np.where(t == 1.0, share / e, (1.0 - share) / (1.0 - e))

    def _outcome_design(self) -> FloatArray:
        return np.column_stack([np.ones(len(self.outcome)), self.treated, self.baseline])

    # -- round k+1: the outcome models ---------------------------------------------------
    def outcome_sums(
        self, columns: Sequence[str], beta: FloatArray, share: float, estimand: str
    ) -> dict[str, Any]:
        """Unweighted and weighted cross-products of ``outcome ~ arm + baseline`` and the
        sums of weights and squared weights per arm (effective sample sizes)."""
        w = self._weights(columns, beta, share, estimand)
        x, y = self._outcome_design(), self.outcome
        xw = x * w[:, None]
        t = self.treated
        return {
            "xtx": x.T @ x,
            "xty": x.T @ y,
            "yty": float(y @ y),
            "xtwx": x.T @ xw,
            "xtwy": xw.T @ y,
            "w_sum": np.array([w[t == a].sum() for a in (0, 1)]),
            "w_sumsq": np.array([w[t == a] @ w[t == a] for a in (0, 1)]),
        }

    # -- round k+2: the sandwich's meat ----------------------------------------------------
    def meat(
        self,
        columns: Sequence[str],
        beta: FloatArray,
        share: float,
        estimand: str,
        beta_out: FloatArray,
    ) -> FloatArray:
        """Σ (wᵢ eᵢ)² xᵢ xᵢᵀ of the weighted outcome model at ``beta_out`` (HC0)."""
        w = self._weights(columns, beta, share, estimand)
        x = self._outcome_design()
        scores = x * (w * (self.outcome - x @ beta_out))[:, None]
        return np.asarray(scores.T @ scores)

    # -- one more round (the report): the balance table's sums --------------------------------
    def balance_sums(
        self,
        columns: Sequence[str],
        beta: FloatArray,
        share: float,
        estimand: str,
        shown: Sequence[str],
    ) -> dict[str, Any]:
        """Per arm, of the covariate columns ``shown``: the number of rows, Σx and Σx²
        (unweighted), Σw and Σw·x at the final weights (the SMDs before and after); and
        the number of propensities of 0 or 1 to machine precision."""
        from dnoutcomes.stats._propensity import _logit_linkinv

        e = _logit_linkinv(self._x(columns) @ beta)
        eps = 10.0 * np.finfo(np.float64).eps
        w = self._weights(columns, beta, share, estimand)
        x = self._x(shown)[:, 1:]
        t = self.treated
        arms = [t == a for a in (0.0, 1.0)]
        return {
            "n": np.array([float(m.sum()) for m in arms]),
            "x_sum": np.array([x[m].sum(axis=0) for m in arms]),
            "x_sumsq": np.array([(x[m] * x[m]).sum(axis=0) for m in arms]),
            "w_sum": np.array([w[m].sum() for m in arms]),
            "wx_sum": np.array([w[m] @ x[m] for m in arms]),
            "extreme": int(((e < eps) | (e > 1.0 - eps)).sum()),
        }


Round = Callable[[Callable[[IptwSite], Any]], list[Any]]


def _local_round(sites: Sequence[IptwSite]) -> Round:
    return lambda ask: [ask(s) for s in sites]


def _rank(xtx: FloatArray) -> int:
    d = np.sqrt(np.diag(xtx))
    if (d == 0).any():
        return int(np.linalg.matrix_rank(xtx))
    eig = np.linalg.eigvalsh(xtx / np.outer(d, d))
    return int((eig > eig.max() * 1e-10).sum())


def _enterable(
    columns: list[str],
    xtx: FloatArray,
    n: float,
    continuous: Sequence[str],
    categorical: Sequence[str],
    notes: list[str],
) -> tuple[list[str], tuple[str, ...]]:
    """The propensity model's columns (first level of each categorical dropped) and the
    covariates entered, by the rules of ``compare_iptw`` on pooled cross-products."""
    index = {c: i + 1 for i, c in enumerate(columns)}
    model: list[str] = []
    entered: list[str] = []
    for name in [*continuous, *categorical]:
        if name in continuous:
            cols = [name]
        else:
            cols = sorted(
                (c for c in columns if c.split("=")[0] == name and xtx[0, index[c]] > 0),
                key=lambda c: c.split("=", 1)[1],
            )
        one_value = False
        if len(cols) == 1:
            j = index[cols[0]]
            one_value = xtx[j, j] - xtx[0, j] ** 2 / n <= 1e-12 * max(xtx[j, j], 1.0)
        if not cols or one_value or (name in categorical and len(cols) == 1):
            notes.append(
                f"Covariate {name!r} was not adjusted for: it takes one value in all "
                f"{int(n)} analysed episodes."
            )
            continue
        new = cols[1:] if name in categorical else cols
        trial = [0] + [index[c] for c in model + new]
        if _rank(xtx[np.ix_(trial, trial)]) < len(trial):
            notes.append(
                f"Covariate {name!r} was not adjusted for: it is collinear with the covariates "
                f"before it in the {int(n)} analysed episodes."
            )
            continue
        model.extend(new)
        entered.append(name)
    return model, tuple(entered)


def iterated_iptw(
    sites: Sequence[IptwSite] | None = None,
    *,
    estimand: str = "ate",
    conf_level: float = 0.95,
    ask: Round | None = None,
    min_per_arm: int = 2,
    labels: tuple[str, str, str, str] | None = None,
    balance: bool = False,
) -> dict[str, Any]:
    """The weighted comparison of ``compare_iptw`` from rounds of site summaries.

    Parameters
    ----------
    sites
        The sites, in this process (tests, one machine); or give ``ask``.
    estimand
        ``"ate"``, ``"att"`` or ``"ato"``.
    conf_level
        Confidence level.
    ask
        A function that runs a function on every site and returns the answers (the Dask
        engine's rounds); default: call the ``sites`` in turn.
    min_per_arm
        Complete episodes needed per arm (``compare_iptw`` needs 10; 2 by default).
    labels
        ``(reference, comparator, measure, timepoint)``: with them, too few episodes in an
        arm is refused in ``compare_iptw``'s words.
    balance
        Add one round for the balance table (``balance``: ``covariate``, ``smd_before``,
        ``smd_after``, ``balanced_after``, as ``compare_iptw``'s).

    Returns
    -------
    dict
        ``estimates`` (the naive and the ``iptw`` row, tidy columns), ``n``, ``covariates``
        entered, ``ess_reference``, ``ess_comparator``, ``ps_converged``, ``rounds``
        (rounds of summaries used), ``notes``, ``n_arm`` (complete episodes per arm),
        ``sd_outcome`` (the pooled within-arm SD of the outcome, as the E-value's),
        ``left_out`` (episodes per arm without a value needed), ``balance`` (``None``
        unless asked for; its ``attrs["x_sum"]`` are Σx per arm and column) and
        ``extreme_propensities`` (propensities of 0 or 1, counted with the balance).

    Raises
    ------
    InsufficientDataError
        An arm with fewer than 2 complete episodes, or outcomes that do not vary.
    """
    if ask is None:
        if sites is None:
            raise ValueError("iterated_iptw: give sites or ask")
        ask = _local_round(sites)
    notes: list[str] = []
    rounds = 1
    designs = ask(lambda s: s.design())
    first = ask(lambda s: (s.continuous, s.categorical))[0]
    columns = sorted(
        {c for d in designs for c in d["columns"]},
        key=lambda c: (
            0
            if "=" not in c
            else 1 + (first[1].index(c.split("=")[0]) if c.split("=")[0] in first[1] else 0),
            first[0].index(c) if c in first[0] else 0,
            c.split("=", 1)[1] if "=" in c else "",
        ),
    )
    index = {c: i + 1 for i, c in enumerate(columns)}
    xtx = np.zeros((len(columns) + 1, len(columns) + 1))
    n_arm = np.zeros(2)
    y_sum = np.zeros(2)
    y_sumsq = np.zeros(2)
    left_out = np.zeros(2)
    for d in designs:
        left_out += d.get("left_out", np.zeros(2))
        pos = [0] + [index[c] for c in d["columns"]]
        xtx[np.ix_(pos, pos)] += d["xtx"]
        n_arm += d["n"]
        y_sum += d["y_sum"]
        y_sumsq += d["y_sumsq"]
    for a, role in enumerate(("reference", "comparator")):
        if labels is not None and n_arm[a] < min_per_arm:
            arm, measure, timepoint = labels[a], labels[2], labels[3]
            raise InsufficientDataError(
                f"IPTW: arm {arm!r} has {int(n_arm[a])} episodes with a baseline and "
                f"{timepoint} {measure} and every propensity covariate; the propensity model "
                f"needs at least {min_per_arm} per arm."
            )
        if n_arm[a] < max(2, min_per_arm):
            raise InsufficientDataError(
                f"IPTW: the {role} arm has {int(n_arm[a])} complete episodes over the network; "
                "the propensity model needs at least 2 per arm."
            )
    n = float(n_arm.sum())
    model, entered = _enterable(columns, xtx, n, first[0], first[1], notes)

    # IRLS, one round per iteration, as R's glm.fit
    def pooled(beta: FloatArray | None) -> tuple[float, FloatArray, FloatArray]:
        answers = ask(lambda s: s.irls(model, beta))
        return (
            float(sum(a["deviance"] for a in answers)),
            np.sum([a["xtwx"] for a in answers], axis=0),
            np.sum([a["xtwz"] for a in answers], axis=0),
        )

    dev_old, xtwx, xtwz = pooled(None)
    rounds += 1
    converged = False
    beta: FloatArray = np.zeros(len(model) + 1)
    for _ in range(_MAXIT):
        try:
            beta = np.asarray(np.linalg.solve(xtwx, xtwz), dtype=np.float64)
        except np.linalg.LinAlgError:
            notes.append("Propensity model: the propensity design is singular.")
            break
        dev, xtwx, xtwz = pooled(beta)
        rounds += 1
        if abs(dev - dev_old) / (abs(dev) + 0.1) < _EPSILON:
            converged = True
            break
        dev_old = dev
    if not converged:
        notes.append("Propensity model: the logistic regression did NOT converge.")
    share = float(n_arm[1] / n)
    sums = ask(lambda s: s.outcome_sums(model, beta, share, estimand))
    rounds += 1
    total = {k: np.sum([s[k] for s in sums], axis=0) for k in sums[0]}
    if y_sumsq.sum() - y_sum.sum() ** 2 / n <= 0:
        raise InsufficientDataError(
            f"IPTW: every one of the {int(n)} analysed episodes has the same outcome; a "
            "weighted difference needs outcomes that vary."
        )
    # naive: classical OLS
    inv = np.linalg.inv(total["xtx"])
    b_naive = inv @ total["xty"]
    rss = float(total["yty"] - b_naive @ total["xty"])
    df = n - 3
    se_naive = math.sqrt(rss / df * inv[1, 1])
    tcrit = float(stats.t.ppf(0.5 + conf_level / 2.0, df))
    # weighted with HC0
    bread = np.linalg.inv(total["xtwx"])
    b_w = bread @ total["xtwy"]
    meats = ask(lambda s: s.meat(model, beta, share, estimand, b_w))
    rounds += 1
    cov = bread @ np.sum(meats, axis=0) @ bread
    se_w = math.sqrt(cov[1, 1])
    z = float(stats.norm.ppf(0.5 + conf_level / 2.0))

    def row(term: str, est: float, se: float, df_: float, crit: float, p: float) -> dict[str, Any]:
        return {
            "term": term,
            "estimate": est,
            "std_error": se,
            "statistic": est / se,
            "df": df_,
            "p_value": p,
            "conf_low": est - crit * se,
            "conf_high": est + crit * se,
        }

    t_naive = float(b_naive[1] / se_naive)
    z_w = float(b_w[1] / se_w)
    estimates = pd.DataFrame(
        [
            row(
                "naive",
                float(b_naive[1]),
                se_naive,
                df,
                tcrit,
                float(2 * stats.t.sf(abs(t_naive), df)),
            ),
            row("iptw", float(b_w[1]), se_w, math.nan, z, float(2 * stats.norm.sf(abs(z_w)))),
        ],
        columns=list(TIDY_COLUMNS),
    )
    ess = total["w_sum"] ** 2 / total["w_sumsq"]
    table = None
    extreme = 0
    if balance:
        shown = _balance_columns(columns, xtx, first[0], entered)
        answers = ask(lambda s: s.balance_sums(model, beta, share, estimand, shown))
        rounds += 1
        pooled_sums = {k: np.sum([s[k] for s in answers], axis=0) for k in answers[0]}
        table = _balance_table(shown, pooled_sums)
        table.attrs["x_sum"] = pooled_sums["x_sum"]
        extreme = int(pooled_sums["extreme"])
    var = (y_sumsq - y_sum**2 / n_arm) / (n_arm - 1)
    return {
        "estimand": estimand,
        "estimates": estimates,
        "n": int(n),
        "covariates": entered,
        "ess_reference": float(ess[0]),
        "ess_comparator": float(ess[1]),
        "ps_converged": converged,
        "rounds": rounds,
        "notes": tuple(notes),
        "n_arm": (int(n_arm[0]), int(n_arm[1])),
        "sd_outcome": math.sqrt(float(var.sum()) / 2.0),
        "balance": table,
        "left_out": (int(left_out[0]), int(left_out[1])),
        "extreme_propensities": extreme,
    }


def _balance_columns(
    columns: list[str], xtx: FloatArray, continuous: Sequence[str], entered: Sequence[str]
) -> list[str]:
    """The balance table's columns, as ``compare_iptw``'s: each entered covariate, a
    categorical one by every level present (in text order)."""
    index = {c: i + 1 for i, c in enumerate(columns)}
    shown: list[str] = []
    for name in entered:
        if name in continuous:
            shown.append(name)
            continue
        shown.extend(
            sorted(
                (c for c in columns if c.split("=")[0] == name and xtx[0, index[c]] > 0),
                key=lambda c: c.split("=", 1)[1],
            )
        )
    return shown


def _balance_table(shown: list[str], sums: dict[str, Any]) -> pd.DataFrame:
    """SMDs before and after weighting from the pooled sums (the formula of
    :func:`~dnoutcomes.stats.iptw.standardized_mean_differences`)."""
    from dnoutcomes.stats._balance import BALANCE_THRESHOLD

    n = sums["n"][:, None]
    mean = sums["x_sum"] / n
    var = (sums["x_sumsq"] - sums["x_sum"] ** 2 / n) / (n - 1)
    # a constant column: rounding may leave a tiny variance where the rows give 0
    var = np.where(var <= 1e-12 * np.maximum(sums["x_sumsq"] / n, 1.0), 0.0, var)
    pooled = np.sqrt((var[0] + var[1]) / 2.0)
    weighted = sums["wx_sum"] / sums["w_sum"][:, None]

    def smd(diff: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(pooled > 0, diff / np.where(pooled > 0, pooled, 1.0), 0.0)

    before, after = smd(mean[1] - mean[0]), smd(weighted[1] - weighted[0])
    return pd.DataFrame(
        {
            "covariate": shown,
            "smd_before": before,
            "smd_after": after,
            "balanced_after": np.abs(after) < BALANCE_THRESHOLD,
        }
    )
