"""The backend switch (core.backend) and the batch CLI on the Polars backend; pyspark stays out
of ``import core`` and of every module outside core/spark."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from core.backend import get_backend
from core.batch import main, open_results, parse_duration, run_batch
from core.errors import ParameterError
from tests.builders import make_events

ROOT = Path(__file__).resolve().parents[1]


def test_import_core_never_imports_pyspark():
    code = (
        "import sys; import core, core.backend, core.batch, core.spark; "
        "from core import compute_funnel, compute_paths, user_features, mine_rules; "
        "assert 'pyspark' not in sys.modules, sorted(m for m in sys.modules if 'spark' in m)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_only_core_spark_imports_pyspark():
    pattern = re.compile(r"^\s*(from|import)\s+pyspark", re.MULTILINE)
    offenders = []
    for folder in ("core", "ui", "pages"):
        for path in (ROOT / folder).rglob("*.py"):
            if "spark" in path.relative_to(ROOT).parts[1:2]:
                continue
            if pattern.search(path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    if pattern.search((ROOT / "app.py").read_text()):
        offenders.append("app.py")
    assert offenders == []


def test_backend_defaults_to_polars(monkeypatch):
    monkeypatch.delenv("PATHLENS_BACKEND", raising=False)
    assert get_backend() == "polars"
    monkeypatch.setenv("PATHLENS_BACKEND", " Polars ")
    assert get_backend() == "polars"
    assert get_backend("polars") == "polars"  # an explicit choice wins over the environment


def test_backend_refuses_an_unknown_name_and_names_the_variable(monkeypatch):
    monkeypatch.setenv("PATHLENS_BACKEND", "dask")
    with pytest.raises(ParameterError, match=r"`PATHLENS_BACKEND` must be one of .*'dask'"):
        get_backend()
    with pytest.raises(ParameterError, match=r"`backend` must be one of .*'ray'"):
        get_backend("ray")


def test_backend_spark_without_pyspark_says_what_to_install(monkeypatch):
    monkeypatch.setattr("core.backend.spark_available", lambda: False)
    with pytest.raises(ParameterError, match="requirements-spark.txt"):
        get_backend("spark")


def test_parse_duration():
    assert parse_duration("90s").total_seconds() == 90
    assert parse_duration("1.5h").total_seconds() == 5400
    assert parse_duration("2d").days == 2
    with pytest.raises(ParameterError, match=r"`window` .* got '5y'"):
        parse_duration("5y")


@pytest.fixture
def journeys(tmp_path) -> Path:
    # u1: view 00:00, cart 00:05, purchase 00:10 -> step 3
    # u2: view 00:00, cart 00:05                  -> step 2
    # u3: view 00:00                              -> step 1
    # u4: cart 00:00 only                         -> step 0
    ev = make_events({
        "u1": [("view_item", "00:00"), ("add_to_cart", "00:05"), ("purchase", "00:10")],
        "u2": [("view_item", "00:00"), ("add_to_cart", "00:05")],
        "u3": [("view_item", "00:00")],
        "u4": [("add_to_cart", "00:00")],
    })  # fmt: skip
    path = tmp_path / "events.parquet"
    ev.write_parquet(path)
    return path


def test_batch_funnel_writes_what_open_results_reads_back(journeys, tmp_path):
    out = tmp_path / "funnel"
    code = main([
        "funnel", "--input", str(journeys), "--backend", "polars", "--out", str(out),
        "--steps", "view_item,add_to_cart,purchase", "--window", "1h",
    ])  # fmt: skip
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["analysis"] == "funnel" and manifest["backend"] == "polars"
    assert sorted(manifest["tables"]) == ["breakdown_steps", "entities", "steps"]
    steps = pl.read_parquet(out / "steps.parquet")
    assert steps["entities"].to_list() == [3, 2, 1]  # u1,u2,u3 / u1,u2 / u1
    _, result = open_results(out)
    assert result.steps.equals(steps)
    assert result.n_entities == 4


def test_batch_paths_and_features_round_trip(journeys, tmp_path):
    from core import PathsParams, user_features

    m = run_batch("paths", source=str(journeys), out=tmp_path / "p", params=PathsParams(),
                  backend="polars")  # fmt: skip
    _, paths = open_results(m.parent)
    ref = PathsParams().compute(pl.read_parquet(journeys))
    assert paths.edges.equals(ref.edges)
    m = run_batch("features", source=str(journeys), out=tmp_path / "f", backend="polars")
    _, feats = open_results(m.parent)
    assert feats.equals(user_features(pl.read_parquet(journeys)))


def test_batch_bad_input_exits_2_with_one_line(tmp_path, capsys):
    code = main(["funnel", "--input", str(tmp_path / "missing.parquet"), "--out",
                 str(tmp_path / "o"), "--backend", "polars"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "missing.parquet" in err and "does not exist" in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_batch_refuses_bad_options_before_reading(journeys, tmp_path, capsys):
    code = main(["funnel", "--input", str(journeys), "--out", str(tmp_path / "o"),
                 "--backend", "polars", "--window", "soon"])  # fmt: skip
    assert code == 2
    assert "`window`" in capsys.readouterr().err


# -- the backend status of the Data page (core.backend.backend_status) ------------------------


def test_status_reads_the_environment_without_importing_pyspark(monkeypatch, tmp_path):
    from core.backend import backend_status

    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    monkeypatch.setenv("PATHLENS_BACKEND", "spark")
    monkeypatch.setenv("PATHLENS_SPARK_REMOTE", "sc://cluster:15002")
    monkeypatch.setattr("core.backend.spark_available", lambda: True)
    monkeypatch.setattr("core.backend.importlib.metadata.version", lambda name: "4.3.0")
    s = backend_status()
    assert (s.configured, s.backend, s.error) == ("spark", "spark", None)
    assert (s.pyspark, s.java, s.remote) == ("4.3.0", str(java), "sc://cluster:15002")
    assert s.spark_ready and s.spark_missing() == []


def test_status_says_what_spark_lacks(monkeypatch, tmp_path):
    from core.backend import backend_status

    monkeypatch.setenv("JAVA_HOME", str(tmp_path))  # no bin/java there
    monkeypatch.setattr("core.backend.shutil.which", lambda name: None)
    monkeypatch.delenv("PATHLENS_SPARK_REMOTE", raising=False)
    monkeypatch.setattr("core.backend.spark_available", lambda: False)
    monkeypatch.setenv("PATHLENS_BACKEND", "dask")
    s = backend_status()
    assert s.backend is None and "'dask'" in s.error
    assert (s.pyspark, s.java, s.remote) == (None, None, None)
    assert not s.spark_ready
    missing = " ".join(s.spark_missing())
    assert "requirements-spark.txt" in missing and "PATHLENS_SPARK_REMOTE" in missing
    # a Connect URL is somewhere to run without a local Java
    monkeypatch.setattr("core.backend.spark_available", lambda: True)
    monkeypatch.setenv("PATHLENS_SPARK_REMOTE", "sc://cluster:15002")
    assert backend_status().spark_ready


def test_the_app_never_imports_pyspark_unless_spark_is_chosen():
    # every ui module, the store with its lake hook, and the Data page with its engine panel
    code = (
        "import sys, pathlib, importlib\n"
        "for p in sorted(pathlib.Path('ui').glob('*.py')):\n"
        "    importlib.import_module('ui.' + p.stem)\n"
        "import core.store, core.spark.lake\n"
        "from tests.apptest import run_page\n"
        "at = run_page('data')\n"
        "assert any(e.label.startswith('Backend: Polars') for e in at.expander)\n"
        "assert 'pyspark' not in sys.modules, sorted(m for m in sys.modules if 'pyspark' in m)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PATHLENS_BACKEND": ""})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


# -- lake datasets: registration with Polars, the registry, the store's hook -------------------


@pytest.fixture
def lake(tmp_path) -> tuple[Path, pl.DataFrame]:
    """A Spark-style output folder: two part files, _SUCCESS and .crc files beside them."""
    ev = make_events({
        "u1": [("view_item", "00:00"), ("add_to_cart", "00:05"), ("purchase", "00:10")],
        "u2": [("view_item", "00:00"), ("add_to_cart", "00:05")],
        "u3": [("view_item", "D+1 09:00")],
    })  # fmt: skip
    folder = tmp_path / "lake" / "events"
    folder.mkdir(parents=True)
    ev.slice(0, 3).write_parquet(folder / "part-00000.parquet")
    ev.slice(3).write_parquet(folder / "part-00001.parquet")
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00000.parquet.crc").write_bytes(b"\x00crc")
    return folder, ev


def test_describe_lake_parquet_by_hand(lake):
    from core.spark.lake import describe_lake_parquet

    folder, _ = lake
    d = describe_lake_parquet(str(folder), name="shop lake")
    # 3 + 2 + 1 = 6 events of 3 users; view_item, add_to_cart, purchase = 3 names
    assert (d.rows, d.users, d.report["events"], d.report["files"]) == (6, 3, 3, 2)
    assert d.report["event_types"] == {"view_item": 3, "add_to_cart": 2, "purchase": 1}
    assert d.report["first_event"] == "2024-01-01T00:00:00+00:00"
    assert d.report["last_event"] == "2024-01-02T09:00:00+00:00"  # u3, day 2 at 09:00
    assert d.kind == "parquet" and d.report["engine"] == "polars" and len(d.id) == 32
    assert d.size_bytes == sum(p.stat().st_size for p in folder.glob("*.parquet"))
    assert d.label == "Lake · shop lake"


def test_a_changed_lake_gets_a_new_id(lake):
    from core.spark.lake import describe_lake_parquet

    folder, ev = lake
    before = describe_lake_parquet(str(folder)).id
    assert describe_lake_parquet(str(folder)).id == before  # same files: same id
    ev.slice(0, 1).write_parquet(folder / "part-00002.parquet")
    assert describe_lake_parquet(str(folder)).id != before


def test_describe_lake_parquet_refuses_what_it_cannot_read(tmp_path):
    from core.errors import DatasetNotFound, SchemaError
    from core.spark.lake import describe_lake_parquet

    with pytest.raises(DatasetNotFound, match="needs the Spark backend"):
        describe_lake_parquet("analytics.events")  # a table name
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFound, match="holds no Parquet file"):
        describe_lake_parquet(str(tmp_path / "empty"))
    pl.DataFrame({"user_id": ["u1"], "ts": [1]}).write_parquet(tmp_path / "thin.parquet")
    with pytest.raises(SchemaError, match=r"lacks the canonical column\(s\) \['session_id'"):
        describe_lake_parquet(str(tmp_path / "thin.parquet"))


def test_a_registered_lake_dataset_is_a_dataset_of_the_store(lake, tmp_path):
    from core.spark.lake import LakeRegistry, describe_lake_parquet
    from core.store import DatasetStore

    folder, ev = lake
    store = DatasetStore(tmp_path / "store")
    record = describe_lake_parquet(str(folder), name="shop lake")
    assert not store.exists(record.id)
    kept = LakeRegistry(store.root).add(record)
    assert kept.created > 0 and LakeRegistry(store.root).get(record.id) == kept
    assert store.exists(record.id)
    meta = store.meta(record.id)
    assert (meta.name, meta.rows, meta.users) == ("Lake · shop lake", 6, 3)
    assert meta.report["lake"] == str(folder) and meta.report["lake_kind"] == "parquet"
    # pages read the lake in place: the same events, in file order
    assert_frame_equal(store.scan(record.id).collect(), ev)
    assert not store.parquet_path(record.id).exists()  # nothing copied into the store
    LakeRegistry(store.root).remove(record.id)
    assert not store.exists(record.id)


def test_a_lake_table_or_a_vanished_path_says_why_pages_cannot_open_it(lake, tmp_path):
    import dataclasses
    import shutil

    from core.errors import DatasetNotFound
    from core.spark.lake import LakeRegistry, describe_lake_parquet
    from core.store import DatasetStore

    folder, _ = lake
    store = DatasetStore(tmp_path / "store")
    record = describe_lake_parquet(str(folder))
    table = dataclasses.replace(record, id="f" * 32, name="analytics.events",
                                source="analytics.events", kind="table")
    registry = LakeRegistry(store.root)
    registry.add(record)
    registry.add(table)
    assert store.meta(table.id).name == "Lake table · analytics.events (Spark only)"
    with pytest.raises(DatasetNotFound, match=r"only Spark can read.*core\.batch funnel"):
        store.scan(table.id)
    shutil.rmtree(folder)
    with pytest.raises(DatasetNotFound, match="holds no Parquet file any more"):
        store.scan(record.id)


def test_a_damaged_registry_lists_nothing_and_breaks_nothing(tmp_path):
    from core.spark.lake import LAKE_REGISTRY_FILE, LakeRegistry
    from core.store import DatasetStore

    store = DatasetStore(tmp_path / "store")
    (store.root / LAKE_REGISTRY_FILE).write_text("{not json")
    assert LakeRegistry(store.root).all() == []
    assert not store.exists("a" * 32)
    assert [m.id for m in store.list()] == []  # the registry file is not taken for a dataset


def test_lake_sources_a_visitor_may_register_by_hand(tmp_path):
    from core.spark.lake import lake_roots, lake_source_refusal

    roots = lake_roots({"PATHLENS_LAKE_ROOTS": f" s3://shop/events/ , {tmp_path}/lake,catalog:shop."})
    assert roots == ("s3://shop/events/", f"{tmp_path}/lake", "catalog:shop.")
    assert lake_roots({}) == () and lake_roots({"PATHLENS_LAKE_ROOTS": " , "}) == ()
    store = tmp_path / "store"
    for folder in ("lake", "other", "lakeside"):  # a path that does not exist names a table
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.parquet").write_bytes(b"")

    def ok(source: str) -> bool:
        return lake_source_refusal(source, roots, store_root=store) == ""

    assert ok("s3://shop/events/2026/part-0.parquet") and ok("S3://shop/events")
    assert not ok("s3://shop/eventsX/a.parquet")  # a prefix of the name is not the folder
    assert not ok("s3://shop/events/../secrets/a.parquet")
    assert not ok("gs://shop/events/a.parquet")
    assert ok(f"{tmp_path}/lake/a.parquet") and ok(f"{tmp_path}/lake/*.parquet")
    assert not ok(f"{tmp_path}/lake/../other/a.parquet")
    assert not ok(f"{tmp_path}/lakeside/a.parquet")
    assert ok("shop.events") and not ok("hr.salaries")
    assert "off on this server" in lake_source_refusal("s3://shop/events/a", (), store_root=store)
    assert "does not exist on this server" in lake_source_refusal(
        f"{tmp_path}/lake/missing.parquet", roots, store_root=store)
    # the store is never a lake, even under an allowed folder
    store.mkdir()
    (store / "abc.parquet").write_bytes(b"")
    assert "inside the dataset store" in lake_source_refusal(
        f"{store}/abc.parquet", (str(tmp_path),), store_root=store)
