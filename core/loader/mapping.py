"""Which source column feeds each canonical column: detection, the user's mapping and options.

:func:`resolve_layout` combines the columns the export format implies
(:func:`core.formats.suggest_mapping`, :func:`core.formats.suggest_options`) with the user's
corrections, checks that a user, a time and an event are found, and names the extra columns
that are kept as properties.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final

from core.errors import LoadError, ParameterError, SchemaError
from core.formats import (
    FORMATS_BY_NAME,
    MAPPING_OPTIONS,
    TIME_UNITS,
    UNKNOWN,
    ExportFormat,
    fallback_columns,
    suggest_mapping,
    suggest_options,
)
from core.schema import CANONICAL_COLUMNS, CANONICAL_SCHEMA

#: Canonical columns a mapping may name, and those that must be found.
MAPPABLE: Final = tuple(c for c in CANONICAL_COLUMNS if c != "event_type")
REQUIRED: Final = ("user_id", "ts", "event")

#: User ids that mean "no user" (R's and pandas' missing values, JavaScript's undefined).
USER_NULLS: Final = ("NA", "N/A", "n/a", "null", "NULL", "None", "nan", "NaN", "undefined")


def check_mapping(mapping: dict[str, Any]) -> None:
    """Check the keys of a mapping and the values of its options (columns are checked later,
    against the file).

    Raises
    ------
    ParameterError
        Naming the unknown keys and the valid ones, or the bad option value.
    """
    bad = [k for k in mapping if k not in MAPPABLE and k not in MAPPING_OPTIONS]
    if bad:
        raise ParameterError(
            f"`mapping` has unknown canonical column(s) {bad}; valid keys are {list(MAPPABLE)} "
            f"and the options {list(MAPPING_OPTIONS)}"
        )
    unit = mapping.get("ts_time_unit")
    if unit not in (None, "") and unit not in TIME_UNITS:
        raise ParameterError(
            f"`mapping['ts_time_unit']` must be one of {list(TIME_UNITS)}, got {unit!r}"
        )
    constant = mapping.get("event_constant")
    if constant is not None and not isinstance(constant, str):
        raise ParameterError(
            f"`mapping['event_constant']` must be an event name (text), got {constant!r}"
        )


def _resolve_options(
    columns: list[str], fmt_name: str, mapping: dict[str, str] | None, *, source_name: str
) -> dict[str, str]:
    """The options the format implies, overridden by ``mapping`` (``None``/``""`` removes)."""
    options = suggest_options(columns, format=fmt_name)
    mapping = mapping or {}
    if mapping.get("event") and "event_constant" not in mapping:
        options.pop("event_constant", None)  # an event column mapped by hand wins
    for key in MAPPING_OPTIONS:
        if key not in mapping:
            continue
        value = mapping[key]
        if value is None or (isinstance(value, str) and not value.strip()):
            options.pop(key, None)
            continue
        if key in ("ts_time", "user_fallback") and value not in columns:
            raise SchemaError(
                f"`mapping` takes {key} from column {value!r}, which {source_name!r} does not "
                f"have; its columns are {columns}",
                code="missing_column",
            )
        options[key] = value.strip() if key == "event_constant" else value
    if "ts_time" not in options:
        options.pop("ts_time_unit", None)
    return options


def _resolve_mapping(
    columns: list[str],
    fmt_name: str,
    fmt: ExportFormat | None,
    mapping: dict[str, str] | None,
    *,
    source_name: str,
    options: dict[str, str],
) -> dict[str, str]:
    used = suggest_mapping(columns, format=fmt_name)
    mapping = {k: v for k, v in (mapping or {}).items() if k not in MAPPING_OPTIONS}
    for canon, src in (mapping or {}).items():
        if src is None or src == "":
            used.pop(canon, None)
            continue
        if src not in columns:
            raise SchemaError(
                f"`mapping` maps {canon} to column {src!r}, which {source_name!r} does not "
                f"have; its columns are {columns}",
                code="missing_column",
            )
        for other, s in list(used.items()):  # a source column feeds one canonical column
            if s == src and other != canon:
                del used[other]
        used[canon] = src
    order_lines = fmt is not None and fmt.order_lines
    required = [
        c
        for c in REQUIRED
        if not (c == "event" and (order_lines or "event_constant" in options))
        and not (c == "user_id" and "user_fallback" in options)
    ]
    missing = [c for c in required if c not in used]
    if missing:
        expected = "; ".join(
            f"{c}: a column named like {list(_SHOWN_SYNONYMS[c])}" for c in missing
        )
        if fmt_name == UNKNOWN and len(missing) == len(required) and not mapping:
            raise LoadError(
                f"unknown format: the columns of {source_name!r} ({columns}) match no export "
                "PathLens knows (REES46, RetailRocket, Taobao, GA4, Mixpanel, Amplitude, "
                f"Segment, order lines) and name no user, time or event. Expected {expected}; "
                "or map the columns by hand.",
                code="unknown_format",
            )
        raise SchemaError(
            f"{source_name!r} has no column for required {missing}: expected {expected}; "
            f"found {columns}. Map it by hand.",
            code="missing_column",
        )
    return {c: used[c] for c in MAPPABLE if c in used}


_SHOWN_SYNONYMS: Final = {
    "user_id": ("user_id", "customer_id", "visitor_id", "distinct_id", "user_pseudo_id"),
    "ts": ("timestamp", "event_time", "time", "created_at", "date"),
    "event": ("event", "event_name", "event_type", "action", "behavior_type"),
}


def _property_names(extras: list[str]) -> dict[str, str]:
    """Extra columns keep their names unless a canonical column has it (then ``raw_<name>``)."""
    taken = set(CANONICAL_SCHEMA) | set(extras)
    out = {}
    for c in extras:
        name = c
        if c in CANONICAL_SCHEMA or c.startswith("__"):
            base = f"raw_{c.lstrip('_')}"
            name, k = base, 2
            while name in taken:
                name, k = f"{base}_{k}", k + 1
            taken.add(name)
        out[c] = name
    return out


@dataclass(frozen=True)
class Layout:
    """Which source columns feed the canonical table, decided from the column names alone.

    Attributes
    ----------
    used : dict
        Canonical column -> source column.
    fmt : ExportFormat or None
        The detected export format (its fallbacks cleared where the user mapped the column).
    user_fb, event_fb : list of str
        Columns a missing user or event is taken from, in turn.
    extras : list of str
        Source columns kept as properties, named ``renamed[c]``.
    renamed : dict
        Extra column -> property name (``raw_<name>`` when a canonical column has the name).
    options : dict
        Mapping options in force (``event_constant``, ``ts_time``, ``ts_time_unit``,
        ``user_fallback``).
    """

    used: dict[str, str]
    fmt: ExportFormat | None
    user_fb: list[str]
    event_fb: list[str]
    extras: list[str]
    renamed: dict[str, str]
    options: dict[str, str]


def resolve_layout(
    columns: list[str], fmt_name: str, mapping: dict[str, Any] | None, *, source_name: str
) -> Layout:
    """The layout of a file with ``columns`` in format ``fmt_name``, corrected by ``mapping``.

    Raises
    ------
    SchemaError
        ``mapping`` names a column the file lacks, or a required column is not found.
    LoadError
        The columns match no known format and name no user, time or event.
    """
    fmt = FORMATS_BY_NAME.get(fmt_name)
    options = _resolve_options(columns, fmt_name, mapping, source_name=source_name)
    used = _resolve_mapping(
        columns, fmt_name, fmt, mapping, source_name=source_name, options=options
    )
    if fmt is not None and mapping and "user_id" in mapping:
        fmt = replace(fmt, user_fallback=())
    if fmt is not None and mapping and "event" in mapping:
        fmt = replace(fmt, event_fallback=())
    user_fb = (
        fallback_columns(columns, fmt.user_fallback, [used["user_id"]])
        if fmt is not None and "user_id" in used
        else []
    )
    event_fb = (
        fallback_columns(columns, fmt.event_fallback, [used["event"]])
        if fmt is not None and "event" in used
        else []
    )
    mapped = set(used.values()) | {options[k] for k in ("ts_time",) if k in options}
    extras = [c for c in columns if c not in mapped]
    return Layout(used, fmt, user_fb, event_fb, extras, _property_names(extras), options)
