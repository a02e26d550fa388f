"""Occlusion variants of encoded carts: the model's windows laid flat, and copies of them with
some events left out, features changed, or a different session context.

Shared by :mod:`core.cart.reasons` (business reasons) and usable for any occlusion of the
sequence model: each variant is a real :class:`~core.cart.features.Encoded` the model scores in
one batched pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.cart.features import EVENT_FEATURES, EVENT_VOCAB, Encoded

FEATURE_INDEX = {name: j for j, name in enumerate(EVENT_FEATURES)}
VIEW = EVENT_VOCAB.index("view_item")
REMOVE = EVENT_VOCAB.index("remove_from_cart")


@dataclass(frozen=True)
class Flat:
    """The model windows of every cart laid end to end: one row per window event."""

    cart: np.ndarray  # cart index of each flat event
    rows: np.ndarray  # its row in the encoded event arrays
    offset: np.ndarray  # first flat index of each cart
    length: np.ndarray  # window length of each cart
    raw: np.ndarray  # unscaled EVENT_FEATURES [n_flat, F] (float64)
    types: np.ndarray


def flatten(enc: Encoded, mean: np.ndarray, std: np.ndarray) -> Flat:
    length = enc.end - enc.start + 1
    offset = np.cumsum(length) - length
    cart = np.repeat(np.arange(len(length)), length)
    rows = enc.start[cart] + (np.arange(int(length.sum())) - offset[cart])
    raw = enc.numeric[rows].astype(np.float64) * std + mean
    return Flat(cart, rows, offset, length, raw, enc.types[rows])


def scaled(raw: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(((raw - mean) / std).astype(np.float32))


def window_variant(flat: Flat, raw: np.ndarray, keep: np.ndarray, carts: np.ndarray,
                    enc: Encoded, mean: np.ndarray, std: np.ndarray) -> Encoded:
    """An Encoded of the carts ``carts`` whose window events are ``raw`` restricted to
    ``keep``. Left-out events pass their time gap on to the next kept event and shift the
    later positions; the last event (the add) is always kept."""
    raw = raw.copy()
    if not keep.all():
        idx = np.arange(len(keep))
        nxt = np.minimum.accumulate(np.where(keep, idx, len(keep))[::-1])[::-1]
        seconds = np.expm1(raw[:, FEATURE_INDEX["log_dt"]])
        merged = np.bincount(nxt, weights=seconds, minlength=len(keep))
        raw[:, FEATURE_INDEX["log_dt"]] = np.log1p(merged)
        dropped = np.cumsum(~keep) - (~keep)
        before = dropped - dropped[flat.offset][flat.cart]
        pos = np.expm1(raw[:, FEATURE_INDEX["log_position"]]) - before
        raw[:, FEATURE_INDEX["log_position"]] = np.log1p(np.maximum(pos, 0.0))
    chosen = np.zeros(len(flat.length), dtype=bool)
    chosen[carts] = True
    sel = keep & chosen[flat.cart]
    length = np.bincount(flat.cart[sel], minlength=len(flat.length))[carts]
    end = np.cumsum(length) - 1
    return Encoded(flat.types[sel], scaled(raw[sel], mean, std), end - length + 1, end,
                   enc.context[carts], np.zeros(len(carts), dtype=np.float32))


def kept_removed_items(flat: Flat) -> np.ndarray:
    """The window features as if every removed item had stayed in the cart: the running cart
    value and item count after a removal grow by what it took out."""
    raw = flat.raw.copy()
    first = np.zeros(len(flat.cart), dtype=bool)
    first[flat.offset] = True
    is_remove = (flat.types == REMOVE) & ~first
    for name in ("log_rel_cart_value", "log_cart_items"):
        j = FEATURE_INDEX[name]
        running = np.expm1(raw[:, j])
        before = np.concatenate([[0.0], running[:-1]])
        taken = np.where(is_remove, np.maximum(before - running, 0.0), 0.0)
        total = np.cumsum(taken)
        since = total - (total - taken)[flat.offset][flat.cart]
        raw[:, j] = np.log1p(running + since)
    return raw


def context_variant(enc: Encoded, carts: np.ndarray, context: np.ndarray) -> Encoded:
    return Encoded(enc.types, enc.numeric, enc.start[carts], enc.end[carts],
                   np.ascontiguousarray(context.astype(np.float32)),
                   np.zeros(len(carts), dtype=np.float32))
