"""Lake datasets: event tables that stay in the data lake, registered for the dataset picker.

The store (:class:`core.store.DatasetStore`) keeps embedded datasets as Parquet files under a
content hash. A lake dataset stays where it is. Registering it (:func:`register_lake_dataset`
on Spark, local or Spark Connect; :func:`describe_lake_parquet` with Polars, no JVM) reads its
schema and a few aggregates and returns a :class:`LakeDataset` whose ``id`` has the store's id
format (32 hex digits), derived from the source and the files it reads (path, size,
modification time), so a changed table gets a new id and cached results never go stale.
:class:`LakeRegistry` keeps the records in one JSON file beside the store's datasets; the store
answers ``exists``/``meta``/``scan`` for their ids, so they appear in the dataset picker.

What a page can do with one (said on the Data page, and in ``docs/scale-out.md``):

* with the **Spark engine** (``PATHLENS_BACKEND=spark`` or the Data page's choice), a Parquet
  path or a catalog table is read by Spark and the pages' analyses run there (``ui.engine``,
  :func:`core.spark.views.view_events`): only their results come back to the dashboard;
* with the **Polars engine**, a **Parquet path** (file, folder, glob, ``s3://...``) is scanned
  lazily by Polars on the dashboard's server (:func:`scan_lake`): every page works on it,
  results cached like any other dataset, as long as the events left after the sidebar filters
  fit in its memory; a **catalog table** (a name) only Spark can read: a page that opens it
  says so and shows the sample.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import posixpath
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from core.errors import DatasetNotFound, SchemaError, StoreWriteError
from core.schema import REQUIRED_COLUMNS, conform

__all__ = [
    "LAKE_REGISTRY_FILE",
    "LakeDataset",
    "LakeRegistry",
    "describe_lake_parquet",
    "LAKE_ROOTS_ENV",
    "is_lake_path",
    "lake_roots",
    "lake_source_refusal",
    "register_lake_dataset",
    "scan_lake",
    "table_users",
]

#: The registry's file, in the store's root (its stem is not a dataset id: the store skips it).
LAKE_REGISTRY_FILE = "lake-datasets.json"
_KINDS = ("parquet", "table")


@dataclass(frozen=True)
class LakeDataset:
    """A lake table registered as a dataset.

    Attributes
    ----------
    id : str
        32 lowercase hex digits (the store's id format).
    name : str
        Shown in the dataset picker.
    source : str
        The Parquet path or table name.
    rows, users : int
        Events and distinct users.
    size_bytes : int
        Bytes of the files read (0 when they cannot be listed: a table, Spark Connect, a
        remote path read by Polars).
    report : dict
        ``columns`` (name -> type), ``first_event``/``last_event`` (ISO 8601, UTC),
        ``event_types`` (event type -> events), ``events`` (distinct event names),
        ``files`` (number of files), ``engine`` (``"spark"`` or ``"polars"``: what read it).
    kind : {"parquet", "table"}
        A Parquet path (pages read it with Polars) or a catalog table (Spark only).
    created : float
        When it was registered (seconds since the epoch; 0 until registered).
    """

    id: str
    name: str
    source: str
    rows: int
    users: int
    size_bytes: int
    report: dict[str, Any] = field(default_factory=dict)
    kind: str = "parquet"
    created: float = 0.0

    @property
    def label(self) -> str:
        """The picker's name: says it is a lake dataset and, for a table, that only Spark reads
        it."""
        if self.kind == "table":
            return f"Lake table · {self.name} (Spark only)"
        return f"Lake · {self.name}"

    def meta(self) -> dict[str, Any]:
        """The fields of a :class:`~core.store.DatasetMeta` (the picker's label as the name)."""
        return {
            "id": self.id,
            "name": self.label,
            "created": self.created,
            "rows": self.rows,
            "users": self.users,
            "size_bytes": self.size_bytes,
            "report": {**self.report, "lake": self.source, "lake_kind": self.kind},
        }


def is_lake_path(source: str) -> bool:
    """True when ``source`` names files (a URL, an existing path or a glob), False for a
    catalog table name; the rule of :func:`core.spark.runner.read_events`."""
    return "://" in source or os.path.exists(source) or any(ch in source for ch in "*?[")


#: Environment variable naming what a dashboard visitor may register as a lake dataset.
LAKE_ROOTS_ENV = "PATHLENS_LAKE_ROOTS"
_CATALOG = "catalog:"


def lake_roots(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The lake sources the operator lets dashboard visitors register (``PATHLENS_LAKE_ROOTS``).

    Entries are separated by commas: a local folder (``/data/lake``), a URL prefix
    (``s3://shop-events/``) or ``catalog:<prefix>`` for catalog tables whose names start with
    the prefix (``catalog:`` alone: every table). Unset or empty: none (registering from the
    dashboard is off; :func:`register_lake_dataset` from Python is not affected).

    Parameters
    ----------
    environ : mapping, optional
        The environment to read (``os.environ`` by default).

    Returns
    -------
    tuple of str
    """
    raw = (os.environ if environ is None else environ).get(LAKE_ROOTS_ENV, "")
    return tuple(e.strip() for e in raw.split(",") if e.strip())


def _url_within(source: str, root: str) -> bool:
    scheme, _, rest = source.partition("://")
    r_scheme, _, r_rest = root.partition("://")
    if scheme.lower() != r_scheme.lower() or ".." in rest.split("/"):
        return False
    path, base = posixpath.normpath("/" + rest), posixpath.normpath("/" + r_rest)
    return path == base or path.startswith(base.rstrip("/") + "/")


def _path_within(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def lake_source_refusal(source: str, roots: Sequence[str], *, store_root: str | Path) -> str:
    """Why a dashboard visitor may not register ``source`` (``""`` when they may).

    A shared server must not let a visitor read whatever the server can: a source must lie
    under one of the operator's ``roots`` (:func:`lake_roots`; symbolic links and ``..`` are
    resolved first) and never in the dataset store (its Parquet files are other visitors'
    uploads).

    Parameters
    ----------
    source : str
        A Parquet path (file, folder, glob, URL) or a catalog table name.
    roots : sequence of str
        The allowed sources (:func:`lake_roots`).
    store_root : str or Path
        The dataset store's folder.

    Returns
    -------
    str
        The refusal in words, or ``""``.
    """
    if not roots:
        return ("Registering lake datasets is off on this server. Its operator allows it by "
                f"setting {LAKE_ROOTS_ENV} to the folders, URL prefixes (s3://...) or "
                "`catalog:` table prefixes that visitors may read.")
    allowed = ", ".join(f"`{r}`" for r in roots)
    if not is_lake_path(source):
        if any(r.startswith(_CATALOG) and source.startswith(r[len(_CATALOG):]) for r in roots):
            return ""
        if "/" in source or os.sep in source:
            return (f"`{source}` does not exist on this server (and is not a catalog table "
                    f"this server allows: {allowed}).")
        return f"The table `{source}` is not among the lake sources this server allows ({allowed})."
    if "://" in source:
        ok = any(_url_within(source, r) for r in roots if "://" in r)
    else:  # a glob is judged by the files it matches too ("/srv/*/x" may reach the store)
        reals = [os.path.realpath(p) for p in (source, *glob.glob(source, recursive=True))]
        store = os.path.realpath(store_root)
        if any(_path_within(real, store) for real in reals):
            return f"`{source}` is inside the dataset store, which holds visitors' uploads."
        folders = [os.path.realpath(r) for r in roots if "://" not in r and not r.startswith(_CATALOG)]
        ok = all(any(_path_within(real, f) for f in folders) for real in reals)
    return "" if ok else f"`{source}` is outside the lake sources this server allows ({allowed})."


def _file_listing(frame: Any) -> list[str]:
    try:
        return sorted(frame.inputFiles())
    except Exception:  # noqa: BLE001 - a source without files (a view): the source names it
        return []


def _hadoop_sizes(spark: Any, files: list[str], fingerprint: Any) -> int:
    """Bytes of ``files`` from Hadoop's file system (classic sessions only; 0 on Connect,
    where the driver has no JVM)."""
    from core.spark.session import is_connect

    if is_connect(spark):
        return 0
    jvm, conf = spark.sparkContext._jvm, spark.sparkContext._jsc.hadoopConfiguration()
    size = 0
    for path in files:
        jpath = jvm.org.apache.hadoop.fs.Path(path)
        status = jpath.getFileSystem(conf).getFileStatus(jpath)
        size += int(status.getLen())
        fingerprint.update(f"{status.getLen()}:{status.getModificationTime()}".encode())
    return size


def _missing_columns(source: str, columns: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise SchemaError(
            f"lake table {source!r} lacks the canonical column(s) {missing}; "
            f"found {columns}. Load the export with core.load_events and "
            "write the canonical table to the lake first."
        )


def register_lake_dataset(
    source: str, *, name: str | None = None, spark: Any = None
) -> LakeDataset:
    """Describe a lake table of canonical events for the dataset picker, on Spark.

    Parameters
    ----------
    source : str
        Parquet path (``s3://...``, ``abfss://...``, a folder, a glob) or catalog table name.
    name : str, optional
        Display name; default the source.
    spark : SparkSession, optional
        Default: :func:`core.spark.session.get_session` (Spark Connect when
        ``PATHLENS_SPARK_REMOTE`` is set).

    Returns
    -------
    LakeDataset
        Not yet registered: :meth:`LakeRegistry.add` keeps it.

    Raises
    ------
    DatasetNotFound
        ``source`` is neither an existing path nor a table.
    SchemaError
        The table lacks a required canonical column (the message lists what it has).
    """
    from pyspark.sql import functions as F  # lazy: only the Spark backend imports pyspark

    from core.spark.runner import ROW_COL, read_events
    from core.spark.session import get_session

    spark = spark or get_session()
    frame = read_events(spark, source).frame.drop(ROW_COL)
    _missing_columns(source, frame.columns)
    files = _file_listing(frame)
    stats = frame.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct("user_id").alias("users"),
        F.date_format(F.min("ts"), "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX").alias("first"),
        F.date_format(F.max("ts"), "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX").alias("last"),
        F.countDistinct("event").alias("events"),
    ).collect()[0]
    types = {
        r["event_type"]: int(r["count"]) for r in frame.groupBy("event_type").count().collect()
    }
    fingerprint = hashlib.sha256(str(source).encode())
    for path in files:
        fingerprint.update(path.encode())
    size = _hadoop_sizes(spark, files, fingerprint) if files else 0
    fingerprint.update(f"{stats['rows']}:{stats['last']}".encode())
    return LakeDataset(
        id=fingerprint.hexdigest()[:32],
        name=name or str(source),
        source=str(source),
        rows=int(stats["rows"]),
        users=int(stats["users"]),
        size_bytes=size,
        report={
            "columns": {f.name: f.dataType.simpleString() for f in frame.schema.fields},
            "first_event": stats["first"],
            "last_event": stats["last"],
            "event_types": types,
            "events": int(stats["events"]),
            "files": len(files),
            "engine": "spark",
        },
        kind="parquet" if is_lake_path(str(source)) else "table",
    )


def _polars_files(source: str) -> list[str]:
    """The files Polars reads for ``source`` (empty for a remote URL: not listed here)."""
    if "://" in source:
        return []
    if os.path.isdir(source):
        return sorted(glob.glob(os.path.join(source, "**", "*.parquet"), recursive=True))
    if any(ch in source for ch in "*?["):
        return sorted(glob.glob(source, recursive=True))
    return [source] if os.path.isfile(source) else []


def _polars_scan(source: str) -> pl.LazyFrame:
    # a folder written by Spark also holds _SUCCESS and .crc files: read its *.parquet only
    target = os.path.join(source, "**", "*.parquet") if os.path.isdir(source) else source
    return pl.scan_parquet(target)


def describe_lake_parquet(source: str, *, name: str | None = None) -> LakeDataset:
    """Describe a Parquet path of canonical events for the dataset picker, with Polars (no JVM).

    The Polars counterpart of :func:`register_lake_dataset` for the embedded backend: the same
    record, read by the engine that will serve the pages. Catalog tables need Spark.

    Parameters
    ----------
    source : str
        A Parquet file, a folder of Parquet files (Spark's output folder included), a glob, or
        a cloud URL Polars can read (credentials from the environment).
    name : str, optional
        Display name; default the source.

    Returns
    -------
    LakeDataset

    Raises
    ------
    DatasetNotFound
        ``source`` is not a path (a table name: choose the Spark backend) or reads no file.
    SchemaError
        A required canonical column is missing or ``ts`` is not a timestamp.

    Examples
    --------
    >>> describe_lake_parquet("/lake/events/").rows  # doctest: +SKIP
    1204311
    """
    source = str(source).strip()
    if not is_lake_path(source):
        raise DatasetNotFound(
            f"lake source {source!r} is not an existing Parquet path; a catalog table name "
            "needs the Spark backend (PATHLENS_BACKEND=spark)"
        )
    files = _polars_files(source)
    if "://" not in source and not files:
        raise DatasetNotFound(f"lake path {source!r} holds no Parquet file")
    try:
        lf = _polars_scan(source)
        schema = lf.collect_schema()
    except Exception as e:  # noqa: BLE001 - any reading error is the path's, said as such
        raise DatasetNotFound(f"lake path {source!r} cannot be read as Parquet ({e})") from e
    _missing_columns(source, schema.names())
    if not isinstance(schema["ts"], pl.Datetime):
        raise SchemaError(f"lake table {source!r}: `ts` must be a timestamp, got {schema['ts']}")
    ts = pl.col("ts").dt.convert_time_zone("UTC") if schema["ts"].time_zone else pl.col("ts")
    stats = lf.select(
        pl.len().alias("rows"), pl.col("user_id").n_unique().alias("users"),
        ts.min().alias("first"), ts.max().alias("last"), pl.col("event").n_unique().alias("events"),
    ).collect().row(0, named=True)  # fmt: skip
    types = lf.group_by("event_type").len().collect()
    fingerprint = hashlib.sha256(source.encode())
    size = 0
    for path in files:
        stat = os.stat(path)
        size += stat.st_size
        fingerprint.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    fingerprint.update(f"{stats['rows']}:{stats['last']}".encode())
    return LakeDataset(
        id=fingerprint.hexdigest()[:32], name=name or source, source=source,
        rows=int(stats["rows"]), users=int(stats["users"]), size_bytes=size,
        report={
            "columns": {c: str(t) for c, t in schema.items()},
            "first_event": stats["first"].isoformat() if stats["first"] else None,
            "last_event": stats["last"].isoformat() if stats["last"] else None,
            "event_types": dict(zip(types["event_type"].to_list(), types["len"].to_list(),
                                    strict=True)),
            "events": int(stats["events"]), "files": len(files), "engine": "polars",
        },
    )  # fmt: skip


def table_users(dataset: LakeDataset, users: pl.Series) -> pl.Series:
    """The distinct ``users`` that are ``user_id`` values of a catalog-table lake dataset, in
    the table's dtype, found on Spark (a semi join: only the matches come back). What the
    store checks a cohort of a table against, since only Spark can read the table.

    Raises
    ------
    DatasetNotFound
        The table is not in the catalog of the Spark session.
    """
    from core.spark.runner import empty_partition, read_events  # lazy: pyspark
    from core.spark.session import get_session

    spark = get_session()
    events = read_events(spark, dataset.source)
    dtype = empty_partition(events).schema["user_id"]
    given = users.unique().cast(dtype, strict=False).drop_nulls().rename("user_id")
    if given.is_empty():
        return given
    table = given.to_frame().to_arrow(compat_level=pl.CompatLevel.oldest())
    wanted = spark.createDataFrame(table)
    column = events.frame.select("user_id")
    wanted = wanted.select(wanted["user_id"].cast(dict(column.dtypes)["user_id"]).alias("user_id"))
    found = column.join(wanted, on="user_id", how="left_semi").distinct().toArrow()
    out = pl.from_arrow(found)
    assert isinstance(out, pl.DataFrame)
    return out.get_column("user_id").cast(dtype)


def scan_lake(dataset: LakeDataset) -> pl.LazyFrame:
    """The canonical events of a Parquet lake dataset as a lazy Polars scan (what pages read).

    Raises
    ------
    DatasetNotFound
        The dataset is a catalog table (only Spark reads it) or its files are gone.
    """
    if dataset.kind == "table":
        raise DatasetNotFound(
            f"the lake dataset {dataset.name!r} is the catalog table `{dataset.source}`, which "
            "only Spark can read: with the Spark engine (the Data page, or "
            "PATHLENS_BACKEND=spark) the pages compute on Spark, but what needs its events on "
            "this server (Cart abandonment) cannot open it. Analyse "
            f"it with `python -m core.batch funnel --input {dataset.source} --backend spark "
            "--out DIR` (or paths, features, segments, rules, score)."
        )
    if "://" not in dataset.source and not _polars_files(dataset.source):
        raise DatasetNotFound(
            f"the lake dataset {dataset.name!r} reads {dataset.source!r}, which holds no "
            "Parquet file any more; register it again once the files are back"
        )
    out = conform(_polars_scan(dataset.source))
    assert isinstance(out, pl.LazyFrame)
    return out


class LakeRegistry:
    """The lake datasets registered with a store: one JSON file in the store's root.

    Parameters
    ----------
    root : path
        The store's root directory (:attr:`core.store.DatasetStore.root`).
    """

    _lock = threading.Lock()

    def __init__(self, root: str | os.PathLike) -> None:
        self.path = Path(root) / LAKE_REGISTRY_FILE

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):  # absent or damaged: no lake dataset (never a crash)
            return {}
        return data if isinstance(data, dict) else {}

    def all(self) -> list[LakeDataset]:
        """Every readable record, most recently registered first."""
        out = []
        for raw in self._read().values():
            try:
                ds = LakeDataset(**raw)
            except TypeError:
                continue
            if ds.kind in _KINDS:
                out.append(ds)
        return sorted(out, key=lambda d: -d.created)

    def get(self, dataset_id: object) -> LakeDataset | None:
        """The record of ``dataset_id``, or None."""
        return next((d for d in self.all() if d.id == dataset_id), None)

    def add(self, dataset: LakeDataset) -> LakeDataset:
        """Keep ``dataset`` (replacing a record of the same id); returns it with ``created``.

        Raises
        ------
        StoreWriteError
            The registry file cannot be written (the message names it).
        """
        kept = LakeDataset(**{**asdict(dataset), "created": time.time()})
        with self._lock:
            data = self._read()
            data[kept.id] = asdict(kept)
            self._write(data)
        return kept

    def remove(self, dataset_id: str) -> None:
        """Forget a record (the lake's files are never touched)."""
        with self._lock:
            data = self._read()
            if data.pop(dataset_id, None) is not None:
                self._write(data)

    def _write(self, data: dict[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".tmp-{os.getpid()}-", dir=self.path.parent)
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh, indent=1, default=str)
            os.replace(tmp, self.path)
        except OSError as e:
            raise StoreWriteError(f"cannot write the lake registry {self.path} ({e})") from e
