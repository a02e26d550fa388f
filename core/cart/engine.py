"""Scoring cart sessions with a trained model: the risk of abandonment of every cart.

Per-session computation keyed by session and user (merge step: concatenate the per-partition
results and sort by ``p_abandon``), so it can run on any partition holding whole users.

:func:`run` is the engine: it takes a :class:`~core.cart.params.CartParams` and returns a
:class:`CartResult` (every cart scored, with its status, and the settings it was computed with);
:func:`score_carts`, :func:`cart_status` and :func:`revenue_at_risk` are its public steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from core.cart.features import ValueScale, encode, prefix_table, prepare_events
from core.cart.model import CartModel, load_bundled_model
from core.cart.params import (
    CART_STATUSES,
    DEFAULT_RECOVERY_WINDOW,
    RISK_CONSTRAINTS,
    CartParams,
    plain_number,
)
from core.errors import ParameterError
from core.params import check_constraints
from core.schema import check_events
from core.sessions import DEFAULT_SESSION_GAP

__all__ = [
    "CART_STATUSES",
    "DEFAULT_RECOVERY_WINDOW",
    "SCORE_SCHEMA",
    "CartResult",
    "cart_status",
    "revenue_at_risk",
    "run",
    "score_carts",
]

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
    "value_known": pl.Boolean(),
}


@dataclass(frozen=True)
class CartResult:
    """Every cart of a dataset, scored and given its status, under one set of settings.

    Attributes
    ----------
    params : CartParams
        The settings it was computed with.
    carts : pl.DataFrame
        :func:`score_carts` with the :func:`cart_status` ``status`` column; ``at_risk`` is
        ``p_abandon >= threshold``.
    threshold : float
        The threshold in force (``params.threshold``, or the model's own when unset).
    """

    params: CartParams
    carts: pl.DataFrame
    threshold: float

    @property
    def reason(self) -> str:
        """Why there is nothing to show ("" when there are carts)."""
        if self.carts.height:
            return ""
        return ("no session has an add_to_cart event, and a cart must exist before it can be "
                "abandoned")

    def revenue(self, status: str | None = "open") -> dict[str, float]:
        """:func:`revenue_at_risk` of the carts with this status (None: every cart not bought),
        at :attr:`threshold`."""
        return revenue_at_risk(self.carts, threshold=self.threshold, status=status)


def run(events: pl.DataFrame | pl.LazyFrame, params: CartParams,
        model: CartModel | None = None) -> CartResult:
    """Score every cart of ``events`` and give it its status under ``params`` (the engine).

    ``model`` defaults to the bundled model. See :meth:`CartParams.compute`.
    """
    model = load_bundled_model() if model is None else model
    threshold = params.threshold_for(model)
    scores = _score(model, events, params.cutoff, threshold)
    return CartResult(params=params, carts=_with_status(scores, params), threshold=threshold)


def score_carts(model: CartModel, events: pl.DataFrame | pl.LazyFrame, *,
                as_of=None, scale: ValueScale | None = None) -> pl.DataFrame:
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
    scale : ValueScale, optional
        The shop's money scale (:func:`core.cart.features.value_scale`); default: measured on
        the events up to ``as_of``. Pass the whole data's scale when scoring a part of it
        (a partition of users: merge step, concatenate).

    Returns
    -------
    pl.DataFrame
        One row per cart session, highest risk first. Columns: ``session_id``, ``user_id``,
        ``session_start``, ``last_event`` (its last event up to ``as_of``),
        ``prediction_time``, ``events`` (events up to ``as_of``), ``items`` and
        ``cart_value`` (an open cart as it stands at ``as_of``, a bought one as it was at its
        last ``add_to_cart``: adds minus removes since the previous purchase; value 0 where
        prices are unknown), ``value_known`` (every add and remove of the cart had a price,
        so ``cart_value`` is its full value),
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
    params = CartParams(as_of=as_of)
    return _score(model, events, params.cutoff, model.threshold, scale)


def _score(model: CartModel, events: pl.DataFrame | pl.LazyFrame, cutoff: datetime | None,
           threshold: float, scale: ValueScale | None = None) -> pl.DataFrame:
    """:func:`score_carts` as the data stands at ``cutoff`` (None: its last event)."""
    check_events(events)
    lf = events.lazy() if isinstance(events, pl.DataFrame) else events
    if cutoff is None:
        cutoff = lf.select(pl.col("ts").max()).collect().item()
        if cutoff is None:
            return pl.DataFrame(schema=SCORE_SCHEMA)
    prepared = prepare_events(lf.filter(pl.col("ts") <= cutoff), scale=scale)
    prefixes = prefix_table(prepared).filter(pl.col("is_last"))
    if prefixes.height == 0:
        return pl.DataFrame(schema=SCORE_SCHEMA)
    enc = encode(prepared, prefixes, channels=model.channels, mean=model.mean, std=model.std,
                 max_len=model.config.max_len)
    p = model.predict_proba(enc)
    out = (
        _with_state_now(prefixes, prepared, cutoff)
        .with_columns(pl.Series("p_abandon", p, dtype=pl.Float64))
        .with_columns((pl.col("p_abandon") >= threshold).alias("at_risk"))
        .sort(["p_abandon", "session_id"], descending=[True, False])
    )
    return out.select(list(SCORE_SCHEMA)).cast(SCORE_SCHEMA)  # type: ignore[arg-type]


def _state_now(prepared: pl.DataFrame) -> pl.DataFrame:
    """Each cart session's state at the cutoff: its last row in ``prepared``, one per session
    in the order of :func:`prefix_table`'s last prefixes."""
    last = (prepared["skey"] != prepared["skey"].shift(-1)).fill_null(True)
    unpriced = (pl.col("event_type").is_in(["add_to_cart", "remove_from_cart"])
                & (pl.col("price_missing") > 0))
    # unpriced adds/removes per session: a running count read at each session's last row
    # (sessions are contiguous runs of rows), cheaper than a window over the session key
    seen = prepared.select(unpriced.cast(pl.UInt32).cum_sum()).to_series().filter(last)
    return prepared.filter(last).with_columns(
        (seen - seen.shift(1, fill_value=0) == 0).alias("value_known")).select(
        pl.col("ts").alias("last_event"),
        (pl.col("pos") + 1).cast(pl.Int64).alias("events"),
        pl.col("cart_value").alias("_value_now"),
        pl.col("cart_items").alias("_items_now"),
        "value_known",
    )


def _with_state_now(prefixes: pl.DataFrame, prepared: pl.DataFrame,
                    cutoff: datetime) -> pl.DataFrame:
    """The last prefixes joined with their session's state at ``cutoff``: an open cart as it
    stands now, a bought one as it was at its last add."""
    # `prepared` holds cart sessions only, in the same order as `prefixes` (one each)
    purchased = ~pl.col("abandoned")
    return pl.concat([prefixes, _state_now(prepared)], how="horizontal").with_columns(
        purchased.alias("purchased"),
        (~purchased).alias("open"),
        pl.when(purchased).then(pl.col("cart_value")).otherwise(pl.col("_value_now"))
        .alias("cart_value"),
        pl.when(purchased).then(pl.col("cart_items")).otherwise(pl.col("_items_now"))
        .alias("items"),
        ((pl.lit(cutoff).cast(pl.Datetime("us", "UTC")) - pl.col("last_event"))
         .dt.total_microseconds() / 60e6).alias("idle_minutes"),
    )


def cart_status(scores: pl.DataFrame, *, recovery_window: timedelta = DEFAULT_RECOVERY_WINDOW,
                session_gap: timedelta = DEFAULT_SESSION_GAP) -> pl.DataFrame:
    """Which carts can still be recovered: each cart's ``status`` at the data's end.

    A cart without a purchase is **in progress** while its visit may still be going on (idle
    for at most ``session_gap``), **open** once the visit has ended but it is recent enough
    to win back (idle for more than ``session_gap`` and at most ``recovery_window``), and
    **history** when it is older than that: it was abandoned and is no longer recoverable.
    Bought carts are **purchased**. Idle time is ``idle_minutes`` of :func:`score_carts`
    (from the cart's last event to ``as_of``, the data's end by default).

    Parameters
    ----------
    scores : pl.DataFrame
        Output of :func:`score_carts` (``purchased`` and ``idle_minutes`` are read).
    recovery_window : timedelta, default 7 days
        Longest idle time of a cart that still counts as open; more than ``session_gap``.
    session_gap : timedelta, default 30 minutes
        Idle time after which a visit is over (the sessions' own gap,
        :data:`core.sessions.DEFAULT_SESSION_GAP`).

    Returns
    -------
    pl.DataFrame
        ``scores`` with a ``status`` column (one of :data:`CART_STATUSES`), same row order.

    Raises
    ------
    ParameterError
        ``session_gap`` is not positive, or ``recovery_window`` is not longer than it.

    Examples
    --------
    With the defaults, carts idle for 10 minutes, 2 days and 30 days are ``in_progress``,
    ``open`` and ``history``.
    """
    params = CartParams(recovery_window=recovery_window, session_gap=session_gap)
    return _with_status(scores, params)


def _with_status(scores: pl.DataFrame, params: CartParams) -> pl.DataFrame:
    gap_min = params.session_gap.total_seconds() / 60
    window_min = params.recovery_window.total_seconds() / 60
    idle = pl.col("idle_minutes")
    return scores.with_columns(
        pl.when(pl.col("purchased")).then(pl.lit("purchased"))
        .when(idle <= gap_min).then(pl.lit("in_progress"))
        .when(idle <= window_min).then(pl.lit("open"))
        .otherwise(pl.lit("history"))
        .alias("status"))


def revenue_at_risk(scores: pl.DataFrame, *, threshold: float,
                    status: str | None = None) -> dict[str, float]:
    """Money at stake in the carts of :func:`score_carts` that were not bought.

    Parameters
    ----------
    scores : pl.DataFrame
        Output of :func:`score_carts`, or of :func:`cart_status` when ``status`` is given.
    threshold : float
        Probability from which a cart counts as flagged, in [0, 1].
    status : str, optional
        Only the carts with this :func:`cart_status` status (``"open"``: the recoverable
        ones). Default: every cart not bought (``open`` column of :func:`score_carts`).

    Returns
    -------
    dict
        ``open_carts``, ``open_value`` (sum of their cart values), ``expected_loss`` (sum of
        ``p_abandon * cart_value`` over those carts: the value expected to be abandoned),
        ``flagged_carts`` and ``flagged_value`` (those carts at or above ``threshold``).

    Raises
    ------
    ParameterError
        ``threshold`` is outside [0, 1], or ``status`` is not one of :data:`CART_STATUSES`.

    Examples
    --------
    Two open carts worth 100 (p = 0.9) and 50 (p = 0.2): expected loss 0.9*100 + 0.2*50 = 100;
    at threshold 0.5 one cart worth 100 is flagged.
    """
    threshold = plain_number(threshold)
    check_constraints({"threshold": threshold, "status": status}, RISK_CONSTRAINTS)
    if status is not None and "status" not in scores.columns:
        raise ParameterError("`scores` has no `status` column; pass it through cart_status "
                             "first or leave `status` out")
    open_ = scores.filter(pl.col("open") if status is None else pl.col("status") == status)
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
