"""Period comparison (issue 18): the earlier window, its coverage, tiles and trends against it."""

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest
from builders import make_events
from hypothesis import given, settings
from hypothesis import strategies as st

from core import ParameterError, compute_funnel, conversion_over_time
from core.compare import (
    align_earlier,
    comparison_window,
    counterpart_periods,
    year_earlier,
)
from core.fmt import GRAINS
from core.overview import activity_trend, compare_periods, daily_trend_figure, headline_tiles

UTC = timezone.utc


def d(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# The windows, by hand
# --------------------------------------------------------------------------------------------


def test_previous_window_of_a_month_has_the_same_length_just_before():
    # January 2024: 31 days -> 2023-12-01 .. 2023-12-31
    w = comparison_window(d(2024, 1, 1), d(2024, 2, 1), against="previous")
    assert (w.earlier_start, w.earlier_end) == (d(2023, 12, 1), d(2024, 1, 1))
    assert w.label == "vs the previous 31 days (2023-12-01 – 2023-12-31)"
    assert w.short_label == "vs previous 31 days"
    # February 2024: 29 days -> Feb 1 - 29 days = Jan 3 .. Jan 31
    w = comparison_window(d(2024, 2, 1), d(2024, 3, 1), against="previous")
    assert (w.earlier_start, w.earlier_end) == (d(2024, 1, 3), d(2024, 2, 1))
    assert w.label == "vs the previous 29 days (2024-01-03 – 2024-01-31)"
    # February 2023: 28 days -> Jan 4 .. Jan 31
    w = comparison_window(d(2023, 2, 1), d(2023, 3, 1), against="previous")
    assert w.earlier_start == d(2023, 1, 4)


def test_previous_window_crossing_a_year_boundary_and_of_hours():
    # 2023-12-20 .. 2024-01-09 is 21 days -> 2023-11-29 .. 2023-12-19
    w = comparison_window(d(2023, 12, 20), d(2024, 1, 10), against="previous")
    assert (w.earlier_start, w.earlier_end) == (d(2023, 11, 29), d(2023, 12, 20))
    assert w.label == "vs the previous 21 days (2023-11-29 – 2023-12-19)"
    # 10:30 .. 12:00 -> 09:00 .. 10:30, not whole days: both instants shown
    w = comparison_window(d(2024, 1, 1, 10, 30), d(2024, 1, 1, 12), against="previous")
    assert w.label == "vs the previous 90 minutes (2024-01-01 09:00 – 2024-01-01 10:30)"
    w = comparison_window(d(2024, 1, 2), d(2024, 1, 3), against="previous")
    assert w.label == "vs the previous day (2024-01-01)" and w.short_label == "vs previous day"


def test_same_dates_a_year_earlier():
    w = comparison_window(d(2024, 1, 1), d(2024, 2, 1), against="year")
    assert (w.earlier_start, w.earlier_end) == (d(2023, 1, 1), d(2023, 2, 1))
    assert w.label == "vs the same dates a year earlier (2023-01-01 – 2023-01-31)"
    assert w.short_label == "vs a year earlier"
    # across New Year: 2023-12-25 .. 2024-01-07 -> 2022-12-25 .. 2023-01-07
    w = comparison_window(d(2023, 12, 25), d(2024, 1, 8), against="year")
    assert (w.earlier_start, w.earlier_end) == (d(2022, 12, 25), d(2023, 1, 8))


def test_leap_day_moves_to_february_28():
    assert year_earlier(d(2024, 2, 29, 10, 15)) == d(2023, 2, 28, 10, 15)
    # the leap day alone -> 28 February 2023
    w = comparison_window(d(2024, 2, 29), d(2024, 3, 1), against="year")
    assert (w.earlier_start, w.earlier_end) == (d(2023, 2, 28), d(2023, 3, 1))
    assert w.label == "vs the same dates a year earlier (2023-02-28)"
    # February 2024 (29 days) -> February 2023 (28 days): a day shorter
    w = comparison_window(d(2024, 2, 1), d(2024, 3, 1), against="year")
    assert (w.earlier_start, w.earlier_end) == (d(2023, 2, 1), d(2023, 3, 1))
    # 1 .. 28 February 2024 ends at the leap day (exclusive): its last day, 28 February, moves
    # to 28 February 2023, so the earlier window ends at 1 March, not on 28 February
    w = comparison_window(d(2024, 2, 1), d(2024, 2, 29), against="year")
    assert (w.earlier_start, w.earlier_end) == (d(2023, 2, 1), d(2023, 3, 1))
    # 28 February 2025 -> 28 February 2024 only (the leap day after it is not a same date)
    w = comparison_window(d(2025, 2, 28), d(2025, 3, 1), against="year")
    assert (w.earlier_start, w.earlier_end) == (d(2024, 2, 28), d(2024, 2, 29))
    # half a day ending at noon on the leap day -> ends at noon on 28 February
    w = comparison_window(d(2024, 2, 29), d(2024, 2, 29, 12), against="year")
    assert (w.earlier_start, w.earlier_end) == (d(2023, 2, 28), d(2023, 2, 28, 12))


def test_a_window_longer_than_a_year_stops_the_year_earlier_one_at_its_start():
    w = comparison_window(d(2023, 1, 1), d(2024, 7, 1), against="year")
    assert (w.earlier_start, w.earlier_end) == (d(2022, 1, 1), d(2023, 1, 1))


def test_bad_parameters_are_named():
    with pytest.raises(ParameterError, match=r"`against`.*'previous', 'year'.*'month'"):
        comparison_window(d(2024, 1, 1), d(2024, 2, 1), against="month")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="end after"):
        comparison_window(d(2024, 1, 1), d(2024, 1, 1), against="previous")
    with pytest.raises(ParameterError, match="time zone"):
        comparison_window(datetime(2024, 1, 1), d(2024, 2, 1), against="previous")
    w = comparison_window(d(2024, 1, 1), d(2024, 2, 1), against="previous")
    with pytest.raises(ParameterError, match="grain"):
        counterpart_periods(w, grain="month")


# --------------------------------------------------------------------------------------------
# Coverage
# --------------------------------------------------------------------------------------------


def test_coverage_full_partial_none_unknown():
    jan = (d(2024, 1, 1), d(2024, 2, 1))  # earlier window: 2023-12-01 .. 2023-12-31
    w = comparison_window(*jan, against="previous", span=(d(2023, 11, 5), d(2024, 1, 20)))
    assert w.coverage == "full" and w.comparable and w.coverage_note == ""
    # data from 2023-12-22: 10 of the 31 days (22nd .. 31st)
    w = comparison_window(*jan, against="previous", span=(d(2023, 12, 22), d(2024, 1, 20)))
    assert w.coverage == "partial" and not w.comparable
    assert w.covered == timedelta(days=10)
    assert w.covered_share == pytest.approx(10 / 31)
    assert "cover only 10 days of the 31 days of 2023-12-01 – 2023-12-31 (32%)" in w.coverage_note
    # data only from the current window: nothing of the earlier one
    w = comparison_window(*jan, against="previous", span=(d(2024, 1, 1), d(2024, 1, 20)))
    assert w.coverage == "none" and w.covered_share == 0.0
    assert "nothing from 2023-12-01 – 2023-12-31" in w.coverage_note
    # data that end before the earlier window ends (a year-earlier window in a short export)
    w = comparison_window(*jan, against="year", span=(d(2022, 12, 1), d(2023, 1, 15)))
    assert w.coverage == "partial" and w.covered == timedelta(days=14, hours=1)
    assert comparison_window(*jan, against="previous").coverage == "unknown"
    empty = make_events({"u": [("view_item", "00:00")]}).clear()
    assert comparison_window(*jan, against="previous", events=empty).coverage == "none"


def test_coverage_tolerates_a_start_within_the_hour():
    jan = (d(2024, 1, 1), d(2024, 2, 1))
    # tolerance min(31 days / 24, 1 hour) = 1 hour
    w = comparison_window(*jan, against="previous", span=(d(2023, 12, 1, 0, 30), d(2024, 1, 5)))
    assert w.coverage == "full"
    w = comparison_window(*jan, against="previous", span=(d(2023, 12, 1, 2), d(2024, 1, 5)))
    assert w.coverage == "partial"


# --------------------------------------------------------------------------------------------
# Tiles
# --------------------------------------------------------------------------------------------


def two_januaries() -> pl.DataFrame:
    # January 2023 and January 2024 (days written from 2024-01-01 = D+0; 2023-01-01 = D-365)
    return make_events({
        "a": [("view_item", d(2023, 1, 3, 10), {"session_id": "a1"}),
              ("purchase", d(2023, 1, 3, 10, 5), {"session_id": "a1", "price": 40.0,
                                                   "order_id": "o1"}),
              ("view_item", d(2024, 1, 4, 9), {"session_id": "a2"}),
              ("purchase", d(2024, 1, 4, 9, 1), {"session_id": "a2", "price": 10.0,
                                                  "order_id": "o2"})],
        "b": [("view_item", d(2023, 1, 20, 8), {"session_id": "b1"}),
              ("view_item", d(2024, 1, 20, 8), {"session_id": "b2"}),
              ("view_item", d(2024, 1, 31, 23), {"session_id": "b3"})],
        "c": [("view_item", d(2022, 12, 31, 12), {"session_id": "c0"}),
              ("view_item", d(2024, 1, 2, 8), {"session_id": "c1"})],
        "e": [("view_item", d(2024, 2, 1, 0, 30), {"session_id": "e1"})],
    })


def test_tiles_against_the_same_dates_a_year_earlier_equal_a_direct_count():
    ev = two_januaries()
    cmp = compare_periods(ev, start=d(2024, 1, 1), end=d(2024, 2, 1), against="year")
    assert cmp.window is not None and cmp.window.coverage == "full"
    ts = pl.col("ts")
    now = ev.filter((ts >= d(2024, 1, 1)) & (ts < d(2024, 2, 1)))
    before = ev.filter((ts >= d(2023, 1, 1)) & (ts < d(2023, 2, 1)))
    assert (cmp.current.sessions, cmp.previous.sessions) == (
        now["session_id"].n_unique(), before["session_id"].n_unique()) == (4, 2)
    assert (cmp.current.users, cmp.previous.users) == (3, 2)
    assert cmp.change("users") == pytest.approx(3 / 2 - 1)
    assert cmp.change("revenue") == pytest.approx(10 / 40 - 1)
    # conversion: 1 of 4 sessions now, 1 of 2 then -> -25 points
    assert cmp.change("conversion_rate") == pytest.approx(1 / 4 - 1 / 2)
    assert cmp.label == "vs the same dates a year earlier (2023-01-01 – 2023-01-31)"
    tiles = {t[0]: t for t in headline_tiles(cmp)}
    assert tiles["Users"][2] == "+50.0% vs a year earlier"
    assert tiles["Revenue"][2] == "-75.0% vs a year earlier"
    assert tiles["Conversion rate"][2] == "-25.0 pp vs a year earlier"
    assert tiles["Users"][3].endswith("Change vs the same dates a year earlier "
                                      "(2023-01-01 – 2023-01-31).")


def test_tiles_against_a_partly_covered_window_show_no_change_and_say_why():
    ev = two_januaries()
    # February 2024 against January 2024 (previous 29 days: Jan 3 .. Jan 31) is full ...
    full = compare_periods(ev, start=d(2024, 2, 1), end=d(2024, 3, 1))
    assert full.comparable and full.change("events") is not None
    # ... but the data start 2022-12-31 12:00, so a year before January 2023 is only partly
    # covered (0.5 of 31 days): a change would compare 12 hours with a month
    part = compare_periods(ev, start=d(2023, 1, 1), end=d(2023, 2, 1), against="previous")
    assert part.previous.events == 1 and not part.comparable
    assert part.change("events") is None
    assert all(delta is None for _, _, delta, _ in headline_tiles(part))
    assert "cover only" in part.note and "(2%)" in part.note
    assert all(part.note in help_ for _, _, _, help_ in headline_tiles(part))
    nothing = compare_periods(ev, start=d(2022, 12, 31), end=d(2023, 1, 1), against="year")
    assert nothing.window.coverage == "none" and "nothing from 2021-12-31" in nothing.note


# --------------------------------------------------------------------------------------------
# Trends
# --------------------------------------------------------------------------------------------


def test_daily_trend_against_a_year_earlier_equals_a_direct_count():
    ev = two_januaries()
    start, end = d(2024, 1, 1), d(2024, 2, 1)
    now = ev.filter(pl.col("ts") < end)
    t = activity_trend(now.filter(pl.col("ts") >= start), grain="day", start=start, end=end,
                       against="year", earlier_events=now)
    # one row per day of January 2024, days without events count zero
    assert t.height == 31
    assert t["period"].to_list() == [start + timedelta(days=i) for i in range(31)]
    assert t["previous_start"].to_list() == [d(2023, 1, 1) + timedelta(days=i) for i in range(31)]
    direct = (now.group_by(pl.col("ts").dt.truncate("1d").alias("p"))
              .agg(pl.col("session_id").n_unique().alias("s")))
    by_day = dict(zip(direct["p"].to_list(), direct["s"].to_list(), strict=True))
    assert t["sessions"].to_list() == [by_day.get(p, 0) for p in t["period"]]
    assert t["previous_sessions"].to_list() == [by_day.get(p, 0) for p in t["previous_start"]]
    assert t["previous_sessions"].sum() == 2 and t["previous_revenue"].sum() == 40.0
    assert t["previous_complete"].all() and t["complete"].all()


def test_incomplete_periods_stay_marked_and_uncovered_ones_stay_empty():
    ev = two_januaries()
    # with no date range the window runs from the first event (2024-01-20 08:00) to just
    # after the last (2024-02-01 00:30): both ends are incomplete current days, while the
    # earlier days (2023-01-20 .. 2023-02-01) are counted whole and complete
    t = activity_trend(ev.filter(pl.col("ts") >= d(2024, 1, 20)), grain="day",
                       against="year", earlier_events=ev)
    assert t["period"].to_list() == [d(2024, 1, 20) + timedelta(days=i) for i in range(13)]
    assert t["complete"].to_list() == [False] + [True] * 11 + [False]
    assert t["previous_complete"].all()
    assert t["previous_events"].to_list() == [1] + [0] * 12  # 2023-01-20 08:00: b's view
    # against the previous period: the data (from 2022-12-31 12:00) cover none of the days
    # before it -> null (a gap, not a zero) and not complete
    t = activity_trend(ev, grain="week", start=d(2023, 1, 2), end=d(2023, 1, 9),
                       against="previous", earlier_events=ev.filter(pl.col("ts") >= d(2023, 1, 1)))
    assert t["previous_start"].to_list() == [d(2022, 12, 26)]
    assert t["previous_events"].to_list() == [None] and t["previous_complete"].to_list() == [False]


def test_the_leap_day_is_compared_with_february_28():
    ev = make_events({"u": [("view_item", d(2023, 2, 28, 9)), ("view_item", d(2023, 2, 28, 10)),
                            ("view_item", d(2023, 3, 1, 9)), ("view_item", d(2024, 2, 28, 9)),
                            ("view_item", d(2024, 2, 29, 9)), ("view_item", d(2024, 3, 1, 9))]})
    t = activity_trend(ev, grain="day", start=d(2024, 2, 28), end=d(2024, 3, 2), against="year")
    assert t["previous_start"].to_list() == [d(2023, 2, 28), d(2023, 2, 28), d(2023, 3, 1)]
    assert t["events"].to_list() == [1, 1, 1]
    assert t["previous_events"].to_list() == [2, 2, 1]


def test_the_figure_draws_the_earlier_window_dashed_grey():
    ev = two_januaries()
    start, end = d(2024, 1, 1), d(2024, 2, 1)
    t = activity_trend(ev, grain="day", start=start, end=end, against="year")
    w = comparison_window(start, end, against="year", events=ev)
    fig = daily_trend_figure(t, metric="sessions", comparison=w)
    dashed = [tr for tr in fig.data if tr.line.dash == "dash"]
    assert len(dashed) == 1
    (line,) = dashed
    assert line.line.color == "#9e9e9e" and line.name.startswith("the same dates a year earlier")
    assert line.hovertemplate.startswith("same day last year (%{customdata}): %{y:,} sessions")
    assert list(line.customdata)[:2] == ["2023-01-01", "2023-01-02"]
    assert list(line.x) == t["period"].to_list()
    assert list(line.y) == t["previous_sessions"].to_list()
    # without the comparison columns: no dashed trace
    plain = daily_trend_figure(activity_trend(ev, grain="day"), metric="sessions")
    assert not [tr for tr in plain.data if tr.line.dash == "dash"]


def test_align_earlier_on_a_funnel_conversion_trend():
    # week 2 (Jan 8 .. Jan 14) against week 1 (Jan 1 .. Jan 7), view -> purchase within 1 day
    ev = make_events({
        "a": [("view_item", "00:00"), ("purchase", "00:10")],          # Jan 1: converts
        "b": [("view_item", "D+1 09:00")],                              # Jan 2: does not
        "c": [("view_item", "D+1 10:00"), ("purchase", "D+1 11:00")],  # Jan 2: converts
        "e": [("view_item", "D+8 10:00"), ("purchase", "D+8 12:00")],  # Jan 9 (current)
    })
    w = comparison_window(d(2024, 1, 8), d(2024, 1, 15), against="previous", events=ev)
    before = conversion_over_time(
        compute_funnel(ev.filter(w.earlier_filter()), ["view_item", "purchase"],
                       window=timedelta(days=1)), interval="day")
    aligned = align_earlier(before, w, grain="day")
    assert aligned.height == 7
    assert aligned["period"].to_list() == [d(2024, 1, 8) + timedelta(days=i) for i in range(7)]
    assert aligned["previous_start"].to_list() == [d(2024, 1, 1) + timedelta(days=i)
                                                   for i in range(7)]
    # direct: entrants per day of week 1 -> Jan 1: a (1 of 1), Jan 2: b, c (1 of 2)
    assert aligned["previous_entered"].to_list()[:3] == [1, 2, None]
    assert aligned["previous_converted"].to_list()[:2] == [1, 1]
    assert aligned["previous_conversion"].to_list()[:2] == [1.0, 0.5]
    assert aligned["previous_covered"].all()
    now = conversion_over_time(
        compute_funnel(ev.filter(w.current_filter()), ["view_item", "purchase"],
                       window=timedelta(days=1)), interval="day")
    both = now.join(aligned, on="period", how="left")
    # e entered on Jan 9, day 2 of the current week, against Jan 2 (b and c: 1 of 2)
    assert both.select("period", "conversion", "previous_conversion").rows() == [
        (d(2024, 1, 9), 1.0, 0.5)]
    with pytest.raises(ParameterError, match="`period`"):
        align_earlier(before, w, grain="day", period="day")


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2040, 12, 31),
                        timezones=st.just(UTC))
lengths = st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=800))


@settings(max_examples=150, deadline=None)
@given(start=instants, length=lengths, against=st.sampled_from(["previous", "year"]))
def test_the_earlier_window_never_overlaps_and_previous_has_the_same_length(start, length,
                                                                            against):
    end = start + length
    w = comparison_window(start, end, against=against)
    assert w.earlier_start < w.earlier_end <= w.start  # before the current window, not empty
    if against == "previous":
        assert w.earlier_end == start and w.earlier_length == length
    else:
        assert w.earlier_start == year_earlier(start)
        # a year earlier: at most a day (29 February) apart in length, unless clipped
        if w.earlier_end < start:
            assert abs(w.earlier_length - length) <= timedelta(days=1)


@settings(max_examples=60, deadline=None)
@given(start=instants, days=st.integers(1, 70), against=st.sampled_from(["previous", "year"]),
       grain=st.sampled_from(["hour", "day", "week"]))
def test_every_current_period_gets_one_earlier_period_in_order(start, days, against, grain):
    w = comparison_window(start, start + timedelta(days=days), against=against)
    pairs = counterpart_periods(w, grain=grain)
    assert pairs["period"].is_sorted() and pairs["period"].n_unique() == pairs.height
    assert pairs["previous_start"].is_sorted()
    # an earlier period ends before its current one begins (never compared with itself)
    assert (pairs["previous_start"] + GRAINS[grain] <= pairs["period"]).all()
