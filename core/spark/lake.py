"""Registering a data-lake table as a PathLens dataset (what the dataset picker needs).

The store (:class:`core.store.DatasetStore`) keeps embedded datasets as Parquet files under a
content hash. A lake dataset stays where it is: :func:`register_lake_dataset` reads its schema
and a few aggregates on Spark and returns a :class:`LakeDataset` whose ``id`` has the store's
id format (32 hex digits), derived from the source and the files Spark will read (path, size,
modification time as listed), so a changed table gets a new id and cached results never go stale.
The Data page (ui work) is to call it, keep the returned record beside the store's datasets
(``meta()`` gives the fields of a :class:`~core.store.DatasetMeta`) and run the pages of a lake
dataset through the Spark backend.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from core.errors import SchemaError
from core.schema import REQUIRED_COLUMNS

__all__ = ["LakeDataset", "register_lake_dataset"]


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
        The Parquet path or table name the Spark backend reads.
    rows, users : int
        Events and distinct users.
    size_bytes : int
        Bytes of the files Spark reads (0 for a table whose files Spark does not list).
    report : dict
        ``columns`` (name -> Spark type), ``first_event``/``last_event`` (ISO 8601, UTC),
        ``event_types`` (event type -> events), ``events`` (distinct event names),
        ``files`` (number of files).
    """

    id: str
    name: str
    source: str
    rows: int
    users: int
    size_bytes: int
    report: dict[str, Any] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        """The fields of a :class:`~core.store.DatasetMeta` (``created`` left to the store)."""
        return {
            "id": self.id,
            "name": self.name,
            "rows": self.rows,
            "users": self.users,
            "size_bytes": self.size_bytes,
            "report": {**self.report, "lake": self.source},
        }


def _file_listing(frame: Any) -> list[str]:
    try:
        return sorted(frame.inputFiles())
    except Exception:  # noqa: BLE001 - a source without files (a view): the source names it
        return []


def register_lake_dataset(
    source: str, *, name: str | None = None, spark: Any = None
) -> LakeDataset:
    """Describe a lake table of canonical events for the dataset picker.

    Parameters
    ----------
    source : str
        Parquet path (``s3://...``, ``abfss://...``, a folder, a glob) or catalog table name.
    name : str, optional
        Display name; default the source.
    spark : SparkSession, optional
        Default: :func:`core.spark.session.get_session`.

    Returns
    -------
    LakeDataset

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
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"lake table {source!r} lacks the canonical column(s) {missing}; "
            f"found {frame.columns}. Load the export with core.load_events and "
            "write the canonical table to the lake first."
        )
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
    size = 0
    fingerprint = hashlib.sha256(str(source).encode())
    if files:
        hadoop = spark.sparkContext._jvm if hasattr(spark, "sparkContext") else None
        for path in files:
            fingerprint.update(path.encode())
            if hadoop is not None:
                jpath = hadoop.org.apache.hadoop.fs.Path(path)
                status = jpath.getFileSystem(
                    spark.sparkContext._jsc.hadoopConfiguration()
                ).getFileStatus(jpath)
                size += int(status.getLen())
                fingerprint.update(f"{status.getLen()}:{status.getModificationTime()}".encode())
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
        },
    )
