"""Grouping rows by entity without sorting the table (``core._grouping``), and the engines
that use it: a log in time order, sorted by user, or shuffled gives the same funnels and paths,
entity by entity."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import core._grouping as G
from core import compute_funnel, compute_paths
from core.dev.synth import generate_shop

PROPS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def reference_groups(keys: pl.Series, t: np.ndarray) -> dict:
    """Each key's row numbers in the order a stable sort by (key, time) puts them."""
    frame = pl.DataFrame({"k": keys, "t": t}).with_row_index("i")
    ordered = frame.sort(["k", "t"], maintain_order=True)
    return {k: list(rows) for k, rows in ordered.group_by("k", maintain_order=True).agg("i").rows()}


def grouped(keys: pl.Series, t: np.ndarray) -> dict:
    g = G.group_rows(keys, t)
    order = np.arange(len(keys)) if g.order is None else g.order
    assert sorted(order.tolist()) == list(range(len(keys)))  # a permutation
    out = {}
    for e in range(g.n_entities):
        rows = order[g.starts[e] : g.starts[e + 1]].tolist()
        assert rows and rows[0] == g.first_rows[e]
        assert len({keys[r] for r in rows}) == 1  # one key per entity ...
        assert keys[rows[0]] not in out  # ... and one entity per key
        out[keys[rows[0]]] = rows
    return out


keys_and_times = st.integers(0, 200).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 12), min_size=n, max_size=n),
        st.lists(st.integers(0, 5), min_size=n, max_size=n),
    )
)


@PROPS
@given(data=keys_and_times, as_text=st.booleans(), time_order=st.booleans())
def test_group_rows_equals_a_stable_sort_by_entity_and_time(data, as_text, time_order):
    ids, times = data
    keys = pl.Series(ids).cast(pl.String) if as_text else pl.Series(ids, dtype=pl.Int64)
    t = np.asarray(sorted(times) if time_order else times, dtype=np.int64)
    assert grouped(keys, t) == reference_groups(keys, t)


def test_group_rows_on_a_larger_log_in_time_order_and_shuffled():
    # 300k rows: several partitions, both threads (the small cases above use one of each)
    rng = np.random.default_rng(3)
    n = 300_000
    keys = pl.Series(rng.integers(0, 40_000, n)).cast(pl.String)
    t = np.sort(rng.integers(0, 50_000, n))  # many equal times: input order breaks the ties
    assert grouped(keys, t) == reference_groups(keys, t)
    perm = rng.permutation(n)
    assert grouped(keys.gather(perm), t[perm]) == reference_groups(keys.gather(perm), t[perm])


def test_partition_is_a_stable_counting_sort_by_the_top_bits():
    rng = np.random.default_rng(5)
    h = rng.integers(0, 2**63, 10_000, dtype=np.int64).view(np.uint64) * np.uint64(2)
    h[5000:5003] = h[4999]  # a run of equal hashes across the cut between two threads
    for bits, threads in [(1, 1), (4, 2), (9, 3)]:
        order, starts, hp, _, runs = G._partition(h, np.empty(0, np.uint64), bits, threads)
        assert runs == 1 + int((h[1:] != h[:-1]).sum())
        top = (h >> np.uint64(64 - bits)).astype(np.int64)
        assert order.tolist() == np.argsort(top, kind="stable").tolist()
        assert (hp == h[order]).all()
        assert starts.tolist() == [0, *np.cumsum(np.bincount(top, minlength=2**bits)).tolist()]


def test_a_hash_collision_never_merges_two_entities(monkeypatch):
    # every key hashes to the same value: the second hash tells them apart, and the rows
    # are sorted instead
    real = G._hashes
    monkeypatch.setattr(G, "_hashes", lambda keys: (np.zeros(len(keys), np.uint64), False))
    keys = pl.Series(["b", "a", "b", "c", "a"])
    t = np.array([5, 1, 2, 3, 0])
    assert grouped(keys, t) == reference_groups(keys, t) == {"a": [4, 1], "b": [2, 0], "c": [3]}
    assert real is not G._hashes


def test_grouped_input_is_used_as_it_is():
    keys = pl.Series(["a", "a", "b", "c", "c"])
    g = G.group_rows(keys, np.array([1, 2, 0, 5, 5]))
    assert g.order is None and g.starts.tolist() == [0, 2, 3, 5]
    # grouped, but not in time order within "a": only that entity's rows move
    g = G.group_rows(keys, np.array([2, 1, 0, 5, 5]))
    assert g.order.tolist() == [1, 0, 2, 3, 4]


# ----------------------------------------------------------------------------- engines


@pytest.fixture(scope="module")
def logs():
    """The same events sorted by user, in time order (as exports land), and shuffled; one
    event per user and time, so that no copy depends on how its ties are broken."""
    raw, _, _ = generate_shop(users=600, days=20, seed=11)
    events = (
        raw.rename({"event_time": "ts", "event_name": "event"})
        .with_columns(pl.col("event").alias("event_type"))
        .unique(["user_id", "ts"], keep="first", maintain_order=True)
    )
    return {
        "user": events.sort(["user_id", "ts"]),
        "time": events.sort("ts"),
        "shuffled": events.sample(fraction=1.0, shuffle=True, seed=2),
    }


@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
@pytest.mark.parametrize("count_by", ["user_id", "session_id"])
def test_funnels_identical_for_time_user_and_shuffled_input(logs, order, count_by):
    steps = ["view_item", "add_to_cart", "begin_checkout", "purchase"]
    results = {
        name: compute_funnel(
            frame,
            steps,
            window=timedelta(days=1),
            order=order,
            count_by=count_by,
            exclusions=[("remove_from_cart", 2, 3)] if order != "unordered" else (),
            breakdown="device",
        )
        for name, frame in logs.items()
    }
    ref = results["user"]
    assert ref.entities.height > 500 and ref.steps["entities"][-1] > 0
    for name, r in results.items():
        assert r.entities.sort(count_by).equals(ref.entities.sort(count_by)), name
        # means summed in another entity order may differ in the last bits
        assert_frame_equal(r.steps, ref.steps, check_exact=False, rel_tol=1e-12)
        assert_frame_equal(r.breakdown_steps, ref.breakdown_steps, check_exact=False, rel_tol=1e-12)


@pytest.mark.parametrize(
    "kw",
    [
        {"count_by": "session_id", "max_steps": 5, "collapse_repeats": False},
        {"count_by": "user_id", "max_steps": 4, "start": "view_item"},
        {"count_by": "session_id", "max_steps": 5, "end": "purchase"},
    ],
)
def test_paths_identical_for_time_user_and_shuffled_input(logs, kw):
    results = {name: compute_paths(frame, **kw) for name, frame in logs.items()}
    ref = results["user"]
    assert ref.edges.height > 10
    for r in results.values():
        for got, want in [
            (r.path_counts.sort(pl.all()), ref.path_counts.sort(pl.all())),
            (r.edges, ref.edges),
            (r.top_paths, ref.top_paths),
        ]:
            assert_frame_equal(got, want, check_exact=False, rel_tol=1e-12)


class _NoSort(Exception):
    pass


def test_a_log_in_time_order_is_grouped_without_sorting_the_table(logs, monkeypatch):
    """An export in log order is grouped by a hash partition and a counting sort: sorting
    ten million string keys cost several times what the engines themselves do."""

    def refuse(self, *a, **k):
        if self.height == logs["time"].height:
            raise _NoSort("the whole table was sorted")
        return real(self, *a, **k)

    real = pl.DataFrame.sort
    frame = logs["time"]
    monkeypatch.setattr(pl.DataFrame, "sort", refuse)
    funnel = compute_funnel(frame, ["view_item", "purchase"], window=timedelta(days=1))
    paths = compute_paths(frame, max_steps=4)
    monkeypatch.undo()
    assert funnel.entities.height == frame["user_id"].n_unique()
    assert paths.edges.height > 0
