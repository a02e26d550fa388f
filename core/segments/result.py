"""The result of a segmentation (:class:`Segmentation`), its empty form, and how the result
frames are built from a K-means fit (renumbering, sizes, centres, profile, scores)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import polars as pl

from core.errors import ParameterError
from core.segments.features import feature_label
from core.segments.params import SegmentParams, numeric_features

#: dtype of the segment number columns.
SEGMENT_DTYPE: Final = pl.Int32
#: Columns of :attr:`Segmentation.transform`.
TRANSFORM_SCHEMA: Final = {"feature": pl.String, "log": pl.Boolean, "log_scale": pl.Float64,
                           "impute_value": pl.Float64, "imputed": pl.Int64,
                           "mean": pl.Float64, "std": pl.Float64}


@dataclass(frozen=True)
class Segmentation:
    """The result of :func:`fit_segments`.

    Segments are numbered 1..k by decreasing mean monetary value (``revenue``, else
    ``purchases``), then decreasing size. An empty segmentation (``reason`` set) has zero-row
    frames with the same columns.

    Attributes
    ----------
    labels : pl.DataFrame
        ``user_id``, ``segment`` (Int32, 1..k), ``name``; one row per user, sorted by user.
    k : int or None
        Number of segments (None when empty).
    columns : tuple of str
        Features the clustering used (constant or empty ones are dropped, see ``notes``).
    scores : pl.DataFrame
        ``k``, ``silhouette``, ``inertia`` (mean squared distance to the centre, standardised
        units, on the selection sample), ``chosen``: one row per k tried.
    silhouette : float or None
        Silhouette score of the result on a sample of the users.
    centroids : pl.DataFrame
        ``segment``, ``name`` and each clustering feature: the cluster centres mapped back to
        the original units (a typical member; log-scaled features give geometric-like means).
    sizes : pl.DataFrame
        ``segment``, ``name``, ``size``, ``share``.
    profile : pl.DataFrame
        ``segment``, ``name``, ``feature``, ``mean``, ``overall_mean``, ``ratio`` (segment mean
        over overall mean; null when the overall mean is 0), ``used``: every numeric feature.
    projection : pl.DataFrame
        ``user_id``, ``segment``, ``name``, ``pc1``, ``pc2``: at most :data:`PROJECTION_POINTS`
        users on the first two principal components of the standardised features.
    explained_variance : tuple of float
        Variance share of ``pc1`` and ``pc2``.
    transform : pl.DataFrame
        ``feature``, ``log``, ``log_scale``, ``impute_value``, ``imputed``, ``mean``, ``std``:
        how each feature was prepared (``x -> log1p(x / log_scale)`` when ``log``, then
        ``(x - mean) / std``, both fitted on the users with a value; the ``imputed`` users
        without one count as average, ``impute_value`` in original units).
    method : str
        ``"KMeans"``, ``"MiniBatchKMeans"`` or ``""`` when empty.
    params : SegmentParams
        The settings it was computed with (``columns`` as asked; ``columns`` above are the
        features actually used).
    seed : int
        ``params.seed``.
    n_users : int
    notes : tuple of str
        Things the user should know (features dropped, values imputed, k range narrowed).
    reason : str or None
        Why there are no segments (too few users, constant features...); None otherwise.
    """

    labels: pl.DataFrame
    k: int | None
    columns: tuple[str, ...]
    scores: pl.DataFrame
    silhouette: float | None
    centroids: pl.DataFrame
    sizes: pl.DataFrame
    profile: pl.DataFrame
    projection: pl.DataFrame
    explained_variance: tuple[float, ...]
    transform: pl.DataFrame
    method: str
    params: SegmentParams
    n_users: int
    notes: tuple[str, ...] = field(default_factory=tuple)
    reason: str | None = None

    @property
    def seed(self) -> int:
        """Seed of the samples and of K-means (``params.seed``)."""
        return self.params.seed

    @property
    def is_empty(self) -> bool:
        """True when no segments were fitted (see ``reason``)."""
        return self.reason is not None

    @property
    def names(self) -> tuple[str, ...]:
        """Segment names in segment order."""
        return tuple(self.sizes["name"].to_list())

    def segment_profile(self, segment: int | str) -> pl.DataFrame:
        """Profile of one segment (by number or name): ``feature``, ``label``, ``mean``,
        ``overall_mean``, ``ratio``, ``used``.

        Raises
        ------
        ParameterError
            No such segment.
        """
        col = "name" if isinstance(segment, str) else "segment"
        if segment not in self.sizes[col].to_list():
            raise ParameterError(f"`segment` must be one of {self.sizes[col].to_list()}, "
                                 f"got {segment!r}")
        return (
            self.profile.filter(pl.col(col) == segment)
            .with_columns(pl.col("feature").map_elements(feature_label, return_dtype=pl.String)
                          .alias("label"))
            .select("feature", "label", "mean", "overall_mean", "ratio", "used")
        )


def empty_segmentation(
    reason: str, params: SegmentParams, *, columns: Sequence[str] = (), n_users: int = 0,
    notes: Sequence[str] = (),
) -> Segmentation:
    """A segmentation without segments: zero-row frames with the usual columns, ``reason``."""
    seg_cols = {"segment": SEGMENT_DTYPE, "name": pl.String}
    return Segmentation(
        labels=pl.DataFrame(schema={"user_id": pl.String, **seg_cols}),
        k=None,
        columns=tuple(columns),
        scores=pl.DataFrame(schema={"k": pl.Int64, "silhouette": pl.Float64,
                                    "inertia": pl.Float64, "chosen": pl.Boolean}),
        silhouette=None,
        centroids=pl.DataFrame(schema={**seg_cols, **{c: pl.Float64 for c in columns}}),
        sizes=pl.DataFrame(schema={**seg_cols, "size": pl.Int64, "share": pl.Float64}),
        profile=pl.DataFrame(schema={**seg_cols, "feature": pl.String, "mean": pl.Float64,
                                     "overall_mean": pl.Float64, "ratio": pl.Float64,
                                     "used": pl.Boolean}),
        projection=pl.DataFrame(schema={"user_id": pl.String, **seg_cols,
                                        "pc1": pl.Float64, "pc2": pl.Float64}),
        explained_variance=(),
        transform=pl.DataFrame(schema=TRANSFORM_SCHEMA),
        method="",
        params=params,
        n_users=n_users,
        notes=tuple(notes),
        reason=reason,
    )


@dataclass(frozen=True)
class Clusters:
    """What K-means found, before the segments are numbered and named.

    Attributes
    ----------
    labels : np.ndarray
        Cluster ``0..k-1`` of every user (rows in ``user_id`` order).
    centres : np.ndarray
        One row per cluster, in standardised units.
    tried : list of (int, float or None, float)
        ``(k, silhouette, inertia per user)`` for every ``k`` tried.
    chosen : int
        The ``k`` chosen.
    silhouette : float or None
        Silhouette score of ``labels``.
    method : str
        ``"KMeans"`` or ``"MiniBatchKMeans"``.
    """

    labels: np.ndarray
    centres: np.ndarray
    tried: list[tuple[int, float | None, float]]
    chosen: int
    silhouette: float | None
    method: str


def ordered_clusters(
    frame: pl.DataFrame, clusters: Clusters, notes: list[str]
) -> tuple[Clusters, np.ndarray]:
    """Drop empty clusters (possible with mini-batches; a note says so) and renumber the rest
    by decreasing mean monetary value (``revenue``, else ``purchases``), then decreasing size,
    then the centre itself (a total order, stable for a seed).

    Returns
    -------
    (Clusters, np.ndarray)
        The renumbered clusters and the number of users in each.
    """
    labels, centres = clusters.labels, clusters.centres
    present = np.unique(labels)
    if len(present) < len(centres):  # an empty cluster (possible with mini-batches)
        notes.append(f"{len(centres) - len(present)} segment(s) ended up empty and were "
                     "removed")
        centres = centres[present]
        remap = {int(old): i for i, old in enumerate(present)}
        labels = np.array([remap[int(v)] for v in labels])
    counts = np.bincount(labels, minlength=len(centres))
    money_mean = _money_means(frame, labels, counts)
    order = sorted(range(len(centres)), key=lambda c: (
        -round(float(money_mean[c]), 9), -counts[c], tuple(np.round(centres[c], 9))))
    new_of = np.empty(len(centres), dtype=np.int64)
    for new, old in enumerate(order):
        new_of[old] = new
    renumbered = dataclasses.replace(clusters, labels=new_of[labels], centres=centres[order])
    return renumbered, counts[order]


def _money_means(frame: pl.DataFrame, labels: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean ``revenue`` (else ``purchases``) per cluster; zeros when there is neither."""
    money = next((c for c in ("revenue", "purchases") if c in frame.columns
                  and frame.schema[c].is_numeric()), None)
    if money is None:
        return np.zeros(len(counts))
    mv = frame[money].cast(pl.Float64).fill_null(0.0).to_numpy()
    return np.bincount(labels, weights=mv, minlength=len(counts)) / counts


def labels_frame(frame: pl.DataFrame, labels: np.ndarray, names: Sequence[str]) -> pl.DataFrame:
    """``user_id``, ``segment`` (1..k), ``name`` of every user of ``frame`` (same order)."""
    name_of = np.array(names, dtype=object)
    return pl.DataFrame({
        "user_id": frame["user_id"].cast(pl.String),
        "segment": pl.Series((labels + 1).astype(np.int32), dtype=SEGMENT_DTYPE),
        "name": pl.Series(name_of[labels].tolist(), dtype=pl.String),
    })


def _profile(
    frame: pl.DataFrame, columns: Sequence[str], used: Sequence[str], label_frame: pl.DataFrame
) -> pl.DataFrame:
    """:attr:`Segmentation.profile`: every numeric feature, the clustering ones first."""
    numeric = numeric_features(frame.schema)
    ordered = [c for c in columns if c in numeric] + [c for c in numeric if c not in columns]
    with_seg = frame.select(ordered).with_columns(label_frame["segment"], label_frame["name"])
    overall = frame.select(pl.col(c).cast(pl.Float64).mean() for c in ordered).row(0)
    per = (with_seg.group_by("segment", "name")
           .agg(pl.col(c).cast(pl.Float64).mean() for c in ordered))
    return (
        per.unpivot(index=["segment", "name"], on=ordered, variable_name="feature",
                    value_name="mean")
        .join(pl.DataFrame({"feature": ordered,
                            "overall_mean": pl.Series(overall, dtype=pl.Float64),
                            "_order": list(range(len(ordered)))}), on="feature")
        .with_columns(
            pl.when(pl.col("overall_mean") != 0).then(pl.col("mean") / pl.col("overall_mean"))
            .otherwise(None).alias("ratio"),
            pl.col("feature").is_in(list(used)).alias("used"))
        .sort("segment", "_order")
        .select("segment", "name", "feature", "mean", "overall_mean", "ratio", "used")
    )


def build_segmentation(
    frame: pl.DataFrame,
    params: SegmentParams,
    *,
    columns: Sequence[str],
    used: Sequence[str],
    transform_rows: list[dict[str, Any]],
    clusters: Clusters,
    counts: np.ndarray,
    original: np.ndarray,
    names: Sequence[str],
    label_frame: pl.DataFrame,
    projection: tuple[pl.DataFrame, tuple[float, ...]],
    notes: Sequence[str],
) -> Segmentation:
    """The :class:`Segmentation` of renumbered ``clusters`` (:func:`ordered_clusters`), named
    ``names``, with centres ``original`` in original units and ``label_frame`` of
    :func:`labels_frame`."""
    k = len(clusters.centres)
    numbers = pl.Series(np.arange(1, k + 1, dtype=np.int32), dtype=SEGMENT_DTYPE)
    names = list(names)
    tried = clusters.tried
    return Segmentation(
        labels=label_frame, k=k, columns=tuple(used),
        scores=pl.DataFrame(
            {"k": [t[0] for t in tried], "silhouette": [t[1] for t in tried],
             "inertia": [t[2] for t in tried], "chosen": [t[0] == clusters.chosen for t in tried]},
            schema={"k": pl.Int64, "silhouette": pl.Float64, "inertia": pl.Float64,
                    "chosen": pl.Boolean}),
        silhouette=clusters.silhouette,
        centroids=pl.DataFrame({"segment": numbers, "name": names,
                                **{c: original[:, j] for j, c in enumerate(used)}}),
        sizes=pl.DataFrame({"segment": numbers, "name": names,
                            "size": pl.Series(counts.astype(np.int64), dtype=pl.Int64),
                            "share": counts / frame.height}),
        profile=_profile(frame, columns, used, label_frame),
        projection=projection[0], explained_variance=projection[1],
        transform=pl.DataFrame(transform_rows, schema=TRANSFORM_SCHEMA),
        method=clusters.method, params=params, n_users=frame.height, notes=tuple(notes),
        reason=None,
    )
