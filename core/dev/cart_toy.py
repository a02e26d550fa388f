"""A small seeded event log with planted cart-abandonment drivers, for tests and examples.

Much smaller and faster than :mod:`core.synth` (a few hundred sessions in milliseconds) and
independent of it, so the cart tests do not move when the bundled sample is regenerated.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl

from core.schema import conform

START = datetime(2024, 3, 1, tzinfo=timezone.utc)

#: Planted logit of a purchase: mobile, a removal and a long pause lower it; a returning
#: buyer and reaching checkout raise it (checkout comes after the last add, so the model
#: cannot see it; it only makes the sessions look real).
TOY_DRIVERS = {"intercept": 0.6, "mobile": -1.6, "per_remove": -1.2, "long_pause": -1.2,
               "bought_before": 1.2, "per_view": -0.08}


def toy_events(*, sessions: int = 400, users: int | None = None, days: int = 28,
               seed: int = 0) -> pl.DataFrame:
    """A canonical event table of ``sessions`` cart sessions with planted drivers.

    Parameters
    ----------
    sessions : int, default 400
        Number of sessions, every one with at least one ``add_to_cart``.
    users : int, optional
        Number of users (default ``sessions // 2``); sessions are spread over them.
    days : int, default 28
        Length of the period (sessions start uniformly over it).
    seed : int, default 0
        Seed; the same arguments give the same table.

    Returns
    -------
    pl.DataFrame
        Canonical columns plus ``device`` and ``channel``.
    """
    rng = np.random.default_rng(seed)
    n_users = users or max(1, sessions // 2)
    user = np.sort(rng.integers(0, n_users, size=sessions))
    starts = np.sort(rng.uniform(0, days * 86400, size=sessions))
    rng.shuffle(starts)
    rows: list[tuple] = []
    bought: set[int] = set()
    order = np.lexsort((starts, user))
    for k, s in enumerate(order):
        u = int(user[s])
        sid = f"T{u:04d}-{k:05d}"
        t = START + timedelta(seconds=float(starts[s]))
        device = "mobile" if rng.random() < 0.5 else "desktop"
        channel = ["email", "paid_social", "organic"][int(rng.integers(3))]
        n_views = 1 + int(rng.poisson(3))
        long_pause = rng.random() < 0.25
        events: list[tuple[str, str | None, float | None]] = [("page_view", None, None)]
        for _ in range(n_views):
            pid = f"P{int(rng.integers(40)):03d}"
            events.append(("view_item", pid, float(rng.integers(5, 200))))
        removes = int(rng.random() < 0.3)
        n_adds = 2 if removes else 1 + int(rng.random() < 0.3)
        for j in range(n_adds):
            item = (f"P{int(rng.integers(40)):03d}", float(rng.integers(5, 200)))
            events.append(("add_to_cart", *item))
            if removes and j == 0:  # changed their mind before adding something else
                events.append(("remove_from_cart", *item))
        logit = (TOY_DRIVERS["intercept"] + TOY_DRIVERS["mobile"] * (device == "mobile")
                 + TOY_DRIVERS["per_remove"] * removes
                 + TOY_DRIVERS["long_pause"] * long_pause
                 + TOY_DRIVERS["bought_before"] * (u in bought)
                 + TOY_DRIVERS["per_view"] * n_views)
        buys = rng.random() < 1.0 / (1.0 + np.exp(-logit))
        if buys:
            events += [("begin_checkout", None, None), ("purchase", events[-1][1],
                                                         events[-1][2])]
            bought.add(u)
        pause_at = int(rng.integers(1, len(events))) if long_pause else -1
        for i, (name, pid, price) in enumerate(events):
            if i:
                t += timedelta(seconds=float(900 if i == pause_at else rng.exponential(40)))
            rows.append((f"T{u:04d}", sid, t, name, pid, price, device, channel))
    df = pl.DataFrame(rows, schema=["user_id", "session_id", "ts", "event", "product_id",
                                    "price", "device", "channel"], orient="row")
    df = df.with_columns(pl.col("event").alias("event_type"),
                         pl.col("ts").dt.cast_time_unit("us"))
    return conform(df.sort(["user_id", "ts"], maintain_order=True))
