"""Plain-language segment names from cluster centres ("High-value loyal", "Window shoppers")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from core.segments.features import feature_label

_HIGH, _LOW = 0.5, -0.5


def _archetypes(z: Mapping[str, float], orig: Mapping[str, float]) -> list[tuple[str, float]]:
    """Plain-language names a centre qualifies for, with a fit score.

    ``z`` maps a feature to the centre's value in standard deviations from the mean, ``orig``
    to its value in original units. A name applies only when its defining features are present
    and clearly high or low; names that promise an absolute behaviour also check it ("Bouncers"
    typically have one session, "Lapsed" users have not been seen for two weeks), so a short
    export of heavy users never calls its lightest users bouncers. The order of the list does
    not matter (:func:`segment_names` sorts by score).
    """
    return _buying_archetypes(z) + _visiting_archetypes(z, orig)


def _buying_archetypes(z: Mapping[str, float]) -> list[tuple[str, float]]:
    """Names about money, orders and carts."""
    g = z.get
    money = g("revenue") if g("revenue") is not None else g("purchases")
    out: list[tuple[str, float]] = []
    ses, ov, srch, buys = g("sessions"), g("order_value"), g("searches_per_session"), g("purchases")
    carts, conv, rem = (g("cart_adds_per_session"), g("cart_to_purchase"),
                        g("removals_per_session"))
    if money is not None and ses is not None and money >= _HIGH and ses >= _HIGH:
        out.append(("High-value loyal", money + ses))
    if money is not None and money >= _HIGH and (ov is None or ov >= _HIGH):
        out.append(("Big spenders", money + (ov or 0.0)))
    if buys is not None and buys >= _HIGH:
        out.append(("Frequent buyers", buys))
    if carts is not None and carts >= _HIGH and (
        (conv is not None and conv <= 0) or (buys is not None and buys <= 0)
    ):
        out.append(("Cart abandoners", carts + (rem or 0.0) - (conv or 0.0)))
    if srch is not None and srch >= _HIGH and (ov is None or ov <= 0) and (
        money is None or money < _HIGH
    ):
        out.append(("Deal seekers", srch - (ov or 0.0)))
    return out


def _visiting_archetypes(
    z: Mapping[str, float], orig: Mapping[str, float]
) -> list[tuple[str, float]]:
    """Names about visits: browsing, bouncing, lapsing, device, searching."""
    g = z.get
    out: list[tuple[str, float]] = []
    ses, srch, views, carts = (g("sessions"), g("searches_per_session"), g("views_per_session"),
                               g("cart_adds_per_session"))
    minutes, eps = g("session_minutes"), g("events_per_session")
    browse = max(v for v in (views, minutes, -99.0) if v is not None)
    if browse >= _HIGH and (carts is None or carts <= 0):
        out.append(("Window shoppers", browse - (carts or 0.0)))
    if ses is not None and ses <= _LOW and (eps is None or eps <= _LOW) and (
        orig["sessions"] < 1.5
    ):
        out.append(("Bouncers", -(ses + (eps or 0.0) + (minutes or 0.0))))
    if g("recency_days") is not None and g("recency_days") >= 1.0 and (
        orig["recency_days"] >= 14
    ):
        out.append(("Lapsed", g("recency_days")))
    if g("mobile_share") is not None and g("mobile_share") >= 0.8:
        out.append(("Mobile-first", g("mobile_share")))
    if srch is not None and srch >= _HIGH:
        out.append(("Searchers", srch))
    if views is not None and views >= _HIGH:
        out.append(("Engaged browsers", views))
    return out


def _trait(feature: str, high: bool) -> str:
    if feature == "recency_days":  # "high recency" reads as "recent" to most people
        return "long absent" if high else "recently active"
    return f"{'high' if high else 'low'} {feature_label(feature).lower()}"


def segment_names(centres: np.ndarray, original: np.ndarray, used: Sequence[str]) -> list[str]:
    """Unique plain-language names for centres (standardised and original units), best match
    first; segments no archetype fits are described by their two most distinctive features."""
    zs = [dict(zip(used, map(float, c), strict=True)) for c in centres]
    origs = [dict(zip(used, map(float, c), strict=True)) for c in original]
    candidates = sorted(
        ((score, i, name) for i, (z, o) in enumerate(zip(zs, origs, strict=True))
         for name, score in _archetypes(z, o)),
        key=lambda t: (-t[0], t[1], t[2]))
    names: list[str | None] = [None] * len(zs)
    taken: set[str] = set()
    for _, i, name in candidates:
        if names[i] is None and name not in taken:
            names[i] = name
            taken.add(name)
    for i, z in enumerate(zs):
        if names[i] is not None:
            continue
        top = sorted(z, key=lambda f: (-abs(z[f]), f))[:2]
        if not top or abs(z[top[0]]) < 0.25:
            base = "Average users"
        else:
            parts = [_trait(f, z[f] > 0) for f in top if abs(z[f]) >= 0.25]
            base = ", ".join(parts)
            base = base[0].upper() + base[1:]
        name, n = base, 2
        while name in taken:
            name, n = f"{base} ({n})", n + 1
        names[i] = name
        taken.add(name)
    return [str(n) for n in names]
