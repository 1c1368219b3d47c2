"""Finding the system's headless browser for the HTML report tests, and what to do when
it is missing: skip with the reason, or fail where it is required (CI sets
AUDIOGATE_REQUIRE_BROWSER=1)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

# A fresh profile and nothing that talks to the network (this machine's network is closed).
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,1000")
REQUIRE_BROWSER = "AUDIOGATE_REQUIRE_BROWSER"
# Debian's binary (the /usr/bin/chromium launcher script wraps it)
BINARIES = ("/usr/lib/chromium/chromium", "chromium")


def browser_paths(binaries: Sequence[str] = BINARIES, driver: str = "chromedriver"
                  ) -> tuple[Path | None, Path | None]:
    """(chromium, chromedriver), each None when absent."""
    found = [shutil.which(b) if "/" not in b else b for b in binaries]
    binary = next((Path(p) for p in found if p and Path(p).is_file()), None)
    driver_path = shutil.which(driver)
    return binary, Path(driver_path) if driver_path else None


def no_browser(reason: str) -> NoReturn:
    """Skip, saying why, unless the browser is required, then fail."""
    import pytest

    if os.environ.get(REQUIRE_BROWSER) == "1":
        pytest.fail(f"{reason} ({REQUIRE_BROWSER}=1: the browser tests must run)")
    pytest.skip(f"{reason}; install Debian's chromium and chromium-driver "
                "(`apt-get install -y chromium chromium-driver`) to run the browser tests")
