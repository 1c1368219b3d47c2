"""Checks shared by the transcript-reading loaders.

A reference that carries control characters, private-use code points, unpaired
surrogates or unassigned code points is a broken file (wrong encoding, binary junk,
a vendor font's private glyphs), not speech: scoring it would silently count phantom
tokens, so loaders turn such a line into an error sample that names the file and line.
"""

from __future__ import annotations

import unicodedata

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
    bad = unknown_characters(text)
    if not bad:
        return None
    return f"characters outside any known script ({', '.join(bad)})"
