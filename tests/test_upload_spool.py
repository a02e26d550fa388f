"""Uploads are copied to disk in chunks, named by content hash (never held twice in memory)."""

from __future__ import annotations

import hashlib
import io
import os
import time

import pytest

from core.errors import LoadError
from core.io import spool_upload


class CountingStream(io.BytesIO):
    """A BytesIO that records the size of every read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, n: int | None = -1) -> bytes:  # type: ignore[override]
        self.reads.append(-1 if n is None else n)
        return super().read(n)


def test_spooled_copy_is_byte_identical_and_read_in_chunks(tmp_path):
    data = os.urandom(10_000) + b"x" * 5
    stream = CountingStream(data)
    stream.read(7)  # a consumer had already read part of it: spooling starts from the top
    s = spool_upload(stream, "shop export.csv", directory=tmp_path, chunk=1024)
    assert open(s.path, "rb").read() == data
    assert s.digest == hashlib.sha256(data).hexdigest() and s.size == 10_005
    assert s.name == "shop export.csv" and s.path.endswith("-shop_export.csv")
    # 10,005 bytes in 1,024-byte reads: 10 full reads, one short, one empty; never whole
    assert all(0 < n <= 1024 for n in stream.reads[1:])
    assert len(stream.reads[1:]) == 11


def test_same_content_same_file_and_no_leftovers(tmp_path):
    a = spool_upload(io.BytesIO(b"user,ts\n1,2\n"), "a.csv", directory=tmp_path)
    b = spool_upload(io.BytesIO(b"user,ts\n1,2\n"), "a.csv", directory=tmp_path)
    assert a == b
    assert sorted(p.name for p in tmp_path.iterdir()) == [os.path.basename(a.path)]


def test_old_spooled_files_are_removed(tmp_path):
    old = spool_upload(io.BytesIO(b"old"), "old.csv", directory=tmp_path)
    past = time.time() - 2 * 86_400
    os.utime(old.path, (past, past))
    new = spool_upload(io.BytesIO(b"new"), "new.csv", directory=tmp_path)
    assert not os.path.exists(old.path) and os.path.exists(new.path)


def test_names_cannot_leave_the_spool_folder(tmp_path):
    s = spool_upload(io.BytesIO(b"x"), "../../etc/passwd", directory=tmp_path)
    assert os.path.dirname(s.path) == str(tmp_path)


def test_an_unwritable_spool_folder_is_a_load_error(tmp_path, monkeypatch):
    import tempfile

    def refuse(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(LoadError, match="could not be saved.*No space left"):
        spool_upload(io.BytesIO(b"x"), "a.csv", directory=tmp_path)
