"""AppTest: the Retention page on the bundled sample — headline numbers against a direct Polars
query, URL-bound controls, links that reproduce the view, bad link values, empty results."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from apptest import metric, run_page
from people_tables import assert_grid_readable
from streamlit.testing.v1 import AppTest

from core.retention import compute_retention
from core.store import SAMPLE_ID, DatasetStore
from ui.retention import empty_reason, headlines, notes

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sample() -> pl.DataFrame:
    return DatasetStore().scan(SAMPLE_ID).collect()


def run(**params) -> AppTest:
    return run_page("retention", **params)


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    centre = (k / n + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(k / n * (1 - k / n) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def reference_weekly(events: pl.DataFrame, periods: int = 8) -> dict[int, tuple[int, int]]:
    """Direct query: for each week k >= 1, (people in cohorts whose week k is over, of them
    those with any event in week k). Cohort = ISO week of the first event."""
    end = events["ts"].max()
    firsts = events.group_by("user_id").agg(pl.col("ts").min().dt.truncate("1w").alias("cohort"))
    weeks = (
        events.join(firsts, on="user_id")
        .with_columns(((pl.col("ts").dt.truncate("1w") - pl.col("cohort")).dt.total_days() // 7)
                      .alias("k"))
        .select("user_id", "cohort", "k").unique()
    )
    out = {}
    for k in range(1, periods):
        done = firsts.filter(pl.col("cohort") + timedelta(weeks=k + 1) <= end)
        if done.is_empty():
            continue
        back = weeks.filter((pl.col("k") == k) & pl.col("user_id").is_in(done["user_id"].implode()))
        out[k] = (done.height, back["user_id"].n_unique())
    return out


def test_default_view_headline_equals_a_direct_polars_query(sample):
    at = run()
    # the sample spans 90 days: weekly cohorts by default, 8 periods, any event both ways
    assert at.segmented_control(key="retention.period").value == "week"
    assert "retention.period" not in at.query_params  # defaults stay out of the URL
    assert metric(at, "People in cohorts") == f"{sample['user_id'].n_unique():,}"
    ref = reference_weekly(sample)
    last = max(ref)
    for k in (1, last):
        n, back = ref[k]
        low, high = wilson(back, n)
        label = f"Came back in week {k}"
        assert metric(at, label) == f"{100 * back / n:.1f}%"
        sentence = (f"{label}: {100 * back / n:.1f}% ({100 * low:.1f}–{100 * high:.1f}%) "
                    f"of {n:,} people in complete cohorts")
        assert sentence in captions(at)
    assert "pooled" in captions(at).lower() or "Pooled" in captions(at)
    heat, curves = (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
    assert heat["data"][0]["type"] == "heatmap"
    assert len(heat["data"][0]["x"]) == 8
    assert any(t.endswith("*") for row in heat["data"][0]["text"] for t in row if t)
    assert "*" in captions(at) and "may still rise" in captions(at)
    assert any(t.get("name") == "mean of cohorts" for t in curves["data"])
    table = at.dataframe[0].value
    assert list(table.columns)[:5] == ["Cohort", "Week", "People in cohort", "Came back",
                                       "Retention"]
    assert_grid_readable(at.dataframe[0])
    # the table's first cohort, week 1, against the direct query
    first = sample.group_by("user_id").agg(pl.col("ts").min().dt.truncate("1w").alias("c"))
    oldest = first["c"].min()
    row = table[(table["Cohort"] == oldest.strftime("%Y-%m-%d")) & (table["Week"] == 1)].iloc[0]
    assert row["People in cohort"] == first.filter(pl.col("c") == oldest).height
    assert [b.label for b in at.get("download_button")] == [
        "Download the table (CSV)", "Download the people (CSV)"]


def test_each_control_changes_the_view(sample):
    at = run()
    at.segmented_control(key="retention.period").set_value("day").run()
    assert not at.exception
    assert "Came back in day 1" in [m.label for m in at.metric]
    at.slider(key="retention.periods").set_value(4).run()
    assert not at.exception
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert heat["data"][0]["x"] == ["Day 0", "Day 1", "Day 2", "Day 3"]
    at.segmented_control(key="retention.mode").set_value("on or after").run()
    assert not at.exception
    assert "Came back in day 1 or later" in [m.label for m in at.metric]
    at.selectbox(key="retention.start").set_value("purchase").run()
    assert not at.exception
    buyers = sample.filter(pl.col("event") == "purchase")["user_id"].n_unique()
    assert metric(at, "People in cohorts") == f"{buyers:,}"
    at.selectbox(key="retention.return").set_value("purchase").run()
    assert not at.exception
    at.text_input(key="retention.start_where").input("device:eq:mobile").run()
    assert not at.exception
    mobile = sample.filter((pl.col("event") == "purchase") & (pl.col("device") == "mobile"))
    assert metric(at, "People in cohorts") == f"{mobile['user_id'].n_unique():,}"
    at.selectbox(key="retention.by").set_value("channel").run()
    assert not at.exception
    groups = at.selectbox(key="retention.group")
    assert groups.value == groups.options[0]  # the largest group first
    assert list(at.dataframe[0].value.columns)[0] == "Group"
    other = groups.options[1]
    before = metric(at, "People in cohorts")
    groups.set_value(other).run()
    assert not at.exception
    assert metric(at, "People in cohorts") != before


def test_a_link_with_retention_keys_reproduces_the_view():
    link = {"retention.start": "add_to_cart", "retention.return": "purchase",
            "retention.period": "day", "retention.periods": "10",
            "retention.mode": "on or after", "retention.by": "device",
            "retention.group": "desktop", "retention.start_where": "country:is_not_null"}
    at = run(**link)
    assert at.selectbox(key="retention.start").value == "add_to_cart"
    assert at.selectbox(key="retention.group").value == "desktop"
    assert at.slider(key="retention.periods").value == 10
    shown = [(m.label, m.value) for m in at.metric]
    by_hand = run()
    by_hand.selectbox(key="retention.start").set_value("add_to_cart")
    by_hand.selectbox(key="retention.return").set_value("purchase")
    by_hand.segmented_control(key="retention.period").set_value("day")
    by_hand.slider(key="retention.periods").set_value(10)
    by_hand.segmented_control(key="retention.mode").set_value("on or after")
    by_hand.text_input(key="retention.start_where").input("country:is_not_null")
    by_hand.selectbox(key="retention.by").set_value("device").run()
    by_hand.selectbox(key="retention.group").set_value("desktop").run()
    assert not by_hand.exception
    assert [(m.label, m.value) for m in by_hand.metric] == shown
    assert shown[1][0] == "Came back in day 1 or later"


def test_bad_link_values_get_a_notice():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.switch_page("pages/retention.py")
    for k, v in {"retention.period": "year", "retention.periods": "abc",
                 "retention.start": "nope", "retention.mode": "inf"}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    notes_ = " ".join(w.value for w in at.warning)
    for k, v in (("retention.period", "year"), ("retention.periods", "abc"),
                 ("retention.start", "nope")):
        assert f"`{k}={v}`" in notes_
    assert "Came back in week 1" in [m.label for m in at.metric]  # the defaults are shown
    bad = run(**{"retention.start_where": "device:nope:x"})
    assert any("device:nope:x" in e.value or "nope" in e.value for e in bad.error)


def test_empty_and_degenerate_results_show_a_message():
    nobody = run(**{"retention.start": "purchase", "retention.start_where": "device:eq:toaster"})
    assert nobody.info and "No one did the start event" in nobody.info[0].value
    assert not nobody.get("plotly_chart")
    short = run(**{"from": "2026-08-28", "to": "2026-08-30", "retention.period": "week"})
    assert short.info and "less than two weeks" in short.info[0].value
    assert not short.get("plotly_chart")


def test_one_cohort_and_no_complete_period_are_explained():
    ev = pl.DataFrame({
        "user_id": ["a", "a", "b"], "event": ["visit"] * 3,
        "ts": [datetime(2024, 1, 1), datetime(2024, 1, 9), datetime(2024, 1, 2)]})
    r = compute_retention(ev, period="week", periods=3)
    assert empty_reason(r) is None
    said = notes(r, "All")
    assert any("Only one cohort (2024-01-01, 2 people)" in n for n in said)
    assert any("No cohort has a complete week 1 yet" in n for n in said)
    heads = headlines(r, "All")
    assert [h.label for h in heads] == ["People in cohorts", "Came back in week 1"]
    assert heads[1].value == "–"


def test_a_cell_of_a_breakdown_group_is_saved_with_that_group_only(sample):
    # by device, group "mobile": the first cohort's period 0 is its mobile people only
    from core.cohorts import retention_cell_members
    from core.overview import dataset_info
    from core.retention import RetentionParams
    from ui.data import saved_cohorts
    from ui.retention import default_period

    store = DatasetStore()
    at = run(**{"retention.by": "device", "retention.group": "mobile"})
    try:
        at.button(key="retention.cohort.save").click().run()
        assert not at.exception and not at.error
        (c,) = store.cohorts(SAMPLE_ID)
        params = RetentionParams(period=default_period(dataset_info(sample)), periods=8,
                                 breakdown="device")
        result = params.compute(sample)
        first = result.people.get_column("cohort").min()
        expected = retention_cell_members(result, first, 0, group="mobile")
        assert store.cohort_members(SAMPLE_ID, c.id).to_list() == expected.members.to_list()
        assert "device = mobile" in c.definition
        mobile = result.people.filter((pl.col("cohort") == first) & (pl.col("group") == "mobile"))
        assert c.size == mobile.height < result.people.filter(pl.col("cohort") == first).height
    finally:  # the other page tests open the sample without cohorts
        for c in store.cohorts(SAMPLE_ID):
            store.delete_cohort(SAMPLE_ID, c.id)
        saved_cohorts.clear()
