"""AppTest: the Paths page on the bundled sample, URL-bound controls, breakdowns, funnel link."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from apptest import metric, run_page
from people_tables import assert_grid_readable
from streamlit.testing.v1 import AppTest

from core.fmt import color_for
from core.schema import EVENT_TYPES

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "paths.py")


def figure(at: AppTest) -> dict:
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.spec)


def top_paths(at: AppTest):
    return at.dataframe[0].value  # the first table is the top paths


def test_default_view_shows_the_sankey_and_top_paths():
    at = run()
    sessions = int(metric(at, "Sessions with a path").replace(",", ""))
    assert sessions > 1000
    sankey = [d for d in figure(at)["data"] if d["type"] == "sankey"]
    assert len(sankey) == 1
    labels = sankey[0]["node"]["label"]
    assert "Drop-off" in labels and not any(label[:2] == "1_" for label in labels)
    table = top_paths(at)
    assert list(table.columns) == ["Path", "Steps", "Sessions", "Share of sessions",
                                   "Purchased", "Conversion"]
    assert_grid_readable(at.dataframe[0])
    assert table["Sessions"].dtype.kind == "i" and table["Sessions"].is_monotonic_decreasing
    assert table["Share of sessions"].between(0, 1).all()  # fractions, shown as percentages
    # the links table: words, durations, no None cell (drop-offs have no time)
    links = at.dataframe[1].value
    assert "Mean time between" in links.columns and not any("_" in c for c in links.columns)
    assert_grid_readable(at.dataframe[1])
    # durations sort as durations; into Drop-off there is no next step: null, shown as a dash
    assert links["Mean time between"].dtype.kind == "m"
    assert links.loc[links["To"] == "Drop-off", "Mean time between"].isna().all()
    legend = [d["name"] for d in figure(at)["data"] if d["type"] == "scatter"]
    assert "purchase (event type)" in legend and "Drop-off (path ended)" in legend
    assert at.selectbox(key="paths.node").value == "event"
    assert at.slider(key="paths.depth").value == 5
    assert "paths.depth" not in at.query_params  # defaults stay out of the URL


def test_controls_from_the_url_are_used():
    at = run(
        **{
            "paths.start": "view_item",
            "paths.depth": "3",
            "paths.count": "users",
            "paths.collapse": "false",
        }
    )
    assert at.selectbox(key="paths.start").value == "view_item"
    assert "Users with a path" in [m.label for m in at.metric]
    table = top_paths(at)
    assert table["Path"].str.startswith("view_item").all()
    assert table["Steps"].astype(int).max() <= 3


def test_widgets_change_the_view():
    at = run()
    at.slider(key="paths.depth").set_value(2).run()
    assert not at.exception
    assert top_paths(at)["Steps"].astype(int).max() <= 2
    at.selectbox(key="paths.node").set_value("event_type").run()
    assert not at.exception
    assert set(" → ".join(top_paths(at)["Path"]).split(" → ")) <= set(EVENT_TYPES)


def test_breakdown_shows_one_value_or_compares_two():
    one = run(**{"paths.by": "device", "paths.values": ["mobile"]})
    assert "device = mobile" in figure(one)["layout"]["title"]["text"]
    both = run(**{"paths.by": "device", "paths.values": ["mobile", "desktop"]})
    data = figure(both)["data"]
    assert [d["type"] for d in data if d["type"] == "sankey"] == ["sankey", "sankey"]
    texts = [a["text"] for a in figure(both)["layout"]["annotations"]]
    # each value's title in the colour every page gives it
    assert any(f"color:{color_for('mobile')}" in t and "device = mobile" in t for t in texts)
    texts = [a["text"] for a in figure(both)["layout"]["annotations"]]
    assert any("device = mobile" in t for t in texts) and any(
        "device = desktop" in t for t in texts
    )
    assert len(both.dataframe) == 4  # top paths of each side, then the links of each side
    mobile = int(texts[0].split("(")[1].split(" ")[0].replace(",", ""))
    desktop = int(texts[1].split("(")[1].split(" ")[0].replace(",", ""))
    whole = int(metric(run(), "Sessions with a path").replace(",", ""))
    assert mobile + desktop < whole  # tablets are left out


def test_funnel_link_restricts_to_the_drop_offs_and_can_be_cleared():
    from core.funnels import FunnelParams, compute_funnel, dropped_off
    from core.store import SAMPLE_ID, DatasetStore

    funnel = FunnelParams(steps=("view_item", "add_to_cart", "purchase"), window=timedelta(days=1))
    at = run(**{"paths.funnel": funnel.to_query(), "paths.dropped_at": "2"})
    banner = " ".join(m.value for m in at.markdown)
    events = DatasetStore().scan(SAMPLE_ID).collect()
    gone = dropped_off(compute_funnel(events, funnel.steps, window=funnel.window), 2).height
    assert f"{gone:,} users" in banner and "view_item" in banner and "add_to_cart" in banner
    assert not [w for w in at.selectbox if w.key == "paths.start"]  # the funnel decides
    assert top_paths(at)["Path"].str.startswith("view_item").all()
    assert int(metric(at, "Users with a path").replace(",", "")) == gone
    # a node of these paths is not saved as a cohort (its users need the funnel): said so
    assert not [w for w in at.selectbox if w.key == "paths.cohort_node"]
    assert "save the drop-outs themselves on the Funnels page" in " ".join(
        c.value for c in at.caption)
    at.button(key="paths.clear_funnel").click().run()
    assert not at.exception
    assert "paths.funnel" not in at.query_params
    assert "Sessions with a path" in [m.label for m in at.metric]
    assert at.selectbox(key="paths.cohort_node").value == "0|1_page_view"  # the first node


def test_invalid_url_values_never_crash():
    at = run(
        **{
            "paths.depth": "99",
            "paths.node": "nope",
            "paths.start": "zzz",
            "paths.min_edge": "-3",
            "paths.top": "abc",
            "paths.count": "cats",
            "paths.by": "nope",
            "paths.values": ["x"],
            "paths.funnel": "garbage",
            "paths.dropped_at": "abc",
        }
    )
    assert any("funnel" in w.value for w in at.warning)
    assert at.slider(key="paths.depth").value == 5
    bad_regex = run(**{"paths.groupings": "re:("})
    assert any("groupings" in e.value for e in bad_regex.error)
    bad_step = run(**{"paths.funnel": _two_step_funnel(), "paths.dropped_at": "7"})
    assert any("dropped_at" in w.value for w in bad_step.warning)


def test_empty_result_explains_why():
    at = run(**{"paths.start": "purchase", "paths.exclude": ["purchase"]})
    assert at.info and "purchase" in at.info[0].value
    assert not at.get("plotly_chart")


def _two_step_funnel() -> str:
    from core.funnels import FunnelParams

    return FunnelParams(steps=("view_item", "purchase"), window=timedelta(days=1)).to_query()


def run(**params) -> AppTest:
    return run_page("paths", **params)
