"""Decoding text bytes: UTF-16 by BOM, UTF-8, or a Windows-1252 / Latin-1 fallback."""

from __future__ import annotations

import codecs

from core.errors import LoadError
from core.io.raw import _SNIFF_BYTES


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
