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

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

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
            from dnoutcomes.plots import plot_flow
            from dnoutcomes.stats.descriptives import describe_baseline

            pd.set_option("display.max_colwidth", 200)
            DATA = Path("../data/sample")  # a folder of CSV files; an .xlsx workbook works too
            """
        ),
        md(
            """
            ## 1. Validate: does the export follow the contract?

            `dn.validate()` reads every table and checks every row against the data contract
            (`shared/design/data-contract.md`): required columns, allowed values and ranges,
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
            # Check: quarantine accounts for every row, and the cascade took whole episodes.
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
            t1 = table1.to_frame()
            rows = t1[(t1["summary"] != "n_pct") & t1["smd"].notna()]
            imbalanced = (rows.assign(abs_smd=rows["smd"].abs())
                          .query("abs_smd >= 0.1")
                          .sort_values("abs_smd", ascending=False)[["variable", "smd"]])
            imbalanced
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
            plot_flow(flow)
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
            display(Markdown(
                f"**Is the export fit to analyse?** "
                f"{'Yes' if report.valid else 'No'}: {int(report.accounting['read'].sum()):,} rows in "
                f"{len(report.accounting)} tables, {len(report.problems)} contract problems and "
                f"{len(report.warnings)} data-quality warnings "
                f"({', '.join(f'{k} ×{v}' for k, v in report.warnings['rule'].value_counts().items()) or 'none'}).\\n\\n"
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
# The builder
# --------------------------------------------------------------------------------------------

NOTEBOOKS: dict[str, Callable[[], list[Cell]]] = {
    "01_load_and_check": notebook_01,
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
    for stem in stems:
        path = build(stem, run=not args.no_execute, cwd=args.cwd.resolve())
        print(f"wrote {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
