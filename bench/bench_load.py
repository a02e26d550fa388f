"""Benchmark: ``core.load_events`` against a plain ``pl.read_csv`` of the same CSV.

What is measured, for a 1M- and a 10M-event CSV in the Kaggle REES46 layout
(``event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session``,
times like ``2019-10-01 00:00:04 UTC``, rows in time order as in the real export, 0.05% exact
duplicate rows):

- ``read_csv``: ``pl.read_csv(path)`` with default type inference; it parses nothing else
  (the time stays text, nothing is sorted, no sessions, no accounting);
- ``load_events``: the whole loader: format detection, the lazy pass that parses every column,
  drop accounting, exact de-duplication, session checks, event types (rows in file order since
  issue 14; the store sorts a dataset by user and time when it is saved, not timed here).

Each measurement runs in its own child process, so its peak RSS (``VmHWM``) is its own;
the idle RSS of a child that has only imported polars and ``core.loader`` is reported too.
``read_csv`` and ``load_events`` alternate over ``--repeat`` rounds (they share the background
load); the table gives the best and the median wall time, and the ratio of the medians.

Run (queued behind other heavy jobs)::

    flock /tmp/pathlens-heavy.lock python bench/bench_load.py --events 1000000 10000000

Where the time goes (one fresh process per run, wall seconds of each loader step; printed only)::

    flock /tmp/pathlens-heavy.lock python bench/bench_load.py --events 10000000 --phases

Wide files (issue 19: "10,000 columns take 12-24 s to load")::

    python bench/bench_load.py --wide 10000

loads a 2-row CSV of ``user_id,timestamp,event`` and 9,997 property columns (a third text, a
third decimals, a third integers) and prints the best wall time; it does not rewrite the results
file (the figures are recorded by hand in its Notes).

The data are synthetic and seeded (numpy ``default_rng(seed)``), written once to ``bench/out/``
(git-ignored). Results are printed and written to ``bench/results_load.md`` (its
``## Notes`` section, written by hand, is kept).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results_load.md"
sys.path.insert(0, str(ROOT))

CATEGORIES = (
    "electronics.smartphone",
    "appliances.kitchen.washer",
    "computers.notebook",
    "apparel.shoes",
    "furniture.living_room.sofa",
    "electronics.audio.headphone",
)
BRANDS = ("samsung", "apple", "xiaomi", "huawei", "lucente", "bosch", "sony", "acer")


def generate(path: Path, events: int, seed: int = 7) -> None:
    """Write a REES46-like CSV of ``events`` rows (time order, like the real export)."""
    import polars as pl

    rng = np.random.default_rng(seed)
    users = max(1, events // 20)
    n_sessions = max(1, events // 6)
    session_user = rng.integers(500_000_000, 500_000_000 + users, n_sessions)
    session_start = rng.integers(0, 31 * 86_400, n_sessions)
    session = rng.integers(0, n_sessions, events)
    ts = session_start[session] + rng.integers(0, 1_800, events)
    kind = rng.choice(np.array(["view", "cart", "purchase"]), events, p=[0.93, 0.05, 0.02])
    product = rng.integers(1_000_000, 1_050_000, events)
    cat = rng.integers(0, len(CATEGORIES) + 2, events)  # two in eight have no category_code
    brand = rng.integers(0, len(BRANDS) + 1, events)
    raw = rng.bytes(16 * n_sessions)
    uuids = [str(uuid.UUID(bytes=raw[16 * i : 16 * i + 16], version=4)) for i in range(n_sessions)]
    df = pl.DataFrame(
        {
            "ts": ts,
            "event_type": kind,
            "product_id": product,
            "category_id": 2_053_013_552_326_770_000 + cat.astype(np.int64) * 17,
            "cat": cat,
            "brand_i": brand,
            "price": np.round(rng.gamma(2.0, 60.0, events), 2),
            "user_id": session_user[session],
            "user_session": pl.Series(uuids).gather(session),
        }
    )
    cats = pl.Series(list(CATEGORIES) + [None, None], dtype=pl.String)
    brands = pl.Series(list(BRANDS) + [None], dtype=pl.String)
    df = df.with_columns(
        pl.from_epoch(pl.col("ts") + 1_569_888_000, "s")
        .dt.strftime("%Y-%m-%d %H:%M:%S UTC")
        .alias("event_time"),
        pl.lit(cats).gather(pl.col("cat")).alias("category_code"),
        pl.lit(brands).gather(pl.col("brand_i")).alias("brand"),
    ).sort("ts", maintain_order=True)
    dup = df.sample(fraction=0.0005, seed=seed)
    df = pl.concat([df, dup]).sort("ts", maintain_order=True)
    df.select(
        "event_time",
        "event_type",
        "product_id",
        "category_id",
        "category_code",
        "brand",
        "price",
        "user_id",
        "user_session",
    ).write_csv(path)


CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import polars as pl
from core.loader import load_events
idle = next(int(line.split()[1]) for line in open("/proc/self/status")
            if line.startswith("VmHWM:"))
what, path = sys.argv[1], sys.argv[2]
t = time.perf_counter()
if what == "read_csv":
    df = pl.read_csv(path)
    rows = df.height
elif what == "idle":
    rows = 0
else:
    res = load_events(path)
    rows = res.events.height
    df = res.events
wall = time.perf_counter() - t
# VmHWM: unlike ru_maxrss it is not inherited from a parent that generated the file
peak = next(int(line.split()[1]) for line in open("/proc/self/status")
            if line.startswith("VmHWM:"))
print(json.dumps({{"wall_s": wall, "peak_mib": peak / 1024, "idle_mib": idle / 1024,
                  "rows": rows, "frame_mib": (df.estimated_size() / 2**20) if rows else 0}}))
"""


PHASES = r"""
import sys, time
sys.path.insert(0, {root!r})
import core.loader.engine as E
spent = {{}}
def timed(name):
    f = getattr(E, name)
    def run(*a, **k):
        t = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
    setattr(E, name, run)
for name in {names!r}:
    timed(name)
from core.loader import load_events
t = time.perf_counter()
load_events(sys.argv[1])
total = time.perf_counter() - t
print("  ".join(f"{{k}} {{v:.2f}}" for k, v in spent.items()) + f"  total {{total:.2f}}")
"""
#: The loader's steps timed by ``--phases`` (wall seconds each, in one fresh process):
#: ``_finish`` is everything after the pass, the others are parts of it (the shared-session
#: look runs in a thread meanwhile, so the parts may add up to less).
PHASE_NAMES = (
    "plan_reading",
    "_read",
    "_finish",
    "account_rows",
    "_deduplicate",
    "_stray",
    "_sessions",
    "_event_types",
    "_typed_properties",
    "_filter_columns",
)


def phases(path: Path) -> str:
    """One ``load_events`` of ``path`` in a fresh process, with the wall time of each step."""
    code = PHASES.format(root=str(ROOT), names=PHASE_NAMES)
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


def generate_wide(path: Path, columns: int) -> None:
    """A 2-row CSV with ``columns`` columns: user, time, event and property columns."""
    n = columns - 3
    names = ["user_id", "timestamp", "event"] + [f"prop_{i}" for i in range(n)]
    first = ["u1", "1706702400", "view"] + [str(i) for i in range(n)]
    second = ["u2", "1706702460", "cart"] + [
        (f"x{i}" if i % 3 == 0 else f"{i}.5" if i % 3 == 1 else str(i)) for i in range(n)
    ]
    path.write_text("\n".join(",".join(r) for r in (names, first, second)) + "\n")


#: The 1-minute load average seen before each measurement (other jobs share the machine).
LOADS: list[float] = []


def measure(what: str, path: Path) -> dict:
    LOADS.append(os.getloadavg()[0])
    code = CHILD.format(root=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code, what, str(path)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(what: str, path: Path, repeat: int) -> dict:
    runs = [measure(what, path) for _ in range(repeat)]
    return min(runs, key=lambda r: r["wall_s"]) | {"peak_mib": max(r["peak_mib"] for r in runs)}


def interleaved(path: Path, repeat: int) -> tuple[dict, dict]:
    """``read_csv`` and ``load_events`` in alternating fresh processes, ``repeat`` rounds (so
    they share the background load): best and median wall time, the largest peak RSS."""
    import statistics

    runs: dict[str, list[dict]] = {"read_csv": [], "load_events": []}
    for _ in range(repeat):
        for what, acc in runs.items():
            acc.append(measure(what, path))
            print(
                f"  {what:12s} {acc[-1]['wall_s']:6.2f} s  {acc[-1]['peak_mib']:7,.0f} MiB"
                f"  (load average {LOADS[-1]:.1f})",
                flush=True,
            )
    return tuple(  # type: ignore[return-value]
        min(acc, key=lambda r: r["wall_s"])
        | {
            "median_s": statistics.median(r["wall_s"] for r in acc),
            "peak_mib": max(r["peak_mib"] for r in acc),
        }
        for acc in runs.values()
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--wide", type=int, metavar="COLUMNS", help="time a 2-row CSV this wide")
    ap.add_argument(
        "--phases", action="store_true", help="print each loader step's time (one run per size)"
    )
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.phases:
        for n in args.events:
            path = OUT / f"rees46_like_{n}.csv"
            if not path.exists():
                generate(path, n)
            for _ in range(args.repeat):
                print(f"{n:,} events: {phases(path)}", flush=True)
        return
    if args.wide:
        path = OUT / f"wide_{args.wide}.csv"
        generate_wide(path, args.wide)
        ours = best("load_events", path, args.repeat)
        print(
            f"{args.wide:,} columns x 2 rows: load_events {ours['wall_s']:.2f} s (best of "
            f"{args.repeat}), peak RSS {ours['peak_mib']:,.0f} MiB"
        )
        return
    lines = []
    for n in args.events:
        path = OUT / f"rees46_like_{n}.csv"
        if not path.exists():
            t = time.perf_counter()
            generate(path, n)
            print(f"generated {path.name} in {time.perf_counter() - t:.1f} s", flush=True)
        size = path.stat().st_size / 2**20
        idle = measure("idle", path)
        base, ours = interleaved(path, args.repeat)
        line = (
            f"| {n:,} | {size:,.0f} | {base['wall_s']:.2f} / {base['median_s']:.2f} | "
            f"{ours['wall_s']:.2f} / {ours['median_s']:.2f} | "
            f"{ours['median_s'] / base['median_s']:.2f}x | {base['peak_mib']:,.0f} | "
            f"{ours['peak_mib']:,.0f} | {ours['peak_mib'] / base['peak_mib']:.2f}x | "
            f"{idle['idle_mib']:,.0f} | "
            f"{base['frame_mib']:,.0f} | {ours['frame_mib']:,.0f} | {ours['rows']:,} |"
        )
        print(line, flush=True)
        lines.append(line)
    header = (
        "| events | CSV MiB | read_csv s, best / median | load_events s, best / median | "
        "time ratio (medians) | read_csv peak RSS MiB | load_events peak RSS MiB | "
        "memory ratio | idle RSS MiB | read_csv frame MiB | "
        "events frame MiB | rows kept |\n|" + "---|" * 12
    )
    table = header + "\n" + "\n".join(lines)
    print(table)
    print(f"1-minute load average before the runs: {min(LOADS):.1f} to {max(LOADS):.1f}")
    if not args.no_write:
        cpu = f"{os.cpu_count()} CPU, {platform.processor() or platform.machine()}"
        import polars as pl

        notes = ""
        if RESULTS.exists() and "\n## Notes" in RESULTS.read_text():
            notes = "\n## Notes" + RESULTS.read_text().split("\n## Notes", 1)[1]
        RESULTS.write_text(
            "# Loader benchmark\n\n"
            f"`python bench/bench_load.py --events {' '.join(map(str, args.events))} "
            f"--repeat {args.repeat}` on {cpu}, Python {platform.python_version()}, "
            f"polars {pl.__version__}; {args.repeat} rounds, `read_csv` and `load_events` "
            "alternating, each run in its own process (peak RSS is that process's VmHWM, "
            "the largest over the runs); ratios of medians; 1-minute load average before the "
            f"runs {min(LOADS):.1f} to {max(LOADS):.1f}.\n\n" + table + "\n" + notes
        )
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
