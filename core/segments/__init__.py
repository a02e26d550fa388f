"""K-means user segments that a product manager can name, trust and reuse.

Two steps, each usable on its own from a notebook:

1. :func:`user_features` turns the canonical event table into one row per user of documented
   behavioural features (:data:`FEATURES`). A feature the data cannot support (no prices, no
   device column, no removal events...) is left out, never filled with zeros;
   :func:`feature_availability` says which were left out and why.
2. :func:`fit_segments` clusters those rows: skewed counts are log-transformed relative to their
   typical value (so a change of unit changes nothing), every feature is standardised, K-means
   (``MiniBatchKMeans`` above :data:`MINIBATCH_THRESHOLD` users) is fitted, and ``k`` is chosen
   by silhouette score on a sample when not given. Segments are numbered by monetary value, then
   size, and named from their profile ("High-value loyal", "Window shoppers"...).

:class:`SegmentParams` (features, k, seed) is the frozen, URL-serialisable description of a
segmentation; :func:`segment_labels` turns events and params into ``user_id, segment`` so other
pages can filter and break down by segment. The ``*_figure`` builders return Plotly figures.

Modules: ``params`` (the settings), ``query`` (their URL form), ``features`` (per-user
features), ``prepare`` (scaling for K-means), ``engine`` (the fit and the labels), ``names``
(archetype names), ``result`` (:class:`Segmentation`), ``figures`` and ``tables`` (what people
see).

Scale-out (merge step): :func:`user_features` uses only per-user and per-session group
operations, so it runs on any partition that holds all events of its users (hash-partition by
``user_id``). Compute ``report = feature_availability(whole)`` once (one cheap aggregate), call
:func:`user_features_partition` with it on every partition and concatenate: every partition then
has the same columns and ``as_of``. :func:`fit_segments` already chooses ``k`` on a sample and
uses mini-batches above a size threshold, so it runs on the merged feature table.
"""

from core.segments.engine import (
    MINIBATCH_THRESHOLD,
    PROJECTION_POINTS,
    SELECTION_SAMPLE,
    SILHOUETTE_SAMPLE,
    fit,
    fit_segments,
    segment_events,
    segment_labels,
)
from core.segments.features import (
    DEVICE_COLUMNS,
    FEATURES,
    MAX_MISSING_SHARE,
    MOBILE_PATTERN,
    FeatureReport,
    FeatureSpec,
    default_columns,
    feature_availability,
    feature_label,
    user_features,
    user_features_partition,
)
from core.segments.figures import (
    pca_figure,
    profile_figure,
    segment_colour,
    silhouette_figure,
    sizes_figure,
)
from core.segments.params import MAX_K, MAX_SEED, SegmentParams
from core.segments.result import Segmentation
from core.segments.tables import (
    centroids_people_table,
    feature_kind,
    feature_value,
    fmt_feature,
    k_tried_people_table,
    preparation_people_table,
    profile_people_table,
)

__all__ = [
    "DEVICE_COLUMNS",
    "FEATURES",
    "MAX_K",
    "MAX_MISSING_SHARE",
    "MAX_SEED",
    "MINIBATCH_THRESHOLD",
    "MOBILE_PATTERN",
    "PROJECTION_POINTS",
    "SELECTION_SAMPLE",
    "SILHOUETTE_SAMPLE",
    "FeatureReport",
    "FeatureSpec",
    "SegmentParams",
    "Segmentation",
    "centroids_people_table",
    "default_columns",
    "feature_availability",
    "feature_kind",
    "feature_label",
    "feature_value",
    "fit",
    "fit_segments",
    "fmt_feature",
    "k_tried_people_table",
    "pca_figure",
    "preparation_people_table",
    "profile_figure",
    "profile_people_table",
    "segment_colour",
    "segment_events",
    "segment_labels",
    "silhouette_figure",
    "sizes_figure",
    "user_features",
    "user_features_partition",
]
