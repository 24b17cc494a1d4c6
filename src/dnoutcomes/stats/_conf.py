"""The confidence-level check and critical values shared by the analyses."""

from __future__ import annotations

from scipy import stats as sps

from dnoutcomes.errors import RequestError

__all__ = ["check_conf_level", "z_critical"]


def check_conf_level(conf_level: float) -> None:
    """Raise :class:`~dnoutcomes.errors.RequestError` unless 0 < ``conf_level`` < 1.

    Parameters
    ----------
    conf_level
        The requested confidence level.

    Raises
    ------
    RequestError
        For a level outside the open interval (0, 1).
    """
    if not 0 < conf_level < 1:
        raise RequestError(
            f"conf_level must lie strictly between 0 and 1; got {conf_level!r}. "
            "Use e.g. 0.95 for 95 % intervals."
        )


def z_critical(conf_level: float) -> float:
    """The two-sided normal critical value z_{(1 + conf_level) / 2}, after the level check.

    Parameters
    ----------
    conf_level
        The requested confidence level, in (0, 1).

    Returns
    -------
    float
        Φ⁻¹(0.5 + conf_level / 2), e.g. 1.959964 for 0.95.

    Raises
    ------
    RequestError
        For a level outside the open interval (0, 1).
    """
    check_conf_level(conf_level)
    return float(sps.norm.ppf(0.5 + conf_level / 2))
