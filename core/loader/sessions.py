"""Session ids on the table in file order: the export's own, made unique across users, or
built from an inactivity gap where the export (or a row) has none.

Nothing here needs the rows sorted: shared ids are found per session id (on large tables a
compiled first pass over hashes narrows them down, :mod:`core.loader.kernels`), and gap
sessions are numbered on each user's rows in time order (``core._grouping`` on large tables),
then written back to the rows' own places.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from core.loader.order import COMPILED_FROM
from core.loader.plan import ReadPlan
from core.loader.report import LoadReport


def _sessions(
    frame: pl.DataFrame,
    plan: ReadPlan,
    report: LoadReport,
    gap: timedelta,
    *,
    mixed: np.ndarray | None = None,
    unique: pl.Series | None = None,
) -> pl.DataFrame:
    """Session ids, unique across users; inactivity-gap sessions where the export has none.

    ``frame`` may be in any row order (the loader's is the file's); its order is kept.
    ``mixed``: the session hashes seen with several user hashes, when they were looked for
    already (:func:`core.loader.kernels.mixed_sessions`) on these rows or more. ``unique``: the rows that
    are no exact duplicate, when duplicates are still in ``frame`` (they change no session,
    but are not counted).
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
        shared = _shared_sessions(frame, mixed)
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
    if missing and unique is not None:
        missing = int((frame["__session"].is_null() & unique).sum())
    if frame["__session"].null_count():
        frame = frame.with_columns(pl.coalesce(sess, _gap_sessions(frame, gap)).alias("__session"))
        report.notes.append(
            f"{missing:,} events without a session id were given sessions "
            f"from a {minutes} inactivity gap."
        )
    return frame.rename({"__session": "session_id"})


def _global_sessions(plan: ReadPlan) -> bool:
    """Whether the export has session ids meant to be unique across users."""
    scope = plan.fmt.session_scope if plan.fmt is not None else "global"
    return "session_id" in plan.used and scope != "per_user"


def _shared_sessions(frame: pl.DataFrame, mixed: np.ndarray | None = None) -> pl.Series:
    """Session ids used by more than one user, in order of first appearance.

    On large tables (:data:`COMPILED_FROM`) one pass over the hashes of sessions and users
    (:func:`core.loader.kernels.mixed_sessions`; or ``mixed``, its answer on these rows or
    more) names the few sessions that may be shared, and only their rows are grouped;
    smaller tables are grouped whole.
    """
    user, sess = pl.col("user_id"), pl.col("__session")
    rows = frame.lazy().filter(sess.is_not_null())
    if mixed is not None or frame.height >= COMPILED_FROM:
        sessions = frame["__session"]
        if mixed is None:
            from core.loader.kernels import mixed_sessions  # lazy: numba, large tables only

            valid = (
                sessions.is_not_null().to_numpy() if sessions.null_count() else np.empty(0, bool)
            )
            hu = frame["user_id"].hash().to_numpy()
            mixed = mixed_sessions(sessions.hash().to_numpy(), hu, valid)
        if len(mixed) == 0:
            return pl.Series("__session", [], dtype=pl.String)
        hs = sessions.hash()
        maybe = hs.is_in(pl.Series(mixed).implode())
        rows = frame.lazy().filter(maybe & sess.is_not_null())
    shared = (
        rows.group_by(sess, maintain_order=True)
        .agg(user.n_unique().alias("users"))
        .filter(pl.col("users") > 1)
        .collect()
    )
    return shared["__session"]


def _gap_sessions(frame: pl.DataFrame, gap: timedelta) -> pl.Series:
    """``<user>-<n>`` as :func:`core.sessions.assign_sessions` numbers them, in ``frame``'s
    row order: a user's ``n``-th session starts after more than ``gap`` without events.

    Each user's rows are taken in time order (then row order); only the two key columns are
    moved, and the session numbers are written back to the rows' own places.
    """
    order = _user_time_order(frame)
    keys = frame.select("user_id", "ts")
    if order is not None:
        keys = keys.select(pl.all().gather(order))
    user, ts = pl.col("user_id"), pl.col("ts")
    new_user = (user != user.shift(1)).fill_null(True)
    new_session = new_user | ((ts - ts.shift(1)) > gap).fill_null(False)
    counter = new_session.cast(pl.UInt32).cum_sum()
    base = pl.when(new_user).then(counter).otherwise(None).forward_fill()
    number = keys.select((counter - base + 1).alias("n")).to_series()
    del keys
    if order is not None:
        back = np.empty(frame.height, dtype=np.uint32)
        back[order.to_numpy()] = number.to_numpy()
        number = pl.Series("n", back)
    return frame.select(
        (user + "-" + pl.lit(number).cast(pl.String)).alias("session_id")
    ).to_series()


def _user_time_order(frame: pl.DataFrame) -> pl.Series | None:
    """The permutation that puts ``frame`` grouped by user, each user's rows in time then row
    order (``None`` when they already are); users in any order."""
    if frame.height < COMPILED_FROM:
        return frame.select(pl.arg_sort_by("user_id", "ts", maintain_order=True)).to_series()
    from core._grouping import group_rows  # lazy: numba, large tables only

    grouping = group_rows(frame["user_id"], frame["ts"].dt.epoch("us").to_numpy())
    return None if grouping.order is None else pl.Series("order", grouping.order)
