"""Funnels on real exports (../shared/data): the fast path equals the references there too."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from test_funnels_reference import US, posthog_udf, reference_funnel

from core import compute_funnel
from core.funnels import merge_funnel_results

pytestmark = pytest.mark.realdata


_LOADED: dict = {}


def _load(folder, name):
    path = folder / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    if name not in _LOADED:
        from core.loader import load_events

        _LOADED[name] = load_events(path).events
    return _LOADED[name]


@pytest.fixture
def taobao(shared_data):
    return _load(shared_data, "taobao_userbehavior_users_a.csv")


@pytest.fixture
def rees46(shared_data):
    return _load(shared_data, "rees46_2019oct_head.csv")


TAOBAO = [("pv",), ("cart",), ("buy",)]


def _fast(result):
    out = {}
    n = result.n_steps
    for row in result.entities.iter_rows(named=True):
        times = tuple(
            int(row[f"step_{k}_at"].timestamp() * US) for k in range(1, row["furthest_step"] + 1)
        )
        out[row[result.count_by]] = (row["furthest_step"], row["excluded"], times)
    assert len(out) == result.n_entities and n == len(result.labels)
    return out


@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
def test_taobao_equals_the_spec_reference(taobao, order):
    r = compute_funnel(taobao, [list(s) for s in TAOBAO], window=timedelta(days=1), order=order)
    assert r.n_entities == 407
    assert _fast(r) == reference_funnel(taobao, TAOBAO, 86400 * US, order)


def test_taobao_equals_posthog_and_its_shape_is_plausible(taobao):
    r = compute_funnel(taobao, ["pv", "cart", "buy"], window=timedelta(days=1))
    ph = posthog_udf(taobao, TAOBAO, 86400 * US, "ordered")
    for user, (furthest, _excluded, _) in _fast(r).items():
        assert ph.get(user, -1) == furthest - 1
    entered, carts, buys = r.steps["entities"].to_list()
    # 407 users, nearly all view; a minority add to cart, fewer buy within a day of a view
    assert 390 <= entered <= 407 and 0 < buys < carts < entered


def test_taobao_exclusion_of_favourites_equals_the_reference(taobao):
    # "bought without favouriting in between": fav between pv and buy removes the user
    excl = [(("fav",), 1, 3)]
    r = compute_funnel(
        taobao, [list(s) for s in TAOBAO], window=timedelta(days=1), exclusions=[(["fav"], 1, 3)]
    )
    assert _fast(r) == reference_funnel(taobao, TAOBAO, 86400 * US, "ordered", excl)
    assert 0 < r.n_excluded < r.n_entities


def test_rees46_sessions_and_partitions(rees46):
    steps = [("view",), ("cart",), ("purchase",)]
    r = compute_funnel(
        rees46, [list(s) for s in steps], window=timedelta(hours=1), count_by="session_id"
    )
    assert _fast(r) == reference_funnel(rees46, steps, 3600 * US, "ordered", count_by="session_id")
    # PROVENANCE: most purchase sessions have no cart event, so view -> purchase converts far
    # more sessions than view -> cart -> purchase
    direct = compute_funnel(
        rees46, ["view", "purchase"], window=timedelta(hours=1), count_by="session_id"
    )
    assert direct.steps["entities"][1] > 2 * r.steps["entities"][2]
    # hash-partition by session: per-partition results merge to the whole
    parts = [
        compute_funnel(
            p.drop("_p"), [list(s) for s in steps], window=timedelta(hours=1), count_by="session_id"
        )
        for _, p in rees46.with_columns((pl.col("session_id").hash(7) % 3).alias("_p")).group_by(
            "_p"
        )
    ]
    merged = merge_funnel_results(parts)
    assert merged.steps.equals(r.steps)
    assert merged.entities.sort("session_id").equals(r.entities.sort("session_id"))


def test_rees46_equals_clickhouse_window_funnel(rees46, tmp_path):
    chdb = pytest.importorskip("chdb")
    path = tmp_path / "rees.parquet"
    rees46.select("user_id", "ts", "event").write_parquet(path)
    sql = (
        f"SELECT user_id, windowFunnel({3600 * US})(toUInt64(toUnixTimestamp64Micro(ts)), "
        f"event = 'view', event = 'cart', event = 'purchase') AS level "
        f"FROM file('{path}', Parquet) GROUP BY user_id"
    )
    ch = pl.read_csv(
        chdb.query(sql, "CSVWithNames").bytes(), schema_overrides={"user_id": pl.String}
    )
    r = compute_funnel(rees46, ["view", "cart", "purchase"], window=timedelta(hours=1))
    ours = dict(zip(r.entities["user_id"], r.entities["furthest_step"], strict=True))
    assert dict(zip(ch["user_id"], ch["level"], strict=True)) == ours
