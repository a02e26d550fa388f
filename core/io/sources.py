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
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import lzma
import os
import re
import tempfile
import weakref
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Final

import polars as pl

from core.errors import LoadError, ParameterError, is_integer

#: What :func:`read_raw` and :func:`core.load_events` accept.
Source = str | Path | bytes | IO[bytes]

#: Name of the 1-based data-row number column that :func:`scan_raw` can add.
ROW_COLUMN: Final = "__row"

_SNIFF_BYTES: Final = 64 * 1024

#: Default cap on the bytes a compressed file may expand to (4 GiB).
DEFAULT_MAX_EXPANDED_BYTES: Final = 4 * 1024**3
#: Environment variable overriding the cap, in mebibytes.
MAX_EXPANDED_ENV: Final = "PATHLENS_MAX_EXPANDED_MB"
_CHUNK: Final = 1 << 20
_SEPARATORS: Final = (",", ";", "\t", "|")
_SEPARATOR_NAMES: Final = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

#: Taobao UserBehavior.csv ships without a header row; its rows are recognised by their values.
TAOBAO_COLUMNS: Final = ("user_id", "item_id", "category_id", "behavior_type", "timestamp")
_TAOBAO_BEHAVIOURS: Final = {"pv", "buy", "cart", "fav"}
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}.*)?$")


@dataclass(frozen=True)
class RawSource:
    """An opened input: where its bytes are, what kind of file it is and how to parse it.

    Attributes
    ----------
    name : str
        File name shown to the user (``"upload"`` when the object has none).
    kind : str
        ``"csv"``, ``"parquet"``, ``"jsonl"`` or ``"json"``.
    data : bytes or None
        The decompressed content (UTF-8 for text) when it is held in memory.
    path : Path or None
        The file to scan lazily instead (plain files on disk only).
    separator : str
        CSV field separator.
    has_header : bool
        Whether the first CSV row holds column names.
    column_names : tuple of str or None
        Names given to a headerless CSV.
    skip_lines : int
        Lines to skip before the header (Excel's ``sep=;`` line).
    encoding : str
        Encoding the text was read in (``"utf-8"``, ``"utf-16"``, ``"windows-1252"``...).
    compression : str or None
        ``"gzip"``, ``"zip"``, ``"bz2"``, ``"xz"`` or None.
    warnings : tuple of str
        What had to be assumed while opening.
    keepalive : object or None
        The temporary file holding a decompressed expansion; it is deleted once no
        ``RawSource`` refers to it any more.
    """

    name: str
    kind: str
    data: bytes | None = None
    path: Path | None = None
    separator: str = ","
    has_header: bool = True
    column_names: tuple[str, ...] | None = None
    skip_lines: int = 0
    encoding: str = "utf-8"
    compression: str | None = None
    warnings: tuple[str, ...] = field(default=())
    keepalive: Any = field(default=None, compare=False, repr=False)

    @property
    def description(self) -> str:
        """One line for the report: ``"CSV, semicolon-separated, UTF-8, gzip"``."""
        parts = [self.kind.upper() if self.kind != "jsonl" else "JSON Lines"]
        if self.kind == "csv":
            parts.append(f"{_SEPARATOR_NAMES.get(self.separator, repr(self.separator))}-separated")
            parts.append(
                self.encoding.upper() if self.encoding.startswith("utf") else self.encoding
            )
            if not self.has_header:
                parts.append("no header row")
        if self.compression:
            parts.append(self.compression)
        return ", ".join(parts)


# --------------------------------------------------------------------------------------------
# opening


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


def max_expanded_bytes_default() -> int:
    """The cap on decompressed bytes when none is given: ``PATHLENS_MAX_EXPANDED_MB`` mebibytes
    from the environment, else :data:`DEFAULT_MAX_EXPANDED_BYTES` (4 GiB).

    Raises
    ------
    ParameterError
        The environment variable is set but is not a positive number.
    """
    value = os.environ.get(MAX_EXPANDED_ENV, "").strip()
    if not value:
        return DEFAULT_MAX_EXPANDED_BYTES
    try:
        mb = float(value)
    except ValueError:
        mb = -1.0
    if not mb > 0 or mb != mb or mb == float("inf"):
        raise ParameterError(
            f"environment variable {MAX_EXPANDED_ENV} must be a positive number of mebibytes, "
            f"got {value!r}"
        )
    return int(mb * 1024**2)


def _cap(max_expanded_bytes: int | None) -> int:
    if max_expanded_bytes is None:
        return max_expanded_bytes_default()
    if not is_integer(max_expanded_bytes) or max_expanded_bytes <= 0:
        raise ParameterError(
            f"`max_expanded_bytes` must be a positive whole number of bytes, "
            f"got {max_expanded_bytes!r}"
        )
    return int(max_expanded_bytes)


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


#: Stream compressions: magic -> (opener of a decompressing reader, name suffixes).
_STREAMS: Final[dict[str, tuple[Callable[[IO[bytes]], IO[bytes]], tuple[str, ...]]]] = {
    "gzip": (lambda fh: gzip.GzipFile(fileobj=fh, mode="rb"), (".gz", ".gzip")),
    "bz2": (lambda fh: bz2.BZ2File(fh, mode="rb"), (".bz2",)),
    "xz": (lambda fh: lzma.LZMAFile(fh, mode="rb"), (".xz",)),
}
_DECOMPRESS_ERRORS: Final = (OSError, EOFError, ValueError, lzma.LZMAError, zipfile.BadZipFile)


class _TempFile:
    """A temporary file deleted when this object is garbage-collected (or at exit)."""

    def __init__(self) -> None:
        fd, name = tempfile.mkstemp(prefix="pathlens-expanded-")
        os.close(fd)
        self.path = Path(name)
        self._finalizer = weakref.finalize(self, _unlink, name)

    def remove(self) -> None:
        self._finalizer()


def _unlink(name: str) -> None:
    try:
        os.unlink(name)
    except OSError:
        pass


def _mib(n: int) -> str:
    return f"{n / 1024**2:,.1f} MiB" if n < 1024**3 else f"{n / 1024**3:,.2f} GiB"


def _expand(reader: IO[bytes], *, name: str, kind: str, cap: int, compressed: int) -> _TempFile:
    """Stream ``reader`` into a temporary file, stopping past ``cap`` bytes with a LoadError.

    Past the cap, the rest is decompressed without being kept (up to 4 x the cap, at most
    1 GiB more) only to tell the user how far the file expands at least.
    """
    tmp = _TempFile()
    written = 0
    try:
        with tmp.path.open("wb") as out:
            while True:
                chunk = reader.read(_CHUNK)
                if not chunk:
                    return tmp
                written += len(chunk)
                if written > cap:
                    break
                out.write(chunk)
    except _DECOMPRESS_ERRORS as e:
        tmp.remove()
        raise LoadError(
            f"{name!r} looks {kind}-compressed but cannot be decompressed: {_first_line(e)}",
            code="bad_archive",
        ) from None
    except BaseException:
        tmp.remove()
        raise
    tmp.remove()
    finished = False
    limit = min(4 * cap, cap + 1024**3)
    try:
        while written <= limit:
            chunk = reader.read(_CHUNK)
            if not chunk:
                finished = True
                break
            written += len(chunk)
    except _DECOMPRESS_ERRORS:
        pass
    size = f"{_mib(written)}" if finished else f"at least {_mib(written)}"
    ratio = f", {written / compressed:,.0f} times its compressed size" if compressed else ""
    raise LoadError(
        f"{name!r} expands to {size} when decompressed ({kind}{ratio}), more than the "
        f"{_mib(cap)} PathLens reads from a compressed file; decompression was stopped. "
        f"Upload a smaller extract, or raise the limit with the environment variable "
        f"{MAX_EXPANDED_ENV} (in MiB; e.g. {MAX_EXPANDED_ENV}={max(1, 2 * cap // 1024**2)})",
        code="too_large",
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


def _expand_zip(
    fh: IO[bytes], *, name: str, cap: int, compressed: int
) -> tuple[_TempFile, str, tuple[str, ...]]:
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise LoadError(
            f"{name!r} looks like a zip archive but cannot be opened: {e}", code="bad_archive"
        ) from None
    with zf:
        names = zf.namelist()
        if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
            raise LoadError(
                f"{name!r} is an Excel workbook (.xlsx): save it as CSV "
                "(File > Save As > CSV) and upload the CSV",
                code="excel",
            )
        members = [
            i
            for i in zf.infolist()
            if not i.is_dir()
            and not i.filename.startswith("__MACOSX/")
            and not Path(i.filename).name.startswith(".")
        ]
        if not members:
            raise LoadError(f"zip archive {name!r} holds no file", code="bad_archive")
        data_like = [
            m
            for m in members
            if m.filename.lower().endswith(
                (".csv", ".tsv", ".txt", ".gz", ".parquet", ".pq", ".jsonl", ".ndjson", ".json")
            )
        ]
        pool = data_like or members
        chosen = max(pool, key=lambda m: m.file_size)
        extra: tuple[str, ...] = ()
        if len(members) > 1:
            extra = (
                f"zip archive {name!r} holds {len(members)} files; read the largest data "
                f"file {chosen.filename!r} and ignored the others",
            )
        if chosen.file_size > cap:  # the archive says so itself: no need to decompress
            raise LoadError(
                f"{name!r} holds {chosen.filename!r}, which expands to "
                f"{_mib(chosen.file_size)} when decompressed (zip, "
                f"{chosen.file_size / max(1, compressed):,.0f} times the archive's size), more "
                f"than the {_mib(cap)} PathLens reads from a compressed file. Upload a smaller "
                f"extract, or raise the limit with the environment variable {MAX_EXPANDED_ENV} "
                f"(in MiB)",
                code="too_large",
            )
        try:
            member = zf.open(chosen)
        except (*_DECOMPRESS_ERRORS, NotImplementedError, RuntimeError) as e:
            raise LoadError(
                f"{chosen.filename!r} in zip archive {name!r} cannot be read: {_first_line(e)}",
                code="bad_archive",
            ) from None
        with member:
            tmp = _expand(member, name=name, kind="zip", cap=cap, compressed=compressed)
    return tmp, Path(chosen.filename).name, extra


def _complete_head(data: bytes) -> bytes:
    """The first bytes of ``data``, cut after the last complete line."""
    if len(data) <= _SNIFF_BYTES:
        return data
    head = data[:_SNIFF_BYTES]
    cut = head.rfind(b"\n")
    return head[: cut + 1] if cut > 0 else head


def _decode(data: bytes, *, name: str, full_check: bool = False) -> tuple[str, str, list[str]]:
    """Decode text bytes: UTF-16 by BOM, else UTF-8, else Windows-1252 / Latin-1 with a warning.

    The returned text is empty when the bytes are valid UTF-8 already (callers keep them).
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16"), "utf-16", []
        except UnicodeDecodeError as e:
            raise LoadError(
                f"{name!r} starts like UTF-16 text but is not valid UTF-16: {e}",
                code="bad_encoding",
            ) from None
    head = data[:_SNIFF_BYTES]
    if b"\x00" in head:
        raise LoadError(
            f"{name!r} is a binary file (it contains NUL bytes), not a text export; upload "
            "CSV, Parquet or JSON Lines",
            code="binary_file",
        )
    # Only the head is checked here: the CSV reader validates the rest as it reads, and
    # collect_raw() transcodes and reads again if a later byte turns out not to be UTF-8.
    bad_at = _first_invalid_utf8(_complete_head(data) if full_check is False else data)
    if bad_at is None:
        return "", "utf-8", []  # valid as it is: callers keep the original bytes
    line = data.count(b"\n", 0, bad_at) + 1
    if data[:3] == b"\xef\xbb\xbf":  # a UTF-8 BOM: its bytes are no Windows-1252 text
        data = data[3:]
    try:
        text, encoding = data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        text, encoding = data.decode("latin-1"), "latin-1"
    if _looks_binary(text[:_SNIFF_BYTES]):
        raise LoadError(
            f"{name!r} is a binary file, not a text export; upload CSV, Parquet or JSON Lines",
            code="binary_file",
        )
    warning = (
        f"{name!r} is not valid UTF-8 (first bad byte on line {line}); read it as "
        f"{encoding.capitalize()} (Latin-1): check accented characters"
    )
    return text, encoding, [warning]


def _first_invalid_utf8(data: bytes, chunk: int = 1 << 24) -> int | None:
    """Offset of the first byte that is not valid UTF-8, or None; decodes in chunks so a
    large valid file is checked without holding a second, decoded copy of it."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(data), chunk):
        try:
            decoder.decode(view[start : start + chunk], final=start + chunk >= len(data))
        except UnicodeDecodeError as e:
            return start + e.start if e.start >= 0 else start
    return None


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n\f")
    return controls > 0.05 * len(text)


def _head_lines(head: bytes, *, whole: bool, limit: int = 64) -> list[str]:
    text = head.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines()
    if not whole and len(lines) > 1:
        lines = lines[:-1]  # possibly cut in the middle
    return [ln for ln in lines if ln.strip()][:limit]


def _sniff_csv_or_json(
    head: bytes, *, name: str, path: Path | None, data: bytes | None, whole: bool
) -> RawSource:
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    low = name.lower()
    if stripped[:1] == b"[" and low.endswith(".json") or stripped[:2] in (b"[{", b"[\n"):
        return RawSource(name=name, kind="json", data=data, path=path)
    if stripped[:1] == b"{":
        return RawSource(name=name, kind="jsonl", data=data, path=path)
    lines = _head_lines(head, whole=whole)
    if not lines:
        raise LoadError(
            f"{name!r} is empty (only blank lines): there is nothing to load", code="empty_file"
        )
    if _looks_binary("\n".join(lines)):
        raise LoadError(
            f"{name!r} is a binary file, not a text export; upload CSV, Parquet or JSON Lines",
            code="binary_file",
        )
    skip = 0
    forced = re.fullmatch(r'"?sep=(.)"?,*', lines[0].strip())
    if forced:  # Excel's "sep=;" first line
        skip, lines = 1, lines[1:]
        if not lines:
            raise LoadError(f"{name!r} has no header row after its 'sep=' line", code="empty_file")
    separator = forced.group(1) if forced else _sniff_separator(lines)
    header = next(csv.reader([lines[0]], delimiter=separator))
    header = [h.strip() for h in header]
    warnings: list[str] = []
    column_names: tuple[str, ...] | None = None
    has_header = True
    if _is_taobao_row(header):
        has_header, column_names = False, TAOBAO_COLUMNS
        warnings.append(
            f"{name!r} has no header row; its rows look like Taobao UserBehavior "
            f"(user, item, category, behaviour, Unix time), so the columns were "
            f"named {list(TAOBAO_COLUMNS)}"
        )
    elif _looks_like_data_row(header):
        raise LoadError(
            f"the first row of {name!r} looks like data, not column names: {header[:6]}; add a "
            "header row naming the columns (for example user_id,timestamp,event)",
            code="no_header",
        )
    return RawSource(
        name=name,
        kind="csv",
        data=data,
        path=path,
        separator=separator,
        has_header=has_header,
        column_names=column_names,
        skip_lines=skip,
        warnings=tuple(warnings),
    )


def _sniff_separator(lines: list[str]) -> str:
    """The separator giving the most columns, consistently across the first lines."""
    best, best_score = ",", (False, 1, 0.0)
    for sep in _SEPARATORS:
        try:
            rows = list(csv.reader(lines, delimiter=sep))
        except csv.Error:
            continue
        counts = [len(r) for r in rows if r]
        if not counts:
            continue
        width = counts[0]
        agree = sum(c == width for c in counts) / len(counts)
        score = (width > 1 and agree >= 0.9, width, agree)
        if score > best_score:
            best, best_score = sep, score
    return best


def _is_taobao_row(fields: list[str]) -> bool:
    return (
        len(fields) == 5
        and fields[3].lower() in _TAOBAO_BEHAVIOURS
        and all(f.isdigit() for i, f in enumerate(fields) if i != 3)
    )


def _looks_like_data_row(fields: list[str]) -> bool:
    if len(fields) < 2:
        return False
    if any(_DATE_LIKE.match(f) for f in fields):
        return True  # a column name is never a date
    return sum(bool(_NUMBER.match(f)) for f in fields) * 2 > len(fields)


# --------------------------------------------------------------------------------------------
# scanning


def _clean_names(names: list[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for i, n in enumerate(names):
        n = n.strip().lstrip("\ufeff")
        if not n:
            n = f"column_{i + 1}"
        base, k = n, 1
        while n in seen:
            k += 1
            n = f"{base}_{k}"
        seen.add(n)
        out.append(n)
    return out


def scan_raw(raw: RawSource, *, row_index: bool = False) -> pl.LazyFrame:
    """A lazy frame of the file's own columns (CSV as text, Parquet/JSON with their types).

    Parameters
    ----------
    raw : RawSource
        From :func:`open_source`.
    row_index : bool, default False
        Add :data:`ROW_COLUMN` (``UInt32``), the 1-based data-row number as a spreadsheet user
        counts rows below the header.

    Returns
    -------
    pl.LazyFrame
        Nested JSON/Parquet structs are flattened into ``parent.child`` columns.
    """
    src: Any = raw.path if raw.data is None else raw.data
    if raw.kind == "csv":
        kwargs: dict[str, Any] = {}
        if raw.column_names is not None:
            kwargs["new_columns"] = list(raw.column_names)
        lf = pl.scan_csv(
            src,
            separator=raw.separator,
            has_header=raw.has_header,
            skip_lines=raw.skip_lines,
            infer_schema=False,
            with_column_names=_clean_names if raw.has_header else None,
            row_index_name=ROW_COLUMN if row_index else None,
            row_index_offset=1,
            raise_if_empty=False,
            **kwargs,
        )
        return lf
    if raw.kind == "parquet":
        lf = pl.scan_parquet(io.BytesIO(src) if isinstance(src, bytes) else src)
    else:
        try:
            if raw.kind == "jsonl":
                df = pl.read_ndjson(src, infer_schema_length=None)
            else:
                df = pl.read_json(src, infer_schema_length=None)
        except Exception as e:  # polars raises several kinds on malformed JSON
            if isinstance(e, pl.exceptions.PolarsError) and _is_utf8_error(e):
                raise  # collect_raw() transcodes and reads again
            raise LoadError(
                f"{raw.name!r} is not valid {'JSON Lines' if raw.kind == 'jsonl' else 'JSON'}: "
                f"{_first_line(e)}",
                code="bad_json",
            ) from None
        lf = df.lazy()
    lf = _flatten(lf)
    if row_index:
        lf = lf.with_row_index(ROW_COLUMN, offset=1)
    return lf


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _flatten(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Unnest struct columns into ``parent.child`` names; lists of scalars become text."""
    for _ in range(8):  # nesting depth guard
        schema = lf.collect_schema()
        structs = [c for c, t in schema.items() if isinstance(t, pl.Struct)]
        if not structs:
            break
        exprs = []
        for c, t in schema.items():
            if isinstance(t, pl.Struct):
                exprs.extend(
                    pl.col(c).struct.field(f.name).alias(f"{c}.{f.name}") for f in t.fields
                )
            else:
                exprs.append(pl.col(c))
        lf = lf.select(exprs)
    schema = lf.collect_schema()
    fixes = []
    for c, t in schema.items():
        if isinstance(t, (pl.List, pl.Array)):
            inner = t.inner
            if isinstance(inner, (pl.List, pl.Array, pl.Struct)):
                fixes.append(pl.col(c).map_elements(_json_text, return_dtype=pl.String))
            else:
                fixes.append(pl.col(c).cast(pl.List(pl.String)).list.join(", "))
        elif isinstance(t, pl.Struct):
            fixes.append(pl.col(c).struct.json_encode())
        elif t == pl.Object or t == pl.Null:
            fixes.append(pl.col(c).cast(pl.String))
    return lf.with_columns(fixes) if fixes else lf


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value.to_list() if hasattr(value, "to_list") else value, default=str)


# --------------------------------------------------------------------------------------------
# collecting, with the encoding fallback and ragged-line diagnosis


def _is_utf8_error(e: BaseException) -> bool:
    return "utf-8" in str(e).lower() or "utf8" in str(e).lower()


def transcode(raw: RawSource) -> RawSource:
    """Re-read a CSV whose bytes turned out not to be UTF-8 past the sniffed head."""
    data = raw.data if raw.data is not None else raw.path.read_bytes()  # type: ignore[union-attr]
    text, encoding, warnings = _decode(data, name=raw.name, full_check=True)
    utf8 = data if encoding == "utf-8" else text.encode("utf-8")
    return replace(
        raw, data=utf8, path=None, encoding=encoding, warnings=raw.warnings + tuple(warnings)
    )


def collect_raw(
    raw: RawSource,
    build: Callable[[pl.LazyFrame], pl.LazyFrame] = lambda lf: lf,
    *,
    row_index: bool = False,
) -> tuple[pl.DataFrame, RawSource]:
    """Scan ``raw``, apply ``build`` to the lazy frame and collect it.

    A CSV that turns out not to be UTF-8 beyond its first 64 KiB is transcoded and read again
    (with a warning); a CSV line with more fields than the header raises a :class:`LoadError`
    naming the line.

    Parameters
    ----------
    raw : RawSource
        From :func:`open_source`.
    build : callable, optional
        Lazy transformation applied before collecting (projection, casts).
    row_index : bool, default False
        Add :data:`ROW_COLUMN` before ``build``.

    Returns
    -------
    (pl.DataFrame, RawSource)
        The table and the source as finally read (encoding and warnings updated).

    Raises
    ------
    LoadError
        Malformed CSV (ragged lines, bad quoting) or JSON.
    """
    for attempt in range(2):
        try:
            return build(scan_raw(raw, row_index=row_index)).collect(), raw
        except pl.exceptions.PolarsError as e:
            if (
                raw.kind != "parquet"
                and attempt == 0
                and raw.encoding == "utf-8"
                and _is_utf8_error(e)
            ):
                raw = transcode(raw)
                continue
            if raw.kind == "csv" and "more fields" in str(e):
                raise LoadError(_ragged_message(raw), code="ragged_lines") from None
            if raw.kind == "csv" and (quoting := _quoting_problem(e)):
                raise LoadError(
                    f"{raw.name!r} could not be read as {raw.description}: {quoting}",
                    code="bad_quoting",
                ) from None
            if isinstance(e, (pl.exceptions.ComputeError, pl.exceptions.NoDataError)):
                raise LoadError(
                    f"{raw.name!r} could not be read as {raw.description}: {_first_line(e)}",
                    code="malformed",
                ) from None
            raise
    raise AssertionError("unreachable")


def _quoting_problem(e: BaseException) -> str | None:
    """A plain explanation when the CSV reader failed on unbalanced double quotes."""
    m = re.search(r"could not parse `(.*?)` as dtype .*? at column '(.*?)'", str(e), re.S)
    if not m or '"' not in m.group(1):
        return None
    value = m.group(1)
    shown = value if len(value) <= 60 else value[:57] + "..."
    return (
        f"a value of column {m.group(2)!r} has unbalanced double quotes ({shown!r}); a quoted "
        'value must end with a quote, and a quote inside it must be doubled ("")'
    )


def _ragged_message(raw: RawSource) -> str:
    data = raw.data if raw.data is not None else raw.path.read_bytes()  # type: ignore[union-attr]
    text = data.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text), delimiter=raw.separator)
    try:
        return _first_ragged_line(raw, reader)
    except csv.Error:  # a field beyond the csv module's size limit, a NUL byte...
        return f"{raw.name!r} has lines with more fields than its header"


def _first_ragged_line(raw: RawSource, reader: Any) -> str:
    width = None
    for lineno, row in enumerate(reader, start=1):
        if lineno <= raw.skip_lines or not row:
            continue
        if width is None:
            width = len(raw.column_names) if raw.column_names else len(row)
            if raw.has_header:
                continue
        if len(row) > width:
            return (
                f"line {reader.line_num} of {raw.name!r} has {len(row)} fields but the header "
                f"has {width} ({_SEPARATOR_NAMES.get(raw.separator, raw.separator)}-separated): "
                f"{row[:8]}; quote values that contain the separator"
            )
    return f"{raw.name!r} has lines with more fields than its header"


@dataclass(frozen=True)
class SpooledUpload:
    """An uploaded file copied to disk under its content hash (hashable: a cache key).

    Attributes
    ----------
    path : str
        The file on disk, ``<sha256>-<name>`` under the spool folder.
    name : str
        The file's name as uploaded (shown to the user, kept in the dataset's metadata).
    digest : str
        SHA-256 of the content (hex).
    size : int
        Bytes.
    """

    path: str
    name: str
    digest: str
    size: int


def default_spool_dir() -> Path:
    """Where uploads are spooled: ``$PATHLENS_SPOOL_DIR`` or ``<temp dir>/pathlens-uploads``."""
    env = os.environ.get("PATHLENS_SPOOL_DIR")
    return Path(env) if env else Path(tempfile.gettempdir()) / "pathlens-uploads"


def spool_upload(stream: IO[bytes], name: str, *, directory: str | Path | None = None,
                 chunk: int = 1 << 20, keep_seconds: float = 86_400.0) -> SpooledUpload:
    """Copy an uploaded file to disk in chunks, named by its content hash.

    The upload is read ``chunk`` bytes at a time, so it is never held a second time in memory;
    pages then read the file from disk and key their caches by the small
    :class:`SpooledUpload` instead of hashing the whole content on every rerun. The same
    content gives the same file (written once, atomically). Spooled files older than
    ``keep_seconds`` are removed on the way.

    Parameters
    ----------
    stream : binary file object
        The upload (read from its start).
    name : str
        The file's name as uploaded; its last path component is kept in the spooled name.
    directory : path, optional
        Spool folder (created when missing). Default :func:`default_spool_dir`.
    chunk : int, default 1 MiB
        Bytes read at a time.
    keep_seconds : float, default one day
        Age after which other spooled files are deleted.

    Returns
    -------
    SpooledUpload

    Raises
    ------
    LoadError
        The spool folder cannot be written (read-only or full disk).
    """
    import hashlib
    import time

    folder = Path(directory) if directory is not None else default_spool_dir()
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(name)).name)[-80:] or "upload"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    except OSError as e:
        raise LoadError(f"The upload could not be saved to {folder}: {e.strerror or e}. "
                        "Ask the administrator to free space or set PATHLENS_SPOOL_DIR.",
                        code="spool") from e
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            if hasattr(stream, "seek"):
                stream.seek(0)
            while block := stream.read(chunk):
                digest.update(block)
                out.write(block)
                size += len(block)
        final = folder / f"{digest.hexdigest()}-{safe}"
        os.replace(tmp, final)
    except OSError as e:
        _unlink(tmp)
        raise LoadError(f"The upload could not be saved to {folder}: {e.strerror or e}. "
                        "Ask the administrator to free space or set PATHLENS_SPOOL_DIR.",
                        code="spool") from e
    except BaseException:
        _unlink(tmp)
        raise
    cutoff = time.time() - keep_seconds
    for old in folder.iterdir():
        try:
            if old != final and old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            continue
    return SpooledUpload(path=str(final), name=str(name), digest=digest.hexdigest(), size=size)


def read_columns(source: Source, *, max_expanded_bytes: int | None = None) -> list[str]:
    """The column names of a file, reading only its head where the format allows (CSV,
    Parquet); the names :func:`read_raw` and :func:`core.load_events` will see.

    Parameters
    ----------
    source : str, Path, bytes or binary file-like
    max_expanded_bytes : int, optional
        Cap on decompressed bytes (see :func:`open_source`).

    Returns
    -------
    list of str

    Raises
    ------
    LoadError
        Missing, empty, binary or malformed file, or too large an expansion.
    """
    raw = open_source(source, max_expanded_bytes=max_expanded_bytes)
    try:
        return scan_raw(raw).collect_schema().names()
    except pl.exceptions.PolarsError as e:
        if raw.kind != "parquet" and _is_utf8_error(e):
            return scan_raw(transcode(raw)).collect_schema().names()
        raise LoadError(
            f"{raw.name!r} could not be read as {raw.description}: {_first_line(e)}",
            code="malformed",
        ) from None


def read_raw(
    source: Source, *, max_expanded_bytes: int | None = None
) -> tuple[pl.DataFrame, list[str]]:
    """Read a CSV, Parquet or JSON (Lines) file into a table of its own columns.

    Parameters
    ----------
    source : str, Path, bytes or binary file-like
        A path or an uploaded file; compression and format are recognised by content.
    max_expanded_bytes : int, optional
        Cap on decompressed bytes (see :func:`open_source`).

    Returns
    -------
    (pl.DataFrame, list of str)
        The table (CSV columns as ``String``; Parquet and JSON with their own types, nested
        fields flattened to ``parent.child``) and the warnings about what was assumed, e.g.
        a Latin-1 fallback.

    Raises
    ------
    LoadError
        Missing, empty, binary or malformed file.

    Examples
    --------
    >>> df, warnings = read_raw("orders.csv.gz")  # doctest: +SKIP
    """
    raw = open_source(source, max_expanded_bytes=max_expanded_bytes)
    df, raw = collect_raw(raw)
    return df, list(raw.warnings)


def read_text(
    source: Source, *, max_expanded_bytes: int | None = None
) -> tuple[str, str, list[str]]:
    """The decoded text of a text file (decompressed; encodings as in :func:`read_raw`).

    For inputs that are not tables, such as a file of one basket per line.

    Parameters
    ----------
    source : str, Path, bytes or binary file-like
    max_expanded_bytes : int, optional
        Cap on decompressed bytes (see :func:`open_source`).

    Returns
    -------
    (str, str, list of str)
        The text, the file name and the warnings.

    Raises
    ------
    LoadError
        Missing, empty or binary file, or a Parquet file.
    """
    cap = _cap(max_expanded_bytes)
    name = _source_name(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise LoadError(f"file not found: {str(path)!r}", code="not_found")
        data = path.read_bytes()
    else:
        data = _read_source_bytes(source)
    raw = _open_bytes(data, name=name, compression=None, warnings=(), sniff=False, cap=cap)
    if raw.kind == "parquet":
        raise LoadError(f"{name!r} is a Parquet file, not text", code="not_text")
    assert raw.data is not None
    text = raw.data.decode("utf-8")
    return text.lstrip("\ufeff"), raw.name, list(raw.warnings)


__all__ = [
    "DEFAULT_MAX_EXPANDED_BYTES",
    "MAX_EXPANDED_ENV",
    "ROW_COLUMN",
    "RawSource",
    "Source",
    "collect_raw",
    "max_expanded_bytes_default",
    "open_source",
    "read_columns",
    "read_raw",
    "read_text",
    "scan_raw",
    "transcode",
]
