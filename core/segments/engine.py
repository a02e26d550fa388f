"""K-means user segments: :func:`fit_segments` on user features, :func:`segment_labels` on
events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import numpy as np
import polars as pl

from core.errors import ParameterError, SchemaError, is_integer
from core.segments.features import default_columns, user_features
from core.segments.names import _names
from core.segments.params import MAX_K, SegmentParams, _check_k, _check_seed
from core.segments.prepare import _inverse, _prepare
from core.segments.result import SEGMENT_DTYPE, Segmentation, empty_segmentation

MINIBATCH_THRESHOLD: Final = 50_000
#: Users drawn (seeded) to choose ``k``: every candidate ``k`` is fitted on this sample.
SELECTION_SAMPLE: Final = 5_000
#: Users drawn (seeded) to compute each silhouette score (it is quadratic in this number).
SILHOUETTE_SAMPLE: Final = 3_000
#: Users drawn (seeded) for the 2-D PCA scatter.
PROJECTION_POINTS: Final = 3_000
#: The largest ``k`` the parameters accept.
def _silhouette(z: np.ndarray, labels: np.ndarray, seed: int) -> float | None:
    from sklearn.metrics import silhouette_score

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


def _kmeans(z: np.ndarray, k: int, seed: int, n_init: int):
    from sklearn.cluster import KMeans

    # On samples of a few thousand users one thread is faster than OpenMP's team, and much
    # faster when other processes compete for the cores (spinning threads then stall).
    with _one_thread():
        return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(z)


def _one_thread():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def fit_segments(
    features: pl.DataFrame | pl.LazyFrame,
    *,
    k: int | None = None,
    k_range: tuple[int, int] = (2, 8),
    seed: int = 0,
    columns: Sequence[str] | None = None,
) -> Segmentation:
    """Cluster users into named segments with K-means.

    Steps: sort users by ``user_id`` (so the row order of the input never matters); drop
    constant columns; log-transform skewed count-like features as
    ``log1p(x / median positive value)`` (unit-free); standardise; count users without a value
    as average (0 after standardising); fit K-means with
    k-means++ on a seeded sample of at most :data:`SELECTION_SAMPLE` users for every ``k`` in
    ``k_range`` (or the given ``k``) and keep the ``k`` with the best silhouette score (on at
    most :data:`SILHOUETTE_SAMPLE` users; ties go to the smaller ``k``); when there are more
    users than the sample, refine on all of them from the sample's centres (``MiniBatchKMeans``
    above :data:`MINIBATCH_THRESHOLD` users). Segments are numbered 1..k by decreasing mean
    monetary value (``revenue``, else ``purchases``), then decreasing size, and named from
    their profile.

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
    _check_k(k)
    _check_seed(seed)
    if (not isinstance(k_range, (tuple, list)) or len(k_range) != 2
            or not all(is_integer(v) for v in k_range)
            or not 2 <= k_range[0] <= k_range[1] <= MAX_K):
        raise ParameterError(f"`k_range` must be two integers (lo, hi) with 2 <= lo <= hi <= "
                             f"{MAX_K}, got {k_range!r}")
    frame = features.collect() if isinstance(features, pl.LazyFrame) else features
    if "user_id" not in frame.columns:
        raise SchemaError(f"`features` needs a user_id column; found {frame.columns}")
    numeric = [c for c in frame.columns if c != "user_id" and frame.schema[c].is_numeric()]
    notes: list[str] = []
    if columns is None:
        cols = list(default_columns(frame))
        for c in numeric:
            if c not in cols:
                share = frame[c].null_count() / max(frame.height, 1)
                notes.append(f"feature {c!r} was left out by default: {share:.0%} of users have "
                             "no value for it (name it in `columns` to use it)")
    else:
        cols = [columns] if isinstance(columns, str) else list(columns)
        unknown = [c for c in cols if c not in frame.columns]
        if unknown:
            raise ParameterError(f"`columns` {unknown} are not features of this data; "
                                 f"available: {numeric}")
        bad = [c for c in cols if c not in numeric]
        if bad:
            raise ParameterError(f"`columns` {bad} are not numeric; numeric features: {numeric}")
        if not cols:
            raise ParameterError(f"`columns` must name at least one feature; available: "
                                 f"{numeric}")
        if len(set(cols)) != len(cols):
            raise ParameterError(f"`columns` must not repeat a feature, got {cols}")
    n = frame.height
    if n and frame["user_id"].n_unique() != n:
        raise ParameterError("`features` must hold one row per user; some user_id values "
                             "repeat")
    if not cols:
        return empty_segmentation("there are no numeric features to cluster on", seed=seed,
                                   n_users=n)
    if n == 0:
        return empty_segmentation("there are no users to segment", columns=cols, seed=seed)
    if n == 1:
        return empty_segmentation("there is a single user: nothing to segment", columns=cols,
                                   seed=seed, n_users=1)

    frame = frame.sort("user_id")
    raw = frame.select(pl.col(c).cast(pl.Float64) for c in cols).to_numpy()
    z, used, trows, prep_notes = _prepare(raw, cols)
    notes += prep_notes
    if not used:
        return empty_segmentation(
            "no feature varies between users, so there is nothing to separate them by ("
            + "; ".join(prep_notes) + ")", columns=cols, seed=seed, n_users=n, notes=notes)

    rng = np.random.default_rng(seed)
    if n > SELECTION_SAMPLE:
        sel = np.sort(rng.choice(n, size=SELECTION_SAMPLE, replace=False))
        zs = z[sel]
    else:
        zs = z
    distinct = len(np.unique(zs, axis=0))
    if distinct < n and n <= SELECTION_SAMPLE * 10:
        distinct = max(distinct, len(np.unique(z, axis=0)))

    tried: list[tuple[int, float | None, float]] = []
    fits: dict[int, Any] = {}
    if k is not None:
        if k > n:
            return empty_segmentation(
                f"k={k} segments need at least {k} users; there are {n}", columns=cols,
                seed=seed, n_users=n, notes=notes)
        if k > distinct:
            return empty_segmentation(
                f"k={k} segments need at least {k} users with different features; there are "
                f"{distinct} distinct", columns=cols, seed=seed, n_users=n, notes=notes)
        fit = _kmeans(zs, k, seed, n_init=10)
        fits[k] = fit
        chosen = k
    else:
        lo, hi = k_range
        hi_eff = min(hi, distinct, zs.shape[0] - 1)
        if hi_eff < lo:
            return empty_segmentation(
                f"choosing k automatically needs at least {lo + 1} users with different "
                f"features (the silhouette score compares each user with other segments); "
                f"there are {distinct}. Fix k instead.", columns=cols, seed=seed, n_users=n,
                notes=notes)
        if hi_eff < hi:
            notes.append(f"k was tried from {lo} to {hi_eff} only: there are {distinct} "
                         "distinct users")
        best: tuple[float, int] | None = None
        for kk in range(lo, hi_eff + 1):
            fit = _kmeans(zs, kk, seed, n_init=10)
            fits[kk] = fit
            s = _silhouette(zs, fit.labels_, seed)
            tried.append((kk, s, float(fit.inertia_) / zs.shape[0]))
            if s is not None and (best is None or s > best[0] + 1e-12):
                best = (s, kk)
        chosen = best[1] if best is not None else lo

    fit = fits[chosen]
    method = "KMeans"
    if zs.shape[0] < n:
        if n > MINIBATCH_THRESHOLD:
            from sklearn.cluster import MiniBatchKMeans

            full = MiniBatchKMeans(n_clusters=chosen, init=fit.cluster_centers_, n_init=1,
                                   random_state=seed, batch_size=4096).fit(z)
            method = "MiniBatchKMeans"
        else:
            from sklearn.cluster import KMeans

            full = KMeans(n_clusters=chosen, init=fit.cluster_centers_, n_init=1,
                          random_state=seed).fit(z)
        labels = full.predict(z)
        centres = full.cluster_centers_
        silhouette = _silhouette(z, labels, seed)
    else:
        labels = fit.labels_
        centres = fit.cluster_centers_
        silhouette = next((s for kk, s, _ in tried if kk == chosen), None)
        if k is not None:
            silhouette = _silhouette(z, labels, seed)
    if k is not None:
        tried = [(k, silhouette, float(fit.inertia_) / zs.shape[0])]

    return _assemble(frame, cols, used, trows, z, labels, centres, tried, chosen, silhouette,
                     method, seed, notes)


def _assemble(
    frame: pl.DataFrame,
    cols: list[str],
    used: list[str],
    trows: list[dict[str, Any]],
    z: np.ndarray,
    labels: np.ndarray,
    centres: np.ndarray,
    tried: list[tuple[int, float | None, float]],
    chosen: int,
    silhouette: float | None,
    method: str,
    seed: int,
    notes: list[str],
) -> Segmentation:
    n = frame.height
    present = np.unique(labels)
    if len(present) < len(centres):  # an empty cluster (possible with mini-batches)
        notes.append(f"{len(centres) - len(present)} segment(s) ended up empty and were "
                     "removed")
        centres = centres[present]
        remap = {int(old): i for i, old in enumerate(present)}
        labels = np.array([remap[int(v)] for v in labels])
    k_eff = len(centres)
    counts = np.bincount(labels, minlength=k_eff)
    money = next((c for c in ("revenue", "purchases") if c in frame.columns
                  and frame.schema[c].is_numeric()), None)
    if money is not None:
        mv = frame[money].cast(pl.Float64).fill_null(0.0).to_numpy()
        money_mean = np.bincount(labels, weights=mv, minlength=k_eff) / counts
    else:
        money_mean = np.zeros(k_eff)
    # order: monetary desc, then size desc, then the centre itself (total order, seed-stable)
    order = sorted(range(k_eff), key=lambda c: (-round(float(money_mean[c]), 9), -counts[c],
                                                tuple(np.round(centres[c], 9))))
    new_of = np.empty(k_eff, dtype=np.int64)
    for new, old in enumerate(order):
        new_of[old] = new
    labels = new_of[labels]
    centres = centres[order]
    counts = counts[order]

    original = _inverse(centres, trows)
    names = _names(centres, original, used)
    seg_numbers = np.arange(1, k_eff + 1, dtype=np.int32)
    name_of = np.array(names, dtype=object)
    label_frame = pl.DataFrame({
        "user_id": frame["user_id"].cast(pl.String),
        "segment": pl.Series((labels + 1).astype(np.int32), dtype=SEGMENT_DTYPE),
        "name": pl.Series(name_of[labels].tolist(), dtype=pl.String),
    })
    sizes = pl.DataFrame({
        "segment": pl.Series(seg_numbers, dtype=SEGMENT_DTYPE),
        "name": names,
        "size": pl.Series(counts.astype(np.int64), dtype=pl.Int64),
        "share": counts / n,
    })
    centroids = pl.DataFrame({
        "segment": pl.Series(seg_numbers, dtype=SEGMENT_DTYPE),
        "name": names,
        **{c: original[:, j] for j, c in enumerate(used)},
    })
    numeric = [c for c in frame.columns if c != "user_id" and frame.schema[c].is_numeric()]
    ordered = [c for c in cols if c in numeric] + [c for c in numeric if c not in cols]
    with_seg = frame.select(ordered).with_columns(
        label_frame["segment"], label_frame["name"])
    overall = frame.select(pl.col(c).cast(pl.Float64).mean() for c in ordered).row(0)
    per = (with_seg.group_by("segment", "name")
           .agg(pl.col(c).cast(pl.Float64).mean() for c in ordered))
    profile = (
        per.unpivot(index=["segment", "name"], on=ordered, variable_name="feature",
                    value_name="mean")
        .join(pl.DataFrame({"feature": ordered,
                            "overall_mean": pl.Series(overall, dtype=pl.Float64),
                            "_order": list(range(len(ordered)))}), on="feature")
        .with_columns(
            pl.when(pl.col("overall_mean") != 0).then(pl.col("mean") / pl.col("overall_mean"))
            .otherwise(None).alias("ratio"),
            pl.col("feature").is_in(used).alias("used"))
        .sort("segment", "_order")
        .select("segment", "name", "feature", "mean", "overall_mean", "ratio", "used")
    )
    projection, variance = _project(label_frame, z, seed)
    scores = pl.DataFrame(
        {"k": [t[0] for t in tried], "silhouette": [t[1] for t in tried],
         "inertia": [t[2] for t in tried], "chosen": [t[0] == chosen for t in tried]},
        schema={"k": pl.Int64, "silhouette": pl.Float64, "inertia": pl.Float64,
                "chosen": pl.Boolean})
    return Segmentation(
        labels=label_frame, k=k_eff, columns=tuple(used), scores=scores,
        silhouette=silhouette, centroids=centroids, sizes=sizes, profile=profile,
        projection=projection, explained_variance=variance,
        transform=pl.DataFrame(trows, schema={
            "feature": pl.String, "log": pl.Boolean, "log_scale": pl.Float64,
            "impute_value": pl.Float64, "imputed": pl.Int64, "mean": pl.Float64,
            "std": pl.Float64}),
        method=method, seed=seed, n_users=n, notes=tuple(notes), reason=None,
    )


def _project(labels: pl.DataFrame, z: np.ndarray, seed: int) -> tuple[pl.DataFrame,
                                                                      tuple[float, ...]]:
    from sklearn.decomposition import PCA

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


def segment_labels(
    events: pl.DataFrame | pl.LazyFrame,
    params: SegmentParams | None = None,
    *,
    as_of: datetime | None = None,
) -> pl.DataFrame:
    """``user_id, segment`` (the segment's name) for every user, to join onto events.

    Computes :func:`user_features` and :func:`fit_segments` with ``params``; the same events
    and params always give the same labels, so Funnels and Paths can filter and break down by
    the segments the Segments page shows for the same URL.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table.
    params : SegmentParams, optional
        Features, k and seed; default automatic k on every available feature.
    as_of : datetime, optional
        Passed to :func:`user_features`.

    Returns
    -------
    pl.DataFrame
        ``user_id`` (String), ``segment`` (String); zero rows when no segmentation is possible
        (too few users...).

    Raises
    ------
    ParameterError
        ``params.columns`` names a feature the data does not support
        (see :meth:`SegmentParams.restricted_to`).
    """
    params = params or SegmentParams()
    feats = user_features(events, as_of=as_of)
    seg = fit_segments(feats, k=params.k, seed=params.seed, columns=params.columns)
    return seg.labels.select("user_id", pl.col("name").alias("segment"))
