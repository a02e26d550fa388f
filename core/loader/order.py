"""Finding exact duplicates in file order, and putting a table in order (user, time, input
order) once, when it is stored (:func:`sort_events`).

The loader keeps the rows in file order: a sorted copy of a 10M-row table costs about as much
time as reading the file and holds a second table in memory (issue 14). Duplicates are found
among the few rows whose (user, time) pair repeats, and nothing here needs the rows sorted.

Each function that takes a ``holder`` takes its frame out of that one-element list, the frame's
only reference, so the columns it replaces are freed as it goes: the peak stays about one frame.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Final

import polars as pl

from core.io import ROW_COLUMN


def _filter_columns(holder: list[pl.DataFrame], keep: pl.Series) -> pl.DataFrame:
    """``frame.filter(keep)`` for the frame in ``holder`` (its only reference).

    A few rows dropped (at most one in :data:`_SPARSE`, as duplicates usually are): the kept
    runs of rows are sliced out and laid end to end, no value is copied (filtering a 10M-row
    table copies it: ~1 s, and the allocator keeps the old copy's memory for a while). More
    rows dropped: one column at a time, so unfiltered columns are freed as it goes.
    """
    frame = holder.pop()
    n_dropped = frame.height - int(keep.sum())
    if n_dropped == 0:
        return frame
    if n_dropped * _SPARSE <= frame.height:
        cuts = [-1, *(~keep).arg_true().to_list(), frame.height]
        return pl.concat(
            [frame.slice(a + 1, b - a - 1) for a, b in pairwise(cuts) if b - a > 1],
            rechunk=False,
        )
    columns = frame.get_columns()
    del frame
    for i in range(len(columns)):
        columns[i] = columns[i].filter(keep)
    return pl.DataFrame(columns)


def sort_events(events: pl.DataFrame) -> pl.DataFrame:
    """``events`` sorted by ``user_id``, then ``ts``, then their own row order.

    The same table as ``events.sort(["user_id", "ts"], maintain_order=True)``, but large
    tables are grouped by user without a sort of every row (``core._grouping``), and a table
    already in that order is returned as it is. :meth:`core.store.DatasetStore.put` stores
    datasets in this order.

    Parameters
    ----------
    events : pl.DataFrame
        A table with ``user_id`` and ``ts`` columns (a canonical event table).

    Returns
    -------
    pl.DataFrame
        The same rows and columns, in order.
    """
    ts = events.schema.get("ts")
    if (
        events.height < 2
        or not isinstance(ts, pl.Datetime)
        or events.schema.get("user_id") != pl.String
        or events["user_id"].null_count()
        or events["ts"].null_count()
    ):  # not a canonical table: Polars' own sort (nulls first)
        return events.sort(["user_id", "ts"], maintain_order=True)
    return _sort([events])


def _sort(holder: list[pl.DataFrame]) -> pl.DataFrame:
    """Sort by user, time, file order: once, and not at all when the file already is.

    Takes the frame out of ``holder`` (its only reference) and moves it column by column
    into sorted order, so the peak is one frame plus one column rather than two frames.
    """
    frame = holder.pop()
    order = _sort_order(frame)
    if order is None:
        return frame
    columns = frame.get_columns()
    del frame

    def move(i: int) -> None:
        # one contiguous chunk first: gathering from the reader's many chunks is ~6x slower
        columns[i] = columns[i].rechunk().gather(order)  # frees the unsorted column

    # a few columns at a time (Polars releases the GIL): faster than one by one, and the
    # peak stays one frame plus a few columns
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        list(pool.map(move, range(len(columns))))
    return pl.DataFrame(columns)


def _sort_order(frame: pl.DataFrame) -> pl.Series | None:
    """Row order by (user, time, file order), or None when the rows are in it already.

    The rows are grouped by user without sorting them (``core._grouping.group_rows``: a hash
    partition and a stable counting sort, each user's rows in time then file order), then
    only the distinct users are sorted and their groups laid out in that order: on a 10M-row
    export in time order, a fraction of a sort of every row's packed (user, time) key, which
    smaller tables still use (:data:`COMPILED_FROM`).
    """
    from core._grouping import group_rows  # lazy: numba, ~0.5 s to import; large tables only

    user, ts = pl.col("user_id"), pl.col("ts")
    ordered = ((user > user.shift(1)) | ((user == user.shift(1)) & (ts >= ts.shift(1)))).fill_null(
        True
    )
    # the first rows usually tell an unsorted file at once; check them before the whole
    if frame.head(100_000).select(ordered.all()).item() and frame.select(ordered.all()).item():
        return None
    if frame.height < COMPILED_FROM:
        return _packed_sort_order(frame)
    users = frame["user_id"]
    groups = group_rows(users, frame["ts"].dt.epoch("us").to_numpy())
    by_name = users.gather(groups.first_rows).arg_sort().to_numpy()  # distinct: no ties
    return pl.Series(ROW_COLUMN, groups.rows_in_entity_order(by_name))


#: Rows dropped from a table by slicing out the kept runs when at most one in this many go.
_SPARSE: Final = 1000

#: Below this many rows compiled code (numba: ~0.4 s to import in a fresh process, loaded in a
#: thread while a large file is read) costs more than it saves: the rows are sorted by a packed
#: 64-bit key, and duplicates and shared sessions are found with Polars' own hash tables. (1M
#: rows: 0.87 s / 601 MiB compiled against 0.98 s / 786 MiB with Polars' tables.)
COMPILED_FROM: Final = 500_000


def _packed_sort_order(frame: pl.DataFrame) -> pl.Series:
    """Row order by (user, time, file order): users ranked once by their text (a sort of the
    distinct ids only), rank and time packed into one integer when they fit in 63 bits, and a
    stable sort of that key (ties keep the file order)."""
    users = frame["user_id"].unique().sort()
    ranks = pl.DataFrame(
        {"user_id": users, "rank": pl.int_range(0, users.len(), eager=True, dtype=pl.UInt64)}
    )
    keys = frame.select("user_id", pl.col("ts").dt.epoch("us").alias("t")).join(
        ranks, on="user_id", how="left", maintain_order="left"
    )
    lo, hi = keys["t"].min(), keys["t"].max()
    t_bits = max(1, int(hi - lo).bit_length())  # type: ignore[operator]
    if t_bits + max(1, users.len().bit_length()) <= 63:
        keys = keys.select(
            (pl.col("rank") * (1 << t_bits) + (pl.col("t") - lo).cast(pl.UInt64)).alias("key")
        )
        return keys.select(pl.arg_sort_by("key", maintain_order=True)).to_series()
    return keys.select(pl.arg_sort_by("rank", "t", maintain_order=True)).to_series()


def _duplicates(frame: pl.DataFrame) -> tuple[pl.Series | None, pl.Series]:
    """The rows to keep (None: all) and the row numbers of those equal to an earlier row in
    every column read.

    ``frame`` is in file order. An exact duplicate repeats its row's (user, time) pair, so
    only the rows whose pair repeats (:func:`_repeated_pairs`) are compared in full; the
    first row of the file wins.
    """
    none = pl.Series(ROW_COLUMN, [], dtype=pl.UInt32)
    candidates = _repeated_pairs(frame)
    if not bool(candidates.any()):
        return None, none
    idx = candidates.arg_true()
    sub = frame.lazy().filter(candidates).collect()  # frame[idx], faster from many chunks
    data = [c for c in sub.columns if c != ROW_COLUMN]
    later = ~sub.select(pl.struct(data).is_first_distinct()).to_series()
    if not bool(later.any()):
        return None, none
    keep = pl.repeat(True, frame.height, eager=True).scatter(idx.filter(later), False)
    return keep, sub[ROW_COLUMN].filter(later)


def _repeated_pairs(frame: pl.DataFrame) -> pl.Series:
    """Whether each row's (``user_id``, ``ts``) pair occurs in another row too (a superset:
    on large tables the users are compared by a 64-bit hash).

    Large tables (:data:`COMPILED_FROM`) in time order, as exports land, take one linear pass
    over runs of equal times (:func:`core.loader.kernels.repeated_pairs`); other large tables
    first sort the times alone. No null user or time is left at this point.
    """
    if frame.height < COMPILED_FROM:
        return frame.select(pl.struct("user_id", "ts").is_duplicated()).to_series()
    from core.loader.kernels import repeated_pairs  # lazy: numba, large tables only

    t = frame["ts"].dt.epoch("us").rechunk()
    order = None if t.is_sorted() else t.arg_sort().cast(pl.Int64).to_numpy()
    hu = frame["user_id"].hash().to_numpy()
    return pl.Series("repeated", repeated_pairs(t.to_numpy(), hu, order))


def _repeated_rows(frame: pl.DataFrame) -> int:
    """Rows equal to an earlier row in every column but the row number."""
    data = [c for c in frame.columns if c != ROW_COLUMN]
    return int((~frame.select(pl.struct(data).is_first_distinct()).to_series()).sum())
