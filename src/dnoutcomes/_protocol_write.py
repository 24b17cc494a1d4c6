"""Writing a study protocol: the plain structure (``to_dict``), TOML text (plain, or the
commented built-in file that ``dnoutcomes protocol init`` prints) and a description in
words for the report's methods section."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from dnoutcomes._protocol_casemix import casemix_dict, casemix_toml, describe_casemix
from dnoutcomes._protocol_specs import CaseMixSpec
from dnoutcomes._protocol_values import _value

if TYPE_CHECKING:
    from dnoutcomes._protocol_specs import OutcomeSpec
    from dnoutcomes.protocol import Protocol

__all__ = ["checksum", "describe", "to_dict", "to_toml"]


def _outcome(spec: OutcomeSpec, *, secondary: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "measure": spec.measure,
        "timepoint": spec.timepoint,
        "covariates": None if spec.covariates is None else list(spec.covariates),
    }
    if secondary:
        out["optional"] = bool(spec.optional)
    elif out["covariates"] is None:
        out["covariates"] = []
    return out


def _float(value: float | None) -> float | None:
    """A float with -0.0 as 0.0 (one canonical zero for the checksum)."""
    return None if value is None else float(value) + 0.0


def to_dict(p: Protocol) -> dict[str, Any]:
    """The protocol as the TOML file's structure, every default filled in (``None`` where a
    setting means "the primary outcome's"), except the routine-care settings (the tables
    ``missing_data``, ``mmrm``, ``clustering`` and the keys they added to ``trajectory``,
    ``time_to_response`` and ``weighting``), which appear only when they differ from their
    defaults, so that a protocol using none of them reads as it did before they existed;
    JSON-ready."""
    return _settings(_full_dict(p), _defaults())


def _full_dict(p: Protocol) -> dict[str, Any]:
    """:func:`to_dict` with every routine-care setting filled in too."""
    tr, md = p.trajectory, p.missing_data
    return {
        "title": p.title,
        "arms": {"reference": p.reference, "comparator": p.comparator},
        "measures": [
            {
                "name": m.name,
                "label": m.label,
                "unit": m.unit,
                "low": _float(m.low),
                "high": _float(m.high),
                "integer": bool(m.integer),
                "direction": m.direction,
                "mcid_points": _float(m.mcid_points),
                "mcid_percent": _float(m.mcid_percent),
                "responder_values": [_float(v) for v in m.responder_values],
            }
            for m in p.measures
        ],
        "primary": _outcome(p.primary, secondary=False),
        "secondary": [_outcome(s, secondary=True) for s in p.secondary],
        "responders": {
            "measure": p.responders.measure,
            "timepoint": p.responders.timepoint,
            "definition": p.responders.definition,
            "percent": _float(p.responders.percent),
        },
        "trajectory": {
            "measure": tr.measure,
            "timepoints": list(tr.timepoints),
            "random_slopes": bool(tr.random_slopes),
            "time": tr.time,
            "spline_df": int(tr.spline_df),
            "contrast_weeks": [_float(w) for w in tr.contrast_weeks],
            "extrapolate": bool(tr.extrapolate),
        },
        "time_to_response": {
            "measure": p.time_to_response.measure,
            "timepoints": list(p.time_to_response.timepoints),
            "cox": bool(p.time_to_response.cox),
            "rmst_horizon": _float(p.time_to_response.rmst_horizon),
        },
        "weighting": {
            "estimand": p.weighting.estimand,
            "covariates": list(p.weighting.covariates),
            "method": p.weighting.method,
            "trim": _float(p.weighting.trim),
        },
        "medication": {"timepoint": p.medication.timepoint},
        "report": {"min_cell": int(p.report.min_cell)},
        "casemix": casemix_dict(p.casemix),
        "deidentification": {"allow_columns": list(p.allow_columns)},
        "missing_data": {
            "method": md.method,
            "m": int(md.m),
            "maxit": int(md.maxit),
            "seed": int(md.seed),
            "auxiliaries": list(md.auxiliaries),
            "tipping": bool(md.tipping),
            "tipping_shifted": md.tipping_shifted,
            "tipping_deltas": [_float(d) for d in md.tipping_deltas],
        },
        "mmrm": {"enabled": bool(p.mmrm.enabled), "visits": list(p.mmrm.visits), "df": p.mmrm.df},
        "clustering": {"cluster": p.clustering.cluster, "type": p.clustering.type},
    }


#: The tables added for the routine-care methods (issue 15): all off by default.
NEW_TABLES: tuple[str, ...] = ("missing_data", "mmrm", "clustering")

#: Keys added to existing tables for the same methods.
NEW_KEYS: dict[str, tuple[str, ...]] = {
    "trajectory": ("random_slopes", "time", "spline_df", "contrast_weeks", "extrapolate"),
    "time_to_response": ("cox", "rmst_horizon"),
    "weighting": ("method", "trim"),
}


def _defaults() -> dict[str, Any]:
    from dnoutcomes.protocol import Protocol

    return _full_dict(Protocol())


def _settings(data: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the routine-care settings left at their defaults (so that a
    protocol that uses none keeps the checksum and the TOML text it had before they
    existed)."""
    out = dict(data)
    for table, keys in NEW_KEYS.items():
        out[table] = {
            k: v for k, v in data[table].items() if k not in keys or v != defaults[table][k]
        }
    for table in NEW_TABLES:
        if data[table] == defaults[table]:
            del out[table]
        else:
            out[table] = {k: v for k, v in data[table].items() if v != defaults[table][k]}
    return out


def checksum(p: Protocol) -> str:
    """SHA-256 of the canonical JSON of :func:`to_dict` (sorted keys, no spaces, UTF-8;
    the routine-care settings enter only where they differ from their defaults, and
    ``casemix`` only when it is not at its defaults).

    Examples
    --------
    >>> from dnoutcomes.protocol import default_protocol
    >>> p = default_protocol()
    >>> plain = {k: v for k, v in to_dict(p).items() if k != "casemix"}  # at its defaults
    >>> checksum(p) == hashlib.sha256(
    ...     json.dumps(plain, sort_keys=True, separators=(",", ":")).encode()
    ... ).hexdigest()
    True
    """
    data = to_dict(p)
    if p.casemix == CaseMixSpec():  # a protocol from before [casemix] keeps its checksum
        del data["casemix"]
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------
# TOML text


#: Comments of the built-in file, by dotted key (a table's own comment under its name).
COMMENTS: dict[str, str] = {
    "title": "A one-line description shown in every output (optional).",
    "arms": "The two arms compared; effects read comparator minus reference.",
    "arms.reference": "An arm label present in the data (episodes' `arm`).",
    "arms.comparator": "Another arm label; must differ from the reference.",
    "measures": (
        "Measures beyond the built-in registry (nprs, odi, rmdq, lumbar_flexion_deg,\n"
        "lumbar_extension_deg, schober_cm, ppt_kg_cm2, pgic, analgesic_use, opioid_use,\n"
        "analgesic_doses_week, opioid_mme_day), or a built-in one redefined: one [[measures]]\n"
        "table per measure; name, low, high and direction are required. For example:"
    ),
    "primary": "The primary outcome, compared by ANCOVA (required in a file).",
    "primary.measure": "A built-in measure or one declared under [[measures]].",
    "primary.timepoint": (
        "discharge, followup_4w, followup_12w, followup_26w or followup_52w (baseline is the "
        "anchor)."
    ),
    "primary.covariates": (
        "Adjustment beyond the outcome's own baseline (always in the model): contract "
        "columns\n(age, sex, condition, symptom_weeks, chronicity, site_id, therapist_id), "
        "extra patient or\nepisode columns, or baseline:<measure>. Never the outcome itself."
    ),
    "secondary": (
        "Secondary outcomes, Holm-corrected together (zero or more). covariates: absent = "
        "the primary's;\noptional = true: analysed only where the data record it."
    ),
    "responders": "Who counts as improved.",
    "responders.measure": "Default: the primary outcome's measure.",
    "responders.timepoint": "Default: the primary outcome's timepoint.",
    "responders.definition": (
        '"mcid" (improvement >= the measure\'s MCID in points), "percent" (>= percent % of\n'
        'baseline) or "values" (a later value among the measure\'s responder_values).'
    ),
    "responders.percent": 'The threshold for definition = "percent".',
    "trajectory": "The mixed model over visits.",
    "trajectory.measure": "Default: the primary outcome's measure.",
    "trajectory.timepoints": (
        "The timepoints whose rows enter: any of baseline, session, discharge, followup_4w,\n"
        "followup_12w, followup_26w, followup_52w."
    ),
    "time_to_response": "Time from the episode start to the first response.",
    "time_to_response.measure": "Default: the primary outcome's measure.",
    "time_to_response.timepoints": "The later timepoints at which a response can be seen.",
    "weighting": "Confounding adjustment of the primary outcome by propensity-score weights.",
    "weighting.estimand": (
        '"ate" (stabilised inverse-probability weights), "att" (the comparator arm\'s\n'
        'patients) or "ato" (overlap weights).'
    ),
    "weighting.covariates": "The propensity model's covariates (named as for primary).",
    "trajectory.random_slopes": (
        "true: also fit random intercepts and slopes per episode (lme4's (1 + weeks | episode))\n"
        "and report the arm contrast at contrast_weeks."
    ),
    "trajectory.time": '"spline" (natural spline of weeks) or "linear" (random-slopes model).',
    "trajectory.spline_df": "Columns of the natural spline (1-10).",
    "trajectory.contrast_weeks": "Weeks at which the arm contrast and the means are reported.",
    "trajectory.extrapolate": (
        "true: also report weeks past the 95th percentile of follow-up (marked); false: "
        "leave them out."
    ),
    "time_to_response.cox": (
        "true: add the Cox hazard ratio (Efron ties, Schoenfeld-residual test) and the\n"
        "restricted mean time to response."
    ),
    "time_to_response.rmst_horizon": (
        "RMST horizon in days (absent: the largest at which both arms' curves are defined)."
    ),
    "weighting.method": (
        '"iptw" (weighted ANCOVA) or "aipw" (also the doubly robust augmented IPW estimate;\n'
        "NPRS at discharge, the plan's covariates, ATE)."
    ),
    "weighting.trim": "AIPW: drop episodes with a propensity outside [trim, 1 - trim] (0-0.5).",
    "missing_data": (
        "Missing outcomes and covariates (off by default: each analysis uses complete cases)."
    ),
    "missing_data.method": (
        '"complete_case" or "mi": the primary ANCOVA, responders and IPTW also under multiple\n'
        "imputation by chained equations, pooled by Rubin's rules, beside complete cases."
    ),
    "missing_data.m": "Imputed data sets (2-1000).",
    "missing_data.maxit": "Iterations of the chained equations (1-100).",
    "missing_data.seed": "Seed of the imputations (the same seed gives the same numbers).",
    "missing_data.auxiliaries": (
        "Measures whose baseline and primary-timepoint values enter the imputation models\n"
        'only (e.g. ["odi"]).'
    ),
    "missing_data.tipping": (
        "true: the delta-adjustment tipping-point analysis of the primary ANCOVA (MNAR)."
    ),
    "missing_data.tipping_shifted": (
        'Whose imputed outcomes are shifted: "comparator" or "reference".'
    ),
    "missing_data.tipping_deltas": "The shifts, in the measure's units ([] = an automatic grid).",
    "mmrm": "Mixed model for repeated measures of the primary measure (off by default).",
    "mmrm.enabled": "true: fit it (unstructured covariance, REML).",
    "mmrm.visits": (
        "Post-baseline timepoints ([] = discharge, followup_4w and followup_12w where recorded)."
    ),
    "mmrm.df": (
        'Degrees of freedom of the contrasts: "satterthwaite" or "kenward-roger" (adjusted '
        "SEs and df for small samples)."
    ),
    "clustering": "Cluster-robust SEs of the primary ANCOVA and IPTW (off by default).",
    "clustering.cluster": '"none", "therapist" or "site".',
    "clustering.type": (
        '"HC1" (CR1, as sandwich::vcovCL), "HC0" or "CR2" (Bell-McCaffrey with '
        "Satterthwaite df, as clubSandwich; for few clusters)."
    ),
    "medication": "Medication use (analgesics, opioids).",
    "medication.timepoint": "Default: the primary outcome's timepoint.",
    "report": "The report's small-number suppression.",
    "report.min_cell": "Counts from 1 to min_cell - 1 are suppressed in shared outputs.",
    "deidentification": "The de-identification screen.",
    "deidentification.allow_columns": (
        "Extra column names let through (their values are still screened)."
    ),
}

#: Commented-out examples shown in the built-in file where the protocol has no value.
_EXAMPLE_MEASURE = """\
# [[measures]]
# name = "tsk"                        # the outcomes' measure name (or wide column)
# label = "Tampa Scale of Kinesiophobia"
# unit = "points"                     # default "points"
# low = 17                            # the valid range, checked on load
# high = 68
# integer = true                      # default false
# direction = "lower"                 # "lower" or "higher" is better
# mcid_points = 6                     # optional
# mcid_percent = 30                   # optional
# responder_values = []               # optional: values that count as a response
"""


def _comment(lines: list[str], key: str, commented: bool) -> None:
    if commented and key in COMMENTS:
        lines.extend("# " + part for part in COMMENTS[key].split("\n"))


def _table(
    lines: list[str],
    header: str,
    key: str,
    items: dict[str, Any],
    commented: bool,
    defaults: dict[str, Any] | None = None,
) -> None:
    """One table; ``defaults``: keys written only when they differ from these (commented
    out in the commented file)."""
    defaults = defaults or {}
    if not commented and all(
        v is None or (k in defaults and v == defaults[k]) for k, v in items.items()
    ):
        return
    if lines:
        lines.append("")
    _comment(lines, key, commented)
    lines.append(header)
    for name, value in items.items():
        at_default = name in defaults and value == defaults[name]
        if at_default and not commented:
            continue
        _comment(lines, f"{key}.{name}", commented)
        if value is None:
            if commented:
                lines.append(f"# {name} = …")
            continue
        lines.append(f"{'# ' if at_default else ''}{name} = {_value(value)}")


def _new_table(lines: list[str], name: str, items: dict[str, Any], commented: bool) -> None:
    """A routine-care table: written when set; commented out in the commented file when
    left at its defaults."""
    if items != _defaults()[name]:
        _table(lines, f"[{name}]", name, items, commented)
    elif commented:
        lines.append("")
        _comment(lines, name, commented)
        lines.append(f"# [{name}]")
        for key, value in items.items():
            _comment(lines, f"{name}.{key}", commented)
            lines.append(f"# {key} = {_value(value)}" if value is not None else f"# {key} = …")


def to_toml(p: Protocol, *, commented: bool = False) -> str:
    """The protocol as TOML text that parses back to an equal protocol.

    ``commented``: a comment above each key saying what it means and its choices, and
    commented-out lines for settings left to their defaults (the ``protocol init`` text).
    """
    data = _full_dict(p)
    lines: list[str] = []
    _comment(lines, "title", commented)
    lines.append(f"title = {_value(data['title'])}")
    _table(lines, "[arms]", "arms", data["arms"], commented)
    if data["measures"]:
        for i, measure in enumerate(data["measures"]):
            _table(lines, "[[measures]]", "measures" if i == 0 else "", measure, False)
    elif commented:
        lines.append("")
        _comment(lines, "measures", commented)
        lines.extend(_EXAMPLE_MEASURE.rstrip("\n").split("\n"))
    _table(lines, "[primary]", "primary", data["primary"], commented)
    for i, spec in enumerate(data["secondary"]):
        _table(lines, "[[secondary]]", "secondary" if i == 0 else "", spec, commented)
    defaults = _defaults()
    for name in ("responders", "trajectory", "time_to_response", "weighting", "medication"):
        new = {k: defaults[name][k] for k in NEW_KEYS.get(name, ())}
        _table(lines, f"[{name}]", name, data[name], commented, new)
    _table(lines, "[report]", "report", data["report"], commented)
    casemix = casemix_toml(p.casemix, commented=commented)
    if casemix:
        lines.extend(["", *casemix])
    _table(lines, "[deidentification]", "deidentification", data["deidentification"], commented)
    for name in NEW_TABLES:
        _new_table(lines, name, data[name], commented)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# In words


def _listed(names: tuple[str, ...] | list[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def describe(p: Protocol) -> list[str]:
    """A few plain sentences describing the protocol (see :meth:`Protocol.describe`)."""
    registry = p.registry()

    def label(measure: str) -> str:
        found = registry.get(measure)
        return found.label if found is not None else measure

    def outcome(spec: OutcomeSpec) -> str:
        cov = spec.covariates or ()
        adj = f"its baseline value and {_listed(cov)}" if cov else "its baseline value"
        return f"{label(spec.measure)} at {spec.timepoint}, adjusted for {adj}"

    out = []
    if p.title:
        out.append(f"Protocol: {p.title}.")
    out.append(
        f"Arms: {p.comparator} compared with {p.reference} (effects read {p.comparator} "
        f"minus {p.reference})."
    )
    if p.measures:
        out.append(
            "Declared measures: "
            + "; ".join(
                f"{m.name} ({m.label}, {m.low:g}–{m.high:g} {m.unit}, {m.direction} is better)"
                for m in p.measures
            )
            + "."
        )
    out.append(f"Primary outcome (ANCOVA): {outcome(p.outcomes()[0])}.")
    if p.secondary:
        parts = [
            outcome(s).replace(", adjusted", " (where recorded), adjusted", 1)
            if s.optional
            else outcome(s)
            for s in p.outcomes()[1:]
        ]
        out.append("Secondary outcomes (Holm-corrected): " + "; ".join(parts) + ".")
    measure, timepoint = p.responder_outcome()
    rule = {
        "mcid": "an improvement of at least the MCID",
        "percent": f"an improvement of at least {p.responders.percent:g}% of baseline",
        "values": "a value among the measure's responder values",
    }[p.responders.definition]
    out.append(f"Responders: {rule} in {label(measure)} at {timepoint}.")
    out.append(
        f"Trajectory: a mixed model of {label(p.trajectory_measure())} over "
        f"{_listed(p.trajectory.timepoints)}."
    )
    out.append(
        f"Time to response: {label(p.time_to_response_measure())} at "
        f"{_listed(p.time_to_response.timepoints)}, from the episode start."
    )
    estimand = {
        "ate": "stabilised inverse-probability weights (ATE)",
        "att": "weights for the treated (ATT)",
        "ato": "overlap weights (ATO)",
    }[p.weighting.estimand]
    out.append(
        f"Confounding: {estimand} from a propensity model on {_listed(p.weighting.covariates)}."
    )
    out.append(describe_casemix(p.casemix, *p.casemix_outcome()))
    out.extend(_describe_routine_care(p, label))
    out.append(f"Counts from 1 to {p.report.min_cell - 1} are suppressed in shared outputs.")
    return out


_MMRM_DF = {
    "satterthwaite": "Satterthwaite df",
    "kenward-roger": "Kenward-Roger adjusted standard errors and df",
}
_CLUSTER_TYPE = {
    "HC1": "HC1",
    "HC0": "HC0",
    "CR2": "CR2, Bell-McCaffrey, with Satterthwaite df",
}


def _describe_routine_care(p: Protocol, label: Any) -> list[str]:
    """Sentences for the routine-care settings that are switched on (none by default)."""
    out = []
    tr, ttr, md = p.trajectory, p.time_to_response, p.missing_data
    if tr.random_slopes:
        shape = "linear time" if tr.time == "linear" else f"a natural spline ({tr.spline_df} df)"
        weeks = _listed([f"{w:g}" for w in tr.contrast_weeks])
        out.append(
            f"Trajectory, flexible: random intercepts and slopes per episode with {shape}; "
            f"the arm contrast at weeks {weeks}"
            + (" (weeks past the follow-up marked as extrapolated)." if tr.extrapolate else ".")
        )
    if p.mmrm.enabled:
        visits = _listed(list(p.mmrm.visits)) or "discharge, followup_4w and followup_12w"
        out.append(
            f"MMRM: {label(p.primary.measure)} at {visits} (where recorded) by arm and visit, "
            f"adjusted for baseline, unstructured covariance, REML, {_MMRM_DF[p.mmrm.df]}."
        )
    if ttr.cox:
        horizon = f"{ttr.rmst_horizon:g} days" if ttr.rmst_horizon is not None else "the data"
        out.append(
            f"Time to response, Cox: hazard ratio (Efron ties) with a Schoenfeld-residual test; "
            f"restricted mean time to response up to {horizon}."
        )
    if p.weighting.method == "aipw":
        a = p.weighting.trim
        trim = f", propensities trimmed to [{a:g}, {1 - a:g}]" if a is not None else ""
        out.append(
            "Doubly robust: augmented inverse-probability weighting (AIPW) of the primary "
            f"outcome{trim}."
        )
    if p.clustering.cluster != "none":
        out.append(
            f"Clustering: cluster-robust ({_CLUSTER_TYPE[p.clustering.type]}) SEs of the "
            f"primary ANCOVA and IPTW by {p.clustering.cluster}."
        )
    if md.method == "mi":
        aux = f"; auxiliaries {_listed(list(md.auxiliaries))}" if md.auxiliaries else ""
        out.append(
            f"Missing data: multiple imputation by chained equations (m = {md.m}, {md.maxit} "
            f"iterations, seed {md.seed}{aux}), pooled by Rubin's rules, beside complete cases."
        )
        if md.tipping:
            out.append(
                f"Sensitivity: delta-adjustment tipping point, imputed outcomes of the "
                f"{md.tipping_shifted} arm shifted."
            )
    return out
