"""AppTest: who sees which dataset, and what pages do with a damaged or unusable stored dataset.

Each ``AppTest`` is its own browser session; they share the process-wide store (``get_store``),
as sessions on one server do.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import polars as pl
import pytest
from apptest import run_page
from builders import make_events

from core.store import DatasetStore

EV = make_events({"u1": [("view_item", "00:00"), ("purchase", "00:05")],
                  "u2": [("view_item", "00:10")]})
TAOBAO = (b"user_id,item_id,category_id,behavior_type,timestamp\n"
          b"1,10,100,pv,1511544070\n1,10,100,cart,1511544100\n1,10,100,buy,1511544200\n")


def _store() -> DatasetStore:
    return DatasetStore()  # the same root as the app's (PATHLENS_DATA_DIR, see conftest)


def _picker(at):
    return at.sidebar.selectbox(key="data:dataset")


def _warnings(at) -> str:
    return " | ".join(w.value for w in at.warning)


def test_a_session_sees_the_sample_and_only_what_it_uploaded_or_opened_by_link():
    secret = _store().put(EV.with_columns(pl.lit("s").alias("tag")), name="secret-shop.csv")
    # session A uploads a file
    a = run_page("data")
    a.file_uploader(key="data.upload").upload("mine.csv", TAOBAO, "text/csv").run()
    a.button(key="data.use").click().run()
    assert not a.exception, a.exception
    mine = _picker(a).value
    assert len(mine) == 32 and mine != "sample"
    assert set(_picker(a).options) == {"Bundled sample shop", "mine.csv (3 events)"}
    # session B, a stranger: neither A's upload nor any other stored dataset is listed
    b = run_page("data")
    assert _picker(b).options == ["Bundled sample shop"]
    # ... but a link opens it, and from then on this session may pick it
    c = run_page("data", dataset=secret)
    assert _picker(c).value == secret
    assert set(_picker(c).options) == {"Bundled sample shop", "secret-shop.csv (3 events)"}
    c.sidebar.selectbox(key="data:dataset").select("sample").run()
    assert not c.exception
    assert "secret-shop.csv (3 events)" in _picker(c).options


def test_a_truncated_dataset_shows_a_message_falls_back_and_can_be_removed():
    store = _store()
    ds = store.put(EV.with_columns(pl.lit("t").alias("tag")), name="broken.csv")
    path = store.parquet_path(ds)
    path.write_bytes(path.read_bytes()[:100])
    at = run_page("data", dataset=ds)
    assert "cannot be used" in _warnings(at) and ds in _warnings(at)
    assert "Active dataset: **Bundled sample shop**" in at.caption[0].value
    at.button(key="data.remove").click().run()
    assert not at.exception, at.exception
    assert not store.exists(ds) and not path.exists()
    assert at.query_params.get("dataset") in (None, [])
    assert _picker(at).options == ["Bundled sample shop"]


@pytest.mark.parametrize("page", ["overview", "funnels", "data"])
def test_a_stored_dataset_with_impossible_timestamps_gives_a_message_on_every_page(page):
    # stored before the loader dropped such rows: every page used to raise OverflowError
    bad = EV.with_columns(pl.when(pl.col("user_id") == "u2")
                          .then(pl.datetime(55970, 1, 1, time_zone="UTC"))
                          .otherwise(pl.col("ts")).alias("ts"))
    ds = _store().put(bad, name="year-55970.csv")
    at = run_page(page, dataset=ds)
    assert "year 55970" in _warnings(at)
    if page == "data":
        assert at.button(key="data.remove")


def test_an_upload_into_a_read_only_store_says_so(monkeypatch):
    at = run_page("data")
    at.file_uploader(key="data.upload").upload("ro.csv", TAOBAO + b"2,11,100,pv,1511544070\n",
                                               "text/csv").run()
    root = str(Path(os.environ["PATHLENS_DATA_DIR"]).resolve())
    real_open = os.open

    def read_only(path, *args, **kwargs):
        if str(Path(path).resolve()).startswith(root):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    at.button(key="data.use").click().run()
    assert not at.exception, at.exception
    assert any("read-only" in e.value and root in e.value for e in at.error)
    assert _picker(at).value == "sample"


def test_seg_that_is_not_a_segmentation_is_named_and_ignored():
    at = run_page("overview", seg="AAAA")
    assert "AAAA" in _warnings(at)
    assert not [c for c in at.sidebar.caption if "Segments applied" in c.value]
    assert at.query_params.get("seg") in (None, [])
    # a real segmentation with a stray key: the stray key is named, the rest applies
    at = run_page("overview", seg="segments.k=3&bogus=1")
    assert "bogus" in _warnings(at)
    assert [c for c in at.sidebar.caption if "k = 3" in c.value]
