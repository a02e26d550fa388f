"""core.params: the declarative checks every settings object is built on."""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError, dataclass
from datetime import timedelta
from typing import ClassVar

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ParameterError, PathLensError, SchemaError
from core.params import (
    Column,
    Interval,
    Options,
    Params,
    check_constraints,
    require_columns,
)

# --------------------------------------------------------------------------------------------
# Interval
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("closed, at_left, at_right", [
    ("both", True, True),
    ("left", True, False),
    ("right", False, True),
    ("neither", False, False),
])
def test_interval_bounds_follow_closed(closed, at_left, at_right):
    iv = Interval(int, 1, 5, closed=closed)
    assert iv.is_satisfied_by(1) is at_left
    assert iv.is_satisfied_by(5) is at_right
    assert iv.is_satisfied_by(3)  # inside: always
    assert not iv.is_satisfied_by(0) and not iv.is_satisfied_by(6)  # outside: never


def test_interval_with_an_open_side():
    assert Interval(int, 1, None).is_satisfied_by(10**30)
    assert not Interval(int, 1, None).is_satisfied_by(0)
    assert Interval(int, None, 0).is_satisfied_by(-(10**30))
    assert Interval(float, None, None).is_satisfied_by(-1e300)


def test_interval_refuses_an_unknown_closed_mode():
    with pytest.raises(ValueError, match="closed='open'"):
        Interval(int, 0, 1, closed="open")


@pytest.mark.parametrize("value", [True, False])
def test_bool_is_not_a_number(value):
    # bool is an int subclass in Python; a checkbox value must not pass as a count
    assert not Interval(int, 0, 1).is_satisfied_by(value)
    assert not Interval(float, 0, 1).is_satisfied_by(value)


def test_int_interval_refuses_floats_and_strings():
    iv = Interval(int, 0, 10)
    assert not iv.is_satisfied_by(3.0)
    assert not iv.is_satisfied_by("3")
    assert not iv.is_satisfied_by(None)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_float_interval_refuses_nan_and_infinities_even_without_bounds(value):
    assert not Interval(float).is_satisfied_by(value)
    assert not Interval(float, 0, None).is_satisfied_by(value)


def test_float_interval_takes_ints_and_floats():
    iv = Interval(float, 0, 1, closed="right")
    assert iv.is_satisfied_by(1) and iv.is_satisfied_by(0.5)
    assert not iv.is_satisfied_by(0) and not iv.is_satisfied_by(1.0000001)


def test_float_interval_takes_an_int_too_large_for_a_float_without_crashing():
    # math.isfinite(10**400) raised OverflowError: a 400-digit number typed into a link must
    # be refused with a message, not crash the page
    assert not Interval(float, 0, 1).is_satisfied_by(10**400)
    assert Interval(float, 0, None).is_satisfied_by(10**400)
    with pytest.raises(ParameterError, match="`support` must be a number >= 0 and <= 1"):
        check_constraints({"support": 10**400}, {"support": [Interval(float, 0, 1)]})


def test_timedelta_interval():
    iv = Interval(timedelta, timedelta(0), timedelta(days=30), closed="right")
    assert iv.is_satisfied_by(timedelta(minutes=5))
    assert iv.is_satisfied_by(timedelta(days=30))
    assert not iv.is_satisfied_by(timedelta(0))  # left bound open
    assert not iv.is_satisfied_by(timedelta(days=31))
    assert not iv.is_satisfied_by(300)  # seconds as a number are not a duration
    assert iv.describe() == "a duration > 0:00:00 and <= 30 days, 0:00:00"


@pytest.mark.parametrize("iv, text", [
    (Interval(int, 1, 5), "a whole number >= 1 and <= 5"),
    (Interval(int, 1, 5, closed="neither"), "a whole number > 1 and < 5"),
    (Interval(float, 0, None, closed="neither"), "a number > 0"),
    (Interval(float, None, 1, closed="left"), "a number < 1"),
    (Interval(int), "a whole number"),
])
def test_interval_describe(iv, text):
    assert iv.describe() == text


@settings(max_examples=200, deadline=None)
@given(st.integers(), st.integers(), st.integers())
def test_int_interval_is_exactly_the_closed_range(v, lo, hi):
    assert Interval(int, lo, hi).is_satisfied_by(v) == (lo <= v <= hi)


@settings(max_examples=200, deadline=None)
@given(st.integers(-50, 50), st.integers(-50, 50), st.integers(-50, 50),
       st.sampled_from(["both", "left", "right", "neither"]))
def test_int_interval_matches_the_comparisons_for_every_closed_mode(v, lo, hi, closed):
    above = lo <= v if closed in ("both", "left") else lo < v
    below = v <= hi if closed in ("both", "right") else v < hi
    assert Interval(int, lo, hi, closed=closed).is_satisfied_by(v) == (above and below)


# --------------------------------------------------------------------------------------------
# Options, plain types, None
# --------------------------------------------------------------------------------------------


def test_options_are_type_strict():
    assert Options(["1", "2"]).is_satisfied_by("1")
    assert not Options(["1", "2"]).is_satisfied_by(1)  # 1 is not "1"
    assert Options([1, 2]).is_satisfied_by(1)
    assert not Options([1, 2]).is_satisfied_by(True)  # True == 1, but it is not 1
    assert not Options([1, 2]).is_satisfied_by(1.0)
    assert not Options([True]).is_satisfied_by(1)


def test_options_survive_values_that_cannot_be_compared():
    class Weird:
        def __eq__(self, other):
            raise TypeError("no")

        __hash__ = object.__hash__

    assert not Options(["a"]).is_satisfied_by(Weird())


def test_options_describe_keeps_the_order_given():
    assert Options(["strict", "ordered", "unordered"]).describe() == (
        "one of 'strict', 'ordered', 'unordered'"
    )


def test_plain_types_and_none():
    cs = {"label": [str, None]}
    check_constraints({"label": "x"}, cs)
    check_constraints({"label": None}, cs)
    with pytest.raises(ParameterError, match=r"^`label` must be a string or None, got 3$"):
        check_constraints({"label": 3}, cs)
    with pytest.raises(ParameterError, match=r"`flag` must be True or False, got 1"):
        check_constraints({"flag": 1}, {"flag": [bool]})
    with pytest.raises(ParameterError, match=r"`n` must be a whole number, got True"):
        check_constraints({"n": True}, {"n": [int]})


def test_a_non_constraint_is_a_programming_error():
    with pytest.raises(TypeError, match="not a constraint"):
        check_constraints({"n": 1}, {"n": ["int"]})


# --------------------------------------------------------------------------------------------
# check_constraints: the message
# --------------------------------------------------------------------------------------------


def test_message_names_parameter_what_is_valid_and_the_value():
    cs = {"k": [Interval(int, 2, 20)], "order": [Options(["asc", "desc"])]}
    with pytest.raises(ParameterError) as e:
        check_constraints({"k": 25, "order": "asc"}, cs, where="segments ")
    assert str(e.value) == "segments `k` must be a whole number >= 2 and <= 20, got 25"
    assert isinstance(e.value, PathLensError)
    with pytest.raises(ParameterError) as e:
        check_constraints({"k": 3, "order": "up"}, cs)
    assert str(e.value) == "`order` must be one of 'asc', 'desc', got 'up'"


def test_several_allowed_kinds_are_joined_with_or():
    cs = {"top": [Interval(int, 1, None), None]}
    with pytest.raises(ParameterError, match=r"^`top` must be a whole number >= 1 or None, got 0$"):
        check_constraints({"top": 0}, cs)


def test_values_without_constraints_and_constraints_without_values_are_skipped():
    check_constraints({"free": object()}, {"n": [Interval(int, 1, 2)]})


# --------------------------------------------------------------------------------------------
# Params subclasses: hooks, replace, columns
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopParams(Params):
    _parameter_constraints: ClassVar = {
        "n": [Interval(int, 1, 100)],
        "by": [Column()],
        "extra": [Column(), None],
        "order": [Options(["asc", "desc"])],
        "lo": [Interval(float)],
        "hi": [Interval(float)],
        "steps": [tuple],
    }
    n: int = 10
    by: str = "event"
    extra: str | None = None
    order: str = "desc"
    lo: float = 0.0
    hi: float = 1.0
    steps: tuple = ("a",)

    def _normalise(self) -> None:
        if isinstance(self.steps, (list, str)):  # accepted spellings: a list, one step
            self._set("steps", tuple([self.steps] if isinstance(self.steps, str) else self.steps))
        if isinstance(self.order, str):
            self._set("order", self.order.lower())

    def _check(self) -> None:
        if self.lo > self.hi:
            raise ParameterError(f"`lo` must be at most `hi` ({self.hi}), got {self.lo}")


def test_params_validates_when_built_and_is_frozen():
    p = TopParams(n=5)
    assert p.n == 5
    with pytest.raises(FrozenInstanceError):
        p.n = 6  # type: ignore[misc]
    with pytest.raises(ParameterError, match=r"`n` must be a whole number >= 1 and <= 100, got 0"):
        TopParams(n=0)


def test_normalise_runs_before_the_constraints():
    p = TopParams(steps=["a", "b"], order="ASC")
    assert p.steps == ("a", "b") and p.order == "asc"
    assert TopParams(steps="view").steps == ("view",)
    # hashable after normalising (a cache key)
    assert hash(TopParams(steps=["a"])) == hash(TopParams(steps=("a",)))


def test_check_runs_after_the_constraints():
    with pytest.raises(ParameterError, match=r"`lo` must be at most `hi` \(1.0\), got 2.0"):
        TopParams(lo=2.0)
    # a value of the wrong kind is reported by its constraint, never reaches _check
    with pytest.raises(ParameterError, match=r"`lo` must be a number, got 'x'"):
        TopParams(lo="x")


def test_replace_validates_again():
    p = TopParams()
    assert p.replace(n=7).n == 7 and p.n == 10
    with pytest.raises(ParameterError, match="`n`"):
        p.replace(n=101)
    with pytest.raises(ParameterError, match="`lo` must be at most"):
        p.replace(lo=5.0)
    assert p.replace(order="ASC").order == "asc"  # hooks run again


def test_as_dict_and_column_fields():
    p = TopParams()
    assert p.as_dict() == {"n": 10, "by": "event", "extra": None, "order": "desc", "lo": 0.0,
                           "hi": 1.0, "steps": ("a",)}
    assert p.column_fields() == ["by", "extra"]


def test_column_is_statically_a_non_empty_string():
    with pytest.raises(ParameterError, match=r"`by` must be a column of the events table, got ''"):
        TopParams(by="")
    with pytest.raises(ParameterError, match="`by`"):
        TopParams(by=3)


def test_check_columns_names_field_value_and_the_columns_there_are():
    schema = pl.Schema({"ts": pl.Datetime(), "event": pl.String, "device": pl.String})
    TopParams(by="device").check_columns(schema)
    TopParams(extra=None).check_columns(schema)  # None: no column asked for
    with pytest.raises(ParameterError) as e:
        TopParams(extra="country").check_columns(schema)
    assert str(e.value) == (
        "`extra` must be a column of the events table, got 'country'; "
        "available: ['device', 'event', 'ts']"
    )
    with pytest.raises(ParameterError, match="`by`"):
        TopParams(by="brand").check_columns({"ts": 1, "event": 2})  # a plain mapping works too


def test_check_columns_names_the_table_the_column_belongs_to():
    @dataclass(frozen=True)
    class BasketParams(Params):
        _parameter_constraints: ClassVar = {"item": [Column("basket table")]}
        item: str = "product_id"

    with pytest.raises(ParameterError) as e:
        BasketParams(item="sku").check_columns({"order_id": 1, "product_id": 2})
    assert str(e.value) == (
        "`item` must be a column of the basket table, got 'sku'; "
        "available: ['order_id', 'product_id']"
    )


def test_require_columns():
    require_columns({"ts": 1, "event": 2}, ["ts"])
    with pytest.raises(SchemaError, match=r"missing required column 'user_id'; found \['ts'\]"):
        require_columns({"ts": 1}, ["ts", "user_id"])


def test_a_constraint_on_a_field_that_does_not_exist_is_a_declaration_error():
    from dataclasses import dataclass
    from typing import ClassVar

    from core.params import Interval, Params

    @dataclass(frozen=True)
    class Typo(Params):
        _parameter_constraints: ClassVar = {"windw": [Interval(int, 1)]}
        window: int = 0

    with pytest.raises(TypeError, match="names no field: \\['windw'\\]"):
        Typo()
