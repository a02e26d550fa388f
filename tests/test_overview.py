import polars as pl
import pytest
from builders import make_events
from people_tables import assert_readable

from core import ParameterError, overview_metrics
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


# --------------------------------------------------------------------------------------------
# Trend grain, incomplete periods, comparison with the previous period, currency
# --------------------------------------------------------------------------------------------

from datetime import datetime, timedelta, timezone  # noqa: E402

from core.overview import (  # noqa: E402
    activity_trend,
    compare_with_previous,
    daily_trend_figure,
    detect_currency,
    headline_tiles,
    mix_people_table,
    trend_people_table,
)

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def three_hours():
    # REES46-like head: 00:00 to 02:40 -> 3 hourly periods, the last one covered to 02:40 only
    # hour 0: a, b (3 events); hour 1: a (1 event); hour 2: c (2 events)
    return make_events({
        "a": [("view_item", "00:00"), ("view_item", "00:20"), ("add_to_cart", "01:10")],
        "b": [("view_item", "00:30")],
        "c": [("view_item", "02:00"), ("purchase", "02:40", {"price": 9.5, "order_id": "o"})],
    })


def test_three_hours_of_data_trend_by_hour_with_whole_number_axes():
    t = activity_trend(three_hours())
    assert t["period"].to_list() == [T0 + timedelta(hours=h) for h in (0, 1, 2)]
    assert t["events"].to_list() == [3, 1, 2] and t["users"].to_list() == [2, 1, 1]
    # the data end at 02:40, before 03:00 - 1/24 h: the last hour is incomplete
    assert t["complete"].to_list() == [True, True, False]
    fig = daily_trend_figure(t, metric="users")
    assert fig.layout.title.text == "Hourly users"
    assert fig.layout.xaxis.title.text == "hour (UTC)" and fig.layout.yaxis.title.text == "users"
    # whole numbers only: ticks of 1 from 0 (never 0.5 or 5,066.5 users)
    assert fig.layout.yaxis.tickformat == ",d" and fig.layout.yaxis.dtick == 1
    solid, partial = fig.data
    assert list(solid.x) == [T0, T0 + timedelta(hours=1)]  # the trend line stops before it
    # the incomplete hour is a lone open marker, joined to nothing (no cliff)
    assert partial.name.startswith("incomplete") and partial.mode == "markers"
    assert list(partial.x) == [T0 + timedelta(hours=2)]


def test_a_last_partial_day_is_marked_not_drawn_as_a_cliff():
    # day 1 covered from 00:00 to 23:50; day 2 only until 02:00
    ev = make_events({"u": [("view_item", "00:00"), ("view_item", "12:00"),
                            ("view_item", "23:50"), ("view_item", "D+1 02:00")],
                      "v": [("view_item", "D+3 00:10")], "w": [("view_item", "D+3 23:30")]})
    t = activity_trend(ev)
    assert t["period"].to_list() == [T0, T0 + timedelta(days=1), T0 + timedelta(days=3)]
    # span 3 d 23.5 h -> daily; the last day ends 23:30 >= 24 h - 1 h: complete
    assert t["complete"].to_list() == [True, True, True]
    cut = ev.filter(pl.col("ts") < T0 + timedelta(days=3, hours=5))
    t = activity_trend(cut)
    assert t["complete"].to_list() == [True, True, False]
    # with a date filter, the filter's ends bound the periods instead of the events
    t = activity_trend(cut, start=T0, end=T0 + timedelta(days=4))
    assert t["complete"].to_list() == [True, True, True]
    with pytest.raises(ParameterError, match="grain"):
        activity_trend(ev, grain="month")
    weekly = activity_trend(ev, grain="week")
    assert weekly["period"].to_list() == [T0] and weekly["events"].to_list() == [6]


def test_change_against_the_previous_period_of_equal_length():
    # EV: day 1 (Jan 1) u1 s1, s2 and u2 s3; day 2 (Jan 2) u2 s4 -> compare day 2 with day 1
    cmp = compare_with_previous(EV, start=T0 + timedelta(days=1), end=T0 + timedelta(days=2))
    assert cmp.previous_start == T0
    assert (cmp.current.sessions, cmp.previous.sessions) == (1, 3)
    assert cmp.change("sessions") == pytest.approx((1 - 3) / 3)
    assert cmp.change("revenue") == pytest.approx((5 - 20) / 20)
    # rates change in points: day 2 1/1 sessions bought, day 1 1/3
    assert cmp.change("conversion_rate") == pytest.approx(1 - 1 / 3)
    assert cmp.label == "vs the previous day (2024-01-01)"
    tiles = {label: (value, delta) for label, value, delta, _ in headline_tiles(cmp, currency="EUR")}
    # the delta names what it compares with; its sign leads (Streamlit colours by it)
    assert tiles["Sessions"] == ("1", "-66.7% vs previous day")
    assert tiles["Revenue (EUR)"] == ("5.00", "-75.0% vs previous day")
    assert tiles["Conversion rate"] == ("100.0%", "+66.7 pp vs previous day")
    first = compare_with_previous(EV, start=T0, end=T0 + timedelta(days=1))
    assert first.previous.events == 0 and first.change("users") is None
    assert all(d is None for _, _, d, _ in headline_tiles(first))
    with pytest.raises(ParameterError, match="end after"):
        compare_with_previous(EV, start=T0, end=T0)


def test_currency_from_the_export():
    assert detect_currency(EV) == (None, ())  # no currency column: plain numbers
    one = EV.with_columns(pl.lit("eur").alias("currency"))
    assert detect_currency(one) == ("EUR", ("EUR",))
    ga4 = EV.with_columns(
        pl.when(pl.col("user_id") == "u1").then(pl.lit("USD")).otherwise(pl.lit("EUR"))
        .alias("ecommerce.currency"))
    assert detect_currency(ga4) == (None, ("EUR", "USD"))  # a mix is reported, not guessed


def test_tables_for_people_have_no_empty_cells():
    t = trend_people_table(activity_trend(EV, grain="day"), currency="EUR")
    assert t.columns[0] == "Period (UTC)" and "Revenue (EUR)" in t.columns
    assert t.frame["Revenue (EUR)"].to_list() == [20.0, 5.0]
    assert t.kinds["Revenue (EUR)"] == "money" and t.kinds["Sessions"] == "count"
    mix = mix_people_table(event_mix(EV))
    assert mix.kinds["Share"] == "percent"
    assert mix.frame["Share"].sum() == pytest.approx(1.0)  # fractions, shown as percentages
    for table in (t, mix):
        assert table.frame.null_count().sum_horizontal().item() == 0
        assert_readable(table)


@pytest.fixture(scope="module")
def sample():
    from core.store import SAMPLE_ID, DatasetStore

    return DatasetStore().scan(SAMPLE_ID).collect()


def test_headline_numbers_of_the_sample_by_hand(sample):
    m = overview_metrics(sample)
    assert m.users == sample["user_id"].n_unique()
    assert m.sessions == sample["session_id"].n_unique()
    buys = sample.filter(pl.col("event_type") == "purchase")
    assert m.orders == buys.select(
        pl.coalesce("order_id", pl.lit("session:") + pl.col("session_id")).n_unique()).item()
    assert m.revenue == pytest.approx(
        (buys["price"] * buys["quantity"].fill_null(1)).sum(), rel=1e-12)
    assert m.conversion_rate == pytest.approx(buys["session_id"].n_unique() / m.sessions)
    per = sample.group_by("session_id").agg(
        cart=pl.col("ts").filter(pl.col("event_type") == "add_to_cart").min(),
        buy=pl.col("ts").filter(pl.col("event_type") == "purchase").max())
    carts = per.filter(pl.col("cart").is_not_null())
    abandoned = carts.filter(pl.col("buy").is_null() | (pl.col("buy") < pl.col("cart"))).height
    assert m.cart_abandonment_rate == pytest.approx(abandoned / carts.height)
    assert m.average_order_value == pytest.approx(m.revenue / m.orders)
    # the last 30 days against the 30 before, counted directly
    end = m.last + timedelta(microseconds=1)
    start = end - timedelta(days=30)
    cmp = compare_with_previous(sample, start=start, end=end)
    now = sample.filter(pl.col("ts") >= start)
    before = sample.filter((pl.col("ts") >= start - timedelta(days=30)) & (pl.col("ts") < start))
    assert cmp.current.sessions == now["session_id"].n_unique()
    assert cmp.previous.sessions == before["session_id"].n_unique()
    assert cmp.change("users") == pytest.approx(
        now["user_id"].n_unique() / before["user_id"].n_unique() - 1)
    # the sample spans 90 days: a daily trend whose counts add up to the total
    t = activity_trend(sample)
    assert (t["period"][1] - t["period"][0]) == timedelta(days=1)
    assert t["events"].sum() == sample.height


def test_trend_against_the_previous_30_days_of_the_sample_by_hand(sample):
    # the last 30 whole days against the 30 before, day by day, counted directly
    last_day = sample["ts"].max().replace(hour=0, minute=0, second=0, microsecond=0)
    end = last_day + timedelta(days=1)
    start = end - timedelta(days=30)
    now = sample.filter(pl.col("ts") >= start)
    t = activity_trend(now, grain="day", start=start, end=end, against="previous",
                       earlier_events=sample)
    assert t.height == 30
    assert (t["period"] - t["previous_start"]).unique().to_list() == [timedelta(days=30)]
    per_day = sample.group_by(pl.col("ts").dt.truncate("1d").alias("p")).agg(
        pl.col("user_id").n_unique().alias("users"), pl.len().alias("events"))
    users = dict(zip(per_day["p"].to_list(), per_day["users"].to_list(), strict=True))
    events = dict(zip(per_day["p"].to_list(), per_day["events"].to_list(), strict=True))
    assert t["previous_users"].to_list() == [users[p] for p in t["previous_start"]]
    assert t["previous_events"].to_list() == [events[p] for p in t["previous_start"]]
    assert t["users"].to_list() == [users[p] for p in t["period"]]
    assert t["previous_complete"].all()
