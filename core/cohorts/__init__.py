"""Saved cohorts: groups of users found on one page, kept with the dataset, used on every page.

Modules: ``model`` (:class:`Cohort`, the rules of names, members and ids), ``storage`` (the
store's cohort methods, mixed into :class:`core.store.DatasetStore`: ``save_cohort``,
``cohorts``, ``cohort``, ``cohort_members``, ``rename_cohort``, ``delete_cohort``), ``columns``
(:func:`with_cohort_columns`: a ``"cohort · <name>"`` property on the events, so filters and
breakdowns use it unchanged), ``sources`` (the members and definition from a funnel step, a
Sankey node, a segment, a rule's antecedent, the riskiest carts or a retention cell),
``paths`` (each entity's path as the Sankey shows it) and ``export``
(:func:`cohort_csv`).

``sources`` imports the analysis packages, so it is loaded on first use of one of its names
(the store imports this package and must stay cheap to import).
"""

from __future__ import annotations

import importlib
from typing import Any

from core.cohorts.columns import (
    COLUMN_PREFIX,
    IN_COHORT,
    NOT_IN_COHORT,
    cohort_column,
    with_cohort_columns,
)
from core.cohorts.export import cohort_csv
from core.cohorts.model import MAX_COHORTS, MAX_NAME_CHARS, SOURCES, Cohort, cohort_id

_LAZY = {
    "CohortDraft": "core.cohorts.sources",
    "scope_text": "core.cohorts.sources",
    "funnel_dropoff_members": "core.cohorts.sources",
    "funnel_conversion_members": "core.cohorts.sources",
    "path_node_members": "core.cohorts.sources",
    "segment_members": "core.cohorts.sources",
    "antecedent_members": "core.cohorts.sources",
    "riskiest_cart_members": "core.cohorts.sources",
    "retention_cell_members": "core.cohorts.sources",
    "path_entities": "core.cohorts.paths",
}

__all__ = [
    "COLUMN_PREFIX",
    "IN_COHORT",
    "MAX_COHORTS",
    "MAX_NAME_CHARS",
    "NOT_IN_COHORT",
    "SOURCES",
    "Cohort",
    "cohort_column",
    "cohort_csv",
    "cohort_id",
    "with_cohort_columns",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'core.cohorts' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
