"""PathLens: purchase-path analytics for e-commerce event logs.

``streamlit run app.py`` opens the dashboard on the bundled sample shop.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent
PAGES = HERE / "pages"

#: (file, title, icon, url path); a page is listed only when its file exists and works.
PAGE_TABLE: dict[str, list[tuple[str, str, str, str]]] = {
    "Explore": [
        ("overview.py", "Overview", ":material/dashboard:", "overview"),
        ("funnels.py", "Funnels", ":material/filter_alt:", "funnels"),
        ("paths.py", "Paths", ":material/account_tree:", "paths"),
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


def run() -> None:
    st.set_page_config(page_title="PathLens", page_icon=":material/route:", layout="wide")
    sections = {}
    for section, pages in PAGE_TABLE.items():
        entries = [
            st.Page(PAGES / file, title=title, icon=icon, url_path=url,
                    default=(file == "overview.py"))
            for file, title, icon, url in pages
            if (PAGES / file).is_file()
        ]
        if entries:
            sections[section] = entries
    from ui.auth import require_password
    from ui.links import navigation_sidebar, watch_link_params

    require_password()
    page = st.navigation(sections, position="hidden")
    navigation_sidebar(sections)
    watch_link_params(page.run, page.url_path)


if __name__ == "__main__":
    run()
