"""Cached access to datasets. Frames are shared (cache_resource), never copied per rerun:
Polars frames are immutable, so sharing them between sessions is safe.

``seg`` is the shared segmentation setting (the ``seg`` URL parameter, written by the Segments
page): when set, every page's events carry a ``segment`` property computed on the whole
dataset with those settings, so the same link always gives the same segments.

A session sees only the datasets it may know of: the sample and those it uploaded or opened by a
link (:func:`remember`). Ids are unguessable content hashes, so a link is the key to a dataset;
the store's full list is never shown.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import polars as pl
import streamlit as st

from core.errors import PathLensError
from core.filters import FilterParams, apply_filters
from core.overview import DatasetInfo, dataset_info
from core.store import SAMPLE_ID, DatasetStore

# Bookkeeping only (which ids this session uploaded or opened by link); not a view setting.
_KNOWN = "_data.known"


@st.cache_resource
def get_store() -> DatasetStore:
    """The process-wide dataset store (``PATHLENS_DATA_DIR`` or ``~/.pathlens/datasets``)."""
    return DatasetStore()


def parse_seg(seg: str):
    """SegmentParams of a ``seg`` URL value (``segments.k=4&segments.seed=1``) and notes.

    Returns ``(None, notes)`` when the value holds no segmentation setting at all (``seg=AAAA``):
    the caller ignores it rather than applying default segments. Unknown keys are named in the
    notes and skipped.
    """
    from core.segments import Q_FEATURES, Q_K, Q_SEED, SegmentParams

    known = (Q_FEATURES, Q_K, Q_SEED)
    notes: list[str] = []
    query: dict[str, list[str]] = {}
    unknown: list[str] = []
    for key, value in parse_qsl(seg, keep_blank_values=True):
        if key in known:
            query.setdefault(key, []).append(value)
        else:
            unknown.append(f"{key}={value}" if value else key)
    expected = f"expected settings such as {Q_K}=4&{Q_SEED}=0"
    if not query:
        notes.append(f"ignored seg={seg[:60]!r}: it holds no segmentation setting ({expected})")
        return None, notes
    if unknown:
        notes.append("ignored " + ", ".join(repr(u[:40]) for u in unknown)
                     + f": not segmentation settings ({expected})")
    return SegmentParams.from_query(query, notes=notes), notes


@st.cache_resource(max_entries=4, show_spinner="Computing segments…")
def segment_labels_cached(dataset_id: str, seg: str) -> pl.DataFrame:
    """``user_id, segment`` for the whole dataset under the ``seg`` settings."""
    from core.segments import SegmentParams, segment_labels

    params, _ = parse_seg(seg)
    params = params or SegmentParams()
    events = get_store().scan(dataset_id)
    available = _available_features(dataset_id)
    params, _dropped = params.restricted_to(available)
    return segment_labels(events, params)


@st.cache_data(max_entries=8, show_spinner=False)
def _available_features(dataset_id: str) -> tuple[str, ...]:
    from core.segments import feature_availability

    report = feature_availability(get_store().scan(dataset_id))
    return tuple(report.available)


def base_events(dataset_id: str, seg: str = "") -> pl.LazyFrame:
    """The dataset as a lazy scan, with the ``segment`` property when ``seg`` is set."""
    lf = get_store().scan(dataset_id)
    if seg:
        labels = segment_labels_cached(dataset_id, seg)
        lf = lf.join(labels.lazy(), on="user_id", how="left", maintain_order="left")
    return lf


@st.cache_resource(max_entries=4, show_spinner="Loading dataset…")
def filtered_events(dataset_id: str, filters: FilterParams, seg: str = "") -> pl.DataFrame:
    """The canonical table of a dataset with the sidebar filters applied."""
    return apply_filters(base_events(dataset_id, seg), filters).collect()


@st.cache_data(max_entries=16, show_spinner=False)
def cached_dataset_info(dataset_id: str, seg: str = "") -> DatasetInfo:
    """Control-building summary of the whole (unfiltered) dataset."""
    return dataset_info(base_events(dataset_id, seg))


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
    """id -> display name of the datasets this session may pick: the sample, then those it
    uploaded or opened by link that are still stored (never the whole store)."""
    store = get_store()
    names = {SAMPLE_ID: "Bundled sample shop"}
    for ds in remembered():
        if ds != SAMPLE_ID and store.exists(ds):
            names[ds] = _label(ds)
    return names
