"""AppTest: the Funnels page on the bundled sample, URL-bound controls, bad links."""

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from apptest import metric, run_page
from people_tables import assert_grid_readable, grid_kinds

from core.funnels import FunnelParams

ROOT = Path(__file__).resolve().parent.parent
TRUTH = json.loads((ROOT / "sample_data" / "ground_truth.json").read_text())
REALISED = TRUTH["funnel"]["realised_session_counts"]


def run(**params):
    return run_page("funnels", **params)


def test_default_funnel_is_the_canonical_purchase_path():
    at = run()
    assert at.multiselect(key="funnel.steps").value == [
        "view_item", "add_to_cart", "begin_checkout", "purchase"]
    assert int(metric(at, "Entered (users)").replace(",", "")) > 0
    assert len(at.get("plotly_chart")) >= 3


def test_session_funnel_matches_the_planted_counts():
    # The generator emits view_item -> add_to_cart -> begin_checkout -> purchase in this order
    # within a session, so an ordered per-session funnel must count exactly the sessions that
    # contain each step (ground_truth.json, realised_session_counts).
    at = run(**{"funnel.count_by": "session_id"})
    assert metric(at, "Entered (sessions)") == f"{REALISED['view_item']:,}"
    assert metric(at, "Converted (sessions)") == f"{REALISED['purchase']:,}"
    table = at.dataframe[0].value
    assert list(table["Sessions"]) == [REALISED[s] for s in
                                       ("view_item", "add_to_cart", "begin_checkout", "purchase")]


def test_controls_come_from_the_url_and_breakdown_has_intervals():
    at = run(**{"funnel.steps": ["view_item", "purchase"], "funnel.breakdown": "device",
                "funnel.window": "2", "funnel.unit": "hours"})
    assert at.number_input(key="funnel.window").value == 2
    bd = next(d.value for d in at.dataframe if "device" in d.value.columns)
    assert set(bd["device"]) == {"mobile", "desktop", "tablet"}
    # people's table: value, then the verdict of the test, then percentages; no "None" cells
    assert list(bd.columns[:3]) == ["device", "Significant vs rest", "Conversion"]
    # numbers stay numbers, so a click on a header sorts them as numbers: conversion is a
    # fraction shown as a percentage, p-values are floats
    shown = next(d for d in at.dataframe if "device" in d.value.columns)
    assert_grid_readable(shown)
    assert bd["Conversion"].dtype == "float64" and bd["Conversion"].between(0, 1).all()
    assert bd["Adjusted p"].between(0, 1).all()
    assert grid_kinds(shown)["Significant vs rest"] == "text"
    assert grid_kinds(shown)["Conversion"] == "number"


def test_drop_off_link_opens_paths_on_that_funnel():
    at = run(**{"funnel.drop_step": "3"})
    link = next(m.value for m in at.markdown if "Open Paths" in m.value)
    url = link[link.index("(") + 1:-1]
    q = parse_qs(urlparse(url).query)
    assert q["paths.dropped_at"] == ["3"]
    assert [s.event for s in FunnelParams.from_query(q["paths.funnel"][0]).steps] == [
        "view_item", "add_to_cart", "begin_checkout", "purchase"]


def test_degenerate_and_bad_inputs_explain_themselves():
    at = run(**{"funnel.steps": "view_item"})
    assert any("at least two steps" in i.value for i in at.info)
    at = run(**{"funnel.steps": ["no_such_event", "purchase"], "funnel.window": "-5",
                "funnel.order": "sideways"})
    assert at.number_input(key="funnel.window").value == 1  # invalid value ignored
    at = run(**{"funnel.where1": "price:gt:abc"})
    assert at.error and "needs a number" in at.error[0].value
    at = run(**{"funnel.where1": "price:gt:1e12"})  # nobody matches step 1
    assert at.info


def _trend(at):
    import json as _json

    specs = [_json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(f for f in specs
                if "Conversion" in f["layout"].get("title", {}).get("text", ""))


def test_trend_defaults_to_attempts_names_its_definition_and_marks_the_open_window():
    at = run()
    assert at.get("segmented_control")  # trend controls are there
    fig = _trend(at)
    title = fig["layout"]["title"]["text"]
    assert "attempts that entered each day" in title  # 90 days of data: daily grain
    assert fig["layout"]["yaxis"]["title"]["text"] == "% of attempts converted"
    names = [t.get("name") for t in fig["data"]]
    # the sample's last day: its 1-day windows are not closed at the end of the data
    assert "conversion" in names and "incomplete (window not closed yet)" in names
    assert all(t.get("showlegend", True) for t in fig["data"])
    assert_grid_readable(at.dataframe[0])
    steps = at.dataframe[0].value
    assert list(steps.columns)[:2] == ["Step", "Users"]
    # step 1 has no previous step: a null, shown as a dash; later steps a sortable duration
    assert steps["Median time from previous"].isna().iloc[0]
    assert steps["Median time from previous"].dtype.kind == "m"


def test_trend_by_cohort_from_the_url():
    at = run(**{"funnel.trend": "cohort", "funnel.interval": "week"})
    title = _trend(at)["layout"]["title"]["text"]
    assert "first entry (cohort)" in title and "week" in title


def test_unordered_funnel_trend_falls_back_to_the_cohort_and_says_so():
    at = run(**{"funnel.order": "unordered"})
    assert "cohort" in _trend(at)["layout"]["title"]["text"]
    assert any("unordered funnel has no step 1" in c.value for c in at.caption)
