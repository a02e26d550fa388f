"""Issue 14: the loaded table keeps the file's row order (less the dropped rows), exact
duplicates and sessions come out as a plain-Python reference says, however the file is
ordered, on both paths (Polars' hash tables for small tables, the compiled first passes of
``core.loader.kernels`` and ``core._grouping`` for large ones); the store sorts once, by
user, time and row order (``sort_events``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from fixtures_loader import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core.loader.engine as engine_mod
import core.loader.order as order_mod
import core.loader.sessions as sessions_mod
from core import load_events
from core.loader.kernels import mixed_sessions, repeated_pairs
from core.loader.order import sort_events
from core.sessions import assign_sessions

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PATHS = pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "polars"])
T0 = datetime(2024, 1, 1, 10, tzinfo=UTC)

# (user, minute, product): few values, so exact repeats and (user, time) ties are common
rows = st.lists(
    st.tuples(
        st.sampled_from(["u3", "u1", "u10", "u2", "x"]),
        st.integers(0, 4),
        st.sampled_from(["p1", "p2"]),
    ),
    min_size=1,
    max_size=60,
)


def _paths(monkeypatch, compiled: bool) -> None:
    threshold = 0 if compiled else 10**12
    monkeypatch.setattr(order_mod, "COMPILED_FROM", threshold)
    monkeypatch.setattr(sessions_mod, "COMPILED_FROM", threshold)
    # a "large file" to the pipeline too: numba loaded while it is read, shared sessions
    # looked for in a thread
    monkeypatch.setattr(engine_mod, "_WARM_FROM_BYTES", threshold)
    monkeypatch.setattr(engine_mod, "COMPILED_FROM", threshold)


def _csv(tmp_path, lines: list[str], header: str = "user_id,ts,event,product_id"):
    return write(tmp_path, "e.csv", header + "\n" + "\n".join(lines) + "\n")


@SETTINGS
@given(rows=rows, time_order=st.booleans())
@PATHS
def test_rows_keep_file_order_and_only_later_exact_repeats_go(
    tmp_path, monkeypatch, compiled, rows, time_order
):
    _paths(monkeypatch, compiled)
    if time_order:  # as exports land
        rows = sorted(rows, key=lambda r: r[1])
    lines = [f"{u},2024-01-01T10:0{t}:00Z,view,{p}" for u, t, p in rows]
    res = load_events(_csv(tmp_path, lines))
    got = [
        (u, int((t - T0).total_seconds() // 60), p)
        for u, t, p in res.events.select("user_id", "ts", "product_id").rows()
    ]
    # reference: the file's rows in order, a row equal to an earlier one dropped
    seen: set = set()
    expected = [r for r in rows if not (r in seen or seen.add(r))]
    assert got == expected
    assert res.report.rows_dropped["duplicate row"] == len(rows) - len(expected)


@SETTINGS
@given(rows=rows, gap_min=st.integers(1, 3))
@PATHS
def test_gap_sessions_in_file_order_equal_core_sessions(
    tmp_path, monkeypatch, compiled, rows, gap_min
):
    _paths(monkeypatch, compiled)
    # product ids unique per row: nothing is a duplicate, every row can be found again
    lines = [f"{u},2024-01-01T10:0{t}:00Z,view,r{i}" for i, (u, t, _) in enumerate(rows)]
    ev = load_events(_csv(tmp_path, lines), session_gap=timedelta(minutes=gap_min)).events
    assert ev["product_id"].to_list() == [f"r{i}" for i in range(len(rows))]
    ref = assign_sessions(ev.drop("session_id"), gap=timedelta(minutes=gap_min))
    assert dict(zip(ev["product_id"], ev["session_id"], strict=True)) == dict(
        zip(ref["product_id"], ref["session_id"], strict=True)
    )


@PATHS
def test_session_ids_shared_by_users_are_prefixed_interleaved_visits_are_not(
    tmp_path, monkeypatch, compiled
):
    _paths(monkeypatch, compiled)
    # "s1" is used by u1 and u2 (shared); u3's "s2" is interrupted by its own "s3" (one user)
    lines = [
        "u1,2024-01-01T10:00:00Z,view,s1",
        "u3,2024-01-01T10:00:30Z,view,s2",
        "u2,2024-01-01T10:01:00Z,view,s1",
        "u3,2024-01-01T10:01:30Z,view,s3",
        "u3,2024-01-01T10:02:00Z,view,s2",
        "u4,2024-01-01T10:02:30Z,view,",
    ]
    res = load_events(_csv(tmp_path, lines, "user_id,ts,event,session_id"))
    assert res.events["session_id"].to_list() == ["u1:s1", "s2", "u2:s1", "s3", "s2", "u4-1"]
    assert any("1 session id(s)" in w and "'s1'" in w for w in res.report.warnings)


@SETTINGS
@given(
    users=st.lists(st.sampled_from(["b", "a", "c", "aa"]), min_size=2, max_size=50),
    data=st.data(),
)
@PATHS
def test_sort_events_equals_a_stable_sort(monkeypatch, compiled, users, data):
    _paths(monkeypatch, compiled)
    minutes = data.draw(st.lists(st.integers(0, 3), min_size=len(users), max_size=len(users)))
    frame = pl.DataFrame(
        {
            "user_id": users,
            "ts": [T0 + timedelta(minutes=m) for m in minutes],
            "i": range(len(users)),
        }
    )
    expected = frame.sort(["user_id", "ts"], maintain_order=True)
    assert sort_events(frame).equals(expected)
    assert sort_events(expected).equals(expected)


def test_sort_events_keeps_polars_order_for_tables_that_are_not_canonical():
    frame = pl.DataFrame({"user_id": ["b", None, "a"], "ts": [2, 1, 3]})
    assert sort_events(frame).equals(frame.sort(["user_id", "ts"], maintain_order=True))


def test_repeated_pairs_equal_a_counter_in_any_time_order():
    rng = np.random.default_rng(5)
    n = 3000
    t = rng.integers(0, 40, n)  # runs of equal times longer than the pairwise limit
    hu = rng.integers(0, 200, n).astype(np.uint64)
    pairs = list(zip(t.tolist(), hu.tolist(), strict=True))
    expected = np.array([pairs.count(p) > 1 for p in pairs])
    by_time = np.argsort(t, kind="stable")
    assert (repeated_pairs(t, hu, by_time) == expected).all()
    sorted_t, sorted_hu = t[by_time], hu[by_time]
    assert (repeated_pairs(sorted_t, sorted_hu, None) == expected[by_time]).all()


def test_mixed_sessions_names_each_session_with_two_users_once():
    rng = np.random.default_rng(6)
    n = 200_000  # many partitions
    hs = rng.integers(0, 2**64, 80_000, dtype=np.uint64)[rng.integers(0, 80_000, n)]
    hu = (hs * np.uint64(7)) % np.uint64(1000)  # one user per session...
    hu[[10, 20, 30]] += np.uint64(1)  # ...but these three rows
    valid = np.ones(n, dtype=bool)
    valid[20] = False  # a row without a session does not count
    got = mixed_sessions(hs, hu, valid)
    expected = {int(hs[i]) for i in (10, 30) if (hs == hs[i]).sum() > 1}
    assert sorted(got.tolist()) == sorted(expected) and len(got) == len(set(got.tolist()))
    assert mixed_sessions(hs, hu, np.empty(0, bool)).tolist().count(int(hs[20])) == int(
        (hs == hs[20]).sum() > 1
    )


@SETTINGS
@given(n=st.integers(1, 3000), drops=st.lists(st.integers(0, 2999), max_size=12))
def test_filter_columns_equals_a_filter_sparse_or_not(n, drops):
    from core.loader.order import _filter_columns

    frame = pl.DataFrame({"i": range(n), "s": [f"v{i % 7}" for i in range(n)]})
    keep = pl.Series([i not in set(drops) for i in range(n)])
    assert _filter_columns([frame], keep).equals(frame.filter(keep))  # few dropped: slices
    dense = pl.Series([i % 3 != 0 for i in range(n)])
    assert _filter_columns([frame], dense).equals(frame.filter(dense))
