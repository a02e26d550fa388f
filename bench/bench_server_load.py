"""Load benchmark (issue 16, "Load"): a team of browser sessions on one PathLens server.

What it does, all on the loopback interface (the server binds 127.0.0.1 and the browser opens
nothing else):

1. Prepares four datasets in a fresh store (``PATHLENS_DATA_DIR``, a temp dir): the bundled
   sample (materialised by the server itself) and three shops from ``core.dev.synth.generate_shop``
   (different seeds and sizes), written as CSV to ``bench/out/``, loaded with
   ``core.load_events`` and put into the store with ``DatasetStore.put`` before the server
   starts. Each session opens its dataset by link (``?dataset=<id>``): datasets are private to
   the sessions that uploaded or opened them by link.
2. Starts its own server (``python -m streamlit run app.py``, headless, port picked free) and
   samples the RSS of the server's process tree every 0.5 s from ``/proc`` (psutil is not a
   dependency); the server is always stopped (``try/finally``), and a global time limit bounds
   the whole run (``--time-limit``, 25 min by default; a full run takes about 17 min on
   2 shared cores).
3. **Concurrent phase**: ``--sessions`` (20) Playwright contexts in one headless Chromium
   (``/usr/bin/chromium``), started together, each with its own dataset, sidebar filter and
   page settings, visit every page (overview, funnels, paths, segments, rules, cart, data).
   On each page: wait until the script has finished, record the latency (``goto`` until the
   page's content is shown), check that no ``stException`` is shown, read every ``st.metric``
   (the headline numbers). On the overview, also: its caption names the session's own dataset,
   and the sidebar's dataset picker lists only the sample and the session's own dataset (no
   dataset another session opened).
4. **Solo phase**: on a freshly started second server (cold caches), one context visits the
   overview, funnels and paths pages of every session's view one at a time; the headline
   numbers must equal those the session saw under load (no cross-talk between sessions, and
   no cache key that misses a setting).
5. **Churn phase**: on the second server, ``--loads`` (200) page loads, 4 at a time, each with
   different settings (dataset x filter x page x overview grain and metric / funnel window /
   paths depth and nodes per step), with
   the server's RSS recorded after every 20 loads: bounded caches keep it flat.

Timeouts and exceptions are recorded as failures in the tables, never a crash. Results are
printed and written to ``bench/results_server_load.md`` (its ``## Notes`` section, written by
hand, is kept).

Run (queued behind other heavy jobs)::

    flock /tmp/pathlens-heavy.lock python bench/bench_server_load.py
    python bench/bench_server_load.py --quick   # 5 sessions, 40 loads, no results file
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from server_proc import running_server, tree_rss_mib  # bench/server_proc.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results_server_load.md"
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
PAGES = ("overview", "funnels", "paths", "segments", "rules", "cart", "data")
URL_PATHS = {"overview": "", "funnels": "funnels", "paths": "paths", "segments": "segments",
             "rules": "rules", "cart": "cart", "data": "data"}
#: what shows that a page has rendered its content (any of them)
CONTENT = {
    "overview": '[data-testid="stMetric"]',
    "funnels": '[data-testid="stMetric"]',
    "paths": '[data-testid="stMetric"], [data-testid="stAlert"]',
    "segments": '[data-testid="stMetric"], [data-testid="stAlert"]',
    "rules": '[data-testid="stMetric"], [data-testid="stAlert"]',
    "cart": '[data-testid="stPlotlyChart"], [data-testid="stAlert"]',
    "data": '[data-testid="stFileUploader"]',
}
SOLO_PAGES = ("overview", "funnels", "paths")
FILTERS = ("", "device = mobile", "device = desktop", "channel = organic", "channel = paid_social")
SHOPS = ((1, 1500, 30), (2, 2500, 45), (3, 1000, 20))  # seed, users, days
SAMPLE_NAME = "Bundled sample shop"
PAGE_TIMEOUT_MS = 300_000


# -- datasets ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    id: str
    name: str  # the picker's label starts with it


def prepare_datasets(store_dir: Path) -> list[Dataset]:
    """Three generated shops in the store; the sample is added by the server itself."""
    from core.dev.synth import generate_shop
    from core.loader import load_events
    from core.store import SAMPLE_ID, DatasetStore

    OUT.mkdir(parents=True, exist_ok=True)
    store = DatasetStore(store_dir)
    out = [Dataset(SAMPLE_ID, SAMPLE_NAME)]
    for seed, users, days in SHOPS:
        name = f"bench-shop-{seed}.csv"
        csv = OUT / name
        if not csv.exists():
            events, _, _ = generate_shop(users=users, days=days, seed=seed)
            events.write_csv(csv)
        loaded = load_events(csv)
        out.append(Dataset(store.put(loaded.events, name=name,
                                     report=loaded.report.to_dict()), name))
    return out


# -- one session's view -----------------------------------------------------------------------
@dataclass(frozen=True)
class View:
    """Settings of one session: dataset, sidebar filter and per-page settings."""

    dataset: Dataset
    filter: str
    page_params: dict = field(default_factory=dict, hash=False)

    def url(self, base: str, page: str) -> str:
        q: list[tuple[str, str]] = []
        if self.dataset.id != "sample":
            q.append(("dataset", self.dataset.id))
        if self.filter:
            q.append(("filter", self.filter))
        q += [(k, str(v)) for k, v in self.page_params.get(page, {}).items()]
        return f"{base}/{URL_PATHS[page]}" + (f"?{urlencode(q)}" if q else "")


def session_views(datasets: list[Dataset], n: int) -> list[View]:
    """n different views: every (dataset, filter) pair once for n <= 20, page settings vary."""
    views = []
    for i in range(n):
        views.append(View(
            dataset=datasets[i % len(datasets)],
            filter=FILTERS[(i // len(datasets)) % len(FILTERS)],
            page_params={
                "overview": {"overview.grain": ("auto", "day", "week")[i % 3]},
                "funnels": {"funnel.window": 1 + i % 7,
                            "funnel.order": ("ordered", "strict", "unordered")[i % 3]},
                "paths": {"paths.depth": 3 + i % 5},
                "segments": {"segments.k": 2 + i % 4},
                "rules": {"rules.max_len": 2 + i % 2},
                "cart": {"cart.window": 3 + i % 5},
            },
        ))
    return views


def churn_views(datasets: list[Dataset], n: int) -> list[tuple[View, str]]:
    """n page loads, each with settings no earlier load had."""
    out = []
    for i in range(n):
        page = SOLO_PAGES[i % 3]
        params = {
            "overview": {"overview.grain": ("auto", "hour", "day", "week")[(i // 3) % 4],
                         "overview.metric": ("sessions", "users", "events")[(i // 12) % 3]},
            "funnels": {"funnel.window": 1 + i // 3},
            "paths": {"paths.depth": 2 + (i // 3) % 9, "paths.top": 4 + (i // 27) % 20},
        }
        view = View(dataset=datasets[i % len(datasets)],
                    filter=FILTERS[(i // len(datasets)) % len(FILTERS)],
                    page_params=params)
        out.append((view, page))
    return out


# -- browser helpers --------------------------------------------------------------------------
STATE_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app ? app.getAttribute('data-test-script-state') : null;
}"""
METRICS_JS = """() => Array.from(document.querySelectorAll('[data-testid="stMetric"]')).map(m => [
    (m.querySelector('[data-testid="stMetricLabel"]') || m).innerText.trim(),
    (m.querySelector('[data-testid="stMetricValue"]') || m).innerText.trim()])"""


async def wait_until_settled(page, selector: str, timeout_ms: int) -> None:
    """The script has finished (twice in a row, 0.4 s apart: no rerun followed) and the page's
    content (or an exception) is shown."""
    deadline = time.monotonic() + timeout_ms / 1000
    await page.wait_for_selector('[data-testid="stApp"]', state="attached", timeout=timeout_ms)
    while True:
        left = max(1, int((deadline - time.monotonic()) * 1000))
        await page.wait_for_function(
            "() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
            " return a && a.getAttribute('data-test-script-state') === 'notRunning'; }",
            timeout=left)
        await page.wait_for_timeout(400)
        if await page.evaluate(STATE_JS) == "notRunning":
            break
        if time.monotonic() > deadline:
            raise TimeoutError("the script kept rerunning")
    left = max(1, int((deadline - time.monotonic()) * 1000))
    await page.wait_for_selector(f'{selector}, [data-testid="stException"]', timeout=left)


@dataclass
class Visit:
    session: int
    page: str
    seconds: float | None  # None: failed
    error: str = ""
    metrics: dict = field(default_factory=dict)


async def visit(page, url: str, name: str, session: int) -> Visit:
    t0 = time.perf_counter()
    try:
        await page.goto(url, timeout=PAGE_TIMEOUT_MS)
        await wait_until_settled(page, CONTENT[name], PAGE_TIMEOUT_MS)
        seconds = time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 - a timeout or a closed page is a recorded failure
        return Visit(session, name, None, f"{type(e).__name__}: {str(e).splitlines()[0][:120]}")
    exc = page.locator('[data-testid="stException"]')
    if await exc.count():
        text = (await exc.first.inner_text()).strip().splitlines()
        return Visit(session, name, None, f"exception: {' '.join(text[:2])[:160]}")
    return Visit(session, name, seconds, metrics=dict(await page.evaluate(METRICS_JS)))


async def privacy_errors(page, view: View, datasets: list[Dataset]) -> list[str]:
    """The overview names the session's dataset; its picker lists no other session's dataset."""
    errors = []
    caption = await page.get_by_text("Dataset:").first.inner_text()
    if view.dataset.name not in caption:
        errors.append(f"overview caption names another dataset: {caption[:80]!r}")
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(
        has_text="Dataset").first
    await box.click()
    options = page.get_by_role("option")
    await options.first.wait_for(timeout=30_000)
    listed = [t.strip() for t in await options.all_inner_texts()]
    await page.keyboard.press("Escape")
    allowed = {SAMPLE_NAME, view.dataset.name}
    for label in listed:
        if not any(label.startswith(a) for a in allowed):
            errors.append(f"picker lists {label!r}, which this session never opened")
    if not any(label.startswith(view.dataset.name) for label in listed):
        errors.append(f"picker does not list the session's own dataset {view.dataset.name}")
    return errors


async def run_session(browser, base: str, view: View, i: int, datasets, deadline: float):
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await ctx.new_page()
    visits, errors = [], []
    try:
        for name in PAGES:
            if time.monotonic() > deadline:
                visits.append(Visit(i, name, None, "skipped: global time limit"))
                continue
            v = await visit(page, view.url(base, name), name, i)
            visits.append(v)
            if v.seconds is None:
                print(f"session {i} {name} failed: {v.error}", flush=True)
            if name == "overview" and v.seconds is not None:
                try:
                    errors += await privacy_errors(page, view, datasets)
                except Exception as e:  # noqa: BLE001
                    errors.append(f"picker check failed: {type(e).__name__}: {str(e)[:100]}")
    finally:
        await ctx.close()
    return visits, errors


# -- phases -----------------------------------------------------------------------------------
async def concurrent_phase(browser, base, views, datasets, deadline):
    results = await asyncio.gather(*(run_session(browser, base, v, i, datasets, deadline)
                                     for i, v in enumerate(views)))
    visits = [v for vs, _ in results for v in vs]
    privacy = [(i, e) for i, (_, errs) in enumerate(results) for e in errs]
    return visits, privacy


async def solo_phase(browser, base, views, concurrent: list[Visit], deadline):
    """Headline numbers of each view, one session at a time, against those seen under load."""
    seen = {(v.session, v.page): v for v in concurrent}
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await ctx.new_page()
    compared, mismatches = 0, []
    try:
        for i, view in enumerate(views):
            for name in SOLO_PAGES:
                under_load = seen.get((i, name))
                if under_load is None or under_load.seconds is None or time.monotonic() > deadline:
                    continue
                solo = await visit(page, view.url(base, name), name, i)
                if solo.seconds is None:
                    mismatches.append(f"session {i} {name}: solo run failed ({solo.error})")
                    continue
                compared += 1
                if solo.metrics != under_load.metrics:
                    diff = {k: (under_load.metrics.get(k), solo.metrics.get(k))
                            for k in set(solo.metrics) | set(under_load.metrics)
                            if solo.metrics.get(k) != under_load.metrics.get(k)}
                    mismatches.append(f"session {i} {name}: under load vs solo {diff}")
    finally:
        await ctx.close()
    return compared, mismatches


async def churn_phase(browser, base, loads, server_pid, deadline, workers: int = 4):
    """Page loads with ever-new settings; the server's RSS after every 20."""
    queue: asyncio.Queue = asyncio.Queue()
    for n, item in enumerate(loads):
        queue.put_nowait((n, item))
    done: list[Visit] = []
    rss_log: list[tuple[int, float, float]] = [(0, tree_rss_mib(server_pid), 0.0)]
    t0 = time.monotonic()

    async def worker():
        ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
        page = await ctx.new_page()
        try:
            while not queue.empty() and time.monotonic() < deadline:
                n, (view, name) = queue.get_nowait()
                done.append(await visit(page, view.url(base, name), name, n))
                print(f"load {n} {name} {view.dataset.name} {view.filter or '-'}: "
                      f"{done[-1].seconds or done[-1].error}", flush=True)
                if len(done) % 20 == 0:
                    rss_log.append((len(done), tree_rss_mib(server_pid), time.monotonic() - t0))
        finally:
            await ctx.close()

    await asyncio.gather(*(worker() for _ in range(workers)))
    if len(done) % 20:
        rss_log.append((len(done), tree_rss_mib(server_pid), time.monotonic() - t0))
    return done, rss_log


# -- report -----------------------------------------------------------------------------------
def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))]


def latency_table(visits: list[Visit]) -> list[str]:
    rows = ["| page | loads | ok | failed | p50 s | p90 s | p99 s | max s |",
            "|---|---|---|---|---|---|---|---|"]
    for name in [*PAGES, "all"]:
        vs = [v for v in visits if name in ("all", v.page)]
        if not vs:
            continue
        ok = [v.seconds for v in vs if v.seconds is not None]
        qs = [f"{pct(ok, q):.1f}" if ok else "-" for q in (50, 90, 99)]
        rows.append(f"| {name} | {len(vs)} | {len(ok)} | {len(vs) - len(ok)} | "
                    f"{' | '.join(qs)} | {f'{max(ok):.1f}' if ok else '-'} |")
    return rows


def write_results(text: str) -> None:
    notes = ""
    if RESULTS.exists():
        old = RESULTS.read_text()
        if "\n## Notes" in old:
            notes = old[old.index("\n## Notes"):]
    RESULTS.write_text(text + notes)


def report(args, datasets, visits, privacy, compared, mismatches, churn, rss_log,
           peak_mib, hwm_mib, idle_mib, churn_peak_mib, wall) -> str:
    failures = [v for v in visits + churn if v.seconds is None]
    first, last = rss_log[0][1], rss_log[-1][1]
    plateau = [r for n, r, _ in rss_log if n >= len(churn) // 2]
    lines = [
        "# Server load benchmark",
        "",
        f"`python bench/bench_server_load.py{' --quick' if args.quick else ''}` on "
        f"{os.cpu_count()} CPU (shared with other jobs), 24 GiB, {platform.machine()}, Python "
        f"{platform.python_version()}; one Streamlit server on 127.0.0.1, one headless "
        f"Chromium; total wall {wall:.0f} s.",
        "",
        f"Datasets: the sample and {len(datasets) - 1} generated shops "
        f"({', '.join(f'seed {s}: {u:,} users over {d} days' for s, u, d in SHOPS)}), "
        "each session opening its own by link.",
        "",
        f"## {args.sessions} concurrent sessions, every page",
        "",
        f"Each session: its own dataset x sidebar filter x page settings, pages {', '.join(PAGES)} "
        "in turn. Latency = `goto` until the script has finished and the page's content shows "
        "(a failure: a timeout of "
        f"{PAGE_TIMEOUT_MS // 1000} s, or an exception shown).",
        "",
        *latency_table(visits),
        "",
        f"- Server peak RSS (process tree, sampled every 0.5 s during this phase): "
        f"**{peak_mib:,.0f} MiB**; the server process's VmHWM {hwm_mib:,.0f} MiB; after start "
        f"(before any session) {idle_mib:,.0f} MiB.",
        f"- Isolation: {args.sessions - len({i for i, _ in privacy})}/{args.sessions} sessions saw "
        "only their own dataset (overview caption; the sidebar picker listed the sample and "
        f"their own dataset, nothing another session opened); {len(privacy)} problem(s)"
        + ("" if not privacy else ": " + "; ".join(f"session {i}: {e}" for i, e in privacy[:5])),
        f"- No cross-talk: {compared} page views ({', '.join(SOLO_PAGES)} of every session), "
        "re-run one at a time afterwards on a freshly started server (cold caches: each view "
        "computed again on its own), show the same headline numbers (every `st.metric`): "
        f"{compared - len(mismatches)}"
        f"/{compared} equal"
        + ("" if not mismatches else "; differences: " + "; ".join(mismatches[:5])),
        "",
        f"## {len(churn)} page loads with different settings (memory)",
        "",
        f"{len(churn)} of the {args.loads} loads asked for ran within the time limit.",
        "",
        "On the second server (after the solo runs), 4 contexts at a time; each load is a fresh "
        "session (`goto`) with settings no earlier "
        "load had (dataset x filter x overview grain and metric / funnel window / paths depth "
        "and nodes per step). Server RSS (process tree) after every 20 loads:",
        "",
        "| loads | RSS MiB | elapsed s |",
        "|---|---|---|",
        *[f"| {n} | {r:,.0f} | {t:.0f} |" for n, r, t in rss_log],
        "",
        *latency_table(churn),
        "",
        f"RSS {first:,.0f} MiB before the loads, {last:,.0f} MiB after; over the second half "
        f"of the loads min {min(plateau):,.0f} / max {max(plateau):,.0f} MiB; peak (sampled "
        f"every 0.5 s) {churn_peak_mib:,.0f} MiB."
        if plateau else f"RSS {first:,.0f} MiB before, {last:,.0f} MiB after.",
        "",
        f"Failures: {len(failures)}"
        + ("" if not failures else " — " + "; ".join(
            f"{v.page} #{v.session}: {v.error}" for v in failures[:8])),
        "",
    ]
    return "\n".join(lines)


async def main_async(args) -> int:
    from playwright.async_api import async_playwright

    t_start = time.monotonic()
    deadline = t_start + args.time_limit
    store_dir = Path(tempfile.mkdtemp(prefix="pathlens-load-store-"))
    datasets = prepare_datasets(store_dir)
    print(f"datasets ready ({time.monotonic() - t_start:.0f} s): "
          + ", ".join(f"{d.name}={d.id[:8]}" for d in datasets), flush=True)
    views = session_views(datasets, args.sessions)
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        try:
            with running_server(store_dir) as (server, sampler):
                # leave more than half of the time for the later phases
                visits, privacy = await concurrent_phase(
                    browser, server.url, views, datasets, t_start + args.time_limit * 0.45)
                print(f"concurrent phase done ({time.monotonic() - t_start:.0f} s)", flush=True)
                print("\n".join(latency_table(visits)), flush=True)
            load_server, load_peak = server, sampler.peak
            # a fresh server for the solo runs: cold caches, so each view is computed again on
            # its own (a cache key that missed a setting would show in a difference)
            with running_server(store_dir) as (server, sampler):
                compared, mismatches = await solo_phase(
                    browser, server.url, views, visits, t_start + args.time_limit * 0.7)
                print(f"solo phase done ({time.monotonic() - t_start:.0f} s): {compared} "
                      f"compared, {len(mismatches)} differ", flush=True)
                churn, rss_log = await churn_phase(
                    browser, server.url, churn_views(datasets, args.loads), server.proc.pid,
                    deadline)
                print(f"churn phase done ({time.monotonic() - t_start:.0f} s)", flush=True)
            churn_peak = sampler.peak
        finally:
            await browser.close()
    text = report(args, datasets, visits, privacy, compared, mismatches, churn, rss_log,
                  load_peak, load_server.hwm_mib, load_server.idle_mib, churn_peak,
                  time.monotonic() - t_start)
    print(text)
    if not args.quick:
        write_results(text)
    bad = privacy or mismatches or any(v.seconds is None for v in visits + churn)
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 sessions, 40 loads, 6 min limit")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--loads", type=int, default=200)
    ap.add_argument("--time-limit", type=float, default=1500.0, help="seconds for the whole run")
    args = ap.parse_args()
    if args.quick:
        args.sessions, args.loads, args.time_limit = 5, 40, min(args.time_limit, 360.0)
    args.sessions = max(1, min(args.sessions, 40))  # bounded: one browser, one small machine
    args.loads = max(1, min(args.loads, 1000))
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
