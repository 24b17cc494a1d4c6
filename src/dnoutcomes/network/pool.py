"""The network's analysis from site summaries alone: :func:`pool`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.network import _benchmark, _medsafety, _sections, _trajectory
from dnoutcomes.network._ancova import (
    CrossProducts,
    add_site_effects,
    fit_crossproducts,
    pool_entries,
)
from dnoutcomes.network.summary import SiteSummary, check_poolable
from dnoutcomes.stats._ancova_fit import AncovaResult
from dnoutcomes.stats.results import HEADLINE_COLUMNS, ResultMixin, jsonable

__all__ = ["NetworkAnalysis", "pool", "with_iptw"]


@dataclass(frozen=True, repr=False)
class NetworkAnalysis(ResultMixin):
    """The analysis of a network of sites, computed from their summaries.

    Attributes
    ----------
    reference, comparator
        The arms (effects read comparator minus reference).
    protocol_sha256
        The protocol every summary was made with.
    sites
        The ``site_id`` of every pooled block.
    ancova
        One :class:`~dnoutcomes.stats.ancova.AncovaResult` per analysed outcome (primary
        first); ``ancova_frame`` their arm effects with ``p_holm`` across the secondary ones.
    ancova_site_effects
        The primary outcome with site fixed effects (``None`` when not estimable).
    responders, time_to_response
        Dicts of the pooled counts, frames and tests (``None`` when not analysed).
    baseline
        Table 1's rows that moments determine, with SMDs.
    site_meta
        :class:`~dnoutcomes.stats.meta.SiteMetaResult` (DerSimonian–Laird), or ``None``.
    monthly
        Per discharge month: episodes, responders, share, mean and SD of improvement.
    iptw
        The weighted comparison by iterated summaries
        (:func:`~dnoutcomes.network.iptw.iterated_iptw`; the Dask engine), else ``None``.
    trajectory, medication, safety
        The mixed model (:class:`~dnoutcomes.stats.mixed.TrajectoryResult`, REML from the
        sums grouped by episode size), medication
        (:class:`~dnoutcomes.stats.medication.MedicationResult`) and adverse events
        (:class:`~dnoutcomes.stats.safety.SafetyResult`, counts and rates; the listings stay
        at the sites), or ``None`` when not in every summary or not analysable.
    benchmark
        The sites' responders against the number expected from the network's share in
        each arm, on a funnel of observed / expected ratios
        (:class:`~dnoutcomes.qi.overdispersion.OverdispersedFunnel`, additive
        overdispersion; standardised for the arm mix only), or ``None`` (one site, or
        responders not analysable).
    chart
        The P chart of the monthly share of responders
        (:class:`~dnoutcomes.qi.chart_result.ControlChart`), or ``None``.
    frame
        One headline row per effect: ``section``, ``measure``, ``timepoint``, ``term``,
        ``n``, ``estimate``, ``conf_low``, ``conf_high``, ``p_value``.
    """

    reference: str
    comparator: str
    protocol_sha256: str
    sites: tuple[str, ...]
    conf_level: float
    ancova: tuple[AncovaResult, ...]
    ancova_frame: pd.DataFrame
    ancova_site_effects: AncovaResult | None
    responders: Mapping[str, Any] | None
    time_to_response: Mapping[str, Any] | None
    baseline: pd.DataFrame
    site_meta: Any
    monthly: pd.DataFrame
    chart: Any
    frame: pd.DataFrame
    n: int
    iptw: Mapping[str, Any] | None = None
    trajectory: Any = None
    medication: Any = None
    safety: Any = None
    benchmark: Any = None
    episodes_used: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return (
            f"Network of {len(self.sites)} site(s): {self.comparator} vs {self.reference}, "
            "pooled from site summaries"
        )

    def to_dict(self) -> dict[str, Any]:
        """The network's results as one JSON-ready document."""
        resp = self.responders
        ttr = self.time_to_response
        doc: dict[str, Any] = {
            "protocol_sha256": self.protocol_sha256,
            "reference": self.reference,
            "comparator": self.comparator,
            "sites": list(self.sites),
            "ancova": [r.to_dict() for r in self.ancova],
            "ancova_p_holm": self.ancova_frame["p_holm"].tolist() if len(self.ancova_frame) else [],
            "ancova_site_effects": (
                self.ancova_site_effects.to_dict() if self.ancova_site_effects else None
            ),
            "responders": None
            if resp is None
            else {
                **{k: v for k, v in resp.items() if k != "frame"},
                "effects": resp["frame"].to_dict(orient="records"),
            },
            "time_to_response": None
            if ttr is None
            else {
                "measure": ttr["measure"],
                "grid_days": list(ttr["grid"]),
                "arms": ttr["frame"].to_dict(orient="records"),
                "table": ttr["table"].to_dict(orient="records"),
                "logrank_chisq": ttr["logrank_chisq"],
                "logrank_df": ttr["logrank_df"],
                "logrank_p": ttr["logrank_p"],
            },
            "baseline": self.baseline.to_dict(orient="records"),
            "site_meta": self.site_meta.to_dict() if self.site_meta is not None else None,
            "monthly": self.monthly.to_dict(orient="records"),
            "control_chart": self.chart.to_dict() if self.chart is not None else None,
            "benchmark": self.benchmark.to_dict() if self.benchmark is not None else None,
            "iptw": None
            if self.iptw is None
            else {
                **{k: v for k, v in self.iptw.items() if k != "estimates"},
                "estimates": self.iptw["estimates"].to_dict(orient="records"),
            },
            "lmm": self.trajectory.to_dict() if self.trajectory is not None else None,
            "medication": self.medication.to_dict() if self.medication is not None else None,
            "medication_doses": (
                self.medication.doses_to_dict() if self.medication is not None else None
            ),
            "safety": self.safety.to_dict() if self.safety is not None else None,
            "headline": self.frame.to_dict(orient="records"),
            "notes": list(self.notes),
        }
        document: dict[str, Any] = jsonable(doc)
        return document


def _effect_row(section: str, term: str, r: Any, p_value: float) -> dict[str, Any]:
    """A headline row of one pooled effect (an ANCOVA result, the site meta-analysis)."""
    return {
        "section": section,
        "measure": r.measure,
        "timepoint": r.timepoint,
        "term": term,
        "n": r.n,
        "estimate": r.estimate,
        "conf_low": r.conf_low,
        "conf_high": r.conf_high,
        "p_value": p_value,
    }


def _headline(
    ancova: Sequence[AncovaResult],
    fe: AncovaResult | None,
    resp: Mapping[str, Any] | None,
    ttr: Mapping[str, Any] | None,
    meta: Any,
    lmm: Any = None,
    med: Any = None,
) -> pd.DataFrame:
    rows: list[dict[str, Any]] = [
        _effect_row("ancova", "mean difference", r, r.p_value) for r in ancova
    ]
    if lmm is not None:
        fixed = lmm.table.loc[lmm.table["term"].isin(["arm", "arm_x_weeks"])]
        rows.extend(
            {
                "section": "lmm",
                "measure": lmm.measure,
                "timepoint": "weeks",
                "term": row.term,
                "n": lmm.n_episodes,
                "estimate": row.estimate,
                "conf_low": row.conf_low,
                "conf_high": row.conf_high,
                "p_value": row.p_value,
            }
            for row in fixed.itertuples()
        )
    if fe is not None:
        rows.append(
            _effect_row(
                "ancova_site_effects", "mean difference (site fixed effects)", fe, fe.p_value
            )
        )
    if resp is not None:
        for row in resp["frame"].itertuples():
            rows.append(
                {
                    "section": "responders",
                    "measure": resp["measure"],
                    "timepoint": resp["timepoint"],
                    "term": row.term,
                    "n": sum(resp["n"]),
                    "estimate": row.estimate,
                    "conf_low": row.conf_low,
                    "conf_high": row.conf_high,
                    "p_value": row.p_value,
                }
            )
    if ttr is not None:
        for row in ttr["frame"].itertuples():
            rows.append(
                {
                    "section": "time_to_response",
                    "measure": ttr["measure"],
                    "timepoint": "days",
                    "term": f"median {row.arm}",
                    "n": row.n,
                    "estimate": row.median,
                    "conf_low": row.conf_low,
                    "conf_high": row.conf_high,
                    "p_value": ttr["logrank_p"],
                }
            )
    if med is not None:
        rows.extend(
            {
                "section": "medication",
                "measure": row.measure,
                "timepoint": med.timepoint,
                "term": "odds ratio" if row.model == "logistic" else "mean difference",
                "n": row.n,
                "estimate": row.estimate,
                "conf_low": row.conf_low,
                "conf_high": row.conf_high,
                "p_value": row.p_value,
            }
            for row in med.frame.itertuples()
        )
    if meta is not None:
        rows.append(_effect_row("site_meta", "pooled (DerSimonian-Laird)", meta, float("nan")))
    frame = pd.DataFrame(rows, columns=HEADLINE_COLUMNS)
    frame["p_value"] = frame["p_value"].astype(float)
    return frame


def pool(
    summaries: Sequence[SiteSummary],
    *,
    sources: Sequence[str] | None = None,
    conf_level: float = 0.95,
    same_site_in_several: bool = False,
) -> NetworkAnalysis:
    """Pool site summaries into the network's analysis.

    Parameters
    ----------
    summaries
        One or more :class:`~dnoutcomes.network.SiteSummary` of one protocol and grid.
    sources
        A name per summary for messages (file names); default ``summary 1``, ``2``….
    conf_level
        Confidence level of every interval.
    same_site_in_several
        Allow a site's rows to be split over several summaries (partitions of one export,
        the Dask engine); its blocks are then added. Off for a federated network, where a
        site given twice is an error.

    Returns
    -------
    NetworkAnalysis

    Raises
    ------
    RequestError
        No summaries; summaries of different protocols, arms or grids; a site twice.
    InsufficientDataError
        The primary outcome cannot be analysed over the network.

    Notes
    -----
    Exact (the row-level analysis of the pooled rows, to rounding): every ANCOVA (with and
    without site fixed effects), the responders' 2×2 table, Kaplan–Meier and log-rank on
    the grouped times of the grid, Table 1's means, SDs, shares and SMDs, each site's
    ANCOVA and their DerSimonian–Laird pooling, the monthly chart data, the medication
    amounts' ANCOVA and the adverse-event counts and rates. Iterative, to the documented
    1e-6: the mixed model (REML from sums grouped by episode size) and the logistic models
    of medication use (on the pooled 2 × 2 × 2 tables). See ``docs/network.md``.

    Examples
    --------
    The summary of one export pools to its row-level ANCOVA (``compare_ancova`` gives
    182 episodes and −0.53 on the same data):

    >>> from dnoutcomes.network import summarise
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> network = pool([summarise(dataset, disclosure=False)])
    >>> network.ancova[0].n, round(network.ancova[0].estimate, 2)
    (182, -0.53)
    """
    from dnoutcomes.stats._inference import check_conf_level

    check_conf_level(conf_level, where="pool")
    if not summaries:
        raise RequestError("pool: no site summaries given; expected one file per site.")
    names = (
        list(sources)
        if sources is not None
        else [f"summary {i + 1}" for i in range(len(summaries))]
    )
    if same_site_in_several:
        check_poolable(summaries, names, allow_repeated_sites=True)
    else:
        check_poolable(summaries, names)
    first = summaries[0]
    ref, comp = first.reference, first.comparator
    by_site = _sections.merge_blocks([s.blocks for s in summaries])
    flat = {f"{site}#{i}": b for site, bs in by_site.items() for i, b in enumerate(bs)}
    notes: list[str] = []
    if not same_site_in_several:
        notes.extend(
            f"{src} was not checked for disclosure (made with disclosure=False); it should "
            "not have left its site."
            for s, src in zip(summaries, names, strict=True)
            if s.min_cell == 0
        )

    # ANCOVA: outcome i of every block
    n_outcomes = len(next(iter(flat.values()))["ancova"])
    results: list[AncovaResult] = []
    primary_cp: CrossProducts | None = None
    per_site_primary: dict[str, CrossProducts] = {}
    per_site_model: dict[str, CrossProducts] = {}
    for i in range(n_outcomes):
        entries = [b["ancova"][i] for b in flat.values()]
        role = entries[0].get("role", "primary" if i == 0 else "secondary")
        if role == "site_model":
            per_site_model = {
                s: pool_entries([b["ancova"][i] for b in bs]) for s, bs in by_site.items()
            }
            continue
        cp = pool_entries(entries)
        if role == "primary":
            primary_cp = cp
            per_site_primary = {
                s: pool_entries([b["ancova"][i] for b in bs]) for s, bs in by_site.items()
            }
        try:
            results.append(
                fit_crossproducts(cp, conf_level=conf_level, reference=ref, comparator=comp)
            )
        except InsufficientDataError as exc:
            if role == "primary" or not entries[0].get("optional", False):
                raise
            notes.append(f"ANCOVA: {cp.measure} at {cp.timepoint} not analysed: {exc}")
    frame = pd.DataFrame(
        {
            "measure": [r.measure for r in results],
            "timepoint": [r.timepoint for r in results],
            "role": ["primary"] + ["secondary"] * (len(results) - 1),
            "n": [r.n for r in results],
            "estimate": [r.estimate for r in results],
            "std_error": [r.std_error for r in results],
            "p_value": [r.p_value for r in results],
            "conf_low": [r.conf_low for r in results],
            "conf_high": [r.conf_high for r in results],
        }
    )
    p_holm = frame["p_value"].to_numpy(dtype=float).copy()
    if len(results) > 1:
        p_holm[1:] = multipletests(p_holm[1:], method="holm")[1]
    frame["p_holm"] = p_holm
    notes.extend(f"ANCOVA of {r.measure} at {r.timepoint}: {n}" for r in results for n in r.notes)

    fe: AncovaResult | None = None
    if primary_cp is not None and len(per_site_primary) > 1:
        try:
            fe = fit_crossproducts(
                add_site_effects(primary_cp, per_site_primary),
                conf_level=conf_level,
                reference=ref,
                comparator=comp,
            )
        except InsufficientDataError as exc:
            notes.append(f"ANCOVA with site fixed effects not analysed: {exc}")

    def optional(label: str, run: Any) -> Any:
        try:
            return run()
        except InsufficientDataError as exc:
            notes.append(f"{label} not analysed: {exc}")
            return None

    resp = optional("Responders", lambda: _sections.pooled_responders(flat, conf_level))
    ttr = optional(
        "Time to response", lambda: _sections.pooled_survival(flat, conf_level, (ref, comp))
    )
    meta = optional(
        "Sites pooled",
        lambda: _sections.site_meta(
            per_site_model or per_site_primary,
            conf_level=conf_level,
            reference=ref,
            comparator=comp,
        ),
    )
    if meta is not None:
        notes.extend(f"Sites pooled: {n}" for n in meta.notes)
    bench = None
    if resp is not None and len(by_site) > 1:
        bench = optional("Site benchmarking", lambda: _benchmark.site_benchmark(by_site))
        if bench is not None:
            notes.extend(f"Site benchmarking: {n}" for n in bench.notes)
    baseline = _sections.pooled_baseline(flat)
    monthly = _sections.pooled_monthly(flat)
    chart = None
    if len(monthly):
        from dnoutcomes.qi.charts import p_chart

        chart = optional(
            "Control chart",
            lambda: p_chart(
                monthly["responders"].to_numpy(float),
                monthly["n"].to_numpy(float),
                periods=monthly["month"].tolist(),
                label="share of responders",
            ),
        )
    arms = (ref, comp)
    extra: dict[str, Any] = {}
    for key, label, run in (
        ("trajectory", "Mixed model", _trajectory.pooled_trajectory),
        ("medication", "Medication", _medsafety.pooled_medication),
        ("safety", "Safety", _medsafety.pooled_safety),
    ):
        parts = [b[key] for b in flat.values() if key in b]
        if len(parts) < len(flat):
            notes.append(
                f"{label} not analysed: {len(flat) - len(parts)} of {len(flat)} site block(s) "
                f"have no {key} section (left out at the site, or a format version 1 summary)."
            )
            extra[key] = None
            continue
        extra[key] = optional(
            label, lambda run=run, parts=parts: run(parts, arms=arms, conf_level=conf_level)
        )
        if extra[key] is not None:
            notes.extend(f"{label}: {n}" for n in extra[key].notes)
    n_total = int(np.sum([b["baseline"]["episodes"] for b in flat.values()]))
    return NetworkAnalysis(
        reference=ref,
        comparator=comp,
        protocol_sha256=first.protocol_sha256,
        sites=tuple(sorted(by_site)),
        conf_level=conf_level,
        ancova=tuple(results),
        ancova_frame=frame,
        ancova_site_effects=fe,
        responders=resp,
        time_to_response=ttr,
        baseline=baseline,
        site_meta=meta,
        monthly=monthly,
        chart=chart,
        frame=_headline(results, fe, resp, ttr, meta, extra["trajectory"], extra["medication"]),
        trajectory=extra["trajectory"],
        medication=extra["medication"],
        safety=extra["safety"],
        benchmark=bench,
        n=n_total,
        notes=tuple(notes),
    )


def with_iptw(result: NetworkAnalysis, iptw: Mapping[str, Any]) -> NetworkAnalysis:
    """``result`` with the weighted comparison of
    :func:`~dnoutcomes.network.iptw.iterated_iptw` added (and its rows in the headline)."""
    import dataclasses

    rows = iptw["estimates"].assign(
        section="iptw",
        measure=result.ancova[0].measure if result.ancova else "",
        timepoint=result.ancova[0].timepoint if result.ancova else "",
        n=iptw["n"],
    )
    frame = pd.concat([result.frame, rows.reindex(columns=HEADLINE_COLUMNS)], ignore_index=True)
    frame["p_value"] = frame["p_value"].astype(float)
    notes = result.notes + tuple(f"IPTW: {n}" for n in iptw["notes"])
    return dataclasses.replace(result, iptw=dict(iptw), frame=frame, notes=notes)
