"""The settings of a segmentation (:class:`SegmentParams`), validated once, declaratively.

Every rule on the settings lives in ``SegmentParams._parameter_constraints`` (checked when the
object is built); the one rule that needs the data, that ``columns`` are numeric features of
the feature table, is :meth:`SegmentParams.check_columns`, called by the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from numbers import Integral
from typing import TYPE_CHECKING, Any, ClassVar, Final

import polars as pl

from core.errors import ParameterError, is_integer
from core.params import Constraint, Interval, Params

if TYPE_CHECKING:
    from core.segments.result import Segmentation

#: The largest ``k`` the parameters accept.
MAX_K: Final = 20
#: The largest seed the parameters accept (NumPy and scikit-learn take 32-bit seeds).
MAX_SEED: Final = 2**31 - 1


class FeatureNames(Constraint):
    """A non-empty tuple of distinct, non-empty feature names."""

    def is_satisfied_by(self, value: Any) -> bool:
        return (isinstance(value, tuple) and len(value) > 0
                and all(isinstance(v, str) and v != "" for v in value)
                and len(set(value)) == len(value))

    def describe(self) -> str:
        return "at least one feature name (a tuple of strings, none repeated)"


class KRange(Constraint):
    """``(lo, hi)``: two whole numbers with ``2 <= lo <= hi <= MAX_K``."""

    def is_satisfied_by(self, value: Any) -> bool:
        return (isinstance(value, tuple) and len(value) == 2
                and all(is_integer(v) for v in value) and 2 <= value[0] <= value[1] <= MAX_K)

    def describe(self) -> str:
        return f"two whole numbers (lo, hi) with 2 <= lo <= hi <= {MAX_K}"


def _plain_int(value: Any) -> Any:
    """A NumPy integer as a Python int (hashable and URL-printable the same way); else as is."""
    return int(value) if isinstance(value, Integral) and not isinstance(value, bool) else value


@dataclass(frozen=True)
class SegmentParams(Params):
    """What defines a segmentation: the features, ``k`` (None: automatic) and the seed.

    The same params on the same data always give the same segments and numbering, so a link
    (the app writes these settings into the URL: ``ui.urls.segments_to_query``) reproduces
    them on any page.

    Parameters
    ----------
    columns : tuple of str, optional
        Features to cluster on; None: every feature the data supports. A single string or a
        list is accepted and stored as a tuple.
    k : int, optional
        Number of segments, 2 to :data:`MAX_K`; None chooses it by silhouette score.
    seed : int, default 0
        Seed of the samples and of K-means, 0 to :data:`MAX_SEED`.
    k_range : (int, int), default (2, 8)
        Smallest and largest ``k`` tried when ``k`` is None (inclusive; 2 <= lo <= hi <=
        :data:`MAX_K`). Not part of the URL.

    Raises
    ------
    ParameterError
        ``k``, ``seed`` or ``k_range`` out of range, ``columns`` empty or repeated.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "k": [Interval(int, 2, MAX_K), None],
        "seed": [Interval(int, 0, MAX_SEED)],
        "k_range": [KRange()],
        "columns": [FeatureNames(), None],
    }

    columns: tuple[str, ...] | None = None
    k: int | None = None
    seed: int = 0
    k_range: tuple[int, int] = (2, 8)

    def _normalise(self) -> None:
        if isinstance(self.columns, str):
            self._set("columns", (self.columns,))
        elif isinstance(self.columns, (list, tuple)):
            self._set("columns", tuple(self.columns))
        self._set("k", _plain_int(self.k))
        self._set("seed", _plain_int(self.seed))
        if isinstance(self.k_range, (list, tuple)):
            self._set("k_range", tuple(_plain_int(v) for v in self.k_range))

    def check_columns(self, schema: pl.Schema) -> None:
        """Check that every name in ``columns`` is a numeric column of the feature table.

        Parameters
        ----------
        schema : pl.Schema
            Schema of the feature table (``user_id`` and feature columns).

        Raises
        ------
        ParameterError
            Naming the unknown or non-numeric columns and the numeric features there are.
        """
        if self.columns is None:
            return
        numeric = numeric_features(schema)
        unknown = [c for c in self.columns if c not in schema]
        if unknown:
            raise ParameterError(f"`columns` {unknown} are not features of this data; "
                                 f"available: {numeric}")
        bad = [c for c in self.columns if c not in numeric]
        if bad:
            raise ParameterError(f"`columns` {bad} are not numeric; numeric features: {numeric}")

    def restricted_to(self, available: Sequence[str]) -> tuple[SegmentParams, tuple[str, ...]]:
        """These params without the features ``available`` lacks, and the names dropped.

        Useful when a URL made on one dataset is opened on another; when nothing is left the
        result uses every available feature (``columns=None``).
        """
        if self.columns is None:
            return self, ()
        kept = tuple(c for c in self.columns if c in available)
        dropped = tuple(c for c in self.columns if c not in available)
        return self.replace(columns=kept or None), dropped

    def compute(
        self, events: pl.DataFrame | pl.LazyFrame, *, as_of: datetime | None = None
    ) -> Segmentation:
        """:func:`~core.segments.segment_events` of ``events`` with these settings."""
        from core.segments.engine import segment_events  # lazy: the engine imports this module

        return segment_events(events, self, as_of=as_of)


def numeric_features(schema: pl.Schema) -> list[str]:
    """The numeric columns of a feature table's schema, ``user_id`` excepted, in order."""
    return [c for c, dtype in schema.items() if c != "user_id" and dtype.is_numeric()]
