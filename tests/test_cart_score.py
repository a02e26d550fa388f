"""Scoring cart sessions (open carts, as_of, partitions) and explaining one session."""

from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import polars as pl
import pytest
from builders import make_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import ParameterError, explain, score_carts, train_model
from core.cart import revenue_at_risk
from core.cart.engine import SCORE_SCHEMA
from core.cart.features import value_scale
from core.dev.cart_toy import toy_events


@pytest.fixture(scope="module")
def model():
    m, _ = train_model(toy_events(sessions=300, seed=8), seed=0, max_epochs=2)
    return m


def shop():
    return make_events({
        "u1": [("view_item", "00:00", {"device": "mobile"}),
               ("add_to_cart", "00:01", {"price": 10.0, "product_id": "A"}),
               ("add_to_cart", "00:02", {"price": 5.0, "product_id": "B"}),
               ("remove_from_cart", "00:03", {"price": 10.0, "product_id": "A"})],
        "u2": [("add_to_cart", "00:00", {"price": 20.0, "quantity": 2}),
               ("purchase", "00:05", {"price": 20.0, "quantity": 2})],
        "u3": [("view_item", "00:00")],
    })


def test_open_and_purchased_carts_by_hand(model):
    at = datetime(2024, 1, 1, 0, 13, tzinfo=timezone.utc)
    s = score_carts(model, shop(), as_of=at).sort("user_id")
    assert s.schema == pl.Schema(SCORE_SCHEMA)
    assert s["user_id"].to_list() == ["u1", "u2"]  # u3 never added to cart
    u1, u2 = s.row(0, named=True), s.row(1, named=True)
    # u1: 10 + 5 - 10 = 5 in the cart, one item, no purchase; last event 00:03, 10 min idle
    assert (u1["cart_value"], u1["items"], u1["open"], u1["purchased"]) == (5.0, 1.0, True, False)
    assert u1["events"] == 4 and u1["idle_minutes"] == pytest.approx(10.0)
    assert u1["prediction_time"] == datetime(2024, 1, 1, 0, 2, tzinfo=timezone.utc)
    # u2: 2 x 20 = 40 bought
    assert (u2["cart_value"], u2["items"], u2["purchased"], u2["open"]) == (40.0, 2.0, True, False)
    assert s["p_abandon"].is_between(0, 1).all()
    assert (s["at_risk"] == (s["p_abandon"] >= model.threshold)).all()
    ranked = score_carts(model, shop(), as_of=at)["p_abandon"].to_list()
    assert ranked == sorted(ranked, reverse=True)  # highest risk first


def test_as_of_hides_the_future(model):
    early = datetime(2024, 1, 1, 0, 1, 30, tzinfo=timezone.utc)
    s = score_carts(model, shop(), as_of=early).sort("user_id")
    # at 00:01:30 u1 holds one item worth 10 and u2 has not bought yet
    assert s["cart_value"].to_list() == [10.0, 40.0]
    assert s["open"].to_list() == [True, True]
    assert s["last_event"].dt.strftime("%H:%M").to_list() == ["00:01", "00:00"]


def test_default_as_of_is_the_end_of_the_data_and_dates_mean_end_of_day(model):
    default = score_carts(model, shop())
    assert default["idle_minutes"].sort().to_list() == [0.0, 2.0]  # data ends at 00:05
    by_date = score_carts(model, shop(), as_of=date(2024, 1, 1))
    assert by_date.drop("idle_minutes").equals(default.drop("idle_minutes"))


def test_degenerate_inputs_give_empty_typed_tables(model):
    no_cart = make_events({"u": [("view_item", "00:00")]})
    before = datetime(2023, 1, 1, tzinfo=timezone.utc)
    for s in (score_carts(model, no_cart), score_carts(model, shop(), as_of=before),
              score_carts(model, make_events({}))):
        assert s.height == 0 and s.schema == pl.Schema(SCORE_SCHEMA)


def test_bad_as_of_names_the_parameter(model):
    with pytest.raises(ParameterError, match="as_of"):
        score_carts(model, shop(), as_of="yesterday")


def test_scoring_is_partitionable_by_user(model):
    events = toy_events(sessions=120, seed=4)
    whole = score_carts(model, events).sort("session_id")
    users = events["user_id"].unique().sort()
    # money is read relative to the shop: the whole data's scale, measured once, is passed
    # to every partition
    scale = value_scale(events)
    parts = [score_carts(model, events.filter(pl.col("user_id").is_in(users[i::3].implode())),
                         scale=scale) for i in range(3)]
    merged = pl.concat(parts).sort("session_id")
    assert merged.drop("p_abandon", "idle_minutes").equals(
        whole.drop("p_abandon", "idle_minutes"))
    np.testing.assert_allclose(merged["p_abandon"], whole["p_abandon"], atol=1e-6)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 400))
def test_events_after_as_of_never_change_a_score(model, cut):
    events = toy_events(sessions=40, seed=6)
    t0 = events["ts"].min()
    as_of = t0 + (events["ts"].max() - t0) * (cut / 400)
    full = score_carts(model, events, as_of=as_of).sort("session_id")
    past = score_carts(model, events.filter(pl.col("ts") <= as_of), as_of=as_of)
    assert full.equals(past.sort("session_id"))


def test_revenue_at_risk_by_hand():
    scores = pl.DataFrame({"open": [True, True, False], "cart_value": [100.0, 50.0, 70.0],
                           "p_abandon": [0.9, 0.2, 0.99]})
    r = revenue_at_risk(scores, threshold=0.5)
    # open carts 100 and 50: expected loss 0.9*100 + 0.2*50 = 100; flagged only the first
    assert r == {"open_carts": 2, "open_value": 150.0, "expected_loss": pytest.approx(100.0),
                 "flagged_carts": 1, "flagged_value": 100.0}
    with pytest.raises(ParameterError, match="threshold"):
        revenue_at_risk(scores, threshold=1.2)


# ------------------------------------------------------------------------------ explain


def journey():
    return make_events({"u1": [
        ("page_view", "00:00", {"device": "mobile", "channel": "email"}),
        ("view_item", "00:01", {"price": 30.0, "product_id": "A"}),
        ("view_item", "00:09", {"price": 80.0, "product_id": "B"}),
        ("add_to_cart", "00:10", {"price": 80.0, "product_id": "B"}),
        ("search", "00:11"),
        ("add_to_cart", "00:12", {"price": 30.0, "product_id": "A"}),
        ("begin_checkout", "00:14"),
    ]})


def test_occlusion_matches_rescoring_without_the_event(model):
    ev = journey()
    ex = explain(model, ev)
    events = ex.filter(pl.col("kind") == "event")
    assert events["position"].to_list() == list(range(7))
    risk = score_carts(model, ev)["p_abandon"][0]
    assert ex["risk"].unique().to_list() == [pytest.approx(risk)]
    for i in (1, 2, 4):  # leave one middle event out and score the rest from scratch
        rest = ev.with_row_index("_i").filter(pl.col("_i") != i).drop("_i")
        expected = score_carts(model, rest, scale=value_scale(ev))["p_abandon"][0]
        row = events.row(i, named=True)
        assert row["risk_without"] == pytest.approx(expected, abs=1e-6)
        assert row["contribution"] == pytest.approx(risk - expected, abs=1e-6)


def test_events_after_the_prediction_time_have_no_contribution(model):
    events = explain(model, journey()).filter(pl.col("kind") == "event")
    assert events["in_prefix"].to_list() == [True] * 6 + [False]
    assert events["contribution"].is_null().to_list() == [False] * 6 + [True]


def test_removing_the_only_cart_removes_the_risk(model):
    ev = make_events({"u": [("view_item", "00:00"), ("add_to_cart", "00:01")]})
    events = explain(model, ev).filter(pl.col("kind") == "event")
    assert events["risk_without"].to_list()[1] == 0.0
    assert events["contribution"][1] == pytest.approx(events["risk"][1])


def test_context_inputs_are_occluded_too(model):
    ctx = explain(model, journey()).filter(pl.col("kind") == "context")
    assert set(ctx["label"]) == {"device = mobile", "channel = email"}
    assert ((ctx["risk"] - ctx["risk_without"] - ctx["contribution"]).abs() < 1e-12).all()


def test_earlier_sessions_set_the_history_and_the_latest_session_is_explained(model):
    ev = make_events({"u": [("add_to_cart", "00:00"), ("purchase", "00:01"),
                            ("view_item", "D+1 09:00"), ("add_to_cart", "D+1 09:01")]})
    ex = explain(model, ev)
    assert ex.filter(pl.col("kind") == "event").height == 2
    labels = ex.filter(pl.col("kind") == "context")["label"].to_list()
    assert "bought before (an earlier session had a purchase)" in labels
    assert "1 earlier session(s)" in labels


def test_explain_refuses_several_users_and_empties_without_a_cart(model):
    with pytest.raises(ParameterError, match="one user"):
        explain(model, shop())
    assert explain(model, make_events({"u": [("view_item", "00:00")]})).height == 0
    assert explain(model, make_events({})).height == 0
