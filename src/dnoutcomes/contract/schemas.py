"""pandera schemas of the *typed* tables a :class:`~dnoutcomes.Dataset` holds.

The loader checks raw text exports with its own vectorised rules (they need file line
numbers, the de-identification screen and the quarantine cascade, see
``docs/validation.md``); these schemas describe what comes out, so an analyst can check a
frame they built or changed themselves::

    from dnoutcomes.contract import schemas

    schemas.patients().validate(my_patients, lazy=True)
    schemas.outcomes(registry).validate(ds.outcomes)

Each function returns a fresh :class:`pandera.pandas.DataFrameSchema`; extra columns are
allowed (``strict=False``), as in the contract.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from dnoutcomes.contract.measures import MeasureRegistry, default_registry
from dnoutcomes.contract.parse import ID_PATTERN
from dnoutcomes.contract.specs import (
    AE_TYPES,
    CHRONICITY,
    CONDITIONS,
    CONTRAINDICATIONS,
    DISCHARGE_REASONS,
    MODALITIES,
    MUSCLES,
    REPORTERS,
    SEVERITIES,
    SEX,
    TIMEPOINTS,
)

__all__ = ["adverse_events", "episodes", "for_table", "outcomes", "patients", "sessions"]


def _id(*, unique: bool = False, nullable: bool = False) -> pa.Column:
    return pa.Column(
        "str", pa.Check.str_matches(f"^{ID_PATTERN}$"), unique=unique, nullable=nullable
    )


def _is_text(series: pd.Series) -> bool:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    return pd.api.types.is_string_dtype(dtype)


def _text(*checks: pa.Check, nullable: bool = False) -> pa.Column:
    """A text column that the loader stores as a categorical (the outcomes' ids and
    measure, the sessions' episode id): text or a categorical of text both pass."""
    is_text = pa.Check(_is_text, error="text, or a categorical of text")
    return pa.Column(None, [is_text, *checks], nullable=nullable)


def _ref_id(*, nullable: bool = False) -> pa.Column:
    return _text(pa.Check.str_matches(f"^{ID_PATTERN}$"), nullable=nullable)


def _cat(levels: tuple[str, ...], *, ordered: bool = False, nullable: bool = False) -> pa.Column:
    return pa.Column(pd.CategoricalDtype(list(levels), ordered=ordered), nullable=nullable)


def _tuples_of(levels: tuple[str, ...]) -> pa.Check:
    allowed = frozenset(levels)

    def check(series: pd.Series) -> pd.Series:
        # one Python call per distinct tuple, not per row
        codes, uniques = pd.factorize(series)
        ok = pd.Series([isinstance(u, tuple) and set(u) <= allowed for u in uniques], dtype=bool)
        return pd.Series(ok.to_numpy()[codes], index=series.index)

    return pa.Check(check, error=f"a tuple of items from {', '.join(levels)}")


def _number(low: float, high: float, *, nullable: bool = True) -> pa.Column:
    return pa.Column(float, pa.Check.in_range(low, high), nullable=nullable)


def patients() -> pa.DataFrameSchema:
    """Schema of ``Dataset.patients``.

    Returns
    -------
    pandera.pandas.DataFrameSchema
        Columns ``patient_id``, ``site_id`` (ids), ``sex``, ``condition`` (categories),
        ``age`` (16-90), ``age_top_coded`` (bool; a top-coded age is 90),
        ``symptom_weeks`` (0-5200), ``chronicity`` (ordered), ``contraindications``
        (tuples of known items). Extra columns are allowed.
    """
    return pa.DataFrameSchema(
        {
            "patient_id": _id(unique=True),
            "site_id": _id(),
            "sex": _cat(SEX),
            "age": pa.Column(float, pa.Check.in_range(16, 90)),
            "age_top_coded": pa.Column(bool),
            "condition": _cat(CONDITIONS),
            "symptom_weeks": _number(0, 5200, nullable=False),
            "chronicity": _cat(CHRONICITY, ordered=True),
            "contraindications": pa.Column(object, _tuples_of(CONTRAINDICATIONS)),
        },
        checks=[
            pa.Check(
                lambda d: ~d["age_top_coded"] | (d["age"] == 90),
                error="a top-coded age is 90",
            )
        ],
        strict=False,
        name="patients",
    )


def episodes() -> pa.DataFrameSchema:
    """Schema of ``Dataset.episodes``.

    Returns
    -------
    pandera.pandas.DataFrameSchema
        Ids, ``start_date``/``end_date`` (end on or after start, or missing), the declared,
        derived and used arms, ``discharge_reason``, and ``n_sessions >= dn_sessions >= 0``.
    """
    return pa.DataFrameSchema(
        {
            "episode_id": _id(unique=True),
            "patient_id": _id(),
            "therapist_id": _id(),
            "site_id": _id(),
            "start_date": pa.Column("datetime64[ns]"),
            "end_date": pa.Column("datetime64[ns]", nullable=True),
            "arm_declared": pa.Column("str", pa.Check.str_matches(r"^[a-z0-9_]+$"), nullable=True),
            "arm_derived": pa.Column(
                "str",
                pa.Check.isin(["dn_only", "dn_manual_exercise", "manual_exercise", "other"]),
                nullable=True,
            ),
            "arm": pa.Column("str", nullable=True),
            "discharge_reason": _cat(DISCHARGE_REASONS, nullable=True),
            "n_sessions": pa.Column("int64", pa.Check.ge(0)),
            "dn_sessions": pa.Column("int64", pa.Check.ge(0)),
        },
        checks=[
            pa.Check(lambda d: d["dn_sessions"] <= d["n_sessions"], error="dn <= sessions"),
            pa.Check(
                lambda d: d["end_date"].isna() | (d["end_date"] >= d["start_date"]),
                error="end_date on or after start_date",
            ),
        ],
        strict=False,
        name="episodes",
    )


def sessions() -> pa.DataFrameSchema:
    """Schema of ``Dataset.sessions``.

    Returns
    -------
    pandera.pandas.DataFrameSchema
        Ids, ``session_date``, the required booleans (``bool``) and optional ones
        (``boolean``), ``needles`` (0-60, 0 or missing without dry needling), depth,
        duration, and the list columns as tuples of known items.
    """
    optional_bool = pa.Column("boolean", nullable=True)
    return pa.DataFrameSchema(
        {
            "session_id": _id(unique=True),
            "episode_id": _ref_id(),
            "session_date": pa.Column("datetime64[ns]"),
            "dn_performed": pa.Column(bool),
            "needles": pa.Column("Int64", pa.Check.in_range(0, 60), nullable=True),
            "max_depth_mm": _number(0, 120),
            "muscles": pa.Column(object, _tuples_of(MUSCLES)),
            "twitch_response": optional_bool,
            "electrical_stimulation": optional_bool,
            "manual_therapy": pa.Column(bool),
            "exercise_therapy": pa.Column(bool),
            "postural_correction": optional_bool,
            "pain_education": optional_bool,
            "modalities": pa.Column(object, _tuples_of(MODALITIES)),
            "duration_min": _number(5, 240),
        },
        checks=[
            pa.Check(
                lambda d: d["dn_performed"] | (d["needles"].fillna(0) == 0),
                error="needles 0 or empty when no dry needling",
            )
        ],
        strict=False,
        name="sessions",
    )


def outcomes(registry: MeasureRegistry | None = None) -> pa.DataFrameSchema:
    """Schema of ``Dataset.outcomes`` (long form) for the measures of ``registry``.

    Parameters
    ----------
    registry
        The measures allowed (default: the contract's twelve).

    Returns
    -------
    pandera.pandas.DataFrameSchema
        Ids, ``assessed_on``, ``timepoint`` (ordered), ``measure`` (a registry name) and
        ``value`` inside its measure's range, whole where the measure is an integer.
    """
    reg = (registry or default_registry()).to_frame().set_index("name")

    def in_measure_range(d: pd.DataFrame) -> pd.Series:
        low = d["measure"].map(reg["low"]).astype(float)
        high = d["measure"].map(reg["high"]).astype(float)
        whole = d["measure"].map(reg["integer"]).astype(bool)
        value = d["value"]
        return (value >= low) & (value <= high) & (~whole | (value.round() == value))

    return pa.DataFrameSchema(
        {
            "episode_id": _ref_id(),
            "session_id": _ref_id(nullable=True),
            "assessed_on": pa.Column("datetime64[ns]"),
            "timepoint": _cat(TIMEPOINTS, ordered=True),
            "measure": _text(pa.Check.isin(list(reg.index))),
            "value": pa.Column(float),
        },
        checks=[pa.Check(in_measure_range, error="value inside its measure's range")],
        strict=False,
        name="outcomes",
    )


def adverse_events() -> pa.DataFrameSchema:
    """Schema of ``Dataset.adverse_events``.

    Returns
    -------
    pandera.pandas.DataFrameSchema
        Ids, ``type``, ``severity`` (ordered mild < significant < serious), ``reporter``
        (or missing) and ``resolved_days`` (0-365 or missing).
    """
    return pa.DataFrameSchema(
        {
            "event_id": _id(unique=True),
            "session_id": _id(),
            "type": _cat(AE_TYPES),
            "severity": _cat(SEVERITIES, ordered=True),
            "reporter": _cat(REPORTERS, nullable=True),
            "resolved_days": _number(0, 365),
        },
        strict=False,
        name="adverse_events",
    )


def for_table(table: str, registry: MeasureRegistry | None = None) -> pa.DataFrameSchema:
    """The schema of one table by name.

    Parameters
    ----------
    table
        ``patients``, ``episodes``, ``sessions``, ``outcomes`` or ``adverse_events``.
    registry
        Measures allowed in outcomes (default: the contract's).

    Returns
    -------
    pandera.pandas.DataFrameSchema

    Raises
    ------
    KeyError
        For an unknown table name.
    """
    if table == "outcomes":
        return outcomes(registry)
    builders = {
        "patients": patients,
        "episodes": episodes,
        "sessions": sessions,
        "adverse_events": adverse_events,
    }
    return builders[table]()
