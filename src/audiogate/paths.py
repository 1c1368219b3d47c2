"""Where things live by default: one function each, shared by the CLI and the pytest plugin."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ROOT_ENV = "AUDIOGATE_DATA_ROOT"


def cache_home() -> Path:
    """$XDG_CACHE_HOME/audiogate (default ~/.cache/audiogate): weights, downloads."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base).expanduser() / "audiogate"


def default_data_root() -> Path:
    """``$AUDIOGATE_DATA_ROOT`` if set, else ``<cache_home>/data``.

    One resolution for every entry point, so `audiogate data fetch` installs exactly
    where the gated tests will look.
    """
    env = os.environ.get(DATA_ROOT_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return cache_home() / "data"
