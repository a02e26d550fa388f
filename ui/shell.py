"""The page shell: one call at the top of every page renders the sidebar and returns the context.

The sidebar holds the active dataset, the saved cohorts to use, a date range and property
filters. Every control is
mirrored in the URL (the widget key is the parameter name), so a copied link reopens the same
dataset and filters, and the navigation links carry them from page to page. A URL value that cannot be used (unknown dataset, a
malformed filter, a date outside the data) is dropped with a notice at the top of the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import NoReturn

import polars as pl
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.errors import DatasetCorrupt, DatasetNotFound, ParameterError, PathLensError
from core.export import to_safe_csv
from core.filters import OPERATORS, Condition, FilterParams, format_condition, parse_condition
from core.overview import DatasetInfo
from core.segments import SegmentParams
from core.store import SAMPLE_ID, is_valid_id
from ui.boot import request_dataset_warm_up
from ui.data import (
    cached_dataset_info,
    dataset_names,
    filtered_events,
    get_store,
    remember,
    saved_cohorts,
)
from ui.engine import show_where_it_runs
from ui.links import copy_link  # the box lives with the other link code
from ui.urls import (
    COHORT_KEY,
    DATASET_KEY,
    FILTER_KEY,
    FROM_KEY,
    SEG_KEY,
    TO_KEY,
    WHERE_KEY,
    parse_seg,
    publish,
    seed_from_url,
    set_shared,
    url_value,
)
from ui.view import DataView

#: Most properties the sidebar's Filters box offers values of (the rest: More conditions).
MAX_FILTER_PROPERTIES = 200


@dataclass
class PageContext:
    """What a page needs: the data it looks at (:class:`DataView`), names and notices."""

    #: the dataset, the sidebar filters and the shared segments: the key of every cached wrapper
    view: DataView
    dataset_name: str
    info: DatasetInfo
    notices: list[str] = field(default_factory=list)
    #: a dataset the link or picker asked for that the store refused as damaged (the page shows
    #: the sample instead; the Data page offers to remove it)
    unusable_id: str | None = None

    @property
    def dataset_id(self) -> str:
        """The active dataset's id (``view.dataset_id``)."""
        return self.view.dataset_id

    @property
    def filters(self) -> FilterParams:
        """The sidebar's date range and property conditions (``view.filters``)."""
        return self.view.filters

    def events(self) -> pl.DataFrame:
        """The filtered canonical table (cached; shared, do not mutate)."""
        return filtered_events(self.view)

    def notice(self, message: str) -> None:
        """Report a URL parameter that was ignored (shown once at the top of the page)."""
        self.notices.append(message)
        st.warning(message, icon=":material/warning:")


def _wkey(page: str, param: str) -> str:
    """Widget key of a shared sidebar control on one page (the URL parameter is ``param``).

    Each page has its own widget for the shared settings, seeded from the URL when the page
    opens: Streamlit drops a widget's state on a page switch, and the URL (carried by the
    navigation links) is the one source of truth for the shared settings.
    """
    return f"{page}:{param}"


def _dataset_control(page: str, notices: list[str]) -> str:
    # The URL carries the dataset id; the selectbox shows names (a bound selectbox would put
    # the label in the URL).
    key = _wkey(page, DATASET_KEY)
    names = dataset_names()
    raw = url_value(DATASET_KEY)
    if raw is not None and raw not in names:
        if is_valid_id(raw) and get_store().exists(raw):
            remember(raw)  # a link is the key to a dataset: this session may now pick it
            names = dataset_names()
        else:
            why = "is malformed" if not is_valid_id(raw) else "is not on this server"
            notices.append(f"The dataset `{raw[:40]}` in the link {why}; showing the sample.")
            raw = None
    if st.session_state.get(key) not in names:
        st.session_state[key] = raw if raw in names else SAMPLE_ID
    chosen = st.sidebar.selectbox(
        "Dataset", list(names), key=key, format_func=lambda i: names.get(i, i),
        help="The event log every page analyses. Upload your own on the Data page.",
    )
    publish(DATASET_KEY, [] if chosen == SAMPLE_ID else [chosen])
    return chosen


def _segment_control(notices: list[str]) -> SegmentParams | None:
    """The shared segmentation (``seg`` URL parameter), shown with a button to remove it."""
    seg = url_value(SEG_KEY) or ""
    if not seg:
        return None
    params, notes = parse_seg(seg)
    notices += [f"Segments in the link: {n}" for n in notes]
    if params is None:  # not a segmentation at all: ignored, and dropped from the URL
        set_shared(SEG_KEY, None)
        return None
    k = "auto" if params.k is None else params.k
    st.sidebar.caption(f"Segments applied to every page: k = {k}, seed {params.seed}. "
                       "Filter or break down by the `segment` property.")
    st.sidebar.button("Remove segments", key="shell.remove_seg", on_click=set_shared,
                      args=(SEG_KEY, None), icon=":material/close:")
    return params


def _cohort_control(page: str, dataset_id: str, notices: list[str]) -> tuple[tuple[str, str], ...]:
    """The saved cohorts to use (``cohorts`` URL values: ids), as ``(id, name)`` pairs.

    Each one chosen becomes a ``"cohort · <name>"`` property of every event, so the Filters
    below and every page's breakdown offer it. An id that is not a saved cohort of the dataset
    (deleted, damaged, another dataset's) is dropped with a notice.
    """
    try:
        by_id = {c.id: c for c in saved_cohorts(dataset_id)}
    except PathLensError:
        by_id = {}
    key = _wkey(page, COHORT_KEY)

    def parse(raw: list[str]) -> list[str]:
        unknown = [r for r in dict.fromkeys(raw) if r not in by_id]
        if unknown:
            notices.append(
                "Ignored cohort(s) from the link that are not saved with this dataset (deleted, "
                "or saved with another dataset): " + ", ".join(f"`{u[:40]}`" for u in unknown))
        return [r for r in dict.fromkeys(raw) if r in by_id]

    seed_from_url(key, COHORT_KEY, parse, notices)
    held = st.session_state.get(key) or []
    if any(cid not in by_id for cid in held):  # deleted, or another dataset chosen since
        st.session_state[key] = [cid for cid in held if cid in by_id]
        notices.append("A cohort picked in the sidebar is no longer saved with this dataset "
                       "(deleted, or another dataset was chosen); it no longer applies.")
    picked: list[str] = []
    if by_id:
        picked = st.sidebar.multiselect(
            "Cohorts", list(by_id), key=key, placeholder="Use a saved cohort",
            format_func=lambda i: f"{by_id[i].name} ({by_id[i].size:,} users)",
            help="Saved groups of users (save them on Funnels, Paths, Segments, Basket rules, "
                 "Cart or Retention; manage them on the Data page). Each one chosen becomes the "
                 "property `cohort · <name>` (in cohort / not in cohort): filter by it below or "
                 "break any page down by it.")
    publish(COHORT_KEY, list(picked))
    return tuple((cid, by_id[cid].name) for cid in picked)


def _date_controls(page: str, info: DatasetInfo, notices: list[str]) -> tuple[date | None, date | None]:
    lo = info.first.date() if info.first else None
    hi = info.last.date() if info.last else None

    def parse(raw: list[str]) -> date:
        try:
            d = date.fromisoformat(raw[-1])
        except ValueError:
            raise ValueError(f"expected a date like {lo}") from None
        if lo and hi and not lo <= d <= hi:
            raise ValueError(f"expected a date between {lo} and {hi}")
        return d

    for param in (FROM_KEY, TO_KEY):
        key = _wkey(page, param)
        seed_from_url(key, param, parse, notices)
        v = st.session_state.get(key)
        if v is not None and lo and hi and not lo <= v <= hi:  # another dataset's date
            st.session_state[key] = None
    # one row each: side by side, the clear button left room for "2026," of the date
    start = st.sidebar.date_input("From", value=None, min_value=lo, max_value=hi, key=_wkey(page, FROM_KEY),
                          help="First day (UTC) to include; empty = all.")
    end = st.sidebar.date_input("To", value=None, min_value=lo, max_value=hi, key=_wkey(page, TO_KEY),
                        help="Last day (UTC) to include; empty = all.")
    publish(FROM_KEY, [start.isoformat()] if start else [])
    publish(TO_KEY, [end.isoformat()] if end else [])
    if start and end and start > end:
        st.sidebar.error(f"`From` ({start}) is after `To` ({end}); the date range is ignored.")
        return None, None
    return start, end


def _filter_controls(page: str, info: DatasetInfo, notices: list[str]) -> tuple[Condition, ...]:
    # Only properties with a few values are offered (DatasetInfo lists none for the others), and
    # only the first MAX_FILTER_PROPERTIES of them: one option per value of 10,000 properties
    # made a 17,000-option multiselect that the browser and every rerun paid for. A filter on a
    # property left out still works from a link (checked against the dataset's values).
    with_values = [col for col, values in info.properties.items() if values]
    offered = with_values[:MAX_FILTER_PROPERTIES]
    options = [f"{col} = {v}" for col in offered for v in info.properties[col]]

    def exists(opt: str) -> bool:
        col, sep, val = opt.partition(" = ")
        return bool(sep) and val in info.properties.get(col, ())

    def parse(raw: list[str]) -> list[str]:
        unknown = [r for r in raw if not exists(r)]
        if unknown:
            notices.append(
                "Ignored filter(s) from the link that do not exist in this dataset: "
                + ", ".join(f"`{u[:40]}`" for u in unknown)
            )
        return [r for r in raw if exists(r)]

    fkey = _wkey(page, FILTER_KEY)
    seed_from_url(fkey, FILTER_KEY, parse, notices)
    gone = [v for v in st.session_state.get(fkey, []) if not exists(v)]
    if gone:  # another dataset, or a cohort renamed or deleted: say which filters went
        notices.append("Removed filter(s) that no longer exist in this data: "
                       + ", ".join(f"`{g[:60]}`" for g in gone))
        st.session_state[fkey] = [v for v in st.session_state[fkey] if exists(v)]
    options += [v for v in st.session_state.get(fkey, []) if v not in options]
    picked = st.sidebar.multiselect(
        "Filters", options, key=fkey, placeholder="e.g. device = mobile",
        help="Values of the same property are OR-ed; different properties are AND-ed.",
    )
    if len(with_values) > len(offered):
        st.sidebar.caption(
            f"Filters offer the first {len(offered):,} of {len(with_values):,} properties with "
            f"at most 50 values; {len(with_values) - len(offered):,} are left out. Filter on them "
            "under More conditions (`column:eq:value`)."
        )
    publish(FILTER_KEY, list(picked))
    seed_from_url(_wkey(page, WHERE_KEY), WHERE_KEY, lambda raw: raw[-1], notices)
    where = st.sidebar.text_input(
        "More conditions", key=_wkey(page, WHERE_KEY), placeholder="price:gt:100; brand:is_not_null",
        help="column:op:value, separated by ';'. Operators: " + ", ".join(OPERATORS),
    )
    publish(WHERE_KEY, [where] if where else [])
    by_col: dict[str, list[str]] = {}
    for opt in picked:
        col, val = opt.split(" = ", 1)
        by_col.setdefault(col, []).append(val)
    conditions = [
        Condition(col, "eq", vals[0]) if len(vals) == 1 else Condition(col, "in", tuple(vals))
        for col, vals in by_col.items()
    ]
    columns = set(info.properties) | set(info.numeric) | {
        "event", "event_type", "product_id", "order_id", "user_id", "session_id"}
    for part in (where or "").split(";"):
        part = part.strip()
        if not part:
            continue
        try:
            cond = parse_condition(part)
            if cond.column not in columns:
                raise ParameterError(f"column `{cond.column}` is not in this dataset")
            conditions.append(cond)
        except ParameterError as e:
            st.sidebar.error(f"Condition `{part}` ignored: {e}")
    return tuple(conditions)


def _leave_legacy_multipage_mode() -> None:
    """Make a deep link on a freshly started server go through ``app.py``.

    Until some session has called ``st.navigation``, Streamlit treats an app with a ``pages/``
    folder as a v1 multipage app and runs ``pages/<name>.py`` directly for ``/<name>``, without
    the entry point's navigation (pinned Streamlit 1.67; see ``_mpa_v1`` in its script runner).
    The first page to notice switches the process to ``st.navigation`` mode and reruns, so the
    same URL opens through ``app.py``. A browser test opens a deep link on a cold server.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def page_setup(title: str, *, icon: str | None = None) -> PageContext:
    """Render the shared sidebar and return the page's context.

    Parameters
    ----------
    title : str
        Page title shown as the header.
    icon : str, optional
        Emoji or material icon shown before the title.

    Returns
    -------
    PageContext
    """
    _leave_legacy_multipage_mode()
    notices: list[str] = []
    page = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")
    dataset_id = _dataset_control(page, notices)
    segments = _segment_control(notices)
    cohorts = _cohort_control(page, dataset_id, notices)
    whole, info, unusable = _open_dataset(DataView(dataset_id, segments=segments, cohorts=cohorts),
                                          notices)
    _hold(whole.dataset_id)
    request_dataset_warm_up(whole.dataset_id, info.rows)  # after the page (ui/boot.py)
    date_from, date_to = _date_controls(page, info, notices)
    conditions = _filter_controls(page, info, notices)
    try:
        filters = FilterParams(date_from, date_to, conditions)
    except ParameterError as e:
        st.sidebar.error(str(e))
        filters = FilterParams()
    name = dataset_names().get(whole.dataset_id, whole.dataset_id)
    # Material icons only: emoji need fonts that many servers and headless browsers lack.
    st.title(f"{icon} {title}" if icon and icon.startswith(":material/") else title)
    for n in notices:
        st.warning(n, icon=":material/warning:")
    show_where_it_runs(whole, title)
    copy_link()
    return PageContext(view=whole.with_filters(filters), dataset_name=name, info=info,
                       notices=notices, unusable_id=unusable)


def _open_dataset(whole: DataView, notices: list[str]) -> tuple[DataView, DatasetInfo, str | None]:
    """The summary of the view's dataset; the sample's when the dataset cannot be opened.

    Returns the view actually shown (the sample's when the dataset is missing or damaged), its
    summary, and the id of a damaged dataset (``None`` otherwise). Stops the page when not even
    the sample can be opened.
    """
    try:
        return whole, cached_dataset_info(whole), None
    except (DatasetNotFound, DatasetCorrupt) as e:
        if whole.dataset_id == SAMPLE_ID:
            _stop_without_data(e)
        unusable = whole.dataset_id if isinstance(e, DatasetCorrupt) else None
        notices.append(f"{e} Showing the sample instead." if unusable else str(e))
        sample = replace(whole, dataset_id=SAMPLE_ID, cohorts=())  # cohorts are per dataset
        try:
            return sample, cached_dataset_info(sample), unusable
        except PathLensError as e2:
            _stop_without_data(e2)
    except PathLensError as e:  # the sample cannot be materialised (store faults)
        _stop_without_data(e)


def _stop_without_data(error: PathLensError) -> NoReturn:
    """No dataset can be opened at all (not even the sample): say why and stop the page."""
    show_error(error)
    st.stop()


def _hold(dataset_id: str) -> None:
    """Keep the session's dataset from eviction while the session uses it."""
    run = get_script_run_ctx()
    if run is not None:
        get_store().hold(run.session_id, dataset_id)


def show_error(error: Exception) -> None:
    """Show a user-caused error as a message (never a traceback)."""
    if isinstance(error, PathLensError):
        st.error(error.message, icon=":material/error:")
    else:
        st.error(f"Something went wrong: {error}", icon=":material/error:")


def download_csv(frame: pl.DataFrame, filename: str, *, key: str,
                 label: str = "Download CSV") -> None:
    """A download button for a table, with spreadsheet formulas neutralised."""
    # A callable is only run when the button is clicked: no CSV is built on every rerun.
    st.download_button(label, data=lambda: to_safe_csv(frame), file_name=filename,
                       mime="text/csv", key=key, icon=":material/download:", on_click="ignore")


def guarded(fn: Callable[[], object]) -> object | None:
    """Run ``fn``; show a :class:`PathLensError` as a message and return ``None``."""
    try:
        return fn()
    except PathLensError as e:
        show_error(e)
        return None


__all__ = [
    "PageContext",
    "copy_link",
    "download_csv",
    "format_condition",
    "guarded",
    "page_setup",
    "show_error",
]
