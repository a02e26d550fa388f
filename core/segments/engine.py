"""K-means user segments: :func:`fit_segments` on a feature table, :func:`segment_events` and
:func:`segment_labels` on events.

The fit, step by step (:func:`fit`): sort users by ``user_id`` (so the row order of the input
never matters); pick the columns (:func:`~core.segments.default_columns` unless named); prepare
them (:func:`~core.segments.prepare.prepare`: log scale, standardise, impute); fit K-means with
k-means++ on a seeded sample of at most :data:`SELECTION_SAMPLE` users for every ``k`` in
``k_range`` (or the given ``k``) and keep the ``k`` with the best silhouette score (on at most
:data:`SILHOUETTE_SAMPLE` users; ties go to the smaller ``k``); when there are more users than
the sample, refine on all of them from the sample's centres (``MiniBatchKMeans`` above
:data:`MINIBATCH_THRESHOLD` users); number the segments by money, then size
(:func:`~core.segments.result.ordered_clusters`), name them
(:func:`~core.segments.names.segment_names`) and project a sample on two principal components.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Final

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from core.errors import ParameterError, SchemaError
from core.segments.features import (
    FeatureReport,
    default_columns,
    feature_availability,
    feature_label,
    user_features_partition,
)
from core.segments.names import segment_names
from core.segments.params import SegmentParams, numeric_features
from core.segments.prepare import prepare, to_original_units
from core.segments.result import (
    Clusters,
    Segmentation,
    build_segmentation,
    empty_segmentation,
    labels_frame,
    ordered_clusters,
)

#: Above this many users the final fit uses ``MiniBatchKMeans`` (started from the sample fit).
MINIBATCH_THRESHOLD: Final = 50_000
#: Users drawn (seeded) to choose ``k``: every candidate ``k`` is fitted on this sample.
SELECTION_SAMPLE: Final = 5_000
#: Users drawn (seeded) to compute each silhouette score (it is quadratic in this number).
SILHOUETTE_SAMPLE: Final = 3_000
#: Users drawn (seeded) for the 2-D PCA scatter.
PROJECTION_POINTS: Final = 3_000
#: Threads fitting the k of the automatic choice side by side (the machine's cores, at most 4).
_WORKERS: Final = max(1, min(4, os.cpu_count() or 1))


def fit_segments(
    features: pl.DataFrame | pl.LazyFrame,
    *,
    k: int | None = None,
    k_range: tuple[int, int] = (2, 8),
    seed: int = 0,
    columns: Sequence[str] | None = None,
) -> Segmentation:
    """Cluster users into named segments with K-means.

    The steps are those of the module docstring (:mod:`core.segments.engine`). Segments are
    numbered 1..k by decreasing mean monetary value (``revenue``, else ``purchases``), then
    decreasing size, and named from their profile. The keywords become a
    :class:`SegmentParams` (``result.params``); :func:`fit` takes one directly.

    Parameters
    ----------
    features : pl.DataFrame or pl.LazyFrame
        ``user_id`` and numeric feature columns, one row per user (:func:`user_features`).
    k : int, optional
        Number of segments (2 to :data:`MAX_K`); None chooses it within ``k_range``.
    k_range : (int, int), default (2, 8)
        Smallest and largest ``k`` tried when ``k`` is None (inclusive; 2 <= lo <= hi <= MAX_K).
        Narrowed when there are too few distinct users, with a note.
    seed : int, default 0
        Seed of every sample and of K-means; same data and seed give the same segments.
    columns : sequence of str, optional
        Features to cluster on; default every numeric column except ``user_id``.

    Returns
    -------
    Segmentation
        Empty, with a ``reason``, when there are fewer than two users, fewer distinct users
        than ``k``, or no feature that varies.

    Raises
    ------
    SchemaError
        ``features`` has no ``user_id`` column.
    ParameterError
        ``k``, ``k_range``, ``seed`` or ``columns`` is invalid, or a user appears twice.

    Examples
    --------
    >>> seg = fit_segments(user_features(events))  # doctest: +SKIP
    >>> seg.sizes  # doctest: +SKIP
    """
    params = SegmentParams(columns=columns, k=k, seed=seed, k_range=k_range)
    return fit(features, params)


def fit(features: pl.DataFrame | pl.LazyFrame, params: SegmentParams) -> Segmentation:
    """:func:`fit_segments` with its settings as one :class:`SegmentParams`.

    Raises
    ------
    SchemaError, ParameterError
        As :func:`fit_segments`.
    """
    frame = _feature_table(features, params)
    cols, notes = _clustering_columns(frame, params)
    n = frame.height
    if not cols or n < 2:
        return empty_segmentation(_too_few_reason(cols, n), params, columns=cols, n_users=n)
    frame = frame.sort("user_id")
    raw = frame.select(pl.col(c).cast(pl.Float64) for c in cols).to_numpy()
    z, used, trows, prep_notes = prepare(raw, cols)
    notes += prep_notes
    if not used:
        return empty_segmentation(
            "no feature varies between users, so there is nothing to separate them by ("
            + "; ".join(prep_notes) + ")", params, columns=cols, n_users=n, notes=notes)
    zs = _selection_sample(z, params.seed)
    distinct = _distinct_users(z, zs)
    chosen = (_fixed_k(zs, n, distinct, params) if params.k is not None
              else _best_k(zs, distinct, params, notes))
    if isinstance(chosen, str):
        return empty_segmentation(chosen, params, columns=cols, n_users=n, notes=notes)
    clusters, counts = ordered_clusters(frame, _final_fit(z, zs, chosen, params), notes)
    original = to_original_units(clusters.centres, trows)
    names = segment_names(clusters.centres, original, used)
    label_frame = labels_frame(frame, clusters.labels, names)
    return build_segmentation(
        frame, params, columns=cols, used=used, transform_rows=trows, clusters=clusters,
        counts=counts, original=original, names=names, label_frame=label_frame,
        projection=_project(label_frame, z, params.seed), notes=notes)


def _feature_table(features: pl.DataFrame | pl.LazyFrame, params: SegmentParams) -> pl.DataFrame:
    """The feature table, collected and checked: a ``user_id`` column, the named columns
    numeric features of it, one row per user."""
    frame = features.collect() if isinstance(features, pl.LazyFrame) else features
    if "user_id" not in frame.columns:
        raise SchemaError(f"`features` needs a user_id column; found {frame.columns}")
    params.check_columns(frame.schema)
    if frame.height and frame["user_id"].n_unique() != frame.height:
        raise ParameterError("`features` must hold one row per user; some user_id values "
                             "repeat")
    return frame


def _clustering_columns(frame: pl.DataFrame, params: SegmentParams) -> tuple[list[str], list[str]]:
    """The columns to cluster on and a note for each numeric one left out by default."""
    if params.columns is not None:
        return list(params.columns), []
    cols = list(default_columns(frame))
    notes = []
    for c in numeric_features(frame.schema):
        if c not in cols:
            share = frame[c].null_count() / max(frame.height, 1)
            notes.append(f"{feature_label(c)} (`{c}`) was left out by default: {share:.0%} of "
                         "users have no value for it. Choose it among the features to use it.")
    return cols, notes


def _too_few_reason(cols: Sequence[str], n: int) -> str:
    if not cols:
        return "there are no numeric features to cluster on"
    if n == 0:
        return "there are no users to segment"
    return "there is a single user: nothing to segment"


def _selection_sample(z: np.ndarray, seed: int) -> np.ndarray:
    """The rows every candidate ``k`` is fitted on: a seeded sample of
    :data:`SELECTION_SAMPLE` users (in user order), or all of them."""
    n = z.shape[0]
    if n <= SELECTION_SAMPLE:
        return z
    rng = np.random.default_rng(seed)
    return z[np.sort(rng.choice(n, size=SELECTION_SAMPLE, replace=False))]


def _distinct_users(z: np.ndarray, zs: np.ndarray) -> int:
    """Users with different prepared features: in the sample, or in all rows when the sample
    has repeats and the whole table is small enough to check."""
    n = z.shape[0]
    distinct = len(np.unique(zs, axis=0))
    if distinct < n and n <= SELECTION_SAMPLE * 10:
        distinct = max(distinct, len(np.unique(z, axis=0)))
    return distinct


def _fixed_k(zs: np.ndarray, n: int, distinct: int, params: SegmentParams) -> Clusters | str:
    """K-means with the given ``k`` on the sample, or why it cannot be fitted."""
    k = params.k
    if k > n:
        return f"k={k} segments need at least {k} users; there are {n}"
    if k > distinct:
        return (f"k={k} segments need at least {k} users with different features; there are "
                f"{distinct} distinct")
    fit = _kmeans(zs, k, params.seed, n_init=10)
    return Clusters(fit.labels_, fit.cluster_centers_,
                    [(k, None, float(fit.inertia_) / zs.shape[0])], k, None, "KMeans")


def _best_k(
    zs: np.ndarray, distinct: int, params: SegmentParams, notes: list[str]
) -> Clusters | str:
    """The fit with the best silhouette score over ``params.k_range`` (narrowed to the distinct
    users, with a note), or why no ``k`` can be chosen."""
    lo, hi = params.k_range
    hi_eff = min(hi, distinct, zs.shape[0] - 1)
    if hi_eff < lo:
        return (f"choosing k automatically needs at least {lo + 1} users with different "
                f"features (the silhouette score compares each user with other segments); "
                f"there are {distinct}. Fix k instead.")
    if hi_eff < hi:
        notes.append(f"k was tried from {lo} to {hi_eff} only: there are {distinct} "
                     "distinct users")
    tried: list[tuple[int, float | None, float]] = []
    fits: dict[int, Any] = {}
    best: tuple[float, int] | None = None

    def fit_and_score(kk: int) -> tuple[Any, float | None]:
        fit = _kmeans(zs, kk, params.seed, n_init=10)
        return fit, _silhouette(zs, fit.labels_, params.seed)

    # The k are independent and each fit is seeded: fitted side by side (one BLAS/OpenMP
    # thread each; scikit-learn's k-means and the distances release the GIL), the same fits
    # as one after the other, in about half the time on 2 cores (issue 14: the Segments
    # page's first run).
    ks = range(lo, hi_eff + 1)
    with _one_thread(), ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        results = list(pool.map(fit_and_score, ks))
    for kk, (fit, s) in zip(ks, results, strict=True):
        fits[kk] = fit
        tried.append((kk, s, float(fit.inertia_) / zs.shape[0]))
        if s is not None and (best is None or s > best[0] + 1e-12):
            best = (s, kk)
    chosen = best[1] if best is not None else lo
    silhouette = next((s for kk, s, _ in tried if kk == chosen), None)
    return Clusters(fits[chosen].labels_, fits[chosen].cluster_centers_, tried, chosen,
                    silhouette, "KMeans")


def _final_fit(z: np.ndarray, zs: np.ndarray, sample: Clusters, params: SegmentParams) -> Clusters:
    """The sample's fit applied to every user: refined from the sample's centres when the
    sample is not everybody; the silhouette of the result (a fixed ``k`` has it measured here,
    and its one row of scores gets it)."""
    seed = params.seed
    if zs.shape[0] < z.shape[0]:
        full = _refit(z, sample, seed)
        labels, centres = full.predict(z), full.cluster_centers_
        method = type(full).__name__
        silhouette = _silhouette(z, labels, seed)
    else:
        labels, centres, method = sample.labels, sample.centres, sample.method
        silhouette = sample.silhouette if params.k is None else _silhouette(z, labels, seed)
    tried = sample.tried
    if params.k is not None:
        tried = [(params.k, silhouette, tried[0][2])]
    return Clusters(labels, centres, tried, sample.chosen, silhouette, method)


def _refit(z: np.ndarray, sample: Clusters, seed: int) -> Any:
    """K-means on all users from the sample's centres (mini-batches above
    :data:`MINIBATCH_THRESHOLD` users)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans  # lazy: sklearn is heavy

    if z.shape[0] > MINIBATCH_THRESHOLD:
        return MiniBatchKMeans(n_clusters=sample.chosen, init=sample.centres, n_init=1,
                               random_state=seed, batch_size=4096).fit(z)
    return KMeans(n_clusters=sample.chosen, init=sample.centres, n_init=1,
                  random_state=seed).fit(z)


def _silhouette(z: np.ndarray, labels: np.ndarray, seed: int) -> float | None:
    """Silhouette score on at most :data:`SILHOUETTE_SAMPLE` users; None when undefined."""
    from sklearn.metrics import silhouette_score  # lazy: sklearn is heavy

    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels > z.shape[0] - 1:
        return None
    size = min(z.shape[0], SILHOUETTE_SAMPLE)
    try:
        with _one_thread():
            return float(silhouette_score(
                z, labels, sample_size=size if size < z.shape[0] else None, random_state=seed))
    except ValueError:  # the sample drew a single label
        return None


def _kmeans(z: np.ndarray, k: int, seed: int, n_init: int) -> Any:
    from sklearn.cluster import KMeans  # lazy: sklearn is heavy

    # On samples of a few thousand users one thread is faster than OpenMP's team, and much
    # faster when other processes compete for the cores (spinning threads then stall).
    with _one_thread():
        return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(z)


def _one_thread() -> threadpool_limits:
    return threadpool_limits(limits=1)



def _project(labels: pl.DataFrame, z: np.ndarray, seed: int) -> tuple[pl.DataFrame,
                                                                      tuple[float, ...]]:
    """At most :data:`PROJECTION_POINTS` users on the first two principal components (fitted
    on at most :data:`SELECTION_SAMPLE` users) and the variance share of each component."""
    from sklearn.decomposition import PCA  # lazy: sklearn is heavy

    n = z.shape[0]
    rng = np.random.default_rng(seed + 1)
    idx = (np.sort(rng.choice(n, size=PROJECTION_POINTS, replace=False))
           if n > PROJECTION_POINTS else np.arange(n))
    fit_rows = z if n <= SELECTION_SAMPLE else z[
        np.sort(rng.choice(n, size=SELECTION_SAMPLE, replace=False))]
    n_comp = min(2, z.shape[1], fit_rows.shape[0])
    pca = PCA(n_components=n_comp, random_state=seed).fit(fit_rows)
    pts = pca.transform(z[idx])
    if n_comp < 2:
        pts = np.column_stack([pts, np.zeros((len(idx), 2 - n_comp))])
    # PCA's sign is arbitrary: make each axis point where its largest loading is positive
    for j in range(n_comp):
        if pca.components_[j][np.argmax(np.abs(pca.components_[j]))] < 0:
            pts[:, j] = -pts[:, j]
    sub = labels[idx.tolist()]
    out = sub.with_columns(pl.Series("pc1", pts[:, 0]), pl.Series("pc2", pts[:, 1]))
    var = tuple(float(v) for v in pca.explained_variance_ratio_)
    return out, var



def segment_events(
    events: pl.DataFrame | pl.LazyFrame,
    params: SegmentParams | None = None,
    *,
    as_of: datetime | None = None,
) -> Segmentation:
    """Segment the users of ``events``: their features, then :func:`fit` with ``params``.

    Features ``params.columns`` names that the data cannot support are left out, as the
    Segments page does (:meth:`SegmentParams.restricted_to`; when none is left, every
    available feature is used), each with a note saying why; ``result.params`` holds the
    params actually used.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table.
    params : SegmentParams, optional
        Features, k and seed; default automatic k on every available feature.
    as_of : datetime, optional
        Reference time of the features (:func:`user_features`).

    Returns
    -------
    Segmentation

    Raises
    ------
    SchemaError
        Required canonical columns are missing.
    ParameterError
        ``as_of`` is not a datetime.
    """
    report = feature_availability(events, as_of=as_of)
    params, dropped = (params or SegmentParams()).restricted_to(report.available)
    seg = fit(user_features_partition(events, report=report), params)
    notes = [_left_out_note(name, report) for name in dropped]
    return dataclasses.replace(seg, notes=(*notes, *seg.notes)) if notes else seg


def _left_out_note(name: str, report: FeatureReport) -> str:
    why = dict(report.missing).get(name, "not a feature of user_features")
    return f"feature {name!r} was left out: the data cannot support it ({why})"


def segment_labels(
    events: pl.DataFrame | pl.LazyFrame,
    params: SegmentParams | None = None,
    *,
    as_of: datetime | None = None,
) -> pl.DataFrame:
    """``user_id, segment`` (the segment's name) for every user, to join onto events.

    :func:`segment_events` with ``params``: features the data cannot support are left out, as
    the Segments page does. The same events and params always give the same labels, so
    Funnels and Paths can filter and break down by the segments the Segments page shows for
    the same URL.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table.
    params : SegmentParams, optional
        Features, k and seed; default automatic k on every available feature.
    as_of : datetime, optional
        Reference time of the features (:func:`user_features`).

    Returns
    -------
    pl.DataFrame
        ``user_id`` (String), ``segment`` (String); zero rows when no segmentation is possible
        (too few users...).

    Raises
    ------
    SchemaError
        Required canonical columns are missing.
    ParameterError
        ``as_of`` is not a datetime.
    """
    seg = segment_events(events, params, as_of=as_of)
    return seg.labels.select("user_id", pl.col("name").alias("segment"))
