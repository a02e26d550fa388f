"""An uploaded dataset's default Cart and Segments views are warmed in the background after
the first page that shows it (issue 14: ``ui.boot.request_dataset_warm_up``), once per
dataset and process; never the sample (the process's own warm-up fills it), a dataset above
``WARM_UP_MAX_EVENTS`` or a lake table."""

from __future__ import annotations

import polars as pl
import pytest
from apptest import run_page
from builders import make_events

import ui.boot as boot
from core.store import SAMPLE_ID, DatasetStore

EV = make_events({"u1": [("view_item", "00:00"), ("add_to_cart", "00:02"), ("purchase", "00:05")],
                  "u2": [("view_item", "00:10"), ("add_to_cart", "00:12")]})


@pytest.fixture
def warmed(monkeypatch):
    """The views the background warm-up was started for (recorded, not computed); the
    process looks like a server and its own warm-up is over."""
    calls: list = []
    monkeypatch.setattr(boot, "warm_up_default_views", lambda view: calls.append(view))
    monkeypatch.setattr(boot, "_is_server", lambda: True)
    monkeypatch.setattr(boot, "_datasets_warmed", set())
    monkeypatch.setattr(boot, "_warm_thread", None)
    return calls


def _after_page(dataset_id: str, events: int):
    boot.request_dataset_warm_up(dataset_id, events)
    job = boot._warm_up_requested_dataset()
    if job is not None:
        assert job.wait(timeout=60) and not job.error, job.error
    return job


def test_an_uploaded_dataset_is_warmed_once_with_its_default_view(warmed):
    ds = DatasetStore().put(EV.with_columns(pl.lit("w1").alias("tag")), name="shop.csv")
    assert _after_page(ds, EV.height) is not None
    assert _after_page(ds, EV.height) is None  # the second page of it: nothing more
    from ui.view import DataView

    assert warmed == [DataView(ds)]  # the default view: no filters, segments or cohorts


def test_the_sample_a_large_dataset_and_no_request_start_nothing(warmed):
    assert _after_page(SAMPLE_ID, 899_669) is None
    assert _after_page("f" * 32, boot.WARM_UP_MAX_EVENTS + 1) is None
    assert boot._warm_up_requested_dataset() is None  # no page asked for anything
    assert warmed == []


def test_a_request_is_for_one_script_run_only(warmed, monkeypatch):
    monkeypatch.setattr(boot, "_is_server", lambda: False)  # not a server: bare mode
    boot.request_dataset_warm_up("e" * 32, 10)
    assert boot._warm_up_requested_dataset() is None
    monkeypatch.setattr(boot, "_is_server", lambda: True)
    assert boot._warm_up_requested_dataset() is None  # the old request was used up
    assert warmed == []


def test_a_page_on_an_uploaded_dataset_requests_its_warm_up(monkeypatch):
    import ui.shell

    requested: list[tuple[str, int]] = []
    monkeypatch.setattr(ui.shell, "request_dataset_warm_up",
                        lambda ds, n: requested.append((ds, n)))
    ds = DatasetStore().put(EV.with_columns(pl.lit("w2").alias("tag")), name="shop2.csv")
    run_page("overview", dataset=ds)
    assert requested == [(ds, EV.height)]
