"""Held-out evaluation of a cart model against two scikit-learn baselines on the same split.

The split is by time (:func:`core.cart.features.time_split`): the latest
:data:`~core.cart.features.TEST_FRACTION` of cart sessions are the test part; of the earlier
sessions, the latest eighth (10 % of all) is the validation part and the rest the training
part. The baselines (logistic regression on standardised aggregate features, and
``HistGradientBoostingClassifier``) are fitted on the training part, their threshold chosen
on the validation part, exactly as the sequence model's are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from core.cart.features import (
    MIN_LABELLED_CARTS,
    TEST_FRACTION,
    aggregate_features,
    encode,
    prefix_table,
    prepare_events,
    time_split,
)
from core.cart.stats import MODELS, classification_metrics, youden_threshold
from core.errors import ParameterError

if TYPE_CHECKING:
    from core.cart.model import CartModel

#: Share of the earlier (non-test) cart sessions used for validation: 10 % of all.
VALIDATION_OF_EARLIER: Final[float] = 0.125

METRIC_COLUMNS: Final[tuple[str, ...]] = (
    "roc_auc", "pr_auc", "brier", "log_loss", "precision", "recall", "f1", "threshold",
)
#: A held-out ROC AUC at or below this is "near chance": the model's risks barely rank carts.
NEAR_CHANCE_AUC: Final[float] = 0.6

_TABLE_SCHEMA = {"model": pl.String, **{c: pl.Float64 for c in METRIC_COLUMNS}}
_PRED_SCHEMA = {"session_id": pl.String, "cart_index": pl.Int32, "abandoned": pl.Boolean,
                "cart_value": pl.Float64, "p_model": pl.Float64, "p_logreg": pl.Float64,
                "p_hgb": pl.Float64}


@dataclass(frozen=True)
class Metrics:
    """Held-out figures of a model and both baselines on one time split.

    Attributes
    ----------
    table : pl.DataFrame
        One row per model (``model`` = the sequence model, ``logreg``, ``hgb``); columns
        ``roc_auc``, ``pr_auc`` (average precision, abandoned = positive), ``brier``,
        ``log_loss``, ``precision``, ``recall``, ``f1`` (at ``threshold``) and ``threshold``.
    predictions : pl.DataFrame
        The test prefixes: ``session_id``, ``cart_index``, ``abandoned``, ``cart_value`` and
        each model's probability ``p_model``, ``p_logreg``, ``p_hgb`` (for curves and the
        confusion matrix at any threshold).
    threshold : float
        The sequence model's threshold.
    n_train_sessions, n_validation_sessions, n_test_sessions : int
        Cart sessions in each part.
    base_rate : float
        Share of abandoned prefixes in the test part.
    reason : str
        Empty when the figures exist; otherwise why there are none (the tables are empty).
    """

    table: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_TABLE_SCHEMA))
    predictions: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=_PRED_SCHEMA))
    threshold: float = 0.5
    n_train_sessions: int = 0
    n_validation_sessions: int = 0
    n_test_sessions: int = 0
    base_rate: float = float("nan")
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason

    def row(self, model: str = "model") -> dict[str, float]:
        """The figures of one model as a dict (empty when there are none)."""
        rows = self.table.filter(pl.col("model") == model).to_dicts()
        return rows[0] if rows else {}

    def __getitem__(self, key: str) -> float:
        """``metrics["roc_auc"]``: a figure of the sequence model."""
        return float(self.row("model")[key])


def split_masks(prefixes: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test masks over ``prefixes`` (by time, sessions kept whole)."""
    earlier, test = time_split(prefixes, TEST_FRACTION)
    idx = np.flatnonzero(earlier)
    train = np.zeros(prefixes.height, dtype=bool)
    val = np.zeros(prefixes.height, dtype=bool)
    if idx.size:
        e_train, e_val = time_split(prefixes[idx], VALIDATION_OF_EARLIER)
        train[idx[e_train]] = True
        val[idx[e_val]] = True
    return train, val, test


def _n_sessions(prefixes: pl.DataFrame, mask: np.ndarray) -> int:
    return int(prefixes.filter(pl.Series(mask))["session_id"].n_unique()) if mask.any() else 0


def fit_baselines(x: np.ndarray, y: np.ndarray, *, seed: int = 0) -> dict[str, object]:
    """Logistic regression (standardised features) and gradient boosting, fitted on ``x``."""
    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    hgb = HistGradientBoostingClassifier(max_iter=200, random_state=seed)
    yi = y.astype(int)
    return {"logreg": logreg.fit(x, yi), "hgb": hgb.fit(x, yi)}


def evaluate_prepared(model: CartModel, prepared: pl.DataFrame, prefixes: pl.DataFrame, *,
                      seed: int = 0,
                      masks: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                      min_sessions: int = MIN_LABELLED_CARTS) -> Metrics:
    """:func:`evaluate` on an already prepared table (shared with training); ``masks`` (train,
    validation, test over ``prefixes``) replace the time split, e.g. for several sources each
    split by its own time; ``min_sessions`` lowers the minimum of labelled cart sessions for
    a benchmark that reports its intervals."""
    n_sessions = int(prefixes["session_id"].n_unique()) if prefixes.height else 0
    if n_sessions == 0:
        return Metrics(reason="there are no cart sessions (no add_to_cart events) to evaluate")
    if n_sessions < min_sessions:
        return Metrics(reason=f"only {n_sessions} labelled cart sessions; an evaluation needs "
                              f"at least {min_sessions}")
    train, val, test = split_masks(prefixes) if masks is None else masks
    y = prefixes["abandoned"].cast(pl.Int8).to_numpy()
    counts = dict(n_train_sessions=_n_sessions(prefixes, train),
                  n_validation_sessions=_n_sessions(prefixes, val),
                  n_test_sessions=_n_sessions(prefixes, test))
    for part, mask in (("training", train), ("validation", val), ("test", test)):
        if len(set(y[mask].tolist())) < 2:
            what = "abandoned" if y[mask].size and y[mask][0] == 1 else "purchased"
            return Metrics(reason=f"every cart in the {part} part was {what}; ROC AUC and the "
                                  "baselines need both outcomes", **counts)
    x = aggregate_features(prepared, prefixes, model.channels)
    enc = encode(prepared, prefixes.filter(pl.Series(test)), channels=model.channels,
                 mean=model.mean, std=model.std, max_len=model.config.max_len)
    probs = {"model": model.predict_proba(enc)}
    thresholds = {"model": model.threshold}
    # One OpenMP thread: on a small shared machine, gradient boosting's spinning threads
    # cost far more than they bring, and a fixed thread count keeps results reproducible.
    with threadpool_limits(limits=1):
        baselines = fit_baselines(x[train], y[train], seed=seed)
        for name, est in baselines.items():
            probs[name] = est.predict_proba(x[test])[:, 1]
            thresholds[name] = youden_threshold(y[val], est.predict_proba(x[val])[:, 1])
    rows = [{"model": m, **classification_metrics(y[test], probs[m], thresholds[m])}
            for m in MODELS]
    test_prefixes = prefixes.filter(pl.Series(test))
    predictions = test_prefixes.select(
        "session_id", "cart_index", "abandoned", "cart_value"
    ).with_columns(
        pl.Series("p_model", probs["model"]),
        pl.Series("p_logreg", probs["logreg"]),
        pl.Series("p_hgb", probs["hgb"]),
    )
    return Metrics(table=pl.DataFrame(rows, schema=_TABLE_SCHEMA), predictions=predictions,
                   threshold=model.threshold, base_rate=float(y[test].mean()), **counts)


def evaluate(model: CartModel, events: pl.DataFrame | pl.LazyFrame) -> Metrics:
    """Figures of ``model`` and both baselines on the latest cart sessions of ``events``.

    The cart sessions are split by time (test: the latest 20 %; validation: the 10 % before;
    training: the rest). The baselines are fitted on the training part of ``events``; the
    model is used as it is (for a model trained by :func:`train_model` on the same events the
    test part was held out, so the figures are out of sample for all three).

    Parameters
    ----------
    model : CartModel
        A trained model (:func:`load_bundled_model`, :func:`train_model`).
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table.

    Returns
    -------
    Metrics
        With ``reason`` set and empty tables when there are fewer than 200 labelled cart
        sessions or a part lacks either outcome.

    Raises
    ------
    SchemaError
        A required canonical column is missing.
    """
    prepared = prepare_events(events)
    return evaluate_prepared(model, prepared, prefix_table(prepared))


def chance_warning(metrics: Metrics, *, near: float = NEAR_CHANCE_AUC) -> str:
    """A warning when the model ranks this data's carts little better than chance.

    Parameters
    ----------
    metrics : Metrics
        Output of :func:`evaluate` on the data the page shows.
    near : float, default 0.6
        ROC AUC at or below which the model counts as near chance (0.5 = coin toss).

    Returns
    -------
    str
        A sentence with the measured ROC AUC of the model and of the baselines fitted on this
        data, or ``""`` when the model does better than ``near`` or there are no figures.

    Raises
    ------
    ParameterError
        ``near`` is outside [0.5, 1].

    Examples
    --------
    The bundled model on the real Taobao users (ROC AUC 0.52 on the held-out carts) gives
    "... ROC AUC 0.521 ... (0.5 = chance) ...".
    """
    if not 0.5 <= float(near) <= 1.0:
        raise ParameterError(f"`near` must be between 0.5 and 1, got {near}")
    if not metrics.ok or metrics.table.height == 0:
        return ""
    auc = metrics.row("model").get("roc_auc")
    if auc is None or not np.isfinite(auc) or auc > near:
        return ""
    base = {m: metrics.row(m).get("roc_auc") for m in ("logreg", "hgb")}
    others = ", ".join(f"{name} {v:.3f}" for name, v in
                       (("logistic regression", base["logreg"]),
                        ("gradient boosting", base["hgb"])) if v is not None)
    return (f"On the latest {metrics.n_test_sessions:,} cart sessions of this data the model "
            f"ranks carts at ROC AUC {auc:.3f} (0.5 = chance, 1 = perfect; near chance is "
            f"{near:.2f} or less), so its risks here are little better than guesses. Baselines "
            f"fitted on this data reach {others}. Retrain on this data to get a model that "
            "learned its patterns.")
