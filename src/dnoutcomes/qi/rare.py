"""Charts for rare events: the G chart of sessions between serious adverse events and the
Bernoulli CUSUM of serious events per dry-needling session.

A serious adverse event of dry needling (a pneumothorax, an infection) happens about once
in tens of thousands of sessions: a monthly U chart of such events is a row of zeros with
a lower limit of 0, and cannot show that events have become more frequent. Two charts are
made for this.

G chart (Benneyan 2001)
-----------------------
Each point is one event; its value ``g`` is the number of DN sessions *without* an event
since the previous one (the "number between", minimum 0). If each session has the same
small chance ``p`` of an event, ``g`` is geometric: ``P(g = k) = (1 − p)^k p``, mean
``(1 − p)/p``, variance ``(1 − p)/p²``. With ``ḡ`` the mean of the baseline points,
``p̂ = 1 / (ḡ + 1)`` and the centre line is ``ḡ``.

* ``limits="probability"`` (default): the limits are the geometric quantiles at
  ``α = 0.00135`` and ``1 − α`` (the tail areas of 3-sigma normal limits), in
  Benneyan's continuous form: solving ``P(g ≤ x) = 1 − (1 − p̂)^(x + 1) = q`` gives
  ``x(q) = ln(1 − q) / ln(1 − p̂) − 1``; ``lcl = max(0, x(0.00135))``,
  ``ucl = x(0.99865)``.
* ``limits="3sigma"``: ``ḡ ± 3 √(ḡ (ḡ + 1))`` (the geometric mean ± 3 SD with ``p̂``),
  lower limit clipped at 0 — the usual textbook g chart; its lower limit is always 0, so
  it can never signal that events became more frequent.

A point *below* the lower limit (events came sooner than chance allows) is a concern; a
point above the upper limit (a long event-free stretch) an improvement.

Bernoulli CUSUM (Reynolds & Stoumbos 1999)
------------------------------------------
Session by session, with ``x_t = 1`` for a session with an event: the log-likelihood-ratio
CUSUM for a rise of the event rate from ``p₀`` to ``p₁``,
``S_t = max(0, S_{t−1} + x_t ln(p₁/p₀) + (1 − x_t) ln((1 − p₁)/(1 − p₀)))``, ``S₀ = 0``,
signals when ``S_t ≥ h`` (and restarts at 0 after a signal, unless ``reset=False``). In
events' units (Reynolds & Stoumbos' ``B_t = S_t / ln(p₁(1 − p₀)/(p₀(1 − p₁)))``) each
event adds ``1 − γ`` and each event-free session subtracts
``γ = ln((1 − p₀)/(1 − p₁)) / ln(p₁(1 − p₀)/(p₀(1 − p₁)))``, so ``h`` reads as "about
``h / ln(p₁/p₀)`` more events than expected". The control limit ``h`` is the user's:
a larger ``h`` gives fewer false alarms and slower detection; the tests show the chart's
statistic against the recursion written out independently.

References
----------
Benneyan JC. Number-between g-type statistical quality control charts for monitoring
adverse events. Health Care Manag Sci 2001;4:305–318.

Reynolds MR Jr, Stoumbos ZG. A CUSUM chart for monitoring a proportion when inspecting
continuously. J Qual Technol 1999;31:87–108.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from dnoutcomes._frames import isin
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.qi.runs import _as_float
from dnoutcomes.stats.results import ResultMixin, jsonable

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from dnoutcomes.dataset import Dataset

__all__ = [
    "ALPHA",
    "BernoulliCusum",
    "GChart",
    "GLimits",
    "bernoulli_cusum",
    "g_chart",
    "session_events",
]

#: Tail probability of each probability limit (that of 3-sigma normal limits).
ALPHA = 0.00135

GLimits = Literal["probability", "3sigma"]


@dataclass(frozen=True, repr=False)
class GChart(ResultMixin):
    """A G chart: DN sessions between consecutive events, with geometric limits.

    Attributes
    ----------
    frame
        One row per event: ``event`` (label), ``g`` (sessions without an event since the
        previous one), ``centre`` (ḡ), ``lcl``, ``ucl`` (the limits used),
        ``lcl_probability``, ``ucl_probability``, ``lcl_3sigma``, ``ucl_3sigma``,
        ``outside_limits`` (bool), ``signal`` (``"sooner"`` below the lower limit,
        ``"later"`` above the upper one, ``""``), ``baseline`` (bool).
    p_hat
        The estimated chance of an event per session, ``1 / (ḡ + 1)``.
    limits
        ``"probability"`` or ``"3sigma"``.
    since_last
        Sessions since the last event (an open count, not a point), or ``None``.
    label, notes
        What is charted; what was left out.
    """

    frame: pd.DataFrame
    p_hat: float
    limits: GLimits
    since_last: int | None = None
    label: str = "DN sessions between serious adverse events"
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"G chart ({self.limits} limits): {self.label}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``p_hat``, ``limits``, ``since_last`` and ``points``."""
        frame = self.frame.assign(event=self.frame["event"].astype(str))
        return {
            "p_hat": self.p_hat,
            "limits": self.limits,
            "since_last": self.since_last,
            "points": jsonable(frame.to_dict(orient="records")),
        }

    def plot(self, ax: Axes | None = None) -> Axes:
        """Draw the chart (see :func:`dnoutcomes.plots.mdc.plot_g_chart`)."""
        from dnoutcomes.plots.mdc import plot_g_chart

        return plot_g_chart(self, ax=ax)


def _geometric_quantile(q: float, p: float) -> float:
    """Continuous solution x of 1 − (1 − p)^(x + 1) = q."""
    return float(np.log1p(-q) / np.log1p(-p) - 1.0)


def g_chart(
    g: ArrayLike,
    *,
    events: Sequence[Any] | pd.Index | pd.Series | None = None,
    limits: GLimits = "probability",
    freeze: int | None = None,
    since_last: int | None = None,
    label: str = "DN sessions between serious adverse events",
) -> GChart:
    """G chart of the number of sessions between consecutive events.

    Parameters
    ----------
    g
        Per event, in time order: sessions without an event since the previous event
        (whole numbers of 0 or more).
    events
        Labels of the events (dates or ids); default ``1, 2, …``.
    limits
        ``"probability"`` (default) or ``"3sigma"`` (see the module docstring).
    freeze
        Compute ``ḡ`` from the first ``freeze`` points only.
    since_last
        Sessions since the last event, carried to the result (and the plot).
    label
        What is charted.

    Returns
    -------
    GChart
        ``frame``, ``p_hat``, ``limits``.

    Raises
    ------
    RequestError
        For counts that are negative or fractional, a bad ``freeze`` or ``limits``.
    InsufficientDataError
        For fewer than 2 baseline points.

    Examples
    --------
    >>> chart = g_chart([900, 1500, 400, 2200, 1100, 30])
    >>> round(float(chart.frame["ucl"].iloc[0]), 1), round(float(chart.frame["lcl"].iloc[0]), 3)
    (6753.1, 0.381)
    >>> chart.frame["signal"].tolist()
    ['', '', '', '', '', '']
    """
    if limits not in ("probability", "3sigma"):
        raise RequestError(f"G chart: limits must be 'probability' or '3sigma'; got {limits!r}.")
    x = _as_float(g, "g")
    if np.any(~np.isfinite(x) | (x < 0) | (x != np.round(x))):
        raise RequestError(
            "G chart: g must be whole numbers of 0 or more (sessions between events); got "
            f"{x[~np.isfinite(x) | (x < 0) | (x != np.round(x))][:3]}."
        )
    k = x.size if freeze is None else int(freeze)
    if not 2 <= k <= x.size:
        raise InsufficientDataError(
            f"G chart: the centre needs at least 2 baseline events; got {k} of {x.size}. "
            "Wait for more events or use the Bernoulli CUSUM."
        )
    centre = float(x[:k].mean())
    p = 1.0 / (centre + 1.0)
    lcl_p = max(0.0, _geometric_quantile(ALPHA, p)) if p < 1 else 0.0
    ucl_p = _geometric_quantile(1 - ALPHA, p) if p < 1 else 0.0
    sd = float(np.sqrt(centre * (centre + 1.0)))
    lcl_3, ucl_3 = max(0.0, centre - 3 * sd), centre + 3 * sd
    lcl, ucl = (lcl_p, ucl_p) if limits == "probability" else (lcl_3, ucl_3)
    labels = list(range(1, x.size + 1)) if events is None else list(events)
    if len(labels) != x.size:
        raise RequestError(f"G chart: events must have one label per point; got {len(labels)}.")
    below, above = x < lcl, x > ucl
    n = x.size
    frame = pd.DataFrame(
        {
            "event": pd.Series(labels, dtype=object),
            "g": x,
            "centre": np.full(n, centre),
            "lcl": np.full(n, lcl),
            "ucl": np.full(n, ucl),
            "lcl_probability": np.full(n, lcl_p),
            "ucl_probability": np.full(n, ucl_p),
            "lcl_3sigma": np.full(n, lcl_3),
            "ucl_3sigma": np.full(n, ucl_3),
            "outside_limits": below | above,
            "signal": np.where(below, "sooner", np.where(above, "later", "")).astype(object),
            "baseline": np.arange(n) < k,
        }
    )
    return GChart(frame=frame, p_hat=p, limits=limits, since_last=since_last, label=label)


def session_events(
    dataset: Dataset,
    *,
    severity: Sequence[str] = ("serious",),
    types: Sequence[str] | None = None,
    site: str | None = None,
) -> pd.DataFrame:
    """DN sessions in time order with the number of matching adverse events after each.

    Parameters
    ----------
    dataset
        A loaded dataset with an adverse-events table.
    severity
        Severities that count (default ``("serious",)``).
    types
        Event types that count (``("pneumothorax",)``); default all.
    site
        Only this site's sessions.

    Returns
    -------
    pandas.DataFrame
        One row per DN session, sorted by ``session_date`` then ``session_id``:
        ``session_id``, ``session_date``, ``events`` (int). Feed ``events > 0`` to
        :func:`bernoulli_cusum`, or :func:`g_between` of it to :func:`g_chart`.

    Raises
    ------
    RequestError
        When the export has no adverse-events table (not recorded).
    """
    if dataset.adverse_events is None:
        raise RequestError(
            "rare events: the export has no adverse_events table, so events are not recorded; "
            "add adverse_events.csv to chart them."
        )
    sessions = dataset.sessions
    keep = sessions["dn_performed"].astype(bool)
    if site is not None:
        episodes = dataset.episodes
        ids = episodes.loc[episodes["site_id"] == site, "episode_id"]
        keep &= isin(sessions["episode_id"], ids)
    dn = sessions.loc[keep, ["session_id", "session_date"]]
    ae = dataset.adverse_events
    match = ae["severity"].astype(str).isin(list(severity))
    if types is not None:
        match &= ae["type"].astype(str).isin(list(types))
    counts = ae.loc[match].groupby("session_id").size()
    out = dn.assign(events=dn["session_id"].map(counts).fillna(0).astype(int))
    result: pd.DataFrame = out.sort_values(["session_date", "session_id"]).reset_index(drop=True)
    return result


def g_between(events: ArrayLike) -> tuple[np.ndarray, int]:
    """Sessions between events from per-session event counts.

    Returns
    -------
    tuple
        ``g`` (one value per event: event-free sessions since the previous event, or since
        the first session for the first event; a second event in the same session has
        ``g = 0``) and the number of sessions after the last event.

    Examples
    --------
    >>> g_between([0, 0, 1, 0, 2, 0, 0, 0])
    (array([2, 1, 0]), 3)
    """
    counts = _as_float(events, "events").astype(int)
    event_sessions = np.flatnonzero(counts > 0)
    if event_sessions.size == 0:
        return np.zeros(0, dtype=int), int(counts.size)
    gaps = np.diff(np.concatenate(([-1], event_sessions))) - 1
    repeat = counts[event_sessions]
    g = np.zeros(int(repeat.sum()), dtype=int)
    g[np.concatenate(([0], np.cumsum(repeat)[:-1]))] = gaps
    return g, int(counts.size - 1 - event_sessions[-1])


@dataclass(frozen=True, repr=False)
class BernoulliCusum(ResultMixin):
    """The Bernoulli CUSUM statistic per session and its signals.

    Attributes
    ----------
    frame
        One row per session: ``session`` (label), ``event`` (0/1), ``statistic``
        (``S_t``), ``h``, ``signal`` (bool, ``S_t >= h``).
    p0, p1, h
        In-control and out-of-control event probabilities and the control limit.
    gamma
        Reynolds & Stoumbos' reference value (events' units).
    weights
        ``(ln(p₁/p₀), ln((1 − p₁)/(1 − p₀)))``: added for a session with and without an
        event.
    reset
        Whether the statistic restarts at 0 after a signal.
    label, notes
        What is charted; notes.
    """

    frame: pd.DataFrame
    p0: float
    p1: float
    h: float
    gamma: float
    weights: tuple[float, float]
    reset: bool = True
    label: str = "serious adverse events per DN session"
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"Bernoulli CUSUM (p₀ = {self.p0:.3g}, p₁ = {self.p1:.3g}, h = {self.h:g})"

    @property
    def signals(self) -> tuple[str, ...]:
        """Labels of the sessions where the chart signalled."""
        return tuple(self.frame.loc[self.frame["signal"], "session"].astype(str))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the parameters and ``signals`` (the full series is left to
        :meth:`to_frame`: one row per session)."""
        return {
            "p0": self.p0,
            "p1": self.p1,
            "h": self.h,
            "gamma": self.gamma,
            "reset": self.reset,
            "sessions": len(self.frame),
            "events": int(self.frame["event"].sum()),
            "max_statistic": float(self.frame["statistic"].max()) if len(self.frame) else None,
            "signals": list(self.signals),
        }

    def plot(self, ax: Axes | None = None) -> Axes:
        """Draw the CUSUM (see :func:`dnoutcomes.plots.mdc.plot_cusum`)."""
        from dnoutcomes.plots.mdc import plot_cusum

        return plot_cusum(self, ax=ax)


def bernoulli_cusum(
    events: ArrayLike,
    *,
    p0: float,
    p1: float | None = None,
    odds_ratio: float = 2.0,
    h: float,
    reset: bool = True,
    sessions: Sequence[Any] | pd.Index | pd.Series | None = None,
    label: str = "serious adverse events per DN session",
) -> BernoulliCusum:
    """Bernoulli CUSUM of events per session for a rise from ``p0`` to ``p1``.

    Parameters
    ----------
    events
        Per session in time order: 1 (or more) when the session had an event, else 0.
    p0
        In-control probability of an event per session (from a baseline period or the
        literature: about 1e-5 per serious type for needling).
    p1
        The out-of-control probability to detect; default from ``odds_ratio``.
    odds_ratio
        ``p1`` as an odds ratio over ``p0`` when ``p1`` is not given (default 2).
    h
        The control limit on the log-likelihood-ratio scale (positive).
    reset
        Restart at 0 after a signal (default True).
    sessions
        Labels of the sessions; default ``1, 2, …``.
    label
        What is charted.

    Returns
    -------
    BernoulliCusum
        ``frame`` (statistic per session), the parameters, ``signals``.

    Raises
    ------
    RequestError
        For ``p0`` outside (0, 1), ``p1 <= p0`` or ``>= 1``, ``h`` not positive.

    Examples
    --------
    >>> c = bernoulli_cusum([0, 0, 1, 0, 1, 1, 0], p0=0.1, p1=0.3, h=2.0)
    >>> [round(s, 4) for s in c.frame["statistic"]]
    [0.0, 0.0, 1.0986, 0.8473, 1.9459, 3.0445, 0.0]
    >>> c.signals
    ('6',)
    """
    if not 0 < p0 < 1:
        raise RequestError(f"CUSUM: p0 must be a probability between 0 and 1; got {p0!r}.")
    if p1 is None:
        if not odds_ratio > 1:
            raise RequestError(f"CUSUM: odds_ratio must be above 1; got {odds_ratio!r}.")
        p1 = odds_ratio * p0 / (1 - p0 + odds_ratio * p0)
    if not p0 < p1 < 1:
        raise RequestError(f"CUSUM: p1 must be between p0 ({p0}) and 1; got {p1!r}.")
    if not (np.isfinite(h) and h > 0):
        raise RequestError(f"CUSUM: h must be a positive number; got {h!r}.")
    x = _as_float(events, "events")
    if np.any(~np.isfinite(x) | (x < 0)):
        raise RequestError("CUSUM: events must be counts of 0 or more per session, no gaps.")
    hit = (x > 0).astype(float)
    w1 = float(np.log(p1 / p0))
    w0 = float(np.log((1 - p1) / (1 - p0)))
    steps = np.where(hit > 0, w1, w0)
    stat = np.empty(x.size)
    signal = np.zeros(x.size, dtype=bool)
    s = 0.0
    for t, step in enumerate(steps):  # a recursion: each value needs the one before
        s = max(0.0, s + step)
        stat[t] = s
        if s >= h:
            signal[t] = True
            if reset:
                s = 0.0
    notes: list[str] = []
    if np.any(x > 1):
        notes.append(f"{int((x > 1).sum())} session(s) with more than one event count once.")
    labels = list(range(1, x.size + 1)) if sessions is None else list(sessions)
    if len(labels) != x.size:
        raise RequestError(f"CUSUM: sessions must have one label per session; got {len(labels)}.")
    gamma = float(np.log((1 - p0) / (1 - p1)) / np.log(p1 * (1 - p0) / (p0 * (1 - p1))))
    frame = pd.DataFrame(
        {
            "session": pd.Series(labels, dtype=object),
            "event": hit.astype(int),
            "statistic": stat,
            "h": np.full(x.size, float(h)),
            "signal": signal,
        }
    )
    return BernoulliCusum(
        frame=frame,
        p0=float(p0),
        p1=float(p1),
        h=float(h),
        gamma=gamma,
        weights=(w1, w0),
        reset=reset,
        label=label,
        notes=tuple(notes),
    )
