"""Sessions from inactivity gaps, for exports that carry no session id."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from core.errors import ParameterError

#: The usual web-analytics rule (GA4, PostHog, Mixpanel): 30 minutes without an event ends a visit.
DEFAULT_SESSION_GAP = timedelta(minutes=30)


def assign_sessions(
    events: pl.DataFrame | pl.LazyFrame,
    *,
    gap: timedelta = DEFAULT_SESSION_GAP,
    user_col: str = "user_id",
    ts_col: str = "ts",
    out_col: str = "session_id",
) -> pl.DataFrame | pl.LazyFrame:
    """Split each user's events into sessions at inactivity gaps longer than ``gap``.

    A new session starts at a user's first event and whenever more than ``gap`` has passed
    since that user's previous event (a gap of exactly ``gap`` stays in the session). Session
    ids are ``"<user_id>-<n>"`` with ``n`` counting from 1 in time order, so they are stable
    and work on any partition that holds all events of its users.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Must hold ``user_col`` and ``ts_col``; need not be sorted.
    gap : timedelta, default 30 minutes
        Longest pause inside one session; must be positive.
    user_col, ts_col, out_col : str
        Column names.

    Returns
    -------
    pl.DataFrame or pl.LazyFrame
        The input sorted by user and time (stable), with ``out_col`` added or replaced.

    Raises
    ------
    ParameterError
        ``gap`` is not positive.
    """
    if gap <= timedelta(0):
        raise ParameterError(f"`session_gap` must be positive, got {gap}")
    sorted_ = events.sort([user_col, ts_col], maintain_order=True, nulls_last=True)
    new = (
        (pl.col(ts_col).diff().over(user_col) > gap)
        .fill_null(True)  # each user's first event
        .cast(pl.UInt32)
    )
    return sorted_.with_columns(
        (
            pl.col(user_col).cast(pl.String)
            + "-"
            + new.cum_sum().over(user_col).cast(pl.String)
        ).alias(out_col)
    )
