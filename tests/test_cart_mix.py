"""Training on several shops: each prepared on its own scale, split by its own time."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from core.cart.evaluate import split_masks
from core.cart.features import EVENT_FEATURES, prefix_table, prepare_events
from core.cart.mix import combine_sources, fit_sources, source_weights
from core.cart.params import TrainParams
from core.dev.cart_toy import toy_events


def test_each_shop_keeps_its_scale_ids_and_time_split():
    a = toy_events(sessions=60, seed=1)
    # the same journeys a year later, priced in cents: another shop
    b = a.with_columns(pl.col("price") * 100, pl.col("ts") + pl.duration(days=365))
    prepared, prefixes, masks, source = combine_sources({"a": a, "b": b})
    assert source.tolist() == ["a"] * (len(source) // 2) + ["b"] * (len(source) // 2)
    # ids are prefixed: no session is shared between shops
    assert prefixes.filter(pl.Series(source == "a"))["session_id"].str.starts_with("a:").all()
    assert prefixes["session_id"].n_unique() == 2 * prefix_table(prepare_events(a))[
        "session_id"].n_unique()
    # money relative to each shop: cents read exactly as the other shop's units
    half = prepared.height // 2
    np.testing.assert_allclose(prepared.select(EVENT_FEATURES)[:half].to_numpy(),
                               prepared.select(EVENT_FEATURES)[half:].to_numpy())
    # each shop is split by its own time (a global split would put all of b in the test part)
    own = split_masks(prefix_table(prepare_events(a)))
    for mine, alone in zip(masks, own, strict=True):
        assert mine[source == "a"].tolist() == alone.tolist()
        assert mine[source == "b"].tolist() == alone.tolist()
    # rows point at the right events: every prefix's cutting row is an add_to_cart
    assert (prepared["event_type"].gather(prefixes["row"]) == "add_to_cart").all()


def test_source_weights_give_each_shop_the_square_root_of_its_size():
    source = np.array(["big"] * 400 + ["small"] * 100)
    w = source_weights(source)
    # per prefix 1/sqrt(n): big 1/20, small 1/10; totals 400/20 = 20 and 100/10 = 10 (2:1,
    # the square roots of 400 and 100); normalised to a mean of 1
    assert w.mean() == pytest.approx(1.0)
    assert w[source == "big"].sum() / w[source == "small"].sum() == pytest.approx(2.0)
    assert np.allclose(source_weights(source, power=0.0), 1.0)


def test_fit_sources_reports_every_shop_on_its_own_latest_carts():
    parts = {"a": toy_events(sessions=260, seed=2), "b": toy_events(sessions=260, seed=3)}
    model, card, per_source = fit_sources(parts, TrainParams(seed=0, max_epochs=2))
    assert set(per_source) == {"a", "b"}
    assert all(m.ok and m.n_test_sessions == 52 for m in per_source.values())  # 20 % of 260
    # the card's test figures are those of the first shop
    assert card.metric("model", "roc_auc") == pytest.approx(per_source["a"]["roc_auc"], abs=1e-6)
    assert model.config.architecture == "gru"
