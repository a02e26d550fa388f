"""Export formats recognised by their columns, and the column mapping the loader starts from.

:func:`detect_format` names the export a table comes from (Kaggle REES46, RetailRocket, Taobao
UserBehavior, GA4 BigQuery flattened, Mixpanel, Amplitude, Segment, order lines such as UCI
Online Retail, item-view logs without an event column such as Diginetica's, till
transactions without a customer such as a bakery's, the PathLens sample) from its column
names alone, and :func:`suggest_mapping` says which source column feeds each canonical column
(:mod:`core.schema`). Anything else is mapped by the column-name synonyms of
:mod:`core.formats.vocabulary`.

Column names are compared case-, space-, underscore-, dot- and ``$``-insensitively
(``"Customer ID"`` = ``customer_id``, ``"$browser"`` = ``browser``), and the prefixes that
flattened exports put in front of nested fields (``properties.``, ``event_params.``,
``items.``, ``ecommerce.``...) are ignored when the full name does not match.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from core.formats.vocabulary import (
    ORDER_LINE_SYNONYMS,
    SYNONYMS,
    loose_name,
    normalise_name,
)
from core.formats.vocabulary import normalise_names as _names
from core.schema import CANONICAL_COLUMNS

_ORDER_IDS: Final = ORDER_LINE_SYNONYMS["order_id"]
_CUSTOMERS: Final = ORDER_LINE_SYNONYMS["user_id"]
_DATES: Final = ORDER_LINE_SYNONYMS["ts"]
_ITEMS: Final = ORDER_LINE_SYNONYMS["product_id"]


# --------------------------------------------------------------------------------------------
# export formats


@dataclass(frozen=True)
class ExportFormat:
    """An export format recognised by its columns.

    Attributes
    ----------
    name, label : str
        Short id (``"rees46"``) and the name shown to users.
    signature : tuple of tuple of str
        Normalized column names that must all be present; each entry lists alternatives.
    absent : tuple of str
        Normalized names that must not be present.
    columns : dict
        Canonical column -> source-name candidates (normalized), preferred first.
    user_fallback : tuple of str
        Columns filling the user where the user column is empty (Amplitude's ``device_id``).
    event_fallback : tuple of str
        Columns filling the event name where it is empty (Segment's ``type`` for page calls).
    session_scope : str
        ``"global"`` (ids unique across users), ``"per_user"`` (GA4's ``ga_session_id``,
        Amplitude's ``session_id``: made unique by prefixing the user) or ``"none"``.
    session_null : tuple of str
        Session-id values meaning "no session" (Amplitude's ``-1``).
    order_lines : bool
        Rows are order lines: each becomes a ``purchase`` event (``refund`` for returns).
    event_constant : str or None
        Every row is this event (exports of one kind of event without an event column, such
        as Diginetica's item views).
    ts_time : tuple of str
        Columns holding the time of day (``09:58:11``) or an offset (a number, in
        ``ts_time_unit``) added to the day in the ``ts`` column.
    ts_time_unit : str
        Unit of a numeric ``ts_time`` offset: ``"s"``, ``"ms"`` or ``"us"``.
    keep_repeats : bool
        Identical rows are further units of an item (till lines without a quantity), not
        duplicates to drop.
    user_from : tuple of str
        Columns standing in for the user where it is missing (or when the export has no user
        at all): the visit, written ``"<column>:<value>"`` so it cannot collide with a real
        user id.
    """

    name: str
    label: str
    signature: tuple[tuple[str, ...], ...]
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    absent: tuple[str, ...] = ()
    user_fallback: tuple[str, ...] = ()
    event_fallback: tuple[str, ...] = ()
    session_scope: str = "global"
    session_null: tuple[str, ...] = ()
    order_lines: bool = False
    event_constant: str | None = None
    ts_time: tuple[str, ...] = ()
    ts_time_unit: str = "s"
    user_from: tuple[str, ...] = ()
    keep_repeats: bool = False


def _sig(*entries: str | tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    return tuple(_names(e) if isinstance(e, str) else _names(*e) for e in entries)


#: Recognised formats, checked in this order (the most specific first).
FORMATS: Final[tuple[ExportFormat, ...]] = (
    ExportFormat(
        name="rees46",
        label="Kaggle REES46 e-commerce events",
        signature=_sig("event_time", "event_type", "user_id", "user_session"),
        columns={
            "ts": _names("event_time"),
            "event": _names("event_type"),
            "user_id": _names("user_id"),
            "session_id": _names("user_session"),
            "product_id": _names("product_id"),
            "category": _names("category_code"),
            "brand": _names("brand"),
            "price": _names("price"),
        },
    ),
    ExportFormat(
        name="pathlens",
        label="PathLens sample format",
        signature=_sig("event_time", "event_name", "user_id", "session_id"),
        columns={
            "ts": _names("event_time"),
            "event": _names("event_name"),
            "user_id": _names("user_id"),
            "session_id": _names("session_id"),
        },
    ),
    ExportFormat(
        name="ga4",
        label="Google Analytics 4 (BigQuery export, flattened)",
        signature=_sig("event_timestamp", "event_name", "user_pseudo_id"),
        columns={
            "ts": _names("event_timestamp"),
            "event": _names("event_name"),
            "user_id": _names("user_pseudo_id"),
            "session_id": _names("ga_session_id"),
            "product_id": _names("item_id"),
            "category": _names("item_category"),
            "brand": _names("item_brand"),
            "price": _names("price", "item_price"),
            "quantity": _names("quantity", "item_quantity"),
            "order_id": _names("transaction_id"),
        },
        session_scope="per_user",
    ),
    ExportFormat(
        name="amplitude",
        label="Amplitude export",
        signature=_sig(
            "event_type", "event_time", "session_id", ("user_id", "device_id", "amplitude_id")
        ),
        columns={
            "ts": _names("event_time"),
            "event": _names("event_type"),
            "user_id": _names("user_id", "device_id", "amplitude_id"),
            "session_id": _names("session_id"),
        },
        user_fallback=_names("device_id", "amplitude_id"),
        session_scope="per_user",
        session_null=("-1",),
    ),
    ExportFormat(
        name="retailrocket",
        label="RetailRocket events",
        signature=_sig("timestamp", "visitorid", "event"),
        columns={
            "ts": _names("timestamp"),
            "event": _names("event"),
            "user_id": _names("visitorid"),
            "product_id": _names("itemid"),
            "order_id": _names("transactionid"),
        },
        session_scope="none",
    ),
    ExportFormat(
        name="taobao",
        label="Taobao UserBehavior",
        signature=_sig("user_id", "item_id", "behavior_type", "timestamp"),
        columns={
            "ts": _names("timestamp"),
            "event": _names("behavior_type"),
            "user_id": _names("user_id"),
            "product_id": _names("item_id"),
            "category": _names("category_id"),
        },
        session_scope="none",
    ),
    ExportFormat(
        name="mixpanel",
        label="Mixpanel export",
        signature=_sig("event", "distinct_id", "time"),
        columns={
            "ts": _names("time"),
            "event": _names("event"),
            "user_id": _names("distinct_id"),
        },
        session_scope="none",
    ),
    ExportFormat(
        name="segment",
        label="Segment events",
        signature=_sig("event", "timestamp", ("anonymousid", "messageid")),
        columns={
            "ts": _names("timestamp"),
            "event": _names("event"),
            "user_id": _names("userid", "anonymousid"),
        },
        user_fallback=_names("anonymousid"),
        event_fallback=_names("type"),
        session_scope="none",
    ),
    ExportFormat(
        name="order_lines",
        label="Order lines (one row per order line, e.g. UCI Online Retail)",
        signature=(_ORDER_IDS, _CUSTOMERS, _DATES, _names("quantity", "qty", "units")),
        absent=SYNONYMS["event"],
        columns={
            "order_id": _ORDER_IDS,
            "user_id": _CUSTOMERS,
            "ts": _DATES,
            "product_id": _ITEMS,
            "quantity": _names("quantity", "qty", "units"),
            "price": _names("unit_price", "price", "item_price", "sale_price"),
        },
        session_scope="none",
        order_lines=True,
    ),
    ExportFormat(
        name="item_views",
        label="Item-view log without event column (Diginetica style)",
        signature=_sig(("session_id", "session"), ("item_id", "item"), "timeframe", "eventdate"),
        absent=SYNONYMS["event"],
        columns={
            "session_id": _names("session_id", "session"),
            "user_id": _names("user_id", "user"),
            "product_id": _names("item_id", "item"),
            "ts": _names("eventdate"),
        },
        event_constant="view_item",
        ts_time=_names("timeframe"),
        ts_time_unit="ms",
        user_from=_names("session_id", "session"),
    ),
    ExportFormat(
        name="till_lines",
        label="Till transactions without customer (one row per item sold, e.g. a bakery)",
        signature=_sig(
            ("transaction", "transaction_no", "transaction_id", "receipt", "receipt_no"),
            ("item", "product", "item_name", "product_name"),
            "date",
            "time",
        ),
        absent=SYNONYMS["event"] + _CUSTOMERS,
        columns={
            "order_id": _names(
                "transaction", "transaction_no", "transaction_id", "receipt", "receipt_no"
            ),
            "product_id": _names("item", "product", "item_name", "product_name"),
            "ts": _names("date"),
        },
        session_scope="none",
        order_lines=True,
        keep_repeats=True,
        ts_time=_names("time"),
        user_from=_names(
            "transaction", "transaction_no", "transaction_id", "receipt", "receipt_no"
        ),
    ),
)
FORMATS_BY_NAME: Final[dict[str, ExportFormat]] = {f.name: f for f in FORMATS}

#: Names :func:`detect_format` returns besides the recognised formats.
GENERIC, UNKNOWN = "generic", "unknown"
FORMAT_LABELS: Final[dict[str, str]] = {
    **{f.name: f.label for f in FORMATS},
    GENERIC: "Event log (columns matched by name)",
    UNKNOWN: "Unknown format",
}


class _Columns:
    """Source columns indexed by normalized and prefix-stripped name."""

    def __init__(self, columns: Iterable[str]) -> None:
        self.names = list(columns)
        self.exact: dict[str, str] = {}
        self.loose: dict[str, str] = {}
        for c in self.names:
            self.exact.setdefault(normalise_name(c), c)
            self.loose.setdefault(loose_name(c), c)

    def has(self, key: str) -> bool:
        return key in self.exact or key in self.loose

    def find(
        self, candidates: Sequence[str], taken: set[str] | frozenset[str] = frozenset()
    ) -> str | None:
        for cand in candidates:
            col = self.exact.get(cand)
            if col is not None and col not in taken:
                return col
        for cand in candidates:
            col = self.loose.get(cand)
            if col is not None and col not in taken:
                return col
        return None


def _matches(fmt: ExportFormat, cols: _Columns) -> bool:
    if not all(any(cols.has(alt) for alt in entry) for entry in fmt.signature):
        return False
    return not any(a in cols.exact for a in fmt.absent)


def detect_format(columns: Iterable[str]) -> str:
    """Name the export format a table comes from, from its column names alone.

    Parameters
    ----------
    columns : iterable of str
        The table's column names as read.

    Returns
    -------
    str
        ``"rees46"``, ``"pathlens"``, ``"ga4"``, ``"amplitude"``, ``"retailrocket"``,
        ``"taobao"``, ``"mixpanel"``, ``"segment"``, ``"order_lines"``, ``"item_views"``,
        ``"till_lines"``; ``"generic"`` when
        synonyms find a user, a time and an event column; ``"unknown"`` otherwise.
        :data:`FORMAT_LABELS` gives the names to show.

    Examples
    --------
    >>> detect_format(["user_id", "item_id", "category_id", "behavior_type", "timestamp"])
    'taobao'
    >>> detect_format(["who", "when", "what"])
    'unknown'
    """
    cols = _Columns(columns)
    for fmt in FORMATS:
        if _matches(fmt, cols):
            return fmt.name
    mapping = _synonym_mapping(cols, {})
    if all(k in mapping for k in ("user_id", "ts", "event")):
        return GENERIC
    return UNKNOWN


def _synonym_mapping(cols: _Columns, mapping: dict[str, str]) -> dict[str, str]:
    taken = set(mapping.values())
    out = dict(mapping)
    for canon in CANONICAL_COLUMNS:
        if canon in out or canon not in SYNONYMS:
            continue
        col = cols.find(SYNONYMS[canon], taken)
        if col is not None:
            out[canon] = col
            taken.add(col)
    return out


def suggest_mapping(columns: Iterable[str], *, format: str | None = None) -> dict[str, str]:
    """Which source column feeds each canonical column, as the loader would map it.

    Columns of the detected format come first, then column-name synonyms fill the rest; a
    source column feeds at most one canonical column. Canonical columns with no source are
    left out (the loader leaves them null).

    Parameters
    ----------
    columns : iterable of str
        The table's column names as read.
    format : str, optional
        A format name from :func:`detect_format`; detected when omitted.

    Returns
    -------
    dict
        Canonical column (``user_id``, ``ts``, ``event``, ``session_id``, ``product_id``,
        ``category``, ``brand``, ``price``, ``quantity``, ``order_id``) -> source column.

    Examples
    --------
    >>> suggest_mapping(["visitorid", "timestamp", "event", "itemid", "transactionid"])["order_id"]
    'transactionid'
    """
    cols = _Columns(columns)
    name = format if format is not None else detect_format(cols.names)
    fmt = FORMATS_BY_NAME.get(name)
    mapping: dict[str, str] = {}
    if fmt is not None:
        taken: set[str] = set()
        for canon, candidates in fmt.columns.items():
            col = cols.find(candidates, taken)
            if col is not None:
                mapping[canon] = col
                taken.add(col)
    mapping = _synonym_mapping(cols, mapping)
    if fmt is not None and (fmt.order_lines or fmt.event_constant):
        mapping.pop("event", None)
    if fmt is not None and fmt.ts_time:
        time_col = cols.find(fmt.ts_time)
        for canon in [c for c, src in mapping.items() if src == time_col]:
            if canon != "ts":
                del mapping[canon]
    if fmt is not None and fmt.user_from and "user_id" not in fmt.columns:
        mapping.pop("user_id", None)
    return {c: mapping[c] for c in CANONICAL_COLUMNS if c in mapping}


#: Mapping keys besides the canonical columns (see :func:`suggest_options`).
MAPPING_OPTIONS: Final = ("event_constant", "ts_time", "ts_time_unit", "user_fallback")
TIME_UNITS: Final = ("s", "ms", "us")


def suggest_options(columns: Iterable[str], *, format: str | None = None) -> dict[str, str]:
    """The mapping options a format implies, as :func:`core.load_events` would use them.

    Parameters
    ----------
    columns : iterable of str
        The table's column names as read.
    format : str, optional
        A format name from :func:`detect_format`; detected when omitted.

    Returns
    -------
    dict
        Any of ``event_constant`` (every row is this event), ``ts_time`` (a time-of-day or
        offset column added to the day in ``ts``), ``ts_time_unit`` (``s``/``ms``/``us``, for
        numeric offsets) and ``user_fallback`` (the column, usually the visit, whose value
        ``"<column>:<value>"`` stands in for a missing user).

    Examples
    --------
    >>> suggest_options(["sessionId", "userId", "itemId", "timeframe", "eventdate"])
    {'event_constant': 'view_item', 'ts_time': 'timeframe', 'ts_time_unit': 'ms', \
'user_fallback': 'sessionId'}
    """
    cols = _Columns(columns)
    name = format if format is not None else detect_format(cols.names)
    fmt = FORMATS_BY_NAME.get(name)
    out: dict[str, str] = {}
    if fmt is None:
        return out
    if fmt.event_constant:
        out["event_constant"] = fmt.event_constant
    if fmt.ts_time and (col := cols.find(fmt.ts_time)) is not None:
        out["ts_time"] = col
        out["ts_time_unit"] = fmt.ts_time_unit
    if fmt.user_from and (col := cols.find(fmt.user_from)) is not None:
        out["user_fallback"] = col
    return out


def fallback_columns(
    columns: Iterable[str], candidates: Sequence[str], exclude: Iterable[str]
) -> list[str]:
    """Source columns among ``candidates`` (normalized names), minus ``exclude``."""
    cols = _Columns(columns)
    excluded = set(exclude)
    out: list[str] = []
    for cand in candidates:
        col = cols.find([cand], excluded | set(out))
        if col is not None:
            out.append(col)
    return out


__all__ = [
    "FORMATS",
    "FORMATS_BY_NAME",
    "FORMAT_LABELS",
    "GENERIC",
    "MAPPING_OPTIONS",
    "TIME_UNITS",
    "UNKNOWN",
    "ExportFormat",
    "detect_format",
    "fallback_columns",
    "suggest_mapping",
    "suggest_options",
]
