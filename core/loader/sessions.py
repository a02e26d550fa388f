"""Session ids on the sorted table: the export's own, made unique across users, or built from
an inactivity gap where the export (or a row) has none."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from core.loader.plan import ReadPlan
from core.loader.report import LoadReport


def _sessions(
    frame: pl.DataFrame, plan: ReadPlan, report: LoadReport, gap: timedelta
) -> pl.DataFrame:
    """Session ids, unique across users; inactivity-gap sessions where the export has none.

    ``frame`` is sorted by user and time.
    """
    used, fmt = plan.used, plan.fmt
    minutes = f"{gap.total_seconds() / 60:g}-minute"
    if "session_id" not in used:
        report.notes.append(
            f"The export has no session id: sessions were built from a {minutes} inactivity gap."
        )
        return frame.with_columns(_gap_sessions(frame, gap))
    scope = fmt.session_scope if fmt is not None else "global"
    user, sess = pl.col("user_id"), pl.col("__session")
    if scope == "per_user":
        frame = frame.with_columns((user + ":" + sess).alias("__session"))
        report.notes.append(
            f"Session ids in {used['session_id']!r} are unique per user only; "
            "they were prefixed with the user id."
        )
    else:
        shared = _shared_sessions(frame)
        if shared.len():
            frame = frame.with_columns(
                pl.when(sess.is_in(shared.implode()))
                .then(user + ":" + sess)
                .otherwise(sess)
                .alias("__session")
            )
            report.warnings.append(
                f"{shared.len():,} session id(s) in {used['session_id']!r} belong to several "
                f"users (e.g. {shared[0]!r}); those were made unique by prefixing the user id."
            )
    missing = frame["__session"].null_count()
    if missing:
        frame = frame.with_columns(pl.coalesce(sess, _gap_sessions(frame, gap)).alias("__session"))
        report.notes.append(
            f"{missing:,} events without a session id were given sessions "
            f"from a {minutes} inactivity gap."
        )
    return frame.rename({"__session": "session_id"})


def _shared_sessions(frame: pl.DataFrame) -> pl.Series:
    """Session ids used by more than one user, from the (user, session) runs of sorted rows.

    Only the first row of each run is looked at; an id starting several runs is either shared
    by users or interleaved within one user's visits, which the last step tells apart.
    """
    user, sess = pl.col("user_id"), pl.col("__session")
    starts = ((user != user.shift(1)) | (sess != sess.shift(1))).fill_null(True)
    runs = frame.lazy().filter(starts & sess.is_not_null()).select(user, sess)
    shared = (
        runs.filter(sess.is_duplicated())
        .group_by(sess, maintain_order=True)
        .agg(user.n_unique().alias("users"))
        .filter(pl.col("users") > 1)
        .collect()
    )
    return shared["__session"]


def _gap_sessions(frame: pl.DataFrame, gap: timedelta) -> pl.Series:
    """``<user>-<n>`` as :func:`core.sessions.assign_sessions` numbers them, on sorted rows.

    Linear, no grouping: the rows are already sorted by user and time.
    """
    user, ts = pl.col("user_id"), pl.col("ts")
    new_user = (user != user.shift(1)).fill_null(True)
    new_session = new_user | ((ts - ts.shift(1)) > gap).fill_null(False)
    counter = new_session.cast(pl.UInt32).cum_sum()
    base = pl.when(new_user).then(counter).otherwise(None).forward_fill()
    return frame.select(
        (user + "-" + (counter - base + 1).cast(pl.String)).alias("session_id")
    ).to_series()
