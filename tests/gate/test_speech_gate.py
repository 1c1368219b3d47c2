"""The gate of a pair whose answers are speech: thresholds entries name their judge and
may gate the speech metrics (one-sided, paired against the baseline); a run heard by
another judge is not comparable (an error, never a pass); recording keeps judges apart."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audiogate.errors import ThresholdsError
from audiogate.gate.decide import GateRules, decide
from audiogate.gate.paired import per_sample, write_baseline
from audiogate.gate.speech import baseline_metrics, judged_entries, speech_result
from audiogate.gate.stats import bootstrap_mean, paired_bootstrap_mean
from audiogate.gate.thresholds import Measured, load, update
from audiogate.registry.load import datasets, models, protocols
from audiogate.samples import sample_set_fingerprint
from audiogate.scoring.pair import Outcome, SampleRecord, score
from audiogate.scoring.pair_result import PairResult

MODEL, DATASET = "espeak-en", "tts-ls-test-clean"
IDS = [f"1089-134686-{i:04d}" for i in range(6)]
FP = sample_set_fingerprint(IDS)
DNSMOS = [3.1, 3.3, 3.2, 3.4, 3.0, 3.5]
SIM = [0.6, 0.7, 0.65, None, 0.55, 0.62]  # one sample without a voice prompt


def _thresholds(tmp_path: Path, body: str) -> Any:
    path = tmp_path / "thresholds.yaml"
    path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return load(path, models(), datasets(), protocols())


def _error(tmp_path: Path, body: str) -> str:
    with pytest.raises(ThresholdsError) as info:
        _thresholds(tmp_path, body)
    return str(info.value)


def _entry(metric: str, value: float, bound: str, limit: float, extra: str = "") -> str:
    return (f"    - metric: {metric}\n      value: {value}\n      {bound}: {limit}\n"
            f"      samples: 6\n      sample_set: {FP}\n{extra}")


def _file(*entries: str) -> str:
    return f"{MODEL}:\n  {DATASET}:\n" + "".join(entries)


WER = _entry("wer", 10.0, "max", 11.0, "      judge: whisper-tiny.en\n")


def test_speech_entries_load_with_their_judge(tmp_path: Path) -> None:
    loaded = _thresholds(tmp_path, _file(WER, _entry("sim-ge2e", 0.6, "min", 0.5),
                                         _entry("dnsmos", 3.25, "min", 2.9)))
    by_metric = {e.metric: e for e in loaded.entries}
    assert by_metric["wer"].judge == "whisper-tiny.en"
    assert by_metric["wer"].protocol == "ultraeval-audio"
    assert (by_metric["sim-ge2e"].judge, by_metric["sim-ge2e"].protocol) == (None, None)
    assert not by_metric["dnsmos"].lower_is_better and by_metric["dnsmos"].limit == 2.9


@pytest.mark.parametrize(("entries", "message"), [
    ([_entry("wer", 10.0, "max", 11.0)], "needs `judge:`"),
    ([WER, _entry("dnsmos", 3.0, "min", 2.9, "      judge: whisper-tiny.en\n")],
     "a judge applies to what a judge transcribed"),
    ([WER, _entry("dnsmos", 7.0, "min", 6.0)], "must be within 1..5 for dnsmos, not 7"),
    ([WER, _entry("sim-ge2e", 0.6, "max", 0.7)], "gated by a one-sided `min`"),
    ([WER, _entry("text-speech-wer", 5.0, "max", 6.0, "      judge: whisper-tiny.en\n")],
     "metric 'text-speech-wer' does not apply"),
])
def test_bad_speech_entries_are_refused(tmp_path: Path, entries: list[str],
                                        message: str) -> None:
    assert message in _error(tmp_path, _file(*entries))


def test_speech_metrics_do_not_apply_to_a_pair_scored_on_text(tmp_path: Path) -> None:
    body = f"whisper-tiny.en:\n  librispeech-test-clean:\n{_entry('dnsmos', 3.0, 'min', 2.9)}"
    assert "metric 'dnsmos' does not apply" in _error(tmp_path, body)


def test_the_paired_gate_is_refused_where_the_protocol_averages(tmp_path: Path) -> None:
    body = (f"{MODEL}:\n  seed-tts-eval-en:\n"
            + _entry("wer", 3.0, "max", 3.5, "      judge: whisper-large-v3\n"
                     "      gate: [limit, paired]\n      baseline: b.jsonl\n"))
    assert "averages per-sample rates" in _error(tmp_path, body)


# --- judging a run -------------------------------------------------------------------------

def _run(dnsmos: list[float] = DNSMOS, judge: str = "whisper-tiny.en",
         n_resamples: int = 2000) -> tuple[PairResult, list[SampleRecord]]:
    spec = datasets()[DATASET]
    outcomes = []
    for i, sample_id in enumerate(IDS):
        metrics: dict[str, float] = {"dnsmos": dnsmos[i]}
        if SIM[i] is not None:
            metrics["sim-ge2e"] = float(SIM[i])  # type: ignore[arg-type]
        words = "he could wait no longer" if i % 2 else "he could wait no more"
        outcomes.append(Outcome(sample_id, "HE COULD WAIT NO LONGER", None, words, words, None,
                                speech={"judge": judge, "metrics": metrics}))
    pair, records = score(spec, outcomes)
    result = PairResult(MODEL, DATASET, "tts", "en", "wer", pair, FP, 0.0, 1.0, 1.0, 6, 0,
                        {"engine": "tts-cpu"}, judge={"model": judge, "identity": {}})
    speech_result(result, records, ["sim-ge2e", "dnsmos"], False, n_resamples=n_resamples)
    return result, records


def _decide(tmp_path: Path, body: str, run: tuple[PairResult, list[SampleRecord]],
            updating: bool = False) -> Any:
    thresholds = _thresholds(tmp_path, body)
    return decide(run[0], run[1], thresholds, GateRules(updating=updating, n_resamples=2000),
                  record_hint="HINT")


def test_speech_metrics_per_pair_with_intervals() -> None:
    result, _ = _run()
    dnsmos, sim = result.metrics["dnsmos"], result.metrics["sim-ge2e"]
    assert dnsmos["value"] == pytest.approx(np.mean(DNSMOS))
    assert (dnsmos["scored"], sim["scored"], sim["errors"]) == (6, 5, 0)
    assert dnsmos["interval"]["low"] < dnsmos["value"] < dnsmos["interval"]["high"]
    assert result.score.value == pytest.approx(100 * 3 / 30)  # 3 of 30 words wrong


def test_all_gates_pass_and_each_is_said(tmp_path: Path) -> None:
    decision = _decide(tmp_path, _file(_entry("wer", 20.0, "max", 22.0,
                                              "      judge: whisper-tiny.en\n"),
                                       _entry("dnsmos", 3.25, "min", 3.0)), _run())
    assert decision.status == "pass"
    assert "WER 10.00 within max 22.00" in decision.reason
    assert "dnsmos: DNSMOS 3.25 within min 3.00" in decision.reason


def test_a_speech_metric_below_its_min_fails_the_pair(tmp_path: Path) -> None:
    decision = _decide(tmp_path, _file(_entry("wer", 20.0, "max", 22.0,
                                              "      judge: whisper-tiny.en\n"),
                                       _entry("dnsmos", 3.6, "min", 3.5)), _run())
    assert decision.status == "fail"
    assert decision.reason.startswith("dnsmos: regressed: DNSMOS 3.25 < min 3.50")
    assert "WER 10.00 within max 22.00" in decision.reason


def test_another_judge_is_not_comparable(tmp_path: Path) -> None:
    body = _file(_entry("wer", 20.0, "max", 22.0, "      judge: whisper-tiny.en\n"))
    decision = _decide(tmp_path, body, _run(judge="whisper-base"))
    assert decision.status == "error"
    assert "not comparable" in decision.reason
    assert "judged by 'whisper-tiny.en' (line 3)" in decision.reason
    assert "this run was judged by 'whisper-base'" in decision.reason
    # recording that judge is allowed: it becomes an entry of its own
    assert _decide(tmp_path, body, _run(judge="whisper-base"), updating=True).status != "error"


def test_judged_entries_keep_only_the_runs_judge(tmp_path: Path) -> None:
    loaded = _thresholds(tmp_path, _file(WER, _entry("dnsmos", 3.0, "min", 2.9)))
    kept, reason = judged_entries(loaded.entries, "wer", "whisper-tiny.en")
    assert reason is None and len(kept) == 2
    kept, reason = judged_entries(loaded.entries, "wer", "whisper-base")
    assert [e.metric for e in kept] == ["dnsmos"] and reason is not None


def test_the_paired_gate_on_a_speech_metric(tmp_path: Path) -> None:
    _, base_records = _run()
    baseline = tmp_path / "baselines" / "b.jsonl"
    write_baseline(baseline, per_sample(base_records, "wer"), "wer",
                   metrics=baseline_metrics(base_records, ["dnsmos"]))
    body = _file(_entry("dnsmos", 3.25, "min", 2.0,
                        "      gate: [limit, paired]\n      baseline: baselines/b.jsonl\n"))
    same = _decide(tmp_path, body, _run())
    assert same.status == "pass"
    assert "paired test: +0.00 DNSMOS" in same.reason
    worse = _decide(tmp_path, body, _run(dnsmos=[v - 0.4 for v in DNSMOS]))
    assert worse.status == "fail"
    assert "dnsmos: DNSMOS 2.85 within min 2.00" in worse.reason
    assert "paired test: -0.40 DNSMOS" in worse.reason and "worse at 95 %" in worse.reason


def test_recording_keeps_judges_apart(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    first = Measured(MODEL, DATASET, "wer", 20.0, 6, FP, judge="whisper-tiny.en",
                     protocol="ultraeval-audio")
    update(path, [first, Measured(MODEL, DATASET, "dnsmos", 3.25, 6, FP)])
    update(path, [Measured(MODEL, DATASET, "wer", 30.0, 6, FP, judge="whisper-base",
                           protocol="ultraeval-audio")])
    loaded = load(path, models(), datasets(), protocols())
    assert sorted((e.metric, e.judge, e.value) for e in loaded.entries) == [
        ("dnsmos", None, 3.25), ("wer", "whisper-base", 30.0), ("wer", "whisper-tiny.en", 20.0)]


def test_bootstrap_of_a_mean_and_its_paired_test() -> None:
    values = np.array([3.1, 3.3, 3.2, 3.4, 3.0, 3.5])
    interval = bootstrap_mean(values, n_resamples=2000)
    assert interval.estimate == pytest.approx(3.25)
    assert interval.low < 3.25 < interval.high
    assert bootstrap_mean([-0.2, 0.1], n_resamples=200).estimate == pytest.approx(-0.05)
    same = paired_bootstrap_mean(values, values, n_resamples=2000)
    assert not same.worse and same.delta == 0
    lower = paired_bootstrap_mean(values, values - 0.3, n_resamples=2000)
    assert lower.worse and lower.delta == pytest.approx(-0.3)
    assert not paired_bootstrap_mean(values, values - 0.3, margin=0.5, n_resamples=2000).worse
    with pytest.raises(ValueError, match="finite"):
        bootstrap_mean([1.0, float("nan")])
