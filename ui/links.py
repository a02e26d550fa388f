"""Shareable links: the copy box, and link parameters that the page could not use.

Every control is bound to the URL with ``bind="query-params"``. Streamlit drops a bound value it
cannot use (an option that does not exist, text where a number belongs, a value out of range)
without a word; :func:`watch_link_params` compares the URL before and after the page's first run
in a session and tells the user what was ignored, so a stale link never fails silently. Values
that would crash a widget (``inf``, ``nan``, ``1e400`` where a number belongs) are removed before
the page runs and named in the same notice; a link with more parameters than Streamlit reads
keeps its dataset and sidebar settings and says so (:func:`install_query_string_guard`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from datetime import date, datetime, time
from urllib.parse import parse_qsl, urlencode

import streamlit as st
from streamlit.runtime import app_session
from streamlit.runtime.scriptrunner_utils.exceptions import StopException
from streamlit.runtime.state.session_state_proxy import get_session_state

from ui.urls import SHARED_KEYS, TOO_MANY_KEY, shared_params, snapshot

# Bookkeeping only (which pages already had their link checked); not a view setting.
_CHECKED = "_links.checked"

#: Streamlit 1.67 ignores a whole query string with more fields than this
#: (``CLIENT_STATE_QUERY_STRING_MAX_FIELDS``).
MAX_FIELDS = 1000
#: At most this many shared settings are kept from an oversized query string.
_MAX_KEPT_SHARED = 200

# The copy box of the current script run (set by copy_link, filled again after the page ran).
# Each session's script runs in its own thread, so the run's box is thread-local.
_run = threading.local()


def navigation_sidebar(sections: dict) -> None:
    """Sidebar links to every page that keep the shared settings (dataset, dates, filters)."""
    params = shared_params()
    for section, pages in sections.items():
        shown = [p for p in pages if getattr(p, "visibility", "visible") != "hidden"]
        if not shown:
            continue
        st.sidebar.caption(section)
        for page in shown:
            st.sidebar.page_link(page, label=page.title, icon=page.icon,
                                 query_params=params or None)


# --- values that must not reach a widget -------------------------------------------------------

def non_finite_values(params: dict[str, list[str]]) -> dict[str, list[str]]:
    """Link values that parse as a number but are not finite: ``inf``, ``-inf``, ``nan``, ``1e400``.

    Streamlit hands them to number inputs and sliders, which crash converting them to an
    integer. Text is left alone (``abc`` is not a number: the widget drops it, and the watcher
    reports it).

    Parameters
    ----------
    params : dict of str to list of str
        The query parameters, every value of each key.

    Returns
    -------
    dict of str to list of str
        The keys with at least one such value, and those values.
    """
    bad: dict[str, list[str]] = {}
    for key, values in params.items():
        if key in SHARED_KEYS:  # validated by the page shell
            continue
        for v in values:
            try:
                number = float(v)
            except (ValueError, OverflowError):
                continue
            if not math.isfinite(number):
                bad.setdefault(key, []).append(v)
    return bad


def keep_shared_fields(query_string: str) -> str:
    """What to keep of a query string that Streamlit would drop whole (too many fields).

    Keeps the shared sidebar settings (dataset first of all) and adds :data:`TOO_MANY_KEY` with
    the number of fields, so the page can say what happened instead of silently falling back to
    the sample dataset.

    Parameters
    ----------
    query_string : str
        The raw query string, without ``?``.

    Returns
    -------
    str
        A short query string.
    """
    n_fields = query_string.count("&") + 1
    kept: list[tuple[str, str]] = []
    for part in query_string.split("&"):
        if len(kept) >= _MAX_KEPT_SHARED:
            break
        key = part.split("=", 1)[0]
        if key in SHARED_KEYS:
            kept += parse_qsl(part, keep_blank_values=True)
    return urlencode([*kept, (TOO_MANY_KEY, str(n_fields))])


def install_query_string_guard() -> bool:
    """Make Streamlit keep the shared settings of an oversized link, with a marker.

    Streamlit 1.67 replaces a query string with more than 1,000 fields (or 512 Ki characters)
    by an empty one before the script sees it (``AppSession`` calls
    ``sanitize_query_string``): the dataset would silently fall back to the sample. The guard
    wraps that call; the limit itself stays (nothing more is parsed than the shared keys).
    Idempotent. Applies to sessions whose query string arrives after the first script run of
    the process (the entry point installs it); for the session whose link started the process's
    first run, see :func:`reload_if_link_was_cut`.

    Returns
    -------
    bool
        True when this call installed the guard (the first script run of the process).
    """
    original = app_session.sanitize_query_string
    if getattr(original, "_pathlens_guard", False):
        return False

    def guarded(query_string: str) -> str:
        kept = original(query_string)
        if kept or not query_string:
            return kept
        return keep_shared_fields(query_string)

    guarded._pathlens_guard = True  # type: ignore[attr-defined]
    app_session.sanitize_query_string = guarded
    return True


#: Runs in the browser once, on the process's first script run: when the page's own address
#: holds more fields than Streamlit reads, the query string this session started with was
#: emptied before the guard existed; reloading starts a new session, which the guard serves.
#: ``sessionStorage`` makes it a single reload per tab even if something else goes wrong.
_RELOAD_CUT_LINK_JS = """<script>
(function () {
  const top = window.top;
  const fields = top.location.search ? top.location.search.slice(1).split("&").length : 0;
  if (fields > MAX_FIELDS && !top.sessionStorage.getItem("pathlens.reloaded")) {
    top.sessionStorage.setItem("pathlens.reloaded", "1");
    top.location.reload();
  }
})();
</script>""".replace("MAX_FIELDS", str(MAX_FIELDS))


def reload_if_link_was_cut() -> None:
    """On the process's first script run: have the browser reload an oversized link once.

    Streamlit empties an oversized query string as the session's first message arrives, before
    any code of the app has run, so the guard of :func:`install_query_string_guard` cannot serve
    the link that starts a fresh server. The browser still shows the full address; a one-time
    reload (see ``_RELOAD_CUT_LINK_JS``) sends it again to the now guarded server. Renders an
    invisible element; nothing happens for ordinary links.
    """
    st.html(_RELOAD_CUT_LINK_JS, unsafe_allow_javascript=True)


def sanitise_link_params() -> list[str]:
    """Remove unusable link values before the page runs; return the notices to show.

    Returns
    -------
    list of str
        One sentence per problem, naming the parameter and the value.
    """
    notes: list[str] = []
    try:
        params = snapshot()
        too_many = params.pop(TOO_MANY_KEY, None)
        if too_many is not None:
            del st.query_params[TOO_MANY_KEY]
            kept = sorted({k for k in params if k in SHARED_KEYS})
            notes.append(
                f"This link has {too_many[-1][:12]} parameters; the server reads at most "
                f"{MAX_FIELDS:,}. Only the shared settings were kept ("
                + (", ".join(f"`{k}`" for k in kept) or "none were in the link")
                + "); the page's own controls are at their defaults."
            )
        for key, values in non_finite_values(params).items():
            rest = [v for v in params[key] if v not in values]
            if rest:
                st.query_params[key] = rest
            else:
                del st.query_params[key]
            notes.append(
                "Ignored "
                + ", ".join(f"`{key}={v[:20]}`" for v in values)
                + " from the link: a finite number is expected."
            )
        if notes:
            _reseed_from_current_params()
    except Exception:  # noqa: BLE001 - no browser session
        return notes
    return notes


def _reseed_from_current_params() -> None:
    """Make widgets seed from the cleaned URL, not the one the session started with.

    Streamlit 1.67 seeds bound widgets from a copy of the query string taken when the run
    started; a value removed from ``st.query_params`` would still reach the widget.
    """
    with get_session_state().query_params() as qp:
        qp.set_initial_query_params_from_current()


# --- the copy box ------------------------------------------------------------------------------

def view_url() -> str | None:
    """The full link of the current view: page URL plus every current query parameter.

    ``st.context.url`` holds the page's address without its query string; the settings come
    from ``st.query_params`` (the bound controls and the shared sidebar settings). Controls at
    their default value are not in the URL, and opening the link gives them the same default
    (the default of every control is a function of the dataset and the link's other settings).

    Returns
    -------
    str or None
        ``None`` outside a browser session.
    """
    try:
        base = st.context.url
    except Exception:  # noqa: BLE001 - no browser context (tests)
        base = None
    if not base:
        return None
    pairs = [(k, v) for k, values in snapshot().items() for v in values]
    return base + ("?" + urlencode(pairs) if pairs else "")


def copy_box_markdown(url: str) -> str:
    """The copy box's Markdown: the link as inline code (selectable, wrapped, shown verbatim).

    Inline code, not ``st.code``: a code block makes every new browser session download and
    parse Streamlit's 1.5 MB syntax highlighter before the page's figures (issue 14), and the
    box is on every page. A backtick would end the code span; links carry it escaped.
    """
    return "`" + url.replace("`", "%60") + "`"


def _fill_copy_box(box) -> None:
    url = view_url()
    with box.container():
        if url:
            st.markdown(copy_box_markdown(url))
            st.caption("Select the link above to copy it. Anyone who can reach this server "
                       "opens exactly this view.")
        else:
            st.caption("The link appears when the app runs in a browser.")


def copy_link() -> None:
    """A sidebar box with the full link of the current view, as selectable text.

    Filled at once with the settings known so far, and again by :func:`watch_link_params`
    after the page ran (when every control has put its value in the URL).
    """
    with st.sidebar.expander("Copy link to this view", icon=":material/link:"):
        box = st.empty()
    _fill_copy_box(box)
    _run.box = box


# --- the watcher -------------------------------------------------------------------------------

def _as_url_values(value: object) -> list[str]:
    """A widget value as Streamlit writes it in the URL (to recognise an unchanged default)."""
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _as_url_values(item)]
    if isinstance(value, bool):
        return [str(value).lower()]
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return [str(int(value))]
    if isinstance(value, (date, datetime, time)):
        return [value.isoformat()]
    return [] if value is None else [str(value)]


def dropped_params(before: dict[str, list[str]], after: dict[str, list[str]],
                   widget_values: dict[str, object]) -> list[tuple[str, list[str]]]:
    """Link values the page did not use.

    Parameters
    ----------
    before, after : dict of str to list of str
        The query parameters before and after the page's first run.
    widget_values : dict
        Current widget values by key (a value equal to the link's is the control's default,
        which Streamlit leaves out of the URL: it was used).

    Returns
    -------
    list of (key, values)
        Each parameter with the values that were dropped, in link order.
    """
    out = []
    for key, values in before.items():
        if key in SHARED_KEYS or key == TOO_MANY_KEY:
            continue
        kept = after.get(key, [])
        if kept == values:
            continue
        if key not in after and key in widget_values:
            current = _as_url_values(widget_values[key])
            if current in (values, values[-1:]):  # single-value widgets read the last
                continue
        missing = [v for v in values if v not in kept] if kept else values
        if missing:
            out.append((key, missing))
    return out


def _resume_after_page_stop() -> bool:
    """After the page called ``st.stop()``: let the shell finish its notice and copy box.

    Streamlit 1.67 keeps the stop request pending until the script ends, so any further
    element would stop the script again before it is drawn. The request is cleared here; the
    watcher re-raises the stop right after its own output, so the script still ends there.
    """
    try:
        # lazy: private Streamlit internals; on a version without them the late output is
        # skipped rather than failing the page
        from streamlit.runtime.scriptrunner import get_script_run_ctx
        from streamlit.runtime.scriptrunner_utils.script_requests import ScriptRequestType

        requests = get_script_run_ctx().script_requests
        with requests._lock:
            if requests._state == ScriptRequestType.STOP:
                requests._state = ScriptRequestType.CONTINUE
        return True
    except Exception:  # noqa: BLE001 - another Streamlit version: skip the late output
        return False


def _warn(area, notes: Iterable[str]) -> None:
    for note in notes:
        area.warning(note, icon=":material/link_off:")


def watch_link_params(run_page: Callable[[], None], page_key: str) -> None:
    """Run a page; report link parameters it could not use; fill the copy box afterwards.

    Parameters
    ----------
    run_page : callable
        Runs the page script (``st.navigation(...).run``).
    page_key : str
        Identifies the page (its URL path).
    """
    _run.box = None
    checked: set[str] = st.session_state.setdefault(_CHECKED, set())
    first = page_key not in checked
    area = st.container()
    _warn(area, sanitise_link_params())
    before = snapshot() if first else {}
    try:
        run_page()
    except StopException:
        if _resume_after_page_stop():
            _after_page(area, page_key, first, before)
        raise
    _after_page(area, page_key, first, before)


def _after_page(area, page_key: str, first: bool, before: dict[str, list[str]]) -> None:
    box = getattr(_run, "box", None)
    if box is not None:
        _fill_copy_box(box)
    if not first:
        return
    st.session_state[_CHECKED].add(page_key)
    widgets = {k: st.session_state[k] for k in before if k in st.session_state}
    dropped = dropped_params(before, snapshot(), widgets)
    if dropped:
        area.warning(
            "Some settings in this link could not be used and were reset: "
            + ", ".join(f"`{k}={'|'.join(v)[:60]}`" for k, v in dropped)
            + ". They are invalid for this dataset (an event that is not in the data, a value "
            "out of range, text where a number belongs).",
            icon=":material/link_off:",
        )
