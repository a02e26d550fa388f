"""AppTest: the Data page's mapping screen for exports without an event or user column, and the
stray-timestamp checkbox (issue 12). Each upload goes through the page's own uploader; the stored
table is then read back from the store and checked by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
from apptest import metric
from fixtures_loader import ITEM_VIEWS, TILL_LINES
from streamlit.testing.v1 import AppTest
from test_page_data import ROOT

from core.store import DatasetStore


def _upload(name: str, content: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=120)
    at.run()
    at.file_uploader(key="data.upload").upload(name, content.encode(), "text/csv").run()
    assert not at.exception, at.exception
    return at


def _use(at: AppTest) -> pl.DataFrame:
    """Click "Use this dataset" and read the stored table back."""
    at.button(key="data.use").click().run()
    assert not at.exception, at.exception
    dataset_id = at.sidebar.selectbox(key="data:dataset").value
    assert dataset_id != "sample"
    return DatasetStore().scan(dataset_id).collect()


def test_item_view_log_is_detected_and_its_constant_event_can_be_changed():
    at = _upload("views.csv", ITEM_VIEWS)
    # detected: no event column -> every row a view_item; day + millisecond offset; user from
    # the session where userId is NA
    assert at.selectbox(key="data.map.event").value == "(not in this file)"
    assert at.selectbox(key="data.opt.event_constant").value == "view_item"
    assert at.selectbox(key="data.opt.ts_time").value == "timeframe"
    assert at.selectbox(key="data.opt.ts_time_unit").value == "ms"
    assert at.checkbox(key="data.opt.user_fallback").value is True
    assert "Diginetica" in metric(at, "Format")
    assert metric(at, "Rows kept") == "8"

    at.selectbox(key="data.opt.event_constant").select("add_to_cart").run()
    assert not at.exception, at.exception
    stored = _use(at).sort("ts")
    assert stored.height == 8
    assert set(stored["event"]) == {"add_to_cart"} and set(stored["event_type"]) == {"add_to_cart"}
    # row "1;NA;81766;526309;2016-05-09": user from session 1, 2016-05-09 + 526.309 s
    row = stored.filter(pl.col("product_id") == "81766").row(0, named=True)
    assert row["user_id"] == "sessionId:1"
    assert row["ts"] == datetime(2016, 5, 9, 0, 8, 46, 309_000, tzinfo=timezone.utc)
    # row "4;5357;8892;41090;2016-05-10": its own user, 41.090 s after midnight
    row = stored.filter(pl.col("product_id") == "8892").row(0, named=True)
    assert row["user_id"] == "5357"
    assert row["ts"] == datetime(2016, 5, 10, 0, 0, 41, 90_000, tzinfo=timezone.utc)
    # 3 users of their own session (1, 2) + 5357
    assert stored["user_id"].n_unique() == 3


def test_turning_off_the_user_fallback_drops_the_rows_without_user_counted():
    at = _upload("views.csv", ITEM_VIEWS)
    at.checkbox(key="data.opt.user_fallback").uncheck().run()
    assert not at.exception, at.exception
    # 5 rows have userId NA: without the session fallback they are dropped, counted
    assert metric(at, "Rows kept") == "3" and metric(at, "Rows dropped") == "5"
    reasons = at.table[0].value
    assert "missing user" in reasons.to_string()


def test_seconds_offset_unit_changes_the_times():
    at = _upload("views.csv", ITEM_VIEWS)
    at.selectbox(key="data.opt.ts_time_unit").select("s").run()
    assert not at.exception, at.exception
    stored = _use(at)
    # "3;5357;37289;103020;2016-05-09": 103,020 s = 1 day 4:37:00 after the day's start
    row = stored.filter((pl.col("product_id") == "37289") & (pl.col("ts").dt.day() != 9)).row(0, named=True)
    assert row["ts"] == datetime(2016, 5, 10, 4, 37, 0, tzinfo=timezone.utc)


def test_bakery_till_lines_are_detected_stored_and_their_event_can_be_changed():
    at = _upload("bakery.csv", TILL_LINES)
    assert at.selectbox(key="data.opt.event_constant").value == "purchase"
    assert at.selectbox(key="data.opt.ts_time").value == "Time"
    assert at.checkbox(key="data.opt.user_fallback").value is True
    assert at.selectbox(key="data.map.order_id").value == "Transaction"
    stored = _use(at)
    # 8 lines (the repeated Scandinavian line is a second unit, kept), every one a purchase;
    # the transaction stands for the user
    assert stored.height == 8 and set(stored["event"]) == {"purchase"}
    assert sorted(stored["user_id"].unique()) == [f"Transaction:{i}" for i in range(1, 6)]
    jam = stored.filter(pl.col("product_id") == "Jam").row(0, named=True)
    assert jam["ts"] == datetime(2016, 10, 30, 10, 7, 57, tzinfo=timezone.utc)
    assert jam["order_id"] == "3" and jam["user_id"] == "Transaction:3"

    at.selectbox(key="data.opt.event_constant").select("add_to_cart").run()
    assert not at.exception, at.exception
    stored = _use(at)
    assert stored.height == 8 and set(stored["event_type"]) == {"add_to_cart"}


def _with_strays() -> str:
    t0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
    lines = ["user_id,timestamp,event"]
    for i in range(40):  # the bulk: 40 views over 40 hours in March 2024
        lines.append(f"u{i % 4},{(t0 + timedelta(hours=i)).isoformat()},view_item")
    # one event years before the bulk, one months after it (with under 1,000 events the bulk
    # excludes one event at each end)
    lines.append("u1,2019-06-01T10:00:00+00:00,view_item")
    lines.append("u2,2024-09-02T10:00:00+00:00,purchase")
    return "\n".join(lines) + "\n"


def test_stray_timestamps_are_flagged_and_dropped_counted_when_asked():
    at = _upload("strays.csv", _with_strays())
    warning = next(w.value for w in at.warning if "stray" in w.value)
    assert "2 stray event(s)" in warning and "2024-03-01" in warning
    box = at.checkbox(key="data.drop_stray")
    assert box.label == "Drop 2 stray events" and box.value is False
    assert metric(at, "Rows kept") == "42"  # flagged, not dropped

    box.check().run()
    assert not at.exception, at.exception
    assert metric(at, "Rows kept") == "40" and metric(at, "Rows dropped") == "2"
    reasons = at.table[0].value.to_string()
    assert "stray timestamp" in reasons
    assert at.checkbox(key="data.drop_stray").value is True  # still offered, to undo
    stored = _use(at)
    assert stored.height == 40
    assert stored["ts"].min() == datetime(2024, 3, 1, tzinfo=timezone.utc)
    assert stored["ts"].max() == datetime(2024, 3, 2, 15, tzinfo=timezone.utc)  # 39 h later
