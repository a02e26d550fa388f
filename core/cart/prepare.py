"""The steps of :func:`core.cart.features.prepare_events`: events in session order, the
session table (context and the user's history), and the running cart.

Every step is a window/group operation keyed by user or session (see ``features``).
"""

from __future__ import annotations

import polars as pl

IS_ADD = pl.col("event_type") == "add_to_cart"
IS_REMOVE = pl.col("event_type") == "remove_from_cart"
IS_BUY = pl.col("event_type") == "purchase"


def ordered_events(base: pl.DataFrame) -> pl.DataFrame:
    """``base`` sorted by user and time, each session one contiguous run of rows, with the
    session's rank in ``_run``.

    Canonical tables already are sorted by user and time (ties keep the input order), and the
    sort is skipped; when a user's sessions overlap in time, rows are regrouped by session
    start.
    """
    if not _sorted_by_user_and_time(base):
        base = base.sort(["user_id", "ts"], maintain_order=True)
    base = base.with_columns(_session_order(base).alias("_run"))
    if not base["_run"].is_sorted():  # a user's sessions overlap in time
        base = base.sort("_run", maintain_order=True)
    return base


def session_context(base: pl.DataFrame) -> pl.DataFrame:
    """One row per session run of :func:`ordered_events` (small): whether it holds a cart
    (``_has_cart``), its cart-session index ``_s``, and the context the model reads: start,
    device class, channel, and the user's earlier sessions, whatever they held."""
    sessions = (
        base.lazy()
        .with_row_index("_i")
        .group_by("_run", maintain_order=True)
        .agg(
            pl.col("user_id").first(),
            pl.col("ts").first().alias("session_start"),
            pl.col("ts").last().alias("_end"),
            IS_BUY.any().alias("_has_buy"),
            IS_ADD.any().alias("_has_cart"),
            # abandoned: no purchase after the session's last add_to_cart
            (pl.col("_i").filter(IS_BUY).max().cast(pl.Int64).fill_null(-1)
             < pl.col("_i").filter(IS_ADD).max().cast(pl.Int64)).fill_null(False)
            .alias("_abandoned"),
            pl.col("_device_raw").drop_nulls().first().alias("_device_raw"),
            pl.col("_channel_raw").drop_nulls().first().alias("_channel_raw"),
        )
        .collect()
    )
    return _history(sessions).with_columns(
        _device_class().alias("device_class"),
        channel_bucket().alias("channel"),
        (pl.col("_has_cart").cast(pl.Int64).cum_sum() - 1).alias("_s"),
    ).select("_has_cart", "_s", "session_start", "device_class", "channel", "bought_before",
             "prev_sessions", "prev_carts", "prev_abandoned", "prev_purchases",
             "hours_since_prev")


def running_cart(events: pl.DataFrame) -> pl.DataFrame:
    """Position in the session (``pos``), seconds since the previous event (``_dt``), whether
    the event's product appeared earlier in the session (``repeat_item``) and the running cart after each event (``cart_value``, ``cart_items``: adds minus removes, floored
    at zero, reset by a purchase) of the events of cart sessions (grouped by ``_s``)."""
    s = "_s"
    qty = pl.col("quantity").fill_null(1.0).clip(lower_bound=1.0)
    price0 = pl.col("price").fill_null(0.0).clip(lower_bound=0.0)
    first = (pl.col(s) != pl.col(s).shift(1)).fill_null(True)
    # A purchase empties the cart: the event after it starts a new cart segment.
    new_cart = first | (pl.col("event_type").shift(1) == "purchase").fill_null(True)
    events = events.with_columns(
        (pl.int_range(pl.len(), dtype=pl.Int32)
         - pl.when(first).then(pl.int_range(pl.len(), dtype=pl.Int32)).forward_fill())
        .alias("pos"),
        pl.when(first).then(0.0)
        .otherwise(pl.col("ts").diff().dt.total_microseconds() / 1e6)
        .clip(lower_bound=0.0)
        .alias("_dt"),
        _segment_cumsum(
            pl.when(IS_ADD).then(price0 * qty).when(IS_REMOVE).then(-price0 * qty)
            .otherwise(0.0), new_cart).alias("cart_value"),
        _segment_cumsum(
            pl.when(IS_ADD).then(qty).when(IS_REMOVE).then(-qty).otherwise(0.0), new_cart)
        .alias("cart_items"),
        new_cart.cast(pl.Int64).cum_sum().alias("_seg"),
        (_segment_cumsum(IS_REMOVE.cast(pl.Int32), new_cart) > 0).alias("_removed"),
        # the event's product appeared earlier in the session (a second look, a re-add)
        (pl.col("product_id").is_not_null()
         & (pl.int_range(pl.len()).over([s, "product_id"]) > 0)).cast(pl.Float64)
        .alias("repeat_item"),
    )
    return _floor_running_cart(events)


#: Canonical traffic-channel buckets (a fixed vocabulary, so that a model transfers between
#: shops): ``unknown`` (no channel), then the buckets, ``other`` for anything unrecognised.
CHANNEL_BUCKETS: tuple[str, ...] = ("unknown", "other", "organic", "direct", "paid_search",
                                    "paid_social", "email", "referral")

# (bucket, regular expression on the lower-cased raw value), first match wins; paid social
# before paid search and organic so that "paid social" / "facebook cpc" land there.
_CHANNEL_RULES: tuple[tuple[str, str], ...] = (
    ("email", r"e-?mail|newsletter|mailchimp|klaviyo"),
    ("paid_social", r"paid[ _-]?social|social[ _-]?(ads|paid|cpc)|(facebook|instagram|tiktok|meta)"
                    r"[ _-]?(ads|cpc|paid)"),
    ("paid_search", r"paid[ _-]?search|cpc|ppc|sem\b|adwords|google[ _-]?ads|bing[ _-]?ads"),
    ("organic", r"organic|seo|^search$|^social$|social[ _-]?organic"),
    ("direct", r"direct|\(none\)|^none$|typed"),
    ("referral", r"referr?al|affiliate|partner"),
)


def channel_bucket() -> pl.Expr:
    """The session's raw channel (``_channel_raw``) mapped to :data:`CHANNEL_BUCKETS`."""
    c = pl.col("_channel_raw").cast(pl.String).str.to_lowercase().str.strip_chars()
    expr = pl.when(c.is_null() | (c == "")).then(pl.lit("unknown"))
    for bucket, pattern in _CHANNEL_RULES:
        expr = expr.when(c.str.contains(pattern)).then(pl.lit(bucket))
    return expr.otherwise(pl.lit("other"))


def _device_class() -> pl.Expr:
    d = pl.col("_device_raw").cast(pl.String).str.to_lowercase().str.strip_chars()
    return (
        pl.when(d.is_null() | (d == ""))
        .then(pl.lit("unknown"))
        .when(d.str.contains("tablet|ipad"))
        .then(pl.lit("tablet"))
        .when(d.str.contains("mobile|phone|android|ios"))
        .then(pl.lit("mobile"))
        .when(d.str.contains("desktop|web|pc|computer|mac|windows|linux"))
        .then(pl.lit("desktop"))
        .otherwise(pl.lit("other"))
    )


def _sorted_by_user_and_time(frame: pl.DataFrame) -> bool:
    u, t = pl.col("user_id"), pl.col("ts")
    ok = (u > u.shift(1)) | ((u == u.shift(1)) & (t >= t.shift(1)))
    return bool(frame.select(ok.fill_null(True).all()).item())


def _history(sessions: pl.DataFrame) -> pl.DataFrame:
    """What the user's *finished* sessions say at the start of each session.

    A session counts as earlier when it ended strictly before this one started, so that
    nothing is known before it happened, even when a user's sessions overlap in time (two
    browser tabs). Adds ``prev_sessions``, ``prev_carts``, ``prev_abandoned``,
    ``prev_purchases`` (earlier sessions with a purchase), ``bought_before`` (at least one)
    and ``hours_since_prev`` (since the latest earlier session ended; 0 without one); keeps
    the row order.
    """
    ended = (
        sessions.select("user_id", "_end", "_has_buy", "_has_cart", "_abandoned")
        .sort(["user_id", "_end"])
        .with_columns(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("user_id").alias("prev_sessions"),
            pl.col("_has_buy").cast(pl.Int32).cum_sum().over("user_id").alias("_buys"),
            pl.col("_has_cart").cast(pl.Int32).cum_sum().over("user_id").alias("prev_carts"),
            pl.col("_abandoned").cast(pl.Int32).cum_sum().over("user_id")
            .alias("prev_abandoned"),
        )
        .with_columns(pl.col("_end").alias("_prev_end"))
        .select("user_id", "_end", "prev_sessions", "_buys", "prev_carts", "prev_abandoned",
                "_prev_end")
        .sort("_end")
    )
    counts = ["prev_sessions", "_buys", "prev_carts", "prev_abandoned"]
    joined = (
        sessions.with_row_index("_r")
        .sort("session_start")
        .join_asof(ended, left_on="session_start", right_on="_end", by="user_id",
                   strategy="backward", allow_exact_matches=False, check_sortedness=False)
        .sort("_r")
        .with_columns(pl.col(c).fill_null(0) for c in counts)
    )
    gap_hours = ((pl.col("session_start") - pl.col("_prev_end")).dt.total_seconds() / 3600.0)
    return joined.with_columns(
        (pl.col("_buys") > 0).alias("bought_before"),
        pl.col("_buys").alias("prev_purchases"),
        gap_hours.fill_null(0.0).clip(lower_bound=0.0).alias("hours_since_prev"),
    ).drop("_r", "_buys", "_prev_end", "_end_right", strict=False)


def _session_order(frame: pl.DataFrame) -> pl.Series:
    """Each row's session rank, sessions ordered by user, then start, then id.

    ``frame`` is sorted by user and time, so a session is usually one run of rows; a session
    that overlaps another of the same user in time is several runs. Ranks are computed on
    the (small) table of runs, so no string is hashed or sorted per row.
    """
    change = ((pl.col("session_id") != pl.col("session_id").shift(1))
              | (pl.col("user_id") != pl.col("user_id").shift(1))).fill_null(True)
    new_user = (pl.col("user_id") != pl.col("user_id").shift(1)).fill_null(True)
    marks = frame.select(
        change.alias("_change"),
        (change.cast(pl.UInt32).cum_sum() - 1).alias("_run"),
        (new_user.cast(pl.UInt32).cum_sum() - 1).alias("_user"),
        "session_id", "ts",
    )
    runs = marks.filter("_change")
    rank = (
        runs.group_by("session_id")
        .agg(pl.col("_user").first(), pl.col("ts").min().alias("_start"))
        .sort(["_user", "_start", "session_id"])
        .with_row_index("_rank")
        .select("session_id", "_rank")
    )
    run_rank = runs.join(rank, on="session_id", how="left", maintain_order="left")["_rank"]
    return run_rank.gather(marks["_run"]).alias("_run")


def _floor_running_cart(events: pl.DataFrame) -> pl.DataFrame:
    """Floor the running cart at zero after every step: ``S_t = max(0, S_{t-1} + d_t)``,
    which equals ``C_t - min(0, min_{k<=t} C_k)`` for the plain running sum ``C``.

    Before a cart segment's first removal ``C`` only grows from 0, so the correction is 0;
    the segment-wise minimum is computed for the rows after a removal only (they are few).
    """
    rows = events.select(pl.arg_where(pl.col("_removed"))).to_series()
    if rows.len() == 0:
        return events
    sub = events[rows].select(
        (pl.col(c).cum_min().over("_seg").clip(upper_bound=0.0)).alias(c)
        for c in ("cart_value", "cart_items"))
    fixed = {c: events[c].scatter(rows, events[c][rows] - sub[c]) for c in sub.columns}
    return events.with_columns(**fixed)


def _segment_cumsum(x: pl.Expr, start: pl.Expr) -> pl.Expr:
    """Running sum of ``x`` restarting where ``start`` is true (rows grouped by segment):
    the global running sum minus its value just before the segment's first row. A forward
    fill instead of a window keeps it one sequential pass."""
    total = x.cum_sum()
    return total - pl.when(start).then(total - x).otherwise(None).forward_fill()
