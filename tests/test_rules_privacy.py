"""Basket files are private per visitor, like datasets (issues 16 and 19).

A session sees the basket files it uploaded or opened by link, never the whole store; the link
(``rules.file``) carries the full 128-bit id, so it is the key; only ids matching the id pattern
become paths. Each ``AppTest`` is its own browser session; they share the process-wide store.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
from pathlib import Path

import pytest
from apptest import metric, run_page
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import DatasetNotFound

FILE = {"rules.source": "file", "rules.support": "0.3"}


def _baskets() -> bytes:
    """Three baskets (hand-counted: milk in 3, bread in 2, eggs in 2), with an item unique to
    the test so the content hash, hence the file, is new."""
    tag = secrets.token_hex(4)
    return f"milk,bread\nmilk,eggs\nbread,eggs,milk,{tag}\n".encode()


def _warnings(at) -> str:
    return " | ".join(w.value for w in at.warning)


def _picker(at):
    found = [s for s in at.selectbox if s.key == "rules.file"]
    return found[0] if found else None


def _upload(at, name: str, content: bytes):
    at.file_uploader(key="rules.upload").upload(name, content, "text/csv").run()
    assert not at.exception, at.exception
    return at


def test_a_basket_file_is_listed_only_for_its_uploader_and_opens_by_link():
    a = _upload(run_page("rules", **FILE), "mine.csv", _baskets())
    mine = _picker(a).value
    assert re.fullmatch(r"[0-9a-f]{32}", mine)  # 128 bits
    assert _picker(a).options == ["mine.csv · " + mine[:8]]
    assert a.query_params["rules.file"] == mine  # the link carries the id, not the label
    assert metric(a, "Baskets") == "3"
    # session B, a stranger: A's file is not listed (nor any other stored basket file)
    b = run_page("rules", **FILE)
    assert _picker(b) is None
    assert any("Upload a basket file" in i.value for i in b.info)
    # session C opens A's link: the file opens, and this session may now pick it
    c = run_page("rules", **FILE, **{"rules.file": mine})
    assert _picker(c).value == mine and metric(c, "Baskets") == "3"
    assert not c.warning
    # ... and keeps it while uploading one of its own
    _upload(c, "other.csv", _baskets())
    assert len(_picker(c).options) == 2 and _picker(c).value != mine


def test_a_guessed_short_label_in_the_link_opens_nothing_and_is_named():
    a = _upload(run_page("rules", **FILE), "mine.csv", _baskets())
    label = f"mine.csv · {_picker(a).value[:8]}"  # what links used to hold: 32 guessable bits
    b = run_page("rules", **FILE, **{"rules.file": label})
    assert _picker(b) is None
    assert label in _warnings(b) and "32 hex digits" in _warnings(b)
    # a well-formed id that is not stored is named too
    unknown = "0" * 32
    c = run_page("rules", **FILE, **{"rules.file": unknown})
    assert _picker(c) is None
    assert unknown in _warnings(c) and "not on this server" in _warnings(c)


def test_a_traversal_id_is_refused():
    at = run_page("rules", **FILE, **{"rules.file": "../../etc/passwd"})
    assert _picker(at) is None
    assert "../../etc/passwd" in _warnings(at) and "malformed" in _warnings(at)
    from ui.rules import basket_file_meta, stored_baskets

    for bad in ("../../etc/passwd", "/etc/passwd", "0" * 31 + "/", "0" * 16 + ".json"):
        with pytest.raises(DatasetNotFound, match="malformed"):
            basket_file_meta(bad)
        with pytest.raises(DatasetNotFound, match="malformed"):
            stored_baskets(bad)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_no_link_value_becomes_a_path_outside_the_baskets_folder(value):
    from ui.rules import basket_file_exists, basket_file_path, baskets_dir

    try:
        path = basket_file_path(value, ".json")
    except DatasetNotFound:
        assert not basket_file_exists(value)
        return
    assert re.fullmatch(r"[0-9a-f]{32}|[0-9a-f]{16}", value)
    assert path.parent == baskets_dir() and path.name == f"{value}.json"


def test_an_old_sixteen_digit_id_in_a_link_still_opens():
    import io

    import core.rules
    from ui.rules import baskets_dir

    old = secrets.token_hex(8)  # stored before ids grew to 32 hex digits
    buf = io.BytesIO(_baskets())
    buf.name = "old.csv"
    load = core.rules.read_baskets(buf)
    load.baskets.write_parquet(baskets_dir() / f"{old}.parquet")
    (baskets_dir() / f"{old}.json").write_text(json.dumps({
        "name": "old.csv", "format": load.format, "rows_read": load.rows_read,
        "rows_dropped": [], "baskets": load.n_baskets, "basket_column": None,
        "item_column": None, "warnings": []}))
    at = run_page("rules", **FILE, **{"rules.file": old})
    assert _picker(at).value == old and metric(at, "Baskets") == "3"


def test_basket_files_are_written_as_the_store_writes(monkeypatch):
    # temp names the store's start-up cleanup knows (.tmp-<pid>-*), renamed into place
    from ui.rules import save_basket_file

    renamed = []
    real = os.replace

    def spy(src, dst, *args, **kwargs):
        renamed.append((Path(src).name, Path(dst).name))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", spy)
    file_id = save_basket_file(_baskets(), "spy.csv")
    assert {dst for _, dst in renamed} == {f"{file_id}.parquet", f"{file_id}.json"}
    assert all(re.match(rf"^\.tmp-{os.getpid()}-", src) for src, _ in renamed), renamed


def test_an_upload_into_a_read_only_store_says_so(monkeypatch):
    at = run_page("rules", **FILE)
    root = str(Path(os.environ["PATHLENS_DATA_DIR"]).resolve())
    real_open = os.open

    def read_only(path, *args, **kwargs):
        if str(Path(path).resolve()).startswith(root) and args and args[0] & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    _upload(at, "ro.csv", _baskets())
    assert any("read-only" in e.value and root in e.value for e in at.error)
    assert _picker(at) is None
    leftovers = [p for p in Path(root, "baskets").glob("*") if p.suffix not in (".json",
                                                                                ".parquet")]
    assert leftovers == []


def test_the_store_writes_only_under_its_root_and_cleans_a_dead_writers_basket_temp(tmp_path):
    from core.store import DatasetStore

    store = DatasetStore(tmp_path / "root")
    with pytest.raises(ValueError, match="under the store's root"):
        store.write_file(tmp_path / "root" / ".." / "outside.json", b"{}")
    store.write_file(tmp_path / "root" / "baskets" / f"{'a' * 32}.json", b"{}")
    assert (tmp_path / "root" / "baskets" / f"{'a' * 32}.json").read_bytes() == b"{}"
    # a writer killed mid-write leaves its temp file; the next process's store removes it
    dead = tmp_path / "root" / "baskets" / ".tmp-999999999-0123456789ab.parquet"
    dead.write_bytes(b"half")
    DatasetStore(tmp_path / "root")
    assert not dead.exists()
