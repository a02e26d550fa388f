"""The loaded table is sorted by user, then time, then file order, however the file is
ordered (grouped without a sort of every row: ``core._grouping``)."""

from __future__ import annotations

import polars as pl
import pytest
from fixtures_loader import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core.loader.order as loader
from core import load_events

rows = st.lists(
    st.tuples(st.sampled_from(["u3", "u1", "u10", "u2", "x"]), st.integers(0, 4)),
    min_size=1,
    max_size=60,
)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rows=rows, time_order=st.booleans())
@pytest.mark.parametrize("grouped", [True, False], ids=["grouping", "packed-key sort"])
def test_rows_come_out_by_user_time_and_file_order(
    tmp_path, monkeypatch, grouped, rows, time_order
):
    # large tables are grouped (core._grouping), small ones sorted by a packed key: both here
    monkeypatch.setattr(loader, "_GROUP_ROWS_FROM", 0 if grouped else 10**12)
    if time_order:  # as exports land
        rows = sorted(rows, key=lambda r: r[1])
    lines = [f"{u},2024-01-01T10:0{t}:00Z,view,p{i}" for i, (u, t) in enumerate(rows)]
    path = write(tmp_path, "e.csv", "user_id,ts,event,product_id\n" + "\n".join(lines) + "\n")
    got = load_events(path).events.select("user_id", "product_id").rows()
    # the expected order by hand: a stable sort of the file's rows by (user, time)
    order = sorted(range(len(rows)), key=lambda i: rows[i])
    assert got == [(rows[i][0], f"p{i}") for i in order]
    assert pl.Series([u for u, _ in got]).is_sorted()
