"""Issue 14: the loader's paths for large files give the answer of its paths for small ones.

On a large file shared session ids are looked for (in a thread, on all rows read) while rows
are accounted for and duplicates found, and exact duplicates are sliced out last; event types
are given during the pass to the names of the first rows and after it to the others. Every such
shortcut is compared here, on random files with duplicates, stray events, shared and missing
session ids, names the first rows do not show and order lines, with the plain path (``events``
and the whole report).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fixtures_loader import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core.loader.engine as engine_mod
import core.loader.order as order_mod
import core.loader.plan as plan_mod
import core.loader.sessions as sessions_mod
from core import load_events
from core.schema import conform

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
T0 = datetime(2024, 3, 1, tzinfo=UTC)
NAMES = ["view", "cart", "purchase", "session_start", "Order Completed", "login"]

row = st.tuples(
    st.integers(1, 6),  # user (0: none)
    st.one_of(st.integers(0, 90), st.sampled_from([-9000, 9000])),  # minute; a few strays
    st.sampled_from(NAMES),
    st.integers(0, 5),  # session (0: none)
    st.sampled_from(["1.5", "", "20"]),
)
files = st.tuples(
    st.lists(row, min_size=1, max_size=80),
    st.lists(st.integers(0, 79), max_size=8),  # rows repeated exactly, later in the file
    st.booleans(),  # time order, as exports land
    st.sampled_from(["global", "none", "order_lines"]),
)


def _write(tmp_path, spec) -> str:
    rows, repeats, time_order, kind = spec
    if time_order:
        rows = sorted(rows, key=lambda r: r[1])
    lines = []
    for u, minute, name, s, price in rows:
        ts = (T0 + timedelta(minutes=minute)).strftime("%Y-%m-%d %H:%M:%S UTC")
        user, sess = (f"u{u}" if u != 6 else ""), (f"s{s}" if s else "")
        if kind == "order_lines":  # quantity -1 on invoices starting with C: refunds
            lines.append(f"{ts},C{u},{price or 1},{user},{-1 if s == 1 else 2}")
        else:
            lines.append(f"{ts},{name},{price},{user}" + (f",{sess}" if kind == "global" else ""))
    for i in repeats:
        if i < len(lines):
            lines.append(lines[i])
    header = {
        "global": "event_time,event_type,price,user_id,user_session",
        "none": "timestamp,event,price,user_id",
        "order_lines": "InvoiceDate,InvoiceNo,UnitPrice,CustomerID,Quantity",
    }[kind]
    return write(tmp_path, "e.csv", header + "\n" + "\n".join(lines) + "\n")


def _large_file_paths(monkeypatch) -> None:
    """Every file a large one: numba loaded while it is read, the compiled checks (shared
    sessions looked for in a thread), one event name typed during the pass."""
    monkeypatch.setattr(engine_mod, "_WARM_FROM_BYTES", 0)
    monkeypatch.setattr(engine_mod, "COMPILED_FROM", 0)
    monkeypatch.setattr(order_mod, "COMPILED_FROM", 0)
    monkeypatch.setattr(sessions_mod, "COMPILED_FROM", 0)
    monkeypatch.setattr(plan_mod, "_HINTED_NAMES", 1)


def _load(path: str, drop_stray: bool):
    try:
        res = load_events(path, drop_stray=drop_stray)
    except Exception as e:  # a refused file must be refused the same way on both paths
        return type(e).__name__, str(e)
    return res.events, vars(res.report)


@SETTINGS
@given(spec=files, drop_stray=st.booleans())
def test_large_file_paths_give_the_small_file_answer(tmp_path, monkeypatch, spec, drop_stray):
    path = _write(tmp_path, spec)
    plain = _load(path, drop_stray)
    with monkeypatch.context() as m:
        _large_file_paths(m)
        large = _load(path, drop_stray)
    if isinstance(plain[0], str):
        assert large == plain
        return
    assert large[0].equals(plain[0]) and large[0].schema == plain[0].schema
    assert large[1] == plain[1]
    assert plain[0].equals(conform(plain[0]))  # the canonical table, as conform() makes it


def test_names_beyond_the_first_rows_are_typed_and_noted(tmp_path):
    # 5,000 rows are looked at before the pass: these names appear only after them
    first = ["u1,2024-03-01T10:00:00Z,view"] * 5000
    later = ["u2,2024-03-01T11:00:00Z,Order Completed", "u3,2024-03-01T12:00:00Z,wave"]
    path = write(tmp_path, "e.csv", "user_id,ts,event\n" + "\n".join(first + later) + "\n")
    res = load_events(path)
    assert res.events["event_type"].tail(2).to_list() == ["purchase", "other"]
    assert res.events["event_type"].value_counts().sort("event_type").rows() == [
        ("other", 1),
        ("purchase", 1),
        ("view_item", 1),  # 4,999 of the 5,000 views repeat the first one exactly
    ]
    assert "1 event name(s) are no e-commerce step and have event_type 'other': 'wave'." in (
        res.report.notes
    )


@pytest.mark.parametrize("drop_stray", [False, True])
def test_duplicates_sliced_out_last_are_not_counted_as_strays_or_refunds(tmp_path, drop_stray):
    # a stray refund repeated exactly: one stray (the copy is a duplicate), one refund
    lines = [f"2024-03-01 10:{m:02d}:00,A{m},2,u{m % 3},1" for m in range(30)]
    lines += ["2023-01-01 10:00:00,C9,2,u1,-1"] * 2
    path = write(
        tmp_path,
        "o.csv",
        "InvoiceDate,InvoiceNo,UnitPrice,CustomerID,Quantity\n" + "\n".join(lines),
    )
    res = load_events(path, drop_stray=drop_stray)
    assert res.report.rows_dropped["duplicate row"] == 1
    assert res.report.stray_rows == 1
    assert res.report.rows_dropped["stray timestamp"] == (1 if drop_stray else 0)
    assert res.events.height == 31 - drop_stray  # 32 lines, 1 duplicate (and the stray)
    refunds = "1 returns (negative quantity or an invoice starting with 'C')"
    assert any(refunds in n for n in res.report.notes) is not drop_stray  # counted once
    assert res.events["event"].to_list().count("refund") == (0 if drop_stray else 1)


def test_duplicates_sliced_out_last_are_not_counted_as_rows_without_a_session(tmp_path):
    lines = ["u1,2024-03-01T10:00:00Z,view,s1", "u2,2024-03-01T10:01:00Z,view,"]
    lines += ["u2,2024-03-01T10:01:00Z,view,", "u2,2024-03-01T10:02:00Z,cart,"]  # a duplicate
    path = write(tmp_path, "e.csv", "user_id,ts,event,session_id\n" + "\n".join(lines) + "\n")
    res = load_events(path)
    assert res.events["session_id"].to_list() == ["s1", "u2-1", "u2-1"]
    assert any(n.startswith("2 events without a session id") for n in res.report.notes)
