"""Fixtures for the project's own tests: where the shared real data lives, and a real
headless browser for the HTML report."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# A fresh profile and nothing that talks to the network (this machine's network is closed).
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,1000")
REQUIRE_BROWSER = "AUDIOGATE_REQUIRE_BROWSER"


def _no_browser(reason: str) -> None:
    """Skip, saying why, unless the browser is required (CI), then fail."""
    if os.environ.get(REQUIRE_BROWSER) == "1":
        pytest.fail(f"{reason} ({REQUIRE_BROWSER}=1: the browser tests must run)")
    pytest.skip(f"{reason}; install Debian's chromium and chromium-driver "
                f"(`apt-get install -y chromium chromium-driver`) to run the browser tests")


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's headless Chromium driven by selenium through Debian's chromedriver."""
    binary = next((p for p in ("/usr/lib/chromium/chromium", shutil.which("chromium"))
                   if p and Path(p).is_file()), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        _no_browser("chromium or chromedriver not found")
    try:
        from selenium import webdriver
    except ImportError:
        _no_browser("selenium is not installed (it is in the dev extra)")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never download anything
    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.binary_location = str(binary)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()
