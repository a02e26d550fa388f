"""The cart-abandonment task and its features: labelled prefixes, sequences, aggregates.

The task (see ``docs/cart_abandonment.md``):

* A **cart session** is a session with at least one ``add_to_cart`` event.
* A **prefix** is a cart session cut at one of its ``add_to_cart`` events: the events up to and
  including that event, in session order. Every ``add_to_cart`` gives one prefix, so the model
  learns to warn early and the end of a session never gives the answer away.
* A prefix is **abandoned** when no ``purchase`` follows it in its session. A session is
  abandoned when its last prefix is (no purchase after its last ``add_to_cart``).
* Splits are by time: cart sessions are ranked by their start, the latest ones are the test set.

Everything here is a window/group operation keyed by session or user, so it gives the same
answer on any partition that holds all events of its users (merge step: concatenate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl

from core.cart.prepare import CHANNEL_BUCKETS, ordered_events, running_cart, session_context
from core.schema import EVENT_TYPES, check_events

#: Per-event numeric inputs of the sequence model, in tensor order. Money is read relative
#: to the shop (:class:`ValueScale`), never in its currency, so that a model transfers.
EVENT_FEATURES: Final[tuple[str, ...]] = (
    "log_dt",  # log1p(seconds since the previous event of the session); 0 for the first
    "log_rel_price",  # log1p(unit price / the shop's median price of an added item); 0 unknown
    "price_missing",  # 1 when the event has no price
    "log_rel_cart_value",  # log1p(running cart value / the shop's median cart at an add)
    "log_cart_items",  # log1p(running item count after the event)
    "log_position",  # log1p(0-based position in the session)
    "repeat_item",  # 1 when the event's product appeared earlier in the session
)

#: Event-type vocabulary of the model: index 0 is padding, then the canonical types.
EVENT_VOCAB: Final[tuple[str, ...]] = ("<pad>", *EVENT_TYPES)

#: Device classes the model knows (anything else is ``other``; missing is ``unknown``).
DEVICE_VOCAB: Final[tuple[str, ...]] = ("unknown", "mobile", "desktop", "tablet", "other")

#: Columns searched, in order, for a device property and a traffic-channel property.
DEVICE_COLUMNS: Final[tuple[str, ...]] = ("device", "device_category", "platform")
CHANNEL_COLUMNS: Final[tuple[str, ...]] = ("channel", "traffic_source", "utm_medium", "medium")

#: The sequence encoders a model config may name in its ``architecture`` field.
ARCHITECTURES: Final[tuple[str, ...]] = ("gru", "transformer")

#: Longest event window the sequence model reads (the latest events of a longer prefix).
MAX_LEN: Final[int] = 64

#: Fewest labelled cart sessions a model is trained on.
MIN_LABELLED_CARTS: Final[int] = 200

#: Share of the latest cart sessions held out as the test set.
TEST_FRACTION: Final[float] = 0.2

#: Channel vocabulary of the model: fixed canonical buckets (``core/cart/prepare.py``).
CHANNEL_VOCAB: Final[tuple[str, ...]] = CHANNEL_BUCKETS

_NUMERIC_CONTEXT: Final[tuple[str, ...]] = (
    "bought_before",  # the user purchased in an earlier session
    "log_prev_sessions",  # log1p(earlier sessions of the user)
    "log_prev_carts",  # log1p(earlier cart sessions)
    "log_prev_abandoned",  # log1p(earlier cart sessions that were abandoned)
    "log_prev_purchases",  # log1p(earlier sessions with a purchase)
    "log_hours_since_prev",  # log1p(hours since the user's previous session ended); 0 if none
)


@dataclass(frozen=True)
class ValueScale:
    """The shop's own money scale: what prices and cart values are read relative to.

    ``price`` is the median unit price of the ``add_to_cart`` events that carry one, and
    ``cart_value`` the median running cart value right after an ``add_to_cart`` (carts with
    a known, positive value); None when the data has no prices. A price twice the shop's
    median reads the same in euros, yen or cents.
    """

    price: float | None = None
    cart_value: float | None = None


def _scale_of(carts: pl.DataFrame) -> ValueScale:
    """:class:`ValueScale` of a prepared table (before the model columns are added)."""
    adds = carts.filter((pl.col("event_type") == "add_to_cart") & pl.col("price").is_not_null()
                        & (pl.col("price") > 0))
    if adds.height == 0:
        return ValueScale()
    price = adds["price"].median()
    value = adds.filter(pl.col("cart_value") > 0)["cart_value"].median()
    return ValueScale(float(price) if price else None, float(value) if value else None)


def value_scale(events: pl.DataFrame | pl.LazyFrame) -> ValueScale:
    """The :class:`ValueScale` of a shop's events (compute it once on the whole data and pass
    it to :func:`prepare_events` when scoring parts of it: a partition, one user).

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table.

    Returns
    -------
    ValueScale
        Medians of the added items' prices and of the carts' values; None fields without
        prices.
    """
    prepared = prepare_events(events)
    if prepared.height == 0:
        return ValueScale()
    return ValueScale(prepared["_price_scale"][0], prepared["_value_scale"][0])


def _first_present(names: list[str], candidates: tuple[str, ...]) -> str | None:
    for c in candidates:
        if c in names:
            return c
    return None


def prepare_events(events: pl.DataFrame | pl.LazyFrame, *,
                   scale: ValueScale | None = None) -> pl.DataFrame:
    """Per-event table of the cart task: the events of every cart session, with the running
    cart and the session context.

    Sessions without an ``add_to_cart`` give no prefix, so their events are not kept; they
    still count in the context of the user's later sessions.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table (``core/schema.py``). A ``device`` and a ``channel`` property
        are used when present.
    scale : ValueScale, optional
        The shop's money scale; default: measured on ``events`` (:func:`value_scale`).

    Returns
    -------
    pl.DataFrame
        One row per event of a cart session, grouped by session (sessions ordered by user,
        then start), in time order inside a session. Columns: ``user_id``, ``session_id``,
        ``skey`` (integer session key, increasing in table order), ``ts``, ``event``,
        ``event_type``, ``product_id``, ``price``, ``pos`` (0-based position in the session),
        the :data:`EVENT_FEATURES`, ``cart_value``, ``cart_items`` (running, after the event;
        reset by a purchase), ``session_start``, ``hour``, ``weekday`` (1-7),
        ``device_class``, ``channel`` (a bucket of :data:`CHANNEL_VOCAB`), ``bought_before``
        (the user purchased in an earlier session), ``prev_sessions``, ``prev_carts``,
        ``prev_abandoned``, ``prev_purchases`` (the user's earlier sessions, cart sessions,
        abandoned ones, ones with a purchase), ``hours_since_prev``, and the scale used
        (``_price_scale``, ``_value_scale``, constant columns, null without prices).

    Raises
    ------
    SchemaError
        A required canonical column is missing.
    """
    check_events(events)
    lf = events.lazy() if isinstance(events, pl.DataFrame) else events
    base = ordered_events(lf.select(_input_columns(lf.collect_schema().names())).collect())
    sessions = session_context(base)
    # Events (large): only cart sessions yield prefixes, so only their events are kept;
    # their session's columns are gathered by run index (no join).
    keep = sessions["_has_cart"].gather(base["_run"])
    kept = base.filter(keep)
    ctx = sessions.drop("_has_cart").select(pl.all().gather(kept["_run"]))
    carts = running_cart(pl.concat([kept.drop("_run"), ctx], how="horizontal"))
    return _model_columns(carts, _scale_of(carts) if scale is None else scale)


def _input_columns(names: list[str]) -> list[pl.Expr]:
    """The canonical columns the task reads, typed; absent optional ones are null."""
    dev = _first_present(names, DEVICE_COLUMNS)
    chan = _first_present(names, CHANNEL_COLUMNS)

    def optional(col: str, dtype: pl.DataType) -> pl.Expr:
        return (pl.col(col).cast(dtype, strict=False) if col in names
                else pl.lit(None, dtype).alias(col))

    return [
        pl.col("user_id").cast(pl.String),
        pl.col("session_id").cast(pl.String),
        pl.col("ts"),
        pl.col("event").cast(pl.String),
        pl.when(pl.col("event_type").is_in(EVENT_TYPES))
        .then(pl.col("event_type").cast(pl.String))
        .otherwise(pl.lit("other"))
        .alias("event_type"),
        optional("product_id", pl.String()),
        optional("price", pl.Float64()),
        optional("quantity", pl.Float64()),
        (pl.col(dev).cast(pl.String) if dev else pl.lit(None, pl.String)).alias("_device_raw"),
        (pl.col(chan).cast(pl.String) if chan else pl.lit(None, pl.String)).alias("_channel_raw"),
    ]


def _model_columns(events: pl.DataFrame, scale: ValueScale) -> pl.DataFrame:
    """The per-event inputs of the model (:data:`EVENT_FEATURES`) and the output columns."""
    price0 = pl.col("price").fill_null(0.0).clip(lower_bound=0.0)
    price_unit = pl.lit(scale.price, pl.Float64)
    value_unit = pl.lit(scale.cart_value, pl.Float64)
    return events.lazy().with_columns(
        pl.col("_dt").log1p().alias("log_dt"),
        (price0 / price_unit).fill_null(0.0).log1p().alias("log_rel_price"),
        pl.col("price").is_null().cast(pl.Float64).alias("price_missing"),
        (pl.col("cart_value") / value_unit).fill_null(0.0).log1p().alias("log_rel_cart_value"),
        pl.col("cart_items").log1p().alias("log_cart_items"),
        pl.col("pos").cast(pl.Float64).log1p().alias("log_position"),
        pl.col("session_start").dt.hour().cast(pl.Int32).alias("hour"),
        pl.col("session_start").dt.weekday().cast(pl.Int32).alias("weekday"),
    ).select(
        "user_id", "session_id", pl.col("_s").cast(pl.UInt32).alias("skey"), "ts", "event",
        "event_type", "product_id", "price", "pos", *EVENT_FEATURES, "cart_value",
        "cart_items", "session_start", "hour", "weekday", "device_class", "channel",
        "bought_before", "prev_sessions", "prev_carts", "prev_abandoned", "prev_purchases",
        "hours_since_prev", price_unit.alias("_price_scale"), value_unit.alias("_value_scale"),
    ).collect()



def prefix_table(prepared: pl.DataFrame) -> pl.DataFrame:
    """One row per ``add_to_cart`` of a prepared table: the labelled prefixes.

    Parameters
    ----------
    prepared : pl.DataFrame
        Output of :func:`prepare_events`.

    Returns
    -------
    pl.DataFrame
        Columns ``row`` (index of the cutting ``add_to_cart`` in ``prepared``), ``first_row``
        (index of the session's first event), ``session_id``, ``user_id``, ``session_start``,
        ``prediction_time``, ``cart_index`` (1 for the session's first add), ``n_events``,
        ``cart_value``, ``cart_items``, ``abandoned``, ``is_last``.
    """
    k = "skey"
    return (
        prepared.lazy()
        .with_row_index("row")
        .with_columns(
            pl.col("row").first().over(k).alias("first_row"),
            pl.col("pos").filter(pl.col("event_type") == "purchase").max().over(k)
            .alias("_last_buy"),
        )
        .filter(pl.col("event_type") == "add_to_cart")
        .with_columns(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over(k).alias("cart_index"),
            (pl.col("pos") + 1).alias("n_events"),
            (pl.col("_last_buy").is_null() | (pl.col("_last_buy") < pl.col("pos")))
            .alias("abandoned"),
        )
        .with_columns((pl.col("cart_index") == pl.col("cart_index").max().over(k))
                      .alias("is_last"))
        .select(
            pl.col("row").cast(pl.Int64), pl.col("first_row").cast(pl.Int64), "session_id",
            "user_id", "session_start", pl.col("ts").alias("prediction_time"), "cart_index",
            "n_events", "cart_value", "cart_items", "abandoned", "is_last",
        )
        .collect()
    )


def cart_sessions(events: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The labelled prefixes of every cart session: one row per ``add_to_cart``.

    A prefix is the session's events up to and including that ``add_to_cart``; it is
    ``abandoned`` when no ``purchase`` follows it in the session. A prediction for the prefix
    uses only its own events (and the user's earlier sessions), never what follows.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table.

    Returns
    -------
    pl.DataFrame
        Sorted by ``session_start``, ``session_id``, ``cart_index``. Columns:

        ``session_id`` (str), ``user_id`` (str), ``session_start`` (datetime),
        ``prediction_time`` (datetime of the cutting ``add_to_cart``), ``cart_index``
        (int, 1 for the session's first add), ``n_events`` (events in the prefix),
        ``cart_value`` (float, running value of the cart after the add: sum of price x
        quantity of adds minus removes since the last purchase; 0 where prices are unknown),
        ``cart_items`` (float, running item count), ``abandoned`` (bool, the label),
        ``is_last`` (bool, the session's last add: its label is the session's label).
        Empty (same columns) when there is no ``add_to_cart``.

    Raises
    ------
    SchemaError
        A required canonical column is missing.

    Examples
    --------
    >>> from tests.builders import make_events  # doctest: +SKIP
    >>> cart_sessions(make_events({"u": [("view_item", "00:00"), ("add_to_cart", "00:01"),
    ...                                  ("purchase", "00:05")]}))  # doctest: +SKIP
    """
    prefixes = prefix_table(prepare_events(events))
    return prefixes.drop("row", "first_row").sort(
        ["session_start", "session_id", "cart_index"], maintain_order=True
    )


def time_split(prefixes: pl.DataFrame, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Split prefixes by time: the latest ``fraction`` of cart sessions versus the rest.

    Cart sessions are ranked by ``(session_start, session_id)``; the last
    ``round(fraction * n_sessions)`` of them (at least one when ``fraction > 0`` and there are
    two or more) form the later part. A session's prefixes always stay together.

    Returns
    -------
    earlier, later : numpy.ndarray of bool
        Masks over the rows of ``prefixes``.
    """
    order = (
        prefixes.select("session_id", "session_start")
        .unique("session_id")
        .sort(["session_start", "session_id"])
    )
    n = order.height
    k = int(round(fraction * n))
    if fraction > 0 and n >= 2:
        k = min(max(k, 1), n - 1)
    later_ids = order["session_id"][n - k:] if k > 0 else order["session_id"].clear()
    later = prefixes["session_id"].is_in(later_ids.implode()).to_numpy() if k else np.zeros(
        prefixes.height, dtype=bool)
    return ~later, later


@dataclass(frozen=True)
class Encoded:
    """Arrays for the sequence model and the baselines, aligned with a prefix table.

    ``types`` and ``numeric`` hold every event of the prepared table (one row per event);
    ``start``/``end`` index the window of each prefix (``end`` inclusive); ``context`` and
    ``aggregates`` hold one row per prefix.
    """

    types: np.ndarray  # int64 [n_events]
    numeric: np.ndarray  # float32 [n_events, len(EVENT_FEATURES)], already scaled
    start: np.ndarray  # int64 [n_prefixes]
    end: np.ndarray  # int64 [n_prefixes]
    context: np.ndarray  # float32 [n_prefixes, n_context]
    labels: np.ndarray  # float32 [n_prefixes] (1 = abandoned)

    @property
    def lengths(self) -> np.ndarray:
        return self.end - self.start + 1

    def __len__(self) -> int:
        return int(self.start.shape[0])

    def subset(self, mask_or_index: np.ndarray) -> Encoded:
        """The same events, a subset of the prefixes."""
        return Encoded(self.types, self.numeric, self.start[mask_or_index],
                       self.end[mask_or_index], self.context[mask_or_index],
                       self.labels[mask_or_index])


def context_names(channels: tuple[str, ...]) -> list[str]:
    """Names of the session-context inputs, in tensor order."""
    return ([f"hour={h}" for h in range(24)] + [f"weekday={d}" for d in range(1, 8)]
            + [f"device={d}" for d in DEVICE_VOCAB] + [f"channel={c}" for c in channels]
            + list(_NUMERIC_CONTEXT))


def encode(
    prepared: pl.DataFrame,
    prefixes: pl.DataFrame,
    *,
    channels: tuple[str, ...],
    mean: np.ndarray,
    std: np.ndarray,
    max_len: int = MAX_LEN,
) -> Encoded:
    """Turn a prepared table and its prefixes into model arrays.

    Parameters
    ----------
    prepared : pl.DataFrame
        Output of :func:`prepare_events`.
    prefixes : pl.DataFrame
        Rows of :func:`prefix_table` (``row``, ``first_row`` and ``abandoned`` are read).
    channels : tuple of str
        Channel vocabulary (:data:`CHANNEL_VOCAB`); values outside it are ``other``.
    mean, std : numpy.ndarray
        Scaling of the :data:`EVENT_FEATURES` (``(x - mean) / std``).
    max_len : int
        Longest window; a longer prefix keeps its latest ``max_len`` events.
    """
    type_index = {t: i for i, t in enumerate(EVENT_VOCAB)}
    types = (
        prepared["event_type"].replace_strict(type_index, default=type_index["other"],
                                              return_dtype=pl.Int64).to_numpy()
    )
    numeric = prepared.select(EVENT_FEATURES).to_numpy().astype(np.float32)
    numeric = (numeric - mean.astype(np.float32)) / std.astype(np.float32)
    end = prefixes["row"].to_numpy().astype(np.int64)
    first = prefixes["first_row"].to_numpy().astype(np.int64)
    start = np.maximum(first, end - max_len + 1)
    context = context_matrix(prepared, end, channels)
    labels = prefixes["abandoned"].cast(pl.Float32).to_numpy() if "abandoned" in prefixes.columns \
        else np.zeros(len(end), dtype=np.float32)
    return Encoded(types, np.ascontiguousarray(numeric), start, end, context,
                   labels.astype(np.float32))


def context_matrix(prepared: pl.DataFrame, rows: np.ndarray,
                   channels: tuple[str, ...]) -> np.ndarray:
    """Session context of the sessions holding ``rows``: one-hot hour, weekday, device,
    channel, then ``bought_before`` and ``log1p`` of the earlier sessions, cart sessions,
    abandoned cart sessions and purchase sessions of the user and of the hours since their
    previous session."""
    n = len(rows)
    sub = prepared.select("hour", "weekday", "device_class", "channel", "bought_before",
                          "prev_sessions", "prev_carts", "prev_abandoned", "prev_purchases",
                          "hours_since_prev")[rows] if n \
        else prepared.head(0)
    width = 24 + 7 + len(DEVICE_VOCAB) + len(channels) + len(_NUMERIC_CONTEXT)
    out = np.zeros((n, width), dtype=np.float32)
    if n == 0:
        return out
    idx = np.arange(n)
    out[idx, sub["hour"].to_numpy()] = 1.0
    out[idx, 24 + sub["weekday"].to_numpy() - 1] = 1.0
    dev_index = {d: i for i, d in enumerate(DEVICE_VOCAB)}
    dev = sub["device_class"].replace_strict(dev_index, default=dev_index["other"],
                                             return_dtype=pl.Int64).to_numpy()
    out[idx, 31 + dev] = 1.0
    chan_index = {c: i for i, c in enumerate(channels)}
    ch = (
        sub["channel"].fill_null("unknown")
        .replace_strict(chan_index, default=chan_index["other"], return_dtype=pl.Int64)
        .to_numpy()
    )
    base = 31 + len(DEVICE_VOCAB)
    out[idx, base + ch] = 1.0
    base += len(channels)
    out[:, base] = sub["bought_before"].cast(pl.Float32).to_numpy()
    for j, col in enumerate(("prev_sessions", "prev_carts", "prev_abandoned", "prev_purchases",
                             "hours_since_prev"), start=1):
        out[:, base + j] = np.log1p(sub[col].to_numpy().astype(np.float32))
    return out


#: Aggregate features of a prefix, for the scikit-learn baselines.
AGGREGATE_FEATURES: Final[tuple[str, ...]] = (
    *(f"n_{t}" for t in EVENT_TYPES),
    "n_events", "log_duration", "max_log_dt", "mean_log_dt", "log_rel_cart_value",
    "log_cart_items", "log_rel_last_price", "mean_log_rel_price", "any_price_missing",
    "repeat_items", "hour",
)


def aggregate_features(prepared: pl.DataFrame, prefixes: pl.DataFrame,
                       channels: tuple[str, ...]) -> np.ndarray:
    """Aggregate features of each prefix (whole prefix, not only the model's window) plus the
    same session context as the model: the baselines' design matrix."""
    sid = "skey"
    counts = [
        (pl.col("event_type") == t).cast(pl.Int32).cum_sum().over(sid).alias(f"n_{t}")
        for t in EVENT_TYPES
    ]
    has_price = pl.col("price_missing") == 0
    agg = prepared.select(
        *counts,
        (pl.col("pos") + 1).alias("n_events"),
        ((pl.col("ts") - pl.col("session_start")).dt.total_seconds() + 0.0).log1p()
        .alias("log_duration"),
        pl.col("log_dt").cum_max().over(sid).alias("max_log_dt"),
        (pl.col("log_dt").cum_sum().over(sid) / (pl.col("pos") + 1)).alias("mean_log_dt"),
        pl.col("log_rel_cart_value"),
        pl.col("log_cart_items"),
        pl.col("log_rel_price").alias("log_rel_last_price"),
        (pl.col("log_rel_price").cum_sum().over(sid)
         / has_price.cast(pl.Int32).cum_sum().over(sid).clip(lower_bound=1))
        .alias("mean_log_rel_price"),
        pl.col("price_missing").cum_max().over(sid).alias("any_price_missing"),
        pl.col("repeat_item").cum_sum().over(sid).alias("repeat_items"),
        pl.col("hour"),
    )
    rows = prefixes["row"].to_numpy()
    x = agg[rows].to_numpy().astype(np.float64) if len(rows) else np.zeros(
        (0, len(AGGREGATE_FEATURES)))
    ctx = context_matrix(prepared, rows, channels).astype(np.float64)
    return np.hstack([x, ctx])
