"""Turn the generated arrays into the data contract's raw tables (Arrow tables).

Text columns are built with Arrow kernels (``take`` of a small dictionary, zero-padded
numbers) so a million episodes never become Python strings one by one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from dnoutcomes.sample._course import DISCHARGE_MEASURES, FOLLOWUP_MEASURES, Course
from dnoutcomes.sample._params import (
    AE_TYPES,
    ARMS,
    CONDITIONS,
    CONTRAINDICATIONS,
    MUSCLES,
    SEXES,
    SampleParams,
)
from dnoutcomes.sample._people import BoolArray, Calendar, Episodes, IntArray, Patients, Visits

__all__ = ["build_tables", "ids"]

_EPOCH = np.datetime64("1970-01-01", "D")
_SEVERITIES = ("mild", "significant", "serious")
_REPORTERS = ("patient", "clinician")
_MODALITIES = ("heat", "tens", "ice", "ultrasound")
_MEASURE_ORDER = ("nprs", *DISCHARGE_MEASURES[1:])
_TIMEPOINTS = ("baseline", "session", "discharge", "followup_12w")


def ids(prefix: str, count: int, *, min_width: int = 6) -> pa.Array:
    """``prefix`` + 1-based zero-padded numbers: ``P000001``… (letters first, so never a
    telephone number to the de-identification screen)."""
    width = max(min_width, len(str(count)))
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, count + 1)), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _take(
    names: tuple[str, ...] | list[str] | pa.Array,
    codes: npt.NDArray[np.integer],
    missing: BoolArray | None = None,
) -> pa.Array:
    """A text column ``names[codes]``, empty where ``missing``.

    Categories (a tuple of names) become dictionary-encoded columns: small integer codes
    into the names, which keeps a million-episode export small in memory and lets Parquet
    write it compactly (CSV gets the plain text). Foreign keys (``names`` an Arrow array of
    ids) become plain text."""
    dictionary = names if isinstance(names, pa.Array) else pa.array(list(names), pa.string())
    if missing is None:
        indices = pa.array(codes.astype(np.int32))
    else:
        indices = pa.array(np.where(missing, 0, codes).astype(np.int32), mask=missing)
    if isinstance(names, pa.Array):
        # ids: a dictionary as long as the table makes Parquet's writer crawl; plain text
        return pc.take(dictionary, indices)
    return pa.DictionaryArray.from_arrays(indices, dictionary)


def _dates(day0: np.datetime64, days: IntArray) -> pa.Array:
    base = int((day0 - _EPOCH) / np.timedelta64(1, "D"))
    return pa.array((base + days).astype(np.int32)).cast(pa.date32())


def _bool(values: BoolArray, missing: BoolArray | None = None) -> pa.Array:
    # With a mask pyarrow packs the bits in C; without one it walks the array in Python.
    mask = np.zeros(len(values), dtype=bool) if missing is None else missing
    return pa.array(values, type=pa.bool_(), mask=mask)


def build_tables(
    rng: np.random.Generator,
    p: SampleParams,
    *,
    pats: Patients,
    eps: Episodes,
    visits: Visits,
    course: Course,
    cal: Calendar,
    sites: tuple[str, ...],
) -> tuple[dict[str, pa.Table], dict[str, object]]:
    """The five raw tables, and counts the truth reports (AEs, contraindicated needling)."""
    n_pat = len(pats.site)
    n = len(eps.arm)
    patient_ids = ids("P", n_pat)
    episode_ids = ids("E", n)

    age_text = pc.cast(pa.array(pats.age), pa.string())
    patients = pa.table(
        {
            "patient_id": patient_ids,
            "site_id": _take(sites, pats.site),
            "sex": _take(SEXES, pats.sex),
            "age": pc.if_else(_bool(pats.age >= 90), "90+", age_text),
            "condition": _take(CONDITIONS, pats.condition),
            "symptom_weeks": pa.array(pats.symptom_weeks),
            "contraindications": _take(
                CONTRAINDICATIONS, pats.contraindication, pats.contraindication < 0
            ),
        }
    )

    # --- sessions (attended visits only) ---------------------------------------------------
    keep = np.flatnonzero(course.attended)
    ep = visits.episode[keep]
    idx = visits.index[keep]
    day = visits.day[keep]
    arm = eps.arm[ep]
    s = len(keep)
    first = idx == 0
    # ten uniforms per visit, drawn one row at a time (the same stream as one (10, s)
    # block) and turned into flags or codes at once so only small arrays stay alive
    r = rng.random(s)
    dn_u_combo, dn_u_other = r < 0.85, r < 0.8
    r = rng.random(s)
    manual_u_combo, manual_u_me = r < 0.7, r < 0.8
    exercise_u = rng.random(s) < 0.9
    two_muscles = rng.random(s) < 0.45
    modality = np.searchsorted(np.cumsum([0.2, 0.1, 0.05, 0.03]), rng.random(s), side="right")
    duration = np.choose(
        np.minimum((rng.random(s) * 10).astype(np.int64) // 4, 2), [30.0, 45.0, 60.0]
    )
    twitch, estim, postural, educ = (rng.random(s) < q for q in (0.6, 0.2, 0.3, 0.4))
    del r
    is_dn_only, is_combo, is_me = arm == 0, arm == 1, arm == 2
    # mixed care: half "needling + exercise, no manual", half "manual therapy only"
    other_dn = (eps.patient[ep] % 2 == 0) & (arm == 3)
    other_manual = (arm == 3) & ~other_dn
    dn = is_dn_only | (is_combo & (first | dn_u_combo)) | (other_dn & (first | dn_u_other))
    manual = (is_combo & (first | manual_u_combo)) | (is_me & (first | manual_u_me)) | other_manual
    exercise = ((is_combo | is_me) & (first | exercise_u)) | other_dn
    needles = np.where(dn, 1 + np.minimum(rng.poisson(5.0, s), 29), 0)
    depth = np.round(np.clip(rng.normal(45.0, 12.0, s), 10, 90))
    m1 = rng.integers(0, len(MUSCLES), s)
    m2 = (m1 + 1 + rng.integers(0, len(MUSCLES) - 1, s)) % len(MUSCLES)
    # muscle lists: one muscle, or two different ones joined by ";"
    pairs = [f"{a};{b}" for a in MUSCLES for b in MUSCLES]
    muscle_code = np.where(two_muscles, len(MUSCLES) + m1 * len(MUSCLES) + m2, m1)
    no_dn = ~dn
    session_ids = ids("S", s, min_width=7)
    sessions = pa.table(
        {
            "session_id": session_ids,
            "episode_id": _take(episode_ids, ep),
            "session_date": _dates(cal.start, eps.start_day[ep] + day),
            "dn_performed": _bool(dn),
            "needles": pa.array(needles.astype(np.int64)),
            "max_depth_mm": pa.array(depth, mask=no_dn),
            "muscles": _take([*MUSCLES, *pairs], muscle_code, no_dn),
            "twitch_response": _bool(twitch, no_dn),
            "electrical_stimulation": _bool(estim, no_dn),
            "manual_therapy": _bool(manual),
            "exercise_therapy": _bool(exercise),
            "postural_correction": _bool(postural),
            "pain_education": _bool(first | educ),
            "modalities": _take((*_MODALITIES, "none"), modality, modality == 4),
            "duration_min": pa.array(duration),
        }
    )

    # --- episodes -------------------------------------------------------------------------
    end_visit = eps.first_visit + course.last_visit
    improvement = eps.nprs0 - course.observed.values["nprs"]
    rr = rng.random((3, n))
    reason = np.where(
        improvement >= 2,
        np.where(rr[0] < 0.9, 0, 4),
        np.where(rr[0] < 0.6, 1, np.where(rr[0] < 0.9, 3, 4)),
    )
    reason = np.where(course.completed, reason, 2)
    reason_missing = np.where(course.completed, rr[1] < 0.03, rr[1] < 0.15)
    declared = rr[2] < p.arm_declared_share
    therapist_names = [f"{site}_pt{k + 1}" for site in sites for k in range(p.therapists_per_site)]
    episodes = pa.table(
        {
            "episode_id": episode_ids,
            "patient_id": _take(patient_ids, eps.patient),
            "therapist_id": _take(therapist_names, eps.therapist),
            "start_date": _dates(cal.start, eps.start_day),
            "end_date": _dates(cal.start, eps.start_day + visits.day[end_visit]),
            "arm": _take(ARMS, eps.arm, ~declared),
            "discharge_reason": _take(
                ("goals_met", "plateau", "self_discharged", "referred_out", "other"),
                reason,
                reason_missing,
            ),
        }
    )

    outcomes = _outcomes(rng, p, eps, visits, course, cal, keep, session_ids, episode_ids)
    adverse, ae_counts = _adverse_events(rng, p, dn, session_ids)
    dn_eps = np.bincount(ep[dn], minlength=n) > 0
    contraindicated = np.flatnonzero(dn_eps & eps.contraindicated)
    extra: dict[str, object] = {
        "dn_sessions": int(dn.sum()),
        "sessions": int(s),
        "adverse_events": ae_counts,
        "contraindicated_dn_episodes": pc.take(episode_ids, pa.array(contraindicated)).to_pylist(),
    }
    tables = {
        "patients": patients,
        "episodes": episodes,
        "sessions": sessions,
        "outcomes": outcomes,
        "adverse_events": adverse,
    }
    return tables, extra


def _outcomes(
    rng: np.random.Generator,
    p: SampleParams,
    eps: Episodes,
    visits: Visits,
    course: Course,
    cal: Calendar,
    keep: IntArray,
    session_ids: pa.Array,
    episode_ids: pa.Array,
) -> pa.Table:
    """Long outcomes: NPRS at every attended visit; the other measures at baseline and
    discharge (each missing with ``measure_missing_share``); NPRS and ODI at 12 weeks."""
    n = len(eps.arm)
    session_of_visit = np.full(len(visits.index), -1, dtype=np.int64)
    session_of_visit[keep] = np.arange(len(keep))
    # NPRS at visits: baseline at the first, discharge at the last for completers
    ep = visits.episode[keep]
    idx = visits.index[keep]
    tp = np.where(idx == 0, 0, np.where(course.completed[ep] & (idx == eps.planned[ep] - 1), 2, 1))
    blocks_ep = [ep]
    blocks_day = [visits.day[keep]]
    blocks_tp = [tp]
    blocks_measure = [np.zeros(len(keep), dtype=np.int64)]
    blocks_value = [course.nprs_visit[keep]]
    blocks_session = [np.arange(len(keep))]

    baseline = {
        "odi": eps.odi0,
        "lumbar_flexion_deg": eps.flexion0,
        "ppt_kg_cm2": eps.ppt0,
        "analgesic_use": eps.analgesic0.astype(np.float64),
        "opioid_use": eps.opioid0.astype(np.float64),
        "analgesic_doses_week": eps.doses0,
        "opioid_mme_day": eps.mme0,
    }
    done = np.flatnonzero(course.completed)
    first_session = session_of_visit[eps.first_visit]
    last_session = session_of_visit[eps.first_visit + eps.planned - 1]
    # medication pairs go missing together (one question about the past week)
    pair = {"analgesic_doses_week": "analgesic_use", "opioid_mme_day": "opioid_use"}
    for tp_code, rows, values, session in (
        (0, np.arange(n), baseline, first_session),
        (2, done, course.observed.values, last_session[done]),
    ):
        missing_of: dict[str, BoolArray] = {}
        for measure in _MEASURE_ORDER[1:]:
            if measure in pair:
                missing = missing_of[pair[measure]]
            else:
                missing = rng.random(len(rows)) < p.measure_missing_share
            missing_of[measure] = missing
            present = ~missing
            blocks_ep.append(rows[present])
            day = eps.last_day[rows] if tp_code == 2 else np.zeros(len(rows), dtype=np.int64)
            blocks_day.append(day[present])
            blocks_tp.append(np.full(int(present.sum()), tp_code))
            blocks_measure.append(np.full(int(present.sum()), _MEASURE_ORDER.index(measure)))
            vals = values[measure] if tp_code == 0 else values[measure][rows]
            blocks_value.append(vals[present])
            blocks_session.append(session[present])
    fu = np.flatnonzero(course.followed)
    for measure in FOLLOWUP_MEASURES:
        blocks_ep.append(fu)
        blocks_day.append(course.followup_day[fu])
        blocks_tp.append(np.full(len(fu), 3))
        blocks_measure.append(np.full(len(fu), _MEASURE_ORDER.index(measure)))
        blocks_value.append(course.observed.followup[measure][fu])
        blocks_session.append(np.full(len(fu), -1))

    # One sort key holds episode, day and measure (unique per row), so those three come
    # back from the sorted key itself and only the other columns need permuting. Blocks
    # are released as soon as they are merged: a million episodes make 20 million rows.
    key = np.concatenate(blocks_ep).astype(np.int64, copy=False)
    del blocks_ep
    key <<= 16
    part = np.concatenate(blocks_day).astype(np.int64, copy=False)
    del blocks_day
    part <<= 4
    key |= part
    key |= np.concatenate(blocks_measure)
    del blocks_measure, part
    order = np.argsort(key, kind="stable")
    key = key[order]
    o_ep = (key >> 16).astype(np.int32)
    o_day = ((key >> 4) & 0xFFF).astype(np.int32)
    o_measure = (key & 0xF).astype(np.int8)
    del key
    o_tp = np.concatenate(blocks_tp).astype(np.int8)[order]
    o_session = np.concatenate(blocks_session).astype(np.int32)[order]
    o_value = np.concatenate(blocks_value)[order]
    del order, blocks_tp, blocks_session, blocks_value
    return pa.table(
        {
            "episode_id": _take(episode_ids, o_ep),
            "session_id": _take(session_ids, o_session, o_session < 0),
            "assessed_on": _dates(cal.start, eps.start_day[o_ep] + o_day),
            "timepoint": _take(_TIMEPOINTS, o_tp),
            "measure": _take(_MEASURE_ORDER, o_measure),
            "value": pa.array(o_value),
        }
    )


def _adverse_events(
    rng: np.random.Generator, p: SampleParams, dn: BoolArray, session_ids: pa.Array
) -> tuple[pa.Table, dict[str, dict[str, int]]]:
    """Adverse events after DN sessions: one Bernoulli draw per DN session, type and
    severity at the published per-session rate (a session may have several events)."""
    dn_rows = np.flatnonzero(dn)
    sess: list[IntArray] = []
    types: list[IntArray] = []
    sevs: list[IntArray] = []
    counts: dict[str, dict[str, int]] = {}
    for sev, rates in enumerate((p.ae_mild, p.ae_significant, p.ae_serious)):
        counts[_SEVERITIES[sev]] = {}
        for name in AE_TYPES:
            rate = rates.get(name, 0.0)
            if rate <= 0:
                continue
            hit = dn_rows[rng.random(len(dn_rows), dtype=np.float32) < rate]
            counts[_SEVERITIES[sev]][name] = int(len(hit))
            sess.append(hit)
            types.append(np.full(len(hit), AE_TYPES.index(name)))
            sevs.append(np.full(len(hit), sev))
    e_sess = np.concatenate(sess).astype(np.int64)
    e_type = np.concatenate(types).astype(np.int64)
    e_sev = np.concatenate(sevs).astype(np.int64)
    order = np.lexsort((e_sev, e_type, e_sess))
    e_sess, e_type, e_sev = e_sess[order], e_type[order], e_sev[order]
    m = len(e_sess)
    reporter = (rng.random(m) >= p.ae_patient_reported).astype(np.int64)
    scale = np.array([1.0, 6.0, 30.0])[e_sev]
    resolved = np.round(np.minimum(rng.exponential(1.0, m) * scale + 0.5 * (e_sev > 0), 365))
    table = pa.table(
        {
            "event_id": ids("AE", m),
            "session_id": _take(session_ids, e_sess),
            "type": _take(AE_TYPES, e_type),
            "severity": _take(_SEVERITIES, e_sev),
            "reporter": _take(_REPORTERS, reporter),
            "resolved_days": pa.array(resolved),
        }
    )
    return table, counts
