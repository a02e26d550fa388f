"""The real exports in ../shared/data load with no mapping, with the counts PROVENANCE.md gives.

Skipped when the folder is absent (a fresh clone).
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from core import load_events

pytestmark = pytest.mark.realdata


def test_rees46(shared_data):
    res = load_events(shared_data / "rees46_2019oct_head.csv")
    ev, rep = res.events, res.report
    assert rep.format == "rees46"
    assert rep.rows_read == 17_434
    # PROVENANCE: view 17,055, cart 165, purchase 214 in the raw rows. Five rows repeat an
    # earlier row exactly (4 views, 1 cart) and are dropped and counted:
    # 17,434 - 5 = 17,429 kept; view 17,051, cart 164, purchase 214.
    assert rep.rows_dropped == {
        "missing user": 0,
        "missing timestamp": 0,
        "unparseable timestamp": 0,
        "implausible timestamp": 0,
        "missing event name": 0,
        "duplicate row": 5,
        "stray timestamp": 0,
    }
    assert rep.rows_kept == 17_429
    counts = dict(ev.group_by("event").len().iter_rows())
    assert counts == {"view": 17_051, "cart": 164, "purchase": 214}
    assert dict(ev.group_by("event_type").len().iter_rows()) == {
        "view_item": 17_051,
        "add_to_cart": 164,
        "purchase": 214,
    }
    assert ev["user_id"].n_unique() == 4_504
    # 5,066 session ids; one of them is used by two users and is split in two (prefixed)
    assert ev["session_id"].n_unique() == 5_067
    assert any("several users" in w for w in rep.warnings)
    assert ev["ts"].min() == datetime(2019, 10, 1, 0, 0, 0, tzinfo=UTC)
    assert ev["ts"].max() < datetime(2019, 10, 1, 2, 51, tzinfo=UTC)
    assert ev["price"].null_count() == 0
    assert ev["category_id"].dtype == pl.String


def test_taobao(shared_data):
    res = load_events(shared_data / "taobao_userbehavior_users_a.csv")
    ev, rep = res.events, res.report
    assert rep.format == "taobao" and rep.ts_unit == "s"
    assert rep.rows_read == rep.rows_kept == 43_050
    assert sum(rep.rows_dropped.values()) == 0
    assert dict(ev.group_by("event_type").len().iter_rows()) == {
        "view_item": 38_704,
        "add_to_cart": 2_390,
        "add_to_wishlist": 1_052,
        "purchase": 904,
    }
    assert ev["user_id"].n_unique() == 407
    assert ev["price"].null_count() == ev.height  # no prices in this export: null, not invented
    # sessions from the 30-minute gap, numbered per user
    assert ev["session_id"].str.starts_with(ev["user_id"] + "-").all()
    # the bulk of the data is 2017-11-25 .. 2017-12-03 (UTC+8 shop clock)
    inside = ev.filter(
        pl.col("ts").is_between(
            datetime(2017, 11, 24, 16, tzinfo=UTC), datetime(2017, 12, 3, 16, tzinfo=UTC)
        )
    )
    assert inside.height / ev.height > 0.99


def test_online_retail(shared_data):
    res = load_events(shared_data / "online_retail_head10k.csv")
    ev, rep = res.events, res.report
    assert rep.format == "order_lines"
    assert rep.rows_read == 10_000
    # 255 lines repeat an earlier line of the same invoice exactly
    assert rep.rows_dropped["duplicate row"] == 255
    assert rep.rows_kept == 9_745
    assert ev["order_id"].n_unique() == 521
    assert ev["user_id"].n_unique() == 390
    assert ev["event_type"].unique().to_list() == ["purchase"]
    assert ev["ts"].min() == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)
    assert ev["ts"].max() < datetime(2010, 12, 8, tzinfo=UTC)
    assert not ev["user_id"].str.ends_with(".0").any()  # CustomerID 17850.0 -> 17850
    assert ev.schema["quantity"] == pl.Int64 and ev.schema["price"] == pl.Float64
    # Revenue is kept as a property and equals quantity x unit price
    diff = ev.select((pl.col("Revenue") - pl.col("quantity") * pl.col("price")).abs().max())
    assert diff.item() < 1e-6
