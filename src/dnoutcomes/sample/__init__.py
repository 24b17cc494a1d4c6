"""Synthetic clinic exports with a known ground truth.

:func:`generate` builds a de-identified export in the data contract's raw format: the same
tables a clinic would send (``patients``, ``episodes``, ``sessions``, ``outcomes``,
``adverse_events``), with the effects, confounding, dropout, site shift and adverse-event
rates written down on :attr:`SampleData.truth`. Every parameter and its published source is
in ``docs/sample-data.md``.

Examples
--------
>>> from dnoutcomes.sample import generate
>>> data = generate(episodes=200, seed=1)
>>> data.tables["episodes"].num_rows
200
>>> round(data.truth.nprs_weekly_difference, 2)
-0.28
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from dnoutcomes.errors import RequestError
from dnoutcomes.sample._course import run_course
from dnoutcomes.sample._params import SampleParams, baseline_dropout_params, site_names
from dnoutcomes.sample._people import Calendar, draw_episodes, draw_patients
from dnoutcomes.sample._tables import build_tables
from dnoutcomes.sample._truth import SampleTruth, make_truth
from dnoutcomes.sample._write import Format, write_dataset

if TYPE_CHECKING:
    import pandas as pd

    from dnoutcomes.dataset import Dataset

__all__ = [
    "Format",
    "SampleData",
    "SampleParams",
    "SampleTruth",
    "baseline_dropout_params",
    "generate",
]

TABLES = ("patients", "episodes", "sessions", "outcomes", "adverse_events")


@dataclass(frozen=True)
class SampleData:
    """A generated export: the raw tables and what is true in them.

    Attributes
    ----------
    tables
        ``patients``, ``episodes``, ``sessions``, ``outcomes`` (long form) and
        ``adverse_events`` as :class:`pyarrow.Table`, with the contract's columns.
    truth
        The ground truth (:class:`SampleTruth`).
    """

    tables: Mapping[str, pa.Table]
    truth: SampleTruth

    def __repr__(self) -> str:
        rows = ", ".join(f"{t.num_rows:,} {name}" for name, t in self.tables.items())
        return f"SampleData(seed={self.truth.seed}: {rows}; truth={self.truth!r})"

    def frame(self, table: str) -> pd.DataFrame:
        """One raw table as a pandas DataFrame (dates as ``datetime64``, empty cells NA).

        Parameters
        ----------
        table
            One of ``patients``, ``episodes``, ``sessions``, ``outcomes``,
            ``adverse_events``.

        Returns
        -------
        pandas.DataFrame
            The contract's columns of that table, one row per raw row.

        Raises
        ------
        RequestError
            For an unknown table name.
        """
        if table not in self.tables:
            raise RequestError(
                f"table: expected one of {', '.join(TABLES)}; got {table!r}. Pick one of those."
            )
        return self.tables[table].to_pandas(date_as_object=False)

    @property
    def patients(self) -> pd.DataFrame:
        """The ``patients`` table as a DataFrame."""
        return self.frame("patients")

    @property
    def episodes(self) -> pd.DataFrame:
        """The ``episodes`` table as a DataFrame."""
        return self.frame("episodes")

    @property
    def sessions(self) -> pd.DataFrame:
        """The ``sessions`` table as a DataFrame."""
        return self.frame("sessions")

    @property
    def outcomes(self) -> pd.DataFrame:
        """The ``outcomes`` table (long form) as a DataFrame."""
        return self.frame("outcomes")

    @property
    def adverse_events(self) -> pd.DataFrame:
        """The ``adverse_events`` table as a DataFrame."""
        return self.frame("adverse_events")

    def write(
        self,
        path: str | os.PathLike[str],
        *,
        format: Format = "csv",
        wide: bool = False,
        force: bool = False,
    ) -> Path:
        """Write the dataset (and ``truth.json``) atomically.

        Parameters
        ----------
        path
            For ``csv`` and ``parquet``: a folder that gets one file per table and
            ``truth.json``. For ``xlsx``: the workbook (``….xlsx``), one sheet per table,
            with the truth beside it as ``<name>.truth.json``.
        format
            ``"csv"`` (UTF-8, comma-separated, lists ``;``-joined, empty = not recorded),
            ``"parquet"`` (zstd) or ``"xlsx"``.
        wide
            Write ``outcomes`` in the contract's wide form (one column per measure).
        force
            Replace an existing non-empty target (it is swapped out whole, never merged).

        Returns
        -------
        pathlib.Path
            The folder or workbook written.

        Raises
        ------
        RequestError
            The target exists and is not empty (without ``force``), an unknown format, an
            ``xlsx`` path without the suffix or tables too long for an Excel sheet.

        Notes
        -----
        Everything is written to a temporary folder (or file) next to ``path`` and renamed
        into place when complete, so an interrupted run leaves no half-written dataset.
        CSV and Parquet output is byte-identical for the same seed and arguments; xlsx
        carries the save time in its metadata, so it is not.
        """
        return write_dataset(self.tables, self.truth, path, format=format, wide=wide, force=force)

    def to_dataset(self) -> Dataset:
        """Load the generated export with :func:`dnoutcomes.load`.

        Returns
        -------
        dnoutcomes.Dataset
            The validated dataset (strict mode).

        Raises
        ------
        DatasetError
            Only if the generator wrote something the contract refuses (a bug: every test
            dataset loads without problems).

        Notes
        -----
        The tables are written to a temporary Parquet folder first, so the loader sees
        exactly what a clinic would send; the folder is removed afterwards. The loader's
        :class:`~dnoutcomes.DataQualityWarning` about needling despite a recorded
        contraindication is expected: those episodes are built in on purpose.
        """
        import dnoutcomes

        with tempfile.TemporaryDirectory() as tmp:
            folder = self.write(Path(tmp) / "export", format="parquet")
            return dnoutcomes.load(folder)


def _calendar(start: str, months: int, n_sites: int, shift_month: int | None) -> Calendar:
    try:
        day0 = np.datetime64(start, "D")
    except ValueError as exc:
        raise RequestError(
            f"start: expected an ISO date YYYY-MM-DD; got {start!r}. Write it like 2024-01-01."
        ) from exc
    end = (day0.astype("datetime64[M]") + months).astype("datetime64[D]")
    month = months // 2 if shift_month is None else shift_month
    if not 0 < month < months:
        raise RequestError(
            f"shift_month: expected a month inside the span (1 to {months - 1}); got {month}."
        )
    shift = (day0.astype("datetime64[M]") + month).astype("datetime64[D]")
    return Calendar(
        start=day0,
        span_days=int((end - day0) / np.timedelta64(1, "D")),
        shift_site=1 if n_sites > 1 else 0,
        shift_day=int((shift - day0) / np.timedelta64(1, "D")),
        shift_month=str(shift.astype("datetime64[M]")),
    )


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not (low <= value <= high)
    ):
        raise RequestError(
            f"{name}: expected a whole number from {low:,} to {high:,}; got {value!r}. "
            "Pass a value in that range."
        )
    return int(value)


def generate(
    *,
    episodes: int,
    seed: int,
    sites: int = 3,
    start: str = "2024-01-01",
    months: int = 24,
    confounding: float = 1.0,
    params: SampleParams | None = None,
) -> SampleData:
    """Generate a synthetic clinic export with a known ground truth.

    Parameters
    ----------
    episodes
        Episodes of care (1 to 20,000,000). About 8 % are a patient's second or later
        episode, so there are about ``episodes / 1.08`` patients.
    seed
        Seed of the one :func:`numpy.random.default_rng` every draw comes from: the same
        seed and arguments give the same tables, byte for byte once written.
    sites
        Clinic sites (1 to 99): ``north``, ``central``, ``south``, then ``site_04``…, with
        shares falling off as ``1 / (i + 1.5)``; three therapists each.
    start
        First day of the calendar span (ISO date).
    months
        Length of the span in months (6 to 240). Episodes start so that their last visit
        falls inside it; 12-week follow-ups may fall up to a few weeks after.
    confounding
        Strength of confounding by indication (0 = arms assigned as in a randomised trial,
        1 = the documented default, 2 = twice as strong on the log-odds scale).
    params
        Every other number (:class:`SampleParams`); the defaults and their sources are in
        ``docs/sample-data.md``.

    Returns
    -------
    SampleData
        ``tables`` (Arrow tables of the raw export) and ``truth``.

    Raises
    ------
    RequestError
        An argument out of range or a start date that is not ISO.

    Notes
    -----
    Per episode the latent pain level is ``L ~ N(6, 1.35²)``; NPRS at a visit on day
    ``d`` is ``clip(round(L + b·d/7 + e), 0, 10)`` with ``e ~ N(0, 1)`` and weekly slope
    ``b = β_arm + 0.15·chronic + 0.08·z_ODI + site + therapist + episode + shift``. The arm
    is drawn from a multinomial logit in which the log-odds of ``dn_manual_exercise``
    against ``dn_only`` rise with baseline NPRS, baseline ODI, symptom weeks and site
    (times ``confounding``). Discharge and follow-up values are computed for the observed
    arm and, with the same noise, for ``dn_only`` and ``dn_manual_exercise``; the truth's
    effects are averages of those potential-outcome differences. Nothing is missing except
    by design: visits after a dropout, each non-NPRS measure with probability
    ``measure_missing_share`` (medication pairs together), and the follow-up of about half
    of the completers.

    Examples
    --------
    >>> data = generate(episodes=300, seed=1)
    >>> data
    SampleData(seed=1: 278 patients, 300 episodes, 1,850 sessions, 5,898 outcomes,
    244 adverse_events; truth=SampleTruth(NPRS at discharge -1.01 (combination - DN alone),
    slope difference -0.28/week, dropout 14.7%, shift at central from 2025-01, confounding 1))
    >>> dataset = data.to_dataset()
    >>> len(dataset.episodes)
    300
    """
    n = _check_int("episodes", episodes, 1, 20_000_000)
    n_sites = _check_int("sites", sites, 1, 99)
    n_months = _check_int("months", months, 6, 240)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise RequestError(
            f"seed: expected a whole number of 0 or more; got {seed!r}. Pass any such number."
        )
    if not isinstance(confounding, int | float) or not 0 <= confounding <= 10:
        raise RequestError(
            f"confounding: expected a number from 0 (none) to 10; got {confounding!r}. "
            "Use 1 for the documented default."
        )
    p = SampleParams() if params is None else params
    cal = _calendar(start, n_months, n_sites, p.shift_month)
    names = site_names(n_sites)
    rng = np.random.default_rng(int(seed))
    n_patients = min(n, max(1, round(n / (1 + p.repeat_episode_share))))
    pats = draw_patients(rng, p, n_patients, n_sites)
    eps, visits = draw_episodes(
        rng, p, pats, n=n, cal=cal, n_sites=n_sites, confounding=float(confounding)
    )
    course = run_course(rng, p, eps, visits)
    tables, extra = build_tables(
        rng, p, pats=pats, eps=eps, visits=visits, course=course, cal=cal, sites=names
    )
    truth = make_truth(
        p,
        seed=int(seed),
        start=str(cal.start),
        months=n_months,
        confounding=float(confounding),
        sites=names,
        eps=eps,
        course=course,
        cal=cal,
        extra=extra,
    )
    return SampleData(tables=tables, truth=truth)
