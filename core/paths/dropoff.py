"""Paths after a funnel drop-off: what did the people who did not reach step k do next?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from core.errors import ParameterError
from core.params import Interval
from core.paths.engine import run
from core.paths.params import COUNT_BY, PathsParams
from core.paths.result import PathsResult, empty_result

if TYPE_CHECKING:
    from core.funnels import FunnelParams

_DEFAULT_PARAMS = PathsParams()


@dataclass(frozen=True)
class FunnelDropOff:
    """What a link from the Funnels page restricts the paths to.

    Attributes
    ----------
    step : int
        The funnel step ``k`` people did not reach.
    previous_label, step_label : str
        Labels of steps ``k - 1`` (where the paths start) and ``k``.
    entities : int
        How many entities reached step ``k - 1`` but not ``k``.
    count_by : str
        The funnel's entity, which the paths count too.
    start : str or None
        The start point used (step ``k - 1``'s event when it is a single event name and the
        nodes are events); the paths begin at the time of step ``k - 1`` in any case.
    """

    step: int
    previous_label: str
    step_label: str
    entities: int
    count_by: str
    start: str | None


def paths_after_drop_off(
    events: pl.DataFrame | pl.LazyFrame,
    *,
    funnel: FunnelParams,
    dropped_at: int,
    params: PathsParams = _DEFAULT_PARAMS,
) -> tuple[PathsResult, FunnelDropOff]:
    """What did the people who dropped off at funnel step ``k`` do next?

    Computes the funnel, keeps the entities that reached step ``k - 1`` but not step ``k``
    (:func:`core.funnels.dropped_off`), keeps their events from the time of their step ``k - 1``
    on, and computes paths that start there, counted by the funnel's entity.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table (the same the funnel was computed on).
    funnel : core.funnels.FunnelParams
        The funnel (e.g. ``FunnelParams.from_query`` of the Funnels page's link).
    dropped_at : int
        The step not reached, 2 to the number of steps.
    params : PathsParams
        The other path settings; ``start`` and ``count_by`` are replaced as described.

    Returns
    -------
    (PathsResult, FunnelDropOff)
        The paths (empty with a reason when nobody dropped off there) and what was used.

    Raises
    ------
    ParameterError
        ``dropped_at`` is out of range, or the funnel counts something other than sessions
        or users.
    """
    # lazy: the Funnels feature is optional in a build (see ui.paths); paths work without it
    from core.funnels import dropped_off

    steps = funnel.steps
    n = len(steps)
    if not Interval(int, 2, max(n, 1)).is_satisfied_by(dropped_at):
        raise ParameterError(
            f"`dropped_at` must be a funnel step from 2 to {n} (paths start at the step "
            f"before it), got {dropped_at!r}"
        )
    if funnel.count_by not in COUNT_BY:
        raise ParameterError(
            f"paths count sessions or users; this funnel counts by {funnel.count_by!r}"
        )
    previous = steps[dropped_at - 2]
    start = previous.events[0] if len(previous.events) == 1 and params.node == "event" else None
    p = params.replace(start=start, count_by=funnel.count_by)
    gone = dropped_off(funnel.compute(events), dropped_at)
    info = FunnelDropOff(
        step=dropped_at,
        previous_label=previous.display_label,
        step_label=steps[dropped_at - 1].display_label,
        entities=gone.height,
        count_by=funnel.count_by,
        start=start,
    )
    if gone.height == 0:
        return empty_result(
            p, f"nobody reached {info.previous_label!r} without going on to {info.step_label!r}"
        ), info
    return run(_from_drop_off(events, gone, funnel.count_by), p), info


def _from_drop_off(
    events: pl.DataFrame | pl.LazyFrame, gone: pl.DataFrame, key: str
) -> pl.LazyFrame:
    """The events of the entities in ``gone`` from their ``dropped_after`` time on."""
    return (
        events.lazy()
        .join(
            gone.lazy().select(pl.col(key).cast(pl.String), "dropped_after"),
            left_on=pl.col(key).cast(pl.String),
            right_on=key,
            how="inner",
            maintain_order="left",
        )
        .filter(pl.col("ts") >= pl.col("dropped_after"))
        .drop("dropped_after")
    )
