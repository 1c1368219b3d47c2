"""Speech output served over real HTTP, end to end through the plugin: a text-to-speech
model behind `audiogate serve` on /v1/audio/speech (launched by the run, one server for
the run) gives the in-process engine's clips and score; a chat model that answers in
speech (whisper-tiny.en transcribing, eSpeak NG speaking its answer) is scored on what the
judge hears it say, with the WER between what it wrote and what it said, recorded and then
gated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from audiogate.datasets import load_dataset
from audiogate.engines import EngineContext, make_engine
from audiogate.registry import load as registry

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _benchmarks(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "-p", "no:randomly",
         "--store", str(tmp_path / "store.sqlite"), "--report-dir", str(tmp_path / "reports"),
         *args], cwd=REPO, capture_output=True, text=True, timeout=1500, check=False)


def _row(tmp_path: Path) -> dict[str, object]:
    report = json.loads((tmp_path / "reports" / "audiogate-report.json").read_text())
    [row] = report["rows"]
    return row  # type: ignore[no-any-return]


def _records(tmp_path: Path, pair: str) -> list[dict[str, object]]:
    path = tmp_path / "reports" / "samples" / f"{pair.replace('/', '__')}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_served_text_to_speech_gives_the_in_process_clips(tmp_path: Path,
                                                          shared_data: Path) -> None:
    done = _benchmarks(tmp_path, "-k", "tts-ls-test-clean", "--model", "espeak-en-served",
                       "--no-gate")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    row = _row(tmp_path)
    result = row["result"]
    assert result["engine"]["endpoint"] == "speech"  # type: ignore[index]
    assert result["score"]["value"] == pytest.approx(23.58, abs=0.005)  # type: ignore[index]
    speaker = make_engine(registry.model("espeak-en"), EngineContext())
    spec = registry.dataset("tts-ls-test-clean")
    expected = {s.id: speaker.speak(s.reference.lower()).sha256  # type: ignore[attr-defined]
                for s in load_dataset(spec, shared_data)}
    got = {r["id"]: r["speech"]["audio"]["sha256"]  # type: ignore[index]
           for r in _records(tmp_path, "espeak-en-served/tts-ls-test-clean")}
    assert got == expected


def test_a_chat_model_answering_in_speech_is_recorded_then_gated(tmp_path: Path) -> None:
    thresholds = tmp_path / "thresholds.yaml"
    thresholds.write_text("", encoding="utf-8")
    select = ("-k", "librispeech-test-clean", "--model", "whisper-tiny.en-spoken",
              "--thresholds", str(thresholds))
    recorded = _benchmarks(tmp_path, *select, "--update-thresholds")
    assert recorded.returncode == 0, recorded.stdout[-3000:] + recorded.stderr[-2000:]
    entries = YAML(typ="safe").load(thresholds)["whisper-tiny.en-spoken"][
        "librispeech-test-clean"]
    by_metric = {e["metric"]: e for e in entries}
    assert set(by_metric) == {"wer", "dnsmos", "text-speech-wer"}
    assert by_metric["wer"]["judge"] == by_metric["text-speech-wer"]["judge"] == \
        "whisper-tiny.en"
    assert "judge" not in by_metric["dnsmos"]
    records = _records(tmp_path, "whisper-tiny.en-spoken/librispeech-test-clean")
    assert len(records) == 6
    for r in records:
        speech = r["speech"]
        assert speech["written"] and speech["transcript"] == r["raw_output"]  # type: ignore[index]
        assert speech["audio"]["transcript"] == speech["written"]  # type: ignore[index]
    # what it says is further from the reference than what it writes (2.83 % written)
    assert by_metric["wer"]["value"] > 2.83 and by_metric["text-speech-wer"]["value"] > 0

    gated = _benchmarks(tmp_path, *select)
    assert gated.returncode == 0, gated.stdout[-3000:]
    row = _row(tmp_path)
    assert row["status"] == "pass"
    assert "text-speech-wer: TEXT-SPEECH-WER" in str(row["reason"])
    md = (tmp_path / "reports" / "audiogate-report.md").read_text(encoding="utf-8")
    assert "judge: `whisper-tiny.en`" in md and "text-speech-wer:" in md
