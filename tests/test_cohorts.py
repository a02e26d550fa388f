"""Saved cohorts (issue 18): the store side, the cohort columns, the CSV and every source."""

import errno
import json
import os
import random
import tempfile
from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from builders import make_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import (
    CohortNotFound,
    Condition,
    DatasetCorrupt,
    DatasetNotFound,
    FilterParams,
    ParameterError,
    SchemaError,
    StoreWriteError,
    apply_filters,
    compute_funnel,
    compute_retention,
    retained_people,
)
from core.cohorts import (
    IN_COHORT,
    MAX_COHORTS,
    NOT_IN_COHORT,
    SOURCES,
    antecedent_members,
    cohort_column,
    cohort_csv,
    cohort_id,
    funnel_conversion_members,
    funnel_dropoff_members,
    path_entities,
    path_node_members,
    retention_cell_members,
    riskiest_cart_members,
    segment_members,
    with_cohort_columns,
)
from core.cohorts import storage as storage_mod
from core.cohorts.sources import scope_text
from core.paths import PathsParams
from core.rules.params import RulesParams
from core.segments import SegmentParams
from core.segments.engine import fit
from core.store import DatasetStore

USERS = [f"u{i}" for i in range(1, 9)]
EV = make_events({u: [("view_item", f"00:0{i}")] for i, u in enumerate(USERS)})


def _store(tmp_path, events=EV, **kw):
    store = DatasetStore(tmp_path, **kw)
    return store, store.put(events, name="shop.csv")


def _save(store, ds, name="Buyers", members=("u1", "u2"), definition="picked by hand",
          source="manual"):
    return store.save_cohort(ds, name, pl.Series(list(members)), definition=definition,
                             source=source)


# -- the store ---------------------------------------------------------------------------------


def test_save_and_reopen_round_trip_beside_the_dataset(tmp_path):
    store, ds = _store(tmp_path)
    c = _save(store, ds, members=["u3", "u1", "u3"])  # repeats count once
    assert (c.name, c.size, c.source, c.count_by, c.dataset_id) == ("Buyers", 2, "manual",
                                                                    "user_id", ds)
    assert c.created.tzinfo is not None and len(c.id) == 32
    assert c.id == cohort_id(ds, pl.Series(["u1", "u3"]), "picked by hand")
    folder = tmp_path / f"{ds}.cohorts"
    assert sorted(p.name for p in folder.iterdir()) == [f"{c.id}.json", f"{c.id}.parquet"]
    assert pl.read_parquet_schema(folder / f"{c.id}.parquet") == {"user_id": pl.String}
    assert not list(tmp_path.rglob(".tmp-*"))
    # a fresh store (another process) reads it back
    again = DatasetStore(tmp_path)
    assert again.cohorts(ds) == [c] and again.cohort(ds, c.id) == c
    assert again.cohort_members(ds, c.id).to_list() == ["u1", "u3"]


def test_same_members_and_definition_return_the_cohort_already_saved(tmp_path):
    store, ds = _store(tmp_path)
    c = _save(store, ds, members=["u1", "u2"])
    assert _save(store, ds, name="Other name", members=["u2", "u1", "u1"]) == c
    assert len(store.cohorts(ds)) == 1
    other = _save(store, ds, name="Other name", definition="another way")
    assert other.id != c.id
    assert [x.name for x in store.cohorts(ds)] == ["Other name", "Buyers"]  # newest first


@pytest.mark.parametrize("name, match", [
    ("", "must not be empty"), ("   ", "must not be empty"), ("x" * 81, "at most 80 characters"),
    ("two\nlines", "control characters"), (None, "must be text"),
    (" buyers ", "already used by the cohort 'Buyers'"),
])
def test_names_are_checked(tmp_path, name, match):
    store, ds = _store(tmp_path)
    _save(store, ds, name="Buyers", members=["u1"])
    with pytest.raises(ParameterError, match=match):
        _save(store, ds, name=name, members=["u2"])
    assert _save(store, ds, name="  " + "x" * 80 + " ", members=["u2"]).name == "x" * 80


def test_rename_keeps_the_rules_and_the_members(tmp_path):
    store, ds = _store(tmp_path)
    a = _save(store, ds, name="A", members=["u1"])
    _save(store, ds, name="B", members=["u2"])
    with pytest.raises(ParameterError, match="already used by the cohort 'B'"):
        store.rename_cohort(ds, a.id, "b")
    renamed = store.rename_cohort(ds, a.id, " a ")  # its own name, another case: allowed
    assert renamed.name == "a" and renamed.id == a.id
    assert store.cohort(ds, a.id).name == "a"
    assert store.cohort_members(ds, a.id).to_list() == ["u1"]


@pytest.mark.parametrize("members, match", [
    ([], "is empty"),
    (["u1", None, None], "2 empty \\(null\\) values out of 3"),
    (["u1", "zz", "yy", "yy"], "2 of 3 users are not in this dataset \\(e.g. 'yy', 'zz'\\)"),
])
def test_members_that_are_not_users_of_the_dataset_are_refused_with_a_count(tmp_path, members,
                                                                            match):
    store, ds = _store(tmp_path)
    with pytest.raises(ParameterError, match=match):
        store.save_cohort(ds, "X", pl.Series(members, dtype=pl.String), definition="d",
                          source="manual")
    assert store.cohorts(ds) == []
    with pytest.raises(ParameterError, match="polars Series"):
        store.save_cohort(ds, "X", ["u1"], definition="d", source="manual")


def test_source_and_definition_are_checked(tmp_path):
    store, ds = _store(tmp_path)
    assert set(SOURCES) >= {"funnel_dropoff", "path_node", "retention_cell", "manual"}
    with pytest.raises(ParameterError, match="`source` must be one of"):
        _save(store, ds, source="funnel")
    with pytest.raises(ParameterError, match="`definition` must be a non-empty text"):
        _save(store, ds, definition=" ")


def test_at_most_max_cohorts_per_dataset(tmp_path, monkeypatch):
    assert MAX_COHORTS == 100
    monkeypatch.setattr(storage_mod, "MAX_COHORTS", 2)
    store, ds = _store(tmp_path)
    _save(store, ds, name="A", members=["u1"])
    _save(store, ds, name="B", members=["u2"])
    with pytest.raises(ParameterError, match="already keeps 2 cohorts, the most allowed"):
        _save(store, ds, name="C", members=["u3"])
    assert _save(store, ds, name="again", members=["u1"]).name == "A"  # an existing one: fine


@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 32, "0" * 31, "", None, "a/b",
                                 "0" * 31 + "/", "..", "0" * 32 + ".json"])
def test_cohort_ids_are_checked_before_they_become_paths(tmp_path, bad):
    store, ds = _store(tmp_path)
    for call in (store.cohort, store.cohort_members, store.delete_cohort):
        with pytest.raises(CohortNotFound, match="malformed"):
            call(ds, bad)
    with pytest.raises(DatasetNotFound, match="malformed"):
        store.cohorts("../" + ds)


def test_unknown_cohort_and_unknown_dataset(tmp_path):
    store, ds = _store(tmp_path)
    with pytest.raises(CohortNotFound, match="is not saved with dataset"):
        store.cohort(ds, "0" * 32)
    with pytest.raises(DatasetNotFound, match="not in the store"):
        store.cohorts("0" * 32)
    store.delete_cohort(ds, "0" * 32)  # already gone: no error


def test_deleting_a_cohort_and_deleting_the_dataset(tmp_path):
    store, ds = _store(tmp_path)
    a = _save(store, ds, name="A", members=["u1"])
    b = _save(store, ds, name="B", members=["u2"])
    store.delete_cohort(ds, a.id)
    assert store.cohorts(ds) == [b]
    with pytest.raises(CohortNotFound):
        store.cohort_members(ds, a.id)
    store.delete(ds)
    assert not (tmp_path / f"{ds}.cohorts").exists()
    # the same data stored again starts without cohorts
    assert store.put(EV, name="again.csv") == ds and store.cohorts(ds) == []


def test_size_cap_counts_cohorts_and_eviction_takes_them_with_their_dataset(tmp_path):
    store, old = _store(tmp_path)
    many = pl.Series([f"x{i}" for i in range(20_000)])
    big_ev = pl.concat([EV, make_events({"x": [("view_item", "00:00")]})
                       .select(pl.all().exclude("user_id"))
                       .join(many.to_frame("user_id"), how="cross")
                       .select(EV.columns)])
    new = store.put(big_ev, name="big.csv")
    before = store.total_bytes()
    c = store.save_cohort(new, "Many", many, definition="all x", source="manual")
    cohort_bytes = sum(p.stat().st_size for p in (tmp_path / f"{new}.cohorts").iterdir())
    assert store.total_bytes() == before + cohort_bytes and cohort_bytes > 10_000
    _save(store, old, name="Old", members=["u1"])
    old_time = 1_000_000_000
    os.utime(tmp_path / f"{old}.json", (old_time, old_time))  # `old` is least recently used
    # a cap that the cohort itself pushes over: saving it evicts `old` with its cohorts
    store.max_bytes = store.total_bytes() - 1
    store.save_cohort(new, "Many again", many.head(10_000), definition="half", source="manual")
    assert not store.exists(old) and not (tmp_path / f"{old}.cohorts").exists()
    assert store.cohort(new, c.id) == c


def test_a_failed_write_leaves_no_cohort_and_no_temp_file(tmp_path, monkeypatch):
    store, ds = _store(tmp_path)
    real_write = os.write
    calls = []

    def full_on_second_file(fd, data):
        calls.append(1)
        if len(calls) > 1:  # the members file is written, the record is not
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_on_second_file)
    with pytest.raises(StoreWriteError, match="is full"):
        _save(store, ds)
    monkeypatch.setattr(os, "write", real_write)
    assert store.cohorts(ds) == [] and store.damaged_cohorts(ds) == []
    assert not list(tmp_path.rglob(".tmp-*"))
    assert _save(store, ds).size == 2  # and saving again works


def test_a_killed_writers_temp_file_is_removed_at_the_next_start(tmp_path):
    store, ds = _store(tmp_path)
    _save(store, ds)
    dead = 2**22 + 12345  # above any pid a test machine hands out
    leftover = tmp_path / f"{ds}.cohorts" / f".tmp-{dead}-abcdef.parquet"
    leftover.write_bytes(b"half")
    DatasetStore(tmp_path)
    assert not leftover.exists()


def test_damaged_cohort_files_are_typed_errors_and_listed_apart(tmp_path):
    store, ds = _store(tmp_path)
    a = _save(store, ds, name="A", members=["u1"])
    b = _save(store, ds, name="B", members=["u2", "u3"])
    (tmp_path / f"{ds}.cohorts" / f"{a.id}.json").write_text("{not json")
    parquet = tmp_path / f"{ds}.cohorts" / f"{b.id}.parquet"
    parquet.write_bytes(parquet.read_bytes()[:-30])
    assert [c.id for c in store.cohorts(ds)] == [b.id] and store.damaged_cohorts(ds) == [a.id]
    with pytest.raises(DatasetCorrupt, match="record cannot be read") as e:
        store.cohort(ds, a.id)
    assert e.value.code == "cohort_corrupt"
    with pytest.raises(DatasetCorrupt, match="members file cannot be read"):
        store.cohort_members(ds, b.id)
    store.delete_cohort(ds, a.id)
    assert store.damaged_cohorts(ds) == []


def test_a_read_only_store_says_so(tmp_path, monkeypatch):
    store, ds = _store(tmp_path)
    real_open = os.open

    def read_only(path, flags, *a):
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, flags, *a)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(StoreWriteError, match="read-only"):
        _save(store, ds)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(USERS), min_size=1, max_size=20),
       st.text(min_size=1, max_size=80).filter(
           lambda s: s.strip() and s.isprintable() and not any(c in s for c in ":;=")))
def test_save_then_load_keeps_the_member_set(members, name):
    with tempfile.TemporaryDirectory() as root:
        store, ds = _store(root)
        c = store.save_cohort(ds, name, pl.Series(members), definition="d", source="manual")
        back = store.cohort_members(ds, c.id)
        assert set(back.to_list()) == set(members) and back.len() == c.size == len(set(members))
        assert DatasetStore(root).cohort(ds, c.id).name == name.strip()


# -- cohort columns, CSV -----------------------------------------------------------------------


def test_cohort_columns_filter_to_exactly_the_members_events():
    ev = make_events({"a": [("view_item", "00:00"), ("purchase", "00:05")],
                      "b": [("view_item", "00:01")], "c": [("add_to_cart", "00:02")]},
                     device="mobile")
    lf = with_cohort_columns(ev, {"Buyers": pl.Series(["a", "c", "zz"]),
                                  "Lookers": pl.Series(["b"])})
    out = lf.collect()
    assert out.select(ev.columns).equals(ev)  # nothing else changed, row order kept
    assert out.schema[cohort_column("Buyers")] == pl.String == out.schema["cohort · Lookers"]
    assert out["cohort · Buyers"].to_list() == [IN_COHORT, IN_COHORT, NOT_IN_COHORT, IN_COHORT]
    inside = FilterParams(conditions=(Condition("cohort · Buyers", "eq", IN_COHORT),))
    got = apply_filters(lf, inside).collect().select(ev.columns)
    assert got.equals(ev.filter(pl.col("user_id").is_in(["a", "c"])))
    outside = FilterParams(conditions=(Condition("cohort · Buyers", "eq", NOT_IN_COHORT),))
    assert apply_filters(lf, outside).collect()["user_id"].to_list() == ["b"]
    with pytest.raises(ParameterError, match="already has; rename the cohort"):
        with_cohort_columns(out, {"Buyers": pl.Series(["a"])})
    assert with_cohort_columns(ev, {}).collect().equals(ev)


def test_a_cohort_column_works_as_a_funnel_breakdown():
    ev = make_events({"a": [("view_item", "00:00"), ("purchase", "00:05")],
                      "b": [("view_item", "00:01")], "c": [("view_item", "00:02")]})
    lf = with_cohort_columns(ev, {"VIP": pl.Series(["a", "b"])})
    r = compute_funnel(lf, ["view_item", "purchase"], window=timedelta(days=1),
                       breakdown="cohort · VIP")
    last = r.breakdown_steps.filter(pl.col("step") == 2).sort("breakdown")
    # in the cohort: a bought, b did not (1 of 2); outside: c did not (0 of 1)
    assert last.select("breakdown", "entities").rows() == [(IN_COHORT, 1), (NOT_IN_COHORT, 0)]


def test_cohort_csv_is_the_members_with_formulas_neutralised(tmp_path):
    ev = make_events({"=1+1": [("view_item", "00:00")], "u2": [("view_item", "00:01")],
                      "-x": [("view_item", "00:02")]})
    store, ds = _store(tmp_path, ev)
    c = _save(store, ds, members=["=1+1", "u2", "-x"])
    assert cohort_csv(store, ds, c.id) == "\ufeffuser_id\n'-x\n'=1+1\nu2\n".encode()


# -- sources -----------------------------------------------------------------------------------

FUNNEL_EV = make_events({
    "u1": [("view_item", "00:00"), ("add_to_cart", "00:10"), ("purchase", "00:20")],
    "u2": [("view_item", "00:00"), ("add_to_cart", "00:10")],
    "u3": [("view_item", "00:00")],
    "u4": [("page_view", "00:00")],
    "u5": [("view_item", "00:00"), ("add_to_cart", "D+2 00:00")],  # outside the 1-day window
})
STEPS = ["view_item", "add_to_cart", "purchase"]


@pytest.mark.parametrize("step, expected", [(1, ["u4"]), (2, ["u3", "u5"]), (3, ["u2"])])
def test_funnel_dropoffs_by_hand_and_as_dropped_off_says(step, expected):
    r = compute_funnel(FUNNEL_EV, STEPS, window=timedelta(days=1))
    members, definition = funnel_dropoff_members(r, step)
    assert members.to_list() == expected and members.name == "user_id"
    direct = r.entities.filter(~pl.col("excluded") & (pl.col("furthest_step") == step - 1))
    assert members.to_list() == sorted(direct["user_id"].to_list())
    if step == 2:
        assert definition == ("Funnels: dropped off after step 1 (view_item), before step 2 "
                              "(add_to_cart) · window 1 d")


def test_funnel_conversions_by_hand():
    r = compute_funnel(FUNNEL_EV, STEPS, window=timedelta(days=1))
    members, definition = funnel_conversion_members(r)
    assert members.to_list() == ["u1"]
    assert definition.startswith("Funnels: converted (reached step 3 of 3: purchase)")
    assert funnel_conversion_members(r, 2).members.to_list() == ["u1", "u2"]
    with pytest.raises(ParameterError, match="from 1 to 3, got 4"):
        funnel_conversion_members(r, 4)


def test_a_funnel_counted_by_session_gives_the_sessions_users():
    ev = make_events({"u1": [("view_item", "00:00"), ("purchase", "00:05"),
                             ("view_item", "05:00")],  # a second session that did not buy
                      "u2": [("view_item", "00:00"), ("purchase", "00:01")]})
    r = compute_funnel(ev, ["view_item", "purchase"], window=timedelta(hours=1),
                       count_by="session_id")
    with pytest.raises(ParameterError, match="pass the `events`"):
        funnel_dropoff_members(r, 2)
    members, definition = funnel_dropoff_members(r, 2, events=ev)
    assert members.to_list() == ["u1"] and "counted by session_id" in definition
    assert funnel_conversion_members(r, events=ev).members.to_list() == ["u1", "u2"]


PATH_EV = make_events({
    "u1": [("view_item", "00:00"), ("view_item", "00:01"), ("add_to_cart", "00:02")],
    "u2": [("view_item", "00:00"), ("purchase", "00:01"),
           ("page_view", "03:00"), ("view_item", "03:01")],  # a second session
    "u3": [("page_view", "00:00"), ("view_item", "00:01")],
})


def test_path_node_members_by_hand():
    # sessions (repeats collapsed): u1 view→cart; u2 view→purchase, page_view→view; u3 same
    r = PathsParams(max_steps=3, top_per_step=None).compute(PATH_EV)
    assert path_node_members(r, PATH_EV, "1_view_item").members.to_list() == ["u1", "u2"]
    assert path_node_members(r, PATH_EV, "2_view_item").members.to_list() == ["u2", "u3"]
    members, definition = path_node_members(r, PATH_EV, "3_$drop_off")
    assert members.to_list() == ["u1", "u2", "u3"]
    assert definition == "Paths: at 'Drop-off' on step 3 · sessions by event"
    with pytest.raises(ParameterError, match="is not a node of these paths"):
        path_node_members(r, PATH_EV, "9_view_item")
    # folded to one node per step: page_view and view_item start 2 sessions each, the tie goes
    # to the first name (page_view), so view_item's sessions (u1's, u2's first) are Other
    folded = PathsParams(max_steps=3, top_per_step=1).compute(PATH_EV)
    assert path_node_members(folded, PATH_EV, "1_$other").members.to_list() == ["u1", "u2"]
    assert path_node_members(folded, PATH_EV, "1_page_view").members.to_list() == ["u2", "u3"]
    by_user = PathsParams(max_steps=3, top_per_step=None, count_by="user_id").compute(PATH_EV)
    assert path_node_members(by_user, PATH_EV, "3_page_view").members.to_list() == ["u2"]


def _random_log(seed: int, users: int = 30) -> pl.DataFrame:
    rng = random.Random(seed)
    names = ["page_view", "view_item", "add_to_cart", "purchase", "search"]
    journeys = {}
    for u in range(users):
        t = 0
        events = []
        for _ in range(rng.randint(1, 9)):
            t += rng.choice([30, 60, 600, 4000])  # 4000 s: a new session
            session = {"session_id": None} if rng.random() < 0.3 else {}
            events.append((rng.choice(names), t, session))
        journeys[f"user{u}"] = events
    return make_events(journeys)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kw", [
    {}, {"count_by": "user_id"}, {"start": "view_item", "top_per_step": 2},
    {"end": "purchase", "max_steps": 3}, {"min_edge_weight": 2, "top_per_step": 3},
    {"start": "page_view", "end": "purchase", "max_steps": 4},
])
def test_every_path_entity_lands_on_the_node_the_sankey_counts_it_on(seed, kw):
    ev = _random_log(seed)
    p = PathsParams(**kw)
    r = p.compute(ev)
    table = path_entities(ev, p)
    assert table["entity"].n_unique() == r.entities
    counted = {}
    for i in range(1, p.max_steps + 1):
        for name, n in table.group_by(f"step_{i}").agg(pl.col("entity").n_unique()).rows():
            if name is not None:
                counted[f"{i}_{name}"] = n
    assert counted == dict(r.nodes.select("key", "value").rows())


@pytest.mark.parametrize("seed", range(4))
def test_second_step_members_equal_a_direct_polars_computation(seed):
    ev = _random_log(seed)
    r = PathsParams(max_steps=4, top_per_step=None, count_by="user_id").compute(ev)
    # direct: each user's events in time order, consecutive repeats collapsed, the 2nd one
    second = (ev.sort(["user_id", "ts"], maintain_order=True)
              .filter(pl.col("event").ne_missing(pl.col("event").shift(1).over("user_id")))
              .group_by("user_id").agg(pl.col("event").get(1, null_on_oob=True).alias("e")))
    for key, name in r.nodes.filter(pl.col("step") == 2).select("key", "name").rows():
        if name.startswith("$"):
            continue
        expected = sorted(second.filter(pl.col("e") == name)["user_id"].to_list())
        assert path_node_members(r, ev, key).members.to_list() == expected


def _segmentation():
    feats = pl.DataFrame({"user_id": [f"s{i}" for i in range(12)],
                          "revenue": [1.0, 2, 1, 2, 1, 2, 100, 110, 120, 105, 115, 100],
                          "purchases": [1, 1, 1, 1, 1, 1, 5, 6, 5, 6, 5, 6]})
    return fit(feats, SegmentParams(k=2, columns=("revenue", "purchases")))


def test_segment_members_by_number_and_by_name():
    seg = _segmentation()
    big = [f"s{i}" for i in range(6, 12)]  # segment 1: the highest revenue
    members, definition = segment_members(seg, 1)
    assert members.to_list() == sorted(big)
    assert segment_members(seg, seg.names[1]).members.to_list() == sorted(
        f"s{i}" for i in range(6))
    assert definition.startswith(f"Segments: segment 1 of 2 ({seg.names[0]!r})")
    with pytest.raises(ParameterError, match="from 1 to 2 or one of the names"):
        segment_members(seg, 3)


BASKET_EV = make_events({
    "u1": [("purchase", "00:00", {"order_id": "o1", "product_id": "A"}),
           ("purchase", "00:00", {"order_id": "o1", "product_id": "B"})],
    "u2": [("purchase", "00:00", {"order_id": "o2", "product_id": "A"}),
           ("add_to_cart", "00:01", {"order_id": "o2", "product_id": "B"})],  # not bought
    "u3": [("purchase", "00:00", {"order_id": "o3", "product_id": "A"}),
           ("purchase", "00:00", {"order_id": "o3", "product_id": "B"}),
           ("purchase", "00:00", {"order_id": "o3", "product_id": "C"})],
    "u4": [("purchase", "00:00", {"order_id": "o4", "product_id": "B"}),
           ("purchase", "D+1 00:00", {"order_id": "o5", "product_id": "A"})],  # two orders
})


def test_antecedent_members_by_hand():
    members, definition = antecedent_members(BASKET_EV, ["B", "A"])
    assert members.to_list() == ["u1", "u3"]
    assert definition == "Basket rules: a basket (order, purchase events) holding all of A, B"
    assert antecedent_members(BASKET_EV, ["A"]).members.to_list() == ["u1", "u2", "u3", "u4"]
    by_user = antecedent_members(BASKET_EV, ["A", "B"], params=RulesParams(basket="user_id"))
    assert by_user.members.to_list() == ["u1", "u3", "u4"]  # u4's history holds both
    with pytest.raises(ParameterError, match="at least one item"):
        antecedent_members(BASKET_EV, [])


def test_antecedent_members_from_a_baskets_table():
    table = pl.DataFrame({"basket_id": ["b1", "b1", "b2", "b3", "b3"],
                          "item": ["A", "B", "A", "B", "none"],
                          "user_id": ["x", "x", "y", "z", "z"]})
    assert antecedent_members(table, ["A", "B"]).members.to_list() == ["x"]
    with pytest.raises(SchemaError, match="no `user_id` column"):
        antecedent_members(table.drop("user_id"), ["A"])


def test_riskiest_cart_members_by_hand():
    scores = pl.DataFrame({
        "session_id": ["s1", "s2", "s3", "s4", "s5"],
        "user_id": ["a", "b", "a", "c", "d"],
        "p_abandon": [0.95, 0.90, 0.80, 0.99, 0.10],
        "open": [True, True, True, False, True],
        "status": ["open", "in_progress", "open", "purchased", "history"],
    })
    members, definition = riskiest_cart_members(scores, 3)
    assert members.to_list() == ["a", "b"]  # s1 (a), s2 (b), s3 (a again); s4 was bought
    assert definition == ("Cart abandonment: the 3 riskiest carts (not bought) · abandonment risk "
                          "80.0%–95.0%")
    assert riskiest_cart_members(scores, 10, status="open").members.to_list() == ["a"]
    with pytest.raises(ParameterError, match="at least 1, got 0"):
        riskiest_cart_members(scores, 0)


def test_retention_cell_members_by_hand():
    ev = make_events({"u1": [("view_item", "00:00"), ("purchase", "D+1 10:00")],
                      "u2": [("view_item", "00:00")],
                      "u3": [("view_item", "D+1 00:00"), ("purchase", "D+3 00:00")]})
    r = compute_retention(ev, returning="purchase", period="day", periods=4)
    day0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert retention_cell_members(r, day0, 0).members.to_list() == ["u1", "u2"]
    members, definition = retention_cell_members(r, day0, 1)
    assert members.to_list() == ["u1"] == retained_people(r, day0, 1).to_list()
    assert definition == ("Retention: of the day of 2024-01-01 cohort (start: any event), came "
                          "back in day 1 · returning: purchase")
    assert retention_cell_members(r, day0 + timedelta(days=1), 2).members.to_list() == ["u3"]
    with pytest.raises(ParameterError, match="from 0 to 3, got 4"):
        retention_cell_members(r, day0, 4)
    with pytest.raises(ParameterError, match="not a cohort of this table"):
        retention_cell_members(r, day0 + timedelta(days=9), 1)


def test_definitions_carry_the_filters_and_stay_within_the_limit():
    f = FilterParams(date_from=date(2024, 1, 1), date_to=date(2024, 1, 31),
                     conditions=(Condition("device", "eq", "mobile"),))
    assert scope_text(f) == "2024-01-01–2024-01-31 · device = mobile"
    assert scope_text(FilterParams(date_from=date(2024, 1, 1))) == "from 2024-01-01"
    assert scope_text(None) == ""
    r = compute_funnel(FUNNEL_EV, STEPS, window=timedelta(days=1))
    assert funnel_dropoff_members(r, 3, filters=f).definition.endswith(
        "window 1 d · 2024-01-01–2024-01-31 · device = mobile")
    many = FilterParams(conditions=tuple(Condition(f"c{i}", "eq", "x" * 20) for i in range(40)))
    long = funnel_dropoff_members(r, 3, filters=many).definition
    assert len(long) == 500 and long.endswith("…")


def test_a_draft_saves_and_every_source_name_is_accepted(tmp_path):
    store, ds = _store(tmp_path, FUNNEL_EV)
    r = compute_funnel(FUNNEL_EV, STEPS, window=timedelta(days=1))
    members, definition = funnel_dropoff_members(r, 2)
    c = store.save_cohort(ds, "Dropped at cart", members, definition=definition,
                          source="funnel_dropoff")
    assert json.loads((tmp_path / f"{ds}.cohorts" / f"{c.id}.json").read_text())["definition"] \
        == definition
    empty = funnel_dropoff_members(compute_funnel(FUNNEL_EV, ["view_item"],
                                                  window=timedelta(days=1)), 1)
    assert empty.members.to_list() == ["u4"]
    with pytest.raises(ParameterError, match="is empty"):
        store.save_cohort(ds, "Nobody", members.head(0), definition="d", source="manual")


def test_a_cohort_condition_survives_the_links_filter_forms(tmp_path):
    """The sidebar keeps conditions in the URL as ``column:op:value`` joined by ``;`` and the
    property picks as ``column = value``: a cohort's column and name must survive both."""
    from core.filters import format_condition, parse_condition

    cond = Condition(cohort_column("VIP"), "eq", IN_COHORT)
    assert parse_condition(format_condition(cond)) == cond
    column, value = f"{cohort_column('VIP')} = {IN_COHORT}".split(" = ", 1)
    assert (column, value) == (cohort_column("VIP"), IN_COHORT)
    store, ds = _store(tmp_path)
    for bad in ("a:b", "a;b", "a = b"):
        with pytest.raises(ParameterError, match="separate the parts of a filter in a link"):
            _save(store, ds, name=bad)
