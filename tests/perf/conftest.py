"""Speed benchmarks live here and never run by default: `pytest tests/perf --run-perf`.

They report numbers (they do not assert on time) and take minutes, so the default
`pytest` / `pytest tests` run skips every test under tests/perf/ unless --run-perf is given.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-perf", action="store_true", default=False,
                     help="run the speed benchmarks under tests/perf (skipped otherwise)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The option exists only when this conftest was loaded at startup (tests/perf given on
    # the command line); when `pytest tests` reaches this folder later, the default holds.
    if config.getoption("run_perf", default=False):
        return
    skip = pytest.mark.skip(reason="speed benchmark: run with `pytest tests/perf --run-perf`")
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(skip)
