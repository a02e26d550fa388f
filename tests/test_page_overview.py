"""AppTest: the Overview page on the bundled sample and with filters."""

import json
from pathlib import Path

import pytest
from apptest import metric, run_page
from people_tables import assert_grid_readable
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
TRUTH = json.loads((ROOT / "sample_data" / "ground_truth.json").read_text())


def test_overview_shows_the_sample_headline_numbers():
    at = run()
    assert metric(at, "Users") == f"{TRUTH['users']:,}"
    assert metric(at, "Sessions") == f"{TRUTH['funnel']['realised_session_counts']['sessions']:,}"
    assert metric(at, "Orders") == f"{TRUTH['funnel']['orders']:,}"
    rate = TRUTH["abandonment_drivers"]["abandonment_rate"]
    assert metric(at, "Cart abandonment") == f"{rate:.1%}"


def test_filter_from_the_url_narrows_the_numbers():
    at = run(filter="device = mobile")
    assert not at.warning, [w.value for w in at.warning]
    users_all = TRUTH["users"]
    users = int(metric(at, "Users").replace(",", ""))
    assert 0 < users < users_all
    at.sidebar.multiselect(key="overview:filter").set_value([]).run()
    assert not at.exception
    assert metric(at, "Users") == f"{users_all:,}"


def test_stale_link_parameters_are_reported_not_fatal():
    at = run(dataset="../../etc/passwd", filter="device = fridge", where="price:gt:abc")
    warnings = " ".join(w.value for w in at.warning)
    assert "malformed" in warnings and "device = fridge" in warnings
    assert any("price:gt:abc" in e.value for e in at.sidebar.error)
    assert metric(at, "Users") == f"{TRUTH['users']:,}"  # fell back to the whole sample


def test_empty_filter_result_explains_itself():
    at = run(where="price:gt:1e12")
    assert any("No events" in i.value for i in at.info)


def test_shared_segments_become_a_filterable_property():
    at = run(seg="segments.k=5")
    options = [o for o in at.sidebar.multiselect(key="overview:filter").options
               if o.startswith("segment = ")]
    assert len(options) == 5  # k = 5 segments, each a filter value
    at.sidebar.multiselect(key="overview:filter").set_value([options[0]]).run()
    assert not at.exception
    users = int(metric(at, "Users").replace(",", ""))
    assert 0 < users < TRUTH["users"]
    at.sidebar.button(key="shell.remove_seg").click().run()
    assert not at.exception
    assert "seg" not in at.query_params


def run(**params) -> AppTest:
    return run_page("overview", **params)


def _delta(at, label):
    return next(m for m in at.metric if m.label == label).proto.delta


def test_tiles_compare_with_the_previous_period_of_equal_length():
    # the last 30 days of the sample (Jul 31 - Aug 29) against Jul 1 - Jul 30
    at = run(**{"from": "2026-07-31", "to": "2026-08-29"})
    assert any("vs the previous 30 days (2026-07-01 – 2026-07-30)" in c.value for c in at.caption)
    assert _delta(at, "Users").endswith("% vs previous 30 days")
    assert _delta(at, "Conversion rate").endswith(" pp vs previous 30 days")
    # the whole sample has nothing before it: no delta, and the page says why
    at = run()
    assert not _delta(at, "Users")
    assert any("No changes: the data hold nothing before it. Pick a date range" in c.value
               for c in at.caption)


def test_currency_is_a_url_setting_and_the_trend_has_no_fractional_counts():
    at = run(**{"overview.currency": "EUR"})
    assert any(m.label == "Revenue (EUR)" for m in at.metric)
    at = run()
    assert any(m.label == "Revenue" for m in at.metric)  # the sample has no currency column
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    trend = next(s for s in specs if s["layout"]["title"]["text"].startswith("Daily"))
    assert trend["layout"]["yaxis"]["tickformat"] == ",d"
    assert trend["layout"]["yaxis"]["title"]["text"] == "sessions"
    assert all(v == int(v) for t in trend["data"] for v in t["y"])
    # the trend and mix tables: counts are integers and shares fractions, so they sort as
    # numbers; no "None" cells
    for table in at.dataframe:
        assert_grid_readable(table)
    trend_table = next(t.value for t in at.dataframe if "Period (UTC)" in t.value.columns)
    assert trend_table["Sessions"].dtype.kind == "i" and trend_table["Revenue"].dtype.kind == "f"
    mix = next(t.value for t in at.dataframe if "Event type" in t.value.columns)
    assert mix["Share"].sum() == pytest.approx(1.0)
    at = run(**{"overview.grain": "week", "overview.metric": "users"})
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert any(s["layout"]["title"]["text"] == "Weekly users" for s in specs)
