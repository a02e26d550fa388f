"""The URL form of :class:`~core.segments.SegmentParams` (query parameters of the page).

Kept apart from the settings so that it can move to ``ui/`` (URL encoding is the app's
concern); :meth:`SegmentParams.to_query` and :meth:`SegmentParams.from_query` call these.
``k_range`` is not part of the URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from core.errors import ParameterError
from core.params import check_constraints
from core.segments.params import MAX_K, MAX_SEED, SegmentParams

__all__ = ["Q_FEATURES", "Q_K", "Q_SEED", "from_query", "to_query"]

#: URL query parameter names; the page's widget keys are the same strings.
Q_FEATURES: Final = "segments.features"
Q_K: Final = "segments.k"
Q_SEED: Final = "segments.seed"


def to_query(params: SegmentParams) -> dict[str, str | list[str]]:
    """URL query parameters of ``params``; defaults are left out.

    ``segments.features`` is a list (one repeated parameter per feature, as a bound
    multiselect writes it), ``segments.k`` and ``segments.seed`` are strings.
    """
    q: dict[str, str | list[str]] = {}
    if params.columns is not None:
        q[Q_FEATURES] = list(params.columns)
    if params.k is not None:
        q[Q_K] = str(params.k)
    if params.seed != 0:
        q[Q_SEED] = str(params.seed)
    return q


def from_query(query: Mapping[str, Any], *, notes: list[str] | None = None) -> SegmentParams:
    """Params from URL query parameters; an invalid value never raises.

    Parameters
    ----------
    query : mapping
        ``segments.features`` (a list, or one string with comma-separated names),
        ``segments.k`` (an integer or ``auto``), ``segments.seed`` (an integer). Values
        may be strings or lists of strings (the last one counts for k and seed).
    notes : list of str, optional
        When given, a sentence is appended for each value that was ignored.

    Returns
    -------
    SegmentParams
        Invalid values fall back to their defaults.
    """
    notes = notes if notes is not None else []
    columns: tuple[str, ...] | None = None
    raw = query.get(Q_FEATURES)
    if raw is not None:
        items = [raw] if isinstance(raw, str) else list(raw)
        names = [n.strip() for i in items for n in str(i).split(",") if n.strip()]
        columns = tuple(dict.fromkeys(names)) or None
    k = _whole_number(query.get(Q_K), "k", skip=(None, "", "auto"), notes=notes,
                      note=f"ignored {Q_K}={{!r}}: k must be 'auto' or an integer from 2 "
                           f"to {MAX_K}")
    seed = _whole_number(query.get(Q_SEED), "seed", skip=(None, ""), notes=notes,
                         note=f"ignored {Q_SEED}={{!r}}: the seed must be an integer from 0 "
                              f"to {MAX_SEED}")
    return SegmentParams(columns=columns, k=k, seed=0 if seed is None else seed)


def _last(v: Any) -> str | None:
    """The value of a query parameter (the last one when repeated), stripped."""
    if isinstance(v, (list, tuple)):
        v = v[-1] if v else None
    return None if v is None else str(v).strip()


def _whole_number(
    raw: Any, name: str, *, skip: tuple[Any, ...], notes: list[str], note: str
) -> int | None:
    """``raw`` as a valid value of field ``name``; None (and ``note`` in ``notes``) if it is
    not one, None without a note when it is one of ``skip`` (absent or the default)."""
    text = _last(raw)
    if text in skip:
        return None
    try:
        value = int(text)
        check_constraints({name: value},
                          {name: SegmentParams._parameter_constraints[name]})
    except (ValueError, ParameterError):
        notes.append(note.format(text))
        return None
    return value
