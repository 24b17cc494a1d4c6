"""The one look of every dnoutcomes figure: palette, arm colours and labels, rc settings.

Nothing here changes matplotlib's global state at import. Every drawing function runs inside
:func:`plot_style`, a :func:`matplotlib.rc_context` holding the settings of
``dnoutcomes.mplstyle`` (beside this module; a user can also ``plt.style.use(STYLE_FILE)``).

Colours come from the Okabe–Ito palette, which stays distinguishable with the common
colour-vision deficiencies. Each arm has a fixed colour so that an arm looks the same in every
figure: the standard arms have their own; a study's own arm (``usual_care``…) gets one of the
remaining colours chosen from a checksum of its name, which is the same on every run.
"""

from __future__ import annotations

import textwrap
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnoutcomes.errors import RequestError
from dnoutcomes.plots._export import ImageFormat, figure_size, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "ARM_COLOURS",
    "ARM_LABELS",
    "FIGSIZE",
    "MUTED",
    "OKABE_ITO",
    "STYLE_FILE",
    "TIMEPOINT_LABELS",
    "ImageFormat",
    "arm_colour",
    "arm_label",
    "arm_label_n",
    "measure_label",
    "measure_name",
    "measure_unit",
    "new_axes",
    "new_figure",
    "figure_size",
    "plot_style",
    "save_figure",
    "style_rc",
    "timepoint_label",
    "wrap_label",
]


#: The settings file every figure is drawn with.
STYLE_FILE: Path = Path(__file__).with_name("dnoutcomes.mplstyle")

#: Okabe & Ito (2008), "Color Universal Design": eight colours safe for colour-blind readers.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

#: Grey for reference lines, "other" care and anything that is not an arm.
MUTED = "#7F7F7F"

#: The fixed colour of each standard arm.
ARM_COLOURS: dict[str, str] = {
    "dn_only": OKABE_ITO["blue"],
    "dn_manual_exercise": OKABE_ITO["vermillion"],
    "manual_exercise": OKABE_ITO["bluish_green"],
    "other": MUTED,
}

#: Colours left for a study's own arms, in the order a checksum indexes them (yellow is
#: left out: too pale for lines on white).
_FALLBACK_COLOURS: tuple[str, ...] = (
    OKABE_ITO["orange"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["black"],
)

#: The standard arms in words.
ARM_LABELS: dict[str, str] = {
    "dn_only": "Dry needling alone",
    "dn_manual_exercise": "Dry needling + manual & exercise therapy",
    "manual_exercise": "Manual & exercise therapy",
    "other": "Other / mixed care",
}

#: Timepoints in words.
TIMEPOINT_LABELS: dict[str, str] = {
    "baseline": "Baseline",
    "session": "During care",
    "discharge": "Discharge",
    "followup_4w": "4-week follow-up",
    "followup_12w": "12-week follow-up",
    "followup_26w": "26-week follow-up",
    "followup_52w": "52-week follow-up",
}

#: Figure sizes in inches: readable when a slide shows one figure.
FIGSIZE: dict[str, tuple[float, float]] = {
    "single": (6.4, 4.2),
    "wide": (8.0, 4.5),
    "tall": (6.4, 5.6),
    "square": (5.2, 5.2),
}


def style_rc() -> dict[str, Any]:
    """Return the rc settings of the dnoutcomes look as a plain dict.

    Returns
    -------
    dict
        The parameters read from :data:`STYLE_FILE` (a fresh dict on every call).
    """
    import matplotlib as mpl

    params: Any = mpl.rc_params_from_file(str(STYLE_FILE), use_default_template=False)
    return {str(key): params[key] for key in params}


@contextmanager
def plot_style(**overrides: Any) -> Iterator[None]:
    """Draw with the dnoutcomes look inside a ``with`` block, leaving global rcParams alone.

    Parameters
    ----------
    **overrides
        rc parameters to change on top of the style (``{"font.size": 14}`` is written
        ``plot_style(**{"font.size": 14})``).

    Yields
    ------
    None
        Inside the block, new figures and axes take the style.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from dnoutcomes.plots import plot_style
    >>> with plot_style():
    ...     fig, ax = plt.subplots()
    >>> plt.close(fig)
    """
    import matplotlib as mpl

    rc: Any = style_rc()
    rc.update(overrides)
    with mpl.rc_context(rc):
        yield


def new_axes(
    ax: Axes | None = None, *, size: str | tuple[float, float] = "single"
) -> tuple[Figure, Axes]:
    """Return the figure and axes to draw on: ``ax`` itself, or a new styled figure.

    Call inside :func:`plot_style` so that a new figure takes the style.

    Parameters
    ----------
    ax
        Axes given by the caller; drawn on as they are.
    size
        A key of :data:`FIGSIZE` or a ``(width, height)`` pair in inches, for a new figure.

    Returns
    -------
    (Figure, Axes)
        The axes' figure and the axes.
    """
    if ax is not None:
        fig = ax.get_figure(root=True)
        if fig is None:  # pragma: no cover - axes always belong to a figure when drawn on
            raise RequestError(
                "plotting: the axes given belong to no figure; expected axes from "
                "plt.subplots(); pass such axes or leave ax out."
            )
        return fig, ax
    import matplotlib.pyplot as plt

    figsize = FIGSIZE[size] if isinstance(size, str) else size
    fig, new = plt.subplots(figsize=figsize)
    return fig, new


def new_figure(
    *, nrows: int = 1, ncols: int = 1, size: str | tuple[float, float] = "single", **kwargs: Any
) -> tuple[Figure, Any]:
    """Return a new styled figure and its grid of axes (for multi-panel figures).

    Parameters
    ----------
    nrows, ncols
        Grid shape.
    size
        A key of :data:`FIGSIZE` or a ``(width, height)`` pair in inches.
    **kwargs
        Passed to :func:`matplotlib.pyplot.subplots` (``sharex``, ``gridspec_kw``…).

    Returns
    -------
    (Figure, Axes or array of Axes)
        As :func:`matplotlib.pyplot.subplots` returns them.
    """
    import matplotlib.pyplot as plt

    figsize = FIGSIZE[size] if isinstance(size, str) else size
    return plt.subplots(nrows, ncols, figsize=figsize, **kwargs)


def arm_colour(arm: str) -> str:
    """Return the fixed colour of an arm.

    Parameters
    ----------
    arm
        An arm name: a standard arm, or a study's own label.

    Returns
    -------
    str
        A hex colour: the standard arm's own, else one of the remaining Okabe–Ito colours
        picked by the CRC-32 of the name (the same on every run and machine).

    Examples
    --------
    >>> arm_colour("dn_only")
    '#0072B2'
    >>> arm_colour("usual_care") == arm_colour("usual_care")
    True
    """
    if arm in ARM_COLOURS:
        return ARM_COLOURS[arm]
    return _FALLBACK_COLOURS[zlib.crc32(arm.encode("utf-8")) % len(_FALLBACK_COLOURS)]


def arm_label(arm: str) -> str:
    """Return an arm's name in words.

    Parameters
    ----------
    arm
        An arm name.

    Returns
    -------
    str
        The standard arm's label, else the name with underscores as spaces and a capital
        first letter (``usual_care`` → ``Usual care``).

    Examples
    --------
    >>> arm_label("dn_manual_exercise")
    'Dry needling + manual & exercise therapy'
    >>> arm_label("usual_care")
    'Usual care'
    """
    if arm in ARM_LABELS:
        return ARM_LABELS[arm]
    words = arm.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def arm_label_n(arm: str, n: int | float | None) -> str:
    """Return an arm's label with its number of episodes: ``Dry needling alone (n = 120)``.

    Parameters
    ----------
    arm
        An arm name.
    n
        The count to show; ``None`` or NaN shows the label alone.

    Returns
    -------
    str
        The label.

    Examples
    --------
    >>> arm_label_n("dn_only", 120)
    'Dry needling alone (n = 120)'
    """
    if n is None or n != n:
        return arm_label(arm)
    return f"{arm_label(arm)} (n = {int(n)})"


def wrap_label(label: str, width: int = 24) -> str:
    """Break a long label (an arm with its n) into lines for a tick, ``(n = …)`` last.

    Parameters
    ----------
    label
        The label, e.g. from :func:`arm_label_n`.
    width
        The longest line, in characters.

    Returns
    -------
    str
        The label with newlines.

    Examples
    --------
    >>> wrap_label("Dry needling + manual & exercise therapy (n = 154)").splitlines()
    ['Dry needling + manual &', 'exercise therapy', '(n = 154)']
    """
    words, _, n = label.partition(" (n =")
    lines = textwrap.wrap(words, width) or [words]
    return "\n".join([*lines, f"(n ={n}"] if n else lines)


def timepoint_label(timepoint: str) -> str:
    """Return a timepoint in words (``followup_12w`` → ``12-week follow-up``).

    Parameters
    ----------
    timepoint
        A timepoint name of the data contract; any other name is returned with spaces.

    Returns
    -------
    str
        The label.

    Examples
    --------
    >>> timepoint_label("followup_12w")
    '12-week follow-up'
    """
    return TIMEPOINT_LABELS.get(timepoint, timepoint.replace("_", " "))


def _lookup_measure(measure: str, registry: Any | None) -> Any | None:
    """The registry's entry for ``measure``, or None when neither registry nor entry exist."""
    if registry is None:
        try:
            from dnoutcomes.contract.measures import default_registry
        except ImportError:  # the registry is optional for drawing
            return None
        registry = default_registry()
    if measure not in registry:
        return None
    try:
        return registry[measure]
    except (LookupError, ValueError):
        return None


def measure_name(measure: str, registry: Any | None = None, *, short: bool = False) -> str:
    """Return a measure's name for labels: ``Numeric Pain Rating Scale``, or ``NPRS`` short.

    Parameters
    ----------
    measure
        A measure name of the registry.
    registry
        The :class:`~dnoutcomes.contract.measures.MeasureRegistry` to look in; default the
        contract's registry.
    short
        Prefer the abbreviation for a measure whose name is one (``nprs`` → ``NPRS``,
        ``odi`` → ``ODI``): for boxes and titles where the full name is too long.

    Returns
    -------
    str
        The registry's label (or the abbreviation), or the name with spaces when the measure
        is not registered.
    """
    if short and measure.isalpha() and len(measure) <= 5:
        return measure.upper()
    entry = _lookup_measure(measure, registry)
    label = getattr(entry, "label", None)
    if isinstance(label, str) and label:
        return label
    return measure.upper() if measure.isalpha() and len(measure) <= 5 else measure.replace("_", " ")


def measure_unit(measure: str, registry: Any | None = None) -> str:
    """Return a measure's unit from the registry (``points``, ``°``, ``cm``), or ``""``.

    Parameters
    ----------
    measure
        A measure name.
    registry
        The registry to look in; default the contract's registry.

    Returns
    -------
    str
        The unit, empty when the registry gives none.
    """
    entry = _lookup_measure(measure, registry)
    unit = getattr(entry, "unit", None)
    return unit if isinstance(unit, str) else ""


def measure_label(
    measure: str, registry: Any | None = None, *, prefix: str = "", short: bool = False
) -> str:
    """Return an axis label for a measure with its unit: ``NPRS (points)``.

    Parameters
    ----------
    measure
        A measure name.
    registry
        The registry to look in; default the contract's registry.
    prefix
        Words put before the measure name (``"Improvement in "``).
    short
        Use the abbreviation where the name is one (see :func:`measure_name`).

    Returns
    -------
    str
        ``prefix + name + " (unit)"``; without brackets when the measure has no unit.

    Examples
    --------
    >>> measure_label("nprs")
    'Numeric Pain Rating Scale (points)'
    >>> measure_label("odi", prefix="Change in ", short=True)
    'Change in ODI (points)'
    """
    name = measure_name(measure, registry, short=short)
    unit = measure_unit(measure, registry)
    text = f"{prefix}{name}" if prefix else name
    return f"{text} ({unit})" if unit else text
