"""Benchmark: scoring a 3,000-utterance pair under one protocol vs under both.

The pair is LibriSpeech-style: references are spans of the real transcripts in
data/LibriSpeech/*/*/*/*.trans.txt, hypotheses the same words perturbed the way
models differ from them (case and punctuation, digits for number words, contractions,
titles, British spellings, a substitution, a deletion, an insertion), deterministically
seeded per utterance. Every text is distinct and every normalizer cache is cleared before
each round, so each round normalizes everything cold.

Reports the median seconds of the gating protocol alone (UltraEval-Audio) and of both
protocols, and their ratio (goal <= 2), in CPU time of this process (the machine is shared,
so wall time swings with other people's jobs) and in wall time. It asserts only that the
gating protocol's number is the same either way — never on time.

Run: .venv/bin/pytest tests/perf/test_perf_scoring.py --run-perf -q -s
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path

import pytest

from audiogate.registry import load as registry
from audiogate.scoring.english import clear_caches
from audiogate.scoring.open_asr_english import normalize_open_asr_english
from audiogate.scoring.pair import Outcome, score_asr

N_UTTERANCES = 3_000
ROUNDS = 7
GOAL = 2.0

_NUMBERS = {"ONE": "1", "TWO": "2", "THREE": "3", "FOUR": "4", "FIVE": "5", "TEN": "10",
            "TWENTY": "20", "HUNDRED": "100", "FIRST": "1st", "SECOND": "2nd"}
_REWRITES = {"MISTER": "Mr.", "DOCTOR": "Dr.", "SAINT": "St.", "DO NOT": "don't",
             "IT IS": "it's", "I AM": "I'm", "CAN NOT": "can't", "COLOUR": "color",
             "HONOUR": "honor", "ALL RIGHT": "alright", "TO DAY": "today"}
_FILLERS = ["the", "a", "and", "uh", "um", "well", "oh"]


def _transcripts(data: Path) -> list[list[str]]:
    lines = []
    for path in sorted(data.glob("LibriSpeech/*/*/*/*.trans.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            _, _, text = line.partition(" ")
            lines.append(text.split())
    return lines


def _hypothesis(words: list[str], rng: random.Random) -> str:
    text = " ".join(words)
    for old, new in _REWRITES.items():
        if rng.random() < 0.5:
            text = text.replace(old, new)
    out = [_NUMBERS.get(w, w) if rng.random() < 0.7 else w for w in text.split()]
    if len(out) > 3:
        i = rng.randrange(len(out))
        out[i] = out[i][::-1].lower()  # a substitution
        del out[rng.randrange(len(out))]  # a deletion
        out.insert(rng.randrange(len(out)), rng.choice(_FILLERS))  # an insertion
    sentence = " ".join(w.lower() if rng.random() < 0.8 else w for w in out)
    sentence = sentence[:1].upper() + sentence[1:]
    if rng.random() < 0.5 and " " in sentence:
        head, _, tail = sentence.partition(" ")
        sentence = f"{head}, {tail}"
    return sentence + rng.choice([".", "!", "?", ""])


def make_pair(data: Path, n: int = N_UTTERANCES) -> list[Outcome]:
    """n distinct (reference, hypothesis) outcomes from the real transcripts."""
    transcripts = _transcripts(data)
    outcomes = []
    seen: set[str] = set()
    i = 0
    while len(outcomes) < n:
        rng = random.Random(i)
        words = transcripts[i % len(transcripts)]
        start = rng.randrange(max(1, len(words) - 4))
        span = words[start:start + rng.randint(4, 30)]
        ref = " ".join(span)
        i += 1
        if ref in seen:
            continue
        seen.add(ref)
        hyp = _hypothesis(span, rng)
        outcomes.append(Outcome(f"u{i:05d}", ref, None, hyp, hyp, None,
                                seconds=0.1, audio_seconds=len(span) * 0.4))
    return outcomes


def _clear_caches() -> None:
    from audiogate.scoring.open_asr_multilingual import normalize_open_asr_multilingual

    clear_caches()
    for cached in (normalize_open_asr_english, normalize_open_asr_multilingual):
        cached.cache_clear()


@pytest.mark.parametrize("n", [N_UTTERANCES])
def test_both_protocols_cost_at_most_twice_one(shared_data: Path, n: int) -> None:
    spec = registry.dataset("librispeech-test-clean")
    every = registry.protocols()
    gating_only = {spec.protocol: every[spec.protocol]}
    outcomes = make_pair(shared_data, n)
    assert len({o.reference for o in outcomes}) == n
    score_asr(spec, outcomes[:50], every)  # imports and normalizer objects, once

    cpu: dict[str, list[float]] = {"one": [], "both": []}
    wall: dict[str, list[float]] = {"one": [], "both": []}
    results = {}
    for _ in range(ROUNDS):  # alternate, so a busy machine slows both alike
        for label, known in (("one", gating_only), ("both", every)):
            _clear_caches()
            started, started_cpu = time.perf_counter(), time.process_time()
            results[label], _ = score_asr(spec, outcomes, known)
            cpu[label].append(time.process_time() - started_cpu)
            wall[label].append(time.perf_counter() - started)
    one, both = statistics.median(cpu["one"]), statistics.median(cpu["both"])
    one_wall, both_wall = statistics.median(wall["one"]), statistics.median(wall["both"])
    oasr = results["both"].protocols["open-asr"]
    print(f"\nscoring {n} utterances, medians of {ROUNDS} rounds: gating protocol only "
          f"{one:.3f} s CPU ({one_wall:.3f} s wall), both protocols {both:.3f} s CPU "
          f"({both_wall:.3f} s wall); ratio {both / one:.2f} CPU, {both_wall / one_wall:.2f} "
          f"wall (goal <= {GOAL}); WER ultraeval-audio {results['one'].value:.2f}, "
          f"open-asr {oasr.reported:.2f}")
    assert results["both"].value == results["one"].value
    assert results["one"].scored == n
