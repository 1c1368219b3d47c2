"""TED-LIUM release 1 end to end: plugin + real whisper-tiny.en on a talk built from real speech.

No TED-LIUM audio is reachable offline, so one talk is built in tmp the way TED-LIUM ships
it (NIST SPHERE, PCM16, 16 kHz, plus an STM in the official format) from real LibriSpeech
dev-clean utterances. The segment marked ``ignore_time_segment_in_scoring`` holds REAL
speech too: were it scored, it would be transcribed and counted as a fourth sample.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogate.datasets import load_dataset
from audiogate.registry.load import dataset

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
CONFTEST = 'pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n'
RATE = 16_000
STEP = RATE // 100  # STM times have two decimals: keep every boundary on the 10 ms grid
GAP = RATE // 2  # 0.5 s of silence between utterances
TALK = "QuilterC_2009"
LABEL = "<o,f0,male>"
SCORED = ("1272-128104-0000", "1272-135031-0003", "1272-141231-0000")
IGNORED = "1272-128104-0001"  # real speech inside the ignored segment


def _utterance(shared_data: Path, utt_id: str) -> tuple[np.ndarray, str]:
    """A real dev-clean utterance and its reference, found by the project's own loader."""
    [sample] = [s for s in load_dataset(dataset("librispeech-dev-clean"), shared_data)
                if s.id == utt_id]
    assert sample.audio_path is not None
    audio, rate = sf.read(str(sample.audio_path), dtype="float32")
    assert rate == RATE
    return audio, sample.reference


def _stm_line(speaker: str, first: int, end: int, text: str, label: str = LABEL) -> str:
    return f"{TALK} 1 {speaker} {first / RATE:.2f} {end / RATE:.2f} {label} {text}"


def build_release(shared_data: Path, data_root: Path) -> list[str]:
    """data_root/TEDLIUM_release1/test/{sph,stm}: one talk; returns the scored references."""
    order = [SCORED[0], IGNORED, SCORED[1], SCORED[2]]
    pieces = [np.zeros(GAP, dtype=np.float32)]
    lines = [';; CATEGORY "0" "" ""', ';; LABEL "o" "Overall" "Overall results"',
             _stm_line("inter_segment_gap", 0, GAP, "ignore_time_segment_in_scoring",
                       "<o,,unknown>")]
    references = []
    cursor = GAP
    for utt_id in order:
        audio, text = _utterance(shared_data, utt_id)
        end = cursor + math.ceil(len(audio) / STEP) * STEP
        padded = np.zeros(end - cursor, dtype=np.float32)
        padded[: len(audio)] = audio
        pieces += [padded, np.zeros(GAP, dtype=np.float32)]
        if utt_id == IGNORED:
            lines.append(_stm_line(TALK, cursor, end, "ignore_time_segment_in_scoring"))
        else:
            lines.append(_stm_line(TALK, cursor, end, text.lower()))
            references.append(text.lower())
        cursor = end + GAP
    test_dir = data_root / "TEDLIUM_release1" / "test"
    (test_dir / "sph").mkdir(parents=True)
    (test_dir / "stm").mkdir(parents=True)
    sf.write(str(test_dir / "sph" / f"{TALK}.sph"), np.concatenate(pieces), RATE,
             format="NIST", subtype="PCM_16")
    (test_dir / "stm" / f"{TALK}.stm").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return references


def test_tedlium_pair_runs_and_reports_ignored_segments(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, shared_data: Path,
        tmp_path: Path) -> None:
    data_root = tmp_path / "data"
    references = build_release(shared_data, data_root)
    info = sf.info(str(data_root / "TEDLIUM_release1" / "test" / "sph" / f"{TALK}.sph"))
    assert (info.format, info.subtype, info.samplerate) == ("NIST", "PCM_16", RATE)

    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.delenv("AUDIOGATE_DATA_ROOT", raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_gated_asr=(REPO / "benchmarks" / "test_asr.py").read_text())
    result = pytester.runpytest("-k", "tedlium", "--model=whisper-tiny.en",
                                f"--data-root={data_root}", "--no-store",
                                "-p", "no:cacheprovider", "--bootstrap-resamples=500")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["NOT GATED whisper-tiny.en/tedlium-release1: *"])

    report = json.loads((pytester.path / "reports" / "audiogate-report.json").read_text())
    [row] = report["rows"]
    res = row["result"]
    assert (res["model"], res["dataset"], res["metric"]) == (
        "whisper-tiny.en", "tedlium-release1", "wer")
    assert res["score"]["total"] == res["score"]["scored"] == 3
    assert res["score"]["errors"] == 0 and res["inferred"] == 3
    assert res["score"]["value"] < 25.0

    # exactly the three scored segments, with the STM text as reference; the ignored
    # segment's speech never reached the engine
    samples = [json.loads(line) for line in (
        pytester.path / "reports" / "samples" / "whisper-tiny.en__tedlium-release1.jsonl"
    ).read_text().splitlines()]
    assert sorted(s["reference"] for s in samples) == sorted(references)
    assert all(s["id"].startswith(f"{TALK}-") for s in samples)
    _, ignored_text = _utterance(shared_data, IGNORED)
    assert not any("manner" in (s["raw_output"] or "").lower() for s in samples), ignored_text

    # the inter_segment_gap line and the ignore_time_segment_in_scoring segment: counted,
    # reported in the row's notes and in the Markdown report
    note = ("2 segment(s) ignored (ignore_time_segment_in_scoring / inter_segment_gap), as in "
            "the official scoring")
    assert res["notes"] == [note]
    markdown = (pytester.path / "reports" / "audiogate-report.md").read_text()
    assert f"  - {note}" in markdown
