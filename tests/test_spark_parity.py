"""The Spark backend gives the numbers of the Polars backend (issue 17).

Every analysis runs on ``local[2]`` with several hash partitions (3 and 5: users of one
partition interleave in the shuffle) and is compared with the same core function run by Polars
on the whole table: counts, ids, lists and timestamps exactly; floats to 1e-9 relative where a
mean is summed in another order (funnel step times), cart probabilities to 1e-6 (the network
scores a partition's carts in one batch instead of all carts). Data: a generated shop with
planted behaviour, a hand-built table whose timestamps tie, and the real exports of
``../shared/data`` (skipped when absent). The module skips, with the reason, when pyspark or a
Java runtime is missing.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

#: the real exports (not `from tests.conftest import ...`: importing conftest again made a
#: second test store mid-suite)
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -r requirements-spark.txt)")
_JAVA = Path(os.environ.get("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")) / "bin" / "java"
if not (_JAVA.exists() or shutil.which("java")):
    pytest.skip("no Java runtime (JAVA_HOME or java on PATH): Spark cannot start", allow_module_level=True)

from core import (  # noqa: E402
    FunnelParams,
    FunnelStep,
    ModelError,
    PathsParams,
    SegmentParams,
    fit_segments,
    generate_shop,
    load_baskets,
    load_bundled_model,
    load_events,
    mine_rules,
    score_carts,
    user_features,
)
from core.errors import DatasetNotFound, ParameterError  # noqa: E402
from core.rules import RulesParams  # noqa: E402
from core.spark import (  # noqa: E402
    compute_funnel_spark,
    compute_paths_spark,
    fit_segments_spark,
    mine_rules_spark,
    register_lake_dataset,
    score_carts_spark,
    user_features_spark,
)
from core.spark.funnels import funnel_columns, step_rows_only  # noqa: E402
from core.spark.runner import map_partitions, read_events  # noqa: E402
from core.spark.session import get_session, stop_session  # noqa: E402
from tests.builders import make_events  # noqa: E402

DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def spark():
    os.environ.setdefault("PATHLENS_SPARK_CORES", "2")
    session = get_session()
    yield session
    stop_session()


def _canonical(raw: pl.DataFrame | Path, folder: Path, name: str) -> tuple[Path, pl.DataFrame]:
    """Load an export with core.load_events and write the canonical table as Parquet."""
    if isinstance(raw, pl.DataFrame):
        src = folder / f"{name}.raw.parquet"
        raw.write_parquet(src)
        raw = src
    events = load_events(raw).events
    path = folder / f"{name}.parquet"
    events.write_parquet(path)
    return path, events


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> tuple[Path, pl.DataFrame]:
    raw, _, _ = generate_shop(users=700, days=20, seed=11)
    return _canonical(raw, tmp_path_factory.mktemp("shop"), "shop")


def _same_funnel(a, b) -> None:
    key = a.count_by
    assert_frame_equal(a.entities.sort(key), b.entities.sort(key))
    assert_frame_equal(a.steps, b.steps, check_exact=False, rel_tol=1e-9)
    assert_frame_equal(a.breakdown_steps, b.breakdown_steps, check_exact=False, rel_tol=1e-9)
    assert (a.reason, a.data_end, a.absent_steps) == (b.reason, b.data_end, b.absent_steps)


def _same_paths(a, b) -> None:
    for name in ("edges", "nodes", "top_paths"):
        assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=False, rel_tol=1e-9)
    # the mergeable per-path table: its row order is the order the partitions came back in
    steps = [c for c in a.path_counts.columns if c.startswith("step_")]
    assert_frame_equal(a.path_counts.sort(steps, nulls_last=True),
                       b.path_counts.sort(steps, nulls_last=True), check_exact=False, rel_tol=1e-9)  # fmt: skip
    assert (a.entities, a.reason, dict(a.node_types)) == (b.entities, b.reason, dict(b.node_types))


FUNNELS = [
    FunnelParams(steps=["view_item", "add_to_cart", "purchase"], window=DAY),
    FunnelParams(steps=["view_item", "add_to_cart", "begin_checkout", "purchase"],
                 window=timedelta(hours=2), order="strict", breakdown="device"),
    FunnelParams(steps=["add_to_cart", "view_item", "purchase"], window=DAY, order="unordered"),
    FunnelParams(steps=["view_item", "purchase"], window=DAY, count_by="session_id",
                 exclusions=[("remove_from_cart", 1, 2)]),
    # step 1 rare (most users never do it), a condition, a breakdown read on step 1
    FunnelParams(steps=[FunnelStep("purchase"), FunnelStep("view_item", where=("device:eq:mobile",))],
                 window=timedelta(days=7), breakdown="device"),
    FunnelParams(steps=[("add_to_cart", "add_to_wishlist"), "purchase"], window=DAY,
                 order="unordered", exclusions=[("remove_from_cart", 1, 2)], breakdown="country"),
]  # fmt: skip


@pytest.mark.parametrize("params", FUNNELS, ids=["ordered", "strict-bd", "unordered", "session",
                                                 "rare-step1-where-bd", "unordered-excl-bd"])  # fmt: skip
def test_funnel_equals_polars(spark, shop, params):
    path, events = shop
    _same_funnel(compute_funnel_spark(str(path), params, spark=spark, partitions=5),
                 params.compute(events))  # fmt: skip


@pytest.mark.parametrize(
    "params",
    [PathsParams(), PathsParams(count_by="user_id", start="view_item", max_steps=4),
     PathsParams(start="view_item", end="purchase", max_steps=5, top_per_step=None)],
    ids=["sessions", "users-from-view", "view-to-purchase"],
)  # fmt: skip
def test_paths_equal_polars(spark, shop, params):
    path, events = shop
    _same_paths(compute_paths_spark(str(path), params, spark=spark, partitions=3),
                params.compute(events))  # fmt: skip


def test_features_and_segments_equal_polars(spark, shop):
    path, events = shop
    params = SegmentParams(k=4, seed=3)
    feats, seg = fit_segments_spark(str(path), params, spark=spark, partitions=5)
    ref = user_features(events)
    assert_frame_equal(feats, ref)  # every feature, every user, bit for bit
    ref_seg = fit_segments(ref, k=4, seed=3)
    # same table, same seed, same function: the very same labels, not just the same partition
    assert_frame_equal(seg.labels, ref_seg.labels)
    assert_frame_equal(seg.sizes, ref_seg.sizes)


def test_features_as_of_equal_polars(spark, shop):
    path, events = shop
    as_of = datetime(2026, 6, 10, tzinfo=UTC)
    got = user_features_spark(str(path), as_of=as_of, spark=spark, partitions=3)
    assert_frame_equal(got, user_features(events, as_of=as_of))


@pytest.mark.parametrize(
    "params",
    [RulesParams(item="category", min_support=0.005, min_confidence=0.1),
     RulesParams(item="product_id", basket="user_id", min_support=0.01, min_confidence=0.2,
                 max_len=4)],
    ids=["orders-category", "users-product"],
)  # fmt: skip
def test_rules_equal_mine_rules(spark, shop, params):
    path, events = shop
    got, ref = mine_rules_spark(str(path), params, spark=spark), params.compute(events)
    assert ref.rules.height > 0
    assert_frame_equal(got.rules, ref.rules)  # same rules, same order, bit-equal metrics
    assert_frame_equal(got.itemsets, ref.itemsets)
    for f in ("baskets", "one_item_baskets", "items", "frequent_items", "rows_dropped"):
        assert getattr(got.notes, f) == getattr(ref.notes, f), f


def test_scores_equal_polars(spark, shop):
    path, events = shop
    try:
        model = load_bundled_model()
    except ModelError as e:  # the bundled files and the code disagree: nothing to compare
        pytest.skip(f"the bundled cart model does not load: {e}")
    got = score_carts_spark(str(path), model, spark=spark, partitions=5)
    ref = score_carts(model, events)
    key = ["session_id", "user_id"]
    assert got.height == ref.height > 0
    assert_frame_equal(got.sort(key), ref.sort(key), check_exact=False, rel_tol=1e-6)
    assert got["p_abandon"].is_sorted(descending=True)


def test_step_rows_only_shuffles_fewer_rows_for_the_same_funnel(spark, shop, tmp_path):
    # The rows a non-strict funnel sends to the partitions: its step and excluded events
    # (shuffled) plus one stand-in per entity without any (not shuffled). Polars on exactly
    # those rows gives the entities and steps of the whole data, the entities that never did
    # step 1 included; the latest event (a page view of a buyer here) is asked for apart.
    path, events = shop
    last = events.tail(1)
    late = pl.concat([
        last.with_columns(pl.lit("page_view").alias("event"), pl.lit("u_only_views").alias("user_id"),
                          (pl.col("ts") + timedelta(days=30)).alias("ts")),
        last.with_columns(pl.lit("purchase").alias("event"), pl.lit("u_untimed_buyer").alias("user_id"),
                          pl.lit(None).alias("ts")),
        last.with_columns(pl.lit("page_view").alias("event"), pl.lit("u_untimed_buyer").alias("user_id")),
        last.with_columns(pl.lit("page_view").alias("event"), (pl.col("ts") + timedelta(days=40)).alias("ts")),
    ])  # fmt: skip
    events = pl.concat([events, late])
    file = tmp_path / "with_late.parquet"
    events.write_parquet(file)
    for params in FUNNELS[:1] + FUNNELS[3:]:
        cols = [c for c in funnel_columns(params) | {params.count_by} if c in events.columns]
        src = read_events(spark, str(file)).frame.select(*cols, "_pathlens_row")
        steps, stand_ins = step_rows_only(src, params=params)
        reduced = pl.from_arrow(steps.unionByName(stand_ins).toArrow())
        assert isinstance(reduced, pl.DataFrame)
        reduced = reduced.sort("_pathlens_row").drop("_pathlens_row")
        assert reduced.height < 0.8 * events.height
        ref = params.compute(events)
        got = params.compute(reduced.cast({c: events.schema[c] for c in reduced.columns}))
        key = params.count_by
        assert_frame_equal(got.entities.sort(key), ref.entities.sort(key))
        assert_frame_equal(got.steps, ref.steps)
        assert ref.data_end == late["ts"].max() != got.data_end
        if key == "user_id":
            zero = ref.entities.filter(pl.col(key).is_in(["u_only_views", "u_untimed_buyer"]))
            assert zero["furthest_step"].to_list() == [0, 0]
        _same_funnel(compute_funnel_spark(str(file), params, spark=spark, partitions=3), ref)


def test_equal_timestamps_keep_the_input_order(spark, tmp_path):
    # Each user does A, B, C at the same instant; the path is A -> B -> C only when the rows
    # reach Polars in file order (the shuffle scrambles them), over two files of one folder.
    journeys = {f"u{i:03d}": [(e, "00:00") for e in ("search", "view_item", "add_to_cart")]
                for i in range(60)}  # fmt: skip
    ev = make_events(journeys)
    folder = tmp_path / "lake"
    folder.mkdir()
    ev.head(90).write_parquet(folder / "part-0.parquet")
    ev.slice(90).write_parquet(folder / "part-1.parquet")
    got = compute_paths_spark(str(folder), PathsParams(count_by="user_id"), spark=spark,
                              partitions=7)  # fmt: skip
    ref = PathsParams(count_by="user_id").compute(ev)
    _same_paths(got, ref)
    assert got.top_paths["label"].to_list() == ["search → view_item → add_to_cart"]


def test_runner_keeps_every_row_once(spark, shop):
    path, events = shop
    src = read_events(spark, str(path))
    parts = map_partitions(src, lambda f: {"n": pl.DataFrame({"n": [f.height]}),
                                           "u": f.select("user_id").unique()}, partitions=3)  # fmt: skip
    assert len(parts) == 3
    assert sum(p["n"]["n"][0] for p in parts) == events.height
    users = pl.concat([p["u"] for p in parts])["user_id"]
    assert users.n_unique() == users.len() == events["user_id"].n_unique()  # users never split


def test_bad_input_is_named(spark, tmp_path, shop):
    path, _ = shop
    params = FUNNELS[0]
    with pytest.raises(DatasetNotFound, match="no_such_table"):
        compute_funnel_spark("no_such_table", params, spark=spark)
    with pytest.raises(ParameterError, match=r"`partitions` must be a positive integer, got 0"):
        compute_funnel_spark(str(path), params, spark=spark, partitions=0)
    with pytest.raises(ParameterError, match="breakdown"):
        compute_funnel_spark(str(path), params.replace(breakdown="no_col"), spark=spark)


def test_lake_dataset_registration(spark, shop):
    path, events = shop
    lake = register_lake_dataset(str(path), name="shop", spark=spark)
    assert (lake.rows, lake.users) == (events.height, events["user_id"].n_unique())
    assert len(lake.id) == 32 and int(lake.id, 16) >= 0
    assert lake.report["event_types"] == dict(events["event_type"].value_counts().iter_rows())
    assert lake.size_bytes == path.stat().st_size
    assert register_lake_dataset(str(path), spark=spark).id == lake.id  # stable


def test_batch_cli_spark_equals_polars(spark, shop, tmp_path):
    from core.batch import main, open_results

    path, _ = shop
    for backend in ("polars", "spark"):
        argv = ["funnel", "--input", str(path), "--backend", backend, "--out",
                str(tmp_path / backend), "--steps", "view_item,add_to_cart|begin_checkout,purchase"]  # fmt: skip
        assert main(argv) == 0
    (_, a), (_, b) = open_results(tmp_path / "polars"), open_results(tmp_path / "spark")
    _same_funnel(a, b)


# ----------------------------------------------------------------------------- real exports


@pytest.fixture(scope="module")
def real(tmp_path_factory):

    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    folder = tmp_path_factory.mktemp("real")
    return {
        name: _canonical(SHARED_DATA / file, folder, name)
        for name, file in (("rees46", "rees46_2019oct_head.csv"),
                           ("taobao", "taobao_userbehavior_users_a.csv"),
                           ("retail", "online_retail_head10k.csv"))
    }  # fmt: skip


@pytest.mark.parametrize("name", ["rees46", "taobao"])
def test_real_funnel_paths_features(spark, real, name):
    path, events = real[name]
    fp = FunnelParams(steps=["view_item", "add_to_cart", "purchase"], window=DAY)
    _same_funnel(compute_funnel_spark(str(path), fp, spark=spark, partitions=4),
                 fp.compute(events))  # fmt: skip
    _same_paths(compute_paths_spark(str(path), PathsParams(), spark=spark, partitions=4),
                PathsParams().compute(events))  # fmt: skip
    assert_frame_equal(user_features_spark(str(path), spark=spark, partitions=4),
                       user_features(events))  # fmt: skip


def test_real_rules_orders_and_baskets(spark, real, tmp_path):

    path, events = real["retail"]
    params = RulesParams(min_support=0.01, min_confidence=0.3)
    got, ref = mine_rules_spark(str(path), params, spark=spark), params.compute(events)
    assert_frame_equal(got.rules, ref.rules)
    assert_frame_equal(got.itemsets, ref.itemsets)
    baskets = load_baskets(SHARED_DATA / "groceries.csv")
    bpath = tmp_path / "groceries.parquet"
    baskets.write_parquet(bpath)
    params = RulesParams(min_support=0.01, min_confidence=0.2)
    got = mine_rules_spark(str(bpath), params, spark=spark)
    ref = mine_rules(baskets, min_support=0.01, min_confidence=0.2)
    assert ref.rules.height > 0
    assert_frame_equal(got.rules, ref.rules)
    assert_frame_equal(got.itemsets, ref.itemsets)
