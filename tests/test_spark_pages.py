"""Pages compute on Spark for a lake dataset when Spark is the engine (issue 17).

Two levels, both against Polars on the same data and the same sidebar filters (a date range and
a property condition, plus a saved cohort as a column):

* core: :func:`core.spark.view_events` + the ``*_spark`` functions (funnel, paths, overview,
  retention, the sidebar's dataset summary) equal the core functions on
  ``apply_filters(events, filters)``;
* pages: Funnels, Paths, Overview and Retention opened (AppTest) on a registered lake dataset
  with ``PATHLENS_BACKEND=spark`` show the numbers the same pages show on the same data stored
  as an ordinary dataset (Polars), and say that they ran on Spark.

One ``local[2]`` session for the module; skipped, with the reason, without pyspark or Java.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -r requirements-spark.txt)")
_JAVA = Path(os.environ.get("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")) / "bin" / "java"
if not (_JAVA.exists() or shutil.which("java")):
    pytest.skip("no Java runtime (JAVA_HOME or java on PATH): Spark cannot start", allow_module_level=True)

from core import (  # noqa: E402
    FunnelParams,
    PathsParams,
    RetentionParams,
    activity_trend,
    compare_periods,
    detect_currency,
    generate_shop,
    load_bundled_model,
    load_events,
    overview_metrics,
)
from core.cohorts import with_cohort_columns  # noqa: E402
from core.errors import ParameterError  # noqa: E402
from core.filters import Condition, FilterParams, apply_filters  # noqa: E402
from core.overview import dataset_info, event_mix  # noqa: E402
from core.rules import RulesParams  # noqa: E402
from core.spark import (  # noqa: E402
    compute_funnel_spark,
    compute_paths_spark,
    compute_retention_spark,
    dataset_info_spark,
    mine_rules_spark,
    overview_spark,
    view_events,
)
from core.spark.session import get_session, stop_session  # noqa: E402
from core.spark.views import view_frame  # noqa: E402

DAY = timedelta(days=1)
#: The sidebar of every comparison: days 3 to 15 of the shop's 20, mobile events only.
FILTERS = FilterParams(date(2026, 6, 3), date(2026, 6, 15), (Condition("device", "eq", "mobile"),))

@pytest.fixture(scope="module")
def spark():
    os.environ.setdefault("PATHLENS_SPARK_CORES", "2")
    session = get_session()
    yield session
    stop_session()

@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> tuple[Path, pl.DataFrame]:
    """A generated shop (300 users, 20 days) as a canonical Parquet file, and its events."""
    folder = tmp_path_factory.mktemp("lake")
    raw, _, _ = generate_shop(users=300, days=20, seed=11)
    raw.write_parquet(folder / "raw.parquet")
    events = load_events(folder / "raw.parquet").events
    path = folder / "events.parquet"
    events.write_parquet(path)
    return path, events

def _filtered(events: pl.DataFrame, filters: FilterParams = FILTERS) -> pl.DataFrame:
    out = apply_filters(events, filters)
    assert isinstance(out, pl.DataFrame)
    return out

def test_view_filters_funnel_and_paths_equal_polars(spark, shop):
    path, events = shop
    source = view_events(str(path), filters=FILTERS, spark=spark)
    ref = _filtered(events)
    assert 0 < ref.height < events.height  # the filters keep some events, not all
    funnel = FunnelParams(steps=["view_item", "add_to_cart", "purchase"], window=DAY,
                          breakdown="channel")
    got = compute_funnel_spark(source, funnel, spark=spark, partitions=3)
    want = funnel.compute(ref)
    assert_frame_equal(got.steps, want.steps, check_exact=False, rel_tol=1e-9)
    assert_frame_equal(got.breakdown_steps, want.breakdown_steps, check_exact=False, rel_tol=1e-9)
    paths = PathsParams(start="view_item", max_steps=4)
    got_p = compute_paths_spark(source, paths, spark=spark, partitions=3)
    want_p = paths.compute(ref)
    assert_frame_equal(got_p.edges, want_p.edges, check_exact=False, rel_tol=1e-9)
    assert got_p.entities == want_p.entities

@pytest.mark.parametrize("count_by", ["session_id", "user_id"])
def test_paths_after_a_funnel_drop_off_equal_polars(spark, shop, count_by):
    from core.paths import paths_after_drop_off
    from core.spark import paths_after_drop_off_spark

    path, events = shop
    funnel = FunnelParams(steps=["view_item", "add_to_cart", "purchase"], window=DAY,
                          count_by=count_by)
    params = PathsParams(max_steps=4)
    got, got_info = paths_after_drop_off_spark(view_events(str(path), filters=FILTERS,
                                                           spark=spark),
                                               funnel=funnel, dropped_at=3, params=params,
                                               spark=spark, partitions=3)
    want, want_info = paths_after_drop_off(_filtered(events), funnel=funnel, dropped_at=3,
                                           params=params)
    assert got_info == want_info and want_info.entities > 0
    assert_frame_equal(got.edges, want.edges, check_exact=False, rel_tol=1e-9)
    assert_frame_equal(got.top_paths, want.top_paths, check_exact=False, rel_tol=1e-9)
    assert (got.entities, got.reason) == (want.entities, want.reason)


@pytest.mark.parametrize("interval", ["day", "week"])
def test_funnel_trend_by_attempt_equals_polars(spark, shop, interval):
    from core.funnels import conversion_by_attempt
    from core.spark import conversion_by_attempt_spark

    path, events = shop
    funnel = FunnelParams(steps=["view_item", "add_to_cart", "purchase"], window=DAY)
    got = conversion_by_attempt_spark(view_events(str(path), filters=FILTERS, spark=spark),
                                      funnel, interval=interval, spark=spark, partitions=3)
    want = conversion_by_attempt(_filtered(events), funnel, interval=interval)
    assert want.height > 1 and want["entered"].sum() > want["converted"].sum() > 0
    assert_frame_equal(got, want, check_exact=False, rel_tol=1e-9)


def test_cohort_members_found_on_spark_equal_polars(spark, shop):
    """A path node's users (sessions -> users) and a rule's buyers, found per partition."""
    from core.cohorts.sources import antecedent_members, path_node_members
    from core.spark import members_spark

    path, events = shop
    source = view_events(str(path), filters=FILTERS, spark=spark)
    ref = _filtered(events)
    paths = PathsParams(max_steps=4).compute(ref)
    node = paths.nodes.sort("value", descending=True)["key"][1]

    def at_node(ev):
        return path_node_members(paths, ev, node, filters=FILTERS)

    got, want = members_spark(source, at_node, spark=spark, partitions=3), at_node(ref)
    assert got.definition == want.definition and want.members.len() > 10
    assert got.members.equals(want.members)
    rules = RulesParams(item="category", min_support=0.005, min_confidence=0.1)
    items = list(rules.compute(ref).rules["antecedents"][0])

    def buyers(ev):
        return antecedent_members(ev, items, params=rules, filters=FILTERS)

    got, want = members_spark(source, buyers, spark=spark, partitions=3), buyers(ref)
    assert got.definition == want.definition and want.members.len() > 0
    assert got.members.equals(want.members)


def test_cohort_column_on_spark_equals_polars(spark, shop):
    path, events = shop
    members = events["user_id"].unique().sort().head(100)
    by_cohort = FilterParams(conditions=(Condition("cohort · early", "eq", "in cohort"),))
    source = view_events(str(path), filters=by_cohort, cohorts={"early": members}, spark=spark)
    ref = _filtered(with_cohort_columns(events, {"early": members}).collect(), by_cohort)
    funnel = FunnelParams(steps=["view_item", "purchase"], window=DAY)
    got = compute_funnel_spark(source, funnel, spark=spark, partitions=3)
    assert_frame_equal(got.steps, funnel.compute(ref).steps, check_exact=False, rel_tol=1e-9)
    assert got.steps["entities"][0] <= 100  # only the cohort's users entered

def _same_metrics(a, b) -> None:
    """Equal headline numbers; sums of prices to 1e-9 relative (added in another order)."""
    want = dataclasses.asdict(b)
    assert dataclasses.asdict(a) == {k: pytest.approx(v, rel=1e-9) if isinstance(v, float)
                                     else v for k, v in want.items()}


@pytest.mark.parametrize("grain", ["auto", "hour", "week"])
def test_overview_equals_polars(spark, shop, grain):
    path, events = shop
    ref = _filtered(events)
    start = datetime(2026, 6, 3, tzinfo=UTC)  # the date range's start bounds the first period
    got = overview_spark(view_events(str(path), filters=FILTERS, spark=spark), grain=grain,
                         start=start, spark=spark, partitions=3)
    _same_metrics(got.metrics, overview_metrics(ref))
    assert_frame_equal(got.trend, activity_trend(ref, grain=grain, start=start),
                       check_exact=False, rel_tol=1e-9)
    assert_frame_equal(got.mix, event_mix(ref), check_exact=False, rel_tol=1e-9)
    assert (got.currency, got.found) == detect_currency(ref)

@pytest.mark.parametrize("against", ["previous", "year"])
def test_overview_against_an_earlier_period_equals_polars(spark, shop, against):
    path, events = shop
    undated_filters = FilterParams(conditions=FILTERS.conditions)
    start, end = datetime(2026, 6, 10, tzinfo=UTC), datetime(2026, 6, 16, tzinfo=UTC)
    dated = FilterParams(date(2026, 6, 10), date(2026, 6, 15), FILTERS.conditions)
    got = overview_spark(view_events(str(path), filters=dated, spark=spark), grain="day",
                         start=start, end=end, against=against,
                         earlier_events=view_events(str(path), filters=undated_filters,
                                                    spark=spark), spark=spark, partitions=3)
    undated = _filtered(events, undated_filters)
    want = activity_trend(_filtered(events, dated), grain="day", start=start, end=end,
                          against=against, earlier_events=undated)
    assert_frame_equal(got.trend, want, check_exact=False, rel_tol=1e-9)
    cmp = compare_periods(undated, start=start, end=end, against=against)
    _same_metrics(got.comparison.current, cmp.current)
    _same_metrics(got.comparison.previous, cmp.previous)
    assert got.comparison.window == cmp.window
    assert (got.comparison.previous.events > 0) == (against == "previous")  # no data a year back


@pytest.mark.parametrize("params", [
    RetentionParams(period="day", periods=7),
    RetentionParams(start="purchase", returning="view_item", period="week", periods=3,
                    mode="unbounded", breakdown="channel"),
], ids=["daily", "weekly-purchase-bd"])
def test_retention_equals_polars(spark, shop, params):
    path, events = shop
    got = compute_retention_spark(view_events(str(path), filters=FILTERS, spark=spark), params,
                                  spark=spark, partitions=3)
    want = params.compute(_filtered(events))
    assert_frame_equal(got.people, want.people)
    assert_frame_equal(got.cells, want.cells, check_exact=False, rel_tol=1e-9)
    assert got.data_end == want.data_end

def test_dataset_info_equals_polars(spark, shop):
    path, events = shop
    got = dataset_info_spark(str(path), spark=spark, partitions=3)
    assert got == dataset_info(events)
    assert got.properties["device"] == ("mobile", "desktop", "tablet")  # most frequent first
    assert got.properties["product_name"] == ()  # more than 50 products: free text


def test_rules_of_a_filtered_view_equal_polars(spark, shop):
    path, events = shop
    frame = view_frame(view_events(str(path), filters=FILTERS, spark=spark), partitions=3)
    params = RulesParams(item="category", min_support=0.005, min_confidence=0.1)
    got, ref = mine_rules_spark(frame, params, spark=spark), params.compute(_filtered(events))
    assert ref.rules.height > 0
    assert_frame_equal(got.rules, ref.rules)
    assert got.notes.baskets == ref.notes.baskets


# --- the pages ---------------------------------------------------------------------------------

#: The sidebar of the page comparisons, as a link sets it.
SIDEBAR = {"from": "2026-06-12", "to": "2026-06-18", "where": "device:eq:mobile"}


@pytest.fixture(scope="module")
def datasets(spark, shop):
    """The shop three ways: an ordinary stored dataset (Polars), a registered Parquet lake
    dataset, and a registered catalog table (a Spark view no Polars code can read)."""
    from core.spark.lake import LakeRegistry, describe_lake_parquet
    from core.store import DatasetStore

    path, events = shop
    store = DatasetStore()
    stored = store.put(events, name="shop")
    registry = LakeRegistry(store.root)
    parquet = registry.add(describe_lake_parquet(str(path), name="shop lake"))
    spark.read.parquet(str(path)).createOrReplaceTempView("lake_shop_events")
    table = registry.add(dataclasses.replace(parquet, id="c" * 32, name="lake_shop_events",
                                             source="lake_shop_events", kind="table"))
    yield {"polars": stored, "parquet": parquet.id, "table": table.id}
    registry.path.unlink(missing_ok=True)
    from ui.engine import spark_earlier, spark_events, spark_segment_labels

    for cached in (spark_events, spark_segment_labels, spark_earlier):
        cached.clear()  # they hold DataFrames of this module's session, which stops next


def _numbers(at) -> list[tuple[str, str, str]]:
    """The page's tiles: label, shown value and change against the earlier period."""
    return [(m.label, m.value, m.delta) for m in at.metric]


def _open(page: str, dataset: str, **params):
    from apptest import run_page

    at = run_page(page, dataset=dataset, **SIDEBAR, **params)
    assert not at.error, [e.value for e in at.error]
    return at


def _on_spark(at) -> bool:
    return any(c.value.startswith("Computed on a local Spark") for c in at.caption)


#: Each page's comparison with the previous period (the Overview compares by default).
COMPARE = {"funnels": {"funnel.compare": "previous"}, "paths": {"paths.compare": "previous"},
           "retention": {"retention.compare": "previous"}}


@pytest.mark.parametrize("page", ["overview", "funnels", "paths", "retention", "segments", "rules"])
def test_pages_on_a_lake_table_show_the_polars_numbers(monkeypatch, datasets, page):
    """A catalog table only Spark can read shows the numbers Polars shows for the same data
    (same date range, same property filter, the same changes against the previous period),
    and says that it ran on Spark."""
    want = _open(page, datasets["polars"], **COMPARE.get(page, {}))
    assert not _on_spark(want)
    monkeypatch.setenv("PATHLENS_BACKEND", "spark")
    got = _open(page, datasets["table"], **COMPARE.get(page, {}))
    assert _on_spark(got)
    assert _numbers(got) == _numbers(want) and len(_numbers(want)) >= 3
    if page in ("overview", "funnels", "paths"):  # a change is shown (retention's: too few days)
        assert any(delta for _, _, delta in _numbers(got))


def test_funnel_steps_of_a_parquet_lake_on_spark(monkeypatch, datasets):
    """Every table of the Funnels page (steps, breakdown, the trend by attempt...) for a Parquet
    lake dataset on Spark, with a breakdown and the previous period."""
    settings = {"funnel.breakdown": "channel", "funnel.compare": "previous"}
    want = _open("funnels", datasets["polars"], **settings)
    monkeypatch.setenv("PATHLENS_BACKEND", "spark")
    got = _open("funnels", datasets["parquet"], **settings)
    assert _on_spark(got)
    assert len(got.dataframe) == len(want.dataframe) >= 3  # steps, breakdown, trend...
    for shown, expected in zip(got.dataframe, want.dataframe, strict=True):
        assert shown.value.equals(expected.value)  # pandas, as shown
    assert _numbers(got) == _numbers(want)


def test_a_lake_table_with_polars_says_to_choose_spark(monkeypatch, datasets):
    monkeypatch.setenv("PATHLENS_BACKEND", "polars")
    from apptest import run_page

    at = run_page("overview", dataset=datasets["table"])
    notices = " ".join(w.value for w in at.warning)
    assert "only Spark can read" in notices and "Spark engine" in notices
    assert not _on_spark(at)


def test_features_and_shared_segments_of_a_filtered_view_equal_polars(spark, shop):
    from core.segments import SegmentParams, segment_events, user_features
    from core.spark import user_features_spark
    from core.spark.views import segment_events_spark

    path, events = shop
    source = view_events(str(path), filters=FILTERS, spark=spark)
    assert_frame_equal(user_features_spark(source, spark=spark, partitions=3),
                       user_features(_filtered(events)))
    params = SegmentParams(k=3, seed=1)
    got = segment_events_spark(str(path), params, spark=spark, partitions=3)
    assert_frame_equal(got.labels, segment_events(events, params).labels)


def test_the_panel_says_what_runs_where_per_engine(datasets):
    from core.spark.lake import LakeRegistry
    from core.store import DatasetStore
    from ui.backend import lake_table

    records = sorted(LakeRegistry(DatasetStore().root).all(), key=lambda r: r.kind)
    assert [r.kind for r in records] == ["parquet", "table"]
    on_spark = ("Overview, Funnels, Paths, Retention, Segments, Rules on Spark; Cart: its users' "
                "events gathered on Spark, the models here")
    assert lake_table(records, "spark")["pages"].to_list() == [on_spark, on_spark]
    assert lake_table(records, "polars")["pages"].to_list() == [
        "all (Polars on this server)", "none with Polars: choose Spark"]


def test_the_app_imports_no_pyspark_with_polars():
    """Every ui module and page wrapper imports without pyspark (it is imported when a view
    runs on Spark, inside core.spark's functions)."""
    import subprocess
    import sys

    code = ("import sys, ui.engine, ui.data, ui.shell, ui.funnels, ui.paths, ui.overview, "
            "ui.retention, ui.segments, ui.rules, ui.cart, ui.backend; "
            "assert 'pyspark' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_bad_condition_is_the_polars_error_and_a_workers_error_keeps_its_type(spark, shop):
    """A filter on a column the data lack: the same ParameterError as Polars, before any job;
    a typed error raised on a worker reaches the driver as itself, not as Spark's traceback."""
    from functools import partial

    from core.errors import ParameterError
    from core.spark.runner import read_events

    path, events = shop
    bad = FilterParams(conditions=(Condition("colour", "eq", "red"),))
    with pytest.raises(ParameterError) as polars_error:
        _filtered(events, bad)
    with pytest.raises(ParameterError) as spark_error:
        view_events(str(path), filters=bad, spark=spark)
    assert spark_error.value.message == polars_error.value.message
    unchecked = read_events(spark, str(path)).with_prepare(partial(apply_filters, params=bad))
    with pytest.raises(ParameterError, match="condition column 'colour' is not in the data"):
        compute_paths_spark(unchecked, PathsParams(), spark=spark, partitions=2)


def test_paths_page_after_a_funnel_drop_off_on_spark(monkeypatch, datasets):
    """The Funnels page's link to the paths of its drop-outs opens on Spark with the numbers
    (and the banner) Polars shows."""
    from ui.urls import paths_link_query

    funnel = FunnelParams(steps=["view_item", "add_to_cart", "purchase"], window=DAY)
    link = dict(paths_link_query(funnel, 3))
    want = _open("paths", datasets["polars"], **link)
    monkeypatch.setenv("PATHLENS_BACKEND", "spark")
    got = _open("paths", datasets["table"], **link)
    assert _on_spark(got)
    assert _numbers(got) == _numbers(want) and len(_numbers(want)) >= 3
    banner = [m.value for m in want.markdown if "dropped off" in m.value or "reached" in m.value]
    assert banner and banner == [m.value for m in got.markdown if m.value in banner]


def test_a_path_node_saved_as_a_cohort_on_spark_holds_the_polars_users(monkeypatch, datasets):
    """Saving the users of a Sankey node of a Parquet lake dataset (found on Spark, per
    partition; the store checks them against its user ids) stores the users the same page
    stores with Polars."""
    from core.store import DatasetStore

    store = DatasetStore()

    def saved(dataset: str) -> pl.Series:
        at = _open("paths", dataset)
        at.text_input(key="paths.cohort.name").set_value("node (spark test)")
        at.button(key="paths.cohort.save").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        cohort = next(c for c in store.cohorts(dataset) if c.name == "node (spark test)")
        members = store.cohort_members(dataset, cohort.id)
        store.delete_cohort(dataset, cohort.id)
        return members

    want = saved(datasets["polars"])
    monkeypatch.setenv("PATHLENS_BACKEND", "spark")
    got = saved(datasets["parquet"])
    assert want.len() > 10 and got.sort().equals(want.sort())
    # a catalog table: the store checks the users on Spark (no Polars code reads the table)
    got = saved(datasets["table"])
    assert got.sort().equals(want.sort())


def test_a_cohort_of_a_catalog_table_holds_only_its_users(spark, datasets):
    """The store's check of a catalog table's cohort, on Spark: users not in the table are
    refused and counted, as for a stored dataset."""
    from core.errors import ParameterError
    from core.store import DatasetStore

    store = DatasetStore()
    users = store.scan(datasets["polars"]).select("user_id").unique().collect()["user_id"]
    for dataset in (datasets["polars"], datasets["table"]):
        with pytest.raises(ParameterError, match="2 of 5 users are not in this dataset"):
            store.save_cohort(dataset, "mixed", pl.concat([users.head(3), pl.Series(["x1", "x2"])]),
                              definition="test", source="segment")  # fmt: skip
    cohort = store.save_cohort(datasets["table"], "three", users.head(3), definition="test",
                               source="segment")  # fmt: skip
    try:
        assert store.cohort_members(datasets["table"], cohort.id).sort().equals(users.head(3).sort())
    finally:
        store.delete_cohort(datasets["table"], cohort.id)


def test_funnel_by_shared_segments_on_spark_equals_polars(monkeypatch, datasets):
    """The shared segmentation (the ``seg`` link setting) on Spark: fitted on the whole lake
    table (features on Spark, K-means here), its labels sent to the workers; a funnel broken
    down by segment shows Polars's table."""
    from core.segments import SegmentParams
    from ui.urls import SEG_KEY, encode_seg

    settings = {SEG_KEY: encode_seg(SegmentParams(k=3, seed=1)), "funnel.breakdown": "segment"}
    want = _open("funnels", datasets["polars"], **settings)
    monkeypatch.setenv("PATHLENS_BACKEND", "spark")
    got = _open("funnels", datasets["table"], **settings)
    assert _on_spark(got)
    assert _numbers(got) == _numbers(want)
    assert len(got.dataframe) == len(want.dataframe) >= 2
    for shown, expected in zip(got.dataframe, want.dataframe, strict=True):
        assert shown.value.equals(expected.value)
    by_segment = next(d.value for d in got.dataframe if "segment" in d.value.columns)
    assert len(by_segment) >= 2  # the breakdown by segment is shown, one row per segment


def test_cart_abandonment_on_spark_equals_polars(monkeypatch, datasets):
    """The Cart page on a catalog table no Polars code can read: the events of the users with
    a cart are gathered on Spark (with the sidebar's filters applied on the workers) and the
    page shows the tiles and tables it shows on the same data stored normally."""
    from apptest import run_page

    want = run_page("cart", dataset=datasets["polars"], **SIDEBAR)
    assert not want.error and len(_numbers(want)) >= 4
    monkeypatch.setenv("PATHLENS_BACKEND", "spark")
    got = run_page("cart", dataset=datasets["table"], **SIDEBAR)
    assert not got.error, [e.value for e in got.error]
    assert any("users with a cart are gathered on a local Spark" in c.value for c in got.caption)
    assert _numbers(got) == _numbers(want)
    assert len(got.dataframe) == len(want.dataframe) >= 2
    for shown, expected in zip(got.dataframe, want.dataframe, strict=True):
        assert shown.value.equals(expected.value)


def test_cart_events_on_spark_give_the_whole_tables_scores(spark, shop, tmp_path):
    """Only the users with a cart (and the latest event) come back, and the cart functions
    give on them what they give on every event: here the latest event is a page view of a
    user without a cart, two days after the rest, so more carts are idle at that moment."""
    from core import evaluate, score_carts
    from core.loader.order import sort_events
    from core.spark.carts import cart_events_spark

    path, events = shop
    late = events.filter(pl.col("event_type") == "page_view").tail(1).with_columns(
        pl.lit("u_late_viewer").alias("user_id"), pl.lit(events["ts"].max() + timedelta(days=2)).alias("ts"))
    events = sort_events(pl.concat([events, late]))
    file = tmp_path / "late.parquet"
    events.write_parquet(file)
    got = cart_events_spark(str(file), spark=spark, partitions=5)
    assert got.height < events.height
    carts = events.filter(pl.col("event_type") == "add_to_cart")["user_id"].unique()
    assert set(got["user_id"].unique()) == set(carts) | {"u_late_viewer"}
    model = load_bundled_model()
    assert_frame_equal(score_carts(model, got), score_carts(model, events))
    a, b = evaluate(model, got), evaluate(model, events)
    assert_frame_equal(a.table, b.table)
    assert_frame_equal(a.predictions, b.predictions)
    assert (a.n_test_sessions, a.base_rate, a.reason) == (b.n_test_sessions, b.base_rate, b.reason)
    with pytest.raises(ParameterError, match="more than the 10 this server reads"):
        cart_events_spark(str(file), spark=spark, max_rows=10)
