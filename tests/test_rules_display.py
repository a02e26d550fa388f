"""What people see of basket rules: the table in words, a readable network with a legend."""

from __future__ import annotations

import itertools
import math

import polars as pl
import pytest
from people_tables import assert_readable
from test_rules import SHOP, baskets

from core import mine_rules
from core.rules import (
    RULE_TABLE_COLUMNS,
    rules_network_figure,
    rules_people_table,
    together_people_table,
)

# 12 disjoint bundles, each pair always bought together, plus single-item filler baskets so
# that every pair has a high lift: 24 items in 12 two-item components.
PAIRS = [(f"item {i}a", f"item {i}b") for i in range(12)]
BUNDLED = baskets(*([a, b] for a, b in PAIRS for _ in range(3)),
                  *([f"filler {i}"] for i in range(40)))


def item_positions(fig) -> dict[str, tuple[float, float]]:
    items = next(t for t in fig.data if t.name == "items")
    return {name: (x, y) for name, x, y in zip(items.text, items.x, items.y, strict=True)}


def test_people_table_has_words_percentages_and_no_empty_cells():
    rs = mine_rules(SHOP, min_support=0.4, min_confidence=0.0, min_lift=0.0)
    people = rules_people_table(rs)
    table = people.frame
    assert table.columns == list(RULE_TABLE_COLUMNS)
    assert_readable(people)
    # the strength columns come right after the items, visible without scrolling
    assert table.columns[2:4] == ["Lift", "Confidence"]
    assert [people.kinds[c] for c in table.columns[2:]] == [
        "ratio", "percent", "count", "percent", "percent", "percent", "pp", "ratio"]
    assert table["Lift"].dtype == pl.Float64 and table["Baskets with both"].dtype == pl.Int64
    rows = {(r["If a basket holds"], r["it also holds"]): r for r in table.iter_rows(named=True)}
    r = rows[("bread", "butter")]
    # bread 3 of 5 baskets, butter 2, both 2: support 40%, confidence 2/3, lift (2/3)/(2/5),
    # leverage 0.4 - 0.6 * 0.4 = +16 pp, conviction (1 - 0.4) / (1 - 2/3) = 1.8
    assert (r["Lift"], r["Confidence"], r["Baskets with both"], r["Support"]) == pytest.approx(
        (5 / 3, 2 / 3, 2, 0.4))
    assert (r["Baskets with the first items"], r["Baskets with the second items"]) == (
        pytest.approx(0.6), pytest.approx(0.4))
    # leverage is held in percentage points (the grid shows "+16.0 pp")
    assert (r["Leverage"], r["Conviction"]) == pytest.approx((16.0, 1.8))
    # butter -> bread always holds: confidence 100%, conviction infinite (a number, sorts last)
    assert rows[("butter", "bread")]["Conviction"] == float("inf")
    # the raw table (CSV) is untouched: machine names, full precision
    assert "antecedent_support" in rs.table().columns
    assert rs.table()["lift"].dtype == pl.Float64


def test_people_table_of_no_rule_keeps_its_columns():
    rs = mine_rules(baskets(["a"]))
    assert rules_people_table(rs).columns == list(RULE_TABLE_COLUMNS)
    assert rules_people_table(rs).frame["Lift"].dtype == pl.Float64
    assert rules_people_table(rs).height == 0


def test_together_people_table():
    rs = mine_rules(SHOP, min_support=0.4, min_confidence=0.0, min_lift=0.0)
    people = together_people_table(rs, "bread")
    table = people.frame
    assert table.columns == ["Also in the basket", "Confidence", "Lift", "Baskets with both",
                             "Support"]
    assert_readable(people)
    # bread's 3 baskets: milk in 2, butter in 2 -> 2/3 each
    assert set(table["Also in the basket"]) == {"milk", "butter"}
    assert table["Confidence"].to_list() == pytest.approx([2 / 3, 2 / 3])
    assert table.null_count().sum_horizontal().item() == 0


def test_network_items_of_a_pair_are_not_drawn_on_top_of_each_other():
    rs = mine_rules(BUNDLED, min_support=0.01, min_confidence=0.5, min_lift=1.0)
    assert rs.rules.height == 2 * len(PAIRS)
    fig = rules_network_figure(rs, top=2 * len(PAIRS))
    pos = item_positions(fig)
    assert len(pos) == 2 * len(PAIRS)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    span = max(max(xs) - min(xs), max(ys) - min(ys))
    closest = min(math.dist(p, q) for p, q in itertools.combinations(pos.values(), 2))
    # 24 nodes: at least a tenth of the drawing apart (room for a label beside each)
    assert closest >= 0.1 * span
    # the two items of a bundle are neighbours, not across the drawing
    for a, b in PAIRS:
        assert math.dist(pos[a], pos[b]) <= 0.5 * span


def test_network_labels_beside_nodes_and_outward():
    rs = mine_rules(BUNDLED, min_support=0.01, min_confidence=0.5, min_lift=1.0)
    fig = rules_network_figure(rs, top=24)
    items = next(t for t in fig.data if t.name == "items")
    positions = list(items.textposition)
    assert len(positions) == len(items.text)
    for x, where in zip(items.x, positions, strict=True):
        # a label never sits on its node's arrows towards the centre
        if x > 0.2:
            assert where.endswith("right")
        elif x < -0.2:
            assert where.endswith("left")


def test_network_legend_says_what_width_and_size_mean():
    rs = mine_rules(SHOP, min_support=0.2, min_confidence=0.0, min_lift=0.0)
    fig = rules_network_figure(rs, top=6)
    assert fig.layout.showlegend is True
    shown = [t for t in fig.data if t.showlegend is not False and t.name]
    names = " | ".join(t.name for t in shown)
    assert "baskets" in names  # node size
    assert "lift" in names  # arrow width
    widths = [t.line.width for t in shown if t.mode == "lines"]
    assert len(widths) == 2 and widths[0] < widths[1]  # thinnest and thickest arrow
    lifts = rs.rules.head(6)["lift"]
    assert f"lift {lifts.min():.2f}" in names and f"lift {lifts.max():.2f}" in names
    # hover texts of the rules are formatted (no raw floats)
    hover = " ".join(next(t for t in fig.data if t.name == "rules").hovertext)
    assert "confidence" in hover and "0.6666" not in hover
