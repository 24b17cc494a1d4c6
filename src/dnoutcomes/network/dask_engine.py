"""The Dask engine: the site summaries of :func:`~dnoutcomes.network.summarise` computed
per partition of a partitioned export on a Dask cluster, then pooled, so that a worker
holds one partition at a time and never the whole export.

A partitioned export is a folder of partition folders (hive-style ``site_id=north/`` or
any names), each a complete export of the data contract (its episodes with their
patients, sessions, outcomes and adverse events; CSV or Parquet). Install the optional
extra first: ``pip install "dnoutcomes[dask]"``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnoutcomes.errors import RequestError, UnreadableInputError

if TYPE_CHECKING:
    from dnoutcomes.network.pool import NetworkAnalysis
    from dnoutcomes.network.summary import SiteSummary
    from dnoutcomes.protocol import Protocol

__all__ = ["analyze_partitions", "find_partitions", "partition_export", "summarise_partitions"]

_TABLE_SUFFIXES = (".csv", ".parquet", ".tsv", ".txt")


def _is_export(folder: Path) -> bool:
    return any((folder / f"episodes{s}").is_file() for s in _TABLE_SUFFIXES)


def find_partitions(path: str | Path) -> list[Path]:
    """The partition folders of a partitioned export, sorted by name.

    Raises
    ------
    UnreadableInputError
        ``path`` is not a folder, or holds no partition folder with an episodes table.
    """
    root = Path(path)
    if not root.is_dir():
        raise UnreadableInputError(
            f"{root}: the Dask engine reads a folder of partition folders; it does not exist "
            "or is not a folder."
        )
    if _is_export(root):
        return [root]
    parts = sorted(p for p in root.iterdir() if p.is_dir() and _is_export(p))
    if not parts:
        raise UnreadableInputError(
            f"{root}: no partition found; expected sub-folders (e.g. site_id=north/) each "
            "holding a complete export (episodes, patients, sessions, outcomes tables)."
        )
    return parts


def _summarise_one(
    folder: str, protocol: Protocol, grid_days: float, horizon_days: float, charts: bool
) -> SiteSummary:
    """Load one partition and summarise it (runs on a worker)."""
    from dnoutcomes import load
    from dnoutcomes.errors import DatasetError, DnOutcomesError, InsufficientDataError
    from dnoutcomes.network.summary import summarise

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = load(folder, protocol=protocol)
            return summarise(
                dataset,
                protocol,
                grid_days=grid_days,
                horizon_days=horizon_days,
                charts=charts,
                disclosure=False,
            )
    except DnOutcomesError as exc:
        kinds: tuple[type[DnOutcomesError], ...] = (
            UnreadableInputError,
            DatasetError,
            RequestError,
            InsufficientDataError,
        )
        kind = next((k for k in kinds if isinstance(exc, k)), RequestError)
        raise kind(f"partition {folder}: {exc}") from None


def _client(scheduler: str | None, n_workers: int | None, processes: bool) -> tuple[Any, Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise RequestError(
            'the Dask engine needs the optional extra: pip install "dnoutcomes[dask]".'
        ) from None
    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except OSError as exc:
            raise RequestError(
                f"cannot reach the Dask scheduler at {scheduler} ({exc}); expected an address "
                "such as tcp://host:8786 of a running scheduler."
            ) from None
    cluster = LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=processes, dashboard_address=None
    )
    return Client(cluster), cluster


def summarise_partitions(
    path: str | Path,
    protocol: Protocol,
    *,
    scheduler: str | None = None,
    grid_days: float | None = None,
    horizon_days: float | None = None,
    charts: bool = True,
    n_workers: int | None = None,
    processes: bool = True,
) -> list[SiteSummary]:
    """Summarise every partition on a Dask cluster.

    Parameters
    ----------
    path
        The partitioned export.
    protocol
        The protocol.
    scheduler
        Address of a running scheduler (``tcp://host:8786``); ``None`` starts a
        ``LocalCluster`` for the call.
    grid_days, horizon_days
        The time-to-response grid (defaults as :func:`~dnoutcomes.network.summarise`).
    charts
        Include the monthly chart data.
    n_workers, processes
        Of the ``LocalCluster`` (default: Dask's choice of workers; worker processes).

    Returns
    -------
    list of SiteSummary
        One per partition, not checked for disclosure (they never leave the cluster).
    """
    from dnoutcomes.network.summary import DEFAULT_GRID_DAYS, DEFAULT_HORIZON_DAYS

    parts = find_partitions(path)
    grid = DEFAULT_GRID_DAYS if grid_days is None else grid_days
    horizon = DEFAULT_HORIZON_DAYS if horizon_days is None else horizon_days
    client, cluster = _client(scheduler, n_workers, processes)
    try:
        futures = client.map(
            _summarise_one,
            [str(p) for p in parts],
            protocol=protocol,
            grid_days=grid,
            horizon_days=horizon,
            charts=charts,
            pure=False,
        )
        summaries: list[SiteSummary] = client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return summaries


def analyze_partitions(
    path: str | Path,
    protocol: Protocol,
    *,
    conf_level: float = 0.95,
    **kwargs: Any,
) -> NetworkAnalysis:
    """Summarise every partition on a Dask cluster and pool the summaries.

    Parameters
    ----------
    path, protocol
        See :func:`summarise_partitions`, which receives ``kwargs``.
    conf_level
        Confidence level of every interval.

    Returns
    -------
    NetworkAnalysis
        The same numbers as pooling the summaries of the whole export (a site split over
        several partitions is added up).
    """
    from dnoutcomes.network.pool import pool

    summaries = summarise_partitions(path, protocol, **kwargs)
    sources: Sequence[str] = [str(p) for p in find_partitions(path)]
    return pool(summaries, sources=sources, conf_level=conf_level, same_site_in_several=True)


def partition_export(source: str | Path, target: str | Path, *, prefix: str = "") -> list[Path]:
    """Split a Parquet export by site into hive-style partition folders.

    Parameters
    ----------
    source
        An export folder of Parquet tables (``episodes.parquet``, ``patients.parquet``…).
    target
        The folder to create the partitions in (``site_id=<site>/``, each a complete
        export).
    prefix
        Put before each partition folder's name (to add the partitions of several exports
        to one folder).

    Returns
    -------
    list of pathlib.Path
        The partition folders written.

    Notes
    -----
    Each episode goes with its site (``site_id`` of the episodes table, else of its
    patient); its sessions, outcomes and adverse events (through their session) follow it,
    and each partition gets the patients of its episodes.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    src, dst = Path(source), Path(target)
    tables = {p.stem: pq.read_table(p) for p in sorted(src.glob("*.parquet"))}
    if "episodes" not in tables or "patients" not in tables:
        raise UnreadableInputError(
            f"{src}: expected Parquet tables episodes.parquet and patients.parquet to partition."
        )
    episodes, patients = tables["episodes"], tables["patients"]
    if "site_id" in episodes.column_names:
        site = episodes["site_id"]
    else:
        index = pc.index_in(episodes["patient_id"], value_set=patients["patient_id"])
        site = pc.take(patients["site_id"], index)
    site = pc.cast(site, pa.string())
    written = []
    for name in sorted(s for s in pc.unique(site).to_pylist() if s is not None):
        keep = pc.equal(site, name)
        eps = episodes.filter(keep)
        ids = eps["episode_id"]
        parts = {
            "episodes": eps,
            "patients": patients.filter(
                pc.is_in(patients["patient_id"], value_set=eps["patient_id"])
            ),
        }
        if "sessions" in tables:
            parts["sessions"] = tables["sessions"].filter(
                pc.is_in(tables["sessions"]["episode_id"], value_set=ids)
            )
        if "outcomes" in tables:
            parts["outcomes"] = tables["outcomes"].filter(
                pc.is_in(tables["outcomes"]["episode_id"], value_set=ids)
            )
        if "adverse_events" in tables and "sessions" in parts:
            ae = tables["adverse_events"]
            parts["adverse_events"] = ae.filter(
                pc.is_in(ae["session_id"], value_set=parts["sessions"]["session_id"])
            )
        folder = dst / f"{prefix}site_id={name}"
        folder.mkdir(parents=True, exist_ok=False)
        for table_name, table in parts.items():
            pq.write_table(table, folder / f"{table_name}.parquet")
        written.append(folder)
    return written
