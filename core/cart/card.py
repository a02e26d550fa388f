"""The model card: what a model was trained on, how, and how well it does (``model_card.json``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

#: Short statement of the task every card carries (the full text is docs/cart_abandonment.md).
TASK = (
    "Predict, at each add_to_cart, whether the session will end without a purchase. "
    "Inputs: only the session's events up to that add_to_cart and the user's earlier "
    "sessions. Train/validation/test split by time (latest cart sessions are the test set)."
)

_METRIC_WORDS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "brier": "Brier score",
    "log_loss": "log loss",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
}
_MODEL_WORDS = {"model": "sequence model (GRU)", "logreg": "logistic regression",
                "hgb": "gradient boosting"}


@dataclass(frozen=True)
class ModelCard:
    """Facts about a trained cart-abandonment model, stored as ``model_card.json``.

    Attributes
    ----------
    name : str
        ``"bundled"`` or the dataset id the model was trained on.
    trained_on : str
        Plain description of the training data.
    data_hash : str
        SHA-256 of the canonical columns the model read (user, session, time, event type,
        price, quantity, device, channel), in table order.
    seed : int
        The training seed.
    splits : dict
        Cart sessions and prefixes in the train, validation and test parts, the time at which
        the test part starts, and the abandonment rate of each part.
    epochs : int
        Epochs trained (best epoch in ``best_epoch``).
    best_epoch : int
    train_seconds : float
    threshold : float
        Probability from which a cart is flagged "at risk" (chosen on the validation part:
        maximises recall minus false-positive rate).
    calibration : dict
        Platt scaling ``p = sigmoid(a * logit + b)`` fitted on the validation part.
    test_metrics : list of dict
        One row per model (``model``, ``logreg``, ``hgb``): ROC AUC, PR AUC, Brier score, log
        loss, precision, recall and F1 on the held-out test part.
    reliability : list of dict
        The test part's reliability curve (``bin_lower``, ``bin_upper``, ``n``,
        ``mean_predicted``, ``observed``).
    source : dict
        The training file and the SHA-256 of its bytes (set by the training command).
    real_data : dict
        Figures on real data (the Taobao users), when they were measured.
    architecture : dict
        Constructor arguments of the network.
    library_versions : dict
    task : str
    """

    name: str
    trained_on: str
    data_hash: str
    seed: int
    splits: dict[str, Any]
    epochs: int
    best_epoch: int
    train_seconds: float
    threshold: float
    calibration: dict[str, float]
    test_metrics: list[dict[str, Any]]
    architecture: dict[str, Any]
    library_versions: dict[str, str]
    reliability: list[dict[str, Any]] = field(default_factory=list)
    source: dict[str, str] = field(default_factory=dict)
    real_data: dict[str, Any] = field(default_factory=dict)
    task: str = TASK

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        d = json.loads(text)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def with_real_data(self, real_data: dict[str, Any]) -> ModelCard:
        """A copy with ``real_data`` replaced."""
        return ModelCard(**{**self.to_dict(), "real_data": real_data})

    def metric(self, model: str, name: str) -> float | None:
        """One test figure, e.g. ``card.metric("model", "roc_auc")``."""
        for row in self.test_metrics:
            if row.get("model") == model:
                v = row.get(name)
                return None if v is None else float(v)
        return None

    def summary(self) -> str:
        """The card in plain words (Markdown), for the page and the docs."""
        s = self.splits
        lines = [
            f"**Trained on** {self.trained_on}: {s.get('train_sessions', 0):,} cart sessions "
            f"for training, {s.get('validation_sessions', 0):,} for validation, "
            f"{s.get('test_sessions', 0):,} held out for testing (the latest ones, from "
            f"{s.get('test_from', '?')}). {s.get('test_abandonment_rate', 0):.0%} of the test "
            "carts were abandoned.",
        ]
        auc = {m: self.metric(m, "roc_auc") for m in _MODEL_WORDS}
        if auc["model"] is not None:
            lines.append(
                f"**How well it ranks carts** (ROC AUC, 0.5 = chance, 1 = perfect): "
                f"{auc['model']:.3f} for this model, against {auc['logreg']:.3f} for logistic "
                f"regression and {auc['hgb']:.3f} for gradient boosting on the same split."
            )
        brier = self.metric("model", "brier")
        if brier is not None:
            lines.append(
                f"**How trustworthy its probabilities are**: Brier score {brier:.3f} (lower is "
                "better; always answering the base rate would score "
                f"{_base_rate_brier(s.get('test_abandonment_rate', 0)):.3f})."
            )
        p, r = self.metric("model", "precision"), self.metric("model", "recall")
        if p is not None and r is not None:
            lines.append(
                f"**At risk** means a probability of at least {self.threshold:.2f}: of the carts "
                f"flagged, {p:.0%} were indeed abandoned; {r:.0%} of abandoned carts were flagged."
            )
        for key, fig in self.real_data.items():
            if isinstance(fig, dict) and "roc_auc" in fig:
                lines.append(
                    f"**Real data, {fig.get('label', key)}**: ROC AUC {fig['roc_auc']:.3f} "
                    f"(logistic regression {fig.get('logreg_roc_auc', float('nan')):.3f}, "
                    f"gradient boosting {fig.get('hgb_roc_auc', float('nan')):.3f}) on "
                    f"{fig.get('test_prefixes', 0):,} test prefixes."
                )
        return "\n\n".join(lines)


def _base_rate_brier(rate: float) -> float:
    return float(rate * (1 - rate))


def metric_label(name: str) -> str:
    """Display name of a metric column."""
    return _METRIC_WORDS.get(name, name)


def model_label(name: str) -> str:
    """Display name of a model row."""
    return _MODEL_WORDS.get(name, name)
