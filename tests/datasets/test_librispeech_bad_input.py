"""Bad LibriSpeech input through the real runner and the real embedded engine.

A small LibriSpeech-layout folder is built in tmp from real shared clips, then broken in
every way the loader and audio reader must survive: each broken item is an error sample
that names its file (and line), the good ones are still transcribed and scored.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from audiogate.datasets import load_dataset
from audiogate.datasets.audio import TARGET_RATE, load_audio
from audiogate.engines import EngineContext, make_engine
from audiogate.engines.base import Engine
from audiogate.errors import AudioError
from audiogate.registry.load import DatasetSpec, ModelSpec, dataset, model
from audiogate.runner import PairRun
from audiogate.scoring.alignment import align
from audiogate.scoring.english import english_tokens
from audiogate.scoring.pair import SampleRecord
from audiogate.scoring.pair_result import PairResult

SHORT = "1089-134691-0000"  # HE COULD WAIT NO LONGER (2.1 s)
MEDIUM = "1089-134686-0001"  # STUFF IT INTO YOU HIS BELLY COUNSELLED HIM (3.3 s)
CORRUPT = "1089-134686-0000"
EMPTY = "1089-134686-0002"
NO_AUDIO = "1089-134691-0001"
NO_TRANSCRIPT = "1995-1837-0001"
STEREO = "9999-1-0000"  # SHORT as stereo 44.1 kHz under its own speaker/chapter


def _clip(shared_data: Path, utt_id: str) -> Path:
    spk, chapter, _ = utt_id.split("-")
    return shared_data / "LibriSpeech" / "test-clean" / spk / chapter / f"{utt_id}.flac"


def _reference(shared_data: Path, utt_id: str) -> str:
    spk, chapter, _ = utt_id.split("-")
    trans = _clip(shared_data, utt_id).parent / f"{spk}-{chapter}.trans.txt"
    for line in trans.read_text(encoding="utf-8").splitlines():
        if line.startswith(utt_id + " "):
            return line.split(" ", 1)[1]
    raise AssertionError(f"{utt_id} not in {trans}")


def _write_stereo_44k(source: Path, target: Path) -> None:
    mono, rate = sf.read(str(source), dtype="float32")
    assert rate == TARGET_RATE and mono.ndim == 1
    resampled = soxr.resample(mono, rate, 44_100, quality="HQ")
    sf.write(str(target), np.stack([resampled, resampled], axis=1), 44_100, subtype="PCM_16")


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """The real embedded engine, loaded once for the module."""
    built = make_engine(model("whisper-tiny.en"), EngineContext())
    yield built
    built.close()


@pytest.fixture(scope="module")
def layout(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data_root/LibriSpeech/test-clean with two good, one stereo and four broken items."""
    data_root = tmp_path_factory.mktemp("data")
    split = data_root / "LibriSpeech" / "test-clean"
    ch_686 = split / "1089" / "134686"
    ch_691 = split / "1089" / "134691"
    ch_837 = split / "1995" / "1837"
    ch_stereo = split / "9999" / "1"
    for folder in (ch_686, ch_691, ch_837, ch_stereo):
        folder.mkdir(parents=True)
    # 134686: line 1 corrupt audio, line 2 good, line 3 empty audio file
    (ch_686 / "1089-134686.trans.txt").write_text(
        "".join(f"{u} {_reference(shared_data, u)}\n" for u in (CORRUPT, MEDIUM, EMPTY)),
        encoding="utf-8")
    shutil.copyfile(_clip(shared_data, MEDIUM), ch_686 / f"{MEDIUM}.flac")
    rng = np.random.default_rng(0)
    (ch_686 / f"{CORRUPT}.flac").write_bytes(b"fLaC" + rng.bytes(4000))  # garbage after magic
    (ch_686 / f"{EMPTY}.flac").write_bytes(b"")
    # 134691: line 1 good, line 2 has no audio
    (ch_691 / "1089-134691.trans.txt").write_text(
        "".join(f"{u} {_reference(shared_data, u)}\n" for u in (SHORT, NO_AUDIO)),
        encoding="utf-8")
    shutil.copyfile(_clip(shared_data, SHORT), ch_691 / f"{SHORT}.flac")
    # 1995/1837: real audio, no transcript file at all
    shutil.copyfile(_clip(shared_data, NO_TRANSCRIPT), ch_837 / f"{NO_TRANSCRIPT}.flac")
    # 9999/1: SHORT again, as a 44.1 kHz stereo FLAC
    (ch_stereo / "9999-1.trans.txt").write_text(
        f"{STEREO} {_reference(shared_data, SHORT)}\n", encoding="utf-8")
    _write_stereo_44k(_clip(shared_data, SHORT), ch_stereo / f"{STEREO}.flac")
    return data_root


@pytest.fixture(scope="module")
def spec() -> DatasetSpec:
    return dataset("librispeech-test-clean")


@pytest.fixture(scope="module")
def tiny() -> ModelSpec:
    return model("whisper-tiny.en")


@pytest.fixture(scope="module")
def run(engine: Engine, layout: Path, spec: DatasetSpec, tiny: ModelSpec
        ) -> tuple[PairResult, dict[str, SampleRecord]]:
    result, records = PairRun(tiny, spec, engine, layout).run()
    return result, {r.id: r for r in records}


def _split(layout: Path) -> Path:
    return layout / "LibriSpeech" / "test-clean"


def test_counts(run: tuple[PairResult, dict[str, SampleRecord]]) -> None:
    result, records = run
    assert sorted(records) == sorted([SHORT, MEDIUM, CORRUPT, EMPTY, NO_AUDIO, NO_TRANSCRIPT,
                                      STEREO])
    score = result.score
    assert (score.total, score.scored, score.errors, score.excluded) == (7, 3, 4, 0)
    assert sorted(i for i, _ in result.error_samples) == sorted(
        [CORRUPT, EMPTY, NO_AUDIO, NO_TRANSCRIPT])
    assert result.reused == 0  # no store: nothing taken from it


def test_errored_samples_are_not_counted_as_inferred(
        run: tuple[PairResult, dict[str, SampleRecord]]) -> None:
    result, _ = run
    assert result.inferred == 3  # only the three readable clips reached the engine


def test_good_samples_scored(run: tuple[PairResult, dict[str, SampleRecord]]) -> None:
    result, records = run
    answered = result.score.answered_value
    assert answered is not None
    assert 0.0 <= answered < 30.0  # tiny.en on clean read speech
    # the gated value counts the errored clips' reference words as deleted; the audio with
    # no transcript line has none to count
    assert result.score.value is not None and result.score.value > answered + 30.0
    assert result.score.uncounted == [NO_TRANSCRIPT]
    for utt_id in (SHORT, MEDIUM, STEREO):
        rec = records[utt_id]
        assert rec.error is None, rec.error
        assert rec.score is not None and rec.raw_output
        assert rec.audio_seconds > 1.5 and rec.seconds > 0
    # audio time counts only the scored clips: 2.085 + 3.275 + 2.085 s
    assert result.audio_seconds == pytest.approx(2.085 + 3.275 + 2.085, abs=0.05)
    assert result.rtfx is not None and result.rtfx > 0


def test_corrupt_flac_is_an_error_naming_the_file(
        run: tuple[PairResult, dict[str, SampleRecord]], layout: Path) -> None:
    _, records = run
    rec = records[CORRUPT]
    path = _split(layout) / "1089" / "134686" / f"{CORRUPT}.flac"
    assert rec.error is not None and str(path) in rec.error
    assert "cannot decode" in rec.error
    assert rec.score is None and rec.raw_output is None


def test_empty_file_is_an_error_naming_the_file(
        run: tuple[PairResult, dict[str, SampleRecord]], layout: Path) -> None:
    _, records = run
    rec = records[EMPTY]
    path = _split(layout) / "1089" / "134686" / f"{EMPTY}.flac"
    assert rec.error == f"{path}: audio file is empty (0 bytes)"
    assert rec.score is None


def test_transcript_line_without_audio_names_file_and_line(
        run: tuple[PairResult, dict[str, SampleRecord]], layout: Path) -> None:
    _, records = run
    rec = records[NO_AUDIO]
    trans = _split(layout) / "1089" / "134691" / "1089-134691.trans.txt"
    assert rec.error is not None and rec.error.startswith(f"{trans}:2: ")
    assert "no audio" in rec.error and f"{NO_AUDIO}.flac" in rec.error
    assert rec.score is None


def test_audio_without_transcript_names_the_file(
        run: tuple[PairResult, dict[str, SampleRecord]], layout: Path) -> None:
    _, records = run
    rec = records[NO_TRANSCRIPT]
    path = _split(layout) / "1995" / "1837" / f"{NO_TRANSCRIPT}.flac"
    assert rec.error is not None and rec.error.startswith(f"{path}: ")
    assert "no transcript line" in rec.error
    assert rec.score is None


def test_stereo_44k_scored_like_the_mono_original(
        run: tuple[PairResult, dict[str, SampleRecord]], layout: Path) -> None:
    info = sf.info(str(_split(layout) / "9999" / "1" / f"{STEREO}.flac"))
    assert (info.samplerate, info.channels) == (44_100, 2)
    _, records = run
    mono, stereo = records[SHORT], records[STEREO]
    assert stereo.error is None and stereo.score is not None
    assert mono.raw_output and stereo.raw_output
    if stereo.normalized_hypothesis != mono.normalized_hypothesis:
        drift = align(english_tokens(mono.raw_output), english_tokens(stereo.raw_output))
        assert drift.errors <= 1, (mono.raw_output, stereo.raw_output)
    assert abs(stereo.score - mono.score) <= 20.0  # at most one word of five


def test_transcript_line_without_text_names_file_and_line(layout: Path, spec: DatasetSpec,
                                                         tmp_path: Path) -> None:
    """Loader only (no engine): an id with no words is ONE error sample, not a reference."""
    root = tmp_path
    chapter = root / "LibriSpeech" / "test-clean" / "1089" / "134691"
    chapter.mkdir(parents=True)
    shutil.copyfile(_split(layout) / "1089" / "134691" / f"{SHORT}.flac",
                    chapter / f"{SHORT}.flac")
    trans = chapter / "1089-134691.trans.txt"
    trans.write_text(f"\n{SHORT}\n", encoding="utf-8")
    (sample,) = load_dataset(spec, root)
    assert sample.id == SHORT and sample.error == f"{trans}:2: transcript line has no text"


def test_duplicate_transcript_id_is_counted_as_an_error(
        layout: Path, spec: DatasetSpec, tiny: ModelSpec, engine: Engine,
        tmp_path: Path) -> None:
    chapter = tmp_path / "LibriSpeech" / "test-clean" / "1089" / "134691"
    chapter.mkdir(parents=True)
    shutil.copyfile(_split(layout) / "1089" / "134691" / f"{SHORT}.flac",
                    chapter / f"{SHORT}.flac")
    trans = chapter / "1089-134691.trans.txt"
    trans.write_text(f"{SHORT} HE COULD WAIT NO LONGER\n{SHORT} HE COULD WAIT NO LONGER\n",
                     encoding="utf-8")
    samples = load_dataset(spec, tmp_path)
    assert any(s.error and s.error.startswith(f"{trans}:2: duplicate id") for s in samples)
    result, _ = PairRun(tiny, spec, engine, tmp_path).run()
    assert (result.score.scored, result.score.errors) == (1, 1)
    assert any("duplicate id" in message for _, message in result.error_samples)


def test_stereo_44k_loads_as_16k_mono(layout: Path, shared_data: Path) -> None:
    original = load_audio(_clip(shared_data, SHORT))
    converted = load_audio(_split(layout) / "9999" / "1" / f"{STEREO}.flac")
    assert converted.dtype == np.float32 and converted.ndim == 1
    assert abs(len(converted) - len(original)) <= 2
    n = min(len(original), len(converted))
    corr = np.corrcoef(original[:n], converted[:n])[0, 1]
    assert corr > 0.99


# --- load_audio ------------------------------------------------------------------------------

def test_load_audio_real_clip(shared_data: Path) -> None:
    audio = load_audio(_clip(shared_data, SHORT))
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == round(2.085 * TARGET_RATE)
    assert 0 < float(np.abs(audio).max()) <= 1.0


def test_load_audio_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "x.flac"
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert str(info.value) == f"{path}: audio file not found"


def test_load_audio_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.flac"
    path.write_bytes(b"")
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert str(info.value) == f"{path}: audio file is empty (0 bytes)"


def test_load_audio_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.flac"
    path.write_bytes(b"not audio at all " * 100)
    with pytest.raises(AudioError, match="cannot decode audio") as info:
        load_audio(path)
    assert str(info.value).startswith(f"{path}: ")


def test_load_audio_truncated_flac(tmp_path: Path, shared_data: Path) -> None:
    """A real FLAC cut short: either an error naming the file or the readable part."""
    data = _clip(shared_data, MEDIUM).read_bytes()
    path = tmp_path / "cut.flac"
    path.write_bytes(data[:200])  # header only, no audio frames
    try:
        audio = load_audio(path)
    except AudioError as exc:
        assert str(exc).startswith(f"{path}: ")
    else:
        assert len(audio) < 3.275 * TARGET_RATE


def test_load_audio_segment(shared_data: Path) -> None:
    audio = load_audio(_clip(shared_data, MEDIUM), 0.5, 1.5)
    assert len(audio) == TARGET_RATE
    full = load_audio(_clip(shared_data, MEDIUM))
    np.testing.assert_array_equal(audio, full[8000:24000])


@pytest.mark.parametrize(("start", "end"), [(5.0, 6.0), (3.3, None), (1.0, 4.0)])
def test_load_audio_segment_beyond_end(shared_data: Path, start: float,
                                       end: float | None) -> None:
    path = _clip(shared_data, MEDIUM)  # 3.275 s
    with pytest.raises(AudioError) as info:
        load_audio(path, start, end)
    message = str(info.value)
    assert message.startswith(f"{path}: segment {start}-{end} s lies beyond the end")
    assert "(3.27 s)" in message or "(3.28 s)" in message


def test_load_audio_segment_end_within_tolerance(shared_data: Path) -> None:
    """An end a few ms past the audio (rounded timestamps) is clipped, not refused."""
    audio = load_audio(_clip(shared_data, MEDIUM), 3.0, 3.28)
    assert len(audio) == round((3.275 - 3.0) * TARGET_RATE)
