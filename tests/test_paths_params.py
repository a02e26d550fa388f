"""PathsParams: the params form of a paths analysis (issue 13) and its one place of validation."""

from __future__ import annotations

import polars as pl
import pytest
from builders import make_events

from core import compute_paths
from core.errors import ParameterError
from core.paths import DROP_OFF, PathsParams


def _shop():
    return make_events(
        {
            "u1": [("page_view", "00:00"), ("scroll", "00:01"), ("view_item", "00:02")],
            "u2": [("page_view", "00:00"), ("view_item", "00:01"), ("scroll", "00:02")],
            "u3": [("search", "00:00"), ("scroll", "00:01")],
        }
    )


def _edges(result) -> dict[tuple[str, str], int]:
    return dict(
        ((s, t), v) for s, t, v in result.edges.select("source", "target", "value").iter_rows()
    )


def test_params_compute_equals_the_keyword_function_and_the_result_carries_the_params():
    ev = _shop()
    p = PathsParams(start="page_view", max_steps=3, count_by="user_id", top_per_step=None)
    r = p.compute(ev)
    assert r.params is p
    same = compute_paths(ev, **p.kwargs())
    assert same.params == p
    assert r.edges.equals(same.edges) and r.nodes.equals(same.nodes)
    assert r.top_paths.equals(same.top_paths) and r.path_counts.equals(same.path_counts)
    # the lazy form gives the same answer
    assert p.compute(ev.lazy()).edges.equals(r.edges)


def test_one_excluded_name_given_as_a_string_is_one_name_not_its_letters():
    # exclude="scroll" must mean ("scroll",), as PathsParams(exclude="scroll") already does;
    # before, compute_paths made tuple("scroll") = ("s", "c", "r", ...) and excluded nothing.
    ev = _shop()
    as_string = compute_paths(ev, exclude="scroll", top_per_step=None)
    as_list = compute_paths(ev, exclude=["scroll"], top_per_step=None)
    assert as_string.params.exclude == ("scroll",)
    assert _edges(as_string) == _edges(as_list)
    # u1: page_view -> view_item; u2: page_view -> view_item; u3: search (then drop-off)
    assert _edges(as_string) == {
        ("1_page_view", "2_view_item"): 2,
        ("1_search", f"2_{DROP_OFF}"): 1,
        ("2_view_item", f"3_{DROP_OFF}"): 2,
    }


def test_one_grouping_given_as_a_string_is_one_rule():
    ev = make_events({"u1": [("page_view", "00:00"), ("view_item", "00:01")]})
    r = compute_paths(ev, groupings="re:^(page|view)", top_per_step=None)
    assert r.params.groupings == ("re:^(page|view)",)
    # both names match the one rule, so they become one node and collapse into one step
    assert _edges(r) == {(r"1_^(page|view)", f"2_{DROP_OFF}"): 1}


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"collapse_repeats": "yes"}, ["collapse_repeats", "True or False", "'yes'"]),
        ({"exclude": 5}, ["exclude", "5"]),
        ({"groupings": 5}, ["groupings", "5"]),
        ({"groupings": [""]}, ["groupings", "empty"]),
        ({"node": ""}, ["node"]),
        ({"top_per_step": 2.5}, ["top_per_step", "2.5", "None"]),
        ({"end": 7}, ["end", "7"]),
    ],
)
def test_bad_settings_raise_a_parameter_error_naming_them(kwargs, words):
    with pytest.raises(ParameterError) as info:
        PathsParams(**kwargs)
    for w in words:
        assert w in str(info.value)


def test_the_node_column_is_checked_against_the_table_and_only_node_columns_are_offered():
    ev = _shop()
    with pytest.raises(ParameterError) as info:
        PathsParams(node="colour").compute(ev)
    message = str(info.value)
    assert "`node`" in message and "'colour'" in message and "'event'" in message
    assert "'ts'" not in message and "'session_id'" not in message


def test_replace_validates_again_and_kwargs_round_trip():
    p = PathsParams(start="a", end="b", max_steps=3)
    with pytest.raises(ParameterError, match="at least 3"):
        p.replace(max_steps=2)
    assert PathsParams(**p.kwargs()) == p
    assert p.replace(end=None).mode == "start"


def test_a_result_without_paths_carries_its_params_too():
    ev = make_events({"u1": [("scroll", "00:00")]})
    p = PathsParams(exclude=("scroll",))
    r = p.compute(ev)
    assert r.empty and r.params is p and r.reason
    assert r.path_counts.columns[: p.max_steps] == [f"step_{i}" for i in range(1, 6)]
    assert r.path_counts.schema["count"] == pl.Int64
