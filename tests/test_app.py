"""AppTest: the app entry point routes to every page, each of which runs without exception."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(p.name for p in (ROOT / "pages").glob("*.py"))


def test_every_page_file_is_listed_in_the_navigation():
    import app

    listed = {f for pages in app.PAGE_TABLE.values() for f, *_ in pages}
    assert set(PAGES) <= listed


@pytest.mark.parametrize("page", PAGES)
def test_every_page_launches_through_the_app(page):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    at.switch_page(f"pages/{page}").run()
    assert not at.exception, at.exception
    assert at.title, "every page shows its title"


def test_password_gate_blocks_everything_until_the_password_is_given(monkeypatch):
    monkeypatch.setenv("PATHLENS_PASSWORD", "s3cret")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    assert not at.metric and not at.sidebar.selectbox  # no page content, no dataset picker
    at.text_input(key="auth.password").input("wrong")
    at.button[0].click().run()
    assert any("Wrong password" in e.value for e in at.error)
    assert not at.metric
    at.text_input(key="auth.password").input("s3cret")
    at.button[0].click().run()
    assert not at.exception
    assert at.metric, "the Overview opens once the password is right"


@pytest.mark.parametrize("page", [p.removesuffix(".py") for p in PAGES])
def test_every_page_applies_shared_segments_as_a_filter(page):
    # The Segments page's "use on every page" link: every page must accept the segment
    # property in the sidebar filter (a page that ignored `seg` would fail on the column).
    from apptest import run_page

    at = run_page(page, timeout=300, seg="segments.k=5", filter="segment = Bouncers")
    (box,) = [m for m in at.sidebar.multiselect if m.key.endswith(":filter")]  # not Cohorts
    assert box.value == ["segment = Bouncers"]
    assert not at.exception
    assert not [e.value for e in at.error if "segment" in e.value]
