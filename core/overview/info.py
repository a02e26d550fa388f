"""What the sidebar and page controls need to know about a dataset (:func:`dataset_info`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import polars as pl

from core.errors import ParameterError
from core.schema import EVENT_TYPES, property_columns


@dataclass(frozen=True)
class DatasetInfo:
    """What the controls need to know about a dataset (cheap to compute, cached by the UI).

    Attributes
    ----------
    rows, users : int
    first, last : datetime or None
    event_names : tuple of str
        Raw event names, most frequent first.
    event_types : tuple of str
        Canonical event types present, in funnel order.
    properties : dict
        Filterable columns (canonical optional columns and extra properties) -> up to 50 most
        frequent values (empty tuple for high-cardinality or numeric columns).
    numeric : tuple of str
        Numeric property columns.
    """

    rows: int
    users: int
    first: datetime | None
    last: datetime | None
    event_names: tuple[str, ...]
    event_types: tuple[str, ...]
    properties: dict[str, tuple[str, ...]] = field(default_factory=dict)
    numeric: tuple[str, ...] = ()


#: Cells (rows x columns) of one long (column, value) table counted in one query by
#: :func:`dataset_info`: a 2-row table of 10,000 columns is one query, a tall one a few columns
#: per query (the long table holds every cell of its columns as text).
INFO_BATCH_CELLS: Final = 4_000_000


def dataset_info(events: pl.DataFrame | pl.LazyFrame, *, max_values: int = 50) -> DatasetInfo:
    """Summarise a dataset for building controls.

    The work is a fixed number of Polars queries whatever the number of columns: one for the
    counts, the event names and the event types, and one per batch of property columns
    (``rows x columns`` up to :data:`INFO_BATCH_CELLS`), whose values are counted in one long
    ``(column, value)`` table. A 2-row table with 10,000 property columns is two queries
    (one per column took 70 s).

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table.
    max_values : int, default 50
        Columns with more distinct values than this list none (free-text filters instead).

    Returns
    -------
    DatasetInfo
        ``properties`` lists, per column, its values as text, most frequent first (ties in
        text order), nulls left out.

    Raises
    ------
    ParameterError
        If ``max_values`` is not a positive integer.

    Examples
    --------
    >>> from tests.builders import make_events  # doctest: +SKIP
    >>> dataset_info(make_events({"u1": [("view_item", "00:00")]})).event_types  # doctest: +SKIP
    ('view_item',)
    """
    if isinstance(max_values, bool) or not isinstance(max_values, int) or max_values < 1:
        raise ParameterError(f"`max_values` must be a positive integer, got {max_values!r}")
    lf = events.lazy()
    schema = lf.collect_schema()
    names = pl.col("event").drop_nulls().value_counts(name="n").implode().list.eval(
        _by_count("event", None).struct.field("event")
    )
    head = lf.select(
        rows=pl.len(), users=pl.col("user_id").n_unique(), first=pl.col("ts").min(),
        last=pl.col("ts").max(), names=names,
        types=pl.col("event_type").drop_nulls().unique().implode(),
    ).collect().row(0, named=True)
    present = set(head["types"])
    types = tuple(t for t in EVENT_TYPES if t in present)
    candidates = [c for c in ("category", "brand", *property_columns(schema)) if c in schema]
    numeric = [c for c in ("price", "quantity", *candidates) if c in schema
               and schema[c].is_numeric()]
    values = _property_values(lf, candidates, int(head["rows"]), max_values)
    props = {c: tuple(values.get(c, ())) if len(values.get(c, ())) <= max_values else ()
             for c in candidates}
    return DatasetInfo(
        rows=int(head["rows"]), users=int(head["users"]), first=head["first"],
        last=head["last"], event_names=tuple(head["names"]), event_types=types,
        properties=props, numeric=tuple(numeric),
    )


def _by_count(value: str, limit: int | None) -> pl.Expr:
    """Inside ``list.eval`` over ``value_counts`` structs: most frequent first, ties by value."""
    e = pl.element()
    out = e.sort_by([e.struct.field("n"), e.struct.field(value)], descending=[True, False])
    return out if limit is None else out.head(limit)


def _property_values(
    lf: pl.LazyFrame, columns: list[str], rows: int, max_values: int
) -> dict[str, list[str]]:
    """Up to ``max_values + 1`` most frequent values (as text) of each column, batched."""
    out: dict[str, list[str]] = {}
    per_batch = max(1, INFO_BATCH_CELLS // max(rows, 1))
    for i in range(0, len(columns), per_batch):
        batch = columns[i:i + per_batch]
        counts = (
            lf.select([pl.col(c).cast(pl.String) for c in batch])
            .unpivot(variable_name="column", value_name="value")
            .drop_nulls("value")
            .group_by("column", "value").agg(n=pl.len())
            .sort(["column", "n", "value"], descending=[False, True, False])
            .group_by("column", maintain_order=True).agg(pl.col("value").head(max_values + 1))
            .collect()
        )
        out.update(zip(counts["column"].to_list(), counts["value"].to_list(), strict=True))
    return out
