"""Funnel trends: conversion of the attempts that entered in each period (PostHog's trends
funnel) against the cohort view, hand-computed cases and a plain-Python reference."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest
from builders import make_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import ParameterError, compute_funnel
from core.funnels import FunnelParams, conversion_by_attempt, conversion_over_time

DAY = timedelta(days=1)
BASE = datetime(2024, 1, 1, tzinfo=timezone.utc)  # a Monday
F2 = ("view_item", "purchase")


def week(k: int) -> datetime:
    return BASE + timedelta(weeks=k)


def growing_shop() -> pl.DataFrame:
    """Two weeks of a shop whose weekly conversion rises from 16% to 22%.

    Week 1 (Mon 2024-01-01): users r0..r49 view; r0..r7 buy within the hour -> 8 / 50 = 16%.
    Week 2 (Mon 2024-01-08): the 8 buyers come back and buy again; 17 non-buyers (r25..r41)
    come back and do not buy; 25 new users n0..n24 view and n0..n2 buy
    -> (8 + 3) / (8 + 17 + 25) = 11 / 50 = 22%.
    A last page view on 2024-01-20 closes every window (1 day).
    """
    j: dict[str, list] = {}
    for i in range(50):
        j[f"r{i}"] = [("view_item", "10:00")] + ([("purchase", "10:30")] if i < 8 else [])
    for i in [*range(8), *range(25, 42)]:
        j[f"r{i}"] += [("view_item", "D+7 09:00")] + ([("purchase", "D+7 09:20")] if i < 8 else [])
    for i in range(25):
        j[f"n{i}"] = [("view_item", "D+8 12:00")] + ([("purchase", "D+8 13:00")] if i < 3 else [])
    j["late"] = [("page_view", "D+19 00:00")]
    return make_events(j)


def test_attempts_show_the_rise_the_cohort_view_hides():
    ev = growing_shop()
    p = FunnelParams(steps=F2, window=DAY)
    t = conversion_by_attempt(ev, p, interval="week")
    assert t["period"].to_list() == [week(0), week(1)]
    # attempts: week 1: 8 of 50 = 16%; week 2: (8 returning + 3 new) of (8 + 17 + 25) = 22%
    assert t["entered"].to_list() == [50, 50]
    assert t["converted"].to_list() == [8, 11]
    assert t["conversion"].to_list() == [0.16, 0.22]
    assert t["complete"].to_list() == [True, True]
    cohort = conversion_over_time(compute_funnel(ev, list(F2), window=DAY), interval="week")
    # cohort: every r sits in week 1 (r0..r7 converted there first): 8 / 50 = 16%;
    # week 2 holds only the 25 new users, 3 converted: 12% -> the cohort view falls
    assert cohort["entered"].to_list() == [50, 25]
    assert cohort["converted"].to_list() == [8, 3]
    assert cohort["conversion"].to_list() == [0.16, 0.12]


def test_a_conversion_counts_in_the_period_of_its_entry_and_windows_cross_periods():
    # u1 views on Sunday 23:00 (week 1) and buys Monday 01:00 (week 2), within the 1-day window:
    # a week-1 conversion. u2 views in week 1 and buys in week 2 after the window: week 1 only
    # entered. u2 views again in week 2 and buys 10 minutes later: a week-2 conversion.
    ev = make_events({
        "u1": [("view_item", "D+6 23:00"), ("purchase", "D+7 01:00")],
        "u2": [("view_item", "D+1 10:00"), ("view_item", "D+9 10:00"),
               ("purchase", "D+9 10:10")],
        "z": [("page_view", "D+30 00:00")],
    })
    t = conversion_by_attempt(ev, FunnelParams(steps=F2, window=DAY), interval="week")
    assert t["entered"].to_list() == [2, 1]
    assert t["converted"].to_list() == [1, 1]


def test_entity_counted_once_per_period_converting_from_any_entry_in_it():
    # u views at 09:00 (no purchase within 1 h) and again at 15:00, buys at 15:30:
    # one entry in the day, converted (its second attempt converts)
    ev = make_events({"u": [("view_item", "09:00"), ("view_item", "15:00"),
                            ("purchase", "15:30"), ("page_view", "D+3 00:00")]})
    p = FunnelParams(steps=F2, window=timedelta(hours=1))
    t = conversion_by_attempt(ev, p, interval="day")
    assert (t["entered"].to_list(), t["converted"].to_list()) == ([1], [1])
    by_hour = conversion_by_attempt(ev, p, interval="hour")
    # hour 09: entered, not converted (purchase is 6.5 h later); hour 15: converted
    assert by_hour["period"].to_list() == [BASE + timedelta(hours=9), BASE + timedelta(hours=15)]
    assert by_hour["converted"].to_list() == [0, 1]


def test_periods_whose_window_runs_past_the_data_are_incomplete():
    # data ends 2024-01-09 10:10 (u2's purchase). Week 1 (Jan 1-7) + 1 day window closes Jan 9
    # 00:00 <= end: complete; week 2 closes Jan 16: incomplete
    ev = make_events({"u1": [("view_item", "D+1 10:00")],
                      "u2": [("view_item", "D+8 10:00"), ("purchase", "D+8 10:10")]})
    t = conversion_by_attempt(ev, FunnelParams(steps=F2, window=DAY), interval="week")
    assert t["complete"].to_list() == [True, False]


def test_three_hours_of_data_by_hour():
    # REES46-like: three hours; entries at 00:10, 01:20, 02:30; 30-minute window
    ev = make_events({
        "a": [("view_item", "00:10"), ("purchase", "00:20")],
        "b": [("view_item", "01:20")],
        "c": [("view_item", "02:30"), ("purchase", "02:50")],
        "d": [("page_view", "02:59")],
    })
    t = conversion_by_attempt(ev, FunnelParams(steps=F2, window=timedelta(minutes=30)),
                              interval="hour")
    assert t["period"].to_list() == [BASE + timedelta(hours=h) for h in (0, 1, 2)]
    assert t["conversion"].to_list() == [1.0, 0.0, 1.0]
    # hour 0 closes 01:30, hour 1 closes 02:30 (<= 02:59), hour 2 closes 03:30: incomplete
    assert t["complete"].to_list() == [True, True, False]


def test_strict_funnel_and_exclusions_apply_per_attempt():
    ev = make_events({
        # strict: a page_view between view and purchase breaks the attempt
        "u1": [("view_item", "10:00"), ("page_view", "10:05"), ("purchase", "10:10")],
        "u2": [("view_item", "11:00"), ("purchase", "11:10")],
        "z": [("page_view", "D+5 00:00")],
    })
    strict = conversion_by_attempt(ev, FunnelParams(steps=F2, order="strict"), interval="day")
    assert strict["converted"].to_list() == [1]
    ordered = conversion_by_attempt(ev, FunnelParams(steps=F2), interval="day")
    assert ordered["converted"].to_list() == [2]
    excl = FunnelParams(steps=F2, exclusions=(("page_view", 1, 2),))
    # u1 is excluded (page_view between its steps): not counted at all
    t = conversion_by_attempt(ev, excl, interval="day")
    assert (t["entered"].to_list(), t["converted"].to_list()) == ([1], [1])


def test_bad_and_degenerate_inputs():
    ev = growing_shop()
    with pytest.raises(ParameterError, match="interval"):
        conversion_by_attempt(ev, FunnelParams(steps=F2), interval="month")
    with pytest.raises(ParameterError, match="unordered"):
        conversion_by_attempt(ev, FunnelParams(steps=F2, order="unordered"))
    with pytest.raises(ParameterError, match="to_step"):
        conversion_by_attempt(ev, FunnelParams(steps=F2), to_step=5)
    assert conversion_by_attempt(ev, FunnelParams(steps=("view_item",))).is_empty()
    assert conversion_by_attempt(ev.filter(pl.lit(False)), FunnelParams(steps=F2)).is_empty()
    nobody = FunnelParams(steps=("add_to_cart", "purchase"))
    assert conversion_by_attempt(ev, nobody).is_empty()


# --------------------------------------------------------------------------------------------
# Plain-Python reference on random logs
# --------------------------------------------------------------------------------------------

STEPS = ("a", "b", "c")
INTERVAL_LEN = {"hour": timedelta(hours=1), "day": DAY}


def _period(t: datetime, interval: str) -> datetime:
    if interval == "hour":
        return t.replace(minute=0, second=0, microsecond=0)
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def reference_trend(rows, window, interval, to_step):
    """Per period: entities with a step-1 event in it, and those of them for which one attempt
    starting at such an event reaches ``to_step`` (each later step: the first event of that step
    after the previous one, in time then step order, within ``window`` of the attempt's start).
    """
    by: dict = defaultdict(list)
    for user, t, name in rows:
        if name in STEPS:
            by[user].append((t, STEPS.index(name) + 1))
    entered: dict = defaultdict(set)
    converted: dict = defaultdict(set)
    for user, evs in by.items():
        evs.sort()
        for i, (t0, step) in enumerate(evs):
            if step != 1:
                continue
            p = _period(t0, interval)
            entered[p].add(user)
            reached, pos = 1, i
            for k in range(2, len(STEPS) + 1):
                nxt = next((j for j in range(pos + 1, len(evs))
                            if evs[j][1] == k and evs[j][0] - t0 <= window), None)
                if nxt is None:
                    break
                reached, pos = k, nxt
            if reached >= to_step:
                converted[p].add(user)
    return {p: (len(entered[p]), len(converted[p])) for p in entered}


@st.composite
def random_logs(draw):
    n_users = draw(st.integers(1, 6))
    rows = []
    for u in range(n_users):
        for _ in range(draw(st.integers(1, 10))):
            minute = draw(st.integers(0, 3 * 24 * 60))
            rows.append((f"u{u}", BASE + timedelta(minutes=minute),
                         draw(st.sampled_from([*STEPS, "noise"]))))
    return rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=random_logs(), window_min=st.sampled_from([30, 90, 24 * 60]),
       interval=st.sampled_from(["hour", "day"]), to_step=st.sampled_from([2, 3]))
def test_matches_a_plain_python_reference(rows, window_min, interval, to_step):
    ev = make_events({u: [(name, t) for uu, t, name in rows if uu == u]
                      for u in sorted({r[0] for r in rows})})
    window = timedelta(minutes=window_min)
    got = conversion_by_attempt(ev, FunnelParams(steps=STEPS, window=window),
                                interval=interval, to_step=to_step)
    want = reference_trend(rows, window, interval, to_step)
    assert {r["period"]: (r["entered"], r["converted"]) for r in got.iter_rows(named=True)} == want
    end = max(t for _, t, _ in rows)
    for r in got.iter_rows(named=True):
        assert r["complete"] == (r["period"] + INTERVAL_LEN[interval] + window <= end)


def test_rees46_head_trends_by_hour_with_whole_counts(shared_data):
    # the REES46 head covers about three hours: hourly periods, never 23:59:59.9995 ticks
    path = shared_data / "rees46_2019oct_head.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    from core.fmt import grain_for_span
    from core.funnels.figures import conversion_over_time_figure
    from core.loader import load_events

    ev = load_events(path).events
    first, last = ev["ts"].min(), ev["ts"].max()
    grain = grain_for_span(last - first)
    assert grain == "hour"
    names = set(ev["event"].unique().to_list())
    steps = tuple(s for s in ("view", "cart", "purchase") if s in names)
    t = conversion_by_attempt(ev, FunnelParams(steps=steps, window=timedelta(minutes=30),
                                               count_by="session_id"), interval=grain)
    assert 2 <= t.height <= 5
    assert all(p.minute == 0 and p.second == 0 for p in t["period"].to_list())
    # the last hour's windows run past the end of the data
    assert not t["complete"][-1]
    fig = conversion_over_time_figure(t, interval=grain)
    assert fig.layout.xaxis.title.text == "hour of entry (UTC)"
    assert fig.layout.xaxis.tickformat.startswith("%H:%M")
