"""The sequence model, its config, and saving/loading (safetensors + config.json + card).

``CartNet`` reads a prefix's events (embedding of the canonical ``event_type`` plus the scaled
:data:`~core.cart.features.EVENT_FEATURES`) with a GRU, joins the last hidden state with the
session context (hour, weekday, device, channel, bought before, earlier sessions) and outputs
the logit of abandonment. ``CartModel`` bundles the network with everything needed to use it
on a new table: vocabularies, feature scaling, the Platt calibration and the threshold. The
module is rebuilt from ``config.json`` (constructor arguments) and the weights are loaded with
safetensors; a config that does not match this code is refused with :class:`ModelError`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from core.cart.card import ModelCard
from core.cart.features import (
    ARCHITECTURES,
    CHANNEL_VOCAB,
    DEVICE_VOCAB,
    EVENT_FEATURES,
    EVENT_VOCAB,
    MAX_LEN,
    Encoded,
    context_names,
)
from core.errors import ModelError

#: Version of the on-disk format; bump when the config or the tensors change meaning.
FORMAT: Final[str] = "pathlens-cart/2"

WEIGHTS_FILE: Final[str] = "model.safetensors"
CONFIG_FILE: Final[str] = "config.json"
CARD_FILE: Final[str] = "model_card.json"
BUNDLED_DIR: Final[Path] = Path(__file__).resolve().parent / "bundled"
#: Prefixes per forward pass when scoring: small enough that a batch's tensors stay in the
#: CPU caches (2,048 was 2x faster than 16,384 in bench/bench_cart.py's measurements).
SCORING_BATCH: Final[int] = 2048


class CartNet(nn.Module):
    """GRU over a prefix's events plus a session-context branch; outputs one logit.

    Parameters
    ----------
    n_types : int
        Size of the event-type vocabulary (padding included).
    n_numeric : int
        Numeric inputs per event.
    n_context : int
        Session-context inputs.
    embed_dim, hidden, context_dim, head_dim : int
        Layer widths.
    dropout : float
        Dropout before the head (training only).
    """

    def __init__(self, *, n_types: int, n_numeric: int, n_context: int, embed_dim: int = 8,
                 hidden: int = 32, context_dim: int = 16, head_dim: int = 32,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_types, embed_dim, padding_idx=0)
        self.gru = nn.GRU(embed_dim + n_numeric, hidden, batch_first=True)
        self.context = nn.Sequential(nn.Linear(n_context, context_dim), nn.ReLU())
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(hidden + context_dim + n_numeric, head_dim),
            nn.ReLU(),
            nn.Linear(head_dim, 1),
        )

    def forward(self, types: torch.Tensor, numeric: torch.Tensor, lengths: torch.Tensor,
                context: torch.Tensor) -> torch.Tensor:
        """Logits ``[batch]`` from right-padded ``types [B, L]``, ``numeric [B, L, F]``,
        ``lengths [B]`` (CPU int64, all >= 1) and ``context [B, C]``."""
        x = torch.cat([self.embed(types), numeric], dim=-1)
        # The GRU is causal, so its output at a sequence's last real step is exactly the
        # state after that step: padding on the right never reaches it (no packing needed;
        # batches hold prefixes of similar length, so little work is wasted on padding).
        out, _ = self.gru(x)
        rows = torch.arange(numeric.shape[0])
        last_step = lengths - 1
        z = torch.cat([out[rows, last_step], self.context(context), numeric[rows, last_step]],
                      dim=-1)
        return self.head(z).squeeze(-1)


class CartTransformer(nn.Module):
    """A small Transformer encoder over a prefix's events plus the same session-context
    branch and head as :class:`CartNet`; outputs one logit.

    Each event is projected to ``d_model`` and given a learned position embedding; one or two
    encoder layers attend over the prefix's real events (padding is masked), and the output
    at the last real event (the ``add_to_cart``) is read.

    Parameters
    ----------
    n_types, n_numeric, n_context : int
        As for :class:`CartNet`.
    embed_dim, d_model, heads, layers, ff_dim, context_dim, head_dim : int
        Layer widths, attention heads and encoder layers.
    max_len : int
        Longest window (positions embedded).
    dropout : float
        Dropout in the encoder and before the head (training only).
    """

    def __init__(self, *, n_types: int, n_numeric: int, n_context: int, embed_dim: int = 8,
                 d_model: int = 32, heads: int = 4, layers: int = 1, ff_dim: int = 64,
                 context_dim: int = 16, head_dim: int = 32, max_len: int = MAX_LEN,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_types, embed_dim, padding_idx=0)
        self.project = nn.Linear(embed_dim + n_numeric, d_model)
        self.position = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff_dim, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.context = nn.Sequential(nn.Linear(n_context, context_dim), nn.ReLU())
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(d_model + context_dim + n_numeric, head_dim),
            nn.ReLU(),
            nn.Linear(head_dim, 1),
        )

    def forward(self, types: torch.Tensor, numeric: torch.Tensor, lengths: torch.Tensor,
                context: torch.Tensor) -> torch.Tensor:
        """Logits ``[batch]``; same inputs as :meth:`CartNet.forward`."""
        width = numeric.shape[1]
        steps = torch.arange(width)
        x = self.project(torch.cat([self.embed(types), numeric], dim=-1))
        x = x + self.position(steps.clamp(max=self.position.num_embeddings - 1))[None]
        padding = steps[None, :] >= lengths[:, None]
        out = self.encoder(x, src_key_padding_mask=padding)
        rows = torch.arange(numeric.shape[0])
        last_step = lengths - 1
        z = torch.cat([out[rows, last_step], self.context(context), numeric[rows, last_step]],
                      dim=-1)
        return self.head(z).squeeze(-1)


def build_net(architecture: str, arch: dict[str, Any]) -> nn.Module:
    """The network a config describes (``architecture`` ``"gru"`` or ``"transformer"``).

    Raises
    ------
    ModelError
        An unknown architecture, or constructor arguments that do not fit it.
    """
    classes = {"gru": CartNet, "transformer": CartTransformer}
    if architecture not in classes:
        raise ModelError(f"config.json `architecture` is {architecture!r}; expected one of "
                         f"{list(ARCHITECTURES)}")
    try:
        return classes[architecture](**arch)
    except TypeError as e:
        raise ModelError(f"config.json `arch` does not fit the {architecture} network: "
                         f"{e}") from None


@dataclass
class CartConfig:
    """Everything needed to rebuild and use a model; stored as ``config.json``."""

    arch: dict[str, Any]
    event_vocab: list[str]
    event_features: list[str]
    device_vocab: list[str]
    channel_vocab: list[str]
    context_features: list[str]
    feature_mean: list[float]
    feature_std: list[float]
    max_len: int = MAX_LEN
    calibration: dict[str, float] = field(default_factory=lambda: {"a": 1.0, "b": 0.0})
    threshold: float = 0.5
    architecture: str = "gru"
    format: str = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CartConfig:
        """Validate a loaded config against this code; :class:`ModelError` on any mismatch."""
        if not isinstance(d, dict):
            raise ModelError(f"config.json must hold a JSON object, got {type(d).__name__}")
        if d.get("format") != FORMAT:
            raise ModelError(
                f"config.json format is {d.get('format')!r}; this PathLens reads {FORMAT!r}. "
                "Retrain the model with `python -m core.cart.train`."
            )
        fields = set(cls.__dataclass_fields__)
        missing = sorted(fields - set(d))
        unknown = sorted(set(d) - fields)
        if missing or unknown:
            raise ModelError(f"config.json keys do not match: missing {missing}, "
                             f"unexpected {unknown}")
        cfg = cls(**d)
        cfg._check_inputs()
        cfg._check_values()
        return cfg

    def _check_inputs(self) -> None:
        """The vocabularies, features and architecture sizes are the ones this code makes."""
        checks = {
            "event_vocab": (self.event_vocab, list(EVENT_VOCAB)),
            "event_features": (self.event_features, list(EVENT_FEATURES)),
            "device_vocab": (self.device_vocab, list(DEVICE_VOCAB)),
            "channel_vocab": (self.channel_vocab, list(CHANNEL_VOCAB)),
            "context_features": (self.context_features,
                                 context_names(tuple(self.channel_vocab))),
        }
        for name, (got, want) in checks.items():
            if got != want:
                raise ModelError(f"config.json `{name}` is {got}; this code expects {want}")
        n = len(EVENT_FEATURES)
        if len(self.feature_mean) != n or len(self.feature_std) != n:
            raise ModelError(f"config.json feature scaling must have {n} values each, got "
                             f"{len(self.feature_mean)} and {len(self.feature_std)}")
        if not all(s > 0 for s in self.feature_std):
            raise ModelError(f"config.json `feature_std` must be positive, got {self.feature_std}")
        expected_arch = {"n_types": len(EVENT_VOCAB), "n_numeric": n,
                         "n_context": len(self.context_features)}
        for k, v in expected_arch.items():
            if self.arch.get(k) != v:
                raise ModelError(f"config.json arch `{k}` is {self.arch.get(k)!r}; the "
                                 f"vocabularies and features imply {v}")

    def _check_values(self) -> None:
        """Threshold, calibration and window length are usable."""
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise ModelError(f"config.json `threshold` must be in [0, 1], got {self.threshold}")
        if set(self.calibration) != {"a", "b"}:
            raise ModelError(f"config.json `calibration` must hold `a` and `b`, got "
                             f"{sorted(self.calibration)}")
        if self.architecture not in ARCHITECTURES:
            raise ModelError(f"config.json `architecture` is {self.architecture!r}; expected "
                             f"one of {list(ARCHITECTURES)}")
        if not isinstance(self.max_len, int) or self.max_len < 1:
            raise ModelError(f"config.json `max_len` must be a positive integer, got "
                             f"{self.max_len!r}")


class CartModel:
    """A trained cart-abandonment model: network + config (+ its card once saved/loaded).

    Use :func:`core.cart.score_carts`, :func:`core.cart.evaluate` and
    :func:`core.cart.explain` rather than calling it directly.
    """

    def __init__(self, net: nn.Module, config: CartConfig, card: Any = None) -> None:
        self.net = net.eval()
        self.config = config
        self.card = card

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.config.channel_vocab)

    @property
    def threshold(self) -> float:
        return float(self.config.threshold)

    @property
    def mean(self) -> np.ndarray:
        return np.asarray(self.config.feature_mean, dtype=np.float64)

    @property
    def std(self) -> np.ndarray:
        return np.asarray(self.config.feature_std, dtype=np.float64)

    def logits(self, enc: Encoded, *, batch_size: int = SCORING_BATCH) -> np.ndarray:
        """Raw (uncalibrated) logits of every prefix in ``enc``."""
        self.net.eval()
        return batched_logits(self.net, enc, batch_size=batch_size)

    def calibrate(self, logits: np.ndarray) -> np.ndarray:
        """Probability of abandonment from raw logits (Platt scaling ``sigmoid(a z + b)``)."""
        a, b = self.config.calibration["a"], self.config.calibration["b"]
        return 1.0 / (1.0 + np.exp(-(a * logits.astype(np.float64) + b)))

    def predict_proba(self, enc: Encoded) -> np.ndarray:
        """Calibrated probability of abandonment of every prefix in ``enc``."""
        return self.calibrate(self.logits(enc))


def batch_tensors(enc: Encoded, index: np.ndarray) -> tuple[torch.Tensor, ...]:
    """Right-padded tensors of the prefixes ``index`` of ``enc``."""
    start = enc.start[index]
    lengths = enc.end[index] - start + 1
    width = int(lengths.max())
    steps = np.arange(width)
    valid = steps[None, :] < lengths[:, None]
    rows = np.where(valid, start[:, None] + steps[None, :], 0)
    types = np.where(valid, enc.types[rows], 0)
    numeric = enc.numeric[rows] * valid[..., None]
    return (torch.from_numpy(types), torch.from_numpy(numeric.astype(np.float32, copy=False)),
            torch.from_numpy(lengths.astype(np.int64)), torch.from_numpy(enc.context[index]))


def batched_logits(net: nn.Module, enc: Encoded, *, batch_size: int = SCORING_BATCH) -> np.ndarray:
    """Logits of every prefix, in batches of similar length (little padding)."""
    n = len(enc)
    out = np.zeros(n, dtype=np.float64)
    if n == 0:
        return out
    order = np.argsort(enc.lengths, kind="stable")
    # One intra-op thread: a GRU steps through time with small matrix products, and
    # synchronising threads at every step costs more than it brings (measured 5x slower
    # with 2 threads on a 2-core machine under load; bench/results_cart.md).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for i in range(0, n, batch_size):
                idx = order[i:i + batch_size]
                out[idx] = net(*batch_tensors(enc, idx)).double().numpy()
    finally:
        torch.set_num_threads(threads)
    return out


def save_model(model: CartModel, card: Any, directory: str | Path) -> Path:
    """Write ``model.safetensors``, ``config.json`` and ``model_card.json`` into ``directory``.

    Parameters
    ----------
    model : CartModel
        The trained model.
    card : ModelCard
        Its card (anything with ``to_json()``).
    directory : str or Path
        Created when missing; existing files of a model are replaced.

    Returns
    -------
    Path
        The directory.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in model.net.state_dict().items()}
    save_file(state, str(d / WEIGHTS_FILE), metadata={"format": FORMAT})
    (d / CONFIG_FILE).write_text(model.config.to_json())
    (d / CARD_FILE).write_text(card.to_json())
    model.card = card
    return d


def load_model(directory: str | Path) -> CartModel:
    """Rebuild a model from ``config.json`` and load its safetensors weights and card.

    Parameters
    ----------
    directory : str or Path
        A directory written by :func:`save_model`.

    Returns
    -------
    CartModel

    Raises
    ------
    ModelError
        A file is missing or unreadable, the config does not match this code, or the weights
        do not match the architecture the config describes.
    """
    d = Path(directory)
    for name in (WEIGHTS_FILE, CONFIG_FILE, CARD_FILE):
        if not (d / name).is_file():
            raise ModelError(f"model directory {str(d)!r} has no {name}; expected "
                             f"{WEIGHTS_FILE}, {CONFIG_FILE} and {CARD_FILE}")
    try:
        raw = json.loads((d / CONFIG_FILE).read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read {d / CONFIG_FILE}: {e}") from None
    config = CartConfig.from_dict(raw)
    net = build_net(config.architecture, config.arch)
    try:
        state = load_file(str(d / WEIGHTS_FILE))
    except (SafetensorError, OSError) as e:
        raise ModelError(f"cannot read {d / WEIGHTS_FILE}: {e}") from None
    expected = net.state_dict()
    if set(state) != set(expected):
        raise ModelError(
            f"weights do not match config.json: missing {sorted(set(expected) - set(state))}, "
            f"unexpected {sorted(set(state) - set(expected))}"
        )
    bad = [k for k in expected if tuple(state[k].shape) != tuple(expected[k].shape)]
    if bad:
        raise ModelError("weights do not match config.json: shape of " + ", ".join(
            f"{k} is {tuple(state[k].shape)}, expected {tuple(expected[k].shape)}" for k in bad))
    net.load_state_dict(state)
    try:
        card = ModelCard.from_json((d / CARD_FILE).read_text())
    except (OSError, ValueError, TypeError) as e:
        raise ModelError(f"cannot read {d / CARD_FILE}: {e}") from None
    return CartModel(net, config, card)


def load_bundled_model() -> CartModel:
    """The model shipped with PathLens (trained on the bundled sample).

    Reads ``core/cart/bundled/`` on every call (a few milliseconds); the app caches it with
    ``st.cache_resource``.

    Returns
    -------
    CartModel

    Raises
    ------
    ModelError
        The bundled files are missing or do not match this code (retrain with
        ``python -m core.cart.train``).
    """
    return load_model(BUNDLED_DIR)
