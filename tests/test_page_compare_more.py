"""AppTest: period comparison on the Paths and Retention pages (issue 18).

Every change the tiles show is checked against the core functions (``compute_paths``,
``compute_retention``) run directly on the two windows' events of the bundled sample (90 days,
2026-06-01 to 2026-08-30): 2026-07-31 .. 2026-08-29 against the previous 30 days.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cache

import polars as pl
import pytest
from apptest import run_page

from core.funnels import FunnelParams
from core.paths import compute_paths, filter_breakdown, paths_after_drop_off
from core.retention import compute_retention
from core.store import SAMPLE_ID, DatasetStore

UTC = timezone.utc
RANGE = {"from": "2026-07-31", "to": "2026-08-29"}  # 30 days
NOW = (datetime(2026, 7, 31, tzinfo=UTC), datetime(2026, 8, 30, tzinfo=UTC))
PREVIOUS = (datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 7, 31, tzinfo=UTC))
EARLIER = "the previous 30 days (2026-07-01 – 2026-07-30)"
WHOLE_DATA = ("No change: the period is the whole data, and the data hold nothing before it. "
              "Pick a date range in the sidebar to compare.")


@cache
def sample() -> pl.DataFrame:
    return DatasetStore().scan(SAMPLE_ID).collect()


def window(lo: datetime, hi: datetime) -> pl.DataFrame:
    return sample().filter((pl.col("ts") >= lo) & (pl.col("ts") < hi))


def tile(at, label: str):
    return next(m for m in at.metric if m.label == label).proto


def url(at, key: str) -> list[str]:
    v = at.query_params.get(key, [])
    return [v] if isinstance(v, str) else list(v)


def pct_change(now: float, before: float) -> str:
    return f"{(now - before) / before:+.1%} vs previous 30 days"


def pp_change(now: float, before: float) -> str:
    return f"{100 * (now - before):+.1f} pp vs previous 30 days"


# --- Paths ------------------------------------------------------------------------------------


def path_numbers(events: pl.DataFrame) -> tuple[int, float, int]:
    """The page's defaults: event nodes, sessions, 5 steps, 8 nodes per step, repeats
    collapsed; sessions with a path, the share that purchased, distinct paths."""
    r = compute_paths(events)
    return r.entities, r.path_counts["purchased"].sum() / r.entities, r.path_counts.height


@pytest.mark.parametrize("breakdown", [None, ("device", "mobile")])
def test_paths_tiles_against_the_previous_30_days_equal_compute_paths(breakdown):
    query = {**RANGE, "paths.compare": "previous"}
    now_events, before_events = window(*NOW), window(*PREVIOUS)
    if breakdown is not None:  # one breakdown value: both windows keep only its sessions
        column, value = breakdown
        query |= {"paths.by": column, "paths.values": [value]}
        now_events, before_events = (filter_breakdown(e, column=column, value=value)
                                     for e in (now_events, before_events))
    at = run_page("paths", **query)
    (n, bought, distinct), (bn, bbought, bdistinct) = (path_numbers(now_events),
                                                       path_numbers(before_events))
    assert n != bn  # the windows differ, so the test can tell them apart
    sessions = tile(at, "Sessions with a path")
    assert sessions.body == f"{n:,}" and sessions.delta == pct_change(n, bn)
    assert sessions.help == f"{bn:,} in the earlier period, {EARLIER}."
    purchase = tile(at, "Went on to purchase")
    assert purchase.delta == pp_change(bought, bbought)
    assert purchase.help.endswith(f"{100 * bbought:.1f}% in the earlier period, {EARLIER}.")
    assert tile(at, "Distinct paths").delta == pct_change(distinct, bdistinct)
    assert any(c.value.startswith(f"Changes vs {EARLIER}") for c in at.caption)


def test_paths_after_a_funnel_drop_off_compare_the_drop_outs_of_each_window():
    funnel = FunnelParams(steps=("view_item", "add_to_cart", "purchase"),
                          window=timedelta(days=1))
    at = run_page("paths", **RANGE, **{"paths.compare": "previous",
                                       "paths.funnel": funnel.to_query(),
                                       "paths.dropped_at": "2"})
    now, before = (paths_after_drop_off(window(*w), funnel=funnel, dropped_at=2)[0]
                   for w in (NOW, PREVIOUS))
    t = tile(at, "Users with a path")  # the funnel counts users
    assert t.delta == pct_change(now.entities, before.entities)
    assert t.help == f"{before.entities:,} in the earlier period, {EARLIER}."
    assert tile(at, "Distinct paths").delta == pct_change(now.path_counts.height,
                                                          before.path_counts.height)


def test_paths_compare_is_off_by_default_and_its_choice_lives_in_the_url():
    at = run_page("paths", **RANGE)
    assert at.segmented_control(key="paths.compare").value == "none"
    assert all(not m.proto.delta for m in at.metric)
    at.segmented_control(key="paths.compare").set_value("previous").run()
    assert not at.exception
    assert url(at, "paths.compare") == ["previous"]
    assert tile(at, "Distinct paths").delta.endswith("vs previous 30 days")
    # the link reopens the choice
    at = run_page("paths", **RANGE, **{"paths.compare": "previous"})
    assert at.segmented_control(key="paths.compare").value == "previous"
    at.segmented_control(key="paths.compare").set_value("none").run()
    assert "paths.compare" not in at.query_params  # the default stays out of the link
    assert all(not m.proto.delta for m in at.metric)


def test_paths_without_a_date_range_asks_for_one_and_shows_no_change():
    at = run_page("paths", **{"paths.compare": "previous"})
    assert all(not m.proto.delta for m in at.metric)
    assert tile(at, "Sessions with a path").help == WHOLE_DATA
    assert any(c.value == WHOLE_DATA for c in at.caption)


def test_paths_a_year_earlier_says_the_data_hold_nothing_then():
    at = run_page("paths", **RANGE, **{"paths.compare": "year"})
    note = "No comparison: the data hold nothing from 2025-07-31 – 2025-08-29."
    assert all(not m.proto.delta for m in at.metric)
    assert tile(at, "Distinct paths").help == note


def test_paths_two_values_side_by_side_say_why_there_is_no_change():
    at = run_page("paths", **RANGE, **{"paths.compare": "previous", "paths.by": "device",
                                       "paths.values": ["mobile", "desktop"]})
    assert not at.metric
    assert any("Two values side by side have no tiles" in c.value for c in at.caption)


# --- Retention --------------------------------------------------------------------------------


def pooled(events: pl.DataFrame, period: int) -> tuple[float, int]:
    """The page's defaults on the sample: weekly cohorts (90 days of data), 8 periods, any
    event starts and returns; the pooled rate of ``period`` over complete cohorts."""
    r = compute_retention(events, period="week", periods=8)
    row = r.mean.filter(pl.col("period") == period).row(0, named=True)
    return row["rate"], row["people"]


def test_retention_tiles_against_the_previous_30_days_equal_compute_retention():
    at = run_page("retention", **RANGE, **{"retention.compare": "previous"})
    now, before = window(*NOW), window(*PREVIOUS)
    people = compute_retention(now, period="week").n_people
    people_before = compute_retention(before, period="week").n_people
    assert people != people_before
    t = tile(at, "People in cohorts")
    assert t.body == f"{people:,}" and t.delta == pct_change(people, people_before)
    assert t.help == f"{people_before:,} people in the earlier period, {EARLIER}."
    # period 1 and the last period with a complete cohort in the current window
    last = compute_retention(now, period="week").mean["period"].max()
    for k in (1, last):
        (rate, _), (rate_before, over) = pooled(now, k), pooled(before, k)
        t = tile(at, f"Came back in week {k}")
        assert t.body == f"{100 * rate:.1f}%"
        assert t.delta == pp_change(rate, rate_before)
        assert t.help == (f"{100 * rate_before:.1f}% of {over:,} people in complete cohorts "
                          f"in the earlier period, {EARLIER}.")
    assert any(c.value.startswith(f"Changes vs {EARLIER}: the cohorts that started in that period")
               for c in at.caption)


def test_retention_compare_is_off_by_default_and_its_choice_lives_in_the_url():
    at = run_page("retention", **RANGE)
    assert at.segmented_control(key="retention.compare").value == "none"
    assert all(not m.proto.delta for m in at.metric)
    at.segmented_control(key="retention.compare").set_value("previous").run()
    assert not at.exception
    assert url(at, "retention.compare") == ["previous"]
    assert tile(at, "People in cohorts").delta.endswith("vs previous 30 days")
    at = run_page("retention", **RANGE, **{"retention.compare": "year"})
    assert at.segmented_control(key="retention.compare").value == "year"
    note = "No comparison: the data hold nothing from 2025-07-31 – 2025-08-29."
    assert tile(at, "People in cohorts").help == note and not tile(at, "People in cohorts").delta


def test_retention_without_a_date_range_asks_for_one_and_shows_no_change():
    at = run_page("retention", **{"retention.compare": "previous"})
    assert all(not m.proto.delta for m in at.metric)
    assert tile(at, "People in cohorts").help == WHOLE_DATA
    assert any(c.value == WHOLE_DATA for c in at.caption)


def test_retention_group_of_a_breakdown_is_compared_with_the_same_group():
    at = run_page("retention", **RANGE, **{"retention.compare": "previous",
                                           "retention.by": "device",
                                           "retention.group": "desktop"})
    now = compute_retention(window(*NOW), period="week", breakdown="device")
    before = compute_retention(window(*PREVIOUS), period="week", breakdown="device")
    rate, rate_before = (r.mean.filter((pl.col("group") == "desktop") & (pl.col("period") == 1))
                         ["rate"].item() for r in (now, before))
    assert tile(at, "Came back in week 1").delta == pp_change(rate, rate_before)
    people, people_before = (r.people.filter(pl.col("group") == "desktop").height
                             for r in (now, before))
    assert tile(at, "People in cohorts").delta == pct_change(people, people_before)


def test_retention_pooled_other_group_says_its_values_are_chosen_per_period():
    # 40 brands: the smaller ones pool into "Other", chosen in each window on its own
    at = run_page("retention", **RANGE, **{"retention.compare": "previous",
                                           "retention.start": "view_item",
                                           "retention.by": "brand", "retention.group": "Other"})
    assert not at.exception
    now, before = (compute_retention(window(*w), period="week", breakdown="brand",
                                     start="view_item") for w in (NOW, PREVIOUS))
    people, people_before = (r.people.filter(pl.col("group") == "Other").height
                             for r in (now, before))
    t = tile(at, "People in cohorts")
    assert t.delta == pct_change(people, people_before)
    assert "pools the breakdown values outside the largest groups of each period" in t.help
    desktop = run_page("retention", **RANGE, **{"retention.compare": "previous",
                                                "retention.by": "device",
                                                "retention.group": "desktop"})
    assert "pools the breakdown values" not in tile(desktop, "People in cohorts").help
