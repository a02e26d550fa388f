"""Wide files: thousands of property columns load with a bounded number of queries, and text
properties are typed (Boolean, Int64, Float64) exactly as a slow per-column reference says."""

from __future__ import annotations

import re
from unittest import mock

import polars as pl
from fixtures_loader import upload
from hypothesis import given, settings
from hypothesis import strategies as st

from core import load_events
from core.loader import _tighten_columns

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _wide_csv(n_props: int) -> str:
    names = ["user_id", "timestamp", "event"] + [f"p{i}" for i in range(n_props)]
    first = ["u1", "1706702400", "view"] + [str(i) for i in range(n_props)]
    second = ["u2", "1706702460", "cart"] + [
        ("x" if i % 3 == 0 else "") + (f"{i}.5" if i % 3 == 1 else str(i)) for i in range(n_props)
    ]
    return "\n".join(",".join(r) for r in (names, first, second)) + "\n"


def test_ten_thousand_columns_load_with_a_bounded_number_of_queries(monkeypatch):
    # 10,000 columns used to cost ~7 Polars queries per property column (70,000 in all,
    # 12-24 s); now a few queries plus about one eager Series operation per numeric column
    # (eager Series and DataFrame methods run through LazyFrame._collect_eager in this Polars)
    calls = {"n": 0}
    for method in ("collect", "_collect_eager"):
        original = getattr(pl.LazyFrame, method, None)
        if original is None:
            continue

        def counting(self, *args, _original=original, **kwargs):
            calls["n"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(pl.LazyFrame, method, counting)
    res = load_events(upload(_wide_csv(9_997)))
    assert res.events.shape == (2, 11 + 9_997)  # 11 canonical columns
    assert calls["n"] < 2 * 9_997, calls["n"]  # was about 8 per column
    dtypes = res.events.schema
    # p0: "0" and "x0" -> text; p1: "1" and "1.5" -> Float64; p2: "2" and "2" -> Int64
    assert (dtypes["p0"], dtypes["p1"], dtypes["p2"]) == (pl.String, pl.Float64, pl.Int64)


def _reference(values: list[str | None]) -> pl.DataType:
    present = [v.strip() for v in values if v is not None]
    if not present:
        return pl.String
    if all(v.lower() in ("true", "false") for v in present):
        return pl.Boolean
    if not all(_NUMBER.match(v) for v in present) or any(
        re.match(r"^[+-]?0\d", v) for v in present
    ):
        return pl.String
    try:
        [int(v) for v in present]
        if all(abs(int(v)) < 2**63 for v in present):
            return pl.Int64
    except ValueError:
        pass
    return pl.Float64


_VALUES = st.sampled_from(
    [None, "1", " 2 ", "-3", "4.5", "1e3", "007", "0", "true", "False", " TRUE", "x", "", "0.5"]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_VALUES, min_size=4, max_size=4), min_size=1, max_size=6))
def test_property_types_match_a_per_column_reference(columns):
    frame = pl.DataFrame(
        {f"c{i}": pl.Series(vals, dtype=pl.String) for i, vals in enumerate(columns)}
    )
    typed = {s.name: s for s in _tighten_columns(frame, frame.columns)}
    with mock.patch("core.loader.properties._LONG_CELLS", 0):  # the per-column path (tall frames)
        per_column = {s.name: s for s in _tighten_columns(frame, frame.columns)}
    assert typed.keys() == per_column.keys()
    for name, series in typed.items():
        assert series.dtype == per_column[name].dtype
        assert series.to_list() == per_column[name].to_list()
    for name, vals in zip(frame.columns, columns, strict=True):
        expected = _reference(vals)
        got = typed[name].dtype if name in typed else pl.String
        assert got == expected, (vals, got, expected)
        if expected == pl.Boolean:
            assert typed[name].to_list() == [
                None if v is None else v.strip().lower() == "true" for v in vals
            ]
