"""Putting rows in order (user, time, file order) and finding exact duplicates.

Each function takes its frame out of a one-element ``holder`` list, the frame's only
reference, so the columns it replaces are freed as it goes: the peak stays about one frame.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import polars as pl

from core.io import ROW_COLUMN


def _filter_columns(holder: list[pl.DataFrame], keep: pl.Series) -> pl.DataFrame:
    """``frame.filter(keep)`` one column at a time for the frame in ``holder`` (its only
    reference), so unfiltered columns are freed as it goes."""
    frame = holder.pop()
    columns = frame.get_columns()
    del frame
    for i in range(len(columns)):
        columns[i] = columns[i].filter(keep)
    return pl.DataFrame(columns)


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
    smaller tables still use (:data:`_GROUP_ROWS_FROM`).
    """
    from core._grouping import group_rows  # lazy: numba, ~0.5 s to import; large tables only

    user, ts = pl.col("user_id"), pl.col("ts")
    ordered = ((user > user.shift(1)) | ((user == user.shift(1)) & (ts >= ts.shift(1)))).fill_null(
        True
    )
    # the first rows usually tell an unsorted file at once; check them before the whole
    if frame.head(100_000).select(ordered.all()).item() and frame.select(ordered.all()).item():
        return None
    if frame.height < _GROUP_ROWS_FROM:
        return _packed_sort_order(frame)
    users = frame["user_id"]
    groups = group_rows(users, frame["ts"].dt.epoch("us").to_numpy())
    by_name = users.gather(groups.first_rows).arg_sort().to_numpy()  # distinct: no ties
    return pl.Series(ROW_COLUMN, groups.rows_in_entity_order(by_name))


#: Below this many rows the grouping's compiled code (numba: ~0.5 s to import in a fresh
#: process) costs more than it saves; there the rows are sorted by a packed 64-bit key.
_GROUP_ROWS_FROM: Final = 2_000_000


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


def _drop_duplicates(holder: list[pl.DataFrame]) -> tuple[pl.DataFrame, pl.Series]:
    """Drop rows equal to an earlier row in every column read; returns their row numbers.

    The frame (taken out of ``holder``) is sorted by user, time and file order, so duplicates
    sit in runs of equal (user, time): only those runs are compared in full, and the first
    row of the file wins.
    """
    frame = holder.pop()
    user, ts = pl.col("user_id"), pl.col("ts")
    same = ((user == user.shift(1)) & (ts == ts.shift(1))).fill_null(False)
    candidates = frame.select(same | same.shift(-1).fill_null(False)).to_series()
    if not bool(candidates.any()):
        return frame, pl.Series(ROW_COLUMN, [], dtype=pl.UInt32)
    idx = candidates.arg_true()
    sub = frame[idx]
    data = [c for c in sub.columns if c != ROW_COLUMN]
    later = ~sub.select(pl.struct(data).is_first_distinct()).to_series()
    if not bool(later.any()):
        return frame, pl.Series(ROW_COLUMN, [], dtype=pl.UInt32)
    keep = pl.repeat(True, frame.height, eager=True).scatter(idx.filter(later), False)
    dropped = sub[ROW_COLUMN].filter(later)
    del sub
    holder.append(frame)
    del frame
    return _filter_columns(holder, keep), dropped


def _repeated_rows(frame: pl.DataFrame) -> int:
    """Rows equal to an earlier row in every column but the row number."""
    data = [c for c in frame.columns if c != ROW_COLUMN]
    return int((~frame.select(pl.struct(data).is_first_distinct()).to_series()).sum())
