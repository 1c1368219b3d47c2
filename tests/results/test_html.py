"""The HTML report's content, read back from the written file: what it says about a pair,
the order it lists utterances in, its alignments, offline safety and byte stability.
(tests/results/test_html_browser.py opens a real run's page in a real browser.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jiwer
from pair_reports import (
    META,
    Written,
    external_urls,
    gate_file,
    librispeech_meta,
    scored,
    write_pair,
)

from audiogate.datasets import ignore_missing_audio, load_dataset
from audiogate.registry import load as registry
from audiogate.results.compare import compare, from_records
from audiogate.scoring.pair import Outcome, SampleRecord, score

HTML = "audiogate-report.html"
FILES = ("audiogate-report.md", "audiogate-report.json", "audiogate-report.svg", HTML)


def page_data(folder: Path) -> list[dict[str, Any]]:
    text = (folder / HTML).read_text(encoding="utf-8")
    return [json.loads(m) for m in re.findall(
        r'<script type="application/json" id="data-\d+">(.*?)</script>', text, re.S)]


def jiwer_ops(ref: str, hyp: str) -> list[tuple[str, str, str]]:
    """(op, ref word, hyp word) for every edit, straight from jiwer (the test's oracle)."""
    r, h = ref.split(), hyp.split()
    out = []
    for c in jiwer.process_words(ref, hyp).alignments[0]:
        words = list(zip(r[c.ref_start_idx:c.ref_end_idx], h[c.hyp_start_idx:c.hyp_end_idx],
                         strict=False))
        if c.type == "substitute":
            out += [("s", a, b) for a, b in words]
        elif c.type == "delete":
            out += [("d", a, "") for a in r[c.ref_start_idx:c.ref_end_idx]]
        elif c.type == "insert":
            out += [("i", "", b) for b in h[c.hyp_start_idx:c.hyp_end_idx]]
    return out


def page_ops(ops: list[Any]) -> list[tuple[str, str, str]]:
    return [(o[0], o[1], o[2]) if o[0] == "s" else (o[0], o[1], "") if o[0] == "d"
            else (o[0], "", o[1]) for o in ops if not isinstance(o, str)]


def test_failing_pair_lists_regressions_worst_first_with_jiwer_alignments(
        tmp_path: Path, regression: tuple[list[SampleRecord], list[SampleRecord]]) -> None:
    base, cand = regression
    w = write_pair(tmp_path / "r", cand, baseline=base)
    text = (w.folder / HTML).read_text(encoding="utf-8")
    assert '<header class="verdict fail">' in text
    assert ('<section class="pair fail" id="pair-1" '
            'data-pair="whisper-tiny.en/librispeech-test-other" data-status="fail">') in text
    [data] = page_data(w.folder)
    expected = compare(from_records(base, "wer"), from_records(cand, "wer"))
    # the page ranks what compare() ranks: 3 errors first, then 2, then 1; then the fix
    changed = sorted((u for u in data["utts"] if "k" in u), key=lambda u: u["k"])
    assert [u["i"] for u in changed] == [c.id for c in expected.changes]
    assert [u["e"] - u["b"] for u in changed] == [3, 2, 2, 1, 1, 1, -1]
    assert f"{len(expected.regressions)}</span> worse" in text
    assert f"{len(expected.improvements)}</span> better" in text
    by_id = {r.id: r for r in cand}
    base_by_id = {r.id: r for r in base}
    for u in changed:
        r = by_id[u["i"]]
        ops = page_ops(u["c"])
        assert ops == jiwer_ops(r.normalized_reference, r.normalized_hypothesis)
        assert (sum(o[0] == "s" for o in ops), sum(o[0] == "d" for o in ops),
                sum(o[0] == "i" for o in ops)) == (r.substitutions, r.deletions, r.insertions)
        b = base_by_id[u["i"]]
        assert page_ops(u["o"]) == jiwer_ops(b.normalized_reference, b.normalized_hypothesis)
    worst = page_ops(changed[0]["c"])  # the utterance given an ins, a sub and a del
    assert sorted(o[0] for o in worst) == ["d", "i", "s"]
    assert ("i", "", "umbrella") in worst and [o[2] for o in worst if o[0] == "s"] == ["zebra"]
    assert data["keys"] == ["speaker", "chapter"]
    assert all(u["g"] == list(librispeech_meta(u["i"]).values()) for u in data["utts"])


def test_group_tables_worst_first_with_change(tmp_path: Path, regression: tuple[
        list[SampleRecord], list[SampleRecord]]) -> None:
    base, cand = regression
    w = write_pair(tmp_path / "r", cand, baseline=base)
    text = (w.folder / HTML).read_text(encoding="utf-8")
    table = re.search(r'<table class="group sortable" data-key="speaker">(.*?)</table>', text,
                      re.S)
    assert table is not None
    rows = re.findall(r"<tr[^>]*><td>([^<]+)</td><td class=\"num\">(\d+)</td>"
                      r"<td class=\"num\" data-v=\"([^\"]+)\"", table.group(1))
    speakers = {r.id.split("-")[0] for r in cand}
    assert {s for s, _, _ in rows} == speakers
    scores = [float(v) for _, _, v in rows]
    assert scores == sorted(scores, reverse=True)  # worst (highest WER) first
    for speaker, n, value in rows:
        members = [r for r in cand if r.id.startswith(speaker + "-")]
        assert int(n) == len(members)
        errors = sum(r.substitutions + r.deletions + r.insertions for r in members)
        assert float(value) == 100 * errors / sum(r.ref_tokens for r in members)


def test_errored_and_excluded_samples_are_listed(tmp_path: Path,
                                                 references: list[tuple[str, str]]) -> None:
    items = [(i, ref, ref) for i, ref in references[:5]]
    items[1] = (items[1][0], items[1][1], None)  # the engine failed
    items[2] = (items[2][0], items[2][1], "la " * 2000)  # WER > 1000 %: excluded
    records = scored("librispeech-test-other", items)
    w = write_pair(tmp_path / "r", records)
    text = (w.folder / HTML).read_text(encoding="utf-8")
    assert "Errored and excluded samples (2)" in text
    assert f"<td>{items[1][0]}</td><td class=\"path\">/audio/{items[1][0]}.flac</td>" \
           "<td>error: engine timed out</td>" in text
    assert re.search(rf"<td>{items[2][0]}</td>.*?excluded: per-sample WER \d+\.\d\d %</td>"
                     r"<td>(la ){26}la</td>", text)


def test_count_only_baseline_still_compared_and_says_why_words_are_missing(
        tmp_path: Path, regression: tuple[list[SampleRecord], list[SampleRecord]]) -> None:
    base, cand = regression
    w = write_pair(tmp_path / "r", cand, baseline=base, texts=False)
    text = (w.folder / HTML).read_text(encoding="utf-8")
    assert "the baseline keeps counts only" in text
    [data] = page_data(w.folder)
    changed = [u for u in data["utts"] if "k" in u]
    assert len(changed) == 7 and not any("o" in u for u in changed)


def test_no_external_url_inline_assets_only(tmp_path: Path, regression: tuple[
        list[SampleRecord], list[SampleRecord]]) -> None:
    base, cand = regression
    w = write_pair(tmp_path / "r", cand, baseline=base)
    text = (w.folder / HTML).read_text(encoding="utf-8")
    assert external_urls(text) == []
    assert external_urls('<script src="//cdn.example.org/x.js">') and external_urls(
        '<a href="report.md">') and external_urls("http://localhost:8000")  # the check works
    assert "<svg" in text and "<style>" in text and "<script>" in text
    assert not re.search(r"<(link|img|iframe)\b", text)
    assert "<script src" not in text


def test_same_results_give_the_same_bytes_but_the_run_stamp(
        tmp_path: Path, regression: tuple[list[SampleRecord], list[SampleRecord]]) -> None:
    base, cand = regression
    baseline = tmp_path / "baseline.jsonl"
    first = write_pair(tmp_path / "a", cand, baseline=base, baseline_path=baseline)
    second = write_pair(tmp_path / "b", cand, baseline=base, baseline_path=baseline)
    for name in FILES:
        assert (first.folder / name).read_bytes() == (second.folder / name).read_bytes(), name
    later = write_pair(tmp_path / "c", cand, baseline=base, baseline_path=baseline,
                       meta={**META, "created": "2026-02-02T12:34:56+00:00",
                             "run_id": "f" * 32})
    assert (later.folder / FILES[2]).read_bytes() == (first.folder / FILES[2]).read_bytes()
    stamps = {"audiogate-report.md": r"created \S+", "audiogate-report.json":
              r'"(created|run_id)": "[^"]+"', HTML: r'<span id="run-stamp">[^<]*</span>'}
    for name, pattern in stamps.items():
        a = (first.folder / name).read_text(encoding="utf-8")
        c = (later.folder / name).read_text(encoding="utf-8")
        assert a != c and "2026-02-02T12:34:56" in c
        assert re.subn(pattern, "", a) == re.subn(pattern, "", c), name


def test_markdown_links_the_page(tmp_path: Path, regression: tuple[
        list[SampleRecord], list[SampleRecord]]) -> None:
    w: Written = write_pair(tmp_path / "r", regression[1])
    md = (w.folder / "audiogate-report.md").read_text(encoding="utf-8")
    assert f"[{HTML}]({HTML})" in md.split("| task")[0]


def test_merge_writes_a_page_with_the_shards_utterances(
        tmp_path: Path, regression: tuple[list[SampleRecord], list[SampleRecord]]) -> None:
    base, cand = regression
    failing = write_pair(tmp_path / "shard1", cand, baseline=base)
    passing = write_pair(tmp_path / "shard2", base, dataset="librispeech-test-other",
                         model="whisper-base", status="pass")
    value = failing.row.result.score.value
    assert value is not None
    gates = gate_file(tmp_path / "thresholds.yaml", (failing, value - 1.0), (passing, 99.0))
    out = tmp_path / "merged"
    proc = subprocess.run([sys.executable, "-m", "audiogate.cli", "report", "merge",
                           str(tmp_path / "shard1"), str(tmp_path / "shard2"), "-o", str(out),
                           f"--thresholds={gates}"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1, proc.stderr  # one shard failed
    assert "whisper-tiny.en/librispeech-test-other: FAIL — regressed: WER" in proc.stdout
    assert "whisper-base/librispeech-test-other: FAIL" not in proc.stdout
    assert f"report: {out / HTML}" in proc.stdout
    data = page_data(out)
    assert [d["pair"] for d in data] == ["whisper-base/librispeech-test-other",
                                         "whisper-tiny.en/librispeech-test-other"]
    assert [len(d["utts"]) for d in data] == [len(base), len(cand)]
    assert sum("k" in u for u in data[1]["utts"]) == 7


def test_accuracy_pair_lists_flips_with_answers_and_task_groups(tmp_path: Path,
                                                                shared_data: Path) -> None:
    spec = registry.dataset("mmau-test-mini")
    samples = ignore_missing_audio(load_dataset(spec, shared_data))[:60]

    def run(right: set[int]) -> list[SampleRecord]:
        outcomes = []
        for k, s in enumerate(samples):
            wrong = next(c for c in s.meta["choices"] if c.strip() != s.reference.strip())
            answer = s.reference if k in right else wrong
            outcomes.append(Outcome(s.id, s.reference, None, answer, answer, None,
                                    meta=dict(s.meta)))
        return score(spec, outcomes)[1]

    base, cand = run(set(range(40))), run(set(range(3, 43)))
    w = write_pair(tmp_path / "r", cand, baseline=base, model="replay",
                   dataset="mmau-test-mini")
    text = (w.folder / HTML).read_text(encoding="utf-8")
    expected = compare(from_records(base, "acc"), from_records(cand, "acc"))
    assert len(expected.regressions) >= 1 and len(expected.improvements) >= 1
    assert (f'{len(expected.regressions)}</span> correct → wrong · '
            f'<span class="n-better">{len(expected.improvements)}</span> wrong → correct') in text
    [data] = page_data(w.folder)
    changed = sorted((u for u in data["utts"] if "k" in u), key=lambda u: u["k"])
    assert [u["i"] for u in changed] == [c.id for c in expected.changes]
    by_id = {r.id: r for r in cand}
    base_by_id = {r.id: r for r in base}
    for u in changed:
        assert (u["r"], u["h"], u["bh"]) == (by_id[u["i"]].reference, by_id[u["i"]].answer,
                                             base_by_id[u["i"]].answer)
        assert "c" not in u and "o" not in u  # no word alignment for answers
    assert data["keys"] == ["task", "difficulty", "sub-category"]
    assert '<table class="group sortable" data-key="task">' in text


def test_damaged_records_or_missing_baseline_are_said_not_fatal(
        tmp_path: Path, regression: tuple[list[SampleRecord], list[SampleRecord]]) -> None:
    from audiogate.results.report import samples_path
    from audiogate.results.writers import write_reports

    cand = regression[1]
    w = write_pair(tmp_path / "r", cand, baseline_path=tmp_path / "gone.jsonl")
    text = (w.folder / HTML).read_text(encoding="utf-8")
    assert "baseline not compared:" in text and "gone.jsonl: baseline file not found" in text
    samples = samples_path(w.folder, w.row.result.model, w.row.result.dataset)
    samples.write_text('{"id": "x", "not": "a record"}\n', encoding="utf-8")
    paths = write_reports([w.row], w.folder, META)
    assert w.folder / HTML in paths
    assert "per-sample records unreadable" in (w.folder / HTML).read_text(encoding="utf-8")
