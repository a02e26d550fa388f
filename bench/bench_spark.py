"""Benchmark: the Spark backend (core.spark) vs Polars alone vs a narwhals funnel on Spark.

    flock /tmp/pathlens-heavy.lock python bench/bench_spark.py --events 10000000
    python bench/bench_spark.py --events 1000000 --users 40000        # a quick run

Data: the seeded generator of ``bench/bench_funnels.py`` (heavy-tailed users, visits, funnel-
like event types), plus ``event_type`` (= the GA4 event name), written once to
``bench/out/spark_events_<n>_<users>.parquet``. Workloads, each timed once after a warm-up on
a small file (numba compiled, Spark session started and ``core`` shipped):

* ``funnel``: the 4-step ordered funnel view_item -> add_to_cart -> begin_checkout -> purchase,
  1-day window, by user;
* ``paths``: :class:`PathsParams` defaults (sessions, 5 steps, top 8 nodes per step).

Engines: ``polars`` (``params.compute(pl.scan_parquet(file))`` on this machine),
``spark`` (``core.spark`` on ``local[N]``, ``--partitions`` hash partitions) and, for the
funnel, ``narwhals_spark``: the same first-attempt funnel written once in narwhals (joins and
group-bys, no UDF) run on the same Spark session (and checked on Polars to run as written).
The narwhals funnel counts a user's *first* step-1 event only (what a dataframe-only funnel
can express without a per-entity state machine), so its counts are close to, not equal to,
core's; the Spark backend's counts must equal Polars' (the script fails otherwise).
Results are appended to ``bench/results_spark.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import polars as pl  # noqa: E402

STEPS = ("view_item", "add_to_cart", "begin_checkout", "purchase")
WINDOW = timedelta(days=1)
RESULTS = HERE / "results_spark.md"


def data_file(n_events: int, n_users: int) -> Path:
    """The benchmark's Parquet file (generated once, seeded)."""
    from bench_funnels import generate

    path = HERE / "out" / f"spark_events_{n_events}_{n_users}.parquet"
    if not path.exists():
        raw = path.with_suffix(".raw.parquet")
        generate(raw, n_events, n_users)
        pl.scan_parquet(raw).with_columns(pl.col("event").alias("event_type")).sink_parquet(path)
        raw.unlink()
    return path


def narwhals_funnel(native, steps=STEPS, window_us: int = int(WINDOW.total_seconds() * 1e6)):
    """Users per furthest step of a first-attempt ordered funnel, in narwhals (any backend).

    A user's attempt starts at their first step-1 event; step k is the first step-k event
    after step k-1, within ``window`` of the start. Returns {furthest step: users}.
    """
    import narwhals as nw

    # ``t_us`` (µs since the epoch) is added natively by the caller: narwhals has no
    # datetime-to-epoch conversion on its Spark backend
    ev = nw.from_native(native).select(
        nw.col("user_id"), nw.col("event"), nw.col("t_us").alias("t")
    )
    reached = (
        ev.filter(nw.col("event") == steps[0])
        .group_by("user_id")
        .agg(nw.col("t").min().alias("t1"))
        .with_columns(nw.col("t1").alias("prev"), nw.lit(1).alias("step"))
    )
    for k, name in enumerate(steps[1:], start=2):
        nxt = (
            reached.filter(nw.col("step") == k - 1)
            .join(ev.filter(nw.col("event") == name), on="user_id", how="inner")
            .filter((nw.col("t") >= nw.col("prev")) & (nw.col("t") <= nw.col("t1") + window_us))
            .group_by("user_id")
            .agg(nw.col("t").min().alias("t_k"))
        )
        reached = (
            reached.join(nxt, on="user_id", how="left")
            .with_columns(
                nw.when(nw.col("t_k").is_null()).then(nw.col("step")).otherwise(k).alias("step"),
                nw.when(nw.col("t_k").is_null())
                .then(nw.col("prev"))
                .otherwise(nw.col("t_k"))
                .alias("prev"),
            )
            .drop("t_k")
        )
    counts = reached.group_by("step").agg(nw.len().alias("users")).collect()
    return dict(zip(counts["step"].to_list(), counts["users"].to_list(), strict=True))


def _furthest(result) -> dict[int, int]:
    e = result.entities.filter(~pl.col("excluded")).group_by("furthest_step").len()
    return {int(k): int(v) for k, v in e.iter_rows() if k > 0}


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _once(file: Path, partitions: int, engines: list[str], workloads: list[str], ref: dict):
    """One timed run of every engine and workload, in that order; ``ref`` keeps Polars's
    results for the checks. Returns [(workload, engine, seconds, note)]."""
    from core import FunnelParams, PathsParams
    from core.spark import compute_funnel_spark, compute_paths_spark, get_session

    fp = FunnelParams(steps=list(STEPS), window=WINDOW)
    pp = PathsParams()
    rows = []
    if "polars" in engines:
        if "funnel" in workloads:
            s, ref["funnel"] = _timed(lambda: fp.compute(pl.scan_parquet(file)))
            rows.append(("funnel", "polars", s, f"furthest {_furthest(ref['funnel'])}"))
        if "paths" in workloads:
            s, q = _timed(lambda: pp.compute(pl.scan_parquet(file)))
            ref["paths"] = q
            rows.append(("paths", "polars", s, f"{q.entities:,} sessions, {q.edges.height} edges"))
    spark = get_session()
    if "spark" in engines and "funnel" in workloads:
        s, r = _timed(lambda: compute_funnel_spark(str(file), fp, partitions=partitions))
        if "funnel" in ref and _furthest(r) != _furthest(ref["funnel"]):
            raise SystemExit(
                f"spark funnel differs from polars: {_furthest(r)} vs {_furthest(ref['funnel'])}"
            )
        rows.append(("funnel", "spark", s, f"furthest {dict(sorted(_furthest(r).items()))}"))
    if "spark" in engines and "paths" in workloads:
        s, q = _timed(lambda: compute_paths_spark(str(file), pp, partitions=partitions))
        if "paths" in ref and not q.edges.select("source", "target", "value").equals(
            ref["paths"].edges.select("source", "target", "value")
        ):
            raise SystemExit("spark paths differ from polars")
        rows.append(("paths", "spark", s, f"{q.entities:,} sessions, {q.edges.height} edges"))
    if "narwhals_spark" in engines and "funnel" in workloads:
        from pyspark.sql import functions as F

        sdf = spark.read.parquet(str(file)).withColumn("t_us", F.unix_micros("ts"))
        s, c = _timed(lambda: narwhals_funnel(sdf))
        rows.append(
            ("funnel", "narwhals_spark", s, f"first-attempt furthest {dict(sorted(c.items()))}")
        )
    return rows


def run(
    file: Path,
    partitions: int,
    engines: list[str],
    workloads: tuple[str, ...] = ("funnel", "paths"),
    repeat: int = 1,
) -> list[tuple[str, str, float, str]]:
    """``repeat`` interleaved runs (every engine once per round); per workload and engine the
    median seconds, with every run's figure in the note when ``repeat > 1``."""
    ref: dict = {}
    rounds = [_once(file, partitions, engines, list(workloads), ref) for _ in range(repeat)]
    out = []
    for i, (w, e, _, note) in enumerate(rounds[-1]):
        times = [r[i][2] for r in rounds]
        runs = f"; runs {', '.join(f'{t:.1f}' for t in times)} s" if repeat > 1 else ""
        out.append((w, e, statistics.median(times), note + runs))
    return out


def record(file: Path, n_events: int, n_users: int, partitions: int, rows) -> None:
    import pyspark

    cores = os.environ.get("PATHLENS_SPARK_CORES", "2")
    lines = [
        f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {n_events:,} events, {n_users:,} users",
        "",
        f"`{file.name}`; local[{cores}], {partitions} partitions; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs (shared with other work: figures are indicative); "
        f"polars {pl.__version__}, pyspark {pyspark.__version__}.",
        "",
        "| workload | engine | seconds (median) | vs polars | result |",
        "|---|---|---:|---:|---|",
    ]
    base = {w: s for w, e, s, _ in rows if e == "polars"}
    for w, e, s, note in rows:
        ratio = f"{s / base[w]:.1f}x" if w in base else ""
        lines.append(f"| {w} | {e} | {s:.1f} | {ratio} | {note} |")
    with RESULTS.open("a") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--users", type=int, default=None, help="default events / 25")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--engines", default="polars,spark,narwhals_spark")
    ap.add_argument("--workloads", default="funnel,paths")
    ap.add_argument("--repeat", type=int, default=1, help="interleaved rounds; medians recorded")
    ap.add_argument("--no-record", action="store_true")
    a = ap.parse_args()
    users = a.users or max(1000, a.events // 25)
    engines = a.engines.split(",")
    from core import FunnelParams, PathsParams
    from core.spark import compute_funnel_spark, compute_paths_spark

    warm = data_file(200_000, 8_000)
    fp = FunnelParams(steps=list(STEPS), window=WINDOW)
    fp.compute(pl.scan_parquet(warm))
    compute_funnel_spark(str(warm), fp, partitions=a.partitions)
    compute_paths_spark(str(warm), PathsParams(), partitions=a.partitions)
    # the narwhals funnel runs as written on Polars too
    narwhals_funnel(pl.scan_parquet(warm).with_columns(pl.col("ts").dt.epoch("us").alias("t_us")))
    file = data_file(a.events, users)
    rows = run(file, a.partitions, engines, tuple(a.workloads.split(",")), a.repeat)
    for row in rows:
        print(*row, sep=" | ")
    if not a.no_record:
        record(file, a.events, users, a.partitions, rows)


if __name__ == "__main__":
    main()
