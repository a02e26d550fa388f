"""RulesParams (the settings, validated once), the params form of mining, and the one column
vocabulary the basket reader shares with the event loader (core.formats)."""

import io

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import ParameterError, mine_rules
from core.formats import BASKET_SYNONYMS, SYNONYMS, normalise_name, pick_column
from core.rules import MiningBudgetExceeded, RuleParams, RulesParams, mine_rules_with, read_baskets

# 4 baskets: a+b together in 3 of them (support 3/4), c alone once.
BASKETS = pl.DataFrame(
    {
        "basket_id": ["1", "1", "2", "2", "3", "3", "4"],
        "item": ["a", "b", "a", "b", "a", "b", "c"],
    }
)


def dense(n: int = 200, items: int = 16, seed: int = 3) -> pl.DataFrame:
    """Long baskets over few items: mining them at a low support takes a while."""
    held = np.random.default_rng(seed).random((n, items)) < 0.7
    rows = [(str(b), f"i{j}") for b in range(n) for j in range(items) if held[b, j]]
    return pl.DataFrame(rows, schema=["basket_id", "item"], orient="row")


def test_the_params_form_gives_the_same_rules_and_the_result_carries_the_params():
    p = RulesParams(min_support=0.5, min_confidence=0.5, min_lift=0.0)
    rs = p.compute(BASKETS)
    assert rs.params is p
    # a -> b and b -> a: support 3/4, confidence 3/3 = 1, lift 1 / (3/4) = 4/3
    assert rs.rules.height == 2
    assert rs.rules["confidence"].to_list() == [1.0, 1.0]
    assert rs.rules["lift"].to_list() == pytest.approx([4 / 3, 4 / 3])
    assert rs.rules.equals(
        mine_rules(BASKETS, min_support=0.5, min_confidence=0.5, min_lift=0.0).rules
    )


def test_rule_params_is_the_old_name_of_the_same_class():
    assert RuleParams is RulesParams
    assert RuleParams(min_support=0.2) == RulesParams(min_support=0.2)


def test_time_limit_is_a_setting_and_travels_with_the_result():
    assert mine_rules(BASKETS, min_support=0.5, time_limit=5).params.time_limit == 5.0
    p = RulesParams(min_support=0.5, time_limit=None)
    assert mine_rules_with(BASKETS, p).params.time_limit is None  # the params' own limit
    assert mine_rules_with(BASKETS, p, time_limit=7).params.time_limit == 7.0  # overridden
    assert RulesParams().time_limit == 30.0


def test_the_time_limit_of_the_params_bounds_the_mining():
    p = RulesParams(min_support=0.01, max_len=5, max_itemsets=None, time_limit=1e-9)
    with pytest.raises(MiningBudgetExceeded) as info:
        p.compute(dense())
    assert info.value.cause == "time"


def test_numbers_are_stored_as_python_floats_and_ints_whatever_the_spelling():
    p = RulesParams(min_support="0.25", min_confidence=np.float32(0.5), min_lift=1,
                    max_len=np.int64(4), max_itemsets=np.int32(50), time_limit=10)
    assert (p.min_support, p.min_confidence, p.min_lift, p.time_limit) == (0.25, 0.5, 1.0, 10.0)
    assert all(type(v) is float for v in (p.min_support, p.min_confidence, p.min_lift))
    assert (p.max_len, p.max_itemsets) == (4, 50)
    assert type(p.max_len) is int and type(p.max_itemsets) is int
    assert hash(p) == hash(RulesParams(min_support=0.25, min_confidence=0.5, max_len=4,
                                       max_itemsets=50, time_limit=10.0))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"min_support": 0},
         "`min_support` must be a share of baskets in (0, 1] (0.01 = 1%), got 0"),
        ({"min_lift": -1},
         "`min_lift` must be a finite number >= 0 (1 = no association), got -1"),
        ({"time_limit": 0},
         "`time_limit` must be None (no limit) or a positive number of seconds, got 0"),
        ({"max_len": 11},
         "`max_len` must be an integer in [2, 10] (a rule needs two items), got 11"),
        ({"basket": "week"},
         "`basket` must be one of ['order_id', 'session_id', 'user_id'] (or order/session/user), "
         "got 'week'"),
    ],
)
def test_a_refused_value_is_named_as_given(kwargs, words):
    with pytest.raises(ParameterError) as e:
        RulesParams(**kwargs)
    assert str(e.value) == words


def test_basket_aliases_are_stored_canonically():
    assert RulesParams(basket="session").basket == "session_id"
    assert RulesParams(basket="user").replace(min_support=0.5).basket == "user_id"


# ------------------------------------------------------------------------------ vocabulary


def test_normalise_name_and_pick_column():
    assert normalise_name("Invoice No.") == "invoiceno"
    header = ["Invoice No", "StockCode", "Description", "invoice_no"]
    # the first preferred name that matches wins; of two columns alike, the first one
    assert pick_column(header, BASKET_SYNONYMS["basket_id"]) == "Invoice No"
    assert pick_column(header, BASKET_SYNONYMS["item"]) == "Description"
    assert pick_column(header, SYNONYMS["product_id"]) == "StockCode"
    assert pick_column(["who", "what"], BASKET_SYNONYMS["item"]) is None


@settings(max_examples=60, deadline=None)
@given(
    header=st.lists(st.sampled_from(["Order ID", "order_id", "Item", "item name", "SKU", "qty",
                                     "Ticket", "x"]), max_size=6),
    names=st.lists(st.sampled_from(["orderid", "item", "itemname", "sku", "ticket", "nope"]),
                   max_size=4),
)
def test_pick_column_is_the_first_header_of_the_first_matching_name(header, names):
    got = pick_column(header, names)
    matching = [n for n in names if any(normalise_name(h) == n for h in header)]
    if not matching:
        assert got is None
    else:
        assert got == next(h for h in header if normalise_name(h) == matching[0])


def test_basket_reader_uses_the_shared_basket_vocabulary():
    # "Ticket" and "Article" are basket-file names (BASKET_SYNONYMS), not event-table synonyms
    assert "ticket" in BASKET_SYNONYMS["basket_id"] and "article" in BASKET_SYNONYMS["item"]
    buf = io.BytesIO(b"Ticket,Article\nT1,bread\nT1,milk\nT2,bread\n")
    buf.name = "till.csv"
    load = read_baskets(buf)
    assert load.format == "order_lines"
    assert (load.basket_column, load.item_column) == ("Ticket", "Article")
    assert load.n_baskets == 2


def test_an_event_log_reports_the_loaders_dropped_rows():
    # the same event twice: the loader drops one copy as a duplicate, and read_baskets says so
    text = (
        "event_time,event_name,user_id,session_id,product_id,order_id\n"
        "2024-01-01 10:00:00,purchase,u1,s1,P1,o1\n"
        "2024-01-01 10:00:00,purchase,u1,s1,P1,o1\n"
        "2024-01-01 10:00:01,purchase,u1,s1,P2,o1\n"
    )
    buf = io.BytesIO(text.encode())
    buf.name = "events.csv"
    load = read_baskets(buf)
    assert load.format == "events"
    assert load.rows_read == 3
    loader = {k: v for k, v in load.rows_dropped if k.startswith("loader: ")}
    assert sum(loader.values()) == 1
    assert sorted(load.baskets["item"].to_list()) == ["P1", "P2"]
