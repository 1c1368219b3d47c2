"""Fixtures for the project's own tests: where the shipped real data lives, and a real
headless browser for the HTML report."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpcore  # noqa: F401  (see below)
import numpy.fft  # (see below)
import numpy.linalg
import numpy.random  # noqa: F401
import pytest
from browser_support import CHROMIUM_FLAGS, browser_paths, no_browser

from audiogate.datasets import load_dataset
from audiogate.registry import load as registry

# pytester's in-process runs drop the modules first imported inside them when they end.
# httpx imports httpcore lazily and caches its exception map on first use, so an httpcore
# first imported inside such a run would come back as a second copy whose errors httpx
# no longer recognises (httpcore.ConnectError escaping instead of httpx.ConnectError).
# Importing it here, once, keeps one copy for the whole session. numpy's extension modules
# (numpy.fft's among them, which librosa and resemblyzer import) refuse to load a second time
# in one process ("cannot load module more than once per process"): the same cure.

REPO = Path(__file__).resolve().parents[1]


# What the tests need from the project's original test-data collection, shipped in the
# repository with its provenance (data/, tests/ground_truth/, models/): a clone with nothing
# beside it runs every test.
DATA = REPO / "data"
GROUND_TRUTH = REPO / "tests" / "ground_truth"
MODELS = REPO / "models"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real demo slices shipped in data/ (LibriSpeech, AISHELL-1, FLEURS-zh, MMAU JSON)."""
    return DATA


@pytest.fixture(scope="session")
def ground_truth() -> Path:
    """What the reference scorers produced, recorded by running them (tests/ground_truth/)."""
    return GROUND_TRUTH


@pytest.fixture(scope="session")
def references(shared_data: Path) -> list[tuple[str, str]]:
    """(id, transcript) of the 42 real test-other utterances, from the project's loader."""
    samples = load_dataset(registry.dataset("librispeech-test-other"), shared_data)
    return [(s.id, s.reference) for s in samples if s.error is None]


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's headless Chromium driven by selenium through Debian's chromedriver."""
    binary, driver_path = browser_paths()
    if binary is None or driver_path is None:
        no_browser("chromium or chromedriver not found")
    try:
        from selenium import webdriver
    except ImportError:
        no_browser("selenium is not installed (it is in the dev extra)")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never download anything
    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.binary_location = str(binary)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=str(driver_path)))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester project that runs the gated benchmark (benchmarks/test_asr.py) with
    audiogate's plugin, as a user's checkout does (modules using it load "pytester")."""
    monkeypatch.syspath_prepend(str(REPO))
    pytester.makeconftest('pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n')
    pytester.makepyfile(test_gated_asr=(REPO / "benchmarks" / "test_asr.py").read_text())
    return pytester
