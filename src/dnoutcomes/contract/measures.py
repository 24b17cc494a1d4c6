"""The measure registry: which outcome measures exist, their ranges, units and MCIDs.

The contract's twelve measures are in :func:`default_registry`. A clinic adds its own
without editing the package::

    from dnoutcomes import Measure, default_registry, load

    registry = default_registry().with_measure(
        Measure("psfs", "Patient-Specific Functional Scale", "points", 0, 10,
                integer=False, direction="higher", mcid_points=2.0)
    )
    ds = load("export/", registry=registry)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import pandas as pd

from dnoutcomes.errors import RequestError

__all__ = ["Direction", "Measure", "MeasureRegistry", "default_registry"]

Direction = Literal["lower", "higher"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Measure:
    """One outcome measure.

    Parameters
    ----------
    name
        The name used in the ``measure`` column (lower case ``a-z 0-9 _``, starting with a
        letter).
    label
        A human-readable name for tables and figures.
    unit
        The unit of ``value`` (``"points"``, ``"degrees"``, ``"cm"``…).
    low, high
        The inclusive range of legal values.
    integer
        Whether values must be whole numbers.
    direction
        ``"lower"`` when a lower value is better, ``"higher"`` when a higher one is.
    mcid_points
        Minimal clinically important improvement in the measure's units, or ``None``.
    mcid_percent
        Minimal clinically important improvement as a percentage of baseline, or ``None``.
    responder_values
        For global-impression scales: the values that count as a responder (PGIC ``(1, 2)``).

    Raises
    ------
    RequestError
        When the name, range or direction is not usable.
    """

    name: str
    label: str
    unit: str
    low: float
    high: float
    integer: bool = False
    direction: Direction = "lower"
    mcid_points: float | None = None
    mcid_percent: float | None = None
    responder_values: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise RequestError(
                f"Measure name {self.name!r} is not usable: expected 1-64 characters of "
                "lower-case a-z, 0-9 and _ starting with a letter; rename the measure."
            )
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.low <= self.high):
            raise RequestError(
                f"Measure {self.name}: the range must be two finite numbers with low <= high; "
                f"got low={self.low!r}, high={self.high!r}."
            )
        if self.direction not in ("lower", "higher"):
            raise RequestError(
                f"Measure {self.name}: direction must be 'lower' or 'higher' (which way is "
                f"better); got {self.direction!r}."
            )

    @overload
    def improvement(self, baseline: float, later: float) -> float: ...

    @overload
    def improvement(self, baseline: pd.Series, later: pd.Series) -> pd.Series: ...

    def improvement(
        self, baseline: float | pd.Series, later: float | pd.Series
    ) -> float | pd.Series:
        """Improvement from ``baseline`` to ``later``, positive when the patient got better.

        Parameters
        ----------
        baseline, later
            Values of this measure (numbers or aligned Series).

        Returns
        -------
        float or pandas.Series
            ``baseline - later`` for a lower-is-better measure, ``later - baseline``
            otherwise.

        Notes
        -----
        Missing values propagate (NaN in, NaN out).
        """
        if self.direction == "lower":
            return baseline - later
        return later - baseline


class MeasureRegistry(Mapping[str, Measure]):
    """An immutable mapping of measure names to :class:`Measure`.

    Parameters
    ----------
    measures
        The measures; names must be unique.

    Raises
    ------
    RequestError
        When two measures share a name.
    """

    def __init__(self, measures: Iterable[Measure] = ()) -> None:
        items: dict[str, Measure] = {}
        for measure in measures:
            if measure.name in items:
                raise RequestError(
                    f"Measure {measure.name!r} is registered twice; give each measure a "
                    "unique name."
                )
            items[measure.name] = measure
        self._measures = items

    def __getitem__(self, name: str) -> Measure:
        try:
            return self._measures[name]
        except KeyError:
            known = ", ".join(self._measures)
            raise RequestError(
                f"Unknown measure {name!r}: expected one of {known}; register it with "
                "registry.with_measure(Measure(...))."
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._measures

    def get(self, name: str, default: Measure | None = None) -> Measure | None:  # type: ignore[override]
        """The measure called ``name``, or ``default``."""
        return self._measures.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._measures)

    def __len__(self) -> int:
        return len(self._measures)

    def __repr__(self) -> str:
        return f"MeasureRegistry({', '.join(self._measures)})"

    def with_measure(self, measure: Measure, *, replace: bool = False) -> MeasureRegistry:
        """Return a new registry with ``measure`` added.

        Parameters
        ----------
        measure
            The measure to add.
        replace
            Replace a measure of the same name instead of refusing it.

        Returns
        -------
        MeasureRegistry
            A new registry; this one is unchanged.

        Raises
        ------
        RequestError
            When the name is taken and ``replace`` is false.
        """
        if measure.name in self._measures and not replace:
            raise RequestError(
                f"Measure {measure.name!r} is already registered; pass replace=True to replace it."
            )
        items = dict(self._measures)
        items[measure.name] = measure
        return MeasureRegistry(items.values())

    def to_frame(self) -> pd.DataFrame:
        """The registry as a table.

        Returns
        -------
        pandas.DataFrame
            One row per measure with the columns ``name``, ``label``, ``unit``, ``low``,
            ``high``, ``integer``, ``direction``, ``mcid_points``, ``mcid_percent`` (NaN when
            not set) and ``responder_values`` (a tuple).
        """
        rows = [
            {
                "name": m.name,
                "label": m.label,
                "unit": m.unit,
                "low": float(m.low),
                "high": float(m.high),
                "integer": bool(m.integer),
                "direction": m.direction,
                "mcid_points": np.nan if m.mcid_points is None else float(m.mcid_points),
                "mcid_percent": np.nan if m.mcid_percent is None else float(m.mcid_percent),
                "responder_values": tuple(m.responder_values),
            }
            for m in self._measures.values()
        ]
        return pd.DataFrame(
            rows,
            columns=[
                "name",
                "label",
                "unit",
                "low",
                "high",
                "integer",
                "direction",
                "mcid_points",
                "mcid_percent",
                "responder_values",
            ],
        )


def default_registry() -> MeasureRegistry:
    """The contract's twelve measures.

    Returns
    -------
    MeasureRegistry
        nprs, odi, rmdq, lumbar_flexion_deg, lumbar_extension_deg, schober_cm, ppt_kg_cm2,
        pgic, analgesic_use, opioid_use, analgesic_doses_week, opioid_mme_day.

    Notes
    -----
    Ranges, integer flags, directions and MCIDs are those of the data contract (version 1).
    """
    return MeasureRegistry(
        [
            Measure("nprs", "Numeric Pain Rating Scale", "points", 0, 10, True, "lower", 2.0, 30.0),
            Measure(
                "odi", "Oswestry Disability Index", "points", 0, 100, False, "lower", 10.0, 30.0
            ),
            Measure(
                "rmdq",
                "Roland-Morris Disability Questionnaire",
                "points",
                0,
                24,
                True,
                "lower",
                5.0,
                30.0,
            ),
            Measure("lumbar_flexion_deg", "Lumbar flexion", "degrees", 0, 120, False, "higher"),
            Measure("lumbar_extension_deg", "Lumbar extension", "degrees", 0, 60, False, "higher"),
            Measure("schober_cm", "Modified Schober excursion", "cm", 0, 15, False, "higher"),
            Measure("ppt_kg_cm2", "Pressure pain threshold", "kg/cm²", 0, 20, False, "higher"),
            Measure(
                "pgic",
                "Patient Global Impression of Change",
                "points",
                1,
                7,
                True,
                "lower",
                responder_values=(1.0, 2.0),
            ),
            Measure("analgesic_use", "Any analgesic in the past week", "yes/no", 0, 1, True),
            Measure("opioid_use", "Any opioid in the past week", "yes/no", 0, 1, True),
            Measure("analgesic_doses_week", "Analgesic doses per week", "doses", 0, 200),
            Measure("opioid_mme_day", "Opioid dose", "MME/day", 0, 1000),
        ]
    )
