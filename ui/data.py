"""Cached access to datasets. Frames are shared (cache_resource), never copied per rerun:
Polars frames are immutable, so sharing them between sessions is safe.

Every wrapper takes a :class:`ui.view.DataView` (dataset, filters, shared segmentation, chosen
cohorts) as its data key. With segments (the ``seg`` URL setting, written by the Segments page)
every page's events carry a ``segment`` property computed on the whole dataset with those settings
(:func:`core.segments.segment_labels`), so the same link always gives the same segments. Each
saved cohort chosen in the sidebar (the ``cohorts`` URL setting) adds a ``"cohort · <name>"``
property (:func:`core.cohorts.with_cohort_columns`), so filters and breakdowns use it unchanged.

A session sees only the datasets it may know of: the sample and those it uploaded or opened by a
link (:func:`remember`). Ids are unguessable content hashes, so a link is the key to a dataset;
the store's full list is never shown.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.cohorts import Cohort, with_cohort_columns
from core.errors import PathLensError
from core.filters import apply_filters
from core.overview import DatasetInfo, dataset_info
from core.segments import SegmentParams, segment_labels
from core.spark.lake import LakeRegistry
from core.store import SAMPLE_ID, DatasetStore
from ui.view import DataView

# Bookkeeping only (which ids this session uploaded or opened by link); not a view setting.
_KNOWN = "_data.known"


@st.cache_resource
def get_store() -> DatasetStore:
    """The process-wide dataset store (``PATHLENS_DATA_DIR`` or ``~/.pathlens/datasets``)."""
    return DatasetStore()


@st.cache_resource(max_entries=4, show_spinner="Computing segments…")
def segment_labels_cached(dataset_id: str, segments: SegmentParams) -> pl.DataFrame:
    """``user_id, segment`` for the whole dataset under the shared segmentation."""
    return segment_labels(get_store().scan(dataset_id), segments)


@st.cache_data(max_entries=64, show_spinner=False)
def saved_cohorts(dataset_id: str) -> tuple[Cohort, ...]:
    """The dataset's saved cohorts, newest first (cleared by :func:`cohorts_changed`)."""
    return tuple(get_store().cohorts(dataset_id))


def cohorts_changed() -> None:
    """Forget the cached cohort lists: call after a cohort is saved, renamed or deleted."""
    saved_cohorts.clear()


@st.cache_resource(max_entries=16, show_spinner=False)
def cohort_members_cached(dataset_id: str, cohort_id: str) -> pl.Series:
    """A saved cohort's members (ids are content hashes: the members of an id never change)."""
    return get_store().cohort_members(dataset_id, cohort_id)


def base_events(view: DataView) -> pl.LazyFrame:
    """The view's dataset as a lazy scan (no filters), with the ``segment`` property when the
    view has segments and a ``"cohort · <name>"`` property per chosen cohort."""
    lf = get_store().scan(view.dataset_id)
    if view.segments is not None:
        labels = segment_labels_cached(view.dataset_id, view.segments)
        lf = lf.join(labels.lazy(), on="user_id", how="left", maintain_order="left")
    if view.cohorts:
        lf = with_cohort_columns(lf, {name: cohort_members_cached(view.dataset_id, cid)
                                      for cid, name in view.cohorts})
    return lf


@st.cache_resource(max_entries=4, show_spinner="Loading dataset…")
def filtered_events(view: DataView) -> pl.DataFrame:
    """The canonical table of the view: its dataset with the sidebar filters applied."""
    return apply_filters(base_events(view), view.filters).collect()


def cached_dataset_info(view: DataView) -> DatasetInfo:
    """Control-building summary of the view's whole (unfiltered) dataset."""
    from ui.engine import runs_on_spark  # lazy: ui.engine imports this module

    # the engine is part of the key: a catalog table opens on Spark only (Polars raises)
    return _dataset_info(view.unfiltered(), runs_on_spark(view))


@st.cache_data(max_entries=16, show_spinner=False)
def _dataset_info(view: DataView, on_spark: bool = False) -> DatasetInfo:
    from ui.engine import spark_events  # lazy: ui.engine imports this module

    if on_spark:  # a lake dataset with Spark chosen: small aggregates on Spark
        from core.spark import dataset_info_spark  # lazy: pyspark only when Spark is chosen

        return dataset_info_spark(spark_events(view))
    return dataset_info(base_events(view))


def remember(item_id: str, kind: str = "dataset") -> None:
    """Let this session see ``item_id`` (it uploaded it or opened it by link).

    ``kind`` keeps separate lists (``"dataset"``, ``"basket"``: basket files of the Rules page).
    """
    known = st.session_state.setdefault(_KNOWN, {})
    ids = known.setdefault(kind, [])
    if item_id not in ids:
        ids.append(item_id)


def forget(item_id: str, kind: str = "dataset") -> None:
    """Stop listing ``item_id`` for this session (it was removed)."""
    ids = st.session_state.get(_KNOWN, {}).get(kind, [])
    if item_id in ids:
        ids.remove(item_id)


def remembered(kind: str = "dataset") -> list[str]:
    """Ids of ``kind`` this session uploaded or opened by link, oldest first."""
    return list(st.session_state.get(_KNOWN, {}).get(kind, []))


def _label(dataset_id: str) -> str:
    try:
        m = get_store().meta(dataset_id)
    except PathLensError:
        return f"{dataset_id[:8]}… (damaged)"
    return f"{m.name} ({m.rows:,} events)"


def dataset_names() -> dict[str, str]:
    """id -> display name of the datasets this session may pick: the sample, the lake datasets
    registered on this server (the operator allows their sources, ``PATHLENS_LAKE_ROOTS``),
    then those it uploaded or opened by link that are still stored (never the whole store)."""
    store = get_store()
    names = {SAMPLE_ID: "Bundled sample shop"}
    for lake in LakeRegistry(store.root).all():
        names[lake.id] = _label(lake.id)
    for ds in remembered():
        if ds != SAMPLE_ID and store.exists(ds):
            names[ds] = _label(ds)
    return names
