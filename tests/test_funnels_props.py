"""Funnel properties on random logs, partition merges, URL round trips, and ClickHouse."""

from __future__ import annotations

import re
from datetime import timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_funnels_reference import BASE, PROP_SETTINGS, logs

from core import Condition, FunnelStep, ParameterError, compute_funnel
from core.funnels import FunnelParams, dropped_off, merge_funnel_results


def run(frame, steps, window, order="ordered", exclusions=(), **kw):
    if order == "unordered":
        exclusions = [(nm, 1, len(steps)) for nm, _, _ in exclusions]
    return compute_funnel(
        frame,
        [list(s) for s in steps],
        window=timedelta(seconds=window),
        order=order,
        exclusions=[(list(nm), a, b) for nm, a, b in exclusions],
        **kw,
    )


def furthest(result):
    return dict(zip(result.entities["user_id"], result.entities["furthest_step"], strict=True))


@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
@PROP_SETTINGS
@given(data=logs())
def test_counts_never_increase_along_the_funnel(order, data):
    frame, steps, exclusions, window = data
    r = run(frame, steps, window, order, exclusions)
    counts = r.steps["entities"].to_list()
    assert all(a >= b for a, b in zip(counts, counts[1:], strict=False))
    assert (
        counts[0] == r.entities.filter(~pl.col("excluded") & (pl.col("furthest_step") >= 1)).height
    )
    drops = r.steps["drop_off"].to_list()[1:]
    assert drops == [a - b for a, b in zip(counts, counts[1:], strict=False)]


@PROP_SETTINGS
@given(data=logs())
def test_strict_le_ordered_le_unordered_per_entity(data):
    frame, steps, _, window = data
    s = furthest(run(frame, steps, window, "strict"))
    o = furthest(run(frame, steps, window, "ordered"))
    u = furthest(run(frame, steps, window, "unordered"))
    assert s.keys() == o.keys() == u.keys()
    for ent in s:
        assert s[ent] <= o[ent] <= u[ent], ent


def _append(frame, rows):
    extra = pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "ts": [BASE + timedelta(seconds=r[1]) for r in rows],
            "event": [r[2] for r in rows],
        },
        schema=frame.schema,
    )
    return pl.concat([frame, extra])


@pytest.mark.parametrize("order", ["ordered", "unordered"])
@PROP_SETTINGS
@given(data=logs(), noise=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 40)), max_size=8))
def test_events_matching_no_step_change_nothing(order, data, noise):
    frame, steps, exclusions, window = data
    used = {n for s in steps for n in s} | {n for nm, _, _ in exclusions for n in nm}
    assume(frame.height)
    users = frame["user_id"].unique().to_list()
    other = "zz" if "zz" not in used else "zzz"
    noisy = _append(frame, [(users[u % len(users)], t, other) for u, t in noise])
    a, b = (
        run(frame, steps, window, order, exclusions),
        run(noisy, steps, window, order, exclusions),
    )
    assert a.entities.equals(b.entities)


@pytest.mark.parametrize("order", ["ordered", "strict"])
@PROP_SETTINGS
@given(data=logs(), gap=st.integers(1, 20))
def test_later_steps_outside_every_window_change_nothing(order, data, gap):
    """Events of steps 2+ more than `window` after the entity's last step-1 event."""
    frame, steps, _, window = data
    first = set(steps[0])
    later = [n for s in steps[1:] for n in s if n not in first]
    assume(later and frame.height)
    ts = frame.with_columns((pl.col("ts") - BASE).dt.total_seconds().alias("s"))
    rows = []
    for user, part in ts.group_by("user_id"):
        last1 = part.filter(pl.col("event").is_in(list(first)))["s"].max()
        start = (last1 if last1 is not None else part["s"].min()) + window + gap
        end = max(start, part["s"].max() + 1)  # after all the entity's events (strict)
        rows += [(user[0], end + i, later[i % len(later)]) for i in range(3)]
    a = run(frame, steps, window, order)
    b = run(_append(frame, rows), steps, window, order)
    assert a.entities.equals(b.entities)


@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
@PROP_SETTINGS
@given(data=logs(max_users=6), parts=st.integers(2, 4), seed=st.integers(0, 10**6))
def test_partitions_by_entity_merge_to_the_whole(order, data, parts, seed):
    frame, steps, exclusions, window = data
    # break down by the event name (first touch) with a small limit: "Other" is re-ranked
    kw = {"breakdown": "event", "breakdown_limit": 1}
    whole = run(frame, steps, window, order, exclusions, **kw)
    part_id = (pl.col("user_id").hash(seed) % parts).alias("_p")
    pieces = [
        run(p.drop("_p"), steps, window, order, exclusions, **kw)
        for _, p in frame.with_columns(part_id).group_by("_p")
    ]
    assume(pieces)
    merged = merge_funnel_results(pieces)
    key = "user_id"
    assert merged.entities.sort(key).equals(whole.entities.sort(key))
    assert merged.steps.equals(whole.steps)
    assert merged.breakdown_steps.equals(whole.breakdown_steps)


@PROP_SETTINGS
@given(data=logs(distinct_times=True), seed=st.integers(0, 10**6))
def test_row_order_does_not_matter_when_times_differ(data, seed):
    frame, steps, exclusions, window = data
    a = run(frame, steps, window, "ordered", exclusions)
    b = run(
        frame.sample(fraction=1.0, shuffle=True, seed=seed), steps, window, "ordered", exclusions
    )
    assert a.entities.sort("user_id").equals(b.entities.sort("user_id"))


@PROP_SETTINGS
@given(data=logs())
def test_dropped_off_partitions_the_entrants(data):
    frame, steps, exclusions, window = data
    r = run(frame, steps, window, "ordered", exclusions)
    n = len(steps)
    kept = r.entities.filter(~pl.col("excluded"))
    total = sum(dropped_off(r, k).height for k in range(1, n + 1))
    # everyone not excluded either dropped off at some step or completed the funnel
    assert total + kept.filter(pl.col("furthest_step") == n).height == kept.height


# ------------------------------------------------------------------------ URL round trip

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
values = st.one_of(
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="|"),
        min_size=1,
        max_size=8,
    ),
    st.integers(-1000, 1000).map(str),
)
conditions = st.one_of(
    st.builds(
        Condition,
        st.sampled_from(["category", "brand", "device"]),
        st.sampled_from(["eq", "ne", "contains"]),
        values,
    ),
    st.builds(
        Condition, st.just("price"), st.sampled_from(["gt", "le"]), st.integers(0, 500).map(str)
    ),
    st.builds(Condition, st.just("brand"), st.just("is_null")),
    st.builds(
        Condition,
        st.just("brand"),
        st.just("in"),
        st.lists(values, min_size=1, max_size=3, unique=True).map(tuple),
    ),
)
funnel_steps = st.builds(
    FunnelStep,
    st.lists(names, min_size=1, max_size=3, unique=True).map(tuple),
    where=st.lists(conditions, max_size=2).map(tuple),
    label=st.one_of(st.just(""), names),
)


@st.composite
def funnel_params(draw):
    steps = tuple(draw(st.lists(funnel_steps, min_size=1, max_size=5)))
    n = len(steps)
    order = draw(st.sampled_from(["ordered", "strict", "unordered"]))
    exclusions = ()
    if n >= 2:
        exclusions = tuple(
            (s, 1, n) if order == "unordered" else (s, a, draw(st.integers(a + 1, n)))
            for s, a in draw(st.lists(st.tuples(funnel_steps, st.integers(1, n - 1)), max_size=2))
        )
    # a FunnelParams is valid once built: unordered exclusions span the whole funnel (above),
    # and an exclusion is never one of the steps it spans
    exclusions = tuple(
        (x, a, b)
        for x, a, b in exclusions
        if not any(
            set(x.events) == set(s.events) and set(x.where) == set(s.where)
            for s in steps[a - 1 : b]
        )
    )
    return FunnelParams(
        steps=steps,
        window=draw(
            st.one_of(
                st.integers(1, 90 * 86400).map(lambda s: timedelta(seconds=s)),
                st.floats(0.001, 1e6).map(lambda s: timedelta(seconds=s)),
            )
        ),
        order=order,
        count_by=draw(st.sampled_from(["user_id", "session_id", "order_id"])),
        exclusions=exclusions,
        breakdown=draw(st.one_of(st.none(), st.sampled_from(["device", "category"]))),
        breakdown_limit=draw(st.integers(1, 50)),
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=funnel_params())
def test_params_round_trip_through_a_url_safe_string(p):
    q = p.to_query()
    assert re.fullmatch(r"[A-Za-z0-9_.\-]+", q)
    assert FunnelParams.from_query(q) == p
    hash(p)  # a cache key


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=60), st.from_regex(r"f1\.[A-Za-z0-9_\-]{0,40}")))
def test_garbage_queries_raise_parameter_error_only(text):
    try:
        FunnelParams.from_query(text)
    except ParameterError:
        pass


def test_default_params_make_a_short_link():
    p = FunnelParams(steps=("view_item", "add_to_cart", "begin_checkout", "purchase"))
    assert len(p.to_query()) < 100
    assert FunnelParams.from_query(p.to_query()).steps[0] == FunnelStep("view_item")


# ------------------------------------------------------------------------ ClickHouse


chdb = pytest.importorskip("chdb")


@PROP_SETTINGS
@given(data=logs(distinct_steps=True, max_users=8))
def test_ordered_funnel_equals_clickhouse_window_funnel(data, tmp_path_factory):
    """Where PostHog and windowFunnel agree (one step per event), the counts are identical."""
    frame, steps, _, window = data
    assume(frame.height)
    path = tmp_path_factory.mktemp("ch") / "events.parquet"
    frame.write_parquet(path)
    conds = ", ".join(f"event = '{s[0]}'" for s in steps)
    sql = (
        f"SELECT user_id, windowFunnel({window * 1_000_000})("
        f"toUInt64(toUnixTimestamp64Micro(ts)), {conds}) AS level "
        f"FROM file('{path}', Parquet) GROUP BY user_id"
    )
    ch = pl.read_csv(
        chdb.query(sql, "CSVWithNames").bytes(), schema_overrides={"user_id": pl.String}
    )
    ours = furthest(run(frame, steps, window))
    assert dict(zip(ch["user_id"], ch["level"], strict=True)) == ours


@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
@PROP_SETTINGS
@given(data=logs(), seed=st.integers(0, 10**6))
def test_sorted_grouped_and_scattered_rows_give_the_same_answer(order, data, seed):
    """Rows sorted by entity, grouped by entity in a random entity order, or in any order:
    the same answer (each entity's rows keep their relative order, which breaks time ties)."""
    frame, steps, exclusions, window = data
    users = frame["user_id"].unique().shuffle(seed)
    rank = pl.DataFrame({"user_id": users, "_r": pl.int_range(len(users), eager=True)})
    grouped = frame.join(rank, on="user_id", maintain_order="left").sort("_r", maintain_order=True)
    by_user = frame.sort("user_id", maintain_order=True)
    results = [
        run(f.drop("_r", strict=False), steps, window, order, exclusions).entities.sort("user_id")
        for f in (frame, grouped, by_user, by_user.sort("user_id", "ts", maintain_order=True))
    ]
    for other in results[1:]:
        assert other.equals(results[0])


def test_entity_runs_and_whether_the_rows_are_grouped_by_entity():
    import numpy as np

    from core._grouping import group_rows

    def starts(values):
        ids = pl.Series(values)
        g = group_rows(ids, np.zeros(len(values), dtype=np.int64))
        return None if g.order is not None else (g.starts.tolist(), ids.gather(g.first_rows).to_list())

    assert starts(["a", "a", "b", "c", "c", "c"]) == ([0, 2, 3, 6], ["a", "b", "c"])
    assert starts(["b", "a", "a", "c"]) == ([0, 1, 3, 4], ["b", "a", "c"])  # grouped
    assert starts(["a", "b", "a"]) is None  # "a" in two runs: not grouped, rows reordered
    assert starts([7, 7, 3]) == ([0, 2, 3], [7, 3])
    assert starts([]) == ([0], [])
