"""AppTest: the Overview page on the bundled sample and with filters."""

import json
from pathlib import Path

from apptest import metric, run_page
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
