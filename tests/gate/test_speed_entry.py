"""Speed entries of thresholds.yaml: every key checked, judged only where they were
measured, recorded without loosening silently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from audiogate.errors import ThresholdsError
from audiogate.gate.speed import write_speed_baseline
from audiogate.gate.speed_entry import NOT_COMPARABLE, SpeedRun, judge_speed
from audiogate.gate.speed_record import SpeedMeasured, update_speed
from audiogate.gate.thresholds import load
from audiogate.registry import load as registry
from audiogate.scoring.pair import SampleRecord, with_rtfx

FACTS = {"cpu": "AMD EPYC", "cpus": 2, "gpu_count": 0, "engine": "openai",
         "engine_version": "audiogate 0.1.0", "concurrency": 4, "batch_size": 1}
ENTRY = """\
whisper-tiny.en:
  librispeech-test-clean:
    - metric: wer
      value: 4.0
      max: 5.0
      samples: 20
    # speed on the CI machine
    - metric: speed
      samples: 20
      measured_on: {cpu: AMD EPYC, cpus: 2, gpu_count: 0, engine: openai,
                    engine_version: audiogate 0.1.0, concurrency: 4, batch_size: 1}
      latency_p90: 0.40
      max_latency_p90: 0.50
      rtfx: 10.0
      min_rtfx: 8.0
"""


def thresholds(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "thresholds.yaml"
    path.write_text(text, encoding="utf-8")
    return load(path, registry.models(), registry.datasets())


def records(latency: float, n: int = 20, audio: float = 4.0) -> list[SampleRecord]:
    return [SampleRecord(f"s{i:02d}", None, "r", "h", "h", audio_seconds=audio,
                         timing=with_rtfx({"latency": latency * (1 + i / 100),
                                           "method": "request", "in_flight": 1}, audio))
            for i in range(n)]


def run_of(recs: list[SampleRecord], facts: dict[str, Any] | None = None,
           **kw: Any) -> SpeedRun:
    from audiogate.gate.speed import summarize

    return SpeedRun(summarize(recs, wall_seconds=10, complete=True, n_resamples=500),
                    facts or dict(FACTS), len(recs), "f" * 16, **kw)


def test_a_speed_entry_loads_beside_the_accuracy_entry(tmp_path: Path) -> None:
    loaded = thresholds(tmp_path, ENTRY)
    assert [e.metric for e in loaded.entries] == ["wer"]
    [speed] = loaded.speed_for("whisper-tiny.en", "librispeech-test-clean")
    assert speed.limits == {"max_latency_p90": 0.5, "min_rtfx": 8.0}
    assert speed.gates == ("limit",) and speed.measured_on["cpu"] == "AMD EPYC"


@pytest.mark.parametrize(("change", "message"), [
    ("      max_latency_p95: 1.0\n", r"thresholds\.yaml:16: .*speed: `max_latency_p95`: "
                                    r"unknown key 'max_latency_p95'"),
    ("      max_latency_p90: 0.30\n".replace("0.30", "0.30"), None),
    ("      margin: 15\n", r"`margin` is the slowdown tolerated as a fraction"),
    ("      gate: paired\n", r"the paired speed gate needs a `baseline` file"),
])
def test_bad_speed_entries_name_file_line_and_key(tmp_path: Path, change: str,
                                                  message: str | None) -> None:
    text = ENTRY + change
    if message is None:  # a second max_latency_p90 is a YAML duplicate key: strict side
        text = ENTRY.replace("max_latency_p90: 0.50", "max_latency_p90: 0.30")
        message = r"`max_latency_p90` 0\.3 is on the strict side of latency_p90 0\.4"
    with pytest.raises(ThresholdsError, match=message):
        thresholds(tmp_path, text)


def test_a_misspelled_speed_key_names_the_closest_one(tmp_path: Path) -> None:
    """Speed entries are read as strictly as the registry: an unknown key is an error with
    the closest known key (registry/schema.py holds them), never a limit silently ignored."""
    with pytest.raises(ThresholdsError, match=r":16: .*speed: `max_latncy_p90`: unknown key "
                                              r"'max_latncy_p90' in a speed entry \(did you "
                                              r"mean 'max_latency_p90'\?\)"):
        thresholds(tmp_path, ENTRY + "      max_latncy_p90: 1.0\n")
    with pytest.raises(ThresholdsError, match=r"unknown fact 'gpu_cont' \(did you mean "
                                              r"'gpu_count'\?\)"):
        thresholds(tmp_path, ENTRY.replace("gpu_count: 0", "gpu_cont: 0"))
    # a speed limit on an accuracy entry says where it belongs
    text = ENTRY.replace("      value: 4.0\n", "      value: 4.0\n      min_rtfx: 5\n")
    with pytest.raises(ThresholdsError, match=r"unknown key 'min_rtfx' \(a key of speed "
                                              r"entries: add `metric: speed` to gate speed\)"):
        thresholds(tmp_path, text)


def test_measured_on_is_required_and_checked(tmp_path: Path) -> None:
    with pytest.raises(ThresholdsError, match="entry lacks `measured_on`"):
        thresholds(tmp_path, ENTRY.replace("      measured_on:", "      xmeasured_on:")
                   .replace("xmeasured_on", "note"))
    with pytest.raises(ThresholdsError, match="unknown fact 'gpus'"):
        thresholds(tmp_path, ENTRY.replace("gpu_count: 0", "gpus: 0"))


def test_limits_pass_and_fail_on_the_same_hardware(tmp_path: Path) -> None:
    [entry] = thresholds(tmp_path, ENTRY).speed
    fast = judge_speed([entry], run_of(records(0.30)), records(0.30), tmp_path, 500)
    assert fast is not None and fast.status == "pass", fast
    assert "latency p90 0.3" in fast.reason and "<= max 0.500 (recorded 0.400)" in fast.reason
    slow = judge_speed([entry], run_of(records(0.60)), records(0.60), tmp_path, 500)
    assert slow is not None and slow.status == "fail"
    assert slow.reason.startswith("slower: latency p90 0.7") and "> max 0.500" in slow.reason


def test_other_hardware_is_not_comparable_never_a_pass_or_a_fail(tmp_path: Path) -> None:
    [entry] = thresholds(tmp_path, ENTRY).speed
    gpu = {**FACTS, "gpu": "NVIDIA H100 80GB HBM3", "gpu_count": 1}
    for latency in (0.3, 3.0):  # fast or slow, the verdict is the same
        verdict = judge_speed([entry], run_of(records(latency), gpu), records(latency),
                              tmp_path, 500)
        assert verdict is not None and verdict.status == NOT_COMPARABLE
        assert verdict.reason == (
            "measured on other hardware or software: gpu 'NVIDIA H100 80GB HBM3' (recorded "
            "None); gpu_count 1 (recorded 0) (line 8); record this machine's speed with "
            "--update-thresholds")


@pytest.mark.parametrize(("kw", "why"), [
    ({"reused": 20}, "20 of 20 output(s) reused from the store"),
    ({"merged": True}, "reassembled from shards"),
])
def test_speed_not_measured_in_this_run_is_not_comparable(tmp_path: Path, kw: dict[str, Any],
                                                          why: str) -> None:
    [entry] = thresholds(tmp_path, ENTRY).speed
    verdict = judge_speed([entry], run_of(records(0.3), **kw), records(0.3), tmp_path, 100)
    assert verdict is not None and verdict.status == NOT_COMPARABLE and why in verdict.reason


def test_paired_gate_against_a_speed_baseline(tmp_path: Path) -> None:
    write_speed_baseline(tmp_path / "b.jsonl", records(0.3))
    text = ENTRY + "      baseline: b.jsonl\n      gate: [paired]\n      margin: 0.1\n"
    [entry] = thresholds(tmp_path, text).speed
    same = judge_speed([entry], run_of(records(0.3)), records(0.3), tmp_path, 1000)
    slower = judge_speed([entry], run_of(records(0.39)), records(0.39), tmp_path, 1000)
    assert same is not None and same.status == "pass"
    assert slower is not None and slower.status == "fail"
    assert slower.reason.startswith("slower: paired: latency ×1.300")
    (tmp_path / "b.jsonl").unlink()
    missing = judge_speed([entry], run_of(records(0.3)), records(0.3), tmp_path, 100)
    assert missing is not None and missing.status == "fail"
    assert "the paired speed test could not run" in missing.reason


def measured(values: dict[str, float]) -> SpeedMeasured:
    return SpeedMeasured("whisper-tiny.en", "librispeech-test-clean", 20, "f" * 16,
                         dict(FACTS), values, "baselines/x.speed.jsonl")


def test_update_records_a_new_speed_entry_and_refuses_to_loosen_it(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text(ENTRY.split("    # speed")[0], encoding="utf-8")
    [change] = update_speed(path, [measured({"latency_p90": 0.4, "rtfx": 10.0})])
    assert change.kind == "new" and "max_latency_p90 0.5" in change.text
    [entry] = load(path, registry.models(), registry.datasets()).speed
    assert entry.limits == {"max_latency_p90": 0.5, "min_rtfx": 8.0}
    assert entry.gates == ("limit", "paired") and entry.baseline == "baselines/x.speed.jsonl"
    [faster] = update_speed(path, [measured({"latency_p90": 0.3, "rtfx": 12.0})])
    assert faster.kind == "tightened" and "max_latency_p90 0.5 -> 0.375" in faster.text
    before = path.read_text()
    [slower] = update_speed(path, [measured({"latency_p90": 0.6, "rtfx": 12.0})])
    assert slower.refused and "REFUSED: this loosens the speed gate" in slower.text
    assert path.read_text() == before
    [accepted] = update_speed(path, [measured({"latency_p90": 0.6, "rtfx": 12.0})],
                              accept_regression=True)
    assert accepted.kind == "loosened" and not accepted.refused
    assert "max_latency_p90: 0.75" in path.read_text()
