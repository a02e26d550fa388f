"""Training, determinism, refusals and held-out evaluation of the cart model."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch
from builders import make_events

from core import Metrics, ModelCard, ParameterError, evaluate, train_model
from core.cart import training_refusal
from core.cart.stats import classification_metrics, fit_platt, youden_threshold
from core.dev.cart_toy import toy_events


@pytest.fixture(scope="module")
def toy() -> pl.DataFrame:
    return toy_events(sessions=600, seed=3)


@pytest.fixture(scope="module")
def trained(toy):
    calls: list[tuple[float, str]] = []
    model, card = train_model(toy, seed=0, max_epochs=6,
                              progress=lambda f, m: calls.append((f, m)))
    return model, card, calls


def test_same_seed_and_data_give_the_same_weights_and_metrics(toy, trained):
    model, card, _ = trained
    again, card2 = train_model(toy, seed=0, max_epochs=6)
    a, b = model.net.state_dict(), again.net.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert card.test_metrics == card2.test_metrics
    assert card.threshold == card2.threshold and card.calibration == card2.calibration
    assert card.data_hash == card2.data_hash


def test_another_seed_gives_other_weights(toy, trained):
    model, _, _ = trained
    other, _ = train_model(toy, seed=1, max_epochs=1)
    w = "gru.weight_ih_l0"
    assert not torch.equal(model.net.state_dict()[w], other.net.state_dict()[w])


def test_training_restores_torch_global_settings(toy):
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    train_model(toy, seed=0, max_epochs=1)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det


def test_progress_is_reported_in_order_and_ends_at_one(trained):
    _, _, calls = trained
    fractions = [f for f, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert any(m.startswith("epoch 1:") for _, m in calls)


def test_card_describes_the_split_and_compares_with_both_baselines(trained):
    model, card, _ = trained
    assert isinstance(card, ModelCard)
    assert [r["model"] for r in card.test_metrics] == ["model", "logreg", "hgb"]
    s = card.splits
    # 600 sessions: 20 % test = 120, 12.5 % of the other 480 = 60 validation, 420 training
    assert (s["train_sessions"], s["validation_sessions"], s["test_sessions"]) == (420, 60, 120)
    assert 1 <= card.best_epoch <= card.epochs <= 6
    assert 0.0 <= card.threshold <= 1.0 and card.threshold == pytest.approx(model.threshold)
    assert set(card.library_versions) >= {"torch", "polars", "scikit-learn"}
    assert len(card.data_hash) == 64
    assert "ROC AUC" in card.summary()
    assert ModelCard.from_json(card.to_json()) == card


def test_card_metrics_are_what_evaluate_measures(toy, trained):
    model, card, _ = trained
    m = evaluate(model, toy)
    assert isinstance(m, Metrics) and m.ok
    for row in card.test_metrics:
        got = m.row(row["model"])
        for k, v in row.items():
            if k != "model":
                assert got[k] == pytest.approx(v, abs=1e-6), (row["model"], k)


def test_evaluate_figures_match_scikit_learn_on_its_predictions(toy, trained):
    from sklearn.metrics import (
        average_precision_score,
        brier_score_loss,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    model, _, _ = trained
    m = evaluate(model, toy)
    pred = m.predictions
    y = pred["abandoned"].cast(pl.Int8).to_numpy()
    for name in ("model", "logreg", "hgb"):
        p = pred[f"p_{name}"].to_numpy()
        row = m.row(name)
        flagged = (p >= row["threshold"]).astype(int)
        assert row["roc_auc"] == pytest.approx(roc_auc_score(y, p))
        assert row["pr_auc"] == pytest.approx(average_precision_score(y, p))
        assert row["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-9)
        assert row["log_loss"] == pytest.approx(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6)))
        assert row["precision"] == pytest.approx(precision_score(y, flagged, zero_division=0))
        assert row["recall"] == pytest.approx(recall_score(y, flagged))
        assert row["f1"] == pytest.approx(f1_score(y, flagged))
    assert ((pred["p_model"] >= 0) & (pred["p_model"] <= 1)).all()
    assert m.base_rate == pytest.approx(y.mean())


def test_model_learns_the_planted_signal_on_more_data():
    # 1,500 sessions: enough for the GRU to pick up device, removals and pauses
    events = toy_events(sessions=1500, seed=11)
    _, card = train_model(events, seed=0, max_epochs=8)
    assert card.metric("model", "roc_auc") > 0.7


def test_too_few_carts_are_refused_with_a_reason():
    events = toy_events(sessions=150, seed=1)
    reason = training_refusal(events)
    assert "150 labelled cart sessions" in reason and "200" in reason
    with pytest.raises(ParameterError, match="at least 200"):
        train_model(events)
    m = evaluate(None, events)  # nothing is scored when the data is too small
    assert not m.ok and "150" in m.reason and m.table.height == 0


def test_no_cart_events_explain_themselves():
    events = make_events({"u": [("view_item", "00:00"), ("purchase", "00:01")]})
    assert "no add_to_cart" in training_refusal(events)
    assert "no cart sessions" in evaluate(None, events).reason


def test_a_single_outcome_is_refused():
    events = toy_events(sessions=300, seed=2).filter(pl.col("event_type") != "purchase")
    assert "all 300 cart sessions were abandoned" in training_refusal(events)


@pytest.mark.parametrize("kwargs, match", [
    ({"max_epochs": 0}, "max_epochs"), ({"max_epochs": 2.5}, "max_epochs"),
    ({"time_limit": 0}, "time_limit"), ({"time_limit": -3.0}, "time_limit"),
])
def test_bad_training_parameters_name_themselves(toy, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        train_model(toy, **kwargs)


def test_time_limit_stops_training_early(toy):
    _, card = train_model(toy, seed=0, max_epochs=50, time_limit=1e-6)
    assert card.epochs == 1


def test_metric_helpers_by_hand():
    y = np.array([1, 1, 0, 0])
    p = np.array([0.9, 0.4, 0.6, 0.1])
    m = classification_metrics(y, p, 0.5)
    # flagged: 0.9 (abandoned) and 0.6 (bought): precision 1/2, recall 1/2, F1 1/2
    assert (m["precision"], m["recall"], m["f1"]) == (0.5, 0.5, 0.5)
    # pairs (abandoned, bought) ranked right: (0.9,0.6) (0.9,0.1) (0.4,0.1) = 3 of 4
    assert m["roc_auc"] == pytest.approx(0.75)
    # Brier: (0.1^2 + 0.6^2 + 0.6^2 + 0.1^2) / 4 = 0.74 / 4 = 0.185
    assert m["brier"] == pytest.approx(0.185)
    # Youden's J: at 0.9 J = 0.5 - 0 = 0.5; at 0.4 J = 1 - 0.5 = 0.5; the first maximum wins
    assert youden_threshold(y, p) == pytest.approx(0.9)
    assert youden_threshold(np.ones(3), np.array([0.1, 0.2, 0.3])) == 0.5


def test_platt_scaling_recovers_a_known_calibration():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 20_000)
    # true probability sigmoid(0.5 z - 1): the fit should find a = 0.5, b = -1
    y = (rng.random(z.size) < 1 / (1 + np.exp(-(0.5 * z - 1)))).astype(float)
    ab = fit_platt(z, y)
    assert ab["a"] == pytest.approx(0.5, abs=0.05) and ab["b"] == pytest.approx(-1, abs=0.06)


def test_bootstrap_auc_matches_scikit_learn_and_brackets_the_estimate():
    from sklearn.metrics import roc_auc_score

    from core.cart.stats import _auc, auc_bootstrap

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.random(300) * 0.5 + 0.3 * y, 2)  # rounded: many ties
    assert _auc(y, p, np.ones(300)) == pytest.approx(roc_auc_score(y, p))
    w = rng.integers(0, 3, 300)  # a weight is a row repeated that many times
    rep = np.repeat(np.arange(300), w)
    assert _auc(y, p, w.astype(float)) == pytest.approx(roc_auc_score(y[rep], p[rep]))
    pred = pl.DataFrame({"session_id": [f"s{i // 2}" for i in range(300)],
                         "abandoned": y.astype(bool), "p_model": p,
                         "p_logreg": rng.random(300), "p_hgb": p * 0.5})
    ci = auc_bootstrap(pred, n_boot=200)
    full = roc_auc_score(y, p)
    assert ci["model"][0] < full < ci["model"][1]
    assert ci["model_minus_logreg"][0] > 0  # a real signal against noise
    # scaling scores does not change a ranking: the lead over "hgb" is exactly 0
    assert ci["model_minus_hgb"] == [0.0, 0.0]
