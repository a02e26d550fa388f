"""The page decides honestly: measure the bundled model on this data's latest carts, train a
model for the data when the bundled one is not good enough here, and use the best.

Cart-abandonment labels are in the history (a cart was bought or not), so on any dataset with
enough labelled carts a model can be *measured* before its predictions are shown.
:func:`choose_model` splits the data's cart sessions by time (the split of
:mod:`core.cart.evaluate`: the latest 20 % are the test carts), measures the bundled model on
the test carts (ROC AUC with a 95 % interval from a bootstrap over sessions, Brier score, a
calibration table, the numbers of test carts and purchases), fits logistic regression and
gradient boosting on the earlier carts, and recommends training a model for this data when the
bundled model ranks carts below ``min_auc`` or a baseline beats it. With ``train=True`` it then
trains that model (:func:`train_for_dataset`, with progress) and picks the better of the two
on the same test carts, naming it and its figures. Below ``min_carts`` labelled cart sessions
nothing can be verified: the choice says so (``verified=False``) with the reason in words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import polars as pl

from core.cart.evaluate import Metrics, evaluate_prepared, split_masks
from core.cart.features import MIN_LABELLED_CARTS, encode, prefix_table, prepare_events
from core.cart.stats import auc_ci, classification_metrics, reliability
from core.errors import ParameterError

if TYPE_CHECKING:
    from core.cart.card import ModelCard
    from core.cart.model import CartModel

Progress = Callable[[float, str], None]

#: ROC AUC below which the bundled model is not trusted on a dataset (a model is trained).
MIN_AUC: Final[float] = 0.65

#: Candidate keys and their names in words.
CANDIDATES: Final[dict[str, str]] = {
    "bundled": "bundled model",
    "dataset": "model trained on this data",
    "logreg": "logistic regression (fitted on this data)",
    "hgb": "gradient boosting (fitted on this data)",
}

_CANDIDATE_SCHEMA = {"key": pl.String, "name": pl.String, "roc_auc": pl.Float64,
                     "auc_low": pl.Float64, "auc_high": pl.Float64, "brier": pl.Float64,
                     "log_loss": pl.Float64, "usable": pl.Boolean}
_RELIABILITY_SCHEMA = {"bin_lower": pl.Float64, "bin_upper": pl.Float64, "n": pl.Int64,
                       "mean_predicted": pl.Float64, "observed": pl.Float64}


@dataclass(frozen=True)
class ModelChoice:
    """Which cart model to use on a dataset, and what it was measured at there.

    Attributes
    ----------
    model : CartModel or None
        The model to score this data's carts with (the bundled one or the one trained here).
    chosen : str
        Its key: ``"bundled"`` or ``"dataset"`` (:data:`CANDIDATES`).
    name : str
        Its name in words.
    verified : bool
        True when the figures were measured on this data's latest carts; False below the
        minimum of labelled carts (or when a part of the split holds a single outcome).
    reason : str
        The decision in words, with the figures it rests on.
    train_recommended : bool
        The bundled model is below ``min_auc`` here or a baseline beats it.
    candidates : pl.DataFrame
        One row per measured candidate: ``key``, ``name``, ``roc_auc``, ``auc_low``,
        ``auc_high`` (95 % interval, bootstrap over sessions), ``brier``, ``log_loss``,
        ``usable`` (can score carts on the page: the bundled and the trained model).
    calibration : pl.DataFrame
        Reliability of the chosen model on the test carts (``bin_lower``, ``bin_upper``,
        ``n``, ``mean_predicted``, ``observed``).
    n_carts : int
        Labelled cart sessions of the data.
    n_test_carts, n_test_prefixes, n_test_purchases : int
        Test cart sessions, their prefixes (one per ``add_to_cart``, each scored) and the test
        cart sessions that ended with a purchase.
    metrics : Metrics or None
        The bundled model's evaluation (with the baselines and every test prediction).
    trained_card : ModelCard or None
        The card of the model trained here, when one was trained.
    """

    model: CartModel | None
    chosen: str
    name: str
    verified: bool
    reason: str
    train_recommended: bool = False
    candidates: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=_CANDIDATE_SCHEMA))
    calibration: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=_RELIABILITY_SCHEMA))
    n_carts: int = 0
    n_test_carts: int = 0
    n_test_prefixes: int = 0
    n_test_purchases: int = 0
    metrics: Metrics | None = None
    trained_card: ModelCard | None = None

    def figures(self, key: str | None = None) -> dict[str, float]:
        """One candidate's row (default: the chosen one) as a dict; empty when not measured."""
        rows = self.candidates.filter(pl.col("key") == (key or self.chosen)).to_dicts()
        return rows[0] if rows else {}


def train_for_dataset(events: pl.DataFrame | pl.LazyFrame, *, seed: int = 0,
                      max_epochs: int = 30, time_limit: float | None = None,
                      architecture: str = "gru", progress: Progress | None = None,
                      ) -> tuple[CartModel, ModelCard]:
    """Train a cart model on one dataset (:func:`core.cart.train_model`, same time split as
    :func:`choose_model`, so its test carts were never trained on).

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table with at least 200 labelled cart sessions.
    seed, max_epochs, time_limit, architecture
        As for :func:`core.cart.train_model`.
    progress : callable, optional
        ``progress(fraction, message)`` after each epoch.

    Returns
    -------
    model : CartModel
    card : ModelCard

    Raises
    ------
    ParameterError
        The data cannot be trained on (the message says why) or a setting is out of range.
    """
    from core.cart.train import train_model  # lazy: torch training code

    return train_model(events, seed=seed, max_epochs=max_epochs, time_limit=time_limit,
                       architecture=architecture, progress=progress)


def choose_model(events: pl.DataFrame | pl.LazyFrame, *, bundled: CartModel | None = None,
                 min_carts: int = MIN_LABELLED_CARTS, min_auc: float = MIN_AUC,
                 train: bool = True, seed: int = 0, max_epochs: int = 30,
                 time_limit: float | None = None, progress: Progress | None = None,
                 trained: CartModel | None = None) -> ModelChoice:
    """Measure the bundled model on this data, train one for it when needed, pick the best.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table (the page's filtered data).
    bundled : CartModel, optional
        The model shipped with PathLens (default: :func:`core.cart.load_bundled_model`).
    min_carts : int, default 200
        Fewest labelled cart sessions to measure on; below it the choice is unverified.
    min_auc : float, default 0.65
        The bundled model's test ROC AUC below which a model is trained for the data.
    train : bool, default True
        Train the recommended model now (False: only measure and recommend, e.g. to show the
        bundled model's figures at once and train in the background afterwards).
    seed, max_epochs, time_limit
        Training settings (:func:`train_for_dataset`).
    progress : callable, optional
        ``progress(fraction, message)`` with a fraction in [0, 1].
    trained : CartModel, optional
        A model already trained on this data (:func:`train_for_dataset` on the same events,
        e.g. in the background, then stored): measured as the ``"dataset"`` candidate instead
        of training one, whatever the recommendation.

    Returns
    -------
    ModelChoice

    Raises
    ------
    ParameterError
        ``min_carts`` is below 50 or ``min_auc`` outside [0.5, 1].
    SchemaError
        A required canonical column is missing.

    Examples
    --------
    >>> choice = choose_model(events, train=False)  # doctest: +SKIP
    >>> choice.verified, choice.train_recommended, choice.reason  # doctest: +SKIP
    """
    _check_settings(min_carts, min_auc)
    report = progress or (lambda fraction, message: None)
    if bundled is None:
        from core.cart.model import load_bundled_model

        bundled = load_bundled_model()
    report(0.0, "measuring the bundled model on this data's latest carts")
    prepared = prepare_events(events)
    prefixes = prefix_table(prepared)
    n_carts = int(prefixes["session_id"].n_unique()) if prefixes.height else 0
    unverified = _unverified(bundled, n_carts, min_carts)
    if unverified is not None:
        return unverified
    metrics = evaluate_prepared(bundled, prepared, prefixes, seed=seed, min_sessions=min_carts)
    if not metrics.ok:
        return ModelChoice(bundled, "bundled", CANDIDATES["bundled"], False,
                           f"The bundled model's figures are unverified on this data: "
                           f"{metrics.reason}.", n_carts=n_carts, metrics=metrics)
    pred = metrics.predictions
    rows = [_candidate(key, pred, f"p_{m}", seed)
            for key, m in (("bundled", "model"), ("logreg", "logreg"), ("hgb", "hgb"))]
    bundled_auc = rows[0]["roc_auc"]
    best_baseline = max(rows[1:], key=lambda r: r["roc_auc"])
    recommended = bool(bundled_auc < min_auc or best_baseline["roc_auc"] > bundled_auc)
    card = None if trained is None else trained.card
    if trained is None and recommended and train:
        report(0.1, "training a model on this data")
        trained, card = train_for_dataset(
            events, seed=seed, max_epochs=max_epochs, time_limit=time_limit,
            progress=lambda f, msg: report(0.1 + 0.85 * f, msg))
    if trained is not None:
        pred = _with_dataset_model(trained, prepared, prefixes, pred)
        rows.insert(1, _candidate("dataset", pred, "p_dataset", seed))
    return _decide(rows, pred, metrics, (bundled, trained, card), recommended, train,
                   min_auc, n_carts, report)


def _decide(rows: list[dict], pred: pl.DataFrame, metrics: Metrics,
            models: tuple[CartModel, CartModel | None, ModelCard | None], recommended: bool,
            train: bool, min_auc: float, n_carts: int, report: Progress) -> ModelChoice:
    """The better usable model on the test carts (higher AUC, then lower Brier), named."""
    bundled, trained, card = models
    usable = [r for r in rows if r["usable"]]
    best = max(usable, key=lambda r: (r["roc_auc"], -r["brier"]))
    chosen = trained if best["key"] == "dataset" else bundled
    y = pred["abandoned"].cast(pl.Float64).to_numpy()
    column = "p_dataset" if best["key"] == "dataset" else "p_model"
    report(1.0, f"using the {best['name']}")
    return ModelChoice(
        model=chosen, chosen=best["key"], name=best["name"], verified=True,
        reason=_reason(rows, best, recommended, train, min_auc, metrics, pred),
        train_recommended=recommended,
        candidates=pl.DataFrame(rows, schema=_CANDIDATE_SCHEMA),
        calibration=reliability(y, pred[column].to_numpy()),
        n_carts=n_carts, n_test_carts=metrics.n_test_sessions, n_test_prefixes=pred.height,
        n_test_purchases=_bought_sessions(pred), metrics=metrics, trained_card=card)


def _bought_sessions(pred: pl.DataFrame) -> int:
    """Test cart sessions that ended with a purchase (each of their add-to-carts is labelled
    bought)."""
    return int(pred.filter(~pl.col("abandoned"))["session_id"].n_unique())


def _check_settings(min_carts: int, min_auc: float) -> None:
    if int(min_carts) < 50:
        raise ParameterError(f"`min_carts` must be at least 50 (a test set of 10 carts), "
                             f"got {min_carts}")
    if not 0.5 <= float(min_auc) <= 1.0:
        raise ParameterError(f"`min_auc` must be between 0.5 and 1, got {min_auc}")


def _with_dataset_model(trained: CartModel, prepared: pl.DataFrame, prefixes: pl.DataFrame,
                        pred: pl.DataFrame) -> pl.DataFrame:
    """The test predictions with the trained model's risks (``p_dataset``) beside them."""
    test = split_masks(prefixes)[2]
    enc = encode(prepared, prefixes.filter(pl.Series(test)), channels=trained.channels,
                 mean=trained.mean, std=trained.std, max_len=trained.config.max_len)
    return pred.with_columns(pl.Series("p_dataset", trained.predict_proba(enc)))


def _unverified(bundled: CartModel, n_carts: int, min_carts: int) -> ModelChoice | None:
    if n_carts >= min_carts:
        return None
    if n_carts == 0:
        why = ("the data has no add_to_cart events, so there are no carts to predict or to "
               "measure a model on")
    else:
        why = (f"the data has {n_carts:,} labelled cart sessions; measuring a model on this "
               f"data needs at least {min_carts:,} (the latest 20 % are the test carts), so "
               "the bundled model's figures are unverified here: they come from the shops it "
               "was trained on")
    return ModelChoice(bundled, "bundled", CANDIDATES["bundled"], False,
                       why[0].upper() + why[1:] + ".", n_carts=n_carts)


def _candidate(key: str, pred: pl.DataFrame, column: str, seed: int) -> dict[str, object]:
    y = pred["abandoned"].cast(pl.Int8).to_numpy()
    p = pred[column].to_numpy()
    auc, lo, hi = auc_ci(y, p, pred["session_id"].to_numpy(), seed=seed)
    m = classification_metrics(y, p, 0.5)
    return {"key": key, "name": CANDIDATES[key], "roc_auc": auc, "auc_low": lo,
            "auc_high": hi, "brier": m["brier"], "log_loss": m["log_loss"],
            "usable": key in ("bundled", "dataset")}


def _reason(rows: list[dict], best: dict, recommended: bool, train: bool, min_auc: float,
            metrics: Metrics, pred: pl.DataFrame) -> str:
    by = {r["key"]: r for r in rows}

    def fig(key: str) -> str:
        r = by[key]
        return (f"{r['name']} ROC AUC {r['roc_auc']:.3f} (95 % interval {r['auc_low']:.2f}-"
                f"{r['auc_high']:.2f}), Brier {r['brier']:.3f}")

    text = (f"Measured on the latest {metrics.n_test_sessions:,} cart sessions of this data "
            f"({_bought_sessions(pred):,} of them ended with a purchase; {pred.height:,} "
            f"add-to-carts scored): {fig('bundled')}; "
            f"{fig('logreg')}; {fig('hgb')}.")
    b = by["bundled"]
    why = (f"below {min_auc:.2f}" if b["roc_auc"] < min_auc else "beaten by a baseline")
    if "dataset" in by and recommended:
        text += f" The bundled model is {why} here, so a model was trained on this data: " \
                f"{fig('dataset')}."
    elif "dataset" in by:
        text += (f" The bundled model reaches at least {min_auc:.2f} and no baseline beats it "
                 f"here; a model was also trained on this data: {fig('dataset')}.")
    elif not recommended:
        return text + (f" The bundled model reaches at least {min_auc:.2f} and no baseline "
                       "beats it here, so it is used.")
    elif not train:
        return text + (f" The bundled model is {why} on this data: training a model for this "
                       "data is recommended.")
    text += f" Using the {best['name']}."
    top = max(rows, key=lambda r: r["roc_auc"])
    if not top["usable"]:
        text += (f" {top['name'][0].upper() + top['name'][1:]} ranks these carts better "
                 f"({top['roc_auc']:.3f}); the difference is within the intervals when they "
                 "overlap.")
    return text
