"""Opening an input: a path, bytes or an upload, recognised by content (compression, Parquet,
text; binary files and Excel workbooks refused), reading only its first bytes when it can."""

from __future__ import annotations

import io
import os
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from core.errors import LoadError
from core.io.encoding import _decode
from core.io.expand import (
    _DECOMPRESS_ERRORS,
    _STREAMS,
    DEFAULT_MAX_EXPANDED_BYTES,
    _cap,
    _expand,
    _expand_zip,
    _TempFile,
)
from core.io.raw import _SNIFF_BYTES, RawSource, Source, _first_line
from core.io.sniff import _sniff_csv_or_json


def open_source(source: Source, *, max_expanded_bytes: int | None = None) -> RawSource:
    """Open ``source`` and work out how to parse it, reading only its first bytes when possible.

    Parameters
    ----------
    source : str, Path, bytes or binary file-like
        A path, raw bytes, or an object with ``read()`` (Streamlit's ``UploadedFile``); its
        ``name`` attribute, when present, is used for messages and as a hint.
    max_expanded_bytes : int, optional
        Most bytes a compressed file may expand to (each layer of a nested archive counts
        separately); default :func:`max_expanded_bytes_default` (4 GiB, or
        ``PATHLENS_MAX_EXPANDED_MB`` from the environment). The expansion goes to a temporary
        file, never into memory.

    Returns
    -------
    RawSource
        How to read the content (see :func:`scan_raw`).

    Raises
    ------
    LoadError
        The file does not exist, is empty, binary, an Excel workbook, an archive without a data
        file, expands beyond ``max_expanded_bytes``, or its first row is data rather than
        column names.
    ParameterError
        ``max_expanded_bytes`` is not a positive integer.
    """
    cap = _cap(max_expanded_bytes)
    name = _source_name(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise LoadError(f"file not found: {str(path)!r}", code="not_found")
        if path.is_dir():
            raise LoadError(f"{str(path)!r} is a folder, not a file", code="not_a_file")
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
        if _plain_text_head(head):
            # Plain UTF-8 text on disk: scan the file itself, lazily.
            return _sniff_csv_or_json(
                head, name=name, path=path, data=None, whole=len(head) < _SNIFF_BYTES
            )
        magic = _magic(head)
        if magic == "parquet":
            return RawSource(name=name, kind="parquet", path=path)
        if magic in _STREAMS or magic == "zip":
            with path.open("rb") as fh:  # decompressed straight from the file
                return _open_compressed(
                    fh, magic, name=name, warnings=(), sniff=True, cap=cap, size=_size(fh)
                )
        data = path.read_bytes()
    else:
        data = _read_source_bytes(source)
    return _open_bytes(data, name=name, compression=None, warnings=(), cap=cap)


def _open_bytes(
    data: bytes,
    *,
    name: str,
    compression: str | None,
    warnings: tuple[str, ...],
    sniff: bool = True,
    cap: int = DEFAULT_MAX_EXPANDED_BYTES,
) -> RawSource:
    if not data or data.isspace():
        what = "0 bytes" if not data else "only blank lines"
        raise LoadError(f"{name!r} is empty ({what}): there is nothing to load", code="empty_file")
    magic = _magic(data)
    if magic in _STREAMS or magic == "zip":
        return _open_compressed(
            io.BytesIO(data),
            magic,
            name=name,
            warnings=warnings,
            sniff=sniff,
            cap=cap,
            size=len(data),
        )
    if magic == "parquet":
        return RawSource(
            name=name, kind="parquet", data=data, compression=compression, warnings=warnings
        )
    if magic == "xls":
        raise LoadError(
            f"{name!r} is an Excel workbook: save it as CSV (File > Save As > CSV) "
            "and upload the CSV",
            code="excel",
        )
    if magic is not None:
        kind = {
            "zstd": "zstd-compressed file (not supported; use gzip, bz2, xz or zip)",
            "pdf": "PDF document",
            "image": "image",
            "sqlite": "SQLite database",
        }[magic]
        raise LoadError(
            f"{name!r} is a {kind}, not an event log; upload CSV, Parquet or JSON Lines",
            code="binary_file",
        )
    text, encoding, enc_warnings = _decode(data, name=name, full_check=not sniff)
    utf8 = data if encoding == "utf-8" else text.encode("utf-8")
    if not sniff:
        return RawSource(
            name=name,
            kind="text",
            data=utf8,
            encoding=encoding,
            compression=compression,
            warnings=warnings + tuple(enc_warnings),
        )
    raw = _sniff_csv_or_json(
        utf8[:_SNIFF_BYTES], name=name, path=None, data=utf8, whole=len(utf8) <= _SNIFF_BYTES
    )
    return replace(
        raw,
        encoding=encoding,
        compression=compression,
        warnings=warnings + tuple(enc_warnings) + raw.warnings,
    )


def _open_compressed(
    fh: IO[bytes],
    magic: str,
    *,
    name: str,
    warnings: tuple[str, ...],
    sniff: bool,
    cap: int,
    size: int,
) -> RawSource:
    if magic == "zip":
        tmp, inner_name, extra = _expand_zip(fh, name=name, cap=cap, compressed=size)
        compression = "zip"
        warnings = warnings + extra
    else:
        opener, suffixes = _STREAMS[magic]
        try:
            reader = opener(fh)
        except _DECOMPRESS_ERRORS as e:
            raise LoadError(
                f"{name!r} looks {magic}-compressed but cannot be opened: {_first_line(e)}",
                code="bad_archive",
            ) from None
        with reader:
            tmp = _expand(reader, name=name, kind=magic, cap=cap, compressed=size)
        inner_name, compression = _strip_suffix(name, suffixes), magic
    return _open_expanded(
        tmp, name=inner_name, compression=compression, warnings=warnings, sniff=sniff, cap=cap
    )


def _open_expanded(
    tmp: _TempFile,
    *,
    name: str,
    compression: str,
    warnings: tuple[str, ...],
    sniff: bool,
    cap: int,
) -> RawSource:
    """Open a decompressed expansion: UTF-8 text and Parquet are scanned from the temporary
    file; anything else (another encoding, another compression layer) is read in, within
    the cap, and opened as bytes."""
    with tmp.path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
        whole = not fh.read(1)
    if sniff and _plain_text_head(head):
        raw = _sniff_csv_or_json(head, name=name, path=tmp.path, data=None, whole=whole)
        return replace(
            raw, compression=compression, warnings=warnings + raw.warnings, keepalive=tmp
        )
    if sniff and _magic(head) == "parquet":
        return RawSource(
            name=name,
            kind="parquet",
            path=tmp.path,
            compression=compression,
            warnings=warnings,
            keepalive=tmp,
        )
    data = tmp.path.read_bytes()
    tmp.remove()
    if _magic(data) in _STREAMS or _magic(data) == "zip":
        compression = f"{_magic(data)} in {compression}"
    return _open_bytes(
        data, name=name, compression=compression, warnings=warnings, sniff=sniff, cap=cap
    )


def _source_name(source: Any) -> str:
    if isinstance(source, (str, Path)):
        return Path(source).name
    name = getattr(source, "name", None)
    return Path(str(name)).name if name else "upload"


def _read_source_bytes(source: Any) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if hasattr(source, "read"):
        if hasattr(source, "seek"):
            try:
                source.seek(0)
            except (OSError, ValueError):
                pass
        data = source.read()
        if isinstance(data, str):  # a text-mode handle: treat its text as UTF-8
            data = data.encode("utf-8")
        return bytes(data)
    raise LoadError(
        f"`source` must be a file path, bytes or a binary file-like object, "
        f"got {type(source).__name__}",
        code="bad_source",
    )


def _strip_suffix(name: str, suffixes: tuple[str, ...]) -> str:
    low = name.lower()
    for s in suffixes:
        if low.endswith(s):
            return name[: -len(s)]
    return name


def _size(fh: IO[bytes]) -> int:
    try:
        return os.fstat(fh.fileno()).st_size
    except (OSError, AttributeError, io.UnsupportedOperation):
        return 0


def _plain_text_head(head: bytes) -> bool:
    """True when the head is uncompressed, non-binary text that decodes as UTF-8."""
    if not head.strip() or _magic(head) is not None or b"\x00" in head:
        return False
    cut = head.rfind(b"\n")
    sample = head if cut < 0 or len(head) < _SNIFF_BYTES else head[: cut + 1]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _magic(data: bytes) -> str | None:
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        return "zip"
    if data[:3] == b"BZh":
        return "bz2"
    if data[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if data[:4] == b"PAR1":
        return "parquet"
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "xls"
    if data[:4] == b"%PDF":
        return "pdf"
    if data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff" or data[:4] == b"GIF8":
        return "image"
    if data[:16] == b"SQLite format 3\x00":
        return "sqlite"
    return None
