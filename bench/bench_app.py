"""App benchmark (issue 14, "App"): how long a person waits for each page's main figure.

For every page (overview, funnels, paths, segments, rules, cart, data), in headless Chromium
(``/usr/bin/chromium`` through Playwright), on the bundled sample (900k events):

(b) **first visit after server start**: a freshly started server per page (so every page pays
    its own cold imports and cold caches), one new browser context opens the page's link;
(b2) **first visit after another page**: a second fresh server serves the Data page, is
    left to go idle (its background warm-up, ``ui/boot.py``), then the page's link is opened
    in a new context: the first visit of a person who did not land on this page;
(a) **new browser session on a warm server**: after (b), once the server has gone idle (under
    0.05 s of CPU in a second: its background warm-up is over), ``--repeat`` new browser
    contexts open the same link one after the other (median and max);
(c) **control change**: in the last of those contexts, one control is changed ``--repeat``
    times (alternating between two values, so that after the first two rounds both are cached
    unless the page keys a cache on the session) and the time until the rerun has finished and
    the main figure is shown is measured (median and max).

"Drawn" means: the page's main element is visible (a ``.js-plotly-plot`` inside the chart's
``st-key-…`` container, or the file uploader on the Data page) and Streamlit's script state is
no longer ``running``. Times run from ``page.goto`` (or from the keystroke/click of the
control change) until then. For the last new session of (a) the table also gives when the
large JavaScript chunks (Plotly, the code highlighter, the data grid) had loaded.

The store (``PATHLENS_DATA_DIR``, a fresh temp dir) is primed with the sample before the
servers start, as a deployed server's store already holds it: materialising the sample from
its CSV happens once per store and is timed separately ("prime"). Servers bind 127.0.0.1 and
are always stopped (``try/finally``). The load average of the machine is recorded before and
after (the 2 cores are shared).

Run::

    python bench/bench_app.py                    # all pages, writes bench/results_app.md
    python bench/bench_app.py --pages funnels --repeat 3 --label after --no-write
    python bench/bench_app.py --floor            # also a bare Streamlit app, with and
                                                 # without one Plotly chart (the floor)
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results_app.md"
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
HOST = "127.0.0.1"
TIMEOUT_MS = 180_000


@dataclass(frozen=True)
class PageSpec:
    name: str
    path: str  # URL path ("" is the overview at the root)
    main: str  # selector of the main figure
    control: str  # what is changed in (c)
    change: tuple[str, str, str] | None  # (kind, selector, value) x2 alternated; see _change
    values: tuple[str, str] = ("", "")


def _chart(key: str) -> str:
    return f".st-key-{key.replace('.', '-')} .js-plotly-plot"


PAGES = (
    PageSpec("overview", "", _chart("overview.trend_chart"), "Per: week / day",
             ("click", ".st-key-overview-grain button", ""), ("week", "day")),
    PageSpec("funnels", "funnels", _chart("funnel.chart"), "Window: 2 / 1 (days)",
             ("fill", ".st-key-funnel-window input", ""), ("2", "1")),
    PageSpec("paths", "paths", _chart("paths.chart"), "Min link size: 2 / 1",
             ("fill", ".st-key-paths-min_edge input", ""), ("2", "1")),
    PageSpec("segments", "segments", _chart("segments.sizes_chart"), "k: 3 / 4",
             ("select", ".st-key-segments-k", ""), ("3", "4")),
    PageSpec("rules", "rules", _chart("rules.network"), "Min support: 0.0200 / 0.0100",
             ("fill", ".st-key-rules-support input", ""), ("0.0200", "0.0100")),
    PageSpec("cart", "cart", _chart("cart.confusion"), "Recovery window: 14 / 7 days",
             ("fill", ".st-key-cart-window input", ""), ("14", "7")),
    PageSpec("data", "data", '[data-testid="stFileUploader"]', "(none: no control without "
             "an upload)", None),
)


@dataclass
class PageResult:
    name: str
    cold: float | None = None
    #: first visit on a server that has served another page (the Data page) and gone idle
    after_other: float | None = None
    #: seconds the server needed to go idle after (b) (its background warm-up)
    idle_after_cold: float | None = None
    warm: list[float] = field(default_factory=list)
    change: list[float] = field(default_factory=list)
    error: str = ""
    #: seconds from ``page.goto`` until each watched JavaScript chunk had loaded, in the last
    #: new session (absent: not loaded at all)
    chunks: dict[str, float] = field(default_factory=dict)


# -- server -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, store: Path, app: Path = ROOT / "app.py"):
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        env = dict(os.environ, PATHLENS_DATA_DIR=str(store),
                   STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
        env.pop("PATHLENS_PASSWORD", None)
        self.log_path = store / f"server-{self.port}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(app),
             "--server.headless", "true", "--server.address", HOST,
             "--server.port", str(self.port), "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("streamlit did not become healthy")

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, timeout: float = 300) -> float:
        """Wait until the server has used under 0.05 s of CPU in a second (its background
        warm-up is over); returns the seconds waited."""
        t0 = time.monotonic()
        last = self.cpu_seconds()
        while time.monotonic() - t0 < timeout:
            time.sleep(1.0)
            now = self.cpu_seconds()
            if now - last < 0.05:
                break
            last = now
        return time.monotonic() - t0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


# -- browser ----------------------------------------------------------------------------------
#: counts finished script runs (data-test-script-state leaving "running"), so a control change
#: waits for the rerun it caused, not for the state before it started
_RUN_COUNTER = """() => {
  if (window.__plRuns !== undefined) return;
  window.__plRuns = 0; window.__plRunning = false;
  const hook = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app) { setTimeout(hook, 20); return; }
    new MutationObserver(() => {
      const running = app.getAttribute('data-test-script-state') === 'running';
      if (window.__plRunning && !running) window.__plRuns += 1;
      window.__plRunning = running;
    }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  };
  hook();
}"""

_DONE = """([sel, runs]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') === 'running') return false;
  if (document.querySelector('[data-testid="stStatusWidgetRunningIcon"]')) return false;
  if (runs !== null && !(window.__plRuns > runs)) return false;
  const el = document.querySelector(sel);
  return !!el && el.getClientRects().length > 0;
}"""


def _errors(page) -> str:
    exc = page.locator('[data-testid="stException"]')
    return exc.first.inner_text()[:200] if exc.count() else ""


#: Streamlit's lazily loaded JavaScript chunks worth watching (issue 14): Plotly (4.7 MB), the
#: code highlighter (1.5 MB, loaded by any ``st.code``), the data grid.
WATCHED_CHUNKS = ("PlotlyChart", "StreamlitSyntaxHighlighter", "DataFrame")


def open_page(browser, url: str, spec: PageSpec, chunks: dict[str, float] | None = None):
    """New context, goto, wait until drawn; returns (seconds, context, page).

    ``chunks`` receives the seconds after ``goto`` at which each of :data:`WATCHED_CHUNKS`
    had loaded."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    if chunks is not None:
        def loaded(request) -> None:
            name = request.url.rsplit("/", 1)[-1].split(".", 1)[0]
            if name in WATCHED_CHUNKS and name not in chunks:
                chunks[name] = time.perf_counter() - t0
        page.on("requestfinished", loaded)
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(_DONE, arg=[spec.main, None], timeout=TIMEOUT_MS, polling=50)
    dt = time.perf_counter() - t0
    if err := _errors(page):
        raise RuntimeError(f"{spec.name}: exception shown: {err}")
    return dt, ctx, page


def _change(page, spec: PageSpec, value: str) -> float:
    kind, sel, _ = spec.change
    page.evaluate(_RUN_COUNTER)
    page.wait_for_timeout(300)  # let the observer attach and the page settle
    runs = page.evaluate("() => window.__plRuns")
    if kind == "fill":
        box = page.locator(sel).first
        box.fill(value)
        t0 = time.perf_counter()
        box.press("Enter")
    elif kind == "click":
        button = page.locator(sel).filter(has_text=value).first
        t0 = time.perf_counter()
        button.click()
    else:  # select: open the selectbox, pick the option
        page.locator(sel).first.click()
        option = page.locator('[role="option"]').filter(has_text=value).first
        t0 = time.perf_counter()
        option.click()
    page.wait_for_function(_DONE, arg=[spec.main, runs], timeout=TIMEOUT_MS, polling=50)
    dt = time.perf_counter() - t0
    if err := _errors(page):
        raise RuntimeError(f"{spec.name}: exception after change: {err}")
    return dt


def prime_store(store: Path) -> float:
    from core.store import DatasetStore

    t0 = time.perf_counter()
    DatasetStore(store)._ensure_sample()
    return time.perf_counter() - t0


def bench_page(browser, store: Path, spec: PageSpec, repeat: int) -> PageResult:
    res = PageResult(spec.name)
    server = Server(store)
    try:
        server.wait_healthy()
        url = f"{server.url}/{spec.path}"
        dt, ctx, _ = open_page(browser, url, spec)
        res.cold = dt
        ctx.close()
        res.idle_after_cold = server.wait_idle()  # "warm": its background warm-up is over
        page = None
        for i in range(repeat):
            res.chunks = {}
            dt, ctx, page = open_page(browser, url, spec, res.chunks)
            res.warm.append(dt)
            if i < repeat - 1:
                ctx.close()
        if spec.change is not None and page is not None:
            for i in range(max(repeat, 2) + 1):
                res.change.append(_change(page, spec, spec.values[i % 2]))
            res.change = res.change[1:]  # the first change of a value may be a cache miss
        ctx.close()
    except Exception as e:  # recorded in the table, the bench goes on
        res.error = f"{type(e).__name__}: {str(e)[:300]}"
    finally:
        server.stop()
    if spec.name != "data" and not res.error:
        res.after_other = first_visit_after_other_page(browser, store, spec)
    return res


def first_visit_after_other_page(browser, store: Path, spec: PageSpec) -> float | None:
    """(b2): a fresh server serves the Data page, goes idle, then the page is opened."""
    data = next(p for p in PAGES if p.name == "data")
    server = Server(store)
    try:
        server.wait_healthy()
        _, ctx, _ = open_page(browser, f"{server.url}/{data.path}", data)
        ctx.close()
        server.wait_idle()
        dt, ctx, _ = open_page(browser, f"{server.url}/{spec.path}", spec)
        ctx.close()
        return dt
    except Exception as e:  # noqa: BLE001 - recorded as missing, the bench goes on
        print(f"{spec.name}: (b2) failed: {type(e).__name__}: {str(e)[:200]}", flush=True)
        return None
    finally:
        server.stop()


# -- the floor: what Streamlit itself takes in this browser on this machine ---------------------
#: Two one-file apps with nothing of PathLens: a title and a line of text; the same with one
#: three-bar Plotly chart (what any page with a figure needs at least).
FLOOR_APPS = {
    "streamlit alone (title + text)": ('import streamlit as st\nst.title("floor")\n'
                                       'st.write("hello")\n', "h1"),
    "streamlit + one 3-bar Plotly chart": (
        'import plotly.graph_objects as go\nimport streamlit as st\nst.title("floor")\n'
        'with st.container(key="floor"):\n'
        '    st.plotly_chart(go.Figure(go.Bar(x=["a", "b", "c"], y=[1, 3, 2])))\n',
        ".st-key-floor .js-plotly-plot"),
}


def bench_floor(browser, store: Path, repeat: int) -> list[tuple[str, list[float]]]:
    """(a) for each of :data:`FLOOR_APPS`: new browser contexts on a warm, idle server."""
    out = []
    for name, (source, main) in FLOOR_APPS.items():
        app = store / f"floor_{len(out)}.py"
        app.write_text(source)
        server = Server(store, app)
        try:
            server.wait_healthy()
            spec = PageSpec(name, "", main, "", None)
            _, ctx, _ = open_page(browser, server.url + "/", spec)  # the server's first run
            ctx.close()
            server.wait_idle()
            times = []
            for _ in range(repeat):
                dt, ctx, _ = open_page(browser, server.url + "/", spec)
                ctx.close()
                times.append(dt)
            out.append((name, times))
        finally:
            server.stop()
    return out


# -- report -----------------------------------------------------------------------------------
def _med(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f}" if xs else "–"


def _max(xs: list[float]) -> str:
    return f"{max(xs):.2f}" if xs else "–"


def table(results: list[PageResult]) -> str:
    specs = {p.name: p for p in PAGES}
    lines = ["| page | (b) first visit after start, s | (b2) first visit after another "
             "page, s | (a) new session, warm server, "
             "median / max s | (c) control change, median / max s | control | JS chunks "
             "loaded in the last new session, s after goto | error |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        cold = f"{r.cold:.2f}" if r.cold is not None else "–"
        other = f"{r.after_other:.2f}" if r.after_other is not None else "–"
        chunks = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r.chunks.items(),
                                                              key=lambda kv: kv[1])) or "none"
        lines.append(f"| {r.name} | {cold} | {other} | {_med(r.warm)} / {_max(r.warm)} | "
                     f"{_med(r.change)} / {_max(r.change)} | {specs[r.name].control} | "
                     f"{chunks} | {r.error} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", nargs="*", default=[p.name for p in PAGES])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--label", default="run")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--floor", action="store_true",
                    help="also time (a) for a bare Streamlit app, with and without one "
                         "Plotly chart: the floor under every page")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    specs = [p for p in PAGES if p.name in args.pages]
    load0 = os.getloadavg()
    store = Path(tempfile.mkdtemp(prefix="pathlens-bench-app-"))
    prime = prime_store(store)
    print(f"store primed with the sample in {prime:.1f} s; load average {load0}", flush=True)
    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu",
                                          "--disable-dev-shm-usage"])
        try:
            floor = bench_floor(browser, store, args.repeat) if args.floor else []
            for name, times in floor:
                print(f"floor: {name}: {times}", flush=True)
            for spec in specs:
                r = bench_page(browser, store, spec, args.repeat)
                print(f"{spec.name}: cold {r.cold} (idle after {r.idle_after_cold}) after "
                      f"another page {r.after_other} warm {r.warm} change {r.change} "
                      f"chunks {r.chunks} {r.error}", flush=True)
                results.append(r)
        finally:
            browser.close()
    load1 = os.getloadavg()
    body = (f"### {args.label} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n\n"
            f"{table(results)}\n\nRepeat {args.repeat}; store primed in {prime:.1f} s; "
            f"load average before {load0[0]:.1f} / {load0[1]:.1f} / {load0[2]:.1f}, after "
            f"{load1[0]:.1f} / {load1[1]:.1f} / {load1[2]:.1f} on {os.cpu_count()} cores "
            f"({platform.python_version()}).\n")
    if floor:
        body += ("\nThe floor, (a) measured the same way on one-file apps with nothing of "
                 "PathLens, same browser and machine, median / max s: "
                 + "; ".join(f"{n} {_med(t)} / {_max(t)}" for n, t in floor) + ".\n")
    print(body)
    if not args.no_write:
        head = ("# App benchmark (issue 14): seconds until each page's main figure is drawn\n\n"
                "`python bench/bench_app.py`; see the script's docstring for what is timed.\n\n")
        old = RESULTS.read_text() if RESULTS.exists() else head
        RESULTS.write_text(old.rstrip("\n") + "\n\n" + body)


if __name__ == "__main__":
    main()
