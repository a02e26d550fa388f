"""Hostile input: compressed files that expand without limit ("zip bombs").

A small upload must not be able to fill the server's memory: decompression streams into a
temporary file and stops at a cap (``max_expanded_bytes`` / ``PATHLENS_MAX_EXPANDED_MB``).
"""

from __future__ import annotations

import bz2
import gc
import gzip
import io
import lzma
import tracemalloc
import zipfile
import zlib

import pytest
from fixtures_loader import TAOBAO

from core import LoadError, ParameterError, load_events
from core.io import MAX_EXPANDED_ENV, open_source, read_text

MiB = 1024**2
HEADER = b"user_id,ts,event\n"
LINE = b"u1,1700000000,view\n"


def gzip_stream(total: int, *, line: bytes = LINE) -> bytes:
    """gzip of a CSV of about ``total`` bytes, compressed chunk by chunk (never held whole)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip container
    out = [comp.compress(HEADER)]
    block = line * (MiB // len(line))
    for _ in range(total // len(block)):
        out.append(comp.compress(block))
    out.append(comp.flush())
    return b"".join(out)


def zip_stream(total: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("events.csv", "w", force_zip64=True) as member:
            member.write(HEADER)
            block = LINE * (MiB // len(LINE))
            for _ in range(total // len(block)):
                member.write(block)
    return buf.getvalue()


def peak_python_bytes(fn) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def test_gzip_bomb_stops_at_the_cap_without_holding_the_expansion():
    bomb = gzip_stream(200 * MiB)
    assert len(bomb) < 2 * MiB  # a small upload...

    def load():
        with pytest.raises(LoadError) as info:
            load_events(io.BytesIO(bomb), max_expanded_bytes=8 * MiB)
        err = info.value
        assert err.code == "too_large"
        msg = str(err)
        # how big at least, the cap, and how to raise it
        assert "expands to at least" in msg and "8.0 MiB" in msg
        assert MAX_EXPANDED_ENV in msg

    peak = peak_python_bytes(load)
    # ...that expands to 200 MiB: the old loader held it all (and a decoded copy); now only
    # the compressed bytes and a few 1 MiB chunks are in Python's memory at once
    assert peak < 16 * MiB, f"peak Python allocation {peak / MiB:.1f} MiB"


def test_gzip_bomb_reports_the_full_size_when_it_ends_soon_after_the_cap():
    bomb = gzip_stream(12 * MiB)
    with pytest.raises(LoadError, match=r"expands to 1[12]\.\d MiB when decompressed"):
        open_source(bomb, max_expanded_bytes=4 * MiB)


def test_zip_bomb_is_refused_from_its_declared_size(tmp_path):
    bomb = zip_stream(64 * MiB)
    path = tmp_path / "bomb.zip"
    path.write_bytes(bomb)
    with pytest.raises(LoadError) as info:
        load_events(path, max_expanded_bytes=4 * MiB)
    assert info.value.code == "too_large"
    assert "'events.csv'" in str(info.value) and "4.0 MiB" in str(info.value)


def test_cap_from_the_environment(monkeypatch):
    bomb = gzip_stream(16 * MiB)
    monkeypatch.setenv(MAX_EXPANDED_ENV, "2")
    with pytest.raises(LoadError, match=r"more than the 2\.0 MiB"):
        load_events(io.BytesIO(bomb))
    monkeypatch.setenv(MAX_EXPANDED_ENV, "lots")
    with pytest.raises(ParameterError, match=MAX_EXPANDED_ENV):
        load_events(io.BytesIO(bomb))


@pytest.mark.parametrize("bad", [0, -5, 1.5, "10"])
def test_bad_cap_parameter(bad):
    with pytest.raises(ParameterError, match="max_expanded_bytes"):
        load_events(io.BytesIO(gzip.compress(TAOBAO.encode())), max_expanded_bytes=bad)


def test_expansion_under_the_cap_is_scanned_from_disk_and_removed_after():
    data = gzip_stream(24 * MiB)
    holder = {}

    def opened():
        holder["raw"] = open_source(io.BytesIO(data), max_expanded_bytes=64 * MiB)

    peak = peak_python_bytes(opened)
    raw = holder.pop("raw")
    assert raw.data is None and raw.path is not None and raw.compression == "gzip"
    assert peak < 8 * MiB, f"peak Python allocation {peak / MiB:.1f} MiB"
    path = raw.path
    assert path.stat().st_size == len(HEADER) + 24 * MiB // MiB * (MiB // len(LINE)) * len(LINE)
    del raw
    gc.collect()
    assert not path.exists()  # the temporary expansion is deleted once unused


@pytest.mark.parametrize(
    "compress,kind",
    [(gzip.compress, "gzip"), (bz2.compress, "bz2"), (lzma.compress, "xz")],
)
def test_stream_compressions_load(compress, kind):
    res = load_events(io.BytesIO(compress(TAOBAO.encode())))
    assert res.report.rows_read == 5 and kind in res.report.file_kind


def test_gzip_inside_zip_and_latin1_inside_gzip():
    inner = gzip.compress(TAOBAO.encode())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("export.csv.gz", inner)
    res = load_events(io.BytesIO(buf.getvalue()))
    assert res.report.rows_read == 5
    latin = "user_id,ts,event,brand\nu1,1700000000,view,Caf\xe9\n".encode("latin-1")
    res = load_events(io.BytesIO(gzip.compress(latin)))
    assert res.events["brand"].to_list() == ["Café"]


def test_truncated_gzip_is_a_load_error():
    data = gzip.compress(TAOBAO.encode() * 200)
    with pytest.raises(LoadError) as info:
        load_events(io.BytesIO(data[: len(data) // 2]))
    assert info.value.code == "bad_archive"


def test_read_text_respects_the_cap():
    with pytest.raises(LoadError, match="expands to"):
        read_text(io.BytesIO(gzip_stream(8 * MiB)), max_expanded_bytes=1 * MiB)


# ---------------------------------------------------------------------------- found by fuzzing


def test_bom_then_a_latin1_byte_keeps_the_column_names():
    # UTF-8 BOM, then a byte that is not UTF-8: the fallback used to read the BOM as "ï»¿",
    # gluing it to the first column name, and the load failed with Polars' ColumnNotFoundError
    data = b"\xef\xbb\xbfuser_id,timestamp,event,note\nu1,1706702400,view,caf\xe9\n"
    res = load_events(io.BytesIO(data))
    assert res.report.mapping["user_id"] == "user_id"
    assert res.events["note"].to_list() == ["café"]


def test_ragged_line_with_a_huge_field_is_a_load_error():
    # Python's csv module refuses fields over 131,072 characters while naming the bad line
    text = "user_id,timestamp,event\nu1,1706702400,view\nu2,1706702460," + "x" * 140_000 + ",y\n"
    with pytest.raises(LoadError) as info:
        load_events(io.BytesIO(text.encode()))
    assert info.value.code == "ragged_lines"


def test_unbalanced_quote_is_explained():
    text = 'user_id|timestamp|event\n"unterminated|1706702400|a"b\nu2|1706702460|view\n'
    with pytest.raises(LoadError) as info:
        load_events(io.BytesIO(text.encode()))
    assert info.value.code == "bad_quoting"
    assert "unbalanced double quotes" in str(info.value) and "'user_id'" in str(info.value)
