"""Scoring cart sessions with a trained model: the risk of abandonment of every cart.

Per-session computation keyed by session and user (merge step: concatenate the per-partition
results and sort by ``p_abandon``), so it can run on any partition holding whole users.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from core.cart.features import encode, prefix_table, prepare_events
from core.errors import ParameterError
from core.schema import check_events

if TYPE_CHECKING:
    from core.cart.model import CartModel

SCORE_SCHEMA: dict[str, pl.DataType] = {
    "session_id": pl.String(),
    "user_id": pl.String(),
    "session_start": pl.Datetime("us", "UTC"),
    "last_event": pl.Datetime("us", "UTC"),
    "prediction_time": pl.Datetime("us", "UTC"),
    "events": pl.Int64(),
    "items": pl.Float64(),
    "cart_value": pl.Float64(),
    "p_abandon": pl.Float64(),
    "at_risk": pl.Boolean(),
    "purchased": pl.Boolean(),
    "open": pl.Boolean(),
    "idle_minutes": pl.Float64(),
}


def _as_utc(as_of: Any) -> datetime:
    if isinstance(as_of, datetime):
        return as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc)
    if isinstance(as_of, date):
        # a day means "at the end of that day"
        return datetime.combine(as_of, time.max, tzinfo=timezone.utc)
    raise ParameterError(f"`as_of` must be a datetime or a date, got {as_of!r}")


def score_carts(model: CartModel, events: pl.DataFrame | pl.LazyFrame, *, as_of=None) -> pl.DataFrame:
    """The probability of abandonment of every cart session, as the data stands at ``as_of``.

    Only events at or before ``as_of`` are read. Each cart session is scored at its
    prediction time, its last ``add_to_cart`` up to ``as_of``, from the events up to that
    moment (exactly as the model was trained and evaluated). A cart is ``purchased`` when a
    purchase followed its last ``add_to_cart`` by ``as_of``; otherwise it is ``open`` (no
    purchase yet: still in progress, or already abandoned when the visit has ended).

    Parameters
    ----------
    model : CartModel
        A trained model (:func:`load_bundled_model`, :func:`train_model`).
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table.
    as_of : datetime or date, optional
        The moment the data is looked at (a date means the end of that day, UTC; a naive
        datetime is UTC). Default: the last event of the data.

    Returns
    -------
    pl.DataFrame
        One row per cart session, highest risk first. Columns: ``session_id``, ``user_id``,
        ``session_start``, ``last_event`` (its last event up to ``as_of``),
        ``prediction_time``, ``events`` (events up to ``as_of``), ``items`` and
        ``cart_value`` (an open cart as it stands at ``as_of``, a bought one as it was at its
        last ``add_to_cart``: adds minus removes since the previous purchase; value 0 where
        prices are unknown),
        ``p_abandon`` (calibrated probability in [0, 1]), ``at_risk`` (``p_abandon`` at or
        above the model's threshold), ``purchased``, ``open`` and ``idle_minutes`` (from
        ``last_event`` to ``as_of``). Empty, same columns, when there is no cart session.

    Raises
    ------
    ParameterError
        ``as_of`` is not a date or datetime.
    SchemaError
        A required canonical column is missing.
    """
    check_events(events)
    lf = events.lazy() if isinstance(events, pl.DataFrame) else events
    if as_of is None:
        cutoff = lf.select(pl.col("ts").max()).collect().item()
        if cutoff is None:
            return pl.DataFrame(schema=SCORE_SCHEMA)
    else:
        cutoff = _as_utc(as_of)
    lf = lf.filter(pl.col("ts") <= cutoff)
    prepared = prepare_events(lf)
    prefixes = prefix_table(prepared).filter(pl.col("is_last"))
    if prefixes.height == 0:
        return pl.DataFrame(schema=SCORE_SCHEMA)
    enc = encode(prepared, prefixes, channels=model.channels, mean=model.mean, std=model.std,
                 max_len=model.config.max_len)
    p = model.predict_proba(enc)
    # `prepared` holds cart sessions only, in the same order as `prefixes` (one each): the
    # session's last row up to `as_of` gives its state now.
    last = (prepared["skey"] != prepared["skey"].shift(-1)).fill_null(True)
    now = prepared.filter(last).select(
        pl.col("ts").alias("last_event"),
        (pl.col("pos") + 1).cast(pl.Int64).alias("events"),
        pl.col("cart_value").alias("_value_now"),
        pl.col("cart_items").alias("_items_now"),
    )
    purchased = ~pl.col("abandoned")
    out = (
        pl.concat([prefixes, now], how="horizontal")
        .with_columns(
            pl.Series("p_abandon", p, dtype=pl.Float64),
            purchased.alias("purchased"),
            (~purchased).alias("open"),
            # an open cart as it stands now; a bought one as it was at its last add
            pl.when(purchased).then(pl.col("cart_value")).otherwise(pl.col("_value_now"))
            .alias("cart_value"),
            pl.when(purchased).then(pl.col("cart_items")).otherwise(pl.col("_items_now"))
            .alias("items"),
            ((pl.lit(cutoff).cast(pl.Datetime("us", "UTC")) - pl.col("last_event"))
             .dt.total_microseconds() / 60e6).alias("idle_minutes"),
        )
        .with_columns((pl.col("p_abandon") >= model.threshold).alias("at_risk"))
        .sort(["p_abandon", "session_id"], descending=[True, False])
    )
    return out.select(list(SCORE_SCHEMA)).cast(SCORE_SCHEMA)  # type: ignore[arg-type]


def revenue_at_risk(scores: pl.DataFrame, *, threshold: float) -> dict[str, float]:
    """Money at stake in the open carts of :func:`score_carts`.

    Parameters
    ----------
    scores : pl.DataFrame
        Output of :func:`score_carts`.
    threshold : float
        Probability from which a cart counts as flagged, in [0, 1].

    Returns
    -------
    dict
        ``open_carts``, ``open_value`` (sum of their cart values), ``expected_loss`` (sum of
        ``p_abandon * cart_value`` over open carts: the value expected to be abandoned),
        ``flagged_carts`` and ``flagged_value`` (open carts at or above ``threshold``).

    Raises
    ------
    ParameterError
        ``threshold`` is outside [0, 1].

    Examples
    --------
    Two open carts worth 100 (p = 0.9) and 50 (p = 0.2): expected loss 0.9*100 + 0.2*50 = 100;
    at threshold 0.5 one cart worth 100 is flagged.
    """
    if not 0.0 <= float(threshold) <= 1.0:
        raise ParameterError(f"`threshold` must be between 0 and 1, got {threshold}")
    open_ = scores.filter(pl.col("open"))
    value = open_["cart_value"].to_numpy() if open_.height else np.zeros(0)
    p = open_["p_abandon"].to_numpy() if open_.height else np.zeros(0)
    flagged = p >= threshold
    return {
        "open_carts": int(open_.height),
        "open_value": float(value.sum()),
        "expected_loss": float((p * value).sum()),
        "flagged_carts": int(flagged.sum()),
        "flagged_value": float(value[flagged].sum()),
    }
