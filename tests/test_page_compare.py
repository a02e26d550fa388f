"""AppTest: period comparison on the Overview and Funnels pages (issue 18).

Every number the pages show against an earlier period is checked against Polars or the core
functions run directly on the same windows of the bundled sample (90 days, 2026-06-01 to
2026-08-30), and of a shop built from it that spans a year, so that "a year earlier" has data.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from functools import cache

import polars as pl
import pytest
from apptest import ROOT, run_page
from streamlit.testing.v1 import AppTest

from core import ParameterError, compute_funnel
from core.cohorts.sources import funnel_conversion_members, funnel_dropoff_members
from core.compare import add_earlier_conversion, align_earlier, comparison_window
from core.filters import FilterParams
from core.funnels import FunnelParams, conversion_by_attempt, dropped_off
from core.funnels.figures import conversion_over_time_figure
from core.store import SAMPLE_ID, DatasetStore

UTC = timezone.utc
RANGE = {"from": "2026-07-31", "to": "2026-08-29"}  # 30 days
NOW = (datetime(2026, 7, 31, tzinfo=UTC), datetime(2026, 8, 30, tzinfo=UTC))
PREVIOUS = (datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 7, 31, tzinfo=UTC))
YEAR = (datetime(2025, 7, 31, tzinfo=UTC), datetime(2025, 8, 30, tzinfo=UTC))
STEPS = ["view_item", "add_to_cart", "begin_checkout", "purchase"]


@cache
def sample() -> pl.DataFrame:
    return DatasetStore().scan(SAMPLE_ID).collect()


@cache
def two_year_shop() -> str:
    """The sample from 2026-07-20 on, plus a year-earlier copy (365 days back: 2026 and 2025
    have no 29 February) of its users whose id ends in 0-6, under other ids: a year earlier
    has fewer users, so every change is non-zero."""
    now = sample().filter(pl.col("ts") >= datetime(2026, 7, 20, tzinfo=UTC))
    before = now.filter(pl.col("user_id").str.slice(-1).is_in(list("0123456"))).with_columns(
        pl.col("ts") - timedelta(days=365),
        ("y" + pl.col("user_id")).alias("user_id"),
        ("y" + pl.col("session_id")).alias("session_id"),
        ("y" + pl.col("order_id")).alias("order_id"),
    )
    return DatasetStore().put(pl.concat([before, now]), name="two-year-shop.csv")


def headline(events: pl.DataFrame, lo: datetime, hi: datetime) -> dict[str, float]:
    """The tiles' numbers by hand: distinct users, sessions, orders (order id, else the
    session of a purchase); revenue = price x quantity over purchases; conversion = sessions
    with a purchase / sessions."""
    w = events.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi))
    buy = w.filter(pl.col("event_type") == "purchase")
    sessions = w["session_id"].n_unique()
    return {
        "Users": w["user_id"].n_unique(),
        "Sessions": sessions,
        "Orders": buy.select(pl.coalesce("order_id", "session:" + pl.col("session_id"))
                             .n_unique()).item(),
        "Revenue": buy.select((pl.col("price") * pl.col("quantity").fill_null(1)).sum()).item(),
        "Conversion rate": buy["session_id"].n_unique() / sessions,
    }


def tile(at, label: str):
    return next(m for m in at.metric if m.label == label).proto


def url(at, key: str) -> list[str]:
    """The values of ``key`` in the page's URL (AppTest keeps one value as a bare string)."""
    v = at.query_params.get(key, [])
    return [v] if isinstance(v, str) else list(v)


def expected_delta(name: str, now: float, before: float, short: str) -> str:
    if name.endswith("rate"):
        return f"{100 * (now - before):+.1f} pp {short}"
    return f"{(now - before) / before:+.1%} {short}"


# --- Overview ---------------------------------------------------------------------------------


def test_overview_tiles_against_the_previous_30_days_equal_polars():
    at = run_page("overview", **RANGE)  # "previous period" is the default
    now, before = headline(sample(), *NOW), headline(sample(), *PREVIOUS)
    for label in now:
        t = tile(at, label)
        assert t.delta == expected_delta(label, now[label], before[label], "vs previous 30 days")
    # the earlier value and its dates are in the help
    assert tile(at, "Users").help == (f"{before['Users']:,} in the earlier period, the previous "
                                      "30 days (2026-07-01 – 2026-07-30).")
    assert f"{100 * before['Conversion rate']:.1f}% in the earlier period" in tile(
        at, "Conversion rate").help
    assert any(c.value == "Tiles: 2026-07-31 – 2026-08-29 (UTC); changes vs the previous 30 days "
               "(2026-07-01 – 2026-07-30)." for c in at.caption)


def test_overview_trend_overlays_the_previous_30_days_day_by_day():
    at = run_page("overview", **RANGE)
    spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if json.loads(c.proto.spec)["layout"]["title"]["text"] == "Daily sessions")
    line = next(t for t in spec["data"]
                if t["name"] == "the previous 30 days (2026-07-01 – 2026-07-30)")
    assert line["line"]["dash"] == "dash"
    july = (sample().filter((pl.col("ts") >= PREVIOUS[0]) & (pl.col("ts") < PREVIOUS[1]))
            .group_by(pl.col("ts").dt.truncate("1d").alias("day"))
            .agg(pl.col("session_id").n_unique()).sort("day"))
    # July 1 is drawn at July 31, July 30 at August 29
    assert line["y"] == july["session_id"].to_list()
    assert line["x"][0].startswith("2026-07-31") and line["x"][-1].startswith("2026-08-29")


def test_overview_a_year_earlier_equals_polars_on_a_shop_that_spans_the_year():
    ds = two_year_shop()
    events = DatasetStore().scan(ds).collect()
    at = run_page("overview", dataset=ds, **RANGE, **{"overview.compare": "year"})
    now, before = headline(events, *NOW), headline(events, *YEAR)
    assert before["Users"] < now["Users"]  # the copy holds 70% of the users
    for label in now:
        assert tile(at, label).delta == expected_delta(label, now[label], before[label],
                                                       "vs a year earlier")
    assert tile(at, "Sessions").help == (
        f"{before['Sessions']:,} in the earlier period, the same dates a year earlier "
        "(2025-07-31 – 2025-08-29).")


def test_overview_says_why_when_the_earlier_period_is_not_covered():
    # a year earlier: the sample starts 2026-06-01, nothing from 2025
    at = run_page("overview", **RANGE, **{"overview.compare": "year"})
    note = "No comparison: the data hold nothing from 2025-07-31 – 2025-08-29."
    assert not tile(at, "Users").delta and tile(at, "Users").help == note
    assert any(note in c.value for c in at.caption)
    # previous 20 days of 2026-06-10 .. 06-29: 2026-05-21 .. 06-09, of which the data hold
    # 06-01 .. 06-09 (9 days, 45%): a change would compare 9 days with 20
    at = run_page("overview", **{"from": "2026-06-10", "to": "2026-06-29"})
    assert not tile(at, "Orders").delta
    assert "cover only 9 days of the 20 days of 2026-05-21 – 2026-06-09 (45%)" in tile(
        at, "Orders").help


def test_overview_compare_choice_lives_in_the_url():
    at = run_page("overview", **RANGE, **{"overview.compare": "year"})
    control = at.segmented_control(key="overview.compare")
    assert control.value == "year"
    control.set_value("none").run()
    assert not at.exception
    assert url(at, "overview.compare") == ["none"]
    assert all(not m.proto.delta for m in at.metric)
    assert any(c.value == "Tiles: 2026-07-31 – 2026-08-29 (UTC)." for c in at.caption)
    at.segmented_control(key="overview.compare").set_value("previous").run()
    assert "overview.compare" not in at.query_params  # the default stays out of the link
    assert tile(at, "Users").delta.endswith("vs previous 30 days")
    # a value that is not a choice is left out: the default applies
    at = run_page("overview", **RANGE, **{"overview.compare": "lastweek"})
    assert at.segmented_control(key="overview.compare").value == "previous"



@pytest.mark.parametrize(("page", "key"), [("overview", "overview.compare"),
                                           ("funnels", "funnel.compare")])
def test_an_unknown_compare_value_in_a_link_is_named_through_the_app(page, key):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.switch_page(f"pages/{page}.py")
    at.query_params[key] = "lastweek"
    at.run()
    assert not at.exception, at.exception
    assert f"`{key}=lastweek`" in " ".join(w.value for w in at.warning)
    # a value equal to the default is used, not reported
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.switch_page(f"pages/{page}.py")
    at.query_params[key] = "previous" if page == "overview" else "none"
    at.run()
    assert "could not be used" not in " ".join(w.value for w in at.warning)

# --- Funnels ----------------------------------------------------------------------------------


def _window_events(lo: datetime, hi: datetime) -> pl.DataFrame:
    return sample().filter((pl.col("ts") >= lo) & (pl.col("ts") < hi))


def test_funnel_conversion_against_the_previous_period_equals_compute_funnel():
    at = run_page("funnels", **RANGE, **{"funnel.compare": "previous"})
    now = compute_funnel(_window_events(*NOW), STEPS, window=timedelta(days=1))
    before = compute_funnel(_window_events(*PREVIOUS), STEPS, window=timedelta(days=1))
    a = now.steps["conversion_from_first"][-1]
    b = before.steps["conversion_from_first"][-1]
    t = tile(at, "Conversion")
    assert t.delta == f"{100 * (a - b):+.1f} pp vs previous 30 days"
    assert (f"{100 * b:.1f}% in the earlier period, the previous 30 days (2026-07-01 – "
            f"2026-07-30) ({before.steps['entities'][-1]:,} of {before.entered:,} users)"
            in t.help)
    # the trend's dashed line: attempts of each July day, drawn at the day 30 days later
    spec = next(s for s in (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
                if "Conversion of the attempts" in s["layout"].get("title", {}).get("text", ""))
    lines = [t for t in spec["data"] if str(t.get("name", "")).startswith("the previous 30 days")]
    assert lines and lines[0]["line"]["dash"] == "dash"
    july = conversion_by_attempt(_window_events(*PREVIOUS), before.params, interval="day")
    by_day = dict(zip(july["period"].dt.strftime("%Y-%m-%d").to_list(),
                      july["conversion"].to_list(), strict=True))
    for line in lines:
        for custom, y in zip(line["customdata"], line["y"], strict=True):
            assert y == pytest.approx(100 * by_day[custom[0]])


def test_funnel_count_tiles_against_the_previous_period_equal_compute_funnel():
    at = run_page("funnels", **RANGE, **{"funnel.compare": "previous"})
    now = compute_funnel(_window_events(*NOW), STEPS, window=timedelta(days=1))
    before = compute_funnel(_window_events(*PREVIOUS), STEPS, window=timedelta(days=1))
    short = "vs previous 30 days"
    for label, a, b in (("Entered (users)", now.entered, before.entered),
                        ("Converted (users)", now.steps["entities"][-1],
                         before.steps["entities"][-1])):
        t = tile(at, label)
        assert t.body == f"{a:,}"
        assert t.delta == expected_delta(label, a, b, short)
        assert f"{b:,} in the earlier period, the previous 30 days (2026-07-01 – 2026-07-30)" in t.help
    # no exclusion step: 0 excluded then and now, and no percentage of nothing
    t = tile(at, "Excluded")
    assert t.body == "0" and not t.delta and "No change in percent from 0" in t.help


def test_funnel_trend_numbers_hold_the_earlier_period_beside_each_day():
    at = run_page("funnels", **RANGE, **{"funnel.compare": "previous"})
    table = next(df.value for df in at.dataframe if "Earlier conversion" in df.value.columns)
    before = compute_funnel(_window_events(*PREVIOUS), STEPS, window=timedelta(days=1))
    july = conversion_by_attempt(_window_events(*PREVIOUS), before.params, interval="day")
    by_day = {d: (c, n) for d, c, n in zip(july["period"].dt.strftime("%Y-%m-%d").to_list(),
                                           july["conversion"].to_list(),
                                           july["entered"].to_list(), strict=True)}
    rows = table.to_dict("records")
    assert len(rows) == 30 and rows[0]["Period (UTC)"] == "2026-07-31"
    for row in rows:  # each day of August beside the day 30 days earlier
        day = date.fromisoformat(row["Period (UTC)"])
        assert row["Earlier period (UTC)"] == (day - timedelta(days=30)).isoformat()
        conversion, entered = by_day[row["Earlier period (UTC)"]]
        assert row["Earlier conversion"] == pytest.approx(conversion)
        assert row["Earlier entered"] == entered


def test_funnel_compare_choice_lives_in_the_url_and_is_off_by_default():
    at = run_page("funnels", **RANGE)
    assert at.segmented_control(key="funnel.compare").value == "none"
    assert not tile(at, "Conversion").delta
    at.segmented_control(key="funnel.compare").set_value("year").run()
    assert not at.exception
    assert url(at, "funnel.compare") == ["year"]
    # the sample holds nothing from 2025: no change, and the tile says why
    assert not tile(at, "Conversion").delta
    assert "the data hold nothing from 2025-07-31 – 2025-08-29" in tile(at, "Conversion").help
    at = run_page("funnels", **RANGE, **{"funnel.compare": "year"})
    assert at.segmented_control(key="funnel.compare").value == "year"


def test_funnel_without_a_date_range_asks_for_one():
    at = run_page("funnels", **{"funnel.compare": "previous"})
    assert not tile(at, "Conversion").delta
    assert "Pick a date range in the sidebar to compare" in tile(at, "Conversion").help


# --- the figure helper ------------------------------------------------------------------------


def test_add_earlier_conversion_draws_what_align_earlier_gives():
    ev = _window_events(datetime(2026, 7, 1, tzinfo=UTC), NOW[1])
    w = comparison_window(*NOW, against="previous", events=ev)
    params = FunnelParams(steps=("view_item", "purchase"), window=timedelta(days=1))
    now = conversion_by_attempt(ev.filter(w.current_filter()), params, interval="week")
    earlier = align_earlier(conversion_by_attempt(ev.filter(w.earlier_filter(grain="week")),
                                                  params, interval="week"), w, grain="week")
    fig = add_earlier_conversion(conversion_over_time_figure(now, interval="week"), earlier, w,
                                 grain="week")
    drawn = [t for t in fig.data if t.name and t.name.startswith("the previous 30 days")]
    points = sorted((x, y) for t in drawn for x, y in zip(t.x, t.y, strict=True))
    expected = sorted((p, 100 * c) for p, c in earlier.select("period", "previous_conversion")
                      .drop_nulls().iter_rows())
    assert points == [(p, pytest.approx(y)) for p, y in expected]
    # a frame without the comparison columns is refused with their names
    with pytest.raises(ParameterError, match="previous_conversion"):
        add_earlier_conversion(conversion_over_time_figure(now), now, w, grain="week")


# --- saving a funnel step's users as a cohort -------------------------------------------------


@pytest.fixture
def sample_cohorts():
    """Cohorts saved on the sample here are deleted after the test (the other page tests open
    the sample without cohorts)."""
    from ui.data import saved_cohorts

    yield
    store = DatasetStore()
    for c in store.cohorts(SAMPLE_ID):
        store.delete_cohort(SAMPLE_ID, c.id)
    saved_cohorts.clear()


def _saved(name: str):
    store = DatasetStore()
    cohort = next(c for c in store.cohorts(SAMPLE_ID) if c.name == name)
    return cohort, store.cohort_members(SAMPLE_ID, cohort.id)


def test_saved_drop_off_cohort_equals_the_core_members(sample_cohorts):
    at = run_page("funnels", **RANGE, **{"funnel.drop_step": "3"})
    at.text_input(key="funnel.cohort_dropoff.name").set_value("Left before checkout (test)")
    at.button(key="funnel.cohort_dropoff.save").click().run()
    assert not at.exception and at.success, [e.value for e in at.error]
    cohort, members = _saved("Left before checkout (test)")
    result = compute_funnel(_window_events(*NOW), STEPS, window=timedelta(days=1))
    expected = funnel_dropoff_members(
        result, 3, filters=FilterParams(date(2026, 7, 31), date(2026, 8, 29)))
    assert members.to_list() == expected.members.to_list()
    assert members.len() == dropped_off(result, 3).height > 0  # counted by user: one each
    assert cohort.source == "funnel_dropoff" and cohort.definition == expected.definition
    assert "dropped off after step 2 (add_to_cart), before step 3" in cohort.definition


def test_saved_conversion_cohort_of_a_session_funnel_holds_the_users_of_those_sessions(
        sample_cohorts):
    at = run_page("funnels", **{"funnel.count_by": "session_id", "funnel.reach_step": "3"})
    at.text_input(key="funnel.cohort_conversion.name").set_value("Reached checkout (test)")
    at.button(key="funnel.cohort_conversion.save").click().run()
    assert not at.exception and at.success, [e.value for e in at.error]
    cohort, members = _saved("Reached checkout (test)")
    result = compute_funnel(sample(), STEPS, window=timedelta(days=1), count_by="session_id")
    expected = funnel_conversion_members(result, 3, events=sample())
    assert members.to_list() == expected.members.to_list()
    assert cohort.source == "funnel_conversion" and cohort.definition == expected.definition
    # fewer users than sessions that reached step 3: a user with two such sessions counts once
    reached = result.steps["entities"][2]
    assert 0 < members.len() < reached
    assert any(f"{reached:,} sessions reached step 3 (begin_checkout)" in c.value
               for c in at.caption)
