"""Training on several shops at once: the bundled model learns from the generated sample and
the real exports (:mod:`core.cart.sources`), each prepared with its own money scale and split
by its own time, so that it is usable on a shop it never saw.

    python -m core.cart.train                # --sources mix: writes core/cart/bundled/
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import numpy as np
import polars as pl

from core.cart.card import ModelCard
from core.cart.evaluate import Metrics, evaluate_prepared, split_masks
from core.cart.features import prefix_table, prepare_events
from core.cart.model import CartModel
from core.cart.params import TrainParams
from core.cart.sources import ROOT, SAMPLE, SHOPS, available_shops, load_shop, source_files
from core.cart.stats import auc_bootstrap
from core.cart.train import Progress, _card, _train_on


def combine_sources(parts: dict[str, pl.DataFrame | pl.LazyFrame]
                    ) -> tuple[pl.DataFrame, pl.DataFrame, tuple[np.ndarray, ...], np.ndarray]:
    """Several shops' events as one training table, each prepared with its own money scale
    and split by its own time (the latest 20 % of *each* source's carts are its test part).

    Parameters
    ----------
    parts : dict of str to events
        Source name -> canonical event table. User and session ids are prefixed with
        ``"<name>:"`` so that sources never share one.

    Returns
    -------
    prepared, prefixes : pl.DataFrame
        As :func:`prepare_events` and :func:`prefix_table` return them, concatenated.
    masks : tuple of numpy.ndarray
        Train, validation and test masks over ``prefixes``.
    source : numpy.ndarray of str
        The source of each prefix.
    """
    prepared_parts, prefix_parts, mask_parts, source = [], [], [], []
    offset, skey = 0, 0
    for name, events in parts.items():
        prepared = prepare_events(events).with_columns(
            (pl.lit(f"{name}:") + pl.col("user_id")).alias("user_id"),
            (pl.lit(f"{name}:") + pl.col("session_id")).alias("session_id"),
            (pl.col("skey") + skey).alias("skey"))
        prefixes = prefix_table(prepared)
        if prefixes.height == 0:
            continue
        mask_parts.append(split_masks(prefixes))
        prefix_parts.append(prefixes.with_columns(pl.col("row") + offset,
                                                  pl.col("first_row") + offset))
        prepared_parts.append(prepared)
        source += [name] * prefixes.height
        offset += prepared.height
        skey = int(prepared["skey"].max()) + 1
    masks = tuple(np.concatenate([m[i] for m in mask_parts]) for i in range(3))
    return (pl.concat(prepared_parts, how="vertical_relaxed"), pl.concat(prefix_parts), masks,
            np.array(source))


def source_weights(source: np.ndarray, *, power: float = 0.5) -> np.ndarray:
    """Per-prefix loss weights so that a large source does not drown the others: a source with
    ``n`` prefixes weighs ``n ** (1 - power)`` in all (``power`` 0: as is; 1: all equal);
    normalised to a mean of 1."""
    names, inverse, counts = np.unique(source, return_inverse=True, return_counts=True)
    w = counts[inverse].astype(np.float64) ** -power
    return w / w.mean() if len(w) else w


def fit_sources(parts: dict[str, pl.DataFrame | pl.LazyFrame], params: TrainParams,
                progress: Progress | None = None, *, balance: float = 0.5,
                ) -> tuple[CartModel, ModelCard, dict[str, Metrics]]:
    """Train one model on several shops (:func:`combine_sources`), the loss weighted by
    :func:`source_weights`, and measure it on every source's own latest carts.

    Parameters
    ----------
    parts : dict of str to events
        Source name -> canonical event table; the first source's test figures go on the card.
    params : TrainParams
        Seed, epochs, time limit, architecture.
    progress : callable, optional
        ``progress(fraction, message)``.
    balance : float, default 0.5
        ``power`` of :func:`source_weights`.

    Returns
    -------
    model : CartModel
    card : ModelCard
        Its test figures are those of the first source of ``parts``.
    per_source : dict of str to Metrics
        The model and both baselines (fitted on that source's training part) on each source's
        test part (at least 50 cart sessions; otherwise a ``reason``).
    """
    t0 = time.perf_counter()
    report = progress or (lambda fraction, message: None)
    report(0.0, "preparing cart sessions of every source")
    prepared, prefixes, masks, source = combine_sources(parts)
    weights = source_weights(source, power=balance)
    model, epochs = _train_on(prepared, prefixes, masks, params, report, t0, weights)
    report(0.96, "measuring on every source's held-out carts")
    per_source: dict[str, Metrics] = {}
    for name in dict.fromkeys(source.tolist()):
        sel = source == name
        per_source[name] = evaluate_prepared(
            model, prepared, prefixes.filter(pl.Series(sel)), seed=params.seed,
            masks=tuple(m[sel] for m in masks), min_sessions=50)  # type: ignore[arg-type]
    first = source[0]
    sel = source == first
    card = _card(parts[first], prepared, prefixes.filter(pl.Series(sel)),
                 tuple(m[sel] for m in masks), model, per_source[first], params.seed, epochs,
                 seconds=time.perf_counter() - t0)
    model.card = card
    report(1.0, "done")
    return model, card, per_source


def source_figures(m: Metrics, *, seed: int) -> dict[str, Any]:
    """A source's test figures for the card: the model and both baselines, with intervals."""
    if not m.ok:
        return {"reason": m.reason}
    rows = {r["model"]: r for r in m.table.to_dicts()}
    return {
        "test_sessions": m.n_test_sessions,
        "test_prefixes": int(m.predictions.height),
        "test_purchased_prefixes": int((~m.predictions["abandoned"]).sum()),
        "test_abandonment_rate": round(float(m.base_rate), 4),
        "roc_auc_ci95": auc_bootstrap(m.predictions, seed=seed),
        **{k: round(float(v), 4) for k, v in rows["model"].items() if k != "model"},
        **{f"logreg_{k}": round(float(v), 4) for k, v in rows["logreg"].items() if k != "model"},
        **{f"hgb_{k}": round(float(v), 4) for k, v in rows["hgb"].items() if k != "model"},
    }


def train_mix(seed: int, max_epochs: int, architecture: str,
              show: Progress) -> tuple[CartModel, ModelCard]:
    """The bundled model: trained on the sample and every shop of ../shared/data, with the
    figures of every shop on the card (and the leave-one-source-out table when
    ``bench/out/cart_transfer.json`` exists)."""
    shops = available_shops()
    missing = [s for s in SHOPS if s not in shops]
    if missing:
        raise SystemExit(f"../shared/data lacks the files of {missing}; train on the sample "
                         "alone with --sources sample")
    parts = {s: load_shop(s, seed=seed) for s in shops}
    model, card, per_source = fit_sources(
        parts, TrainParams(seed=seed, max_epochs=max_epochs,
                           architecture=architecture), show)
    files = [p for s in shops if s != "sample" for p in source_files(s)]
    real = {f"{s}_test": {"label": f"{s}, latest 20 % of its carts (its earlier carts were "
                                   "in the training data)", **source_figures(m, seed=seed)}
            for s, m in per_source.items() if s != "sample"}
    transfer = ROOT / "bench" / "out" / "cart_transfer.json"
    if transfer.is_file():
        real["leave_one_source_out"] = json.loads(transfer.read_text())["runs"]
    sizes = ", ".join(f"{s} {parts[s]['user_id'].n_unique():,} users" for s in shops)
    card = ModelCard(**{
        **card.to_dict(), "name": "bundled", "real_data": real,
        "trained_on": f"a mix of shops ({sizes}); test figures: the sample's latest carts",
        "source": {"file": str(SAMPLE.relative_to(ROOT)),
                   "sha256": hashlib.sha256(SAMPLE.read_bytes()).hexdigest(),
                   "shared_data": ", ".join(p.name for p in files),
                   "shared_sha256": hashlib.sha256(b"".join(
                       hashlib.sha256(p.read_bytes()).digest() for p in files)).hexdigest()},
    })
    return model, card
