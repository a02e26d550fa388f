"""The users behind what a page shows, ready to save as a cohort.

Each function takes a page's result (or its events and settings) and a choice on it (a funnel
step, a Sankey node, a segment, a rule's antecedent, the riskiest carts, a retention cell) and
returns a :class:`CohortDraft`: the members (a ``user_id`` Series, sorted, no repeats) and the
definition in words, to pass to :meth:`core.store.DatasetStore.save_cohort` with the matching
``source`` (:data:`core.cohorts.model.SOURCES`). With ``filters`` (the sidebar's) the definition
ends with the date range and the property conditions the page used.

A result counted by something other than the user (a funnel by session) gives the users of the
entities chosen; that needs the ``events`` the result was computed from. A draft may be empty
(nobody dropped off); saving it is refused with a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import polars as pl

from core.cohorts.model import COUNT_BY, MAX_DEFINITION_CHARS
from core.cohorts.paths import path_entities
from core.errors import ParameterError, SchemaError, is_integer
from core.filters import FilterParams
from core.fmt import fmt_duration, fmt_pct
from core.funnels import FunnelResult, dropped_off
from core.paths.result import PathsResult, display_name
from core.retention import RetentionResult, retained_people
from core.rules.baskets import _basket_key, _column_any_case, _is_placeholder
from core.rules.params import RulesParams

if TYPE_CHECKING:
    from core.segments import Segmentation

#: Separator of the parts of a definition.
SEP: Final = " · "


class CohortDraft(NamedTuple):
    """Users found on a page and how they were found (unpacks as ``members, definition``)."""

    members: pl.Series
    definition: str


def scope_text(filters: FilterParams | None) -> str:
    """The sidebar's filters in words: ``"2024-01-01–2024-01-31 · device = mobile"``; ``""``
    without filters."""
    if filters is None:
        return ""
    parts = []
    lo, hi = filters.date_from, filters.date_to
    if lo is not None and hi is not None:
        parts.append(f"{lo.isoformat()}–{hi.isoformat()}")
    elif lo is not None:
        parts.append(f"from {lo.isoformat()}")
    elif hi is not None:
        parts.append(f"until {hi.isoformat()}")
    parts += [c.label() for c in filters.conditions]
    return SEP.join(parts)


def _definition(page: str, what: str, settings: Sequence[str],
                filters: FilterParams | None) -> str:
    text = SEP.join(p for p in (f"{page}: {what}", *settings, scope_text(filters)) if p)
    if len(text) > MAX_DEFINITION_CHARS:  # many conditions: keep what made it, cut the scope
        text = text[: MAX_DEFINITION_CHARS - 1] + "…"
    return text


def _users(values: pl.Series) -> pl.Series:
    return values.drop_nulls().unique().sort().rename(COUNT_BY)


def _users_of(entities: pl.Series, count_by: str,
              events: pl.DataFrame | pl.LazyFrame | None, what: str) -> pl.Series:
    """The users of ``entities`` (values of ``count_by``)."""
    if count_by == COUNT_BY:
        return _users(entities)
    if events is None:
        raise ParameterError(
            f"this {what} counts {count_by} values, not users: pass the `events` it was "
            f"computed from to find the users of those {count_by} values")
    lf = events.lazy()
    dtype = lf.collect_schema().get(count_by)
    if dtype is None:
        raise ParameterError(f"`events` has no {count_by!r} column (the {what} counts it)")
    ids = entities.cast(dtype, strict=False).drop_nulls().unique().implode()
    users = lf.filter(pl.col(count_by).is_in(ids)).select(COUNT_BY).unique().collect()
    return _users(users.get_column(COUNT_BY))


def _step_number(step: Any, n: int) -> int:
    if not is_integer(step) or not 1 <= step <= max(n, 1):
        raise ParameterError(f"`step` must be a step number from 1 to {n}, got {step!r}")
    return int(step)


def _funnel_settings(result: FunnelResult) -> list[str]:
    out = [f"window {fmt_duration(result.window.total_seconds())}"]
    if result.order != "ordered":
        out.append(f"{result.order} order")
    if result.count_by != COUNT_BY:
        out.append(f"counted by {result.count_by}")
    return out


def funnel_dropoff_members(result: FunnelResult, step: int, *,
                           events: pl.DataFrame | pl.LazyFrame | None = None,
                           filters: FilterParams | None = None) -> CohortDraft:
    """Users who reached ``step - 1`` of a funnel but not ``step`` (:func:`core.funnels.dropped_off`;
    ``step=1``: those who never did step 1). Source ``"funnel_dropoff"``.

    Parameters
    ----------
    result : FunnelResult
    step : int
        1-based step they did not reach.
    events : pl.DataFrame or pl.LazyFrame, optional
        The funnel's events; needed when it counts something other than ``user_id``.
    filters : FilterParams, optional
        The page's filters, for the definition.

    Raises
    ------
    ParameterError
        ``step`` is out of range, or ``events`` is needed and missing.
    """
    step = _step_number(step, result.n_steps)
    entities = dropped_off(result, step).get_column(result.count_by)
    labels = result.labels
    if step == 1:
        what = f"never did step 1 ({labels[0]})"
    else:
        what = (f"dropped off after step {step - 1} ({labels[step - 2]}), before step {step} "
                f"({labels[step - 1]})")
    members = _users_of(entities, result.count_by, events, "funnel")
    return CohortDraft(members, _definition("Funnels", what, _funnel_settings(result), filters))


def funnel_conversion_members(result: FunnelResult, step: int | None = None, *,
                              events: pl.DataFrame | pl.LazyFrame | None = None,
                              filters: FilterParams | None = None) -> CohortDraft:
    """Users who reached ``step`` of a funnel (default the last: those who converted);
    excluded entities are left out, as in the funnel's counts. Source ``"funnel_conversion"``.

    Raises
    ------
    ParameterError
        ``step`` is out of range, or ``events`` is needed and missing.
    """
    n = result.n_steps
    step = n if step is None else _step_number(step, n)
    ents = result.entities.filter(~pl.col("excluded") & (pl.col("furthest_step") >= step))
    label = result.labels[step - 1] if result.labels else ""
    what = (f"converted (reached step {step} of {n}: {label})" if step == n
            else f"reached step {step} of {n} ({label})")
    members = _users_of(ents.get_column(result.count_by), result.count_by, events, "funnel")
    return CohortDraft(members, _definition("Funnels", what, _funnel_settings(result), filters))


def path_node_members(result: PathsResult, events: pl.DataFrame | pl.LazyFrame, node: str, *,
                      filters: FilterParams | None = None) -> CohortDraft:
    """Users whose path (a session's or their own) is at ``node`` of the Sankey: the same
    entities the node's value counts (:func:`~core.cohorts.paths.path_entities`).
    Source ``"path_node"``.

    Parameters
    ----------
    result : PathsResult
    events : pl.DataFrame or pl.LazyFrame
        The events the paths were computed from (the result keeps counts, not people).
    node : str
        A node key of ``result.nodes`` (``"2_add_to_cart"``, ``"3_$other"``).

    Raises
    ------
    ParameterError
        ``node`` is not a node of ``result``.
    """
    row = result.nodes.filter(pl.col("key") == node)
    if row.height == 0:
        keys = result.nodes.get_column("key").head(8).to_list()
        raise ParameterError(
            f"`node` {node!r} is not a node of these paths; nodes are keyed '<step>_<name>', "
            f"e.g. {keys}")
    step, name = row.get_column("step").item(), row.get_column("name").item()
    table = path_entities(events, result.params)
    members = _users(table.filter(pl.col(f"step_{step}") == name).get_column(COUNT_BY))
    p = result.params
    settings = [f"{p.entity_word} by {p.node}"]
    if p.start is not None:
        settings.append(f"starting at {p.start}")
    if p.end is not None:
        settings.append(f"ending at {p.end}")
    what = f"at {display_name(name)!r} on step {step}"
    return CohortDraft(members, _definition("Paths", what, settings, filters))


def segment_members(segmentation: Segmentation, segment: int | str, *,
                    filters: FilterParams | None = None) -> CohortDraft:
    """Users of one segment (by number or name). Source ``"segment"``.

    Raises
    ------
    ParameterError
        The segmentation is empty, or has no such segment.
    """
    if segmentation.is_empty:
        raise ParameterError(f"there are no segments to save: {segmentation.reason}")
    sizes = segmentation.sizes
    col = "name" if isinstance(segment, str) else "segment"
    row = sizes.filter(pl.col(col) == segment)
    if row.height == 0:
        raise ParameterError(
            f"`segment` must be a number from 1 to {segmentation.k} or one of the names "
            f"{list(segmentation.names)}, got {segment!r}")
    number, name = row.get_column("segment").item(), row.get_column("name").item()
    labels = segmentation.labels.filter(pl.col("segment") == number)
    what = f"segment {number} of {segmentation.k} ({name!r})"
    settings = [f"K-means on {', '.join(segmentation.columns)}", f"seed {segmentation.seed}"]
    return CohortDraft(_users(labels.get_column(COUNT_BY)),
                       _definition("Segments", what, settings, filters))


def antecedent_members(data: pl.DataFrame | pl.LazyFrame, antecedent: Sequence[str], *,
                       params: RulesParams | None = None,
                       filters: FilterParams | None = None) -> CohortDraft:
    """Users with a basket that holds every item of ``antecedent`` (a rule's left side).
    Source ``"rules_antecedent"``.

    Baskets are built as :func:`core.rules.mine_rules` builds them (``params.basket``,
    ``params.item``, ``params.source_event``; placeholder items left out).

    Parameters
    ----------
    data : pl.DataFrame or pl.LazyFrame
        The canonical events, or a baskets table (``basket_id``, ``item``) with a ``user_id``
        column.
    antecedent : sequence of str
        The items (a value of ``rules["antecedents"]``).
    params : RulesParams, optional
        The mining's settings (the basket, item and source event are read).

    Raises
    ------
    ParameterError
        ``antecedent`` is empty.
    SchemaError
        A baskets table without ``user_id`` (an uploaded baskets file names no users), or the
        columns the basket and item need are missing.
    """
    items = sorted({str(i) for i in ([antecedent] if isinstance(antecedent, str) else antecedent)})
    if not items:
        raise ParameterError("`antecedent` must name at least one item, got none")
    params = params or RulesParams()
    baskets, how = _user_baskets(data.lazy(), params)
    hits = (baskets.filter(pl.col("item").is_in(items)).group_by("basket_id")
            .agg(pl.col("item").n_unique().alias("n")).filter(pl.col("n") == len(items)))
    users = (baskets.join(hits, on="basket_id", how="semi").select(COUNT_BY).unique().collect())
    what = f"a basket ({how}) holding {'all of ' if len(items) > 1 else ''}{', '.join(items)}"
    return CohortDraft(_users(users.get_column(COUNT_BY)),
                       _definition("Basket rules", what, [], filters))


def _user_baskets(lf: pl.LazyFrame, params: RulesParams) -> tuple[pl.LazyFrame, str]:
    """``basket_id, item, user_id`` rows (nulls and placeholders left out) and the baskets in
    words."""
    names = lf.collect_schema().names()
    if "basket_id" in names and "item" in names and "event_type" not in names:
        if COUNT_BY not in names:
            raise SchemaError(
                "this baskets table has no `user_id` column, so it cannot say who bought a "
                f"basket; found columns {names}")
        rows = lf.filter(~_is_placeholder(pl.col("item")).fill_null(False)).select(
            pl.col("basket_id").cast(pl.String), pl.col("item").cast(pl.String), COUNT_BY)
        return rows.drop_nulls(), "baskets file"
    if "event_type" not in names:
        raise SchemaError("`data` must be the canonical events (with `event_type`) or a "
                          f"baskets table with `basket_id`, `item` and `user_id`; found {names}")
    item = _column_any_case(params.item, names)
    if item not in names:
        raise SchemaError(f"`item` column {item!r} is not in the data; available columns: {names}")
    chosen = lf.filter((pl.col("event_type") == params.source_event)
                       & ~_is_placeholder(pl.col(item)).fill_null(False))
    rows = chosen.select(_basket_key(params.basket, names).alias("basket_id"),
                         pl.col(item).cast(pl.String).alias("item"), COUNT_BY)
    return rows.drop_nulls(), f"{params.basket.removesuffix('_id')}, {params.source_event} events"


def riskiest_cart_members(scores: pl.DataFrame, n: int, *, status: str | None = None,
                          filters: FilterParams | None = None) -> CohortDraft:
    """Users of the ``n`` riskiest carts not bought (highest ``p_abandon`` first, then session
    id). Source ``"cart_risk"``.

    Parameters
    ----------
    scores : pl.DataFrame
        :func:`core.cart.score_carts` (or :func:`core.cart.cart_status` with ``status``).
    n : int
        How many carts, at least 1 (a user with several of them counts once).
    status : str, optional
        Only carts with this status (``"open"``: recoverable); default every cart not bought.

    Raises
    ------
    ParameterError
        ``n`` is not a positive whole number, or ``status`` is given without a status column.
    """
    if not is_integer(n) or n < 1:
        raise ParameterError(f"`n` must be a whole number of carts, at least 1, got {n!r}")
    if status is not None and "status" not in scores.columns:
        raise ParameterError("`scores` has no `status` column; pass it through cart_status "
                             "first or leave `status` out")
    chosen = scores.filter(pl.col("open") if status is None else pl.col("status") == status)
    top = chosen.sort(["p_abandon", "session_id"], descending=[True, False]).head(int(n))
    kind = "not bought" if status is None else status.replace("_", " ")
    what = f"the {top.height:,} riskiest carts ({kind})"
    settings = []
    if top.height:
        lo, hi = top.get_column("p_abandon").min(), top.get_column("p_abandon").max()
        settings.append(f"abandonment risk {fmt_pct(lo)}–{fmt_pct(hi)}")
    return CohortDraft(_users(top.get_column(COUNT_BY)),
                       _definition("Cart abandonment", what, settings, filters))


def retention_cell_members(result: RetentionResult, cohort: datetime, period: int, *,
                           group: str | None = None,
                           events: pl.DataFrame | pl.LazyFrame | None = None,
                           filters: FilterParams | None = None) -> CohortDraft:
    """The users counted in one cell of a retention table (:func:`core.retention.retained_people`;
    ``period=0``: the whole cohort). Source ``"retention_cell"``.

    Raises
    ------
    ParameterError
        ``period`` is out of range, ``cohort`` or ``group`` is not in the table, or ``events``
        is needed and missing.
    """
    p = result.params
    if not is_integer(period) or not 0 <= period < p.periods:
        raise ParameterError(f"`period` must be from 0 to {p.periods - 1}, got {period!r}")
    cohorts = result.people.get_column("cohort").unique().sort()
    if cohort not in cohorts.to_list():
        raise ParameterError(
            f"`cohort` {cohort!r} is not a cohort of this table; cohorts start on "
            f"{[c.date().isoformat() for c in cohorts.head(8).to_list()]}")
    if group is not None and group not in result.groups:
        raise ParameterError(f"`group` {group!r} is not a group of this table: {result.groups}")
    people = retained_people(result, cohort, period, group=group)
    start = f"{p.period} of {cohort.date().isoformat()}"
    if period == 0:
        what = f"the {start} cohort (start: {p.label('start')})"
    else:
        when = f"{p.period} {period}" + (" or later" if p.mode == "unbounded" else "")
        what = f"of the {start} cohort (start: {p.label('start')}), came back in {when}"
    settings = [f"returning: {p.label('returning')}"] if period else []
    if group is not None:
        settings.append(f"{p.breakdown} = {group}")
    members = _users_of(people, p.count_by, events, "retention table")
    return CohortDraft(members, _definition("Retention", what, settings, filters))
