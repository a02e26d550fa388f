"""The data a page looks at: one frozen, hashable key for every cached wrapper.

:func:`ui.shell.page_setup` builds one :class:`DataView` from the sidebar (the dataset, the date
range and property filters, and the shared segmentation) and hands it to the page
(``ctx.view``); every cached wrapper in ``ui/`` takes it as its data key, so the same view is
one cache entry whichever page asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from core.filters import FilterParams
from core.segments import SegmentParams
from ui.urls import encode_seg


@dataclass(frozen=True)
class DataView:
    """Which events a page analyses.

    Parameters
    ----------
    dataset_id : str
        The dataset's id in the store (a content hash, or ``"sample"``).
    filters : FilterParams
        The sidebar's date range and property conditions.
    segments : SegmentParams or None
        The shared segmentation (the ``seg`` URL setting): when set, every event carries a
        ``segment`` property computed on the whole dataset with these settings.
    cohorts : tuple of (str, str)
        The saved cohorts chosen in the sidebar, as ``(cohort id, name)`` pairs: every event
        carries a ``"cohort · <name>"`` property (``"in cohort"`` / ``"not in cohort"``). The
        name is part of the key because it names the column (a rename changes the data).
    """

    dataset_id: str
    filters: FilterParams = field(default_factory=FilterParams)
    segments: SegmentParams | None = None
    cohorts: tuple[tuple[str, str], ...] = ()

    @property
    def cohort_ids(self) -> tuple[str, ...]:
        """The ids of the chosen cohorts (the ``cohorts`` URL values)."""
        return tuple(cid for cid, _ in self.cohorts)

    @property
    def seg(self) -> str:
        """The shared segmentation as its ``seg`` URL value (``""`` without segments)."""
        return encode_seg(self.segments)

    def unfiltered(self) -> DataView:
        """The same dataset, segments and cohorts without the sidebar filters (the whole
        dataset)."""
        return replace(self, filters=FilterParams())

    def with_filters(self, filters: FilterParams) -> DataView:
        """The same dataset, segments and cohorts under other filters."""
        return replace(self, filters=filters)


__all__ = ["DataView"]
