"""Every export format the loader recognises, from small fixtures written here."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from fixtures_loader import (
    AMPLITUDE,
    GA4,
    MIXPANEL,
    ONLINE_RETAIL,
    PATHLENS,
    REES46,
    RETAILROCKET,
    SEGMENT_JSONL,
    TAOBAO,
    upload,
    write,
)

from core import CANONICAL_COLUMNS, CANONICAL_SCHEMA, EVENT_TYPES, load_events
from core.formats import detect_format, suggest_mapping
from core.loader import DROP_REASONS
from core.loader.order import sort_events


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def check_canonical(result) -> pl.DataFrame:
    """The contract every load satisfies; returns the events."""
    ev = result.events
    assert ev.columns[: len(CANONICAL_COLUMNS)] == list(CANONICAL_COLUMNS)
    for col, dtype in CANONICAL_SCHEMA.items():
        assert ev.schema[col] == dtype, col
    assert ev["user_id"].null_count() == 0
    assert ev["session_id"].null_count() == 0
    assert ev["ts"].null_count() == 0
    assert set(ev["event_type"].unique()) <= set(EVENT_TYPES)
    # file order (issue 14); the store's order is a stable sort by user then time
    assert sort_events(ev).equals(ev.sort(["user_id", "ts"], maintain_order=True))
    rep = result.report
    assert set(rep.rows_dropped) == set(DROP_REASONS)
    assert rep.rows_read == rep.rows_kept + sum(rep.rows_dropped.values())
    assert rep.rows_kept == ev.height
    json.dumps(rep.to_dict())  # serialisable for dataset metadata
    return ev


def test_rees46(tmp_path):
    res = load_events(write(tmp_path, "2019-Oct.csv", REES46))
    ev = check_canonical(res)
    assert res.report.format == "rees46"
    # 5 rows, rows 3 and 4 identical -> 1 duplicate dropped
    assert res.report.rows_read == 5
    assert res.report.rows_dropped["duplicate row"] == 1
    assert ev.height == 4
    assert res.report.ts_unit == "text"
    assert ev.filter(pl.col("user_id") == "554748717")["event_type"].to_list() == [
        "view_item",
        "add_to_cart",
        "purchase",
    ]
    first = ev.filter(pl.col("user_id") == "541312140").row(0, named=True)
    assert first["ts"] == utc(2019, 10, 1, 0, 0, 0)
    assert first["session_id"] == "72d76fde-8bb3-4e00-8c23-a032dfed738c"
    assert first["category"] is None  # category_code empty; category_id is kept as a property
    assert first["category_id"] == "2103807459595387724"
    assert first["brand"] == "shiseido" and first["price"] == pytest.approx(35.79)
    assert first["event"] == "view"  # raw name kept


def test_retailrocket_ms_epochs_and_gap_sessions(tmp_path):
    res = load_events(write(tmp_path, "events.csv", RETAILROCKET))
    ev = check_canonical(res)
    assert res.report.format == "retailrocket"
    assert res.report.ts_unit == "ms"
    v = ev.filter(pl.col("user_id") == "257597")
    # 1433221332117 ms = 2015-06-02 05:02:12.117 UTC
    assert v["ts"][0] == utc(2015, 6, 2, 5, 2, 12, 117000)
    assert v["event_type"].to_list() == ["view_item", "add_to_cart", "purchase"]
    assert v["order_id"].to_list() == [None, None, "4000"]
    assert v["product_id"][0] == "355908"
    # gaps: +600 s (same session), +2400 s = 40 min > 30 min (new session)
    assert v["session_id"].to_list() == ["257597-1", "257597-1", "257597-2"]
    assert ev.filter(pl.col("user_id") == "992329")["session_id"].to_list() == ["992329-1"]


def test_retailrocket_session_gap_parameter(tmp_path):
    res = load_events(write(tmp_path, "events.csv", RETAILROCKET), session_gap=timedelta(hours=1))
    v = res.events.filter(pl.col("user_id") == "257597")
    # the 40-minute pause now stays inside one session
    assert v["session_id"].to_list() == ["257597-1"] * 3


@pytest.mark.parametrize("header", [True, False])
def test_taobao_with_and_without_header(tmp_path, header):
    text = TAOBAO if header else TAOBAO.split("\n", 1)[1]
    res = load_events(write(tmp_path, "UserBehavior.csv", text))
    ev = check_canonical(res)
    assert res.report.format == "taobao"
    assert res.report.ts_unit == "s"
    assert ev["event_type"].to_list() == [
        "view_item",
        "view_item",
        "add_to_cart",
        "add_to_wishlist",
        "purchase",
    ]
    assert ev["ts"][0] == utc(2017, 11, 24, 17, 21, 10)  # 1511544070 s
    assert ev["category"][0] == "2520377"
    # user 1: +600 s, +1800 s (exactly 30 min: same session), +1 s
    assert ev["session_id"].to_list() == ["1-1", "1-1", "1-1", "1-1", "2-1"]
    if not header:
        assert any("no header row" in w for w in res.report.warnings)


def test_ga4_flattened(tmp_path):
    res = load_events(write(tmp_path, "ga4.csv", GA4))
    ev = check_canonical(res)
    rep = res.report
    assert rep.format == "ga4" and rep.ts_unit == "us"
    assert rep.mapping["user_id"] == "user_pseudo_id"
    assert rep.mapping["session_id"] == "event_params.ga_session_id"
    a = ev.filter(pl.col("user_id") == "111.222")
    assert a["event_type"].to_list() == [
        "other",
        "page_view",
        "view_item",
        "add_to_cart",
        "purchase",
    ]
    assert a["ts"][0] == utc(2024, 1, 5, 12, 0, 0)  # 1704456000000000 us
    assert a["ts"][1] == utc(2024, 1, 5, 12, 0, 0, 100000)
    # ga_session_id is per user: both users have 1704456000, and must not share a session
    assert a["session_id"].unique().to_list() == ["111.222:1704456000"]
    b = ev.filter(pl.col("user_id") == "333.444")
    assert b["session_id"].to_list() == ["333.444:1704456000"]
    buy = a.filter(pl.col("event_type") == "purchase").row(0, named=True)
    assert (
        buy["product_id"],
        buy["category"],
        buy["brand"],
        buy["price"],
        buy["quantity"],
        buy["order_id"],
    ) == ("SKU_1", "Shoes", "Acme", 59.9, 1, "T-1001")
    # GA4's own user_id column is kept, renamed so it does not clash with the canonical one
    assert buy["raw_user_id"] == "member-7"
    assert buy["device.category"] == "mobile"


def test_mixpanel(tmp_path):
    res = load_events(write(tmp_path, "mixpanel.csv", MIXPANEL))
    ev = check_canonical(res)
    assert res.report.format == "mixpanel" and res.report.ts_unit == "s"
    alice = ev.filter(pl.col("user_id") == "alice")
    assert alice["event_type"].to_list() == ["view_item", "add_to_cart", "purchase"]
    assert alice["ts"][0] == utc(2024, 1, 1)
    assert alice["$browser"][0] == "Chrome"
    assert ev.schema["price"] == pl.Float64 and alice["price"][2] == 21.0
    assert alice["session_id"].unique().to_list() == ["alice-1"]  # 5 minutes in all


def test_amplitude(tmp_path):
    res = load_events(write(tmp_path, "amplitude.csv", AMPLITUDE))
    ev = check_canonical(res)
    rep = res.report
    assert rep.format == "amplitude"
    # row 2 has no user_id: it takes device_id
    assert ev.filter(pl.col("user_id") == "dev-1")["event"].to_list() == ["Product Added"]
    assert any("device_id" in n for n in rep.notes)
    u1 = ev.filter(pl.col("user_id") == "u1")
    assert u1["ts"][0] == utc(2024, 1, 1, 12, 0, 0, 123456)
    assert u1["event_type"].to_list() == ["view_item", "begin_checkout"]
    # session_id is per user in Amplitude: prefixed; -1 means "no session": gap session
    assert u1["session_id"].unique().to_list() == ["u1:1704110400000"]
    u2 = ev.filter(pl.col("user_id") == "u2")
    assert u2["session_id"].to_list() == ["u2:1704110400000", "u2-2"]
    assert any("naive" in w or "no time zone" in w for w in rep.warnings)


def test_segment_jsonl(tmp_path):
    res = load_events(write(tmp_path, "segment.jsonl", SEGMENT_JSONL))
    ev = check_canonical(res)
    rep = res.report
    assert rep.format == "segment"
    assert rep.file_kind.startswith("JSON Lines")
    # the page call has no event and no userId: event from type, user from anonymousId
    assert ev["user_id"].to_list() == ["anon-1", "user-9", "user-9"]
    assert ev["event_type"].to_list() == ["page_view", "view_item", "purchase"]
    view = ev.row(1, named=True)
    assert (
        view["product_id"],
        view["category"],
        view["brand"],
        view["price"],
        view["quantity"],
    ) == ("SKU-7", "Games", "Zed", 19.99, 1)
    # +01:00 offset converted to UTC
    assert ev["ts"][2] == utc(2024, 2, 1, 10, 5, 0)
    assert ev["order_id"][2] == "O-55"
    assert "properties.revenue" in ev.columns


def test_online_retail_order_lines(tmp_path):
    res = load_events(write(tmp_path, "Online Retail.csv", ONLINE_RETAIL))
    ev = check_canonical(res)
    rep = res.report
    assert rep.format == "order_lines"
    assert rep.rows_dropped["missing user"] == 1  # invoice 536380 has no CustomerID
    # "12/1/2010 8:26" ... "12/7/2010": month-first spans 6 days, day-first 6 months
    assert ev["ts"].min() == utc(2010, 12, 1, 8, 26)
    assert ev["ts"].max() == utc(2010, 12, 7, 9, 41)
    assert any("month-first" in w for w in rep.warnings)
    assert sorted(ev["user_id"].unique()) == ["14527", "15311", "17850"]  # 17850.0 -> 17850
    c = ev.filter(pl.col("order_id") == "C536379").row(0, named=True)
    assert c["event"] == "refund" and c["event_type"] == "other" and c["quantity"] == -1
    bought = ev.filter(pl.col("event") == "purchase")
    assert bought["event_type"].unique().to_list() == ["purchase"]
    assert bought.height == 4
    assert bought.filter(pl.col("product_id") == "85123A")["price"].to_list() == [2.55]
    assert ev["Description"][0] is not None


def test_order_lines_day_first(tmp_path):
    text = (
        "Invoice,StockCode,Quantity,InvoiceDate,Price,Customer ID\n"
        "1,A,1,13/01/2011 10:00,1.0,7\n"
        "2,B,2,02/01/2011 10:00,1.0,7\n"
    )
    res = load_events(write(tmp_path, "orders.csv", text))
    assert res.report.format == "order_lines"
    assert res.events["ts"].to_list() == [utc(2011, 1, 13, 10), utc(2011, 1, 2, 10)]


def test_pathlens_sample_format(tmp_path):
    res = load_events(write(tmp_path, "events.csv", PATHLENS))
    ev = check_canonical(res)
    assert res.report.format == "pathlens"
    assert ev["session_id"].unique().to_list() == ["U000001-S1"]
    assert ev["ts"][1] == utc(2026, 6, 14, 22, 44, 19, 541000)
    assert ev["event_type"].to_list() == ["page_view", "view_item", "add_to_cart", "purchase"]
    assert ev.columns[-3:] == ["device", "country", "channel"]
    assert not any("time zone" in w for w in res.report.warnings)  # Z is a zone


def test_bundled_sample_head_loads():
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "sample_data" / "events.csv.gz"
    if not path.is_file():
        pytest.skip("bundled sample not generated")
    with gzip.open(path, "rt") as fh:
        head = "".join(next(fh) for _ in range(3001))
    res = load_events(upload(head, "events.csv"))
    ev = check_canonical(res)
    assert res.report.format == "pathlens"
    assert res.report.rows_read == 3000
    assert ev.schema["price"] == pl.Float64


def test_generic_synonyms(tmp_path):
    text = (
        "Customer,Action,Created At,Item,Amount,Plan\n"
        "c1,view,2024-03-01 10:00:00,I1,5,gold\n"
        "c1,buy,2024-03-01 10:05:00,I1,5,gold\n"
    )
    res = load_events(write(tmp_path, "x.csv", text))
    ev = check_canonical(res)
    assert res.report.format == "generic"
    assert res.report.mapping == {
        "user_id": "Customer",
        "ts": "Created At",
        "event": "Action",
        "product_id": "Item",
    }
    assert ev["event_type"].to_list() == ["view_item", "purchase"]
    assert ev["Amount"].dtype == pl.Int64 and ev["Plan"][0] == "gold"


def test_mapping_overrides_detection(tmp_path):
    text = (
        "who,when,what,user_id\n"
        "alice,2024-03-01T10:00:00Z,view,wrong\n"
        "bob,2024-03-01T11:00:00Z,cart,wrong\n"
    )
    res = load_events(
        write(tmp_path, "x.csv", text), mapping={"user_id": "who", "ts": "when", "event": "what"}
    )
    ev = check_canonical(res)
    assert ev["user_id"].to_list() == ["alice", "bob"]
    assert res.report.mapping["user_id"] == "who"
    assert "raw_user_id" in ev.columns  # the unmapped user_id column stays a property


def test_mapping_can_drop_an_optional_column(tmp_path):
    res = load_events(write(tmp_path, "2019-Oct.csv", REES46), mapping={"brand": None})
    assert res.events["brand"].null_count() == res.events.height
    assert "brand" not in res.report.mapping
    assert res.events["raw_brand"][0] == "shiseido"


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (
            "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,"
            "user_session",
            "rees46",
        ),
        ("timestamp,visitorid,event,itemid,transactionid", "retailrocket"),
        ("user_id,item_id,category_id,behavior_type,timestamp", "taobao"),
        ("event_date,event_timestamp,event_name,user_pseudo_id,event_params_ga_session_id", "ga4"),
        ("event,distinct_id,time,$browser", "mixpanel"),
        ("event,properties.distinct_id,properties.time", "mixpanel"),
        ("event_type,event_time,user_id,device_id,session_id", "amplitude"),
        ("event,userId,anonymousId,timestamp,messageId,properties.price", "segment"),
        (
            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country",
            "order_lines",
        ),
        (
            "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country",
            "order_lines",
        ),
        ("event_time,event_name,user_id,session_id,product_id", "pathlens"),
        ("user,ts,event", "generic"),
        ("a,b,c", "unknown"),
    ],
)
def test_detect_format(columns, expected):
    assert detect_format(columns.split(",")) == expected


def test_suggest_mapping_uses_each_column_once():
    cols = ["user_id", "item_id", "category_id", "behavior_type", "timestamp"]
    m = suggest_mapping(cols)
    assert m == {
        "user_id": "user_id",
        "ts": "timestamp",
        "event": "behavior_type",
        "product_id": "item_id",
        "category": "category_id",
    }
    assert len(set(m.values())) == len(m)
