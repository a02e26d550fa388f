"""Cached wrappers of the Paths page, and the link from the Funnels page.

Results are shared between sessions with ``cache_resource`` (a :class:`core.paths.PathsResult`
is frozen and its Polars frames are immutable); the keys are hashable primitives and the frozen
:class:`core.paths.PathsParams`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import polars as pl
import streamlit as st

from core.cohorts import CohortDraft, path_node_members
from core.cohorts.model import MAX_DEFINITION_CHARS
from core.compare import ComparisonWindow
from core.errors import ParameterError
from core.fmt import fmt_count, fmt_duration, fmt_pct
from core.funnels import FunnelParams
from core.paths import (
    FunnelDropOff,
    PathsParams,
    PathsResult,
    filter_breakdown,
    paths_after_drop_off,
)
from core.paths.result import display_name
from ui.cohorts import save_cohort_control
from ui.data import filtered_events
from ui.engine import runs_on_spark, spark_earlier, spark_events, view_members
from ui.overview import earlier_events, tile_change
from ui.urls import DROPPED_AT_KEY, FUNNEL_KEY, read_funnel_link, remove
from ui.view import DataView


@dataclass(frozen=True)
class FunnelLink:
    """The Funnels page's "what did people who dropped off at step k do next" link."""

    funnel_query: str
    dropped_at: int


def _events(view: DataView, breakdown: tuple[str, str] | None, count_by: str):
    return _of_breakdown(filtered_events(view), breakdown, count_by)


def _of_breakdown(events, breakdown: tuple[str, str] | None, count_by: str):
    if breakdown is not None:
        column, value = breakdown
        events = filter_breakdown(events, column=column, value=value, count_by=count_by)
    return events


@st.cache_resource(max_entries=16, show_spinner="Computing paths…")
def cached_paths(
    view: DataView,
    params: PathsParams,
    breakdown: tuple[str, str] | None = None,
) -> PathsResult:
    """Paths of the view's events (of one breakdown value when given); on Spark for a lake
    dataset (:func:`ui.engine.runs_on_spark`)."""
    if runs_on_spark(view):
        return _spark_paths(spark_events(view), params, breakdown)
    return params.compute(_events(view, breakdown, params.count_by))


def _spark_drop_off_paths(source, link: FunnelLink, params: PathsParams,
                          breakdown: tuple[str, str] | None) -> tuple[PathsResult, FunnelDropOff]:
    """The paths after the linked drop-off of a view's events on Spark."""
    from core.spark import paths_after_drop_off_spark, then  # lazy: pyspark only on Spark

    funnel = FunnelParams.from_query(link.funnel_query)
    if breakdown is not None:
        source = then(source, partial(filter_breakdown, column=breakdown[0], value=breakdown[1],
                                      count_by=funnel.count_by),
                      needs={breakdown[0], funnel.count_by})
    return paths_after_drop_off_spark(source, funnel=funnel, dropped_at=link.dropped_at,
                                      params=params)


def _spark_paths(source, params: PathsParams, breakdown: tuple[str, str] | None) -> PathsResult:
    """:func:`core.spark.compute_paths_spark` of a view's events on Spark (of one breakdown
    value's entities when given, kept in every partition)."""
    from core.spark import compute_paths_spark, then  # lazy: pyspark only on Spark

    if breakdown is not None:
        source = then(source, partial(filter_breakdown, column=breakdown[0], value=breakdown[1],
                                      count_by=params.count_by),
                      needs={breakdown[0], params.count_by})
    return compute_paths_spark(source, params)


@st.cache_resource(max_entries=16, show_spinner="Computing the funnel and the paths…")
def cached_drop_off_paths(
    view: DataView,
    link: FunnelLink,
    params: PathsParams,
    breakdown: tuple[str, str] | None = None,
) -> tuple[PathsResult, FunnelDropOff]:
    """Paths of the entities that dropped off at the linked funnel step (on Spark for a lake
    dataset, :func:`core.spark.paths_after_drop_off_spark`)."""
    if runs_on_spark(view):
        return _spark_drop_off_paths(spark_events(view), link, params, breakdown)
    funnel = FunnelParams.from_query(link.funnel_query)
    events = _events(view, breakdown, funnel.count_by)
    return paths_after_drop_off(
        events, funnel=funnel, dropped_at=link.dropped_at, params=params
    )


@dataclass(frozen=True)
class EarlierPaths:
    """The same paths over the earlier window they are compared with.

    ``result`` is ``None`` when no change can be shown (``note`` says why: the data do not
    cover the earlier window, or no date range was picked) or the data hold no event there."""

    window: ComparisonWindow
    result: PathsResult | None
    note: str = ""


@st.cache_resource(max_entries=16, show_spinner="Computing the earlier period's paths…")
def cached_earlier_paths(
    view: DataView,
    params: PathsParams,
    against: str,
    breakdown: tuple[str, str] | None = None,
    link: FunnelLink | None = None,
) -> EarlierPaths | None:
    """The paths of :func:`cached_paths` (of :func:`cached_drop_off_paths` with ``link``) on
    the view's events of the earlier window ``against`` (``"previous"`` or ``"year"``): same
    settings, filters, cohorts, segments and breakdown value, only the dates shifted. ``None``
    when the view holds no event."""
    if runs_on_spark(view):
        if (spark := spark_earlier(view, against)) is None:
            return None
        if spark.note or spark.empty:
            return EarlierPaths(spark.window, None, spark.note)
        result = (_spark_paths(spark.events(), params, breakdown) if link is None else
                  _spark_drop_off_paths(spark.events(), link, params, breakdown)[0])
        return EarlierPaths(spark.window, result, spark.note)
    found = earlier_events(view, against)
    if found is None:
        return None
    if found.note or found.events.is_empty():
        return EarlierPaths(found.window, None, found.note)
    if link is None:
        result = params.compute(_of_breakdown(found.events, breakdown, params.count_by))
    else:
        funnel = FunnelParams.from_query(link.funnel_query)
        result, _ = paths_after_drop_off(
            _of_breakdown(found.events, breakdown, funnel.count_by), funnel=funnel,
            dropped_at=link.dropped_at, params=params)
    return EarlierPaths(found.window, result, found.note)


def _path_numbers(result: PathsResult) -> tuple[int, float | None, int]:
    """Entities with a path, the share that went on to purchase, distinct paths."""
    if result.empty:
        return 0, None, 0
    bought = result.path_counts["purchased"].sum() / result.entities
    return result.entities, bought, result.path_counts.height


def paths_tiles(result: PathsResult,
                earlier: EarlierPaths | None) -> list[tuple[str, str, str | None, str]]:
    """The tiles of one result as ``(label, value, delta, help)``; with ``earlier``, each
    delta is the change against the same paths of the earlier window and the help ends with
    the earlier value and its dates, or with why no change is shown."""
    word = result.params.entity_word
    now = _path_numbers(result)
    tiles = [(f"{word.capitalize()} with a path", fmt_count(now[0]), ""),
             ("Went on to purchase", fmt_pct(now[1]),
              "At or after the start of their path, even beyond the steps shown."),
             ("Distinct paths", fmt_count(now[2]), "")]
    if earlier is None:
        return [(label, value, None, text) for label, value, text in tiles]
    w = earlier.window
    when = w.label.removeprefix("vs ")
    if earlier.note:
        return [(label, value, None, f"{text} {earlier.note}".strip())
                for label, value, text in tiles]
    before = (_path_numbers(earlier.result) if earlier.result is not None
              else (0, None, 0))
    if before[0] == 0:
        why = f"No change: no {word} had a path in the earlier period, {when}."
        return [(label, value, None, f"{text} {why}".strip()) for label, value, text in tiles]
    shown = (fmt_count(before[0]), fmt_pct(before[1]), fmt_count(before[2]))
    return [(label, value, tile_change(n, b, w, rate=i == 1),
             f"{text} {b_text} in the earlier period, {when}.".strip())
            for i, ((label, value, text), n, b, b_text)
            in enumerate(zip(tiles, now, before, shown, strict=True))]


def comparison_caption(earlier: EarlierPaths) -> str:
    """What the tiles' changes are against, or why there are none."""
    if earlier.note:
        return earlier.note
    return (f"Changes {earlier.window.label}: the same paths (settings, filters and "
            "breakdown value) on that period's events.")


def _clear_funnel_link() -> None:
    remove(FUNNEL_KEY, DROPPED_AT_KEY)


def funnel_link(notice) -> FunnelLink | None:
    """Read the Funnels page's link parameters; report and drop them when unusable.

    Parameters
    ----------
    notice : callable
        Reports an ignored URL parameter (``PageContext.notice``).

    Returns
    -------
    FunnelLink or None
    """
    try:
        linked = read_funnel_link()
    except ParameterError as e:
        notice(f"Ignored the funnel drop-off link: {e.message}")
        return None
    if linked is None:
        return None
    query, k = linked
    return FunnelLink(funnel_query=query, dropped_at=k)


def funnel_banner_text(info: FunnelDropOff, who: str, *, window_seconds: float,
                       order: str) -> str:
    """The banner's sentence: who the paths are of, in the funnel's own terms.

    Dropping off at step ``k`` means not reaching it *within the funnel's conversion window*
    (and in the funnel's order); some of these people do it later, and the paths, which run past
    the window, show it (the "Went on to purchase" figure under the banner counts them). The
    banner therefore never says "never".
    """
    how = {"strict": ", with no other event in between",
           "unordered": ""}.get(order, ", in order")
    return (
        f"**From the Funnels page:** the paths of the {who} that reached "
        f"*{info.previous_label}* but not *{info.step_label}* (step {info.step}) within the "
        f"funnel's {fmt_duration(window_seconds)} conversion window{how}, starting at their "
        f"*{info.previous_label}*. Some did it later: the paths follow them past the window."
    )


def funnel_banner(info: FunnelDropOff, word: str, link: FunnelLink, *,
                  count: bool = True) -> None:
    """Explain the funnel restriction, with a button that clears it."""
    funnel = FunnelParams.from_query(link.funnel_query)
    who = f"**{info.entities:,} {word}**" if count else f"**{word}**"
    with st.container(border=True):
        st.markdown(funnel_banner_text(info, who, window_seconds=funnel.window.total_seconds(),
                                       order=funnel.order))
        st.button(
            "Show all paths instead",
            key="paths.clear_funnel",
            on_click=_clear_funnel_link,
            icon=":material/close:",
        )


def _node_options(results: list[PathsResult], values: list[str]) -> dict[str, str]:
    """``"<result index>|<node key>"`` -> how the node reads, for every node of every result
    (by step, largest first)."""
    options: dict[str, str] = {}
    for i, r in enumerate(results):
        if r.empty:
            continue
        side = f"{values[i]} · " if len(values) > 1 else ""
        for key, step, name, value in (r.nodes.sort(["step", "value"], descending=[False, True])
                                       .select("key", "step", "name", "value").iter_rows()):
            options[f"{i}|{key}"] = (f"{side}step {step}: {display_name(name)} "
                                     f"({value:,} {r.params.entity_word})")
    return options


def node_cohort_control(view: DataView, results: list[PathsResult], *, by: str | None,
                        values: list[str]) -> None:
    """Pick a node of the chart and save the users whose paths are at it as a cohort.

    ``results`` are the charts shown (one, or two compared), ``values`` the breakdown values
    they are of (``[]`` without a breakdown).
    """
    options = _node_options(results, values)
    if not options:
        return
    if st.session_state.get("paths.cohort_node") not in options:
        st.session_state["paths.cohort_node"] = next(iter(options))
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    picked = left.selectbox("Node", list(options), key="paths.cohort_node",
                            format_func=options.get,
                            help="The users whose paths are at this node are saved: a node "
                                 "counts sessions or users, a cohort counts users.")
    i, node = picked.split("|", 1)
    result = results[int(i)]
    value = values[int(i)] if values else None
    name = result.nodes.filter(pl.col("key") == node).get_column("name").item()

    filters, count_by = view.filters, result.params.count_by

    def draft() -> CohortDraft:
        breakdown = (by, value) if by is not None and value is not None else None
        found = view_members(view, lambda events: path_node_members(
            result, _of_breakdown(events, breakdown, count_by), node, filters=filters))
        if breakdown is None:
            return found
        return CohortDraft(found.members, f"{found.definition} · {by} = {value}"[:MAX_DEFINITION_CHARS])

    with right:
        save_cohort_control(view, draft, source="path_node", key="paths.cohort",
                            label="Save its users as a cohort",
                            name=f"{display_name(name)} at step {node.split('_', 1)[0]}")
