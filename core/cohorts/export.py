"""A saved cohort as a CSV download."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.cohorts.model import COUNT_BY
from core.export import to_safe_csv

if TYPE_CHECKING:
    from core.store import DatasetStore


def cohort_csv(store: DatasetStore, dataset_id: str, cohort_id: str) -> bytes:
    """The members of a saved cohort as CSV bytes: a ``user_id`` header, one user per line.

    Written by :func:`core.export.to_safe_csv` (UTF-8 with BOM; a user id a spreadsheet would
    run as a formula, such as ``=1+1``, starts with ``'``), as every download of the app.

    Raises
    ------
    DatasetNotFound, CohortNotFound, DatasetCorrupt
        As :meth:`core.store.DatasetStore.cohort_members`.
    """
    return to_safe_csv(store.cohort_members(dataset_id, cohort_id).to_frame(COUNT_BY))
