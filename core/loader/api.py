"""The public entry point: :func:`load_events`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from core.io import Source
from core.loader.params import LoadParams
from core.loader.report import LoadResult
from core.sessions import DEFAULT_SESSION_GAP


def load_events(
    source: Source,
    *,
    mapping: dict[str, str] | None = None,
    session_gap: timedelta = DEFAULT_SESSION_GAP,
    drop_stray: bool = False,
    max_expanded_bytes: int | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> LoadResult:
    """Load an event-log export into the canonical event table.

    The file is read once, lazily, with every column parsed on the way; then the unusable rows
    are dropped and counted, exact duplicates removed and sessions built where missing. The
    rows keep the file's order: the engines group rows by entity themselves, and the store
    sorts a dataset by user and time once, when it is saved
    (:func:`core.loader.order.sort_events` gives that order). ``LoadParams(...).compute(source)``
    does the same.

    Parameters
    ----------
    source : str, Path, bytes or binary file-like
        CSV (``,`` ``;`` tab or ``|``; UTF-8 with or without BOM, UTF-16, Latin-1 fallback),
        optionally ``.gz``/``.zip``; Parquet; JSON Lines. An uploaded file (Streamlit's
        ``UploadedFile``) works as is.
    mapping : dict, optional
        Canonical column -> source column, overriding detection for the columns it names;
        ``None`` or ``""`` means "this file has no such column". Also the options
        ``event_constant``, ``ts_time``, ``ts_time_unit`` and ``user_fallback`` for exports
        that lack a column (see :class:`LoadParams`).
    session_gap : timedelta, default 30 minutes
        Inactivity that ends a session, for exports (or rows) without a session id.
    drop_stray : bool, default False
        Drop the stray events (``report.stray_rows``: months outside the bulk of the data),
        counted under ``"stray timestamp"``; without it they are kept, with a warning.
    max_expanded_bytes : int, optional
        Most bytes a compressed upload may expand to; default 4 GiB or
        ``PATHLENS_MAX_EXPANDED_MB`` mebibytes (:func:`core.io.max_expanded_bytes_default`).
    progress : callable, optional
        Called as ``progress(stage, fraction)`` when a stage starts: ``"reading"`` (0.0),
        ``"checking"`` (0.5: drop accounting, duplicates, stray events), ``"sessions"`` (0.85),
        then ``"done"`` (0.95). Exceptions it raises propagate.

    Returns
    -------
    LoadResult
        ``.events`` (canonical ``pl.DataFrame``, rows in file order), ``.report`` (:class:`LoadReport`, with
        ``rows_read == rows_kept + sum(rows_dropped.values())``) and ``.params``. A file with a
        header and no rows gives an empty table, with ``.reason``.

    Raises
    ------
    LoadError
        The file is missing, empty, binary or malformed; its columns match no known format
        and name no user, time and event; most timestamps cannot be read or are implausible;
        no row has a user or a timestamp; a compressed file expands beyond the cap.
    SchemaError
        A required column (user, timestamp, event) cannot be found, or ``mapping`` names a
        column the file lacks.
    ParameterError
        ``mapping`` has an unknown key or a bad option value, ``session_gap`` is not a
        positive timedelta, ``drop_stray`` is not a bool, ``max_expanded_bytes`` is not a
        positive integer or ``progress`` is not callable.

    Examples
    --------
    >>> result = load_events("2019-Oct.csv")  # doctest: +SKIP
    >>> result.report.format, result.report.rows_dropped["duplicate row"]  # doctest: +SKIP
    ('rees46', 5)
    """
    params = LoadParams(
        mapping=mapping,  # type: ignore[arg-type]  # a dict, kept as pairs
        session_gap=session_gap,
        drop_stray=drop_stray,
        max_expanded_bytes=max_expanded_bytes,
    )
    return params.compute(source, progress=progress)
