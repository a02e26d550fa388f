import json
import os
import time

import polars as pl
import pytest
from builders import make_events

from core import DatasetNotFound
from core.store import DatasetStore, is_valid_id

EV = make_events({"u2": [("view_item", "00:10")], "u1": [("view_item", "00:00"),
                                                          ("purchase", "00:05")]})


def test_put_is_content_addressed_sorted_and_reopens(tmp_path):
    store = DatasetStore(tmp_path)
    shuffled = EV.sample(fraction=1.0, shuffle=True, seed=3)
    a = store.put(shuffled, name="a.csv", report={"rows_read": 3})
    b = store.put(EV, name="b.csv")
    assert a == b and is_valid_id(a)  # same content, same id
    back = store.scan(a).collect()
    assert back["user_id"].to_list() == ["u1", "u1", "u2"]  # sorted by user then time
    assert back.equals(EV.sort(["user_id", "ts"]))
    meta = store.meta(a)
    assert meta.rows == 3 and meta.users == 2
    assert not list(tmp_path.glob(".tmp-*"))  # no temp files left behind


def test_ids_are_validated_no_path_traversal(tmp_path):
    store = DatasetStore(tmp_path)
    for bad in ["../../etc/passwd", "ABCDEF0123456789abcd", "x" * 20, "", None, "a/b"]:
        assert not store.exists(bad)
        with pytest.raises(DatasetNotFound, match="malformed"):
            store.scan(bad)
    with pytest.raises(DatasetNotFound, match="not in the store"):
        store.scan("0" * 20)


def test_lru_eviction_keeps_the_newest_and_recently_used(tmp_path):
    store = DatasetStore(tmp_path)
    ids = []
    for i in range(3):
        ev = EV.with_columns(pl.lit(f"x{i}").alias("tag"))
        ids.append(store.put(ev, name=f"{i}.csv"))
        time.sleep(0.01)
    size = store.meta(ids[0]).size_bytes
    # make ids[0] the most recently used of the old ones
    old = time.time() - 100
    os.utime(tmp_path / f"{ids[1]}.json", (old, old))
    os.utime(tmp_path / f"{ids[2]}.json", (old + 1, old + 1))
    store.scan(ids[0])
    store.max_bytes = int(size * 2.5)
    new = store.put(EV.with_columns(pl.lit("x9").alias("tag")), name="new.csv")
    # 4 files over a cap of 2.5 files: the two least recently used (ids[1], ids[2]) go
    assert store.exists(new) and store.exists(ids[0])
    assert not store.exists(ids[1]) and not store.exists(ids[2])


def test_model_dir_lives_with_the_dataset_and_is_deleted_with_it(tmp_path):
    store = DatasetStore(tmp_path)
    ds = store.put(EV, name="a")
    d = store.model_dir(ds)
    d.mkdir()
    (d / "config.json").write_text(json.dumps({}))
    store.delete(ds)
    assert not d.exists() and not store.exists(ds)
