"""Site summaries pooled over a network equal the row-level analysis of the whole export
(relative 1e-9), on clinic_a split by site and on generated data; the hand-written
row-level twins (grouped times for Kaplan-Meier, pandas group-bys for the monthly data) are
in the tests."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import pytest

from dnoutcomes.network import NetworkAnalysis, pool, summarise
from dnoutcomes.network._blocks import coarsen
from dnoutcomes.protocol import OutcomeSpec, Protocol, default_protocol
from dnoutcomes.stats._km import kaplan_meier, km_quantile, logrank_test
from dnoutcomes.stats.ancova import compare_ancova, compare_outcomes
from dnoutcomes.stats.descriptives import describe_baseline
from dnoutcomes.stats.meta import compare_sites
from dnoutcomes.stats.responders import compare_responders, responder_flags
from dnoutcomes.stats.survival import response_times

RTOL = 1e-9


def split_by_site(dataset: Any) -> list[Any]:
    """One dataset per site_id: its episodes, their patients, sessions and outcomes."""
    parts = []
    for site in sorted(dataset.episodes["site_id"].astype(str).unique()):
        episodes = dataset.episodes.loc[dataset.episodes["site_id"].astype(str) == site]
        ids = set(episodes["episode_id"])
        patients = dataset.patients.loc[dataset.patients["patient_id"].isin(episodes["patient_id"])]
        ae = dataset.adverse_events
        sessions = dataset.sessions.loc[dataset.sessions["episode_id"].isin(ids)]
        parts.append(
            dataclasses.replace(
                dataset,
                episodes=episodes.reset_index(drop=True),
                patients=patients.reset_index(drop=True),
                sessions=sessions,
                outcomes=dataset.outcomes.loc[dataset.outcomes["episode_id"].isin(ids)],
                adverse_events=None
                if ae is None
                else ae.loc[ae["session_id"].isin(sessions["session_id"])],
            )
        )
    return parts


def close(a: Any, b: Any) -> None:
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=RTOL, atol=0)


def network_of(dataset: Any, protocol: Protocol, grid_days: float = 7.0) -> NetworkAnalysis:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summaries = [
            summarise(part, protocol, grid_days=grid_days, disclosure=False)
            for part in split_by_site(dataset)
        ]
    return pool(summaries)


def check_ancova(net: NetworkAnalysis, dataset: Any, protocol: Protocol) -> None:
    outcomes = protocol.outcomes()
    row = compare_outcomes(
        dataset,
        reference=protocol.reference,
        comparator=protocol.comparator,
        outcomes=[(o.measure, o.timepoint) for o in outcomes],
        optional=[o.optional for o in outcomes],
        outcome_covariates=[o.covariates or () for o in outcomes],
    )
    assert [(r.measure, r.timepoint) for r in net.ancova] == [
        (r.measure, r.timepoint) for r in row.results
    ]
    for mine, theirs in zip(net.ancova, row.results, strict=True):
        assert mine.covariates == theirs.covariates
        assert list(mine.table["term"]) == list(theirs.table["term"])
        for column in ("estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high"):
            close(mine.table[column], theirs.table[column])
        close(mine.adjusted_means["estimate"], theirs.adjusted_means["estimate"])
        close(mine.adjusted_means["std_error"], theirs.adjusted_means["std_error"])
        close(mine.hedges_g, theirs.hedges_g)
        assert (mine.n, mine.n_reference, mine.df) == (theirs.n, theirs.n_reference, theirs.df)
    close(net.ancova_frame["p_holm"], row.frame["p_holm"])
    primary = outcomes[0]
    fe = compare_ancova(
        dataset,
        reference=protocol.reference,
        comparator=protocol.comparator,
        measure=primary.measure,
        timepoint=primary.timepoint,
        covariates=(*(primary.covariates or ()), "site_id"),
    )
    assert net.ancova_site_effects is not None
    assert list(net.ancova_site_effects.table["term"]) == list(fe.table["term"])
    for column in ("estimate", "std_error", "p_value", "conf_low", "conf_high"):
        close(net.ancova_site_effects.table[column], fe.table[column])


def check_responders(net: NetworkAnalysis, dataset: Any, protocol: Protocol) -> None:
    measure, timepoint = protocol.responder_outcome()
    row = compare_responders(
        dataset,
        reference=protocol.reference,
        comparator=protocol.comparator,
        measure=measure,
        timepoint=timepoint,
    )
    assert net.responders is not None
    assert net.responders["n"] == row.counts["n"].tolist()
    assert net.responders["responders"] == row.counts["responders"].tolist()
    for column in ("estimate", "std_error", "p_value", "conf_low", "conf_high"):
        close(net.responders["frame"][column], row.frame[column])
    close(net.responders["nnt"], row.nnt)


def check_survival(net: NetworkAnalysis, dataset: Any, protocol: Protocol) -> None:
    """Row-level twin: every time moved to the end of its grid interval, censored at the
    horizon; then the package's own Kaplan-Meier and log-rank."""
    assert net.time_to_response is not None
    grid = np.asarray(net.time_to_response["grid"])
    times = response_times(
        dataset,
        reference=protocol.reference,
        comparator=protocol.comparator,
        measure=protocol.time_to_response_measure(),
        timepoints=protocol.time_to_response.timepoints,
    )
    t, e = coarsen(times["time"].to_numpy(float), times["event"].to_numpy(), grid)
    arm = times["treated"].to_numpy()
    for a, row in net.time_to_response["frame"].iterrows():
        km = kaplan_meier(t[arm == a], e[arm == a])
        mine = net.time_to_response["curves"]
        mine = mine.loc[mine["arm"] == row["arm"]].drop(columns="arm").reset_index(drop=True)
        assert list(mine.columns) == list(km.columns)
        for column in km.columns:
            close(mine[column], km[column])
        close([row["median"], row["conf_low"], row["conf_high"]], km_quantile(km, 0.5))
        assert row["n"] == int((arm == a).sum())
    test = logrank_test(t, e, arm)
    close(
        [net.time_to_response["logrank_chisq"], net.time_to_response["logrank_p"]],
        [test.chisq, test.p_value],
    )


def check_baseline(net: NetworkAnalysis, dataset: Any, protocol: Protocol) -> None:
    row = describe_baseline(dataset, reference=protocol.reference, comparator=protocol.comparator)
    theirs = row.frame.set_index(["variable", "level"])
    mine = net.baseline.set_index(["variable", "level"])
    compared = 0
    for key, values in mine.iterrows():
        if values["summary"] == "count":
            assert (values["reference_n"], values["comparator_n"]) == (
                theirs.loc[key, "reference_n"],
                theirs.loc[key, "comparator_n"],
            )
            continue
        other = theirs.loc[key]
        if values["summary"] != "mean_sd" or other["summary"] == "mean_sd":
            cols = ["smd", "reference_estimate", "comparator_estimate"]
            if values["summary"] == "categorical":
                cols = ["smd"]
            for column in cols:
                close(values[column], other[column])
            if values["summary"] == "mean_sd":
                close(
                    values[["reference_sd", "comparator_sd"]],
                    other[["reference_sd", "comparator_sd"]],
                )
        else:  # symptom weeks: Table 1 shows the median, the SMD is of the means
            close(values["smd"], other["smd"])
        compared += 1
    # every row Table 1 computes from moments or counts is in the pooled table
    wanted = theirs.loc[theirs["summary"].isin(["mean_sd", "categorical", "n_pct"])]
    wanted = wanted.loc[wanted.index.get_level_values(0) != "contraindications"]
    assert set(wanted.index) <= set(mine.index)
    assert compared >= len(wanted)


def check_meta(net: NetworkAnalysis, dataset: Any, protocol: Protocol) -> None:
    primary = protocol.outcomes()[0]
    row = compare_sites(
        dataset,
        reference=protocol.reference,
        comparator=protocol.comparator,
        measure=primary.measure,
        timepoint=primary.timepoint,
    )
    assert net.site_meta is not None
    assert net.site_meta.sites["site_id"].tolist() == row.sites["site_id"].tolist()
    for column in ("estimate", "std_error", "p_value", "weight"):
        close(net.site_meta.sites[column], row.sites[column])
    close(
        [net.site_meta.estimate, net.site_meta.std_error, net.site_meta.tau2, net.site_meta.q],
        [row.estimate, row.std_error, row.tau2, row.q],
    )


def check_monthly(net: NetworkAnalysis, dataset: Any, protocol: Protocol) -> None:
    measure, timepoint = protocol.responder_outcome()
    pairs, usable, responder, _ = responder_flags(
        dataset,
        reference=protocol.reference,
        comparator=protocol.comparator,
        measure=measure,
        timepoint=timepoint,
        definition="points",
        threshold=None,
    )
    rows = pairs.loc[usable & pairs["end_date"].notna()].assign(responder=responder.astype(int))
    expected = rows.groupby(rows["end_date"].dt.strftime("%Y-%m")).agg(
        n=("responder", "size"),
        responders=("responder", "sum"),
        mean=("improvement", "mean"),
        sd=("improvement", "std"),
    )
    assert net.monthly["month"].tolist() == expected.index.tolist()
    assert net.monthly["n"].tolist() == expected["n"].tolist()
    assert net.monthly["responders"].tolist() == expected["responders"].tolist()
    close(net.monthly["mean_improvement"], expected["mean"])
    np.testing.assert_allclose(net.monthly["sd_improvement"], expected["sd"], rtol=1e-8)
    # the P chart of the pooled months is the chart of the row-level months
    from dnoutcomes.qi.charts import p_chart

    chart = p_chart(
        expected["responders"].to_numpy(float),
        expected["n"].to_numpy(float),
        periods=expected.index.tolist(),
        label="share of responders",
    )
    assert net.chart is not None
    close(net.chart.frame["ucl"].fillna(-1), chart.frame["ucl"].fillna(-1))
    close(net.chart.frame["centre"], chart.frame["centre"])


def check_benchmark(net: NetworkAnalysis, dataset: Any, protocol: Protocol) -> None:
    """The sites' funnel equals one built from episode-level probabilities (each
    episode's arm share over the whole export) summed per site with pandas."""
    from dnoutcomes.network._blocks import _responder_flags
    from dnoutcomes.qi.overdispersion import ratio_funnel

    pairs, usable, responder, _ = _responder_flags(dataset, protocol)
    keep = usable.to_numpy(bool)
    rows = pairs.loc[keep, ["site_id", "treated"]].assign(
        hit=responder.to_numpy(bool)[keep].astype(float)
    )
    rows["p"] = rows.groupby("treated")["hit"].transform("mean")
    rows["v"] = rows["p"] * (1 - rows["p"])
    per_site = rows.groupby(rows["site_id"].astype(str)).agg(
        o=("hit", "sum"), e=("p", "sum"), v=("v", "sum"), n=("hit", "size")
    )
    want = ratio_funnel(
        per_site["o"], per_site["e"], per_site["v"], n=per_site["n"], units=list(per_site.index)
    )
    assert net.benchmark is not None
    got = net.benchmark.frame
    assert got["unit"].tolist() == want.frame["unit"].tolist()
    assert got["position"].tolist() == want.frame["position"].tolist()
    for column in ("n", "precision", "value", "z", "lower_inner", "upper_outer"):
        close(got[column], want.frame[column])
    close([net.benchmark.phi, net.benchmark.tau2], [want.phi, want.tau2])


CHECKS = (
    check_ancova,
    check_responders,
    check_survival,
    check_baseline,
    check_meta,
    check_monthly,
    check_benchmark,
)


@pytest.fixture(scope="module")
def clinic_network(clinic_a_dataset: Any) -> NetworkAnalysis:
    return network_of(clinic_a_dataset, default_protocol())


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_clinic_a_split_by_site_pools_exactly(
    check: Any, clinic_network: NetworkAnalysis, clinic_a_dataset: Any
) -> None:
    check(clinic_network, clinic_a_dataset, default_protocol())


def _generated_protocol() -> Protocol:
    return Protocol(
        primary=OutcomeSpec("nprs", "discharge", ("age", "sex", "condition", "baseline:odi")),
        secondary=(OutcomeSpec("odi", "discharge", None, optional=True),),
    )


@pytest.fixture(scope="module")
def generated() -> tuple[Any, NetworkAnalysis]:
    from dnoutcomes.sample import generate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = generate(episodes=1500, seed=7, sites=5).to_dataset()
    return dataset, network_of(dataset, _generated_protocol(), grid_days=3.0)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_generated_data_with_covariates_pools_exactly(
    check: Any, generated: tuple[Any, NetworkAnalysis]
) -> None:
    dataset, net = generated
    check(net, dataset, _generated_protocol())


def test_categorical_covariates_enter_with_the_row_level_reference_level(
    generated: tuple[Any, NetworkAnalysis],
) -> None:
    _, net = generated
    terms = net.ancova[0].table["term"].tolist()
    assert terms[:3] == ["intercept", "arm", "baseline"]
    assert any(t.startswith("sex=") for t in terms) and any(
        t.startswith("condition=") for t in terms
    )
    fe_terms = net.ancova_site_effects.table["term"].tolist()  # type: ignore[union-attr]
    assert sum(t.startswith("site_id=") for t in fe_terms) == len(net.sites) - 1


def test_partitions_of_one_site_add_up(clinic_a_dataset: Any) -> None:
    """A site's rows split over two partitions (the Dask engine's case) pool to the same
    analysis as the site whole."""
    protocol = default_protocol()
    episodes = clinic_a_dataset.episodes
    halves = []
    for keep in (episodes.index % 2 == 0, episodes.index % 2 == 1):
        ids = set(episodes.loc[keep, "episode_id"])
        part = episodes.loc[keep]
        halves.append(
            dataclasses.replace(
                clinic_a_dataset,
                episodes=part,
                patients=clinic_a_dataset.patients.loc[
                    clinic_a_dataset.patients["patient_id"].isin(part["patient_id"])
                ],
                sessions=clinic_a_dataset.sessions.loc[
                    clinic_a_dataset.sessions["episode_id"].isin(ids)
                ],
                outcomes=clinic_a_dataset.outcomes.loc[
                    clinic_a_dataset.outcomes["episode_id"].isin(ids)
                ],
            )
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summaries = [summarise(h, protocol, disclosure=False) for h in halves]
    with pytest.raises(Exception, match="in both"):
        pool(summaries)
    net = pool(summaries, same_site_in_several=True)
    for check in CHECKS:
        check(net, clinic_a_dataset, protocol)


def _iptw_pair(dataset: Any, protocol: Protocol, estimand: str) -> tuple[Any, Any]:
    from dnoutcomes.network.iptw import IptwSite, iterated_iptw
    from dnoutcomes.stats.analysis import _available
    from dnoutcomes.stats.iptw import compare_iptw

    primary = protocol.outcomes()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sites = [IptwSite.prepare(part, protocol) for part in split_by_site(dataset)]
    mine = iterated_iptw(sites, estimand=estimand)
    row = compare_iptw(
        dataset,
        reference=protocol.reference,
        comparator=protocol.comparator,
        measure=primary.measure,
        timepoint=primary.timepoint,
        covariates=_available(dataset, protocol, []),
        estimand=estimand,  # type: ignore[arg-type]
    )
    return mine, row


@pytest.mark.parametrize("estimand", ["ate", "att", "ato"])
def test_iterated_iptw_equals_row_level(clinic_a_dataset: Any, estimand: str) -> None:
    """Iterative, so the tolerance is 1e-8 relative (measured: below 1e-12)."""
    mine, row = _iptw_pair(clinic_a_dataset, default_protocol(), estimand)
    assert mine["covariates"] == row.covariates
    assert mine["n"] == row.n and mine["ps_converged"] == row.ps_converged
    a = mine["estimates"].set_index("term")
    b = row.table.set_index("term")
    for column in ("estimate", "std_error", "p_value", "conf_low", "conf_high"):
        np.testing.assert_allclose(a[column], b.loc[a.index, column], rtol=1e-8)
    np.testing.assert_allclose(
        [mine["ess_reference"], mine["ess_comparator"]],
        [row.ess_reference, row.ess_comparator],
        rtol=1e-8,
    )
    assert mine["rounds"] >= 5  # design, IRLS start and steps, outcome sums, meat


def test_iterated_iptw_on_generated_sites(generated: tuple[Any, NetworkAnalysis]) -> None:
    dataset, _ = generated
    mine, row = _iptw_pair(dataset, default_protocol(), "ate")
    assert mine["covariates"] == row.covariates
    a = mine["estimates"].set_index("term")
    b = row.table.set_index("term")
    np.testing.assert_allclose(a["estimate"], b.loc[a.index, "estimate"], rtol=1e-8)
    np.testing.assert_allclose(a["std_error"], b.loc[a.index, "std_error"], rtol=1e-8)


def test_pool_example_runs() -> None:
    import doctest
    import importlib

    module = importlib.import_module("dnoutcomes.network.pool")  # the module, not pool()

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0
