"""The Funnels -> Paths hand-off: same tab, and a banner that agrees with the figures under it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

from apptest import metric, run_page
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


def test_hand_off_is_a_page_link_in_the_same_tab():
    # A markdown link opens a new tab (a new session); a page link switches page in this one.
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.switch_page("pages/funnels.py")
    at.query_params["funnel.drop_step"] = "3"
    at.run()
    assert not at.exception
    assert not [m for m in at.markdown if "Open Paths" in m.value]
    links = [e for e in at.main.get("page_link") if "Open Paths" in e.proto.label]
    assert len(links) == 1
    link = links[0].proto
    assert link.page == "paths" and not link.external
    query = parse_qs(link.query_string)
    assert query["paths.dropped_at"] == ["3"]
    assert "paths.funnel" in query


def test_banner_does_not_say_never_when_some_went_on_to_purchase():
    from core.funnels import FunnelParams

    # add_to_cart -> purchase within 10 minutes: many buy later than that.
    funnel = FunnelParams(steps=("view_item", "add_to_cart", "purchase"),
                          window=timedelta(minutes=10))
    at = run_page("paths", **{"paths.funnel": funnel.to_query(), "paths.dropped_at": "3"})
    banner = next(m.value for m in at.markdown if "From the Funnels page" in m.value)
    purchased = float(metric(at, "Went on to purchase").rstrip("%"))
    assert purchased > 0  # the figure: some did buy, after the window
    assert "never" not in banner
    assert "but not *purchase* (step 3) within the funnel's 10 min conversion window" in banner
    assert "Some did it later" in banner
