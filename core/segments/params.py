"""The settings of a segmentation (:class:`SegmentParams`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from core.errors import ParameterError, is_integer

#: The largest ``k`` the parameters accept.
MAX_K: Final = 20

#: URL query parameter names; the page's widget keys are the same strings.
Q_FEATURES: Final = "segments.features"
Q_K: Final = "segments.k"
Q_SEED: Final = "segments.seed"


@dataclass(frozen=True)
class SegmentParams:
    """What defines a segmentation: the features, ``k`` (None: automatic) and the seed.

    The same params on the same data always give the same segments and numbering, so the URL
    (:meth:`to_query`) reproduces them on any page.

    Parameters
    ----------
    columns : tuple of str, optional
        Features to cluster on; None: every feature the data supports.
    k : int, optional
        Number of segments, 2 to :data:`MAX_K`; None chooses it by silhouette score.
    seed : int, default 0
        Seed of the samples and of K-means, 0 to 2**31 - 1.

    Raises
    ------
    ParameterError
        ``k`` or ``seed`` out of range, ``columns`` empty or repeated.
    """

    columns: tuple[str, ...] | None = None
    k: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.columns is not None:
            cols = (self.columns,) if isinstance(self.columns, str) else tuple(self.columns)
            if not cols:
                raise ParameterError("`columns` must name at least one feature, got none; "
                                     "use None for every available feature")
            if len(set(cols)) != len(cols):
                raise ParameterError(f"`columns` must not repeat a feature, got {list(cols)}")
            object.__setattr__(self, "columns", cols)
        _check_k(self.k)
        _check_seed(self.seed)

    def to_query(self) -> dict[str, str | list[str]]:
        """URL query parameters of these params; defaults are left out.

        ``segments.features`` is a list (one repeated parameter per feature, as a bound
        multiselect writes it), ``segments.k`` and ``segments.seed`` are strings.
        """
        q: dict[str, str | list[str]] = {}
        if self.columns is not None:
            q[Q_FEATURES] = list(self.columns)
        if self.k is not None:
            q[Q_K] = str(self.k)
        if self.seed != 0:
            q[Q_SEED] = str(self.seed)
        return q

    @classmethod
    def from_query(
        cls, query: Mapping[str, Any], *, notes: list[str] | None = None
    ) -> SegmentParams:
        """Params from URL query parameters; an invalid value never raises.

        Parameters
        ----------
        query : mapping
            ``segments.features`` (a list, or one string with comma-separated names),
            ``segments.k`` (an integer or ``auto``), ``segments.seed`` (an integer). Values
            may be strings or lists of strings (the last one counts for k and seed).
        notes : list of str, optional
            When given, a sentence is appended for each value that was ignored.

        Returns
        -------
        SegmentParams
            Invalid values fall back to their defaults.
        """
        notes = notes if notes is not None else []

        def last(v: Any) -> str | None:
            if isinstance(v, (list, tuple)):
                v = v[-1] if v else None
            return None if v is None else str(v).strip()

        columns: tuple[str, ...] | None = None
        raw = query.get(Q_FEATURES)
        if raw is not None:
            items = [raw] if isinstance(raw, str) else list(raw)
            names = [n.strip() for i in items for n in str(i).split(",") if n.strip()]
            columns = tuple(dict.fromkeys(names)) or None
        k: int | None = None
        kv = last(query.get(Q_K))
        if kv not in (None, "", "auto"):
            try:
                k = int(kv)
                _check_k(k)
            except (ValueError, ParameterError):
                notes.append(f"ignored {Q_K}={kv!r}: k must be 'auto' or an integer from 2 "
                             f"to {MAX_K}")
                k = None
        seed = 0
        sv = last(query.get(Q_SEED))
        if sv not in (None, ""):
            try:
                seed = int(sv)
                _check_seed(seed)
            except (ValueError, ParameterError):
                notes.append(f"ignored {Q_SEED}={sv!r}: the seed must be an integer from 0 "
                             f"to {2**31 - 1}")
                seed = 0
        return cls(columns=columns, k=k, seed=seed)

    def restricted_to(self, available: Sequence[str]) -> tuple[SegmentParams, tuple[str, ...]]:
        """These params without the features ``available`` lacks, and the names dropped.

        Useful when a URL made on one dataset is opened on another; when nothing is left the
        result uses every available feature (``columns=None``).
        """
        if self.columns is None:
            return self, ()
        kept = tuple(c for c in self.columns if c in available)
        dropped = tuple(c for c in self.columns if c not in available)
        return SegmentParams(columns=kept or None, k=self.k, seed=self.seed), dropped


def _check_k(k: Any) -> None:
    if k is None:
        return
    if not is_integer(k) or not 2 <= k <= MAX_K:
        raise ParameterError(f"`k` must be None (automatic) or an integer from 2 to {MAX_K}, "
                             f"got {k!r}")


def _check_seed(seed: Any) -> None:
    if not is_integer(seed) or not 0 <= seed <= 2**31 - 1:
        raise ParameterError(f"`seed` must be an integer from 0 to {2**31 - 1}, got {seed!r}")
