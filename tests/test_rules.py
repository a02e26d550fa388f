"""Basket rules: hand-computed cases, basket definitions, thresholds, empty results, figures."""

from __future__ import annotations

import math

import polars as pl
import pytest
from builders import make_events

import core.rules.encode as rules_mod
from core import ParameterError, RuleSet, SchemaError, bought_together, mine_rules
from core.rules import RuleParams, mine_rules_with, rules_network_figure, rules_scatter_figure


def baskets(*rows: list[str]) -> pl.DataFrame:
    """A baskets table: basket i holds the items of rows[i]."""
    return pl.DataFrame(
        {
            "basket_id": [f"b{i + 1}" for i, r in enumerate(rows) for _ in r],
            "item": [x for r in rows for x in r],
        }
    )


# b1 bread milk / b2 bread butter / b3 bread milk butter / b4 milk / b5 beer
SHOP = baskets(
    ["bread", "milk"], ["bread", "butter"], ["bread", "milk", "butter"], ["milk"], ["beer"]
)


def rule(rs: RuleSet, a: list[str], c: list[str]) -> dict:
    hits = rs.rules.filter(
        (pl.col("antecedents") == pl.lit(a, dtype=pl.List(pl.String)))
        & (pl.col("consequents") == pl.lit(c, dtype=pl.List(pl.String)))
    )
    assert hits.height == 1, f"rule {a} -> {c} not found in {rs.rules}"
    return hits.row(0, named=True)


def pairs(rs: RuleSet) -> set[tuple[tuple[str, ...], tuple[str, ...]]]:
    return {(tuple(a), tuple(c)) for a, c in rs.rules.select("antecedents", "consequents").rows()}


def test_hand_computed_rules_and_measures():
    rs = mine_rules(SHOP, min_support=0.4, min_confidence=0.0, min_lift=0.0)
    # supports over 5 baskets: bread 3, milk 3, butter 2, beer 1 (< 0.4 * 5 = 2: out);
    # bread+milk 2 (b1, b3), bread+butter 2 (b2, b3), milk+butter 1 (out).
    assert pairs(rs) == {
        (("bread",), ("milk",)),
        (("milk",), ("bread",)),
        (("bread",), ("butter",)),
        (("butter",), ("bread",)),
    }
    r = rule(rs, ["bread"], ["butter"])
    assert r["support"] == pytest.approx(2 / 5)
    assert r["antecedent_support"] == pytest.approx(3 / 5)
    assert r["consequent_support"] == pytest.approx(2 / 5)
    assert r["confidence"] == pytest.approx(2 / 3)  # 2 of bread's 3 baskets
    assert r["lift"] == pytest.approx((2 / 3) / (2 / 5))  # = 5/3
    assert r["leverage"] == pytest.approx(2 / 5 - 3 / 5 * 2 / 5)  # = 0.16
    assert r["conviction"] == pytest.approx((1 - 2 / 5) / (1 - 2 / 3))  # = 1.8
    assert (r["antecedent_baskets"], r["consequent_baskets"], r["baskets"]) == (3, 2, 2)
    r = rule(rs, ["butter"], ["bread"])
    assert r["confidence"] == pytest.approx(1.0)  # both butter baskets hold bread
    assert math.isinf(r["conviction"])
    r = rule(rs, ["bread"], ["milk"])
    assert r["lift"] == pytest.approx((2 / 3) / (3 / 5))  # = 10/9
    # strongest first: lift 5/3 (bread-butter; butter->bread has the higher confidence) first
    top = rs.rules.row(0, named=True)
    assert (top["antecedents"], top["consequents"]) == (["butter"], ["bread"])
    # itemsets: 3 single items + 2 pairs, most frequent first
    assert rs.itemsets.height == 5
    assert rs.itemsets["baskets"].to_list() == [3, 3, 2, 2, 2]
    assert rs.reason is None and not rs.empty


def test_notes_count_baskets_items_and_one_item_baskets():
    rs = mine_rules(SHOP, min_support=0.4, min_confidence=0.0, min_lift=0.0)
    n = rs.notes
    assert (n.baskets, n.one_item_baskets, n.items, n.frequent_items) == (5, 2, 4, 3)
    assert n.items_used == 3 and n.items_dropped_by_cap == 0 and n.cap is None
    text = " ".join(n.lines())
    assert "5 baskets" in text and "2 baskets hold a single item" in text
    assert "1 items are below min_support" in text


def test_thresholds_filter_confidence_and_lift():
    rs = mine_rules(SHOP, min_support=0.4, min_confidence=0.7, min_lift=0.0)
    assert pairs(rs) == {(("butter",), ("bread",))}  # the only confidence >= 0.7 (it is 1)
    rs = mine_rules(SHOP, min_support=0.4, min_confidence=0.0, min_lift=1.5)
    # lift(bread, butter) = 5/3 >= 1.5; lift(bread, milk) = 10/9 < 1.5
    assert pairs(rs) == {(("bread",), ("butter",)), (("butter",), ("bread",))}


def test_three_item_rules_and_max_len():
    rs = mine_rules(SHOP, min_support=0.2, min_confidence=0.0, min_lift=0.0, max_len=3)
    # bread+milk+butter is in b3 only: support 1/5; bread+butter -> milk: 1 of 2 baskets
    r = rule(rs, ["bread", "butter"], ["milk"])
    assert r["confidence"] == pytest.approx(1 / 2)
    assert r["lift"] == pytest.approx((1 / 2) / (3 / 5))
    two = mine_rules(SHOP, min_support=0.2, min_confidence=0.0, min_lift=0.0, max_len=2)
    assert two.rules["antecedents"].list.len().max() == 1
    assert (two.rules["antecedents"].list.len() + two.rules["consequents"].list.len()).max() == 2


@pytest.mark.parametrize("algorithm", ["apriori", "fpgrowth"])
def test_algorithms_agree(algorithm):
    ref = mine_rules(SHOP, min_support=0.2, min_confidence=0.0, min_lift=0.0)
    rs = mine_rules(SHOP, min_support=0.2, min_confidence=0.0, min_lift=0.0, algorithm=algorithm)
    assert rs.rules.equals(ref.rules)
    assert rs.itemsets.equals(ref.itemsets)


def test_max_items_keeps_the_most_frequent_items_and_says_so():
    rs = mine_rules(SHOP, min_support=0.2, min_confidence=0.0, min_lift=0.0, max_items=2)
    # frequent: bread 3, milk 3, butter 2, beer 1 -> bread and milk kept, 2 dropped by the cap
    assert rs.notes.items_used == 2 and rs.notes.items_dropped_by_cap == 2
    assert rs.notes.cap == 2 and not rs.notes.cap_from_memory
    assert pairs(rs) == {(("bread",), ("milk",)), (("milk",), ("bread",))}
    # supports are still over all 5 baskets
    assert rule(rs, ["bread"], ["milk"])["support"] == pytest.approx(2 / 5)
    assert any("max_items cap of 2" in line for line in rs.notes.lines())


def test_automatic_cap_from_memory_budget(monkeypatch):
    # a budget of 10 bytes over 5 baskets allows 2 items (never fewer than MIN_AUTO_ITEMS)
    monkeypatch.setattr(rules_mod, "DENSE_BUDGET_BYTES", 10)
    monkeypatch.setattr(rules_mod, "MIN_AUTO_ITEMS", 2)
    rs = mine_rules(SHOP, min_support=0.2, min_confidence=0.0, min_lift=0.0)
    assert rs.notes.cap == 2 and rs.notes.items_dropped_by_cap == 2
    assert rs.notes.cap_from_memory
    assert any("automatic memory cap of 2 items" in line for line in rs.notes.lines())


# ---------------------------------------------------------------------------------- events


def purchase(t, product, order=None, **props):
    p = {"product_id": product, **props}
    if order is not None:
        p["order_id"] = order
    return ("purchase", t, p)


def test_order_baskets_from_events_with_session_fallback():
    ev = make_events(
        {
            "u1": [
                ("view_item", "00:00", {"product_id": "tent"}),
                purchase("00:05", "tent", "o1"),
                purchase("00:05", "stove", "o1"),
                purchase("D+1 10:00", "tent", "o2"),
                purchase("D+1 10:00", "lamp", "o2"),
            ],
            # no order id: the session's purchases are one basket
            "u2": [purchase("00:00", "tent"), purchase("00:01", "stove")],
            "u3": [purchase("00:00", "lamp", "o3"), purchase("00:00", None, "o3")],
        }
    )
    rs = mine_rules(ev, min_support=0.01, min_confidence=0.0, min_lift=0.0)
    # baskets: o1 {tent, stove}, o2 {tent, lamp}, u2's session {tent, stove}, o3 {lamp}
    assert rs.notes.baskets == 4 and rs.notes.one_item_baskets == 1
    r = rule(rs, ["stove"], ["tent"])
    assert r["baskets"] == 2 and r["confidence"] == pytest.approx(1.0)
    assert r["support"] == pytest.approx(2 / 4)
    dropped = dict(rs.notes.rows_dropped)
    assert dropped["event type is not purchase"] == 1  # the view
    assert dropped["no product_id"] == 1  # o3's line without a product


def test_session_user_baskets_and_other_items_and_events():
    ev = make_events(
        {
            "u1": [
                ("add_to_cart", "00:00", {"product_id": "a", "category": "camping"}),
                ("add_to_cart", "00:02", {"product_id": "b", "category": "cooking"}),
                ("add_to_cart", "05:00", {"product_id": "c", "category": "camping"}),
            ],
            "u2": [
                ("add_to_cart", "00:00", {"product_id": "a", "category": "camping"}),
                ("add_to_cart", "00:01", {"product_id": "b", "category": "cooking"}),
            ],
        }
    )
    kw = dict(source_event="add_to_cart", min_support=0.01, min_confidence=0.0, min_lift=0.0)
    by_session = mine_rules(ev, basket="session_id", **kw)
    # sessions: u1 {a, b}, u1 (5 h later) {c}, u2 {a, b}
    assert by_session.notes.baskets == 3
    assert rule(by_session, ["a"], ["b"])["baskets"] == 2
    by_user = mine_rules(ev, basket="user", **kw)  # alias of user_id
    assert by_user.params.basket == "user_id"
    assert by_user.notes.baskets == 2
    assert rule(by_user, ["a"], ["c"])["support"] == pytest.approx(1 / 2)
    by_category = mine_rules(ev, basket="user_id", item="category", **kw)
    # u1 {camping, cooking}, u2 {camping, cooking}
    assert rule(by_category, ["camping"], ["cooking"])["confidence"] == pytest.approx(1.0)
    purchases = mine_rules(ev, basket="session_id", min_support=0.01)
    assert purchases.empty and "No baskets" in purchases.reason


def test_accepts_lazy_frames():
    assert mine_rules(SHOP.lazy(), min_support=0.4).rules.equals(
        mine_rules(SHOP, min_support=0.4).rules
    )


def test_mine_rules_with_params_is_the_same_call():
    p = RuleParams(min_support=0.2, min_confidence=0.1, min_lift=0.0)
    assert hash(p) == hash(RuleParams(min_support=0.2, min_confidence=0.1, min_lift=0.0))
    assert mine_rules_with(SHOP, p).rules.equals(
        mine_rules(SHOP, min_support=0.2, min_confidence=0.1, min_lift=0.0).rules
    )


# -------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"min_support": 0}, "min_support"),
        ({"min_support": 1.5}, "min_support"),
        ({"min_support": "lots"}, "min_support"),
        ({"min_confidence": -0.1}, "min_confidence"),
        ({"min_confidence": 1.01}, "min_confidence"),
        ({"min_lift": -1}, "min_lift"),
        ({"min_lift": float("nan")}, "min_lift"),
        ({"max_len": 1}, "max_len"),
        ({"max_len": 2.5}, "max_len"),
        ({"algorithm": "eclat"}, "algorithm"),
        ({"max_items": 1}, "max_items"),
        ({"basket": "week"}, "basket"),
        ({"source_event": "buy"}, "source_event"),
    ],
)
def test_out_of_range_parameters_name_the_parameter(kwargs, named):
    with pytest.raises(ParameterError, match=named) as e:
        mine_rules(SHOP, **kwargs)
    assert repr(next(iter(kwargs.values())))[:3] in str(e.value)  # the bad value is shown


def test_schema_errors():
    with pytest.raises(SchemaError, match="basket_id"):
        mine_rules(pl.DataFrame({"order": ["1"], "sku": ["x"]}))
    ev = make_events({"u1": [purchase("00:00", "x", "o1")]})
    with pytest.raises(SchemaError, match="colour"):
        mine_rules(ev, item="colour")


# ------------------------------------------------------------------------- empty results


def test_empty_inputs_give_a_reason_not_an_error():
    empty = mine_rules(baskets())
    assert empty.empty and "No baskets" in empty.reason
    singles = mine_rules(baskets(["a"], ["b"], ["a"]))
    assert singles.empty and "single item" in singles.reason
    assert singles.notes.one_item_baskets == 3
    no_events = mine_rules(make_events({}))
    assert no_events.empty and no_events.reason


def test_hint_names_the_most_frequent_pair_and_its_share():
    # 8 baskets; the pair (x, y) is in 3 of them = 37.5%, (x, z) in 1
    bs = baskets(["x", "y"], ["x", "y"], ["x", "y", "z"], ["z"], ["w"], ["w"], ["v"], ["v"])
    rs = mine_rules(bs, min_support=0.5)
    assert rs.empty
    assert "lower min_support" in rs.reason
    assert "(x + y)" in rs.reason and "37.5% of baskets" in rs.reason  # 3/8 = 37.5%
    assert "3 of 8" in rs.reason


def test_hint_for_confidence_and_lift():
    rs = mine_rules(SHOP, min_support=0.4, min_confidence=1.0, min_lift=2.0)
    # butter -> bread has confidence 1 but lift 5/3 < 2
    assert rs.empty and "lower min_lift" in rs.reason and "1.67" in rs.reason
    bs = baskets(["a", "b"], ["a"], ["a"], ["b"], ["b"])
    rs = mine_rules(bs, min_support=0.2, min_confidence=0.9)
    # best confidence: a -> b and b -> a are both 1/3
    assert rs.empty and "lower min_confidence" in rs.reason and "33" in rs.reason


# ------------------------------------------------------------------------ bought together


def test_bought_together_lists_consequents_of_one_item():
    rs = mine_rules(SHOP, min_support=0.2, min_confidence=0.0, min_lift=0.0)
    got = bought_together(rs, "bread")
    # bread -> butter: conf 2/3, lift 5/3; bread -> milk: conf 2/3, lift 10/9;
    # bread -> butter + milk: conf 1/3
    assert got["items"].to_list() == [["butter"], ["milk"], ["butter", "milk"]]
    assert got["confidence"].to_list() == pytest.approx([2 / 3, 2 / 3, 1 / 3])
    assert bought_together(rs, "bread", 1)["items"].to_list() == [["butter"]]
    assert bought_together(rs.rules, "bread", top=2).height == 2
    assert bought_together(rs, "caviar").height == 0
    assert bought_together(rs, "caviar").columns == got.columns
    with pytest.raises(ParameterError, match="top"):
        bought_together(rs, "bread", 0)


# ------------------------------------------------------------------------------- figures


def test_network_figure_draws_items_and_rule_arrows_by_lift():
    rs = mine_rules(SHOP, min_support=0.2, min_confidence=0.0, min_lift=0.0)
    fig = rules_network_figure(rs, top=4)
    top4 = rs.rules.head(4)
    # one arrow per one-to-one rule, one per item through a hub otherwise
    expected = sum(
        1 if len(a) == 1 and len(c) == 1 else len(a) + len(c)
        for a, c in top4.select("antecedents", "consequents").rows()
    )
    assert len(fig.layout.annotations) == expected
    items_trace = next(t for t in fig.data if t.name == "items")
    assert set(items_trace.text) == {x for r in top4.rows() for x in r[0] + r[1]}
    # widths grow with lift
    lifts = top4["lift"].to_list()
    widths = [a.arrowwidth for a in fig.layout.annotations]
    assert max(widths) >= min(widths)
    if lifts[0] > lifts[-1]:
        assert fig.layout.annotations[0].arrowwidth > fig.layout.annotations[-1].arrowwidth


def test_scatter_figure_has_one_point_per_rule():
    rs = mine_rules(SHOP, min_support=0.2, min_confidence=0.0, min_lift=0.0)
    fig = rules_scatter_figure(rs)
    (trace,) = fig.data
    assert len(trace.x) == rs.rules.height
    assert sorted(trace.y) == sorted(rs.rules["confidence"].to_list())
    assert list(trace.marker.color) == rs.rules.sort("lift", descending=True)["lift"].to_list()
    few = rules_scatter_figure(rs, max_points=3)
    assert len(few.data[0].x) == 3 and "highest-lift" in few.layout.title.text


def test_figures_of_no_rule_are_empty_not_errors():
    rs = mine_rules(baskets(["a"]))
    assert "No rule" in rules_network_figure(rs).layout.title.text
    assert "No rule" in rules_scatter_figure(rs).layout.title.text
    with pytest.raises(ParameterError, match="top"):
        rules_network_figure(rs, top=0)


@pytest.mark.parametrize("algorithm", ["apriori", "fpgrowth"])
def test_support_exactly_at_the_threshold_is_frequent_for_both_algorithms(algorithm):
    # 7 of 100 baskets hold a and b: support 7/100 == 0.07 exactly, while 0.07 * 100 is
    # 7.000000000000001 in floating point (a count threshold of ceil(...) = 8 would drop it).
    bs = baskets(*([["a", "b"]] * 7 + [["c"]] * 93))
    rs = mine_rules(bs, min_support=0.07, min_confidence=0.0, min_lift=0.0, algorithm=algorithm)
    assert pairs(rs) == {(("a",), ("b",)), (("b",), ("a",))}
    assert rule(rs, ["a"], ["b"])["baskets"] == 7
