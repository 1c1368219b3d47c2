"""Seed-TTS-Eval's published layout, end to end on CPU: a small meta.lst of its shape
(id|prompt text|prompt wav|target text; real AISHELL-1 and LibriSpeech clips as the voice
prompts) spoken by the embedded eSpeak NG, heard by the CPU judge (whisper-base for
Chinese by default; whisper-tiny.en named with --judge for English, whose registered judge
is Whisper large-v3 on a GPU), and scored by Seed-TTS-Eval's own protocol: the pair's value
is average_wer.py's mean of run_wer.py's per-utterance WER over the judge's transcripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from audiogate.scoring.seed_tts import corpus, score_pair

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ZH = [("zh-1", "甚至出现交易几乎停滞的情况", "这个城市的交通非常方便。"),
      ("zh-2", "一二线城市虽然也处于调整中", "我们明天去北京。")]
EN = [("en-1", "He could wait no longer.", "Out in the woods stood a nice little fir tree."),
      ("en-2", "Stuff it into you, his belly counselled him.", "How kind man is, after all!")]


def _layout(root: Path, lang: str, rows: list[tuple[str, str, str]],
            prompts: list[Path]) -> None:
    folder = root / "seedtts_testset" / lang
    (folder / "prompt-wavs").mkdir(parents=True)
    lines = []
    for (utt, prompt_text, target), prompt in zip(rows, prompts, strict=True):
        (folder / "prompt-wavs" / prompt.name).write_bytes(prompt.read_bytes())
        lines.append(f"{utt}|{prompt_text}|prompt-wavs/{prompt.name}|{target}")
    (folder / "meta.lst").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _run(tmp_path: Path, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "-p", "no:randomly", "--no-gate",
         "--data-root", str(tmp_path / "data"), "--store", str(tmp_path / "store.sqlite"),
         "--report-dir", str(tmp_path / "reports"), *args],
        cwd=REPO, capture_output=True, text=True, timeout=1500, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / "reports" / "audiogate-report.json").read_text())
    [row] = [r for r in report["rows"] if r["result"]["score"]["total"]]
    return row["result"]  # type: ignore[no-any-return]


def _records(tmp_path: Path, pair: str) -> list[dict[str, object]]:
    path = tmp_path / "reports" / "samples" / f"{pair.replace('/', '__')}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_seed_tts_eval_layout_spoken_judged_and_scored(tmp_path: Path, shared_data: Path,
                                                       lang: str) -> None:
    if lang == "zh":
        wav = shared_data / "aishell-1" / "data_aishell" / "wav" / "test" / "S0764"
        _layout(tmp_path / "data", "zh", ZH, [wav / "BAC009S0764W0121.wav",
                                              wav / "BAC009S0764W0122.wav"])
        model, dataset, args, judge = "espeak-zh", "seed-tts-eval-zh", (), "whisper-base"
        rows = ZH
    else:
        flac = shared_data / "LibriSpeech" / "test-clean" / "1089" / "134686"
        _layout(tmp_path / "data", "en", EN, [flac / "1089-134686-0000.flac",
                                              flac / "1089-134686-0001.flac"])
        model, dataset, judge = "espeak-en", "seed-tts-eval-en", "whisper-tiny.en"
        args, rows = ("--judge", judge), EN
    result = _run(tmp_path, "-k", dataset, "--model", model, *args)
    assert result["judge"]["model"] == judge  # type: ignore[index]
    score = result["score"]
    assert score["protocol"] == "seed-tts-eval" and score["errors"] == 0  # type: ignore[index]
    records = {r["id"]: r for r in _records(tmp_path, f"{model}/{dataset}")}
    expected = corpus([score_pair(target, str(records[utt]["raw_output"]), lang)
                       for utt, _, target in rows])
    assert score["protocols"]["seed-tts-eval"]["reported"] == expected.wer_percent  # type: ignore[index]
    assert score["value"] == pytest.approx(expected.mean_wer * 100)  # type: ignore[index]
    # the judge understands the synthesizer (whisper-base hears eSpeak NG's Mandarin
    # poorly: most short sentences come back wrong, these two are heard in part or whole)
    assert expected.wer_percent < 60.0
    # each sample has its voice prompt: speaker similarity is measured for both
    assert result["metrics"]["sim-ge2e"]["scored"] == 2  # type: ignore[index]
    for utt, _, _ in rows:
        speech = records[utt]["speech"]
        assert speech["prompt_audio"].endswith((".wav", ".flac"))  # type: ignore[index]
