"""Retention: a plain-Python reference on random logs, and PostHog's first-time retention
semantics on hand-built cases (written from PostHog's retention documentation: period 0 is the
whole cohort, returns count from the next period, first-time cohorts come from the first start
event, cumulative retention counts "on or after" a period)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import FunnelStep, ParameterError
from core.filters import Condition
from core.retention import (
    RetentionParams,
    compute_retention,
    merge_retention,
    people_table,
    retained_people,
    retention_curves_figure,
    retention_heatmap,
)


def log(rows):
    """rows: (user, 'YYYY-MM-DD HH', event[, plan])"""
    users, ts, events, plans = [], [], [], []
    for r in rows:
        users.append(r[0])
        ts.append(datetime.strptime(r[1], "%Y-%m-%d %H"))
        events.append(r[2])
        plans.append(r[3] if len(r) > 3 else "basic")
    return pl.DataFrame({"user_id": users, "ts": ts, "event": events, "plan": plans})


def cell(result, cohort, period, group="All"):
    rows = result.cells.filter(
        (pl.col("group") == group) & (pl.col("cohort") == datetime.fromisoformat(cohort))
        & (pl.col("period") == period)
    )
    return rows.row(0, named=True) if rows.height else None


# --------------------------------------------------------------------------------------------
# hand-built cases (PostHog first-time retention semantics)


def test_period_zero_is_the_whole_cohort_and_returns_count_from_the_next_period():
    ev = log([
        ("a", "2024-01-01 10", "signup"), ("a", "2024-01-01 12", "purchase"),  # same day
        ("b", "2024-01-01 11", "signup"), ("b", "2024-01-02 09", "purchase"),
        ("c", "2024-01-01 15", "signup"),
        ("z", "2024-01-05 10", "visit"),  # data run to Jan 5
    ])
    r = compute_retention(ev, "signup", "purchase", period="day", periods=4)
    assert cell(r, "2024-01-01", 0)["cohort_size"] == 3
    assert cell(r, "2024-01-01", 0)["retained"] == 3  # period 0: everyone, returned or not
    assert cell(r, "2024-01-01", 1)["retained"] == 1  # only b; a bought on day 0
    assert cell(r, "2024-01-01", 2)["retained"] == 0


def test_first_time_cohort_and_returns_before_the_start_do_not_count():
    ev = log([
        ("a", "2024-01-01 10", "purchase"),  # before a's first signup: ignored
        ("a", "2024-01-02 10", "signup"),
        ("a", "2024-01-04 10", "signup"),  # a second start: no new cohort
        ("a", "2024-01-05 10", "purchase"),
        ("b", "2024-01-04 10", "signup"),
        ("b", "2024-01-05 10", "purchase"),
        ("z", "2024-01-09 10", "visit"),
    ])
    r = compute_retention(ev, "signup", "purchase", period="day", periods=5)
    people = dict(zip(r.people["person"], r.people["cohort"], strict=True))
    assert people == {"a": datetime(2024, 1, 2), "b": datetime(2024, 1, 4)}
    assert cell(r, "2024-01-02", 3)["retained"] == 1  # Jan 5 is a's day 3
    assert cell(r, "2024-01-04", 1)["retained"] == 1
    assert sum(r.cells.filter(pl.col("cohort") == datetime(2024, 1, 2))["retained"][1:]) == 1


def test_unbounded_counts_returns_on_or_after_the_period():
    ev = log([
        ("a", "2024-01-01 10", "visit"), ("a", "2024-01-22 10", "visit"),  # back in week 3 only
        ("b", "2024-01-02 10", "visit"), ("b", "2024-01-09 10", "visit"),  # back in week 1
        ("z", "2024-03-01 10", "visit"),
    ])
    on = compute_retention(ev, period="week", periods=5, mode="on")
    unb = compute_retention(ev, period="week", periods=5, mode="unbounded")
    cohort = "2024-01-01"
    assert cell(on, cohort, 0)["cohort_size"] == 2  # Jan 1 and 2 are in the same ISO week
    assert [cell(on, cohort, k)["retained"] for k in range(5)] == [2, 1, 0, 1, 0]
    assert [cell(unb, cohort, k)["retained"] for k in range(5)] == [2, 2, 1, 1, 0]


def test_weeks_start_on_monday_and_months_are_calendar_months():
    ev = log([
        ("a", "2024-01-07 23", "visit"), ("a", "2024-01-08 00", "visit"),  # Sun -> Mon
        ("b", "2024-01-31 22", "visit"), ("b", "2024-02-01 01", "visit"),  # Jan 31 -> Feb 1
        ("z", "2024-06-01 10", "visit"),
    ])
    w = compute_retention(ev, period="week", periods=3)
    assert dict(zip(w.people["person"], w.people["returned"].to_list(), strict=True))["a"] == [1]
    m = compute_retention(ev, period="month", periods=3)
    assert dict(zip(m.people["person"], m.people["returned"].to_list(), strict=True))["b"] == [1]
    assert dict(zip(m.people["person"], m.people["returned"].to_list(), strict=True))["a"] == []


def test_months_count_calendar_boundaries():
    ev = log([
        ("a", "2024-01-05 10", "visit"), ("a", "2024-01-28 10", "visit"),
        ("b", "2024-01-31 22", "visit"), ("b", "2024-02-01 01", "visit"),
        ("c", "2024-01-15 10", "visit"), ("c", "2024-03-31 10", "visit"),
        ("z", "2024-06-01 10", "visit"),
    ])
    m = compute_retention(ev, period="month", periods=4)
    assert [cell(m, "2024-01-01", k)["retained"] for k in range(4)] == [3, 1, 1, 0]
    assert retained_people(m, datetime(2024, 1, 1), 1).to_list() == ["b"]
    assert retained_people(m, datetime(2024, 1, 1), 2).to_list() == ["c"]


def test_incomplete_and_unobserved_cells():
    ev = log([
        ("a", "2024-01-01 10", "visit"), ("a", "2024-01-03 10", "visit"),
        ("b", "2024-01-02 10", "visit"),
        ("z", "2024-01-03 12", "visit"),  # data end: Jan 3 12:00
    ])
    r = compute_retention(ev, period="day", periods=6)
    jan1 = r.cells.filter(pl.col("cohort") == datetime(2024, 1, 1))
    assert jan1["period"].to_list() == [0, 1, 2]  # Jan 4 and later not observed
    assert jan1["complete"].to_list() == [True, True, False]  # Jan 3 not over
    u = compute_retention(ev, period="day", periods=3, mode="unbounded")
    jan1u = u.cells.filter(pl.col("cohort") == datetime(2024, 1, 1))
    assert jan1u["complete"].to_list() == [False, False, False]  # a later return may still come
    # the pooled mean uses complete cells only
    assert r.mean.filter(pl.col("period") == 2).is_empty()


def test_start_and_return_with_property_conditions_and_breakdown():
    ev = log([
        ("a", "2024-01-01 10", "purchase", "pro"), ("a", "2024-01-02 10", "purchase", "pro"),
        ("b", "2024-01-01 10", "purchase", "basic"), ("b", "2024-01-02 10", "visit", "basic"),
        ("c", "2024-01-01 10", "purchase", "basic"),
        ("z", "2024-01-05 10", "visit"),
    ])
    start = FunnelStep("purchase", where=(Condition("plan", "eq", "basic"),))
    r = compute_retention(ev, start, ["visit", "purchase"], period="day", periods=3)
    assert sorted(r.people["person"]) == ["b", "c"]
    assert cell(r, "2024-01-01", 1)["retained"] == 1
    b = compute_retention(ev, "purchase", None, period="day", periods=3, breakdown="plan")
    assert cell(b, "2024-01-01", 0, "basic")["cohort_size"] == 2
    assert cell(b, "2024-01-01", 1, "pro")["retained"] == 1
    assert b.groups == ["basic", "pro"]
    pooled = compute_retention(ev, "purchase", None, period="day", periods=3,
                               breakdown="plan", breakdown_limit=1)
    assert pooled.groups == ["basic", "Other"]


def test_interval_and_mean_are_people_weighted():
    rows = []
    for i in range(10):  # cohort Jan 1: 10 people, 4 return next day
        rows.append((f"a{i}", "2024-01-01 10", "visit"))
        if i < 4:
            rows.append((f"a{i}", "2024-01-02 10", "visit"))
    for i in range(30):  # cohort Jan 2: 30 people, 3 return next day
        rows.append((f"b{i}", "2024-01-02 11", "visit"))
        if i < 3:
            rows.append((f"b{i}", "2024-01-03 10", "visit"))
    rows.append(("z", "2024-01-09 10", "visit"))
    r = compute_retention(log(rows), period="day", periods=3)
    m = r.mean.filter(pl.col("period") == 1).row(0, named=True)
    # z (cohort Jan 9 = data end) has no observed period 1, so only two cohorts pool
    assert (m["retained"], m["people"], m["cohorts"]) == (7, 40, 2)
    assert m["rate"] == pytest.approx(7 / 40)
    assert m["ci_low"] < 7 / 40 < m["ci_high"]


def test_bad_settings_are_named():
    ev = log([("a", "2024-01-01 10", "visit")])
    with pytest.raises(ParameterError, match="`period` must be one of"):
        compute_retention(ev, period="fortnight")
    with pytest.raises(ParameterError, match="`periods` must be a whole number >= 2"):
        compute_retention(ev, periods=1)
    with pytest.raises(ParameterError, match="`mode`"):
        compute_retention(ev, mode="cumulative")
    with pytest.raises(ParameterError, match="`breakdown` must be a column.*'nope'"):
        compute_retention(ev, breakdown="nope")
    with pytest.raises(ParameterError, match="identifies people"):
        RetentionParams(breakdown="user_id")


def test_figures_draw_and_mark_incomplete_cells():
    ev = log([("a", "2024-01-01 10", "visit"), ("a", "2024-01-02 10", "visit"),
              ("b", "2024-01-02 10", "visit")])
    r = compute_retention(ev, period="day", periods=3)
    heat = retention_heatmap(r)
    texts = [t for row in heat.data[0].text for t in row if t]
    assert "100%" in texts and any(t.endswith("*") for t in texts)
    curves = retention_curves_figure(r)
    # no day 1 is over when the data ends: no pooled mean to draw (period 0 is not drawn)
    assert not any(t.name == "mean of cohorts" for t in curves.data)
    empty = compute_retention(ev, "never", None, period="day", periods=3)
    assert empty.cells.is_empty() and "No cohorts" in retention_heatmap(empty).layout.title.text


# --------------------------------------------------------------------------------------------
# random logs against a plain-Python reference


def _trunc(t: datetime, period: str) -> date:
    d = t.date()
    if period == "week":
        return d - timedelta(days=d.weekday())
    if period == "month":
        return d.replace(day=1)
    return d


def _shift(d: date, period: str, k: int) -> date:
    if period == "day":
        return d + timedelta(days=k)
    if period == "week":
        return d + timedelta(days=7 * k)
    m = d.month - 1 + k
    return date(d.year + m // 12, m % 12 + 1, 1)


def _index(t: datetime, cohort: date, period: str) -> int:
    d = _trunc(t, period)
    if period == "month":
        return (d.year - cohort.year) * 12 + d.month - cohort.month
    return (d - cohort).days // (7 if period == "week" else 1)


def reference(rows, start, ret, period, periods, mode):
    data_end = max(t for _, t, _ in rows)
    firsts, back = {}, {}
    for u, t, e in rows:
        if start is None or e in start:
            firsts[u] = min(firsts.get(u, t), t)
    for u, t, e in rows:
        if u in firsts and (ret is None or e in ret):
            k = _index(t, _trunc(firsts[u], period), period)
            if 1 <= k < periods:
                back.setdefault(u, set()).add(k)
    cohorts = {}
    for u, t in firsts.items():
        cohorts.setdefault(_trunc(t, period), []).append(u)
    out = {}
    last = periods - 1
    end = lambda c, k: datetime.combine(_shift(c, period, k), datetime.min.time())  # noqa: E731
    for c, users in cohorts.items():
        for k in range(periods):
            if end(c, k) > data_end:
                continue
            if k == 0:
                n = len(users)
            elif mode == "on":
                n = sum(k in back.get(u, ()) for u in users)
            else:
                n = sum(any(k <= j <= last for j in back.get(u, ())) for u in users)
            done = end(c, (last if mode == "unbounded" else k) + 1) <= data_end
            out[(datetime.combine(c, datetime.min.time()), k)] = (len(users), n, done)
    return out


events_st = st.lists(
    st.tuples(st.sampled_from("abcdefgh"), st.integers(0, 24 * 120), st.sampled_from("xyz")),
    min_size=1, max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(
    events_st,
    st.sampled_from([None, ("x",), ("x", "y")]),
    st.sampled_from([None, ("y",), ("z", "x")]),
    st.sampled_from(["day", "week", "month"]),
    st.integers(2, 8),
    st.sampled_from(["on", "unbounded"]),
)
def test_matches_plain_python_reference(raw, start, ret, period, periods, mode):
    t0 = datetime(2024, 1, 29, 0)
    rows = [(u, t0 + timedelta(hours=h), e) for u, h, e in raw]
    ev = pl.DataFrame(rows, schema=["user_id", "ts", "event"], orient="row")
    r = compute_retention(ev, list(start) if start else None, list(ret) if ret else None,
                          period=period, periods=periods, mode=mode)
    got = {(c, k): (n, x, done) for c, k, n, x, done in
           r.cells.select("cohort", "period", "cohort_size", "retained", "complete").rows()}
    assert got == reference(rows, start, ret, period, periods, mode)


@settings(max_examples=25, deadline=None)
@given(events_st, st.integers(2, 4), st.sampled_from(["on", "unbounded"]))
def test_partitions_by_person_merge_to_the_whole(raw, n_parts, mode):
    t0 = datetime(2024, 1, 29, 0)
    ev = pl.DataFrame([(u, t0 + timedelta(hours=h), e) for u, h, e in raw],
                      schema=["user_id", "ts", "event"], orient="row")
    params = RetentionParams(period="week", periods=6, mode=mode)
    whole = params.compute(ev)
    parts = [people_table(p, params) for p in ev.with_columns(
        (pl.col("user_id").hash() % n_parts).alias("_p")).partition_by("_p")]
    merged = merge_retention(parts, params, ev["ts"].max())
    assert merged.cells.equals(whole.cells) and merged.mean.equals(whole.mean)
    if len(parts) > 1:
        with pytest.raises(ParameterError, match="several partitions"):
            merge_retention([parts[0], parts[0]], params, ev["ts"].max())
    for c, k, x in whole.cells.select("cohort", "period", "retained").rows():
        assert retained_people(whole, c, k).len() == x


def test_figures_read_at_a_glance():
    # Period 0 is 100% by definition: it must not set the colour scale (returns of 5-35% all
    # looked alike next to it) nor the curves' y range; the row labels carry the cohort sizes.
    ev = log([("a", "2024-01-01 10", "visit"), ("a", "2024-01-02 10", "visit"),
              ("b", "2024-01-01 10", "visit"), ("c", "2024-01-01 10", "visit"),
              ("d", "2024-01-01 10", "visit"), ("z", "2024-01-05 10", "visit")])
    r = compute_retention(ev, period="day", periods=3)
    heat = retention_heatmap(r)
    assert heat.data[0].zmax == pytest.approx(0.25)  # a alone of 4 came back on day 1
    labels = list(heat.layout.yaxis.ticktext)
    assert labels[0] == "2024-01-01 (4 people)" and labels[1] == "2024-01-05 (1 person)"
    curves = retention_curves_figure(r)
    # the y axis ends 15% above the highest return rate or interval bound: the Wilson upper
    # bound of 1 of 4, (0.25 + z²/8 + z·sqrt(3/64 + z²/64)) / (1 + z²/4) = 0.6994, z = 1.96
    assert curves.layout.yaxis.range[1] == pytest.approx(1.15 * 0.6994, abs=1e-3)
    assert any(t.name == "mean of cohorts" for t in curves.data)
    band = next(t for t in curves.data if t.name == "95% interval")
    assert band.mode == "lines"  # an area: no markers on its outline
    assert all(0 not in list(t.x) for t in curves.data)  # period 0 (always 100%) left out
