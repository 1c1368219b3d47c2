"""The speed gate end to end, where CI runs (a loaded 2-core machine): `audiogate serve`
answers recorded predictions after a fixed delay, so a request's time is the delay plus a
few milliseconds of work, and a "release" whose server waits 30 % longer must fail the
paired speed gate while the same server passes it, run after run.

Why this cannot flake on a loaded machine: the server's own work (hashing the audio,
JSON) is ~1-20 ms against a 250 ms delay, and the gate compares the MEDIAN of per-sample
ratios with its bootstrap bound: a few requests stalled by the load move neither."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from audiogate.engines.launch import ServerProcess

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
DELAY = 0.25  # seconds the equal server adds to each answer; the slower one adds 30 % more
MODELS = """\
replay-chat:
  engine: openai
  endpoint: chat
  tasks: [asr]
  languages: [en]
  served_model_name: replay
  sampling: {temperature: 0.0}
"""
REPEATS = 3


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
            shared_data: Path) -> pytest.Pytester:
    monkeypatch.syspath_prepend(str(REPO))
    pytester.makeconftest('pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n')
    pytester.makepyfile(test_gated_asr=(REPO / "benchmarks" / "test_asr.py").read_text())
    (pytester.path / "models.yaml").write_text(MODELS)
    lines = []
    for trans in sorted((shared_data / "LibriSpeech" / "test-other").glob("*/*/*.trans.txt")):
        for line in trans.read_text().splitlines():
            utt, _, text = line.partition(" ")
            lines.append(json.dumps({"id": utt, "prediction": text.lower()}))
    (pytester.path / "preds.jsonl").write_text("\n".join(lines) + "\n")
    return pytester


@pytest.fixture
def serve(project: pytest.Pytester, shared_data: Path) -> Iterator[Callable[[float], str]]:
    """Start `audiogate serve --replay` with a delay; every server is stopped at the end."""
    started: list[ServerProcess] = []

    def start(delay: float) -> str:
        server = ServerProcess(
            [sys.executable, "-m", "audiogate.cli", "serve", "--replay",
             str(project.path / "preds.jsonl"), "--dataset", "librispeech-test-other",
             "--data-root", str(shared_data), "--served-model-name", "replay",
             "--delay", str(delay), "--host", "{host}", "--port", "{port}"],
            project.path / f"server-{len(started)}.log", startup_timeout=120)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


def gate(project: pytest.Pytester, url: str, *extra: str) -> pytest.RunResult:
    return project.runpytest(
        "-k", "test-other", "--model=replay-chat", f"--models-file={project.path}/models.yaml",
        f"--engine-url={url}", "--engine-concurrency=4", f"--data-root={REPO / 'data'}",
        "--no-store", "-p", "no:cacheprovider", "--bootstrap-resamples=4000", *extra)


def speed_entry(project: pytest.Pytester) -> str:
    return (project.path / "thresholds.yaml").read_text()


@pytest.mark.slow
def test_a_30_percent_slower_server_fails_the_paired_gate_and_the_same_one_passes(
        project: pytest.Pytester, serve: Callable[[float], str]) -> None:
    equal = serve(DELAY)
    gate(project, equal, "--update-thresholds", "--record-speed").assert_outcomes(passed=1)
    text = speed_entry(project)
    assert "metric: speed" in text and "gate: [limit, paired]" in text
    # the paired test alone decides (the limits' 25 % slack would catch 30 % too, but
    # closer to their edge)
    (project.path / "thresholds.yaml").write_text(
        text.replace("gate: [limit, paired]", "gate: [paired]"))
    for _ in range(REPEATS):
        result = gate(project, equal)
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*latency*"])  # the summary's column
    slower = serve(DELAY * 1.3)
    for k in range(REPEATS):
        result = gate(project, slower, f"--junitxml={project.path}/junit-{k}.xml")
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([
            "*replay-chat/librispeech-test-other: speed slower: paired: latency ×1.* of the "
            "baseline's (median of 42 per-sample ratios), slower by > 10 % at 95 %*"])
        result.stdout.fnmatch_lines(["*FAIL*librispeech-test-other*WER 0.00*s SLOW*"])
    report = json.loads((project.path / "reports" / "audiogate-report.json").read_text())
    [row] = report["rows"]
    speed = row["result"]["speed"]
    assert row["speed"]["status"] == "fail" and speed["timed"] == 42
    assert 0 < speed["ttft"]["p50"]["estimate"] <= speed["latency"]["p50"]["estimate"]
    props = {p.get("name"): p.get("value") for p in ET.parse(
        project.path / f"junit-{REPEATS - 1}.xml").getroot().iter("property")}
    # the last run's JUnit properties are its JSON report's numbers
    assert float(props["audiogate.latency_p50"]) == round(speed["latency"]["p50"]["estimate"], 6)
    assert props["audiogate.speed_status"] == "fail"
    assert {"audiogate.ttft_p90_low", "audiogate.speed_rtfx_high",
            "audiogate.speed_throughput"} <= set(props)
    page = (project.path / "reports" / "audiogate-report.html").read_text()
    assert 'class="latency-hist"' in page and "slowest samples" in page
    markdown = (project.path / "reports" / "audiogate-report.md").read_text()
    assert "speed gate: FAIL — slower: paired: latency ×1." in markdown


@pytest.mark.slow
def test_speed_measured_on_other_hardware_is_not_comparable(
        project: pytest.Pytester, serve: Callable[[float], str]) -> None:
    url = serve(DELAY)
    gate(project, url, "--update-thresholds", "--record-speed").assert_outcomes(passed=1)
    text = speed_entry(project)
    cpu = next(line for line in text.splitlines() if line.strip().startswith("cpu:"))
    (project.path / "thresholds.yaml").write_text(
        text.replace(cpu, "        cpu: Another CPU Model"))
    slower = serve(DELAY * 3)  # much slower, and still neither a pass nor a fail on speed
    result = gate(project, slower)
    result.assert_outcomes(passed=1)
    report = json.loads((project.path / "reports" / "audiogate-report.json").read_text())
    [row] = report["rows"]
    assert row["status"] == "pass" and row["speed"]["status"] == "not comparable"
    assert "speed not comparable: measured on other hardware or software: cpu " in row["reason"]
    assert "(recorded 'Another CPU Model')" in row["reason"]
    result.stdout.fnmatch_lines(["*PASS*librispeech-test-other*s n/c*"])
    required = gate(project, slower, "--require-gate")
    required.assert_outcomes(failed=1)
    required.stdout.fnmatch_lines(["*--require-gate: speed not comparable: measured on other "
                                   "hardware*"])
