"""What people see of segments: values in their units, the same colour per segment in every
chart, tables without empty cells."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from people_tables import assert_readable

from core.segments import (
    centroids_people_table,
    fit_segments,
    fmt_feature,
    k_tried_people_table,
    pca_figure,
    preparation_people_table,
    profile_people_table,
    segment_colour,
    sizes_figure,
)


@pytest.fixture(scope="module")
def seg():
    rng = np.random.default_rng(0)
    n = 300
    group = np.arange(n) % 3
    features = pl.DataFrame({
        "user_id": [f"u{i:04d}" for i in range(n)],
        "sessions": (1 + 5 * group + rng.integers(0, 2, n)).astype(float),
        "mobile_share": np.clip(0.1 + 0.4 * group + rng.normal(0, 0.02, n), 0, 1),
        "recency_days": 3.0 + 20 * (2 - group) + rng.normal(0, 1, n),
        # users who never added to cart have no cart_to_purchase (imputed)
        "cart_to_purchase": np.where(group == 0, np.nan, 0.5 * group),
    }).with_columns(pl.col("cart_to_purchase").fill_nan(None))
    return fit_segments(features, k=3, seed=0)


def test_feature_values_in_their_units():
    # 0.25 of sessions on mobile; 3.5 minutes; 2.5 days; a count mean; money; missing
    assert fmt_feature("mobile_share", 0.25) == "25.0%"
    assert fmt_feature("session_minutes", 3.5) == "3 min 30 s"
    assert fmt_feature("recency_days", 2.5) == "2 d 12 h"
    assert fmt_feature("sessions", 4.123) == "4.12"
    assert fmt_feature("sessions", 1234.4) == "1,234"
    assert fmt_feature("revenue", 1234.5) == "1,234.50"
    assert fmt_feature("cart_to_purchase", None) == "–"
    assert fmt_feature("cart_to_purchase", float("nan")) == "–"


def test_a_segment_has_the_same_colour_in_the_sizes_bar_and_the_scatter(seg):
    names = list(seg.names)
    bars = sizes_figure(seg).data[0]
    assert list(bars.marker.color) == [segment_colour(n) for n in (1, 2, 3)]
    assert len(set(bars.marker.color)) == 3  # k segments, k colours (no hash collision)
    scatter = {t.name: t.marker.color for t in pca_figure(seg).data}
    for number, name in zip(seg.sizes["segment"], names, strict=True):
        assert scatter[f"{number}. {name}"] == segment_colour(number)


def test_people_tables_have_words_and_no_empty_cells(seg):
    tables = [profile_people_table(seg, 1), centroids_people_table(seg),
              preparation_people_table(seg), k_tried_people_table(seg)]
    for t in tables:
        assert t.height > 0
        assert_readable(t)
    profile = profile_people_table(seg, 1).frame
    share = profile.filter(pl.col("Feature").str.starts_with("Mobile share"))
    # one column mixes units (one feature a row): it stays text, in the feature's unit
    assert share["All users"].item().endswith("%")
    assert profile["Compared with all users"].dtype == pl.Float64
    prep = preparation_people_table(seg).frame.filter(pl.col("Feature") == "Cart-to-purchase")
    assert prep["Users without a value"].item() == 100  # group 0: 100 of the 300 users
    k_tried = k_tried_people_table(seg)
    assert k_tried.frame["Chosen"].to_list() == ["yes"]
    assert k_tried.kinds["Silhouette"] == "decimal"
    centroids = centroids_people_table(seg)
    assert centroids.kinds["Mobile share"] == "percent"
    assert centroids.frame["Mobile share"].dtype == pl.Float64
