"""Table 1: baseline characteristics of the episodes of two arms, with a standardised
mean difference on every row (re-exported by :mod:`dnoutcomes.stats.descriptives`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.cohort import comparison_episodes, get_measure
from dnoutcomes.cohort._codes import comparison_values
from dnoutcomes.stats._smd import _binary_smd, smd_categorical_counts, smd_continuous
from dnoutcomes.stats.results import ResultMixin, id_tuple, jsonable

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = ["TABLE_ONE_COLUMNS", "BaselineTable", "describe_baseline"]

#: Columns of :attr:`BaselineTable.frame`, fixed whatever the arms are.
TABLE_ONE_COLUMNS: tuple[str, ...] = (
    "variable",
    "level",
    "summary",
    "reference_n",
    "reference_estimate",
    "reference_sd",
    "reference_q1",
    "reference_q3",
    "reference_missing",
    "comparator_n",
    "comparator_estimate",
    "comparator_sd",
    "comparator_q1",
    "comparator_q3",
    "comparator_missing",
    "smd",
)


def _empty_row(variable: str, level: str, summary: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(TABLE_ONE_COLUMNS, math.nan)
    row.update(variable=variable, level=level, summary=summary)
    return row


def _numeric_row(variable: str, ref: pd.Series, comp: pd.Series, *, summary: str) -> dict[str, Any]:
    row = _empty_row(variable, "", summary)
    for prefix, values in (("reference", ref), ("comparator", comp)):
        x = pd.Series(values, dtype=float)
        present = x.dropna()
        row[f"{prefix}_n"] = len(present)
        row[f"{prefix}_missing"] = int(x.isna().sum())
        if summary == "mean_sd":
            row[f"{prefix}_estimate"] = present.mean() if len(present) else math.nan
            row[f"{prefix}_sd"] = present.std(ddof=1) if len(present) > 1 else math.nan
        else:
            row[f"{prefix}_estimate"] = present.median() if len(present) else math.nan
            row[f"{prefix}_q1"] = present.quantile(0.25) if len(present) else math.nan
            row[f"{prefix}_q3"] = present.quantile(0.75) if len(present) else math.nan
    row["smd"] = smd_continuous(ref, comp)
    return row


def _categorical_rows(
    variable: str, ref: pd.Series, comp: pd.Series, levels: Sequence[str]
) -> list[dict[str, Any]]:
    # each arm's count of every label, by factorising once (no Python string per row)
    counts = {"reference": _label_counts(ref), "comparator": _label_counts(comp)}
    present = {prefix: sum(c.values()) for prefix, c in counts.items()}
    missing = {"reference": len(ref) - present["reference"]}
    missing["comparator"] = len(comp) - present["comparator"]
    head = _empty_row(variable, "", "categorical")
    for prefix in counts:
        head[f"{prefix}_n"] = present[prefix]
        head[f"{prefix}_missing"] = missing[prefix]
    head["smd"] = smd_categorical_counts(counts["reference"], counts["comparator"])
    rows = [head]
    for level in levels:
        row = _empty_row(variable, str(level), "n_pct")
        for prefix, by_label in counts.items():
            count = by_label.get(str(level), 0)
            n = present[prefix]
            row[f"{prefix}_n"] = count
            row[f"{prefix}_estimate"] = 100 * count / n if n else math.nan
            row[f"{prefix}_missing"] = missing[prefix]
        row["smd"] = _binary_smd(row["reference_estimate"] / 100, row["comparator_estimate"] / 100)
        rows.append(row)
    return rows


def _label_counts(values: pd.Series) -> dict[str, int]:
    """``{label as text: count}`` of the non-missing values."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    tally = np.bincount(codes[codes >= 0], minlength=len(uniques))
    counts: dict[str, int] = {}
    for label, n in zip(uniques, tally, strict=True):
        counts[str(label)] = counts.get(str(label), 0) + int(n)
    return counts


def _cell_text(kind: str, count: float, est: float, sd: float, q1: float, q3: float) -> str:
    if kind == "count":
        return f"{count:.0f}"
    if kind == "mean_sd":
        return f"{est:.1f} ({sd:.1f})"
    if kind == "median_iqr":
        return f"{est:.1f} [{q1:.1f}, {q3:.1f}]"
    if kind == "n_pct":
        return f"{count:.0f} ({est:.1f}%)"
    return ""


def _levels(series: pd.Series) -> list[str]:
    if isinstance(series.dtype, pd.CategoricalDtype):
        present = set(series.dropna().astype(str).unique())  # not one Python str per row
        return [str(lv) for lv in series.cat.categories if str(lv) in present]
    return sorted(series.dropna().astype(str).unique())


@dataclass(frozen=True, repr=False)
class BaselineTable(ResultMixin):
    """Table 1: baseline characteristics of the episodes of two arms.

    Attributes
    ----------
    frame
        One row per characteristic or level, columns :data:`TABLE_ONE_COLUMNS`:
        ``variable``, ``level`` (empty except for levels of a categorical), ``summary``
        (``count``: episodes; ``mean_sd``; ``median_iqr``; ``categorical``: the header row
        of a categorical, holding the multi-level SMD; ``n_pct``: one level, or one
        contraindication, estimate = percent of the non-missing), then per arm
        (``reference_``/``comparator_``): ``n`` (values present, or episodes at the
        level), ``estimate`` (mean, median or percent), ``sd``, ``q1``, ``q3``,
        ``missing`` (episodes without a value); and ``smd`` (comparator minus reference;
        the multi-level SMD, ≥ 0, on a categorical's header row).
    """

    reference: str
    comparator: str
    frame: pd.DataFrame
    n: int
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"Baseline characteristics: {self.reference} vs {self.comparator}"

    def _format_frame(self) -> pd.DataFrame:
        f = self.frame
        out = pd.DataFrame({"variable": f["variable"], "level": f["level"]})
        for prefix, arm in (("reference", self.reference), ("comparator", self.comparator)):
            text = [
                _cell_text(kind, count, est, sd, q1, q3)
                for kind, count, est, sd, q1, q3 in zip(
                    f["summary"],
                    f[f"{prefix}_n"],
                    f[f"{prefix}_estimate"],
                    f[f"{prefix}_sd"],
                    f[f"{prefix}_q1"],
                    f[f"{prefix}_q3"],
                    strict=True,
                )
            ]
            out[arm] = text
            missing = f[f"{prefix}_missing"]
            out[f"missing {arm}"] = missing.map(lambda v: f"{v:.0f}" if v > 0 else "")
        out["smd"] = f["smd"].map(lambda v: f"{v:.3f}" if pd.notna(v) else "")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Table 1 as JSON-ready records."""
        return {
            "reference": self.reference,
            "comparator": self.comparator,
            "rows": jsonable(self.frame.to_dict(orient="records")),
        }


def describe_baseline(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measures: Sequence[str] | None = None,
) -> BaselineTable:
    """Table 1 by arm with a standardised mean difference on every row.

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms.
    measures
        Baseline measures to describe; ``None`` = every registered measure with at least
        one baseline value in the two arms.

    Returns
    -------
    BaselineTable

    Raises
    ------
    RequestError
        Unknown arm.

    Notes
    -----
    Rows: episodes (n); age, mean (SD) (``90+`` counted as 90); sex, condition,
    chronicity and site, n (%); contraindications, n (%) of episodes with any and with each
    recorded type; symptom weeks, median [IQR] (quartiles by linear interpolation, R's
    type 7); each baseline measure, mean (SD). Percentages use the episodes with a value;
    missing values are counted per arm. SMDs: :func:`smd_continuous` for numeric rows
    (also for medians), :func:`smd_categorical` on each categorical's header row, and the
    binary SMD on each level.
    """
    episodes = comparison_episodes(dataset, reference=reference, comparator=comparator)
    is_ref = (episodes["arm"] == reference).to_numpy()
    ref, comp = episodes.loc[is_ref], episodes.loc[~is_ref]
    count = _empty_row("episodes", "", "count")
    count.update(reference_n=len(ref), comparator_n=len(comp), reference_missing=0)
    count.update(comparator_missing=0)
    rows: list[dict[str, Any]] = [count]
    rows.append(_numeric_row("age", ref["age"], comp["age"], summary="mean_sd"))
    for variable in ("sex", "condition", "chronicity", "site_id"):
        rows.extend(
            _categorical_rows(variable, ref[variable], comp[variable], _levels(episodes[variable]))
        )
    rows.append(
        _numeric_row(
            "symptom_weeks", ref["symptom_weeks"], comp["symptom_weeks"], summary="median_iqr"
        )
    )
    rows.extend(_contraindication_rows(episodes, is_ref))

    # the per-episode wide table of baseline values (first value of each episode), shared
    # with the other analyses; a measure enters when some comparison episode has a value
    def baseline(name: str) -> np.ndarray:
        return comparison_values(dataset, name, "baseline", reference, comparator)

    if measures is None:
        names = [m for m in dataset.registry if (~np.isnan(baseline(m))).any()]
    else:
        names = list(measures)
        for name in names:
            get_measure(dataset, name)
    for name in names:
        spec = get_measure(dataset, name)
        values = baseline(name)
        ref_values = pd.Series(values[is_ref])
        comp_values = pd.Series(values[~is_ref])
        if getattr(spec, "low", None) == 0 and getattr(spec, "high", None) == 1:
            use = _categorical_rows(
                f"{name} (baseline)",
                ref_values.map({0.0: "no", 1.0: "yes"}),
                comp_values.map({0.0: "no", 1.0: "yes"}),
                ["yes"],
            )
            rows.append(use[1])
            continue
        rows.append(_numeric_row(f"{name} (baseline)", ref_values, comp_values, summary="mean_sd"))
    frame = pd.DataFrame(rows, columns=list(TABLE_ONE_COLUMNS))
    for column in ("reference_missing", "comparator_missing"):
        frame[column] = frame[column].fillna(0).astype(np.int64)
    return BaselineTable(
        reference=reference,
        comparator=comparator,
        frame=frame,
        n=len(episodes),
        episodes_used=id_tuple(episodes["episode_id"]),
        notes=(
            "Contraindication rows count episodes; an episode may have several, so they "
            "can sum to more than the 'any' row.",
        ),
    )


def _contraindication_rows(episodes: pd.DataFrame, is_ref: np.ndarray) -> list[dict[str, Any]]:
    if "contraindications" not in episodes.columns:
        return []
    lists = episodes["contraindications"].map(
        lambda v: tuple(v) if isinstance(v, tuple | list) else ()
    )
    exploded = lists.explode().dropna()
    types = sorted(set(exploded.astype(str)))
    flags = {"any": lists.map(len).gt(0).to_numpy()}
    for kind in types:
        flags[kind] = np.zeros(len(episodes), dtype=bool)
        flags[kind][exploded.index[exploded == kind].unique()] = True
    rows = []
    for kind, flag in flags.items():
        row = _empty_row("contraindications", kind, "n_pct")
        for prefix, mask in (("reference", is_ref), ("comparator", ~is_ref)):
            n_arm = int(mask.sum())
            hits = int(flag[mask].sum())
            row[f"{prefix}_n"] = hits
            row[f"{prefix}_estimate"] = 100 * hits / n_arm if n_arm else math.nan
            row[f"{prefix}_missing"] = 0
        row["smd"] = _binary_smd(row["reference_estimate"] / 100, row["comparator_estimate"] / 100)
        rows.append(row)
    return rows
