"""Benchmark of user features and segmentation at scale; writes bench/results_segments.md.

    flock /tmp/pathlens-heavy.lock python bench/bench_segments.py            # 1M users
    python bench/bench_segments.py --users 50000 --no-write                  # quick look

Events are generated with seeded numpy (about 10 events per user: 2.5 sessions of 4 events on
average, five latent behaviours), written to a temporary Parquet file, then each stage runs in
its own process so its peak resident memory (``VmHWM``) is its own:

1. ``features``: ``user_features(pl.scan_parquet(...))`` on the whole log;
2. ``fit``: ``fit_segments`` with automatic k (2..8, silhouette on a sample, MiniBatchKMeans
   refinement on every user);
3. ``sample``: the page's path on the bundled 20,000-user sample (features, then fit).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TYPES = ["page_view", "search", "view_item", "add_to_cart", "remove_from_cart",
         "begin_checkout", "purchase", "other"]
# rows: latent behaviour; columns: probability of each event type
TYPE_P = np.array([
    [0.20, 0.05, 0.40, 0.15, 0.02, 0.06, 0.10, 0.02],  # buyers
    [0.20, 0.30, 0.35, 0.06, 0.02, 0.02, 0.03, 0.02],  # searchers
    [0.15, 0.05, 0.70, 0.02, 0.01, 0.00, 0.00, 0.07],  # browsers
    [0.15, 0.05, 0.35, 0.25, 0.12, 0.05, 0.01, 0.02],  # cart abandoners
    [0.70, 0.05, 0.20, 0.00, 0.00, 0.00, 0.00, 0.05],  # bouncers
])
SESSIONS_LAM = np.array([3.0, 1.5, 2.0, 1.5, 0.0])  # extra sessions beyond the first
EVENTS_MU = np.array([3.5, 3.0, 4.0, 3.0, 1.0])  # extra events beyond the first
P_MOBILE = np.array([0.3, 0.5, 0.5, 0.85, 0.6])
CATEGORIES = [f"cat{i:02d}" for i in range(12)]


def generate(users: int, seed: int) -> pl.DataFrame:
    """A canonical event log of ``users`` users (about 10 events each)."""
    rng = np.random.default_rng(seed)
    utype = rng.integers(0, 5, size=users)
    n_sess = 1 + rng.poisson(SESSIONS_LAM[utype])
    sess_user = np.repeat(np.arange(users), n_sess)
    sess_no = np.arange(sess_user.size) - np.repeat(np.cumsum(n_sess) - n_sess, n_sess) + 1
    s_type = utype[sess_user]
    # sessions on distinct random days of a 90-day period, in order within each user
    day = np.floor(rng.uniform(0, 90, size=sess_user.size) / n_sess[sess_user]
                   + (sess_no - 1) * 90 / n_sess[sess_user])
    sess_start = (day * 86400 + rng.uniform(0, 86400 - 3600, size=sess_user.size))
    mobile = rng.random(sess_user.size) < P_MOBILE[s_type]
    n_ev = 1 + rng.poisson(EVENTS_MU[s_type])
    ev_sess = np.repeat(np.arange(sess_user.size), n_ev)
    e_type = s_type[ev_sess]
    u = rng.random(ev_sess.size)
    cdf = np.cumsum(TYPE_P, axis=1)
    kind = np.minimum((u[:, None] > cdf[e_type]).sum(axis=1), len(TYPES) - 1).astype(np.int8)
    offset = np.cumsum(rng.exponential(30.0, size=ev_sess.size))
    first = np.repeat(np.cumsum(n_ev) - n_ev, n_ev)
    offset = offset - offset[first]
    ts_us = ((sess_start[ev_sess] + offset) * 1e6).astype(np.int64) + 1_780_272_000_000_000
    has_item = np.isin(kind, [2, 3, 4, 6])
    product = rng.integers(0, 600, size=ev_sess.size)
    price = np.round(np.exp(rng.normal(3.5, 0.8, size=ev_sess.size)), 2)
    frame = pl.DataFrame({
        "_user": sess_user[ev_sess].astype(np.int64),
        "_sess": sess_no[ev_sess].astype(np.int64),
        "_gsess": ev_sess.astype(np.int64),
        "ts": pl.Series(ts_us).cast(pl.Datetime("us", "UTC")),
        "_kind": kind,
        "_item": np.where(has_item, product, -1),
        "price": np.where(has_item, price, np.nan),
        "_mobile": mobile[ev_sess],
    })
    del sess_user, ev_sess, e_type, u, kind, offset, first, ts_us, product, price
    kind_name = pl.col("_kind").replace_strict(dict(enumerate(TYPES)), return_dtype=pl.String)
    user = pl.format("U{}", pl.col("_user").cast(pl.String).str.zfill(7))
    out = frame.select(
        user.alias("user_id"),
        pl.format("{}-{}", user, pl.col("_sess")).alias("session_id"),
        pl.col("ts"),
        kind_name.alias("event"),
        kind_name.alias("event_type"),
        pl.when(pl.col("_item") >= 0).then(pl.format("P{}", pl.col("_item"))).alias(
            "product_id"),
        pl.when(pl.col("_item") >= 0).then(
            (pl.col("_item") % 12).replace_strict(dict(enumerate(CATEGORIES)),
                                                  return_dtype=pl.String)).alias("category"),
        pl.lit(None, dtype=pl.String).alias("brand"),
        pl.col("price").fill_nan(None),
        pl.when(pl.col("_kind") == 6).then(pl.lit(1, dtype=pl.Int64)).alias("quantity"),
        pl.when(pl.col("_kind") == 6).then(pl.format("O{}", pl.col("_gsess"))).alias("order_id"),
        pl.when(pl.col("_mobile")).then(pl.lit("mobile")).otherwise(pl.lit("desktop"))
        .alias("device"),
    )
    return out


def _peak_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ``ru_maxrss``, which Linux carries
    over from the parent through fork and exec, it starts afresh in a new program)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage(name: str, path: str, out: str, seed: int) -> None:
    """Run one stage in this process and write its figures as JSON to ``out``."""
    from core import fit_segments, user_features

    res: dict = {"stage": name}
    base = _peak_mib()
    t0 = time.perf_counter()
    if name == "features":
        feats = user_features(pl.scan_parquet(path))
        res.update(users=feats.height, columns=feats.width - 1)
        feats.write_parquet(path.replace("events", "features"))
    elif name == "fit":
        feats = pl.read_parquet(path.replace("events", "features"))
        t_read = time.perf_counter()
        seg = fit_segments(feats, seed=seed)
        res.update(users=feats.height, k=seg.k, silhouette=seg.silhouette, method=seg.method,
                   scores=seg.scores.to_dicts(), sizes=seg.sizes.to_dicts(),
                   read_s=t_read - t0)
        t0 = t_read
    elif name == "sample":
        from core.store import SAMPLE_ID, DatasetStore

        events = DatasetStore().scan(SAMPLE_ID).collect()
        t0 = time.perf_counter()
        feats = user_features(events)
        t_feat = time.perf_counter()
        seg = fit_segments(feats, seed=seed)
        res.update(users=feats.height, events=events.height, features_s=t_feat - t0,
                   fit_s=time.perf_counter() - t_feat, k=seg.k, silhouette=seg.silhouette)
    res["seconds"] = time.perf_counter() - t0
    res["peak_rss_mib"] = _peak_mib()
    res["rss_before_mib"] = base
    Path(out).write_text(json.dumps(res, default=str))


def run_stage(name: str, path: str, seed: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = fh.name
    subprocess.run([sys.executable, __file__, "--stage", name, "--path", path, "--out", out,
                    "--seed", str(seed)], check=True)
    res = json.loads(Path(out).read_text())
    os.unlink(out)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        stage(args.stage, args.path, args.out, args.seed)
        return

    with tempfile.TemporaryDirectory(prefix="bench-segments-") as tmp:
        path = str(Path(tmp) / "events.parquet")
        t0 = time.perf_counter()
        events = generate(args.users, args.seed)
        gen_s = time.perf_counter() - t0
        n_events, n_sessions = events.height, events["session_id"].n_unique()
        events.write_parquet(path)
        del events
        print(f"generated {n_events:,} events, {n_sessions:,} sessions for {args.users:,} users "
              f"in {gen_s:.1f} s", flush=True)
        feats = run_stage("features", path, args.seed)
        print(f"features: {feats['seconds']:.1f} s, peak {feats['peak_rss_mib']:.0f} MiB",
              flush=True)
        fit = run_stage("fit", path, args.seed)
        print(f"fit: {fit['seconds']:.1f} s, k={fit['k']}, silhouette={fit['silhouette']:.3f}, "
              f"{fit['method']}, peak {fit['peak_rss_mib']:.0f} MiB", flush=True)
    sample = run_stage("sample", "", args.seed)
    print(f"sample: features {sample['features_s']:.2f} s, fit {sample['fit_s']:.2f} s, "
          f"k={sample['k']}, peak {sample['peak_rss_mib']:.0f} MiB", flush=True)
    if args.no_write:
        return
    write_results(args, n_events, n_sessions, gen_s, feats, fit, sample)


def write_results(args, n_events, n_sessions, gen_s, feats, fit, sample) -> None:
    import sklearn

    scores = "\n".join(
        f"| {s['k']} | {s['silhouette']:.3f} | {s['inertia']:.3f} | {'yes' if s['chosen'] else ''} |"
        for s in fit["scores"])
    text = f"""# Segments benchmark

Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `bench/bench_segments.py` on
{platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs (run under
`flock /tmp/pathlens-heavy.lock`), Python {platform.python_version()}, polars {pl.__version__},
scikit-learn {sklearn.__version__}. Each stage runs in its own process; "peak memory" is that
process's peak resident set (`VmHWM`), including the Python interpreter and libraries.

## 1M users (synthetic, seeded)

{args.users:,} users, {n_events:,} events ({n_events / args.users:.1f} per user; about 10 per
user was chosen so the log fits comfortably in the shared 24 GiB machine), {n_sessions:,}
sessions, 5 latent behaviours; generated in {gen_s:.1f} s and read back from Parquet.

| stage | time | peak memory |
|---|---|---|
| `user_features(pl.scan_parquet(...))` | {feats['seconds']:.1f} s | {feats['peak_rss_mib']:,.0f} MiB |
| `fit_segments(features)`, automatic k (2..8) | {fit['seconds']:.1f} s | {fit['peak_rss_mib']:,.0f} MiB |

The fit chose k = {fit['k']} (silhouette {fit['silhouette']:.3f} on a
{sample_sizes()} sample) and refined it on every user with `{fit['method']}`.

| k | silhouette | inertia per user | chosen |
|---|---|---|---|
{scores}

The synthetic behaviours differ only in their mix of event types and overlap heavily, so the
silhouette has no strong k here; how well segments recover planted behaviours is measured on
the bundled sample instead (`tests/test_segments_sample.py`: adjusted Rand index against its
five planted personas).

## The page's path on the bundled sample

{sample['users']:,} users, {sample['events']:,} events: `user_features` {sample['features_s']:.2f} s,
`fit_segments` (automatic k) {sample['fit_s']:.2f} s, k = {sample['k']}, silhouette
{sample['silhouette']:.3f}; peak {sample['peak_rss_mib']:,.0f} MiB. The page caches both
results per dataset, filters and parameters, so only the first view of a setting pays this.
"""
    (ROOT / "bench" / "results_segments.md").write_text(text)
    print("wrote bench/results_segments.md")


def sample_sizes() -> str:
    from core.segments import SELECTION_SAMPLE, SILHOUETTE_SAMPLE

    return f"{SILHOUETTE_SAMPLE:,}-user (of a {SELECTION_SAMPLE:,}-user selection)"


if __name__ == "__main__":
    main()
