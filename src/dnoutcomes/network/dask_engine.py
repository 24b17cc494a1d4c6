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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnoutcomes.errors import RequestError, UnreadableInputError

if TYPE_CHECKING:
    from dnoutcomes.network.pool import NetworkAnalysis
    from dnoutcomes.network.summary import SiteSummary
    from dnoutcomes.protocol import Protocol

__all__ = [
    "Partition",
    "analyze_partitions",
    "find_partitions",
    "partition_export",
    "partition_files",
    "summarise_partitions",
]

_TABLE_SUFFIXES = (".csv", ".parquet", ".tsv", ".txt")
#: Suffixes of a part file in the many-files layout (longest first).
_PART_SUFFIXES = (".csv.gz", ".parquet", ".csv")


@dataclass(frozen=True)
class Partition:
    """One partition of a partitioned export.

    Attributes
    ----------
    name
        The partition folder's name (``site_id=north``), or the part files' shared name
        (``part-0003``) in the many-files layout.
    path
        The partition folder, or the export's root in the many-files layout.
    files
        ``None`` for a partition folder; else ``(table, file)`` pairs, one per table.
    """

    name: str
    path: Path
    files: tuple[tuple[str, Path], ...] | None = None

    def __str__(self) -> str:
        return str(self.path) if self.files is None else f"{self.path}[{self.name}]"


def _is_export(folder: Path) -> bool:
    return any((folder / f"episodes{s}").is_file() for s in _TABLE_SUFFIXES)


def _part_name(file: Path) -> str | None:
    lower = file.name.lower()
    suffix = next((s for s in _PART_SUFFIXES if lower.endswith(s)), None)
    return None if suffix is None else file.name[: -len(suffix)]


def _schema(file: Path) -> tuple[str, ...]:
    """The file's columns (Parquet: name and type; CSV: the header's names, lower-cased)."""
    import gzip

    if file.name.lower().endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(file)
        except (pa.ArrowException, OSError) as exc:
            raise UnreadableInputError(
                f"{file}: the file is not readable Parquet ({exc}); export it again."
            ) from None
        return tuple(f"{f.name.lower()}:{f.type}" for f in schema)
    opener: Any = gzip.open if file.name.lower().endswith(".gz") else open
    try:
        with opener(file, "rt", encoding="utf-8-sig", newline="") as handle:
            header = handle.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableInputError(
            f"{file}: the header line cannot be read ({exc}); export it again."
        ) from None
    sep = ";" if header.count(";") > header.count(",") else ","
    return tuple(c.strip().strip('"').lower() for c in header.rstrip("\r\n").split(sep))


def _table_parts(folder: Path) -> dict[str, Path]:
    """The part files of one table folder by part name; one format per folder."""
    parts: dict[str, Path] = {}
    for file in sorted(p for p in folder.iterdir() if p.is_file()):
        name = _part_name(file)
        if name is None or file.name.startswith((".", "_")):
            continue
        if name in parts:
            raise UnreadableInputError(
                f"{file}: part {name} of table {folder.name} is given twice ({parts[name].name} "
                f"and {file.name}); keep one file per part."
            )
        parts[name] = file
    return parts


def _file_partitions(root: Path) -> list[Partition]:
    """The partitions of the many-files layout: ``root/<table>/<part>.parquet``."""
    from dnoutcomes.contract.specs import OPTIONAL_TABLES, REQUIRED_TABLES

    tables = {
        t: _table_parts(root / t)
        for t in (*REQUIRED_TABLES, *OPTIONAL_TABLES)
        if (root / t).is_dir()
    }
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise UnreadableInputError(
            f"{root}: the many-files layout needs one folder per table; {missing[0]}/ is "
            f"missing (found: {', '.join(f'{t}/' for t in tables) or 'none'})."
        )
    names = sorted(set().union(*(set(p) for p in tables.values())))
    if not names:
        raise UnreadableInputError(
            f"{root / 'episodes'}: no part file (.parquet, .csv or .csv.gz) in the table folders."
        )
    for table, parts in tables.items():
        absent = [n for n in names if n not in parts]
        if absent:
            other = next(t for t, p in tables.items() if absent[0] in p)
            raise UnreadableInputError(
                f"{root / table}: partition {absent[0]} has no {table} file (expected "
                f"{table}/{absent[0]}.parquet beside {tables[other][absent[0]].relative_to(root)}"
                "); every table folder must hold the same part names."
            )
        first = parts[names[0]]
        expected = _schema(first)
        for name in names[1:]:
            got = _schema(parts[name])
            if got != expected:
                extra = [c for c in got if c not in expected]
                lacking = [c for c in expected if c not in got]
                raise UnreadableInputError(
                    f"{parts[name]}: its columns differ from {first.relative_to(root)} "
                    f"(not in {first.name}: {', '.join(extra) or 'none'}; missing here: "
                    f"{', '.join(lacking) or 'none'}); every part of table {table} must "
                    "have the same columns and types."
                )
    return [Partition(name, root, tuple((t, tables[t][name]) for t in tables)) for name in names]


def find_partitions(path: str | Path) -> list[Partition]:
    """The partitions of a partitioned export, sorted by name.

    Two layouts are read. **Partition folders**: ``path`` holds folders (hive-style
    ``site_id=north/`` or any names), each a complete export (``episodes.parquet``,
    ``patients.parquet``…); ``path`` itself may be one export. **Many files**: ``path``
    holds one folder per table (``episodes/``, ``patients/``, ``sessions/``,
    ``outcomes/``, optionally ``adverse_events/``), each with the same part files
    (``part-0000.parquet``, ``part-0001.parquet``… or ``.csv``/``.csv.gz``); partition
    ``part-0000`` is the file of that name in every table folder.

    Raises
    ------
    UnreadableInputError
        ``path`` is not a folder or holds no partition; in the many-files layout, a table
        folder missing, a part missing from one table folder, a part given twice, or a part
        whose columns differ from the table's first part (the file is named).
    """
    root = Path(path)
    if not root.is_dir():
        raise UnreadableInputError(
            f"{root}: the Dask engine reads a folder of partition folders; it does not exist "
            "or is not a folder."
        )
    if _is_export(root):
        return [Partition(root.name, root)]
    if (root / "episodes").is_dir():
        return _file_partitions(root)
    parts = sorted(p for p in root.iterdir() if p.is_dir() and _is_export(p))
    if not parts:
        raise UnreadableInputError(
            f"{root}: no partition found; expected sub-folders (e.g. site_id=north/) each "
            "holding a complete export (episodes, patients, sessions, outcomes tables), or "
            "one folder per table (episodes/, patients/, …) of part files."
        )
    return [Partition(p.name, p) for p in parts]


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


def _load(part: Partition, protocol: Protocol) -> Any:
    """Load one partition (runs on a worker)."""
    from dnoutcomes import load
    from dnoutcomes.errors import DatasetError, DnOutcomesError
    from dnoutcomes.io import read_files
    from dnoutcomes.validate import validate, validate_export

    try:
        # validate() rather than load(): the same dataset without the warning, which a
        # worker thread cannot silence safely (warning filters are global)
        if part.files is not None:
            report = validate_export(
                read_files(f"{part.path}/{part.name}", dict(part.files)), protocol=protocol
            )
            if report.dataset is None:
                n = len(report.problems)
                first = "\n".join("  " + m for m in report.problems["message"].head(5))
                raise DatasetError(
                    f"the partition breaks the data contract ({n} problem"
                    f"{'s' if n != 1 else ''}); nothing was loaded:\n{first}",
                    problems=report.problems,
                )
            return report.dataset
        report = validate(part.path, protocol=protocol)
        if report.dataset is None:
            load(part.path, protocol=protocol)  # raises the contract error with its message
        return report.dataset
    except DnOutcomesError as exc:
        raise _in_partition(str(part), exc) from None


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
    part: Partition,
    protocol: Protocol,
    grid_days: float,
    horizon_days: float,
    charts: bool,
    iptw: bool,
) -> tuple[SiteSummary, Any]:
    """Load one partition, summarise it and prepare its IPTW rows (runs on a worker)."""
    dataset = _load(part, protocol)
    summary = _summarise(dataset, str(part), protocol, grid_days, horizon_days, charts)
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

    parts = find_partitions(path)
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


def partition_files(source: str | Path, target: str | Path, *, parts: int) -> list[Path]:
    """Split a Parquet export by patient into the many-files layout.

    Parameters
    ----------
    source
        An export folder of Parquet tables (``episodes.parquet``, ``patients.parquet``…).
    target
        The folder to write: ``<table>/part-0000.parquet`` … for every table of the export.
    parts
        How many parts: the patients, in the order of the patients table, are cut into
        this many runs of (nearly) equal length.

    Returns
    -------
    list of pathlib.Path
        The table folders written.

    Notes
    -----
    A patient's episodes go with the patient, so no row is written twice: the parts hold
    the export's rows exactly once. Sessions and outcomes follow their episode, adverse
    events their session.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if parts < 1:
        raise RequestError(f"parts: expected at least 1; got {parts}.")
    src, dst = Path(source), Path(target)
    tables = {p.stem: pq.read_table(p) for p in sorted(src.glob("*.parquet"))}
    if "episodes" not in tables or "patients" not in tables:
        raise UnreadableInputError(
            f"{src}: expected Parquet tables episodes.parquet and patients.parquet to partition."
        )
    patients = tables["patients"]
    part_of_patient = pa.array(
        (np.arange(patients.num_rows) * parts // max(patients.num_rows, 1)).astype("int64")
    )

    def lookup(keys: Any, table: pa.Table, key: str, values: Any) -> Any:
        return pc.take(values, pc.index_in(keys, value_set=table[key]))

    episodes = tables["episodes"]
    of = {
        "patients": part_of_patient,
        "episodes": lookup(episodes["patient_id"], patients, "patient_id", part_of_patient),
    }
    for name in ("sessions", "outcomes"):
        if name in tables:
            of[name] = lookup(tables[name]["episode_id"], episodes, "episode_id", of["episodes"])
    if "adverse_events" in tables and "sessions" in tables:
        of["adverse_events"] = lookup(
            tables["adverse_events"]["session_id"], tables["sessions"], "session_id", of["sessions"]
        )
    written = []
    for name, part_of in of.items():
        folder = dst / name
        folder.mkdir(parents=True, exist_ok=False)
        for k in range(parts):
            keep = pc.fill_null(pc.equal(part_of, k), False)
            pq.write_table(tables[name].filter(keep), folder / f"part-{k:04d}.parquet")
        written.append(folder)
    return written
