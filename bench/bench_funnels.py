"""Benchmark: compute_funnel vs ClickHouse windowFunnel (chDB) vs DuckDB SQL on 10M events.

    flock /tmp/pathlens-heavy.lock python bench/bench_funnels.py            # all engines
    python bench/bench_funnels.py --events 1000000 --users 40000           # a quick run
    flock /tmp/pathlens-heavy.lock python bench/bench_funnels.py --users 2000000 --order time

Generates (once, seeded) a realistic event log as Parquet sorted by user and time (or, with
``--order time``, in time order as exports land: the engine must group the rows itself) in
``bench/out/`` (git-ignored): ~400k users with a skewed number of events each, visits of
short gaps separated by long pauses, and event types drawn with funnel-like probabilities that
rise with each user's purchase intent. Then, on that same file, each engine computes the
4-step ordered funnel view_item -> add_to_cart -> begin_checkout -> purchase with a 1-day
window, in its own subprocess (so peak memory is its own): wall time (best and median of
``--repeat`` rounds, engines interleaved, each run after a warm-up in a fresh process)
and peak resident memory. All engines must report the same
number of users at each furthest step; the script fails otherwise. Results are appended to
``bench/results_funnels.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
RESULTS = HERE / "results_funnels.md"
STEPS = ("view_item", "add_to_cart", "begin_checkout", "purchase")
WINDOW_US = 86_400 * 1_000_000

ENGINES = {
    "polars_parquet": "compute_funnel(pl.scan_parquet(file)) — reads the Parquet file each run",
    "polars_memory": "compute_funnel(DataFrame) — table already in memory",
    "chdb": "ClickHouse windowFunnel via chDB, reading the Parquet file",
    "duckdb": "DuckDB SQL (window functions, same dynamic programme), reading the Parquet file",
}


# ----------------------------------------------------------------------------- data


def generate(path: Path, n_events: int, n_users: int, seed: int = 7, order: str = "user") -> None:
    """Write a seeded synthetic event log (user_id, session_id, ts, event, category)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    # events per user: heavy-tailed (most users browse a little, a few a lot)
    w = rng.lognormal(mean=0.0, sigma=1.0, size=n_users)
    counts = np.maximum(1, np.floor(w / w.sum() * n_events)).astype(np.int64)
    short = n_events - counts.sum()
    if short > 0:
        np.add.at(counts, rng.choice(n_users, size=short, replace=True), 1)
    elif short < 0:
        big = np.argsort(counts)[::-1][:-short]
        counts[big] -= 1
    user = np.repeat(np.arange(n_users, dtype=np.int64), counts)
    n = len(user)
    # purchase intent per user: most users low, a few high
    intent = rng.beta(0.7, 3.0, size=n_users)[user]
    r = rng.random(n)
    # funnel-like type probabilities rising with intent
    p_cart = 0.05 + 0.20 * intent
    p_checkout = 0.01 + 0.10 * intent
    p_purchase = 0.004 + 0.08 * intent
    p_other = np.array([0.28, 0.07, 0.02, 0.01])  # page_view, search, wishlist, remove
    cut_view = 1.0 - (p_cart + p_checkout + p_purchase + p_other.sum())
    edges = np.cumsum(
        np.stack([cut_view, p_cart, p_checkout, p_purchase, *[np.full(n, x) for x in p_other]]),
        axis=0,
    )
    names = np.array(
        [
            "view_item",
            "add_to_cart",
            "begin_checkout",
            "purchase",
            "page_view",
            "search",
            "add_to_wishlist",
            "remove_from_cart",
        ],
        dtype=object,
    )
    idx = (r[None, :] >= edges).sum(axis=0).clip(0, len(names) - 1)
    types = names[idx]
    # time: a start over 30 days, then gaps: short within a visit, long between visits
    start = rng.uniform(0, 30 * 86_400, size=n_users)[user]
    new_visit = rng.random(n) < 0.08
    gaps = np.where(new_visit, rng.exponential(36 * 3600, size=n), rng.exponential(75, size=n))
    first = np.r_[True, user[1:] != user[:-1]]
    gaps[first] = 0.0
    csum = np.cumsum(gaps)
    base = np.maximum.accumulate(np.where(first, csum, 0.0))
    secs = start + (csum - base)
    ts_us = (1_704_067_200 + secs) * 1e6
    visit = np.cumsum(new_visit | first)
    categories = np.array(["phones", "laptops", "audio", "home", "toys", "books"], dtype=object)
    cat = categories[rng.integers(0, len(categories), size=n_users)[user]]
    frame = pl.DataFrame(
        {
            "user_id": pl.select(
                pl.lit("u") + pl.lit(pl.Series(user)).cast(pl.String).str.zfill(7)
            ).to_series(),
            "session_id": pl.Series(visit).cast(pl.String),
            "ts": pl.Series(ts_us.astype(np.int64)).cast(pl.Datetime("us", "UTC")),
            "event": pl.Series(types.astype(str)),
            "category": pl.Series(cat.astype(str)),
        }
    )
    frame = frame.sort(["user_id", "ts"], maintain_order=True)
    if order == "time":  # log order: the same rows, as an export lands
        frame = frame.sort("ts", maintain_order=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, statistics=True)


# ----------------------------------------------------------------------------- engines


def _levels_from_counts(pairs) -> dict[int, int]:
    return {int(k): int(v) for k, v in pairs}


def run_polars(file: Path, in_memory: bool) -> dict[int, int]:
    import polars as pl

    from core.funnels import compute_funnel

    # (not ``setdefault``: its default argument would read the file on every run)
    if in_memory and "frame" not in _MEMO:
        _MEMO["frame"] = pl.read_parquet(file)
    src = _MEMO["frame"] if in_memory else pl.scan_parquet(file)
    from datetime import timedelta

    r = compute_funnel(src, list(STEPS), window=timedelta(microseconds=WINDOW_US))
    counts = r.entities.group_by("furthest_step").len().sort("furthest_step")
    return _levels_from_counts(counts.iter_rows())


_MEMO: dict = {}


def run_chdb(file: Path) -> dict[int, int]:
    import chdb

    conds = ", ".join(f"event = '{s}'" for s in STEPS)
    sql = (
        "SELECT level, count() AS users FROM ("
        f" SELECT user_id, windowFunnel({WINDOW_US})("
        f"toUInt64(toUnixTimestamp64Micro(ts)), {conds}) AS level"
        f" FROM file('{file}', Parquet) GROUP BY user_id"
        ") GROUP BY level ORDER BY level"
    )
    out = chdb.query(sql, "JSONCompact")
    rows = json.loads(out.bytes())["data"]
    return _levels_from_counts(rows)


def duckdb_sql(file: Path) -> str:
    cases = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(STEPS, 1))
    names = ", ".join(f"'{s}'" for s in STEPS)
    win = (
        "WINDOW w AS (PARTITION BY user_id ORDER BY t, s "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
    )
    # latest start of an attempt at each step, from the rows before (same DP as windowFunnel)
    return f"""
    WITH e AS (
        SELECT user_id, epoch_us(ts) AS t, CASE event {cases} END AS s
        FROM read_parquet('{file}') WHERE event IN ({names})
    ),
    l1 AS (SELECT *, max(CASE WHEN s = 1 THEN t END) OVER w AS p1 FROM e {win}),
    l2 AS (SELECT *, CASE WHEN s = 2 AND t - p1 <= {WINDOW_US} THEN p1 END AS u2 FROM l1),
    l2b AS (SELECT *, max(u2) OVER w AS p2 FROM l2 {win}),
    l3 AS (SELECT *, CASE WHEN s = 3 AND t - p2 <= {WINDOW_US} THEN p2 END AS u3 FROM l2b),
    l3b AS (SELECT *, max(u3) OVER w AS p3 FROM l3 {win}),
    l4 AS (SELECT *, CASE WHEN s = 4 AND t - p3 <= {WINDOW_US} THEN p3 END AS u4 FROM l3b),
    per_user AS (
        SELECT user_id, max(CASE WHEN u4 IS NOT NULL THEN 4 WHEN u3 IS NOT NULL THEN 3
                                 WHEN u2 IS NOT NULL THEN 2 WHEN s = 1 THEN 1 ELSE 0 END) AS level
        FROM l4 GROUP BY user_id
    ),
    everyone AS (SELECT DISTINCT user_id FROM read_parquet('{file}'))
    SELECT coalesce(level, 0) AS level, count(*) AS users
    FROM everyone LEFT JOIN per_user USING (user_id)
    GROUP BY 1 ORDER BY 1
    """


def run_duckdb(file: Path) -> dict[int, int]:
    import duckdb

    if "duck" not in _MEMO:
        _MEMO["duck"] = duckdb.connect()
    con = _MEMO["duck"]
    return _levels_from_counts(con.execute(duckdb_sql(file)).fetchall())


def engine_main(engine: str, file: Path, repeat: int) -> None:
    """Child process: warm up, time ``repeat`` runs, print JSON."""
    fn = {
        "polars_parquet": lambda: run_polars(file, in_memory=False),
        "polars_memory": lambda: run_polars(file, in_memory=True),
        "chdb": lambda: run_chdb(file),
        "duckdb": lambda: run_duckdb(file),
    }[engine]
    levels = fn()  # warm-up (and, in memory, the load)
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        again = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)  # all threads of this process (chDB's too)
        assert again == levels
    print(
        json.dumps(
            {
                "engine": engine,
                "levels": levels,
                "times": times,
                "cpu": cpu,
                "peak_rss_mib": peak_rss_mib(),
            }
        )
    )


def baseline_main() -> None:
    """Child process: resident memory of the interpreter with all engines imported."""
    import chdb  # noqa: F401
    import duckdb  # noqa: F401
    import polars  # noqa: F401

    import core.funnels  # noqa: F401

    print(json.dumps({"peak_rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM; unlike ru_maxrss it restarts at exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- driver


def _child(args: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, __file__, *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _versions() -> str:
    import chdb
    import duckdb
    import polars as pl

    return f"polars {pl.__version__}, chdb {chdb.__version__}, duckdb {duckdb.__version__}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--users", type=int, default=400_000)
    ap.add_argument("--repeat", type=int, default=5, help="rounds (timed runs per engine)")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--order", choices=("user", "time"), default="user", help="rows of the file")
    ap.add_argument("--regen", action="store_true")
    ap.add_argument("--no-record", action="store_true", help="do not append to the results")
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.baseline:
        baseline_main()
        return
    if a.engine:
        engine_main(a.engine, Path(a.file), a.repeat)
        return

    suffix = "_by_time" if a.order == "time" else ""
    file = OUT / f"events_{a.events}_{a.users}{suffix}.parquet"
    if a.regen or not file.is_file():
        t0 = time.perf_counter()
        generate(file, a.events, a.users, order=a.order)
        print(f"generated {file.name} in {time.perf_counter() - t0:.1f}s")
    import polars as pl

    shape = pl.scan_parquet(file).select(pl.len(), pl.col("user_id").n_unique()).collect().row(0)
    mix = pl.scan_parquet(file).group_by("event").len().sort("len", descending=True).collect()
    print(f"{shape[0]:,} events, {shape[1]:,} users, {file.stat().st_size / 2**20:.0f} MiB")
    base = _child(["--baseline"])["peak_rss_mib"]
    engines = a.engines.split(",")
    results: dict[str, dict] = {}
    # round robin: the machine is shared, so every engine sees the same background load
    for rnd in range(a.repeat):
        for engine in engines:
            res = _child(["--engine", engine, "--file", str(file), "--repeat", "1"])
            acc = results.setdefault(
                engine, {"levels": res["levels"], "times": [], "cpu": [], "peak_rss_mib": 0.0}
            )
            if res["levels"] != acc["levels"]:
                sys.exit(f"{engine} changed its answer between runs")
            acc["times"] += res["times"]
            acc["cpu"] += res["cpu"]
            acc["peak_rss_mib"] = max(acc["peak_rss_mib"], res["peak_rss_mib"])
            print(
                f"round {rnd + 1} {engine:15s} {res['times'][0]:6.2f}s  "
                f"peak {res['peak_rss_mib']:6.0f} MiB",
                flush=True,
            )
    for engine, res in results.items():
        print(
            f"{engine:15s} best {min(res['times']):6.2f}s  median "
            f"{statistics.median(res['times']):6.2f}s  peak {res['peak_rss_mib']:7.0f} MiB  "
            f"levels {res['levels']}"
        )
    levels = {e: r["levels"] for e, r in results.items()}
    agree = len({json.dumps(v, sort_keys=True) for v in levels.values()}) == 1
    print("all engines agree:", agree)
    if not a.no_record:
        record(file, shape, mix, results, base, agree, a)
    if not agree:
        sys.exit("engines disagree on the funnel counts")


def record(file, shape, mix, results, base, agree, a) -> None:
    ref = results.get("chdb")
    lines = [
        f"\n## Run of {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
        f"- data: `{file.name}` — {shape[0]:,} events, {shape[1]:,} users, "
        f"{file.stat().st_size / 2**20:.0f} MiB Parquet, "
        + ("in time order (log order)" if a.order == "time" else "sorted by user and time")
        + "; event mix "
        + ", ".join(f"{e} {n / shape[0]:.1%}" for e, n in mix.iter_rows()),
        "- funnel: " + " → ".join(STEPS) + ", ordered, 1-day window, counted by user_id",
        f"- machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"shared with other jobs; {_versions()}",
        f"- {a.repeat} rounds; in each round every engine runs in a fresh process (one warm-up "
        "run, then one timed run), engines interleaved so they share the background load; "
        f"peak RSS (VmHWM) includes the interpreter with all engines imported ({base:.0f} MiB)",
        f"- users per furthest step (all engines {'agree' if agree else 'DISAGREE'}): "
        + json.dumps(next(iter(results.values()))["levels"]),
        "",
        "| engine | best (s) | median (s) | ratio to ClickHouse (best) | ratio (medians) "
        "| CPU, median (s) | CPU ratio (medians) | peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for engine, r in results.items():
        best = min(r["times"])
        med = statistics.median(r["times"])
        ratio = f"{best / min(ref['times']):.2f}" if ref else "–"
        ratio_med = f"{med / statistics.median(ref['times']):.2f}" if ref else "–"
        cpu = statistics.median(r["cpu"])
        ratio_cpu = f"{cpu / statistics.median(ref['cpu']):.2f}" if ref else "–"
        lines.append(
            f"| {ENGINES[engine]} | {best:.2f} | {med:.2f} "
            f"| {ratio} | {ratio_med} | {cpu:.2f} | {ratio_cpu} | {r['peak_rss_mib']:.0f} |"
        )
    text = "\n".join(lines) + "\n"
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Funnel benchmark results\n\nWritten by `bench/bench_funnels.py`; newest run last.\n"
        )
    with RESULTS.open("a") as fh:
        fh.write(text)
    print(text)


if __name__ == "__main__":
    main()
