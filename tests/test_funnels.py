"""Funnel semantics, one rule per test, on hand-built journeys (see docs/funnels.md)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest
from builders import make_events

from core import Condition, FunnelStep, ParameterError, SchemaError, compute_funnel
from core.funnels import dropped_off

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
FUNNEL = ["view_item", "add_to_cart", "purchase"]


def furthest(result) -> dict[str, int]:
    col = result.count_by
    return {
        r[col]: r["furthest_step"]
        for r in result.entities.iter_rows(named=True)
        if not r["excluded"]
    }


def excluded(result) -> set[str]:
    return set(result.entities.filter(pl.col("excluded"))[result.count_by].to_list())


def at(hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return datetime(2024, 1, 1, int(h), int(m), tzinfo=timezone.utc)


# ---------------------------------------------------------------------------- counts


def test_counts_conversion_drop_off_and_times():
    ev = make_events(
        {
            "u1": [("view_item", "00:00"), ("add_to_cart", "00:10"), ("purchase", "00:40")],
            "u2": [("view_item", "01:00"), ("add_to_cart", "01:20")],
            "u3": [("view_item", "02:00")],
            "u4": [("page_view", "03:00")],
        }
    )
    r = compute_funnel(ev, FUNNEL, window=DAY)
    s = r.steps
    # reached: step 1 = u1,u2,u3 = 3; step 2 = u1,u2 = 2; step 3 = u1 = 1
    assert s["entities"].to_list() == [3, 2, 1]
    # from first: 3/3, 2/3, 1/3; from previous: step 2 = 2/3, step 3 = 1/2
    assert s["conversion_from_first"].to_list() == pytest.approx([1.0, 2 / 3, 1 / 3])
    assert s["conversion_from_previous"].to_list()[1:] == pytest.approx([2 / 3, 1 / 2])
    assert s["drop_off"].to_list() == [None, 1, 1]
    # step 2 times: u1 10 min = 600 s, u2 20 min = 1200 s -> mean 900, median 900
    assert s["mean_seconds_from_previous"][1] == pytest.approx(900)
    # step 3 times: u1 30 min = 1800 s
    assert s["median_seconds_from_previous"][2] == pytest.approx(1800)
    assert furthest(r) == {"u1": 3, "u2": 2, "u3": 1, "u4": 0}
    assert r.reason is None
    row = r.entities.filter(pl.col("user_id") == "u2").row(0, named=True)
    assert (row["step_1_at"], row["step_2_at"], row["step_3_at"]) == (
        at("01:00"),
        at("01:20"),
        None,
    )


# ---------------------------------------------------------------------------- window


def test_window_is_inclusive_and_measured_from_first_step():
    ev = make_events(
        {
            # add_to_cart exactly 1 h after view: inside an inclusive 1 h window
            "edge": [("view_item", "00:00"), ("add_to_cart", "01:00")],
            "late": [("view_item", "00:00"), ("add_to_cart", "01:01")],
            # each step within 1 h of the previous, but purchase is 1 h 10 min after the view
            "chain": [("view_item", "00:00"), ("add_to_cart", "00:40"), ("purchase", "01:10")],
        }
    )
    r = compute_funnel(ev, FUNNEL, window=HOUR)
    assert furthest(r) == {"edge": 2, "late": 1, "chain": 2}


def test_later_step_one_starts_a_new_attempt():
    # window 1 h: the 00:00 attempt expires; the 05:00 view starts an attempt that converts
    ev = make_events(
        {
            "u": [
                ("view_item", "00:00"),
                ("add_to_cart", "00:30"),
                ("view_item", "05:00"),
                ("add_to_cart", "05:10"),
                ("purchase", "05:20"),
            ]
        }
    )
    r = compute_funnel(ev, FUNNEL, window=HOUR)
    row = r.entities.row(0, named=True)
    assert row["furthest_step"] == 3
    assert (row["step_1_at"], row["step_2_at"], row["step_3_at"]) == (
        at("05:00"),
        at("05:10"),
        at("05:20"),
    )


def test_each_step_takes_the_first_matching_event():
    ev = make_events(
        {
            "u": [
                ("view_item", "00:00"),
                ("add_to_cart", "00:05"),
                ("add_to_cart", "00:07"),
                ("purchase", "00:09"),
            ]
        }
    )
    row = compute_funnel(ev, FUNNEL, window=HOUR).entities.row(0, named=True)
    assert row["step_2_at"] == at("00:05")


def test_times_come_from_the_first_attempt_that_reached_the_furthest_step():
    # both attempts reach step 2; the first one (00:00 -> 00:10) is counted
    ev = make_events(
        {
            "u": [
                ("view_item", "00:00"),
                ("add_to_cart", "00:10"),
                ("view_item", "03:00"),
                ("add_to_cart", "03:01"),
            ]
        }
    )
    row = compute_funnel(ev, FUNNEL, window=HOUR).entities.row(0, named=True)
    assert (row["step_1_at"], row["step_2_at"]) == (at("00:00"), at("00:10"))


def test_attempts_reaching_a_step_with_the_same_event_count_the_latest_start():
    # views at 00:00 and 00:20 both reach step 2 with the 00:30 cart; as in PostHog (and
    # windowFunnel), the attempt that started last is kept: 10 min, not 30 min
    ev = make_events(
        {"u": [("view_item", "00:00"), ("view_item", "00:20"), ("add_to_cart", "00:30")]}
    )
    r = compute_funnel(ev, FUNNEL, window=HOUR)
    row = r.entities.row(0, named=True)
    assert (row["step_1_at"], row["step_2_at"]) == (at("00:20"), at("00:30"))
    assert r.steps["mean_seconds_from_previous"][1] == pytest.approx(600)


def test_one_event_fills_at_most_one_step():
    one = make_events({"u": [("view_item", "00:00")]})
    two = make_events({"u": [("view_item", "00:00"), ("view_item", "00:01")]})
    steps = ["view_item", "view_item"]
    assert furthest(compute_funnel(one, steps, window=HOUR)) == {"u": 1}
    assert furthest(compute_funnel(two, steps, window=HOUR)) == {"u": 2}
    assert furthest(compute_funnel(one, steps, window=HOUR, order="unordered")) == {"u": 1}
    assert furthest(compute_funnel(two, steps, window=HOUR, order="unordered")) == {"u": 2}


def test_equal_timestamps_are_taken_in_step_order():
    # the cart row comes first in the input, at the same second as the view
    ev = make_events({"u": [("add_to_cart", "00:00"), ("view_item", "00:00")]})
    assert furthest(compute_funnel(ev, FUNNEL, window=HOUR)) == {"u": 2}
    assert furthest(compute_funnel(ev, FUNNEL, window=HOUR, order="strict")) == {"u": 2}


def test_step_before_step_one_does_not_count_in_ordered_funnels():
    ev = make_events({"u": [("add_to_cart", "00:00"), ("view_item", "00:01")]})
    assert furthest(compute_funnel(ev, FUNNEL, window=HOUR)) == {"u": 1}


# ---------------------------------------------------------------------------- strict


def test_strict_breaks_on_any_other_event():
    ev = make_events(
        {
            "clean": [("view_item", "00:00"), ("add_to_cart", "00:01"), ("purchase", "00:02")],
            "browse": [("view_item", "00:00"), ("page_view", "00:01"), ("add_to_cart", "00:02")],
            "again": [("view_item", "00:00"), ("view_item", "00:01"), ("add_to_cart", "00:02")],
        }
    )
    assert furthest(compute_funnel(ev, FUNNEL, window=HOUR, order="strict")) == {
        "clean": 3,
        "browse": 1,
        "again": 2,
    }
    # the same journeys in an ordered funnel
    assert furthest(compute_funnel(ev, FUNNEL, window=HOUR)) == {
        "clean": 3,
        "browse": 2,
        "again": 2,
    }


def test_strict_other_event_at_the_same_timestamp_does_not_break():
    # PostHog: events sharing a timestamp with different steps do not break each other
    ev = make_events(
        {"u": [("view_item", "00:00"), ("page_view", "00:01"), ("add_to_cart", "00:01")]}
    )
    assert furthest(compute_funnel(ev, FUNNEL, window=HOUR, order="strict")) == {"u": 2}


# ---------------------------------------------------------------------------- unordered


def test_unordered_any_order_within_window():
    ev = make_events(
        {
            "rev": [("purchase", "00:00"), ("add_to_cart", "00:10"), ("view_item", "00:20")],
            "slow": [("purchase", "00:00"), ("add_to_cart", "00:10"), ("view_item", "02:00")],
        }
    )
    r = compute_funnel(ev, FUNNEL, window=HOUR, order="unordered")
    # slow: purchase+cart within 1 h (2 steps); the view is 2 h after the purchase
    assert furthest(r) == {"rev": 3, "slow": 2}
    row = r.entities.filter(pl.col("user_id") == "rev").row(0, named=True)
    # "completed k steps" times: 00:00, 00:10, 00:20
    assert (row["step_1_at"], row["step_2_at"], row["step_3_at"]) == (
        at("00:00"),
        at("00:10"),
        at("00:20"),
    )


# ---------------------------------------------------------------------------- exclusions


def test_exclusion_removes_entity_posthog_no_end_event_case():
    # PostHog test_funnel_exclusion_no_end_event: window 1 day, exclusion x between 1 and 2
    ev = make_events(
        {
            "p1": [("signup", "00:00"), ("paid", "01:00")],
            "p2": [("signup", "03:00"), ("x", "03:30"), ("paid", "04:00")],
            "p3": [("signup", "05:00"), ("x", "06:00")],  # removed although nothing follows x
            "p4": [("signup", "07:00"), ("x", "D+1 08:00")],  # x outside the window
        }
    )
    r = compute_funnel(ev, ["signup", "paid"], window=DAY, exclusions=[("x", 1, 2)])
    assert r.steps["entities"].to_list() == [2, 1]  # p1, p4 ; p1
    assert excluded(r) == {"p2", "p3"}
    assert r.n_excluded == 2


def test_exclusion_only_between_its_steps():
    ev = make_events(
        {
            "after": [
                ("view_item", "00:00"),
                ("add_to_cart", "00:01"),
                ("x", "00:02"),
                ("purchase", "00:03"),
            ],
            "between": [("view_item", "00:00"), ("x", "00:01"), ("add_to_cart", "00:02")],
            "converted": [
                ("view_item", "00:00"),
                ("add_to_cart", "00:01"),
                ("purchase", "00:02"),
                ("x", "00:03"),
            ],
        }
    )
    r = compute_funnel(ev, FUNNEL, window=HOUR, exclusions=[("x", 1, 2)])
    assert furthest(r) == {"after": 3, "converted": 3}
    assert excluded(r) == {"between"}


def test_clean_attempt_reaching_the_same_step_keeps_the_entity():
    # the first attempt is tainted by x; the 05:00 attempt reaches step 2 cleanly
    ev = make_events(
        {
            "u": [
                ("view_item", "00:00"),
                ("x", "00:01"),
                ("add_to_cart", "00:02"),
                ("view_item", "05:00"),
                ("add_to_cart", "05:01"),
            ]
        }
    )
    r = compute_funnel(ev, FUNNEL, window=HOUR, exclusions=[("x", 1, 2)])
    assert furthest(r) == {"u": 2} and excluded(r) == set()
    assert r.entities.row(0, named=True)["step_1_at"] == at("05:00")


def test_tainted_attempt_that_got_further_removes_the_entity():
    # PostHog counts the furthest attempt: the tainted 00:00 attempt reached step 2 while the
    # clean 05:00 attempt only reached step 1, so the entity is removed
    ev = make_events(
        {
            "u": [
                ("view_item", "00:00"),
                ("x", "00:01"),
                ("add_to_cart", "00:02"),
                ("view_item", "05:00"),
            ]
        }
    )
    r = compute_funnel(ev, FUNNEL, window=HOUR, exclusions=[("x", 1, 2)])
    assert excluded(r) == {"u"}
    assert r.steps["entities"].to_list() == [0, 0, 0]
    assert "removed by an exclusion" in r.reason


def test_excluded_event_at_the_same_timestamp_as_a_step_is_ignored():
    ev = make_events({"u": [("view_item", "00:00"), ("x", "00:01"), ("add_to_cart", "00:01")]})
    r = compute_funnel(ev, FUNNEL, window=HOUR, exclusions=[("x", 1, 2)])
    assert furthest(r) == {"u": 2}


def _posthog_advanced_journeys():
    # PostHog test_advanced_funnel_multiple_exclusions_between_steps
    s = ["user signed up", "$pageview", "insight viewed", "invite teammate", "pageview2"]
    return s, make_events(
        {
            "p1": [
                (s[0], "01:00"),
                ("x", "02:00"),
                (s[1], "03:00"),
                (s[2], "04:00"),
                ("y", "04:30"),
                (s[3], "05:00"),
                (s[4], "06:00"),
            ],
            "p2": [
                (s[0], "01:00"),
                ("y", "01:30"),
                (s[1], "02:00"),
                (s[2], "04:00"),
                ("y", "04:30"),
                (s[3], "05:00"),
                ("x", "05:30"),
                (s[4], "06:00"),
            ],
            "p3": [
                (s[0], "01:00"),
                ("x", "01:30"),
                (s[1], "02:00"),
                (s[2], "04:00"),
                (s[3], "05:00"),
                ("x", "05:30"),
                (s[4], "06:00"),
            ],
            "p4": [
                (s[0], "01:00"),
                (s[1], "02:00"),
                (s[2], "04:00"),
                (s[3], "05:00"),
                (s[4], "06:00"),
            ],
            "p5": [
                (s[0], "01:00"),
                ("x", "01:30"),
                (s[1], "02:00"),
                ("x", "02:30"),
                (s[2], "04:00"),
                ("y", "04:30"),
                (s[3], "05:00"),
                ("x", "05:30"),
                (s[4], "06:00"),
            ],
        }
    )


def test_posthog_advanced_exclusions_ordered():
    steps, ev = _posthog_advanced_journeys()
    r = compute_funnel(ev, steps, window=timedelta(days=14), exclusions=[("x", 1, 2), ("y", 3, 4)])
    assert r.steps["entities"].to_list()[0] == 1 and r.steps["entities"].to_list()[4] == 1
    assert furthest(r) == {"p4": 5}
    r = compute_funnel(ev, steps, window=timedelta(days=14), exclusions=[("x", 1, 5), ("y", 1, 5)])
    assert furthest(r) == {"p4": 5}


def test_posthog_advanced_exclusions_unordered():
    steps, ev = _posthog_advanced_journeys()
    r = compute_funnel(
        ev,
        steps,
        window=timedelta(days=14),
        order="unordered",
        exclusions=[("x", 1, 5), ("y", 1, 5)],
    )
    # PostHog expects 5, 2, 1, 1, 1 (p1 and p4 complete 2 steps; only p4 completes all)
    assert r.steps["entities"].to_list() == [5, 2, 1, 1, 1]
    assert furthest(r) == {"p1": 2, "p2": 1, "p3": 1, "p4": 5, "p5": 1}


# ---------------------------------------------------------------------------- who converts


def test_count_by_session_counts_each_session():
    ev = make_events(
        {
            "u": [
                ("view_item", "00:00", {"session_id": "s1"}),
                ("add_to_cart", "00:01", {"session_id": "s1"}),
                ("view_item", "05:00", {"session_id": "s2"}),
                ("purchase", "05:02", {"session_id": "s2"}),
            ]
        }
    )
    r = compute_funnel(ev, FUNNEL, window=DAY, count_by="session_id")
    assert furthest(r) == {"s1": 2, "s2": 1}
    # by user the 00:00 attempt runs across both sessions: view 00:00, cart 00:01,
    # purchase 05:02, all within a day
    assert furthest(compute_funnel(ev, FUNNEL, window=DAY)) == {"u": 3}


def test_rows_with_null_count_by_are_ignored():
    ev = make_events(
        {
            "u": [
                ("view_item", "00:00", {"order_id": "o1"}),
                ("add_to_cart", "00:01", {"order_id": None}),
                ("purchase", "00:02", {"order_id": "o1"}),
            ]
        }
    )
    r = compute_funnel(ev, FUNNEL, window=DAY, count_by="order_id")
    assert furthest(r) == {"o1": 1}
    assert r.n_entities == 1


def test_step_with_conditions_and_any_of_names():
    ev = make_events(
        {
            "phone": [("view_item", "00:00", {"category": "phones"}), ("purchase", "00:05")],
            "book": [("view_item", "00:00", {"category": "books"}), ("purchase", "00:05")],
            "cart": [("add_to_cart", "00:00", {"category": "phones"}), ("purchase", "00:05")],
        }
    )
    phones = FunnelStep(
        ("view_item", "add_to_cart"), where=(Condition("category", "eq", "phones"),)
    )
    r = compute_funnel(ev, [phones, "purchase"], window=HOUR)
    assert furthest(r) == {"phone": 2, "book": 0, "cart": 2}
    assert r.labels[0] == "view_item or add_to_cart where category = phones"


def test_lazy_input_gives_the_same_result():
    ev = make_events(
        {"u1": [("view_item", "00:00"), ("add_to_cart", "00:01")], "u2": [("view_item", "00:00")]}
    )
    a = compute_funnel(ev, FUNNEL, window=HOUR)
    b = compute_funnel(ev.lazy(), FUNNEL, window=HOUR)
    assert a.steps.equals(b.steps) and a.entities.equals(b.entities)


# ---------------------------------------------------------------------------- breakdown


def test_breakdown_first_touch_top_values_and_other():
    ev = make_events(
        {
            # first touch is the earliest step-1 event with a value: "mobile" although the
            # conversion happened on desktop
            "u1": [
                ("view_item", "00:00", {"device": "mobile"}),
                ("view_item", "01:00", {"device": "desktop"}),
                ("add_to_cart", "01:01"),
            ],
            "u2": [("view_item", "00:00", {"device": "mobile"})],
            "u3": [("view_item", "00:00", {"device": "desktop"}), ("add_to_cart", "00:01")],
            "u4": [("view_item", "00:00", {"device": "tablet"})],
            "u5": [
                ("add_to_cart", "00:00", {"device": "tablet"}),
                ("view_item", "00:01", {"device": None}),
            ],
        }
    )
    r = compute_funnel(
        ev, ["view_item", "add_to_cart"], window=HOUR, breakdown="device", breakdown_limit=2
    )
    bd = dict(zip(r.entities["user_id"], r.entities["breakdown"], strict=True))
    assert bd == {"u1": "mobile", "u2": "mobile", "u3": "desktop", "u4": "tablet", "u5": None}
    per = r.breakdown_steps.filter(pl.col("step") == 1)
    # entrants: mobile 2, desktop 1, tablet 1, (none) 1 -> top 2: mobile, then "(none)" ties
    # with desktop and tablet at 1 and sorts first by name; the rest are "Other"
    assert dict(zip(per["breakdown"], per["entities"], strict=True)) == {
        "mobile": 2,
        "(none)": 1,
        "Other": 2,
    }
    conv = r.breakdown_steps.filter(pl.col("step") == 2)
    assert dict(zip(conv["breakdown"], conv["entities"], strict=True)) == {
        "mobile": 1,
        "(none)": 0,
        "Other": 1,
    }


def test_breakdown_has_no_empty_other_bucket_for_entities_that_never_entered():
    ev = make_events(
        {
            "u1": [("view_item", "00:00", {"device": "mobile"}), ("add_to_cart", "00:01")],
            "u2": [("view_item", "00:00", {"device": "desktop"})],
            "u3": [("page_view", "00:00", {"device": "tablet"})],  # never did step 1
        }
    )
    r = compute_funnel(ev, ["view_item", "add_to_cart"], window=HOUR, breakdown="device")
    # two values among the entrants, well under the limit: two buckets and no "Other"
    per = r.breakdown_steps.filter(pl.col("step") == 1)
    assert dict(zip(per["breakdown"], per["entities"], strict=True)) == {"desktop": 1, "mobile": 1}
    from core.funnels import breakdown_table

    assert breakdown_table(r)["breakdown"].to_list() == ["desktop", "mobile"]


# ---------------------------------------------------------------------------- degenerate


def test_empty_table_explains_itself():
    ev = make_events({})
    r = compute_funnel(ev, FUNNEL, window=DAY)
    assert r.is_empty and r.entities.is_empty()
    assert r.steps["entities"].to_list() == [0, 0, 0]
    assert "empty" in r.reason


def test_no_steps_explains_itself():
    ev = make_events({"u": [("view_item", "00:00")]})
    r = compute_funnel(ev, [], window=DAY)
    assert r.is_empty and r.steps.is_empty()
    assert r.reason == "Add at least one step to build a funnel."


def test_single_step_counts_and_explains():
    ev = make_events({"u": [("view_item", "00:00")], "v": [("page_view", "00:00")]})
    r = compute_funnel(ev, ["view_item"], window=DAY)
    assert r.steps["entities"].to_list() == [1]
    assert "at least two steps" in r.reason


def test_absent_steps_explain_themselves():
    ev = make_events({"u": [("view_item", "00:00"), ("add_to_cart", "00:01")]})
    r = compute_funnel(ev, FUNNEL, window=DAY)
    assert r.steps["entities"].to_list() == [1, 1, 0]
    assert r.absent_steps == (3,)
    assert r.reason == "Step 3 (purchase) never occurs in the selected data."
    r = compute_funnel(ev, ["purchase", "view_item"], window=DAY)
    assert r.is_empty and "Step 1 (purchase) never occurs" in r.reason


def test_nobody_at_step_one():
    ev = make_events({"u": [("view_item", "00:00")], "v": [("add_to_cart", "00:00")]})
    r = compute_funnel(
        ev.filter(pl.col("user_id") == "v"), ["view_item", "add_to_cart"], window=DAY
    )
    assert r.is_empty and r.n_entities == 1


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"window": timedelta(minutes=-5)}, ["window", "-1 day"]),
        ({"window": 3600}, ["window", "timedelta"]),
        ({"order": "loose"}, ["order", "loose", "strict"]),
        ({"count_by": "visitor"}, ["count_by", "visitor", "user_id"]),
        ({"breakdown": "colour"}, ["breakdown", "colour"]),
        ({"breakdown_limit": 0}, ["breakdown_limit", "0"]),
        ({"exclusions": [("x", 2, 2)]}, ["exclusion", "from 2 to 2"]),
        ({"exclusions": [("x", 0, 2)]}, ["exclusion", "from 0 to 2"]),
        ({"exclusions": [("add_to_cart", 1, 3)]}, ["same as funnel step 2"]),
        ({"exclusions": [("x", 1, 2)], "order": "unordered"}, ["unordered", "from 1 to 3"]),
        ({"exclusions": ["x"]}, ["triple"]),
    ],
)
def test_invalid_parameters_name_the_parameter(kwargs, words):
    ev = make_events({"u": [("view_item", "00:00")]})
    args = {"window": DAY} | kwargs
    with pytest.raises(ParameterError) as err:
        compute_funnel(ev, FUNNEL, **args)
    for w in words:
        assert w in str(err.value)


def test_invalid_steps():
    ev = make_events({"u": [("view_item", "00:00")]})
    with pytest.raises(ParameterError, match="at most 30"):
        compute_funnel(ev, ["view_item"] * 31, window=DAY)
    with pytest.raises(ParameterError, match="list of 1 to 30"):
        compute_funnel(ev, "view_item", window=DAY)
    with pytest.raises(ParameterError, match="non-empty event names"):
        compute_funnel(ev, ["view_item", ""], window=DAY)
    with pytest.raises(ParameterError, match="not in the data"):
        compute_funnel(ev, [FunnelStep("view_item", where=("colour:eq:red",))], window=DAY)


def test_missing_event_column_is_a_schema_error():
    ev = make_events({"u": [("view_item", "00:00")]}).drop("event")
    with pytest.raises(SchemaError, match="event"):
        compute_funnel(ev, FUNNEL, window=DAY)


# ---------------------------------------------------------------------------- dropped off


def test_dropped_off_lists_who_stopped_at_a_step():
    ev = make_events(
        {
            "u1": [("view_item", "00:00"), ("add_to_cart", "00:10"), ("purchase", "00:40")],
            "u2": [("view_item", "01:00"), ("add_to_cart", "01:20")],
            "u3": [("view_item", "02:00")],
            "u4": [("page_view", "03:00")],
            "u5": [("view_item", "00:00"), ("x", "00:01")],
        }
    )
    r = compute_funnel(ev, FUNNEL, window=DAY, exclusions=[("x", 1, 2)])
    d2 = dropped_off(r, 2)
    assert d2["user_id"].to_list() == ["u3"]  # u5 is excluded, not a drop-off
    assert d2["dropped_after"].to_list() == [at("02:00")]
    assert dropped_off(r, 3)["user_id"].to_list() == ["u2"]
    assert dropped_off(r, 1)["user_id"].to_list() == ["u4"]
    with pytest.raises(ParameterError, match="from 1 to 3"):
        dropped_off(r, 4)


def test_kernels_compile_without_a_writable_cache():
    """numba refuses ``cache=True`` where it finds no cache folder (here: a function without
    a source file); the kernel decorator then compiles without caching instead of failing."""
    from core.funnels.kernel import _kernel

    namespace: dict = {}
    exec("def plus_one(x):\n    return x + 1\n", namespace)
    assert _kernel()(namespace["plus_one"])(41) == 42
