"""The one owner of the URL: its key names, and each setting's encoding to and from the link.

Every view is a link. Bound widgets (``bind="query-params"``) write their own values under their
key; everything else that lives in the URL goes through this module:

- the **shared settings** every page carries (:data:`SHARED_KEYS`: dataset, date range,
  filters, conditions, segments, saved cohorts), mirrored in the URL by the page shell and carried by the
  navigation links (Streamlit clears the query string on a page switch);
- the **shared segmentation** ``seg``: a query string of its own
  (``segments.k=4&segments.seed=1``), read by :func:`parse_seg`, written by :func:`encode_seg`;
- the **page settings that are not bound widgets** (a bound widget would put a label where the
  link must hold an id or a column name): the Segments page's features, the Rules page's basket
  file, and the Funnels page's hand-off to the Paths page (:func:`paths_link_query`,
  :func:`read_funnel_link`).

Reading or writing ``st.query_params`` outside a browser session (a notebook, an AppTest
without parameters) raises; the helpers here then read nothing and write nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import streamlit as st

from core.errors import ParameterError
from core.funnels import FunnelParams
from core.params import check_constraints
from core.segments import MAX_K, MAX_SEED, SegmentParams

# --- key names ---------------------------------------------------------------------------------

DATASET_KEY = "dataset"
FROM_KEY = "from"
TO_KEY = "to"
FILTER_KEY = "filter"
WHERE_KEY = "where"
SEG_KEY = "seg"
#: The saved cohorts chosen in the sidebar: one cohort id per value (``cohorts=<id>&cohorts=<id>``).
COHORT_KEY = "cohorts"
#: Sidebar settings every page shares; they travel with page switches. The shell reports its
#: own problems with these, so the link watcher skips them.
SHARED_KEYS = (DATASET_KEY, FROM_KEY, TO_KEY, FILTER_KEY, WHERE_KEY, SEG_KEY, COHORT_KEY)
#: The shared settings that belong to one dataset (cleared when another dataset is chosen).
DATASET_VIEW_KEYS = (FROM_KEY, TO_KEY, FILTER_KEY, WHERE_KEY, SEG_KEY, COHORT_KEY)

#: Set when Streamlit would have dropped a whole (oversized) query string: its value is the
#: number of parameters the link had (see ``ui.links.install_query_string_guard``).
TOO_MANY_KEY = "links.too_many"
#: The Funnels page's hand-off to the Paths page: the funnel (its own query string) and the
#: step whose drop-outs the paths follow.
FUNNEL_KEY = "paths.funnel"
DROPPED_AT_KEY = "paths.dropped_at"
#: The Segments page's chosen features (column names, not labels); also the widget key.
FEATURES_KEY = "segments.features"
#: The Rules page's basket file (its id, not its label); also the widget key.
BASKET_FILE_KEY = "rules.file"


# --- reading and writing st.query_params -------------------------------------------------------

def url_value(key: str) -> str | None:
    """The (last) value of ``key`` in the URL, ``None`` when absent or outside a session."""
    try:
        return st.query_params.get(key)
    except Exception:  # noqa: BLE001 - no query params outside a browser session
        return None


def url_values(key: str) -> list[str] | None:
    """Every value of ``key`` in the URL (``[]`` when absent), ``None`` outside a session."""
    try:
        return list(st.query_params.get_all(key))
    except Exception:  # noqa: BLE001 - no query params outside a browser session
        return None


def snapshot() -> dict[str, list[str]]:
    """Every query parameter with all its values (empty outside a session)."""
    try:
        return {k: list(st.query_params.get_all(k)) for k in st.query_params}
    except Exception:  # noqa: BLE001 - no browser session (AppTest without params)
        return {}


def publish(key: str, values: list[str]) -> None:
    """Mirror a setting in the URL: ``values`` under ``key``, the key absent when empty."""
    current = url_values(key)
    if current is None or values == current:
        return
    if values:
        st.query_params[key] = values
    else:
        del st.query_params[key]


def remove(*keys: str) -> None:
    """Take ``keys`` out of the URL (those present)."""
    try:
        for key in keys:
            if key in st.query_params:
                del st.query_params[key]
    except Exception:  # noqa: BLE001 - no query params outside a browser session
        return


def shared_params() -> list[tuple[str, str]]:
    """The shared sidebar settings of the current URL, as (key, value) pairs."""
    out: list[tuple[str, str]] = []
    for k in SHARED_KEYS:
        values = url_values(k)
        if values is None:
            return []
        out += [(k, v) for v in values]
    return out


def set_shared(param: str, value: str | None) -> None:
    """Change a shared setting (e.g. from a button callback): URL first, widgets re-seed.

    Each page has its own widget for a shared setting (key ``"<page>:<param>"``), seeded from
    the URL when it has no state; deleting those states makes every page seed again.
    """
    if value is None:
        remove(param)
    else:
        st.query_params[param] = value
    for k in [k for k in st.session_state if isinstance(k, str) and k.endswith(f":{param}")]:
        del st.session_state[k]


def seed_from_url(key: str, param: str, parse: Callable[[list[str]], object],
                  notices: list[str]) -> None:
    """Before a shared control renders: seed its state from the URL when it has none yet.

    The sidebar's controls are synced with the URL by hand rather than with
    ``bind="query-params"``: Streamlit drops bound parameters on a page switch, and these must
    travel with the navigation links (see ``ui.links.navigation_sidebar``). ``parse`` turns the
    URL's values into the widget's value, or raises ``ValueError`` saying what was expected
    (the value is then named in ``notices`` and left out).
    """
    if key in st.session_state:
        return
    raw = url_values(param)
    if not raw:
        return
    try:
        st.session_state[key] = parse(raw)
    except ValueError as e:
        notices.append(f"Ignored `{param}={'|'.join(raw)[:60]}` from the link: {e}")


# --- the shared segmentation -------------------------------------------------------------------

#: The Segments page's settings in the URL (also its widget keys; ``segments.features`` is
#: :data:`FEATURES_KEY`). ``k_range`` is not part of the URL.
Q_FEATURES = FEATURES_KEY
Q_K = "segments.k"
Q_SEED = "segments.seed"


def segments_to_query(params: SegmentParams) -> dict[str, str | list[str]]:
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


def segments_from_query(
    query: Mapping[str, Any], *, notes: list[str] | None = None
) -> SegmentParams:
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



def parse_seg(seg: str) -> tuple[SegmentParams | None, list[str]]:
    """SegmentParams of a ``seg`` URL value (``segments.k=4&segments.seed=1``) and notes.

    Returns ``(None, notes)`` when the value holds no segmentation setting at all (``seg=AAAA``):
    the caller ignores it rather than applying default segments. Unknown keys are named in the
    notes and skipped; invalid values fall back to their defaults (named in the notes).
    """
    known = (Q_FEATURES, Q_K, Q_SEED)
    notes: list[str] = []
    query: dict[str, list[str]] = {}
    unknown: list[str] = []
    for key, value in parse_qsl(seg, keep_blank_values=True):
        if key in known:
            query.setdefault(key, []).append(value)
        else:
            unknown.append(f"{key}={value}" if value else key)
    expected = f"expected settings such as {Q_K}=4&{Q_SEED}=0"
    if not query:
        notes.append(f"ignored seg={seg[:60]!r}: it holds no segmentation setting ({expected})")
        return None, notes
    if unknown:
        notes.append("ignored " + ", ".join(repr(u[:40]) for u in unknown)
                     + f": not segmentation settings ({expected})")
    return segments_from_query(query, notes=notes), notes


def encode_seg(params: SegmentParams | None) -> str:
    """The ``seg`` URL value of ``params`` (what :func:`parse_seg` reads); ``""`` for None."""
    if params is None:
        return ""
    return urlencode(segments_to_query(params), doseq=True) or f"{Q_K}=auto"


# --- page settings that are not bound widgets --------------------------------------------------

def paths_link_query(funnel: FunnelParams, step: int) -> list[tuple[str, str]]:
    """The query of the Paths page on what the entities that dropped off at ``step`` did next
    (the shared settings, the funnel and the step)."""
    return [*shared_params(), (FUNNEL_KEY, funnel.to_query()), (DROPPED_AT_KEY, str(step))]


def read_funnel_link() -> tuple[str, int] | None:
    """The Funnels page's hand-off in the URL: (the funnel's query, the drop-off step).

    Returns
    -------
    tuple of (str, int) or None
        ``None`` when the URL holds neither key.

    Raises
    ------
    ParameterError
        One key without the other, a step that is not a number or not a step of the funnel,
        or a funnel query that is not a funnel.
    """
    query = url_value(FUNNEL_KEY)
    raw_k = url_value(DROPPED_AT_KEY)
    if query is None and raw_k is None:
        return None
    if query is None or raw_k is None:
        raise ParameterError(f"the link needs both `{FUNNEL_KEY}` and `{DROPPED_AT_KEY}`")
    funnel = FunnelParams.from_query(query)
    try:
        k = int(raw_k)
    except ValueError:
        raise ParameterError(f"`{DROPPED_AT_KEY}` must be a step number, got {raw_k!r}") from None
    if not 2 <= k <= len(funnel.steps):
        raise ParameterError(
            f"`{DROPPED_AT_KEY}` must be a step from 2 to {len(funnel.steps)}, got {k}"
        )
    return query, k


def read_features() -> list[str] | None:
    """The features named by the URL (``[]`` for an empty value), ``None`` when absent."""
    values = url_values(FEATURES_KEY)
    if not values:
        return None
    return [v for v in values if v]


def publish_features(chosen: list[str] | None, current: list[str] | None) -> None:
    """Write the chosen features to the URL (``None``: the defaults, left out of the URL).

    ``current`` is what the URL holds now (:func:`read_features`); an empty choice is written
    as one empty value so that the link says "no feature" rather than "the defaults".
    """
    if chosen is None:
        remove(FEATURES_KEY)
    elif chosen != current:
        try:
            st.query_params[FEATURES_KEY] = chosen or ""
        except Exception:  # noqa: BLE001 - no query params outside a browser session
            return


def publish_basket_file(file_id: str | None) -> None:
    """Mirror the chosen basket file's id in the URL (absent when there is none)."""
    if file_id is None:
        remove(BASKET_FILE_KEY)
    elif url_value(BASKET_FILE_KEY) != file_id:
        try:
            st.query_params[BASKET_FILE_KEY] = file_id
        except Exception:  # noqa: BLE001 - no query params outside a browser session
            return


__all__ = [
    "BASKET_FILE_KEY",
    "COHORT_KEY",
    "DATASET_KEY",
    "DATASET_VIEW_KEYS",
    "DROPPED_AT_KEY",
    "FEATURES_KEY",
    "FILTER_KEY",
    "FROM_KEY",
    "FUNNEL_KEY",
    "SEG_KEY",
    "SHARED_KEYS",
    "TOO_MANY_KEY",
    "TO_KEY",
    "WHERE_KEY",
    "encode_seg",
    "paths_link_query",
    "parse_seg",
    "publish",
    "publish_basket_file",
    "publish_features",
    "read_features",
    "read_funnel_link",
    "remove",
    "seed_from_url",
    "set_shared",
    "shared_params",
    "snapshot",
    "url_value",
    "url_values",
]
