"""The funnel's settings: :class:`FunnelParams`, validated once, and its compact URL form.

Every rule a funnel's settings must follow is stated here: the declarative constraints of the
single fields (``_parameter_constraints``), the coercion of accepted spellings (an event name
for a step, lists for tuples) and the rules across fields (exclusions between two steps of this
funnel). The columns the settings name are checked against the events table by
:meth:`FunnelParams.check_schema`, which the engine calls once.
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final

import polars as pl

from core.errors import ParameterError
from core.funnels.steps import FunnelStep, step_from_json, step_to_json
from core.params import Column, Interval, Options, Params, require_columns

if TYPE_CHECKING:
    from core.funnels.result import FunnelResult

__all__ = ["MAX_STEPS", "ORDERS", "FunnelParams"]

ORDERS: Final[tuple[str, ...]] = ("ordered", "strict", "unordered")
MAX_STEPS: Final[int] = 30
#: The longest window a saved funnel (a link) may carry: ten years, in seconds.
_MAX_QUERY_WINDOW_S: Final[int] = 10 * 365 * 86400
#: What a damaged or hostile link may raise while it is decoded.
_DECODE_ERRORS: Final[tuple[type[BaseException], ...]] = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    zlib.error,
    json.JSONDecodeError,
    UnicodeDecodeError,
    RecursionError,
)


def _coerce_steps(steps: Any) -> tuple[FunnelStep, ...]:
    if isinstance(steps, (str, FunnelStep)) or not isinstance(steps, Iterable):
        raise ParameterError(f"`steps` must be a list of 1 to {MAX_STEPS} steps, got {steps!r}")
    return tuple(FunnelStep.coerce(s) for s in steps)


def _coerce_exclusions(exclusions: Any) -> tuple[tuple[FunnelStep, Any, Any], ...]:
    if exclusions is None:
        return ()
    if isinstance(exclusions, (str, FunnelStep)) or not isinstance(exclusions, Iterable):
        raise ParameterError(
            "`exclusions` must be a sequence of (step, from_step, to_step) triples, "
            f"got {exclusions!r}"
        )
    out = []
    for item in exclusions:
        if not isinstance(item, (list, tuple)) or len(item) != 3:
            raise ParameterError(
                f"each exclusion must be a (step, from_step, to_step) triple, got {item!r}"
            )
        spec, a, b = item
        out.append((FunnelStep.coerce(spec, what="exclusion"), a, b))
    return tuple(out)


def _check_exclusion(
    step: FunnelStep, a: Any, b: Any, steps: tuple[FunnelStep, ...], order: str
) -> None:
    """An exclusion must lie between two steps of the funnel and not be one of them."""
    name, n = step.display_label, len(steps)
    if (
        not (isinstance(a, int) and isinstance(b, int))
        or isinstance(a, bool)
        or isinstance(b, bool)
    ):
        raise ParameterError(
            f"exclusion `{name}` needs whole step numbers, got from {a!r} to {b!r}"
        )
    if n < 2:
        raise ParameterError(
            f"exclusion `{name}` needs a funnel of at least two steps; this funnel has {n}"
        )
    if not 1 <= a < b <= n:
        raise ParameterError(
            f"exclusion `{name}` must lie between two steps with "
            f"1 <= from_step < to_step <= {n}, got from {a} to {b}"
        )
    if order == "unordered" and (a, b) != (1, n):
        raise ParameterError(
            f"unordered funnels only support exclusions over the whole funnel "
            f"(from 1 to {n}), got from {a} to {b} for `{name}`"
        )
    for k in range(a, b + 1):
        s = steps[k - 1]
        if set(s.events) == set(step.events) and set(s.where) == set(step.where):
            raise ParameterError(
                f"exclusion `{name}` is the same as funnel step {k}; "
                "an exclusion cannot be an event that is part of the steps it spans"
            )


@dataclass(frozen=True)
class FunnelParams(Params):
    """Everything a funnel is computed with, frozen and hashable (a cache key), valid once built.

    ``to_query()`` gives a compact URL-safe string; ``from_query()`` reads it back. The Paths
    page opens with ``paths.funnel=<to_query()>&paths.dropped_at=<k>``. See
    :func:`core.funnels.compute_funnel` for what each setting means.

    Parameters
    ----------
    steps : tuple of FunnelStep
        0 to 30 steps; event names and lists of names are turned into steps.
    window : timedelta
        Positive conversion window.
    order : {"ordered", "strict", "unordered"}
    count_by : str
        A column of the events table.
    exclusions : tuple of (FunnelStep, from_step, to_step)
        Whole step numbers with ``1 <= from_step < to_step <= len(steps)`` (the whole funnel
        when unordered); the step may not be one of the steps it spans.
    breakdown : str or None
        A column of the events table.
    breakdown_limit : int
        At least 1.

    Raises
    ------
    ParameterError
        A setting is invalid: the message names it, the bad value and what is valid.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "window": [timedelta],
        "order": [Options(ORDERS)],
        "count_by": [Column()],
        "breakdown": [Column(), None],
        "breakdown_limit": [Interval(int, 1, None)],
    }

    steps: tuple[FunnelStep, ...]
    window: timedelta = timedelta(days=1)
    order: str = "ordered"
    count_by: str = "user_id"
    exclusions: tuple[tuple[FunnelStep, int, int], ...] = ()
    breakdown: str | None = None
    breakdown_limit: int = 10

    def _normalise(self) -> None:
        self._set("steps", _coerce_steps(self.steps))
        self._set("exclusions", _coerce_exclusions(self.exclusions))

    def _check(self) -> None:
        if len(self.steps) > MAX_STEPS:
            raise ParameterError(
                f"`steps` holds {len(self.steps)} steps; a funnel has at most {MAX_STEPS}"
            )
        # the sign is checked here (not by a constraint) so the message shows "-1 day, 23:55:00"
        if self.window <= timedelta(0):
            raise ParameterError(f"`window` must be positive, got {self.window}")
        for step, a, b in self.exclusions:
            _check_exclusion(step, a, b, self.steps, self.order)

    def check_schema(self, schema: pl.Schema) -> None:
        """Check the settings against the events table: ``ts`` and ``event`` are there, and so
        are the columns named by ``count_by``, ``breakdown`` and the step conditions.

        Raises
        ------
        SchemaError
            ``ts`` or ``event`` is missing.
        ParameterError
            A named column is missing (the message lists those that exist).
        """
        require_columns(schema, ("ts", "event"))
        self.check_columns(schema)
        for step in (*self.steps, *(x[0] for x in self.exclusions)):
            step.expr(schema)  # raises ParameterError on an unknown condition column

    @property
    def labels(self) -> tuple[str, ...]:
        """The steps' display labels."""
        return tuple(s.display_label for s in self.steps)

    @property
    def window_us(self) -> int:
        """The window in whole microseconds (the kernels' time unit)."""
        return int(self.window // timedelta(microseconds=1))

    def compute(self, events: pl.DataFrame | pl.LazyFrame) -> FunnelResult:
        """:func:`~core.funnels.compute_funnel` with these settings."""
        from core.funnels.engine import run  # lazy: the engine imports this module (cycle)

        return run(events, self)

    def to_query(self) -> str:
        """Compact URL-safe form: ``f1.`` + base64url of a short JSON (``f1z.``: deflated)."""
        obj: dict[str, Any] = {"s": [step_to_json(s) for s in self.steps]}
        if self.window != timedelta(days=1):
            us = self.window_us
            obj["w"] = us // 1_000_000 if us % 1_000_000 == 0 else us / 1e6
        if self.order != "ordered":
            obj["o"] = self.order
        if self.count_by != "user_id":
            obj["c"] = self.count_by
        if self.exclusions:
            obj["x"] = [[step_to_json(s), a, b] for s, a, b in self.exclusions]
        if self.breakdown is not None:
            obj["b"] = self.breakdown
        if self.breakdown_limit != 10:
            obj["l"] = self.breakdown_limit
        raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
        plain = "f1." + base64.urlsafe_b64encode(raw).decode().rstrip("=")
        packed = "f1z." + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")
        return packed if len(packed) < len(plain) else plain

    @classmethod
    def from_query(cls, text: str) -> FunnelParams:
        """Inverse of :meth:`to_query`.

        Raises
        ------
        ParameterError
            ``text`` is not a funnel written by :meth:`to_query`, or the funnel it holds is
            invalid.
        """
        if not isinstance(text, str) or not text.startswith(("f1.", "f1z.")) or len(text) > 20_000:
            raise ParameterError(f"funnel parameter {str(text)[:80]!r} is not a saved funnel")
        try:
            return cls._from_json(_decode_query(text))
        except ParameterError as e:
            raise ParameterError(f"funnel parameter {text[:80]!r} is invalid: {e}") from None
        except _DECODE_ERRORS as e:
            raise ParameterError(
                f"funnel parameter {text[:80]!r} is not a saved funnel ({type(e).__name__})"
            ) from None

    @classmethod
    def _from_json(cls, obj: Any) -> FunnelParams:
        if not isinstance(obj, dict) or not isinstance(obj.get("s"), list):
            raise ValueError("steps")
        w = obj.get("w", 86400)
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
            raise ValueError("window")
        if not 0 < w <= _MAX_QUERY_WINDOW_S or len(obj["s"]) > MAX_STEPS:
            raise ValueError("size")
        return cls(
            steps=tuple(step_from_json(s) for s in obj["s"]),
            window=timedelta(seconds=w),
            order=obj.get("o", "ordered"),
            count_by=obj.get("c", "user_id"),
            exclusions=tuple((step_from_json(s), a, b) for s, a, b in obj.get("x", [])),
            breakdown=obj.get("b"),
            breakdown_limit=obj.get("l", 10),
        )


def _decode_query(text: str) -> Any:
    """The JSON object inside a ``f1.``/``f1z.`` string (inflated to at most 200 kB)."""
    packed = text.startswith("f1z.")
    body = text[4:] if packed else text[3:]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    if packed:
        raw = zlib.decompressobj().decompress(raw, 200_000)
    return json.loads(raw.decode())
