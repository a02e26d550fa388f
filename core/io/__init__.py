"""Reading the files users upload: CSV, Parquet and JSON, compressed or not, in any encoding.

This is the low level under :func:`core.load_events` and the basket loader. It turns a path or
an uploaded file into a Polars table of the file's own columns and says, in plain words, what
it had to assume on the way (encoding fallback, missing header...). It knows nothing about
event logs.

What is read
------------
- CSV separated by ``,`` ``;`` tab or ``|`` (sniffed from the first lines, or Excel's
  ``sep=;`` first line), UTF-8 with or without BOM, UTF-16 with BOM, and a Windows-1252 /
  Latin-1 fallback (with a warning) for files that are not valid UTF-8;
- ``.gz``, ``.bz2``, ``.xz`` and ``.zip`` (one data file inside) compression, recognised by
  content, not name;
- Parquet, JSON Lines and JSON arrays of objects; nested objects are flattened into
  ``parent.child`` columns (Segment's ``properties.price``).

CSV columns are read as text (no type inference), so ids keep their leading zeros and a late
odd value cannot fail the read half-way; callers cast what they need. Parquet and JSON keep
their own types.

Compressed input is expanded by streaming into a temporary file on disk (deleted when the
:class:`RawSource` is no longer used), which is then scanned lazily like any file, so the
expansion is never held in memory. The expanded size is capped: ``max_expanded_bytes`` (default
:data:`DEFAULT_MAX_EXPANDED_BYTES`, 4 GiB, or ``PATHLENS_MAX_EXPANDED_MB`` mebibytes from the
environment) stops a small "zip bomb" from filling the server; past the cap decompression stops
and a :class:`LoadError` says how far the file expands at least, the cap and how to raise it.

Errors the user can cause (empty file, binary file, Excel workbook, a first row that is data
rather than column names, ragged lines, too large an expansion) raise
:class:`core.errors.LoadError` saying so.

Modules: :mod:`~core.io.raw` (:class:`RawSource`), :mod:`~core.io.sources` (opening, by
content), :mod:`~core.io.expand` (decompression within the cap), :mod:`~core.io.encoding`,
:mod:`~core.io.sniff` (CSV or JSON, separator, header), :mod:`~core.io.scan` (lazy scans and
collecting), :mod:`~core.io.readers` (whole-file readers), :mod:`~core.io.spool` (uploads
copied to disk).
"""

from __future__ import annotations

from core.io.expand import DEFAULT_MAX_EXPANDED_BYTES, MAX_EXPANDED_ENV, max_expanded_bytes_default
from core.io.raw import ROW_COLUMN, RawSource, Source
from core.io.readers import read_columns, read_raw, read_text
from core.io.scan import collect_raw, scan_raw, transcode
from core.io.sniff import TAOBAO_COLUMNS
from core.io.sources import open_source
from core.io.spool import SpooledUpload, default_spool_dir, spool_upload

__all__ = [
    "DEFAULT_MAX_EXPANDED_BYTES",
    "MAX_EXPANDED_ENV",
    "ROW_COLUMN",
    "RawSource",
    "Source",
    "SpooledUpload",
    "TAOBAO_COLUMNS",
    "collect_raw",
    "default_spool_dir",
    "max_expanded_bytes_default",
    "open_source",
    "read_columns",
    "read_raw",
    "read_text",
    "scan_raw",
    "spool_upload",
    "transcode",
]
