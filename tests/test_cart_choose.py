"""choose_model: the page measures the bundled model on the data before trusting it."""

from __future__ import annotations

import functools

import numpy as np
import polars as pl
import pytest
import torch

from core.cart.choose import ModelChoice, choose_model
from core.cart.evaluate import split_masks
from core.cart.features import prefix_table, prepare_events
from core.cart.train import train_model
from core.dev.cart_toy import toy_events
from core.errors import ParameterError


@functools.cache
def _toy(sessions: int, seed: int) -> pl.DataFrame:
    return toy_events(sessions=sessions, seed=seed)


@functools.cache
def _chance_model():
    """A model that gives every cart the same risk: ROC AUC exactly 0.5 anywhere."""
    model, _ = train_model(_toy(300, 5), seed=0, max_epochs=1)
    last = model.net.head[-1]
    with torch.no_grad():
        for p in model.net.head.parameters():
            p.zero_()
        last.bias.fill_(0.4)  # constant logit 0.4 before calibration
    return model


def test_too_few_carts_is_unverified_and_trains_nothing():
    events = _toy(120, 1)  # 120 cart sessions < 200
    calls = []
    choice = choose_model(events, bundled=_chance_model(), progress=lambda f, m: calls.append(m))
    assert isinstance(choice, ModelChoice)
    assert not choice.verified and choice.chosen == "bundled"
    assert choice.n_carts == 120
    assert "120 labelled cart sessions" in choice.reason and "200" in choice.reason
    assert "unverified" in choice.reason
    assert choice.trained_card is None and choice.candidates.height == 0
    assert not any("training" in m for m in calls)


def test_no_carts_says_there_is_nothing_to_predict():
    events = _toy(120, 1).filter(pl.col("event_type") != "add_to_cart")
    choice = choose_model(events, bundled=_chance_model())
    assert not choice.verified and choice.n_carts == 0
    assert "no add_to_cart" in choice.reason


def test_a_bundled_model_at_chance_is_measured_and_replaced_by_a_trained_one():
    events = _toy(700, 2)
    bundled = _chance_model()
    seen: list[float] = []
    choice = choose_model(events, bundled=bundled, max_epochs=8,
                          progress=lambda f, m: seen.append(f))
    assert choice.verified and choice.train_recommended
    b = choice.figures("bundled")
    # a constant risk ranks no cart above another: AUC is exactly 0.5 (ties count half)
    assert b["roc_auc"] == pytest.approx(0.5)
    # its Brier score is mean((c - y)^2) for the constant c, computed by hand on the test carts
    prepared = prepare_events(events)
    prefixes = prefix_table(prepared)
    test = split_masks(prefixes)[2]
    y = prefixes.filter(pl.Series(test))["abandoned"].cast(pl.Float64).to_numpy()
    c = float(bundled.calibrate(np.array([0.4]))[0])
    assert b["brier"] == pytest.approx(float(np.mean((c - y) ** 2)), abs=1e-9)
    assert choice.n_test_prefixes == len(y)
    test_rows = prefixes.filter(pl.Series(test))
    assert choice.n_test_purchases == test_rows.filter(~pl.col("abandoned"))["session_id"].n_unique()
    assert choice.n_test_carts == round(0.2 * prefixes["session_id"].n_unique())
    # a model was trained on the data (planted drivers: it ranks better than chance) and used
    assert choice.trained_card is not None
    d = choice.figures("dataset")
    assert d["roc_auc"] > 0.55 and d["auc_low"] <= d["roc_auc"] <= d["auc_high"]
    assert choice.chosen == "dataset" and choice.model is not bundled
    assert "below 0.65" in choice.reason and "model trained on this data" in choice.reason
    assert set(choice.candidates["key"]) == {"bundled", "dataset", "logreg", "hgb"}
    assert choice.calibration["n"].sum() == len(y)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


def test_without_training_the_choice_only_recommends():
    choice = choose_model(_toy(700, 2), bundled=_chance_model(), train=False)
    assert choice.verified and choice.train_recommended and choice.chosen == "bundled"
    assert choice.trained_card is None
    assert "recommended" in choice.reason


def test_the_rule_follows_the_measured_figures():
    # a model trained on another toy shop: whatever it scores, the recommendation is exactly
    # "below min_auc or beaten by a baseline"
    other, _ = train_model(_toy(500, 3), seed=0, max_epochs=6)
    for min_auc in (0.5, 0.99):
        choice = choose_model(_toy(700, 2), bundled=other, train=False, min_auc=min_auc)
        f = {r["key"]: r["roc_auc"] for r in choice.candidates.to_dicts()}
        assert choice.train_recommended == (f["bundled"] < min_auc
                                            or max(f["logreg"], f["hgb"]) > f["bundled"])
    assert choose_model(_toy(700, 2), bundled=other, train=False,
                        min_auc=0.99).train_recommended


@pytest.mark.parametrize("kw, word", [({"min_carts": 10}, "min_carts"),
                                      ({"min_auc": 0.3}, "min_auc")])
def test_settings_out_of_range_are_refused_with_their_name(kw, word):
    with pytest.raises(ParameterError, match=word):
        choose_model(_toy(120, 1), bundled=_chance_model(), **kw)
