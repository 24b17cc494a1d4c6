"""The Dask engine: the site summaries of :func:`~dnoutcomes.network.summarise` computed
per partition of a partitioned export on a Dask cluster, then pooled, so that a worker
holds one partition at a time and never the whole export.

A partitioned export is a folder of partition folders (hive-style ``site_id=north/`` or
any names), each a complete export of the data contract (its episodes with their
patients, sessions, outcomes and adverse events; CSV or Parquet). Install the optional
extra first: ``pip install "dnoutcomes[dask]"``.
"""

from __future__ import annotations

import operator
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


def _in_partition(folder: str, exc: Exception) -> Exception:
    """The error with the partition's folder in its message (its kind kept)."""
    from dnoutcomes.errors import DatasetError, InsufficientDataError

    kinds: tuple[type[Exception], ...] = (
        UnreadableInputError,
        DatasetError,
        RequestError,
        InsufficientDataError,
    )
    kind = next((k for k in kinds if isinstance(exc, k)), RequestError)
    return kind(f"partition {folder}: {exc}")


def _load(folder: str, protocol: Protocol) -> Any:
    """Load one partition (runs on a worker)."""
    from dnoutcomes import load
    from dnoutcomes.errors import DnOutcomesError
    from dnoutcomes.validate import validate

    try:
        # validate() rather than load(): the same dataset without the warning, which a
        # worker thread cannot silence safely (warning filters are global)
        report = validate(folder, protocol=protocol)
        if report.dataset is None:
            load(folder, protocol=protocol)  # raises the contract error with its message
        return report.dataset
    except DnOutcomesError as exc:
        raise _in_partition(folder, exc) from None


def _summarise(
    dataset: Any,
    folder: str,
    protocol: Protocol,
    grid_days: float,
    horizon_days: float,
    charts: bool,
) -> SiteSummary:
    """Summarise one loaded partition (runs on a worker)."""
    from dnoutcomes.errors import DnOutcomesError
    from dnoutcomes.network.summary import summarise

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return summarise(
                dataset,
                protocol,
                grid_days=grid_days,
                horizon_days=horizon_days,
                charts=charts,
                disclosure=False,
            )
    except DnOutcomesError as exc:
        raise _in_partition(folder, exc) from None


def _prepare_iptw(dataset: Any, protocol: Protocol) -> Any:
    """The partition's rows of the weighted comparison, kept on the worker; ``None`` when
    the partition cannot supply them (the reason is in the exception's text)."""
    from dnoutcomes.errors import DnOutcomesError
    from dnoutcomes.network.iptw import IptwSite

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return IptwSite.prepare(dataset, protocol)
    except DnOutcomesError as exc:
        return str(exc)


def _partition(
    folder: str,
    protocol: Protocol,
    grid_days: float,
    horizon_days: float,
    charts: bool,
    iptw: bool,
) -> tuple[SiteSummary, Any]:
    """Load one partition, summarise it and prepare its IPTW rows (runs on a worker)."""
    dataset = _load(folder, protocol)
    summary = _summarise(dataset, folder, protocol, grid_days, horizon_days, charts)
    site = _prepare_iptw(dataset, protocol) if iptw else None
    return summary, site


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
        n_workers=n_workers, threads_per_worker=1, processes=processes, dashboard_address=":0"
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
    iptw: bool = False,
) -> tuple[list[SiteSummary], dict[str, Any] | None]:
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
    iptw
        Also run the weighted comparison by iterated summaries
        (:func:`~dnoutcomes.network.iptw.iterated_iptw`): each partition's rows for it stay
        on its worker and each round sends only sums.

    Returns
    -------
    (list of SiteSummary, dict or None)
        One summary per partition, not checked for disclosure (they never leave the
        cluster), and the weighted comparison (``None`` when not asked; a dict with
        ``failed`` when it could not be run).
    """
    from dnoutcomes.network.summary import DEFAULT_GRID_DAYS, DEFAULT_HORIZON_DAYS

    parts = [str(p) for p in find_partitions(path)]
    grid = DEFAULT_GRID_DAYS if grid_days is None else grid_days
    horizon = DEFAULT_HORIZON_DAYS if horizon_days is None else horizon_days
    client, cluster = _client(scheduler, n_workers, processes)
    weighted: dict[str, Any] | None = None
    try:
        # one task per partition: load, summarise, keep the IPTW rows; the dataset is
        # freed when the task ends, so a worker holds one partition at a time
        done = client.map(
            _partition,
            parts,
            protocol=protocol,
            grid_days=grid,
            horizon_days=horizon,
            charts=charts,
            iptw=iptw,
            pure=False,
        )
        summary_futures = [client.submit(operator.itemgetter(0), f, pure=False) for f in done]
        site_futures = (
            [client.submit(operator.itemgetter(1), f, pure=False) for f in done] if iptw else []
        )
        summaries: list[SiteSummary] = client.gather(summary_futures)
        del done, summary_futures  # only the IPTW rows stay on the workers
        if iptw:
            weighted = _run_iptw(client, site_futures, protocol)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return summaries, weighted


def _run_iptw(client: Any, site_futures: list[Any], protocol: Protocol) -> dict[str, Any]:
    from dnoutcomes.errors import InsufficientDataError
    from dnoutcomes.network.iptw import iterated_iptw

    prepared = client.gather(site_futures)
    failed = [p for p in prepared if isinstance(p, str)]
    if failed:
        return {"failed": failed[0]}
    try:
        return iterated_iptw(
            ask=lambda f: client.gather(client.map(f, site_futures, pure=False)),
            estimand=protocol.weighting.estimand,
        )
    except InsufficientDataError as exc:
        return {"failed": str(exc)}


def analyze_partitions(
    path: str | Path,
    protocol: Protocol,
    *,
    conf_level: float = 0.95,
    iptw: bool = True,
    **kwargs: Any,
) -> NetworkAnalysis:
    """Summarise every partition on a Dask cluster and pool the summaries.

    Parameters
    ----------
    path, protocol
        See :func:`summarise_partitions`, which receives ``kwargs``.
    conf_level
        Confidence level of every interval.
    iptw
        Add the weighted comparison by iterated summaries (default).

    Returns
    -------
    NetworkAnalysis
        The same numbers as pooling the summaries of the whole export (a site split over
        several partitions is added up).
    """
    from dnoutcomes.network.pool import pool, with_iptw

    summaries, weighted = summarise_partitions(path, protocol, iptw=iptw, **kwargs)
    sources: Sequence[str] = [str(p) for p in find_partitions(path)]
    result = pool(summaries, sources=sources, conf_level=conf_level, same_site_in_several=True)
    if weighted is not None and "failed" not in weighted:
        result = with_iptw(result, weighted)
    elif weighted is not None:
        import dataclasses

        result = dataclasses.replace(
            result, notes=(*result.notes, f"IPTW not analysed: {weighted['failed']}")
        )
    return result


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
