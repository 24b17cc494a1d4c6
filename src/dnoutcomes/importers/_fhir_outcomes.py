"""The outcomes of a FHIR import: Observations and QuestionnaireResponse items → long rows.

Episode of a measurement: the episode of its ``encounter`` when that is a session of the
bundle; otherwise the patient's (``subject``) episode with the latest start on or before
30 days after the measurement (the contract's window starts 30 days before an episode).

Timepoint, the first that applies: (1) the extension ``[outcomes] timepoint_extension``
(a code, translated by ``[outcomes.timepoints]`` when listed there); (2) a ``category``
coding listed in ``[outcomes.timepoints]``; (3) unless ``timing = false``, the timing
rule: on or before the episode start → ``baseline``; on the episode's end date →
``discharge``; after it → the follow-up (4, 12, 26 or 52 weeks) nearest to the weeks since
the start; otherwise ``session``.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.importers._fhir_read import MALFORMED, code_of, date_of, extension_value, number_of
from dnoutcomes.importers._result import contract_frame

if TYPE_CHECKING:
    from dnoutcomes.importers.fhir import _Run

__all__ = ["outcome_rows", "timing_timepoints"]

_FOLLOWUPS = np.array([4, 12, 26, 52])


def _when(r: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = r.get(key)
        if isinstance(value, dict):
            value = value.get("start")
        found = date_of(value)
        if found:
            return found
    return None


def _items(items: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            out.append(item)
            out += _items(item.get("item"))
            for answer in item.get("answer") or []:
                if isinstance(answer, dict):
                    out += _items(answer.get("item"))
    return out


def timing_timepoints(date: pd.Series, start: pd.Series, end: pd.Series) -> pd.Series:
    """The timing rule (module docstring) for dates of measurements of episodes.

    Examples
    --------
    >>> d = pd.to_datetime(pd.Series(["2024-01-01", "2024-01-08", "2024-02-01",
    ...                                "2024-03-20", "2024-01-05"]))
    >>> s = pd.to_datetime(pd.Series(["2024-01-01"] * 5))
    >>> e = pd.to_datetime(pd.Series(["2024-02-01"] * 4 + [None]))
    >>> timing_timepoints(d, s, e).tolist()
    ['baseline', 'session', 'discharge', 'followup_12w', 'session']
    """
    weeks = (date - start).dt.days.to_numpy() / 7
    nearest = _FOLLOWUPS[np.abs(weeks[:, None] - _FOLLOWUPS[None, :]).argmin(axis=1)]
    follow = np.char.add(np.char.add("followup_", nearest.astype(str)), "w")
    out = np.where(date > end, follow, "session")
    out = np.where(date == end, "discharge", out)
    out = np.where(date <= start, "baseline", out)
    return pd.Series(out, index=date.index, dtype="str")


def outcome_rows(
    run: _Run, e: pd.DataFrame, episode_ids: pd.Series, session_ids: pd.Series, s: pd.DataFrame
) -> pd.DataFrame:
    """The outcomes table of a FHIR import (see the module docstring for the rules)."""
    observations = run.map("outcomes", "observations")
    link_ids = run.map("outcomes", "questionnaire_items")
    timepoints = run.map("outcomes", "timepoints")
    url = run.text("outcomes", "timepoint_extension")
    timing = run.m["outcomes"].get("timing", True)
    session_episode = {str(k): str(v) for k, v in s["episode"].items()} if len(s) else {}
    rows: list[tuple[Any, ...]] = []
    unmapped: Counter[str] = Counter()

    def context(r: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
        enc = run.b.resolve(r.get("encounter"))
        session = enc if enc in session_episode else None
        episode = session_episode[session] if session else None
        tp = extension_value(r, url)
        if tp is None:
            tp = code_of(r.get("category"), timepoints)[0]
        else:
            tp = timepoints.get(tp, tp)
        return session, episode, tp

    for i, r in enumerate(run.live("Observation")):
        try:
            measure, code = code_of(r.get("code"), observations)
            if measure is None:
                unmapped[f"Observation {code or '(no code)'}"] += 1
                continue
            session, episode, tp = context(r)
            when = _when(r, "effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued")
            rows.append(
                (
                    run.b.resolve(r.get("subject")),
                    episode,
                    session,
                    when,
                    tp,
                    measure,
                    number_of(r),
                    "Observation",
                    i,
                )
            )
        except MALFORMED:  # an element of the wrong JSON type
            run.malformed["Observation"] += 1
    for j, r in enumerate(run.live("QuestionnaireResponse")):
        try:
            found = [
                (link_ids[i["linkId"]], i)
                for i in _items(r.get("item"))
                if isinstance(i.get("linkId"), str) and i["linkId"] in link_ids
            ]
            if not found:
                unmapped["QuestionnaireResponse (no mapped linkId)"] += 1
                continue
            session, episode, tp = context(r)
            when = _when(r, "authored")
            for measure, item in found:
                answers = item.get("answer") or [{}]
                rows.append(
                    (
                        run.b.resolve(r.get("subject")),
                        episode,
                        session,
                        when,
                        tp,
                        measure,
                        number_of(answers[0]),
                        "QuestionnaireResponse",
                        j,
                    )
                )
        except MALFORMED:  # an element of the wrong JSON type
            run.malformed["QuestionnaireResponse"] += 1
    for code, n in unmapped.items():
        run.issues.add(
            "unmapped_code",
            "outcomes",
            code,
            n,
            f"{code}: {n} resource(s) with a code or linkId in no [outcomes] table; not used",
        )
    cols = ["patient", "episode", "session", "date", "timepoint", "measure", "value", "kind", "res"]
    o = pd.DataFrame(rows, columns=cols)
    o["order"] = np.arange(len(o))
    # the patient's episode by date, where no session gave it
    need = o["episode"].isna() & o["patient"].notna() & o["date"].notna()
    if need.any():
        left = o[need].assign(_at=pd.to_datetime(o["date"]) + pd.Timedelta(days=30))
        right = e.assign(_at=pd.to_datetime(e["start_date"]))[["patient", "key", "_at"]]
        matched = pd.merge_asof(
            left.sort_values("_at"),
            right.sort_values("_at"),
            on="_at",
            by="patient",
            direction="backward",
        )
        o.loc[matched["order"].to_numpy(), "episode"] = matched["key"].to_numpy()
    bad = o["episode"].isna() | o["date"].isna() | o["value"].isna()
    run.problem(
        "skipped_rows",
        "outcomes",
        "Observation / QuestionnaireResponse",
        int(bad.sum()),
        f"{int(bad.sum())} measurement(s) without an episode (no session encounter and "
        "no episode of the subject started by 30 days after), a date or a value; "
        "skipped",
    )
    o = o[~bad]
    ep = e.set_index("key").loc[o["episode"]]
    need_tp = o["timepoint"].isna()
    if need_tp.any() and timing is not False:
        rule = timing_timepoints(
            pd.to_datetime(o["date"]),
            pd.to_datetime(ep["start_date"]).set_axis(o.index),
            pd.to_datetime(ep["end_date"]).set_axis(o.index),
        )
        o["timepoint"] = o["timepoint"].fillna(rule)
    no_tp = o["timepoint"].isna()
    run.problem(
        "skipped_rows",
        "outcomes",
        "timepoint",
        int(no_tp.sum()),
        f"{int(no_tp.sum())} measurement(s) without a timepoint (timing = false); skipped",
    )
    o = o[~no_tp]
    for kind, n in o.groupby("kind")["res"].nunique().items():
        run.used[str(kind)] += int(n)
    return contract_frame(
        "outcomes",
        {
            "episode_id": o["episode"].map(episode_ids),
            "session_id": o["session"].map(session_ids).fillna(""),
            "assessed_on": o["date"],
            "timepoint": o["timepoint"],
            "measure": o["measure"],
            "value": o["value"],
        },
    )
