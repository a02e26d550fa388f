"""Benchmark: path edge counts on 10M events, PathLens (Polars) against ClickHouse (chDB) and DuckDB.

What is measured: the edges of the first 5 steps of every session (``max_steps=5``, no collapse
of repeats, no folding), i.e. for each session the transitions ``k_event -> (k+1)_event`` for
k < 5 plus a drop-off edge after the last step of sessions shorter than 5, with the number of
sessions and the mean seconds per edge. The SQL engines compute the same thing with a single
window pass (``row_number`` and ``lead`` over ``PARTITION BY session_id ORDER BY ts``). Each
engine reads the same Parquet file, runs in its own child process (so its peak RSS is its own),
and is timed best-of-N after one warm-up. The parent checks that all three agree edge by edge.

Run (queued behind other heavy jobs)::

    flock /tmp/pathlens-heavy.lock python bench/bench_paths.py            # generate + compare
    flock /tmp/pathlens-heavy.lock python bench/bench_paths.py --events 1000000 --repeat 1

The data are synthetic and seeded (numpy ``default_rng(seed)``): sessions of a Markov chain over
14 shop events, sorted by user then time, written to ``bench/out/`` (git-ignored).
Figures are appended to ``bench/results_paths.md`` by hand from the printed table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

EVENTS = (
    "page_view",
    "search",
    "view_item",
    "add_to_wishlist",
    "add_to_cart",
    "remove_from_cart",
    "view_cart",
    "begin_checkout",
    "add_shipping_info",
    "add_payment_info",
    "purchase",
    "scroll",
    "click_banner",
    "login",
)
EVENT_TYPE = {
    "page_view": "page_view",
    "search": "search",
    "view_item": "view_item",
    "add_to_wishlist": "add_to_wishlist",
    "add_to_cart": "add_to_cart",
    "remove_from_cart": "remove_from_cart",
    "view_cart": "other",
    "begin_checkout": "begin_checkout",
    "add_shipping_info": "begin_checkout",
    "add_payment_info": "begin_checkout",
    "purchase": "purchase",
    "scroll": "other",
    "click_banner": "other",
    "login": "other",
}
STEPS = 5


def _transition_matrix(rng: np.random.Generator) -> np.ndarray:
    """A shop-like Markov chain: browsing dominates, checkout steps lead forward."""
    n = len(EVENTS)
    idx = {e: i for i, e in enumerate(EVENTS)}
    t = rng.dirichlet(np.full(n, 0.3), size=n) * 0.3  # noise so every pair occurs
    favour = {
        "page_view": {
            "view_item": 3,
            "search": 1.5,
            "page_view": 1,
            "scroll": 1,
            "click_banner": 0.5,
        },
        "search": {"view_item": 4, "search": 1, "page_view": 0.5},
        "view_item": {
            "view_item": 3,
            "add_to_cart": 1,
            "page_view": 1,
            "add_to_wishlist": 0.3,
            "scroll": 1,
        },
        "add_to_wishlist": {"view_item": 2, "page_view": 1},
        "add_to_cart": {"view_cart": 2, "view_item": 1.5, "begin_checkout": 1},
        "remove_from_cart": {"view_item": 1, "view_cart": 1},
        "view_cart": {"begin_checkout": 2, "remove_from_cart": 0.5, "view_item": 1},
        "begin_checkout": {"add_shipping_info": 3, "view_cart": 0.5},
        "add_shipping_info": {"add_payment_info": 3, "view_cart": 0.3},
        "add_payment_info": {"purchase": 3, "view_cart": 0.3},
        "purchase": {"page_view": 2, "view_item": 1},
        "scroll": {"view_item": 2, "scroll": 1, "page_view": 1},
        "click_banner": {"view_item": 2, "page_view": 1},
        "login": {"page_view": 2, "view_cart": 1},
    }
    for src, row in favour.items():
        for dst, w in row.items():
            t[idx[src], idx[dst]] += w
    return t / t.sum(axis=1, keepdims=True)


def _session_layout(
    rng: np.random.Generator, n_events: int, users: int | None
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """Session lengths (summing to ``n_events``), the number of users, each session's user
    (sorted) and its number within its user (from 1)."""
    mean_len = 7.0 if users is None else max(1.5, n_events / (1.5 * users))
    n_sessions = int(n_events / mean_len * 1.05) + 10
    lengths = np.minimum(rng.geometric(1 / mean_len, size=n_sessions), 80)
    cum = np.cumsum(lengths)
    n_sessions = int(np.searchsorted(cum, n_events)) + 1
    lengths = lengths[:n_sessions]
    lengths[-1] -= int(lengths.sum() - n_events)
    n_users = max(1, n_sessions // 3) if users is None else min(users, n_sessions)
    if users is None:
        session_user = np.sort(rng.integers(0, n_users, size=n_sessions))
    else:  # every user has a session
        extra = rng.integers(0, n_users, size=n_sessions - n_users)
        session_user = np.sort(np.r_[np.arange(n_users), extra])
    # session number within its user (sessions are sorted by user)
    first = np.r_[True, session_user[1:] != session_user[:-1]]
    run_start = np.maximum.accumulate(np.where(first, np.arange(n_sessions), 0))
    return lengths, n_users, session_user, np.arange(n_sessions) - run_start + 1


def generate(
    n_events: int, path: Path, *, seed: int = 7, users: int | None = None, order: str = "user"
) -> Path:
    """Write ``n_events`` seeded synthetic events to ``path``, sorted by user then time (or in
    time order, as an export lands, with ``order="time"``). ``users`` (default: a third of the
    sessions) sets the mean session length so that there are 1.5 sessions per user."""
    import polars as pl

    rng = np.random.default_rng(seed)
    lengths, n_users, session_user, session_no = _session_layout(rng, n_events, users)
    n_sessions = len(lengths)

    # Events: a Markov chain, vectorised over sessions one position at a time.
    t = _transition_matrix(rng)
    cum_t = np.cumsum(t, axis=1)
    start_p = np.array([0.45, 0.15, 0.25, 0, 0, 0, 0.03, 0, 0, 0, 0, 0.02, 0.07, 0.03])
    offsets = np.r_[0, np.cumsum(lengths)[:-1]]
    codes = np.empty(n_events, dtype=np.uint8)
    state = rng.choice(len(EVENTS), size=n_sessions, p=start_p / start_p.sum()).astype(np.uint8)
    alive = np.arange(n_sessions)
    codes[offsets] = state
    for k in range(1, int(lengths.max())):
        alive = alive[lengths[alive] > k]
        if alive.size == 0:
            break
        u = rng.random(alive.size)
        nxt = (u[:, None] > cum_t[state[alive]]).sum(axis=1).clip(0, len(EVENTS) - 1)
        state[alive] = nxt
        codes[offsets[alive] + k] = nxt

    # Times: sessions of one user at least 2 hours apart, events 1 s to 10 min apart.
    base = np.datetime64("2024-01-01T00:00:00", "us").astype(np.int64)
    user_origin = rng.integers(0, 60 * 86400, size=n_users) * 1_000_000
    session_start = (
        base
        + user_origin[session_user]
        + (session_no - 1) * 3 * 3600 * 1_000_000
        + rng.integers(0, 3600, size=n_sessions) * 1_000_000
    )
    gaps = (1 + np.minimum(rng.exponential(45.0, size=n_events), 600)).astype(np.int64) * 1_000_000
    gaps[offsets] = 0
    sess_of_event = np.repeat(np.arange(n_sessions), lengths)
    within = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[offsets], lengths)
    ts = session_start[sess_of_event] + within

    user_of_event = session_user[sess_of_event]
    df = pl.DataFrame(
        {
            "uid": user_of_event.astype(np.int64),
            "sno": session_no[sess_of_event].astype(np.int64),
            "ts": ts,
            "code": codes,
        }
    )
    names = pl.Series("event", EVENTS)
    types = pl.Series("event_type", [EVENT_TYPE[e] for e in EVENTS])
    df = df.select(
        pl.format("u{}", pl.col("uid").cast(pl.String).str.zfill(8)).alias("user_id"),
        pl.format("u{}-{}", pl.col("uid").cast(pl.String).str.zfill(8), pl.col("sno")).alias(
            "session_id"
        ),
        pl.col("ts").cast(pl.Datetime("us", "UTC")),
        pl.lit(names).gather(pl.col("code")).alias("event"),
        pl.lit(types).gather(pl.col("code")).alias("event_type"),
    )
    if order == "time":
        df = df.sort("ts", maintain_order=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.write_parquet(path, row_group_size=1_000_000)
    return path


# ----------------------------------------------------------------------------- engines

DUCKDB_SQL = """
WITH w AS (
    SELECT event,
           ts,
           row_number() OVER s AS rn,
           lead(event) OVER s AS next_event,
           lead(ts) OVER s AS next_ts
    FROM read_parquet('{path}')
    WINDOW s AS (PARTITION BY session_id ORDER BY ts)
)
SELECT rn AS source_step,
       event AS source_name,
       coalesce(next_event, '$drop_off') AS target_name,
       count(*) AS value,
       avg(date_diff('microsecond', ts, next_ts)) / 1e6 AS mean_seconds
FROM w
WHERE rn < {steps}
GROUP BY ALL
"""

CHDB_SQL = """
SELECT rn AS source_step,
       event AS source_name,
       ifNull(next_event, '$drop_off') AS target_name,
       count() AS value,
       avg(dateDiff('microsecond', ts, next_ts)) / 1e6 AS mean_seconds
FROM (
    SELECT event,
           ts,
           row_number() OVER s AS rn,
           leadInFrame(toNullable(event)) OVER s AS next_event,
           leadInFrame(toNullable(ts)) OVER s AS next_ts
    FROM file('{path}', Parquet)
    WINDOW s AS (PARTITION BY session_id ORDER BY ts ASC
                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
)
WHERE rn < {steps}
GROUP BY source_step, source_name, target_name
"""


def _run_polars(path: Path):
    import polars as pl

    from core.paths import compute_paths

    res = compute_paths(
        pl.scan_parquet(path),
        max_steps=STEPS,
        collapse_repeats=False,
        top_per_step=None,
        min_edge_weight=1,
    )
    return res.edges.select(
        pl.col("source_step").cast(pl.Int64),
        pl.col("source_name"),
        pl.col("target_name"),
        pl.col("value").cast(pl.Int64),
        pl.col("mean_seconds"),
    )


def _run_polars_default(path: Path):
    """The dashboard's default settings (collapse repeats, fold to top 8 per step)."""
    import polars as pl

    from core.paths import compute_paths

    res = compute_paths(pl.scan_parquet(path), max_steps=STEPS)
    return res.edges.select(
        pl.col("source_step").cast(pl.Int64),
        "source_name",
        "target_name",
        pl.col("value").cast(pl.Int64),
        "mean_seconds",
    )


def _run_duckdb(path: Path):
    import duckdb
    import polars as pl

    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    return pl.from_arrow(con.sql(DUCKDB_SQL.format(path=path, steps=STEPS)).to_arrow_table())


def _run_chdb(path: Path):
    import chdb
    import polars as pl

    tbl = chdb.query(CHDB_SQL.format(path=path, steps=STEPS), "ArrowTable")
    return pl.from_arrow(tbl)


ENGINES = {
    "polars": _run_polars,
    "duckdb": _run_duckdb,
    "chdb": _run_chdb,
    "polars_default": _run_polars_default,
}


def _proc_status_mib(field: str) -> float:
    """``VmHWM`` (peak) or ``VmRSS`` of this process in MiB, from /proc (per process image:
    unlike ``ru_maxrss``, it does not inherit the parent's peak across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def _child(engine: str, path: Path, repeat: int, out: Path) -> None:
    """Run one engine: warm-up, best-of-``repeat`` timing, write its edges and figures."""
    import polars as pl

    fn = ENGINES[engine]
    if engine.startswith("polars"):
        import core.paths  # noqa: F401  (imports are not part of the measured peak)
    elif engine == "duckdb":
        import duckdb  # noqa: F401
    else:
        import chdb  # noqa: F401
    rss_base = _proc_status_mib("VmRSS")
    result = fn(path)  # warm-up (file cache, imports, JIT-free engines still build plans)
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn(path)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)  # all threads of this process
    rss_peak = _proc_status_mib("VmHWM")
    result = result.with_columns(
        pl.col("source_step").cast(pl.Int64),
        pl.col("value").cast(pl.Int64),
        pl.col("mean_seconds").cast(pl.Float64),
    ).sort("source_step", "source_name", "target_name")
    result.write_parquet(out)
    print(
        json.dumps(
            {
                "engine": engine,
                "best_s": min(times),
                "times_s": times,
                "cpu_s": min(cpu),
                "peak_rss_mib": rss_peak,
                "rss_after_imports_mib": rss_base,
                "edges": result.height,
            }
        )
    )


def compare(path: Path, repeat: int, engines: list[str]) -> list[dict]:
    """Run every engine in its own process, ``repeat`` rounds with the engines interleaved (so
    they share the background load), and check their edges agree."""
    import polars as pl

    figures: dict[str, dict] = {}
    frames = {}
    for rnd in range(repeat):
        for engine in engines:
            out = OUT / f"edges_{engine}.parquet"
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    engine,
                    "--data",
                    str(path),
                    "--repeat",
                    "1",
                    "--edges-out",
                    str(out),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                print(proc.stdout, proc.stderr, file=sys.stderr)
                raise SystemExit(f"engine {engine} failed")
            fig = json.loads(proc.stdout.strip().splitlines()[-1])
            acc = figures.setdefault(engine, {**fig, "times_s": [], "cpus_s": []})
            acc["times_s"] += fig["times_s"]
            acc["cpus_s"].append(fig["cpu_s"])
            acc["peak_rss_mib"] = max(acc["peak_rss_mib"], fig["peak_rss_mib"])
            frame = pl.read_parquet(out)
            if engine in frames and not frame.equals(frames[engine]):
                raise SystemExit(f"{engine} changed its answer between rounds")
            frames[engine] = frame
            print(f"round {rnd + 1} {engine:15s} {fig['times_s'][0]:6.2f} s", flush=True)
    for acc in figures.values():
        acc["best_s"] = min(acc["times_s"])
        acc["median_s"] = statistics.median(acc["times_s"])
        acc["cpu_s"] = statistics.median(acc["cpus_s"])

    ref = frames.get("duckdb")
    for engine, frame in frames.items():
        if ref is None or engine in ("duckdb", "polars_default"):
            continue
        joined = ref.join(
            frame,
            on=["source_step", "source_name", "target_name"],
            how="full",
            suffix="_o",
            coalesce=True,
        )
        bad_counts = (
            joined.filter(pl.col("value") != pl.col("value_o")).height
            + joined.filter(pl.col("value").is_null() | pl.col("value_o").is_null()).height
        )
        sec_err = joined.select(
            ((pl.col("mean_seconds") - pl.col("mean_seconds_o")).abs()).max()
        ).item()
        print(
            f"{engine} vs duckdb: {joined.height} edges, {bad_counts} differ in count, "
            f"max |mean_seconds diff| = {sec_err}"
        )
        if bad_counts:
            raise SystemExit(f"{engine} disagrees with duckdb")
    return list(figures.values())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engines", default="polars,duckdb,chdb,polars_default")
    ap.add_argument("--data", type=Path)
    ap.add_argument("--child")
    ap.add_argument("--edges-out", type=Path)
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--users", type=int, help="number of users (default: a third of the sessions)")
    ap.add_argument("--order", choices=("user", "time"), default="user", help="rows of the file")
    args = ap.parse_args(argv)

    if args.child:
        _child(args.child, args.data, args.repeat, args.edges_out)
        return

    users = f"_u{args.users}" if args.users else ""
    by_time = "_by_time" if args.order == "time" else ""
    path = args.data or OUT / f"events_{args.events}_s{args.seed}{users}{by_time}.parquet"
    if args.regenerate or not path.exists():
        t0 = time.perf_counter()
        generate(args.events, path, seed=args.seed, users=args.users, order=args.order)
        print(f"generated {path} in {time.perf_counter() - t0:.1f} s")
    figures = compare(path, args.repeat, args.engines.split(","))
    duck = next((f for f in figures if f["engine"] == "duckdb"), None)
    shape = pl_shape(path)
    print(
        f"\n{path.name}: {shape[0]:,} events, {shape[1]:,} users, {shape[2]:,} sessions, "
        f"{'in time order' if args.order == 'time' else 'sorted by user and time'}; "
        f"{args.repeat} rounds, engines interleaved"
    )
    print(
        "\n| engine | wall, best (s) | wall, median (s) | median ratio to DuckDB | "
        "CPU, median (s) | peak RSS (MiB) | RSS after imports (MiB) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for f in figures:
        ratio = f"{f['median_s'] / duck['median_s']:.2f}" if duck else "–"
        print(
            f"| {f['engine']} | {f['best_s']:.2f} | {f['median_s']:.2f} | {ratio} | "
            f"{f['cpu_s']:.2f} | {f['peak_rss_mib']:.0f} | {f['rss_after_imports_mib']:.0f} |"
        )


def pl_shape(path: Path) -> tuple[int, int, int]:
    import polars as pl

    return (
        pl.scan_parquet(path)
        .select(pl.len(), pl.col("user_id").n_unique(), pl.col("session_id").n_unique())
        .collect()
        .row(0)
    )


if __name__ == "__main__":
    main()
