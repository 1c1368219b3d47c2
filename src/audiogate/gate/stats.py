"""Statistics for gates that know noise from regression.

A single WER number on a few thousand utterances moves by tenths of a point between runs
that differ only in which utterances happen to be hard. These helpers put an interval on
every score and let a release gate compare a candidate with its baseline *on the same
utterances* (a paired bootstrap), so it fails on regressions, not on noise.

Conventions:

* Rates are in percent (WER 12.3 means 12.3 %); deltas are in percentage points.
* Corpus rates are Σerrors / Σref_lens × 100, the way leaderboards score, never a mean of
  per-utterance rates. The bootstrap resamples *utterances* and recomputes that ratio.
* Everything is seeded (``seed=``) so a gate gives the same verdict on the same data.
* Pure numpy, vectorized: indices are drawn in chunks of about ``CHUNK_ELEMENTS`` so
  memory stays bounded (~16 MB) whatever the dataset size. Integer columns are bit-packed
  into as few int64 words as they fit (one, up to tens of thousands of utterances), so each
  resample needs one gather and one sum per word; this measured ~10x faster than the
  multinomial-counts trick (``rng.multinomial`` with thousands of categories is slow) and
  ~1.4x faster than gathering each column separately.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Aligned",
    "Interval",
    "PairedRatio",
    "PairedResult",
    "align_by_id",
    "bootstrap_accuracy",
    "bootstrap_corpus_rate",
    "bootstrap_mean",
    "bootstrap_quantile",
    "bootstrap_ratio_of_sums",
    "min_detectable_regression",
    "paired_bootstrap",
    "paired_bootstrap_accuracy",
    "paired_bootstrap_mean",
    "paired_median_ratio",
    "wilson_interval",
]

#: Index elements drawn per chunk (int64: 8 MB of indices + 8 MB gathered values).
CHUNK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class Interval:
    """A point estimate in percent with a two-sided interval at ``confidence``."""

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int  # 0 for closed-form intervals (Wilson)
    method: str  # "percentile bootstrap" or "wilson"

    def __str__(self) -> str:
        return (
            f"{self.estimate:.2f} [{self.low:.2f}, {self.high:.2f}] "
            f"({_pct(self.confidence)} {self.method})"
        )


@dataclass(frozen=True)
class PairedResult:
    """Candidate minus baseline on the same utterances, and whether that is a regression.

    ``delta``/``low``/``high`` are in percentage points (candidate − baseline) with a
    two-sided interval at ``confidence``. ``bound`` is the one-sided bound the verdict uses:
    the lower bound for lower-is-better metrics (WER, CER), the upper bound otherwise.
    """

    delta: float
    low: float
    high: float
    bound: float
    worse: bool
    n: int
    margin: float
    confidence: float
    lower_is_better: bool
    n_resamples: int

    def describe(self, metric: str) -> str:
        """What the test found, in words that name no verdict (a pair's status is the AND of
        its gates, so "pass" here could contradict it), e.g.
        ``+0.61 WER [+0.22, +1.03] vs baseline, worse at 95 %``."""
        worse = "worse" if self.margin == 0 else f"worse by > {self.margin:.2f}"
        found = worse if self.worse else f"not {worse}"
        return (f"{self.delta:+.2f} {metric} [{self.low:+.2f}, {self.high:+.2f}] vs baseline, "
                f"{found} at {_pct(self.confidence)}")

    def verdict_line(self, pair_name: str, metric: str) -> str:
        """One line for a gate report, e.g.
        ``test-other: +0.61 WER [+0.22, +1.03] vs baseline, worse at 95 %``."""
        return f"{pair_name}: {self.describe(metric)}"


class Aligned(NamedTuple):
    """Per-sample results of two runs paired on sample id (see :func:`align_by_id`)."""

    ids: list[str]
    base_err: NDArray[np.int64]
    base_len: NDArray[np.int64]
    cand_err: NDArray[np.int64]
    cand_len: NDArray[np.int64]
    only_in_base: list[str]
    only_in_cand: list[str]


# --------------------------------------------------------------------------- single runs


def bootstrap_corpus_rate(
    errors: ArrayLike,
    ref_lens: ArrayLike,
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile-bootstrap interval of the corpus error rate Σerrors/Σref_lens × 100.

    Utterances (not words) are resampled with replacement because errors cluster within an
    utterance; resampling words would pretend they are independent and give too narrow an
    interval.
    """
    err, lens = _check_pair(errors, ref_lens, "errors", "ref_lens")
    _check_options(n_resamples, confidence)
    sums = _resample_sums(np.stack([err, lens], axis=1), n_resamples, _rng(seed))
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = sums[:, 0] / sums[:, 1] * 100.0
    low, high = _two_sided(rates, confidence)
    return Interval(
        estimate=float(err.sum() / lens.sum() * 100.0),
        low=low,
        high=high,
        confidence=confidence,
        n_resamples=n_resamples,
        method="percentile bootstrap",
    )


def bootstrap_accuracy(
    correct: ArrayLike,
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile-bootstrap interval of accuracy (mean of ``correct`` × 100)."""
    ok = _check_correct(correct, "correct")
    _check_options(n_resamples, confidence)
    sums = _resample_sums(ok[:, None], n_resamples, _rng(seed))
    low, high = _two_sided(sums[:, 0] / ok.size * 100.0, confidence)
    return Interval(
        estimate=float(ok.mean() * 100.0),
        low=low,
        high=high,
        confidence=confidence,
        n_resamples=n_resamples,
        method="percentile bootstrap",
    )


def bootstrap_mean(
    values: ArrayLike,
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile-bootstrap interval of the mean of per-sample values, in their own unit
    (speaker similarity, DNSMOS, a per-utterance WER in percent): utterances resampled."""
    arr = _check_values(values, "values")
    _check_options(n_resamples, confidence)
    sums = _resample_sums(arr[:, None], n_resamples, _rng(seed))
    low, high = _two_sided(sums[:, 0] / arr.size, confidence)
    return Interval(estimate=float(arr.mean()), low=low, high=high, confidence=confidence,
                    n_resamples=n_resamples, method="percentile bootstrap")


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for k successes in n trials, in percent.

    Closed form, so it cross-checks :func:`bootstrap_accuracy`; unlike the plain normal
    interval it stays inside [0, 100] and behaves near 0 % and 100 %.
    """
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"wilson_interval needs 0 <= k <= n and n > 0, got k={k}, n={n}")
    _check_options(1, confidence)
    z = _z(confidence)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(
        estimate=p * 100.0,
        low=0.0 if k == 0 else max(0.0, centre - half) * 100.0,  # exact ends, no rounding
        high=100.0 if k == n else min(1.0, centre + half) * 100.0,
        confidence=confidence,
        n_resamples=0,
        method="wilson",
    )


# --------------------------------------------------------------------------- paired gate


def paired_bootstrap(
    base_errors: ArrayLike,
    base_lens: ArrayLike,
    cand_errors: ArrayLike,
    cand_lens: ArrayLike,
    *,
    margin: float = 0.0,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    lower_is_better: bool = True,
) -> PairedResult:
    """Paired bootstrap of candidate − baseline corpus rate on the same utterances.

    Arrays must be aligned on the same sample ids (see :func:`align_by_id`). Each resample
    draws one set of utterance indices and scores both systems on it, so the shared
    difficulty of utterances cancels and the interval is far tighter than comparing two
    independent intervals.

    ``worse`` is True when the candidate is worse than the baseline by more than ``margin``
    percentage points with one-sided confidence ``confidence``: for lower-is-better metrics
    the ``1 − confidence`` quantile of the bootstrap deltas exceeds ``margin``; otherwise
    the ``confidence`` quantile is below ``−margin``.
    """
    b_err, b_len = _check_pair(base_errors, base_lens, "base_errors", "base_lens")
    c_err, c_len = _check_pair(cand_errors, cand_lens, "cand_errors", "cand_lens")
    return _paired(
        b_err, b_len, c_err, c_len, margin, confidence, n_resamples, seed, lower_is_better
    )


def paired_bootstrap_accuracy(
    base_correct: ArrayLike,
    cand_correct: ArrayLike,
    *,
    margin: float = 0.0,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> PairedResult:
    """Paired bootstrap of candidate − baseline accuracy (higher is better), in points."""
    b_ok = _check_correct(base_correct, "base_correct")
    c_ok = _check_correct(cand_correct, "cand_correct")
    ones = np.ones_like(b_ok)
    return _paired(b_ok, ones, c_ok, ones, margin, confidence, n_resamples, seed, False)


def paired_bootstrap_mean(
    base_values: ArrayLike,
    cand_values: ArrayLike,
    *,
    margin: float = 0.0,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    lower_is_better: bool = False,
) -> PairedResult:
    """Paired bootstrap of candidate − baseline mean of per-sample values on the same
    utterances, in the values' own unit (``margin`` too)."""
    base = _check_values(base_values, "base_values")
    cand = _check_values(cand_values, "cand_values")
    if base.size != cand.size:
        raise ValueError(f"baseline has {base.size} samples but candidate has {cand.size}; "
                         "align them by sample id first")
    _check_options(n_resamples, confidence)
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    sums = _resample_sums(np.stack([base, cand], axis=1), n_resamples, _rng(seed))
    return _paired_result(float(cand.mean() - base.mean()), (sums[:, 1] - sums[:, 0]) / base.size,
                          int(base.size), margin, confidence, n_resamples, lower_is_better)


def align_by_id(
    base: Mapping[str, tuple[int, int]], cand: Mapping[str, tuple[int, int]]
) -> Aligned:
    """Pair per-sample ``(errors, ref_len)`` results of two runs by sample id.

    Only ids present in both runs can be compared; the others are returned (sorted) so the
    caller can report them instead of silently scoring different utterance sets. Common ids
    come back sorted, which keeps the paired bootstrap deterministic for a given seed.
    """
    common = sorted(base.keys() & cand.keys())
    only_in_base = sorted(base.keys() - cand.keys())
    only_in_cand = sorted(cand.keys() - base.keys())
    b = np.array([base[i] for i in common], dtype=np.int64).reshape(-1, 2)
    c = np.array([cand[i] for i in common], dtype=np.int64).reshape(-1, 2)
    return Aligned(common, b[:, 0], b[:, 1], c[:, 0], c[:, 1], only_in_base, only_in_cand)


def min_detectable_regression(
    errors: ArrayLike,
    ref_lens: ArrayLike,
    *,
    confidence: float = 0.95,
    power: float = 0.8,
    n_resamples: int = 2_000,
    seed: int = 0,
    correlation: float = 0.0,
) -> float:
    """Smallest increase in corpus rate (points) the paired gate detects with ``power``.

    Normal approximation. Let SE be the bootstrap standard error of this run's corpus rate.
    Assumptions: the candidate's per-utterance errors have the same spread as the
    baseline's, with correlation ``correlation`` between the two systems' per-utterance
    residuals (errors − rate × ref_len) — so the paired delta has standard error
    SE_d = SE·√(2(1 − correlation)) — and the bootstrap delta is roughly normal. The gate
    (margin 0) flags when delta − z_conf·SE_d > 0, so it flags a true regression δ with
    probability ``power`` once δ ≥ (z_conf + z_power)·SE_d, with one-sided quantiles
    z_conf = Φ⁻¹(confidence), z_power = Φ⁻¹(power).

    The default correlation 0 (two independent runs of one model, the noise a re-run
    gives) is conservative: real model pairs make correlated mistakes, which shrinks SE_d.
    With a gate margin m the detectable regression is m plus this value. Scales as 1/√n.
    """
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if not -1.0 <= correlation < 1.0:
        raise ValueError(f"correlation must be in [-1, 1), got {correlation}")
    err, lens = _check_pair(errors, ref_lens, "errors", "ref_lens")
    _check_options(n_resamples, confidence)
    sums = _resample_sums(np.stack([err, lens], axis=1), n_resamples, _rng(seed))
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = sums[:, 0] / sums[:, 1] * 100.0
    se = float(np.nanstd(rates, ddof=1))
    se_delta = se * math.sqrt(2.0 * (1.0 - correlation))
    normal = NormalDist()
    return (normal.inv_cdf(confidence) + normal.inv_cdf(power)) * se_delta


# --------------------------------------------------------------------------- timings


@dataclass(frozen=True)
class PairedRatio:
    """The median of candidate / baseline per-sample ratios (latencies) on the same ids,
    with its percentile-bootstrap interval. ``bound`` is the one-sided lower bound the
    verdict uses: ``worse`` when even it exceeds ``1 + margin`` (slower by more than the
    margin, at one-sided ``confidence``)."""

    median: float
    low: float
    high: float
    bound: float
    worse: bool
    n: int
    margin: float
    confidence: float
    n_resamples: int

    def describe(self, what: str = "latency") -> str:
        """e.g. ``latency ×1.31 [×1.27, ×1.35] of the baseline's (median of 83 per-sample
        ratios), slower by > 10 % at 95 %`` — the finding, in words naming no verdict."""
        slower = "slower" if self.margin == 0 else f"slower by > {self.margin * 100:g} %"
        found = slower if self.worse else f"not {slower}"
        return (f"{what} ×{self.median:.3f} [×{self.low:.3f}, ×{self.high:.3f}] of the "
                f"baseline's (median of {self.n} per-sample ratios), {found} at "
                f"{_pct(self.confidence)}")


def bootstrap_quantile(
    values: ArrayLike,
    q: float,
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile-bootstrap interval of the ``q`` quantile of ``values`` (numpy's linear
    interpolation). Samples are resampled, as for the corpus rates; a tail quantile of few
    samples (p99 of 100) has a wide interval, which is the honest answer."""
    vals = _check_nonnegative(values, "values")
    _check_options(n_resamples, confidence)
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q}")
    stats = _resample_quantile(vals, q, n_resamples, _rng(seed))
    low, high = _two_sided(stats, confidence)
    return Interval(float(np.quantile(vals, q)), low, high, confidence, n_resamples,
                    "percentile bootstrap")


def bootstrap_ratio_of_sums(
    numerators: ArrayLike,
    denominators: ArrayLike,
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile-bootstrap interval of Σnumerators / Σdenominators (RTFx: Σ audio seconds
    / Σ seconds of compute), samples resampled."""
    num = _check_nonnegative(numerators, "numerators")
    den = _check_nonnegative(denominators, "denominators")
    if num.size != den.size:
        raise ValueError(f"numerators has {num.size} values but denominators has {den.size}")
    if den.sum() <= 0:
        raise ValueError("denominators sum to 0")
    _check_options(n_resamples, confidence)
    sums = _resample_sums(np.stack([num, den], axis=1), n_resamples, _rng(seed))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = sums[:, 0] / sums[:, 1]
    low, high = _two_sided(ratios, confidence)
    return Interval(float(num.sum() / den.sum()), low, high, confidence, n_resamples,
                    "percentile bootstrap")


def paired_median_ratio(
    base: ArrayLike,
    cand: ArrayLike,
    *,
    margin: float = 0.0,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> PairedRatio:
    """Paired bootstrap of the median per-sample ratio cand / base (aligned on the same ids).

    Each sample is its own control: a long recording is slow in both runs, so the ratio
    cancels it, and the median keeps one stalled request (a loaded machine) from moving
    the verdict. ``margin`` is the slowdown tolerated (0.10: 10 %)."""
    b = _check_nonnegative(base, "base")
    c = _check_nonnegative(cand, "cand")
    if b.size != c.size:
        raise ValueError(f"baseline has {b.size} samples but candidate has {c.size}; "
                         "align them by sample id first")
    if np.any(b <= 0):
        raise ValueError("baseline values must be positive (a ratio divides by them)")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    _check_options(n_resamples, confidence)
    ratios = c / b
    medians = _resample_quantile(ratios, 0.5, n_resamples, _rng(seed))
    low, high = _two_sided(medians, confidence)
    bound = float(np.quantile(medians, 1.0 - confidence))
    return PairedRatio(float(np.median(ratios)), low, high, bound, bound > 1.0 + margin,
                       int(b.size), float(margin), confidence, n_resamples)


# --------------------------------------------------------------------------- internals


def _resample_quantile(values: NDArray[np.float64], q: float, n_resamples: int,
                       rng: np.random.Generator) -> NDArray[np.float64]:
    """The ``q`` quantile of each of ``n_resamples`` bootstrap resamples of ``values``,
    drawn in chunks of about CHUNK_ELEMENTS indices (the same stream as _resample_sums)."""
    n = values.size
    out = np.empty(n_resamples, dtype=np.float64)
    chunk = max(1, CHUNK_ELEMENTS // n)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = np.quantile(values[idx], q, axis=1)
    return out


def _check_nonnegative(values: ArrayLike, name: str) -> NDArray[np.float64]:
    """1-D, non-empty, finite, non-negative numbers (seconds, ratios) as float64."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    return arr



def _paired(
    b_num: NDArray[np.int64],
    b_den: NDArray[np.int64],
    c_num: NDArray[np.int64],
    c_den: NDArray[np.int64],
    margin: float,
    confidence: float,
    n_resamples: int,
    seed: int,
    lower_is_better: bool,
) -> PairedResult:
    """Shared core: resample utterance indices once, score both systems on them."""
    if b_num.size != c_num.size:
        raise ValueError(
            f"baseline has {b_num.size} samples but candidate has {c_num.size}; "
            "align them by sample id first (align_by_id)"
        )
    _check_options(n_resamples, confidence)
    if margin < 0:
        raise ValueError(f"margin must be >= 0 (points of tolerated regression), got {margin}")
    # References are normally identical for both runs; then one denominator column serves
    # both, and three columns pack into one int64 more often than four.
    same_den = np.array_equal(b_den, c_den)
    cols = [b_num, c_num, b_den] if same_den else [b_num, c_num, b_den, c_den]
    sums = _resample_sums(np.stack(cols, axis=1), n_resamples, _rng(seed))
    with np.errstate(divide="ignore", invalid="ignore"):
        deltas = (sums[:, 1] / sums[:, 2 if same_den else 3] - sums[:, 0] / sums[:, 2]) * 100
    delta = (c_num.sum() / c_den.sum() - b_num.sum() / b_den.sum()) * 100.0
    return _paired_result(float(delta), deltas, int(b_num.size), margin, confidence,
                          n_resamples, lower_is_better)


def _paired_result(delta: float, deltas: NDArray[np.float64], n: int, margin: float,
                   confidence: float, n_resamples: int, lower_is_better: bool) -> PairedResult:
    """The verdict on bootstrap deltas (candidate − baseline): worse when the one-sided
    bound at ``confidence`` lies beyond ``margin`` in the worse direction."""
    low, high = _two_sided(deltas, confidence)
    if lower_is_better:
        bound = float(np.nanquantile(deltas, 1.0 - confidence))
        worse = bound > margin
    else:
        bound = float(np.nanquantile(deltas, confidence))
        worse = bound < -margin
    return PairedResult(delta=delta, low=low, high=high, bound=bound, worse=bool(worse), n=n,
                        margin=float(margin), confidence=confidence,
                        lower_is_better=lower_is_better, n_resamples=n_resamples)


def _resample_sums(
    columns: NDArray[np.int64] | NDArray[np.float64], n_resamples: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Column sums of ``n_resamples`` bootstrap resamples of the rows of ``columns`` (n, k).

    Row indices come from ``rng.integers(0, n, size=(chunk, n))`` chunk after chunk, which
    is the same stream as drawing one resample at a time, so results do not depend on the
    chunk size. Non-negative integer columns are packed side by side into as few int64
    words as they fit (each gets enough bits for n × its max, so sums cannot carry into the
    next column): one gather and one sum per word, whatever the size of the set, so the
    cost per utterance does not jump when the columns stop fitting one word. Every sum is
    an exact integer, so the result is the same whichever words the columns land in.
    """
    n, k = columns.shape
    out = np.empty((n_resamples, k), dtype=np.float64)
    chunk = max(1, CHUNK_ELEMENTS // n)
    words = _packing(columns)
    if words is not None:
        packed = []
        for word in words:
            value = np.zeros(n, dtype=np.int64)
            for j, shift, _ in word:
                value |= columns[:, j].astype(np.int64) << shift
            packed.append(value)
        for start in range(0, n_resamples, chunk):
            stop = min(start + chunk, n_resamples)
            idx = rng.integers(0, n, size=(stop - start, n))
            for value, word in zip(packed, words, strict=True):
                tot = value[idx].sum(axis=1)
                for j, shift, mask in word:
                    out[start:stop, j] = (tot >> shift) & mask
        return out
    values = [np.ascontiguousarray(columns[:, j], dtype=np.float64) for j in range(k)]
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        for j in range(k):
            out[start:stop, j] = values[j][idx].sum(axis=1)
    return out


def _packing(columns: NDArray[np.int64] | NDArray[np.float64]
             ) -> list[list[tuple[int, int, int]]] | None:
    """The int64 words the columns pack into, each a list of (column, bit offset, mask), in
    column order; None for float columns or a column too wide for a word of its own."""
    if not np.issubdtype(columns.dtype, np.integer) or columns.size == 0:
        return None
    n = columns.shape[0]
    words: list[list[tuple[int, int, int]]] = []
    used = 63
    for j in range(columns.shape[1]):
        bits = max(1, (n * int(columns[:, j].max())).bit_length())
        if bits > 63:
            return None
        if used + bits > 63:
            words.append([])
            used = 0
        words[-1].append((j, used, (1 << bits) - 1))
        used += bits
    return words


def _two_sided(values: NDArray[np.float64], confidence: float) -> tuple[float, float]:
    """Percentile interval; resamples with a zero denominator (nan) are ignored."""
    alpha = 1.0 - confidence
    low, high = np.nanquantile(values, [alpha / 2, 1.0 - alpha / 2])
    return float(low), float(high)


def _z(confidence: float) -> float:
    """Two-sided standard-normal quantile: 1.96 for 0.95."""
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _pct(confidence: float) -> str:
    return f"{confidence * 100:g} %"


def _check_options(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _check_pair(
    errors: ArrayLike, ref_lens: ArrayLike, err_name: str, len_name: str
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """1-D, same length, non-empty, finite, non-negative; integers stay integers."""
    err, lens = np.asarray(errors), np.asarray(ref_lens)
    for name, arr in ((err_name, err), (len_name, lens)):
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"{name} must be finite and non-negative")
    if err.size != lens.size:
        raise ValueError(f"{err_name} has {err.size} values but {len_name} has {lens.size}")
    if lens.sum() <= 0:
        raise ValueError(f"{len_name} sums to 0: no reference words/characters to score")
    return _as_int_if_integral(err), _as_int_if_integral(lens)


def _check_values(values: ArrayLike, name: str) -> NDArray[np.float64]:
    """1-D, non-empty, finite real values (any sign)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _check_correct(correct: ArrayLike, name: str) -> NDArray[np.int64]:
    arr = np.asarray(correct)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must hold booleans (or 0/1)")
    return arr.astype(np.int64)


def _as_int_if_integral(arr: NDArray[np.generic]) -> NDArray[np.int64]:
    """Integral floats (e.g. 3.0) take the fast packed path; fractional ones stay float."""
    if np.issubdtype(arr.dtype, np.integer) or np.array_equal(arr, np.round(arr)):
        return arr.astype(np.int64)
    return arr.astype(np.float64)  # type: ignore[return-value]
