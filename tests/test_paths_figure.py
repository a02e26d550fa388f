"""Paths: the Plotly Sankey builders (labels, colours, hover, positions, comparison)."""

from __future__ import annotations

import re
from datetime import timedelta

import polars as pl
import pytest
from builders import make_events
from people_tables import assert_readable

from core import compute_paths
from core.fmt import color_for
from core.paths import (
    SPECIAL_COLOURS,
    TYPE_COLOURS,
    links_people_table,
    node_colour,
    paths_comparison_figure,
    paths_figure,
    top_paths_people_table,
)


def _events():
    return make_events(
        {
            "u1": [("page_view", "00:00"), ("view_item", "00:01"), ("add_to_cart", "00:02")],
            "u2": [("page_view", "00:00"), ("view_item", "00:02")],
            "u3": [("search", "00:00"), ("view_item", "00:01"), ("purchase", "00:05")],
            "u4": [("product_view", "00:00", {"event_type": "view_item"}), ("scroll", "00:01")],
        }
    )


def test_labels_have_no_step_prefix_and_specials_read_as_words():
    r = compute_paths(_events())
    sankey = paths_figure(r).data[0]
    labels = list(sankey.node.label)
    assert len(labels) == r.nodes.height
    assert not any(re.match(r"^\d+_", label) for label in labels)
    assert "Drop-off" in labels and "$drop_off" not in labels
    folded = compute_paths(_events(), top_per_step=1)
    assert "Other" in paths_figure(folded).data[0].node.label


def test_one_colour_per_event_type_and_grey_drop_off():
    r = compute_paths(_events())
    sankey = paths_figure(r).data[0]
    colour = dict(zip(r.nodes["key"].to_list(), sankey.node.color, strict=True))
    assert colour["1_page_view"] == TYPE_COLOURS["page_view"]
    # the same type has the same colour at every step, and two raw names of one type share it
    assert colour["2_view_item"] == colour["1_product_view"] == TYPE_COLOURS["view_item"]
    assert colour["4_$drop_off"] == colour["3_$drop_off"] == SPECIAL_COLOURS["drop_off"]
    assert colour["3_purchase"] != colour["3_add_to_cart"]
    # names without an event type (categories) get a stable colour
    assert node_colour("shoes", "node", {}) == node_colour("shoes", "node", {})


def test_hover_shows_count_and_share_of_starting_entities():
    r = compute_paths(_events())
    sankey = paths_figure(r).data[0]
    assert "of starting sessions" in sankey.node.hovertemplate
    assert "of starting sessions" in sankey.link.hovertemplate
    key_index = {k: i for i, k in enumerate(r.nodes["key"].to_list())}
    custom = sankey.node.customdata[key_index["2_view_item"]]
    # view_item at step 2: u1, u2, u3 = 3 of 4 sessions
    assert custom[2] == 3 and custom[3] == pytest.approx(0.75)
    link = list(zip(sankey.link.source, sankey.link.target, strict=True)).index(
        (key_index["1_page_view"], key_index["2_view_item"])
    )
    assert sankey.link.value[link] == 2 and sankey.link.customdata[link][2] == pytest.approx(0.5)
    assert "mean 1 min 30 s" in sankey.link.customdata[link][3]  # (60 s + 120 s) / 2 = 90 s


def test_columns_are_steps_aligned_left_or_on_the_end_point():
    # Plotly places a node by its depth from the sources (left) or its distance to the sinks
    # (right); both equal the node's step when every node past the first column is reached
    # from the step before (or, walking backwards, leads to the end point).
    assert paths_figure(compute_paths(_events())).data[0].node.align == "left"
    ended = compute_paths(_events(), end="view_item")
    assert paths_figure(ended).data[0].node.align == "right"


def test_nodes_sit_in_one_column_per_step_and_stacks_fit():
    r = compute_paths(_events(), end="view_item", max_steps=4)  # steps 2..4 used
    sankey = paths_figure(r).data[0]
    x_by_step: dict[int, set[float]] = {}
    for step, x in zip(r.nodes["step"].to_list(), sankey.node.x, strict=True):
        x_by_step.setdefault(step, set()).add(x)
    assert all(len(xs) == 1 for xs in x_by_step.values())
    xs = [next(iter(x_by_step[s])) for s in sorted(x_by_step)]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert xs[0] < 0.01 and xs[-1] > 0.99  # no empty columns on the left
    assert all(0 < y < 1 for y in sankey.node.y)


def test_comparison_puts_two_sankeys_side_by_side_with_shared_colours():
    ev = _events()
    left = compute_paths(ev.filter(ev["user_id"].is_in(["u1", "u2"])))
    right = compute_paths(ev.filter(ev["user_id"].is_in(["u3", "u4"])))
    fig = paths_comparison_figure(left, right, left_title="A (2)", right_title="B (2)")
    assert [t.type for t in fig.data][:2] == ["sankey", "sankey"]
    assert list(fig.data[0].domain.x) == [0.0, 0.48] and list(fig.data[1].domain.x) == [0.52, 1.0]
    texts = [a.text for a in fig.layout.annotations]
    assert any("A (2)" in t for t in texts) and any("B (2)" in t for t in texts)
    colours = {}
    for trace in fig.data[:2]:
        for label, colour in zip(trace.node.label, trace.node.color, strict=True):
            assert colours.setdefault(label, colour) == colour


def test_empty_results_give_a_figure_that_says_why():
    empty = compute_paths(_events(), start="login")
    fig = paths_figure(empty)
    assert len(fig.data) == 0 and "login" in fig.layout.title.text
    full = compute_paths(_events())
    fig2 = paths_comparison_figure(empty, full, left_title="left", right_title="right")
    assert [t.type for t in fig2.data].count("sankey") == 1
    assert any("login" in a.text for a in fig2.layout.annotations)


def test_a_legend_names_every_node_colour():
    r = compute_paths(_events())
    fig = paths_figure(r)
    legend = {t.name: t.marker.color for t in fig.data[1:] if t.showlegend is not False}
    assert fig.layout.showlegend is True
    # the types of the nodes (u4's product_view is a view_item) and the grey Drop-off
    assert legend["view item (event type)"] == TYPE_COLOURS["view_item"]
    assert legend["page view (event type)"] == TYPE_COLOURS["page_view"]
    assert legend["Drop-off (path ended)"] == SPECIAL_COLOURS["drop_off"]
    assert "purchase (event type)" in legend and "add to cart (event type)" in legend
    used = set(fig.data[0].node.color)
    assert used <= set(legend.values()) | {node_colour("scroll", "node", r.node_types)}


def test_each_breakdown_value_keeps_its_colour_on_either_side():
    ev = _events()
    a = compute_paths(ev.filter(ev["user_id"].is_in(["u1", "u2"])))
    b = compute_paths(ev.filter(ev["user_id"].is_in(["u3", "u4"])))
    one = paths_comparison_figure(a, b, left_title="device = mobile", right_title="device = "
                                  "desktop", left_value="mobile", right_value="desktop")
    two = paths_comparison_figure(b, a, left_title="device = desktop", right_title="device = "
                                  "mobile", left_value="desktop", right_value="mobile")
    def colour_of(fig, value):
        text = next(x.text for x in fig.layout.annotations if f"= {value}" in x.text)
        return re.search(r"color:(#[0-9a-f]{6})", text).group(1)

    for value in ("mobile", "desktop"):
        assert colour_of(one, value) == colour_of(two, value) == color_for(value)
    # a category node has the colour the Funnels breakdown gives that value
    assert node_colour("Shoes", "node", {}) == color_for("Shoes")


def test_tables_in_words_with_durations_and_no_empty_cells():
    r = compute_paths(_events())
    people_top = top_paths_people_table(r)
    top = people_top.frame
    assert top.columns == ["Path", "Steps", "Sessions", "Share of sessions", "Purchased",
                           "Conversion"]
    assert top.filter(pl.col("Path") == "search → view_item → purchase").row(0) == (
        "search → view_item → purchase", 3, 1, 0.25, 1, 1.0)  # 1 of 4 sessions
    people_links = links_people_table(r)
    links = people_links.frame
    assert links.columns == ["Step", "From", "To", "Sessions", "Share of starting sessions",
                             "Mean time between"]
    for t in (people_top, people_links):
        assert_readable(t)
    assert people_links.kinds["Mean time between"] == "duration"
    row = links.filter((pl.col("From") == "page_view") & (pl.col("To") == "view_item")).row(0)
    # u1 after 60 s, u2 after 120 s: 2 of 4 sessions, mean 90 s
    assert row == ("1 → 2", "page_view", "view_item", 2, 0.5, timedelta(seconds=90))
    into_drop = links.filter(pl.col("To") == "Drop-off")
    # no next step: null, shown as an en dash by the grid
    assert into_drop.height > 0 and into_drop["Mean time between"].null_count() == into_drop.height


def test_long_comparison_titles_wrap_inside_their_half():
    # a cohort breakdown's titles ran into each other across the middle of the chart
    ev = _events()
    left = compute_paths(ev.filter(ev["user_id"].is_in(["u1", "u2"])))
    right = compute_paths(ev.filter(ev["user_id"].is_in(["u3", "u4"])))
    long_left = "cohort · Searchers = in cohort (71,404 sessions)"
    long_right = "cohort · Searchers = not in cohort (10,401 sessions)"
    short = paths_comparison_figure(left, right, left_title="A (2)", right_title="B (2)")
    fig = paths_comparison_figure(left, right, left_title=long_left, right_title=long_right)
    for ann, title in zip(fig.layout.annotations[:2], (long_left, long_right), strict=True):
        lines = [part.removeprefix("<b>").removesuffix("</b>") for part in ann.text.split("<br>")]
        assert len(lines) == 2 and all(len(line) <= 44 for line in lines)
        assert " ".join(lines) == title  # nothing cut
        assert ann.yanchor == "bottom"
    assert fig.layout.margin.t > short.layout.margin.t  # room for the second line
