"""Paths on real exports (../shared/data): agreement with DuckDB SQL and with the reference.

Skipped when the shared data folder is absent (a fresh clone).
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from test_paths_properties import reference_edges, reference_paths

from core import compute_paths
from core.paths import DROP_OFF

pytestmark = pytest.mark.realdata

DUCKDB_EDGES = """
WITH w AS (
    SELECT event, ts,
           row_number() OVER s AS rn,
           lead(event) OVER s AS next_event,
           lead(ts) OVER s AS next_ts
    FROM events
    WINDOW s AS (PARTITION BY session_id ORDER BY ts, row_id)
)
SELECT rn::INTEGER AS source_step,
       event AS source_name,
       coalesce(next_event, '$drop_off') AS target_name,
       count(*) AS value,
       avg(date_diff('microsecond', ts, next_ts)) / 1e6 AS mean_seconds
FROM w WHERE rn < {k} GROUP BY ALL
"""


@functools.cache
def _load(path: Path) -> pl.DataFrame:
    from core.loader import load_events

    return load_events(path).events


@pytest.fixture
def rees46(shared_data):
    return _load(shared_data / "rees46_2019oct_head.csv")


@pytest.fixture
def taobao(shared_data):
    return _load(shared_data / "taobao_userbehavior_users_a.csv")


def test_rees46_edges_agree_with_a_duckdb_window_query(rees46):
    duckdb = pytest.importorskip("duckdb")
    k = 5
    events = rees46.with_row_index("row_id").select("row_id", "session_id", "ts", "event")
    con = duckdb.connect()
    con.register("events", events.to_arrow())
    sql = pl.from_arrow(con.sql(DUCKDB_EDGES.format(k=k)).to_arrow_table())
    ours = compute_paths(rees46, max_steps=k, collapse_repeats=False, top_per_step=None)
    a = sql.select(
        pl.col("source_step").cast(pl.Int32),
        "source_name",
        "target_name",
        pl.col("value").cast(pl.Int64),
        "mean_seconds",
    ).sort("source_step", "source_name", "target_name")
    b = ours.edges.select(a.columns).sort("source_step", "source_name", "target_name")
    assert a.select(pl.exclude("mean_seconds")).equals(b.select(pl.exclude("mean_seconds")))
    diff = (a["mean_seconds"] - b["mean_seconds"]).abs().max()
    assert diff is None or diff < 1e-6
    # every session with an event has a path: 5,066 sessions in the file (PROVENANCE.md)
    assert ours.entities == rees46["session_id"].n_unique()


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"start": "cart", "max_steps": 4},
        {"end": "purchase", "max_steps": 3},
        {"start": "view", "end": "purchase", "max_steps": 5},
    ],
)
def test_rees46_matches_the_reference(rees46, kw):
    result = compute_paths(rees46, top_per_step=None, **kw)
    ref = reference_paths(rees46, **kw)
    assert result.entities == len(ref)
    expected = {key: c for key, (c, _) in reference_edges(ref, **kw).items()}
    got = {(s, t): v for s, t, v in result.edges.select("source", "target", "value").iter_rows()}
    assert got == expected
    bought = sum(p for _, _, p in ref.values())
    assert result.top_paths["purchased"].sum() <= bought  # top paths are a subset


def test_taobao_user_paths_match_the_reference_and_hold_the_properties(taobao):
    kw = {"count_by": "user_id", "start": "cart", "max_steps": 5}
    result = compute_paths(taobao, **kw)  # default folding: top 8 per step
    ref = reference_paths(taobao, **kw)
    assert result.entities == len(ref) > 100
    inflow, outflow = Counter(), Counter()
    for s, t, v in result.edges.select("source", "target", "value").iter_rows():
        outflow[s] += v
        inflow[t] += v
    assert sum(v for key, v in outflow.items() if key.startswith("1_")) == result.entities
    for key in inflow:
        if not key.endswith(DROP_OFF):
            assert outflow[key] <= inflow[key]
    # how many of the users who added to cart went on to buy (the reference, by hand)
    bought = sum(p for _, _, p in ref.values())
    unfolded = compute_paths(taobao, **kw, top_per_step=None)
    assert unfolded.path_counts["purchased"].sum() == bought


def test_taobao_sessions_from_gaps_and_the_figure(taobao):
    from core.paths import paths_figure

    result = compute_paths(taobao, exclude=["fav"])
    fig = paths_figure(result)
    sankey = fig.data[0]
    assert len(sankey.node.label) == result.nodes.height
    assert (
        sum(
            v
            for v, s in zip(sankey.link.value, sankey.link.source, strict=True)
            if result.nodes["step"][s] == 1
        )
        == result.entities
    )
