"""Bounded basket-rule mining (issue 19): itemset cap with a fitting min_support, time limit,
cancellation; placeholder items and a Description column in any case (issue 12)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from builders import make_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core.rules as rules_mod
import core.rules.budget as budget_mod
from core import mine_rules
from core.errors import ParameterError
from core.rules import MiningBudgetExceeded, MiningCancelled, _min_count


def dense_baskets(n: int = 300, items: int = 24, seed: int = 1) -> pl.DataFrame:
    """Long baskets over few items (item j in a basket with probability 0.75 - j/50): the
    itemset lattice explodes at low supports, as user histories of views do."""
    rng = np.random.default_rng(seed)
    p = 0.75 - np.arange(items) / 50
    held = rng.random((n, items)) < p
    b, i = np.nonzero(held)
    return pl.DataFrame({"basket_id": b.astype(str), "item": [f"i{j:02d}" for j in i]})


def reference_itemsets(table: pl.DataFrame, min_support: float, max_len: int) -> dict:
    """mlxtend's apriori on a dense one-hot encoding: {frozenset(items): basket count}."""
    import pandas as pd
    from mlxtend.frequent_patterns import apriori

    onehot = (
        table.with_columns(pl.lit(True).alias("v"))
        .pivot(on="item", index="basket_id", values="v")
        .fill_null(False)
        .drop("basket_id")
        .to_pandas()
        .astype(bool)
    )
    n = len(onehot)
    # half a basket below the integer threshold, as mine_rules compares counts
    found = apriori(pd.DataFrame(onehot), min_support=(_min_count(min_support, n) - 0.5) / n,
                    use_colnames=True, max_len=max_len)
    return {frozenset(s): round(v * n) for s, v in zip(found["itemsets"], found["support"], strict=True)}


@pytest.mark.parametrize("algorithm", ["apriori", "fpgrowth"])
def test_runaway_settings_answer_with_the_smallest_fitting_min_support(algorithm):
    table = dense_baskets()
    cap = 500
    with pytest.raises(MiningBudgetExceeded) as info:
        mine_rules(table, min_support=0.01, max_len=5, max_itemsets=cap, algorithm=algorithm)
    e = info.value
    assert isinstance(e, ParameterError) and e.code == "budget_exceeded"
    assert e.cause == "itemsets" and e.max_itemsets == cap and e.itemsets > cap
    assert e.suggestion_exact and e.suggested_min_support is not None
    # the message says how many, the cap and what to use
    assert f"{e.itemsets:,}" in e.message and "cap of 500" in e.message
    assert f"Suggested min_support: {e.suggested_min_support:g}" in e.message
    # the suggestion mines under the cap...
    rs = mine_rules(table, min_support=e.suggested_min_support, max_len=5, max_itemsets=cap,
                    algorithm=algorithm)
    assert 0 < rs.itemsets.height <= cap and not rs.empty
    # ...and one basket less does not fit (checked against mlxtend without any cap)
    n = 300
    t = _min_count(e.suggested_min_support, n)
    assert len(reference_itemsets(table, (t - 1) / n, 5)) > cap


def test_cap_reached_during_mining_also_suggests():
    table = dense_baskets(n=200, items=12, seed=3)
    # few items and pairs (at most 12 + 66 = 78), many longer itemsets
    with pytest.raises(MiningBudgetExceeded) as info:
        mine_rules(table, min_support=0.05, max_len=4, max_itemsets=100)
    e = info.value
    assert "mining stopped at the cap" in e.message
    rs = mine_rules(table, min_support=e.suggested_min_support, max_len=4, max_itemsets=100)
    assert rs.itemsets.height <= 100


def test_no_cap_and_no_time_limit_mine_everything():
    table = dense_baskets(n=120, items=10, seed=5)
    rs = mine_rules(table, min_support=0.2, max_len=4, max_itemsets=None, time_limit=None)
    want = reference_itemsets(table, 0.2, 4)
    assert {frozenset(s): b for s, b in rs.itemsets.select("itemset", "baskets").rows()} == want


def test_time_limit_stops_with_a_clear_error():
    with pytest.raises(MiningBudgetExceeded, match="time limit") as info:
        mine_rules(dense_baskets(), min_support=0.01, max_len=5, time_limit=1e-9)
    assert info.value.cause == "time"


@pytest.mark.parametrize("bad", [0, -1, "soon", float("nan")])
def test_bad_time_limit_and_cap_name_the_parameter(bad):
    with pytest.raises(ParameterError, match="time_limit"):
        mine_rules(dense_baskets(n=10), time_limit=bad)
    with pytest.raises(ParameterError, match="max_itemsets"):
        mine_rules(dense_baskets(n=10), max_itemsets=bad if bad != "soon" else "x")


@pytest.mark.parametrize("algorithm", ["apriori", "fpgrowth"])
def test_should_stop_cancels_the_mining(monkeypatch, algorithm):
    monkeypatch.setattr(budget_mod, "_CHECK_EVERY_S", 0.0)  # ask at every check
    calls = []

    def stop_after_ten() -> bool:
        calls.append(1)
        return len(calls) > 10

    with pytest.raises(MiningCancelled):
        mine_rules(dense_baskets(), min_support=0.01, max_len=5, max_itemsets=None,
                   time_limit=None, should_stop=stop_after_ten, algorithm=algorithm)
    assert len(calls) == 11  # it stopped at the first True

    class Rerun(Exception):
        pass

    def raising() -> bool:
        raise Rerun  # what Streamlit's yield check does on a newer request

    with pytest.raises(Rerun):
        mine_rules(dense_baskets(), min_support=0.01, max_len=5, should_stop=raising,
                   algorithm=algorithm)


basket_lists = st.lists(
    st.sets(st.sampled_from("abcdefgh"), min_size=1, max_size=7), min_size=1, max_size=30
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    bs=basket_lists,
    min_support=st.sampled_from([0.03, 0.07, 0.13, 0.21, 0.33]),
    max_len=st.integers(2, 5),
    cap=st.integers(1, 60),
    algorithm=st.sampled_from(["apriori", "fpgrowth"]),
)
def test_under_the_cap_results_equal_mlxtend_and_over_it_the_suggestion_is_exact(
    bs, min_support, max_len, cap, algorithm
):
    table = pl.DataFrame(
        {"basket_id": [str(i) for i, b in enumerate(bs) for _ in b],
         "item": [x for b in bs for x in sorted(b)]}
    )
    want = reference_itemsets(table, min_support, max_len)
    try:
        rs = mine_rules(table, min_support=min_support, max_len=max_len, max_itemsets=cap,
                        algorithm=algorithm, min_confidence=0.0, min_lift=0.0)
    except MiningBudgetExceeded as e:
        assert len(want) > cap
        s = e.suggested_min_support
        n = len(bs)
        counts = sorted(want.values(), reverse=True)
        if s is None:  # only when even the top counts tie past the cap
            assert sum(c == counts[0] for c in counts) > cap or counts[0] == n
            return
        t = _min_count(s, n)
        assert sum(c >= t for c in counts) <= cap
        assert sum(c >= t - 1 for c in counts) > cap
        return
    got = {frozenset(s): b for s, b in rs.itemsets.select("itemset", "baskets").rows()}
    assert got == want and len(got) <= cap


# ------------------------------------------------------------ placeholders, Description


def test_placeholder_items_are_missing_and_counted():
    table = pl.DataFrame(
        {
            "basket_id": ["1", "1", "1", "2", "2", "2", "3", "3", "3", "3"],
            "item": ["milk", "NONE", "bread", "milk", "  ", "bread", "-", "nan", " N/A ", "null"],
        }
    )
    rs = mine_rules(table, min_support=0.5, min_confidence=0.0, min_lift=0.0)
    # basket 3 holds placeholders only: 2 baskets, items milk and bread
    assert rs.notes.baskets == 2 and rs.notes.items == 2
    assert dict(rs.notes.rows_dropped)[rules_mod._PLACEHOLDER_REASON] == 6
    assert any("6 rows not used: placeholder item" in line for line in rs.notes.lines())


def test_read_baskets_counts_placeholders_in_order_and_basket_lines(tmp_path):
    from core.rules import read_baskets

    orders = tmp_path / "orders.csv"
    orders.write_text("InvoiceNo,Description,Quantity\n1,LAMP,1\n1,NONE,1\n2,LAMP,1\n2,-,2\n")
    load = read_baskets(orders)
    assert load.baskets["item"].to_list() == ["LAMP", "LAMP"]
    assert dict(load.rows_dropped)[f"Description: {rules_mod._PLACEHOLDER_REASON}"] == 2
    lines = tmp_path / "lines.csv"
    lines.write_text("milk,NULL,bread\nN/A,milk\n")
    load = read_baskets(lines)
    assert sorted(load.baskets["item"].to_list()) == ["bread", "milk", "milk"]
    assert dict(load.rows_dropped)[rules_mod._PLACEHOLDER_REASON] == 2


def test_description_column_in_any_case_and_placeholders_in_events():
    events = make_events(
        {
            "u1": [("purchase", "00:00", {"product_id": "85123A", "order_id": "o1"}),
                   ("purchase", "00:01", {"product_id": "71053", "order_id": "o1"})],
            "u2": [("purchase", "00:00", {"product_id": "85123A", "order_id": "o2"}),
                   ("purchase", "00:01", {"product_id": "71053", "order_id": "o2"}),
                   ("purchase", "00:02", {"product_id": "POST", "order_id": "o2"})],
        }
    ).with_columns(
        pl.col("product_id")
        .replace({"85123A": "WHITE HEART", "71053": "WHITE LANTERN", "POST": "NONE"})
        .alias("Description")
    )
    for name in ("description", "DESCRIPTION", "Description"):
        rs = mine_rules(events, item=name, min_support=0.5, min_confidence=0.0)
        assert set(rs.itemsets["itemset"].list.first()) >= {"WHITE HEART", "WHITE LANTERN"}
        assert "NONE" not in rs.itemsets["itemset"].explode().to_list()
        assert dict(rs.notes.rows_dropped)[f"Description: {rules_mod._PLACEHOLDER_REASON}"] == 1


def test_online_retail_events_mine_descriptions(shared_data):
    from core import load_events

    events = load_events(shared_data / "online_retail_head10k.csv").events
    rs = mine_rules(events, item="description", min_support=0.02)
    assert not rs.empty
    items = set(rs.rules["antecedents"].explode().to_list())
    assert all(" " in x for x in items)  # descriptions ("WHITE METAL LANTERN"), not codes
