"""The one column vocabulary: event names, column-name synonyms for events and baskets.

:func:`canonical_event_type` maps raw event names onto the canonical e-commerce steps
(:data:`core.schema.EVENT_TYPES`). :data:`SYNONYMS` lists, for every canonical column of the
event table, the source column names that feed it; :data:`BASKET_SYNONYMS` does the same for
the columns of a basket file (order id, item, customer, date, quantity, and the event column
that marks an event log), in the order the basket reader prefers them (a readable description
before a stock code). :mod:`core.formats.exports` (export formats, the loader's mapping) and
:mod:`core.rules.reading` (basket files) both look names up here.

Column names are compared by :func:`normalise_name`: case, spaces, underscores, dots, ``$``
and every other character that is not a letter or a digit are ignored (``"Customer ID"`` =
``customer_id``, ``"$browser"`` = ``browser``). :func:`loose_name` also drops the prefixes that
flattened exports put in front of nested fields (``properties.``, ``event_params.``...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Final

from core.schema import EVENT_TYPES

# --------------------------------------------------------------------------------------------
# event vocabulary

_VOCABULARY: Final[dict[str, tuple[str, ...]]] = {
    "page_view": (
        "page_view",
        "pageview",
        "page",
        "page viewed",
        "viewed page",
        "loaded a page",
        "screen",
        "screen_view",
        "screenview",
        "screen viewed",
        "view_page",
        "home",
    ),
    "search": (
        "search",
        "searched",
        "products searched",
        "product searched",
        "view_search_results",
        "search results viewed",
        "site_search",
    ),
    "view_item": (
        "view_item",
        "view",
        "pv",
        "product viewed",
        "viewed product",
        "view product",
        "product view",
        "product_view",
        "item viewed",
        "view item",
        "detail",
        "product detail",
        "product_detail_view",
        "productview",
        "viewcontent",
    ),
    "add_to_wishlist": (
        "add_to_wishlist",
        "fav",
        "favorite",
        "favourite",
        "wishlist",
        "add to favorites",
        "add to favourites",
        "product added to wishlist",
        "added to wishlist",
        "wishlist product added",
        "like",
        "save for later",
    ),
    "add_to_cart": (
        "add_to_cart",
        "cart",
        "addtocart",
        "add to cart",
        "product added",
        "added to cart",
        "add_item_to_cart",
        "add to basket",
        "added to basket",
        "addtobasket",
        "basket_add",
        "cart_add",
    ),
    "remove_from_cart": (
        "remove_from_cart",
        "remove",
        "removefromcart",
        "product removed",
        "removed from cart",
        "remove from basket",
        "cart_remove",
        "product removed from cart",
    ),
    "begin_checkout": (
        "begin_checkout",
        "checkout",
        "checkout started",
        "start checkout",
        "started checkout",
        "initiate checkout",
        "initiatecheckout",
        "checkout_start",
        "begin checkout",
    ),
    "purchase": (
        "purchase",
        "buy",
        "transaction",
        "order completed",
        "completed order",
        "order",
        "order placed",
        "placed order",
        "purchased",
        "checkout completed",
        "ecommerce_purchase",
        "in_app_purchase",
        "sale",
        "payment completed",
    ),
}


def _event_key(name: str) -> str:
    return re.sub(r"[\s_\-.:/]+", "", name.strip().lower())


_EVENT_LOOKUP: Final[dict[str, str]] = {
    _event_key(raw): etype for etype, names in _VOCABULARY.items() for raw in names
}


@lru_cache(maxsize=4096)
def canonical_event_type(name: str) -> str:
    """Map a raw event name onto one of :data:`core.schema.EVENT_TYPES`.

    Case, spaces, underscores, hyphens and dots are ignored, so ``"Product Added"``,
    ``"add_to_cart"``, ``"addtocart"`` and ``"cart"`` are the same step. GA4's e-commerce
    names map to themselves; names that are no e-commerce step (``session_start``,
    ``first_visit``, ``view_item_list``, ``refund``...) map to ``"other"``.
    ``session_start`` is deliberately not a page view: GA4 sends it next to the first
    ``page_view`` of a visit, so counting it would double that page view.

    Parameters
    ----------
    name : str
        The event name as exported.

    Returns
    -------
    str
        One of ``page_view``, ``search``, ``view_item``, ``add_to_wishlist``, ``add_to_cart``,
        ``remove_from_cart``, ``begin_checkout``, ``purchase``, ``other``.

    Examples
    --------
    >>> canonical_event_type("Order Completed")
    'purchase'
    >>> canonical_event_type("pv")
    'view_item'
    >>> canonical_event_type("session_start")
    'other'
    """
    if not isinstance(name, str):
        return "other"
    return _EVENT_LOOKUP.get(_event_key(name), "other")


assert set(_VOCABULARY) | {"other"} == set(EVENT_TYPES)

# --------------------------------------------------------------------------------------------
# column names


def normalise_name(name: str) -> str:
    """A column name reduced to lower-case letters and digits, as names are compared.

    Examples
    --------
    >>> normalise_name("Customer ID")
    'customerid'
    >>> normalise_name("$browser")
    'browser'
    """
    return re.sub(r"[^a-z0-9]", "", name.lower())


#: Prefixes that flattened exports put before nested fields (normalized).
_PREFIXES: Final = (
    "eventproperties",
    "eventparams",
    "properties",
    "ecommerce",
    "items",
    "traits",
    "userproperties",
)


def loose_name(name: str) -> str:
    """:func:`normalise_name` without a flattened export's prefix (``properties.price``)."""
    n = normalise_name(name)
    for p in _PREFIXES:
        if n.startswith(p) and len(n) > len(p):
            return n[len(p) :]
    return n


def normalise_names(*names: str) -> tuple[str, ...]:
    """:func:`normalise_name` of each name, order kept."""
    return tuple(normalise_name(n) for n in names)


#: Column-name synonyms for every canonical column, in order of preference.
SYNONYMS: Final[dict[str, tuple[str, ...]]] = {
    "user_id": normalise_names(
        "user_id",
        "user",
        "customer_id",
        "customer",
        "client_id",
        "visitor_id",
        "distinct_id",
        "user_pseudo_id",
        "anonymous_id",
        "member_id",
        "account_id",
        "person_id",
        "shopper_id",
        "buyer_id",
        "cookie_id",
        "device_id",
        "uid",
    ),
    "ts": normalise_names(
        "timestamp",
        "ts",
        "event_time",
        "event_timestamp",
        "time",
        "datetime",
        "date_time",
        "event_datetime",
        "created_at",
        "occurred_at",
        "time_stamp",
        "server_time",
        "client_time",
        "received_at",
        "sent_at",
        "logged_at",
        "invoice_date",
        "order_date",
        "event_date",
        "date",
    ),
    "event": normalise_names(
        "event",
        "event_name",
        "event_type",
        "action",
        "event_action",
        "behavior_type",
        "behaviour_type",
        "behavior",
        "behaviour",
        "activity",
        "interaction",
        "type",
    ),
    "session_id": normalise_names(
        "session_id",
        "user_session",
        "ga_session_id",
        "session",
        "visit_id",
        "session_key",
    ),
    "product_id": normalise_names(
        "product_id",
        "item_id",
        "sku",
        "product_sku",
        "stock_code",
        "variant_id",
        "asin",
        "product_code",
        "article_id",
        "product",
        "item",
    ),
    "category": normalise_names(
        "category",
        "category_code",
        "category_name",
        "product_category",
        "item_category",
        "department",
        "category_id",
    ),
    "brand": normalise_names(
        "brand", "brand_name", "item_brand", "product_brand", "manufacturer", "vendor"
    ),
    "price": normalise_names(
        "price",
        "unit_price",
        "item_price",
        "product_price",
        "sale_price",
        "price_usd",
    ),
    "quantity": normalise_names("quantity", "qty", "units", "item_quantity", "quantity_ordered"),
    "order_id": normalise_names(
        "order_id",
        "transaction_id",
        "invoice_no",
        "invoice",
        "invoice_id",
        "invoice_number",
        "order_number",
        "purchase_id",
        "receipt_id",
    ),
}

#: Order-line exports (UCI Online Retail): canonical column -> normalized source names, in
#: order of preference, as the ``order_lines`` export format maps them (a stock code before a
#: description: the loader keeps ids as product ids).
ORDER_LINE_SYNONYMS: Final[dict[str, tuple[str, ...]]] = {
    "order_id": SYNONYMS["order_id"],
    "user_id": normalise_names(
        "customer_id",
        "customer",
        "user_id",
        "client_id",
        "buyer_id",
        "account_id",
        "member_id",
        "user",
        "email",
    ),
    "ts": normalise_names(
        "invoice_date",
        "order_date",
        "order_datetime",
        "created_at",
        "date",
        "datetime",
        "timestamp",
        "time",
        "purchase_date",
        "transaction_date",
    ),
    "product_id": normalise_names(
        "stock_code",
        "product_id",
        "sku",
        "item_id",
        "product",
        "item",
        "product_code",
        "description",
        "product_name",
        "item_name",
    ),
}

# --------------------------------------------------------------------------------------------
# basket files: the columns :func:`core.rules.read_baskets` looks for, most readable first.
# They differ from SYNONYMS on purpose (an order-line file is read for its item names, so a
# description beats a stock code; a bare ``order`` or ``ticket`` column is an id there).

#: Basket-file role -> normalized column names, in order of preference.
BASKET_SYNONYMS: Final[dict[str, tuple[str, ...]]] = {
    "basket_id": (
        "basketid",
        "basket",
        "orderid",
        "order",
        "ordernumber",
        "orderno",
        "invoiceno",
        "invoice",
        "invoiceid",
        "invoicenumber",
        "transactionid",
        "transaction",
        "transactionno",
        "transno",
        "transid",
        "tid",
        "receiptid",
        "receipt",
        "ticketid",
        "ticket",
        "billno",
        "bill",
        "cartid",
    ),
    "item": (
        "item",
        "items",
        "itemname",
        "itemdescription",
        "description",
        "productname",
        "product",
        "productdescription",
        "name",
        "article",
        "itemid",
        "productid",
        "sku",
        "stockcode",
        "stockid",
        "articleid",
        "ean",
        "upc",
    ),
    "customer": (
        "customerid",
        "customer",
        "membernumber",
        "member",
        "memberid",
        "userid",
        "user",
        "clientid",
        "client",
        "visitorid",
    ),
    "date": (
        "date",
        "orderdate",
        "invoicedate",
        "transactiondate",
        "datetime",
        "timestamp",
        "time",
        "day",
    ),
    "quantity": ("quantity", "qty", "units", "count"),
    # A column that marks an event log (with a time) rather than order lines.
    "event": (
        "event",
        "eventtype",
        "eventname",
        "behaviortype",
        "behavior",
        "behaviour",
        "action",
    ),
}


def pick_column(header: Sequence[str], names: Sequence[str]) -> str | None:
    """The column of ``header`` that the first of ``names`` matches, compared normalized.

    Parameters
    ----------
    header : sequence of str
        Column names as read; when two normalize alike, the first one is used.
    names : sequence of str
        Normalized candidate names (:func:`normalise_name`), preferred first, e.g. a list of
        :data:`SYNONYMS` or :data:`BASKET_SYNONYMS`.

    Returns
    -------
    str or None
        The column as spelled in ``header``; ``None`` when no candidate matches.

    Examples
    --------
    >>> pick_column(["Invoice No", "Description"], BASKET_SYNONYMS["basket_id"])
    'Invoice No'
    """
    normed = {normalise_name(h): h for h in reversed(header)}
    for n in names:
        if n in normed:
            return normed[n]
    return None


__all__ = [
    "BASKET_SYNONYMS",
    "ORDER_LINE_SYNONYMS",
    "SYNONYMS",
    "canonical_event_type",
    "loose_name",
    "normalise_name",
    "normalise_names",
    "pick_column",
]
