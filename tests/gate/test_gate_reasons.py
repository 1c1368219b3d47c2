"""Every reason of a gate with a limit and a paired test is said, in words that cannot read
as contradicting the pair's status: real LibriSpeech test-other references scored through
the real scorer, a real baseline file, the real decide()."""

from __future__ import annotations

from pathlib import Path

import pytest
from pair_reports import edit, librispeech_meta, scored, write_pair

from audiogate.gate.decide import GateRules, decide
from audiogate.gate.paired import baseline_texts, per_sample, write_baseline
from audiogate.gate.thresholds import load
from audiogate.registry import load as registry
from audiogate.samples import sample_set_fingerprint
from audiogate.scoring.pair import SampleRecord

MODEL, DATASET = "whisper-tiny.en", "librispeech-test-other"
HINT = "`pytest benchmarks --update-thresholds`"


def _records(references: list[tuple[str, str]], broken: int) -> list[SampleRecord]:
    """The references as hypotheses, with one word substituted in the first ``broken``."""
    return scored(DATASET, [(i, ref, edit(ref, "sub") if n < broken else ref)
                            for n, (i, ref) in enumerate(references)], librispeech_meta)


def _judge(tmp_path: Path, references: list[tuple[str, str]], *, value: float, limit: float,
           baseline: str | None, broken: int) -> tuple[str, str]:
    """(status, reason) of a candidate with ``broken`` damaged utterances against an entry
    whose baseline has none damaged (``baseline``: "ok", "missing" or "damaged")."""
    folder = tmp_path / "gate"
    path = folder / "baselines" / MODEL / f"{DATASET}.jsonl"
    base = _records(references, 0)
    if baseline == "ok":
        write_baseline(path, per_sample(base, "wer"), "wer", texts=baseline_texts(base, "wer"))
    elif baseline == "damaged":
        path.parent.mkdir(parents=True)  # the entry's folder exists, its file is damaged
        path.write_text("{not json\n", encoding="utf-8")
    thresholds = folder / "thresholds.yaml"
    folder.mkdir(exist_ok=True)
    thresholds.write_text(
        f"{MODEL}:\n  {DATASET}:\n    - metric: wer\n      value: {value}\n      max: {limit}\n"
        f"      samples: {len(references)}\n"
        f"      sample_set: {sample_set_fingerprint(i for i, _ in references)}\n"
        f"      baseline: baselines/{MODEL}/{DATASET}.jsonl\n"
        "      gate: [limit, paired]\n      margin: 0.5\n", encoding="utf-8")
    candidate = _records(references, broken)
    row = write_pair(tmp_path / "reports", candidate, model=MODEL, dataset=DATASET).row
    decision = decide(row.result, candidate, load(thresholds, registry.models(),
                                                  registry.datasets()),
                      GateRules(n_resamples=500), record_hint=HINT)
    return decision.status, decision.reason


def test_a_paired_regression_within_the_limit_says_both(tmp_path: Path,
                                                        references: list[tuple[str, str]]
                                                        ) -> None:
    status, reason = _judge(tmp_path, references, value=5.0, limit=90.0, baseline="ok",
                            broken=20)
    assert status == "fail"
    assert reason.startswith("paired test: +") and "vs baseline, worse by > 0.50 at 95 %" in reason
    assert "; limit: WER " in reason and "within max 90.00" in reason
    assert "pass" not in reason.lower()


def test_no_paired_regression_and_the_limit_met_passes_in_words(
        tmp_path: Path, references: list[tuple[str, str]]) -> None:
    status, reason = _judge(tmp_path, references, value=0.0, limit=1.0, baseline="ok",
                            broken=0)
    assert status == "pass"
    assert reason == ("WER 0.00 within max 1.00 (recorded 0.00, +0.00); paired test: +0.00 WER "
                      "[+0.00, +0.00] vs baseline, not worse by > 0.50 at 95 %")


@pytest.mark.parametrize("baseline", ["missing", "damaged"])
def test_an_unread_baseline_fails_and_keeps_the_limits_finding(
        tmp_path: Path, references: list[tuple[str, str]], baseline: str) -> None:
    status, reason = _judge(tmp_path, references, value=0.0, limit=1.0, baseline=baseline,
                            broken=0)
    assert status == "fail"  # the paired gate could not run: never a quiet pass
    assert reason.startswith("the paired test could not run: ")
    assert reason.endswith("; limit: WER 0.00 within max 1.00 (recorded 0.00, +0.00)")
    if baseline == "missing":
        assert "relative to the folder of the thresholds file" in reason
    else:
        assert "bad baseline line" in reason
