"""TED-LIUM 3 long-form and Earnings-21/22 in their published layouts, from small real
files the tests write (real LibriSpeech speech; SPHERE + STM, MP3 + NLP + metadata CSV)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_tedlium import _build_talk, _utterance

from audiogate.datasets import load_dataset, load_dataset_with_notes
from audiogate.datasets.audio import load_audio
from audiogate.errors import DatasetMissing
from audiogate.registry.load import dataset


@pytest.fixture(scope="module")
def tedlium3(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ted3")
    legacy = root / "TEDLIUM_release-3" / "legacy" / "test"
    _build_talk(shared_data, legacy, "TalkA_2011", [("1272-128104-0000", "{}"),
                                                    ("1272-128104-0001", "{{COUGH}} {}")])
    _build_talk(shared_data, legacy, "TalkB_2012", [("1272-135031-0000", "{}")])
    return root


def test_tedlium3_long_form_is_one_recording_per_talk(tedlium3: Path, shared_data: Path
                                                      ) -> None:
    samples, notes = load_dataset_with_notes(dataset("tedlium-release3-longform-test"),
                                             tedlium3)
    assert [s.id for s in samples] == ["TalkA_2011", "TalkB_2012"]
    a = samples[0]
    texts = [_utterance(shared_data, u)[1].lower().replace("'", " '")
             for u in ("1272-128104-0000", "1272-128104-0001")]
    assert a.error is None and a.reference == " ".join(texts)  # {COUGH} removed, in order
    assert a.start is None and a.end is None  # the whole talk, gaps and all
    assert a.meta["segments"] == 2
    assert len(load_audio(a.audio_path)) == sf.info(str(a.audio_path)).frames
    assert notes and notes[0].startswith("5 segment(s) left out")  # gaps + ignored


def test_a_broken_segment_makes_its_talk_an_error_naming_it(tedlium3: Path,
                                                            tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "TEDLIUM_release-3"
    shutil.copytree(tedlium3 / "TEDLIUM_release-3", root)
    stm = root / "legacy" / "test" / "stm" / "TalkB_2012.stm"
    stm.write_text(stm.read_text().replace("TalkB_2012 1 TalkB_2012 0.50",
                                           "TalkB_2012 1 TalkB_2012 0.5x"))
    samples = load_dataset(dataset("tedlium-release3-longform-test"), tmp_path)
    broken = next(s for s in samples if s.error is not None)
    assert "TalkB_2012.stm:" in broken.error and "not numbers" in broken.error


def _earnings(shared_data: Path, root: Path, metadata: str, header: str,
              calls: dict[str, list[str]]) -> dict[str, str]:
    """A Rev-layout folder: one MP3 of real speech and its NLP per call, and the CSV."""
    (root / "media").mkdir(parents=True)
    (root / "transcripts" / "nlp_references").mkdir(parents=True)
    refs, rows = {}, [header]
    for call, utts in calls.items():
        pieces = [_utterance(shared_data, u) for u in utts]
        audio = np.concatenate([p[0] for p in pieces])
        sf.write(str(root / "media" / f"{call}.mp3"), audio, 16_000, format="MP3")
        words = " ".join(p[1] for p in pieces).split()
        cased = [w.capitalize() for w in words]
        lines = ["token|speaker|ts|endTs|punctuation|case|tags|wer_tags"]
        lines += [f"{w}|0||||UC|[]|[]" for w in cased[:-1]] + [f"{cased[-1]}|1|||.|UC|[]|[]"]
        (root / "transcripts" / "nlp_references" / f"{call}.nlp").write_text(
            "\n".join(lines) + "\n", encoding="utf-8")
        refs[call] = " ".join(cased)
        rows.append(f"{call},{len(audio) / 16_000:.3f},16000")
    (root / metadata).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return refs


def test_earnings21_calls_with_nlp_references(shared_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "speech-datasets" / "earnings21"
    refs = _earnings(shared_data, root, "earnings21-file-metadata.csv",
                     "file_id,audio_length,sample_rate",
                     {"4320211": ["1272-128104-0000", "1272-128104-0001"],
                      "4330115": ["1272-135031-0000"]})
    samples = load_dataset(dataset("earnings21"), tmp_path)
    assert [s.id for s in samples] == ["4320211", "4330115"]
    for s in samples:
        assert s.error is None and s.reference == refs[s.id]
        audio = load_audio(s.audio_path)  # the MP3 decodes, at 16 kHz
        assert abs(len(audio) / 16_000 - s.meta["published_seconds"]) < 0.2


def test_earnings22_layout_and_missing_files_are_errors_naming_them(shared_data: Path,
                                                                    tmp_path: Path) -> None:
    root = tmp_path / "speech-datasets" / "earnings22"
    _earnings(shared_data, root, "metadata.csv",
              "File ID,File Length (seconds),Sampling Rate (Hz)",
              {"4468679": ["1272-141231-0000"]})
    with (root / "metadata.csv").open("a") as f:
        f.write("4468919,1214,22050\n")  # listed, never downloaded
    samples = load_dataset(dataset("earnings22"), tmp_path)
    good, missing = samples
    assert good.error is None and good.reference
    assert missing.id == "4468919" and "4468919.nlp not found" in str(missing.error)
    (root / "metadata.csv").unlink()
    with pytest.raises(DatasetMissing, match=r"metadata\.csv"):
        load_dataset(dataset("earnings22"), tmp_path)
