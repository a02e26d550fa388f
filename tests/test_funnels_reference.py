"""compute_funnel against slow, obviously correct references on random logs.

Two references live here:

* :func:`reference_funnel` implements the rules of ``docs/funnels.md`` one event at a time,
  per entity, with plain Python state (the spec, written as directly as possible);
* :func:`posthog_udf` is a line-by-line port of PostHog's funnel UDF (``funnel-udf/src/
  steps.rs`` and ``unordered_steps.rs``). It is compared where the documented deviations from
  PostHog cannot arise (see the regimes below).

The vectorised implementation must equal the spec reference on every random log, and the spec
reference must equal the PostHog port in the regimes where the docs say they agree.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from itertools import groupby

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import compute_funnel

BASE = datetime(2024, 1, 1, tzinfo=timezone.utc)
US = 1_000_000

# --------------------------------------------------------------------------------------------
# Shared input preparation: per entity, events in processing order
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ev:
    t: int  # µs
    idx: int  # input row
    M: frozenset  # steps matched (1-based)
    X: frozenset  # exclusion levels j: "between step j and j+1"
    clears: bool = True  # strict: does this event end attempts it does not continue


def _events_by_entity(frame: pl.DataFrame, steps, exclusions, order, count_by="user_id"):
    n = len(steps)
    rows = frame.select(count_by, "ts", "event").to_dicts()
    by: dict = defaultdict(list)
    for idx, r in enumerate(rows):
        if r[count_by] is None:
            continue
        M = frozenset(k for k, names in enumerate(steps, 1) if r["event"] in names)
        X = frozenset()
        if not M:
            X = frozenset(
                j for names, a, b in exclusions if r["event"] in names for j in range(a, b)
            )
        by[r[count_by]].append(Ev(int(r["ts"].timestamp() * US), idx, M, X))
    out = {}
    for ent, evs in by.items():
        if order != "strict":
            kept = [e for e in evs if e.M or e.X]
        else:
            kept = list(evs)
        kept.sort(key=lambda e: (e.t, min(e.M) if e.M else n + 1, e.idx))
        final = []
        for _, group in groupby(kept, key=lambda e: e.t):
            group = list(group)
            mixed = len({(e.M, e.X) for e in group}) > 1
            for e in group:
                if mixed:
                    e = replace(e, X=frozenset(), clears=False)
                final.append(e)
        out[ent] = final
    return out


# --------------------------------------------------------------------------------------------
# Spec reference
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    start: int
    excl: bool
    times: tuple


def _ordered_entity(evs, n, w, strict):
    entered: list = [None] * (n + 2)
    best, rec, first_rec = 0, None, None
    for ev in evs:
        pre = list(entered)
        for k in sorted(ev.M):
            if k == 1:
                cand = Attempt(ev.t, False, ())
            else:
                cand = pre[k - 1]
                if cand is None or ev.t - cand.start > w:
                    continue
            if pre[k] is not None and pre[k].start == cand.start:
                continue  # this attempt already reached step k
            new = Attempt(cand.start, cand.excl, cand.times + (ev.t,))
            if not cand.excl:
                entered[k] = new
            if k > best:
                first_rec = new
            if k > best or (k == best and rec.excl):
                best, rec = k, new
        for j in sorted(ev.X):
            p = pre[j]
            if p is None or ev.t - p.start > w:
                continue
            if pre[j + 1] is not None and pre[j + 1].start == p.start:
                continue  # the attempt is already past step j+1
            if not p.excl:
                entered[j] = replace(p, excl=True)
                if best == j and ev.t - rec.start <= w:
                    rec = replace(rec, excl=True)
        if strict and ev.clears:
            for k in range(1, n + 1):
                if k not in ev.M:
                    entered[k] = None
    if best == 0:
        return 0, False, ()
    # an excluded entity reports its first attempt that reached the furthest step
    return best, rec.excl, first_rec.times if rec.excl else rec.times


def _max_matching(window, n, upto=None):
    """Size of a maximum matching between events (each fills one step) and steps (Kuhn)."""
    evs = window if upto is None else window[:upto]
    owner: dict = {}

    def try_fill(i, seen):
        for k in sorted(evs[i].M):
            if k in seen:
                continue
            seen.add(k)
            if k not in owner or try_fill(owner[k], seen):
                owner[k] = i
                return True
        return False

    size = 0
    for i in range(len(evs)):
        if try_fill(i, set()):
            size += 1
    return size


def _unordered_entity(evs, n, w):
    anchors = []
    for a, ev in enumerate(evs):
        if not ev.M:
            continue
        window, cancel = [], None
        for ev2 in evs[a:]:
            if ev2.t > ev.t + w:
                break
            if ev2.X:
                cancel = ev2
                break
            if ev2.M:
                window.append(ev2)
        count = _max_matching(window, n)
        cancelled = cancel is not None and count < n
        anchors.append((count, cancelled, window))
    if not anchors:
        return 0, False, ()
    clean = [x for x in anchors if not x[1]]
    pool, excluded = (clean, False) if clean else (anchors, True)
    best = max(c for c, _, _ in pool)
    count, _, window = next(x for x in pool if x[0] == best)
    times = []
    for j in range(1, best + 1):
        m = next(m for m in range(1, len(window) + 1) if _max_matching(window, n, m) >= j)
        times.append(window[m - 1].t)
    return best, excluded, tuple(times)


def reference_funnel(frame, steps, window_us, order="ordered", exclusions=(), count_by="user_id"):
    """``{entity: (furthest_step, excluded, step times in µs)}`` by the documented rules."""
    n = len(steps)
    out = {}
    for ent, evs in _events_by_entity(frame, steps, exclusions, order, count_by).items():
        if order == "unordered":
            out[ent] = _unordered_entity(evs, n, window_us)
        else:
            out[ent] = _ordered_entity(evs, n, window_us, order == "strict")
    for ent in frame[count_by].drop_nulls().unique().to_list():
        out.setdefault(ent, (0, False, ()))
    return out


# --------------------------------------------------------------------------------------------
# Literal port of PostHog's UDF (funnel-udf/src/steps.rs, unordered_steps.rs)
# --------------------------------------------------------------------------------------------


def _udf_steps(frame, steps, exclusions, order, count_by="user_id"):
    """Per entity, PostHog's event array: (timestamp, uuid, steps vector), sorted by time."""
    n = len(steps)
    rows = frame.select(count_by, "ts", "event").to_dicts()
    by: dict = defaultdict(list)
    for idx, r in enumerate(rows):
        vec = [k for k, names in enumerate(steps, 1) if r["event"] in names]
        excl = sorted(
            {-(i + 1) for names, a, b in exclusions if r["event"] in names for i in range(a, b)}
        )
        vec = vec + excl[::-1]  # [1*step_0, 2*step_1, ..., -2*exclusion_1, -3*exclusion_2...]
        if order != "strict" and not vec:
            continue
        by[r[count_by]].append((int(r["ts"].timestamp() * US), idx, vec))
    for evs in by.values():
        # arraySort by timestamp; ties in the order the spec reference also uses
        evs.sort(key=lambda e: (e[0], min([s for s in e[2] if s > 0], default=n + 1), e[1]))
    return by


def _posthog_ordered(evs, n, w, strict):
    def default():
        return {"ts": 0, "excl": False, "times": [], "uuids": []}

    entered = [default() for _ in range(n + 1)]
    max_step = (0, default())

    def process(ev, multiple):
        nonlocal max_step
        ts, uuid, vec = ev
        for step in reversed(vec):
            exclusion = step < 0
            step = -step if exclusion else step
            prev_i = step - 1
            prev_ts = entered[prev_i]["ts"]
            in_window = prev_ts != 0 and ts - prev_ts <= w
            already = entered[step]["ts"] == prev_ts and entered[step]["ts"] != 0
            if in_window and not already:
                prev = entered[prev_i]
                if exclusion:
                    if not prev["excl"]:
                        entered[prev_i] = dict(prev, excl=True)
                        if max_step[0] == prev_i and ts - max_step[1]["ts"] <= w:
                            max_step = (max_step[0], dict(max_step[1], excl=True))
                else:
                    used = multiple and uuid in prev["uuids"]
                    if not used:
                        new = {
                            "ts": prev["ts"],
                            "excl": prev["excl"],
                            "times": prev["times"] + [ts],
                            "uuids": prev["uuids"] + [uuid],
                        }
                        if not prev["excl"]:
                            entered[step] = new
                        if step > max_step[0] or (step == max_step[0] and max_step[1]["excl"]):
                            max_step = (step, new)
        if not multiple and strict:
            for i in range(1, n + 1):
                if i not in vec:
                    entered[i] = default()

    for ts, group in groupby(evs, key=lambda e: e[0]):
        group = list(group)
        entered[0] = {"ts": ts, "excl": False, "times": [], "uuids": []}
        if len(group) == 1:
            process(group[0], False)
        elif all(g[2] == group[0][2] for g in group):
            for g in group:
                process(g, False)
        else:
            flat = [(g[0], g[1], [s]) for g in group for s in g[2] if s > 0]
            flat.sort(key=lambda e: e[2][0])
            for f in flat:
                process(f, True)
        if entered[n]["ts"] > 0:
            break
    level, val = max_step
    if val["excl"] or level == 0:
        return -1, ()
    return level - 1, tuple(val["times"])


def _posthog_unordered(evs, n, w):
    deques: list = [[] for _ in range(n)]
    completed = 0
    max_step = (0, ())

    def update():
        nonlocal max_step
        if completed > max_step[0]:
            fronts = sorted(d[0][0] for d in deques if d)
            max_step = (completed, tuple(fronts))

    for i, (ts, uuid, vec) in enumerate(evs):
        while True:
            fronts = [(d[0][0], k) for k, d in enumerate(deques) if d]
            if not fronts:
                break
            oldest_ts, oldest_k = min(fronts)
            if completed < n and oldest_ts + w >= ts:
                break
            update()
            deques[oldest_k].pop(0)
            if not deques[oldest_k]:
                completed -= 1
        if all(s < 0 for s in vec):
            deques = [[] for _ in range(n)]
            completed = 0
        else:
            positives = [s for s in vec if s > 0]
            step = min(positives, key=lambda s: deques[s - 1][-1][0] if deques[s - 1] else 0)
            if not deques[step - 1]:
                completed += 1
            deques[step - 1].append((ts, uuid))
        if max_step[0] == n:
            break
        if i == len(evs) - 1:
            update()
    if max_step[0] == 0:
        return -1, ()
    return max_step[0] - 1, max_step[1]


def posthog_udf(frame, steps, window_us, order="ordered", exclusions=(), count_by="user_id"):
    """``{entity: step_reached}`` as PostHog's UDF reports it (-1: not in the funnel)."""
    out = {}
    for ent, evs in _udf_steps(frame, steps, exclusions, order, count_by).items():
        if order == "unordered":
            out[ent] = _posthog_unordered(evs, len(steps), window_us)[0]
        else:
            out[ent] = _posthog_ordered(evs, len(steps), window_us, order == "strict")[0]
    return out


# --------------------------------------------------------------------------------------------
# Random logs
# --------------------------------------------------------------------------------------------

NAMES = ("a", "b", "c", "d", "x", "y")


@st.composite
def logs(draw, *, distinct_steps=False, distinct_times=False, max_users=5, max_events=12):
    n_users = draw(st.integers(1, max_users))
    rows = []
    for u in range(n_users):
        k = draw(st.integers(0, max_events))
        if distinct_times:
            times = draw(st.lists(st.integers(0, 60), min_size=k, max_size=k, unique=True))
        else:
            times = draw(st.lists(st.integers(0, 25), min_size=k, max_size=k))
        for t in times:
            rows.append((f"u{u}", t, draw(st.sampled_from(NAMES))))
    if draw(st.booleans()):
        rows.sort(key=lambda r: (r[0], r[1]))  # most logs arrive sorted by user and time
    n_steps = draw(st.integers(1, 4))
    pool = ["a", "b", "c", "d"]
    if distinct_steps:
        steps = [(s,) for s in draw(st.permutations(pool))[:n_steps]]
    else:
        steps = [
            tuple(sorted(set(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2)))))
            for _ in range(n_steps)
        ]
    exclusions = []
    if n_steps >= 2 and draw(st.booleans()):
        for name in draw(st.lists(st.sampled_from(["x", "y"]), max_size=2, unique=True)):
            a = draw(st.integers(1, n_steps - 1))
            b = draw(st.integers(a + 1, n_steps))
            exclusions.append(((name,), a, b))
    window = draw(st.sampled_from([1, 3, 5, 10, 30]))
    frame = pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "ts": [BASE + timedelta(seconds=r[1]) for r in rows],
            "event": [r[2] for r in rows],
        },
        schema={"user_id": pl.String, "ts": pl.Datetime("us", "UTC"), "event": pl.String},
    )
    return frame, steps, exclusions, window


def _fast(frame, steps, exclusions, window, order):
    if order == "unordered":
        n = len(steps)
        exclusions = [(names, 1, n) for names, _, _ in exclusions]
    r = compute_funnel(
        frame,
        [list(s) for s in steps],
        window=timedelta(seconds=window),
        order=order,
        exclusions=[(list(nm), a, b) for nm, a, b in exclusions],
    )
    out = {}
    tcols = [f"step_{k}_at" for k in range(1, len(steps) + 1)]
    for row in r.entities.iter_rows(named=True):
        times = tuple(int(row[c].timestamp() * US) for c in tcols[: row["furthest_step"]])
        out[row["user_id"]] = (row["furthest_step"], row["excluded"], times)
    return out, exclusions


# FUNNEL_EXAMPLES=4000 for a long local run (done before each change to the scan; see
# docs/funnels.md); CI keeps the defaults small so the suite stays fast.
_EXAMPLES = os.environ.get("FUNNEL_EXAMPLES")
SETTINGS = settings(
    max_examples=int(_EXAMPLES or 80),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: Property tests (several compute_funnel calls per example) run fewer examples by default.
PROP_SETTINGS = settings(SETTINGS, max_examples=int(_EXAMPLES or 25))


@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
@SETTINGS
@given(data=logs())
def test_matches_spec_reference(order, data):
    frame, steps, exclusions, window = data
    fast, exclusions = _fast(frame, steps, exclusions, window, order)
    ref = reference_funnel(frame, steps, window * US, order, exclusions)
    assert fast == ref


@pytest.mark.parametrize("order", ["ordered", "strict"])
@SETTINGS
@given(data=logs(distinct_steps=True))
def test_spec_equals_posthog_when_no_event_matches_two_steps(order, data):
    """With one step per event, equal timestamps included, the spec is PostHog's UDF."""
    frame, steps, exclusions, window = data
    ref = reference_funnel(frame, steps, window * US, order, exclusions)
    ph = posthog_udf(frame, steps, window * US, order, exclusions)
    for ent, (furthest, excluded, _) in ref.items():
        expect = -1 if excluded or furthest == 0 else furthest - 1
        assert ph.get(ent, -1) == expect, ent


@pytest.mark.parametrize("order", ["ordered", "strict"])
@SETTINGS
@given(data=logs(distinct_times=True))
def test_spec_equals_posthog_when_timestamps_differ(order, data):
    """With distinct timestamps, events matching several steps included, same as PostHog."""
    frame, steps, exclusions, window = data
    ref = reference_funnel(frame, steps, window * US, order, exclusions)
    ph = posthog_udf(frame, steps, window * US, order, exclusions)
    for ent, (furthest, excluded, _) in ref.items():
        expect = -1 if excluded or furthest == 0 else furthest - 1
        assert ph.get(ent, -1) == expect, ent


@SETTINGS
@given(data=logs(distinct_steps=True, distinct_times=True))
def test_unordered_spec_equals_posthog(data):
    """Unordered: same as PostHog's UDF when timestamps differ and each event is one step."""
    frame, steps, exclusions, window = data
    n = len(steps)
    exclusions = [(names, 1, n) for names, _, _ in exclusions]
    ref = reference_funnel(frame, steps, window * US, "unordered", exclusions)
    ph = posthog_udf(frame, steps, window * US, "unordered", exclusions)
    for ent, (furthest, excluded, _times) in ref.items():
        expect = -1 if excluded or furthest == 0 else furthest - 1
        assert ph.get(ent, -1) == expect, ent


@SETTINGS
@given(data=logs(distinct_steps=True))
def test_ordered_times_equal_posthog_timings(data):
    """The counted attempt's step times are the ones PostHog reports (timings array)."""
    frame, steps, exclusions, window = data
    fast, _ = _fast(frame, steps, exclusions, window, "ordered")
    n = len(steps)
    for ent, evs in _udf_steps(frame, steps, exclusions, "ordered").items():
        level, times = _posthog_ordered(evs, n, window * US, False)
        if level >= 0:
            assert fast[ent][2] == times, ent


def test_unordered_steps_sharing_events_in_many_ways_match_the_reference():
    """14 steps, step i matching e_i or e_(i+1): 14 different ways of sharing events (the
    vectorised version refused more than 12); the maximum matching still equals Kuhn's."""
    import random

    names = [f"e{i}" for i in range(15)]
    steps = [(names[i], names[i + 1]) for i in range(14)]
    rng = random.Random(3)
    rows = sorted(
        (f"u{u}", rng.randint(0, 40), rng.choice(names)) for u in range(8) for _ in range(30)
    )
    frame = pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "ts": [BASE + timedelta(seconds=r[1]) for r in rows],
            "event": [r[2] for r in rows],
        },
        schema={"user_id": pl.String, "ts": pl.Datetime("us", "UTC"), "event": pl.String},
    )
    fast, _ = _fast(frame, steps, [], 20, "unordered")
    assert fast == reference_funnel(frame, steps, 20 * US, "unordered")
    assert max(f for f, _, _ in fast.values()) >= 8  # deep matchings were exercised
