"""The backend switch (core.backend) and the batch CLI on the Polars backend; pyspark stays out
of ``import core`` and of every module outside core/spark."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

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
