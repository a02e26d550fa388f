import polars as pl
import pytest
from builders import make_events

from core import overview_metrics
from core.overview import daily_trend, dataset_info, event_mix
from core.report import summary_html

# s1: view, cart, purchase of 2 x 10.0 -> revenue 20, order o1
# s2: view, cart (no purchase) -> abandoned
# s3 (u2): view only
# s4 (u2, next day): cart at 10:00 then purchase 5.0 in order o2 -> revenue 5
EV = make_events({
    "u1": [("view_item", "00:00", {"session_id": "s1"}),
           ("add_to_cart", "00:01", {"session_id": "s1", "price": 10.0}),
           ("purchase", "00:02", {"session_id": "s1", "price": 10.0, "quantity": 2,
                                  "order_id": "o1"}),
           ("view_item", "05:00", {"session_id": "s2"}),
           ("add_to_cart", "05:01", {"session_id": "s2", "price": 3.0})],
    "u2": [("view_item", "02:00", {"session_id": "s3"}),
           ("add_to_cart", "D+1 10:00", {"session_id": "s4", "price": 5.0}),
           ("purchase", "D+1 10:01", {"session_id": "s4", "price": 5.0, "order_id": "o2"})],
})


def test_headline_numbers_by_hand():
    m = overview_metrics(EV)
    assert (m.events, m.users, m.sessions, m.orders) == (8, 2, 4, 2)
    assert m.revenue == pytest.approx(25.0)  # 2*10 + 1*5 (quantity null -> 1)
    assert m.conversion_rate == pytest.approx(2 / 4)  # s1, s4 of 4 sessions
    assert m.cart_abandonment_rate == pytest.approx(1 / 3)  # carts s1, s2, s4; s2 abandoned
    assert m.average_order_value == pytest.approx(12.5)


def test_purchase_before_cart_does_not_save_the_cart():
    ev = make_events({"u": [("purchase", "00:00", {"session_id": "s", "order_id": "o"}),
                            ("add_to_cart", "00:05", {"session_id": "s"})]})
    m = overview_metrics(ev)
    assert m.cart_abandonment_rate == 1.0
    assert m.revenue is None  # no prices in the data: revenue unknown, not zero


def test_orders_fall_back_to_sessions_without_order_ids():
    ev = make_events({"u": [("purchase", "00:00", {"session_id": "a", "price": 1.0}),
                            ("purchase", "00:00", {"session_id": "a", "price": 2.0}),
                            ("purchase", "03:00", {"session_id": "b", "price": 4.0})]})
    m = overview_metrics(ev)
    assert m.orders == 2 and m.average_order_value == pytest.approx(3.5)


def test_empty_input_gives_a_reason():
    m = overview_metrics(EV.filter(pl.lit(False)))
    assert m.events == 0 and m.reason


def test_trend_mix_info_and_summary():
    t = daily_trend(EV)
    assert t["day"].to_list()[0].isoformat() == "2024-01-01"
    assert t["orders"].to_list() == [1, 1] and t["revenue"].to_list() == [20.0, 5.0]
    mix = event_mix(EV)
    assert mix["count"].sum() == 8 and mix["event_type"][0] == "view_item"
    info = dataset_info(EV)
    assert info.event_types == ("view_item", "add_to_cart", "purchase")
    assert info.users == 2
    page = summary_html(overview_metrics(EV), t, mix, dataset_name="<shop>")
    assert "&lt;shop&gt;" in page and "50.0%" in page and "plotly" in page.lower()
