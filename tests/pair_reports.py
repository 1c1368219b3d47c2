"""Pairs scored by the REAL scoring path from given references and hypotheses (edited in
known ways, no model run), written as a report folder: helpers for the report tests."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from audiogate.gate.paired import baseline_texts, interval, per_sample, write_baseline
from audiogate.registry import load as registry
from audiogate.results.report import Row, samples_path, write_samples
from audiogate.results.writers import write_reports
from audiogate.samples import sample_set_fingerprint
from audiogate.scoring.english import normalize_english
from audiogate.scoring.pair import Outcome, SampleRecord, score
from audiogate.scoring.pair_result import PairResult

META = {"run_id": "0" * 32, "created": "2026-01-01T00:00:00+00:00", "git_commit": "0" * 40,
        "python": "3.11",
        "versions": {"audiogate": "0.1.0", "jiwer": "4.0.0"}}


def edit(text: str, kind: str, at: int = 1) -> str:
    """``text`` with one known edit: sub / del / ins of the word at ``at`` (or none)."""
    words = text.split()
    at = min(at, len(words) - 1)
    if kind == "sub":
        words[at] = "zebra"
    elif kind == "del":
        del words[at]
    elif kind == "ins":
        words.insert(at, "umbrella")
    return " ".join(words)


def scored(dataset: str, items: Sequence[tuple[str, str, str | None]],
           meta: Callable[[str], dict[str, str]] | None = None) -> list[SampleRecord]:
    """Records of (id, reference, hypothesis or None = an engine error) through score()."""
    spec = registry.dataset(dataset)
    outcomes = [Outcome(i, ref, f"/audio/{i}.flac", hyp, hyp,
                        None if hyp is not None else "engine timed out", seconds=0.5,
                        audio_seconds=5.0, meta=meta(i) if meta else {})
                for i, ref, hyp in items]
    return score(spec, outcomes)[1]


def synthetic(references: Sequence[tuple[str, str]], n: int, seed: int = 0
              ) -> list[SampleRecord]:
    """``n`` records (a large pair): the real references cycled under new ids, one random
    edit per hypothesis (of the normalized reference), scored by the real scoring path."""
    rng = random.Random(seed)
    normalized = {ref: normalize_english(ref) for _, ref in references}
    items: list[tuple[str, str, str | None]] = []
    for k in range(n):
        utt, ref = references[k % len(references)]
        speaker, chapter, _ = utt.split("-")
        hyp = edit(normalized[ref], rng.choice(["sub", "del", "ins", "none", "none"]),
                   rng.randrange(12))
        items.append((f"{speaker}-{chapter}-{k:05d}", ref, hyp))
    return scored("librispeech-test-other", items, librispeech_meta)


def librispeech_meta(utt_id: str) -> dict[str, str]:
    speaker, chapter, _ = utt_id.split("-")
    return {"speaker": speaker, "chapter": chapter}


@dataclass
class Written:
    folder: Path
    row: Row
    baseline: Path | None
    candidate: list[SampleRecord]


def write_pair(folder: Path, candidate: list[SampleRecord], *, baseline: list[SampleRecord]
               | None = None, baseline_path: Path | None = None, status: str = "fail",
               model: str = "whisper-tiny.en", dataset: str = "librispeech-test-other",
               meta: dict | None = None, texts: bool = True) -> Written:
    """Write the candidate's records and (optionally) a baseline file, then the reports."""
    spec = registry.dataset(dataset)
    summary, _ = score(spec, [Outcome(r.id, r.reference, r.audio_path, r.raw_output, r.answer,
                                      r.error) for r in candidate])
    if baseline is not None:
        baseline_path = baseline_path or folder.parent / f"{folder.name}-baseline.jsonl"
        write_baseline(baseline_path, per_sample(baseline, spec.metric), spec.metric,
                       texts=baseline_texts(baseline, spec.metric) if texts else None)
    result = PairResult(model, dataset, spec.task, spec.language, spec.metric, summary,
                        sample_set_fingerprint(r.id for r in candidate), 5.0 * len(candidate),
                        1.0 * len(candidate), 2.0 * len(candidate), len(candidate), 0,
                        {"engine": "whisper-cpu", "model": model},
                        [(r.id, r.error) for r in candidate if r.error is not None],
                        groups=list(spec.groups),
                        interval=interval(per_sample(candidate, spec.metric), spec.metric,
                                          n_resamples=200))
    row = Row(result, status, "regressed: WER above its max" if status == "fail" else "ok",
              "max 4.00", 3.0, 4.0, str(baseline_path) if baseline_path else None)
    write_samples(candidate, samples_path(folder, model, dataset))
    write_reports([row], folder, dict(meta or META))
    return Written(folder, row, baseline_path, candidate)


def gate_file(path: Path, *gates: tuple[Written, float]) -> Path:
    """A thresholds file gating each written pair at the given max WER (recorded at its
    value, or at the max when that is lower), on its sample set, against its baseline file
    where it has one: what a merge of those reports judges them by."""
    lines = []
    for written, limit in gates:
        r = written.row.result
        value = min(r.score.value or 0.0, limit)
        lines += [f"{r.model}:", f"  {r.dataset}:", "    - metric: wer",
                  f"      value: {value:.2f}", f"      max: {limit:.2f}",
                  f"      samples: {r.score.total}", f"      sample_set: {r.sample_set}"]
        if written.baseline is not None:
            lines.append(f"      baseline: {written.baseline.resolve()}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def external_urls(text: str) -> list[str]:
    """Any host named at all, and every src/href attribute that is not an in-page anchor."""
    hosts = re.findall(r"https?://[^\s\"'<>]*|//[\w.-]+\.[a-z]{2,}[^\s\"'<>]*", text)
    links = [v for v in re.findall(r"""\s(?:src|href)\s*=\s*["']([^"']*)["']""", text)
             if not v.startswith("#")]
    return hosts + links
