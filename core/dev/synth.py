"""Seeded generator of a realistic shop's event log with planted, documented ground truth.

``python -m core.dev.synth`` writes ``sample_data/events.csv.gz`` (the bundled sample),
``sample_data/user_personas.csv.gz`` (user_id, persona) and ``sample_data/ground_truth.json``.

What is planted (and what the pages must recover):

* **Personas** (for K-means): five behaviours with different visit frequency, session depth,
  search use, cart use, removals, purchase propensity, price level and device.
* **Bundles** (for basket rules): when an order holds a bundle's anchor product, each companion
  is added to the same order with the bundle's probability.
* **Cart-abandonment drivers** (for the model): the purchase decision of a cart session is a
  logistic function of persona, device, channel, cart value, removals, long pauses, night-time
  visits and whether the user bought before; the coefficients are written to the ground truth.
* **Funnel rates**: the planted step probabilities and the realised session-level counts of
  ``view_item -> add_to_cart -> begin_checkout -> purchase``.

The output uses GA4 event names and one row per item for cart and purchase events (one
``order_id`` per order), like a flattened GA4/BigQuery export.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl

from core.dev.shop_spec import (
    ABANDONMENT_DRIVERS,
    BUNDLES,
    CATEGORIES,
    COUNTRIES,
    HOUR_WEIGHTS,
    OTHER_EVENTS,
    P_CHECKOUT_IF_ABANDONING,
    P_CHECKOUT_IF_BUYING,
    PERSONAS,
    Persona,
)

__all__ = [
    "ABANDONMENT_DRIVERS", "BUNDLES", "CATEGORIES", "COUNTRIES", "HOUR_WEIGHTS", "OTHER_EVENTS",
    "P_CHECKOUT_IF_ABANDONING", "P_CHECKOUT_IF_BUYING", "PERSONAS", "SAMPLE_DIR", "START",
    "Persona", "generate_shop", "main", "write_sample",
]

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"
START = datetime(2026, 6, 1, tzinfo=timezone.utc)
_HOUR_P = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()


def _catalogue(rng: np.random.Generator, n_per_category: int = 50) -> pl.DataFrame:
    rows = []
    pid = 1
    bundle_names = {a: c for a, c, _, _ in BUNDLES}
    for anchor, cat, comps, _ in BUNDLES:
        for name, ccat in [(anchor, cat), *comps]:
            bundle_names[name] = ccat
    for cat, (median, brands) in CATEGORIES.items():
        for i in range(n_per_category):
            price = float(np.round(median * math.exp(rng.normal(0, 0.5)), 2))
            rows.append((f"P{pid:05d}", f"{cat.split('.')[-1].title()} item {i + 1}", cat,
                         brands[int(rng.integers(len(brands)))], price))
            pid += 1
    for name, cat in bundle_names.items():
        median, brands = CATEGORIES[cat]
        price = float(np.round(median * math.exp(rng.normal(0, 0.3)), 2))
        rows.append((f"P{pid:05d}", name, cat, brands[int(rng.integers(len(brands)))], price))
        pid += 1
    cat = pl.DataFrame(rows, schema=["product_id", "name", "category", "brand", "price"],
                       orient="row")
    # Zipf-like popularity; bundle anchors are moderately popular so their orders are common.
    pop = 1.0 / np.arange(1, cat.height + 1) ** 0.8
    pop = rng.permutation(pop)
    is_bundle = cat["name"].is_in(list(bundle_names)).to_numpy()
    is_anchor = cat["name"].is_in([b[0] for b in BUNDLES]).to_numpy()
    pop[is_bundle] = np.quantile(pop, 0.6)
    pop[is_anchor] = 2.5 * np.quantile(pop, 0.99)
    return cat.with_columns(pl.Series("popularity", pop))


def _choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


@dataclass(frozen=True)
class _Shop:
    """The catalogue as arrays, and what the simulation needs from it."""

    pids: list[str]
    names: list[str]
    cats: list[str]
    brands: list[str]
    prices: np.ndarray
    by_name: dict[str, int]
    #: anchor product index -> (companion indices, probability each joins the order)
    anchors: dict[int, tuple[list[int], float]]
    browse_pool: np.ndarray
    #: persona -> item sampling weights (popularity times price preference)
    item_p: dict[str, np.ndarray]


def _shop(rng: np.random.Generator) -> _Shop:
    cat = _catalogue(rng)
    names = cat["name"].to_list()
    prices = cat["price"].to_numpy()
    pop = cat["popularity"].to_numpy()
    log_price = np.log(prices)
    lp_z = (log_price - log_price.mean()) / log_price.std()
    by_name = {n: i for i, n in enumerate(names)}
    # companions are sold on their own too (rarely), so rules must find the lift, not a tautology
    browse_pool = np.arange(cat.height)
    item_p = {}
    for name, pr in PERSONAS.items():
        w = pop[browse_pool] * np.exp(pr.price_level * 0.8 * lp_z[browse_pool])
        item_p[name] = w / w.sum()
    return _Shop(
        pids=cat["product_id"].to_list(), names=names, cats=cat["category"].to_list(),
        brands=cat["brand"].to_list(), prices=prices, by_name=by_name,
        anchors={by_name[a]: ([by_name[c] for c, _ in comps], p) for a, _, comps, p in BUNDLES},
        browse_pool=browse_pool, item_p=item_p,
    )


@dataclass(frozen=True)
class _Visit:
    """Who, where and when of one session (the columns every event of it carries)."""

    uid: str
    sid: str
    device: str
    country: str
    channel: str
    hour: int
    t: float


@dataclass
class _Log:
    """The event columns being written, and the counts the ground truth reports."""

    cols: dict[str, list] = field(default_factory=lambda: {k: [] for k in (
        "event_time", "event_name", "user_id", "session_id", "product_id", "quantity",
        "order_id", "device", "country", "channel", "_item")})
    funnel: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("sessions", "view_item", "add_to_cart", "begin_checkout", "purchase"), 0))
    n_orders: int = 0
    cart_sessions: int = 0
    abandoned: int = 0

    def emit_session(self, visit: _Visit, ev: list[tuple], gaps: np.ndarray) -> None:
        """Append a session's events; lines of one order share the first line's time."""
        t_now = visit.t
        for i, e in enumerate(ev):
            if i > 0 and not (e[0] == "purchase" and ev[i - 1][0] == "purchase"):
                t_now += gaps[i]
            row = (t_now, e[0], visit.uid, visit.sid, e[1], e[2], e[3] if len(e) > 3 else None,
                   visit.device, visit.country, visit.channel)
            for k, v in zip(_EMIT_ORDER, row, strict=True):
                self.cols[k].append(v)


_EMIT_ORDER = ("event_time", "event_name", "user_id", "session_id", "_item", "quantity",
               "order_id", "device", "country", "channel")


def _simulate_user(rng: np.random.Generator, shop: _Shop, log: _Log, u: int, pname: str,
                   days: int) -> None:
    """Draw one user's sessions over the period and write their events to ``log``."""
    pr = PERSONAS[pname]
    uid = f"U{u + 1:06d}"
    country = _choice(rng, COUNTRIES)
    n_sess = 1 if pr.sessions_mean <= 1 else max(1, int(rng.poisson(pr.sessions_mean)))
    # session start days spread over the period, each at a plausible hour
    day_offsets = np.sort(rng.uniform(0, days, size=n_sess)).astype(int)
    bought_before = False
    user_mobile = rng.random() < pr.p_mobile
    for s in range(n_sess):
        hour = int(rng.choice(24, p=_HOUR_P))
        t = START.timestamp() + day_offsets[s] * 86400 + hour * 3600 + rng.uniform(0, 3600)
        if t >= START.timestamp() + days * 86400.0:
            continue
        mobile = user_mobile if rng.random() < 0.85 else not user_mobile
        device = "mobile" if mobile else ("desktop" if rng.random() < 0.85 else "tablet")
        visit = _Visit(uid, f"{uid}-S{s + 1}", device, country, _choice(rng, pr.channels),
                       hour, t)
        bought_before |= _simulate_session(rng, shop, log, pname, visit, bought_before)


def _browse(rng: np.random.Generator, shop: _Shop, pname: str,
            bought_before: bool) -> tuple[list[tuple], list[int], int]:
    """Landing, searches, product views, adds and removals: ``(events, cart, n_removes)``."""
    pr = PERSONAS[pname]
    ev: list[tuple] = [("page_view", None, None)]  # (name, item, qty[, order])
    if rng.random() < 0.15:
        ev.append(("login" if bought_before else "view_promotion", None, None))
    n_search = int(rng.poisson(pr.search_mean))
    n_views = int(rng.poisson(pr.views_mean))
    if pname == "bouncer":
        n_views = min(n_views, 1)
    cart: list[int] = []
    ev += [("search", None, None)] * n_search
    items = rng.choice(shop.browse_pool, size=n_views, p=shop.item_p[pname]) if n_views else []
    for it in items:
        ev.append(("view_item", int(it), None))
        if rng.random() < pr.p_cart:
            ev.append(("add_to_cart", int(it), 1 + int(rng.random() < 0.15)))
            cart.append(int(it))
            if rng.random() < 0.1:
                ev.append(("add_to_wishlist", int(it), None))
    n_removes = 0
    if cart and rng.random() < pr.p_remove * 1.5:
        for it in list(cart):
            if rng.random() < pr.p_remove and len(cart) > 0:
                ev.append(("remove_from_cart", it, 1))
                cart.remove(it)
                n_removes += 1
    return ev, cart, n_removes


def _purchase_logit(pname: str, visit: _Visit, value: float, n_removes: int,
                    long_pause: bool, bought_before: bool) -> float:
    """The planted purchase decision of a cart session (logit scale)."""
    return (ABANDONMENT_DRIVERS["intercept"] + PERSONAS[pname].purchase_bias
            + ABANDONMENT_DRIVERS["mobile"] * (visit.device == "mobile")
            + ABANDONMENT_DRIVERS["paid_social"] * (visit.channel == "paid_social")
            + ABANDONMENT_DRIVERS["log2_cart_value_over_100"]
            * math.log2(max(value, 1.0) / 100.0)
            + ABANDONMENT_DRIVERS["per_remove_from_cart"] * n_removes
            + ABANDONMENT_DRIVERS["long_pause_over_5min"] * long_pause
            + ABANDONMENT_DRIVERS["night_00_05"] * (visit.hour < 5)
            + ABANDONMENT_DRIVERS["bought_before"] * bought_before)


def _order_lines(rng: np.random.Generator, shop: _Shop, cart: list[int]) -> list[int]:
    """The cart's distinct items plus the bundle companions that join the order."""
    lines = list(dict.fromkeys(cart))
    for a in list(lines):
        if a in shop.anchors:
            comps, p = shop.anchors[a]
            lines += [c for c in comps if c not in lines and rng.random() < p]
    return lines


def _checkout(rng: np.random.Generator, shop: _Shop, log: _Log, ev: list[tuple],
              cart: list[int], logit: float | None) -> bool:
    """Decide a cart session and append its checkout and order lines; True if it bought."""
    bought = logit is not None and rng.random() < 1 / (1 + math.exp(-logit))
    if rng.random() < 0.2:
        ev.append(("view_cart", None, None))
    if bought or (cart and rng.random() < P_CHECKOUT_IF_ABANDONING):
        ev.append(("begin_checkout", None, None))
        log.funnel["begin_checkout"] += 1
    if not bought:
        log.abandoned += 1
        return False
    log.n_orders += 1
    order = f"O{log.n_orders:07d}"
    for it in _order_lines(rng, shop, cart):
        ev.append(("purchase", it, 1 + int(rng.random() < 0.1), order))
    log.funnel["purchase"] += 1
    return True


def _simulate_session(rng: np.random.Generator, shop: _Shop, log: _Log, pname: str,
                      visit: _Visit, bought_before: bool) -> bool:
    """Simulate one session and write its events; return whether it ended in a purchase."""
    log.funnel["sessions"] += 1
    ev, cart, n_removes = _browse(rng, shop, pname, bought_before)
    if any(e[0] == "view_item" for e in ev):
        log.funnel["view_item"] += 1
    had_cart = any(e[0] == "add_to_cart" for e in ev)
    # timing: exponential dwell, occasional long pause (under the 30-minute gap)
    gaps = rng.exponential(PERSONAS[pname].dwell_s, size=len(ev) + 3)
    long_pause = False
    if len(ev) > 2 and rng.random() < 0.12:
        k = int(rng.integers(1, len(ev)))
        gaps[k] = rng.uniform(330, 1500)
        long_pause = True
    bought = False
    if had_cart:
        log.funnel["add_to_cart"] += 1
        log.cart_sessions += 1
        value = float(sum(shop.prices[i] for i in cart)) if cart else 0.0
        logit = (_purchase_logit(pname, visit, value, n_removes, long_pause, bought_before)
                 if cart else None)
        bought = _checkout(rng, shop, log, ev, cart, logit)
    log.emit_session(visit, ev, gaps)
    return bought


def _events_frame(log: _Log, shop: _Shop) -> pl.DataFrame:
    """The written columns as the events table (item columns null where no item)."""
    cols = log.cols
    idx = np.array([-1 if i is None else i for i in cols["_item"]])
    has = idx >= 0
    safe = np.where(has, idx, 0)

    def item_col(values: list[str]) -> pl.Series:
        return pl.Series(np.array(values, dtype=object)[safe]).cast(pl.String)

    events = pl.DataFrame({
        "event_time": pl.Series(np.array(cols["event_time"]) * 1e6).cast(pl.Int64)
        .cast(pl.Datetime("us", "UTC")),
        "event_name": cols["event_name"],
        "user_id": cols["user_id"],
        "session_id": cols["session_id"],
        "product_id": item_col(shop.pids),
        "product_name": item_col(shop.names),
        "category": item_col(shop.cats),
        "brand": item_col(shop.brands),
        "price": shop.prices[safe],
        "quantity": pl.Series(cols["quantity"], dtype=pl.Int64),
        "order_id": pl.Series(cols["order_id"], dtype=pl.String),
        "device": cols["device"],
        "country": cols["country"],
        "channel": cols["channel"],
    })
    mask = pl.Series(has)
    return events.with_columns(
        [pl.when(mask).then(pl.col(c)).otherwise(None).alias(c)
         for c in ("product_id", "product_name", "category", "brand", "price")]
    ).sort(["user_id", "event_time"], maintain_order=True)


def _ground_truth(*, seed: int, users: int, days: int, events: pl.DataFrame,
                  personas: pl.DataFrame, shop: _Shop, log: _Log) -> dict:
    """The planted ground truth and the realised counts (written to ground_truth.json)."""
    return {
        # the name the committed sample records; kept so regenerating it is byte-identical
        "generator": "core.synth.generate_shop",
        "seed": seed,
        "users": users,
        "days": days,
        "start": START.isoformat(),
        "events": events.height,
        "personas": {k: asdict(v) for k, v in PERSONAS.items()},
        # first-appearance order: the same seed writes the same bytes
        "persona_counts": dict(
            personas.group_by("persona", maintain_order=True).len().iter_rows()
        ),
        "bundles": [
            {"anchor": a, "companions": [c for c, _ in comps], "probability": p,
             "product_ids": [shop.pids[shop.by_name[a]]]
             + [shop.pids[shop.by_name[c]] for c, _ in comps]}
            for a, _, comps, p in BUNDLES
        ],
        "abandonment_drivers": {
            "model": "P(purchase | cart session) = sigmoid(sum of terms); persona terms are "
                     "each persona's purchase_bias",
            "coefficients": ABANDONMENT_DRIVERS,
            "p_checkout_if_buying": P_CHECKOUT_IF_BUYING,
            "p_checkout_if_abandoning": P_CHECKOUT_IF_ABANDONING,
            "cart_sessions": log.cart_sessions,
            "abandoned_cart_sessions": log.abandoned,
            "abandonment_rate": round(log.abandoned / max(log.cart_sessions, 1), 4),
        },
        "funnel": {
            "definition": "sessions containing view_item, then add_to_cart, then "
                          "begin_checkout, then purchase, in that order (count_by=session_id; "
                          "the generator emits these steps in order within a session)",
            "realised_session_counts": log.funnel,
            "orders": log.n_orders,
        },
    }


def generate_shop(*, users: int = 20_000, days: int = 90, seed: int = 42) -> tuple[
    pl.DataFrame, pl.DataFrame, dict
]:
    """Generate a shop's event log with planted ground truth.

    Parameters
    ----------
    users : int, default 20000
        Number of users.
    days : int, default 90
        Length of the period, starting 2026-06-01 UTC.
    seed : int, default 42
        Seed of the random generator; the same seed gives the same output.

    Returns
    -------
    events : pl.DataFrame
        Columns ``event_time`` (UTC datetime), ``event_name`` (GA4 names), ``user_id``,
        ``session_id``, ``product_id``, ``product_name``, ``category``, ``brand``, ``price``,
        ``quantity``, ``order_id``, ``device``, ``country``, ``channel``; sorted by user and
        time.
    personas : pl.DataFrame
        ``user_id``, ``persona`` (the planted persona of each user).
    truth : dict
        The planted ground truth (personas, bundles, drivers, funnel rates).
    """
    rng = np.random.default_rng(seed)
    shop = _shop(rng)
    persona_names = list(PERSONAS)
    shares = np.array([PERSONAS[p].share for p in persona_names])
    user_persona = rng.choice(len(persona_names), size=users, p=shares / shares.sum())
    log = _Log()
    for u in range(users):
        _simulate_user(rng, shop, log, u, persona_names[user_persona[u]], days)
    events = _events_frame(log, shop)
    personas = pl.DataFrame({
        "user_id": [f"U{u + 1:06d}" for u in range(users)],
        "persona": [persona_names[i] for i in user_persona],
    })
    truth = _ground_truth(seed=seed, users=users, days=days, events=events,
                          personas=personas, shop=shop, log=log)
    return events, personas, truth


def write_sample(out_dir: Path, *, users: int, days: int, seed: int) -> dict:
    """Generate and write the sample files; return the ground truth written."""
    events, personas, truth = generate_shop(users=users, days=days, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = events.with_columns(
        pl.col("event_time").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
    ).write_csv()
    raw = csv.encode()
    # mtime=0 keeps the gzip bytes identical for identical content
    with open(out_dir / "events.csv.gz", "wb") as fh, gzip.GzipFile(
        fileobj=fh, mode="wb", compresslevel=9, mtime=0, filename=""
    ) as gz:
        gz.write(raw)
    with open(out_dir / "user_personas.csv.gz", "wb") as fh, gzip.GzipFile(
        fileobj=fh, mode="wb", compresslevel=9, mtime=0, filename=""
    ) as gz:
        gz.write(personas.write_csv().encode())
    truth["events_csv_sha256"] = hashlib.sha256(raw).hexdigest()
    (out_dir / "ground_truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return truth


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=SAMPLE_DIR)
    args = ap.parse_args(argv)
    truth = write_sample(args.out, users=args.users, days=args.days, seed=args.seed)
    print(f"wrote {truth['events']:,} events for {args.users:,} users to {args.out}")


if __name__ == "__main__":
    main()
