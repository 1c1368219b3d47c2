"""DNSMOS as UltraEval-Audio's CV3-Eval scores it, against what its own scorer gave.

Ground truth: tests/ground_truth/dnsmos_ultraeval.json (scripts/record_dnsmos_ultraeval.py
ran the harness's audio_evals/lib/DNSMOS/main.py on these clips). The clips are rebuilt
here the same way: shipped LibriSpeech audio, the same with seeded noise, eSpeak NG speech.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from audiogate.engines.espeak_tts import synthesize
from audiogate.scoring.dnsmos import REPORTED, DnsmosError, dnsmos, models

FIELDS = ("OVRL", "SIG", "BAK", "P808_MOS", "P_SIG", "P_BAK", "P_OVRL")
TRUTH = json.loads((Path(__file__).parents[1] / "ground_truth" / "dnsmos_ultraeval.json")
                   .read_text(encoding="utf-8"))
ESPEAK_TEXT = "He hoped there would be stew for dinner, turnips and carrots."


def _clip(name: str, data: Path, folder: Path) -> Path:
    """The recorded clip ``name``, rebuilt as scripts/record_dnsmos_ultraeval.py made it."""
    path = folder / name
    if name == "espeak.wav":
        speech, rate = synthesize(ESPEAK_TEXT)
        sf.write(path, speech, rate, subtype="PCM_16")
        return path
    kind, stem = name.removesuffix(".wav").split("-", 1)
    source = next(data.glob(f"LibriSpeech/*/*/*/{stem}.flac"))
    samples, rate = sf.read(source)
    if kind == "clean":
        sf.write(path, samples, rate, subtype="PCM_16")
    else:
        noise = np.random.RandomState(29).normal(0.0, 0.1, samples.shape)
        sf.write(path, samples + noise, rate, subtype="FLOAT")
    return path


@pytest.fixture(scope="module")
def scored(shared_data: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> dict[str, tuple[dict[str, Any], str]]:
    folder = tmp_path_factory.mktemp("dnsmos")
    out = {}
    for name in TRUTH["clips"]:
        path = _clip(name, shared_data, folder)
        audio, rate = sf.read(path)
        as_read, _ = sf.read(path, dtype="float32")
        out[name] = (dnsmos(audio, rate).to_json(),
                     hashlib.sha256(as_read.tobytes()).hexdigest())
    return out


@pytest.mark.parametrize("name", sorted(TRUTH["clips"]))
def test_clip_as_ultraeval_audio_scores_it(name: str,
                                           scored: dict[str, tuple[dict[str, Any], str]]
                                           ) -> None:
    recorded = TRUTH["clips"][name]
    got, digest = scored[name]
    assert digest == recorded["samples_sha256"]  # the very clip the harness scored
    for field in FIELDS:
        assert got[field] == pytest.approx(recorded[field], abs=1e-4), field


def test_noise_scores_lower_and_values_are_in_range(
        scored: dict[str, tuple[dict[str, Any], str]]) -> None:
    for name, (got, _) in scored.items():
        assert all(1.0 <= got[f] <= 5.0 for f in FIELDS), (name, got)
        if name.startswith("clean-"):
            noisy = scored["noisy-" + name.removeprefix("clean-")][0]
            assert got["OVRL"] > noisy["OVRL"] + 1.0
            assert got["BAK"] > noisy["BAK"] + 1.5
            assert got[REPORTED] > noisy[REPORTED] + 0.5
    assert REPORTED == "P808_MOS"


def test_only_the_first_9_01_seconds_count(shared_data: Path) -> None:
    audio, rate = sf.read(shared_data / "LibriSpeech/test-clean/1089/134686/"
                          "1089-134686-0000.flac")
    assert len(audio) / rate > 10
    noisy_tail = audio.copy()
    tail = int(9.05 * rate)
    noisy_tail[tail:] += np.random.RandomState(1).normal(0, 0.3, len(audio) - tail)
    first, second = dnsmos(audio, rate), dnsmos(noisy_tail, rate)
    assert first.to_json() == {**second.to_json(), "seconds": first.seconds}


def test_bad_audio_is_refused() -> None:
    with pytest.raises(DnsmosError, match="expected audio samples"):
        dnsmos(np.zeros(0), 16000)
    with pytest.raises(DnsmosError, match="non-finite"):
        dnsmos(np.array([0.0, np.nan, 0.1]), 16000)
    assert models().identity()["procedure"].startswith("UltraEval-Audio")
