"""What the sample shop plants: personas, cart-abandonment drivers, catalogue and bundles.

These constants are the documented ground truth of :mod:`core.dev.synth`; it writes them to
``sample_data/ground_truth.json`` beside the events they shaped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Persona:
    """One planted behaviour (for K-means to recover) and its share of the users."""

    share: float
    description: str
    sessions_mean: float  # mean number of sessions in the period (at least 1)
    views_mean: float  # mean product views per session
    search_mean: float  # mean searches per session
    p_cart: float  # probability a product view is followed by an add-to-cart
    p_remove: float  # probability a cart item is removed again
    purchase_bias: float  # persona term of the purchase logit
    price_level: float  # preference for expensive products (-1 cheap .. +1 expensive)
    p_mobile: float
    dwell_s: float  # mean seconds between events
    channels: dict[str, float]


PERSONAS: dict[str, Persona] = {
    "loyal_vip": Persona(
        0.10, "Frequent visitors who buy often and spend a lot; mostly desktop, email/direct.",
        sessions_mean=11, views_mean=4, search_mean=0.3, p_cart=0.35, p_remove=0.04,
        purchase_bias=2.2, price_level=1.0, p_mobile=0.25, dwell_s=35,
        channels={"email": 0.35, "direct": 0.35, "organic": 0.2, "paid_search": 0.1},
    ),
    "deal_seeker": Persona(
        0.20, "Few visits, search a lot, buy cheap items when they buy.",
        sessions_mean=3, views_mean=5, search_mean=3.0, p_cart=0.18, p_remove=0.12,
        purchase_bias=0.6, price_level=-1.0, p_mobile=0.55, dwell_s=30,
        channels={"paid_search": 0.4, "organic": 0.3, "referral": 0.2, "email": 0.1},
    ),
    "window_shopper": Persona(
        0.25, "Many long browsing sessions, hardly ever add to cart, never really buy.",
        sessions_mean=6, views_mean=13, search_mean=0.8, p_cart=0.015, p_remove=0.3,
        purchase_bias=-1.2, price_level=0.3, p_mobile=0.5, dwell_s=55,
        channels={"organic": 0.45, "paid_social": 0.25, "direct": 0.2, "referral": 0.1},
    ),
    "cart_abandoner": Persona(
        0.15, "Add to cart readily, remove items, rarely complete; mostly mobile, social ads.",
        sessions_mean=4, views_mean=4, search_mean=0.5, p_cart=0.5, p_remove=0.35,
        purchase_bias=-0.9, price_level=0.2, p_mobile=0.85, dwell_s=25,
        channels={"paid_social": 0.55, "organic": 0.2, "paid_search": 0.15, "direct": 0.1},
    ),
    "bouncer": Persona(
        0.30, "One short visit: a landing page, maybe one product, then gone.",
        sessions_mean=1, views_mean=0.6, search_mean=0.1, p_cart=0.0, p_remove=0.0,
        purchase_bias=-3.0, price_level=0.0, p_mobile=0.6, dwell_s=20,
        channels={"paid_social": 0.4, "organic": 0.3, "paid_search": 0.2, "referral": 0.1},
    ),
}

#: Coefficients of the purchase decision of a cart session (logit scale), see core.dev.synth.
ABANDONMENT_DRIVERS: dict[str, float] = {
    "intercept": -0.7,
    "mobile": -0.8,
    "paid_social": -0.6,
    "log2_cart_value_over_100": -0.45,
    "per_remove_from_cart": -0.6,
    "long_pause_over_5min": -0.7,
    "night_00_05": -0.5,
    "bought_before": 0.9,
}

#: Step probabilities of the checkout stage (given the purchase decision).
P_CHECKOUT_IF_BUYING = 1.0
P_CHECKOUT_IF_ABANDONING = 0.3

CATEGORIES: dict[str, tuple[float, list[str]]] = {
    # category: (median price, brands)
    "electronics.phones": (420.0, ["Nokari", "Samsong", "Pear", "Xiaomo"]),
    "electronics.cameras": (560.0, ["Canan", "Nikor", "Sonix"]),
    "electronics.audio": (90.0, ["Bosse", "Sonix", "JBLX", "Pear"]),
    "computers.laptops": (900.0, ["Lenova", "Dellx", "Pear", "Asuz"]),
    "computers.accessories": (25.0, ["Logitek", "Ankor", "Sandisc"]),
    "home.kitchen": (60.0, ["Philipx", "Bosh", "Delongi", "Tefal"]),
    "home.decor": (35.0, ["Ikeo", "Hemma", "Nordik"]),
    "fashion.shoes": (80.0, ["Nikee", "Adidaz", "Pumma", "Asix"]),
    "fashion.clothing": (40.0, ["Zaro", "H&N", "Uniqlo", "Levy"]),
    "beauty.skincare": (22.0, ["Nivo", "Loreal", "Cerava"]),
    "sports.fitness": (30.0, ["Decath", "Reebak", "Gaiam"]),
    "toys.games": (28.0, ["Lego", "Hasbo", "Mattell"]),
}

#: Planted bundles: anchor product name, companions, probability each companion joins the order.
BUNDLES: list[tuple[str, str, list[tuple[str, str]], float]] = [
    ("Mirrorless camera", "electronics.cameras",
     [("Memory card 128GB", "computers.accessories"), ("Camera bag", "electronics.cameras")], 0.75),
    ("Ultrabook 14", "computers.laptops",
     [("Laptop sleeve", "computers.accessories"), ("Wireless mouse", "computers.accessories")], 0.7),
    ("Smartphone X", "electronics.phones",
     [("Phone case", "electronics.phones"), ("Screen protector", "electronics.phones")], 0.8),
    ("Espresso machine", "home.kitchen", [("Coffee beans 1kg", "home.kitchen")], 0.8),
    ("Running shoes", "fashion.shoes", [("Sports socks 3-pack", "fashion.clothing")], 0.7),
    ("Yoga mat", "sports.fitness", [("Yoga blocks", "sports.fitness")], 0.75),
]

COUNTRIES = {"US": 0.35, "GB": 0.15, "DE": 0.15, "FR": 0.1, "NL": 0.08, "ES": 0.07,
             "PL": 0.05, "SE": 0.05}
HOUR_WEIGHTS = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4, 4, 5, 5, 4, 4, 4, 5, 6, 7,
                         8, 7, 5, 3], dtype=float)
OTHER_EVENTS = ("login", "view_cart", "view_promotion")
