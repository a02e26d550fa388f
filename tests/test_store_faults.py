"""Store faults: corrupt files, read-only stores, full disks, crashes mid-write, the size cap.

The machine's tests may run as root, where ``chmod`` does not stop writes, so a read-only store
and a full disk are simulated by making ``os`` calls on paths under the store fail with the errno
the kernel would give (EROFS, ENOSPC).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest
from builders import make_events

import core.store as store_mod
from core.errors import DatasetCorrupt, DatasetNotFound, StoreWriteError
from core.store import SAMPLE_ID, DatasetStore, is_valid_id

ROOT = Path(__file__).resolve().parent.parent
EV = make_events({"u1": [("view_item", "00:00"), ("purchase", "00:05")],
                  "u2": [("view_item", "00:10")]})


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def small_sample(tmp_path, monkeypatch):
    """A tiny sample CSV in place of the 900k-event bundled one (same loader path)."""
    csv = tmp_path / "sample.csv"
    EV.write_csv(csv)
    monkeypatch.setattr(store_mod, "SAMPLE_CSV", csv)
    return csv


def _fail_under(monkeypatch, root: Path, code: int, *names: str) -> None:
    """Make the ``os`` functions ``names`` fail with ``code`` for paths under ``root``."""
    prefix = str(Path(root).resolve())
    for name in names:
        real = getattr(os, name)

        def fake(path, *args, _real=real, **kwargs):
            if isinstance(path, (str, os.PathLike)) and \
                    str(Path(path).resolve()).startswith(prefix):
                raise OSError(code, os.strerror(code), str(path))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(os, name, fake)


# -- ids --------------------------------------------------------------------------------------

def test_new_ids_have_128_bits_and_old_20_digit_ids_still_open(tmp_path):
    store = DatasetStore(tmp_path)
    new = store.put(EV, name="a.csv")
    assert len(new) == 32 and is_valid_id(new)
    # a dataset stored under an old 20-digit id (links made before the change) still opens
    old = "0123456789abcdef0123"
    for suffix in (".parquet", ".json"):
        os.link(tmp_path / f"{new}{suffix}", tmp_path / f"{old}{suffix}")
    assert is_valid_id(old) and store.exists(old)
    assert DatasetStore(tmp_path).scan(old).collect().height == 3
    for bad in ["0" * 21, "0" * 31, "0" * 33, "../" + "0" * 29, "0" * 31 + "/"]:
        assert not is_valid_id(bad)


# -- corrupt files ----------------------------------------------------------------------------

def test_truncated_parquet_is_a_typed_error_and_reupload_repairs_it(tmp_path):
    store = DatasetStore(tmp_path)
    ds = store.put(EV, name="a.csv")
    _truncate(tmp_path / f"{ds}.parquet")
    fresh = DatasetStore(tmp_path)  # a new process: the first read verifies the file
    with pytest.raises(DatasetCorrupt, match=ds) as e:
        fresh.scan(ds)
    assert "upload" in str(e.value) and "remove" in str(e.value).lower()
    # re-uploading the same data replaces the broken file (it used to be kept)
    assert fresh.put(EV, name="a.csv") == ds
    assert DatasetStore(tmp_path).scan(ds).collect().height == 3


def test_metadata_that_disagrees_with_the_file_is_corrupt(tmp_path):
    store = DatasetStore(tmp_path)
    ds = store.put(EV, name="a.csv")
    # another dataset's parquet (2 rows) under this id's metadata (3 rows)
    other = DatasetStore(tmp_path / "o").put(EV.head(2), name="b")
    (tmp_path / f"{ds}.parquet").write_bytes((tmp_path / "o" / f"{other}.parquet").read_bytes())
    with pytest.raises(DatasetCorrupt, match="2 rows.*3"):
        DatasetStore(tmp_path).scan(ds)
    (tmp_path / f"{ds}.json").write_text("{not json")
    with pytest.raises(DatasetCorrupt, match="metadata"):
        DatasetStore(tmp_path).meta(ds)


def test_a_corrupt_sample_is_rebuilt_from_the_csv(tmp_path, small_sample):
    store = DatasetStore(tmp_path)
    assert store.scan(SAMPLE_ID).collect().height == 3
    _truncate(tmp_path / "sample.parquet")
    assert DatasetStore(tmp_path).scan(SAMPLE_ID).collect().height == 3


@pytest.mark.parametrize("year", [55970, -1199])
def test_stored_timestamps_outside_the_calendar_are_refused_on_first_read(tmp_path, year):
    # written before the loader dropped such rows: the store must refuse it with a message
    # (pages used to raise OverflowError / ValueError converting these to Python datetimes)
    bad = EV.with_columns(
        pl.when(pl.col("user_id") == "u2")
        .then(pl.datetime(year, 1, 1, time_zone="UTC"))
        .otherwise(pl.col("ts")).alias("ts"))
    ds = DatasetStore(tmp_path).put(bad, name="old.csv")
    with pytest.raises(DatasetCorrupt, match=f"year {year}"):
        DatasetStore(tmp_path).scan(ds)


# -- read-only store, full disk -----------------------------------------------------------

def test_read_only_store_still_opens_datasets_and_the_sample(tmp_path, small_sample,
                                                             monkeypatch):
    ds = DatasetStore(tmp_path).put(EV, name="a.csv")
    _fail_under(monkeypatch, tmp_path, errno.EROFS, "open", "utime", "mkdir", "replace",
                "unlink")
    store = DatasetStore(tmp_path)
    assert store.scan(ds).collect().height == 3  # touching the metadata fails: ignored
    # the sample was never materialised here: it is built in a writable place instead
    assert store.scan(SAMPLE_ID).collect().height == 3
    assert store.meta(SAMPLE_ID).rows == 3
    with pytest.raises(StoreWriteError, match=f"store at {tmp_path}.*read-only"):
        store.put(EV.head(1), name="b.csv")


def test_read_only_store_that_does_not_exist_yet(tmp_path, small_sample, monkeypatch):
    root = tmp_path / "missing"
    _fail_under(monkeypatch, tmp_path, errno.EACCES, "open", "mkdir")
    store = DatasetStore(root)
    assert store.scan(SAMPLE_ID).collect().height == 3
    assert not store.exists("0" * 32)
    with pytest.raises(StoreWriteError, match="read-only"):
        store.put(EV, name="a.csv")


def test_full_disk_is_a_clear_message_and_leaves_nothing(tmp_path, monkeypatch):
    store = DatasetStore(tmp_path)
    real_write = os.write

    def full(fd, data):
        real_write(fd, bytes(data)[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StoreWriteError, match=f"disk .*store at {tmp_path}.* full"):
        store.put(EV, name="a.csv")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert store.list() == []


def test_a_short_write_is_caught_by_reading_the_file_back(tmp_path, monkeypatch):
    store = DatasetStore(tmp_path)
    real_write = os.write
    # a writer that silently drops the tail (what a failing device can do)
    monkeypatch.setattr(os, "write", lambda fd, data: (real_write(fd, bytes(data)[:-20]),
                                                       len(data))[1])
    with pytest.raises(StoreWriteError, match="could not be read back"):
        store.put(EV, name="a.csv")
    monkeypatch.undo()
    assert not list(tmp_path.glob("*.parquet"))


# -- crash mid-write, concurrent uploads, eviction ------------------------------------------

_CRASHING_WRITER = r"""
import os, sys, time
sys.path[:0] = [{root!r}, {tests!r}]
from builders import make_events
from core.store import DatasetStore
real_write = os.write
def slow(fd, data):
    real_write(fd, bytes(data)[:5])
    open({flag!r}, "w").close()
    time.sleep(600)
os.write = slow
DatasetStore({store!r}).put(make_events({{"u1": [("view_item", "00:00")]}}), name="x.csv")
"""


def test_a_killed_writer_leaves_no_dataset_and_the_next_start_cleans_up(tmp_path):
    root, flag = tmp_path / "store", tmp_path / "writing"
    code = _CRASHING_WRITER.format(root=str(ROOT), tests=str(ROOT / "tests"),
                                   flag=str(flag), store=str(root))
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(600):
            if flag.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert flag.exists(), "the writer never started writing"
        assert list(root.glob(".tmp-*")), "a temporary file is being written"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not list(root.glob("*.parquet"))  # nothing half-written under a dataset id
    store = DatasetStore(root)  # the next start removes the dead writer's temp files
    assert store.list() == []
    assert not list(root.glob(".tmp-*"))


def test_two_sessions_uploading_the_same_file_at_once_end_with_one_dataset(tmp_path):
    store = DatasetStore(tmp_path)
    ids: list[str] = []
    threads = [threading.Thread(target=lambda: ids.append(store.put(EV, name="same.csv")))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1
    assert len(list(tmp_path.glob("*.parquet"))) == 1
    assert len(store.list()) == 1 and not list(tmp_path.glob(".tmp-*"))
    assert store.scan(ids[0]).collect().height == 3


def test_eviction_never_removes_a_dataset_a_session_holds(tmp_path):
    store = DatasetStore(tmp_path)
    a = store.put(EV, name="a.csv")
    old = time.time() - 1000
    os.utime(tmp_path / f"{a}.json", (old, old))  # least recently used
    store.hold("session-1", a)
    store.max_bytes = 1  # everything is over the cap
    b = store.put(EV.head(1), name="b.csv")
    assert store.exists(a) and store.exists(b)
    store.release("session-1")
    store.put(EV.head(2), name="c.csv")
    assert not store.exists(a)


def test_size_cap_counts_everything_under_the_root(tmp_path):
    store = DatasetStore(tmp_path)
    a = store.put(EV, name="a.csv")
    model = store.model_dir(a)
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\0" * 50_000)
    baskets = tmp_path / "baskets"
    baskets.mkdir()
    (baskets / "0123456789abcdef.parquet").write_bytes(b"\0" * 30_000)
    (baskets / "0123456789abcdef.json").write_text("{}")
    everything = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert store.total_bytes() == everything > 80_000
    # the model and the basket file push the store over a cap its parquet files are under
    old = time.time() - 1000
    for p in (tmp_path / f"{a}.json", baskets / "0123456789abcdef.json"):
        os.utime(p, (old, old))
    store.max_bytes = 20_000
    b = store.put(EV.head(1), name="b.csv")
    assert store.exists(b) and not store.exists(a) and not model.exists()
    assert not (baskets / "0123456789abcdef.parquet").exists()
    assert store.total_bytes() <= 20_000


def test_writing_a_basket_file_evicts_least_recently_used_data_but_never_itself(tmp_path):
    store = DatasetStore(tmp_path)
    a = store.put(EV, name="a.csv")
    old = time.time() - 1000
    os.utime(tmp_path / f"{a}.json", (old, old))
    assert store.total_bytes() > 600
    store.max_bytes = 40_600  # room for the 40 kB file, not for the file and the dataset
    big = tmp_path / "baskets" / ("f" * 32 + ".parquet")
    store.write_file(big, b"\0" * 40_000)
    store.write_file(big.with_suffix(".json"), b"{}")
    # the dataset (least recently used) went; the file just written stays
    assert not store.exists(a)
    assert big.is_file() and big.with_suffix(".json").is_file()
    assert store.total_bytes() <= store.max_bytes


def test_unknown_and_malformed_ids_stay_not_found(tmp_path):
    store = DatasetStore(tmp_path)
    with pytest.raises(DatasetNotFound, match="not in the store"):
        store.scan("0" * 32)
    with pytest.raises(DatasetNotFound, match="malformed"):
        store.scan("../" + "0" * 29)


def test_no_id_from_a_link_reaches_outside_the_root(tmp_path):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    store = DatasetStore(tmp_path)

    @settings(max_examples=200, deadline=None)
    @given(st.one_of(st.text(max_size=40), st.text("0123456789abcdef./\\", max_size=40)))
    def check(raw):
        if is_valid_id(raw):
            assert store.parquet_path(raw).parent == tmp_path
            assert store.model_dir(raw).parent == tmp_path
        else:
            assert not store.exists(raw)
            with pytest.raises(DatasetNotFound, match="malformed"):
                store.parquet_path(raw)

    check()
