"""Paths that exist but are no regular file: named, never opened.

A directory fails to open, but a named pipe blocks the reader until something writes
to it: a run would hang on one listed sample. So a loader asks first.
"""

from __future__ import annotations

import stat
from pathlib import Path

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def not_a_file(path: Path) -> str | None:
    """What ``path`` is when it is not a regular file ("a directory", ...); None for a
    regular file (or a link to one), and for a path that does not exist."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"a path that cannot be looked at ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    return next((name for is_kind, name in _KINDS if is_kind(mode)), "not a regular file")
