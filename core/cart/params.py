"""Settings of the cart-abandonment analysis, validated once, when built.

:class:`CartParams` holds what the Cart page controls and the scoring functions take as
settings: the moment the data is looked at (``as_of``), the recovery window and session gap
that make a cart open or history (:func:`~core.cart.cart_status`), and the threshold from which
a cart is flagged. :class:`TrainParams` holds the settings of :func:`~core.cart.train_model`.
The public functions (``score_carts``, ``cart_status``, ``revenue_at_risk``, ``train_model``)
build these objects from their keywords, so every rule is stated here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Final

import numpy as np
import polars as pl

from core.cart.features import ARCHITECTURES
from core.errors import ParameterError
from core.params import Interval, Options, Params
from core.sessions import DEFAULT_SESSION_GAP

if TYPE_CHECKING:
    from core.cart.engine import CartResult
    from core.cart.model import CartModel

#: Statuses of :func:`~core.cart.cart_status`, in display order.
CART_STATUSES: Final[tuple[str, ...]] = ("in_progress", "open", "history", "purchased")

#: Default recovery window: a cart idle longer than this is history, not a recoverable cart.
DEFAULT_RECOVERY_WINDOW: Final[timedelta] = timedelta(days=7)

#: A probability threshold: a cart is flagged at risk when ``p_abandon >= threshold``.
THRESHOLD: Final = Interval(float, 0.0, 1.0)

#: Arguments of :func:`~core.cart.revenue_at_risk` and of the confusion figures.
RISK_CONSTRAINTS: Final[dict[str, list[Any]]] = {
    "threshold": [THRESHOLD],
    "status": [Options(CART_STATUSES), None],
}

_POSITIVE_DURATION = Interval(timedelta, timedelta(0), None, closed="neither")


def plain_number(value: Any) -> Any:
    """A NumPy scalar as the Python number it holds (so it passes the constraints as the
    float it stands for); anything else as is."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class CartParams(Params):
    """Settings of a cart-abandonment view; frozen and hashable (a cache key).

    Parameters
    ----------
    as_of : datetime or date, optional
        The moment the data is looked at (a date means the end of that day, UTC; a naive
        datetime is UTC). Default: the last event of the data.
    recovery_window : timedelta, default 7 days
        Longest idle time of a cart that still counts as open; longer than ``session_gap``.
    session_gap : timedelta, default 30 minutes
        Idle time after which a visit is over (:data:`core.sessions.DEFAULT_SESSION_GAP`).
    threshold : float, optional
        Probability from which a cart is flagged at risk, in [0, 1]. Default: the model's own
        threshold.

    Raises
    ------
    ParameterError
        ``as_of`` is not a date or datetime, a duration is not positive,
        ``recovery_window`` is not longer than ``session_gap``, or ``threshold`` is outside
        [0, 1].
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "as_of": [datetime, date, None],
        "recovery_window": [_POSITIVE_DURATION],
        "session_gap": [_POSITIVE_DURATION],
        "threshold": [THRESHOLD, None],
    }

    as_of: datetime | date | None = None
    recovery_window: timedelta = DEFAULT_RECOVERY_WINDOW
    session_gap: timedelta = DEFAULT_SESSION_GAP
    threshold: float | None = None

    def _normalise(self) -> None:
        self._set("threshold", plain_number(self.threshold))

    def _check(self) -> None:
        if not self.recovery_window > self.session_gap:
            raise ParameterError(f"`recovery_window` must be longer than the session gap "
                                 f"({self.session_gap}), got {self.recovery_window}")

    @property
    def cutoff(self) -> datetime | None:
        """``as_of`` as a UTC datetime (a date: the end of that day); None when unset."""
        as_of = self.as_of
        if as_of is None:
            return None
        if isinstance(as_of, datetime):
            return as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc)
        return datetime.combine(as_of, time.max, tzinfo=timezone.utc)  # the end of that day

    def threshold_for(self, model: CartModel) -> float:
        """The threshold in force: ``threshold``, or the model's own when unset."""
        return model.threshold if self.threshold is None else float(self.threshold)

    def compute(self, events: pl.DataFrame | pl.LazyFrame,
                model: CartModel | None = None) -> CartResult:
        """Every cart of ``events`` scored and given its status under these settings.

        Parameters
        ----------
        events : pl.DataFrame or pl.LazyFrame
            Canonical event table.
        model : CartModel, optional
            Default: the bundled model (:func:`~core.cart.load_bundled_model`).

        Returns
        -------
        CartResult
        """
        from core.cart.engine import run  # lazy: the engine imports this module (cycle)

        return run(events, self, model)


@dataclass(frozen=True)
class TrainParams(Params):
    """Settings of :func:`~core.cart.train_model`.

    Parameters
    ----------
    seed : int, default 0
        Seed of every random choice (a whole number >= 0).
    max_epochs : int, default 30
        Most passes over the training prefixes (at least 1).
    time_limit : float, optional
        Seconds after which training stops at the end of the current batch (positive).
    architecture : {"gru", "transformer"}, default "gru"
        The sequence encoder (:data:`core.cart.features.ARCHITECTURES`).

    Raises
    ------
    ParameterError
        A value is outside its range.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "seed": [Interval(int, 0, None)],
        "max_epochs": [Interval(int, 1, None)],
        "time_limit": [Interval(float, 0.0, None, closed="neither"), None],
        "architecture": [Options(ARCHITECTURES)],
    }

    seed: int = 0
    max_epochs: int = 30
    time_limit: float | None = None
    architecture: str = "gru"

    def _normalise(self) -> None:
        for name in ("seed", "max_epochs", "time_limit"):
            self._set(name, plain_number(getattr(self, name)))
