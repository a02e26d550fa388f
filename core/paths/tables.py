"""The paths tables as people read them.

The CSV downloads keep ``top_paths`` and ``edges`` (machine names, full precision); these are
what the page shows: display names, shares as percentages, times as durations.
"""

from __future__ import annotations

from core.fmt import PeopleTable
from core.paths.result import PathsResult, display_name


def top_paths_people_table(result: PathsResult) -> PeopleTable:
    """The top paths as people read them: ``Path`` (text), ``Steps`` and the count
    (``Sessions`` or ``Users``, counts), ``Share of <entities>`` (percent), ``Purchased``
    (count), ``Conversion`` (percent); numbers stay numbers so the grid sorts them."""
    word = result.params.entity_word
    t = result.top_paths
    return PeopleTable.build({
        "Path": ("text", t["label"]),
        "Steps": ("count", t["steps"]),
        word.capitalize(): ("count", t["count"]),
        f"Share of {word}": ("percent", t["share"]),
        "Purchased": ("count", t["purchased"]),
        "Conversion": ("percent", t["conversion"]),
    })


def links_people_table(result: PathsResult) -> PeopleTable:
    """The Sankey's links as people read them: ``Step`` (``"2 → 3"``), ``From``, ``To``
    (display names), the count, ``Share of starting <entities>`` (percent) and ``Mean time
    between`` (a duration; null into Drop-off, where there is no next step)."""
    word = result.params.entity_word
    e = result.edges
    entities = max(result.entities, 1)
    return PeopleTable.build({
        "Step": ("text", [f"{a} → {b}" for a, b in zip(e["source_step"], e["target_step"],
                                                        strict=True)]),
        "From": ("text", [display_name(n) for n in e["source_name"].to_list()]),
        "To": ("text", [display_name(n) for n in e["target_name"].to_list()]),
        word.capitalize(): ("count", e["value"]),
        f"Share of starting {word}": ("percent", [v / entities for v in e["value"].to_list()]),
        "Mean time between": ("duration", e["mean_seconds"]),
    })
