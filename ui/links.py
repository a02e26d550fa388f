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
        if k != "dataset" and after.get(k) != v and not (set(v) <= set(after.get(k, [])))
    ]
    if dropped:
        area.warning(
            "Some settings in this link could not be used and were reset: "
            + ", ".join(dropped)
            + ". They are invalid for this dataset (an event that is not in the data, a value "
            "out of range, text where a number belongs) or equal to the default.",
            icon=":material/link_off:",
        )
