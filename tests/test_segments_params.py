"""SegmentParams as the one settings object: validated once, carried by the result, and
segment_labels leaving out the features the data cannot support (issue 13)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from builders import make_events

from core import ParameterError
from core.segments import (
    SegmentParams,
    feature_availability,
    fit_segments,
    segment_labels,
    user_features,
)


def _two_kinds() -> pl.DataFrame:
    # six browsers (views only) and six searchers (searches only), no purchases, no prices
    journeys = {f"v{i}": [("view_item", f"D+{d} 10:0{m}") for d in range(2) for m in range(3)]
                for i in range(6)}
    journeys |= {f"s{i}": [("search", "D+0 09:00")] for i in range(6)}
    return make_events(journeys)


def test_segment_labels_leave_out_features_the_data_lacks():
    ev = _two_kinds()
    assert "revenue" not in feature_availability(ev).available
    lab = segment_labels(ev, SegmentParams(columns=("revenue", "sessions"), k=2))
    # revenue is left out as the Segments page does: the same labels as sessions alone
    assert lab.equals(segment_labels(ev, SegmentParams(columns=("sessions",), k=2)))
    # nothing left: every available feature, as SegmentParams.restricted_to documents
    lab = segment_labels(ev, SegmentParams(columns=("revenue",), k=2))
    assert lab.equals(segment_labels(ev, SegmentParams(k=2)))
    assert lab.height == 12 and lab["segment"].n_unique() == 2


def test_the_result_carries_its_params_and_says_what_was_left_out():
    ev = _two_kinds()
    params = SegmentParams(columns=("revenue", "views_per_session"), k=2, seed=3)
    seg = params.compute(ev)
    assert seg.params == SegmentParams(columns=("views_per_session",), k=2, seed=3)
    assert seg.seed == 3 and seg.columns == ("views_per_session",)
    assert any("revenue" in n and "no purchase events" in n for n in seg.notes)
    expected = fit_segments(user_features(ev), k=2, seed=3, columns=["views_per_session"])
    assert seg.labels.equals(expected.labels)
    assert expected.params == SegmentParams(columns=("views_per_session",), k=2, seed=3)


def test_fit_segments_keywords_become_the_params():
    frame = pl.DataFrame({"user_id": [f"u{i:02d}" for i in range(30)],
                          "x": [float(i % 3 * 10 + i % 5) for i in range(30)]})
    seg = fit_segments(frame, k_range=[2, 3], seed=np.int64(1))
    assert seg.params == SegmentParams(seed=1, k_range=(2, 3))
    assert seg.scores["k"].to_list() == [2, 3]
    # NumPy integers are stored as Python ints: equal params hash alike
    assert hash(SegmentParams(k=np.int64(3))) == hash(SegmentParams(k=3))


@pytest.mark.parametrize("kwargs, match", [
    ({"k_range": (1, 3)}, "`k_range`"), ({"k_range": (4,)}, "`k_range`"),
    ({"columns": ()}, "at least one"), ({"columns": ("a", "")}, "`columns`"),
    ({"seed": 2**31}, "`seed`"), ({"k": np.float64(3)}, "`k`"),
])
def test_params_name_the_bad_field(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        SegmentParams(**kwargs)


def test_check_columns_names_unknown_and_non_numeric_features():
    schema = pl.Schema({"user_id": pl.String, "sessions": pl.Int64, "label": pl.String})
    SegmentParams(columns=("sessions",)).check_columns(schema)
    with pytest.raises(ParameterError, match=r"\['nope'\] are not features.*\['sessions'\]"):
        SegmentParams(columns=("nope",)).check_columns(schema)
    with pytest.raises(ParameterError, match=r"\['label'\] are not numeric"):
        SegmentParams(columns=("label",)).check_columns(schema)
