"""Paths: the Plotly Sankey builders (labels, colours, hover, positions, comparison)."""

from __future__ import annotations

import re

import pytest
from builders import make_events

from core import compute_paths
from core.paths import (
    SPECIAL_COLOURS,
    TYPE_COLOURS,
    node_colour,
    paths_comparison_figure,
    paths_figure,
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
    assert "mean 1.5 min" in sankey.link.customdata[link][3]  # (60 s + 120 s) / 2 = 90 s


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
    assert len(fig.data) == 2
    assert list(fig.data[0].domain.x) == [0.0, 0.48] and list(fig.data[1].domain.x) == [0.52, 1.0]
    texts = [a.text for a in fig.layout.annotations]
    assert any("A (2)" in t for t in texts) and any("B (2)" in t for t in texts)
    colours = {}
    for trace in fig.data:
        for label, colour in zip(trace.node.label, trace.node.color, strict=True):
            assert colours.setdefault(label, colour) == colour


def test_empty_results_give_a_figure_that_says_why():
    empty = compute_paths(_events(), start="login")
    fig = paths_figure(empty)
    assert len(fig.data) == 0 and "login" in fig.layout.title.text
    full = compute_paths(_events())
    fig2 = paths_comparison_figure(empty, full, left_title="left", right_title="right")
    assert len(fig2.data) == 1
    assert any("login" in a.text for a in fig2.layout.annotations)
