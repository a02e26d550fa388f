"""Declarative builders so test cases read like the journeys they describe.

    make_events({"u1": [("view_item", "00:00"), ("add_to_cart", "00:05")]})

Times are ``"HH:MM"``/``"HH:MM:SS"`` offsets on 2024-01-01 UTC, ``"D+2 10:00"`` for later days,
or ``datetime``/``timedelta``/seconds. A third tuple element is a dict of column values
(``session_id``, ``product_id``, ``price``, ``category``, ``device``...). Event names that are
canonical event types keep that type; others map through the loader's vocabulary when it is
available, else to ``other``. Sessions come from a 30-minute gap unless given.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl

from core.schema import EVENT_TYPES, conform
from core.sessions import assign_sessions

BASE = datetime(2024, 1, 1, tzinfo=timezone.utc)


def at(t) -> datetime:
    if isinstance(t, datetime):
        return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    if isinstance(t, timedelta):
        return BASE + t
    if isinstance(t, (int, float)):
        return BASE + timedelta(seconds=t)
    day = 0
    if t.startswith("D+"):
        d, t = t[2:].split(" ", 1)
        day = int(d)
    parts = [int(p) for p in t.split(":")]
    h, m, s = (parts + [0, 0])[:3]
    return BASE + timedelta(days=day, hours=h, minutes=m, seconds=s)


def _event_type(name: str) -> str:
    if name in EVENT_TYPES:
        return name
    try:
        from core.loader import canonical_event_type  # type: ignore[attr-defined]
    except Exception:
        return "other"
    return canonical_event_type(name)


def make_events(journeys: dict, **extra_columns) -> pl.DataFrame:
    """Build a canonical event table from ``{user: [(event, time[, props]), ...]}``."""
    rows = []
    for user, events in journeys.items():
        for i, item in enumerate(events):
            name, t = item[0], item[1]
            props = dict(item[2]) if len(item) > 2 else {}
            row = {"user_id": str(user), "ts": at(t), "event": name,
                   "event_type": props.pop("event_type", _event_type(name)), "_seq": i}
            row.update(props)
            rows.append(row)
    if not rows:
        from core.schema import empty_events
        return empty_events()
    df = pl.DataFrame(rows, infer_schema_length=None)
    for k, v in extra_columns.items():
        df = df.with_columns(pl.lit(v).alias(k))
    if "session_id" in df.columns:
        gap_sessions = assign_sessions(df, out_col="_gap_sid")
        df = gap_sessions.with_columns(
            pl.coalesce(pl.col("session_id").cast(pl.String), pl.col("_gap_sid")).alias("session_id")
        ).drop("_gap_sid")
    else:
        df = assign_sessions(df)
    df = df.sort(["user_id", "ts", "_seq"]).drop("_seq")
    return conform(df)
