"""TED-LIUM loader on real audio: .sph talks built from LibriSpeech dev-clean utterances.

No TED-LIUM audio is reachable offline, so the tests build talks the way TED-LIUM ships
them (16 kHz NIST SPHERE PCM16 + STM in the official format) from real speech, and check
every segment's audio is exactly the slice the STM times name.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogate.datasets import load_dataset
from audiogate.datasets.audio import load_audio
from audiogate.datasets.tedlium import clean_transcript, scan, stm_segments
from audiogate.errors import AudioError
from audiogate.registry.load import DatasetSpec, dataset
from audiogate.scoring.english import english_tokens

RATE = 16_000
STEP = RATE // 100  # STM times have two decimals: keep every boundary on a 10 ms grid
GAP = RATE // 2
LABEL = "<o,f0,male>"


@dataclasses.dataclass
class Talk:
    name: str
    sph: Path
    stm: Path
    audio: np.ndarray  # what was written, float32
    segments: list[tuple[int, int, str]]  # (first sample, end sample, stm transcript)


def _utterance(shared_data: Path, utt_id: str) -> tuple[np.ndarray, str]:
    """A real dev-clean utterance and its reference, found by the project's own loader."""
    [sample] = [s for s in load_dataset(dataset("librispeech-dev-clean"), shared_data)
                if s.id == utt_id]
    assert sample.audio_path is not None
    audio, rate = sf.read(str(sample.audio_path), dtype="float32")
    assert rate == RATE
    return audio, sample.reference


def _stm_line(talk: str, speaker: str, first: int, end: int, text: str) -> str:
    return f"{talk} 1 {speaker} {first / RATE:.2f} {end / RATE:.2f} {LABEL} {text}"


def _build_talk(shared_data: Path, folder: Path, name: str,
                utterances: list[tuple[str, str]]) -> Talk:
    """One talk: silence, then each utterance (on the 10 ms grid) followed by silence.

    ``utterances`` pairs a LibriSpeech id with a template for its STM text ("{}" = the
    lower-cased transcript, so markers like {COUGH} or (2) can be placed around it).
    STM lines in TED-LIUM style: inter-segment gaps and an ignored segment in between.
    """
    pieces: list[np.ndarray] = []
    lines = [";; CATEGORY \"0\" \"\" \"\"", _stm_line(name, "inter_segment_gap", 0, GAP,
                                                      "ignore_time_segment_in_scoring")]
    segments: list[tuple[int, int, str]] = []
    cursor = 0
    pieces.append(np.zeros(GAP, dtype=np.float32))
    cursor += GAP
    for utt_id, template in utterances:
        audio, text = _utterance(shared_data, utt_id)
        end = cursor + math.ceil(len(audio) / STEP) * STEP
        padded = np.zeros(end - cursor, dtype=np.float32)
        padded[: len(audio)] = audio
        pieces.append(padded)
        transcript = template.format(text.lower().replace("'", " '"))
        segments.append((cursor, end, transcript))
        lines.append(_stm_line(name, name, cursor, end, transcript))
        pieces.append(np.zeros(GAP, dtype=np.float32))
        lines.append(_stm_line(name, name, end, end + GAP, "ignore_time_segment_in_scoring"))
        cursor = end + GAP
    full = np.concatenate(pieces)
    sph = folder / "sph" / f"{name}.sph"
    stm = folder / "stm" / f"{name}.stm"
    sph.parent.mkdir(parents=True, exist_ok=True)
    stm.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(sph), full, RATE, format="NIST", subtype="PCM_16")
    stm.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Talk(name, sph, stm, full, segments)


@pytest.fixture(scope="module")
def release(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Talk]]:
    """data_root/TEDLIUM_release1/test with two talks and five scoreable segments."""
    data_root = tmp_path_factory.mktemp("tedlium-data")
    test_dir = data_root / "TEDLIUM_release1" / "test"
    talks = [
        _build_talk(shared_data, test_dir, "QuilterA_2009", [
            ("1272-128104-0000", "<unk> {}"),
            ("1272-128104-0001", "{{COUGH}} {} {{NOISE}}"),
        ]),
        _build_talk(shared_data, test_dir, "QuilterB_2010", [
            ("1272-128104-0003", "{}"),
            ("1272-135031-0000", "{}"),
            ("1272-135031-0001", "{}"),
        ]),
    ]
    return data_root, talks


def _spec(**options: str) -> DatasetSpec:
    return dataclasses.replace(dataset("tedlium-release1"), options={"split": "test", **options})


def test_segments_are_exact_slices_of_the_talk(release: tuple[Path, list[Talk]]) -> None:
    data_root, talks = release
    samples = load_dataset(dataset("tedlium-release1"), data_root)
    assert len(samples) == 5
    assert all(s.error is None for s in samples)
    by_id = {s.id: s for s in samples}
    for talk in talks:
        whole = load_audio(talk.sph)
        np.testing.assert_allclose(whole, talk.audio, atol=1 / 32768)  # PCM16 round trip
        for first, end, transcript in talk.segments:
            sample = by_id[f"{talk.name}-{first / RATE:.2f}-{end / RATE:.2f}"]
            assert sample.audio_path == talk.sph
            assert (sample.start, sample.end) == (first / RATE, end / RATE)
            assert sample.meta["stm_transcript"] == transcript
            segment = load_audio(sample.audio_path, sample.start, sample.end)
            np.testing.assert_array_equal(segment, whole[first:end])


def test_ignored_segments_are_counted(release: tuple[Path, list[Talk]]) -> None:
    data_root, _ = release
    result = scan(data_root / "TEDLIUM_release1", _spec())
    # per talk: one leading inter_segment_gap + one ignore_time_segment line per utterance
    assert result.ignored == (1 + 2) + (1 + 3)
    assert len(result.samples) == 5


def test_reference_drops_noise_markers_and_keeps_what_the_normalizer_removes(
        release: tuple[Path, list[Talk]]) -> None:
    data_root, _ = release
    samples = {s.meta["stm_line"]: s for s in scan(data_root / "TEDLIUM_release1", _spec()).samples
               if s.meta["talk"] == "QuilterA_2009"}
    first, second = samples[3], samples[5]
    assert first.reference.startswith("<unk> mister quilter is the apostle")
    assert second.reference == "nor is mister quilter 's manner less interesting than his matter"
    assert english_tokens(first.reference)[:3] == ["mister", "quilter", "is"]
    assert english_tokens(second.reference)[4:6] == ["is", "manner"]  # "quilter 's" -> is


def test_markers_against_the_english_normalizer() -> None:
    """<unk> and word(2) vanish in normalization; {COUGH} would not, so the loader drops it."""
    assert english_tokens("<unk> the end for(2) it <sil>") == ["the", "end", "for", "it"]
    assert english_tokens("{COUGH} the end") == ["cough", "the", "end"]
    assert clean_transcript("{COUGH} the end for(2) it {NOISE}") == "the end for(2) it"
    assert clean_transcript("so utterly ridiculous (PaulaScher_2008P-1003.35-1011.16)") == \
        "so utterly ridiculous"


def _copy_release(release: tuple[Path, list[Talk]], tmp_path: Path) -> Path:
    data_root, _ = release
    shutil.copytree(data_root / "TEDLIUM_release1", tmp_path / "TEDLIUM_release1")
    return tmp_path / "TEDLIUM_release1"


def test_stm_line_with_too_few_fields(release: tuple[Path, list[Talk]], tmp_path: Path) -> None:
    root = _copy_release(release, tmp_path)
    stm = root / "test/stm/QuilterA_2009.stm"
    with stm.open("a", encoding="utf-8") as f:
        f.write("QuilterA_2009 1 QuilterA_2009 12.00\n")
    lineno = len(stm.read_text().splitlines())
    segments, ignored, problems = stm_segments(stm)
    assert len(segments) == 2 and ignored == 3
    assert problems == [(lineno, f"{stm}:{lineno}: too few fields (4 of 7: talk channel speaker "
                                 "start end label transcript)")]
    errors = [s for s in scan(root, _spec()).samples if s.error]
    assert [s.id for s in errors] == [f"QuilterA_2009-line{lineno}"]


def test_segment_beyond_the_end_of_the_audio(release: tuple[Path, list[Talk]],
                                             tmp_path: Path) -> None:
    root = _copy_release(release, tmp_path)
    stm = root / "test/stm/QuilterB_2010.stm"
    sph = root / "test/sph/QuilterB_2010.sph"
    seconds = sf.info(str(sph)).duration
    with stm.open("a", encoding="utf-8") as f:
        f.write(f"QuilterB_2010 1 QuilterB_2010 {seconds - 1:.2f} {seconds + 2:.2f} {LABEL} "
                "and then some\n")
    lineno = len(stm.read_text().splitlines())
    (bad,) = [s for s in scan(root, _spec()).samples if s.error]
    assert bad.error is not None
    assert bad.error.startswith(f"{stm}:{lineno}: segment ")
    assert f"lies beyond the end of {sph}" in bad.error
    with pytest.raises(AudioError, match="lies beyond the end of the audio") as info:
        load_audio(sph, bad.start, bad.end)
    assert str(sph) in str(info.value)


def test_missing_sph_names_the_stm_line(release: tuple[Path, list[Talk]], tmp_path: Path) -> None:
    root = _copy_release(release, tmp_path)
    (root / "test/sph/QuilterA_2009.sph").unlink()
    bad = [s for s in scan(root, _spec()).samples if s.error]
    assert all(s.meta["missing_audio"] for s in bad)
    errors = [s.error for s in bad]
    stm = root / "test/stm/QuilterA_2009.stm"
    assert errors == [
        f"{stm}:3: audio file {root / 'test/sph/QuilterA_2009.sph'} not found",
        f"{stm}:5: audio file {root / 'test/sph/QuilterA_2009.sph'} not found",
    ]


def _nist_header(fields: list[tuple[str, str]]) -> bytes:
    text = "\n".join(["NIST_1A", "   1024", *(f"{k} {v}" for k, v in fields), "end_head"]) + "\n"
    return text.encode("ascii").ljust(1024, b" ")


def test_compressed_sphere_is_refused_with_the_conversion_command(tmp_path: Path) -> None:
    root = tmp_path / "TEDLIUM_release1"
    sph = root / "test/sph/Shorten_2011.sph"
    stm = root / "test/stm/Shorten_2011.stm"
    sph.parent.mkdir(parents=True)
    stm.parent.mkdir(parents=True)
    header = _nist_header([
        ("sample_count", "-i 32000"), ("sample_rate", "-i 16000"), ("channel_count", "-i 1"),
        ("sample_n_bytes", "-i 2"), ("sample_byte_format", "-s2 01"),
        ("sample_sig_bits", "-i 16"), ("sample_coding", "-s26 pcm,embedded-shorten-v2.00"),
    ])
    sph.write_bytes(header + bytes(range(256)) * 40)  # stands in for the shorten payload
    stm.write_text(f"Shorten_2011 1 Shorten_2011 0.00 1.50 {LABEL} hello there\n")
    (sample,) = scan(root, _spec()).samples
    assert sample.audio_path == sph
    with pytest.raises(AudioError) as info:
        load_audio(sph, sample.start, sample.end)
    message = str(info.value)
    assert message.startswith(f"{sph}: compressed NIST SPHERE")
    assert "embedded-shorten-v2.00" in message and "sph2pipe" in message
