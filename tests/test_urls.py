"""ui.urls owns the URL (key names, the `seg` value); ui.view.DataView is the data key."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.filters import Condition, FilterParams
from core.segments import FEATURES, MAX_K, SegmentParams
from ui.urls import (
    SHARED_KEYS,
    encode_seg,
    parse_seg,
    segments_from_query,
    segments_to_query,
)
from ui.view import DataView

ROOT = Path(__file__).resolve().parent.parent
NAMES = [f.name for f in FEATURES]

segment_params = st.builds(
    SegmentParams,
    columns=st.none() | st.lists(st.sampled_from(NAMES), min_size=1, max_size=4,
                                 unique=True).map(tuple),
    k=st.none() | st.integers(2, MAX_K),
    seed=st.integers(0, 2**31 - 1),
)


@settings(max_examples=60, deadline=None)
@given(segment_params)
def test_a_seg_value_reads_back_as_the_same_segments(params):
    value = encode_seg(params)
    assert value  # even the defaults are a segmentation ("segments.k=auto"), never ""
    assert parse_seg(value) == (params, [])


def test_seg_values_by_hand():
    assert encode_seg(None) == ""
    assert encode_seg(SegmentParams()) == "segments.k=auto"
    assert encode_seg(SegmentParams(k=4, seed=1)) == "segments.k=4&segments.seed=1"
    # key order does not matter: the same segments
    assert parse_seg("segments.seed=1&segments.k=4")[0] == SegmentParams(k=4, seed=1)


def test_a_seg_value_without_settings_is_no_segmentation():
    params, notes = parse_seg("AAAA")
    assert params is None
    assert "holds no segmentation setting" in notes[0]
    params, notes = parse_seg("segments.k=3&colour=red")
    assert params == SegmentParams(k=3)
    assert "'colour=red'" in notes[0]


def test_a_data_view_is_a_cache_key():
    filters = FilterParams(date(2026, 8, 1), None, (Condition("device", "eq", "mobile"),))
    a = DataView("sample", filters, SegmentParams(k=4))
    b = DataView("sample", FilterParams(date(2026, 8, 1), None,
                                        (Condition("device", "eq", "mobile"),)),
                 SegmentParams(k=4))
    assert a == b and hash(a) == hash(b)
    assert len({a, b, a.unfiltered()}) == 2
    assert a.unfiltered() == DataView("sample", FilterParams(), SegmentParams(k=4))
    assert a.with_filters(FilterParams()) == a.unfiltered()
    assert a.seg == "segments.k=4"
    assert DataView("sample").seg == ""


def _python_files():
    yield ROOT / "app.py"
    for folder in ("ui", "pages"):
        yield from sorted((ROOT / folder).glob("*.py"))


def test_the_shared_url_keys_are_named_in_one_module():
    # ui/urls.py names them; elsewhere a constant bound to one, or a list of several, is a
    # second copy that can drift (a new shared key that one list forgets).
    shared = set(SHARED_KEYS)
    copies = []
    for path in _python_files():
        if path.name == "urls.py" and path.parent.name == "ui":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                    and node.value.value in shared):
                copies.append(f"{path.name}:{node.lineno}")
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                named = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                if len(named & shared) >= 2:
                    copies.append(f"{path.name}:{node.lineno}")
    assert not copies, f"shared URL keys spelled outside ui/urls.py: {copies}"


# moved from tests/test_segments_fit.py with the URL form (issue 13: URL encoding lives in ui/)


@given(columns=st.one_of(st.none(), st.lists(st.sampled_from(
           ["sessions", "revenue", "mobile_share", "recency_days"]), min_size=1, unique=True)),
       k=st.one_of(st.none(), st.integers(2, MAX_K)), seed=st.integers(0, 2**31 - 1))
def test_params_round_trip_through_the_url(columns, k, seed):
    p = SegmentParams(columns=None if columns is None else tuple(columns), k=k, seed=seed)
    assert segments_from_query(segments_to_query(p)) == p


def test_default_params_leave_the_url_empty():
    assert segments_to_query(SegmentParams()) == {}
    assert segments_to_query(SegmentParams(k=4, seed=2)) == {"segments.k": "4", "segments.seed": "2"}


@pytest.mark.parametrize("query", [
    {"segments.k": "1"}, {"segments.k": "many"}, {"segments.k": "99"},
    {"segments.seed": "-3"}, {"segments.seed": "x"}, {"segments.k": ["3", "oops"]},
])
def test_invalid_url_values_are_ignored_with_a_note(query):
    notes: list[str] = []
    p = segments_from_query(query, notes=notes)
    assert p.k is None and p.seed == 0
    assert len(notes) == 1 and next(iter(query)) in notes[0]


def test_url_features_accept_repeats_and_commas():
    p = segments_from_query({"segments.features": ["sessions,revenue", "sessions"],
                                  "segments.k": ["2", "auto"]})
    assert p.columns == ("sessions", "revenue") and p.k is None
