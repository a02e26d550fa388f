"""fit_segments, SegmentParams, segment_labels and the figures."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest
from builders import make_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from core import ParameterError, SchemaError, Segmentation, fit_segments
from core.segments import (
    MAX_K,
    SegmentParams,
    default_columns,
    pca_figure,
    profile_figure,
    segment_labels,
    silhouette_figure,
    sizes_figure,
)

CENTRES = {
    # three planted groups, far apart in every feature (original units)
    "vip": {"sessions": 12, "revenue": 900.0, "cart_to_purchase": 0.8, "mobile_share": 0.1},
    "browser": {"sessions": 6, "revenue": 20.0, "cart_to_purchase": 0.1, "mobile_share": 0.5},
    "bouncer": {"sessions": 1, "revenue": 0.0, "cart_to_purchase": 0.0, "mobile_share": 0.9},
}


def _blobs(sizes=(40, 80, 120), seed=0) -> tuple[pl.DataFrame, list[str]]:
    rng = np.random.default_rng(seed)
    rows, truth = [], []
    for (group, c), size in zip(CENTRES.items(), sizes, strict=True):
        for i in range(size):
            rows.append({
                "user_id": f"{group}-{i:03d}",
                "sessions": max(1, int(round(c["sessions"] * rng.uniform(0.9, 1.1)))),
                "revenue": c["revenue"] * rng.uniform(0.9, 1.1),
                "cart_to_purchase": float(np.clip(c["cart_to_purchase"]
                                                  + rng.normal(0, 0.03), 0, 1)),
                "mobile_share": float(np.clip(c["mobile_share"] + rng.normal(0, 0.03), 0, 1)),
            })
            truth.append(group)
    return pl.DataFrame(rows), truth


def _ari(seg: Segmentation, frame: pl.DataFrame, truth: list[str]) -> float:
    lab = frame.select("user_id").with_columns(pl.Series("truth", truth)).join(
        seg.labels, on="user_id")
    return adjusted_rand_score(lab["truth"], lab["segment"])


def test_planted_groups_are_recovered_with_automatic_k():
    frame, truth = _blobs()
    seg = fit_segments(frame)
    assert seg.reason is None and seg.k == 3
    assert _ari(seg, frame, truth) == 1.0
    assert seg.scores["k"].to_list() == list(range(2, 9))
    assert seg.scores.filter(pl.col("chosen"))["k"].to_list() == [3]
    assert seg.silhouette == pytest.approx(seg.scores.filter(pl.col("chosen"))["silhouette"][0])
    assert seg.method == "KMeans"


def test_segments_are_numbered_by_revenue_then_size():
    frame, _ = _blobs()
    seg = fit_segments(frame, k=3)
    # vip (revenue ~900) first, then browsers (~20), then bouncers (0)
    first = seg.labels.filter(pl.col("user_id").str.starts_with("vip"))["segment"].unique()
    last = seg.labels.filter(pl.col("user_id").str.starts_with("bouncer"))["segment"].unique()
    assert first.to_list() == [1] and last.to_list() == [3]
    assert seg.sizes["size"].to_list() == [40, 80, 120]
    assert seg.sizes["share"].to_list() == pytest.approx([40 / 240, 80 / 240, 120 / 240])


def test_equal_revenue_segments_are_numbered_by_size():
    frame = pl.DataFrame({"user_id": [f"u{i}" for i in range(30)],
                          "x": [0.0] * 10 + [1.0] * 20})
    seg = fit_segments(frame, k=2)
    # no money column: the larger group (x = 1, 20 users) is segment 1
    assert seg.sizes["size"].to_list() == [20, 10]
    assert seg.labels.filter(pl.col("user_id") == "u0")["segment"].item() == 2


def test_centroids_are_in_original_units_and_profile_ratios_are_means_over_overall():
    frame, _ = _blobs()
    seg = fit_segments(frame, k=3)
    lab = frame.join(seg.labels, on="user_id")
    # cart_to_purchase is not log-transformed: the centre maps back to the members' mean
    means = lab.group_by("segment").agg(pl.col("cart_to_purchase").mean()).sort("segment")
    assert seg.centroids["cart_to_purchase"].to_list() == pytest.approx(
        means["cart_to_purchase"].to_list())
    # revenue is log-scaled: its centre is a typical value, between the members' min and max
    for s_no, lo, hi in lab.group_by("segment").agg(
            pl.col("revenue").min().alias("lo"), pl.col("revenue").max().alias("hi")).iter_rows():
        c = seg.centroids.filter(pl.col("segment") == s_no)["revenue"].item()
        assert lo - 1e-6 <= c <= hi + 1e-6
    vip = seg.segment_profile(1).filter(pl.col("feature") == "revenue").row(0, named=True)
    overall = frame["revenue"].mean()
    member_mean = lab.filter(pl.col("segment") == 1)["revenue"].mean()
    assert vip["overall_mean"] == pytest.approx(overall)
    assert vip["ratio"] == pytest.approx(member_mean / overall)


def test_names_come_from_the_profile_and_are_unique():
    frame, _ = _blobs()
    seg = fit_segments(frame, k=3)
    # vip: high revenue and sessions; bouncers: few sessions
    assert seg.names[0] == "High-value loyal"
    assert len(set(seg.names)) == 3
    assert set(seg.labels["name"].unique()) == set(seg.names)


def test_same_data_and_seed_give_identical_results():
    frame, _ = _blobs(seed=3)
    a, b = fit_segments(frame, seed=5), fit_segments(frame, seed=5)
    assert a.labels.equals(b.labels) and a.scores.equals(b.scores)
    assert a.profile.equals(b.profile)


# ------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------

# amounts in cents-precision currency and shares in percent: the values real features take
_feature_rows = st.lists(
    st.tuples(st.integers(1, 30), st.integers(0, 50_000).map(lambda c: c / 100),
              st.integers(0, 100).map(lambda p: p / 100), st.integers(0, 12)),
    min_size=3, max_size=60)


def _frame(rows) -> pl.DataFrame:
    return pl.DataFrame({
        "user_id": [f"u{i:03d}" for i in range(len(rows))],
        "sessions": [r[0] for r in rows],
        "revenue": [r[1] for r in rows],
        "mobile_share": [r[2] for r in rows],
        "searches_per_session": [float(r[3]) for r in rows],
    })


def _partition_equal(a: Segmentation, b: Segmentation) -> bool:
    if a.is_empty or b.is_empty:  # the reasons may quote the values, in their units
        return a.is_empty and b.is_empty
    joined = a.labels.join(b.labels, on="user_id")
    return joined.height == a.labels.height and adjusted_rand_score(
        joined["segment"], joined["segment_right"]) == 1.0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_feature_rows, perm_seed=st.integers(0, 2**16), k=st.sampled_from([None, 2, 3]))
def test_row_permutation_gives_the_same_partition(rows, perm_seed, k):
    frame = _frame(rows)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=perm_seed)
    a = fit_segments(frame, k=k, k_range=(2, 4))
    b = fit_segments(shuffled, k=k, k_range=(2, 4))
    assert _partition_equal(a, b)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_feature_rows, column=st.sampled_from(["sessions", "revenue", "mobile_share",
                                                  "searches_per_session"]),
       factor=st.sampled_from([0.25, 2.0, 8.0, 1024.0]))
def test_changing_a_features_unit_changes_nothing(rows, column, factor):
    # powers of two keep every product exact, so the comparison is not at the mercy of
    # rounding at a tie; test_unit_change_cents_on_planted_groups covers a decimal factor
    frame = _frame(rows)
    scaled = frame.with_columns(pl.col(column) * factor)
    assert _partition_equal(fit_segments(frame, k_range=(2, 4)),
                            fit_segments(scaled, k_range=(2, 4)))


def test_unit_change_cents_on_planted_groups():
    frame, _ = _blobs()
    a = fit_segments(frame)
    b = fit_segments(frame.with_columns(pl.col("revenue") * 100))
    assert _partition_equal(a, b) and a.names == b.names


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_feature_rows, k=st.sampled_from([None, 2, 3, 5]))
def test_results_are_well_formed(rows, k):
    frame = _frame(rows)
    seg = fit_segments(frame, k=k, k_range=(2, 5))
    if seg.reason is not None:
        assert seg.labels.height == 0 and seg.k is None
        return
    assert seg.labels.height == frame.height
    named = seg.labels.join(seg.sizes, on="segment")
    assert named["name"].to_list() == named["name_right"].to_list()
    assert sorted(seg.labels["segment"].unique().to_list()) == list(range(1, seg.k + 1))
    assert seg.sizes["size"].sum() == frame.height
    assert len(set(seg.names)) == seg.k
    if seg.silhouette is not None:
        assert -1.0 <= seg.silhouette <= 1.0
    # numbering: mean revenue never increases with the segment number
    rev = frame.join(seg.labels, on="user_id").group_by("segment").agg(
        pl.col("revenue").mean()).sort("segment")["revenue"].to_list()
    assert all(a >= b - 1e-9 for a, b in zip(rev, rev[1:], strict=False))


# ------------------------------------------------------------------------------------------
# degenerate input and parameter errors
# ------------------------------------------------------------------------------------------


def test_fewer_users_than_k_explains_itself():
    frame, _ = _blobs(sizes=(1, 1, 1))
    seg = fit_segments(frame, k=5)
    assert seg.is_empty and "k=5" in seg.reason and "3" in seg.reason
    assert seg.labels.height == 0 and seg.sizes.columns == ["segment", "name", "size", "share"]


def test_one_user_and_no_user():
    frame, _ = _blobs()
    assert "single user" in fit_segments(frame.head(1)).reason
    assert "no users" in fit_segments(frame.head(0)).reason
    assert "no users" in fit_segments(frame.head(0), k=3).reason


def test_two_users_cannot_choose_k_but_can_be_split_in_two():
    frame, _ = _blobs()
    two = frame.filter(pl.col("user_id").is_in(["vip-000", "bouncer-000"]))
    assert "Fix k" in fit_segments(two).reason
    seg = fit_segments(two, k=2)
    assert seg.k == 2 and seg.silhouette is None


def test_constant_feature_is_dropped_with_a_note():
    frame, truth = _blobs()
    seg = fit_segments(frame.with_columns(pl.lit(3.0).alias("constant")))
    assert "constant" not in seg.columns
    assert any("'constant'" in n and "same" in n for n in seg.notes)
    assert _ari(seg, frame, truth) == 1.0
    # still profiled, so the page can show it
    assert "constant" in seg.profile["feature"].to_list()


def test_only_constant_features_explain_themselves():
    frame = pl.DataFrame({"user_id": ["a", "b", "c"], "x": [1.0, 1.0, 1.0]})
    seg = fit_segments(frame)
    assert seg.is_empty and "no feature varies" in seg.reason


def test_identical_users_cannot_fill_k_segments():
    frame = pl.DataFrame({"user_id": list("abcdef"), "x": [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]})
    assert "2 distinct" in fit_segments(frame, k=3).reason
    auto = fit_segments(frame)  # k = 2 is the only possibility
    assert auto.k == 2 and any("from 2 to 2" in n for n in auto.notes)


def test_missing_values_count_as_average_and_mostly_missing_features_are_left_out():
    frame, truth = _blobs()
    n = frame.height
    # cart_to_purchase missing for a third of users, order_value for 90%
    frame = frame.with_columns(
        pl.when(pl.int_range(n) % 3 == 0).then(None).otherwise(pl.col("cart_to_purchase"))
        .alias("cart_to_purchase"),
        pl.when(pl.int_range(n) % 10 == 0).then(pl.col("revenue")).otherwise(None)
        .alias("order_value"))
    assert "order_value" not in default_columns(frame)
    seg = fit_segments(frame)
    assert "order_value" not in seg.columns
    assert any("order_value" in n and "left out by default" in n for n in seg.notes)
    t = seg.transform.filter(pl.col("feature") == "cart_to_purchase").row(0, named=True)
    assert t["imputed"] == 80  # users 0, 3, ..., 237
    # a user without a value sits at the middle of that axis; the other features still place
    # nearly everybody (a couple of users may move between the two nearest groups)
    assert _ari(seg, frame, truth) >= 0.95
    # named explicitly, it is used
    assert "order_value" in fit_segments(frame, columns=["revenue", "order_value"]).columns


@pytest.mark.parametrize("kwargs, match", [
    ({"k": 1}, "`k`"), ({"k": MAX_K + 1}, "`k`"), ({"k": 2.5}, "`k`"), ({"k": True}, "`k`"),
    ({"k_range": (5, 2)}, "k_range"), ({"k_range": (1, 3)}, "k_range"),
    ({"k_range": 4}, "k_range"), ({"seed": -1}, "`seed`"),
    ({"columns": ["nope"]}, "nope"), ({"columns": []}, "at least one"),
    ({"columns": ["revenue", "revenue"]}, "repeat"),
])
def test_invalid_parameters_raise_named_errors(kwargs, match):
    frame, _ = _blobs()
    with pytest.raises(ParameterError, match=match):
        fit_segments(frame, **kwargs)


def test_non_numeric_columns_and_duplicate_users_are_rejected():
    frame, _ = _blobs()
    with pytest.raises(ParameterError, match="not numeric"):
        fit_segments(frame.with_columns(pl.lit("x").alias("label")), columns=["label"])
    with pytest.raises(ParameterError, match="one row per user"):
        fit_segments(pl.concat([frame, frame.head(1)]))
    with pytest.raises(SchemaError, match="user_id"):
        fit_segments(frame.drop("user_id"))


def test_lazy_features_are_accepted():
    frame, _ = _blobs()
    assert fit_segments(frame.lazy(), k=3).labels.equals(fit_segments(frame, k=3).labels)


def test_large_tables_use_the_sample_and_minibatches(monkeypatch):
    import core.segments.engine as segments

    monkeypatch.setattr(segments, "SELECTION_SAMPLE", 60)
    monkeypatch.setattr(segments, "MINIBATCH_THRESHOLD", 100)
    monkeypatch.setattr(segments, "PROJECTION_POINTS", 50)
    frame, truth = _blobs()
    seg = fit_segments(frame)
    assert seg.method == "MiniBatchKMeans" and seg.k == 3
    assert _ari(seg, frame, truth) == 1.0
    assert seg.projection.height == 50


# ------------------------------------------------------------------------------------------
# params and labels
# ------------------------------------------------------------------------------------------


def test_params_validate_and_restrict():
    with pytest.raises(ParameterError, match="`k`"):
        SegmentParams(k=0)
    with pytest.raises(ParameterError, match="repeat"):
        SegmentParams(columns=("a", "a"))
    p, dropped = SegmentParams(columns=("sessions", "gone")).restricted_to(["sessions"])
    assert p.columns == ("sessions",) and dropped == ("gone",)
    p, dropped = SegmentParams(columns=("gone",)).restricted_to(["sessions"])
    assert p.columns is None and dropped == ("gone",)
    assert hash(SegmentParams(columns=("a",), k=3)) == hash(SegmentParams(columns=("a",), k=3))


def _events_of_three_kinds() -> pl.DataFrame:
    journeys = {}
    for i in range(6):  # buyers: several sessions, purchases with prices
        journeys[f"buyer{i}"] = [
            ev for d in range(4) for ev in (
                ("view_item", f"D+{d} 10:00", {"price": 50.0 + i}),
                ("add_to_cart", f"D+{d} 10:01", {"price": 50.0 + i}),
                ("purchase", f"D+{d} 10:02", {"price": 50.0 + i, "order_id": f"o{i}-{d}"}))]
    for i in range(6):  # one-page visitors
        journeys[f"bounce{i}"] = [("page_view", f"D+{i % 3} 09:00")]
    for i in range(6):  # browsers
        journeys[f"browse{i}"] = [("view_item", f"D+{d} 12:{m:02d}", {"price": 10.0})
                                  for d in range(2) for m in range(0, 20, 4)]
    return make_events(journeys)


def test_segment_labels_join_names_onto_users():
    ev = _events_of_three_kinds()
    lab = segment_labels(ev, SegmentParams(k=3))
    assert lab.columns == ["user_id", "segment"] and lab.schema["segment"] == pl.String
    assert lab.height == 18
    by_kind = lab.with_columns(pl.col("user_id").str.replace(r"\d+$", "").alias("kind")).group_by(
        "kind").agg(pl.col("segment").n_unique().alias("n"), pl.col("segment").first())
    assert by_kind["n"].to_list() == [1, 1, 1] and by_kind["segment"].n_unique() == 3
    assert segment_labels(ev, SegmentParams(k=3)).equals(lab)


def test_segment_labels_of_too_few_users_is_empty():
    lab = segment_labels(make_events({"a": [("view_item", "00:00")]}))
    assert lab.height == 0 and lab.columns == ["user_id", "segment"]


def test_segment_labels_leave_out_features_the_data_lacks():
    # issue 13: segment_labels restricts the params to the features the data supports, as the
    # Segments page does (it used to raise here); tests/test_segments_params.py has more
    ev = make_events({"a": [("view_item", "00:00")], "b": [("search", "00:00")]})
    lab = segment_labels(ev, SegmentParams(columns=("revenue",), k=2))
    assert lab.equals(segment_labels(ev, SegmentParams(k=2)))


# ------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------


def test_figures_show_every_segment_and_every_k():
    frame, _ = _blobs()
    seg = fit_segments(frame)
    sil = silhouette_figure(seg)
    assert list(sil.data[0].x) == list(range(2, 9)) and len(sil.data) == 2
    sizes = sizes_figure(seg)
    assert list(sizes.data[0].x) == [40, 80, 120]
    heat = profile_figure(seg)
    assert len(heat.data[0].y) == 3 and len(heat.data[0].x) == 4
    # vip revenue is ~ 900 / 160 = 5.6x the overall mean: colour clipped at log2 = 2
    assert heat.data[0].z[0][heat.data[0].x.index("Revenue")] == 2
    pca = pca_figure(seg)
    assert len(pca.data) == 3 and sum(len(t.x) for t in pca.data) == 240


def test_figures_of_an_empty_segmentation_say_why():
    frame, _ = _blobs()
    seg = fit_segments(frame.head(1))
    for build in (silhouette_figure, sizes_figure, profile_figure, pca_figure):
        fig = build(seg)
        assert isinstance(fig, go.Figure) and "single user" in fig.layout.annotations[0].text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=True),
                                 st.one_of(st.none(), st.floats(-1e300, 1e300))),
                       min_size=0, max_size=30),
       k=st.sampled_from([None, 2, 4]))
def test_any_float_values_give_a_result_never_a_crash(values, k):
    frame = pl.DataFrame({"user_id": [f"u{i}" for i in range(len(values))],
                          "x": [v[0] for v in values], "y": [v[1] for v in values]},
                         schema={"user_id": pl.String, "x": pl.Float64, "y": pl.Float64})
    seg = fit_segments(frame, k=k)
    assert seg.is_empty or seg.labels.height == frame.height


def test_automatic_k_fitted_side_by_side_equals_one_after_the_other(monkeypatch):
    # the k of the automatic choice are fitted in threads (issue 14); every fit is seeded, so
    # the scores, the choice, the labels and the centres equal the sequential run's
    import numpy as np

    import core.segments.engine as engine
    from core.segments import SegmentParams

    rng = np.random.default_rng(7)
    zs = np.concatenate([rng.normal(c, 1.0, (600, 4)) for c in (0, 3, 6)])
    runs = {}
    for workers in (1, 3):
        monkeypatch.setattr(engine, "_WORKERS", workers)
        runs[workers] = engine._best_k(zs, zs.shape[0], SegmentParams(seed=3), [])
    one, many = runs[1], runs[3]
    assert [k for k, _, _ in one.tried] == list(range(2, 9))
    assert many.tried == one.tried
    assert many.chosen == one.chosen == 3  # three blobs
    np.testing.assert_array_equal(many.labels, one.labels)
    np.testing.assert_array_equal(many.centres, one.centres)
