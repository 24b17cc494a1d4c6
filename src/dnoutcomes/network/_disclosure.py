"""The disclosure check a site summary passes before it may leave the site, in the
DataSHIELD tradition: no count from 1 to ``min_cell − 1`` (nor a count of the complement,
e.g. non-responders), no model with fewer than :data:`MIN_OBS_PER_PARAMETER` observations
per parameter, and therefore no moment of a group of one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from dnoutcomes.errors import InsufficientDataError

__all__ = ["MIN_OBS_PER_PARAMETER", "DisclosureError", "check_summary"]

#: Fewest complete observations per model parameter a site's ANCOVA block may describe.
MIN_OBS_PER_PARAMETER = 10


class DisclosureError(InsufficientDataError):
    """A site summary that would disclose small counts or a near-individual statistic.

    Attributes
    ----------
    problems
        One sentence per refused statistic (site, section, statistic, value of the rule).
    """

    def __init__(self, problems: list[str], min_cell: int) -> None:
        self.problems = tuple(problems)
        shown = problems[:12]
        more = f"\n  … and {len(problems) - 12} more" if len(problems) > 12 else ""
        super().__init__(
            f"the site summary was not written: {len(problems)} statistic(s) would disclose "
            f"counts from 1 to {min_cell - 1} (min_cell = {min_cell}, the protocol's "
            "[report] min_cell) or describe too few episodes:\n  "
            + "\n  ".join(shown)
            + more
            + "\nCoarsen what is summarised (a coarser --grid-days, --no-charts, "
            "--no-trajectory, --no-medication, --no-safety, fewer covariates) or pool this "
            "site's rows with another site before summarising."
        )


def _small(value: float, min_cell: int) -> bool:
    return 0 < value < min_cell


def _count_problems(
    where: str, labels: Iterable[str], counts: Iterable[float], min_cell: int
) -> list[str]:
    return [
        f"{where}: {label} = {int(c)}"
        for label, c in zip(labels, counts, strict=True)
        if _small(c, min_cell)
    ]


def _ancova(site: str, block: Mapping[str, Any], min_cell: int, per_param: int) -> list[str]:
    where = f"site {site}, ANCOVA of {block['measure']} at {block['timepoint']}"
    problems: list[str] = []
    n = block["n"]
    problems += _count_problems(
        where,
        ["complete episodes, reference arm", "complete episodes, comparator arm"],
        n,
        min_cell,
    )
    columns = block["columns"]
    n_levels = {c["covariate"] for c in columns if c["level"] is not None}
    params = len(columns) - len(n_levels)
    total = sum(n)
    if 0 < total < per_param * params:
        problems.append(
            f"{where}: {total} complete episodes for {params} model parameters (needs at "
            f"least {per_param} per parameter, {per_param * params})"
        )
    xtx = np.asarray(block["xtx"], dtype=float)
    counted = [0, 1] + [i for i, c in enumerate(columns) if c["level"] is not None]
    names = [c["name"] for c in columns]
    for a_pos, i in enumerate(counted):
        for j in counted[a_pos:]:
            if i == j == 0:
                continue
            label = "episodes" if i == 0 else names[i]
            label += "" if j in (0, i) else f" × {names[j]}"
            problems += _count_problems(where, [f"count of {label}"], [xtx[i, j]], min_cell)
            if i == 0 and j != 1:
                problems += _count_problems(
                    where,
                    [f"count of {label} in the reference arm"],
                    [xtx[0, j] - xtx[1, j]],
                    min_cell,
                )
    return problems


def check_summary(
    blocks: Mapping[str, Mapping[str, Any]], min_cell: int, per_param: int = MIN_OBS_PER_PARAMETER
) -> None:
    """Refuse a summary whose blocks would disclose; every problem is listed.

    Parameters
    ----------
    blocks
        Site → its sections (as :func:`dnoutcomes.network.summarise` builds them).
    min_cell
        Counts from 1 to ``min_cell − 1`` are refused.
    per_param
        Fewest complete observations per model parameter.

    Raises
    ------
    DisclosureError
        Naming each statistic that would disclose.
    """
    problems: list[str] = []
    for site, block in blocks.items():
        for entry in block.get("ancova", []):
            problems += _ancova(site, entry, min_cell, per_param)
        resp = block.get("responders")
        if resp is not None:
            where = f"site {site}, responders of {resp['measure']} at {resp['timepoint']}"
            for a, arm in enumerate(("reference", "comparator")):
                n, r = resp["n"][a], resp["responders"][a]
                problems += _count_problems(
                    where,
                    [f"{arm} arm episodes", f"{arm} arm responders", f"{arm} arm non-responders"],
                    [n, r, n - r],
                    min_cell,
                )
        surv = block.get("time_to_response")
        if surv is not None:
            grid = surv["grid"]
            for key, label in (("events", "responses"), ("censored", "censored episodes")):
                for a, arm in enumerate(("reference", "comparator")):
                    bounds = [
                        f"({grid[k - 1]:g}, {grid[k]:g}] days" if k else f"[0, {grid[0]:g}] days"
                        for k in range(len(grid))
                    ]
                    problems += _count_problems(
                        f"site {site}, time to response, {arm} arm",
                        [f"{label} in {b}" for b in bounds],
                        surv[key][a],
                        min_cell,
                    )
        base = block.get("baseline")
        if base is not None:
            where = f"site {site}, Table 1"
            problems += _count_problems(
                where,
                ["episodes, reference arm", "episodes, comparator arm"],
                base["episodes"],
                min_cell,
            )
            for name, var in base["variables"].items():
                for a, arm in enumerate(("reference", "comparator")):
                    problems += _count_problems(
                        where, [f"{name} missing in the {arm} arm"], [var["missing"][a]], min_cell
                    )
                    if var["kind"] == "numeric":
                        problems += _count_problems(
                            where, [f"{name} values in the {arm} arm"], [var["n"][a]], min_cell
                        )
                        if var.get("binary"):
                            yes = var["sum"][a]
                            problems += _count_problems(
                                where,
                                [f"{name} = 1 in the {arm} arm", f"{name} = 0 in the {arm} arm"],
                                [yes, var["n"][a] - yes],
                                min_cell,
                            )
                    else:
                        problems += _count_problems(
                            where,
                            [f"{name} = {lv} in the {arm} arm" for lv in var["levels"]],
                            var["counts"][a],
                            min_cell,
                        )
        monthly = block.get("monthly")
        if monthly is not None:
            where = f"site {site}, monthly chart data"
            for month, n, r in zip(
                monthly["months"], monthly["n"], monthly["responders"], strict=True
            ):
                problems += _count_problems(
                    where,
                    [f"{month} episodes", f"{month} responders", f"{month} non-responders"],
                    [n, r, n - r],
                    min_cell,
                )
        problems += _extra_problems(site, block, min_cell, per_param)
    if problems:
        raise DisclosureError(problems, min_cell)


def _extra_problems(
    site: str, block: Mapping[str, Any], min_cell: int, per_param: int
) -> list[str]:
    """The mixed model's, medication's and safety's small cells (format version 2)."""
    problems: list[str] = []
    arms = ("reference", "comparator")
    traj = block.get("trajectory")
    if traj is not None:
        where = f"site {site}, mixed model of {traj['measure']}"
        problems += _count_problems(
            where, [f"episodes, {a} arm" for a in arms], traj["episodes"], min_cell
        )
        for a, arm in enumerate(arms):
            problems += _count_problems(
                where,
                [f"episodes with {n} values, {arm} arm" for n in traj["sizes"]],
                traj["clusters"][a],
                min_cell,
            )
        problems += _count_problems(
            where,
            [f"values at week {w}" for w in traj["observed"]["weeks"]],
            traj["observed"]["n"],
            min_cell,
        )
    med = block.get("medication")
    if med is not None:
        for entry in med["use"]:
            where = f"site {site}, {entry['measure']} at {med['timepoint']}"
            labels, values = [], []
            for a, arm in enumerate(arms):
                for b in (0, 1):
                    for u in (0, 1):
                        labels.append(f"{arm} arm, baseline use {b}, use {u}")
                        values.append(entry["counts"][a][b][u])
            problems += _count_problems(where, labels, values, min_cell)
        for entry in med["doses"]:
            problems += _ancova(site, entry, min_cell, per_param)
    safety = block.get("safety")
    if safety is not None:
        where = f"site {site}, safety"
        for key in (
            "episodes",
            "dn_sessions",
            "contraindicated_episodes",
            "events",
            "other_events",
        ):
            if key in safety:
                problems += _count_problems(
                    where,
                    [f"{key.replace('_', ' ')}, {a} arm" for a in arms],
                    safety[key],
                    min_cell,
                )
        for column in ("type", "severity", "reporter"):
            for level, pair in safety.get(f"by_{column}", {}).items():
                problems += _count_problems(
                    where, [f"events of {column} {level}, {a} arm" for a in arms], pair, min_cell
                )
    return problems
