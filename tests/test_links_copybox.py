"""The copy-link box on every page holds the full link without a code block (issue 14).

A ``st.code`` block makes each new browser session download and parse Streamlit's 1.5 MB
syntax highlighter before the page's figures are drawn; the box is on every page, so it now
holds the link as inline code in Markdown (the browser test copies its text into a fresh
browser and gets the same numbers).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_links import copy_box_link, open_link
from ui.links import copy_box_markdown


def test_copy_box_is_not_a_code_block_and_holds_the_link():
    at = open_link("funnels", url="http://example.test:8501/funnels",
                   **{"funnel.window": "3", "funnel.order": "strict"})
    assert len(at.sidebar.code) == 0  # st.code pulls the syntax highlighter into the browser
    link = urlsplit(copy_box_link(at))
    assert (link.netloc, link.path) == ("example.test:8501", "/funnels")
    assert parse_qs(link.query) == {"funnel.window": ["3"], "funnel.order": ["strict"]}


def test_copy_box_on_a_page_without_figures_too():
    at = open_link("data", url="http://example.test/data")
    assert len(at.sidebar.code) == 0
    assert copy_box_link(at) == "http://example.test/data"


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=40))
def test_markdown_is_one_code_span_with_the_link(tail):
    # A code span shows its content verbatim (Markdown, emphasis, Streamlit's :icons: and
    # $math$ are not interpreted inside it); only a backtick could end it early.
    url = "http://h/p?x=" + tail
    md = copy_box_markdown(url)
    assert md.startswith("`") and md.endswith("`") and md.count("`") == 2
    assert md[1:-1].replace("%60", "`") == url
