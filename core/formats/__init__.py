"""Column vocabulary and export formats: how the loader and the basket reader read names.

- :mod:`core.formats.vocabulary`: the one vocabulary of names: the event-type vocabulary
  (:func:`canonical_event_type`), name normalisation (:func:`normalise_name`), column-name
  synonyms for events (:data:`SYNONYMS`), order lines and basket files
  (:data:`BASKET_SYNONYMS`), and :func:`pick_column`.
- :mod:`core.formats.exports`: export formats recognised by their columns
  (:func:`detect_format`, :data:`FORMATS`) and the mapping they imply
  (:func:`suggest_mapping`, :func:`suggest_options`).
"""

from core.formats.exports import (
    FORMAT_LABELS,
    FORMATS,
    FORMATS_BY_NAME,
    GENERIC,
    MAPPING_OPTIONS,
    TIME_UNITS,
    UNKNOWN,
    ExportFormat,
    detect_format,
    fallback_columns,
    suggest_mapping,
    suggest_options,
)
from core.formats.vocabulary import (
    BASKET_SYNONYMS,
    ORDER_LINE_SYNONYMS,
    SYNONYMS,
    canonical_event_type,
    loose_name,
    normalise_name,
    normalise_names,
    pick_column,
)

__all__ = [
    "BASKET_SYNONYMS",
    "FORMATS",
    "FORMATS_BY_NAME",
    "FORMAT_LABELS",
    "GENERIC",
    "MAPPING_OPTIONS",
    "ORDER_LINE_SYNONYMS",
    "SYNONYMS",
    "TIME_UNITS",
    "UNKNOWN",
    "ExportFormat",
    "canonical_event_type",
    "detect_format",
    "fallback_columns",
    "loose_name",
    "normalise_name",
    "normalise_names",
    "pick_column",
    "suggest_mapping",
    "suggest_options",
]
