"""Why a cart is at risk: each event's contribution to the predicted risk, by occlusion.

The prediction for a cart session is made at its last ``add_to_cart`` from the events up to
it. An event's contribution is the risk with all events minus the risk with that one event
left out (the later events' time gaps, running cart and positions are recomputed without it):
positive values raised the risk, negative values lowered it. Context inputs (device, channel,
an earlier purchase, earlier sessions) are occluded the same way by setting them to
"unknown"/none, one at a time. Occlusion is exact for the model (no approximation of gradients), costs one
batched forward pass, and its numbers are probabilities a product manager can read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from core.cart.features import (
    Encoded,
    ValueScale,
    context_matrix,
    encode,
    prefix_table,
    prepare_events,
    value_scale,
)
from core.errors import ParameterError
from core.schema import check_events

if TYPE_CHECKING:
    from core.cart.model import CartModel

EXPLAIN_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "position": pl.Int32(),
    "ts": pl.Datetime("us", "UTC"),
    "event": pl.String(),
    "event_type": pl.String(),
    "product_id": pl.String(),
    "price": pl.Float64(),
    "cart_value": pl.Float64(),
    "label": pl.String(),
    "in_prefix": pl.Boolean(),
    "risk": pl.Float64(),
    "risk_without": pl.Float64(),
    "contribution": pl.Float64(),
}


def explain(model: CartModel, session: pl.DataFrame | pl.LazyFrame, *,
            scale: ValueScale | None = None) -> pl.DataFrame:
    """Each event's contribution to a cart session's risk of abandonment (occlusion).

    Parameters
    ----------
    model : CartModel
        A trained model.
    session : pl.DataFrame or pl.LazyFrame
        Canonical events of one user: the session to explain (the latest cart session in
        the frame) and, optionally, that user's earlier sessions (they set "bought before"
        and "earlier sessions" as :func:`score_carts` sees them).
    scale : ValueScale, optional
        The shop's money scale (:func:`core.cart.features.value_scale` of the whole data):
        pass it so that the risk equals the one :func:`score_carts` gives on the whole data.
        Default: measured on ``session`` (one user's prices; the risk may then differ a
        little from the page's score).

    Returns
    -------
    pl.DataFrame
        One row per event of the explained session (``kind = "event"``, in order), then one
        per context input (``kind = "context"``). Columns: ``position`` (0-based, null for
        context), ``ts``, ``event``, ``event_type``, ``product_id``, ``price``,
        ``cart_value`` (running, after the event), ``label`` (plain description),
        ``in_prefix`` (the event is before the prediction time; events after it have no
        contribution), ``risk`` (the session's predicted risk), ``risk_without`` (the risk
        with this input left out) and ``contribution`` (``risk - risk_without``; positive
        raised the risk). Empty, same columns, when the session has no ``add_to_cart``.

    Raises
    ------
    ParameterError
        The frame holds events of more than one user.
    SchemaError
        A required canonical column is missing.
    """
    check_events(session)
    frame = session.collect() if isinstance(session, pl.LazyFrame) else session
    users = frame["user_id"].unique()
    if users.len() > 1:
        raise ParameterError(
            f"`session` must hold the events of one user's session, got {users.len()} users "
            f"({', '.join(map(str, users.head(3).to_list()))}, ...)"
        )
    scale = value_scale(frame) if scale is None else scale
    prepared = prepare_events(frame, scale=scale)
    if prepared.height == 0:
        return pl.DataFrame(schema=EXPLAIN_SCHEMA)
    target = prepared.sort("session_start", maintain_order=True)["session_id"][-1]
    prefixes = prefix_table(prepared).filter(
        (pl.col("session_id") == target) & pl.col("is_last"))
    if prefixes.height == 0:
        return pl.DataFrame(schema=EXPLAIN_SCHEMA)
    cut_row = int(prefixes["row"][0])
    own = prepared.with_row_index("_row").filter(pl.col("session_id") == target)
    enc = encode(prepared, prefixes, channels=model.channels, mean=model.mean, std=model.std,
                 max_len=model.config.max_len)
    risk = float(model.predict_proba(enc)[0])
    n = cut_row - int(prefixes["first_row"][0]) + 1
    ctx = context_matrix(prepared, np.array([cut_row]), model.channels)
    base = frame.filter(pl.col("session_id").cast(pl.String) == target)
    without = _risks_without_each_event(model, base.sort("ts", maintain_order=True).head(n), ctx,
                                        scale)
    rows = own.select(
        pl.lit("event").alias("kind"),
        pl.col("pos").alias("position"),
        "ts", "event", "event_type", "product_id", "price", "cart_value",
        _event_label().alias("label"),
        (pl.col("_row") <= cut_row).alias("in_prefix"),
    ).with_columns(
        pl.lit(risk).alias("risk"),
        pl.Series("risk_without", np.concatenate([without, np.full(own.height - n, np.nan)]))
        .fill_nan(None),
    ).with_columns((pl.col("risk") - pl.col("risk_without")).alias("contribution"))

    first = own.filter(pl.col("_row") <= cut_row).row(0, named=True)
    context = _context_rows(model, enc, ctx, first, risk)
    return pl.concat([rows, context], how="diagonal_relaxed").select(
        list(EXPLAIN_SCHEMA)).cast(EXPLAIN_SCHEMA)  # type: ignore[arg-type]


def _risks_without_each_event(model: CartModel, prefix: pl.DataFrame,
                              ctx: np.ndarray, scale: ValueScale) -> np.ndarray:
    """The risk of the cart with each event of its prefix (canonical rows, in order) left
    out: one variant per left-out event, scored in one batch with the cart's own context."""
    n = prefix.height
    if n <= 1:
        return np.zeros(n)
    variants = []
    for i in range(n):
        v = prefix.with_row_index("_i").filter(pl.col("_i") != i).drop("_i")
        variants.append(v.with_columns(pl.lit(f"v{i:05d}").alias("session_id"),
                                       pl.lit(f"v{i:05d}").alias("user_id")))
    vp = prepare_events(pl.concat(variants, how="diagonal_relaxed"), scale=scale)
    vpre = prefix_table(vp).filter(pl.col("is_last"))
    venc = encode(vp, vpre, channels=model.channels, mean=model.mean, std=model.std,
                  max_len=model.config.max_len)
    venc = Encoded(venc.types, venc.numeric, venc.start, venc.end,
                   np.repeat(ctx, len(venc), axis=0), venc.labels)
    scored = dict(zip(vpre["session_id"].to_list(), model.predict_proba(venc), strict=True))
    # a variant that lost its only add_to_cart has no prefix: no cart, no risk to compare
    # with (its contribution is the whole risk)
    return np.array([scored.get(f"v{i:05d}", 0.0) for i in range(n)], dtype=np.float64)


def _event_label() -> pl.Expr:
    price = pl.when(pl.col("price").is_not_null()).then(
        pl.lit(" at ") + pl.col("price").round(2).cast(pl.String)).otherwise(pl.lit(""))
    product = pl.when(pl.col("product_id").is_not_null()).then(
        pl.lit(" ") + pl.col("product_id")).otherwise(pl.lit(""))
    return pl.col("event") + product + price


def _context_rows(model: CartModel, enc: Encoded, ctx: np.ndarray, first: dict, risk: float,
                  ) -> pl.DataFrame:
    names = list(model.config.context_features)
    variants: list[tuple[str, np.ndarray]] = []
    device = first["device_class"]
    if device != "unknown":
        c = ctx.copy()
        c[0, [i for i, nm in enumerate(names) if nm.startswith("device=")]] = 0.0
        c[0, names.index("device=unknown")] = 1.0
        variants.append((f"device = {device}", c))
    channel = first["channel"]
    if channel is not None:
        c = ctx.copy()
        c[0, [i for i, nm in enumerate(names) if nm.startswith("channel=")]] = 0.0
        c[0, names.index("channel=unknown")] = 1.0
        variants.append((f"channel = {channel}", c))
    if first["bought_before"]:
        c = ctx.copy()
        c[0, names.index("bought_before")] = 0.0
        variants.append(("bought before (an earlier session had a purchase)", c))
    for col, words in (("prev_sessions", "earlier session(s)"),
                       ("prev_carts", "earlier cart session(s)"),
                       ("prev_abandoned", "earlier abandoned cart(s)")):
        if first[col]:
            c = ctx.copy()
            c[0, names.index(f"log_{col}")] = 0.0
            variants.append((f"{first[col]} {words}", c))
    if not variants:
        return pl.DataFrame(schema=EXPLAIN_SCHEMA)
    contexts = np.vstack([c for _, c in variants])
    k = len(variants)
    venc = Encoded(enc.types, enc.numeric, np.repeat(enc.start, k), np.repeat(enc.end, k),
                   contexts.astype(np.float32), np.zeros(k, dtype=np.float32))
    without = model.predict_proba(venc)
    return pl.DataFrame({
        "kind": ["context"] * k,
        "label": [lbl for lbl, _ in variants],
        "in_prefix": [True] * k,
        "risk": [risk] * k,
        "risk_without": without.tolist(),
        "contribution": (risk - without).tolist(),
    })
