"""Training of the cart-abandonment model, and the one command that builds the bundled model.

    python -m core.cart.train            # trains on sample_data/events.csv.gz, writes bundled/

Training is seeded and deterministic on the CPU: the same seed and data give the same weights
and metrics (``torch.manual_seed``, deterministic algorithms, one intra-op thread while
training; a time limit that cuts training short is the one exception).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl
import safetensors
import scipy
import sklearn
import torch
from torch import nn

from core.cart.card import ModelCard
from core.cart.evaluate import Metrics, evaluate, evaluate_prepared, split_masks
from core.cart.features import (
    CHANNEL_VOCAB,
    DEVICE_VOCAB,
    EVENT_FEATURES,
    EVENT_VOCAB,
    MAX_LEN,
    MIN_LABELLED_CARTS,
    Encoded,
    context_names,
    encode,
    prefix_table,
    prepare_events,
)
from core.cart.model import (
    BUNDLED_DIR,
    CartConfig,
    CartModel,
    batch_tensors,
    batched_logits,
    build_net,
    save_model,
)
from core.cart.params import TrainParams
from core.cart.stats import auc_bootstrap, fit_platt, reliability, youden_threshold
from core.errors import ParameterError
from core.loader import load_events

ROOT: Final[Path] = Path(__file__).resolve().parents[2]
SAMPLE: Final[Path] = ROOT / "sample_data" / "events.csv.gz"
REAL_DATA: Final[Path] = ROOT.parent / "shared" / "data" / "taobao_userbehavior_users_a.csv"

#: Network size used by :func:`train_model`, per architecture.
ARCHS: Final[dict[str, dict[str, int | float]]] = {
    "gru": {"embed_dim": 8, "hidden": 32, "context_dim": 16, "head_dim": 32, "dropout": 0.1},
    "transformer": {"embed_dim": 8, "d_model": 32, "heads": 4, "layers": 1, "ff_dim": 64,
                    "context_dim": 16, "head_dim": 32, "max_len": MAX_LEN, "dropout": 0.1},
}
ARCH: Final[dict[str, int | float]] = ARCHS["gru"]
BATCH_SIZE: Final[int] = 256
LEARNING_RATE: Final[float] = 3e-3
PATIENCE: Final[int] = 4
#: Chance that a training prefix is shown without prices, device and channel (so the model
#: also works on exports that lack them, such as Taobao's).
FEATURE_DROPOUT: Final[float] = 0.15

Progress = Callable[[float, str], None]


def training_refusal(events: pl.DataFrame | pl.LazyFrame) -> str:
    """Why :func:`train_model` would refuse ``events`` (empty string when it would train).

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table.

    Returns
    -------
    str
        A sentence for the user, or ``""``.
    """
    prefixes = prefix_table(prepare_events(events))
    return _refusal(prefixes)


def _refusal(prefixes: pl.DataFrame) -> str:
    n = int(prefixes["session_id"].n_unique()) if prefixes.height else 0
    if n == 0:
        return "the data has no add_to_cart events, so there are no carts to learn from"
    if n < MIN_LABELLED_CARTS:
        return (f"the data has {n} labelled cart sessions; training needs at least "
                f"{MIN_LABELLED_CARTS}")
    last = prefixes.filter(pl.col("is_last"))
    n_abandoned = int(last["abandoned"].sum())
    if n_abandoned == 0 or n_abandoned == last.height:
        word = "abandoned" if n_abandoned else "purchased"
        return f"all {last.height} cart sessions were {word}; there is nothing to tell apart"
    train, val, test = split_masks(prefixes)
    y = prefixes["abandoned"].to_numpy()
    for part, mask in (("training", train), ("validation", val), ("test", test)):
        if len(set(y[mask].tolist())) < 2:
            return (f"the {part} part of the time split holds only one outcome; more data "
                    "(or a longer period) is needed")
    return ""


def data_hash(prepared: pl.DataFrame) -> str:
    """SHA-256 of the columns the model reads (the events of cart sessions), in order."""
    cols = ["user_id", "session_id", "ts", "event_type", "price", "cart_items", "device_class",
            "channel"]
    h = hashlib.sha256()
    for batch in prepared.select(cols).iter_slices(200_000):
        h.update(batch.write_csv(include_header=False).encode())
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version(), "torch": torch.__version__,
            "polars": pl.__version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "scipy": scipy.__version__, "safetensors": safetensors.__version__}


class _Deterministic:
    """Seeded, single-threaded, deterministic torch for the duration of a ``with`` block."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __enter__(self) -> _Deterministic:
        self._threads = torch.get_num_threads()
        self._det = torch.are_deterministic_algorithms_enabled()
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        torch.manual_seed(self.seed)
        return self

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self._threads)
        torch.use_deterministic_algorithms(self._det)


def _masked_batch(enc: Encoded, idx: np.ndarray, drop: np.ndarray, config: CartConfig,
                  ) -> tuple[torch.Tensor, ...]:
    """Batch tensors with price, device and channel hidden for the prefixes in ``drop``."""
    types, numeric, lengths, context = batch_tensors(enc, idx)
    if not drop.any():
        return types, numeric, lengths, context
    numeric = numeric.clone()
    context = context.clone()
    mean, std = config.feature_mean, config.feature_std
    rows = torch.from_numpy(np.flatnonzero(drop))
    steps = torch.arange(numeric.shape[1])[None, :] < lengths[rows][:, None]
    for name, raw in (("log_rel_price", 0.0), ("price_missing", 1.0),
                      ("log_rel_cart_value", 0.0)):
        j = EVENT_FEATURES.index(name)
        value = (raw - mean[j]) / std[j]
        block = numeric[rows, :, j]
        numeric[rows, :, j] = torch.where(steps, torch.full_like(block, value), block)
    names = config.context_features
    dev = [i for i, n in enumerate(names) if n.startswith("device=")]
    chan = [i for i, n in enumerate(names) if n.startswith("channel=")]
    for group, unknown in ((dev, "device=unknown"), (chan, "channel=unknown")):
        context[rows[:, None], torch.tensor(group)[None, :]] = 0.0
        context[rows, names.index(unknown)] = 1.0
    return types, numeric, lengths, context


def _batches(lengths: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Batches of prefixes of similar length (random within equal lengths), shuffled."""
    order = np.lexsort((rng.random(len(lengths)), lengths))
    chunks = [order[i:i + BATCH_SIZE] for i in range(0, len(order), BATCH_SIZE)]
    return [chunks[i] for i in rng.permutation(len(chunks))]


def _mean_loss(net: nn.Module, enc: Encoded,
               weights: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    net.eval()
    z = batched_logits(net, enc)
    y = enc.labels.astype(np.float64)
    loss = np.logaddexp(0.0, z) - y * z
    return float(np.average(loss, weights=weights)), z


def train_model(
    events: pl.DataFrame | pl.LazyFrame,
    *,
    seed: int = 0,
    max_epochs: int = 30,
    time_limit: float | None = None,
    architecture: str = "gru",
    progress: Progress | None = None,
) -> tuple[CartModel, ModelCard]:
    """Train a cart-abandonment model on ``events`` and measure it against the baselines.

    The cart sessions are split by time: training (earliest 70 %), validation (next 10 %:
    early stopping, Platt calibration, threshold) and test (latest 20 %, held out; the card's
    figures). Training stops after ``max_epochs``, after :data:`PATIENCE` epochs without a
    better validation loss, or at ``time_limit``; the best epoch's weights are kept.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table with at least 200 labelled cart sessions.
    seed : int, default 0
        Seed of every random choice; the same seed and data give the same weights and metrics.
    max_epochs : int, default 30
        Most passes over the training prefixes (at least 1).
    time_limit : float, optional
        Seconds after which training stops at the end of the current batch (results then
        depend on the machine's speed).
    architecture : {"gru", "transformer"}, default "gru"
        The sequence encoder.
    progress : callable, optional
        ``progress(fraction, message)`` is called after each epoch with a fraction in [0, 1].

    Returns
    -------
    model : CartModel
    card : ModelCard
        Its card (``name`` is ``"custom"``; the training command renames it ``"bundled"``).

    Raises
    ------
    ParameterError
        ``seed`` is negative, ``max_epochs`` or ``time_limit`` is not positive, or the data
        cannot be trained on (fewer than 200 labelled cart sessions, or a split part with a
        single outcome; the message says which; :func:`training_refusal` gives the same
        reason without raising).
    SchemaError
        A required canonical column is missing.
    """
    params = TrainParams(seed=seed, max_epochs=max_epochs, time_limit=time_limit,
                         architecture=architecture)
    return fit(events, params, progress)


def fit(events: pl.DataFrame | pl.LazyFrame, params: TrainParams,
        progress: Progress | None = None) -> tuple[CartModel, ModelCard]:
    """:func:`train_model` with its settings as a :class:`~core.cart.params.TrainParams`."""
    t0 = time.perf_counter()
    report = progress or (lambda fraction, message: None)
    report(0.0, "preparing cart sessions")
    prepared = prepare_events(events)
    prefixes = prefix_table(prepared)
    reason = _refusal(prefixes)
    if reason:
        raise ParameterError(f"`events` cannot be trained on: {reason}")
    masks = split_masks(prefixes)
    model, epochs = _train_on(prepared, prefixes, masks, params, report, t0)
    report(0.96, "measuring on the held-out test carts")
    metrics = evaluate_prepared(model, prepared, prefixes, seed=params.seed)
    card = _card(events, prepared, prefixes, masks, model, metrics, params.seed, epochs,
                 seconds=time.perf_counter() - t0)
    model.card = card
    report(1.0, "done")
    return model, card


def _train_on(prepared: pl.DataFrame, prefixes: pl.DataFrame, masks: tuple[np.ndarray, ...],
              params: TrainParams, report: Progress, t0: float,
              weights: np.ndarray | None = None) -> tuple[CartModel, _Epochs]:
    """Fit the network on the training mask, calibrate and set the threshold on the
    validation mask. ``weights`` (one per prefix) weigh the loss, e.g. to balance sources."""
    config = _config(prepared, prefixes, masks[0], params.architecture)
    enc = encode(prepared, prefixes, channels=tuple(config.channel_vocab),
                 mean=np.asarray(config.feature_mean), std=np.asarray(config.feature_std),
                 max_len=MAX_LEN)
    enc_val = enc.subset(masks[1])
    w_train = None if weights is None else weights[masks[0]]
    w_val = None if weights is None else weights[masks[1]]
    net, epochs = _fit_net(enc.subset(masks[0]), enc_val, config, params,
                           deadline=None if params.time_limit is None else t0 + params.time_limit,
                           report=report, weights=(w_train, w_val))
    _, val_logits = _mean_loss(net, enc_val)
    config.calibration = fit_platt(val_logits, enc_val.labels)
    model = CartModel(net, config)
    config.threshold = youden_threshold(enc_val.labels, model.calibrate(val_logits))
    return model, epochs


def _config(prepared: pl.DataFrame, prefixes: pl.DataFrame, train: np.ndarray,
            architecture: str = "gru") -> CartConfig:
    """The model's config from the training part: the feature scaling."""
    train_sessions = prefixes.filter(pl.Series(train))["session_id"].unique()
    train_events = prepared.filter(pl.col("session_id").is_in(train_sessions.implode()))
    channels = CHANNEL_VOCAB
    feats = train_events.select(EVENT_FEATURES).to_numpy().astype(np.float64)
    mean = feats.mean(axis=0)
    std = np.where(feats.std(axis=0) > 1e-6, feats.std(axis=0), 1.0)
    ctx_names = context_names(channels)
    arch = {"n_types": len(EVENT_VOCAB), "n_numeric": len(EVENT_FEATURES),
            "n_context": len(ctx_names), **ARCHS[architecture]}
    return CartConfig(architecture=architecture,
        arch=arch, event_vocab=list(EVENT_VOCAB), event_features=list(EVENT_FEATURES),
        device_vocab=list(DEVICE_VOCAB), channel_vocab=list(channels),
        context_features=ctx_names, feature_mean=[float(v) for v in mean],
        feature_std=[float(v) for v in std], max_len=MAX_LEN,
    )


def _fit_net(enc_train: Encoded, enc_val: Encoded, config: CartConfig, params: TrainParams, *,
             deadline: float | None, report: Progress,
             weights: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
             ) -> tuple[nn.Module, _Epochs]:
    """Train the network with early stopping on the validation loss; the best epoch's weights
    are loaded back. Returns the network (in eval mode) and the epoch counts."""
    rng = np.random.default_rng(params.seed)
    with _Deterministic(params.seed):
        net = build_net(config.architecture, config.arch)
        opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE, weight_decay=1e-5)
        best_loss, best_state = math.inf, copy.deepcopy(net.state_dict())
        epochs = _Epochs()
        stale = 0
        for epoch in range(1, params.max_epochs + 1):
            out_of_time = _epoch(net, opt, enc_train, config, rng, deadline, weights[0])
            epochs.run = epoch
            val_loss, _ = _mean_loss(net, enc_val, weights[1])
            if val_loss < best_loss - 1e-5:
                best_loss, best_state, epochs.best, stale = (
                    val_loss, copy.deepcopy(net.state_dict()), epoch, 0)
            else:
                stale += 1
            report(min(epoch / params.max_epochs, 0.95),
                   f"epoch {epoch}: validation log loss {val_loss:.4f} (best {best_loss:.4f})")
            if stale >= PATIENCE or out_of_time:
                break
        net.load_state_dict(best_state)
        net.eval()
    return net, epochs


@dataclasses.dataclass
class _Epochs:
    run: int = 0  # epochs run
    best: int = 0  # the epoch whose weights were kept


def _epoch(net: nn.Module, opt: torch.optim.Optimizer, enc: Encoded, config: CartConfig,
           rng: np.random.Generator, deadline: float | None,
           weights: np.ndarray | None = None) -> bool:
    """One pass over the training prefixes; True when it stopped at the deadline."""
    net.train()
    for idx in _batches(enc.lengths, rng):
        drop = rng.random(len(idx)) < FEATURE_DROPOUT
        types, numeric, lengths, context = _masked_batch(enc, idx, drop, config)
        target = torch.from_numpy(enc.labels[idx])
        w = None if weights is None else torch.from_numpy(weights[idx].astype(np.float32))
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(
            net(types, numeric, lengths, context), target, weight=w)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        if deadline is not None and time.perf_counter() > deadline:
            return True
    return False


def _rounded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()}
            for r in rows]


def _splits(prefixes: pl.DataFrame, masks: tuple[np.ndarray, ...]) -> dict[str, Any]:
    """Sessions, prefixes and abandonment rate of each part of the time split."""
    y = prefixes["abandoned"].cast(pl.Float64).to_numpy()
    splits: dict[str, Any] = {}
    for part, mask in zip(("train", "validation", "test"), masks, strict=True):
        sub = prefixes.filter(pl.Series(mask))
        splits[f"{part}_sessions"] = int(sub["session_id"].n_unique())
        splits[f"{part}_prefixes"] = int(sub.height)
        splits[f"{part}_abandonment_rate"] = round(float(y[mask].mean()), 4)
    splits["test_from"] = (prefixes.filter(pl.Series(masks[2]))["session_start"].min()
                           .strftime("%Y-%m-%d %H:%M UTC"))
    return splits


def _card(events: pl.DataFrame | pl.LazyFrame, prepared: pl.DataFrame, prefixes: pl.DataFrame,
          masks: tuple[np.ndarray, ...], model: CartModel, metrics: Metrics, seed: int,
          epochs: _Epochs, *, seconds: float) -> ModelCard:
    """The model card of a freshly trained model (``name`` ``"custom"``)."""
    lf = events.lazy() if isinstance(events, pl.DataFrame) else events
    size = lf.select(pl.len().alias("events"), pl.col("user_id").n_unique().alias("users")
                     ).collect().row(0, named=True)
    config = model.config
    curve = reliability(metrics.predictions["abandoned"].cast(pl.Float64).to_numpy(),
                        metrics.predictions["p_model"].to_numpy())
    return ModelCard(
        name="custom",
        trained_on=(f"{size['users']:,} users, {size['events']:,} events, "
                    f"{prefixes['session_id'].n_unique():,} cart sessions"),
        data_hash=data_hash(prepared),
        seed=seed,
        splits=_splits(prefixes, masks),
        epochs=epochs.run,
        best_epoch=epochs.best,
        train_seconds=round(seconds, 1),
        threshold=round(config.threshold, 6),
        calibration={k: round(v, 6) for k, v in config.calibration.items()},
        test_metrics=_rounded(metrics.table.to_dicts()),
        architecture=config.arch,
        library_versions=library_versions(),
        reliability=_rounded(curve.to_dicts()),
    )


# --------------------------------------------------------------------------- the command


def read_events(path: Path) -> pl.DataFrame:
    """Canonical events of an export, through :func:`core.load_events`."""
    return load_events(path).events


def real_data_figures(model: CartModel, *, seed: int, path: Path = REAL_DATA,
                      max_epochs: int = 30) -> dict[str, Any]:
    """The bundled model on the Taobao users as it is, and a model retrained there, each
    against the baselines fitted on the same time split. Empty when the file is absent."""
    if not path.is_file():
        return {}
    events = read_events(path)
    out: dict[str, Any] = {}
    as_is = evaluate(model, events)
    retrained, _ = train_model(events, seed=seed, max_epochs=max_epochs)
    again = evaluate(retrained, events)
    for key, label, m in (
        ("taobao_bundled", "Taobao users, bundled model as is", as_is),
        ("taobao_retrained", "Taobao users, model retrained on them", again),
    ):
        rows = {r["model"]: r for r in m.table.to_dicts()}
        if not rows:
            out[key] = {"label": label, "reason": m.reason}
            continue
        out[key] = {
            "label": label,
            "data": path.name,
            "sessions": "30-minute inactivity gaps",
            "test_sessions": m.n_test_sessions,
            "test_prefixes": int(m.predictions.height),
            "test_abandonment_rate": round(float(m.base_rate), 4),
            "roc_auc_ci95": auc_bootstrap(m.predictions, seed=seed),
            **{k: round(float(v), 4) for k, v in rows["model"].items() if k != "model"},
            **{f"logreg_{k}": round(float(v), 4) for k, v in rows["logreg"].items()
               if k != "model"},
            **{f"hgb_{k}": round(float(v), 4) for k, v in rows["hgb"].items() if k != "model"},
        }
    out["taobao_retrained"]["epochs"] = retrained.card.epochs
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train the bundled cart-abandonment model.")
    ap.add_argument("--sources", choices=["mix", "sample"], default="mix",
                    help="mix: the sample and the shops of ../shared/data (the bundled model); "
                         "sample: --data alone")
    ap.add_argument("--data", type=Path, default=SAMPLE, help="event export (--sources sample)")
    ap.add_argument("--out", type=Path, default=BUNDLED_DIR, help="directory to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-epochs", type=int, default=30)
    ap.add_argument("--architecture", choices=["gru", "transformer"], default="gru")
    ap.add_argument("--no-real-data", action="store_true",
                    help="skip the Taobao figures even when ../shared/data is present")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    def show(fraction: float, message: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {fraction:4.0%} {message}", flush=True)

    if args.sources == "mix":
        from core.cart.mix import train_mix  # lazy: it imports this module

        model, card = train_mix(args.seed, args.max_epochs, args.architecture, show)
    else:
        model, card = _train_sample(args, show)
    save_model(model, card, args.out)
    print(json.dumps(card.test_metrics, indent=1))
    if card.real_data:
        print(json.dumps(card.real_data, indent=1)[:4000])
    print(f"wrote {args.out} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return 0


def _train_sample(args: argparse.Namespace, show: Progress) -> tuple[CartModel, ModelCard]:
    events = read_events(args.data)
    model, card = train_model(events, seed=args.seed, max_epochs=args.max_epochs,
                              architecture=args.architecture, progress=show)
    try:
        shown = str(args.data.resolve().relative_to(ROOT))
    except ValueError:
        shown = args.data.name
    card = ModelCard(**{
        **card.to_dict(), "name": "bundled",
        "trained_on": f"the bundled sample {args.data.name} ({card.trained_on})",
        "source": {"file": shown, "sha256": hashlib.sha256(args.data.read_bytes()).hexdigest()},
    })
    if not args.no_real_data:
        show(1.0, "measuring on the real Taobao users")
        card = card.with_real_data(real_data_figures(model, seed=args.seed,
                                                     max_epochs=args.max_epochs))
    return model, card


if __name__ == "__main__":
    raise SystemExit(main())
