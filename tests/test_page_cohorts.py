"""AppTest: saved cohorts in the app (issue 18).

Saving from the Paths, Retention, Basket rules and Segments pages stores the users core finds
for the same choice (:mod:`core.cohorts.sources` called directly); the Data page lists, renames,
deletes and offers each cohort as CSV; the sidebar's Cohorts picker (the ``cohorts`` URL key)
adds a ``cohort · <name>`` property whose filter and breakdown give the numbers core gives on
the cohort's users; unknown or deleted cohorts are dropped with a notice.

The tests use their own copy of the sample (one user left out), so the sample the other page
tests open never holds cohorts; each test starts with no cohort saved.
"""

from __future__ import annotations

import polars as pl
import pytest
from apptest import metric, run_page
from streamlit.testing.v1 import AppTest

from core.cohorts import (
    IN_COHORT,
    antecedent_members,
    cohort_csv,
    path_node_members,
    retention_cell_members,
    segment_members,
)
from core.overview import dataset_info
from core.paths import PathsParams
from core.retention import RetentionParams
from core.rules import RulesParams
from core.segments import SegmentParams, feature_availability, fit, user_features_partition
from core.store import DatasetStore
from ui.data import saved_cohorts
from ui.retention import default_period
from ui.urls import COHORT_KEY, DATASET_VIEW_KEYS, SHARED_KEYS

#: The Paths page's settings when nothing is changed.
PAGE_PATHS = PathsParams(max_steps=5, count_by="session_id", node="event", collapse_repeats=True,
                         top_per_step=8, min_edge_weight=1)


@pytest.fixture(scope="module")
def ds() -> str:
    store = DatasetStore()
    events = store.scan("sample").collect()
    last = events.get_column("user_id").max()
    return store.put(events.filter(pl.col("user_id") != last), name="cohort test shop")


@pytest.fixture(scope="module")
def events(ds) -> pl.DataFrame:
    return DatasetStore().scan(ds).collect()


@pytest.fixture(autouse=True)
def no_cohorts(ds):
    store = DatasetStore()
    for c in store.cohorts(ds):
        store.delete_cohort(ds, c.id)
    saved_cohorts.clear()  # the pages' cached list (same process as the AppTests)
    yield
    for c in store.cohorts(ds):
        store.delete_cohort(ds, c.id)
    saved_cohorts.clear()


def _saved(ds: str):
    """The one cohort saved, and its members."""
    store = DatasetStore()
    (c,) = store.cohorts(ds)
    return c, store.cohort_members(ds, c.id)


def _save_direct(ds: str, name: str, members: pl.Series) -> str:
    c = DatasetStore().save_cohort(ds, name, members, definition=f"test: {name}", source="manual")
    saved_cohorts.clear()
    return c.id


def _click_save(at: AppTest, key: str) -> AppTest:
    at.button(key=f"{key}.save").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


# -- saving from the pages ----------------------------------------------------------------------

def test_paths_saves_the_users_of_the_chosen_node(ds, events):
    at = run_page("paths", dataset=ds)
    result = PAGE_PATHS.compute(events)
    # the biggest node of step 2 (step 1's first node is the default choice)
    node = (result.nodes.filter(pl.col("step") == 2).sort("value", descending=True)
            .get_column("key").first())
    at.selectbox(key="paths.cohort_node").set_value(f"0|{node}").run()
    assert at.text_input(key="paths.cohort.name").value.endswith("at step 2")
    _click_save(at, "paths.cohort")
    c, members = _saved(ds)
    expected = path_node_members(result, events, node)
    assert members.to_list() == expected.members.to_list()
    assert c.definition == expected.definition and c.source == "path_node"
    assert any(f"{c.size:,} users" in s.value for s in at.success)
    # the node counts sessions; fewer distinct users are saved
    assert 0 < c.size <= result.nodes.filter(pl.col("key") == node).get_column("value").item()


def test_retention_saves_the_people_of_a_cell(ds, events):
    at = run_page("retention", dataset=ds)
    params = RetentionParams(period=default_period(dataset_info(events)), periods=8)
    result = params.compute(events)
    second = result.people.get_column("cohort").unique().sort()[1]
    at.selectbox(key="retention.cell_cohort").set_value(second.isoformat()).run()
    at.selectbox(key="retention.cell_period").set_value(1).run()
    _click_save(at, "retention.cohort")
    c, members = _saved(ds)
    expected = retention_cell_members(result, second, 1)
    assert members.to_list() == expected.members.to_list()
    assert c.definition == expected.definition and c.source == "retention_cell"
    retained = result.cells.filter((pl.col("cohort") == second) & (pl.col("period") == 1))
    assert c.size == retained.get_column("retained").item()  # the cell's own count


def test_rules_saves_the_users_of_a_rule_left_side(ds, events):
    at = run_page("rules", dataset=ds)
    text = at.selectbox(key="rules.cohort_antecedent").value
    item = at.selectbox(key="rules.item").value
    _click_save(at, "rules.cohort")
    c, members = _saved(ds)
    expected = antecedent_members(events, text.split(" + "),
                                  params=RulesParams(basket="order", item=item,
                                                     source_event="purchase"))
    assert members.to_list() == expected.members.to_list() and c.size > 0
    assert c.name == f"Bought {text}" and c.source == "rules_antecedent"


def test_segments_saves_one_segment(ds, events):
    at = run_page("segments", dataset=ds, timeout=300)
    _click_save(at, "segments.cohort_2")
    c, members = _saved(ds)
    features = user_features_partition(events, report=feature_availability(events))
    seg = fit(features, SegmentParams())
    expected = segment_members(seg, 2)
    assert members.to_list() == expected.members.to_list()
    assert c.name == seg.names[1] and c.definition == expected.definition


def test_a_taken_name_is_refused_with_a_message_and_nothing_is_lost(ds, events):
    at = run_page("paths", dataset=ds)
    _click_save(at, "paths.cohort")
    first, _ = _saved(ds)
    # on the next run the field moves on to a free name, the first being taken
    at.run()
    assert at.text_input(key="paths.cohort.name").value != first.name
    other = PAGE_PATHS.compute(events).nodes.filter(pl.col("step") == 3).get_column("key")[0]
    at.selectbox(key="paths.cohort_node").set_value(f"0|{other}").run()
    at.text_input(key="paths.cohort.name").set_value(first.name.upper()).run()
    at.button(key="paths.cohort.save").click().run()
    assert not at.exception
    assert any("already used" in e.value for e in at.error)
    assert [c.id for c in DatasetStore().cohorts(ds)] == [first.id]


def _control_script() -> None:
    """A page holding only the save control, with a draft chosen by the URL."""
    import os

    import polars as pl
    import streamlit as st

    from core.cohorts import CohortDraft
    from core.errors import ParameterError
    from ui.cohorts import save_cohort_control
    from ui.view import DataView

    def draft() -> CohortDraft:
        with open(os.environ["COHORT_DRAFT_LOG"], "a") as f:
            f.write("called\n")
        kind = st.query_params.get("kind")
        if kind == "error":
            raise ParameterError("`segment` must be a number from 1 to 4, got 9")
        return CohortDraft(pl.Series("user_id", [], dtype=pl.String), "nobody")

    save_cohort_control(DataView(st.query_params["ds"]), draft, source="manual", key="t")


@pytest.mark.parametrize("kind, message", [
    ("empty", "holds no users"), ("error", "`segment` must be a number"),
])
def test_the_draft_is_built_only_on_click_and_problems_are_messages(
        ds, tmp_path, monkeypatch, kind, message):
    log = tmp_path / "calls.txt"
    monkeypatch.setenv("COHORT_DRAFT_LOG", str(log))
    at = AppTest.from_function(_control_script, default_timeout=60)
    at.query_params["ds"] = ds
    at.query_params["kind"] = kind
    at.run()
    assert not at.exception and not log.exists()  # nothing computed before the click
    assert at.text_input(key="t.name").value == "Manual 1"
    at.button(key="t.save").click().run()
    assert not at.exception, at.exception
    assert log.read_text() == "called\n"
    shown = [m.value for m in [*at.warning, *at.error]]
    assert any(message in m for m in shown), shown
    assert DatasetStore().cohorts(ds) == []


# -- the Data page ------------------------------------------------------------------------------

def test_data_page_lists_renames_and_deletes(ds, events):
    users = events.get_column("user_id").unique().sort()
    a = _save_direct(ds, "Early", users.head(10))
    b = _save_direct(ds, "Late", users.tail(25))
    at = run_page("data", dataset=ds)
    table = at.dataframe[0].value
    assert sorted(zip(table["name"], table["users"], strict=True)) == [("Early", 10), ("Late", 25)]
    assert set(table["definition"]) == {"test: Early", "test: Late"}
    assert set(table["source"]) == {"Manual"}
    assert at.get("download_button")  # the CSV of the chosen cohort
    at.selectbox(key="data.cohort").set_value(a).run()
    at.text_input(key=f"data.cohort_rename.{a}").set_value("First ten").run()
    at.button(key="data.cohort_rename").click().run()
    assert not at.exception and not at.error
    assert DatasetStore().cohort(ds, a).name == "First ten"
    assert "First ten" in list(at.dataframe[0].value["name"])
    # a name another cohort has is refused, with the rule in words
    at.text_input(key=f"data.cohort_rename.{a}").set_value("late").run()
    at.button(key="data.cohort_rename").click().run()
    assert any("already used" in e.value for e in at.error)
    at.selectbox(key="data.cohort").set_value(b).run()
    at.button(key="data.cohort_delete").click().run()
    assert not at.exception
    assert [c.id for c in DatasetStore().cohorts(ds)] == [a]
    assert list(at.dataframe[0].value["name"]) == ["First ten"]


def test_the_csv_download_holds_the_members(ds, events):
    members = events.get_column("user_id").unique().sort().head(7)
    cid = _save_direct(ds, "Seven", members)
    text = cohort_csv(DatasetStore(), ds, cid).decode("utf-8-sig").splitlines()
    assert text == ["user_id", *members.to_list()]


def test_a_damaged_cohort_is_reported_and_can_be_removed(ds):
    store = DatasetStore()
    folder = store.cohorts_dir(ds)
    folder.mkdir(parents=True, exist_ok=True)
    bad = "ab" * 16
    (folder / f"{bad}.json").write_text("{not json")
    at = run_page("data", dataset=ds)
    assert any(bad in w.value and "cannot be read" in w.value for w in at.warning)
    at.button(key=f"data.cohort_damaged.{bad}").click().run()
    assert not at.exception
    assert store.damaged_cohorts(ds) == []
    assert not any(bad in w.value for w in at.warning)


# -- the sidebar: filter and breakdown by a cohort ----------------------------------------------

def test_the_cohort_filter_gives_the_numbers_of_its_users(ds, events):
    users = events.get_column("user_id").unique().sort()
    members = users.gather_every(3)  # a third of the users
    cid = _save_direct(ds, "Every third", members)
    column = "cohort · Every third"
    at = run_page("paths", dataset=ds, **{COHORT_KEY: cid, "filter": f"{column} = {IN_COHORT}"})
    assert at.sidebar.multiselect(key=f"paths:{COHORT_KEY}").value == [cid]
    mine = PAGE_PATHS.compute(events.filter(pl.col("user_id").is_in(members.implode())))
    everyone = PAGE_PATHS.compute(events)
    assert metric(at, "Sessions with a path") == f"{mine.entities:,}"
    assert mine.entities < everyone.entities  # the filter did something
    # the link reopens the same view
    assert at.query_params[COHORT_KEY] in (cid, [cid])


def test_a_cohort_breaks_a_page_down(ds, events):
    users = events.get_column("user_id").unique().sort()
    members = users.head(users.len() // 4)
    cid = _save_direct(ds, "First quarter", members)
    column = "cohort · First quarter"
    at = run_page("paths", dataset=ds, **{COHORT_KEY: cid, "paths.by": column,
                                          "paths.values": "not in cohort"})
    assert column in at.selectbox(key="paths.by").options
    others = PAGE_PATHS.compute(events.filter(~pl.col("user_id").is_in(members.implode())))
    assert metric(at, "Sessions with a path") == f"{others.entities:,}"


def test_unknown_cohorts_in_the_link_are_dropped_with_a_notice(ds):
    at = run_page("paths", dataset=ds, **{COHORT_KEY: ["0" * 32, "not-an-id"]})
    shown = " ".join(w.value for w in at.warning)
    assert "0" * 32 in shown and "not-an-id" in shown and "not saved with this dataset" in shown
    assert COHORT_KEY not in at.query_params


def test_a_deleted_or_renamed_cohort_changes_the_view(ds, events):
    members = events.get_column("user_id").unique().sort().head(40)
    cid = _save_direct(ds, "Forty", members)
    at = run_page("retention", dataset=ds, **{COHORT_KEY: cid})
    assert "cohort · Forty" in at.selectbox(key="retention.by").options
    DatasetStore().rename_cohort(ds, cid, "Forty first")
    saved_cohorts.clear()
    at.run()
    assert not at.exception
    options = at.selectbox(key="retention.by").options
    assert "cohort · Forty first" in options and "cohort · Forty" not in options
    DatasetStore().delete_cohort(ds, cid)
    saved_cohorts.clear()
    at.run()
    assert not at.exception
    assert not [o for o in at.selectbox(key="retention.by").options if o.startswith("cohort · ")]
    assert COHORT_KEY not in at.query_params
    assert any("no longer saved with this dataset" in w.value for w in at.warning)


def test_a_filter_on_a_renamed_cohort_is_removed_with_a_notice(ds, events):
    members = events.get_column("user_id").unique().sort().head(30)
    cid = _save_direct(ds, "Thirty", members)
    condition = f"cohort · Thirty = {IN_COHORT}"
    at = run_page("paths", dataset=ds, **{COHORT_KEY: cid, "filter": condition})
    assert at.sidebar.multiselect(key="paths:filter").value == [condition]
    DatasetStore().rename_cohort(ds, cid, "Thirty first")
    saved_cohorts.clear()
    at.run()
    assert not at.exception
    assert at.sidebar.multiselect(key="paths:filter").value == []
    assert any("no longer exist" in w.value and condition in w.value for w in at.warning)


def test_the_cohorts_key_is_shared_and_belongs_to_the_dataset():
    # carried by the navigation links like `seg`, and cleared when another dataset is chosen
    assert COHORT_KEY in SHARED_KEYS and COHORT_KEY in DATASET_VIEW_KEYS


@pytest.mark.parametrize("page, prefix", [
    ("overview", "overview"), ("funnels", "funnels"), ("paths", "paths"),
    ("retention", "retention"), ("segments", "segments"), ("rules", "basket_rules"),
    ("cart", "cart_abandonment"),
])
def test_every_page_filters_by_a_cohort(ds, events, page, prefix):
    members = events.get_column("user_id").unique().sort().head(2_000)
    cid = _save_direct(ds, "First two thousand", members)
    condition = f"cohort · First two thousand = {IN_COHORT}"
    at = run_page(page, dataset=ds, timeout=300, **{COHORT_KEY: cid, "filter": condition})
    assert at.sidebar.multiselect(key=f"{prefix}:filter").value == [condition]
    assert not [e.value for e in at.error if "cohort" in e.value]
