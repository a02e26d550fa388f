"""The settings objects of cart abandonment (CartParams, TrainParams) and the params form."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from builders import make_events

from core import ParameterError, cart_status, load_bundled_model, revenue_at_risk, score_carts
from core.cart import CartParams, CartResult, TrainParams
from core.cart.model import BUNDLED_DIR, WEIGHTS_FILE
from core.dev.cart_toy import toy_events

needs_model = pytest.mark.skipif(not (BUNDLED_DIR / WEIGHTS_FILE).is_file(),
                                 reason="bundled model not trained")


@pytest.mark.parametrize("kwargs, name", [
    ({"threshold": 1.5}, "threshold"),
    ({"threshold": float("nan")}, "threshold"),
    ({"as_of": "yesterday"}, "as_of"),
    ({"session_gap": timedelta(0)}, "session_gap"),
    ({"recovery_window": timedelta(minutes=10)}, "recovery_window"),
])
def test_bad_settings_name_the_parameter(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        CartParams(**kwargs)


@pytest.mark.parametrize("kwargs, name", [
    ({"max_epochs": 0}, "max_epochs"), ({"seed": -1}, "seed"), ({"time_limit": 0}, "time_limit"),
    ({"architecture": "lstm"}, "architecture"),
])
def test_bad_training_settings_name_the_parameter(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        TrainParams(**kwargs)


def test_settings_are_frozen_hashable_and_normalised():
    p = CartParams(threshold=np.float32(0.25))
    assert p.threshold == 0.25 and type(p.threshold) is float
    assert hash(p) == hash(CartParams(threshold=0.25))
    # a date means the end of that day, UTC; a naive datetime is UTC
    assert CartParams(as_of=date(2024, 3, 2)).cutoff == datetime(
        2024, 3, 2, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert CartParams(as_of=datetime(2024, 3, 2, 12)).cutoff == datetime(
        2024, 3, 2, 12, tzinfo=timezone.utc)
    assert CartParams().cutoff is None


@needs_model
def test_compute_is_score_carts_then_cart_status_and_carries_its_params():
    model = load_bundled_model()
    events = toy_events(sessions=80, seed=8)
    params = CartParams(recovery_window=timedelta(days=3))
    result = params.compute(events, model)
    assert isinstance(result, CartResult) and result.params is params
    expected = cart_status(score_carts(model, events), recovery_window=timedelta(days=3))
    assert result.carts.equals(expected)
    assert result.threshold == model.threshold and result.reason == ""
    assert result.revenue("open") == revenue_at_risk(expected, threshold=model.threshold,
                                                     status="open")


@needs_model
def test_a_threshold_of_the_settings_flags_the_carts_at_or_above_it():
    model = load_bundled_model()
    events = toy_events(sessions=60, seed=9)
    result = CartParams(threshold=0.5).compute(events, model)
    assert result.threshold == 0.5
    assert result.carts["at_risk"].to_list() == (result.carts["p_abandon"] >= 0.5).to_list()


@needs_model
def test_no_cart_gives_an_empty_result_with_a_reason():
    events = make_events({"u": [("view_item", "00:00"), ("purchase", "00:05")]})
    result = CartParams().compute(events)  # the bundled model by default
    assert result.carts.height == 0 and "add_to_cart" in result.reason
    assert result.revenue() == {"open_carts": 0, "open_value": 0.0, "expected_loss": 0.0,
                                "flagged_carts": 0, "flagged_value": 0.0}
    assert isinstance(result.carts, pl.DataFrame)
