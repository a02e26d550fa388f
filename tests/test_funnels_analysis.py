"""Conversion over time, time to convert, breakdown intervals and tests, figures."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import plotly.graph_objects as go
import polars as pl
import pytest
from builders import make_events
from hypothesis import given, settings
from hypothesis import strategies as st
from people_tables import assert_readable
from scipy.stats import binomtest, fisher_exact

from core import ParameterError, compute_funnel
from core.funnels import (
    breakdown_table,
    conversion_over_time,
    time_to_convert,
    wilson_interval,
)
from core.funnels.figures import (
    breakdown_figure,
    conversion_over_time_figure,
    funnel_figure,
    time_to_convert_figure,
)

DAY = timedelta(days=1)


def utc(*ymd: int) -> datetime:
    return datetime(*ymd, tzinfo=timezone.utc)
F2 = ["view_item", "purchase"]


def journeys():
    # Monday 2024-01-01: u1 converts, u2 does not; Tuesday: u3 converts;
    # Monday 2024-01-08 (next week): u4 does not
    return make_events(
        {
            "u1": [("view_item", "10:00"), ("purchase", "10:30")],
            "u2": [("view_item", "11:00")],
            "u3": [("view_item", "D+1 09:00"), ("purchase", "D+1 11:00")],
            "u4": [("view_item", "D+7 09:00")],
        }
    )


def test_conversion_over_time_by_day_and_week():
    r = compute_funnel(journeys(), F2, window=DAY)
    by_day = conversion_over_time(r, interval="day")
    assert by_day["period"].to_list() == [utc(2024, 1, 1), utc(2024, 1, 2), utc(2024, 1, 8)]
    assert by_day["entered"].to_list() == [2, 1, 1]
    assert by_day["converted"].to_list() == [1, 1, 0]
    assert by_day["conversion"].to_list() == [0.5, 1.0, 0.0]
    # data ends 2024-01-08 09:00; a day's entrants have a full window once day + 1 day passed:
    # Jan 1 + 2 days = Jan 3 <= Jan 8 -> complete; Jan 8 + 2 days > end -> incomplete
    assert by_day["complete"].to_list() == [True, True, False]
    low, high = wilson_interval(1, 2)
    assert by_day["ci_low"][0] == pytest.approx(low) and by_day["ci_high"][0] == pytest.approx(high)
    by_week = conversion_over_time(r, interval="week")
    # weeks start on Monday: Jan 1 (u1, u2, u3) and Jan 8 (u4)
    assert by_week["period"].to_list() == [utc(2024, 1, 1), utc(2024, 1, 8)]
    assert by_week["entered"].to_list() == [3, 1]
    assert by_week["converted"].to_list() == [2, 0]
    with pytest.raises(ParameterError, match="interval"):
        conversion_over_time(r, interval="month")


def test_time_to_convert_histogram():
    r = compute_funnel(journeys(), F2, window=DAY)
    h = time_to_convert(r, bins=4)
    # converters: u1 1800 s, u3 7200 s -> bins of 1800 s: [0,1800) [1800,3600) ... [5400,7200]
    assert h["bin_start_seconds"].to_list() == [0, 1800, 3600, 5400]
    assert h["entities"].to_list() == [0, 1, 0, 1]
    assert h["share"].to_list() == [0, 0.5, 0, 0.5]
    with pytest.raises(ParameterError, match="from_step"):
        time_to_convert(r, from_step=2, to_step=2)
    with pytest.raises(ParameterError, match="bins"):
        time_to_convert(r, bins=0)
    nobody = compute_funnel(journeys().filter(pl.col("event") != "purchase"), F2, window=DAY)
    assert time_to_convert(nobody).is_empty()


def test_wilson_interval_known_values():
    # Wilson (1927) / Agresti & Coull (1998): 5 of 10 at 95% -> [0.2366, 0.7634]
    assert wilson_interval(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-5)
    # 0 of 10: lower bound 0, upper 0.2775
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-5)
    assert wilson_interval(0, 0) == (None, None)
    with pytest.raises(ParameterError):
        wilson_interval(3, 2)


@settings(max_examples=200, deadline=None)
@given(x=st.integers(0, 500), extra=st.integers(0, 500))
def test_wilson_interval_contains_the_estimate_and_matches_scipy(x, extra):
    n = x + extra
    low, high = wilson_interval(x, n)
    if n == 0:
        assert low is None
        return
    assert 0 <= low <= x / n <= high <= 1
    ci = binomtest(x, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert (low, high) == pytest.approx((ci.low, ci.high), abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(confidence=st.floats(1e-9, 1 - 1e-9))
def test_z_score_matches_scipy_norm_ppf(confidence):
    # z_score uses the standard library's quantile (no scipy import on a page's first run)
    from scipy.stats import norm

    from core.stats import z_score

    assert z_score(confidence) == pytest.approx(norm.ppf(0.5 + confidence / 2), rel=1e-12,
                                                abs=1e-12)


def test_z_score_known_values_and_refusals():
    from core.stats import z_score

    assert z_score(0.95) == pytest.approx(1.959963984540054, abs=1e-12)
    assert z_score(0.99) == pytest.approx(2.5758293035489004, abs=1e-12)
    for bad in (0, 1, 1.5, -0.1, True, "0.95", None):
        with pytest.raises(ParameterError):
            z_score(bad)


def _breakdown_events():
    # mobile: 8 enter, 2 convert; desktop: 8 enter, 7 convert; tablet: 2 enter, 1 converts
    j = {}
    for dev, n_in, n_conv in (("mobile", 8, 2), ("desktop", 8, 7), ("tablet", 2, 1)):
        for i in range(n_in):
            ev = [("view_item", "00:00", {"device": dev})]
            if i < n_conv:
                ev.append(("purchase", "00:10"))
            j[f"{dev}{i}"] = ev
    return make_events(j)


def test_breakdown_table_intervals_and_tests_against_the_rest():
    r = compute_funnel(_breakdown_events(), F2, window=DAY, breakdown="device")
    t = breakdown_table(r)
    assert t["breakdown"].to_list() == ["desktop", "mobile", "tablet"]  # 8, 8 (by name), 2
    assert t["entered"].to_list() == [8, 8, 2]
    assert t["converted"].to_list() == [7, 2, 1]
    # desktop vs rest: 7/8 vs (2+1)/(8+2) = 0.3 -> difference 0.575
    assert t["rest_conversion"][0] == pytest.approx(0.3)
    assert t["difference"][0] == pytest.approx(0.875 - 0.3)
    p_desktop = fisher_exact([[7, 1], [3, 7]]).pvalue
    p_mobile = fisher_exact([[2, 6], [8, 2]]).pvalue
    p_tablet = fisher_exact([[1, 1], [9, 7]]).pvalue
    assert t["p_value"].to_list() == pytest.approx([p_desktop, p_mobile, p_tablet])
    # Holm: smallest p times 3, next times 2 (kept monotone), largest times 1 (capped at 1)
    ps = sorted([p_desktop, p_mobile, p_tablet])
    holm = [
        min(1, 3 * ps[0]),
        min(1, max(3 * ps[0], 2 * ps[1])),
        min(1, max(3 * ps[0], 2 * ps[1], ps[2])),
    ]
    assert sorted(t["p_adjusted"].to_list()) == pytest.approx(holm)
    assert t["significant"].to_list() == [a < 0.05 for a in t["p_adjusted"].to_list()]
    for row in t.iter_rows(named=True):
        assert row["ci_low"] <= row["conversion"] <= row["ci_high"]
    # without a breakdown the table is empty, not an error
    assert breakdown_table(compute_funnel(_breakdown_events(), F2, window=DAY)).is_empty()


def test_figures_build_for_full_and_empty_results():
    r = compute_funnel(_breakdown_events(), F2, window=DAY, breakdown="device")
    for fig in (
        funnel_figure(r),
        funnel_figure(r, by_breakdown=True),
        conversion_over_time_figure(conversion_over_time(r)),
        time_to_convert_figure(time_to_convert(r)),
        breakdown_figure(breakdown_table(r), overall=0.5),
    ):
        assert isinstance(fig, go.Figure) and fig.data
    # bars: reached and dropped-off stack up to the previous step's count
    bars = funnel_figure(r)
    assert list(bars.data[0].y) == [18, 10] and list(bars.data[1].y) == [0, 8]
    empty = compute_funnel(make_events({}), F2, window=DAY)
    for fig in (
        funnel_figure(empty),
        conversion_over_time_figure(conversion_over_time(empty)),
        time_to_convert_figure(time_to_convert(empty)),
        breakdown_figure(breakdown_table(empty)),
    ):
        assert isinstance(fig, go.Figure)


def test_breakdown_colours_are_the_same_in_every_view():
    from core.fmt import color_for

    r = compute_funnel(_breakdown_events(), F2, window=DAY, breakdown="device")
    bars = funnel_figure(r, by_breakdown=True)
    assert {t.name: t.marker.color for t in bars.data} == {
        v: color_for(v) for v in ("desktop", "mobile", "tablet")}
    # a view with fewer values keeps each value's colour
    only = compute_funnel(_breakdown_events().filter(pl.col("device") != "desktop"), F2,
                          window=DAY, breakdown="device")
    assert {t.name: t.marker.color for t in funnel_figure(only, by_breakdown=True).data} == {
        v: color_for(v) for v in ("mobile", "tablet")}
    assert bars.layout.yaxis.title.text == "% of users at step 1"
    plain = funnel_figure(r)
    assert plain.layout.yaxis.title.text == "users" and plain.layout.yaxis.tickformat == ",d"


def test_trend_figure_names_its_definition_and_keeps_open_windows_off_the_line():
    r = compute_funnel(journeys(), F2, window=DAY)
    frame = conversion_over_time(r, interval="day")  # complete: True, True, False
    fig = conversion_over_time_figure(frame, definition="cohort", interval="day")
    assert fig.layout.title.text == "Conversion of users by the day of their first entry (cohort)"
    assert fig.layout.yaxis.title.text == "% of users converted"
    band, line, open_ = fig.data
    assert band.name == "95% interval" and line.name == "conversion"
    assert len(line.x) == 2  # the solid line joins the complete days only
    assert open_.line.dash == "dot" and open_.name == "incomplete (window not closed yet)"
    assert open_.marker.symbol == ("circle", "circle-open")  # from the last complete day
    assert fig.layout.showlegend
    attempts = conversion_over_time_figure(frame, definition="attempts", interval="week")
    assert "attempts that entered each week" in attempts.layout.title.text
    assert attempts.layout.yaxis.title.text == "% of attempts converted"


def test_tables_for_people():
    from core.funnels.figures import breakdown_people_table, steps_table, trend_people_table

    r = compute_funnel(_breakdown_events(), F2, window=DAY, breakdown="device")
    steps = steps_table(r)
    assert steps.columns[:3] == ["Step", "Users", "% of step 1"]
    # 18 entered, 10 bought: 10/18; step 1 has no previous step: null (the grid shows a dash)
    assert steps.frame.row(1)[:2] == ("2. purchase", 10)
    assert steps.frame["% of step 1"][1] == pytest.approx(10 / 18)
    assert steps.frame["Dropped off"].to_list() == [None, 8]
    assert steps.frame["Median time from previous"].to_list() == [None, timedelta(minutes=10)]
    bd = breakdown_people_table(breakdown_table(r), name="device")
    assert bd.columns[:3] == ["device", "Significant vs rest", "Conversion"]
    assert bd.frame["Conversion"].to_list() == pytest.approx([7 / 8, 2 / 8, 1 / 2])
    assert bd.frame["Difference vs rest"][0] == pytest.approx(57.5)  # 87.5% - 30%, in pp
    assert bd.kinds["Adjusted p"] == "pvalue" and bd.frame["Adjusted p"].dtype == pl.Float64
    tr = trend_people_table(conversion_over_time(r, interval="day"), interval="day")
    # all 18 entered at 00:00 and the data end at 00:10: the window has not closed
    row = tr.frame.row(0, named=True)
    assert (row["Period (UTC)"], row["Entered"], row["Converted"], row["Window closed"]) == (
        "2024-01-01", 18, 10, "not yet")
    assert row["Conversion"] == pytest.approx(10 / 18)
    assert row["95% interval from"] < row["Conversion"] < row["95% interval to"]
    for table in (steps, bd, tr):
        assert_readable(table)
