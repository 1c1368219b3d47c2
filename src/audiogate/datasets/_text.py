"""Checks shared by the transcript-reading loaders.

A reference that carries control characters, private-use code points, unpaired
surrogates or unassigned code points is a broken file (wrong encoding, binary junk,
a vendor font's private glyphs), not speech: scoring it would silently count phantom
tokens, so loaders turn such a line into an error sample that names the file and line.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from audiogate.datasets._paths import not_a_file
from audiogate.errors import DataError

REPLACEMENT = "\ufffd"  # what a decoder writes for bytes it could not read

# Cc control, Cf format (zero-width joiners, BOM...), Co private use, Cs surrogate,
# Cn unassigned: no writing system uses them for spoken words.
_BAD_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn"}


def unknown_characters(text: str) -> list[str]:
    """The distinct characters of ``text`` outside any script, as ``U+XXXX`` strings.

    Ordinary whitespace (space, tab) is allowed: it only separates words.
    """
    bad: list[str] = []
    for ch in text:
        if ch in " \t":
            continue
        if unicodedata.category(ch) in _BAD_CATEGORIES:
            code = f"U+{ord(ch):04X}"
            if code not in bad:
                bad.append(code)
    return bad


def describe_unknown(text: str) -> str | None:
    """A message fragment naming the offending code points, or None when the text is clean."""
    if REPLACEMENT in text:
        return ("U+FFFD replacement character: the text was decoded from bytes that were "
                "not valid UTF-8, so the reference is not what the speaker said")
    bad = unknown_characters(text)
    if not bad:
        return None
    return f"characters outside any known script ({', '.join(bad)})"


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
    reference. Line endings (LF, CRLF, CR) are removed. A path that is no readable file
    (a directory, a named pipe) is a DataError naming it.
    """
    if (kind := not_a_file(path)) is not None:
        raise DataError(f"{path}: {kind}, not a text file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    offset = 0
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
