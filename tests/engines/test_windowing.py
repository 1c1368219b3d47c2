"""Windows cut in the pauses of real speech (faster-whisper's torch-free Silero VAD), and
an engine with a bounded audio length given whole chapters: windowed, not refused."""

from __future__ import annotations

import dataclasses
import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

from audiogate.datasets import load_dataset
from audiogate.datasets.audio import TARGET_RATE, load_sample_audio
from audiogate.engines import EngineContext, make_engine
from audiogate.engines.windowed import WindowedEngine, audio_limit
from audiogate.engines.windowing import WindowSettings, cut_points, plan, speech, stitch
from audiogate.errors import RegistryError
from audiogate.registry import load as registry
from audiogate.samples import Request
from audiogate.scoring.pair import Outcome, score


@pytest.fixture(scope="module")
def chapters(shared_data: Path) -> list:
    return load_dataset(registry.dataset("librispeech-chapters-dev-clean"), shared_data)


@pytest.fixture(scope="module")
def chapter(chapters: list) -> tuple:
    """The 145 s chapter of the dev-clean slice (15 utterances)."""
    return chapters[0], load_sample_audio(chapters[0])


def test_the_vad_needs_no_torch() -> None:
    import faster_whisper.vad  # noqa: F401

    assert "torch" not in sys.modules


def test_windows_cover_the_recording_at_most_the_limit_and_end_in_pauses(chapter: tuple
                                                                         ) -> None:
    _, audio = chapter
    settings = WindowSettings(30.0)
    spans = plan(audio, settings)
    assert spans[0][0] == 0 and spans[-1][1] == len(audio)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))  # no gap, no overlap
    assert all(0 < b - a <= settings.max_samples for a, b in spans)
    assert len(spans) == 6  # 145 s in at most 30 s windows: 5 would need no slack at all
    spoken = speech(audio, settings)
    for _, cut in spans[:-1]:
        assert not any(s < cut < e for s, e in spoken), f"cut at {cut / TARGET_RATE:.2f} s " \
            "is inside speech"
        quiet = np.sqrt(np.mean(audio[cut - 800:cut + 800] ** 2))
        loud = np.sqrt(np.mean(audio ** 2))
        assert quiet < loud / 4


def test_audio_that_fits_is_one_window_and_the_vad_never_runs(chapter: tuple) -> None:
    _, audio = chapter
    assert plan(audio[:30 * TARGET_RATE], WindowSettings(30.0)) == [(0, 30 * TARGET_RATE)]


def test_cut_prefers_the_longest_pause_in_the_second_half() -> None:
    # a long pause early, a short one late, another long one late: the late long one wins
    gaps = [(100, 300), (700, 720), (800, 900)]
    assert cut_points(1500, gaps, 1000) == [850]
    # no pause at all: cut at the limit
    assert cut_points(2500, [], 1000) == [1000, 2000]


def test_stitch_joins_with_spaces_except_where_the_language_writes_none() -> None:
    assert stitch([" one two", "", "three "], "en") == "one two three"
    assert stitch(["你好", "世界"], "zh") == "你好世界"


def test_max_audio_seconds_must_be_a_positive_number() -> None:
    spec = registry.model("whisper-tiny.en")
    for bad in (0, -3, "30", True):
        with pytest.raises(RegistryError, match="max_audio_seconds"):
            audio_limit(dataclasses.replace(spec, options={**spec.options,
                                                           "max_audio_seconds": bad}))


def test_a_bounded_engine_windows_a_chapter_and_scores_like_sequential_decoding(
        chapters: list) -> None:
    sample = chapters[1]  # 61 s: three windows of at most 30 s
    audio = load_sample_audio(sample)
    spec = registry.model("whisper-tiny.en")
    bounded = dataclasses.replace(spec, options={**spec.options, "max_audio_seconds": 30})
    windowed = make_engine(bounded, EngineContext())
    whole = make_engine(spec, EngineContext())
    assert isinstance(windowed, WindowedEngine) and not isinstance(whole, WindowedEngine)
    assert windowed.identity()["long_audio"]["max_seconds"] == 30.0
    done: list[float] = []
    request = Request(sample, audio, "asr", "en", progress=done.append)
    try:
        [out] = list(windowed.run([request]))
        [seq] = list(whole.run([dataclasses.replace(request, progress=None)]))
    finally:
        windowed.close()
        whole.close()
    assert out.error is None and out.sample_id == sample.id
    spans = plan(audio, windowed.settings)
    assert out.windows == [[a / TARGET_RATE, b / TARGET_RATE] for a, b in spans]
    assert done == sorted(done) and done[-1] == pytest.approx(len(audio) / TARGET_RATE)
    # faster-whisper's own sequential decoding: 30 s windows, each from the last timestamp
    starts = [a for a, _ in seq.windows]
    assert starts[0] == 0.0 and starts == sorted(set(starts)) and len(starts) >= 3
    assert all(b - a <= 30.0 + 1e-6 for a, b in seq.windows)
    assert seq.windows[-1][1] == pytest.approx(len(audio) / TARGET_RATE, abs=0.01)
    dataset = registry.dataset("librispeech-chapters-dev-clean")
    wers = []
    for o in (out, seq):
        pair, _ = score(dataset, [Outcome(sample.id, sample.reference, None, o.text, o.text,
                                          None)])
        wers.append(pair.value)
    # both read every window: neither drops or repeats a stretch of the chapter
    assert wers[0] < 15 and wers[1] < 15, wers


def test_faster_whisper_long_form_settings_are_in_the_identity() -> None:
    spec = registry.model("whisper-tiny.en")
    engine = make_engine(spec, EngineContext())
    other = make_engine(dataclasses.replace(spec, options={**spec.options, "settings": {
        **spec.options.get("settings", {}), "no_speech_threshold": 0.3}}), EngineContext())
    try:
        long_audio = engine.identity()["long_audio"]
        assert long_audio["method"] == "faster-whisper sequential decoding"
        assert long_audio["chunk_length"] == 30 and long_audio["vad_filter"] is False
        assert long_audio["condition_on_previous_text"] is False  # the entry's, not the default
        assert long_audio["no_speech_threshold"] == 0.6  # faster-whisper's own default
        assert other.identity()["long_audio"]["no_speech_threshold"] == 0.3
    finally:
        engine.close()
        other.close()
