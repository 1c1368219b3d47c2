"""Fixtures for the project's own tests: where the shipped real data lives, a real headless
browser for the HTML report, and the two tiers of the suite.

`pytest tests` runs the fast tier: unit tests and a few end-to-end ones (a real decode of a
few clips through the plugin, a served model, the HTML report in a browser), a few minutes
on two cores. `pytest tests --slow` adds the slow end-to-end tier, the tests marked
``@pytest.mark.slow`` (real decoding of many clips, kill and resume, shards, kernel checks);
without the flag they skip, naming it. The slow tests that need the real model's outputs
for the three LibriSpeech slices read them from one decode shared by the whole session
(``decoded_slices``) instead of decoding the clips again.
"""

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
from decoded_slices import DecodedSlices, decode_once

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
SLOW_FLAG = "--slow"
SLOW_REASON = f"slow end-to-end tier: run it with `pytest tests {SLOW_FLAG}`"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(SLOW_FLAG, action="store_true", default=False,
                     help="also run the slow end-to-end tier (tests marked slow): real "
                          "decoding of many clips, kill and resume, shards, kernel checks")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without --slow the slow tier skips, naming the flag; a test that reads the shared
    decode of the slices is slow by definition, and one not marked so is refused."""
    unmarked = [item.nodeid for item in items if "decoded_slices" in getattr(
        item, "fixturenames", ()) and item.get_closest_marker("slow") is None]
    if unmarked:
        raise pytest.UsageError("these tests read the shared decode of the LibriSpeech slices "
                                "(decoded_slices) but are not marked @pytest.mark.slow: "
                                + ", ".join(unmarked))
    if config.getoption("slow"):
        return
    skip = pytest.mark.skip(reason=SLOW_REASON)
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One closing line says how many slow tests this run left out and how to run them."""
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if SLOW_REASON in str(getattr(r, "longrepr", ""))]
    if skipped:
        terminalreporter.write_line(f"{len(skipped)} test(s) of the slow end-to-end tier "
                                    f"skipped: run them with `pytest tests {SLOW_FLAG}`")


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
def decoded_slices(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> DecodedSlices:
    """whisper-tiny.en's gated run over the three LibriSpeech slices (83 clips), decoded
    once per session: under pytest-xdist in the folder the workers' temporary folders share,
    the first worker to need it decoding and the others waiting for it (a file lock)."""
    base = tmp_path_factory.getbasetemp()
    shared_root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return decode_once(shared_root, shared_data)


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
