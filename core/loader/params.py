"""The settings of :func:`core.loader.load_events`: :class:`LoadParams`, checked once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from core.errors import ParameterError
from core.io import Source
from core.loader.engine import run
from core.loader.mapping import check_mapping
from core.loader.report import LoadResult
from core.params import Interval, Params
from core.sessions import DEFAULT_SESSION_GAP


class _PositiveDuration(Interval):
    """A timedelta above zero."""

    def __init__(self) -> None:
        super().__init__(timedelta, timedelta(0), None, closed="neither")

    def describe(self) -> str:
        return "a positive timedelta"


@dataclass(frozen=True)
class LoadParams(Params):
    """How :func:`~core.loader.load_events` reads a file.

    Parameters
    ----------
    mapping : dict, optional
        Canonical column -> source column, overriding detection for the columns it names
        (user corrections from the Data page). Keys among ``user_id``, ``session_id``, ``ts``,
        ``event``, ``product_id``, ``category``, ``brand``, ``price``, ``quantity``,
        ``order_id``; a value of ``None`` or ``""`` means "this file has no such column".
        Besides, options for exports that lack a column (:data:`core.formats.MAPPING_OPTIONS`,
        detected for known shapes, see :func:`core.formats.suggest_options`):
        ``event_constant`` -- every row is this event (``"view_item"``), for logs of one
        kind of event without an event column; ``ts_time`` -- a column added to the day
        in ``ts``: a time of day (``09:58:11``) or a number, an offset in ``ts_time_unit``
        (``"s"``, ``"ms"`` or ``"us"``; default ``"s"``); ``user_fallback`` -- a column
        (usually the visit) standing in for the user where it is empty, or for every row
        when no column is mapped to ``user_id``, written ``"<column>:<value>"``.
        User ids in :data:`~core.loader.USER_NULLS` (``NA``, ``null``...) count as empty.
        Kept as a tuple of ``(key, value)`` pairs in the order given (so the settings are
        hashable; a tuple of pairs is accepted too); :attr:`overrides` is the dict.
    session_gap : timedelta, default 30 minutes
        Inactivity that ends a session, for exports (or rows) without a session id.
    drop_stray : bool, default False
        Drop the stray events (months before or after the bulk of the data), counted under
        ``"stray timestamp"``; without it they are kept and the report warns about them.
    max_expanded_bytes : int, optional
        Most bytes a compressed upload may expand to; default 4 GiB or
        ``PATHLENS_MAX_EXPANDED_MB`` mebibytes from the environment. Checked where every reader
        checks it, by :func:`core.io.open_source` when the file is opened.

    Raises
    ------
    ParameterError
        ``mapping`` is not a dict or has an unknown key or a bad option value,
        ``session_gap`` is not a positive timedelta or ``drop_stray`` is not a bool.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "session_gap": [_PositiveDuration()],
        "drop_stray": [bool],
    }

    mapping: tuple[tuple[str, Any], ...] | None = None
    session_gap: timedelta = DEFAULT_SESSION_GAP
    drop_stray: bool = False
    max_expanded_bytes: int | None = None

    def _normalise(self) -> None:
        if isinstance(self.mapping, dict):
            self._set("mapping", tuple(self.mapping.items()))

    def _check(self) -> None:
        if self.mapping is None:
            return
        if not (
            isinstance(self.mapping, tuple)
            and all(isinstance(p, tuple) and len(p) == 2 for p in self.mapping)
        ):
            raise ParameterError(
                f"`mapping` must be a dict of canonical column -> source column, "
                f"got {type(self.mapping).__name__}"
            )
        check_mapping(dict(self.mapping))

    @property
    def overrides(self) -> dict[str, Any] | None:
        """``mapping`` as a dict, in the order given (None when no mapping was given)."""
        return None if self.mapping is None else dict(self.mapping)

    def compute(
        self, source: Source, *, progress: Callable[[str, float], None] | None = None
    ) -> LoadResult:
        """:func:`~core.loader.load_events` with these settings."""
        return run(source, self, progress)
