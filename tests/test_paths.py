"""Paths: hand-built journeys for every rule (PostHog's paths semantics, see docs/paths.md).

Times are minutes after midnight unless written otherwise; the expected numbers are worked out
in the comments.
"""

from __future__ import annotations

import polars as pl
import pytest
from builders import make_events

from core import PathsResult, compute_paths
from core.errors import ParameterError, SchemaError
from core.paths import DROP_OFF, EDGE_SCHEMA, GAP, OTHER, PathsParams, merge_paths
from core.schema import empty_events


def edges(result: PathsResult) -> dict[tuple[str, str], int]:
    return {(s, t): v for s, t, v in result.edges.select("source", "target", "value").iter_rows()}


def seconds(result: PathsResult) -> dict[tuple[str, str], float | None]:
    return {
        (s, t): v for s, t, v in result.edges.select("source", "target", "mean_seconds").iter_rows()
    }


def node_values(result: PathsResult) -> dict[str, int]:
    return dict(result.nodes.select("key", "value").iter_rows())


# --------------------------------------------------------------------------- basics


def test_edges_carry_step_keys_drop_off_and_mean_seconds():
    ev = make_events(
        {
            "u1": [("page_view", "00:00"), ("view_item", "00:01"), ("add_to_cart", "00:03")],
            "u2": [("page_view", "00:00"), ("view_item", "00:02")],
        }
    )
    r = compute_paths(ev)
    assert r.entities == 2 and r.reason is None and not r.empty
    assert edges(r) == {
        ("1_page_view", "2_view_item"): 2,
        ("2_view_item", "3_add_to_cart"): 1,
        ("2_view_item", f"3_{DROP_OFF}"): 1,  # u2's path ends after 2 of 5 steps
        ("3_add_to_cart", f"4_{DROP_OFF}"): 1,
    }
    s = seconds(r)
    assert s[("1_page_view", "2_view_item")] == pytest.approx(90.0)  # (60 s + 120 s) / 2
    assert s[("2_view_item", "3_add_to_cart")] == pytest.approx(120.0)  # 00:01 -> 00:03
    assert s[("2_view_item", f"3_{DROP_OFF}")] is None
    n = r.nodes.filter(pl.col("key") == f"3_{DROP_OFF}").row(0, named=True)
    assert (n["label"], n["kind"], n["value"], n["share"]) == ("Drop-off", "drop_off", 1, 0.5)


def test_path_at_the_step_limit_has_no_drop_off():
    ev = make_events(
        {
            "u1": [("page_view", "00:00"), ("view_item", "00:01"), ("add_to_cart", "00:03")],
            "u2": [("page_view", "00:00"), ("view_item", "00:02")],
        }
    )
    # max_steps=2: both sessions are cut to page_view -> view_item; none ended early
    assert edges(compute_paths(ev, max_steps=2)) == {("1_page_view", "2_view_item"): 2}


def test_single_event_session_flows_into_drop_off():
    r = compute_paths(make_events({"u1": [("search", "00:00")]}))
    assert edges(r) == {("1_search", f"2_{DROP_OFF}"): 1}
    assert r.top_paths.select("label", "steps", "count", "share").row(0) == ("search", 1, 1, 1.0)


# --------------------------------------------------------------------------- sessions


def _two_visits():
    # one user, two visits 31 minutes apart (00:10 -> 00:41)
    return make_events(
        {
            "u1": [
                ("page_view", "00:00"),
                ("view_item", "00:10"),
                ("search", "00:41"),
                ("view_item", "00:42"),
            ]
        }
    )


def test_sessions_split_at_30_minutes_and_count_by_user_joins_them():
    ev = _two_visits()
    by_session = compute_paths(ev)
    assert by_session.entities == 2
    assert set(by_session.top_paths["label"]) == {"page_view → view_item", "search → view_item"}
    by_user = compute_paths(ev, count_by="user_id")
    assert by_user.entities == 1
    assert by_user.top_paths["label"].to_list() == ["page_view → view_item → search → view_item"]
    assert by_user.params.entity_word == "users"


def test_null_session_ids_are_split_at_30_minutes():
    ev = _two_visits().with_columns(pl.lit(None, dtype=pl.String).alias("session_id"))
    r = compute_paths(ev)
    assert r.entities == 2
    assert set(r.top_paths["label"]) == {"page_view → view_item", "search → view_item"}


def test_interleaved_session_ids_are_kept_apart():
    # two tabs of one user: sessions s1 and s2 alternate in time
    ev = make_events(
        {
            "u1": [
                ("page_view", "00:00", {"session_id": "s1"}),
                ("search", "00:01", {"session_id": "s2"}),
                ("view_item", "00:02", {"session_id": "s1"}),
                ("view_item", "00:04", {"session_id": "s2"}),
            ]
        }
    )
    r = compute_paths(ev)
    assert edges(r)[("1_page_view", "2_view_item")] == 1
    assert edges(r)[("1_search", "2_view_item")] == 1
    assert seconds(r)[("1_search", "2_view_item")] == pytest.approx(180.0)  # 00:01 -> 00:04


def test_row_order_of_the_input_does_not_matter():
    ev = make_events(
        {
            "u1": [("page_view", "00:00"), ("view_item", "00:01"), ("add_to_cart", "00:03")],
            "u2": [("search", "00:00"), ("view_item", "00:02"), ("view_item", "00:04")],
            "u3": [("view_item", "00:00"), ("purchase", "00:09")],
        }
    )
    ref = compute_paths(ev)
    shuffled = compute_paths(ev.sample(fraction=1.0, shuffle=True, seed=3))
    assert shuffled.edges.equals(ref.edges)
    assert shuffled.top_paths.equals(ref.top_paths)
    lazy = compute_paths(ev.lazy())
    assert lazy.edges.equals(ref.edges) and lazy.nodes.equals(ref.nodes)


# --------------------------------------------------------------------------- collapse


def _repeats():
    return make_events(
        {
            "u1": [
                ("view_item", "00:00"),
                ("view_item", "00:01"),
                ("view_item", "00:02"),
                ("add_to_cart", "00:05"),
                ("view_item", "00:06"),
            ]
        }
    )


def test_consecutive_repeats_collapse_and_loops_stay():
    r = compute_paths(_repeats())
    # view_item x3, add_to_cart, view_item -> view_item, add_to_cart, view_item
    assert edges(r) == {
        ("1_view_item", "2_add_to_cart"): 1,
        ("2_add_to_cart", "3_view_item"): 1,
        ("3_view_item", f"4_{DROP_OFF}"): 1,
    }
    # a collapsed step takes the time of its last repeat (PostHog): 00:02 -> 00:05
    assert seconds(r)[("1_view_item", "2_add_to_cart")] == pytest.approx(180.0)


def test_collapse_off_keeps_every_event():
    r = compute_paths(_repeats(), collapse_repeats=False)
    assert edges(r) == {
        ("1_view_item", "2_view_item"): 1,
        ("2_view_item", "3_view_item"): 1,
        ("3_view_item", "4_add_to_cart"): 1,
        ("4_add_to_cart", "5_view_item"): 1,  # 5 events, 5 steps: no drop-off
    }


# --------------------------------------------------------------------------- anchors


def _anchored():
    return make_events(
        {
            "u1": [
                ("page_view", "00:00"),
                ("view_item", "00:01"),
                ("add_to_cart", "00:02"),
                ("view_item", "00:03"),
                ("purchase", "00:04"),
            ],
            "u2": [("page_view", "00:00"), ("search", "00:01")],
            "u3": [("search", "00:00"), ("add_to_cart", "00:01")],
        }
    )


def test_start_point_begins_at_its_first_occurrence():
    r = compute_paths(_anchored(), start="view_item")
    # only u1 reaches view_item; its path starts at the first one (00:01), not the second
    assert r.entities == 1
    assert r.top_paths["label"].to_list() == ["view_item → add_to_cart → view_item → purchase"]
    assert edges(r)[("1_view_item", "2_add_to_cart")] == 1
    assert edges(r)[("4_purchase", f"5_{DROP_OFF}")] == 1


def test_start_point_nobody_reaches_gives_an_empty_result_with_a_reason():
    r = compute_paths(_anchored(), start="login")
    assert r.empty and r.entities == 0 and "login" in r.reason
    assert r.edges.height == 0 and r.edges.schema == pl.Schema(EDGE_SCHEMA)
    assert r.top_paths.height == 0


def test_end_point_walks_backwards_and_aligns_on_the_end():
    ev = make_events(
        {
            "u1": [
                ("page_view", "00:00"),
                ("search", "00:01"),
                ("view_item", "00:02"),
                ("add_to_cart", "00:03"),
                ("view_item", "00:04"),
                ("add_to_cart", "00:05"),
            ],
            "u2": [("view_item", "00:00"), ("add_to_cart", "00:01")],
            "u3": [("page_view", "00:00")],
        }
    )
    r = compute_paths(ev, end="add_to_cart", max_steps=3)
    # u1: up to its FIRST add_to_cart = page_view, search, view_item, add_to_cart -> last 3 steps
    # u2: view_item, add_to_cart -> steps 2 and 3 (the end point always sits at step 3)
    # u3 never reaches add_to_cart
    assert r.entities == 2
    assert edges(r) == {
        ("1_search", "2_view_item"): 1,
        ("2_view_item", "3_add_to_cart"): 2,
    }
    assert node_values(r)["3_add_to_cart"] == 2
    assert not r.nodes["kind"].is_in(["drop_off"]).any()


def test_start_and_end_keep_what_happens_in_between():
    ev = make_events(
        {
            "u1": [
                ("page_view", "00:00"),
                ("view_item", "00:01"),
                ("search", "00:02"),
                ("view_item", "00:03"),
                ("add_to_cart", "00:04"),
                ("purchase", "00:05"),
            ],
            "u3": [("add_to_cart", "00:00"), ("view_item", "00:01")],  # end before start only
        }
    )
    r = compute_paths(ev, start="view_item", end="add_to_cart")
    assert r.entities == 1
    assert edges(r) == {
        ("1_view_item", "2_search"): 1,
        ("2_search", "3_view_item"): 1,
        ("3_view_item", "4_add_to_cart"): 1,  # ends at the end point: no drop-off node
    }


def test_same_start_and_end_means_the_next_return():
    ev = make_events(
        {
            "u1": [
                ("view_item", "00:00"),
                ("search", "00:01"),
                ("view_item", "00:02"),
                ("purchase", "00:03"),
            ]
        }
    )
    r = compute_paths(ev, start="view_item", end="view_item")
    assert r.top_paths["label"].to_list() == ["view_item → search → view_item"]


def test_long_paths_between_start_and_end_elide_the_middle():
    # view_item, s1 .. s5, add_to_cart one minute apart: 7 steps, max_steps=5
    ev = make_events(
        {
            "u1": [
                ("view_item", "00:00"),
                ("s1", "00:01"),
                ("s2", "00:02"),
                ("s3", "00:03"),
                ("s4", "00:04"),
                ("s5", "00:05"),
                ("add_to_cart", "00:06"),
            ]
        }
    )
    r = compute_paths(ev, start="view_item", end="add_to_cart", max_steps=5)
    # first 2 steps, one gap node standing for s2..s4, last 2 steps
    assert edges(r) == {
        ("1_view_item", "2_s1"): 1,
        ("2_s1", f"3_{GAP}"): 1,
        (f"3_{GAP}", "4_s5"): 1,
        ("4_s5", "5_add_to_cart"): 1,
    }
    s = seconds(r)
    # the gap takes the time of the last elided event (s4, 00:04), so the total stays 6 min
    assert s[("2_s1", f"3_{GAP}")] == pytest.approx(180.0)
    assert s[(f"3_{GAP}", "4_s5")] == pytest.approx(60.0)
    assert sum(s.values()) == pytest.approx(360.0)
    assert r.top_paths["label"].to_list() == ["view_item → s1 → … → s5 → add_to_cart"]
    gap = r.nodes.filter(pl.col("kind") == "gap").row(0, named=True)
    assert gap["label"] == "…"


# --------------------------------------------------------------------------- exclusions and groupings


def test_excluded_events_are_removed_before_collapsing():
    ev = make_events(
        {
            "u1": [
                ("view_item", "00:00"),
                ("scroll", "00:01"),
                ("view_item", "00:02"),
                ("add_to_cart", "00:03"),
            ]
        }
    )
    r = compute_paths(ev, exclude=["scroll"])
    # view_item, view_item, add_to_cart -> view_item, add_to_cart (last view_item at 00:02)
    assert edges(r) == {("1_view_item", "2_add_to_cart"): 1, ("2_add_to_cart", f"3_{DROP_OFF}"): 1}
    assert seconds(r)[("1_view_item", "2_add_to_cart")] == pytest.approx(60.0)


def _pages():
    return make_events(
        {
            "u1": [
                ("/", "00:00"),
                ("/product/1", "00:01"),
                ("/product/2", "00:02"),
                ("/cart", "00:03"),
            ],
            "u2": [("/", "00:00"), ("/en/product/9", "00:01"), ("/cart", "00:02")],
        }
    )


def test_wildcard_groupings_merge_names_before_counting():
    r = compute_paths(_pages(), groupings=["/product/*"])
    # u1: /, /product/*, /product/* -> collapsed, /cart. u2's /en/product/9 matches too:
    # patterns match anywhere in the name, as PostHog's multiMatchAnyIndex does.
    assert edges(r) == {
        ("1_/", "2_/product/*"): 2,
        ("2_/product/*", "3_/cart"): 2,
        ("3_/cart", f"4_{DROP_OFF}"): 2,
    }


def test_regex_groupings_with_names_and_first_match_wins():
    r = compute_paths(
        _pages(),
        groupings=[
            ("re:^/product/1$", "first product"),
            ("re:^/(en/)?product/\\d+$", "product page"),
        ],
    )
    assert edges(r)[("2_first product", "3_product page")] == 1  # u1
    assert edges(r)[("1_/", "2_product page")] == 1  # u2
    r2 = compute_paths(_pages(), groupings=["re:^/product/"])
    assert ("1_/", "2_^/product/") in edges(r2)  # a bare regex names its group by itself


def test_start_point_may_be_a_raw_name_inside_a_group():
    r = compute_paths(_pages(), start="/product/2", groupings=["/product/*"])
    # /product/2 belongs to "/product/*", whose first occurrence is u1's /product/1 (and u2's)
    assert r.entities == 2
    assert edges(r)[("1_/product/*", "2_/cart")] == 2


def test_exclude_accepts_group_names():
    r = compute_paths(_pages(), groupings=["/product/*"], exclude=["/product/*"])
    assert edges(r)[("1_/", "2_/cart")] == 2


# --------------------------------------------------------------------------- nodes and folding


def _ten_sessions():
    journeys = {}
    plan = (
        [("page_view", "view_item")] * 5
        + [("search", "view_item")] * 2
        + [("search", "add_to_cart")]
        + [("view_item", "purchase")]
        + [("login", "view_item")]
    )
    for i, (a, b) in enumerate(plan):
        journeys[f"u{i}"] = [(a, "00:00"), (b, "00:01")]
    return make_events(journeys)


def test_top_per_step_folds_the_rarest_into_other_with_exact_totals():
    r = compute_paths(_ten_sessions(), top_per_step=2)
    # step 1: page_view 5, search 3 kept; login 1 and view_item 1 -> Other 2 (ties by name)
    nv = node_values(r)
    assert nv["1_page_view"] == 5 and nv["1_search"] == 3 and nv[f"1_{OTHER}"] == 2
    other = r.nodes.filter(pl.col("key") == f"1_{OTHER}").row(0, named=True)
    assert other["members"] == ["login", "view_item"] and other["label"] == "Other"
    # step 2: view_item 8 kept, add_to_cart 1 and purchase 1 tie: add_to_cart kept by name
    assert nv["2_view_item"] == 8 and nv["2_add_to_cart"] == 1 and nv[f"2_{OTHER}"] == 1
    step_totals = r.nodes.group_by("step").agg(pl.col("value").sum()).sort("step")
    assert step_totals["value"].to_list() == [10, 10, 10]  # nothing lost; step 3 = drop-offs
    # flows out of Other are those of the folded sessions: login->view_item, view_item->Other
    assert edges(r)[(f"1_{OTHER}", "2_view_item")] == 1
    assert edges(r)[(f"1_{OTHER}", f"2_{OTHER}")] == 1


def test_min_edge_weight_folds_weak_links_and_keeps_totals():
    r = compute_paths(_ten_sessions(), top_per_step=None, min_edge_weight=2)
    e = edges(r)
    # weak: search->add_to_cart (1), view_item->purchase (1), login->view_item (1)
    assert e[("1_search", f"2_{OTHER}")] == 1
    assert e[("1_view_item", f"2_{OTHER}")] == 1
    assert e[("1_login", f"2_{OTHER}")] == 1
    assert e[("1_page_view", "2_view_item")] == 5 and e[("1_search", "2_view_item")] == 2
    assert all(v >= 2 for (s, t), v in e.items() if not t.endswith((OTHER, DROP_OFF)))
    assert sum(v for (s, t), v in e.items() if s.startswith("1_")) == 10
    assert e[(f"2_{OTHER}", f"3_{DROP_OFF}")] == 3


def test_top_paths_share_and_purchases_beyond_the_step_limit():
    ev = make_events(
        {
            "s1": [
                ("view_item", "00:00"),
                ("add_to_cart", "00:01"),
                ("begin_checkout", "00:02"),
                ("purchase", "00:03"),
            ],
            "s2": [("view_item", "00:00"), ("add_to_cart", "00:01")],
            "s3": [("view_item", "00:00"), ("add_to_cart", "00:01")],
            "s4": [("purchase", "00:00"), ("search", "00:01"), ("view_item", "00:02")],
        }
    )
    r = compute_paths(ev, max_steps=2)
    top = {row["label"]: row for row in r.top_paths.iter_rows(named=True)}
    first = top["view_item → add_to_cart"]
    # 3 of 4 sessions; s1 purchased after the 2-step limit and still counts
    assert (first["count"], first["share"], first["purchased"]) == (3, 0.75, 1)
    assert first["conversion"] == pytest.approx(1 / 3)
    assert r.top_paths["label"][0] == "view_item → add_to_cart"
    # with a start point, a purchase before the path starts does not count
    r2 = compute_paths(ev, start="search", max_steps=2)
    assert r2.top_paths.select("label", "purchased").row(0) == ("search → view_item", 0)


# --------------------------------------------------------------------------- node kinds


def test_event_type_nodes_and_category_hops_skip_events_without_a_value():
    ev = make_events(
        {
            "u1": [
                ("page_view", "00:00"),
                ("product_view", "00:01", {"event_type": "view_item", "category": "shoes"}),
                ("view_item", "00:02", {"category": "shoes"}),
                ("view_item", "00:03", {"category": "bags"}),
            ]
        }
    )
    by_type = compute_paths(ev, node="event_type")
    # page_view, view_item, view_item, view_item -> page_view, view_item
    assert edges(by_type)[("1_page_view", "2_view_item")] == 1
    assert by_type.node_types["view_item"] == "view_item"
    by_cat = compute_paths(ev, node="category")
    # page_view has no category and is skipped: shoes, shoes, bags -> shoes, bags
    assert edges(by_cat) == {("1_shoes", "2_bags"): 1, ("2_bags", f"3_{DROP_OFF}"): 1}
    by_event = compute_paths(ev)
    assert by_event.node_types["product_view"] == "view_item"  # colour of its event type


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"max_steps": 1}, ["max_steps", "1", "2 to 20"]),
        ({"max_steps": 21}, ["max_steps", "21"]),
        ({"max_steps": True}, ["max_steps"]),
        ({"max_steps": 2, "start": "a", "end": "b"}, ["max_steps", "at least 3"]),
        ({"count_by": "device"}, ["count_by", "device", "session_id"]),
        ({"top_per_step": 0}, ["top_per_step", "0"]),
        ({"min_edge_weight": 0}, ["min_edge_weight", "0"]),
        ({"node": "ts"}, ["node", "ts"]),
        ({"node": "colour"}, ["node", "colour", "available", "event"]),
        ({"groupings": ["re:("]}, ["groupings", "re:("]),
        ({"groupings": [("a", "b", "c")]}, ["groupings"]),
        ({"start": 3}, ["start", "3"]),
    ],
)
def test_bad_parameters_raise_a_message_naming_them(kwargs, words):
    ev = make_events({"u1": [("page_view", "00:00")]})
    with pytest.raises(ParameterError) as info:
        compute_paths(ev, **kwargs)
    for w in words:
        assert w in str(info.value)


def test_missing_required_columns_raise_schema_error():
    with pytest.raises(SchemaError):
        compute_paths(pl.DataFrame({"user_id": ["u"], "event": ["x"]}))


def test_params_are_hashable_and_normalised():
    a = PathsParams(exclude=["x"], groupings=[["re:^a", "A"]], start="")
    assert a.start is None and a.exclude == ("x",) and a.groupings == (("re:^a", "A"),)
    assert hash(a) == hash(PathsParams(exclude=("x",), groupings=(("re:^a", "A"),)))
    assert a.mode == "all" and PathsParams(start="a", end="b").mode == "between"


# --------------------------------------------------------------------------- degenerate input


def test_empty_table_gives_an_empty_result_with_a_reason():
    r = compute_paths(empty_events())
    assert r.empty and "no events" in r.reason
    assert r.edges.schema["value"] == pl.Int64 and r.nodes.height == 0


def test_everything_excluded_gives_an_empty_result():
    r = compute_paths(make_events({"u1": [("scroll", "00:00")]}), exclude=["scroll"])
    assert r.empty and r.reason


def test_node_column_without_values_gives_an_empty_result():
    r = compute_paths(make_events({"u1": [("scroll", "00:00")]}), node="brand")
    assert r.empty and "brand" in r.reason


# --------------------------------------------------------------------------- partitions


def _shop():
    return make_events(
        {
            "u1": [
                ("page_view", "00:00"),
                ("view_item", "00:01"),
                ("add_to_cart", "00:02"),
                ("purchase", "00:04"),
            ],
            "u2": [("page_view", "00:00"), ("view_item", "00:03"), ("view_item", "00:04")],
            "u3": [
                ("search", "00:00"),
                ("view_item", "00:01"),
                ("page_view", "00:50"),
                ("view_item", "00:52"),
            ],
            "u4": [("view_item", "00:00"), ("add_to_cart", "00:02"), ("view_item", "00:03")],
            "u5": [("page_view", "00:00"), ("search", "00:05")],
        }
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"top_per_step": 1, "min_edge_weight": 2},
        {"end": "view_item", "max_steps": 3},
        {"start": "view_item", "count_by": "user_id"},
    ],
)
def test_merging_partitions_by_user_equals_the_whole(kwargs):
    ev = _shop()
    whole = compute_paths(ev, **kwargs)
    part_a = compute_paths(ev.filter(pl.col("user_id").is_in(["u1", "u3"])), **kwargs)
    part_b = compute_paths(ev.filter(~pl.col("user_id").is_in(["u1", "u3"])), **kwargs)
    merged = merge_paths([part_a, part_b])
    assert merged.entities == whole.entities
    assert edges(merged) == edges(whole)
    assert node_values(merged) == node_values(whole)
    assert (
        merged.top_paths.select("label", "count", "purchased")
        .sort("label")
        .equals(whole.top_paths.select("label", "count", "purchased").sort("label"))
    )
    merged_seconds = seconds(merged)
    for key, sec in seconds(whole).items():
        if sec is None:
            assert merged_seconds[key] is None
        else:
            assert merged_seconds[key] == pytest.approx(sec)


def test_unfolded_edge_counts_of_partitions_add_up():
    ev = _shop()
    kw = {"top_per_step": None, "min_edge_weight": 1}
    whole = edges(compute_paths(ev, **kw))
    total: dict = {}
    for users in (["u1", "u2"], ["u3"], ["u4", "u5"]):
        for key, v in edges(compute_paths(ev.filter(pl.col("user_id").is_in(users)), **kw)).items():
            total[key] = total.get(key, 0) + v
    assert total == whole


def test_merge_rejects_mixed_parameters():
    ev = _shop()
    with pytest.raises(ParameterError):
        merge_paths([compute_paths(ev), compute_paths(ev, max_steps=3)])
    with pytest.raises(ParameterError):
        merge_paths([])


# --------------------------------------------------------------------------- funnel drop-offs


def _funnel_shop():
    return make_events(
        {
            "u1": [("view_item", "00:00"), ("add_to_cart", "00:01"), ("purchase", "00:02")],
            # dropped at step 2; the counted attempt starts at the first view_item (00:01)
            "u2": [
                ("page_view", "00:00"),
                ("view_item", "00:01"),
                ("search", "00:02"),
                ("view_item", "00:03"),
            ],
            "u3": [("view_item", "00:00"), ("add_to_cart", "00:01"), ("view_item", "00:02")],
            "u4": [("search", "00:00")],  # never did step 1
            "u5": [("search", "00:00"), ("view_item", "00:05")],  # dropped at step 2
        }
    )


def test_paths_after_a_funnel_drop_off_start_at_the_previous_step():
    from datetime import timedelta

    from core.funnels import FunnelParams
    from core.paths import paths_after_drop_off

    funnel = FunnelParams(steps=("view_item", "add_to_cart", "purchase"), window=timedelta(days=1))
    r, info = paths_after_drop_off(_funnel_shop(), funnel=funnel, dropped_at=2)
    # u2 and u5 viewed an item and never added to cart; their paths start at that view
    assert (info.entities, info.start, info.count_by) == (2, "view_item", "user_id")
    assert (info.previous_label, info.step_label) == ("view_item", "add_to_cart")
    assert r.entities == 2 and r.params.count_by == "user_id"
    assert sorted(r.top_paths["label"]) == ["view_item", "view_item → search → view_item"]
    # dropped at step 3: u3 added to cart and did not buy; its path starts at add_to_cart
    r3, info3 = paths_after_drop_off(_funnel_shop(), funnel=funnel, dropped_at=3)
    assert info3.entities == 1 and r3.top_paths["label"].to_list() == ["add_to_cart → view_item"]
    # a URL round trip gives the same funnel
    same = FunnelParams.from_query(funnel.to_query())
    assert paths_after_drop_off(_funnel_shop(), funnel=same, dropped_at=2)[0].edges.equals(r.edges)


def test_drop_off_links_with_nobody_or_bad_steps():
    from datetime import timedelta

    from core.funnels import FunnelParams
    from core.paths import paths_after_drop_off

    ev = make_events({"u1": [("view_item", "00:00"), ("add_to_cart", "00:01")]})
    funnel = FunnelParams(steps=("view_item", "add_to_cart"), window=timedelta(days=1))
    r, info = paths_after_drop_off(ev, funnel=funnel, dropped_at=2)
    assert r.empty and info.entities == 0 and "add_to_cart" in r.reason
    for bad in (1, 3, "2"):
        with pytest.raises(ParameterError, match="dropped_at"):
            paths_after_drop_off(ev, funnel=funnel, dropped_at=bad)


# --------------------------------------------------------------------------- breakdowns


def test_breakdown_keeps_whole_entities_by_their_first_value():
    from core.paths import filter_breakdown

    ev = make_events(
        {
            # s1's first event has no device: its value is the first one it has (mobile)
            "u1": [
                ("page_view", "00:00"),
                ("view_item", "00:01", {"device": "mobile"}),
                ("add_to_cart", "00:02", {"device": "desktop"}),
            ],
            "u2": [("page_view", "00:00", {"device": "desktop"}), ("view_item", "00:01")],
        }
    )
    mobile = filter_breakdown(ev, column="device", value="mobile")
    assert mobile["user_id"].to_list() == ["u1", "u1", "u1"]  # all of u1's events, in order
    r = compute_paths(mobile)
    assert r.top_paths["label"].to_list() == ["page_view → view_item → add_to_cart"]
    desktop = filter_breakdown(ev.lazy(), column="device", value="desktop").collect()
    assert desktop["user_id"].to_list() == ["u2", "u2"]
    with pytest.raises(ParameterError, match="colour"):
        filter_breakdown(ev, column="colour", value="x")
