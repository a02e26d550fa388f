"""user_features and feature_availability: hand-computed journeys, a slow reference, partitions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from builders import make_events
from polars.testing import assert_frame_equal

from core import ParameterError, SchemaError, user_features
from core.segments import FEATURES, feature_availability, user_features_partition

UTC = timezone.utc


def _journeys() -> pl.DataFrame:
    return make_events({
        # u1: two sessions (gap > 30 min), one order of two lines on mobile, one desktop visit
        "u1": [
            ("page_view", "00:00", {"device": "Mobile"}),
            ("search", "00:01", {"device": "Mobile"}),
            ("view_item", "00:02", {"category": "shoes", "price": 80.0, "device": "Mobile"}),
            ("add_to_cart", "00:03", {"category": "shoes", "price": 80.0, "quantity": 1}),
            ("purchase", "00:10", {"category": "shoes", "price": 80.0, "quantity": 2,
                                   "order_id": "o1"}),
            ("purchase", "00:10", {"category": "socks", "price": 5.0, "order_id": "o1"}),
            ("view_item", "D+2 10:00", {"category": "hats", "price": 20.0, "device": "desktop"}),
            ("add_to_cart", "D+2 10:04", {"category": "hats", "price": 20.0}),
            ("remove_from_cart", "D+2 10:05", {"category": "hats", "price": 20.0}),
        ],
        # u2: one visit, never buys, no device recorded
        "u2": [
            ("page_view", "D+1 08:00"),
            ("view_item", "D+1 08:00:30", {"category": "shoes", "price": 60.0}),
        ],
    })


def test_hand_computed_features():
    f = user_features(_journeys())
    assert f["user_id"].to_list() == ["u1", "u2"]
    u1, u2 = f.row(0, named=True), f.row(1, named=True)
    # as_of = latest event = D+2 10:05 (u1's last): u1 recency 0; u2 last at D+1 08:00:30, so
    # 1 day 2 h 4.5 min = 1 + 124.5 / 1440 days
    assert u1["recency_days"] == 0
    assert u2["recency_days"] == pytest.approx(1 + 124.5 / 1440)
    # u1: sessions at 00:00-00:10 (6 events) and D+2 10:00-10:05 (3 events)
    assert u1["sessions"] == 2 and u2["sessions"] == 1
    assert u1["events_per_session"] == pytest.approx(9 / 2)
    assert u1["session_minutes"] == pytest.approx((10 + 5) / 2)
    assert u2["session_minutes"] == pytest.approx(0.5)
    # revenue: 80 x 2 + 5 x (quantity unknown -> 1) = 165 over one order
    assert u1["revenue"] == pytest.approx(165.0) and u2["revenue"] == 0
    assert u1["purchases"] == 1 and u2["purchases"] == 0
    assert u1["order_value"] == pytest.approx(165.0) and u2["order_value"] is None
    # per session: 2 views / 2, 1 search / 2, 2 cart adds / 2, 1 removal / 2
    assert u1["views_per_session"] == 1.0 and u2["views_per_session"] == 1.0
    assert u1["searches_per_session"] == 0.5 and u2["searches_per_session"] == 0
    assert u1["cart_adds_per_session"] == 1.0
    assert u1["removals_per_session"] == 0.5
    # two sessions with a cart add, one of them with a purchase; u2 never added to cart
    assert u1["cart_to_purchase"] == 0.5 and u2["cart_to_purchase"] is None
    assert u1["categories"] == 3 and u2["categories"] == 1  # shoes, socks, hats
    # first device of session 1 is "Mobile" (case-insensitive), session 2 "desktop"
    assert u1["mobile_share"] == 0.5 and u2["mobile_share"] is None
    assert u1["active_days"] == 2 and u2["active_days"] == 1


def test_columns_and_dtypes_follow_the_documented_order():
    f = user_features(_journeys())
    assert f.columns == ["user_id", *[spec.name for spec in FEATURES]]
    assert f.schema["sessions"] == pl.Int64 and f.schema["revenue"] == pl.Float64


def test_absent_features_are_left_out_and_reported():
    # no price, no device, no category, no removals, no searches, no purchases
    ev = make_events({"a": [("view_item", "00:00"), ("add_to_cart", "00:01")],
                      "b": [("view_item", "01:00")]})
    f = user_features(ev)
    rep = feature_availability(ev)
    left_out = dict(rep.missing)
    for name in ("revenue", "order_value", "searches_per_session", "removals_per_session",
                 "purchases", "cart_to_purchase", "categories", "mobile_share"):
        assert name not in f.columns
        assert name in left_out
    assert left_out["revenue"] == "no purchase events"
    assert "device column" in left_out["mobile_share"]
    assert set(rep.available) == set(f.columns) - {"user_id"}
    assert "revenue" in rep.describe()


def test_purchases_without_prices_are_not_revenue_zero():
    ev = make_events({"a": [("add_to_cart", "00:00"), ("purchase", "00:01")],
                      "b": [("view_item", "00:00")]})
    f = user_features(ev)
    assert "revenue" not in f.columns
    assert dict(feature_availability(ev).missing)["revenue"] == "no prices on purchase events"
    # a purchase event without an order id counts as one order
    assert f.filter(pl.col("user_id") == "a")["purchases"].item() == 1


def test_empty_device_column_is_reported():
    ev = make_events({"a": [("view_item", "00:00")]}, device=None)
    assert dict(feature_availability(ev).missing)["mobile_share"] == "device column 'device' is empty"


def test_as_of_drops_later_events_and_measures_recency_from_it():
    ev = _journeys()
    as_of = datetime(2024, 1, 2, 12, 0)  # naive: UTC; before u1's second session
    f = user_features(ev, as_of=as_of)
    u1 = f.filter(pl.col("user_id") == "u1").row(0, named=True)
    assert u1["sessions"] == 1
    # the only removal happens after as_of, so removals are not measurable up to then
    assert "removals_per_session" not in f.columns
    # u1's last event up to as_of is 00:10 on day 0: 1 day 11 h 50 min
    assert u1["recency_days"] == pytest.approx(1 + (11 * 60 + 50) / 1440)
    assert feature_availability(ev, as_of=as_of).as_of == as_of.replace(tzinfo=UTC)


def test_as_of_must_be_a_datetime():
    with pytest.raises(ParameterError, match="as_of"):
        user_features(_journeys(), as_of="2024-01-01")


def test_empty_events_give_an_empty_frame():
    f = user_features(make_events({}))
    assert f.height == 0 and f.columns[0] == "user_id" and "sessions" in f.columns


def test_missing_required_columns_raise_schema_error():
    with pytest.raises(SchemaError):
        user_features(pl.DataFrame({"user_id": ["a"]}))


def test_lazy_input_matches_eager():
    ev = _journeys()
    assert_frame_equal(user_features(ev.lazy()), user_features(ev))


# ------------------------------------------------------------------------------------------
# slow reference on random event logs
# ------------------------------------------------------------------------------------------

TYPES = ["page_view", "search", "view_item", "add_to_cart", "remove_from_cart", "purchase"]


def _random_events(seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    journeys = {}
    for u in range(int(rng.integers(1, 9))):
        t = float(rng.uniform(0, 3600))
        items = []
        for _ in range(int(rng.integers(1, 12))):
            # sometimes a gap that starts a new session
            t += float(rng.exponential(300) if rng.random() < 0.8 else rng.uniform(2000, 200000))
            props = {}
            if rng.random() < 0.7:
                props["category"] = str(rng.choice(["a", "b", "c"]))
            if rng.random() < 0.8:
                props["price"] = float(rng.integers(1, 100))
            if rng.random() < 0.5:
                props["quantity"] = int(rng.integers(1, 4))
            if rng.random() < 0.6:
                props["order_id"] = f"o{int(rng.integers(0, 4))}-{u}"
            if rng.random() < 0.8:
                props["device"] = str(rng.choice(["mobile", "desktop", "iOS app", "tablet"]))
            items.append((str(rng.choice(TYPES)), timedelta(seconds=round(t)), props))
        journeys[f"u{u}"] = items
    return make_events(journeys)


def _reference(ev: pl.DataFrame) -> dict[str, dict[str, float | None]]:
    """Per-user features from plain Python loops over the rows."""
    rows = ev.to_dicts()
    as_of = max(r["ts"] for r in rows)
    out: dict[str, dict[str, float | None]] = {}
    for user in sorted({r["user_id"] for r in rows}):
        mine = [r for r in rows if r["user_id"] == user]
        sessions: dict[str, list[dict]] = {}
        for r in mine:
            sessions.setdefault(r["session_id"], []).append(r)
        n_s = len(sessions)
        buys = [r for r in mine if r["event_type"] == "purchase"]
        orders = {r["order_id"] for r in buys if r["order_id"] is not None}
        n_orders = len(orders) + sum(r["order_id"] is None for r in buys)
        revenue = sum(r["price"] * (r["quantity"] or 1) for r in buys if r["price"] is not None)
        cart_s = [s for s in sessions.values() if any(r["event_type"] == "add_to_cart" for r in s)]
        conv = (sum(any(r["event_type"] == "purchase" for r in s) for s in cart_s) / len(cart_s)
                if cart_s else None)
        mobile = []
        for s in sessions.values():
            devs = [r["device"] for r in s if r["device"] is not None]
            if devs:
                d = devs[0].lower()
                mobile.append(any(w in d for w in ("mobile", "phone", "android", "ios")))

        def count(t: str, mine=mine) -> int:
            return sum(r["event_type"] == t for r in mine)

        out[user] = {
            "recency_days": (as_of - max(r["ts"] for r in mine)).total_seconds() / 86400,
            "sessions": n_s,
            "revenue": revenue,
            "order_value": revenue / n_orders if n_orders else None,
            "events_per_session": len(mine) / n_s,
            "views_per_session": count("view_item") / n_s,
            "searches_per_session": count("search") / n_s,
            "cart_adds_per_session": count("add_to_cart") / n_s,
            "removals_per_session": count("remove_from_cart") / n_s,
            "purchases": n_orders,
            "cart_to_purchase": conv,
            "session_minutes": sum(
                (max(r["ts"] for r in s) - min(r["ts"] for r in s)).total_seconds() / 60
                for s in sessions.values()) / n_s,
            "categories": len({r["category"] for r in mine if r["category"] is not None}),
            "mobile_share": sum(mobile) / len(mobile) if mobile else None,
            "active_days": len({r["ts"].date() for r in mine}),
        }
    return out


@pytest.mark.parametrize("seed", range(25))
def test_matches_slow_reference_on_random_logs(seed):
    ev = _random_events(seed)
    f = user_features(ev)
    ref = _reference(ev)
    assert f["user_id"].to_list() == sorted(ref)
    for row in f.iter_rows(named=True):
        expected = ref[row["user_id"]]
        for name, value in row.items():
            if name == "user_id":
                continue
            if expected[name] is None:
                assert value is None, (seed, row["user_id"], name)
            else:
                assert value == pytest.approx(expected[name]), (seed, row["user_id"], name)


@pytest.mark.parametrize("seed", range(5))
def test_partitions_by_user_concatenate_to_the_whole(seed):
    # The documented merge step: one availability report of the whole table, features per
    # hash partition of users, concatenate.
    ev = pl.concat([_random_events(seed), _random_events(seed + 100).with_columns(
        ("x" + pl.col("user_id")).alias("user_id"))], how="diagonal_relaxed")
    whole = user_features(ev)
    report = feature_availability(ev)
    part = pl.col("user_id").hash(seed=7) % 3
    pieces = [user_features_partition(ev.filter(part == p), report=report) for p in range(3)]
    assert all(p.columns == whole.columns for p in pieces)
    assert_frame_equal(pl.concat(pieces).sort("user_id"), whole)
