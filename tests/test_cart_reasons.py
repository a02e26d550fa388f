"""Business reasons of a cart's risk: effects equal re-scoring the edited cart; the planted
reasons of the sample come out on top; near-chance models are named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from builders import make_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from core import chance_warning, explain_reasons, load_bundled_model, score_carts
from core.cart.evaluate import Metrics
from core.cart.features import value_scale
from core.cart.model import BUNDLED_DIR, WEIGHTS_FILE
from core.cart.reasons import REASON_SCHEMA, REASONS
from core.dev.cart_toy import toy_events
from core.errors import ParameterError

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not (BUNDLED_DIR / WEIGHTS_FILE).is_file(),
                                reason="the bundled model has not been trained yet")


@pytest.fixture(scope="module")
def model():
    return load_bundled_model()


@pytest.fixture(scope="module")
def toy() -> pl.DataFrame:
    return toy_events(sessions=160, seed=11)


@pytest.fixture(scope="module")
def reasons(model, toy) -> pl.DataFrame:
    return explain_reasons(model, toy)


def risk_of(model, events: pl.DataFrame, session: str, scale=None) -> float:
    """The risk of one cart of ``events``; ``scale``: the shop's money scale (reasons make a
    cart typical *in its shop*, so an edited cart is read on the original data's scale)."""
    s = score_carts(model, events, scale=scale)
    return float(s.filter(pl.col("session_id") == session)["p_abandon"][0])


def row(reasons: pl.DataFrame, session: str, reason: str) -> dict:
    return reasons.filter((pl.col("session_id") == session)
                          & (pl.col("reason") == reason)).row(0, named=True)


def test_one_row_per_cart_and_reason_ranked_by_effect(reasons, toy):
    assert reasons.schema == pl.Schema(REASON_SCHEMA)
    carts = toy.filter(pl.col("event_type") == "add_to_cart")["session_id"].n_unique()
    assert reasons.height == carts * len(REASONS)
    for _, g in reasons.group_by("session_id"):
        assert sorted(g["reason"].to_list()) == sorted(REASONS)
        assert g["rank"].to_list() == list(range(1, len(REASONS) + 1))
        measured = g["effect_pp"].drop_nulls().to_list()
        assert measured == sorted(measured, reverse=True)
        assert g["effect_pp"].is_null().to_list() == sorted(g["effect_pp"].is_null().to_list())
    effect = reasons["effect_pp"].drop_nulls().to_numpy()
    expected = (100 * (reasons["risk"] - reasons["risk_reference"])).drop_nulls().to_numpy()
    np.testing.assert_allclose(effect, expected)
    # the explained risk is the risk score_carts gives
    some = reasons["session_id"][0]
    assert reasons.filter(pl.col("session_id") == some)["risk"][0] == pytest.approx(
        risk_of(load_bundled_model(), toy, some))


def test_cart_value_effect_equals_rescoring_the_cart_at_the_typical_value(model, toy, reasons):
    values = score_carts(model, toy).select("session_id", "cart_value")
    typical = float(np.median(values["cart_value"].to_numpy()))
    session = values.filter(pl.col("cart_value") > 2 * typical)["session_id"][0]
    r = row(reasons, session, "cart_value")
    assert r["reference"] == f"typical cart: {typical:,.2f}"
    value = values.filter(pl.col("session_id") == session)["cart_value"][0]
    edited = toy.with_columns(
        pl.when(pl.col("session_id") == session).then(pl.col("price") * typical / value)
        .otherwise(pl.col("price")).alias("price"))
    assert r["risk_reference"] == pytest.approx(
        risk_of(model, edited, session, scale=value_scale(toy)), abs=1e-5)


def test_device_effect_equals_rescoring_with_the_data_s_device_mix(model, toy, reasons):
    per = toy.filter(pl.col("event_type") == "add_to_cart").group_by("session_id").agg(
        pl.col("device").first())
    shares = per["device"].value_counts(normalize=True)
    session = per.filter(pl.col("device") == "mobile")["session_id"].sort()[0]
    expected = sum(
        share * risk_of(model, toy.with_columns(
            pl.when(pl.col("session_id") == session).then(pl.lit(device))
            .otherwise(pl.col("device")).alias("device")), session)
        for device, share in shares.iter_rows())
    r = row(reasons, session, "device")
    assert r["this_cart"] == "mobile"
    assert r["risk_reference"] == pytest.approx(expected, abs=1e-5)


def test_removal_effect_equals_rescoring_without_the_removal(model, toy, reasons):
    removed = toy.filter(pl.col("event_type") == "remove_from_cart")["session_id"].sort()
    session = removed[0]
    r = row(reasons, session, "removals")
    assert r["this_cart"] == "1 item removed"
    edited = toy.filter(~((pl.col("session_id") == session)
                          & (pl.col("event_type") == "remove_from_cart")))
    assert r["risk_reference"] == pytest.approx(
        risk_of(model, edited, session, scale=value_scale(toy)), abs=1e-5)
    untouched = reasons.filter(~pl.col("session_id").is_in(removed.implode())
                               & (pl.col("reason") == "removals"))
    assert (untouched["effect_pp"] == 0).all()


def test_explaining_some_carts_equals_their_rows_of_explaining_all(model, toy, reasons):
    ids = reasons["session_id"].unique().sort().head(3).to_list()
    some = explain_reasons(model, toy, session_ids=[*ids, "no-such-session"])
    want = reasons.filter(pl.col("session_id").is_in(ids)).drop("risk_reference", "effect_pp")
    assert_frame_equal(some.drop("risk_reference", "effect_pp").sort("session_id", "rank"),
                       want.sort("session_id", "rank"))
    assert explain_reasons(model, toy, session_ids=["no-such-session"]).height == 0
    assert explain_reasons(model, toy.head(0)).schema == pl.Schema(REASON_SCHEMA)


def test_without_prices_the_cart_value_is_na_not_zero(model, toy):
    r = explain_reasons(model, toy.drop("price"))
    value = r.filter(pl.col("reason") == "cart_value")
    assert value["effect_pp"].is_null().all()
    assert set(value["this_cart"]) == {"n/a (no prices)"}
    assert "n/a" in value["reference"][0]


# ----------------------------------------------------------------- planted reasons (sample)

PLANTED = ("device", "channel", "hour", "cart_value", "pauses", "removals", "returning_buyer")


def planted_reasons(events: pl.DataFrame) -> pl.DataFrame:
    """Per cart session, which of the sample's planted abandonment drivers it carries, from the
    raw log alone (core/synth.py: mobile, paid social, night 00-05, a cart above the typical
    value, a pause over 5 minutes and a removal before the last add, never bought before)."""
    s = (events.with_columns(
        pl.col("ts").diff().over("session_id").dt.total_seconds().alias("gap"),
        pl.int_range(pl.len()).over("session_id").alias("i"))
        .with_columns(pl.col("i").filter(pl.col("event_type") == "add_to_cart").max()
                      .over("session_id").alias("last_add"))
        .filter(pl.col("last_add").is_not_null() & (pl.col("i") <= pl.col("last_add"))))
    amount = pl.col("price") * pl.col("quantity").fill_null(1)
    per = s.group_by("session_id").agg(
        pl.col("user_id").first(), pl.col("ts").min().alias("start"),
        pl.col("device").first(), pl.col("channel").first(),
        (pl.col("gap").max() > 300).alias("pauses"),
        (pl.col("event_type") == "remove_from_cart").any().alias("removals"),
        (pl.when(pl.col("event_type") == "add_to_cart").then(amount)
         .when(pl.col("event_type") == "remove_from_cart").then(-amount)
         .otherwise(0)).sum().alias("value"))
    buys = events.filter(pl.col("event_type") == "purchase").group_by("user_id").agg(
        pl.col("ts").min().alias("first_buy"))
    per = per.join(buys, on="user_id", how="left")
    return per.select(
        "session_id",
        (pl.col("device") == "mobile").alias("device"),
        (pl.col("channel") == "paid_social").alias("channel"),
        (pl.col("start").dt.hour() < 5).alias("hour"),
        (pl.col("value") > pl.col("value").median()).alias("cart_value"),
        "pauses", "removals",
        ~(pl.col("first_buy") < pl.col("start")).fill_null(False).alias("returning_buyer"),
    )


@pytest.fixture(scope="module")
def sample_hits(model):
    from core import load_events

    truth = json.loads((ROOT / "sample_data" / "ground_truth.json").read_text())
    drivers = truth["abandonment_drivers"]["coefficients"]
    # the drivers that raise abandonment (lower the purchase logit) are the ones checked
    assert {"mobile", "paid_social", "night_00_05", "log2_cart_value_over_100",
            "long_pause_over_5min", "per_remove_from_cart"} <= {k for k, v in drivers.items()
                                                                if v < 0}
    assert drivers["bought_before"] > 0  # so "never bought before" raises it
    events = load_events(ROOT / "sample_data" / "events.csv.gz").events
    planted = planted_reasons(events)
    ids = planted["session_id"].sample(1500, seed=7).to_list()
    reasons = explain_reasons(model, events, session_ids=ids)
    long = planted.unpivot(index="session_id", variable_name="reason",
                           value_name="planted").filter("planted").drop("planted")
    return reasons, long, ids


def test_planted_reasons_come_out_on_top_of_the_carts_they_were_planted_in(sample_hits):
    reasons, planted, ids = sample_hits
    top = reasons.filter(pl.col("rank") == 1).select("session_id", "reason")
    hits = top.join(planted, on=["session_id", "reason"], how="semi").height / top.height
    # chance: the share of the ten reasons that are planted in the cart, averaged over carts
    per_cart = planted.filter(pl.col("session_id").is_in(ids)).group_by("session_id").len()
    chance = per_cart["len"].sum() / (len(ids) * len(REASONS))
    print(f"top reason is a planted one for {hits:.1%} of {top.height} sample carts "
          f"(chance {chance:.1%})")
    assert hits >= 0.75  # measured 0.85 on 1,500 carts (seed 7)
    assert hits > 2 * chance


# Pauses: the bundled model learns from real shops as well, and they disagree about pauses
# (the longest pause of a prefix ranks abandonment at ROC AUC 0.41 on Taobao, 0.62 on REES46,
# 0.49 on the sample: bench/results_cart_transfer.md), so the mixed model weighs the sample's
# planted pause less than a sample-only model did (62 % in the top three; the mix: 24 %).
@pytest.mark.parametrize("reason,least", [("device", 0.75), ("channel", 0.9),
                                          ("returning_buyer", 0.85), ("cart_value", 0.5),
                                          ("pauses", 0.2), ("hour", 0.45)])
def test_each_planted_reason_is_among_the_top_three_where_planted(sample_hits, reason, least):
    reasons, planted, ids = sample_hits
    top3 = reasons.filter((pl.col("rank") <= 3) & (pl.col("effect_pp") > 0))
    have = planted.filter((pl.col("reason") == reason) & pl.col("session_id").is_in(ids))
    share = have.join(top3, on=["session_id", "reason"], how="semi").height / have.height
    print(f"{reason}: in the top three of {share:.0%} of the {have.height} carts it is planted in")
    assert share >= least


# ----------------------------------------------------------------- near chance


def metrics_with_auc(auc: float) -> Metrics:
    table = pl.DataFrame({"model": ["model", "logreg", "hgb"], "roc_auc": [auc, 0.55, 0.44]})
    return Metrics(table=table, n_test_sessions=1234)


def test_a_model_near_chance_is_named_with_its_measured_auc():
    text = chance_warning(metrics_with_auc(0.521))
    assert "ROC AUC 0.521" in text and "1,234" in text and "Retrain" in text
    assert "logistic regression 0.550" in text
    assert chance_warning(metrics_with_auc(0.86)) == ""
    assert chance_warning(Metrics(reason="too few carts")) == ""
    with pytest.raises(ParameterError, match="near"):
        chance_warning(metrics_with_auc(0.5), near=0.3)


# ----------------------------------------------------------------- any log

journey = st.lists(
    st.tuples(st.sampled_from(["view_item", "add_to_cart", "remove_from_cart", "purchase",
                               "page_view", "search"]),
              st.integers(0, 3 * 24 * 3600), st.sampled_from([None, 3.0, 80.0, 900.0]),
              st.sampled_from(["mobile", "desktop", None]),
              st.sampled_from(["email", "paid_social", None])),
    min_size=1, max_size=25)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(users=st.lists(journey, min_size=1, max_size=4))
def test_any_log_gives_finite_effects_ranked_per_cart(model, users):
    events = make_events({f"u{i}": [
        (e, t, {"price": p, "product_id": "P1", "device": d, "channel": c})
        for e, t, p, d, c in sorted(j, key=lambda x: x[1])] for i, j in enumerate(users)})
    r = explain_reasons(model, events)
    carts = events.filter(pl.col("event_type") == "add_to_cart")["session_id"].n_unique()
    assert r.height == carts * len(REASONS)
    assert r["risk"].is_between(0, 1).all()
    assert r["effect_pp"].drop_nulls().is_between(-100, 100).all()
    assert r["risk_reference"].drop_nulls().is_between(0, 1).all()
    for _, g in r.group_by("session_id"):
        assert g["rank"].to_list() == list(range(1, len(REASONS) + 1))
