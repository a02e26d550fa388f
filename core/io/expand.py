"""Decompression into a temporary file, within a cap on the expanded size.

A compressed upload is streamed into a temporary file on disk (deleted when nothing refers to
it any more), never into memory. The cap (``max_expanded_bytes``, default
:data:`DEFAULT_MAX_EXPANDED_BYTES` or ``PATHLENS_MAX_EXPANDED_MB`` mebibytes from the
environment) stops a small "zip bomb": past it decompression stops and a
:class:`~core.errors.LoadError` says how far the file expands at least, the cap and how to
raise it.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import tempfile
import weakref
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Final

from core.errors import LoadError, ParameterError, is_integer
from core.io.raw import _first_line

#: Default cap on the bytes a compressed file may expand to (4 GiB).
DEFAULT_MAX_EXPANDED_BYTES: Final = 4 * 1024**3

#: Environment variable overriding the cap, in mebibytes.
MAX_EXPANDED_ENV: Final = "PATHLENS_MAX_EXPANDED_MB"
_CHUNK: Final = 1 << 20


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
