"""Basket rules against a brute-force count on random small inputs, and their invariants."""

from __future__ import annotations

from itertools import combinations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import mine_rules

ITEMS = "abcdef"

basket_lists = st.lists(
    st.sets(st.sampled_from(ITEMS), min_size=1, max_size=5), min_size=1, max_size=25
)
# Thresholds that no ratio of counts <= 25 equals exactly (33/100, 57/100...; 107 and 131 are
# primes above 25), so float rounding cannot decide a comparison either way.
SUPPORTS = st.sampled_from([0.03, 0.07, 0.13, 0.21, 0.33, 0.47])
CONFIDENCES = st.sampled_from([0.0, 0.33, 0.57, 0.71])
LIFTS = st.sampled_from([0.0, 1.07, 1.31])

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def to_table(bs: list[set[str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "basket_id": [str(i) for i, b in enumerate(bs) for _ in b],
            "item": [x for b in bs for x in sorted(b)],
        },
        schema={"basket_id": pl.String, "item": pl.String},
    )


def brute_force(bs, min_support, min_confidence, min_lift, max_len):
    """Every rule by direct counting: {(antecedents, consequents): (both, ante, cons)}."""
    n = len(bs)

    def count(s):
        return sum(1 for b in bs if s <= b)

    frequent = {}
    for k in range(1, max_len + 1):
        for combo in combinations(ITEMS, k):
            c = count(set(combo))
            if c / n >= min_support:
                frequent[frozenset(combo)] = c
    out = {}
    for s, c in frequent.items():
        for k in range(1, len(s)):
            for ante in combinations(sorted(s), k):
                a = frozenset(ante)
                cons = s - a
                ca, cc = frequent[a], frequent[cons]
                conf = c / ca
                lift = conf / (cc / n)
                if conf >= min_confidence and lift >= min_lift:
                    out[(tuple(sorted(a)), tuple(sorted(cons)))] = (c, ca, cc)
    return out, frequent


@SETTINGS
@given(
    bs=basket_lists,
    min_support=SUPPORTS,
    min_confidence=CONFIDENCES,
    min_lift=LIFTS,
    max_len=st.sampled_from([2, 3]),
    algorithm=st.sampled_from(["apriori", "fpgrowth"]),
)
def test_rules_match_brute_force(bs, min_support, min_confidence, min_lift, max_len, algorithm):
    rs = mine_rules(
        to_table(bs),
        min_support=min_support,
        min_confidence=min_confidence,
        min_lift=min_lift,
        max_len=max_len,
        algorithm=algorithm,
    )
    expected, frequent = brute_force(bs, min_support, min_confidence, min_lift, max_len)
    n = len(bs)
    got = {
        (tuple(r["antecedents"]), tuple(r["consequents"])): r
        for r in rs.rules.iter_rows(named=True)
    }
    assert set(got) == set(expected)
    for key, (c, ca, cc) in expected.items():
        r = got[key]
        assert (r["baskets"], r["antecedent_baskets"], r["consequent_baskets"]) == (c, ca, cc)
        assert r["support"] == pytest.approx(c / n)
        assert r["confidence"] == pytest.approx(c / ca)
        assert r["lift"] == pytest.approx(c * n / (ca * cc))
        assert r["leverage"] == pytest.approx(c / n - (ca / n) * (cc / n))
    got_sets = {frozenset(s): b for s, b in rs.itemsets.select("itemset", "baskets").rows()}
    assert got_sets == frequent
    assert rs.notes.baskets == n
    assert rs.notes.one_item_baskets == sum(len(b) == 1 for b in bs)
    assert rs.empty == (not expected)
    assert (rs.reason is None) == bool(expected)


@SETTINGS
@given(bs=basket_lists, min_support=SUPPORTS)
def test_rule_invariants(bs, min_support):
    rules = mine_rules(
        to_table(bs), min_support=min_support, min_confidence=0.0, min_lift=0.0
    ).rules
    eps = 1e-12
    assert rules.filter((pl.col("confidence") < -eps) | (pl.col("confidence") > 1 + eps)).is_empty()
    assert rules.filter(
        (pl.col("support") > pl.col("antecedent_support") + eps)
        | (pl.col("support") > pl.col("consequent_support") + eps)
    ).is_empty()
    assert (rules["support"] >= min_support - eps).all()
    # lift is symmetric in its sides: lift(A -> C) == lift(C -> A)
    lift = {
        (tuple(a), tuple(c)): v
        for a, c, v in rules.select("antecedents", "consequents", "lift").rows()
    }
    for (a, c), v in lift.items():
        assert lift[(c, a)] == pytest.approx(v)
    # and equals support / (antecedent support * consequent support)
    for r in rules.iter_rows(named=True):
        assert r["lift"] == pytest.approx(
            r["support"] / (r["antecedent_support"] * r["consequent_support"])
        )


@SETTINGS
@given(bs=basket_lists, data=st.data())
def test_basket_and_row_order_do_not_matter(bs, data):
    table = to_table(bs)
    shuffled = table.sample(fraction=1.0, shuffle=True, seed=data.draw(st.integers(0, 2**16)))
    a = mine_rules(table, min_support=0.07, min_confidence=0.0, min_lift=0.0)
    b = mine_rules(shuffled, min_support=0.07, min_confidence=0.0, min_lift=0.0)
    assert a.rules.equals(b.rules)
    assert a.itemsets.equals(b.itemsets)
