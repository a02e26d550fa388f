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

from core.cart.features import (
    MIN_LABELLED_CARTS,
    TEST_FRACTION,
    aggregate_features,
    encode,
    prefix_table,
    prepare_events,
    time_split,
)

if TYPE_CHECKING:
    from core.cart.model import CartModel

#: Share of the earlier (non-test) cart sessions used for validation: 10 % of all.
VALIDATION_OF_EARLIER: Final[float] = 0.125

METRIC_COLUMNS: Final[tuple[str, ...]] = (
    "roc_auc", "pr_auc", "brier", "log_loss", "precision", "recall", "f1", "threshold",
)
MODELS: Final[tuple[str, ...]] = ("model", "logreg", "hgb")
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


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier score, log loss and precision/recall/F1 at ``threshold``.

    ``y`` is 1 for abandoned; a prefix is flagged when ``p >= threshold``. Probabilities are
    clipped to ``[1e-6, 1 - 1e-6]`` for the log loss.
    """
    from sklearn.metrics import (
        average_precision_score,
        brier_score_loss,
        log_loss,
        roc_auc_score,
    )

    y = y.astype(int)
    pc = np.clip(p, 1e-6, 1 - 1e-6)
    flagged = p >= threshold
    tp = int(np.sum(flagged & (y == 1)))
    fp = int(np.sum(flagged & (y == 0)))
    fn = int(np.sum(~flagged & (y == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, pc)),
        "log_loss": float(log_loss(y, pc, labels=[0, 1])),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "threshold": float(threshold),
    }


def reliability(y: np.ndarray, p: np.ndarray, *, bins: int = 10) -> pl.DataFrame:
    """Reliability curve: predicted versus observed abandonment in equal-width bins.

    Parameters
    ----------
    y : numpy.ndarray
        1 for abandoned, 0 for purchased.
    p : numpy.ndarray
        Predicted probabilities of abandonment.
    bins : int, default 10
        Number of equal-width probability bins over [0, 1].

    Returns
    -------
    pl.DataFrame
        One row per non-empty bin: ``bin_lower``, ``bin_upper``, ``n``, ``mean_predicted``,
        ``observed`` (share abandoned). A calibrated model has ``mean_predicted`` close to
        ``observed`` in every well-populated bin.
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=False), 0, bins - 1)
    rows = []
    for b in range(bins):
        m = which == b
        if m.any():
            rows.append({"bin_lower": float(edges[b]), "bin_upper": float(edges[b + 1]),
                         "n": int(m.sum()), "mean_predicted": float(p[m].mean()),
                         "observed": float(y[m].mean())})
    return pl.DataFrame(rows, schema={"bin_lower": pl.Float64, "bin_upper": pl.Float64,
                                      "n": pl.Int64, "mean_predicted": pl.Float64,
                                      "observed": pl.Float64})


def _auc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    """Weighted ROC AUC (Mann-Whitney with ties counted half); ``w`` are row multiplicities."""
    order = np.argsort(p, kind="mergesort")
    p, y, w = p[order], y[order], w[order]
    pos_w, neg_w = w * (y == 1), w * (y == 0)
    # group tied scores: negatives below a positive count 1, tied ones 1/2
    _, start = np.unique(p, return_index=True)
    neg_groups = np.add.reduceat(neg_w, start)
    pos_groups = np.add.reduceat(pos_w, start)
    neg_below = np.concatenate([[0.0], np.cumsum(neg_groups)[:-1]])
    num = float(np.sum(pos_groups * (neg_below + 0.5 * neg_groups)))
    den = float(pos_w.sum() * neg_w.sum())
    return num / den if den else float("nan")


def auc_bootstrap(predictions: pl.DataFrame, *, n_boot: int = 1000, seed: int = 0,
                  ) -> dict[str, list[float]]:
    """95 % intervals of each model's ROC AUC and of the sequence model's lead over each
    baseline, by a bootstrap that resamples whole sessions (their prefixes are correlated).

    Parameters
    ----------
    predictions : pl.DataFrame
        :attr:`Metrics.predictions`.
    n_boot : int, default 1000
        Resamples.
    seed : int, default 0

    Returns
    -------
    dict
        ``{"model": [lo, hi], "logreg": ..., "hgb": ..., "model_minus_logreg": ...,
        "model_minus_hgb": ...}`` (2.5th and 97.5th percentiles).
    """
    sessions = predictions["session_id"].to_numpy()
    _, group = np.unique(sessions, return_inverse=True)
    n_groups = int(group.max()) + 1 if len(group) else 0
    y = predictions["abandoned"].cast(pl.Int8).to_numpy()
    probs = {m: predictions[f"p_{m}"].to_numpy() for m in MODELS}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in (*MODELS, "model_minus_logreg",
                                                     "model_minus_hgb")}
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)
        w = counts[group].astype(np.float64)
        a = {m: _auc(y, probs[m], w) for m in MODELS}
        for m in MODELS:
            draws[m].append(a[m])
        draws["model_minus_logreg"].append(a["model"] - a["logreg"])
        draws["model_minus_hgb"].append(a["model"] - a["hgb"])
    return {k: [round(float(np.nanpercentile(v, 2.5)), 4),
                round(float(np.nanpercentile(v, 97.5)), 4)] for k, v in draws.items()}


def youden_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability threshold that maximises recall minus false-positive rate (Youden's J).

    Unlike F1, this does not collapse to "flag everything" when most carts are abandoned.
    Returns 0.5 when ``y`` holds a single class.
    """
    from sklearn.metrics import roc_curve

    y = y.astype(int)
    if y.min() == y.max():
        return 0.5
    fpr, tpr, thr = roc_curve(y, p)
    j = tpr - fpr
    best = int(np.argmax(j))
    t = float(thr[best])
    return float(min(max(t, 0.0), 1.0))


def fit_platt(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Platt scaling: ``a`` and ``b`` of ``sigmoid(a * logit + b)`` minimising log loss."""
    from scipy.optimize import minimize

    z = logits.astype(np.float64)
    t = y.astype(np.float64)
    if t.min() == t.max():
        return {"a": 1.0, "b": 0.0}

    def nll(ab: np.ndarray) -> tuple[float, np.ndarray]:
        s = ab[0] * z + ab[1]
        # log(1 + exp(s)) - t * s, stably
        loss = np.logaddexp(0.0, s) - t * s
        g = 1.0 / (1.0 + np.exp(-s)) - t
        return float(loss.mean()), np.array([np.mean(g * z), np.mean(g)])

    res = minimize(nll, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    a, b = (float(v) for v in res.x)
    return {"a": a, "b": b}


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
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    hgb = HistGradientBoostingClassifier(max_iter=200, random_state=seed)
    yi = y.astype(int)
    return {"logreg": logreg.fit(x, yi), "hgb": hgb.fit(x, yi)}


def evaluate_prepared(model: CartModel, prepared: pl.DataFrame, prefixes: pl.DataFrame, *,
                      seed: int = 0) -> Metrics:
    """:func:`evaluate` on an already prepared table (shared with training)."""
    n_sessions = int(prefixes["session_id"].n_unique()) if prefixes.height else 0
    if n_sessions == 0:
        return Metrics(reason="there are no cart sessions (no add_to_cart events) to evaluate")
    if n_sessions < MIN_LABELLED_CARTS:
        return Metrics(reason=f"only {n_sessions} labelled cart sessions; an evaluation needs "
                              f"at least {MIN_LABELLED_CARTS}")
    train, val, test = split_masks(prefixes)
    y = prefixes["abandoned"].cast(pl.Int8).to_numpy()
    counts = dict(n_train_sessions=_n_sessions(prefixes, train),
                  n_validation_sessions=_n_sessions(prefixes, val),
                  n_test_sessions=_n_sessions(prefixes, test))
    for part, mask in (("training", train), ("validation", val), ("test", test)):
        if len(set(y[mask].tolist())) < 2:
            what = "abandoned" if y[mask].size and y[mask][0] == 1 else "purchased"
            return Metrics(reason=f"every cart in the {part} part was {what}; ROC AUC and the "
                                  "baselines need both outcomes", **counts)
    from threadpoolctl import threadpool_limits

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
    from core.errors import ParameterError

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
