"""Shareable links: report link parameters that the page could not use.

Every control is bound to the URL with ``bind="query-params"``. Streamlit drops a bound value it
cannot use (an option that does not exist, text where a number belongs, a value out of range)
without a word; :func:`watch_link_params` compares the URL before and after the page's first run
in a session and tells the user what was ignored, so a stale link never fails silently.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

# Bookkeeping only (which pages already had their link checked); not a view setting.
_CHECKED = "_links.checked"

#: Sidebar settings every page shares; they travel with page switches (Streamlit clears the
#: query string on a page switch, so the navigation links carry them explicitly). The shell
#: reports its own problems with these, so the watcher skips them.
SHARED_KEYS = ("dataset", "from", "to", "filter", "where", "seg")


def shared_params() -> list[tuple[str, str]]:
    """The shared sidebar settings of the current URL, as (key, value) pairs."""
    out: list[tuple[str, str]] = []
    for k in SHARED_KEYS:
        try:
            out += [(k, v) for v in st.query_params.get_all(k)]
        except Exception:  # noqa: BLE001 - no browser session
            return []
    return out


def navigation_sidebar(sections: dict) -> None:
    """Sidebar links to every page that keep the shared settings (dataset, dates, filters)."""
    params = shared_params()
    for section, pages in sections.items():
        st.sidebar.caption(section)
        for page in pages:
            st.sidebar.page_link(page, label=page.title, icon=page.icon,
                                 query_params=params or None)


def _snapshot() -> dict[str, list[str]]:
    try:
        return {k: list(st.query_params.get_all(k)) for k in st.query_params}
    except Exception:  # noqa: BLE001 - no browser session (AppTest without params)
        return {}


def watch_link_params(run_page: Callable[[], None], page_key: str) -> None:
    """Run a page; on its first run in this session, warn about link parameters it dropped.

    Parameters
    ----------
    run_page : callable
        Runs the page script (``st.navigation(...).run``).
    page_key : str
        Identifies the page (its URL path).
    """
    checked: set[str] = st.session_state.setdefault(_CHECKED, set())
    first = page_key not in checked
    before = _snapshot() if first else {}
    area = st.container()
    run_page()
    if not first:
        return
    checked.add(page_key)
    after = _snapshot()
    dropped = [
        f"`{k}={'|'.join(v)[:60]}`" for k, v in before.items()
        if k not in SHARED_KEYS and after.get(k) != v and not (set(v) <= set(after.get(k, [])))
    ]
    if dropped:
        area.warning(
            "Some settings in this link could not be used and were reset: "
            + ", ".join(dropped)
            + ". They are invalid for this dataset (an event that is not in the data, a value "
            "out of range, text where a number belongs) or equal to the default.",
            icon=":material/link_off:",
        )
