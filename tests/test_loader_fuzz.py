"""Fuzzing the loader with random CSV files: whatever the bytes, ``load_events`` either returns
a result whose accounting adds up, or raises a typed :class:`core.errors.PathLensError`.

The CSVs vary encodings (UTF-8 with and without BOM, UTF-16, Latin-1), separators, broken
quoting, huge fields, duplicate and empty headers, blank cells and mixed timestamp formats
(ISO, day-first, epochs in several units, garbage, huge numbers).
"""

from __future__ import annotations

import gzip
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import load_events
from core.errors import PathLensError

_HEADER_NAMES = st.sampled_from(
    ["user_id", "timestamp", "event", "price", "", "user_id", "ts", "Event Type", "a;b", '"q"']
)
_GOOD_TIMES = st.sampled_from(
    [
        "2024-01-31T12:00:00Z",
        "2024-01-31 12:05:00",
        "31/01/2024 12:10",
        "1706702400",
        "1706702460000",
        "1706702520000000",
        "1706702400.5",
    ]
)
_BAD_TIMES = st.sampled_from(
    [
        "01/31/2024 12:00",
        "-62135596800000",
        "99999999999999999999",
        "0",
        "",
        "NaN",
        "inf",
        "20240131",
        "9999-12-31 23:59:59",
        "garbage",
        "2024-02-30 10:00:00",
    ]
)
_TIMES = st.one_of(
    _GOOD_TIMES, _GOOD_TIMES, _GOOD_TIMES, _BAD_TIMES, st.integers(-(2**63), 2**63 - 1).map(str)
)
_WORDS = st.sampled_from(["u1", "u2", " u3 ", "", "view", "cart", "purchase", "3,50", "1.5", "NA"])
#: Rarer cells, planted a few times per file.
_ODD = st.one_of(
    st.text(max_size=8),
    st.just("x" * 140_000),  # a huge field: beyond the sniffed head and the csv module's limit
    st.just('"unterminated'),
    st.just('a"b'),
    st.just("tab\tsemi;pipe|comma,"),
    st.just("line\nbreak"),
)


@st.composite
def csv_files(draw) -> tuple[bytes, str]:
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    header = draw(st.lists(_HEADER_NAMES, min_size=1, max_size=6))
    if draw(st.integers(0, 3)):  # usually a loadable core of columns
        header = ["user_id", "timestamp", "event", *header[:3]]
    grid = []
    n_rows = draw(st.integers(0, 12))
    ragged_row = draw(st.integers(0, 5 * max(1, n_rows)))  # a ragged line in 1 file of 6
    for r in range(n_rows):
        width = len(header) + (draw(st.sampled_from([-1, 1])) if r == ragged_row else 0)
        cells = []
        for i in range(max(0, width)):
            name = header[i] if i < len(header) else ""
            cells.append(draw(_TIMES if name in ("timestamp", "ts") else _WORDS))
        grid.append(cells)
    cells_total = sum(len(r) for r in grid)
    for _ in range(draw(st.integers(0, 2)) if cells_total else 0):
        r = draw(st.integers(0, len(grid) - 1))
        if grid[r]:
            grid[r][draw(st.integers(0, len(grid[r]) - 1))] = draw(_ODD)
    rows = []
    for cells in grid:
        quote = draw(st.integers(0, 4)) == 0
        rows.append(sep.join(f'"{c}"' if quote else c for c in cells))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join([sep.join(header), *rows]) + draw(st.sampled_from(["", newline]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 5)) == 0:
        data = data + draw(st.binary(max_size=16))  # trailing junk bytes
    if draw(st.integers(0, 5)) == 0:
        data = gzip.compress(data)
    return data, draw(st.sampled_from(["events.csv", "export.tsv", "upload"]))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(csv_files())
def test_loader_never_raises_an_untyped_error_and_accounts_for_every_row(case):
    data, name = case
    buf = io.BytesIO(data)
    buf.name = name
    try:
        res = load_events(buf)
    except PathLensError as e:
        assert str(e)  # a message for the page
        return
    rep = res.report
    assert rep.rows_read == rep.rows_kept + sum(rep.rows_dropped.values())
    assert rep.rows_kept == res.events.height
    assert all(v >= 0 for v in rep.rows_dropped.values())
    res.events["ts"].to_list()  # every stored time converts (no OverflowError on a page)
