"""The result of a segmentation (:class:`Segmentation`) and its empty form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import polars as pl

from core.errors import ParameterError
from core.segments.features import feature_label

#: dtype of the segment number columns.
SEGMENT_DTYPE: Final = pl.Int32


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
    seed : int
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
    seed: int
    n_users: int
    notes: tuple[str, ...] = field(default_factory=tuple)
    reason: str | None = None

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
    reason: str, *, columns: Sequence[str] = (), seed: int = 0, n_users: int = 0,
    notes: Sequence[str] = (),
) -> Segmentation:
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
        transform=pl.DataFrame(schema={"feature": pl.String, "log": pl.Boolean,
                                       "log_scale": pl.Float64, "impute_value": pl.Float64,
                                       "imputed": pl.Int64, "mean": pl.Float64,
                                       "std": pl.Float64}),
        method="",
        seed=seed,
        n_users=n_users,
        notes=tuple(notes),
        reason=reason,
    )
