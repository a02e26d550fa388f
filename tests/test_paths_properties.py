"""Paths: property tests and a cross-check against a slow, obviously-correct reference.

The reference walks each entity's events in plain Python, one rule at a time, exactly as
docs/paths.md states them; the fast implementation must give the same paths, edges, seconds
and purchases on random small tables. The properties hold for any folding settings.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import polars as pl
import pytest
from builders import make_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import compute_paths
from core.paths import DROP_OFF, GAP, OTHER, merge_paths

NAMES = ("a", "b", "c", "purchase")
PROPS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


# --------------------------------------------------------------------------- reference


def _group_of(name: str, groupings) -> str:
    for g in groupings:
        pattern, label = g if isinstance(g, tuple) else (g, g[3:] if g.startswith("re:") else g)
        rx = pattern[3:] if pattern.startswith("re:") else re.escape(pattern).replace(r"\*", ".*")
        if re.search(rx, name):
            return label
    return name


def reference_paths(ev: pl.DataFrame, **kw):
    """{entity: (names, times, purchased)} following the documented rules one by one."""
    k, count_by, node = (
        kw.get("max_steps", 5),
        kw.get("count_by", "session_id"),
        kw.get("node", "event"),
    )
    start, end = kw.get("start"), kw.get("end")
    exclude, groupings = set(kw.get("exclude", ())), kw.get("groupings", ())
    rows = ev.with_row_index("_i").to_dicts()
    by_entity = defaultdict(list)
    for r in rows:
        by_entity[r[count_by]].append(r)
    grouped_names = {_group_of(r[node], groupings) for r in rows if r[node] is not None}
    if start is not None and start not in grouped_names:
        start = _group_of(start, groupings)
    if end is not None and end not in grouped_names:
        end = _group_of(end, groupings)
    out = {}
    for entity, evs in by_entity.items():
        evs.sort(key=lambda r: (r["ts"], r["_i"]))
        seq = []
        for r in evs:
            if r[node] is None:
                continue
            name = _group_of(r[node], groupings)
            if r[node] in exclude or name in exclude:
                continue
            seq.append((name, r["ts"]))
        if kw.get("collapse_repeats", True):
            seq = [s for i, s in enumerate(seq) if i + 1 == len(seq) or seq[i + 1][0] != s[0]]
        names = [s[0] for s in seq]
        if start is not None and end is not None:
            if start not in names:
                continue
            i = names.index(start)
            later = [j for j in range(i + 1, len(names)) if names[j] == end]
            if not later:
                continue
            path = seq[i : later[0] + 1]
            if len(path) > k:
                b = (k - 1) // 2
                a = k - 1 - b
                path = path[:a] + [(GAP, path[len(path) - 1 - b][1])] + path[len(path) - b :]
        elif start is not None:
            if start not in names:
                continue
            path = seq[names.index(start) :][:k]
        elif end is not None:
            if end not in names:
                continue
            path = seq[: names.index(end) + 1][-k:]
        else:
            path = seq[:k]
        if not path:
            continue
        t0 = path[0][1]
        purchased = any(r["event_type"] == "purchase" and r["ts"] >= t0 for r in evs)
        out[entity] = ([p[0] for p in path], [p[1] for p in path], purchased)
    return out


def reference_edges(paths, **kw):
    """Unfolded edges {(source key, target key): (count, summed seconds or None)}."""
    k = kw.get("max_steps", 5)
    start, end = kw.get("start"), kw.get("end")
    drop = end is None
    counts, secs = Counter(), defaultdict(float)
    for names, times, _ in paths.values():
        off = k - len(names) if (end is not None and start is None) else 0
        for j in range(len(names) - 1):
            key = (f"{j + 1 + off}_{names[j]}", f"{j + 2 + off}_{names[j + 1]}")
            counts[key] += 1
            secs[key] += (times[j + 1] - times[j]).total_seconds()
        if drop and len(names) < k:
            key = (f"{len(names)}_{names[-1]}", f"{len(names) + 1}_{DROP_OFF}")
            counts[key] += 1
    return {
        key: (c, secs[key] / c if not key[1].endswith(DROP_OFF) else None)
        for key, c in counts.items()
    }


# --------------------------------------------------------------------------- strategies


@st.composite
def journeys(draw):
    users = draw(st.integers(1, 5))
    out = {}
    for u in range(users):
        n = draw(st.integers(1, 9))
        t = 0
        evs = []
        for _ in range(n):
            t += draw(st.sampled_from([0, 1, 3, 40]))  # 0: a tie, 40: a new session
            props = {}
            if draw(st.booleans()) and draw(st.booleans()):
                props["session_id"] = draw(st.sampled_from(["x", "y"]))  # explicit, may interleave
            evs.append((draw(st.sampled_from(NAMES)), t * 60, props))
        out[f"u{u}"] = evs
    ev = make_events(out)
    # explicit ids are per user in real exports
    return ev.with_columns((pl.col("user_id") + ":" + pl.col("session_id")).alias("session_id"))


@st.composite
def path_params(draw):
    mode = draw(st.sampled_from(["all", "start", "end", "between"]))
    kw = {
        "max_steps": draw(st.integers(3 if mode == "between" else 2, 6)),
        "count_by": draw(st.sampled_from(["session_id", "user_id"])),
        "collapse_repeats": draw(st.booleans()),
        "exclude": tuple(draw(st.sets(st.sampled_from(["a", "c", "ab"]), max_size=1))),
        "groupings": draw(st.sampled_from([(), (("re:^[ab]$", "ab"),), ("c*",)])),
    }
    if mode in ("start", "between"):
        kw["start"] = draw(st.sampled_from(["a", "b", "ab", "purchase"]))
    if mode in ("end", "between"):
        kw["end"] = draw(st.sampled_from(["a", "c", "purchase"]))
    return kw


folding = st.fixed_dictionaries(
    {"top_per_step": st.sampled_from([None, 1, 2, 3]), "min_edge_weight": st.integers(1, 3)}
)


# --------------------------------------------------------------------------- cross-check


@PROPS
@given(ev=journeys(), kw=path_params())
def test_matches_the_slow_reference(ev, kw):
    result = compute_paths(ev, top_per_step=None, min_edge_weight=1, **kw)
    ref = reference_paths(ev, **kw)
    assert result.entities == len(ref)
    if not ref:
        assert result.empty and result.reason
        return
    expected = reference_edges(ref, **kw)
    got = {
        (s, t): (v, sec)
        for s, t, v, sec in result.edges.select(
            "source", "target", "value", "mean_seconds"
        ).iter_rows()
    }
    assert {key: v[0] for key, v in got.items()} == {key: v[0] for key, v in expected.items()}
    for key, (_, sec) in expected.items():
        assert (got[key][1] is None) == (sec is None)
        if sec is not None:
            assert got[key][1] == pytest.approx(sec)
    by_path = Counter()
    bought = Counter()
    for names, _, purchased in ref.values():
        label = " → ".join("…" if n == GAP else n for n in names)
        by_path[label] += 1
        bought[label] += purchased
    top = {row["label"]: row for row in result.top_paths.iter_rows(named=True)}
    assert {label: row["count"] for label, row in top.items()} == dict(by_path)
    assert {label: row["purchased"] for label, row in top.items()} == dict(bought)


# --------------------------------------------------------------------------- properties


def _flows(result):
    inflow, outflow = Counter(), Counter()
    for s, t, v in result.edges.select("source", "target", "value").iter_rows():
        outflow[s] += v
        inflow[t] += v
    return inflow, outflow


@PROPS
@given(ev=journeys(), kw=path_params(), fold=folding)
def test_flow_is_conserved_and_totals_are_exact_under_folding(ev, kw, fold):
    result = compute_paths(ev, **kw, **fold)
    if result.empty:
        return
    k = kw["max_steps"]
    inflow, outflow = _flows(result)
    values = dict(result.nodes.select("key", "value").iter_rows())
    steps = dict(result.nodes.select("key", "step").iter_rows())
    end_only = "end" in kw and "start" not in kw
    for key, value in values.items():
        if end_only:
            # walking backwards from the end point: every node but the end flows on entirely
            if steps[key] < k:
                assert outflow[key] == value and inflow[key] <= outflow[key]
        else:
            if steps[key] > 1:
                assert outflow[key] <= inflow[key] == value
            else:
                assert outflow[key] == value  # max_steps >= 2: step 1 always flows on
    if not end_only:
        # the values out of step 1 sum to the number of entities with a path
        assert sum(v for key, v in outflow.items() if steps[key] == 1) == result.entities
    # folding never changes how many entities sit at each step
    unfolded = compute_paths(ev, **kw, top_per_step=None, min_edge_weight=1)
    per_step = result.nodes.group_by("step").agg(pl.col("value").sum()).sort("step")
    per_step_unfolded = unfolded.nodes.group_by("step").agg(pl.col("value").sum()).sort("step")
    assert per_step.equals(per_step_unfolded)
    assert result.entities == unfolded.entities
    assert result.top_paths.equals(unfolded.top_paths)  # top paths use the real names
    # shares are of all entities with a path
    assert (
        result.nodes.select(
            (pl.col("share") * result.entities - pl.col("value")).abs().max()
        ).item()
        < 1e-9
    )


@PROPS
@given(ev=journeys(), kw=path_params(), fold=folding)
def test_folding_limits_nodes_and_weak_links(ev, kw, fold):
    result = compute_paths(ev, **kw, **fold)
    if result.empty:
        return
    real = result.nodes.filter(pl.col("kind") == "node")
    if fold["top_per_step"] is not None:
        assert real.group_by("step").len()["len"].max() <= fold["top_per_step"]
    special = (OTHER, DROP_OFF, GAP)
    weak = result.edges.filter(
        (pl.col("value") < fold["min_edge_weight"]) & ~pl.col("target_name").is_in(special)
    )
    assert weak.height == 0
    # every Other node lists what it folded, and names are never both kept and folded
    for row in result.nodes.filter(pl.col("kind") == "other").iter_rows(named=True):
        assert row["members"]


@PROPS
@given(ev=journeys(), kw=path_params(), fold=folding, seed=st.integers(0, 3))
def test_merging_user_partitions_equals_the_whole(ev, kw, fold, seed):
    whole = compute_paths(ev, **kw, **fold)
    users = sorted(ev["user_id"].unique())
    parts = [
        compute_paths(ev.filter(pl.col("user_id").is_in(users[i::2])), **kw, **fold)
        for i in range(2)
    ]
    merged = merge_paths(parts)
    assert merged.entities == whole.entities
    cols = ["source", "target", "value"]
    assert merged.edges.select(cols).sort(cols).equals(whole.edges.select(cols).sort(cols))
    ncols = ["key", "value"]
    assert merged.nodes.select(ncols).sort(ncols).equals(whole.nodes.select(ncols).sort(ncols))
