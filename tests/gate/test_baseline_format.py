"""Baseline files: plain JSONL sorted by id, with the scored texts; count-only files still
read (the shipped vLLM baselines, recorded where vLLM ran, are in that format), and the
shipped baselines of the models a clone runs on its CPU keep their words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from audiogate.errors import ThresholdsError
from audiogate.gate.paired import (
    baseline_texts,
    per_sample,
    read_baseline,
    read_baseline_lines,
    write_baseline,
)
from audiogate.registry import load as registry
from audiogate.scoring.pair import SampleRecord

REPO = Path(__file__).resolve().parents[2]
# Engines a fresh clone runs on its own CPU (no server, no vLLM): their shipped baselines
# were recorded here and keep their words.
CPU_ENGINES = frozenset({"whisper-cpu"})


def shipped_baselines() -> list[tuple[str, str, Path]]:
    """(model, engine, baseline file) of every entry of the shipped thresholds.yaml."""
    models = registry.models()
    entries = YAML(typ="safe").load((REPO / "thresholds.yaml").read_text(encoding="utf-8"))
    return [(model, models[model].engine, REPO / entry["baseline"])
            for model, datasets in entries.items() for items in datasets.values()
            for entry in items if entry.get("baseline")]


def record(sample_id: str, ref: str, hyp: str, s: int, d: int, i: int, n: int, *,
           excluded: bool = False) -> SampleRecord:
    return SampleRecord(sample_id, None, ref.upper(), hyp, hyp, normalized_reference=ref,
                        normalized_hypothesis=hyp, substitutions=s, deletions=d,
                        insertions=i, ref_tokens=n, score=100 * (s + d + i) / n,
                        excluded=excluded)


def test_wer_baseline_keeps_texts_sorted_and_reads_back(tmp_path: Path) -> None:
    records = [record("b-2", "he could wait no longer", "he could wait no longer", 0, 0, 0, 5),
               record("a-1", "stuff it into you", "stuff it in to you", 1, 0, 1, 4),
               SampleRecord("c-3", None, "X", None, None, error="unreadable audio"),
               record("d-4", "hi", "x " * 40, 1, 0, 39, 1, excluded=True)]
    path = tmp_path / "baselines" / "m" / "d.jsonl"
    write_baseline(path, per_sample(records, "wer"), "wer",
                   excluded=[r.id for r in records if r.excluded],
                   texts=baseline_texts(records, "wer"))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines] == [
        {"id": "a-1", "errors": 2, "ref_tokens": 4, "hypothesis": "stuff it in to you",
         "reference": "stuff it into you"},
        {"id": "b-2", "errors": 0, "ref_tokens": 5, "hypothesis": "he could wait no longer",
         "reference": "he could wait no longer"},
        {"id": "d-4", "excluded": True}]  # errored samples left out; excluded ones named
    assert read_baseline(path) == {"a-1": (2, 4), "b-2": (0, 5)}
    assert read_baseline_lines(path)["a-1"] == ((2, 4), ("stuff it into you",
                                                         "stuff it in to you"))


def test_accuracy_baseline_keeps_answer_and_key(tmp_path: Path) -> None:
    records = [SampleRecord("q1", None, "Dog", "<think>..</think>Dog", "Dog", score=100.0),
               SampleRecord("q2", None, "Cat", "Owl", "Owl", score=0.0)]
    path = tmp_path / "acc.jsonl"
    write_baseline(path, per_sample(records, "acc"), "acc", texts=baseline_texts(records, "acc"))
    assert [json.loads(x) for x in path.read_text().splitlines()] == [
        {"id": "q1", "correct": True, "hypothesis": "Dog", "reference": "Dog"},
        {"id": "q2", "correct": False, "hypothesis": "Owl", "reference": "Cat"}]
    assert read_baseline(path) == {"q1": (0, 1), "q2": (1, 1)}


@pytest.mark.parametrize("path", sorted((REPO / "baselines").glob("*/*.jsonl")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_count_only_baselines_still_read(path: Path) -> None:
    raw = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    raw = [r for r in raw if not r.get("excluded")]  # named, not scored
    lines = read_baseline_lines(path)
    assert list(lines) == [r["id"] for r in raw]
    for r in raw:
        counts, texts = lines[r["id"]]
        # accuracy-like metrics (accuracy, answered) keep `correct`, error rates the counts
        expected = (0 if r["correct"] else 1, 1) if "correct" in r else \
            (r["errors"], r["ref_tokens"])
        assert counts == expected
        assert texts == (r.get("reference"), r.get("hypothesis"))


@pytest.mark.parametrize("path", [p for _, engine, p in shipped_baselines()
                                  if engine in CPU_ENGINES],
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_shipped_baselines_of_cpu_models_keep_their_words(path: Path) -> None:
    """A fresh clone's first report shows the word-by-word diff, not a re-record notice."""
    lines = read_baseline_lines(path)
    assert lines
    missing = [i for i, (_, (reference, hypothesis)) in lines.items()
               if reference is None or hypothesis is None]
    assert not missing, f"{path}: no texts for {missing[:5]} (re-record with --update-thresholds)"


def test_a_bad_text_field_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "errors": 0, "ref_tokens": 3}\n'
                    '{"id": "b", "errors": 1, "ref_tokens": 3, "hypothesis": 7}\n')
    with pytest.raises(ThresholdsError, match=r"bad\.jsonl:2: bad baseline line"):
        read_baseline(path)
