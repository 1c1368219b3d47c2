"""Without a browser the browser tests skip and say why, unless CI requires them."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import REQUIRE_BROWSER, browser_paths, no_browser


def test_absent_browser_is_none(tmp_path: Path) -> None:
    assert browser_paths((str(tmp_path / "chromium"),), "no-such-chromedriver") == (None, None)


def test_skips_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_BROWSER, raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium "
                                                    "chromium-driver"):
        no_browser("chromium or chromedriver not found")


def test_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_BROWSER, "1")
    with pytest.raises(pytest.fail.Exception, match="AUDIOGATE_REQUIRE_BROWSER=1"):
        no_browser("chromium or chromedriver not found")
