"""Every protocol's value in the reports: terminal/Markdown table, Markdown details, JSON, and
the per-sample records — from one real scoring of the same outputs."""

from __future__ import annotations

import json
from pathlib import Path

from audiogate.cli.report import merge
from audiogate.registry import load as registry
from audiogate.results.report import Row, read_samples, table, write_samples
from audiogate.results.writers import write_reports
from audiogate.scoring.pair import Outcome, protocol_rtfx, score_asr
from audiogate.scoring.pair_result import PairResult

OUTPUTS = [("IT COST FIVE DOLLARS AND FIFTY CENTS", "It cost $5.50."),
           ("THE B B C REPORTED IT", "The BBC reported it."),
           ("HMM", "")]


def _row(model: str = "whisper-tiny.en") -> tuple[Row, list]:
    spec = registry.dataset("librispeech-test-clean")
    outcomes = [Outcome(f"s{i}", ref, None, hyp, hyp, None, seconds=0.25, audio_seconds=2.0)
                for i, (ref, hyp) in enumerate(OUTPUTS)]
    score, records = score_asr(spec, outcomes)
    result = PairResult(model, spec.name, "asr", "en", "wer", score, "fp", 6.0, 0.75, 1.0, 3, 0,
                        {"engine": "x"}, protocol_rtfx=protocol_rtfx(spec, records))
    return Row(result, "not gated", "no recorded threshold"), records


def test_table_has_the_gating_protocol_and_the_others() -> None:
    row, _ = _row()
    text = table([row], markdown=False)
    header, line = text.splitlines()
    assert "protocol" in header and "other protocols" in header
    assert "ultraeval-audio" in line
    assert "open-asr 0.00 (dropped 1)" in line
    cells = row.cells()
    assert cells["performance"] == f"{row.result.score.value:.2f}" == "30.00"  # 3 / 10 tokens
    assert cells["errors"] == "1"  # HMM: an error under the gating protocol


def test_markdown_json_and_merge_carry_every_protocol(tmp_path: Path) -> None:
    row, _ = _row()
    other, _ = _row("whisper-base")
    md_path, json_path, *_ = write_reports([row, other], tmp_path)
    md = md_path.read_text(encoding="utf-8")
    assert "protocol ultraeval-audio (gates): 30.00" in md
    assert "protocol open-asr (reported): 0.0000, published as 0.0 — 0 errors / 7 reference " \
           "tokens; 2 scored, 1 dropped, 0 excluded, 0 errors, RTFx 8.0" in md
    assert "open-asr average WER of whisper-tiny.en over 1 dataset(s): 0.00" in md
    data = json.loads(json_path.read_text(encoding="utf-8"))
    score = data["rows"][0]["result"]["score"]
    assert score["protocol"] == "ultraeval-audio"
    assert score["protocols"]["open-asr"]["dropped"] == 1
    assert score["protocols"]["open-asr"]["reported"] == 0.0
    assert data["rows"][0]["result"]["protocol_rtfx"] == {"open-asr": 8.0}
    merged = merge([json_path])
    assert {r.result.model: r.result.score for r in merged}["whisper-tiny.en"] == \
        row.result.score


def test_per_sample_records_keep_the_other_protocol_compact(tmp_path: Path) -> None:
    _, records = _row()
    path = write_samples(records, tmp_path / "samples.jsonl")
    money, bbc, hmm = read_samples(path)
    assert money.normalized_hypothesis == "it cost $5.50"
    assert money.protocols == {"open-asr": {"score": 0.0, "substitutions": 0, "deletions": 0,
                                            "insertions": 0, "ref_tokens": 3}}
    assert bbc.score == 50.0  # "b b c" vs "bbc" under the gating protocol
    assert bbc.protocols["open-asr"]["normalized_reference"] == "the bbc reported it"
    assert hmm.error == "empty reference after normalization"
    assert hmm.protocols == {"open-asr": {"dropped": True}}
