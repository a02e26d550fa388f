"""AppTest: the shared segmentation (`seg`) of a link travels with the DataView to every page,
and a link made on another dataset still opens (features this dataset lacks are left out)."""

from __future__ import annotations

import polars as pl
import pytest
from apptest import run_page

from core.store import DatasetStore


@pytest.fixture(scope="module")
def no_prices() -> str:
    events = DatasetStore().scan("sample").collect()
    events = events.with_columns(pl.lit(None, dtype=events.schema["price"]).alias("price"))
    return DatasetStore().put(events, name="no prices")


def _segment_options(at, page: str) -> list[str]:
    return [o for o in at.sidebar.multiselect(key=f"{page}:filter").options
            if o.startswith("segment = ")]


def test_a_link_with_a_feature_the_dataset_lacks_still_segments(no_prices):
    # revenue needs prices; this dataset has none: the link's segments use the rest
    seg = "segments.features=revenue&segments.features=sessions&segments.k=3"
    at = run_page("overview", dataset=no_prices, seg=seg)
    assert len(_segment_options(at, "overview")) == 3
    assert not at.error


def test_the_segments_page_sees_its_own_setting_as_shared():
    # a link whose seg lists the keys in another order is the same segmentation
    at = run_page("segments", seg="segments.seed=0&segments.k=4", **{"segments.k": "4"})
    assert any("used on every page" in s.value for s in at.success)
    assert "seg" in at.query_params
    frame = pl.DataFrame({"o": _segment_options(at, "segments")})
    assert frame.height == 4
