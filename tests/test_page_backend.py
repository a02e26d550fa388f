"""AppTest: the Data page's engine panel (issue 17): the active backend, what Spark would need,
registering a lake dataset into the picker, and what a page does with a lake dataset."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from apptest import metric, run_page

from core.spark.lake import LAKE_ROOTS_ENV, LakeRegistry, describe_lake_parquet
from core.store import DatasetStore
from tests.builders import make_events

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def registry(monkeypatch, tmp_path):
    """The test store's lake registry, emptied after each test (the store is process-wide);
    the operator allows registering files under the test's folder and every catalog table."""
    monkeypatch.setenv(LAKE_ROOTS_ENV, f"{tmp_path},catalog:")
    reg = LakeRegistry(DatasetStore().root)
    yield reg
    reg.path.unlink(missing_ok=True)


@pytest.fixture
def lake(tmp_path) -> tuple[Path, pl.DataFrame]:
    # u1: view, cart, purchase; u2: view, cart; u3: view -> 6 events, 3 users, 1 order
    ev = make_events({
        "u1": [("view_item", "00:00"), ("add_to_cart", "00:05"),
               ("purchase", "00:10", {"order_id": "o1", "price": 20.0})],
        "u2": [("view_item", "00:00"), ("add_to_cart", "00:05")],
        "u3": [("view_item", "00:30")],
    })  # fmt: skip
    folder = tmp_path / "events"
    folder.mkdir()
    ev.write_parquet(folder / "part-00000.parquet")
    (folder / "_SUCCESS").write_text("")
    return folder, ev


def _submit(at, source: str, name: str = ""):
    at.text_input(key="data.lake_source").input(source)
    at.text_input(key="data.lake_name").input(name)
    next(b for b in at.button if b.label == "Register lake dataset").click().run()
    assert not at.exception, at.exception
    return at


def test_the_panel_says_polars_is_active_and_what_spark_would_need(monkeypatch, registry):
    monkeypatch.delenv("PATHLENS_BACKEND", raising=False)
    monkeypatch.setenv("PATHLENS_SPARK_REMOTE", "sc://cluster.example:15002")
    at = run_page("data")
    assert any(e.label == "Backend: Polars (embedded, this server) · lake datasets"
               for e in at.expander)  # fmt: skip
    assert at.radio(key="data.backend").value == "polars"
    lines = " ".join(m.value for m in at.markdown)
    assert "`PATHLENS_BACKEND` unset (Polars is the default)" in lines
    assert "Spark Connect: `sc://cluster.example:15002`" in lines
    captions = " ".join(c.value for c in at.caption)
    assert "No lake dataset registered yet." in captions
    assert "Cart abandonment gathers the events of the users with a cart" in captions  # what works, said plainly


def test_spark_from_the_environment_or_the_link(monkeypatch, registry):
    monkeypatch.setenv("PATHLENS_BACKEND", "spark")
    at = run_page("data")
    assert at.radio(key="data.backend").value == "spark"
    assert any(e.label == "Backend: Spark · pages compute on Spark for lake datasets"
               for e in at.expander)
    monkeypatch.delenv("PATHLENS_BACKEND")
    at = run_page("data", **{"data.backend": "spark"})  # chosen in a link
    assert at.radio(key="data.backend").value == "spark"
    monkeypatch.setenv("PATHLENS_BACKEND", "dask")
    at = run_page("data")
    assert any("`PATHLENS_BACKEND` must be one of" in w.value for w in at.warning)


def test_spark_chosen_where_it_cannot_start_falls_back_to_polars(monkeypatch, registry):
    monkeypatch.setattr("core.backend.spark_available", lambda: False)
    at = run_page("data", **{"data.backend": "spark"})
    assert any("Spark cannot start here: pyspark is not installed" in w.value
               for w in at.warning)  # fmt: skip
    # the panel's title says what is in force, not what was asked for
    assert any(e.label == "Backend: Polars (embedded, this server) · lake datasets"
               for e in at.expander)  # fmt: skip


def test_register_a_parquet_folder_then_use_it_on_every_page(registry, lake):
    folder, ev = lake
    at = _submit(run_page("data"), str(folder), "shop lake")
    assert any("Registered **Lake · shop lake**: 6 events, 3 users" in s.value for s in at.success)
    record = registry.all()[0]
    assert record.rows == 6 and record.report["engine"] == "polars"
    # in the picker at once (the label the store's meta gives it)
    assert "Lake · shop lake (6 events)" in at.sidebar.selectbox(key="data:dataset").options
    table = at.dataframe[0].value
    assert table["events"].tolist() == [6] and table["pages"].tolist() == [
        "all (Polars on this server)"]
    at.button(key="data.lake_use").click().run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="data:dataset").value == record.id
    assert any("Active dataset: **Lake · shop lake (6 events)**" in c.value for c in at.caption)
    # another page, opened by link, computes on the lake's events: 3 users, 1 order
    page = run_page("overview", dataset=record.id)
    assert metric(page, "Users") == "3" and metric(page, "Orders") == "1"
    assert not page.warning


def test_a_table_name_needs_spark_and_a_bad_path_is_a_message(registry, tmp_path):
    at = _submit(run_page("data"), "analytics.events")
    assert any("needs the Spark engine" in e.value for e in at.error)
    (tmp_path / "thin.parquet").write_bytes(b"not parquet")
    at = _submit(at, str(tmp_path / "thin.parquet"))
    assert any("cannot be read as Parquet" in e.value for e in at.error)
    at = _submit(at, "  ")
    assert any("Give a Parquet path or a table name" in e.value for e in at.error)
    assert registry.all() == []


def test_a_lake_table_page_says_it_is_spark_batch_only(registry, lake):
    folder, _ = lake
    table = dataclasses.replace(describe_lake_parquet(str(folder)), id="e" * 32,
                                name="analytics.events", source="analytics.events", kind="table")
    registry.add(table)
    page = run_page("overview", dataset=table.id)
    notices = " ".join(w.value for w in page.warning)
    assert "only Spark can read" in notices and "core.batch funnel" in notices
    assert page.sidebar.selectbox(key="overview:dataset").value == table.id
    parquet = registry.add(describe_lake_parquet(str(folder), name="shop lake"))
    data = run_page("data", dataset=parquet.id)  # the Parquet lake is the active dataset
    table_row = data.dataframe[0].value.set_index("id").loc[table.id]
    assert table_row["pages"] == "none with Polars: choose Spark"
    data.selectbox(key="data.lake_pick").set_value(table.id).run()
    data.button(key="data.lake_forget").click().run()
    assert not data.exception, data.exception
    assert [r.id for r in registry.all()] == [parquet.id]
    # forgetting another lake dataset keeps the active one
    assert data.sidebar.selectbox(key="data:dataset").value == parquet.id


PAGES = ["overview", "funnels", "paths", "retention", "segments", "rules", "cart"]


def test_every_page_opens_a_parquet_lake_dataset(registry, tmp_path):
    from core import compute_funnel, generate_shop, load_events

    raw, _, _ = generate_shop(users=150, days=10, seed=4)
    raw.write_parquet(tmp_path / "raw.parquet")
    events = load_events(tmp_path / "raw.parquet").events
    (tmp_path / "lake").mkdir()
    events.write_parquet(tmp_path / "lake" / "part-00000.parquet")
    record = registry.add(describe_lake_parquet(str(tmp_path / "lake"), name="shop"))
    for name in PAGES:
        at = run_page(name, dataset=record.id)  # asserts no exception
        assert at.sidebar.selectbox[0].value == record.id, name  # not the sample
        assert not at.warning and not at.error, (name, [w.value for w in at.warning],
                                                 [e.value for e in at.error])  # fmt: skip
        if name == "funnels":  # the page's default funnel, against core on the lake's events
            steps = at.multiselect(key="funnel.steps").value
            ref = compute_funnel(events, steps, window=timedelta(days=1))  # the page's default
            assert metric(at, "Entered (users)") == f"{ref.steps['entities'][0]:,}"


def test_registering_is_off_unless_the_operator_allows_it(monkeypatch, registry, lake):
    # a shared server: a visitor must not read whatever path the server can
    folder, _ = lake
    monkeypatch.delenv(LAKE_ROOTS_ENV)
    at = run_page("data")
    assert not [b for b in at.button if b.label == "Register lake dataset"]
    assert any(LAKE_ROOTS_ENV in i.value and "off on this server" in i.value for i in at.info)
    assert registry.all() == []


def test_only_sources_under_the_operators_roots_register(monkeypatch, registry, lake, tmp_path):
    folder, _ = lake
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    make_events({"u9": [("view_item", "00:00")]}).write_parquet(outside / "x.parquet")
    monkeypatch.setenv(LAKE_ROOTS_ENV, str(folder))
    at = _submit(run_page("data"), str(outside / "x.parquet"))
    assert any("outside the lake sources this server allows" in e.value for e in at.error)
    at = _submit(at, f"{folder}/../../{tmp_path.name}-outside/x.parquet")  # `..` resolved
    assert any("outside the lake sources" in e.value for e in at.error)
    store = DatasetStore().root
    monkeypatch.setenv(LAKE_ROOTS_ENV, f"{folder},{store.parent}")
    at = _submit(at, str(store / "*.parquet"))  # other visitors' uploads
    assert any("inside the dataset store" in e.value for e in at.error)
    assert registry.all() == []
    at = _submit(at, str(folder), "allowed")
    assert [r.name for r in registry.all()] == ["allowed"]


def test_a_registered_lake_dataset_is_in_every_sessions_picker(registry, lake):
    # registered by the operator's rules for everyone: a new visitor, no link, sees it
    folder, _ = lake
    registry.add(describe_lake_parquet(str(folder), name="shared lake"))
    at = run_page("funnels")
    assert "Lake · shared lake (6 events)" in at.sidebar.selectbox(key="funnels:dataset").options
