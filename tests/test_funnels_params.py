"""FunnelParams: the one place a funnel's settings are validated, and the result that carries them."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from builders import make_events
from polars.testing import assert_frame_equal

from core import ParameterError, compute_funnel
from core.funnels import (
    FunnelParams,
    FunnelStep,
    conversion_by_attempt,
    merge_funnel_results,
)

DAY = timedelta(days=1)
FUNNEL = ("view_item", "add_to_cart", "purchase")
EVENTS = make_events(
    {
        "u1": [("view_item", "00:00"), ("add_to_cart", "00:05"), ("purchase", "00:10")],
        "u2": [("view_item", "00:00"), ("x", "00:01"), ("add_to_cart", "00:02")],
        "u3": [("view_item", "D+1 00:00")],
    }
)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"exclusions": [("x", 1, 2)], "order": "unordered"}, ["unordered", "from 1 to 3"]),
        ({"exclusions": [("add_to_cart", 1, 3)]}, ["same as funnel step 2"]),
        ({"exclusions": [("x", 2, 2)]}, ["exclusion", "from 2 to 2"]),
        ({"exclusions": [("x", True, 2)]}, ["whole step numbers"]),
        ({"steps": ["view_item"] * 31}, ["at most 30"]),
        ({"steps": "view_item"}, ["list of 1 to 30"]),
        ({"window": timedelta(minutes=-5)}, ["window", "-1 day"]),
        ({"count_by": ""}, ["count_by"]),
    ],
)
def test_params_refuse_what_compute_funnel_refuses_with_the_same_words(kwargs, words):
    # before: FunnelParams took all of these (the checks ran again, only in compute_funnel)
    args = {"steps": FUNNEL, "window": DAY} | kwargs
    with pytest.raises(ParameterError) as built:
        FunnelParams(**args)
    with pytest.raises(ParameterError) as computed:
        compute_funnel(EVENTS, args.pop("steps"), **args)
    assert str(built.value) == str(computed.value)
    for w in words:
        assert w in str(built.value)


def test_params_coerce_accepted_spellings():
    p = FunnelParams(
        steps=["view_item", ["add_to_cart", "add_to_wishlist"]],
        exclusions=[["x", 1, 2]],
    )
    assert p.steps == (FunnelStep("view_item"), FunnelStep(("add_to_cart", "add_to_wishlist")))
    assert p.exclusions == ((FunnelStep("x"), 1, 2),)
    assert p.labels == ("view_item", "add_to_cart or add_to_wishlist")
    assert p.window_us == 86_400_000_000
    hash(p)  # a cache key


def test_the_result_carries_the_params_it_was_computed_with():
    p = FunnelParams(steps=FUNNEL, window=timedelta(hours=2), exclusions=(("x", 1, 2),))
    r = compute_funnel(EVENTS, list(FUNNEL), window=timedelta(hours=2), exclusions=[("x", 1, 2)])
    assert r.params == p
    assert (r.labels, r.count_by, r.order, r.window, r.breakdown, r.breakdown_limit) == (
        FUNNEL,
        "user_id",
        "ordered",
        timedelta(hours=2),
        None,
        10,
    )
    # u1 converts, u2 is excluded (x between steps 1 and 2), u3 only viewed
    assert r.steps["entities"].to_list() == [2, 1, 1]
    same = p.compute(EVENTS)
    assert same.params is p
    assert_frame_equal(same.entities, r.entities)
    assert_frame_equal(same.steps, r.steps)


def test_a_link_to_an_unusable_funnel_is_refused_with_the_reason():
    # written by hand: to_query() can no longer write it, as no FunnelParams holds it
    raw = json.dumps({"s": list(FUNNEL), "o": "unordered", "x": [["x", 1, 2]]}).encode()
    text = "f1." + base64.urlsafe_b64encode(raw).decode().rstrip("=")
    with pytest.raises(ParameterError, match="is invalid: unordered funnels only support"):
        FunnelParams.from_query(text)


def test_merge_refuses_results_computed_with_different_exclusions():
    # before: only labels, count_by, order, window and breakdown were compared, so partitions
    # computed with and without an exclusion merged into one funnel
    a = compute_funnel(EVENTS, list(FUNNEL), window=DAY)
    b = compute_funnel(EVENTS, list(FUNNEL), window=DAY, exclusions=[("x", 1, 2)])
    with pytest.raises(ParameterError, match="different settings"):
        merge_funnel_results([a, b])
    # the same settings merge: two copies of every entity
    assert merge_funnel_results([a, a]).steps["entities"].to_list() == [6, 4, 2]


def test_trend_by_attempt_ignores_the_breakdown_even_when_the_column_is_missing():
    p = FunnelParams(steps=FUNNEL[:2], breakdown="no_such_column")
    trend = conversion_by_attempt(EVENTS, p, interval="day")
    assert trend["entered"].to_list() == [2, 1]
    assert trend["converted"].to_list() == [2, 0]
    with pytest.raises(ParameterError, match="no_such_column"):
        p.compute(EVENTS)


def test_importing_the_package_loads_neither_numba_nor_scipy_nor_plotly():
    code = (
        "import sys, core.funnels\n"
        "print(sorted(m for m in ('numba', 'scipy', 'plotly') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.strip() == "[]"


def test_steps_of_a_computed_funnel_match_the_params_labels():
    p = FunnelParams(steps=(FunnelStep("view_item", where=("device:eq:mobile",)), "purchase"))
    r = p.compute(EVENTS.with_columns(pl.lit("mobile").alias("device")))
    assert r.steps["label"].to_list() == list(p.labels)
    assert r.labels == ("view_item where device = mobile", "purchase")
