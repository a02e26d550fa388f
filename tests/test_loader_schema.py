"""``conform``: canonical columns and dtypes; ``event_type`` outside the canonical steps (or
null) becomes ``"other"``, eager or lazy, whether or not any value needs rewriting."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from core.schema import CANONICAL_COLUMNS, conform


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["purchase", "view_item"], ["purchase", "view_item"]),  # nothing to rewrite
        (["purchase", "click"], ["purchase", "other"]),
        (["purchase", None], ["purchase", "other"]),
    ],
)
def test_event_types_outside_the_steps_become_other(lazy, given, expected):
    frame = pl.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "ts": [datetime(2024, 1, 1, tzinfo=UTC)] * 2,
            "event": ["e", "f"],
            "event_type": pl.Series(given, dtype=pl.String),
            "device": ["a", "b"],
        }
    )
    out = conform(frame.lazy() if lazy else frame)
    out = out.collect() if lazy else out
    assert out["event_type"].to_list() == expected
    assert out.columns == [*CANONICAL_COLUMNS, "device"]
