"""End-to-end: the real app in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
PAGES = [p.stem for p in sorted((ROOT / "pages").glob("*.py"))]
URL_PATHS = {"overview": "", "funnels": "funnels", "paths": "paths", "segments": "segments",
             "rules": "rules", "cart": "cart", "data": "data"}
CHARTLESS = {"data"}


def rees46_csv(path: Path) -> Path:
    """A small REES46-style export: 3 users, one buys, one abandons a cart, one only views."""
    rows = [
        "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session",
        "2019-10-01 00:00:01 UTC,view,1001,1,electronics.smartphone,acme,100.00,7,s-a",
        "2019-10-01 00:01:00 UTC,cart,1001,1,electronics.smartphone,acme,100.00,7,s-a",
        "2019-10-01 00:02:00 UTC,purchase,1001,1,electronics.smartphone,acme,100.00,7,s-a",
        "2019-10-01 00:00:05 UTC,view,1002,1,electronics.smartphone,bolt,50.00,8,s-b",
        "2019-10-01 00:03:00 UTC,cart,1002,1,electronics.smartphone,bolt,50.00,8,s-b",
        "2019-10-01 00:00:09 UTC,view,1003,2,,,20.00,9,s-c",
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_deep_link_on_a_cold_server_opens_through_the_app(cold_server, page):
    # The very first request of a fresh server is a deep link with settings: it must get the
    # app's navigation and keep its parameters (Streamlit's v1 multipage mode would not).
    page.goto(f"{cold_server}/data?filter=device+%3D+mobile")
    wait_for_app(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Overview").first.wait_for()
    sidebar.get_by_text("device = mobile").first.wait_for()
    assert "filter=device" in page.url
    assert_no_exception(page)


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_without_exception(server, page, name):
    page.goto(f"{server}/{URL_PATHS.get(name, name)}")
    wait_for_app(page)
    assert_no_exception(page)
    if name not in CHARTLESS:
        page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=120_000)
    screenshot(page, f"page_{name}")


def test_malformed_upload_shows_the_loader_message(server, page, tmp_path):
    bad = tmp_path / "broken.csv"
    bad.write_text("foo,bar\n1,2\n3,4\n")
    page.goto(f"{server}/data")
    wait_for_app(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    wait_for_app(page)
    alert = page.locator('[data-testid="stAlertContentError"]').first
    alert.wait_for()
    text = alert.inner_text()
    assert re.search(r"user|timestamp|time|event", text, re.I), text
    assert_no_exception(page)
    screenshot(page, "data_malformed_upload")


def test_upload_switches_the_dataset(server, page, tmp_path):
    page.goto(f"{server}/data")
    wait_for_app(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        str(rees46_csv(tmp_path / "rees46_small.csv")))
    wait_for_app(page)
    page.get_by_text("rees46", exact=False).first.wait_for()
    page.get_by_role("button", name="Use this dataset").click()
    wait_for_app(page)
    assert re.search(r"dataset=[0-9a-f]{20,32}", page.url), page.url
    assert_no_exception(page)
    page.goto(page.url.replace("/data", "/"))
    wait_for_app(page)
    # 3 users, 3 sessions, 1 order in the small export
    users = page.locator('[data-testid="stMetric"]').filter(has_text="Users")
    assert "3" in users.inner_text()
    screenshot(page, "overview_uploaded")


def _metric_values(page) -> dict[str, str]:
    out = {}
    metrics = page.locator('[data-testid="stMetric"]')
    for i in range(metrics.count()):
        label = metrics.nth(i).locator('[data-testid="stMetricLabel"]').inner_text().strip()
        value = metrics.nth(i).locator('[data-testid="stMetricValue"]').inner_text().strip()
        out[label] = value
    return out


def test_uploaded_dataset_shows_its_funnel(server, page, tmp_path):
    page.goto(f"{server}/data")
    wait_for_app(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        str(rees46_csv(tmp_path / "rees46_funnel.csv")))
    wait_for_app(page)
    page.get_by_role("button", name="Use this dataset").click()
    wait_for_app(page)
    dataset = re.search(r"dataset=([0-9a-f]{20,32})", page.url).group(1)
    page.goto(f"{server}/funnels?dataset={dataset}")
    wait_for_app(page)
    page.get_by_text("Entered (users)").wait_for()
    values = _metric_values(page)
    # REES46 names: view -> cart -> purchase. Users 7, 8, 9 view; 7 and 8 cart; 7 buys.
    assert values["Entered (users)"] == "3"
    assert values["Converted (users)"] == "1"
    assert values["Conversion"] == "33.3%"
    assert_no_exception(page)
    screenshot(page, "funnels_uploaded")


def test_changed_funnel_and_filter_reopen_identically_from_the_link(server, browser, page):
    page.goto(f"{server}/funnels")
    wait_for_app(page)
    page.get_by_text("Entered (users)").wait_for()
    # change the steps: drop begin_checkout (click its chip's remove button)
    steps = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Steps, in order")
    steps.get_by_role("button", name=re.compile("Remove begin_checkout", re.I)).click()
    wait_for_app(page)
    # and a sidebar filter: device = mobile
    sidebar = page.locator('[data-testid="stSidebar"]')
    box = sidebar.locator('[data-testid="stMultiSelect"]').filter(has_text="Filters")
    box.locator("input").click()
    page.keyboard.type("device = mobile")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    wait_for_app(page)
    page.wait_for_function("() => location.search.includes('filter=')")
    page.wait_for_function("() => location.search.includes('funnel.steps=')")
    wait_for_app(page)
    before = _metric_values(page)
    url = page.url
    assert "begin_checkout" not in url
    screenshot(page, "funnels_changed")

    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
    other = fresh.new_page()
    other.set_default_timeout(60_000)
    other.goto(url)
    wait_for_app(other)
    other.get_by_text("Entered (users)").wait_for()
    after = _metric_values(other)
    fresh.close()
    assert after == before
    assert before["Entered (users)"] != "" and "mobile" in url


def test_stale_link_reports_what_was_ignored(server, page):
    page.goto(f"{server}/funnels?funnel.window=-5&funnel.order=sideways&dataset=0123456789abcdef0123")
    wait_for_app(page)
    page.get_by_text("Entered (users)").wait_for()
    alerts = " ".join(page.locator('[data-testid="stAlert"]').all_inner_texts())
    assert "not on this server" in alerts
    assert "funnel.window=-5" in alerts and "funnel.order=sideways" in alerts
    assert_no_exception(page)


def _copy_box_text(page) -> str:
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Copy link to this view").click()
    box = sidebar.locator('[data-testid="stExpander"]').filter(has_text="Copy link to this view")
    code = box.locator('[data-testid="stMarkdown"] code').first  # inline code (ui/links.py)
    code.wait_for()
    return "".join(code.inner_text().split())


def test_copy_box_link_reopens_the_same_numbers_in_a_fresh_browser(server, browser, page):
    page.goto(f"{server}/funnels")
    wait_for_app(page)
    page.get_by_text("Entered (users)").wait_for(timeout=180_000)
    page.locator('[data-testid="stMetric"]').filter(has_text="Excluded").wait_for(timeout=60_000)
    default = _metric_values(page)
    window = page.locator('[data-testid="stNumberInput"]').filter(has_text="Window")
    window.locator("input").fill("3")
    window.locator("input").press("Enter")
    wait_for_app(page)
    page.wait_for_function("() => location.search.includes('funnel.window=3')")
    wait_for_app(page)
    page.locator("button").filter(has_text=re.compile(r"^\s*strict\s*$")).first.click()
    wait_for_app(page)
    page.wait_for_function("() => location.search.includes('funnel.order=strict')")
    wait_for_app(page)
    page.locator('[data-testid="stMetric"]').filter(has_text="Excluded").wait_for(timeout=60_000)
    before = _metric_values(page)
    assert before != default, "a strict funnel converts fewer users"
    link = _copy_box_text(page)
    assert link.startswith(f"{server}/funnels?"), link
    assert "funnel.window=3" in link and "funnel.order=strict" in link, link

    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
    other = fresh.new_page()
    other.set_default_timeout(60_000)
    other.goto(link)  # the box's text, not the address bar
    wait_for_app(other)
    other.get_by_text("Entered (users)").wait_for(timeout=180_000)
    # the four tiles arrive one by one: read them once the last one is drawn
    other.locator('[data-testid="stMetric"]').filter(has_text="Excluded").wait_for(timeout=60_000)
    wait_for_app(other)
    after = _metric_values(other)
    assert_no_exception(other)
    fresh.close()
    assert after == before


def test_overview_has_its_own_url(server, page):
    page.goto(f"{server}/overview")
    wait_for_app(page)
    page.locator('[data-testid="stMetric"]').first.wait_for()
    assert page.get_by_text("Page not found").count() == 0
    assert_no_exception(page)


def test_locked_server_deep_link_and_downloads(locked_cold_server, page):
    # A deep link with settings on a fresh server with a password: nothing of the page before
    # the password, then the linked view; a download's address is random and works only for a
    # short while (unit-tested), and is not the content hash Streamlit would give it.
    import urllib.request

    from streamlit.runtime.memory_media_file_storage import _calculate_file_id

    from tests.e2e.conftest import PASSWORD

    page.goto(f"{locked_cold_server}/funnels?funnel.window=3")
    wait_for_app(page)
    page.get_by_text("Password").first.wait_for()
    assert page.locator('[data-testid="stMetric"]').count() == 0
    assert page.get_by_text("Dataset").count() == 0
    page.locator('input[type="password"]').fill(PASSWORD)
    page.get_by_role("button", name="Enter").click()
    wait_for_app(page)
    page.get_by_text("Entered (users)").wait_for(timeout=180_000)
    assert "funnel.window=3" in page.url
    window = page.locator('[data-testid="stNumberInput"]').filter(has_text="Window")
    assert window.locator("input").input_value() == "3"

    with page.expect_download() as info:
        page.locator('[data-testid="stDownloadButton"]').first.click()
    download = info.value
    name = download.url.rsplit("/", 1)[-1].split(".")[0]
    assert re.fullmatch(r"[0-9a-f]{32}", name), download.url
    content = Path(download.path()).read_bytes()
    assert name != _calculate_file_id(content, "text/csv", download.suggested_filename)
    with urllib.request.urlopen(download.url, timeout=10) as r:  # no session: the name is the key
        assert r.read() == content
    assert_no_exception(page)


def test_link_with_too_many_parameters_keeps_the_shared_settings_and_says_so(server, page):
    page.goto(f"{server}/data")  # the server has run the app once (installs the guard)
    wait_for_app(page)
    junk = "&".join(f"x{i}=1" for i in range(1200))
    page.goto(f"{server}/funnels?filter=device+%3D+mobile&{junk}")
    wait_for_app(page)
    page.get_by_text("Entered (users)").wait_for(timeout=180_000)
    alerts = " ".join(page.locator('[data-testid="stAlert"]').all_inner_texts())
    assert "1201 parameters" in alerts and "1,000" in alerts, alerts
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("device = mobile").first.wait_for()
    assert "filter=device" in page.url and "x1=" not in page.url
    assert_no_exception(page)


def test_too_many_parameters_on_the_first_request_of_a_fresh_server(cold_server, page):
    # Streamlit empties the first session's oversized query string before any app code runs;
    # the app has the browser send it once more, and the guard then keeps the shared settings.
    junk = "&".join(f"x{i}=1" for i in range(1200))
    page.goto(f"{cold_server}/funnels?filter=device+%3D+mobile&{junk}")
    page.wait_for_url("**filter=device*", timeout=120_000)
    page.get_by_text("1201 parameters").first.wait_for(timeout=180_000)
    wait_for_app(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("device = mobile").first.wait_for()
    assert "filter=device" in page.url and "x1=" not in page.url
    assert_no_exception(page)
