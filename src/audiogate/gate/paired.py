"""Baselines and the paired gate: compare a candidate with an accepted run on the SAME ids.

A baseline is the per-sample result of an accepted run, written by --update-thresholds
next to thresholds.yaml as plain JSONL sorted by id (small, and reviewable in a pull
request): ``{"id", "errors", "ref_tokens", "hypothesis", "reference"}`` for WER/CER (the
normalized texts that were scored, so a report can show what changed, word by word),
``{"id", "correct", "hypothesis", "reference"}`` for accuracy (the extracted answer and the
answer key). Baselines written before the texts were kept (no hypothesis/reference) are
still read: the gates need only the counts.
Samples the abnormal filter excluded are listed too (``{"id", "excluded": true}``): they take
no part in the paired test, but they belong to the sample set the entry was recorded on, so a
later run can say exactly which ids it added or lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audiogate.errors import ThresholdsError
from audiogate.gate.stats import (
    Interval,
    align_by_id,
    bootstrap_accuracy,
    bootstrap_corpus_rate,
    paired_bootstrap,
    paired_bootstrap_accuracy,
    wilson_interval,
)
from audiogate.registry.load import PROPORTIONS
from audiogate.scoring.pair import SampleRecord

# id -> (errors, reference tokens); accuracy uses (1 - correct, 1)
PerSample = dict[str, tuple[int, int]]
# id -> (reference, hypothesis) as scored: normalized texts, or answer key and answer
Texts = Mapping[str, tuple[str | None, str | None]]


def per_sample(records: Sequence[SampleRecord], metric: str) -> PerSample:
    """The samples that count in the corpus score (not excluded), an errored one as the
    worst answer it could have been: every reference token deleted, a wrong answer (one
    with no reference to count is left out: the gate fails on it)."""
    out: PerSample = {}
    for r in records:
        if r.excluded:
            continue
        if r.error is not None:
            if metric in PROPORTIONS:
                out[r.id] = (1, 1)
            elif r.ref_tokens:
                out[r.id] = (int(r.ref_tokens), int(r.ref_tokens))
            continue
        if r.score is None:
            continue
        if metric in PROPORTIONS:
            out[r.id] = (0 if r.score == 100.0 else 1, 1)
        else:
            out[r.id] = (int(r.substitutions or 0) + int(r.deletions or 0)
                         + int(r.insertions or 0), int(r.ref_tokens or 0))
    return out


def interval(data: PerSample, metric: str, *, n_resamples: int, seed: int = 0,
             confidence: float = 0.95) -> dict[str, float | int | str] | None:
    """95 % bootstrap interval over utterances (corpus ratio for WER/CER; mean for accuracy,
    with Wilson's interval as a cross-check)."""
    if not data:
        return None
    errors = np.array([v[0] for v in data.values()])
    if metric in PROPORTIONS:
        correct = 1 - errors
        boot: Interval = bootstrap_accuracy(correct, n_resamples=n_resamples, seed=seed,
                                            confidence=confidence)
        wilson = wilson_interval(int(correct.sum()), len(correct), confidence)
        return {"low": boot.low, "high": boot.high, "confidence": confidence,
                "n_resamples": n_resamples, "method": boot.method,
                "wilson_low": wilson.low, "wilson_high": wilson.high}
    lens = np.array([v[1] for v in data.values()])
    boot = bootstrap_corpus_rate(errors, lens, n_resamples=n_resamples, seed=seed,
                                 confidence=confidence)
    return {"low": boot.low, "high": boot.high, "confidence": confidence,
            "n_resamples": n_resamples, "method": boot.method}


def baseline_texts(records: Sequence[SampleRecord], metric: str) -> dict[str, tuple[str | None,
                                                                                 str | None]]:
    """What each sample's line keeps besides its counts: the texts that were compared."""
    if metric == "acc":
        return {r.id: (r.reference, r.answer) for r in records}
    return {r.id: (r.normalized_reference, r.normalized_hypothesis) for r in records}


def write_baseline(path: Path, data: PerSample, metric: str,
                   excluded: Sequence[str] = (), *, texts: Texts | None = None,
                   metrics: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """One line per sample, sorted by id; ``texts`` adds a scored sample's hypothesis and
    reference, ``metrics`` its speech metrics (``{"metrics": {"dnsmos": 3.1, ...}}``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, object]] = {i: {"id": i, "excluded": True} for i in excluded}
    for sample_id, (errors, ref) in data.items():
        rows[sample_id] = ({"id": sample_id, "correct": errors == 0} if metric in PROPORTIONS
                           else {"id": sample_id, "errors": errors, "ref_tokens": ref})
        if texts is not None and sample_id in texts:
            reference, hypothesis = texts[sample_id]
            rows[sample_id]["hypothesis"], rows[sample_id]["reference"] = hypothesis, reference
        if metrics and metrics.get(sample_id):
            rows[sample_id]["metrics"] = dict(metrics[sample_id])
    lines = [json.dumps(rows[i], ensure_ascii=False) for i in sorted(rows)]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


def _baseline_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.exists():
        raise ThresholdsError(f"{path}: baseline file not found (an entry's `baseline:` is "
                              "read relative to the folder of the thresholds file that names "
                              "it: copy the baseline files along with the thresholds file, or "
                              "record them with --update-thresholds)")
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            str(row["id"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ThresholdsError(f"{path}:{number}: bad baseline line ({exc})") from exc
        yield number, row


def baseline_ids(path: Path) -> frozenset[str]:
    """Every id of the sample set the baseline was recorded on (excluded ones included)."""
    return frozenset(str(row["id"]) for _, row in _baseline_rows(path))


def read_baseline(path: Path) -> PerSample:
    """The scored samples of a baseline: ``id -> (errors, reference tokens)``."""
    return {sample_id: counts for sample_id, (counts, _) in read_baseline_lines(path).items()}


def read_baseline_lines(path: Path) -> dict[str, tuple[tuple[int, int], tuple[str | None,
                                                                               str | None]]]:
    """The scored samples: id -> ((errors, reference tokens), (reference, hypothesis)); the
    texts are None in a baseline written before they were kept."""
    out = {}
    for number, row in _baseline_rows(path):
        if row.get("excluded"):
            continue
        try:
            if "correct" in row:
                counts = (0 if row["correct"] else 1, 1)
            else:
                counts = (int(row["errors"]), int(row["ref_tokens"]))
            out[str(row["id"])] = (counts, (_text(row.get("reference")),
                                            _text(row.get("hypothesis"))))
        except (KeyError, TypeError, ValueError) as exc:
            raise ThresholdsError(f"{path}:{number}: bad baseline line ({exc})") from exc
    return out


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"hypothesis/reference must be text, not {type(value).__name__}")


def paired_verdict(baseline: PerSample, candidate: PerSample, metric: str, *,
                   margin: float, confidence: float, n_resamples: int, seed: int = 0
                   ) -> tuple[bool, str]:
    """(worse, what the paired bootstrap found on the ids both runs scored, in one line)."""
    aligned = align_by_id(baseline, candidate)
    if len(aligned.ids) == 0:
        return True, "no sample ids in common with the baseline"
    if metric in PROPORTIONS:
        result = paired_bootstrap_accuracy(1 - aligned.base_err, 1 - aligned.cand_err,
                                           margin=margin, confidence=confidence,
                                           n_resamples=n_resamples, seed=seed)
    else:
        result = paired_bootstrap(aligned.base_err, aligned.base_len, aligned.cand_err,
                                  aligned.cand_len, margin=margin, confidence=confidence,
                                  n_resamples=n_resamples, seed=seed)
    line = result.describe(metric.upper())
    only = len(aligned.only_in_base) + len(aligned.only_in_cand)
    if only:
        line += (f" ({len(aligned.only_in_base)} id(s) only in the baseline, "
                 f"{len(aligned.only_in_cand)} only in this run: excluded from the paired test)")
    return result.worse, line
