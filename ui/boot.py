"""Work done once per server process before any page runs.

Plotly and Streamlit look some libraries up in ``sys.modules`` without importing them
(plotly's ``get_module("pandas", should_load=False)``, Streamlit's type checks). While one
session's thread is still importing pandas, the module is already in ``sys.modules``, half
initialised: a second session drawing its first figure at that moment fails with
"partially initialized module 'pandas' has no attribute 'Series'". On a freshly started server
hit by 20 sessions at once, 17 of the first Overview loads failed that way
(``bench/bench_server_load.py``). Every session therefore passes through
:func:`import_shared_libraries` before its page runs: the first imports the shared libraries
completely, the others wait for it (once per process).
"""

from __future__ import annotations

import atexit
import importlib
import logging
import threading
from pathlib import Path

import streamlit
import streamlit as st
from streamlit import runtime

from ui.jobs import Job, start_job

#: Libraries that pages use through Plotly and Streamlit (numpy, Arrow, pandas, Plotly), in
#: dependency order.
SHARED_LIBRARIES = ("numpy", "pyarrow", "pandas", "polars", "plotly.graph_objects", "plotly.io")

_lock = threading.Lock()
_done = False


def import_shared_libraries() -> None:
    """Import :data:`SHARED_LIBRARIES` completely, once per process; concurrent callers wait."""
    global _done
    if _done:
        return
    with _lock:
        if not _done:
            for name in SHARED_LIBRARIES:
                importlib.import_module(name)
            _done = True


#: Runs in the browser on every script run, acts once per tab: starts loading Streamlit's
#: Plotly chunk (4.7 MB of JavaScript, otherwise requested only when the page's first figure
#: arrives, after the page's Python has run) while the server is still computing the page.
#: The chunk's URL is resolved from the main bundle's, exactly as Streamlit's own lazy import
#: does, so the browser loads and evaluates the module once. The element hides its own
#: container (no gap above the page's title).
_PRELOAD_JS = """<style>
div[data-testid="stElementContainer"]:has(#pathlens-preload) { display: none; }
</style><span id="pathlens-preload"></span><script>
(function () {
  if (window.__pathlensChartsPreloaded) return;
  window.__pathlensChartsPreloaded = true;
  const main = document.querySelector('script[src*="static/js/index."]');
  if (main) import(new URL("CHUNK", main.src).href).catch(function () {});
})();
</script>"""


def plotly_chunk_name() -> str | None:
    """File name of Streamlit's lazily loaded Plotly chunk, or None if it cannot be told."""
    js = Path(streamlit.__file__).parent / "static" / "static" / "js"
    chunks = sorted(p.name for p in js.glob("PlotlyChart.*.js"))
    return chunks[0] if len(chunks) == 1 else None


def preload_charts() -> None:
    """Let the browser fetch and evaluate the Plotly chunk at the start of the page's run
    instead of after it (issue 14: on a new browser session that chunk is most of the wait).
    Renders an invisible element; nothing when the chunk cannot be found."""
    name = plotly_chunk_name()
    if name is not None:
        st.html(_PRELOAD_JS.replace("CHUNK", name), unsafe_allow_javascript=True)


#: Imported in the background once the process's first page has been drawn: the modules that
#: pages import on their first visit and that cost seconds on a busy machine (the cart model's
#: torch and scikit-learn, the statistics of funnels and segments). A module another thread is
#: still importing makes a page's own import wait for it (Python's per-module import lock); no
#: code peeks at these in ``sys.modules`` (that is why :data:`SHARED_LIBRARIES` come first).
BACKGROUND_IMPORTS = ("scipy.stats", "ui.funnels", "ui.paths", "ui.segments", "ui.rules",
                      "ui.cart")

_warm_lock = threading.Lock()
_warm_thread: threading.Thread | None = None
#: Set at interpreter exit: the warm-up stops at its next step.
_warm_stop = threading.Event()


def _finish_warm_up() -> None:
    """At exit, let the warm-up reach the end of its step: a daemon thread killed while it
    imports torch or compiles with numba aborts the process ("terminate called without an
    active exception"), which turned finished test runs and server stops into crashes."""
    _warm_stop.set()
    logging.raiseExceptions = False  # its log lines may meet streams already closed at exit
    if _warm_thread is not None:
        _warm_thread.join(timeout=120)
    for job in list(_dataset_jobs):
        job.wait(timeout=120)


def _warm_up() -> None:
    # lazy: core and ui import the shared libraries, which import_shared_libraries owns
    from core.funnels import warm_up as compile_funnel_kernels

    compile_funnel_kernels()  # numba: loaded from its disk cache, compiled on a fresh install
    for name in BACKGROUND_IMPORTS:
        if _warm_stop.is_set():
            return
        importlib.import_module(name)
    if runtime.exists() and not _warm_stop.is_set():  # a server: fill the sample's slowest caches
        from core.store import SAMPLE_ID  # lazy: as above
        from ui.view import DataView  # lazy: as above

        warm_up_default_views(DataView(SAMPLE_ID))


def warm_up_default_views(view) -> None:
    """Fill the caches of the slowest pages' default views of ``view``: Cart (held-out
    figures with both baselines, scores, the first cart's reasons; :func:`ui.cart.warm_up`)
    and Segments (user features, k-means with the automatic k). A dataset a page cannot use
    is left to the page, which says why."""
    # lazy: as in _warm_up
    from core.errors import PathLensError
    from core.segments import SegmentParams
    from ui.cart import warm_up as warm_up_cart
    from ui.segments import cached_segmentation

    warm_up_cart(view)
    try:
        cached_segmentation(view, SegmentParams())  # the Segments page's defaults
    except PathLensError:
        return


#: An uploaded dataset of at most this many events has its default Cart and Segments views
#: warmed in the background after the first page that shows it (a larger one is left to its
#: pages: on a shared server the warm-up would hold the cores for minutes). The sample (900k
#: events) takes about 10 s of CPU.
WARM_UP_MAX_EVENTS = 2_000_000

_datasets_lock = threading.Lock()
#: Held while an uploaded dataset is warmed: one at a time on the shared cores.
_dataset_warm_lock = threading.Lock()
#: Datasets whose default views this process has warmed or is warming (once each).
_datasets_warmed: set[str] = set()
#: Their jobs (waited for at exit, as the process's warm-up is).
_dataset_jobs: list[Job] = []
#: The dataset the current script run's page shows, per script thread (set by the page's
#: shell, read after the page by :func:`warm_up_in_background`).
_requested = threading.local()


def request_dataset_warm_up(dataset_id: str, events: int) -> None:
    """Ask for the default Cart and Segments views of the dataset a page shows to be warmed
    in the background once the page is drawn (:func:`warm_up_in_background`), so that the first
    visit to those pages after an upload finds them (issue 14). Nothing for the sample (the
    process's own warm-up fills it) or for a dataset above :data:`WARM_UP_MAX_EVENTS`."""
    from core.store import SAMPLE_ID  # lazy: see _warm_up

    if dataset_id != SAMPLE_ID and events <= WARM_UP_MAX_EVENTS:
        _requested.dataset_id = dataset_id


def _is_server() -> bool:
    return runtime.exists()


def _warm_up_requested_dataset() -> Job | None:
    """Start the warm-up :func:`request_dataset_warm_up` asked for in this script run, as a
    background job (:func:`ui.jobs.start_job`), once per dataset and process."""
    dataset_id = getattr(_requested, "dataset_id", None)
    _requested.dataset_id = None
    if dataset_id is None or not _is_server():
        return None
    with _datasets_lock:
        if dataset_id in _datasets_warmed:
            return None
        _datasets_warmed.add(dataset_id)

    def work(progress) -> None:
        from ui.engine import lake_dataset  # lazy: see _warm_up
        from ui.view import DataView  # lazy: see _warm_up

        view = DataView(dataset_id)
        if lake_dataset(view) is not None:  # a lake table: left to its pages (Spark jobs)
            return
        if _warm_thread is not None:
            _warm_thread.join()  # one warm-up at a time on the shared cores
        with _dataset_warm_lock:
            if not _warm_stop.is_set():
                warm_up_default_views(view)

    job = start_job(("warm-up", dataset_id), work, name="warm-up-dataset")
    with _datasets_lock:
        _dataset_jobs.append(job)
    return job


def warm_up_in_background() -> threading.Thread:
    """Once per process, after its first page: load the funnel kernels and
    :data:`BACKGROUND_IMPORTS` in a daemon thread and, in a server, fill the caches of the
    sample's default Cart and Segments views (:func:`warm_up_default_views`), so that the
    first visit to another page does not pay for them. Started after a page rather than before
    it, so the first page a visitor opens does not share the machine with it (issue 14). Then,
    once per dataset, the same for the uploaded dataset the page showed
    (:func:`request_dataset_warm_up`), after the process's own warm-up. Returns the
    process's warm-up thread."""
    global _warm_thread
    with _warm_lock:
        if _warm_thread is None:
            _warm_thread = threading.Thread(target=_warm_up, name="pathlens-warm-up",
                                            daemon=True)
            atexit.register(_finish_warm_up)
            _warm_thread.start()
    _warm_up_requested_dataset()
    return _warm_thread
