from datetime import date

import polars as pl
import pytest
from builders import make_events
from hypothesis import given
from hypothesis import strategies as st

from core import Condition, FilterParams, ParameterError, apply_filters
from core.filters import format_condition, parse_condition

EV = make_events({
    "u1": [("view_item", "00:00", {"category": "phones", "price": 100.0, "device": "mobile"}),
           ("add_to_cart", "00:05", {"category": "phones", "price": 100.0, "device": "mobile"})],
    "u2": [("view_item", "D+1 10:00", {"category": "shoes", "price": 40.0, "device": "desktop"}),
           ("page_view", "D+2 10:00", {"device": "desktop"})],
})


def test_conditions_match_by_hand():
    def users(*conds):
        return sorted(apply_filters(EV, FilterParams(conditions=conds))["user_id"].unique())
    assert users(Condition("category", "eq", "phones")) == ["u1"]
    # ne excludes nulls too: u2's page_view has no category (null never matches)
    assert apply_filters(EV, FilterParams(conditions=(Condition("category", "ne", "phones"),))
                         ).height == 1
    assert users(Condition("price", "gt", 50)) == ["u1"]
    assert users(Condition("price", "le", "40")) == ["u2"]
    assert users(Condition("category", "is_null")) == ["u2"]
    assert users(Condition("device", "in", ("mobile", "tablet"))) == ["u1"]
    assert users(Condition("category", "contains", "sho")) == ["u2"]
    assert users(Condition("device", "eq", "mobile"), Condition("price", "lt", 50)) == []


def test_date_range_is_inclusive_by_utc_day():
    # u1 on 2024-01-01, u2 on 01-02 and 01-03
    f = FilterParams(date_from=date(2024, 1, 2), date_to=date(2024, 1, 2))
    out = apply_filters(EV, f)
    assert out.height == 1 and out["user_id"][0] == "u2"
    assert apply_filters(EV.lazy(), FilterParams(date_to=date(2024, 1, 1))).collect().height == 2


def test_bad_conditions_name_what_is_wrong():
    with pytest.raises(ParameterError, match="needs a number"):
        Condition("price", "gt", "abc")
    with pytest.raises(ParameterError, match="operator"):
        Condition("price", "between", 1)
    with pytest.raises(ParameterError, match="not in the data"):
        apply_filters(EV, FilterParams(conditions=(Condition("nope", "eq", "x"),)))
    with pytest.raises(ParameterError, match="after its end"):
        FilterParams(date_from=date(2024, 2, 1), date_to=date(2024, 1, 1))


@given(st.sampled_from(["eq", "ne", "in", "not_in", "contains", "gt", "is_null"]),
       st.lists(st.text(alphabet="abc|: ", min_size=1, max_size=4), min_size=1, max_size=3))
def test_compact_form_round_trips(op, values):
    if op == "gt":
        c = Condition("price", op, 3.5)
    elif op == "is_null":
        c = Condition("brand", op)
    elif op in ("in", "not_in"):
        values = [v for v in values if "|" not in v and v]
        if not values:
            return
        c = Condition("brand", op, tuple(values))
    else:
        c = Condition("brand", op, values[0])
    back = parse_condition(format_condition(c))
    assert back.column == c.column and back.op == c.op
    if op != "gt":
        assert back == c


def test_filters_keep_columns_and_order():
    out = apply_filters(EV, FilterParams(conditions=(Condition("device", "eq", "desktop"),)))
    assert out.columns == EV.columns
    assert out["ts"].is_sorted()
    assert isinstance(out, pl.DataFrame)
