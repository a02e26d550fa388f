"""Which rows are dropped, and why: the accounting after the pass over the file.

Rows are dropped for exactly one reason each, checked in this order: no user, no timestamp, a
timestamp that cannot be read, an implausible timestamp (before 1990 or after the end of next
year: a misread unit or a placeholder date), no event name, an exact duplicate of an earlier
row (:mod:`core.loader.order`), and, only when asked (``drop_stray=True``), a stray timestamp:
an event months outside the bulk of the data (see :data:`STRAY_MARGIN`). Stray events are
always counted and reported. A file whose timestamps are mostly unreadable or implausible, or
that has no user or no timestamp at all, is refused with a :class:`~core.errors.LoadError`.
"""

from __future__ import annotations

import math
import operator
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Final

import polars as pl

from core.errors import LoadError
from core.io import ROW_COLUMN, RawSource, collect_raw
from core.loader.epochs import _EPOCH_LIMITS
from core.loader.order import _filter_columns
from core.loader.plan import ReadPlan
from core.loader.report import (
    BAD_TS,
    IMPLAUSIBLE_TS,
    MISSING_EVENT,
    MISSING_TS,
    MISSING_USER,
    LoadReport,
)

#: Earliest plausible event time; the latest is the end of next year (:func:`plausible_range`).
EARLIEST_PLAUSIBLE: Final = datetime(1990, 1, 1, tzinfo=UTC)
#: How far outside the bulk of the data (its 0.1%-99.9% quantile range) a stray event lies.
STRAY_MARGIN: Final = timedelta(days=60)
_STRAY_MIN_ROWS: Final = 20
_EXAMPLES: Final = 5  # offending rows quoted in a message


def plausible_range(now: datetime | None = None) -> tuple[datetime, datetime]:
    """Event times the loader accepts: from 1990-01-01 to the end of next year (UTC).

    Parameters
    ----------
    now : datetime, optional
        The current time (default: now).

    Returns
    -------
    (datetime, datetime)
        Inclusive start and exclusive end, both UTC.
    """
    year = (now or datetime.now(UTC)).year
    return EARLIEST_PLAUSIBLE, datetime(year + 2, 1, 1, tzinfo=UTC)


def account_rows(
    df: pl.DataFrame, raw: RawSource, plan: ReadPlan, report: LoadReport
) -> tuple[pl.Series, dict[str, int]]:
    """The rows to keep and the rows dropped per reason (the first five of the reasons).

    Reports the epoch units read, a warning with examples per reason, values set to null and
    users filled from a fallback column.

    Raises
    ------
    LoadError
        No row has a user or a timestamp, or most timestamps are unreadable or implausible.
    """
    window = plausible_range()
    masks, plausible = _drop_masks(df, window)
    counts = {reason: int(mask.sum()) for reason, mask in masks.items()}
    _report_units(df, plausible, plan, report)
    _refuse_unusable(df, counts, plausible, raw, plan, window)
    rows = df[ROW_COLUMN]
    _drop_warnings(masks, counts, rows, raw, plan, report, window)
    _value_warnings(df, masks[MISSING_USER], rows, raw, plan, report)
    return ~reduce(operator.or_, masks.values()), counts


def _drop_masks(
    df: pl.DataFrame, window: tuple[datetime, datetime]
) -> tuple[dict[str, pl.Series], pl.Series]:
    """Per reason, the rows dropped for it (each row under one reason); and which rows have a
    plausible time."""
    earliest, latest = window
    missing_user = df["user_id"].is_null()
    present = df["__ts_present"]
    has_ts = df["ts"].is_not_null()
    plausible = df.select(pl.col("ts").is_between(earliest, latest, closed="left")).to_series()
    plausible = plausible.fill_null(False)
    masks = {
        MISSING_USER: missing_user,
        MISSING_TS: ~missing_user & ~present,
        BAD_TS: ~missing_user & present & ~has_ts,
        IMPLAUSIBLE_TS: ~missing_user & has_ts & ~plausible,
        MISSING_EVENT: ~missing_user & plausible & df["event"].is_null(),
    }
    return masks, plausible


def _report_units(
    df: pl.DataFrame, plausible: pl.Series, plan: ReadPlan, report: LoadReport
) -> None:
    """The epoch units the timestamps were read in, with a warning when they are mixed."""
    if "__ts_unit" not in df.columns:
        return
    units = df.filter(plausible)["__ts_unit"].value_counts(sort=True)
    names = [u for u, _ in _EPOCH_LIMITS]
    report.ts_units = {names[code]: int(k) for code, k in units.iter_rows() if code is not None}
    if len(report.ts_units) > 1:
        shown = ", ".join(f"{k:,} in Unix {u}" for u, k in report.ts_units.items())
        report.warnings.append(
            f"Timestamps in {plan.used['ts']!r} mix units ({shown}); each value was read in "
            "the unit its magnitude implies."
        )


def _refuse_unusable(
    df: pl.DataFrame,
    counts: dict[str, int],
    plausible: pl.Series,
    raw: RawSource,
    plan: ReadPlan,
    window: tuple[datetime, datetime],
) -> None:
    """Raise when no row has a user or a timestamp, or most timestamps cannot be used."""
    used, n, rows = plan.used, df.height, df[ROW_COLUMN]
    earliest, latest = window
    present, has_ts = df["__ts_present"], df["ts"].is_not_null()
    with_ts = int(present.sum())
    if counts[MISSING_USER] == n:
        raise LoadError(
            f"no row has a user: column {_user_source(plan)!r} (mapped to user_id) is "
            f"empty in all {n:,} rows; map another column to user_id",
            code="no_users",
        )
    if with_ts == 0:
        raise LoadError(
            f"no row has a timestamp: column {used['ts']!r} (mapped to ts) is empty "
            f"in all {n:,} rows; map another column to ts",
            code="no_timestamps",
        )
    unreadable = present & ~has_ts
    n_unreadable = int(unreadable.sum())
    n_implausible = int((has_ts & ~plausible).sum())
    if n_implausible * 2 > with_ts and n_implausible >= n_unreadable:
        raise LoadError(
            f"the timestamps in column {used['ts']!r} are mostly implausible: "
            f"{n_implausible:,} of {with_ts:,} values fall before {earliest:%Y-%m-%d} or "
            f"after {latest - timedelta(days=1):%Y-%m-%d}, "
            f"{_examples(rows, has_ts & ~plausible, raw=raw, column=used['ts'])}. "
            "Check that the column holds event times (Unix seconds, milliseconds or "
            "microseconds, or dates), or map another column to ts",
            code="implausible_timestamps",
        )
    if (n_unreadable + n_implausible) * 2 > with_ts:
        raise LoadError(
            f"could not read the timestamps in column {used['ts']!r}: {n_unreadable:,} of "
            f"{with_ts:,} values are unparseable, "
            f"{_examples(rows, unreadable, raw=raw, column=used['ts'])}. Expected Unix "
            "seconds, milliseconds or microseconds, or dates such as 2024-01-31 12:00:00, "
            "2024-01-31T12:00:00Z or 31/01/2024 12:00",
            code="bad_timestamps",
        )


def _drop_warnings(
    masks: dict[str, pl.Series],
    counts: dict[str, int],
    rows: pl.Series,
    raw: RawSource,
    plan: ReadPlan,
    report: LoadReport,
    window: tuple[datetime, datetime],
) -> None:
    """One warning per reason that dropped rows, with the first offending rows."""
    used = plan.used
    earliest, latest = window
    described = {
        MISSING_USER: (f"no user ({_user_source(plan)} empty)", None),
        MISSING_TS: (f"no timestamp ({used['ts']} empty)", None),
        BAD_TS: (f"a timestamp in {used['ts']!r} that cannot be read", used["ts"]),
        IMPLAUSIBLE_TS: (
            f"an implausible timestamp in {used['ts']!r} (before {earliest:%Y-%m-%d} or after "
            f"{latest - timedelta(days=1):%Y-%m-%d}: a misread unit or a placeholder date)",
            used["ts"],
        ),
        MISSING_EVENT: (f"no event name ({used.get('event', 'event')} empty)", None),
    }
    for reason, (what, column) in described.items():
        if counts[reason]:
            report.warnings.append(
                f"Dropped {counts[reason]:,} rows with {what}, "
                f"{_examples(rows, masks[reason], raw=raw, column=column)}."
            )


def _value_warnings(
    df: pl.DataFrame,
    missing_user: pl.Series,
    rows: pl.Series,
    raw: RawSource,
    plan: ReadPlan,
    report: LoadReport,
) -> None:
    """Prices and quantities that could not be read (set to null), and users taken from a
    fallback column."""
    used = plan.used
    for canon in ("price", "quantity"):
        flag = f"__bad_{canon}"
        if flag in df.columns and (n_bad := int(df[flag].sum())):
            kind = "whole numbers" if canon == "quantity" else "numbers"
            report.warnings.append(
                f"{n_bad:,} values of {used[canon]!r} (mapped to {canon}) are not {kind} and "
                f"were left empty, {_examples(rows, df[flag], raw=raw, column=used[canon])}."
            )
    if "__user_filled" in df.columns:
        n_filled = int((df["__user_filled"] & ~missing_user).sum())
        if n_filled:
            report.notes.append(
                f"{n_filled:,} rows without {used['user_id']!r} took their user from "
                f"{' / '.join(repr(c) for c in _fallback_sources(plan))}."
            )


def _user_source(plan: ReadPlan) -> str:
    return plan.used.get("user_id") or plan.options.get("user_fallback", "user_id")


def _fallback_sources(plan: ReadPlan) -> list[str]:
    extra = [plan.options["user_fallback"]] if "user_fallback" in plan.options else []
    return [*plan.user_fb, *extra]


def stray_bounds(ts: pl.Series) -> tuple[datetime, datetime] | None:
    """The bulk of the event times: their 0.1% and 99.9% quantiles, but at least one event
    outside each end (the ``k``-th earliest and latest time, ``k = max(1, ceil(n / 1000))``).

    Events more than :data:`STRAY_MARGIN` before the first or after the second are stray.
    None for fewer than 20 times, where a "bulk" means little.

    Parameters
    ----------
    ts : pl.Series
        Event times (``Datetime``), in any order; nulls are ignored.

    Returns
    -------
    (datetime, datetime) or None
    """
    t = ts.drop_nulls()
    n = t.len()
    if n < _STRAY_MIN_ROWS:
        return None
    k = max(1, math.ceil(n / 1000))
    epoch = t.dt.epoch("us")
    if epoch.is_sorted():  # exports in time order: the order statistics are where they lie
        lo, hi = epoch[k], epoch[n - 1 - k]
    else:
        lo = epoch.bottom_k(k + 1).max()
        hi = epoch.top_k(k + 1).min()
    start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(lo))  # type: ignore[arg-type]
    end = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(hi))  # type: ignore[arg-type]
    return start, end


def _stray(
    holder: list[pl.DataFrame], report: LoadReport, *, drop: bool, unique: pl.Series | None
) -> tuple[pl.DataFrame, pl.Series | None]:
    """Flag (and with ``drop``, remove) events months outside the bulk of the data.

    ``unique``: the rows that are no exact duplicate (None: all), whose times alone count.
    Returns the frame and the rows still to drop as duplicates (None once they are dropped
    here, with the strays).
    """
    frame = holder.pop()
    ts = frame["ts"]
    bounds = stray_bounds(ts if unique is None else ts.filter(unique))
    if bounds is None:
        return frame, unique
    report.bulk_start, report.bulk_end = bounds
    lo, hi = bounds[0] - STRAY_MARGIN, bounds[1] + STRAY_MARGIN
    stray = frame.select((pl.col("ts") < lo) | (pl.col("ts") > hi)).to_series()
    if unique is not None:
        stray = stray & unique
    n_stray = int(stray.sum())
    report.stray_rows = n_stray
    if not n_stray:
        return frame, unique
    before = int((stray & (ts < lo)).sum())
    after = n_stray - before
    side = " and ".join(
        part
        for part in (
            f"{before:,} before {bounds[0]:%Y-%m-%d}" if before else "",
            f"{after:,} after {bounds[1]:%Y-%m-%d}" if after else "",
        )
        if part
    )
    idx = stray.arg_true().head(_EXAMPLES)
    shown = ", ".join(
        f"{r} ({t:%Y-%m-%d %H:%M})"
        for r, t in zip(
            frame[ROW_COLUMN].gather(idx).to_list(), ts.gather(idx).to_list(), strict=True
        )
    )
    more = " ..." if n_stray > len(idx) else ""
    what = (
        f"{n_stray:,} stray event(s) lie more than {STRAY_MARGIN.days} days outside the bulk "
        f"of the data ({bounds[0]:%Y-%m-%d} to {bounds[1]:%Y-%m-%d}): {side}, at data "
        f"row(s) {shown}{more}"
    )
    if drop:
        report.stray_dropped = True
        report.warnings.append(f"Dropped {what}.")
        holder.append(frame)
        del frame
        return _filter_columns(holder, ~stray if unique is None else unique & ~stray), None
    report.warnings.append(
        f"{what}. They stretch every time axis; drop them with drop_stray=True "
        "('Drop stray timestamps' on the Data page)."
    )
    return frame, unique


def _examples(
    rows: pl.Series, mask: pl.Series, *, raw: RawSource | None, column: str | None = None
) -> str:
    """``first at data rows 3 ('x'), 9 ('y') ...``: 1-based data rows below the header, with
    their values read back from the file when ``column`` is given (only on this error path)."""
    idx = mask.arg_true().head(_EXAMPLES)
    nums = rows.gather(idx).to_list()
    if column is not None and raw is not None and nums:
        wanted = pl.Series(nums, dtype=pl.UInt32)
        found, _ = collect_raw(
            raw,
            lambda lf: lf.filter(pl.col(ROW_COLUMN).is_in(wanted.implode())).select(
                ROW_COLUMN, pl.col(column).cast(pl.String)
            ),
            row_index=True,
        )
        values = dict(zip(found[ROW_COLUMN].to_list(), found[column].to_list(), strict=True))
        shown = ", ".join(f"{r} ({values.get(r)!r})" for r in nums)
    else:
        shown = ", ".join(str(r) for r in nums)
    more = " ..." if int(mask.sum()) > len(nums) else ""
    return f"first at data row{'s' if len(nums) > 1 else ''} {shown}{more}"
