"""Spark Connect for real (issue 17): a Spark Connect server runs in its own process, the
backend reaches it through ``PATHLENS_SPARK_REMOTE=sc://localhost:PORT``, ships ``core`` to it
as an artifact, and the funnels, paths, features and segments, basket rules (MLlib FPGrowth),
cart scores and lake registration it computes equal Polars's.

The server is pyspark's own (``spark-submit --class ...SparkConnectServer``, ``local[2]``),
started in a scratch directory with no ``PYTHONPATH``: its Python workers can import ``core``
only from the shipped zip, which one test checks directly. The module skips, with the reason,
when pyspark or Java is missing or the server does not come up.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -r requirements-spark.txt)")
_JAVA_HOME = Path(os.environ.get("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64"))
if not ((_JAVA_HOME / "bin" / "java").exists() or shutil.which("java")):
    pytest.skip("no Java runtime (JAVA_HOME or java on PATH): the Spark Connect server cannot "
                "start", allow_module_level=True)

import pyspark  # noqa: E402

from core import (  # noqa: E402
    FunnelParams,
    ModelError,
    PathsParams,
    SegmentParams,
    fit_segments,
    generate_shop,
    load_bundled_model,
    load_events,
    score_carts,
    user_features,
)
from core.errors import ParameterError  # noqa: E402
from core.rules import RulesParams  # noqa: E402
from core.spark import (  # noqa: E402
    compute_funnel_spark,
    compute_paths_spark,
    fit_segments_spark,
    mine_rules_spark,
    register_lake_dataset,
    score_carts_spark,
)
from core.spark.session import REMOTE_ENV, get_session, is_connect, stop_session  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
START_TIMEOUT_S = 120
DAY = timedelta(days=1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _server_env(java_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED")}  # fmt: skip
    env.update(JAVA_HOME=str(java_home), SPARK_HOME=str(Path(pyspark.__file__).parent),
               PYSPARK_PYTHON=sys.executable)  # fmt: skip
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A Spark Connect server on a free port (its own process group); yields its sc:// URL."""
    work = tmp_path_factory.mktemp("connect-server")  # not the checkout: core must be shipped
    port = _free_port()
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    log = (work / "server.log").open("w")
    proc = subprocess.Popen(
        [str(submit), "--class", SERVER_CLASS, "--master", "local[2]", "--driver-memory", "1g",
         "--conf", f"spark.connect.grpc.binding.port={port}", "--conf", "spark.ui.enabled=false",
         "--conf", "spark.sql.shuffle.partitions=4", "--name", "pathlens-connect-test"],
        cwd=work, env=_server_env(_JAVA_HOME), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _listening(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            tail = (work / "server.log").read_text()[-1500:]
            pytest.skip(f"the Spark Connect server did not start on port {port}: {tail}")
        time.sleep(0.5)
    yield f"sc://localhost:{port}"
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.fixture(scope="module")
def spark(server):
    """The backend's own session, built from PATHLENS_SPARK_REMOTE (as the dashboard does)."""
    stop_session()  # a local session of another module must not be reused
    before = os.environ.get(REMOTE_ENV)
    os.environ[REMOTE_ENV] = server
    try:
        yield get_session()
    finally:
        stop_session()
        if before is None:
            os.environ.pop(REMOTE_ENV, None)
        else:
            os.environ[REMOTE_ENV] = before


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> tuple[Path, pl.DataFrame]:
    """Canonical events of a generated shop, split in two Parquet files of one folder (the
    file order matters for ties: the folder is read in name order, as Polars reads it)."""
    folder = tmp_path_factory.mktemp("lake")
    raw, _, _ = generate_shop(users=300, days=12, seed=5)
    raw.write_parquet(folder / "raw.parquet.tmp")
    events = load_events(folder / "raw.parquet.tmp").events
    (folder / "raw.parquet.tmp").unlink()
    half = events.height // 2
    events.slice(0, half).write_parquet(folder / "part-0.parquet")
    events.slice(half).write_parquet(folder / "part-1.parquet")
    return folder, pl.read_parquet(folder)


# Built outside any importable module, so cloudpickle sends the function's code itself: the
# worker then imports ``core`` from whatever is on its path, which is what this checks.
_PROBE = '''
def probe(batches):
    import pyarrow as pa
    import core
    for _ in batches:
        pass
    yield pa.RecordBatch.from_pydict({"core": [core.__file__]})
'''


def test_the_remote_url_gives_a_connect_session_with_core_shipped(spark):
    assert is_connect(spark)
    namespace: dict = {"__name__": "pathlens_connect_probe"}
    exec(_PROBE, namespace)
    files = {r["core"] for r in spark.range(2).mapInArrow(namespace["probe"], "core STRING")
             .collect()}  # fmt: skip
    assert files, "the workers ran nothing"
    for path in files:  # the shipped zip, never the checkout
        assert "pathlens_core.zip" in path and not path.startswith(str(ROOT)), path


FUNNELS = [
    FunnelParams(steps=["view_item", "add_to_cart", "purchase"], window=DAY),
    FunnelParams(steps=["view_item", "add_to_cart", "begin_checkout", "purchase"],
                 window=timedelta(hours=2), order="strict", breakdown="device"),
]  # fmt: skip


@pytest.mark.parametrize("params", FUNNELS, ids=["ordered", "strict-breakdown"])
def test_funnel_through_connect_equals_polars(spark, shop, params):
    folder, events = shop
    got = compute_funnel_spark(str(folder), params, spark=spark, partitions=3)
    want = params.compute(events)
    assert want.steps["entities"][0] > 0  # the funnel is not empty
    key = params.count_by
    assert_frame_equal(got.entities.sort(key), want.entities.sort(key))
    assert_frame_equal(got.steps, want.steps, check_exact=False, rel_tol=1e-9)
    assert_frame_equal(got.breakdown_steps, want.breakdown_steps, check_exact=False, rel_tol=1e-9)
    assert (got.data_end, got.absent_steps) == (want.data_end, want.absent_steps)


def test_paths_through_connect_equal_polars(spark, shop):
    folder, events = shop
    params = PathsParams()
    got = compute_paths_spark(str(folder), params, spark=spark, partitions=3)
    want = params.compute(events)
    assert want.edges.height > 0
    for name in ("edges", "nodes", "top_paths"):
        assert_frame_equal(getattr(got, name), getattr(want, name), check_exact=False,
                           rel_tol=1e-9)  # fmt: skip
    assert (got.entities, dict(got.node_types)) == (want.entities, dict(want.node_types))


def test_features_and_segments_through_connect_equal_polars(spark, shop):
    folder, events = shop
    feats, seg = fit_segments_spark(str(folder), SegmentParams(k=3, seed=3), spark=spark,
                                    partitions=3)  # fmt: skip
    ref = user_features(events)
    assert_frame_equal(feats, ref)  # every feature of every user
    assert_frame_equal(seg.labels, fit_segments(ref, k=3, seed=3).labels)


def test_rules_through_connect_equal_mine_rules(spark, shop):
    # MLlib FPGrowth through Connect's ML support
    folder, events = shop
    params = RulesParams(item="category", min_support=0.02, min_confidence=0.1)
    got, ref = mine_rules_spark(str(folder), params, spark=spark), params.compute(events)
    assert ref.rules.height > 0
    assert_frame_equal(got.rules, ref.rules)
    assert_frame_equal(got.itemsets, ref.itemsets)


def test_cart_scores_through_connect_equal_polars(spark, shop):
    # Connect has no broadcast: the model travels inside the task closure
    folder, events = shop
    try:
        model = load_bundled_model()
    except ModelError as e:
        pytest.skip(f"the bundled cart model does not load: {e}")
    got = score_carts_spark(str(folder), model, spark=spark, partitions=3)
    ref = score_carts(model, events)
    key = ["session_id", "user_id"]
    assert got.height == ref.height > 0
    assert_frame_equal(got.sort(key), ref.sort(key), check_exact=False, rel_tol=1e-6)


def test_register_lake_dataset_through_connect(spark, shop):
    folder, events = shop
    record = register_lake_dataset(str(folder), name="lake shop", spark=spark)
    assert (record.rows, record.users) == (events.height, events["user_id"].n_unique())
    assert record.kind == "parquet" and record.report["files"] == 2
    assert record.report["events"] == events["event"].n_unique()
    assert record.size_bytes == 0  # Connect's driver has no JVM to ask file sizes of
    types = events.group_by("event_type").len()
    assert record.report["event_types"] == dict(zip(types["event_type"], types["len"], strict=True))
    assert len(record.id) == 32


def test_the_data_page_registers_a_lake_dataset_through_connect(spark, shop, monkeypatch):
    # the operator's path: Spark chosen on the Data page, PATHLENS_SPARK_REMOTE set (the
    # fixture), the source typed in the panel; the page's session is this Connect session
    from core.spark.lake import LAKE_ROOTS_ENV, LakeRegistry
    from core.store import DatasetStore
    from tests.apptest import run_page

    folder, events = shop
    monkeypatch.setenv(LAKE_ROOTS_ENV, str(folder))  # the operator allows the shop's folder
    registry = LakeRegistry(DatasetStore().root)
    try:
        at = run_page("data", **{"data.backend": "spark"})
        assert any(f"Spark Connect: `{os.environ[REMOTE_ENV]}`" in m.value for m in at.markdown)
        at.text_input(key="data.lake_source").input(str(folder))
        next(b for b in at.button if b.label == "Register lake dataset").click().run()
        assert not at.exception, at.exception
        [record] = registry.all()
        assert record.report["engine"] == "spark" and record.rows == events.height
        assert any(f"{events.height:,} events" in x.value for x in at.success)
    finally:
        registry.path.unlink(missing_ok=True)


def test_batch_cli_through_connect_writes_what_the_polars_backend_writes(spark, shop, tmp_path):
    from core.batch import main, open_results

    folder, _ = shop
    for backend in ("polars", "spark"):  # spark: the session of PATHLENS_SPARK_REMOTE
        assert main(["funnel", "--input", str(folder), "--backend", backend, "--out",
                     str(tmp_path / backend), "--steps", "view_item,add_to_cart,purchase"]) == 0  # fmt: skip
    (_, a), (manifest, b) = open_results(tmp_path / "polars"), open_results(tmp_path / "spark")
    assert manifest["backend"] == "spark"
    assert_frame_equal(a.steps, b.steps, check_exact=False, rel_tol=1e-9)
    assert_frame_equal(a.entities.sort("user_id"), b.entities.sort("user_id"))


def test_a_remote_url_that_is_not_spark_connect_is_refused(monkeypatch):
    monkeypatch.setenv(REMOTE_ENV, "http://cluster:15002")
    stop_session()
    with pytest.raises(ParameterError, match=r"PATHLENS_SPARK_REMOTE must be .*'sc://'"):
        get_session()


def test_a_remote_url_where_nothing_listens_fails_at_once(monkeypatch):
    # the Connect client alone would retry for minutes; the backend says what is wrong instead
    port = _free_port()  # free: nothing listens there
    monkeypatch.setenv(REMOTE_ENV, f"sc://localhost:{port}")
    for proxy in ("grpc_proxy", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    stop_session()
    with pytest.raises(ParameterError, match=rf"nothing answers at localhost:{port}"):
        get_session()
    monkeypatch.setenv(REMOTE_ENV, "sc://localhost:fifteen/;token=x")
    with pytest.raises(ParameterError, match=r"the port 'fifteen' is not a number"):
        get_session()
