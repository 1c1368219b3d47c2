"""A run against its baseline, utterance by utterance and group by group.

Both sides become ``Utterance``s (a report's per-sample records, or a baseline file's
lines), so the HTML report, `audiogate report diff` and the gate's failure message rank
regressions the same way: most added errors first (accuracy: correct → wrong).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiogate.gate.paired import read_baseline_lines
from audiogate.scoring.pair import SampleRecord

NO_GROUP = "(none)"


@dataclass(frozen=True)
class Utterance:
    """One scored sample: its edit count and the texts that were compared (None when the
    source did not keep them: a baseline in the count-only format)."""

    id: str
    errors: int  # accuracy: 1 when wrong
    ref_tokens: int  # accuracy: 1
    reference: str | None = None  # normalized reference (accuracy: the answer key)
    hypothesis: str | None = None  # normalized hypothesis (accuracy: the extracted answer)
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return 100.0 * self.errors / self.ref_tokens if self.ref_tokens else 0.0


def from_records(records: Sequence[SampleRecord], metric: str) -> dict[str, Utterance]:
    """The samples that count in the corpus score (not errored, not excluded)."""
    out = {}
    for r in records:
        if r.error is not None or r.excluded or r.score is None:
            continue
        if metric == "acc":
            out[r.id] = Utterance(r.id, 0 if r.score == 100.0 else 1, 1, r.reference, r.answer,
                                  r.meta)
        else:
            errors = int(r.substitutions or 0) + int(r.deletions or 0) + int(r.insertions or 0)
            out[r.id] = Utterance(r.id, errors, int(r.ref_tokens or 0), r.normalized_reference,
                                  r.normalized_hypothesis, r.meta)
    return out


def from_baseline(path: Path) -> dict[str, Utterance]:
    """A baseline file's lines (raises ThresholdsError naming the file when unreadable)."""
    return {i: Utterance(i, counts[0], counts[1], texts[0], texts[1])
            for i, (counts, texts) in read_baseline_lines(path).items()}


@dataclass(frozen=True)
class Change:
    """One id scored in both runs whose error count moved."""

    base: Utterance
    cand: Utterance

    @property
    def id(self) -> str:
        return self.cand.id

    @property
    def delta(self) -> int:
        return self.cand.errors - self.base.errors


@dataclass
class Comparison:
    regressions: list[Change]  # worst first
    improvements: list[Change]  # biggest improvement first
    unchanged: int
    only_in_base: list[str]
    only_in_cand: list[str]

    @property
    def changes(self) -> list[Change]:
        """Regressions, then improvements: the order every report lists them in."""
        return self.regressions + self.improvements


def compare(base: Mapping[str, Utterance], cand: Mapping[str, Utterance]) -> Comparison:
    """Rank the ids both runs scored; ties by the larger per-sample change, then by id."""
    common = sorted(set(base) & set(cand))
    changes = [Change(base[i], cand[i]) for i in common if base[i].errors != cand[i].errors]
    worse = sorted((c for c in changes if c.delta > 0),
                   key=lambda c: (-c.delta, -(c.cand.rate - c.base.rate), c.id))
    better = sorted((c for c in changes if c.delta < 0),
                    key=lambda c: (c.delta, c.cand.rate - c.base.rate, c.id))
    return Comparison(worse, better, len(common) - len(changes), sorted(set(base) - set(cand)),
                      sorted(set(cand) - set(base)))


def corpus_score(utts: Sequence[Utterance], metric: str) -> float | None:
    """WER/CER as Σ errors / Σ reference tokens; accuracy as the share correct (percent)."""
    if not utts:
        return None
    if metric == "acc":
        return 100.0 * sum(1 - u.errors for u in utts) / len(utts)
    ref = sum(u.ref_tokens for u in utts)
    return 100.0 * sum(u.errors for u in utts) / ref if ref else None


@dataclass(frozen=True)
class Group:
    """One value of a group key (a speaker, a talk...) with its score and change."""

    key: str
    value: str
    n: int
    score: float | None
    base_score: float | None = None  # on the ids of the group the baseline also scored
    delta: float | None = None  # this run minus the baseline, on those same ids


def group_value(utt: Utterance, key: str) -> str:
    value = utt.meta.get(key)
    return NO_GROUP if value is None or value == "" else str(value)


def groups(cand: Mapping[str, Utterance], key: str, metric: str,
           base: Mapping[str, Utterance] | None = None) -> list[Group]:
    """Per-value scores for ``key``, worst first (highest WER/CER, lowest accuracy)."""
    members: dict[str, list[Utterance]] = {}
    for utt in cand.values():
        members.setdefault(group_value(utt, key), []).append(utt)
    out = []
    for value, utts in members.items():
        base_score = delta = None
        if base is not None:
            common = [u for u in utts if u.id in base]
            base_score = corpus_score([base[u.id] for u in common], metric)
            now = corpus_score(common, metric)
            if base_score is not None and now is not None:
                delta = now - base_score
        out.append(Group(key, value, len(utts), corpus_score(utts, metric), base_score, delta))
    sign = 1 if metric == "acc" else -1
    return sorted(out, key=lambda g: (sign * (g.score or 0.0), g.value))


def present_keys(cand: Mapping[str, Utterance], keys: Sequence[str]) -> list[str]:
    """The declared keys that at least one utterance carries (an hf copy may lack some)."""
    return [k for k in keys if any(group_value(u, k) != NO_GROUP for u in cand.values())]
