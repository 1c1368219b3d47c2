"""A pair's speed as the reports show it: the terminal cell, Markdown lines, the HTML
histogram (the same values give the same bytes)."""

from __future__ import annotations

from pathlib import Path

from pair_reports import librispeech_meta, scored, write_pair

from audiogate.gate.speed import summarize
from audiogate.results.report import Row
from audiogate.results.speed import histogram_svg, speed_cell, speed_html, speed_lines
from audiogate.results.terminal import WIDTH, compact_table


def timed_row(tmp_path: Path, references: list[tuple[str, str]], status: str | None) -> Row:
    records = scored("librispeech-test-other", [(i, ref, ref) for i, ref in references[:12]],
                     librispeech_meta)
    for k, r in enumerate(records):
        r.audio_seconds = 4.0
        r.timing = {"latency": 0.2 + k / 50, "method": "stream", "ttft": 0.1, "in_flight": 2}
    row = write_pair(tmp_path, records, model="whisper-tiny.en-served", status="pass").row
    row.result.speed = summarize(records, wall_seconds=2.0, complete=True, n_resamples=200)
    row.result.measured_on = {"cpu": "AMD EPYC", "cpus": 2, "engine": "openai",
                              "concurrency": 2, "batch_size": 1, "load_1m": 3.5}
    if status:
        row.speed = {"status": status, "reason": "slower: paired: latency ×1.31",
                     "checks": [], "line": 9}
    return row


def test_the_cell_says_the_median_latency_and_the_speed_gates_mark(
        tmp_path: Path, references: list[tuple[str, str]]) -> None:
    assert speed_cell(timed_row(tmp_path / "a", references, None)) == "0.310s"
    assert speed_cell(timed_row(tmp_path / "b", references, "fail")) == "0.310s SLOW"
    assert speed_cell(timed_row(tmp_path / "c", references, "not comparable")) == "0.310s n/c"
    rows = [timed_row(tmp_path / "d", references, "fail")]
    lines = compact_table(rows)
    assert "latency" in lines[0] and all(len(line) <= WIDTH for line in lines)


def test_markdown_lines_give_percentiles_intervals_and_what_it_ran_on(
        tmp_path: Path, references: list[tuple[str, str]]) -> None:
    lines = speed_lines(timed_row(tmp_path, references, "fail"))
    assert lines[0].startswith("speed (95 % bootstrap intervals, 12 of 12 samples timed, "
                               "stream): latency (s) p50 0.310 [")
    assert lines[1].startswith("time to first token (s) p50 0.100 [0.100, 0.100]")
    assert "throughput 6.00 [" in lines[2] and "requests in flight: median 2, max 2" in lines[2]
    assert lines[3].startswith("measured on: cpu AMD EPYC, cpus 2, engine openai")
    assert lines[4] == "speed gate: FAIL — slower: paired: latency ×1.31"


def test_the_histogram_is_the_same_bytes_for_the_same_latencies(
        tmp_path: Path, references: list[tuple[str, str]]) -> None:
    svg = histogram_svg([0.2, 0.3, 0.3, 0.5], {"p50": 0.3})
    assert svg == histogram_svg([0.2, 0.3, 0.3, 0.5], {"p50": 0.3})
    assert svg.count("<rect") == 24 and ">p50</text>" in svg and "0.500 s" in svg
    row = timed_row(tmp_path, references, None)
    from audiogate.results.report import read_samples, samples_path

    block = speed_html(row, read_samples(samples_path(tmp_path, row.result.model,
                                                      row.result.dataset)))
    assert 'class="latency-hist"' in block and "slowest samples" in block
