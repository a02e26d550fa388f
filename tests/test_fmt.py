"""Formatting helpers: percentages, durations, p-values, counts, money, colours, time grain."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ParameterError
from core.fmt import (
    COLUMN_KINDS,
    MISSING,
    PALETTE,
    PeopleTable,
    color_for,
    fmt_count,
    fmt_duration,
    fmt_money,
    fmt_pct,
    fmt_pp,
    fmt_pvalue,
    grain_for_span,
    round_duration,
)


@pytest.mark.parametrize(
    "secs, text",
    [
        (0, "0 s"),
        (47, "47 s"),
        (0.25, "0.25 s"),
        (60, "1 min"),
        (725, "12 min 5 s"),  # 12 * 60 + 5
        (3600, "1 h"),
        (11_520, "3 h 12 min"),  # 3 * 3600 + 12 * 60
        (187_200, "2 d 4 h"),  # 2 * 86400 + 4 * 3600
        (86_400, "1 d"),
        (59.6, "1 min"),  # rounds to 60 s
        (None, MISSING),
        (float("nan"), MISSING),
    ],
)
def test_durations(secs, text):
    assert fmt_duration(secs) == text


def test_percentages_pvalues_counts_money():
    assert fmt_pct(0.1234) == "12.3%" and fmt_pct(1) == "100.0%" and fmt_pct(None) == MISSING
    assert fmt_pct(0.05, signed=True) == "+5.0%" and fmt_pct(-0.05, signed=True) == "-5.0%"
    assert fmt_pp(0.031) == "+3.1 pp" and fmt_pp(-0.2) == "-20.0 pp" and fmt_pp(0) == "0.0 pp"
    assert fmt_pvalue(0.0009) == "< 0.001" and fmt_pvalue(0.001) == "0.001"
    assert fmt_pvalue(0.04217) == "0.042" and fmt_pvalue(1.0) == "1.000"
    assert fmt_pvalue(float("nan")) == MISSING
    assert fmt_count(5066.0) == "5,066"
    assert fmt_count(1234567) == "1,234,567" and fmt_count(None) == MISSING
    assert fmt_money(1234.5) == "1,234.50" and fmt_money(1234.5, "EUR") == "1,234.50 EUR"
    assert fmt_money(None, "EUR") == MISSING


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=0, max_value=10 * 365 * 86400, allow_nan=False))
def test_durations_never_show_more_than_two_units_or_none(secs):
    text = fmt_duration(secs)
    assert "None" not in text and "nan" not in text
    assert len([p for p in text.split() if not p[0].isdigit()]) <= 2


def test_colours_are_stable_and_from_the_palette():
    values = ["mobile", "desktop", "tablet", None, "(none)", "Other"]
    first = [color_for(v) for v in values]
    assert first == [color_for(v) for v in reversed(values)][::-1]  # order does not matter
    assert all(c in PALETTE for c in first)
    assert color_for(None) == color_for("(none)")
    # known value: crc32("mobile") % 10 fixes the colour across runs and machines
    import zlib

    assert color_for("mobile") == PALETTE[zlib.crc32(b"mobile") % len(PALETTE)]


def test_grain_from_the_span():
    assert grain_for_span(timedelta(hours=3)) == "hour"  # the REES46 head
    assert grain_for_span(timedelta(days=2)) == "hour"
    assert grain_for_span(timedelta(days=2, seconds=1)) == "day"
    assert grain_for_span(timedelta(days=90)) == "day"  # the sample
    assert grain_for_span(timedelta(days=400)) == "week"
    assert grain_for_span(None) == "hour"


# ---------------------------------------------------------------------- tables for people


def test_people_table_keeps_numbers_as_numbers():
    t = PeopleTable.build({
        "Rule": ("text", ["a", None]),
        "Lift": ("ratio", [10.2, 2.5]),
        "Share": ("percent", [0.5, float("nan")]),
        "Baskets": ("count", [3.0, None]),
        "Difference": ("pp", [0.031, None]),
        "Time": ("duration", [11_545, None]),
    })
    assert t.frame.dtypes == [pl.String, pl.Float64, pl.Float64, pl.Int64, pl.Float64,
                              pl.Duration("ms")]
    # sorted as numbers: 2.5 before 10.2 (as text, "10.20" came before "2.50")
    assert t.frame.sort("Lift")["Lift"].to_list() == [2.5, 10.2]
    # NaN and None are null (the grid shows an en dash), pp held in points, 3 h 12 min 25 s
    # rounded to the minute as fmt_duration shows it
    assert t.frame.row(0) == ("a", 10.2, 0.5, 3, pytest.approx(3.1), timedelta(hours=3,
                                                                                minutes=12))
    assert t.frame.row(1) == (None, 2.5, None, None, None, None)
    assert list(t.kinds) == t.columns


def test_people_table_refuses_a_kind_that_does_not_fit():
    with pytest.raises(ParameterError, match="'Lift'.*one of"):
        PeopleTable.build({"Lift": ("fancy", [1.0])})
    with pytest.raises(ParameterError, match="'Lift' of kind 'ratio'"):
        PeopleTable(pl.DataFrame({"Lift": ["2.50"]}), {"Lift": "ratio"})
    with pytest.raises(ParameterError, match="every column"):
        PeopleTable(pl.DataFrame({"Lift": [2.5], "Rule": ["a"]}), {"Lift": "ratio"})
    assert set(COLUMN_KINDS) >= {"text", "count", "percent", "pp", "money", "ratio", "pvalue",
                                 "duration"}


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 10_000_000), st.floats(0, 10_000_000))
def test_rounded_durations_keep_their_order_and_read_as_fmt_duration(a, b):
    if a <= b:
        assert round_duration(a) <= round_duration(b)
    # from a second up the cut value reads as the exact one (two largest units); below a
    # second it is kept to the millisecond
    if a >= 1:
        assert fmt_duration(round_duration(a).total_seconds()) == fmt_duration(a)
    else:
        assert round_duration(a) == timedelta(milliseconds=round(a * 1000))
