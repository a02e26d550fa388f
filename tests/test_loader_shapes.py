"""Export shapes that lack a column the canonical table needs: item-view logs without an event
column (Diginetica) and till transactions without a customer (a bakery). Both load with no
mapping given, and the mapping options that make them work can be set by hand on other files.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fixtures_loader import ITEM_VIEWS, TILL_LINES, upload

from core import ParameterError, SchemaError, load_events
from core.formats import detect_format, suggest_mapping, suggest_options

DAY = datetime(2016, 5, 9, tzinfo=UTC)


def test_item_view_log_is_detected():
    cols = ITEM_VIEWS.splitlines()[0].split(";")
    assert detect_format(cols) == "item_views"
    assert suggest_mapping(cols) == {
        "user_id": "userId",
        "session_id": "sessionId",
        "ts": "eventdate",
        "product_id": "itemId",
    }
    assert suggest_options(cols) == {
        "event_constant": "view_item",
        "ts_time": "timeframe",
        "ts_time_unit": "ms",
        "user_fallback": "sessionId",
    }
    # the spelling of the header too
    assert detect_format(["session_id", "user_id", "item_id", "timeframe", "eventdate"]) == (
        "item_views"
    )


def test_item_view_log_loads_with_no_mapping():
    res = load_events(upload(ITEM_VIEWS, "train-item-views.csv"))
    rep, ev = res.report, res.events
    assert rep.format == "item_views" and rep.rows_read == 8 and rep.rows_kept == 8
    assert set(ev["event"]) == {"view_item"} and set(ev["event_type"]) == {"view_item"}
    # anonymous ("NA") sessions are their own users; user 5357 keeps its id
    by_user = {
        u: [
            (s, t - DAY, p)
            for s, t, p in zip(g["session_id"], g["ts"], g["product_id"], strict=True)
        ]
        for (u,), g in ev.sort("user_id", "ts").group_by("user_id", maintain_order=True)
    }
    ms = lambda n: timedelta(milliseconds=n)  # noqa: E731
    assert by_user == {
        # day 2016-05-09 plus timeframe milliseconds, sorted by time within the user
        "sessionId:1": [
            ("1", ms(243569), "32118"),
            ("1", ms(526309), "81766"),
            ("1", ms(1031018), "31331"),
        ],
        "sessionId:2": [("2", ms(75848), "9654"), ("2", ms(1345062), "33043")],
        "5357": [
            ("3", ms(0), "37289"),
            ("3", ms(103020), "37289"),
            ("4", timedelta(days=1) + ms(41090), "8892"),
        ],
    }
    notes = " | ".join(rep.notes)
    assert "every row is a 'view_item' event" in notes
    assert "day in 'eventdate' plus the offset in 'timeframe' (milliseconds)" in notes
    assert "sessionId:<value>" in notes
    assert not any("00:00 UTC" in w for w in rep.warnings)  # the day is not the whole time
    assert rep.options["ts_time"] == "timeframe"


def test_till_lines_are_detected_and_load_with_no_mapping():
    cols = TILL_LINES.splitlines()[0].split(",")
    assert detect_format(cols) == "till_lines"
    res = load_events(upload(TILL_LINES, "BreadBasket_DMS.csv"))
    rep, ev = res.report, res.events
    assert rep.format == "till_lines"
    # 8 lines, none dropped: Transaction 2's two identical Scandinavian lines are two units
    assert rep.rows_read == 8 and rep.rows_kept == 8 and rep.rows_dropped_total == 0
    assert set(ev["event"]) == {"purchase"}
    assert ev["user_id"].to_list() == [f"Transaction:{t}" for t in "12233345"]
    assert ev["order_id"].to_list() == list("12233345")
    assert ev["ts"].to_list()[:2] == [
        datetime(2016, 10, 30, 9, 58, 11, tzinfo=UTC),
        datetime(2016, 10, 30, 10, 5, 34, tzinfo=UTC),
    ]
    # each transaction is one visit: gap sessions of a user who is the transaction
    assert ev.group_by("session_id").len().height == 5
    notes = " | ".join(rep.notes)
    assert "each 'Transaction' stands for its own user" in notes
    assert "1 lines repeat an earlier line exactly; they were kept" in notes
    assert "at the time of day in 'Time'" in notes


def test_options_by_hand_on_a_generic_file():
    # a file PathLens does not recognise: visit, day and seconds since midnight, no event
    text = (
        "visit,customer,day,secs,sku\n"
        "v1,,2024-02-01,3600,A\n"  # 01:00, anonymous -> visit:v1
        "v1,,2024-02-01,3660.5,B\n"  # 01:01:00.5
        "v2,c9,2024-02-02,0,A\n"
    )
    res = load_events(
        upload(text),
        mapping={
            "user_id": "customer",
            "session_id": "visit",
            "ts": "day",
            "product_id": "sku",
            "event_constant": "add_to_cart",
            "ts_time": "secs",
            "ts_time_unit": "s",
            "user_fallback": "visit",
        },
    )
    ev = res.events
    assert ev["user_id"].to_list() == ["visit:v1", "visit:v1", "c9"]  # file order
    assert ev["ts"].to_list() == [
        datetime(2024, 2, 1, 1, tzinfo=UTC),
        datetime(2024, 2, 1, 1, 1, 0, 500_000, tzinfo=UTC),
        datetime(2024, 2, 2, tzinfo=UTC),
    ]
    assert set(ev["event_type"]) == {"add_to_cart"}
    assert res.report.rows_kept == 3


def test_event_column_by_hand_overrides_the_constant():
    text = (
        ITEM_VIEWS.replace("eventdate\n", "eventdate;what\n", 1)
        .replace("2016-05-09\n", "2016-05-09;cart\n")
        .replace("2016-05-10\n", "2016-05-10;cart\n")
    )
    res = load_events(upload(text), mapping={"event": "what"})
    assert set(res.events["event"]) == {"cart"}


def test_missing_time_part_is_counted():
    text = TILL_LINES + "2016-10-31,,6,Bread\n2016-10-31,soon,7,Jam\n"
    res = load_events(upload(text))
    assert res.report.rows_dropped["missing timestamp"] == 1
    assert res.report.rows_dropped["unparseable timestamp"] == 1
    assert res.report.rows_read == res.report.rows_kept + res.report.rows_dropped_total


def test_user_nulls_count_as_missing():
    text = "user_id,timestamp,event\nNA,1706702400,view\nnull,1706702400,view\nu1,1706702400,view\n"
    res = load_events(upload(text))
    assert res.report.rows_dropped["missing user"] == 2
    assert res.events["user_id"].to_list() == ["u1"]


def test_bad_options_are_parameter_or_schema_errors():
    with pytest.raises(ParameterError, match="ts_time_unit"):
        load_events(upload(ITEM_VIEWS), mapping={"ts_time_unit": "hours"})
    with pytest.raises(SchemaError, match="'nope'"):
        load_events(upload(ITEM_VIEWS), mapping={"ts_time": "nope"})
    with pytest.raises(ParameterError, match="options"):
        load_events(upload(ITEM_VIEWS), mapping={"every_row": "view"})
