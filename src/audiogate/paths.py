"""Where things live by default: one function each, shared by the CLI and the pytest plugin."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

DATA_ROOT_ENV = "AUDIOGATE_DATA_ROOT"
DATA_ROOT_INI = "audiogate_data_root"  # a project's own default, in its pytest settings


def cache_home() -> Path:
    """$XDG_CACHE_HOME/audiogate (default ~/.cache/audiogate): weights, downloads."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base).expanduser() / "audiogate"


def project_data_root(start: Path) -> Path | None:
    """The ``audiogate_data_root`` of the nearest pyproject.toml's pytest settings at or
    above ``start`` (relative to that file), as pytest reads it for the gated tests."""
    for folder in (start.resolve(), *start.resolve().parents):
        pyproject = folder / "pyproject.toml"
        if not pyproject.is_file():
            continue
        try:
            settings = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return None
        pytest_ini = settings.get("tool", {}).get("pytest", {}).get("ini_options", {})
        value = str(pytest_ini.get(DATA_ROOT_INI) or "").strip()
        return folder / value if value else None
    return None


def default_data_root(start: Path | None = None) -> Path:
    """``$AUDIOGATE_DATA_ROOT`` if set, else the project's ``audiogate_data_root`` (found
    from ``start``, when given), else ``<cache_home>/data``.

    One resolution for every entry point, so `audiogate data fetch` installs exactly
    where the gated tests will look.
    """
    env = os.environ.get(DATA_ROOT_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    project = project_data_root(start) if start is not None else None
    return project if project is not None else cache_home() / "data"
