"""Benchmarks for audiogate.gate.stats (report only: benchmarks do not assert on time).

Run: .venv/bin/pytest tests/perf -q  (add --benchmark-disable to run each once, untimed).
"""

from __future__ import annotations

import numpy as np
import pytest

from audiogate.gate.stats import bootstrap_corpus_rate, paired_bootstrap

N_UTTERANCES = 3_000
N_RESAMPLES = 10_000


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A LibriSpeech-sized test set: ref lens ~ Poisson(20)+1, WER ~10 % and ~11 %."""
    rng = np.random.default_rng(0)
    lens = rng.poisson(20, N_UTTERANCES) + 1
    return rng.binomial(lens, 0.10), rng.binomial(lens, 0.11), lens


def test_bootstrap_corpus_rate_10k_x_3k(benchmark, corpus) -> None:
    base, _, lens = corpus
    result = benchmark.pedantic(
        bootstrap_corpus_rate,
        args=(base, lens),
        kwargs={"n_resamples": N_RESAMPLES},
        rounds=5,
        iterations=1,
    )
    if benchmark.stats:  # None under --benchmark-disable
        print(
            f"\nbootstrap_corpus_rate {N_RESAMPLES}x{N_UTTERANCES}: "
            f"{benchmark.stats.stats.median:.3f} s median; {result}"
        )
    assert result.low < result.estimate < result.high


def test_paired_bootstrap_10k_x_3k(benchmark, corpus) -> None:
    base, cand, lens = corpus
    result = benchmark.pedantic(
        paired_bootstrap,
        args=(base, lens, cand, lens),
        kwargs={"n_resamples": N_RESAMPLES},
        rounds=5,
        iterations=1,
    )
    if benchmark.stats:
        print(
            f"\npaired_bootstrap {N_RESAMPLES}x{N_UTTERANCES}: "
            f"{benchmark.stats.stats.median:.3f} s median; {result.verdict_line('x', 'WER')}"
        )
    assert result.low < result.delta < result.high
