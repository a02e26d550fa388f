"""Reading files: encodings, separators, compression, Parquet, JSON, file-like objects, and
every kind of bad input with the message it must give."""

from __future__ import annotations

import bz2
import gzip
import io
import zipfile
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from fixtures_loader import REES46, TAOBAO, upload, write

from core import LoadError, ParameterError, SchemaError, load_events
from core.io import read_text
from core.loader import read_columns, read_raw

SMALL = (
    "user_id,ts,event,brand\n"
    "u1,2024-01-01T10:00:00Z,view,Café\n"
    "u1,2024-01-01T10:01:00Z,cart,Crème\n"
)


def events_of(source):
    res = load_events(source)
    return res, res.events


# ---------------------------------------------------------------------------- encodings


def test_utf8_with_bom(tmp_path):
    res, ev = events_of(write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + SMALL.encode()))
    assert res.report.mapping["user_id"] == "user_id"  # BOM not glued to the first name
    assert ev["brand"].to_list() == ["Café", "Crème"]
    assert res.report.warnings == []


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_latin1_fallback_warns(tmp_path, encoding):
    res, ev = events_of(write(tmp_path, "latin.csv", SMALL, encoding=encoding))
    assert ev["brand"].to_list() == ["Café", "Crème"]
    assert any("not valid UTF-8" in w and "line 2" in w for w in res.report.warnings)


def test_latin1_after_the_sniffed_head(tmp_path):
    # the first 64 KiB are ASCII: the bad byte is only met by the full read, which retries
    rows = [f"u{i % 50},{1_700_000_000 + i},view,plain" for i in range(5000)]
    text = "user_id,ts,event,brand\n" + "\n".join(rows) + "\nu1,1700009999,view,Caf\xe9\n"
    res, ev = events_of(write(tmp_path, "late.csv", text.encode("latin-1")))
    assert res.report.rows_read == 5001
    assert "Café" in ev["brand"].to_list()
    assert any("not valid UTF-8" in w and "line 5002" in w for w in res.report.warnings)


def test_windows_1252_euro_sign(tmp_path):
    text = "user_id,ts,event,note\nu1,1700000000,view,€5 off\n"
    _, ev = events_of(write(tmp_path, "w.csv", text, encoding="cp1252"))
    assert ev["note"][0] == "€5 off"


def test_utf16_excel_unicode_text(tmp_path):
    text = SMALL.replace(",", "\t")
    res, ev = events_of(write(tmp_path, "excel.txt", text, encoding="utf-16"))
    assert ev["brand"].to_list() == ["Café", "Crème"]
    assert "tab-separated" in res.report.file_kind


# ---------------------------------------------------------------------------- separators


@pytest.mark.parametrize(("sep", "name"), [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_separators(tmp_path, sep, name):
    res, ev = events_of(write(tmp_path, "x.csv", REES46.replace(",", sep)))
    assert res.report.format == "rees46"
    assert f"{name}-separated" in res.report.file_kind
    assert ev.height == 4


def test_excel_sep_line_and_decimal_comma(tmp_path):
    text = (
        "sep=;\n"
        "user_id;timestamp;event;price\n"
        "u1;2024-01-01 10:00:00;view;3,50\n"
        "u1;2024-01-01 10:01:00;cart;1.234,50\n"
    )
    _, ev = events_of(write(tmp_path, "excel.csv", text))
    assert ev["price"].to_list() == [3.5, 1234.5]


def test_quoted_separator_inside_values(tmp_path):
    text = 'user_id,ts,event,title\nu1,1700000000,view,"Shoes, red"\n'
    _, ev = events_of(write(tmp_path, "q.csv", text))
    assert ev["title"][0] == "Shoes, red"


def test_crlf_line_endings(tmp_path):
    _, ev = events_of(write(tmp_path, "crlf.csv", SMALL.replace("\n", "\r\n")))
    assert ev["brand"].to_list() == ["Café", "Crème"]


# ---------------------------------------------------------------------------- compression


def test_gzip_by_content_not_name(tmp_path):
    res, ev = events_of(write(tmp_path, "export.csv.gz", gzip.compress(REES46.encode())))
    assert res.report.format == "rees46" and "gzip" in res.report.file_kind
    assert res.report.source == "export.csv"
    res2, ev2 = events_of(write(tmp_path, "misnamed.csv", gzip.compress(REES46.encode())))
    assert ev2.equals(ev)


def test_bz2(tmp_path):
    res, ev = events_of(write(tmp_path, "x.csv.bz2", bz2.compress(REES46.encode())))
    assert ev.height == 4


def test_zip_single_and_several_members(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("export/UserBehavior.csv", TAOBAO)
    res, ev = events_of(write(tmp_path, "one.zip", buf.getvalue()))
    assert res.report.format == "taobao" and "zip" in res.report.file_kind
    assert res.report.source == "UserBehavior.csv"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README.md", "about")
        zf.writestr("__MACOSX/._x", "junk")
        zf.writestr("small.csv", "user_id,ts,event\nu,1700000000,view\n")
        zf.writestr("UserBehavior.csv", TAOBAO)
    res, ev = events_of(write(tmp_path, "many.zip", buf.getvalue()))
    assert res.report.format == "taobao" and ev.height == 5
    assert any("UserBehavior.csv" in w and "ignored" in w for w in res.report.warnings)


# ---------------------------------------------------------------------------- parquet, json


def test_parquet_with_native_types(tmp_path):
    df = pl.DataFrame(
        {
            "user_id": [7, 7, 8],
            "event_time": [
                datetime(2024, 1, 1, 10),
                datetime(2024, 1, 1, 10, 5),
                datetime(2024, 1, 2),
            ],
            "event_name": ["view_item", "purchase", "view_item"],
            "price": [1.5, 2.5, None],
            "is_member": [True, False, True],
        }
    )
    path = tmp_path / "events.parquet"
    df.write_parquet(path)
    res, ev = events_of(path)
    assert res.report.file_kind == "PARQUET" and res.report.ts_unit == "datetime"
    assert ev["user_id"].to_list() == ["7", "7", "8"]
    assert ev["ts"][0] == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert ev["is_member"].dtype == pl.Boolean
    assert any("no time zone" in w for w in res.report.warnings)
    # an aware column is converted, not relabelled
    df2 = df.with_columns(pl.col("event_time").dt.replace_time_zone("Europe/Berlin"))
    df2.write_parquet(path)
    _, ev2 = events_of(path)
    assert ev2["ts"][0] == datetime(2024, 1, 1, 9, tzinfo=UTC)  # 10:00 CET = 09:00 UTC


def test_parquet_upload_and_epoch_ints(tmp_path):
    df = pl.DataFrame(
        {
            "visitorid": [1, 1],
            "timestamp": [1433221332117, 1433221932117],
            "event": ["view", "addtocart"],
            "itemid": [5, 5],
        }
    )
    buf = io.BytesIO()
    df.write_parquet(buf)
    res, ev = events_of(upload(buf.getvalue(), "rr.parquet"))
    assert res.report.format == "retailrocket" and res.report.ts_unit == "ms"
    assert ev["ts"][0] == datetime(2015, 6, 2, 5, 2, 12, 117000, tzinfo=UTC)


def test_json_array(tmp_path):
    text = (
        '[{"event": "Product Viewed", "distinct_id": "a", "time": 1704067200},'
        ' {"event": "Order Completed", "distinct_id": "a", "time": 1704067300.5}]'
    )
    res, ev = events_of(write(tmp_path, "mp.json", text))
    assert res.report.format == "mixpanel"
    assert ev["ts"][1] == datetime(2024, 1, 1, 0, 1, 40, 500000, tzinfo=UTC)


def test_jsonl_mixpanel_raw_export_nested(tmp_path):
    text = (
        '{"event": "Product Added", "properties": {"time": 1704067200, "distinct_id": "x", '
        '"$insert_id": "i1", "price": 9.5}}\n'
        '{"event": "Order Completed", "properties": {"time": 1704067300, "distinct_id": "x", '
        '"$insert_id": "i2"}}\n'
    )
    res, ev = events_of(write(tmp_path, "export.json", text))
    assert res.report.format == "mixpanel"
    assert ev["event_type"].to_list() == ["add_to_cart", "purchase"]
    assert ev["price"][0] == 9.5
    assert "properties.$insert_id" in ev.columns


# ---------------------------------------------------------------------------- file-like


def test_file_like_bytes_and_path_agree(tmp_path):
    path = write(tmp_path, "2019-Oct.csv", REES46)
    a = load_events(path).events
    b = load_events(str(path)).events
    c = load_events(upload(REES46, "2019-Oct.csv")).events
    d = load_events(REES46.encode()).events
    for other in (b, c, d):
        assert other.equals(a)


def test_file_like_read_twice_and_text_handle(tmp_path):
    buf = upload(REES46, "x.csv")
    buf.read()  # already consumed once (Streamlit reruns)
    assert load_events(buf).events.height == 4
    path = write(tmp_path, "x.csv", REES46)
    with path.open("r", encoding="utf-8") as fh:
        assert load_events(fh).events.height == 4


# ---------------------------------------------------------------------------- read_raw


def test_read_raw_keeps_text_and_leading_zeros():
    df, warnings = read_raw(upload("id,zip\n007,01234\n"))
    assert df.to_dicts() == [{"id": "007", "zip": "01234"}]
    assert warnings == []


def test_read_raw_reports_encoding():
    df, warnings = read_raw(upload("a;b\nx;caf\xe9\n".encode("latin-1")))
    assert df["b"][0] == "café" and len(warnings) == 1


def test_read_columns_without_reading_everything(tmp_path):
    assert read_columns(upload(REES46)) == REES46.split("\n", 1)[0].split(",")
    assert read_columns(upload(TAOBAO.split("\n", 1)[1])) == [
        "user_id",
        "item_id",
        "category_id",
        "behavior_type",
        "timestamp",
    ]
    path = tmp_path / "x.parquet"
    pl.DataFrame({"a": [1], "b": ["x"]}).write_parquet(path)
    assert read_columns(path) == ["a", "b"]


def test_timestamps_blank_in_the_first_rows(tmp_path):
    rows = ["u1,,view"] * 5000 + ["u1,1700000000,view", "u2,1700000060,cart"]
    res = load_events(upload("user_id,timestamp,event\n" + "\n".join(rows) + "\n"))
    assert res.report.ts_unit == "s"
    assert res.report.rows_dropped["missing timestamp"] == 5000
    assert res.events.height == 2


def test_read_text_for_basket_files():
    text, name, warnings = read_text(upload(gzip.compress(b"milk,bread\nbeer\n"), "g.csv.gz"))
    assert text == "milk,bread\nbeer\n" and name == "g.csv" and warnings == []


# ---------------------------------------------------------------------------- bad input


def expect(exc, source, *needles, **kwargs):
    with pytest.raises(exc) as info:
        load_events(source, **kwargs)
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, msg
    return info.value


def test_missing_file(tmp_path):
    expect(LoadError, tmp_path / "nope.csv", "not found", "nope.csv")


def test_folder(tmp_path):
    expect(LoadError, tmp_path, "folder")


@pytest.mark.parametrize(("content", "needle"), [(b"", "0 bytes"), (b"\n \n\t\n", "blank")])
def test_empty_file(content, needle):
    e = expect(LoadError, upload(content, "e.csv"), "empty", needle, "e.csv")
    assert e.code == "empty_file"


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        bytes(range(256)) * 4,
        b"SQLite format 3\x00" + b"\x00" * 100,
    ],
)
def test_binary_file(content):
    e = expect(LoadError, upload(content, "b.csv"), "b.csv")
    assert e.code == "binary_file"


def test_excel_workbooks():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<x/>")
        zf.writestr("xl/workbook.xml", "<x/>")
    expect(LoadError, upload(buf.getvalue(), "book.xlsx"), "Excel", "CSV")
    expect(
        LoadError, upload(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old.xls"), "Excel"
    )


def test_header_only_gives_an_empty_result_with_reason():
    res = load_events(upload("user_id,timestamp,event,device\n", "h.csv"))
    assert res.events.height == 0
    assert "device" in res.events.columns
    assert res.reason is not None and "no data rows" in res.reason
    assert res.report.rows_read == 0


def test_unknown_format_names_columns():
    e = expect(
        LoadError,
        upload("alpha,beta\n1x,2y\n", "w.csv"),
        "unknown format",
        "'alpha'",
        "'beta'",
        "timestamp",
    )
    assert e.code == "unknown_format"


def test_missing_required_column_names_expected_and_found():
    e = expect(
        SchemaError,
        upload("user_id,event\nu1,view\n", "m.csv"),
        "['ts']",
        "timestamp",
        "found ['user_id', 'event']",
    )
    assert e.code == "missing_column"


def test_mapping_to_absent_column():
    expect(
        SchemaError, upload(REES46, "r.csv"), "'nope'", "event_time", mapping={"user_id": "nope"}
    )


def test_mapping_with_unknown_key():
    expect(
        ParameterError,
        upload(REES46, "r.csv"),
        "'userid'",
        "valid keys",
        mapping={"userid": "user_id"},
    )


@pytest.mark.parametrize("gap", [timedelta(0), timedelta(minutes=-5), 30])
def test_bad_session_gap(gap):
    expect(ParameterError, upload(REES46, "r.csv"), "session_gap", session_gap=gap)


def test_first_row_is_data():
    expect(
        LoadError,
        upload("u1,2024-01-01,view\nu2,2024-01-02,view\n", "n.csv"),
        "looks like data",
        "header",
    )


def test_ragged_line_names_the_line():
    text = "user_id,ts,event\nu1,1700000000,view\nu2,1700000001,view,extra,fields\n"
    expect(LoadError, upload(text, "r.csv"), "line 3", "5 fields", "header has 3")


def test_some_unparseable_timestamps_are_dropped_with_rows_and_values():
    text = (
        "user_id,timestamp,event\n"
        "u1,2024-01-01 10:00:00,view\n"
        "u1,yesterday,view\n"
        "u2,2024-01-01 11:00:00,view\n"
        "u2,2024-13-45 99:00:00,view\n"
        "u3,2024-01-02 11:00:00,view\n"
    )
    res = load_events(upload(text, "t.csv"))
    assert res.report.rows_dropped["unparseable timestamp"] == 2
    assert res.events.height == 3
    w = next(w for w in res.report.warnings if "cannot be read" in w)
    assert "2 ('yesterday')" in w and "4 ('2024-13-45 99:00:00')" in w


def test_mostly_unparseable_timestamps_raise_with_rows_and_values():
    text = "user_id,when,event\nu1,soon,view\nu1,later,view\nu2,2024-01-01 11:00:00,view\n"
    e = expect(
        LoadError,
        upload(text, "t.csv"),
        "2 of 3",
        "'when'",
        "1 ('soon')",
        "2 ('later')",
        mapping={"ts": "when"},
    )
    assert e.code == "bad_timestamps"


def test_rows_without_user_or_timestamp_or_event_and_duplicates_are_counted():
    text = (
        "user_id,timestamp,event\n"
        "u1,1700000000,view\n"  # 1 kept
        ",1700000001,view\n"  # 2 missing user
        "  ,1700000002,view\n"  # 3 blank user = missing
        "u1,,view\n"  # 4 missing timestamp
        "u1,1700000003,\n"  # 5 missing event
        "u1,1700000000,view\n"  # 6 duplicate of row 1
        "u2,1700000005,cart\n"
    )  # 7 kept
    res = load_events(upload(text, "d.csv"))
    assert res.report.rows_dropped == {
        "missing user": 2,
        "missing timestamp": 1,
        "unparseable timestamp": 0,
        "implausible timestamp": 0,
        "missing event name": 1,
        "duplicate row": 1,
        "stray timestamp": 0,
    }
    assert res.report.rows_kept == 2
    ws = " | ".join(res.report.warnings)
    assert "data rows 2, 3" in ws and "data row 4" in ws and "data row 5" in ws
    assert "data row 6" in ws


def test_no_user_at_all_raises():
    expect(
        LoadError,
        upload("user_id,timestamp,event\n,1700000000,view\n", "u.csv"),
        "no row has a user",
        "user_id",
    )


def test_bad_price_values_are_reported_not_silently_lost():
    text = "user_id,timestamp,event,price\nu1,1700000000,view,10\nu1,1700000001,view,n/a\n"
    res = load_events(upload(text, "p.csv"))
    assert res.events["price"].to_list() == [10.0, None]
    assert any("'price'" in w and "2 ('n/a')" in w for w in res.report.warnings)
