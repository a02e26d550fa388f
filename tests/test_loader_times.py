"""Timestamps that are wrong in hostile ways: epochs mixing units, huge negatives, placeholder
dates, and stray events months outside the bulk of the data."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from fixtures_loader import upload
from hypothesis import given, settings
from hypothesis import strategies as st

from core import LoadError, ParameterError, load_events
from core.loader import parse_timestamps, plausible_range, stray_bounds

T0 = datetime(2024, 1, 31, 12, 0, 0, tzinfo=UTC)  # 1706702400 s


def test_epochs_mixing_seconds_and_milliseconds_read_per_value():
    text = (
        "user_id,timestamp,event\n"
        "u1,1706702400,view\n"  # 1 s  -> 12:00:00
        "u1,1706702460000,cart\n"  # 2 ms -> 12:01:00
        "u2,1706702520,view\n"  # 3 s  -> 12:02:00
        "u2,-62135596800000,view\n"  # 4 ms -> 0001-01-01: implausible
        "u3,-9223372036854775808,view\n"  # 5 ns -> 1677: implausible
        "u3,99999999999999999999,view\n"  # 6 beyond 64 bits: unparseable
        "u4,1706702580000000,purchase\n"  # 7 us -> 12:03:00
    )
    res = load_events(upload(text))
    rep = res.report
    assert rep.rows_read == 7 and rep.rows_kept == 4
    assert rep.rows_dropped["implausible timestamp"] == 2
    assert rep.rows_dropped["unparseable timestamp"] == 1
    assert rep.ts_units == {"s": 2, "ms": 1, "us": 1}
    got = dict(zip(res.events["event"], res.events["ts"].to_list(), strict=False))
    assert res.events["ts"].to_list() == [
        T0,
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=2),
        T0 + timedelta(minutes=3),
    ], got
    warnings = " | ".join(rep.warnings)
    assert "mix units" in warnings
    assert "Dropped 2 rows with an implausible timestamp" in warnings
    assert "data rows 4 ('-62135596800000'), 5" in warnings
    assert any("mixed units" in line for line in rep.summary_lines())


def test_parse_timestamps_reads_each_epoch_in_its_own_unit():
    out, _ = parse_timestamps(pl.Series("t", [1706702400, 1706702460000, 1706702520000000]))
    assert out.to_list() == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    floats, _ = parse_timestamps(pl.Series("t", [1706702400.5, 1706702460500.0]))
    assert floats.to_list() == [
        T0 + timedelta(milliseconds=500),
        T0 + timedelta(minutes=1, milliseconds=500),
    ]


def test_every_kept_time_converts_to_python():
    # year 55970 (ms read as s) and years 1 / 9999 used to be stored and break every page
    text = (
        "user_id,timestamp,event\n"
        + "".join(f"u{i},{1706702400 + i * 60},view\n" for i in range(30))
        + "x,1706702400000000000000,view\n"  # unparseable
        + "y,1704067200000,view\n"  # ms: 2024-01-01, fine
    )
    res = load_events(upload(text))
    years = {t.year for t in res.events["ts"].to_list()}
    assert years == {2024}
    start, end = plausible_range()
    assert res.events["ts"].min() >= start and res.events["ts"].max() < end


@pytest.mark.parametrize(
    "value", ["0001-01-01 00:00:00", "1899-12-30 00:00:00", "9999-12-31 23:59:59"]
)
def test_placeholder_dates_are_implausible(value):
    rows = "".join(f"u{i},2024-03-0{1 + i % 9} 10:00:00,view\n" for i in range(10))
    res = load_events(upload(f"user_id,timestamp,event\n{rows}z,{value},view\n"))
    assert res.report.rows_dropped["implausible timestamp"] == 1
    assert res.report.rows_kept == 10


def test_typed_datetimes_far_in_the_future_are_dropped(tmp_path):
    us = [int(T0.timestamp() * 1e6), 1_704_067_200_000_000, 1_704_067_200_000_000 * 1000]
    df = pl.DataFrame({"user_id": ["a", "b", "c"], "event": ["view"] * 3}).with_columns(
        pl.Series("ts", us).cast(pl.Datetime("us"))  # the last one is in the year ~55970
    )
    buf = io.BytesIO()
    df.write_parquet(buf)
    buf.name = "far.parquet"
    res = load_events(buf)
    assert res.report.rows_dropped["implausible timestamp"] == 1
    assert [t.year for t in res.events["ts"].to_list()] == [2024, 2024]


def test_mostly_implausible_times_are_an_error_naming_the_column():
    text = "user_id,timestamp,event\n" + "".join(f"u{i},{i},view\n" for i in range(1, 9))
    with pytest.raises(LoadError) as info:
        load_events(upload(text))
    assert info.value.code == "implausible_timestamps"
    assert "'timestamp'" in str(info.value) and "8 of 8" in str(info.value)


def test_plausible_range_ends_with_next_year():
    start, end = plausible_range(datetime(2026, 6, 1, tzinfo=UTC))
    assert start == datetime(1990, 1, 1, tzinfo=UTC)
    assert end == datetime(2028, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------- stray events


def _stray_csv() -> str:
    # 100 events from 2024-03-01, one every 7 hours (29 days), plus one event in 2021 and
    # one in December 2024.
    base = datetime(2024, 3, 1, tzinfo=UTC)
    rows = [f"u{i % 10},{(base + timedelta(hours=7 * i)).isoformat()},view" for i in range(100)]
    rows.insert(40, "u3,2021-01-01T00:00:00+00:00,view")  # data row 41
    rows.append("u4,2024-12-01T00:00:00+00:00,cart")  # data row 102
    return "user_id,timestamp,event\n" + "\n".join(rows) + "\n"


def test_stray_events_are_flagged_and_kept_by_default():
    res = load_events(upload(_stray_csv()))
    rep = res.report
    # n = 102, k = ceil(102 / 1000) = 1: the bulk runs from the 2nd earliest time
    # (2024-03-01 00:00) to the 2nd latest (2024-03-01 + 99 * 7 h = 2024-03-29 21:00);
    # 2021-01-01 is before 2024-03-01 - 60 days, 2024-12-01 after 2024-03-29 + 60 days.
    assert rep.bulk_start == datetime(2024, 3, 1, tzinfo=UTC)
    assert rep.bulk_end == datetime(2024, 3, 29, 21, tzinfo=UTC)
    assert rep.stray_rows == 2 and not rep.stray_dropped
    assert rep.rows_kept == 102 and rep.rows_dropped["stray timestamp"] == 0
    w = next(w for w in rep.warnings if "stray" in w)
    assert "1 before 2024-03-01 and 1 after 2024-03-29" in w and "drop_stray=True" in w
    assert "41 (2021-01-01 00:00)" in w and "102 (2024-12-01 00:00)" in w
    assert rep.to_dict()["stray_rows"] == 2


def test_stray_events_dropped_on_request_are_counted():
    res = load_events(upload(_stray_csv()), drop_stray=True)
    rep = res.report
    assert rep.stray_dropped and rep.rows_dropped["stray timestamp"] == 2
    assert rep.rows_kept == 100 == res.events.height
    assert rep.rows_read == rep.rows_kept + rep.rows_dropped_total
    assert res.events["ts"].min() == datetime(2024, 3, 1, tzinfo=UTC)


def test_evenly_spread_year_has_no_stray_events():
    base = datetime(2023, 1, 1, tzinfo=UTC)
    rows = [f"u{i % 7},{(base + timedelta(days=i)).isoformat()},view" for i in range(365)]
    res = load_events(upload("user_id,timestamp,event\n" + "\n".join(rows) + "\n"))
    assert res.report.stray_rows == 0
    assert not any("stray" in w for w in res.report.warnings)


def test_drop_stray_must_be_a_bool():
    with pytest.raises(ParameterError, match="drop_stray"):
        load_events(upload(_stray_csv()), drop_stray="yes")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=20, max_size=300))
def test_stray_bounds_match_order_statistics(minutes):
    ts = pl.Series([T0 + timedelta(minutes=m) for m in minutes])
    lo, hi = stray_bounds(ts)
    ordered = sorted(minutes)
    k = max(1, -(-len(minutes) // 1000))
    assert lo == T0 + timedelta(minutes=ordered[k])
    assert hi == T0 + timedelta(minutes=ordered[-1 - k])
    stray = [m for m in minutes if T0 + timedelta(minutes=m) < lo - timedelta(days=60)]
    assert len(stray) <= k  # at most k events can lie before the k-th earliest
