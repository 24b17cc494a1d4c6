"""Write, run and save the teaching notebooks from the readable cell lists below.

Usage (from the repository root or anywhere)::

    python notebooks/_build.py                 # every notebook
    python notebooks/_build.py 02 03           # the notebooks whose name starts so
    python notebooks/_build.py --no-execute    # write the cells only, without outputs

Each notebook is a list of cells made with :func:`md` (markdown), :func:`code` (a code cell)
and :func:`hidden` (a code cell whose input is collapsed: the checks that keep the prose
honest). :func:`build` turns the list into an ``.ipynb`` with nbformat, runs it top to bottom
in a fresh ``python3`` kernel with nbclient, working directory ``notebooks/``, and saves it
with its outputs. When the package's API changes, edit the cells here and run this script;
``tests/test_notebooks.py`` re-runs the committed notebooks and fails when their saved
outputs are stale.
"""

# The cells are notebook code: their lines are measured inside the notebook, not here.
# ruff: noqa: E501

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent
KERNEL = "python3"
TIMEOUT = 300

Cell = dict[str, Any]


def _clean(text: str) -> str:
    lines = text.strip("\n").splitlines()
    indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
    return "\n".join(x[indent:] for x in lines).rstrip()


def md(text: str) -> Cell:
    """A markdown cell."""
    return {"kind": "markdown", "source": _clean(text), "tags": []}


def code(text: str, *, tags: Sequence[str] = ()) -> Cell:
    """A code cell (``tags`` e.g. ``("parameters",)`` for papermill)."""
    return {"kind": "code", "source": _clean(text), "tags": list(tags)}


def hidden(text: str) -> Cell:
    """A code cell whose input is collapsed when the notebook is opened (checks, asserts)."""
    return {"kind": "code", "source": _clean(text), "tags": ["hide-input"], "hidden": True}


# --------------------------------------------------------------------------------------------
# 01 — load and check
# --------------------------------------------------------------------------------------------


def notebook_01() -> list[Cell]:
    return [
        md(
            """
            # 1 · Load and check a clinic export

            **The question.** Before any statistics: *is our export fit to analyse?* Does
            every row follow the data contract, what is missing, how many episodes of care
            can enter the comparison of dry needling alone (`dn_only`) with dry needling plus
            manual and exercise therapy (`dn_manual_exercise`), and do the two groups of
            patients look alike before treatment?

            We work on `data/sample`, a synthetic export made by `dnoutcomes sample` (no real
            patient is in it; its `truth.json` says what is true in it). Replace the path with
            your own export to run the same checks on your clinic's data.

            What you will see:

            1. validating an export and reading its data-quality report;
            2. a deliberately broken copy: what the errors look like and how to fix them;
            3. quarantine mode, for a first look at an export that is not clean yet;
            4. Table 1 — who the patients in each arm are;
            5. the patient flow — who enters the analysis and who is left out, and why.
            """
        ),
        code(
            """
            %matplotlib inline
            import shutil
            import tempfile
            from pathlib import Path

            import matplotlib.pyplot as plt
            import pandas as pd
            from IPython.display import Markdown, display

            import dnoutcomes as dn
            from dnoutcomes.cohort import patient_flow
            from dnoutcomes.stats import describe_baseline

            pd.set_option("display.max_colwidth", 200)
            DATA = Path("../data/sample")  # a folder of CSV files; an .xlsx workbook works too
            """
        ),
        md(
            """
            ## 1. Validate: does the export follow the contract?

            `dn.validate()` reads every table and checks every row against the data contract
            ([docs/data-contract.md](../docs/data-contract.md)): required columns, allowed values and ranges,
            dates in order, every id pointing at a row that exists, no direct identifiers. It
            never raises for bad data — it *reports*. The accounting table shows, per table,
            how many rows were read, loaded and rejected; `loaded + rejected = read` always.
            """
        ),
        code(
            """
            report = dn.validate(DATA)
            print("valid:", report.valid, "| problems:", len(report.problems),
                  "| warnings:", len(report.warnings))
            report.accounting
            """
        ),
        md(
            """
            **Problems** break the contract (an NPRS of 11, a session of an episode that does
            not exist): in the default *strict* mode any problem stops the load. **Warnings**
            are data-quality findings that do not stop the analysis but that someone should
            look at. Each one names the file, the line (the header is line 1), the column and
            the rule:
            """
        ),
        code(
            """
            report.warnings[["file", "line", "column", "rule", "message"]]
            """
        ),
        md(
            """
            Here every warning has the rule `contraindicated_needling`: dry needling was
            given at a session although the patient's record lists a contraindication
            (bleeding disorder, immunosuppression, metal allergy…). That is a question for the
            clinical lead, not a data error — the rows are kept, and the safety analysis lists
            these episodes by id. `dn.load()` says the same thing once as a
            `DataQualityWarning` (the pink box under the next cell). We leave it visible on
            purpose: a warning that scrolls past silently is a warning nobody acts on.
            """
        ),
        code(
            """
            ds = dn.load(DATA)
            ds
            """
        ),
        md(
            """
            The `Dataset` holds one typed table per export table (`ds.patients`,
            `ds.episodes`, `ds.sessions`, `ds.outcomes`, `ds.adverse_events`) plus the
            derived columns the analyses need. The most important one is the **arm** of each
            episode: the export may declare it; when it does not, the loader derives it from
            what was done at the sessions (dry needling at some session and no manual or
            exercise therapy → `dn_only`; needling, manual *and* exercise therapy →
            `dn_manual_exercise`; …). The cross-table shows where the arm came from:
            """
        ),
        code(
            """
            pd.crosstab(
                ds.episodes["arm_declared"].fillna("(not declared)"),
                ds.episodes["arm_derived"].fillna("(no sessions)"),
                margins=True,
            )
            """
        ),
        md(
            """
            ## 2. A broken copy: reading and fixing errors

            Real exports are rarely clean the first time. We copy the sample to a temporary
            folder and break it the way exports break in practice:

            * an NPRS of **11** — a slip of the finger (the scale runs 0–10);
            * an **orphan session**: a visit whose episode id does not exist in `episodes`
              (a mistyped id, or an episode filtered out of the export but not its visits);
            * an **age of 93**: ages of 90 and over can identify a person and must arrive
              top-coded as the text `90+`.
            """
        ),
        code(
            """
            workdir = Path(tempfile.mkdtemp(prefix="dn_broken_"))
            broken = workdir / "export"
            shutil.copytree(DATA, broken)

            def read_raw(table):
                # every cell as text, empty cells kept empty: exactly what the clinic sent
                return pd.read_csv(broken / f"{table}.csv", dtype=str, keep_default_na=False)

            outcomes = read_raw("outcomes")
            typo_row = outcomes.index[(outcomes["measure"] == "nprs")
                                      & (outcomes["timepoint"] == "discharge")][0]
            true_value = outcomes.loc[typo_row, "value"]
            outcomes.loc[typo_row, "value"] = "11"
            outcomes.to_csv(broken / "outcomes.csv", index=False)

            sessions = read_raw("sessions")
            orphan = sessions.iloc[[0]].assign(session_id="S_ORPHAN", episode_id="E_MISSING")
            pd.concat([sessions, orphan]).to_csv(broken / "sessions.csv", index=False)

            patients = read_raw("patients")
            patients.loc[4, "age"] = "93"
            patients.to_csv(broken / "patients.csv", index=False)
            print("broken copy written; the NPRS really was", true_value)
            """
        ),
        md(
            """
            In strict mode (the default) the load stops with a `DatasetError` and **nothing**
            is loaded. The message lists every problem — not only the first — with file,
            line, column, what was expected and how to fix it; the full list is on the
            error's `.problems` table. (The same check runs from the command line:
            `dnoutcomes validate PATH`.)
            """
        ),
        code(
            """
            try:
                dn.load(broken)
            except dn.DatasetError as err:
                print(err)
                problems = err.problems
            problems[["file", "line", "column", "rule"]]
            """
        ),
        md(
            """
            Notice that the age error does **not** print the age itself: the loader never
            repeats a value it suspects could identify someone.

            ## 3. Quarantine mode: a first look at an export that is not clean yet

            Sometimes you want to look at the data before the clinic system is fixed.
            `mode="quarantine"` loads the valid rows and sets aside each invalid row **and
            every row that depends on it**: the patient with the un-top-coded age takes their
            episode, its sessions, its outcomes and its adverse events along. Nothing is
            silently dropped: every rejected row is in `rejects` with its reason, and
            `loaded + rejected = read` for every table.
            """
        ),
        code(
            """
            quarantined = dn.load(broken, mode="quarantine")
            quarantined.accounting
            """
        ),
        code(
            """
            # why each row was set aside: its own problem, or a rejected parent row
            quarantined.problems.groupby(["table", "rule"]).size().rename("rows").reset_index()
            """
        ),
        hidden(
            """
            # Check: the prose on the sample's warnings, then that quarantine accounts for every
            # row and the cascade took whole episodes.
            assert set(report.warnings["rule"]) == {"contraindicated_needling"}
            acc = quarantined.accounting
            assert (acc["loaded"] + acc["rejected"] == acc["read"]).all()
            assert len(quarantined.rejects) == int(acc["rejected"].sum())
            assert set(quarantined.problems["rule"]) == {
                "age_not_top_coded", "orphan", "out_of_range", "rejected_parent"}
            """
        ),
        md(
            """
            Use quarantine to *explore*, not to *publish*. The rows it sets aside are not a
            random sample (an orphan session is often a whole missing episode), so numbers
            from a quarantined load can be biased. Fix the source, then load strictly.

            **Fixing.** The right place is the clinic system, followed by a new export. Here
            we fix the copy the way a data manager would after checking the paper record:
            the NPRS was a typo, the orphan visit belonged to an episode that is not part of
            this export, and the age is top-coded.
            """
        ),
        code(
            """
            outcomes.loc[typo_row, "value"] = true_value          # the paper form said so
            outcomes.to_csv(broken / "outcomes.csv", index=False)
            sessions.to_csv(broken / "sessions.csv", index=False)  # without the orphan row
            patients.loc[4, "age"] = "90+"                         # top-coded
            patients.to_csv(broken / "patients.csv", index=False)

            fixed = dn.load(broken)
            print("valid again:", dn.validate(broken).valid)
            fixed.accounting
            """
        ),
        code(
            """
            shutil.rmtree(workdir)  # the temporary copy is not needed any more
            """
        ),
        md(
            """
            ## 4. Table 1: who is in each arm?

            Table 1 describes the episodes of the two arms *before treatment*: age, sex,
            condition, chronicity, site, contraindications and every baseline measure. The
            last column is the **standardised mean difference (SMD)**: the difference between
            the arms in units of the pooled standard deviation. It does not depend on sample
            size (a p-value does), which is why it is the usual way to judge balance:

            * |SMD| < 0.1 — the arms are alike on this characteristic;
            * |SMD| ≥ 0.1 — they differ enough to matter, and a comparison of outcomes that
              ignores it may be **confounded**.
            """
        ),
        code(
            """
            table1 = describe_baseline(ds)
            table1
            """
        ),
        code(
            """
            # one SMD per characteristic: a categorical's own row (not each level), and the
            # "any" row of the contraindications
            t1 = table1.to_frame()
            has_levels = t1.loc[t1["summary"] == "categorical", "variable"]
            level_row = (t1["summary"] == "n_pct") & t1["variable"].isin(has_levels)
            other_ci = (t1["variable"] == "contraindications") & (t1["level"] != "any")
            rows = t1[~level_row & ~other_ci & t1["smd"].notna()]
            imbalanced = (rows.assign(abs_smd=rows["smd"].abs())
                          .query("abs_smd >= 0.1")
                          .sort_values("abs_smd", ascending=False)[["variable", "smd"]])
            imbalanced.round(2)
            """
        ),
        hidden(
            """
            # Check the sentence below: the combined-care arm starts with more pain and disability.
            smd = t1.set_index("variable")["smd"]
            assert smd["nprs (baseline)"] >= 0.1 and smd["odi (baseline)"] >= 0.1
            assert table1.comparator == "dn_manual_exercise"
            """
        ),
        md(
            """
            Reading it: the combined-care arm starts with *more* pain and disability. That
            is what clinic data look like — sicker patients tend to be given more treatment
            ("confounding by indication"). Keep it in mind: it is why notebook 02 adjusts
            every comparison for the baseline value, and why notebook 03 goes further.

            ## 5. Patient flow: who enters the analysis?

            Each analysis uses the episodes that have what it needs: for the primary analysis,
            a baseline NPRS *and* an NPRS at discharge. The flow diagram accounts for every
            episode on the way there — how many were in other arms, how many had no discharge
            score — so a reader can judge whether those left out could change the answer.
            """
        ),
        code(
            """
            flow = patient_flow(ds)
            flow
            """
        ),
        code(
            """
            flow.plot()  # every result with a picture has .plot()
            plt.show()
            """
        ),
        md(
            """
            Episodes without a discharge NPRS are mostly patients who stopped coming. If
            they stopped because they were better (or worse) the complete cases are not a
            fair sample of everyone treated; compare the share lost in each arm, and say it
            when you report.

            ## The answer
            """
        ),
        code(
            """
            f = flow.frame.set_index(["arm", "stage"])["n"]
            ref, comp = flow.reference, flow.comparator
            lost = {arm: 1 - f[(arm, "analysed")] / f[(arm, "in_compared_arms")] for arm in (ref, comp)}
            top = imbalanced.head(3)
            rules = ", ".join(f"{k} ×{v}" for k, v in report.warnings["rule"].value_counts().items())
            display(Markdown(
                f"**Is the export fit to analyse?** "
                f"{'Yes' if report.valid else 'No'}: {int(report.accounting['read'].sum()):,} rows in "
                f"{len(report.accounting)} tables, {len(report.problems)} contract problems and "
                f"{len(report.warnings)} data-quality warnings "
                f"({rules or 'none'}).\\n\\n"
                f"**Who can be compared?** Of {f[('all', 'loaded')]} episodes, "
                f"{f[('all', 'in_compared_arms')]} are in the two compared arms; "
                f"{f[(ref, 'analysed')]} `{ref}` and {f[(comp, 'analysed')]} `{comp}` episodes have "
                f"a baseline and a discharge NPRS and enter the primary analysis "
                f"({lost[ref]:.0%} and {lost[comp]:.0%} of each arm left out for a missing score).\\n\\n"
                f"**Are the arms alike before treatment?** {'No' if len(imbalanced) else 'Yes'}: "
                f"{len(imbalanced)} characteristics "
                f"differ with |SMD| ≥ 0.1, the largest "
                + ", ".join(f"{v} ({s:+.2f})" for v, s in zip(top["variable"], top["smd"]))
                + ". A comparison of outcomes must adjust for these (notebooks 02 and 03)."
            ))
            """
        ),
        hidden(
            """
            # Checks behind the answer: the counts add up and the flow matches the data.
            assert report.valid and report.problems.empty
            assert (report.accounting["loaded"] == report.accounting["read"]).all()
            assert f[(ref, "analysed")] + f[(comp, "analysed")] == flow.n
            pairs_ok = ds.outcomes.query("measure == 'nprs' and timepoint in ['baseline', 'discharge']")
            both = pairs_ok.groupby("episode_id")["timepoint"].nunique().eq(2)
            in_arms = ds.episodes.set_index("episode_id")["arm"].isin([ref, comp])
            assert int((both & in_arms.reindex(both.index)).sum()) == flow.n
            """
        ),
    ]


# --------------------------------------------------------------------------------------------
# 02 — compare treatments
# --------------------------------------------------------------------------------------------


def notebook_02() -> list[Cell]:
    return [
        md(
            r"""
            # 2 · Compare the treatments

            **The question.** Do episodes of low back pain treated with dry needling plus
            manual and exercise therapy (`dn_manual_exercise`) end with less pain than those
            treated with dry needling alone (`dn_only`)? By how much, how sure can we be, and
            does the answer hold for disability, for the course of pain over the visits, for
            the share of patients who improve meaningfully, for how fast they improve and for
            their use of pain medication?

            The plan of analysis ([docs/analysis-plan.md](../docs/analysis-plan.md)) fixes every step before we
            look at the results: the **primary** outcome is the NPRS (0–10 pain) at discharge,
            compared by ANCOVA; everything else is **secondary**. Fixing this in advance is what
            stops us from picking, after the fact, the analysis that looks best.

            Every effect below reads *comparator minus reference*: `dn_manual_exercise` minus
            `dn_only`. For pain and disability, lower is better, so a **negative** difference
            favours the combination.
            """
        ),
        code(
            r"""
            %matplotlib inline
            from pathlib import Path

            import matplotlib.pyplot as plt
            import pandas as pd
            import statsmodels.formula.api as smf
            from IPython.display import Markdown, display

            import dnoutcomes as dn
            from dnoutcomes.cohort import outcome_pairs
            from dnoutcomes.plots import plot_improvement
            from dnoutcomes.stats import (
                compare_ancova,
                compare_medication,
                compare_outcomes,
                compare_responders,
                compare_safety,
                compare_time_to_response,
                compare_trajectories,
                summarize_outcomes,
            )

            DATA = Path("../data/sample")
            ds = dn.load(DATA)  # the contraindicated-needling warnings of notebook 01
            REF, COMP = "dn_only", "dn_manual_exercise"
            MCID = ds.registry["nprs"].mcid_points  # minimal clinically important change
            print(f"NPRS: minimal clinically important improvement = {MCID:g} points")
            """
        ),
        md(
            r"""
            ## 1. Look at the data first

            Means and spread of the NPRS per arm at baseline and at discharge, and each
            episode's improvement (baseline minus discharge; the dashed line is the 2-point
            minimal clinically important change):
            """
        ),
        code(
            r"""
            summary = summarize_outcomes(ds, measures=["nprs"]).to_frame()
            summary.round(2)
            """
        ),
        code(
            r"""
            pairs = outcome_pairs(ds, measure="nprs", timepoint="discharge")
            plot_improvement(pairs, arms=(REF, COMP))
            plt.show()
            """
        ),
        md(
            r"""
            ## 2. Why ANCOVA, and not the change score

            There are three obvious ways to compare the arms, and on these data they give three
            different answers:

            1. **compare the discharge scores** — ignores that the arms started at different
               levels of pain;
            2. **compare the change scores** (baseline − discharge) — seems to fix that, but
               assumes that one point more pain at baseline means exactly one point more at
               discharge. It rarely does: patients who start high tend to come down further
               (regression to the mean), so the change score *over*-corrects;
            3. **ANCOVA**: discharge score = arm + *b* × baseline score. It *estimates* how
               much of the baseline carries over (the slope *b*) instead of assuming it is 0, as
               the first does, or 1, as the second does.

            ANCOVA is the recommended primary analysis of a baseline–follow-up design (Vickers
            & Altman, *BMJ* 2001;323:1123; the EMA guideline on baseline covariates, 2015): in
            a randomised trial it is unbiased and has the narrowest interval of the three, and
            when the arms differ at baseline — as they do here — it is the only one of the
            three that is not pulled by the imbalance. We fit all three with statsmodels on the
            same episodes to see it:
            """
        ),
        code(
            r"""
            complete = pairs.dropna(subset=["baseline", "value"])
            complete = complete.assign(change=complete["value"] - complete["baseline"])
            fits = {
                "1. discharge score only": smf.ols("value ~ treated", data=complete).fit(),
                "2. change score": smf.ols("change ~ treated", data=complete).fit(),
                "3. ANCOVA (adjusted for baseline)": smf.ols("value ~ treated + baseline", data=complete).fit(),
            }
            three = pd.DataFrame({
                name: {"difference": fit.params["treated"],
                       "conf_low": fit.conf_int().loc["treated", 0],
                       "conf_high": fit.conf_int().loc["treated", 1],
                       "CI width": fit.conf_int().loc["treated"].diff().iloc[-1]}
                for name, fit in fits.items()
            }).T
            slope = fits["3. ANCOVA (adjusted for baseline)"].params["baseline"]
            print(f"baseline NPRS: {REF} {complete.loc[complete.arm == REF, 'baseline'].mean():.2f}, "
                  f"{COMP} {complete.loc[complete.arm == COMP, 'baseline'].mean():.2f}; "
                  f"ANCOVA slope on baseline b = {slope:.2f} (the change score assumes 1, "
                  f"the discharge-only comparison assumes 0)")
            three.round(2)
            """
        ),
        md(
            r"""
            The combined-care arm started with more pain. Comparing discharge scores alone
            ignores that and makes the difference look small; the change score gives the
            higher-starting arm credit for all of its extra baseline pain, although only a share
            *b* of it would have carried over. ANCOVA sits between the two, where the data put
            it.

            ## 3. The primary analysis

            `compare_ancova` fits that model (OLS, `nprs_discharge ~ arm + nprs_baseline`) on
            the episodes with both values, and reports the adjusted difference with its 95 %
            confidence interval, the adjusted mean of each arm at the average baseline, and
            Hedges' *g* (the difference in standard-deviation units).
            """
        ),
        code(
            r"""
            primary = compare_ancova(ds, measure="nprs", timepoint="discharge")
            primary
            """
        ),
        code(
            r"""
            primary.adjusted_means.round(2)
            """
        ),
        hidden(
            r"""
            # The package's ANCOVA is the statsmodels fit above, to many digits.
            ancova = fits["3. ANCOVA (adjusted for baseline)"]
            # ... and the prose above holds: the combined arm started higher, the discharge-only
            # difference is the smallest, the change score the largest, ANCOVA between them.
            base = complete.groupby("arm")["baseline"].mean()
            assert base[COMP] > base[REF] and 0 < slope < 1
            d = three["difference"].abs()
            assert d.iloc[0] < d.iloc[2] < d.iloc[1]
            assert abs(primary.estimate - ancova.params["treated"]) < 1e-9
            assert abs(primary.conf_low - ancova.conf_int().loc["treated", 0]) < 1e-9
            assert primary.n == len(complete)
            """
        ),
        md(
            r"""
            ### How to read a confidence interval

            The 95 % confidence interval is the range of true differences that are compatible
            with our data. Two questions, in this order:

            1. **Does it include 0?** If not, the data are hard to reconcile with "no
               difference" (that is what *p* < 0.05 says, no more).
            2. **Where does it lie against a difference that matters?** The 2-point MCID is a
               change that matters to *one patient*; a difference between *group means* is
               naturally smaller, because it averages patients who improve a lot with patients
               who do not. A mean difference of about 1 point is often taken as worthwhile
               between treatments. If the whole interval lies below what matters, the
               treatments may differ but not by much; if it spans both, the data cannot yet
               tell.

            Not to say: "there is a 95 % probability that the true difference is in this
            interval" (it either is or is not), or "no difference" when an interval includes 0
            (say "no clear difference"; absence of evidence is not evidence of absence).
            """
        ),
        md(
            r"""
            ## 4. Secondary outcomes, with Holm's correction

            Each extra outcome tested is another chance of a false alarm: with five outcomes at
            the 5 % level, the chance that at least one is "significant" by luck alone is up to
            23 %. Holm's method adjusts the secondary p-values (`p_holm`) so that the chance of
            *any* false alarm among them stays at 5 %; it is uniformly better than Bonferroni.
            The primary outcome is not adjusted — it was fixed in advance.
            """
        ),
        code(
            r"""
            secondary = compare_outcomes(ds)
            secondary
            """
        ),
        code(
            r"""
            secondary.plot()  # each result draws its own figure
            plt.show()
            """
        ),
        md(
            r"""
            Read each row as in section 3. The ODI runs 0–100 (MCID 10 points); lumbar flexion
            and pressure pain threshold are higher-is-better, so for them a *positive* difference
            favours the combination.

            ## 5. The course of pain over the visits: a mixed model

            The ANCOVA uses two numbers per episode. The NPRS is recorded at every visit, and a
            linear mixed model uses all of them: `nprs ~ arm × weeks + (1 | episode)`. The
            *random intercept* lets each episode have its own level of pain, so that the many
            scores of one patient are not counted as independent evidence. The terms read:

            * `intercept` — mean NPRS of `dn_only` at week 0;
            * `arm` — how much higher the combined arm starts (the baseline imbalance again);
            * `weeks` — change in NPRS per week under `dn_only`;
            * `arm_x_weeks` — how much faster (negative) or slower the combined arm improves,
              per week: the number that answers our question here.
            """
        ),
        code(
            r"""
            trajectory = compare_trajectories(ds)
            trajectory
            """
        ),
        code(
            r"""
            trajectory.plot()
            plt.show()
            """
        ),
        code(
            r"""
            # How many NPRS values lie late in care, where the straight lines are least supported?
            nprs = ds.outcomes.query("measure == 'nprs' and timepoint in ['baseline', 'session', 'discharge']")
            start = ds.episodes.set_index("episode_id")["start_date"]
            weeks = (nprs["assessed_on"] - nprs["episode_id"].map(start)).dt.days / 7
            in_model = nprs["episode_id"].isin(trajectory.episodes_used)
            w = weeks[in_model]
            print(f"95 % of the {len(w)} NPRS values in the model were taken in the first "
                  f"{w.quantile(0.95):.1f} weeks of care; {int((w > 6).sum())} after week 6, "
                  f"{int((w > 8).sum())} after week 8. Model means beyond that are extrapolations.")
            below = trajectory.means.query("estimate < 0")
            for row in below.itertuples():
                print(f"The model's mean for {row.arm} at week {row.weeks:g} is {row.estimate:.2f}: "
                      f"impossible on a 0–10 scale, so the straight line does not hold that late.")
            """
        ),
        md(
            r"""
            The lines are the model's means with 95 % bands, the squares the observed mean NPRS
            of each week with their 95 % intervals; a straight line is a simplification
            (pain usually falls fastest early, and cannot fall below 0), so read the slopes as
            average rates over a course of care, and do not read the lines past the weeks where
            most of the data are.

            ## 6. Responders and the number needed to treat

            A mean difference is hard to explain to a patient. The responder analysis counts the
            episodes that improved by at least the MCID (2 NPRS points) in each arm and reports
            the risk difference, risk ratio and odds ratio, and the **number needed to treat**
            (NNT = 1 / risk difference): how many patients would need the combined care instead
            of needling alone for one more of them to reach a meaningful improvement. Its
            interval is the inverse of the risk difference's; when that interval crosses 0 the
            NNT interval runs through infinity and is said in words.
            """
        ),
        code(
            r"""
            responders = compare_responders(ds)
            responders
            """
        ),
        code(
            r"""
            responders.plot()
            plt.show()
            """
        ),
        md(
            r"""
            The curves show, for every threshold of improvement on the x-axis, the share of each
            arm that reached it — so the conclusion does not hang on the 2-point cut-off alone.
            A curve that lies above the other everywhere is a consistent difference.

            ## 7. Time to response

            How soon do patients reach a 2-point improvement? Patients who are discharged or
            stop coming before they improve are *censored*: we know only that they had not
            responded by then. The Kaplan–Meier method uses them correctly (leaving them out, or
            counting them as failures, would both bias the answer). The log-rank test compares
            the whole curves.
            """
        ),
        code(
            r"""
            time_to_response = compare_time_to_response(ds)
            time_to_response
            """
        ),
        code(
            r"""
            time_to_response.plot()
            plt.show()
            """
        ),
        md(
            r"""
            ## 8. Medication use

            For *any* opioid or analgesic use in the past week: logistic regression of use at
            discharge on arm and use at baseline, reported as an odds ratio (OR < 1 favours the
            combination); for the amounts (morphine milligram equivalents per day, analgesic
            doses per week), an ANCOVA as in section 3. Few patients use opioids, so expect wide
            intervals.
            """
        ),
        code(
            r"""
            medication = compare_medication(ds)
            medication
            """
        ),
        md(
            r"""
            Read the `model` column first. In `logistic` rows the estimate is an **odds ratio**
            (1 = no difference) and `value_reference` / `value_comparator` are the shares using
            the medication at discharge; in `ancova` rows the estimate is an adjusted
            **difference** in the amount (0 = no difference) and the two values are the
            adjusted means.
            """
        ),
        md(
            r"""
            ## 9. Safety

            Adverse events after dry-needling sessions, per 100 needling sessions in each arm,
            with exact (Poisson) 95 % intervals, and by severity: *mild* (short, reversible),
            *significant* (needed care or stopped the patient's activities), *serious*
            (hospital admission, lasting harm). Episodes needled despite a recorded
            contraindication are listed by id for the clinical lead.
            """
        ),
        code(
            r"""
            safety = compare_safety(ds)
            safety
            """
        ),
        code(
            r"""
            safety.plot(by="severity")
            plt.show()
            safety.by_severity.round(3)
            """
        ),
        md(
            r"""
            **Zero is not zero risk.** When no serious event was seen, the upper limit of its
            interval is still above 0: with *n* needling sessions and no event, the true rate
            could be as high as 3.7/*n* per session (the exact two-sided 95 % limit, which the
            `conf_high` of the `serious` rows shows per 100 sessions; the one-sided "rule of
            three", 3/*n*, is the quick version). Rare harms such as pneumothorax need far
            more sessions than one clinic's export to rule out.

            ## What to say, and what not to say

            These are **adjusted associations in routine clinic data**, not the result of a
            randomised trial. Say "episodes treated with the combination ended with *x* points
            less pain than comparable episodes treated with needling alone, adjusted for their
            baseline pain". Do not say "the combination *causes x* points less pain" until the
            comparison has been adjusted for everything that led clinicians to choose it — the
            subject of notebook 03.

            ## The answer
            """
        ),
        code(
            r"""
            def interval(lo, hi, digits=1):
                return f"95 % CI {lo:.{digits}f} to {hi:.{digits}f}"

            def p_text(p):
                return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"

            def outcomes(frame):
                return ", ".join(f"{m} at {t}" for m, t in zip(frame["measure"], frame["timepoint"]))

            # primary
            est, lo, hi = primary.estimate, primary.conf_low, primary.conf_high
            if hi < 0:
                certainty = "the interval excludes 0 (no difference)"
            elif lo > 0:
                certainty = "the interval excludes 0, in the direction of more pain"
            else:
                certainty = "the interval includes 0, so the data cannot tell the arms apart"
            worthwhile = "the 1-point difference often taken as worthwhile between treatments"
            if max(abs(lo), abs(hi)) < 1:
                size = f"smaller than {worthwhile}"
            elif abs(est) < 1:
                size = f"smaller than {worthwhile}, though the interval reaches it"
            else:
                size = f"about {worthwhile} or more"
            primary_text = (
                f"**Primary (NPRS at discharge, ANCOVA, n = {primary.n}).** Adjusted for baseline "
                f"pain, `{COMP}` episodes ended with {abs(est):.2f} points "
                f"{'less' if est < 0 else 'more'} pain than `{REF}` episodes ({interval(lo, hi, 2)}; "
                f"{p_text(primary.p_value)}; Hedges' g {primary.hedges_g:.2f}); {certainty}. "
                f"The difference is {size}."
            )
            # secondary outcomes
            sec = secondary.to_frame().query("role == 'secondary'")
            clear, unclear = sec[sec["p_holm"] < 0.05], sec[sec["p_holm"] >= 0.05]
            secondary_text = "**Secondary outcomes (Holm-adjusted).** " + (
                f"Clear after adjustment: {outcomes(clear)}. " if len(clear)
                else "None is clear after adjustment. "
            ) + (f"Not clear: {outcomes(unclear)}." if len(unclear) else "")
            # course of pain
            fixed = trajectory.table.set_index("term")
            weekly, extra = fixed.loc["weeks", "estimate"], fixed.loc["arm_x_weeks"]
            course_text = (
                f"**Course of pain.** Pain fell by {abs(weekly):.2f} points a week under `{REF}`, "
                f"and by {abs(extra['estimate']):.2f} points a week "
                f"{'more' if extra['estimate'] < 0 else 'less'} under `{COMP}` "
                f"({interval(extra['conf_low'], extra['conf_high'], 2)})."
            )
            # responders and time to response
            counts = responders.counts.set_index("arm")
            share = {arm: f"{counts.loc[arm, 'responders']} of {counts.loc[arm, 'n']} "
                          f"({counts.loc[arm, 'proportion']:.0%}) with `{arm}`" for arm in (REF, COMP)}
            responder_text = (f"**Responders (≥ {MCID:g} points).** {share[REF]} and {share[COMP]}: "
                              f"{responders.nnt_text}.")
            median = time_to_response.frame.set_index("arm")["median"]
            time_text = (
                f"**Time to response.** Median {median[REF]:.0f} days with `{REF}` and "
                f"{median[COMP]:.0f} days with `{COMP}` "
                f"(log-rank {p_text(time_to_response.logrank_p)})."
            )
            # medication
            meds = medication.to_frame()
            meds_clear = meds.loc[meds["p_value"] < 0.05, "measure"].tolist()
            medication_text = "**Medication.** " + (
                f"Clear differences in {', '.join(meds_clear)}." if meds_clear
                else "No clear difference in opioid or analgesic use or amounts at discharge "
                     "(every interval includes no difference)."
            )
            # safety
            rates = safety.table.set_index("arm")
            serious = safety.by_severity.query("severity == 'serious'")
            rate = {arm: f"{rates.loc[arm, 'rate_per_100']:.1f} with `{arm}` "
                         f"({interval(rates.loc[arm, 'conf_low'], rates.loc[arm, 'conf_high'])})"
                    for arm in (REF, COMP)}
            n_serious = int(serious["events"].sum())
            safety_text = (
                f"**Safety.** Adverse events per 100 DN sessions: {rate[REF]} and {rate[COMP]}; "
                f"{n_serious} serious events"
                + (f" (the serious-event rate could still be up to "
                   f"{serious['conf_high'].max():.2f} per 100 sessions)" if n_serious == 0 else "")
                + f"; {len(safety.contraindicated)} episodes were needled despite a recorded "
                "contraindication."
            )
            display(Markdown("\n\n".join([
                primary_text, secondary_text, course_text, responder_text, time_text,
                medication_text, safety_text,
                "These are adjusted associations in clinic data; notebook 03 asks whether "
                "confounding could explain them.",
            ])))
            """
        ),
        hidden(
            r"""
            # Checks behind the answer's wording (and section 5's: the combined arm starts higher).
            assert trajectory.table.set_index("term").loc["arm", "estimate"] > 0
            assert primary.conf_low <= primary.estimate <= primary.conf_high
            assert (primary.p_value < 0.05) == (primary.conf_high < 0 or primary.conf_low > 0)
            assert list(secondary.to_frame()["role"]).count("primary") == 1
            assert (sec["p_holm"] >= sec["p_value"] - 1e-12).all()  # Holm never lowers a p-value
            assert abs(1 / responders.frame.set_index("term").loc["risk_difference", "estimate"]
                       - responders.nnt) < 1e-9
            """
        ),
        md(
            r"""
            ## 10. Asking another question: a study protocol

            Everything above is the built-in plan. A different question (another outcome or
            timepoint, other arms, your own covariates, a measure the package does not know,
            overlap instead of inverse-probability weights) is written down once in a
            **protocol** file and run without changing any code: from the command line with
            `dnoutcomes analyze data/sample --protocol examples/protocols/odi_12w.toml`, or
            here. Every output echoes the protocol and its checksum, so a reader knows exactly
            what was asked. The format: [docs/protocols.md](../docs/protocols.md).

            This one asks about disability at the 12-week follow-up, adjusted for age,
            symptom duration and baseline pain, with overlap weights:
            """
        ),
        code(
            r"""
            protocol = dn.Protocol.from_toml("../examples/protocols/odi_12w.toml")
            print("\n".join(protocol.describe()))
            asked = dn.analyze(ds, protocol)
            asked.ancova.to_frame()[["measure", "timepoint", "n", "estimate", "conf_low", "conf_high", "p_value", "p_holm"]]
            """
        ),
        code(
            r"""
            weighted = asked.iptw.to_dict()
            print(f"Overlap-weighted ({weighted['estimand'].upper()}) difference in ODI at 12 weeks: "
                  f"{weighted['estimate']:.2f} ({interval(weighted['conf_low'], weighted['conf_high'], 2)}); "
                  f"max |SMD| after weighting {weighted['max_abs_smd_after']:.3f}.")
            print("Protocol SHA-256:", asked.to_dict()["protocol_sha256"])
            """
        ),
        hidden(
            r"""
            # The protocol's primary outcome is the same ANCOVA as asking for it by hand.
            by_hand = compare_ancova(ds, measure="odi", timepoint="followup_12w",
                                     covariates=["age", "symptom_weeks", "baseline:nprs"])
            assert abs(asked.ancova.results[0].estimate - by_hand.estimate) < 1e-12
            assert asked.ancova.results[0].covariates == ("age", "symptom_weeks", "baseline:nprs")
            assert asked.iptw.estimand == "ato"
            """
        ),
    ]


# --------------------------------------------------------------------------------------------
# 03 — confounding and sites
# --------------------------------------------------------------------------------------------


def notebook_03() -> list[Cell]:
    return [
        md(
            r"""
            # 3 · Confounding and sites

            **The question.** Notebook 02 found that episodes treated with dry needling plus
            manual and exercise therapy ended with less pain than episodes treated with
            needling alone. Could that be explained by *which patients* were given which
            treatment, rather than by the treatment? And is the difference the same at every
            clinic site?

            What you will see: why clinic data are not a trial; the propensity score; inverse
            probability of treatment weighting (IPTW) and the balance it buys (the Love plot);
            the weighted estimate beside the naive one; the E-value for what we could not
            measure; the estimate per site, pooled, in a forest plot; what to say and not to
            say; and, for missing follow-up, complete cases beside multiple imputation and
            AIPW, checked against the truth of a sample built with selective dropout.
            """
        ),
        code(
            r"""
            %matplotlib inline
            import json
            from pathlib import Path

            import matplotlib.pyplot as plt
            import pandas as pd
            from IPython.display import Markdown, display

            import dnoutcomes as dn
            from dnoutcomes.plots import arm_colour, arm_label, plot_forest
            from dnoutcomes.stats import compare_ancova, compare_iptw, compare_sites

            DATA = Path("../data/sample")
            ds = dn.load(DATA)  # the contraindicated-needling warnings of notebook 01
            REF, COMP = "dn_only", "dn_manual_exercise"
            """
        ),
        md(
            r"""
            ## 1. Why clinic data are not a trial

            In a randomised trial a coin decides who gets which treatment, so the two groups
            differ — on age, on pain, on everything measured *and unmeasured* — only by chance,
            and a difference in outcome can be put down to the treatment. In a clinic the
            physiotherapist decides, for good reasons: patients with more pain, more
            disability or longer symptoms are more often given the fuller package. This is
            **confounding by indication**: the same characteristics that steer the choice of
            treatment also affect how patients recover. Table 1 (notebook 01) showed it in these
            data: the combined arm starts with more pain and disability, longer symptoms, and a
            different mix of sites.

            The baseline-adjusted ANCOVA of notebook 02 deals with the baseline *pain*. It does
            not deal with disability, chronicity or site, which also differ between the arms and
            also predict recovery.

            ## 2. The propensity score

            The propensity score is each episode's probability of receiving the combination,
            given what we know about it before treatment: a logistic regression of the arm on
            age, sex, condition, symptom weeks, baseline NPRS, baseline ODI and site. Two
            episodes with the same score were equally likely to get either treatment — as if a
            (biased) coin had been tossed. First check **overlap**: for weighting to work, each
            arm must have episodes across the range of scores.
            """
        ),
        code(
            r"""
            iptw = compare_iptw(ds)
            w = iptw.weights
            fig, ax = plt.subplots(figsize=(7, 3.5))
            for arm in (REF, COMP):
                ax.hist(w.loc[w["arm"] == arm, "propensity"], bins=20, range=(0, 1), alpha=0.6,
                        color=arm_colour(arm), label=arm_label(arm))
            ax.set_xlabel(f"Propensity score: probability of {arm_label(COMP).lower()}")
            ax.set_ylabel("Episodes")
            ax.legend(frameon=False)
            plt.show()
            """
        ),
        md(
            r"""
            The two histograms overlap over most of the range; where one arm has (almost) no
            episodes — scores very near 0 or 1 — the data say nothing about the other
            treatment for such patients, and the few episodes there get large weights.

            ## 3. Weighting: make the arms look alike

            IPTW weights each episode by the inverse of the probability of the treatment it
            actually got (stabilised by the share of each arm, so that the weights average
            about 1). An episode that got the combination although it was unlikely to counts
            more, standing in for the similar patients who got needling alone. In the weighted
            data the arms should look alike on every covariate in the model. The **effective
            sample size** says how many unweighted episodes the weighted ones are worth:
            """
        ),
        code(
            r"""
            print(f"episodes weighted: {iptw.n}; effective sample size {REF} "
                  f"{iptw.ess_reference:.0f}, {COMP} {iptw.ess_comparator:.0f}; "
                  f"weights from {w['weight'].min():.2f} to {w['weight'].max():.2f}")
            for note in iptw.notes:
                print("note:", note)
            """
        ),
        md(
            r"""
            ### Balance and the Love plot

            For every covariate (and every level of a categorical one), the standardised mean
            difference (in absolute value) before and after weighting. The dashed line is 0.1:
            left of it a covariate counts as balanced.
            """
        ),
        code(
            r"""
            iptw.plot()  # the Love plot
            plt.show()
            """
        ),
        code(
            r"""
            balance = iptw.balance.set_index("covariate")
            print(f"largest |SMD| before weighting {balance['smd_before'].abs().max():.2f} "
                  f"({balance['smd_before'].abs().idxmax()}), after {balance['smd_after'].abs().max():.2f} "
                  f"({balance['smd_after'].abs().idxmax()})")
            balance.loc[~balance["balanced_after"]]
            """
        ),
        md(
            r"""
            A covariate still above 0.1 after weighting is usually a rare level (a handful of
            episodes) whose SMD is noisy; the notes above say which levels occur in one arm only.
            It is worth naming in a report, not a reason to distrust the whole analysis.

            ## 4. The weighted estimate beside the naive one

            The naive estimate is the ANCOVA of notebook 02 on the same episodes; the IPTW
            estimate is the same model fitted with the weights, with a robust (sandwich)
            standard error that allows for them.
            """
        ),
        code(
            r"""
            estimates = iptw.table
            estimates
            """
        ),
        code(
            r"""
            ax = plot_forest(estimates, xlabel="Difference in NPRS at discharge (points, 95% CI)")
            ax.set_title("Naive (baseline-adjusted) vs propensity-weighted estimate")
            plt.show()
            """
        ),
        md(
            r"""
            Because `data/sample` is synthetic, we can do what is never possible with real
            data: compare with the truth. The generator wrote down the true average effect of
            the combination on the NPRS at discharge for the episodes of the two arms
            (`truth.json`). On your own data, skip this cell — there is no truth file.
            """
        ),
        code(
            r"""
            truth = json.loads((DATA / "truth.json").read_text())
            true_effect = truth["effects"]["nprs@discharge"]["compared"]
            est = estimates.set_index("term")["estimate"]
            pd.DataFrame({
                "estimate": [est["naive"], est["iptw"], true_effect],
                "distance from truth": [est["naive"] - true_effect, est["iptw"] - true_effect, 0.0],
            }, index=["naive (ANCOVA, baseline NPRS)", "IPTW", "truth (generator)"]).round(2)
            """
        ),
        md(
            r"""
            ## 5. What we could not measure: the E-value

            Weighting balances only what was measured. Something unrecorded — motivation, fear
            of movement, work demands — might still differ between the arms. The **E-value**
            (VanderWeele & Ding, *Ann Intern Med* 2017) asks how strong such a hidden
            confounder would have to be to explain the whole estimate away: it would need to be
            associated with both the choice of treatment and the outcome by a risk ratio of at
            least the E-value each, over and above the measured covariates. The E-value of the
            confidence limit nearest to 0 says how strong it would need to be to make the
            interval include no difference. (For a continuous outcome the difference is first
            put on the risk-ratio scale, RR ≈ exp(0.91 × d), with d the difference in SD units.)
            """
        ),
        code(
            r"""
            print(f"E-value {iptw.e_value:.2f} for the estimate, "
                  f"{iptw.e_value_ci:.2f} for its confidence limit")
            """
        ),
        md(
            r"""
            There is no threshold that makes an E-value "large enough". Compare it with the
            strongest measured confounders: if none of them is associated with treatment and
            outcome that strongly, an unmeasured one that is would be surprising.

            ## 6. Sites: is the difference the same everywhere?

            The same ANCOVA within each site, pooled by a random-effects meta-analysis
            (DerSimonian–Laird). Random effects allow the true difference to vary between
            sites; **τ²** estimates that variance, **I²** the share of the spread between site
            estimates that is more than chance, and **Q** tests whether there is any. With
            three sites these are rough: I² = 0 % does not prove that the sites are alike.
            """
        ),
        code(
            r"""
            sites = compare_sites(ds)
            sites
            """
        ),
        code(
            r"""
            sites.plot()
            plt.show()
            """
        ),
        md(
            r"""
            A site whose interval includes 0 while the pooled one does not has not "shown no
            effect": it has fewer episodes, so its interval is wide. Judge the sites by whether
            their intervals overlap the pooled estimate, not by their p-values.

            The pooled estimate need not equal the single ANCOVA of notebook 02: each site has
            its own baseline slope, the sites are weighted by their precision, and — since the
            share of each arm differs between sites (Table 1) — comparing within sites also
            removes the part of the confounding that runs through the site.

            ## What to say, and what not to say

            **Say:** "In routine care at our clinics, episodes treated with dry needling plus
            manual and exercise therapy ended with about *x* points less pain (0–10) than
            similar episodes treated with dry needling alone, after adjusting for baseline pain,
            disability, symptom duration, condition, age, sex and site (95 % CI …). The
            difference was similar across sites. Unmeasured differences between the patients
            could explain it only if they were about as strongly related to treatment choice and
            outcome as an E-value of *e*."

            **Do not say:** "dry needling plus exercise *causes* less pain" or "is proven
            better" (this is not a trial); "no effect at site S" (a wide interval is not
            evidence of no effect); or anything about patients unlike ours (the weights only
            reach the patients the clinics actually treated).

            ## The answer
            """
        ),
        code(
            r"""
            e = iptw.table.set_index("term")
            naive, weighted = e.loc["naive"], e.loc["iptw"]
            pooled = sites.pooled
            shift = weighted["estimate"] - naive["estimate"]
            moved = ("further from 0" if abs(weighted["estimate"]) > abs(naive["estimate"]) else "toward 0")
            excludes_zero = weighted["conf_high"] < 0 or weighted["conf_low"] > 0
            hetero = ("no sign that the difference varies between sites" if pooled.q_p_value >= 0.05
                      else "signs that the difference varies between sites")
            display(Markdown("\n\n".join([
                f"**Could confounding explain the difference?** The arms differed before treatment "
                f"(largest |SMD| {iptw.balance['smd_before'].abs().max():.2f}); weighting by the propensity "
                f"score brought them to a largest |SMD| of {iptw.balance['smd_after'].abs().max():.2f}. "
                f"The weighted difference in NPRS at discharge is {weighted['estimate']:.2f} points "
                f"(95 % CI {weighted['conf_low']:.2f} to {weighted['conf_high']:.2f}), against "
                f"{naive['estimate']:.2f} ({naive['conf_low']:.2f} to {naive['conf_high']:.2f}) adjusting for "
                f"baseline pain alone: adjusting for the measured confounders moved it {abs(shift):.2f} points "
                f"{moved}, and the interval {'excludes' if excludes_zero else 'includes'} 0. "
                f"An unmeasured confounder would need a risk-ratio association of {iptw.e_value:.2f} with both "
                f"treatment and outcome to explain the estimate away ({iptw.e_value_ci:.2f} to make the "
                f"interval include 0).",
                f"**Is it the same at every site?** Pooled over {pooled.k} sites: {pooled.estimate:.2f} points "
                f"(95 % CI {pooled.conf_low:.2f} to {pooled.conf_high:.2f}); τ² = {pooled.tau2:.3f}, "
                f"I² = {pooled.i2:.0f} %, Q = {pooled.q:.2f} on {pooled.q_df} df "
                f"(p = {pooled.q_p_value:.2f}): "
                f"{hetero}, with only {pooled.k} sites to judge by.",
                f"**In the synthetic sample** the true effect is {true_effect:.2f}: the weighted estimate is "
                f"{abs(weighted['estimate'] - true_effect):.2f} points from it, the naive one "
                f"{abs(naive['estimate'] - true_effect):.2f}.",
            ])))
            """
        ),
        hidden(
            r"""
            # Checks behind the answer: the naive estimate is notebook 02's ANCOVA on the same
            # episodes, weighting improved balance, and the pooled estimate lies among the sites.
            import statsmodels.formula.api as smf
            from dnoutcomes.cohort import outcome_pairs

            used = outcome_pairs(ds, measure="nprs").set_index("episode_id").loc[list(iptw.episodes_used)]
            refit = smf.ols("value ~ treated + baseline", data=used).fit()
            assert abs(refit.params["treated"] - naive["estimate"]) < 1e-9
            assert abs(compare_ancova(ds).estimate - naive["estimate"]) < abs(shift)  # fewer episodes only
            # section 1: the combined arm starts with more pain and disability, longer symptoms,
            # and a different mix of sites
            before = iptw.balance.set_index("covariate")["smd_before"]
            assert (before[["nprs_baseline", "odi_baseline", "symptom_weeks"]] > 0.1).all()
            assert before[before.index.str.startswith("site_id=")].abs().max() > 0.1
            # the sentence on overlap: almost every episode has a score away from 0 and 1
            inside = w.groupby("arm")["propensity"].apply(lambda p: p.between(0.05, 0.95).mean())
            assert (inside > 0.9).all()
            # the sentence on covariates left unbalanced: rare levels only
            assert all("=" in c for c in balance.index[~balance["balanced_after"]])
            assert iptw.balance["smd_after"].abs().max() < iptw.balance["smd_before"].abs().max()
            assert sites.sites["estimate"].min() <= pooled.estimate <= sites.sites["estimate"].max()
            assert 0 <= pooled.i2 <= 100 and pooled.tau2 >= 0
            """
        ),
        md(
            r"""
            ## 7. Missing follow-up: complete cases, multiple imputation and AIPW

            Every estimate so far used **complete cases**: episodes with a discharge score.
            In routine care many episodes have none (the patient stopped coming). Leaving them
            out is harmless only if those who stay are like those who leave, given what the
            model adjusts for. Two remedies use what *was* recorded about the leavers:

            - **Multiple imputation (MI)** fills each missing score many times (m = 20 here)
              from a model of the scores on arm, baseline, covariates and *auxiliary*
              measures (ODI), analyses every filled-in data set and pools the results by
              Rubin's rules, so the interval carries the uncertainty of the guesses.
            - **AIPW** (augmented inverse-probability weighting) combines the propensity model
              with an outcome model per arm; it is right if either model is.

            Both assume the data are **missing at random** given what they use. In a protocol
            file, `[missing_data] method = "mi"` (and `[weighting] method = "aipw"`) puts them
            beside the complete cases in `dnoutcomes analyze` and the report.

            First on `data/sample`, where 16 % of episodes dropped out after their second
            visit, more often when that visit's pain was high (`truth.json`, `dropout`):
            """
        ),
        code(
            r"""
            from dnoutcomes.stats.aipw import compare_aipw
            from dnoutcomes.stats.mi import compare_ancova_mi

            COVARIATES = ["age", "sex", "condition", "symptom_weeks", "baseline:odi", "site_id"]


            def three_ways(data, truth, covariates):
                mi = compare_ancova_mi(data, covariates=covariates, auxiliaries=["odi"], m=20, rng=2024)
                rows = mi.table.set_index("method")
                aipw = compare_aipw(data).table.set_index("term").loc["ate"]
                table = pd.DataFrame(
                    [rows.loc["complete_case"], rows.loc["multiple_imputation"], aipw],
                    index=["complete cases (ANCOVA)", "multiple imputation (ANCOVA)", "AIPW"],
                )[["estimate", "conf_low", "conf_high"]].astype(float)
                table["n"] = [int(rows.loc["complete_case", "n"]), int(rows.loc["multiple_imputation", "n"]),
                              len(compare_aipw(data).episodes_used)]
                table["distance from truth"] = table["estimate"] - truth
                table["covers truth"] = (table["conf_low"] <= truth) & (truth <= table["conf_high"])
                return table.round(2)


            truth_sample = json.loads((DATA / "truth.json").read_text())["effects"]["nprs@discharge"]["compared"]
            on_sample = three_ways(ds, truth_sample, COVARIATES)
            on_sample
            """
        ),
        md(
            r"""
            The three agree here, all adjusted for the measured confounders, and each
            interval covers the truth (about 0.2 points away: chance, and the confounding no
            model fully removes). The sample's
            dropout depends on pain at visit 2, which the patient's baseline only partly
            predicts, and it is similar in both arms, so the complete cases are not badly
            selected. (MI with the baseline-only ANCOVA would still carry the confounding of
            sections 1–4: imputation repairs missing data, not confounding.)

            Now a sample made to show the danger: the generator's **dropout scenario**
            (`dnoutcomes.sample.baseline_dropout_params`), arms assigned as if at random, and
            dropout that depends on the baseline ODI in opposite directions in the two arms —
            patients with more disability leave the combined arm and stay in the needling-only
            arm. The completers then flatter the combination. The ANCOVA is adjusted for
            baseline pain only (as a trial's primary analysis would be); MI uses ODI as
            auxiliary and AIPW has the baseline ODI among its covariates.
            """
        ),
        code(
            r"""
            import warnings

            from dnoutcomes.sample import baseline_dropout_params, generate

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the generator's data-quality warnings
                scenario = generate(episodes=800, seed=2024, confounding=0.0, params=baseline_dropout_params())
                ds_drop = scenario.to_dataset()
            truth_drop = scenario.truth.effects["nprs@discharge"]["compared"]
            rates = scenario.truth.dropout["by_arm"]
            print("Dropout by arm: " + ", ".join(f"{a} {rates[a]:.0%}" for a in (REF, COMP)))
            on_scenario = three_ways(ds_drop, truth_drop, [])
            on_scenario
            """
        ),
        code(
            r"""
            fig, ax = plt.subplots(figsize=(7, 2.8))
            y = range(len(on_scenario))
            ax.errorbar(on_scenario["estimate"], y,
                        xerr=[on_scenario["estimate"] - on_scenario["conf_low"],
                              on_scenario["conf_high"] - on_scenario["estimate"]],
                        fmt="o", color="black", capsize=3)
            ax.axvline(truth_drop, color=arm_colour(COMP), linestyle="--", label=f"truth {truth_drop:.2f}")
            ax.set_yticks(list(y), on_scenario.index)
            ax.invert_yaxis()
            ax.set_xlabel(f"NPRS at discharge, {arm_label(COMP)} minus {arm_label(REF)}")
            ax.legend(frameon=False, loc="lower right")
            plt.show()
            """
        ),
        md(
            r"""
            One data set can be lucky or unlucky; the repository's simulation
            (`tests/test_simulation_dropout.py`, 50 such data sets, `docs/analysis-plan.md`)
            measures the pattern: complete cases off by −0.38 points on average and covering
            the truth in 54 % of data sets, MI covering it in 94 % and AIPW in 92 %.

            **Say:** "x % of episodes had no discharge score. Under multiple imputation, which
            assumes the missing scores resemble recorded ones of patients alike in arm,
            baseline and the auxiliary measures, the difference was … (complete cases: …)."
            If the two differ, say so, and show the tipping point
            (`[missing_data] tipping = true`): how much worse the missing outcomes would have
            to be than MI assumes for the conclusion to change.

            **Do not say** that MI "recovers the missing data": it cannot know about
            dropouts who differ in ways nothing recorded shows (missing *not* at random).
            """
        ),
        hidden(
            r"""
            # Checks behind the prose: the sample's three estimates lie within 0.15 of each
            # other; in the scenario the complete cases lie further from the truth than MI,
            # and dropout rose with baseline ODI in the combined arm and fell in the other.
            from dnoutcomes.cohort import outcome_pairs

            assert on_sample["estimate"].max() - on_sample["estimate"].min() < 0.15
            assert on_sample["covers truth"].all()
            assert (on_sample["distance from truth"].abs() < 0.3).all()
            d = on_scenario["distance from truth"].abs()
            assert d["complete cases (ANCOVA)"] > 2 * d["multiple imputation (ANCOVA)"]
            assert on_scenario.loc["multiple imputation (ANCOVA)", "covers truth"]
            odi = outcome_pairs(ds_drop, measure="odi")
            nprs = outcome_pairs(ds_drop, measure="nprs").set_index("episode_id")
            odi["gone"] = nprs.loc[odi["episode_id"], "value"].isna().to_numpy()
            high = odi["baseline"] > odi["baseline"].median()
            share = odi.groupby(["arm", high])["gone"].mean()
            assert share[(COMP, True)] > share[(COMP, False)] and share[(REF, True)] < share[(REF, False)]
            """
        ),
    ]


# --------------------------------------------------------------------------------------------
# 04 — the periodic QI report
# --------------------------------------------------------------------------------------------


def notebook_04() -> list[Cell]:
    return [
        md(
            r"""
            # 4 · The periodic quality-improvement report

            **The question.** How did our clinic — or one of its sites — do in this period, and
            has anything changed that needs action?

            This is the monthly (or quarterly) workflow of a quality-improvement team: load the
            latest export, look at the control charts, and write the report that is circulated.
            The next cell holds the **parameters**. Change them here, or run the notebook for
            any period and site without opening it, with papermill:

            ```
            papermill notebooks/04_periodic_report.ipynb output.ipynb --cwd notebooks \
                -p period 2025-06 -p site north
            ```

            (The same report comes from one command, `dnoutcomes report PATH --period 2025-06
            --site north --out report.html`; the notebook shows the reasoning behind it.)
            """
        ),
        code(
            r"""
            # Parameters (papermill injects new values after this cell)
            data = "../data/sample"  # the export: a folder of CSV/Parquet files or an .xlsx workbook
            period = "2025-Q3"  # a quarter (2025-Q3) or a month (2025-06)
            site = None  # None for every site, or one site_id, e.g. "north"
            out = None  # the HTML report to write; None means output/qi_report_<period>[_<site>].html
            run_time = None  # the time printed in the report; None means now, an ISO 8601 text fixes it
            """,
            tags=("parameters",),
        ),
        code(
            r"""
            %matplotlib inline
            import json
            from pathlib import Path

            import matplotlib.pyplot as plt
            import pandas as pd
            from IPython.display import Markdown, display

            import dnoutcomes as dn
            from dnoutcomes.qi import qi_charts
            from dnoutcomes.report import build_report, parse_period, write_html

            PERIOD = parse_period(period)
            where = f"site {site}" if site else "all sites"
            default_name = f"qi_report_{PERIOD.label}{'_' + site if site else ''}.html"
            report_path = Path(out) if out else Path("output") / default_name
            print(f"Reporting {PERIOD.label} ({PERIOD.start} to {PERIOD.end}), {where}; "
                  f"compared with {PERIOD.previous().label}")
            """
        ),
        md(
            r"""
            ## 1. Load and check

            Strict loading, as in notebook 01: the report is only as good as the export. The
            data-quality warnings (needling despite a recorded contraindication) are shown,
            not hidden; the report lists them for the clinical lead.
            """
        ),
        code(
            r"""
            ds = dn.load(data)
            ds.warnings.groupby("rule").size().rename("warnings").to_frame()
            """
        ),
        md(
            r"""
            ## 2. Control charts: is anything changing?

            A control chart plots one number per month with a **centre line** (the average)
            and **control limits** (about three standard deviations of the month-to-month
            variation either side). The limits show how much the number moves by chance alone
            when nothing has changed (*common-cause* variation). A **signal** of real change
            (*special-cause* variation) is any of:

            * a point **outside the limits**;
            * an unusually **long run** of points on one side of the centre line (Anhøj's rule:
              longer than log₂(n) + 3 points for n useful points);
            * **too few crossings** of the centre line.

            How to act: a signal is a reason to *look* — what changed that month at that site
            (staff, case mix, recording)? No signal means "do not react to single ups and downs":
            chasing every dip (tampering) adds variation. The charts run over the 24 months up
            to the end of the period (months before the first discharge in the data stay empty);
            each point is the episodes discharged that month.
            """
        ),
        code(
            r"""
            window = {"start": f"{PERIOD.trailing_start(24):%Y-%m}", "end": f"{PERIOD.end:%Y-%m}"}
            charts = qi_charts(ds, site=site, **window)  # the report's window: 24 months to the period's end
            fig, axes = plt.subplots(3, 1, figsize=(9, 10), constrained_layout=True)
            for chart, ax in zip((charts.i_chart, charts.p_chart, charts.u_chart), axes):
                if chart is not None:
                    chart.plot(ax=ax)
            plt.show()
            """
        ),
        code(
            r"""
            charts.summary()
            """
        ),
        md(
            r"""
            Read the summary table with the charts: `outside_limits` lists the months beyond a
            limit; `longest_run` against `longest_run_limit` and `crossings` against
            `crossings_limit` are Anhøj's rules; `runs_signal` is True when either is broken.

            A change at one site can be diluted in the chart of the whole clinic, so when the
            report covers every site we also look at each site on its own:
            """
        ),
        code(
            r"""
            sites = [site] if site else sorted(ds.patients["site_id"].unique())
            by_site = pd.concat(
                {s: qi_charts(ds, site=s, **window).summary().set_index("chart") for s in sites},
                names=["site_id"],
            )
            by_site[["outside_limits", "longest_run", "longest_run_limit", "crossings",
                     "crossings_limit", "runs_signal"]]
            """
        ),
        md(
            r"""
            `data/sample` is synthetic, and its generator built one real change into it (written
            in `truth.json`): a test of whether the charts find it. Your own export has no truth
            file, and this cell then says nothing.
            """
        ),
        code(
            r"""
            truth_file = Path(data) / "truth.json"
            if truth_file.is_file():
                shift = json.loads(truth_file.read_text())["shift"]
                print(f"Built in: at site {shift['site_id']} from {shift['from_month']}, {shift['what']}.")
                if shift["site_id"] in sites:
                    rows = by_site.loc[shift["site_id"]]
                    late = [m for months in rows["outside_limits"] for m in str(months).split(", ")
                            if m and m >= shift["from_month"]]
                    print(f"Points outside the limits at {shift['site_id']} from then on: "
                          + (", ".join(sorted(late)) if late else "none")
                          + "; runs rules over the whole window: "
                          + ("signal (" + ", ".join(rows.index[rows["runs_signal"]]) + ")"
                             if rows["runs_signal"].any() else "no signal"))
                else:
                    print(f"(Site {shift['site_id']} is not in this report.)")
            """
        ),
        md(
            r"""
            A change that is real but modest, at one site, can take months to show on a
            chart — or never cross a limit. Control charts catch large or lasting changes
            reliably; they are a screen, not a proof that nothing changed.

            ## 3. Therapists: the funnel plot

            Each therapist's share of patients who reached a 2-point improvement, against how
            many patients they discharged. The funnel narrows as numbers grow, because a share
            from many patients varies less by chance. A therapist outside the outer (99.8 %)
            limits differs by more than chance would explain — a reason for a supportive
            conversation, not a verdict: case mix is not adjusted for.
            """
        ),
        code(
            r"""
            charts.funnel.plot()
            plt.show()
            """
        ),
        md(
            r"""
            ### A fairer comparison: adjusted for case mix

            A therapist who sees older, chronic, more severe patients has fewer responders
            whatever her care. The report therefore compares each therapist with what a
            **case-mix model** expects for *her own* patients: the model (fitted on every
            site's episodes up to the end of the period, from the protocol's `[casemix]`
            variables) gives each episode an expected improvement, and each therapist gets
            her mean of **observed − expected** (0 = as expected), with a 95 % interval. The
            funnel of that adjusted indicator is drawn on the left, the raw one on the right;
            both widen their limits for the spread between therapists that chance alone does
            not explain (Spiegelhalter's overdispersion correction, φ and τ² in the titles).
            A therapist outside the raw funnel but inside the adjusted one differs because of
            *who* she treats, not *how*.
            """
        ),
        code(
            r"""
            from dnoutcomes.protocol import default_protocol
            from dnoutcomes.qi.benchmark import benchmark
            from dnoutcomes.qi.casemix import casemix_frame, fit_casemix

            spec = default_protocol().casemix  # your protocol's [casemix] table
            episodes = casemix_frame(ds, covariates=spec.covariates)
            model = fit_casemix(episodes, covariates=spec.covariates, window=(None, PERIOD.end), mcid=2.0)
            here = episodes if site is None else episodes[episodes["site_id"] == site]
            bench = benchmark(here, model, period=(PERIOD.trailing_start(24), PERIOD.end))
            print(f"{model.title}; R² = {model.fit['r_squared']:.2f}")
            bench.plot()
            plt.show()
            bench.frame[["unit", "n", "observed", "expected", "estimate", "conf_low", "conf_high"]].round(2)
            """
        ),
        md(
            r"""
            ## 4. Write the report

            `build_report` assembles the period's report — a summary page of the indicators
            with their *Making Data Count* icons (is something changing? will the target be
            met? — targets come from the protocol's `[casemix.targets]`), headline figures
            against the previous period, data quality, patient flow, caseload, Table 1, the
            comparison of the arms (naive and weighted), safety, the control charts, the
            case-mix adjusted benchmarking of therapists and sites above (`benchmark="raw"`
            gives the unadjusted funnel instead), methods and provenance — and `write_html` writes it as one self-contained HTML file (written
            to a temporary file and renamed, so an interrupted run never leaves half a report).
            Counts below 11 are suppressed in every table so that no patient can be recognised;
            that is why the file can circulate and this notebook's working charts should not.
            """
        ),
        code(
            r"""
            report = build_report(ds, period=PERIOD, site=site, run_time=run_time)
            report_path.parent.mkdir(parents=True, exist_ok=True)
            write_html(report, report_path)
            print(f"wrote {report_path}: {', '.join(section.title for section in report.sections)}")
            """
        ),
        md(
            r"""
            Open the file in a browser. Its first section says what this notebook's answer
            says, in the same words every month, so that months can be compared.

            ## The answer
            """
        ),
        code(
            r"""
            def said(chart_name, row):
                parts = []
                months = row["outside_limits"]
                months = ", ".join(months) if isinstance(months, (tuple, list)) else str(months or "")
                if months:
                    parts.append(f"a point outside the limits in {months}")
                if row["runs_signal"]:
                    parts.append(f"a run or crossing signal (longest run {row['longest_run']}, "
                                 f"limit {row['longest_run_limit']}; crossings {row['crossings']}, "
                                 f"at least {row['crossings_limit']} expected)")
                return f"the {chart_name} chart showed " + " and ".join(parts) if parts else ""

            def number(value, unit=""):
                # the report suppresses figures that could reveal a count below 11: "[c]", "<11"
                if isinstance(value, str) or pd.isna(value):
                    return f"{value} (suppressed: small numbers)" if isinstance(value, str) else "not available"
                return f"{value:.1f}{unit}"

            names = {"i_chart": "mean improvement in pain", "p_chart": "share of responders",
                     "u_chart": "adverse events per 100 DN sessions"}
            signals = [f"at {s}, {said(names[c], row)}" for (s, c), row in by_site.iterrows()
                       if said(names[c], row)]
            head = report.table("headline").frame.set_index("indicator")
            resp = head.loc[head.index.str.startswith("NPRS responders")].iloc[0]
            gain = head.loc[head.index.str.startswith("Mean NPRS improvement")].iloc[0]
            episodes = head.loc["Episodes discharged"]
            outside = list(bench.flagged())  # beyond the adjusted funnel's 99.8 % limits
            display(Markdown("\n\n".join([
                f"**{PERIOD.label}, {where}.** {number(episodes['this_period']).removesuffix('.0')} episodes "
                f"discharged (previous period {number(episodes['previous_period']).removesuffix('.0')}); "
                f"responders {number(resp['this_period'], ' %')} "
                f"(previous {number(resp['previous_period'], ' %')}); "
                f"mean NPRS improvement {number(gain['this_period'], ' points')} "
                f"(previous {number(gain['previous_period'], ' points')}). A change between two periods "
                f"is not a signal by itself: the control charts say whether it is more than chance.",
                "**Signals of change (24 months to the end of the period).** "
                + ("; ".join(signals).capitalize()[:1] + "; ".join(signals)[1:]
                   + ". Look at what changed at that site and time before acting."
                   if signals else "None: the monthly ups and downs are within what chance alone produces; "
                                   "no action is needed on the charts."),
                "**Therapists, case mix adjusted.** " + (
                    f"Outside the 99.8 % limits of the adjusted funnel: {', '.join(outside)}." if outside
                    else "No therapist lies outside the 99.8 % limits of the adjusted funnel: no one's "
                         "outcomes differ from those expected for her patients by more than chance and "
                         "the usual spread between therapists would explain."
                ),
                "**Summary page.** " + "; ".join(
                    f"{row['indicator']}: {row['variation'].lower()}"
                    for row in report.table("summary").frame.to_dict(orient="records")
                ) + ".",
                f"**Report.** Written to `{report_path}`.",
            ])))
            """
        ),
        hidden(
            r"""
            # Checks: the report is for the period and site asked for, and it exists.
            assert report.period.label == PERIOD.label and report.site == site
            assert report_path.is_file() and PERIOD.label in report_path.read_text(encoding="utf-8")
            assert set(by_site.index.get_level_values("site_id")) == set(sites)
            """
        ),
    ]


# --------------------------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------------------------

NOTEBOOKS: dict[str, Callable[[], list[Cell]]] = {
    "01_load_and_check": notebook_01,
    "02_compare_treatments": notebook_02,
    "03_confounding_and_sites": notebook_03,
    "04_periodic_report": notebook_04,
}


def make_notebook(cells: Sequence[Cell], stem: str) -> nbformat.NotebookNode:
    """Turn a cell list into a notebook with stable cell ids and the python3 kernel."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": KERNEL}
    nb.metadata["language_info"] = {"name": "python"}
    prefix = stem.split("_")[0]
    for i, cell in enumerate(cells, start=1):
        if cell["kind"] == "markdown":
            new = nbformat.v4.new_markdown_cell(cell["source"])
        else:
            new = nbformat.v4.new_code_cell(cell["source"])
        new["id"] = f"nb{prefix}-{i:02d}"
        if cell["tags"]:
            new.metadata["tags"] = list(cell["tags"])
        if cell.get("hidden"):
            new.metadata["jupyter"] = {"source_hidden": True}
        nb.cells.append(new)
    nbformat.validate(nb)
    return nb


def execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel with ``cwd`` as the working directory."""
    client = NotebookClient(
        nb,
        timeout=TIMEOUT,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(cwd)}},
        record_timing=False,
        coalesce_streams=True,
    )
    client.execute()
    return nb


def build(stem: str, *, run: bool = True, cwd: Path = HERE, out_dir: Path = HERE) -> Path:
    """Write (and run) one notebook; return its path."""
    nb = make_notebook(NOTEBOOKS[stem](), stem)
    if run:
        execute(nb, cwd)
    path = out_dir / f"{stem}.ipynb"
    nbformat.write(nb, path)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook name prefixes (default: all)")
    parser.add_argument("--no-execute", action="store_true", help="write cells without outputs")
    parser.add_argument(
        "--cwd",
        type=Path,
        default=HERE,
        help="working directory of the kernel (default notebooks/)",
    )
    args = parser.parse_args(argv)
    stems = [s for s in NOTEBOOKS if not args.names or any(s.startswith(n) for n in args.names)]
    if not stems:
        parser.error(f"no notebook matches {args.names}; known: {', '.join(NOTEBOOKS)}")
    failed = []
    for stem in stems:
        try:
            path = build(stem, run=not args.no_execute, cwd=args.cwd.resolve())
        except CellExecutionError as exc:  # the saved notebook is left as it was
            print(f"{stem}: a cell failed, nothing written:\n{exc}", file=sys.stderr)
            failed.append(stem)
            continue
        print(f"wrote {path.relative_to(HERE.parent)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
