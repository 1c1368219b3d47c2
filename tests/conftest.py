"""Fixtures for the project's own tests: where the shared real data lives."""

from __future__ import annotations

import os
from pathlib import Path

import httpcore  # noqa: F401  (see below)
import pytest

# pytester's in-process runs drop the modules first imported inside them when they end.
# httpx imports httpcore lazily and caches its exception map on first use, so an httpcore
# first imported inside such a run would come back as a second copy whose errors httpx
# no longer recognises (httpcore.ConnectError escaping instead of httpx.ConnectError).
# Importing it here, once, keeps one copy for the whole session.

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the repository (override with AUDIOGATE_SHARED)."""
    path = Path(os.environ.get("AUDIOGATE_SHARED", REPO.parent / "shared"))
    if not (path / "data").is_dir():
        pytest.fail(f"shared real data not found at {path}; set AUDIOGATE_SHARED")
    return path


@pytest.fixture(scope="session")
def shared_data(shared_dir: Path) -> Path:
    return shared_dir / "data"
