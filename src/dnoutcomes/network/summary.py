"""A site summary: the sufficient statistics of one site's analyses, as a versioned,
checksummed, human-readable JSON file (:func:`summarise` builds it, :func:`read_summary`
reads and verifies one).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dnoutcomes import __version__
from dnoutcomes.errors import InsufficientDataError, RequestError, UnreadableInputError
from dnoutcomes.network import _blocks
from dnoutcomes.network._disclosure import MIN_OBS_PER_PARAMETER, check_summary

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset
    from dnoutcomes.protocol import Protocol

__all__ = [
    "DEFAULT_GRID_DAYS",
    "DEFAULT_HORIZON_DAYS",
    "FORMAT",
    "FORMAT_VERSION",
    "SiteSummary",
    "read_summary",
    "summarise",
    "time_grid",
]

FORMAT = "dnoutcomes-site-summary"
FORMAT_VERSION = 2
#: Versions :func:`read_summary` reads: version 1 lacks the ``trajectory``, ``medication``
#: and ``safety`` sections (pooling leaves them out and says so).
READABLE_VERSIONS = (1, 2)
#: Default width and end of the time-to-response grid, in days.
DEFAULT_GRID_DAYS = 7.0
DEFAULT_HORIZON_DAYS = 182.0


def time_grid(grid_days: float, horizon_days: float) -> np.ndarray:
    """The grid points ``grid_days, 2·grid_days, …`` up to and including the horizon
    (the horizon itself is the last point)."""
    if not (np.isfinite(grid_days) and grid_days > 0 and np.isfinite(horizon_days)):
        raise RequestError(
            f"time grid: expected a positive grid width and a finite horizon in days; got "
            f"{grid_days!r} and {horizon_days!r}."
        )
    if horizon_days < grid_days:
        raise RequestError(
            f"time grid: the horizon ({horizon_days:g} days) is shorter than one grid step "
            f"({grid_days:g} days); expected horizon >= grid width."
        )
    steps = np.arange(grid_days, horizon_days, grid_days)
    steps = steps[steps < horizon_days]
    return np.append(steps, horizon_days).astype(float)


def _canonical(document: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in document.items() if k != "sha256"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _checksum(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical(document)).hexdigest()


@dataclass(frozen=True)
class SiteSummary:
    """The sufficient statistics of one site (or one partition) for one protocol.

    Attributes
    ----------
    protocol_sha256
        The protocol's checksum (:meth:`~dnoutcomes.protocol.Protocol.sha256`): summaries of
        different protocols are not pooled.
    reference, comparator
        The arms.
    min_cell
        The disclosure threshold the summary was checked against (0: not checked, an
        in-house partition of the Dask engine).
    grid
        The time-to-response grid points, in days.
    blocks
        ``site_id`` → the sections: ``ancova``, ``responders``, ``time_to_response``,
        ``baseline``, ``monthly``, and (format version 2) ``trajectory``, ``medication``,
        ``safety`` (see ``docs/network.md``).
    format_version, package_version
        The file format's version and the dnoutcomes that wrote it.
    sha256
        SHA-256 of the canonical JSON of everything else.
    """

    protocol_sha256: str
    reference: str
    comparator: str
    min_cell: int
    grid: tuple[float, ...]
    blocks: Mapping[str, Mapping[str, Any]]
    format_version: int = FORMAT_VERSION
    package_version: str = __version__
    sha256: str = field(default="")

    def to_dict(self) -> dict[str, Any]:
        """The JSON document, its ``sha256`` filled in."""
        doc: dict[str, Any] = {
            "format": FORMAT,
            "format_version": self.format_version,
            "package_version": self.package_version,
            "protocol_sha256": self.protocol_sha256,
            "reference": self.reference,
            "comparator": self.comparator,
            "min_cell": self.min_cell,
            "min_obs_per_parameter": MIN_OBS_PER_PARAMETER,
            "grid_days": list(self.grid),
            "sites": sorted(self.blocks),
            "blocks": {k: self.blocks[k] for k in sorted(self.blocks)},
        }
        doc["sha256"] = _checksum(doc)
        return doc

    def to_json(self) -> str:
        """The human-readable JSON text (indented; a list of numbers or a matrix row on one
        line; with the checksum)."""
        return _pretty(self.to_dict(), 0) + "\n"


def _pretty(node: Any, depth: int) -> str:
    """JSON text indented by one space per level, with lists of scalars on one line."""
    pad = " " * (depth + 1)
    if isinstance(node, dict):
        if not node or (
            len(node) <= 4 and all(not isinstance(v, dict | list) for v in node.values())
        ):
            return json.dumps(node, allow_nan=False)  # a design column on one line
        items = [f"{pad}{json.dumps(k)}: {_pretty(v, depth + 1)}" for k, v in node.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    if isinstance(node, list):
        if all(not isinstance(v, dict | list) for v in node):
            return json.dumps(node, allow_nan=False)
        items = [f"{pad}{_pretty(v, depth + 1)}" for v in node]
        return "[\n" + ",\n".join(items) + "\n" + " " * depth + "]"
    return json.dumps(node, allow_nan=False)


def summarise(
    dataset: Dataset,
    protocol: Protocol | None = None,
    *,
    grid_days: float = DEFAULT_GRID_DAYS,
    horizon_days: float = DEFAULT_HORIZON_DAYS,
    charts: bool = True,
    disclosure: bool = True,
    trajectory: bool = True,
    medication: bool = True,
    safety: bool = True,
) -> SiteSummary:
    """Reduce one site's export to the sufficient statistics of the protocol's analyses.

    Parameters
    ----------
    dataset
        The site's loaded export (load it with the protocol).
    protocol
        The network's protocol; ``None`` is the built-in one.
    grid_days, horizon_days
        The time-to-response grid: intervals of ``grid_days`` up to ``horizon_days``;
        every site of a network must use the same grid.
    charts
        Include the monthly aggregates of the control charts.
    trajectory, medication, safety
        Include the mixed model's sums (grouped by episode size), the medication counts and
        cross-products, and the adverse-event counts (each on by default; leave one out
        when its small cells make a site's summary refused).
    disclosure
        Check the summary before returning it (default). ``False`` is for partitions that
        never leave the machine (the Dask engine); a file for another organisation must
        be checked.

    Returns
    -------
    SiteSummary

    Raises
    ------
    DisclosureError
        A statistic would disclose (each one is named).
    RequestError
        An arm, measure or covariate the data cannot supply; a bad grid.

    Notes
    -----
    Each ``site_id`` of the export gets its own block, so a network can fit site fixed
    effects and per-site models for DerSimonian–Laird exactly. See ``docs/network.md``.
    """
    from dnoutcomes.cohort import check_arms
    from dnoutcomes.protocol import default_protocol

    protocol = protocol if protocol is not None else default_protocol()
    ref, comp = protocol.reference, protocol.comparator
    check_arms(dataset, ref, comp)
    grid = time_grid(grid_days, horizon_days)
    episodes = dataset.episodes
    chosen = episodes.loc[episodes["arm"].isin([ref, comp]).fillna(False).to_numpy(dtype=bool)]
    sites = sorted(chosen["site_id"].astype(str).unique())
    ancova = _blocks.ancova_blocks(dataset, protocol, sites)
    responders = _blocks.responder_blocks(dataset, protocol, sites)
    survival = _blocks.survival_blocks(dataset, protocol, sites, grid)
    baseline = _blocks.baseline_blocks(dataset, protocol, sites)
    monthly = _blocks.monthly_blocks(dataset, protocol, sites) if charts else {}
    extra = _extra_sections(
        dataset,
        protocol,
        sites,
        trajectory,
        medication,
        safety,
        protocol.report.min_cell if disclosure else 0,
    )
    blocks: dict[str, dict[str, Any]] = {}
    for site in sites:
        block: dict[str, Any] = {
            "ancova": ancova[site],
            "responders": responders[site],
            "time_to_response": {
                "measure": protocol.time_to_response_measure(),
                "grid": grid.tolist(),
                **survival[site],
            },
            "baseline": baseline[site],
        }
        if charts:
            block["monthly"] = monthly[site]
        for name, per_site in extra.items():
            block[name] = per_site[site]
        blocks[site] = block
    min_cell = protocol.report.min_cell
    if disclosure:
        check_summary(blocks, min_cell)
    return SiteSummary(
        protocol_sha256=protocol.sha256(),
        reference=ref,
        comparator=comp,
        min_cell=min_cell if disclosure else 0,
        grid=tuple(grid.tolist()),
        blocks=blocks,
    )


def _extra_sections(
    dataset: Dataset,
    protocol: Protocol,
    sites: list[str],
    trajectory: bool,
    medication: bool,
    safety: bool,
    suppress_below: int,
) -> dict[str, dict[str, Any]]:
    """The sections of format version 2 asked for. A section the data cannot supply (no
    trajectory measure, say) is left out, as the row-level analysis leaves it out."""
    from dnoutcomes.errors import DnOutcomesError
    from dnoutcomes.network._medsafety import medication_blocks, safety_blocks
    from dnoutcomes.network._trajectory import trajectory_blocks

    out: dict[str, dict[str, Any]] = {}
    wanted: list[tuple[str, bool, Any]] = [
        (
            "trajectory",
            trajectory,
            lambda: trajectory_blocks(dataset, protocol, sites, suppress_below=suppress_below),
        ),
        ("medication", medication, lambda: medication_blocks(dataset, protocol, sites)),
        ("safety", safety, lambda: safety_blocks(dataset, protocol, sites)),
    ]
    for name, on, build in wanted:
        if not on:
            continue
        try:
            out[name] = build()
        except DnOutcomesError:
            continue
    return out


def _bad(source: str, why: str) -> InsufficientDataError:
    return InsufficientDataError(f"site summary {source}: {why}")


def from_dict(document: Any, *, source: str = "<summary>") -> SiteSummary:
    """Check and rebuild a summary from its JSON document.

    Raises
    ------
    InsufficientDataError
        Not a site summary, an unknown format version, a checksum that does not match
        (the file was edited or damaged), or a missing field.
    """
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _bad(source, f'not a dnoutcomes site summary (expected "format": "{FORMAT}").')
    version = document.get("format_version")
    if version not in READABLE_VERSIONS:
        raise _bad(
            source,
            f"format_version {version!r} is not supported; this dnoutcomes reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}. Summarise again with this dnoutcomes "
            "version (or read the file with the version that wrote it).",
        )
    stated = document.get("sha256")
    if not isinstance(stated, str) or _checksum(document) != stated:
        raise _bad(
            source,
            "the checksum does not match the content: the file was changed after it was "
            "written (or damaged). Ask the site for the file as written by "
            "`dnoutcomes summarise`.",
        )
    try:
        return SiteSummary(
            protocol_sha256=str(document["protocol_sha256"]),
            reference=str(document["reference"]),
            comparator=str(document["comparator"]),
            min_cell=int(document["min_cell"]),
            grid=tuple(float(g) for g in document["grid_days"]),
            blocks=dict(document["blocks"]),
            format_version=int(version),
            package_version=str(document["package_version"]),
            sha256=stated,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(source, f"missing or malformed field {exc}.") from None


def read_summary(path: str | Path) -> SiteSummary:
    """Read and verify a site summary file.

    Raises
    ------
    UnreadableInputError
        The file does not exist, or is not UTF-8 JSON.
    InsufficientDataError
        See :func:`from_dict`.
    """
    source = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise UnreadableInputError(
            f"site summary {source} does not exist or is a folder."
        ) from None
    except UnicodeDecodeError as exc:
        raise UnreadableInputError(
            f"site summary {source} is not UTF-8 text (byte {exc.start})."
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableInputError(
            f"site summary {source} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    return from_dict(document, source=source)


def check_poolable(
    summaries: Sequence[SiteSummary], sources: Sequence[str], *, allow_repeated_sites: bool = False
) -> None:
    """Refuse summaries of different protocols, arms or grids, or a site given twice
    (unless ``allow_repeated_sites``: partitions of one export)."""
    first, src0 = summaries[0], sources[0]
    seen: dict[str, str] = {}
    for summary, src in zip(summaries, sources, strict=True):
        if summary.protocol_sha256 != first.protocol_sha256:
            raise RequestError(
                f"site summaries {src0} and {src} were made with different protocols "
                f"(SHA-256 {first.protocol_sha256[:12]}… and {summary.protocol_sha256[:12]}…); "
                "every site must summarise with the network's protocol file."
            )
        if (summary.reference, summary.comparator) != (first.reference, first.comparator):
            raise RequestError(
                f"site summaries {src0} and {src} compare different arms; expected one pair."
            )
        if summary.grid != first.grid:
            raise RequestError(
                f"site summaries {src0} and {src} use different time grids; every site must "
                "use the same --grid-days and --horizon-days."
            )
        for site in summary.blocks:
            if site in seen and not allow_repeated_sites:
                raise RequestError(
                    f"site {site!r} is in both {seen[site]} and {src}; each site's episodes "
                    "may be pooled once."
                )
            seen[site] = src
