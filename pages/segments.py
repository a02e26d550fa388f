"""Segments: K-means user segments found from behaviour, named from their profile."""

import streamlit as st

from core.cohorts import segment_members
from core.segments import (
    FEATURES,
    MAX_K,
    SegmentParams,
    centroids_people_table,
    default_columns,
    feature_label,
    k_tried_people_table,
    pca_figure,
    preparation_people_table,
    profile_figure,
    profile_people_table,
    silhouette_figure,
    sizes_figure,
)
from ui.cohorts import save_cohort_control
from ui.segments import cached_features, cached_segmentation, features_control
from ui.shell import download_csv, guarded, page_setup
from ui.tables import show_table
from ui.urls import SEG_KEY, encode_seg, set_shared

ctx = page_setup("Segments", icon=":material/groups:")
st.caption("Users grouped by what they do (visits, searches, carts, purchases, spend, device), "
           "with k-means; each segment is named from how it differs from the average user.")

loaded = guarded(lambda: cached_features(ctx.view))
if loaded is None:
    st.stop()
features, report = loaded
if report.missing:
    st.caption(report.describe())
available = [c for c in features.columns if c != "user_id"]
defaults = list(default_columns(features))
described = {f.name: f.description for f in FEATURES}

left, mid, right = st.columns([4, 1, 1])
chosen = features_control(left, available, defaults, help="What the clustering compares. "
                          + "; ".join(f"{feature_label(c)}: {described.get(c, c)}"
                                      for c in available))
k_text = mid.selectbox("Segments (k)", ["auto", *map(str, range(2, MAX_K + 1))],
                       key="segments.k", bind="query-params",
                       help="auto: the k from 2 to 8 with the best silhouette score.")
seed = right.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1,
                        key="segments.seed", bind="query-params",
                        help="Seed of the samples and of k-means: same seed, same segments.")
if not chosen:
    st.info("Pick at least one feature to cluster on.")
    st.stop()
ordered = tuple(c for c in available if c in chosen)
params = SegmentParams(columns=None if list(ordered) == defaults else ordered,
                       k=None if k_text == "auto" else int(k_text), seed=int(seed))

shared = encode_seg(params)
if ctx.view.seg == shared:
    st.success("These segments are used on every page (the `segment` property).",
               icon=":material/check:")
else:
    st.button("Use on every page", key="segments.apply", on_click=set_shared,
                 args=(SEG_KEY, shared), icon=":material/share:",
                 help="Adds a `segment` property (these settings, fitted on the whole dataset) "
                      "that every page can filter and break down by; the link keeps it.")

seg = guarded(lambda: cached_segmentation(ctx.view, params))
if seg is None:
    st.stop()
for note in seg.notes:
    st.caption(note)
if seg.is_empty:
    st.info(seg.reason)
    st.stop()

m = st.columns(4)
m[0].metric("Users", f"{seg.n_users:,}")
m[1].metric("Segments", seg.k)
m[2].metric("Silhouette", "n/a" if seg.silhouette is None else f"{seg.silhouette:.3f}",
            help="-1 to 1: how much closer users are to their own segment than to the next "
                 "one (on a sample). Above 0.25 is a usable structure, above 0.5 a strong one.")
m[3].metric("Method", seg.method, help="MiniBatchKMeans above 50,000 users.")

a, b = st.columns(2)
a.plotly_chart(silhouette_figure(seg), key="segments.silhouette_chart")
b.plotly_chart(sizes_figure(seg), key="segments.sizes_chart")
st.plotly_chart(profile_figure(seg), key="segments.profile_chart")
st.plotly_chart(pca_figure(seg), key="segments.pca_chart")

st.subheader("Segment profiles")
for tab, (number, name, size, share) in zip(st.tabs(list(seg.names)), seg.sizes.iter_rows(),
                                            strict=True):
    tab.caption(f"Segment {number}: {size:,} users ({share:.1%}). Mean of each feature, the "
                "mean of all users and their ratio; starred features drove the clustering.")
    show_table(profile_people_table(seg, number), key=f"segments.profile_{number}", where=tab)
    with tab:
        save_cohort_control(ctx.view, lambda n=number: segment_members(seg, n, filters=ctx.filters),
                            source="segment", key=f"segments.cohort_{number}", name=name,
                            label="Save this segment's users as a cohort")

with st.expander("Centroids, preparation and the k tried"):
    for name, title, shown, table in (
            ("centroids", "Typical member of each segment (cluster centre)",
             centroids_people_table(seg), seg.centroids),
            ("preparation", "How each feature was prepared", preparation_people_table(seg),
             seg.transform),
            ("k_tried", "Numbers of segments tried", k_tried_people_table(seg), seg.scores)):
        st.caption(title)
        show_table(shown, key=f"segments.{name}_table")
        download_csv(table, f"segment_{name}.csv", key=f"segments.dl_{name}")  # raw
    download_csv(seg.profile, "segment_profiles.csv", key="segments.dl_profile")

download_csv(seg.labels.select("user_id", "segment", "name"), "user_segments.csv",
             key="segments.dl_labels", label="Download user_id, segment (CSV)")
