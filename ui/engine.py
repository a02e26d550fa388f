"""Where a page's analysis runs: Polars on this server, or Spark for a lake dataset (issue 17).

One rule, in one place: a view runs on Spark when its dataset is a **lake dataset** (a Parquet
path or a catalog table registered on the Data page, :mod:`core.spark.lake`) and the **engine
is Spark** (the Data page's choice ``data.backend``, else ``PATHLENS_BACKEND``) and Spark can
start here (pyspark, and Java or a Spark Connect URL). Everything else computes with Polars
as before. The cached wrappers of ``ui/`` ask :func:`runs_on_spark` first and call the
``*_spark`` function of :mod:`core.spark` with :func:`spark_events` as the source, keyed by the
same ``(view, params)``: the results are the same numbers (``tests/test_spark_parity.py``,
``tests/test_spark_pages.py``), so one cache entry serves both engines.

pyspark is imported only when a view runs on Spark (inside :mod:`core.spark`'s functions);
importing this module imports nothing of it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import polars as pl
import streamlit as st

from core.backend import backend_status
from core.cohorts import CohortDraft
from core.compare import ComparisonWindow, comparison_window
from core.spark.carts import MAX_CART_ROWS
from core.spark.lake import LakeDataset
from core.spark.session import REMOTE_ENV
from ui.data import cohort_members_cached, filtered_events, get_store
from ui.urls import url_value
from ui.view import DataView

#: The Data page's engine radio (its widget key and URL parameter).
ENGINE_KEY = "data.backend"
# Bookkeeping only (the engine the Data page chose, kept when the radio is not on the page).
_CHOICE = "_engine.choice"


def remember_choice(engine: str) -> None:
    """Keep the Data page's engine for the session's other pages (their scripts do not draw
    the radio, so its widget state is gone there)."""
    st.session_state[_CHOICE] = engine


def chosen_engine() -> str:
    """``"spark"`` or ``"polars"``: the Data page's choice in this session (or the link's
    ``data.backend``), else ``PATHLENS_BACKEND``; Polars when Spark cannot start here."""
    try:
        choice = (st.session_state.get(ENGINE_KEY) or st.session_state.get(_CHOICE)
                  or url_value(ENGINE_KEY))
    except Exception:  # noqa: BLE001 - no session (a background thread): the environment
        choice = None
    status = backend_status()
    engine = choice if choice in ("polars", "spark") else (status.backend or "polars")
    return engine if engine == "polars" or status.spark_ready else "polars"


def lake_dataset(view: DataView) -> LakeDataset | None:
    """The lake dataset the view looks at (``None`` for an ordinary dataset or the sample)."""
    return get_store().lake(view.dataset_id)


def runs_on_spark(view: DataView) -> bool:
    """True when the view's analyses run on Spark: a lake dataset, and Spark is the engine."""
    return lake_dataset(view) is not None and chosen_engine() == "spark"


@st.cache_resource(max_entries=4, show_spinner="Segmenting the lake dataset's users on Spark…")
def spark_segment_labels(dataset_id: str, segments) -> pl.DataFrame:
    """``user_id, segment`` of the whole lake dataset under the shared segmentation, computed
    on Spark (:func:`core.spark.segment_events_spark`): the labels the Polars backend gives."""
    from core.spark import segment_events_spark  # lazy: pyspark only when Spark is chosen

    lake = get_store().lake(dataset_id)
    assert lake is not None
    seg = segment_events_spark(lake.source, segments)
    return seg.labels.select("user_id", pl.col("name").alias("segment"))


@st.cache_resource(max_entries=8, show_spinner=False)
def spark_events(view: DataView):
    """The view's events on Spark (:func:`core.spark.view_events`): the lake table read in
    place, with the segment labels and the chosen cohorts' members sent to the workers, the
    sidebar's filters applied in every partition."""
    from core.spark import view_events  # lazy: pyspark only when Spark is chosen

    lake = lake_dataset(view)
    assert lake is not None, "spark_events needs a lake dataset (runs_on_spark)"
    labels = (spark_segment_labels(view.dataset_id, view.segments)
              if view.segments is not None else None)
    cohorts = {name: cohort_members_cached(view.dataset_id, cid) for cid, name in view.cohorts}
    return view_events(lake.source, filters=view.filters, cohorts=cohorts, labels=labels)


@dataclass(frozen=True)
class SparkEarlier:
    """The earlier window a view on Spark is compared with (``ui.overview.earlier_events`` on
    Spark): the window, why no change is shown (``""`` when one is), whether the data hold no
    event in it, and the view without its date range (where the earlier events come from)."""

    window: ComparisonWindow
    note: str
    empty: bool
    undated: DataView

    def events(self, grain: str | None = None) -> Any:
        """The earlier window's events on Spark (whole periods of ``grain`` when given)."""
        from core.spark import within  # lazy: pyspark only when Spark is chosen

        return within(spark_events(self.undated), self.window.earlier_filter(grain=grain))


@st.cache_resource(max_entries=16, show_spinner="Finding the earlier period on Spark…")
def spark_earlier(view: DataView, against: str) -> SparkEarlier | None:
    """The earlier window of a view on Spark (``"previous"`` or ``"year"``); ``None`` when the
    view holds no event. Three small passes: the view's first and last event, the undated
    view's (how far the data cover the earlier window), and whether the window holds any."""
    from core.spark import span_spark  # lazy: pyspark only when Spark is chosen
    from ui.overview import comparison_note, current_range  # lazy: it imports this module

    first, last = span_spark(spark_events(view))
    if first is None:
        return None
    start, end = current_range(view.filters, first, last)
    undated = view.with_filters(replace(view.filters, date_from=None, date_to=None))
    window = comparison_window(start, end, against=against,  # type: ignore[arg-type]
                               span=span_spark(spark_events(undated)))
    dated = view.filters.date_from is not None or view.filters.date_to is not None
    found = SparkEarlier(window, comparison_note(window, dated=dated), False, undated)
    return replace(found, empty=span_spark(found.events())[0] is None)


@st.cache_resource(max_entries=4, show_spinner="Gathering the events of the users with a cart "
                                                 "on Spark…")
def _spark_cart_events(view: DataView) -> pl.DataFrame:
    from core.spark.carts import cart_events_spark  # lazy: pyspark only when Spark is chosen

    return cart_events_spark(spark_events(view))


def cart_events(view: DataView) -> pl.DataFrame:
    """The events the Cart page reads: for a view on Spark, those of the users with a cart
    (and the latest event), gathered per partition (:func:`core.spark.carts.cart_events_spark`,
    the same numbers on every :mod:`core.cart` function); else the filtered table here."""
    return _spark_cart_events(view) if runs_on_spark(view) else filtered_events(view)


def view_members(view: DataView, draft: Callable[[pl.DataFrame], CohortDraft]) -> CohortDraft:
    """``draft`` (a :mod:`core.cohorts.sources` function of the view's events) on the view's
    events: per partition on Spark (:func:`core.spark.members_spark`) for a view that runs
    there, else on the filtered table here."""
    if runs_on_spark(view):
        from core.spark import members_spark  # lazy: pyspark only when Spark is chosen

        return members_spark(spark_events(view), draft)
    return draft(filtered_events(view))


#: Per page: what it does not compute on Spark (the events would have to be on this server).
_HERE_ONLY = {
    "Overview": "",
    "Funnels": "",
    "Paths": "",
    "Retention": "",
    "Segments": "User features are computed on Spark; K-means runs here, on the "
                "one-row-per-user table.",
    "Basket rules": "Frequent itemsets are mined with MLlib FP-growth; the itemset cap applies, "
                    "the time limit does not.",
    "Cart abandonment": "",
}


def where_it_runs(view: DataView, page: str = "") -> str | None:
    """The page's line saying where its numbers are computed (``None``: Polars on an ordinary
    dataset, as always; the Data page, whose panel says it)."""
    lake = lake_dataset(view)
    if lake is None or page == "Data":
        return None
    if not runs_on_spark(view):
        return (f"Lake dataset `{lake.source}`, read with Polars on this server (the engine is "
                "Polars): the events left after the filters are loaded into its memory.")
    if page not in _HERE_ONLY:  # a page not wired to Spark: it reads the lake here
        return (f"The engine is Spark, but this page computes with Polars on this server: it "
                f"reads the lake files of `{lake.source}` here (a catalog table cannot be "
                "opened).")
    where = "Spark Connect" if os.environ.get(REMOTE_ENV, "").strip() else "a local Spark"
    if page == "Cart abandonment":
        return (f"The events of the users with a cart are gathered on {where} (the engine is "
                f"Spark) from the lake dataset `{lake.source}`, with the filters, cohorts and "
                f"segments applied on the workers (at most {MAX_CART_ROWS:,} events); the models "
                "are measured, trained and scored here.")
    return (f"Computed on {where} (the engine is Spark) from the lake dataset `{lake.source}`: "
            "the filters, cohorts and segments are applied on the workers and only the results "
            "come back. " + _HERE_ONLY[page]).strip()


def show_where_it_runs(view: DataView, page: str = "") -> None:
    """Say on ``page`` (its title) where its numbers are computed, when it is not plain
    Polars."""
    if (text := where_it_runs(view, page)) is not None:
        st.caption(text)


__all__ = [
    "ENGINE_KEY",
    "SparkEarlier",
    "cart_events",
    "spark_earlier",
    "chosen_engine",
    "lake_dataset",
    "remember_choice",
    "runs_on_spark",
    "show_where_it_runs",
    "spark_events",
    "spark_segment_labels",
    "view_members",
    "where_it_runs",
]
