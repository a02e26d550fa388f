"""What a saved cohort is (:class:`Cohort`), the rules its name and members follow, its id."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final

import polars as pl

from core.errors import ParameterError

#: Where a cohort can come from (the page and the thing on it that made it).
SOURCES: Final[tuple[str, ...]] = (
    "funnel_dropoff",
    "funnel_conversion",
    "path_node",
    "segment",
    "rules_antecedent",
    "cart_risk",
    "retention_cell",
    "manual",
)
#: Longest cohort name, in characters.
MAX_NAME_CHARS: Final = 80
#: Text that separates the parts of a filter in a link (``column:op:value;...``, the property
#: picks' ``column = value``), so a cohort's name (its column's) may not hold it.
LINK_SEPARATORS: Final[tuple[str, ...]] = (":", ";", "=")
#: Longest definition text, in characters.
MAX_DEFINITION_CHARS: Final = 500
#: Most cohorts one dataset may keep.
MAX_COHORTS: Final = 100
#: Hex digits of a cohort id (128 bits, as dataset ids).
COHORT_ID_HEX_DIGITS: Final = 32
#: The column a cohort is made of (what its members are).
COUNT_BY: Final = "user_id"


@dataclass(frozen=True)
class Cohort:
    """A named group of users saved with a dataset.

    Attributes
    ----------
    id : str
        32 hex digits: the SHA-256 of the dataset id, the sorted members and the definition,
        so the same users found the same way get the same id.
    name : str
        Display name, unique in its dataset (ignoring case), 1 to :data:`MAX_NAME_CHARS`
        characters.
    definition : str
        What made it, in words ("Funnels: dropped off after step 2 (add_to_cart) · window
        1 d · 2024-01-01–2024-01-31").
    source : str
        One of :data:`SOURCES`.
    count_by : str
        The column its members are values of (``"user_id"``).
    size : int
        Number of members.
    created : datetime
        When it was saved (UTC).
    dataset_id : str
        The dataset it belongs to.
    """

    id: str
    name: str
    definition: str
    source: str
    count_by: str
    size: int
    created: datetime
    dataset_id: str

    def to_json(self) -> dict[str, Any]:
        """The record kept in the store (``created`` as ISO 8601 text)."""
        d = asdict(self)
        d["created"] = self.created.isoformat()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Cohort:
        """The inverse of :meth:`to_json`.

        Raises
        ------
        KeyError, TypeError, ValueError
            The record is not one :meth:`to_json` wrote.
        """
        fields = dict(d)
        fields["created"] = datetime.fromisoformat(fields["created"])
        return cls(**fields)


def cohort_id(dataset_id: str, members: pl.Series, definition: str) -> str:
    """The content id of a cohort: SHA-256 of ``[dataset_id, sorted members, definition]``."""
    values = members.cast(pl.String).unique().sort().to_list()
    payload = json.dumps([dataset_id, values, definition], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:COHORT_ID_HEX_DIGITS]


def check_name(name: object, taken: Iterable[tuple[str, str]] = ()) -> str:
    """A cohort name, trimmed, or a :class:`ParameterError` saying what is wrong with it.

    Parameters
    ----------
    name : object
        The name asked for.
    taken : iterable of (str, str)
        ``(name, id)`` of the dataset's other cohorts; names are compared ignoring case.

    Raises
    ------
    ParameterError
        Not text, empty, longer than :data:`MAX_NAME_CHARS`, holding control characters or
        :data:`LINK_SEPARATORS`, or the name of another cohort of the dataset.
    """
    if not isinstance(name, str):
        raise ParameterError(f"cohort `name` must be text, got {name!r}")
    clean = name.strip()
    if not clean:
        raise ParameterError("cohort `name` must not be empty; give the cohort a name")
    if len(clean) > MAX_NAME_CHARS:
        raise ParameterError(
            f"cohort `name` must be at most {MAX_NAME_CHARS} characters, got {len(clean)} "
            f"({clean[:20]!r}…)"
        )
    if any(unicodedata.category(ch) == "Cc" for ch in clean):
        raise ParameterError(
            f"cohort `name` must not hold control characters (line breaks, tabs), got {clean!r}"
        )
    forbidden = [sep for sep in LINK_SEPARATORS if sep in clean]
    if forbidden:
        raise ParameterError(
            f"cohort `name` must not hold {' or '.join(repr(f) for f in forbidden)}: these "
            f"separate the parts of a filter in a link; got {clean!r}"
        )
    for other, other_id in taken:
        if other.casefold() == clean.casefold():
            raise ParameterError(
                f"cohort `name` {clean!r} is already used by the cohort {other!r} "
                f"(id {other_id}) of this dataset; choose another name or rename that one"
            )
    return clean


def check_definition(definition: object) -> str:
    """The definition text, trimmed.

    Raises
    ------
    ParameterError
        Not text, empty, or longer than :data:`MAX_DEFINITION_CHARS`.
    """
    if not isinstance(definition, str) or not definition.strip():
        raise ParameterError(
            f"cohort `definition` must be a non-empty text saying what made it, got {definition!r}"
        )
    clean = definition.strip()
    if len(clean) > MAX_DEFINITION_CHARS:
        raise ParameterError(
            f"cohort `definition` must be at most {MAX_DEFINITION_CHARS} characters, "
            f"got {len(clean)}"
        )
    return clean


def check_source(source: object) -> str:
    """``source`` when it is one of :data:`SOURCES`.

    Raises
    ------
    ParameterError
        Anything else.
    """
    if source not in SOURCES:
        raise ParameterError(f"cohort `source` must be one of {list(SOURCES)}, got {source!r}")
    return source  # type: ignore[return-value]
