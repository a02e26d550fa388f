"""Run the unchanged Polars per-partition functions of ``core`` on Spark.

The contract (``docs/architecture.md``, scale-out): a per-user computation gives the same answer
on any partition that holds all events of its users. :func:`map_partitions` hash-partitions a
Spark DataFrame by a key column (``user_id``), hands each partition to a plain Python function
as one Polars frame (``mapInArrow``: Arrow record batches -> ``pl.from_arrow``), and brings back
the function's small result tables (Arrow IPC inside a binary column). The caller merges them
on the driver with ``core``'s merge functions.

Row order: a partition's rows arrive in shuffle order, so each row carries its position in the
input as one 64-bit key (for a Parquet source the file's rank among the sorted file names,
shifted left by 40 bits, plus ``_metadata.row_index``; else a ``monotonically_increasing_id``)
and the partition is put back in input order before the core function runs. Only the columns
an analysis reads travel through the shuffle (``columns``). Events with equal timestamps are then taken in the same order as by Polars on
the whole file, and every result is the same.
"""

from __future__ import annotations

import io
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import polars as pl

from core.errors import DatasetNotFound, ParameterError

__all__ = [
    "DEFAULT_PARTITIONS",
    "ROW_COL",
    "EventSource",
    "read_events",
    "map_partitions",
]

#: Partitions of the hash shuffle by default (kept small: ``local[2]`` on a shared machine).
DEFAULT_PARTITIONS = 8
#: The column carrying each row's place in the input (dropped before a core function sees it).
ROW_COL = "_pathlens_row"
#: Rows per file the order key can count (2**40); files beyond 2**23 are not expected.
_ROW_BITS = 40
#: Rows per Arrow IPC payload sent back to the driver (keeps each binary value far below 2 GiB).
CHUNK_ROWS = 500_000
RESULT_SCHEMA = "part STRING, name STRING, chunk INT, payload BINARY"


class EventSource:
    """An event table on Spark with its row order and its Polars schema.

    Attributes
    ----------
    frame : pyspark.sql.DataFrame
        The events plus :data:`ROW_COL`.
    schema : dict of str to pl.DataType or None
        The Polars dtypes of the source (read from the Parquet footer when the driver can see
        the file); partitions are cast back to them. ``None``: cast to the canonical schema.
    prepare : callable or None
        Applied to every partition (and to :func:`empty_partition`) before the analysis.
    needs : frozenset of str
        Source columns ``prepare`` reads.
    """

    def __init__(
        self,
        frame: Any,
        schema: Mapping[str, pl.DataType] | None,
        *,
        prepare: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
        needs: Iterable[str] = (),
    ) -> None:
        self.frame = frame
        self.schema = dict(schema) if schema is not None else None
        self.prepare = prepare
        self.needs = frozenset(needs)

    def with_prepare(
        self, prepare: Callable[[pl.DataFrame], pl.DataFrame], *, needs: Iterable[str] = ()
    ) -> EventSource:
        """The same events, each partition passed through ``prepare`` before an analysis sees
        it (row-wise work: the sidebar's filters, cohort columns). ``prepare`` must be
        picklable, keep whole users together and keep the row order; ``needs`` are the source
        columns it reads (they travel through the shuffle whatever the analysis reads)."""
        return EventSource(self.frame, self.schema, prepare=prepare, needs=needs)

    def columns(self) -> list[str]:
        """The event columns (without the order columns)."""
        return [c for c in self.frame.columns if c != ROW_COL]


def read_events(spark: Any, source: Any) -> EventSource:
    """An :class:`EventSource` from a Parquet path (file, folder, glob), a table name or a
    Spark DataFrame (an :class:`EventSource` is returned as it is).

    Raises
    ------
    DatasetNotFound
        ``source`` is neither an existing path, nor a table of the catalog.
    """
    from pyspark.sql import functions as F  # lazy: only the Spark backend imports pyspark

    if isinstance(source, EventSource):
        return source
    if not isinstance(source, (str, os.PathLike)):
        frame = source.select("*", F.monotonically_increasing_id().alias(ROW_COL))
        return EventSource(frame, None)
    text = os.fspath(source)
    is_path = "://" in text or os.path.exists(text) or any(ch in text for ch in "*?[")
    if not is_path:
        try:
            table = spark.table(text)
        except Exception as exc:  # noqa: BLE001 - Spark raises AnalysisException subclasses
            raise DatasetNotFound(
                f"`input` {text!r} is neither a Parquet path that exists nor a table of the "
                "Spark catalog; give a file, a folder of Parquet files or a table name"
            ) from exc
        frame = table.select("*", F.monotonically_increasing_id().alias(ROW_COL))
        return EventSource(frame, None)
    raw = spark.read.parquet(text)
    # files in name order, as Polars reads a folder or a glob: their rank leads the order key
    files = sorted(raw.inputFiles())
    rank = F.lit(0)
    if len(files) > 1:
        rank = F.create_map(*[F.lit(x) for i, f in enumerate(files) for x in (f, i)])[
            F.col("_metadata.file_path")
        ]
    key = F.shiftleft(rank.cast("long"), _ROW_BITS) + F.col("_metadata.row_index")
    frame = raw.select("*", key.alias(ROW_COL))
    schema = None
    if os.path.exists(text) or any(ch in text for ch in "*?["):
        try:
            schema = dict(pl.scan_parquet(text).collect_schema())
        except Exception:  # noqa: BLE001 - unreadable here (remote, mixed files): canonical
            schema = None
    return EventSource(frame, schema)


def _to_polars(batches: list[Any], schema: Mapping[str, pl.DataType] | None) -> pl.DataFrame:
    """One partition as the Polars frame a core function expects: input order, input dtypes."""
    import pyarrow as pa

    from core import conform

    frame = pl.from_arrow(pa.Table.from_batches(batches))
    assert isinstance(frame, pl.DataFrame)
    frame = frame.sort(ROW_COL).drop(ROW_COL)
    if schema is None:
        out = conform(frame)
        assert isinstance(out, pl.DataFrame)
        return out
    return frame.select(
        pl.col(c).cast(schema[c], strict=False) if c in schema else pl.col(c) for c in frame.columns
    )


def _encode(name: str, table: pl.DataFrame, part: str) -> Iterator[Any]:
    import pyarrow as pa

    pieces = [table] if table.height <= CHUNK_ROWS else list(table.iter_slices(CHUNK_ROWS))
    for i, piece in enumerate(pieces):
        buf = io.BytesIO()
        piece.write_ipc(buf)
        yield pa.RecordBatch.from_pydict(
            {"part": [part], "name": [name], "chunk": [i], "payload": [buf.getvalue()]},
            schema=pa.schema(
                [
                    ("part", pa.string()),
                    ("name", pa.string()),
                    ("chunk", pa.int32()),
                    ("payload", pa.binary()),
                ]
            ),
        )


def _partition_runner(
    fn: Callable[[pl.DataFrame], Mapping[str, pl.DataFrame]],
    schema: Mapping[str, pl.DataType] | None,
    prepare: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> Callable[[Iterator[Any]], Iterator[Any]]:
    def run(batches: Iterator[Any]) -> Iterator[Any]:
        held = [b for b in batches if b.num_rows]
        if not held:
            return
        frame = _to_polars(held, schema)
        if prepare is not None:
            frame = prepare(frame)
            if frame.is_empty():  # a partition the filters empty: as one without rows
                return
        out = fn(frame)
        part = uuid.uuid4().hex
        for name, table in out.items():
            yield from _encode(name, table, part)

    return run


def map_partitions(
    source: EventSource,
    fn: Callable[[pl.DataFrame], Mapping[str, pl.DataFrame]],
    *,
    key: str = "user_id",
    partitions: int = DEFAULT_PARTITIONS,
    columns: Iterable[str] | None = None,
    split: Callable[[Any], tuple[Any, Any]] | None = None,
) -> list[dict[str, pl.DataFrame]]:
    """Run ``fn`` on every hash partition of ``source`` by ``key``; its tables, per partition.

    Parameters
    ----------
    source : EventSource
        From :func:`read_events`.
    fn : callable
        ``pl.DataFrame -> {name: pl.DataFrame}``, picklable (a module-level function or a
        ``functools.partial`` of one). It receives every row of the partition, in input order,
        with the source's dtypes, and must return small tables.
    key : str, default "user_id"
        The column whose equal values must land in the same partition.
    partitions : int, default :data:`DEFAULT_PARTITIONS`
        Number of hash partitions (at least 1).
    columns : iterable of str, optional
        The only columns ``fn`` reads (those absent from the source are ignored); default all.
        Fewer columns, smaller shuffle.
    split : callable, optional
        ``pyspark DataFrame -> (shuffled, extra)`` on the selected rows (with :data:`ROW_COL`),
        to shuffle less: ``shuffled`` is hash-partitioned by ``key``; ``extra`` (same columns)
        is appended unshuffled, so it must hold whole entities that ``shuffled`` does not.

    Returns
    -------
    list of dict
        One ``{name: table}`` per non-empty partition, in no particular order.

    Raises
    ------
    ParameterError
        ``key`` is not a column of the source, or ``partitions`` is not a positive integer.
    """
    if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
        raise ParameterError(f"`partitions` must be a positive integer, got {partitions!r}")
    if key not in source.columns():
        raise ParameterError(
            f"`key` {key!r} is not a column of the events; columns: {source.columns()}"
        )
    frame = source.frame
    if columns is not None:
        keep = [c for c in source.columns() if c in set(columns) | {key} | source.needs]
        frame = frame.select(*keep, ROW_COL)
    if split is not None:
        kept, extra = split(frame)
        shuffled = kept.repartition(partitions, key).unionByName(extra)
    else:
        shuffled = frame.repartition(partitions, key)
    runner = _partition_runner(fn, source.schema, source.prepare)
    try:
        arrow = shuffled.mapInArrow(runner, RESULT_SCHEMA).toArrow()
    except Exception as exc:  # noqa: BLE001 - a worker's typed error, raised here as itself
        raise _worker_error(exc) from exc
    parts: dict[str, dict[str, list[tuple[int, bytes]]]] = {}
    for part, name, chunk, payload in zip(
        arrow.column("part").to_pylist(),
        arrow.column("name").to_pylist(),
        arrow.column("chunk").to_pylist(),
        arrow.column("payload").to_pylist(),
        strict=True,
    ):
        parts.setdefault(part, {}).setdefault(name, []).append((chunk, payload))
    out = []
    for tables in parts.values():
        out.append(
            {
                name: pl.concat([pl.read_ipc(io.BytesIO(p)) for _, p in sorted(chunks)])
                for name, chunks in tables.items()
            }
        )
    return out


_WORKER_ERROR = re.compile(r"core\.errors\.(\w+): (.+)")


def _worker_error(exc: Exception) -> Exception:
    """The :class:`~core.errors.PathLensError` a worker raised (a filter on a column the data
    lack, a bad setting), rebuilt from Spark's error text so callers catch it as on one
    machine; any other failure unchanged."""
    from core import errors

    found = _WORKER_ERROR.findall(str(exc))
    if found:
        name, message = found[-1]
        cls = getattr(errors, name, None)
        if isinstance(cls, type) and issubclass(cls, errors.PathLensError):
            return cls(message.strip())
    return exc


def empty_partition(source: EventSource) -> pl.DataFrame:
    """A zero-row Polars frame with the source's columns, after its ``prepare`` (for a source
    without rows, and for checking an analysis's columns before it runs)."""
    from core import conform

    if source.schema is not None:
        out = pl.DataFrame(schema=source.schema)
    else:
        conformed = conform(pl.DataFrame(schema={c: pl.String for c in source.columns()}))
        assert isinstance(conformed, pl.DataFrame)
        out = conformed
    return source.prepare(out) if source.prepare is not None else out
