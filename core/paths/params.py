"""The settings of a paths analysis: :class:`PathsParams`, validated once, when built.

The rules are declared in ``PathsParams._parameter_constraints`` (see :mod:`core.params`); the
two rules that a constraint list cannot state live in :meth:`PathsParams._check` (``max_steps``
with both anchors, and the grouping patterns, which must compile). The ``node`` column is
checked against the events table by the engine, with :meth:`PathsParams.check_columns`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

import polars as pl

from core.errors import ParameterError
from core.params import Column, Interval, Options, Params

if TYPE_CHECKING:
    from core.paths.result import PathsResult

COUNT_BY: Final = ("session_id", "user_id")
MAX_STEPS_LIMIT: Final = 20
#: Columns that are never nodes: the time and the entity keys.
NOT_NODES: Final = ("ts", "user_id", "session_id")

_ENTITY_WORD = {"session_id": "sessions", "user_id": "users"}


class _IntegerFromTo(Interval):
    """A whole number between two bounds, worded "an integer from 2 to 20"."""

    def __init__(self, left: int, right: int) -> None:
        super().__init__(int, left, right)

    def describe(self) -> str:
        return f"an integer from {self.left} to {self.right}"


class _NodeColumn(Column):
    """A column of categories: any column of the events table but the time and the keys."""

    def is_satisfied_by(self, value: Any) -> bool:
        return super().is_satisfied_by(value) and value not in NOT_NODES

    def describe(self) -> str:
        return "a column of categories such as 'event', 'event_type' or 'category'"


@dataclass(frozen=True)
class PathsParams(Params):
    """The settings of a paths analysis (frozen and hashable, so pages can cache on them).

    Parameters
    ----------
    start : str, optional
        Paths begin at the *first* occurrence of this node in each entity (after collapsing);
        entities that never reach it are left out. Compared with node names after groupings;
        a raw name that a grouping renames is accepted too. ``""`` means None.
    end : str, optional
        Paths end at the first occurrence of this node: the ``max_steps`` steps leading to it,
        walking backwards. The end node sits at step ``max_steps`` and shorter paths begin at
        later steps. With ``start`` as well: what happens between the first start and the
        first end after it; paths longer than ``max_steps`` keep their first and last steps
        around one "…" node.
    max_steps : int, default 5
        Steps per path, 2 to 20 (at least 3 with both ``start`` and ``end``).
    count_by : {"session_id", "user_id"}, default "session_id"
        What a path is and what the counts count: each session's events, or each user's whole
        history across sessions.
    node : str, default "event"
        Column whose values are the nodes: ``"event"`` (raw names), ``"event_type"`` (canonical
        steps), ``"category"`` (category hops) or any other property column.
    collapse_repeats : bool, default True
        Consecutive repeats of the same node count once (``A A B`` -> ``A B``); loops that come
        back later stay (``A B A``). The step's time is that of the last repeat (as PostHog).
    top_per_step : int or None, default 8
        Per step, keep the most frequent nodes and fold the rest into one "Other" node (whose
        counts include everything folded). ``None`` keeps every node.
    min_edge_weight : int, default 1
        Links taken by fewer entities are folded too: those entities' target node becomes the
        step's "Other" node, so every total stays exact and flows stay conserved. Links into
        "Other" and drop-off nodes are never folded.
    exclude : str or iterable of str
        Node names (raw, or after groupings) removed before paths are built; stored as a tuple.
    groupings : str or iterable of str or (pattern, name)
        Rules that merge node names before anything is counted, first match wins: a wildcard
        pattern (``"/product/*"``, ``*`` = any characters) names its own group; ``"re:<regex>"``
        is a regular expression; a ``(pattern, name)`` pair names the group explicitly.
        Patterns match anywhere in the name (as PostHog's); anchor regexes with ``^``/``$``.
        Stored as a tuple (pairs as tuples).

    Raises
    ------
    ParameterError
        A parameter is out of range; the message names it, the bad value and what is valid.
        Whether ``node`` is a column of the table is checked by the engine
        (:meth:`check_columns`).
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "start": [str, None],
        "end": [str, None],
        "max_steps": [_IntegerFromTo(2, MAX_STEPS_LIMIT)],
        "count_by": [Options(COUNT_BY)],
        "node": [_NodeColumn()],
        "collapse_repeats": [bool],
        "top_per_step": [Interval(int, 1, None), None],
        "min_edge_weight": [Interval(int, 1, None)],
        "exclude": [tuple],
        "groupings": [tuple],
    }

    start: str | None = None
    end: str | None = None
    max_steps: int = 5
    count_by: str = "session_id"
    node: str = "event"
    collapse_repeats: bool = True
    top_per_step: int | None = 8
    min_edge_weight: int = 1
    exclude: tuple[str, ...] = ()
    groupings: tuple[str | tuple[str, str], ...] = ()

    def _normalise(self) -> None:
        for name in ("start", "end"):
            if getattr(self, name) == "":
                self._set(name, None)
        exclude = (self.exclude,) if isinstance(self.exclude, str) else self.exclude
        if isinstance(exclude, Iterable):
            self._set("exclude", tuple(str(e) for e in exclude))
        groupings = (self.groupings,) if isinstance(self.groupings, str) else self.groupings
        if isinstance(groupings, Iterable):
            self._set(
                "groupings",
                tuple(tuple(g) if isinstance(g, list | tuple) else g for g in groupings),
            )

    def _check(self) -> None:
        if self.start is not None and self.end is not None and self.max_steps < 3:
            raise ParameterError(
                "`max_steps` must be at least 3 when both `start` and `end` are set "
                f"(start, one elided middle step, end), got {self.max_steps}"
            )
        compile_groupings(self.groupings)  # raises on a bad pattern

    def check_columns(self, schema: pl.Schema | Mapping[str, Any]) -> None:
        """Check that ``node`` is a column of ``schema`` (offering only columns that can be).

        Raises
        ------
        ParameterError
            Naming ``node``, the missing column and the columns that could be nodes.
        """
        super().check_columns({c: t for c, t in schema.items() if c not in NOT_NODES})

    def compute(self, events: pl.DataFrame | pl.LazyFrame) -> PathsResult:
        """:func:`~core.paths.compute_paths` with these settings."""
        from core.paths.engine import run  # lazy: the engine imports this module (cycle)

        return run(events, self)

    @property
    def mode(self) -> str:
        """``"all"``, ``"start"``, ``"end"`` or ``"between"`` (both start and end)."""
        if self.start is not None and self.end is not None:
            return "between"
        if self.start is not None:
            return "start"
        if self.end is not None:
            return "end"
        return "all"

    @property
    def entity_word(self) -> str:
        """``"sessions"`` or ``"users"``: what the counts count."""
        return _ENTITY_WORD[self.count_by]

    def rules(self) -> list[tuple[re.Pattern, str]]:
        """The compiled groupings, in priority order (see :func:`compile_groupings`)."""
        return compile_groupings(self.groupings)

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`~core.paths.compute_paths` these params stand for."""
        return self.as_dict()


def compile_groupings(
    groupings: Iterable[str | tuple[str, str]],
) -> list[tuple[re.Pattern, str]]:
    """``[(compiled regex, group name), ...]`` in priority order.

    A plain string is a wildcard pattern (``*`` matches any run of characters) and names its
    group, as in PostHog (``/product/*``). ``"re:<regex>"`` is a regular expression named by the
    regex. A ``(pattern, name)`` pair gives the group an explicit name. Matching is a *search*
    (anywhere in the node name), as PostHog's ``multiMatchAnyIndex`` does: anchor with ``^``/``$``
    in a regex when needed.

    Raises
    ------
    ParameterError
        An entry is neither a pattern nor a (pattern, name) pair, is empty, or is not a valid
        regular expression.
    """
    compiled = []
    for g in groupings:
        if isinstance(g, tuple) and len(g) == 2 and all(isinstance(x, str) for x in g):
            pattern, name = g
        elif isinstance(g, str):
            pattern, name = g, (g[3:] if g.startswith("re:") else g)
        else:
            raise ParameterError(
                f"`groupings` entries must be a pattern or a (pattern, name) pair, got {g!r}"
            )
        compiled.append((_compile_pattern(pattern), name))
    return compiled


def _compile_pattern(pattern: str) -> re.Pattern:
    if not pattern or pattern == "re:":
        raise ParameterError("`groupings` contains an empty pattern")
    if not pattern.startswith("re:"):
        return re.compile(re.escape(pattern).replace(r"\*", ".*"))
    try:
        return re.compile(pattern[3:])
    except re.error as exc:
        raise ParameterError(
            f"`groupings` entry {pattern!r} is not a valid regular expression: {exc}"
        ) from None
