"""Speed benchmarks live here and never run by default: `pytest tests/perf --run-perf`.

They report numbers (they do not assert on time) and take minutes, so the default
`pytest` / `pytest tests` run skips every test under tests/perf/ unless --run-perf is given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogate.datasets import load_dataset
from audiogate.registry import load as registry

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


@pytest.fixture(scope="session")
def longest_chapter(shared_data: Path,
                    tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    from audiogate.datasets.audio import load_sample_audio

    found = [s for split in ("dev-clean", "test-other", "test-clean") for s in load_dataset(
        registry.dataset(f"librispeech-chapters-{split}"), shared_data)]
    chapter = max(found, key=lambda s: s.meta["duration"])
    path = tmp_path_factory.mktemp("chapter") / f"{chapter.id}.flac"
    sf.write(str(path), load_sample_audio(chapter), 16_000, subtype="PCM_16")
    return path, chapter.reference


@pytest.fixture(scope="session")
def hour_of_speech(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    speech = [sf.read(str(p), dtype="int16")[0] for p in
              sorted((shared_data / "LibriSpeech" / "dev-clean").glob("*/*/*.flac"))]
    clip = np.resize(np.concatenate(speech), 3600 * 16_000)  # repeated real speech
    path = tmp_path_factory.mktemp("hour") / "speech-1h.flac"
    sf.write(str(path), clip, 16_000, subtype="PCM_16")
    return path
