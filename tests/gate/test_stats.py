"""audiogate.gate.stats, tested statistically: exact small cases, injected regressions, pure noise.

Every random draw is seeded, so these tests are deterministic; the tolerances are the ones
a fresh seed would also pass with overwhelming probability (stated next to each).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from audiogate.gate import stats
from audiogate.gate.stats import (
    PairedResult,
    align_by_id,
    bootstrap_accuracy,
    bootstrap_corpus_rate,
    min_detectable_regression,
    paired_bootstrap,
    paired_bootstrap_accuracy,
    wilson_interval,
)

# A tiny corpus small enough to enumerate every bootstrap resample (4^4 = 256).
TINY_ERR = np.array([0, 1, 3, 2])
TINY_LEN = np.array([5, 8, 10, 4])


def synthetic(n: int, p: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-utterance (errors, ref_len): ref lens ~ Poisson(20)+1, errors ~ Binomial(len, p)."""
    lens = rng.poisson(20, n) + 1
    return rng.binomial(lens, p), lens


def exact_bootstrap(err: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Support and probabilities of the bootstrap corpus rate, by full enumeration."""
    n = err.size
    rates = [
        err[list(idx)].sum() / lens[list(idx)].sum() * 100
        for idx in itertools.product(range(n), repeat=n)
    ]
    values, counts = np.unique(np.round(rates, 9), return_counts=True)
    return values, counts / counts.sum()


def exact_quantile(values: np.ndarray, probs: np.ndarray, q: float) -> float:
    """Smallest support value whose CDF reaches q; asserts q is not near a CDF jump."""
    cdf = np.cumsum(probs)
    assert np.min(np.abs(cdf - q)) > 0.003, "pick data whose exact CDF is not near q"
    return float(values[np.searchsorted(cdf, q)])


# ------------------------------------------------------------------ bootstrap vs brute force


@pytest.mark.parametrize("offset", [0.0, 0.5], ids=["integer-packed", "fractional-float"])
def test_bootstrap_interval_matches_exact_enumeration(offset: float) -> None:
    err = TINY_ERR + offset
    values, probs = exact_bootstrap(err, TINY_LEN)
    got = bootstrap_corpus_rate(err, TINY_LEN, n_resamples=200_000, seed=1)
    # The exact CDF is > 0.003 away from 0.025/0.975; 200k resamples put the empirical
    # CDF within ~0.0003 (1 SE), so the percentile lands on the same support point.
    assert got.low == pytest.approx(exact_quantile(values, probs, 0.025))
    assert got.high == pytest.approx(exact_quantile(values, probs, 0.975))
    assert got.estimate == pytest.approx(err.sum() / TINY_LEN.sum() * 100)
    assert (got.confidence, got.n_resamples, got.method) == (
        0.95,
        200_000,
        "percentile bootstrap",
    )


def test_bootstrap_distribution_matches_exact_enumeration() -> None:
    values, probs = exact_bootstrap(TINY_ERR, TINY_LEN)
    cols = np.stack([TINY_ERR, TINY_LEN], axis=1)
    sums = stats._resample_sums(cols, 100_000, np.random.default_rng(2))
    rates = np.round(sums[:, 0] / sums[:, 1] * 100, 9)
    assert set(np.unique(rates)) <= set(values)
    empirical = np.array([(rates == v).mean() for v in values])
    # Each frequency has SE <= sqrt(.25/1e5) = 0.0016; 0.008 is 5 SE.
    np.testing.assert_allclose(empirical, probs, atol=0.008)


def test_bootstrap_matches_straightforward_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same rng stream, one resample at a time: identical interval, whatever the chunking."""
    rng = np.random.default_rng(7)
    err, lens = synthetic(37, 0.15, rng)
    loop_rng = np.random.default_rng(11)
    rates = []
    for _ in range(3_000):
        idx = loop_rng.integers(0, err.size, size=err.size)
        rates.append(err[idx].sum() / lens[idx].sum() * 100)
    want = np.quantile(rates, [0.025, 0.975])
    for chunk_elements in (stats.CHUNK_ELEMENTS, 37 * 5 + 3, 1):
        monkeypatch.setattr(stats, "CHUNK_ELEMENTS", chunk_elements)
        got = bootstrap_corpus_rate(err, lens, n_resamples=3_000, seed=11)
        np.testing.assert_allclose([got.low, got.high], want, rtol=1e-12)


def test_packed_and_float_paths_agree() -> None:
    rng = np.random.default_rng(3)
    cols = np.stack([*synthetic(500, 0.2, rng)], axis=1)
    packed = stats._resample_sums(cols, 400, np.random.default_rng(5))
    floats = stats._resample_sums(cols.astype(float), 400, np.random.default_rng(5))
    np.testing.assert_array_equal(packed, floats)
    big = cols * (1 << 40)  # too wide for one word: a word per column, same sums
    assert [len(word) for word in stats._packing(big) or []] == [1, 1]
    np.testing.assert_array_equal(
        stats._resample_sums(big, 400, np.random.default_rng(5)), packed * (1 << 40)
    )
    huge = np.array([[1 << 62, 1], [0, 2]])  # n × max needs 64 bits: the float path
    assert stats._packing(huge) is None
    np.testing.assert_array_equal(stats._resample_sums(huge, 50, np.random.default_rng(5)),
                                  _column_by_column(huge.astype(float), 50, 5))


def _column_by_column(cols: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """The reference: the same index stream, each column gathered and summed alone."""
    rng = np.random.default_rng(seed)
    n = cols.shape[0]
    chunk = max(1, stats.CHUNK_ELEMENTS // n)
    out = []
    for start in range(0, n_resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_resamples - start), n))
        out.append(np.stack([cols[:, j][idx].sum(axis=1) for j in range(cols.shape[1])],
                            axis=1))
    return np.concatenate(out).astype(np.float64)


@pytest.mark.parametrize("n, outlier", [(2_000, 0), (2_000, 1 << 22), (90_000, 0)],
                         ids=["one-word", "one-long-utterance", "paired-at-90k"])
def test_packed_words_give_the_column_by_column_sums(n: int, outlier: int) -> None:
    """The paired gate's three columns at any size: one word while they fit, more words
    (never a slower path) when a large set or one utterance with many errors widens them,
    and exactly the sums of gathering each column alone."""
    rng = np.random.default_rng(n)
    lens = rng.integers(4, 40, n)
    cols = np.stack([rng.binomial(lens, 0.1), rng.binomial(lens, 0.12), lens], axis=1)
    cols[n // 2, 1] += outlier
    words = stats._packing(cols)
    assert words is not None
    assert len(words) == (1 if n == 2_000 and not outlier else 2)
    np.testing.assert_array_equal(stats._resample_sums(cols, 60, np.random.default_rng(4)),
                                  _column_by_column(cols, 60, 4))
    result = stats.paired_bootstrap(cols[:, 0], cols[:, 2], cols[:, 1], cols[:, 2],
                                    n_resamples=60, seed=4)
    sums = _column_by_column(cols, 60, 4)
    deltas = (sums[:, 1] / sums[:, 2] - sums[:, 0] / sums[:, 2]) * 100
    assert (result.low, result.high) == stats._two_sided(deltas, 0.95)
    assert result.bound == float(np.nanquantile(deltas, 0.05))


def test_corpus_rate_is_a_ratio_of_sums_not_a_mean_of_rates() -> None:
    got = bootstrap_corpus_rate([1, 0], [1, 99], n_resamples=100)
    assert got.estimate == pytest.approx(1.0)  # mean of per-utterance rates would be 50


# ------------------------------------------------------------------ paired gate


def test_injected_regression_is_flagged() -> None:
    rng = np.random.default_rng(2024)
    base, lens = synthetic(2000, 0.10, rng)
    cand = rng.binomial(lens, 0.11)  # +1 absolute WER
    res = paired_bootstrap(base, lens, cand, lens, seed=1)
    assert res.worse
    assert res.n == 2000
    assert 0.5 < res.delta < 1.5
    assert res.low < res.bound < res.delta < res.high
    assert res.bound > 0
    assert res.verdict_line("test-other", "WER").endswith("vs baseline, worse at 95 %")
    # A one-point regression is within a 3-point margin.
    tolerant = paired_bootstrap(base, lens, cand, lens, margin=3.0, seed=1)
    assert not tolerant.worse
    assert tolerant.verdict_line("x", "WER").endswith("not worse by > 3.00 at 95 %")
    # An improvement is never "worse".
    assert not paired_bootstrap(cand, lens, base, lens, seed=1).worse


def test_pure_noise_is_flagged_at_no_more_than_the_nominal_rate() -> None:
    """Candidate = the same model re-run (same p): flagged in ~5 % of trials, not more."""
    trials, flagged, covered = 200, 0, 0
    for trial in range(trials):
        rng = np.random.default_rng(10_000 + trial)
        base, lens = synthetic(500, 0.12, rng)
        cand = rng.binomial(lens, 0.12)
        res = paired_bootstrap(base, lens, cand, lens, n_resamples=1_000, seed=trial)
        flagged += res.worse
        covered += res.low <= 0.0 <= res.high
    # Binomial(200, 0.05): mean 10, SD 3.1; allow mean + 3 SD.
    assert flagged <= 19, f"flagged {flagged}/200 re-runs of the same model"
    assert flagged >= 2, f"flagged {flagged}/200: the gate is far more lenient than 5 %"
    assert covered >= 200 - 19  # the two-sided 95 % interval covers the true delta 0


def test_paired_accuracy_gate() -> None:
    rng = np.random.default_rng(8)
    base = rng.random(1000) < 0.80
    cand = base.copy()
    flip = np.flatnonzero(base)[:60]  # candidate loses 60 of the baseline's hits: -6 points
    cand[flip] = False
    res = paired_bootstrap_accuracy(base, cand, seed=2)
    assert res.worse and not res.lower_is_better
    assert res.delta == pytest.approx(-6.0)
    assert res.bound < 0
    assert "-6.00 accuracy" in res.verdict_line("esc50", "accuracy")
    assert not paired_bootstrap_accuracy(base, base, seed=2).worse
    assert not paired_bootstrap_accuracy(cand, base, seed=2).worse  # an improvement


def test_paired_handles_different_reference_lengths() -> None:
    """Runs normalised differently can disagree on ref lens; the 4-column path copes."""
    rng = np.random.default_rng(9)
    base, lens = synthetic(800, 0.10, rng)
    res = paired_bootstrap(base, lens, base, lens + 1, n_resamples=2_000)
    want = (base.sum() / (lens + 1).sum() - base.sum() / lens.sum()) * 100
    assert res.delta == pytest.approx(want)
    assert res.low <= want <= res.high


def test_verdict_line_format() -> None:
    res = PairedResult(
        delta=0.6123,
        low=0.2214,
        high=1.0271,
        bound=0.29,
        worse=True,
        n=2939,
        margin=0.0,
        confidence=0.95,
        lower_is_better=True,
        n_resamples=10_000,
    )
    assert (
        res.verdict_line("test-other", "WER")
        == "test-other: +0.61 WER [+0.22, +1.03] vs baseline, worse at 95 %"
    )
    assert res.describe("WER") == "+0.61 WER [+0.22, +1.03] vs baseline, worse at 95 %"


def test_paired_refuses_misaligned_arrays() -> None:
    with pytest.raises(ValueError, match="align_by_id"):
        paired_bootstrap([1, 2], [5, 5], [1, 2, 3], [5, 5, 5])
    with pytest.raises(ValueError, match="margin"):
        paired_bootstrap([1], [5], [1], [5], margin=-1)


@pytest.mark.parametrize(
    ("errors", "lens", "match"),
    [
        ([1, 2], [5], "2 values"),
        ([], [], "non-empty"),
        ([-1], [3], "non-negative"),
        ([0], [0], "sums to 0"),
    ],
)
def test_bad_inputs_are_refused(errors: list[int], lens: list[int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bootstrap_corpus_rate(errors, lens)


# ------------------------------------------------------------------ accuracy and Wilson


def test_wilson_interval_known_values() -> None:
    # By hand: z = 1.959964, centre = (0.73 + z²/200)/(1 + z²/100) = 0.721491,
    # half = z/(1 + z²/100)·sqrt(0.73·0.27/100 + z²/40000) = 0.085813.
    w = wilson_interval(73, 100)
    assert (w.estimate, w.method, w.n_resamples) == (73.0, "wilson", 0)
    assert w.low == pytest.approx(63.568, abs=1e-3)
    assert w.high == pytest.approx(80.730, abs=1e-3)
    # k = 0: low is exactly 0, high = z²/(n + z²).
    z2 = 1.959964**2
    w0 = wilson_interval(0, 10)
    assert w0.low == 0.0
    assert w0.high == pytest.approx(z2 / (10 + z2) * 100, rel=1e-6)
    assert wilson_interval(10, 10).high == 100.0
    assert stats._z(0.95) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_bootstrap_accuracy_agrees_with_wilson() -> None:
    correct = np.random.default_rng(4).random(1000) < 0.73
    boot = bootstrap_accuracy(correct, n_resamples=5_000, seed=3)
    wil = wilson_interval(int(correct.sum()), correct.size)
    assert boot.estimate == pytest.approx(wil.estimate)
    # Half-widths are ~2.8 points; bootstrap Monte-Carlo error is ~0.1.
    assert boot.low == pytest.approx(wil.low, abs=0.5)
    assert boot.high == pytest.approx(wil.high, abs=0.5)


# ------------------------------------------------------------------ alignment


def test_align_by_id_pairs_and_reports_ids_in_one_run_only() -> None:
    base = {"a": (1, 10), "b": (2, 20), "c": (0, 5), "gone": (9, 9)}
    cand = {"c": (1, 5), "a": (3, 10), "new": (0, 1), "b": (2, 21)}
    got = align_by_id(base, cand)
    assert got.ids == ["a", "b", "c"]
    np.testing.assert_array_equal(got.base_err, [1, 2, 0])
    np.testing.assert_array_equal(got.base_len, [10, 20, 5])
    np.testing.assert_array_equal(got.cand_err, [3, 2, 1])
    np.testing.assert_array_equal(got.cand_len, [10, 21, 5])
    assert got.only_in_base == ["gone"]
    assert got.only_in_cand == ["new"]
    ids, *_rest, only_base, only_cand = got  # unpacks as the plain 7-tuple too
    assert (ids, only_base, only_cand) == (["a", "b", "c"], ["gone"], ["new"])
    empty = align_by_id({"x": (1, 2)}, {})
    assert empty.ids == [] and empty.base_err.shape == (0,) and empty.only_in_base == ["x"]


# ------------------------------------------------------------------ min detectable regression


def test_min_detectable_regression_shrinks_like_one_over_sqrt_n() -> None:
    rng = np.random.default_rng(12)
    mdr = [min_detectable_regression(*synthetic(n, 0.10, rng), seed=1) for n in (500, 2000, 8000)]
    assert mdr[0] > mdr[1] > mdr[2] > 0
    for bigger, smaller in itertools.pairwise(mdr):
        assert 1.6 < bigger / smaller < 2.5  # 4x the utterances: ~2x smaller
    # Matches the linearised (delta-method) formula for a ratio estimator within 10 %.
    err, lens = synthetic(2000, 0.10, rng)
    rate = err.sum() / lens.sum()
    se = math.sqrt(((err - rate * lens) ** 2).sum()) / lens.sum() * 100
    want = (1.644854 + 0.841621) * math.sqrt(2) * se
    assert min_detectable_regression(err, lens) == pytest.approx(want, rel=0.1)
    # Correlated systems make the paired gate more sensitive.
    assert min_detectable_regression(err, lens, correlation=0.5) < min_detectable_regression(
        err, lens
    )


def test_a_regression_of_the_min_detectable_size_is_detected_most_of_the_time() -> None:
    rng = np.random.default_rng(13)
    n, p = 2000, 0.10
    mdr = min_detectable_regression(*synthetic(n, p, rng))
    trials, detected, detected_third = 40, 0, 0
    for trial in range(trials):
        base, lens = synthetic(n, p, rng)
        cand = rng.binomial(lens, p + mdr / 100)
        cand_third = rng.binomial(lens, p + mdr / 300)
        kw = {"n_resamples": 500, "seed": trial}
        detected += paired_bootstrap(base, lens, cand, lens, **kw).worse
        detected_third += paired_bootstrap(base, lens, cand_third, lens, **kw).worse
    # Nominal power 0.8: Binomial(40, 0.8) has SD 2.5 detections; a third of the size
    # has power ~0.2.
    assert 24 <= detected <= 39, f"detected {detected}/40 at the min detectable size"
    assert detected_third < detected


def test_paired_gates_refuse_runs_of_different_sizes() -> None:
    with pytest.raises(ValueError, match="baseline has 3 samples but candidate has 2; align"):
        paired_bootstrap([1, 0, 2], [5, 5, 5], [1, 0], [5, 5])
    with pytest.raises(ValueError, match="baseline has 3 samples but candidate has 2; align"):
        paired_bootstrap_accuracy([1, 0, 1], [1, 1])
