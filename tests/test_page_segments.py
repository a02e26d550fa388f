"""AppTest: the Segments page on the bundled sample, URL-bound controls, degenerate input."""

from pathlib import Path

from apptest import metric, run_page
from people_tables import assert_grid_readable
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


def test_sample_segments_recover_the_five_personas():
    at = run()
    assert metric(at, "Users") == "20,000"
    assert metric(at, "Segments") == "5"  # chosen by silhouette
    names = [t.label for t in at.tabs]
    assert {"High-value loyal", "Bouncers", "Window shoppers", "Cart abandoners",
            "Deal seekers"} == set(names)
    assert len(at.get("plotly_chart")) == 4
    assert at.selectbox(key="segments.k").value == "auto"
    assert "segments.k" not in at.query_params  # defaults stay out of the URL


def test_controls_change_the_segments_and_go_to_the_url():
    at = run()
    at.selectbox(key="segments.k").set_value("3").run()
    assert not at.exception
    assert metric(at, "Segments") == "3"
    at.multiselect(key="segments.features").set_value(["sessions", "revenue"]).run()
    assert not at.exception
    assert metric(at, "Segments") == "3"
    # (the browser writes bound values to the URL; the URL -> page direction is tested below)


def test_url_reproduces_the_segments():
    at = run(**{"segments.k": "4", "segments.seed": "7",
                "segments.features": ["sessions", "revenue", "mobile_share"]})
    assert metric(at, "Segments") == "4"
    assert at.number_input(key="segments.seed").value == 7
    assert at.multiselect(key="segments.features").value == ["sessions", "revenue",
                                                             "mobile_share"]
    again = run(**{"segments.k": "4", "segments.seed": "7",
                   "segments.features": ["sessions", "revenue", "mobile_share"]})
    assert [t.label for t in again.tabs] == [t.label for t in at.tabs]


def test_invalid_url_values_never_crash_the_page():
    at = run(**{"segments.k": "banana", "segments.seed": "-5",
                "segments.features": ["nope", "sessions"]})
    assert at.selectbox(key="segments.k").value == "auto"
    assert at.number_input(key="segments.seed").value == 0
    assert metric(at, "Users") == "20,000"


def test_no_feature_picked_explains_itself():
    at = run()
    at.multiselect(key="segments.features").set_value([]).run()
    assert not at.exception
    assert any("at least one feature" in i.value for i in at.info)


def test_fewer_users_than_k_and_one_user_explain_themselves():
    at = run(where="user_id:in:U000001|U000002|U000003", **{"segments.k": "5"})
    assert any("k=5" in i.value and "3" in i.value for i in at.info)
    at = run(where="user_id:eq:U000001")
    assert any("single user" in i.value for i in at.info)


def test_use_on_every_page_puts_the_settings_in_the_shared_link():
    at = run(**{"segments.k": "4"})
    at.button(key="segments.apply").click().run()
    assert not at.exception
    assert at.query_params["seg"] in ("segments.k=4", ["segments.k=4"])
    assert any("used on every page" in s.value for s in at.success)
    # the shared property arrives: the sidebar can now filter by segment
    options = [o for o in at.sidebar.multiselect(key="segments:filter").options
               if o.startswith("segment = ")]
    assert len(options) == 4


def test_features_shown_in_words_while_the_url_keeps_the_names():
    at = run(**{"segments.features": ["recency_days", "events_per_session", "nope"]})
    box = at.multiselect(key="segments.features")
    assert "Recency (days)" in box.options and "Events/session" in box.options
    assert not any("_" in o for o in box.options)
    assert box.value == ["recency_days", "events_per_session"]
    assert at.query_params["segments.features"] == ["recency_days", "events_per_session"]
    # (the unknown name left the URL: the app's link check reports it, see ui.links)
    box.set_value(["sessions", "revenue"]).run()
    assert not at.exception
    assert at.query_params["segments.features"] == ["sessions", "revenue"]
    at.multiselect(key="segments.features").set_value(DEFAULTS).run()
    assert "segments.features" not in at.query_params  # the defaults stay out of the URL


def test_tables_read_in_words_with_units_and_no_empty_cells():
    at = run(**{"segments.k": "4"})
    profile = at.dataframe[0].value
    assert list(profile.columns) == ["Feature", "Segment mean", "All users",
                                     "Compared with all users"]
    rows = profile.set_index("Feature")
    assert rows.loc["Mobile share *", "All users"].endswith("%")  # a share, not 0.54
    assert rows.loc["Recency (days) *", "All users"].endswith(("d", "h"))  # a duration
    assert rows.loc["Session minutes *", "All users"].endswith(("min", "s"))
    # one row per feature: the means mix units and stay text; the ratio is a number
    assert rows.loc["Revenue *", "Compared with all users"] > 0
    for frame in at.dataframe:
        assert_grid_readable(frame)
        assert not frame.value.astype(str).isin(["True", "False"]).any().any()
    centroids = next(f for f in at.dataframe if "Segment" in f.value.columns)
    # each feature is a column of numbers in its unit: a share is a fraction, recency a
    # duration, so the grid sorts the segments by any feature
    assert centroids.value["Mobile share"].between(0, 1).all()
    assert centroids.value["Recency (days)"].dtype.kind == "m"


DEFAULTS = ["recency_days", "sessions", "revenue", "events_per_session", "views_per_session",
            "searches_per_session", "cart_adds_per_session", "removals_per_session",
            "purchases", "cart_to_purchase", "session_minutes", "categories", "mobile_share",
            "active_days"]


def run(**params) -> AppTest:
    return run_page("segments", **params)
