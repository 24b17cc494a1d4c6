"""Table 1 as a :class:`~dnoutcomes.present.table.Table`: baseline characteristics of the
episodes, overall and by arm (any number of arms), with optional SMD and p-values."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from dnoutcomes.contract.specs import ARMS_STANDARD, TABLES
from dnoutcomes.errors import RequestError
from dnoutcomes.present.table import Column, Table
from dnoutcomes.stats._smd import _binary_smd, smd_categorical, smd_continuous

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = ["DEFAULT_VARIABLES", "VARIABLE_LABELS", "table_one"]

#: The contract's baseline characteristics, in the order Table 1 shows them.
DEFAULT_VARIABLES: tuple[str, ...] = (
    "age",
    "sex",
    "condition",
    "chronicity",
    "site_id",
    "symptom_weeks",
    "contraindications",
)

#: Row labels of the contract's columns.
VARIABLE_LABELS: dict[str, str] = {
    "age": "Age, years",
    "sex": "Sex",
    "condition": "Condition",
    "chronicity": "Chronicity",
    "site_id": "Site",
    "therapist_id": "Therapist",
    "symptom_weeks": "Symptom duration, weeks",
    "contraindications": "Contraindications recorded",
    "discharge_reason": "Discharge reason",
}

# columns that are identifiers, dates or derived bookkeeping: never a default row
_NOT_CHARACTERISTICS = {
    "episode_id",
    "patient_id",
    "therapist_id",
    "start_date",
    "end_date",
    "arm",
    "arm_declared",
    "arm_derived",
    "discharge_reason",
    "n_sessions",
    "dn_sessions",
    "age_top_coded",
}
# categories whose levels are words of the contract (shown in words, not as codes)
_WORD_LEVELS = {"sex", "condition", "chronicity", "contraindications"}
_TEMPLATES = {
    "count": "{n_%s:.0f}",
    "mean_sd": "{estimate_%s:.1f} ({sd_%s:.1f})",
    "median_iqr": "{estimate_%s:.1f} [{q1_%s:.1f}, {q3_%s:.1f}]",
    "n_pct": "{n_%s:.0f} ({estimate_%s:.1f}%%)",
    "missing": "{n_%s:.0f}",
}
_TEST_NAMES = {
    "welch": "Welch's t-test",
    "anova": "one-way ANOVA",
    "kruskal": "Kruskal-Wallis test",
    "chisq": "Pearson's chi-square test",
    "fisher": "Fisher's exact test",
}


def _templates(key: str) -> dict[str, str]:
    return {kind: t % ((key,) * t.count("%s")) for kind, t in _TEMPLATES.items()}


def _word(level: str) -> str:
    text = level.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _arm_order(present: Sequence[str]) -> list[str]:
    standard = [a for a in ARMS_STANDARD if a in present]
    return standard + sorted(a for a in present if a not in ARMS_STANDARD)


def _episodes(dataset: Dataset, arms: Sequence[str] | None) -> tuple[pd.DataFrame, list[str]]:
    episodes = dataset.episodes
    patients = dataset.patients
    keep = [c for c in patients.columns if c not in episodes.columns or c == "patient_id"]
    merged = episodes.merge(patients[keep], on="patient_id", how="left", validate="m:1")
    merged = merged.loc[merged["arm"].notna()].reset_index(drop=True)
    merged["arm"] = merged["arm"].astype(str)
    counts = merged["arm"].value_counts()
    if arms is None:
        chosen = _arm_order([a for a in counts.index if a != "other"])
    else:
        chosen = [str(a) for a in arms]
        unknown = [a for a in chosen if a not in counts.index]
        if unknown or len(set(chosen)) != len(chosen):
            listing = ", ".join(f"{a} ({counts[a]} episodes)" for a in sorted(counts.index))
            raise RequestError(
                f"Table 1: arms={chosen} has unknown or repeated arms {unknown}; expected "
                f"distinct arms of the dataset: {listing}. Pick among those."
            )
    if not chosen:
        raise RequestError(
            "Table 1: the dataset has no episode with an arm; expected at least one. "
            "Check the episodes' arm column or the sessions it is derived from."
        )
    merged = merged.loc[merged["arm"].isin(chosen)].reset_index(drop=True)
    return merged, chosen


def _baseline_wide(dataset: Dataset, episodes: pd.DataFrame) -> pd.DataFrame:
    out = dataset.outcomes
    base = out.loc[
        (out["timepoint"] == "baseline") & out["episode_id"].isin(episodes["episode_id"]),
        ["episode_id", "measure", "value"],
    ]
    base = base.assign(measure=base["measure"].astype(str))
    wide = base.pivot_table(index="episode_id", columns="measure", values="value", aggfunc="first")
    return wide.reindex(index=episodes["episode_id"])


def _extras(dataset: Dataset) -> list[str]:
    contract = {spec.name for table in ("patients", "episodes") for spec in TABLES[table]}
    seen = [*dataset.patients.columns, *dataset.episodes.columns]
    skip = contract | _NOT_CHARACTERISTICS | {"chronicity"}
    return list(dict.fromkeys(c for c in seen if c not in skip))


def _measure_label(name: str, registry: Any) -> str:
    from dnoutcomes.plots._style import measure_name

    entry = registry.get(name) if registry is not None else None
    unit = str(getattr(entry, "unit", "") or "")
    text = f"{measure_name(name, registry, short=True)} at baseline"
    return f"{text}, {unit}" if unit and unit not in ("points", "yes/no") else text


def _stats_rows(
    values: pd.Series, groups: pd.Series, keys: list[str], *, summary: str
) -> dict[str, float]:
    """n, missing, estimate, sd, q1, q3 of a numeric series per group key."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    labels = groups.to_numpy()
    out: dict[str, float] = {}
    for key in keys:  # a loop over the few groups; each step is vectorised
        group = x[labels == key]
        present = group[~np.isnan(group)]
        n = len(present)
        out[f"n_{key}"], out[f"missing_{key}"] = float(n), float(len(group) - n)
        nan = math.nan
        if summary == "mean_sd":
            out[f"estimate_{key}"] = float(present.mean()) if n else nan
            out[f"sd_{key}"] = float(present.std(ddof=1)) if n > 1 else nan
            out[f"q1_{key}"] = out[f"q3_{key}"] = nan
        else:
            q1, med, q3 = np.quantile(present, [0.25, 0.5, 0.75]) if n else (nan, nan, nan)
            out[f"estimate_{key}"], out[f"q1_{key}"], out[f"q3_{key}"] = (
                float(med),
                float(q1),
                float(q3),
            )
            out[f"sd_{key}"] = nan
    return out


def _counts(arm: pd.Series, text: pd.Series, arms: list[str]) -> pd.DataFrame:
    """Arms x levels table of counts (rows ``arms``; the levels present, sorted)."""
    a = pd.Categorical(arm, categories=arms).codes
    levels, codes = np.unique(text.to_numpy(dtype=object).astype(str), return_inverse=True)
    keep = a >= 0
    flat = np.bincount(
        a[keep] * len(levels) + codes[keep], minlength=len(arms) * len(levels)
    ).reshape(len(arms), len(levels))
    return pd.DataFrame(flat, index=arms, columns=levels)


def _numeric(
    name: str,
    label: str,
    values: pd.Series,
    arm: pd.Series,
    arms: list[str],
    summary: str,
    overall: bool,
) -> tuple[list[dict[str, Any]], list[pd.Series]]:
    row: dict[str, Any] = {"variable": name, "label": label, "indent": 0, "kind": summary}
    row.update(_stats_rows(values, arm, arms, summary=summary))
    if overall:
        row.update(
            _stats_rows(values, pd.Series("overall", index=arm.index), ["overall"], summary=summary)
        )
    samples = [pd.to_numeric(values[arm == a], errors="coerce").dropna() for a in arms]
    if len(arms) >= 2:
        test = ("welch" if len(arms) == 2 else "anova") if summary == "mean_sd" else "kruskal"
        row.update(_p_numeric(samples, test))
    if len(arms) == 2:
        row["smd"] = smd_continuous(samples[0], samples[1])
    return [row, *_missing_row(name, values.isna(), arm, arms, overall)], samples


def _p_numeric(samples: list[pd.Series], test: str) -> dict[str, Any]:
    if any(len(s) < 2 for s in samples) or all(s.nunique() <= 1 for s in samples):
        return {"p_value": math.nan, "test": test}
    if test == "welch":
        p = sps.ttest_ind(samples[0], samples[1], equal_var=False).pvalue
    elif test == "anova":
        p = sps.f_oneway(*samples).pvalue
    else:
        p = sps.kruskal(*samples).pvalue
    return {"p_value": float(p), "test": test}


def _p_counts(counts: np.ndarray) -> dict[str, Any]:
    """Chi-square (no continuity correction) or, for a 2x2 table with an expected count
    below 5, Fisher's exact test, on an arms x levels table of counts."""
    counts = counts[:, counts.sum(axis=0) > 0]
    counts = counts[counts.sum(axis=1) > 0]
    if counts.shape[0] < 2 or counts.shape[1] < 2:
        return {"p_value": math.nan, "test": "chisq"}
    expected = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / counts.sum()
    if counts.shape == (2, 2) and expected.min() < 5:
        return {"p_value": float(sps.fisher_exact(counts).pvalue), "test": "fisher"}
    chi2 = sps.chi2_contingency(counts, correction=False)
    return {"p_value": float(chi2.pvalue), "test": "chisq"}


def _missing_row(
    name: str, missing: pd.Series, arm: pd.Series, arms: list[str], overall: bool
) -> list[dict[str, Any]]:
    if not bool(missing.any()):
        return []
    row: dict[str, Any] = {
        "variable": name,
        "level": "(missing)",
        "label": "Missing",
        "indent": 1,
        "kind": "missing",
    }
    per_arm = missing.groupby(arm, sort=False).sum().reindex(arms, fill_value=0)
    row.update({f"n_{a}": float(per_arm[a]) for a in arms})
    if overall:
        row["n_overall"] = float(missing.sum())
    return [row]


def _levels(values: pd.Series) -> list[str]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna().astype(str))
        return [str(v) for v in values.cat.categories if str(v) in present]
    return sorted(values.dropna().astype(str).unique())


def _categorical(
    name: str,
    label: str,
    values: pd.Series,
    arm: pd.Series,
    arms: list[str],
    overall: bool,
    *,
    only: Sequence[str] | None = None,
    words: bool = False,
) -> list[dict[str, Any]]:
    text = values.astype(object).where(values.notna()).map(str, na_action="ignore")
    levels = list(only) if only is not None else _levels(values)
    present = text.notna()
    full = _counts(arm[present], text[present], arms)
    crosstab = full.reindex(columns=levels, fill_value=0)
    totals = full.sum(axis=1)  # percentages of the episodes with a value, whatever is shown
    head: dict[str, Any] = {"variable": name, "label": label, "indent": 0, "kind": "categorical"}
    if len(arms) >= 2:
        head.update(_p_counts(full.to_numpy(dtype=float)))
    if len(arms) == 2:
        ref, comp = (text[arm == a] for a in arms)
        head["smd"] = smd_categorical(ref.dropna(), comp.dropna()) if only is None else math.nan
    rows = []
    for level in levels:
        row: dict[str, Any] = {
            "variable": name,
            "level": level,
            "label": _word(level) if words else level,
            "indent": 1,
            "kind": "n_pct",
        }
        for a in arms:
            n, total = float(crosstab[level].to_numpy()[arms.index(a)]), float(totals[a])
            row[f"n_{a}"], row[f"estimate_{a}"] = n, 100 * n / total if total else math.nan
        if overall:
            n, total = float(crosstab[level].sum()), float(totals.sum())
            row["n_overall"], row["estimate_overall"] = n, 100 * n / total if total else math.nan
        rows.append(row)
    if only is not None and len(levels) == 1:
        # a yes/no row: one line with the variable's label, its test and SMD
        single = {**rows[0], **{k: v for k, v in head.items() if k in ("p_value", "test")}}
        single.update(label=label, indent=0)
        if len(arms) == 2:
            single["smd"] = _binary_smd(
                single[f"estimate_{arms[0]}"] / 100, single[f"estimate_{arms[1]}"] / 100
            )
        rows, head = [single], {}
    return ([head] if head else []) + rows + _missing_row(name, ~present, arm, arms, overall)


def _contraindications(
    values: pd.Series, arm: pd.Series, arms: list[str], overall: bool
) -> list[dict[str, Any]]:
    lists = values.map(lambda v: tuple(v) if isinstance(v, tuple | list) else ())
    exploded = lists.explode().dropna().astype(str)
    flags = {"any": lists.map(len).gt(0)}
    for kind in sorted(set(exploded)):
        flags[kind] = pd.Series(False, index=values.index)
        flags[kind].loc[exploded.index[exploded == kind].unique()] = True
    rows: list[dict[str, Any]] = []
    label = VARIABLE_LABELS["contraindications"]
    for kind, flag in flags.items():
        yes = flag.map({True: "yes", False: "no"})
        row = _categorical("contraindications", label, yes, arm, arms, overall, only=["yes"])[0]
        row.update(level=kind, label="Any" if kind == "any" else _word(kind), indent=1)
        rows.append(row)
    head = {"variable": "contraindications", "label": label, "indent": 0, "kind": "categorical"}
    return [head, *rows]


def table_one(
    dataset: Dataset,
    *,
    arms: Sequence[str] | None = None,
    overall: bool = True,
    variables: Sequence[str] | None = None,
    nonnormal: Sequence[str] = ("symptom_weeks",),
    tests: bool = False,
    labels: Mapping[str, str] | None = None,
) -> Table:
    """Table 1: baseline characteristics of the episodes, overall and by arm.

    Parameters
    ----------
    dataset
        A loaded dataset.
    arms
        The arms, in column order; ``None`` = every arm present except ``other`` (mixed
        care), standard arms first. Any number of arms.
    overall
        Add an "Overall" column (the episodes of the arms shown).
    variables
        The rows, in order: columns of the patients or episodes tables (the contract's or
        the user's own), or measure names (their baseline value). ``None`` = age, sex,
        condition, chronicity, site, symptom duration, contraindications, then the user's
        extra columns of patients and episodes, then every measure with a baseline value.
    nonnormal
        Numeric variables summarised by median [IQR] instead of mean (SD).
    tests
        Add a p-value column comparing the arms (see Notes).
    labels
        Row labels to use instead of the defaults (variable → label).

    Returns
    -------
    Table
        Body columns: ``variable``, ``level``, ``label``, ``indent``, ``group`` (empty),
        ``kind`` (``mean_sd``, ``median_iqr``, ``categorical`` header, ``n_pct`` level,
        ``missing``), then per group key (``overall`` and each arm) ``n_<key>``
        (values present, or episodes at the level), ``estimate_<key>`` (mean, median or
        percent of the episodes with a value), ``sd_<key>``, ``q1_<key>``, ``q3_<key>``,
        ``missing_<key>``; ``smd`` (two arms: second minus first) and ``p_value``,
        ``test`` (with ``tests=True``).

    Raises
    ------
    RequestError
        For an unknown arm or variable.

    Notes
    -----
    Age ``90+`` counts as 90. Quartiles are R's type 7. A categorical's missing values are
    a "Missing" row, not a level; percentages are of the episodes with a value. SMD (two
    arms): the pooled-SD difference for numbers, the multi-level SMD on a categorical's
    header row, the binary SMD on a yes/no row (as :func:`dnoutcomes.stats.describe_baseline`).
    Tests (two or more arms): mean (SD) rows by Welch's t-test (two arms) or one-way ANOVA;
    median [IQR] rows by Kruskal-Wallis; categorical rows by Pearson's chi-square without
    continuity correction, or Fisher's exact test for a 2×2 table with an expected count
    below 5. They are descriptive: no correction for the number of rows.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> table = table_one(dataset, variables=["age", "odi"])
    >>> [c.label for c in table.columns]  # doctest: +NORMALIZE_WHITESPACE
    ['Overall (n = 290)', 'Dry needling alone (n = 77)',
     'Dry needling + manual & exercise therapy (n = 137)', 'Manual & exercise therapy (n = 76)']
    >>> table.cells()["Characteristic"].tolist()
    ['Age, years', 'ODI at baseline', 'Missing']
    """
    from dnoutcomes.plots._style import arm_label_n

    episodes, chosen = _episodes(dataset, arms)
    registry = dataset.registry
    wide = _baseline_wide(dataset, episodes)
    if variables is None:
        measures = [m for m in registry if m in wide.columns and wide[m].notna().any()]
        names = [*DEFAULT_VARIABLES, *_extras(dataset), *measures]
        names = [n for n in names if n in episodes.columns or n in measures]
    else:
        names = list(variables)
    own = dict(labels or {})
    arm = episodes["arm"]
    rows: list[dict[str, Any]] = []
    for name in names:
        if name in episodes.columns:
            values = episodes[name]
            label = own.get(name) or VARIABLE_LABELS.get(name) or _word(name)
            spec_unit = None
        elif name in registry:
            values = (
                pd.Series(wide[name].to_numpy(), index=episodes.index)
                if (name in wide.columns)
                else pd.Series(math.nan, index=episodes.index)
            )
            label = own.get(name) or _measure_label(name, registry)
            spec_unit = registry[name]
        else:
            raise RequestError(
                f"Table 1: unknown variable {name!r}; expected a column of the patients or "
                f"episodes tables ({sorted(c for c in episodes.columns)}) or a measure "
                f"({list(registry)}). Check the spelling."
            )
        if name == "contraindications":
            rows.extend(_contraindications(values, arm, chosen, overall))
        elif spec_unit is not None and spec_unit.low == 0 and spec_unit.high == 1:
            yes = values.map({0.0: "no", 1.0: "yes"})
            rows.extend(_categorical(name, label, yes, arm, chosen, overall, only=["yes"]))
        elif _is_continuous(values):
            summary = "median_iqr" if name in nonnormal else "mean_sd"
            rows.extend(_numeric(name, label, values, arm, chosen, summary, overall)[0])
        else:
            rows.extend(
                _categorical(name, label, values, arm, chosen, overall, words=name in _WORD_LEVELS)
            )
    body = pd.DataFrame(rows)
    keys = (["overall"] if overall else []) + chosen
    for key in keys:
        for stat in ("n", "estimate", "sd", "q1", "q3", "missing"):
            if f"{stat}_{key}" not in body.columns:
                body[f"{stat}_{key}"] = math.nan
    for column in ("level", "smd", "p_value", "test"):
        if column not in body.columns:
            body[column] = "" if column in ("level", "test") else math.nan
    body["level"] = body["level"].fillna("")
    body["test"] = body["test"].fillna("")
    body["group"] = ""
    counts = arm.value_counts()
    columns: list[Column] = []
    if overall:
        columns.append(Column(f"Overall (n = {len(episodes)})", _templates("overall")))
    spanner = "Arm" if len(chosen) > 1 else ""
    columns += [
        Column(arm_label_n(a, int(counts.get(a, 0))), _templates(a), spanner=spanner)
        for a in chosen
    ]
    if len(chosen) == 2:
        columns.append(Column("SMD", "{smd:.2f}"))
    if tests and len(chosen) >= 2:
        columns.append(Column("p-value", "{p_value:p}"))
    notes = [
        "Mean (SD), median [IQR] or n (%); percentages are of the episodes with a value.",
    ]
    if len(chosen) == 2:
        notes.append("SMD: standardised mean difference, second arm minus first.")
    if tests and len(chosen) >= 2:
        used = [_TEST_NAMES[t] for t in _TEST_NAMES if t in set(body["test"])]
        notes.append("p-values: " + ", ".join(used) + "; descriptive, not adjusted.")
    n_patients = episodes["patient_id"].nunique()
    if n_patients < len(episodes):
        notes.append(
            f"Rows count episodes ({len(episodes)}) of {n_patients} patients; a patient "
            "with several episodes is counted in each."
        )
    return Table(
        body=body,
        columns=tuple(columns),
        caption="Table 1. Baseline characteristics of the episodes"
        + (" by arm" if len(chosen) > 1 else ""),
        footnotes=tuple(notes),
    )


def _is_continuous(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values) or isinstance(values.dtype, pd.CategoricalDtype):
        return False
    if not pd.api.types.is_numeric_dtype(values):
        return False
    return bool(values.dropna().nunique() > 2)
