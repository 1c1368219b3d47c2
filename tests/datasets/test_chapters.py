"""Whole LibriSpeech chapters from the real shared slices: consecutive utterances joined,
exact references, what was joined recorded, and a broken utterance naming itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from audiogate.datasets import load_dataset
from audiogate.datasets.audio import TARGET_RATE, load_audio, load_sample_audio
from audiogate.registry import load as registry


def chapters(root: Path, split: str = "dev-clean") -> list:
    return load_dataset(registry.dataset(f"librispeech-chapters-{split}"), root)


def utterances(root: Path, split: str = "dev-clean") -> dict[str, str]:
    return {s.id: s.reference for s in load_dataset(registry.dataset(f"librispeech-{split}"),
                                                    root)}


def test_every_chapter_is_one_recording_of_its_consecutive_utterances(shared_data: Path) -> None:
    found = chapters(shared_data)
    refs = utterances(shared_data)
    assert [s.id for s in found] == ["1272-128104-0000-0014", "1272-135031-0000-0009",
                                     "1272-141231-0000-0009"]
    joined = [u for s in found for u in s.meta["utterances"]]
    assert sorted(joined) == sorted(refs)  # every utterance once, none invented
    for s in found:
        assert s.error is None
        ids = s.meta["utterances"]
        assert ids == sorted(ids) and all(i.startswith(s.meta["chapter"]) for i in ids)
        assert s.reference == " ".join(refs[i] for i in ids)  # exact, in order
        assert s.meta["speaker"] == "1272"


def test_audio_is_the_parts_in_order_and_offsets_say_where_each_starts(
        shared_data: Path) -> None:
    recording = chapters(shared_data)[1]
    audio = load_sample_audio(recording)
    parts = [load_audio(p) for p in recording.parts]
    assert len(audio) == sum(len(p) for p in parts)
    assert recording.meta["duration"] == pytest.approx(len(audio) / TARGET_RATE, abs=1e-3)
    for part, offset in zip(parts, recording.meta["offsets"], strict=True):
        start = round(offset * TARGET_RATE)
        assert np.array_equal(audio[start:start + len(part)], part)


def test_a_gap_in_the_numbers_starts_a_new_recording(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "LibriSpeech" / "dev-clean" / "1272" / "135031"
    dst = tmp_path / "LibriSpeech" / "dev-clean" / "1272" / "135031"
    shutil.copytree(src, dst)
    (dst / "1272-135031-0004.flac").unlink()
    trans = dst / "1272-135031.trans.txt"
    trans.write_text("".join(line for line in trans.read_text().splitlines(keepends=True)
                             if not line.startswith("1272-135031-0004 ")))
    found = chapters(tmp_path)
    assert [s.id for s in found] == ["1272-135031-0000-0003", "1272-135031-0005-0009"]
    assert found[0].meta["utterances"][-1] == "1272-135031-0003"


def test_an_unusable_utterance_makes_its_recording_an_error_naming_it(
        shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "LibriSpeech" / "dev-clean" / "1272" / "141231"
    dst = tmp_path / "LibriSpeech" / "dev-clean" / "1272" / "141231"
    shutil.copytree(src, dst)
    (dst / "1272-141231-0003.flac").unlink()  # transcript line kept: the audio is missing
    [recording] = chapters(tmp_path)
    assert recording.id == "1272-141231-0000-0009"
    assert recording.error is not None and "1272-141231-0003" in recording.error
    assert recording.parts == ()  # never decoded with a hole in it
