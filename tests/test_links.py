"""Shared links through the app's entry point: unusable values are named, never crash or vanish;
the copy box holds the whole view."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from ui.links import (
    MAX_FIELDS,
    TOO_MANY_KEY,
    dropped_params,
    install_query_string_guard,
    keep_shared_fields,
    non_finite_values,
)

ROOT = Path(__file__).resolve().parent.parent


def open_link(page: str, *, url: str | None = None, **params) -> AppTest:
    """Open ``pages/<page>.py`` through app.py (the link watcher runs there) with these params."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.switch_page(f"pages/{page}.py")
    if url:
        at.context = {"url": url}
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def link_notices(at: AppTest) -> str:
    return " ".join(w.value for w in at.warning)


# --- non-finite numbers ------------------------------------------------------------------------

@pytest.mark.parametrize(("page", "key"), [
    ("funnels", "funnel.window"),
    ("paths", "paths.min_edge"),
    ("rules", "rules.max_items"),
    ("segments", "segments.seed"),
])
@pytest.mark.parametrize("value", ["inf", "-inf", "1e400"])
def test_non_finite_numbers_are_named_not_a_traceback(page, key, value):
    at = open_link(page, **{key: value})
    assert f"`{key}={value}`" in link_notices(at)
    assert key not in at.query_params


def test_non_finite_values_only_flags_numbers_that_are_not_finite():
    params = {"a": ["inf", "2"], "b": ["abc"], "c": ["1e400"], "d": ["NaN"], "e": ["1e300"],
              "where": ["inf"]}  # shared settings are checked by the shell
    assert non_finite_values(params) == {"a": ["inf"], "c": ["1e400"], "d": ["NaN"]}


# --- values the page could not use -------------------------------------------------------------

def test_one_unknown_step_among_known_ones_is_named():
    # The page keeps view_item, drops nope (and, with one step left, stops early): the notice
    # must still say so.
    at = open_link("funnels", **{"funnel.steps": ["nope", "view_item"]})
    notes = link_notices(at)
    assert "`funnel.steps=nope`" in notes
    assert "view_item`" not in notes


@pytest.mark.parametrize(("key", "value"), [("funnel.steps", "chekout"),
                                            ("funnel.window", "abc")])
def test_unusable_values_are_named(key, value):
    at = open_link("funnels", **{key: value})
    assert f"`{key}={value}`" in link_notices(at)


def test_a_value_equal_to_the_default_is_not_reported():
    at = open_link("funnels", **{"funnel.window": "1", "funnel.order": "ordered"})
    assert "could not be used" not in link_notices(at)


def test_dropped_params_by_hand():
    before = {"a": ["x", "y"], "b": ["1"], "c": ["abc"], "dataset": ["zzz"], "d": ["true"]}
    after = {"a": ["y"]}
    widgets = {"b": 1.0, "c": 3, "d": True}
    # a: x dropped; b equals the widget's (default) value; c was replaced; dataset is the
    # shell's; d equals the toggle's value
    assert dropped_params(before, after, widgets) == [("a", ["x"]), ("c", ["abc"])]


# --- more parameters than Streamlit reads ------------------------------------------------------

def test_oversized_query_string_keeps_the_dataset_and_says_so():
    big = "&".join(["dataset=0123456789abcdef0123", "filter=device+%3D+mobile"]
                   + [f"junk{i}=1" for i in range(1200)])
    kept = parse_qs(keep_shared_fields(big))
    assert kept == {"dataset": ["0123456789abcdef0123"], "filter": ["device = mobile"],
                    TOO_MANY_KEY: ["1202"]}


def test_guard_wraps_streamlits_sanitiser():
    from streamlit.runtime import app_session

    install_query_string_guard()
    assert install_query_string_guard() is False  # idempotent: installed once per process
    small = "funnel.window=2&dataset=x"
    assert app_session.sanitize_query_string(small) == small
    big = "&".join(["dataset=abc"] + ["k=v"] * MAX_FIELDS)
    assert parse_qs(app_session.sanitize_query_string(big)) == {
        "dataset": ["abc"], TOO_MANY_KEY: [str(MAX_FIELDS + 1)]}


def test_too_many_marker_becomes_a_notice():
    at = open_link("funnels", **{TOO_MANY_KEY: "1500"})
    notes = link_notices(at)
    assert "1500 parameters" in notes and "1,000" in notes
    assert TOO_MANY_KEY not in at.query_params


# --- the copy box ------------------------------------------------------------------------------

def copy_box_link(at: AppTest) -> str:
    """The link in the sidebar's copy box (Markdown inline code, see ui.links)."""
    codes = [m.value[1:-1] for m in at.sidebar.markdown if m.value.startswith("`http")]
    assert len(codes) == 1, codes
    return codes[0]


def test_copy_box_holds_page_and_every_setting_of_the_url():
    # In a browser, a bound control writes its value to the address bar before the rerun that
    # draws the box; AppTest has no address bar, so the settings are given as the link's.
    at = open_link("funnels", url="http://example.test:8501/funnels",
                   filter="device = mobile", **{"funnel.window": "3", "funnel.unit": "hours",
                                                 "funnel.steps": ["view_item", "purchase"]})
    link = urlsplit(copy_box_link(at))
    assert (link.scheme, link.netloc, link.path) == ("http", "example.test:8501", "/funnels")
    assert parse_qs(link.query) == {"funnel.window": ["3"], "funnel.unit": ["hours"],
                                    "funnel.steps": ["view_item", "purchase"],
                                    "filter": ["device = mobile"]}


def test_copy_box_without_settings_is_the_page_url():
    at = open_link("funnels", url="http://example.test/funnels")
    assert copy_box_link(at) == "http://example.test/funnels"


def test_copy_box_is_filled_when_the_page_stops_early():
    # One step left: the Funnels page stops before its chart; the box still has the link.
    at = open_link("funnels", url="http://example.test/funnels",
                   **{"funnel.steps": ["view_item"]})
    assert parse_qs(urlsplit(copy_box_link(at)).query)["funnel.steps"] == ["view_item"]
