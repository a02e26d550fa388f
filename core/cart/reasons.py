"""Why a cart is at risk, in business terms: the effect of each reason on the probability.

The model reads a cart's events up to its last ``add_to_cart`` and the visit's context. A
product manager acts on things like the cart's value, long pauses, the device, the channel,
the hour, whether the buyer has bought before, how many items are in the cart and how many
products were viewed before adding, not on single events. Each such **reason** is measured
by occlusion against a reference: the cart is re-scored with that one reason set to what is
typical of the data, everything else kept, and the effect is

    effect (percentage points) = 100 * (risk of the cart - risk with the reason made typical)

so a positive effect is how much that reason raised the risk. The references are taken from
every cart of the data being explained:

* **cart value**, **items in the cart**: the median over carts; the cart is rescaled to it
  (every price, or every quantity, multiplied by the same factor);
* **pauses**: no pause between two clicks longer than the median of the carts' longest
  pauses (longer pauses are cut to it);
* **views before adding**: the median count; extra product views are left out (the earliest
  ones). A cart with fewer views than typical has no measured effect (adding views would
  need invented products);
* **removals before adding**: none (the removals are left out, as if the removed items had
  stayed in the cart);
* **earlier visits**: the median numbers of earlier visits, cart visits and abandoned carts;
* **device**, **channel**, **hour**, **returning buyer**: the data's mix. The risk is
  averaged over every value, weighted by its share of carts (so "mobile: +6 pp" means six
  points above a cart with the data's usual device mix).

Occlusion is exact for the model (each variant is a real forward pass) and costs one batched
pass per cart and reason (about 45 variants per cart, most of them one-hot context changes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np
import polars as pl

from core.cart.features import EVENT_VOCAB, Encoded, encode, prefix_table, prepare_events
from core.cart.occlusion import (
    FEATURE_INDEX,
    REMOVE,
    VIEW,
    Flat,
    context_variant,
    flatten,
    kept_removed_items,
    window_variant,
)
from core.schema import check_events

if TYPE_CHECKING:
    from core.cart.model import CartModel

#: Reasons, in display order, with their names in plain words.
REASONS: Final[dict[str, str]] = {
    "cart_value": "cart value",
    "items": "items in the cart",
    "pauses": "pauses between clicks",
    "views": "product views before adding",
    "removals": "items removed before adding",
    "device": "device",
    "channel": "traffic channel",
    "hour": "hour of the visit",
    "returning_buyer": "returning buyer",
    "earlier_visits": "earlier visits",
}

REASON_SCHEMA: dict[str, pl.DataType] = {
    "session_id": pl.String(),
    "rank": pl.Int32(),
    "reason": pl.String(),
    "name": pl.String(),
    "this_cart": pl.String(),
    "reference": pl.String(),
    "risk": pl.Float64(),
    "risk_reference": pl.Float64(),
    "effect_pp": pl.Float64(),
}

def _facts(flat: Flat, ctx: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Per-cart values of the reasons, as the model sees them (its window)."""
    last = flat.offset + flat.length - 1
    seconds = np.expm1(flat.raw[:, FEATURE_INDEX["log_dt"]])
    first = np.zeros(len(flat.cart), dtype=bool)
    first[flat.offset] = True
    pause = np.where(first, 0.0, seconds)
    longest = np.zeros(len(flat.length))
    np.maximum.at(longest, flat.cart, pause)
    unpriced = np.zeros(len(flat.length))
    np.add.at(unpriced, flat.cart, (flat.raw[:, FEATURE_INDEX["price_missing"]] > 0.5)
              & np.isin(flat.types, [EVENT_VOCAB.index("add_to_cart"), REMOVE]))
    col = {n: i for i, n in enumerate(names)}
    return {
        "value": np.expm1(flat.raw[last, FEATURE_INDEX["log_rel_cart_value"]]),
        "value_known": unpriced == 0,
        "items": np.expm1(flat.raw[last, FEATURE_INDEX["log_cart_items"]]),
        "longest_pause": longest,
        "views": np.bincount(flat.cart, weights=flat.types == VIEW,
                             minlength=len(flat.length)),
        "removals": np.bincount(flat.cart, weights=flat.types == REMOVE,
                                minlength=len(flat.length)),
        "bought_before": ctx[:, col["bought_before"]] > 0.5,
        "prev": np.expm1(ctx[:, [col["log_prev_sessions"], col["log_prev_carts"],
                                 col["log_prev_abandoned"]]]),
    }


@dataclass(frozen=True)
class _Reference:
    value: float
    items: float
    longest_pause: float
    views: float
    prev: np.ndarray  # medians of earlier visits, cart visits, abandoned carts
    shares: dict[str, tuple[np.ndarray, np.ndarray]]  # group -> (context columns, shares)


def _reference(facts: dict[str, np.ndarray], ctx: np.ndarray, names: list[str]) -> _Reference:
    priced = facts["value_known"] & (facts["value"] > 0)
    shares = {}
    for group, prefix in (("device", "device="), ("channel", "channel="), ("hour", "hour=")):
        cols = np.array([i for i, n in enumerate(names) if n.startswith(prefix)])
        shares[group] = (cols, ctx[:, cols].mean(axis=0))
    j = names.index("bought_before")
    share = float(ctx[:, j].mean())
    shares["returning_buyer"] = (np.array([j, j]), np.array([1.0 - share, share]))
    return _Reference(
        value=float(np.median(facts["value"][priced])) if priced.any() else float("nan"),
        items=float(np.median(facts["items"])),
        longest_pause=float(np.median(facts["longest_pause"])),
        views=float(np.median(facts["views"])),
        prev=np.median(facts["prev"], axis=0),
        shares=shares,
    )


def _fmt_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _plural(n: float, word: str) -> str:
    return f"{n:g} {word}" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class ReasonContext:
    """What every explanation of one model on one event table shares: the prepared events,
    the last prefix of every cart and the references (typical values) taken from all carts.
    Built once by :func:`reason_context` and passed to :func:`explain_reasons`, so explaining
    another cart does not prepare and encode every cart again."""

    prepared: pl.DataFrame
    prefixes: pl.DataFrame  # one row per cart: its last add_to_cart prefix
    reference: _Reference | None  # None without carts


def reason_context(model: CartModel, events: pl.DataFrame | pl.LazyFrame) -> ReasonContext:
    """The shared part of :func:`explain_reasons` for ``model`` on ``events``.

    Parameters
    ----------
    model : CartModel
        A trained model (its feature scaling and window length are used).
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table; the references are taken from all of its carts.

    Returns
    -------
    ReasonContext
        Valid for this model and this event table only.

    Raises
    ------
    SchemaError
        A required canonical column is missing.
    """
    check_events(events)
    prepared = prepare_events(events)
    prefixes = prefix_table(prepared).filter(pl.col("is_last"))
    if prefixes.height == 0:
        return ReasonContext(prepared, prefixes, None)
    names = list(model.config.context_features)
    enc_all = encode(prepared, prefixes, channels=model.channels, mean=model.mean,
                     std=model.std, max_len=model.config.max_len)
    flat_all = flatten(enc_all, model.mean, model.std)
    ref = _reference(_facts(flat_all, enc_all.context, names), enc_all.context, names)
    return ReasonContext(prepared, prefixes, ref)


def explain_reasons(model: CartModel, events: pl.DataFrame | pl.LazyFrame | None, *,
                    session_ids: list[str] | None = None,
                    context: ReasonContext | None = None) -> pl.DataFrame:
    """The reasons each cart is at risk, in business terms, with their effect on the risk.

    Every cart is explained as :func:`core.score_carts` scores it: at its last
    ``add_to_cart``, from the events up to it and the user's earlier sessions. See the module
    docstring for the reasons and their references.

    Parameters
    ----------
    model : CartModel
        A trained model.
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table: the references (typical cart value, device mix...) are taken
        from all of its carts.
    session_ids : list of str, optional
        The cart sessions to explain (unknown ids and sessions without a cart are skipped).
        Default: every cart session.
    context : ReasonContext, optional
        :func:`reason_context` of this model on ``events``, when already built (``events``
        is then not read and may be None); the result is the same.

    Returns
    -------
    pl.DataFrame
        One row per cart and reason, each cart's reasons ordered by ``effect_pp`` (largest
        first; reasons without a measured effect last). Columns: ``session_id``, ``rank``
        (1 = the reason that raised the risk most), ``reason`` (key of :data:`REASONS`),
        ``name`` (the reason in words), ``this_cart`` (its value for this cart, in words),
        ``reference`` (what it is compared with), ``risk`` (the cart's probability of
        abandonment), ``risk_reference`` (with the reason made typical) and ``effect_pp``
        (``100 * (risk - risk_reference)``, percentage points; null when not measurable, e.g.
        the value of a cart without prices). Empty, same columns, without carts.

    Raises
    ------
    SchemaError
        A required canonical column is missing.

    Examples
    --------
    >>> explain_reasons(model, events, session_ids=["U000042-S3"])  # doctest: +SKIP
    shape: (10, 9): cart value +7.1 pp, device = mobile +5.3 pp, ...
    """
    context = reason_context(model, events) if context is None else context
    prefixes = _chosen(context.prefixes, session_ids)
    if prefixes.height == 0:
        return pl.DataFrame(schema=REASON_SCHEMA)
    ref = context.reference
    mean, std = model.mean, model.std
    names = list(model.config.context_features)
    enc = encode(context.prepared, prefixes, channels=model.channels, mean=mean, std=std,
                 max_len=model.config.max_len)
    flat = flatten(enc, mean, std)
    f = _facts(flat, enc.context, names)
    risk = model.predict_proba(enc)
    blocks = _window_blocks(flat, enc, f, ref, mean, std) + _context_blocks(enc, ref, names)
    reference_risk = _reference_risks(model, blocks, risk, f, ref)
    words = _words(f, ref, context.prepared, prefixes)
    return _reason_table(prefixes["session_id"].to_list(), risk, reference_risk, words)


def _chosen(prefixes: pl.DataFrame, session_ids: list[str] | None) -> pl.DataFrame:
    """The carts to explain: every one, or those of ``session_ids``."""
    if session_ids is None or prefixes.height == 0:
        return prefixes
    wanted = pl.Series(list(session_ids), dtype=pl.String).implode()
    return prefixes.filter(prefixes["session_id"].is_in(wanted))


#: A batch of variants: (reason, carts it varies, their encoded variants, weights). The
#: reference risk of a (cart, reason) is the weighted sum of its variants' risks.
_Block = tuple[str, np.ndarray, Encoded, np.ndarray]
#: A window variant: (carts it applies to, their raw window features, events kept or None).
_Window = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def _value_window(flat: Flat, f: dict[str, np.ndarray], ref: _Reference) -> _Window:
    """Cart value made typical: every price of the cart rescaled by the same factor."""
    priced = f["value_known"] & (f["value"] > 0) & np.isfinite(ref.value)
    r = np.where(priced, ref.value / np.where(priced, f["value"], 1.0), 1.0)[flat.cart]
    raw = flat.raw.copy()
    for name in ("log_rel_price", "log_rel_cart_value"):
        j = FEATURE_INDEX[name]
        raw[:, j] = np.log1p(np.expm1(raw[:, j]) * r)
    return priced, raw, None


def _items_window(flat: Flat, f: dict[str, np.ndarray], ref: _Reference) -> _Window:
    """Item count made typical: every quantity rescaled by the same factor."""
    differ = (f["items"] > 0) & (np.abs(f["items"] - ref.items) > 1e-9)
    r = np.where(differ, ref.items / np.where(f["items"] > 0, f["items"], 1.0), 1.0)
    raw = flat.raw.copy()
    j = FEATURE_INDEX["log_cart_items"]
    raw[:, j] = np.log1p(np.expm1(raw[:, j]) * r[flat.cart])
    return differ, raw, None


def _pauses_window(flat: Flat, f: dict[str, np.ndarray], ref: _Reference) -> _Window:
    """Pauses cut to the typical longest pause."""
    raw = flat.raw.copy()
    j = FEATURE_INDEX["log_dt"]
    first = np.zeros(len(flat.cart), dtype=bool)
    first[flat.offset] = True
    capped = np.minimum(raw[:, j], np.log1p(ref.longest_pause))
    raw[:, j] = np.where(first, raw[:, j], capped)
    return f["longest_pause"] > ref.longest_pause, raw, None


def _views_window(flat: Flat, f: dict[str, np.ndarray], ref: _Reference) -> _Window:
    """The earliest product views beyond the typical count left out."""
    extra = f["views"] - np.floor(ref.views)
    is_view = flat.types == VIEW
    nth = np.cumsum(is_view) - is_view
    nth = nth - nth[flat.offset][flat.cart]  # 0-based rank of a view inside its cart
    return extra > 0, flat.raw, ~(is_view & (nth < extra[flat.cart]))


def _removals_window(flat: Flat, f: dict[str, np.ndarray], ref: _Reference) -> _Window:
    """The removals left out, as if the removed items had stayed in the cart."""
    return f["removals"] > 0, kept_removed_items(flat), flat.types != REMOVE


_WINDOW_REASONS = (("cart_value", _value_window), ("items", _items_window),
                   ("pauses", _pauses_window), ("views", _views_window),
                   ("removals", _removals_window))


def _window_blocks(flat: Flat, enc: Encoded, f: dict[str, np.ndarray], ref: _Reference,
                   mean: np.ndarray, std: np.ndarray) -> list[_Block]:
    """Variants of the carts' event windows, one block per reason that applies to a cart."""
    keep_all = np.ones(len(flat.cart), dtype=bool)
    blocks: list[_Block] = []
    for reason, variant in _WINDOW_REASONS:
        applies, raw, keep = variant(flat, f, ref)
        carts = np.flatnonzero(applies)
        if len(carts):
            venc = window_variant(flat, raw, keep_all if keep is None else keep, carts, enc,
                                  mean, std)
            blocks.append((reason, carts, venc, np.ones(len(carts))))
    return blocks


def _context_blocks(enc: Encoded, ref: _Reference, names: list[str]) -> list[_Block]:
    """Variants of the session context: typical earlier visits, and every device, channel,
    hour and returning-buyer value weighted by its share of carts."""
    blocks: list[_Block] = []
    prev_cols = [names.index(c) for c in ("log_prev_sessions", "log_prev_carts",
                                          "log_prev_abandoned")]
    typical_prev = np.log1p(ref.prev)
    differ = np.abs(enc.context[:, prev_cols] - typical_prev).max(axis=1) > 1e-9
    if differ.any():
        carts = np.flatnonzero(differ)
        c = enc.context[carts].copy()
        c[:, prev_cols] = typical_prev
        blocks.append(("earlier_visits", carts, context_variant(enc, carts, c),
                       np.ones(len(carts))))
    everyone = np.arange(len(enc))
    for group, (cols, shares) in ref.shares.items():
        for k, share in enumerate(shares):
            if share <= 0:
                continue
            c = enc.context.copy()
            if group == "returning_buyer":
                # a (non-)buyer has (no) earlier purchase sessions: both inputs move together
                c[:, cols[0]] = float(k)
                j = names.index("log_prev_purchases")
                c[:, j] = np.maximum(c[:, j], np.log1p(1.0)) if k else 0.0
            else:
                c[:, cols] = 0.0
                c[:, cols[k]] = 1.0
            blocks.append((group, everyone, context_variant(enc, everyone, c),
                           np.full(len(enc), share)))
    return blocks


def _reference_risks(model: CartModel, blocks: list[_Block], risk: np.ndarray,
                     f: dict[str, np.ndarray], ref: _Reference) -> np.ndarray:
    """``[cart, reason]`` risk with the reason made typical (NaN: not measurable)."""
    reasons = list(REASONS)
    reference_risk = np.full((len(risk), len(reasons)), np.nan)
    for reason, carts, venc, weights in blocks:
        p = model.predict_proba(venc)
        col = reasons.index(reason)
        current = reference_risk[carts, col]
        reference_risk[carts, col] = np.where(np.isnan(current), 0.0, current) + weights * p
    # Reasons already at their reference have no effect (the cart *is* typical there).
    typical_items = ~(f["items"] > 0) | (np.abs(f["items"] - ref.items) <= 1e-9)
    for reason, at_reference in (("items", typical_items),
                                 ("pauses", ~(f["longest_pause"] > ref.longest_pause)),
                                 ("removals", ~(f["removals"] > 0))):
        col = reasons.index(reason)
        reference_risk[at_reference, col] = risk[at_reference]
    col = reasons.index("earlier_visits")
    same = np.isnan(reference_risk[:, col])
    reference_risk[same, col] = risk[same]
    return reference_risk


def _reason_table(ids: list[str], risk: np.ndarray, reference_risk: np.ndarray,
                  words: dict[str, tuple[list[str], str]]) -> pl.DataFrame:
    """One row per cart and reason, each cart's reasons ranked by effect."""
    reasons = list(REASONS)
    n, k = len(ids), len(reasons)
    this_cart = np.empty((n, k), dtype=object)
    for col, reason in enumerate(reasons):
        this_cart[:, col] = words[reason][0]
    effect = 100 * (risk[:, None] - reference_risk)
    out = pl.DataFrame({
        "session_id": np.repeat(np.array(ids, dtype=object), k).tolist(),
        "reason": reasons * n,
        "name": [REASONS[r] for r in reasons] * n,
        "this_cart": this_cart.ravel().tolist(),
        "reference": [words[r][1] for r in reasons] * n,
        "risk": np.repeat(risk, k),
        "risk_reference": reference_risk.ravel(),
        "effect_pp": effect.ravel(),
        "_o": np.repeat(np.arange(n), k),
    }).with_columns(pl.col("risk_reference", "effect_pp").fill_nan(None))
    out = (
        out.sort(["_o", "effect_pp"], descending=[False, True], nulls_last=True,
                 maintain_order=True)
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("_o").alias("rank"))
        .drop("_o")
    )
    return out.select(list(REASON_SCHEMA)).cast(REASON_SCHEMA)  # type: ignore[arg-type]


def _words(f: dict[str, np.ndarray], ref: _Reference, prepared: pl.DataFrame,
           prefixes: pl.DataFrame) -> dict[str, tuple[list[str], str]]:
    """Each reason's value for every cart, in words, and its reference in words."""
    rows = prefixes["row"].to_numpy()
    ctx = prepared.select("device_class", "channel", "hour")[rows] if len(rows) else None
    device = ctx["device_class"].to_list()
    channel = ctx["channel"].fill_null("unknown").to_list()
    hour = ctx["hour"].to_list()
    # the model reads values relative to the shop's median cart; words show the money
    unit = prepared["_value_scale"][0] if prepared.height else None
    unit = float("nan") if unit is None else float(unit)
    value = [f"{v * unit:,.2f}" if known and np.isfinite(unit) else "n/a (no prices)"
             for v, known in zip(f["value"], f["value_known"], strict=True)]
    prev = f["prev"]
    share = float(ref.shares["returning_buyer"][1][1])
    return {
        "cart_value": (value, "n/a (no prices in the data)"
                       if not np.isfinite(ref.value * unit)
                       else f"typical cart: {ref.value * unit:,.2f}"),
        "items": ([_plural(round(v, 2), "item") for v in f["items"]],
                  f"typical: {_plural(round(ref.items, 2), 'item')}"),
        "pauses": ([f"longest {_fmt_duration(s)}" for s in f["longest_pause"]],
                   f"typical longest pause: {_fmt_duration(ref.longest_pause)}"),
        "views": ([_plural(int(v), "view") for v in f["views"]],
                  f"typical: {_plural(int(np.floor(ref.views)), 'view')} (fewer than typical "
                  "is not measured)"),
        "removals": ([_plural(int(v), "item") + " removed" for v in f["removals"]],
                     "none removed"),
        "device": (device, "the data's mix of devices"),
        "channel": (channel, "the data's mix of channels"),
        "hour": ([f"{h:02d}:00-{h:02d}:59 UTC" for h in hour], "the data's mix of hours"),
        "returning_buyer": (["bought before" if b else "never bought before"
                             for b in f["bought_before"]],
                            f"the data's mix ({share:.0%} of carts from returning buyers)"),
        "earlier_visits": ([f"{_plural(round(p[0]), 'earlier visit')}, "
                            f"{_plural(round(p[2]), 'abandoned cart')}" for p in prev],
                           f"typical: {_plural(round(ref.prev[0]), 'earlier visit')}, "
                           f"{_plural(round(ref.prev[2]), 'abandoned cart')}"),
    }
