"""Checks shared by the transcript-reading loaders.

A reference is refused only when it shows that it was not read as the text it holds:
U+FFFD (what a decoder writes for bytes it could not read), a C0/C1 control character
other than whitespace (a terminal escape, binary junk, a wrong encoding) or an unpaired
surrogate (half of a character). Such a line becomes an error sample that names the file
and line. Everything else is handed to the scorer as written: format characters (zero-width
space and joiners, BOM, soft hyphen, bidi marks), private-use and unassigned code points
are scored exactly as the reference scorers score them (their normalizers decide what each
one becomes).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from audiogate.datasets._paths import not_a_file
from audiogate.errors import DataError

REPLACEMENT = "\ufffd"  # what a decoder writes for bytes it could not read
BOM = "\ufeff"  # at the start of a file: the encoding's mark ("UTF-8 with BOM"), not text
# Control characters that are Unicode whitespace (tab, line feed, vertical tab, form feed,
# carriage return, next line): they only separate words, and every normalizer makes them
# a space.
_WHITESPACE_CONTROLS = frozenset("\t\n\x0b\x0c\r\x85")


def control_characters(text: str) -> list[str]:
    """The distinct C0/C1 control characters of ``text`` that are not whitespace, and its
    unpaired surrogates, as ``U+XXXX`` strings in order of appearance."""
    bad: list[str] = []
    for ch in text:
        if ch in _WHITESPACE_CONTROLS or unicodedata.category(ch) not in ("Cc", "Cs"):
            continue
        code = f"U+{ord(ch):04X}"
        if code not in bad:
            bad.append(code)
    return bad


def describe_unknown(text: str) -> str | None:
    """Why ``text`` was not read correctly (a message fragment naming the code points), or
    None when it is text to score."""
    if REPLACEMENT in text:
        return ("U+FFFD replacement character: the text was decoded from bytes that were "
                "not valid UTF-8, so the reference is not what the speaker said")
    bad = control_characters(text)
    if not bad:
        return None
    surrogates = [c for c in bad if 0xD800 <= int(c[2:], 16) <= 0xDFFF]
    if surrogates:
        return (f"unpaired surrogate ({', '.join(surrogates)}): half of a character, so the "
                "text was not read correctly")
    return (f"control character(s) ({', '.join(bad)}): bytes that are not text (a terminal "
            "escape, binary data or a wrong encoding), so the reference is not what the "
            "speaker said")


class Line(NamedTuple):
    """One line of a text file: its text, or why it could not be read."""

    number: int
    text: str | None  # None when the line is not valid UTF-8
    error: str | None  # names file, line and byte offset
    first: str  # the first token read as ASCII (utterance ids are): names even a bad line


def decoded_lines(path: Path) -> Iterator[Line]:
    """Every line of a text file, decoded strictly as UTF-8.

    A line that is not valid UTF-8 gets ``text`` None and an error naming the file, the
    line and the byte offset in the file: a guess at its encoding would score a garbled
    reference. Line endings (LF, CRLF, CR) are removed, and so is a BOM that starts the
    file (the encoding's mark; one anywhere else is text, scored as written). A path that
    is no readable file (a directory, a named pipe) is a DataError naming it.
    """
    if (kind := not_a_file(path)) is not None:
        raise DataError(f"{path}: {kind}, not a text file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    offset = 0
    mark = BOM.encode("utf-8")
    if data.startswith(mark):
        data, offset = data[len(mark):], len(mark)
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        first = raw.split(None, 1)[0].decode("ascii", "replace") if raw.strip() else ""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Line(number, None, f"{path}:{number}: not valid UTF-8 (byte "
                                     f"0x{raw[exc.start]:02x} at byte offset "
                                     f"{offset + exc.start} of the file)", first)
        else:
            yield Line(number, text.rstrip("\r\n"), None, first)
        offset += len(raw)
