"""PathLens: purchase-path analytics for e-commerce event logs.

``streamlit run app.py`` opens the dashboard on the bundled sample shop.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.auth import protect_downloads, require_password
from ui.boot import import_shared_libraries, preload_charts, warm_up_in_background

HERE = Path(__file__).parent
PAGES = HERE / "pages"

#: (file, title, icon, url path); a page is listed only when its file exists and works.
PAGE_TABLE: dict[str, list[tuple[str, str, str, str]]] = {
    "Explore": [
        ("overview.py", "Overview", ":material/dashboard:", "overview"),
        ("funnels.py", "Funnels", ":material/filter_alt:", "funnels"),
        ("paths.py", "Paths", ":material/account_tree:", "paths"),
        ("retention.py", "Retention", ":material/event_repeat:", "retention"),
    ],
    "Model": [
        ("segments.py", "Segments", ":material/groups:", "segments"),
        ("rules.py", "Basket rules", ":material/shopping_basket:", "rules"),
        ("cart.py", "Cart abandonment", ":material/remove_shopping_cart:", "cart"),
    ],
    "Data": [
        ("data.py", "Data", ":material/upload_file:", "data"),
    ],
}


#: Pages that draw no Plotly figure (their visitors need not load it).
PAGES_WITHOUT_CHARTS = frozenset({"data"})

#: The Overview is the default page, served at the app's root; Streamlit gives the default page
#: no path of its own, so a hidden second entry serves the same script at ``/overview``.
OVERVIEW_ALIAS = "overview"


def _sections() -> dict[str, list]:
    sections = {}
    for section, pages in PAGE_TABLE.items():
        entries = [
            # the default page's own url_path must differ from the alias (page ids are hashes
            # of url_path); its public path is the root either way
            st.Page(PAGES / file, title=title, icon=icon,
                    url_path="home" if url == OVERVIEW_ALIAS else url,
                    default=(url == OVERVIEW_ALIAS))
            for file, title, icon, url in pages
            if (PAGES / file).is_file()
        ]
        entries += [
            st.Page(PAGES / file, title=title, icon=icon, url_path=url, visibility="hidden")
            for file, title, icon, url in pages
            if url == OVERVIEW_ALIAS and (PAGES / file).is_file()
        ]
        if entries:
            sections[section] = entries
    return sections


def run() -> None:
    st.set_page_config(page_title="PathLens", page_icon=":material/route:", layout="wide")
    import_shared_libraries()  # before any page: see ui/boot.py (concurrent first loads)
    # lazy: ui.links imports core (numpy, Plotly, Polars), which must not start importing the
    # shared libraries before import_shared_libraries has imported them whole (ui/boot.py)
    from ui.links import (
        install_query_string_guard,
        navigation_sidebar,
        reload_if_link_was_cut,
        watch_link_params,
    )

    protect_downloads()
    if install_query_string_guard():
        reload_if_link_was_cut()
    require_password()
    sections = _sections()
    page = st.navigation(sections, position="hidden")
    if page.url_path not in PAGES_WITHOUT_CHARTS:
        preload_charts()  # the browser loads Plotly while the page computes (issue 14)
    navigation_sidebar(sections)
    try:
        watch_link_params(page.run, page.url_path)
    finally:  # after the page, not beside it: see ui/boot.py
        warm_up_in_background()


if __name__ == "__main__":
    run()
