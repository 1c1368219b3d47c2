"""Windows cut in the pauses of real speech (faster-whisper's torch-free Silero VAD), and
an engine with a bounded audio length given whole chapters: windowed, not refused."""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from audiogate.datasets import load_dataset
from audiogate.datasets.audio import TARGET_RATE, load_sample_audio
from audiogate.engines import EngineContext, make_engine, openai_engine
from audiogate.engines.embedded_server import make_server
from audiogate.engines.windowed import WindowedEngine, audio_limit
from audiogate.engines.windowing import WindowSettings, cut_points, plan, speech, stitch
from audiogate.errors import RegistryError
from audiogate.registry import load as registry
from audiogate.registry.load import ModelSpec
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
    """In a fresh interpreter: this one may hold torch for the transformers engine's tests."""
    code = "import sys, faster_whisper.vad; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


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


def test_a_chat_model_windows_a_recording_longer_than_its_prompt_takes(chapters: list
                                                                       ) -> None:
    """The chat path over real HTTP (the embedded server, same weights), one 30 s audio
    part per prompt: the 61 s chapter is windowed and stitched, not refused, and scores
    like faster-whisper's own sequential decoding of it."""
    sample = chapters[1]  # 61 s: three windows of at most 30 s
    audio = load_sample_audio(sample)
    whole = make_engine(registry.model("whisper-tiny.en"), EngineContext())
    assert not isinstance(whole, WindowedEngine)
    chat = ModelSpec("tiny-chat", "openai", ("asr",), ("en",), {
        "endpoint": "chat", "served_model_name": "whisper-tiny.en",
        "sampling": {"temperature": 0.0},
        "chat": {"audio_chunk_seconds": 30, "max_audios_per_prompt": 1}})
    server = make_server(whole, "whisper-tiny.en", "en")  # type: ignore[arg-type]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    done: list[float] = []
    request = Request(sample, audio, "asr", "en", progress=done.append)
    try:
        [seq] = list(whole.run([dataclasses.replace(request, progress=None)]))
        refused = openai_engine.from_spec(chat, EngineContext(engine_url=url))
        [no] = list(refused.run([dataclasses.replace(request, progress=None)]))
        refused.close()
        windowed = make_engine(chat, EngineContext(engine_url=url))
        assert isinstance(windowed, WindowedEngine)
        assert windowed.identity()["long_audio"]["max_seconds"] == 30.0
        [out] = list(windowed.run([request]))
        windowed.close()
    finally:
        server.shutdown()
        whole.close()
    assert no.error is not None and "at most 1 per prompt" in no.error
    assert out.error is None and out.sample_id == sample.id
    spans = plan(audio, windowed.settings)
    assert len(spans) == 3
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


def test_the_numpy_that_computes_the_features_is_in_the_identity() -> None:
    """numpy 2.3 and 2.4 give log-mel features a bit apart, and other transcripts."""
    import numpy

    engine = make_engine(registry.model("whisper-tiny.en"), EngineContext())
    try:
        assert engine.identity()["features"]["numpy"] == numpy.__version__
    finally:
        engine.close()
