"""AppTest: the Funnels page on the bundled sample, URL-bound controls, bad links."""

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from apptest import metric, run_page

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
    assert int(metric(at, "Entered (user_id)").replace(",", "")) > 0
    assert len(at.get("plotly_chart")) >= 3


def test_session_funnel_matches_the_planted_counts():
    # The generator emits view_item -> add_to_cart -> begin_checkout -> purchase in this order
    # within a session, so an ordered per-session funnel must count exactly the sessions that
    # contain each step (ground_truth.json, realised_session_counts).
    at = run(**{"funnel.count_by": "session_id"})
    assert metric(at, "Entered (session_id)") == f"{REALISED['view_item']:,}"
    assert metric(at, "Converted") == f"{REALISED['purchase']:,}"
    table = at.dataframe[0].value
    assert list(table["entities"]) == [REALISED[s] for s in
                                       ("view_item", "add_to_cart", "begin_checkout", "purchase")]


def test_controls_come_from_the_url_and_breakdown_has_intervals():
    at = run(**{"funnel.steps": ["view_item", "purchase"], "funnel.breakdown": "device",
                "funnel.window": "2", "funnel.unit": "hours"})
    assert at.number_input(key="funnel.window").value == 2
    bd = at.dataframe[1].value
    assert set(bd["breakdown"]) == {"mobile", "desktop", "tablet"}
    assert ((bd["ci_low"] <= bd["conversion"]) & (bd["conversion"] <= bd["ci_high"])).all()


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
