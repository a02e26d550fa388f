"""The browser starts loading Plotly while a page computes (issue 14, ui.boot.preload_charts).

Streamlit requests its 4.7 MB Plotly chunk only when the page's first figure arrives, i.e.
after the page's Python has run; every page with figures now asks for it at the start of the
run. The chunk's name must be the one Streamlit's own lazy import uses (same URL: the module is
loaded and evaluated once).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from ui.boot import plotly_chunk_name

ROOT = Path(__file__).resolve().parent.parent
JS = Path(streamlit.__file__).parent / "static" / "static" / "js"


def test_the_chunk_is_the_one_streamlits_main_bundle_imports():
    name = plotly_chunk_name()
    assert name is not None and (JS / name).is_file()
    importers = [p.name for p in JS.glob("index.*.js") if f"./{name}" in p.read_text()]
    assert importers, f"no main bundle imports ./{name}"


def _preloads(page: str) -> list[str]:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return [h.proto.body for h in at.html if "__pathlensChartsPreloaded" in h.proto.body]


@pytest.mark.parametrize("page", ["funnels", "paths"])
def test_pages_with_figures_preload_the_chunk(page):
    (body,) = _preloads(page)
    assert f'"{plotly_chunk_name()}"' in body and "import(" in body


def test_the_data_page_draws_no_figure_and_preloads_nothing():
    assert _preloads("data") == []


# --- background warm-up (ui.boot.warm_up_in_background) -------------------------------------

_WARM = r"""
import sys, os, threading
sys.path.insert(0, {root!r})
os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
from streamlit.testing.v1 import AppTest
import ui.boot as boot
from ui.boot import BACKGROUND_IMPORTS
at = AppTest.from_file({app!r}, default_timeout=300)
at.switch_page("pages/data.py")
before = [m for m in ("torch", "sklearn", "numba") if m in sys.modules]
at.run()
assert not at.exception, at.exception
thread = boot._warm_thread
assert thread is not None and thread.name == "pathlens-warm-up"
thread.join(timeout=600)
loaded = all(m in sys.modules for m in (*BACKGROUND_IMPORTS, "torch", "sklearn", "numba"))
again = boot.warm_up_in_background() is thread
print(before, loaded, again, thread.is_alive())
"""


def test_after_the_first_page_the_other_pages_imports_load_in_the_background():
    # The Data page imports neither torch, scikit-learn nor numba; after it, one daemon thread
    # (one per process) loads them, so a first visit to Cart or Funnels does not wait for them.
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _WARM.format(root=str(ROOT), app=str(ROOT / "app.py"))],
        capture_output=True, text=True, timeout=900, check=True, cwd=ROOT)
    assert out.stdout.split("\n")[-2] == "[] True True False", out.stdout[-2000:]


def test_the_warm_up_starts_after_the_page_not_beside_it():
    # started beside the first page, it shared two busy cores (and the GIL) with that page
    source = (ROOT / "app.py").read_text()
    assert source.index("watch_link_params(page.run") < source.index("warm_up_in_background()")
    # the page's shell only asks for its uploaded dataset to be warmed; nothing starts there
    shell = (ROOT / "ui" / "shell.py").read_text()
    assert "request_dataset_warm_up" in shell
    for starter in ("warm_up_in_background", "warm_up_default_views", "_warm_up_requested",
                    "ui.cart import warm_up", "Thread("):
        assert starter not in shell, starter
