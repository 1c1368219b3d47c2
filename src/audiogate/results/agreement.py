"""Per-clip agreement of two runs of the same weights (e.g. a served and an in-process vLLM).

Why: both paths run the same kernels on the same audio, so their texts should be equal clip
by clip; a corpus score hides a clip that changed one way and another that changed back.
Each clip of a dataset both runs scored is ``identical`` (same raw output), ``same words``
(same normalized hypothesis: only spacing/punctuation moved) or ``different``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from audiogate.results.report import read_samples


@dataclass
class DatasetAgreement:
    dataset: str
    models: tuple[str, str]
    identical: int = 0
    same_words: list[str] = field(default_factory=list)
    different: list[tuple[str, str, str]] = field(default_factory=list)  # id, a, b
    only_one: list[str] = field(default_factory=list)  # ids scored by one run only

    @property
    def clips(self) -> int:
        return self.identical + len(self.same_words) + len(self.different)

    def line(self) -> str:
        a, b = self.models
        return (f"{self.dataset}: {a} vs {b}: {self.identical}/{self.clips} identical, "
                f"{len(self.same_words)} same words, {len(self.different)} different"
                + (f", {len(self.only_one)} in one run only" if self.only_one else ""))


def _samples(report_dir: Path) -> dict[str, tuple[str, Path]]:
    """dataset -> (model, per-sample file) for every pair the report folder holds."""
    found: dict[str, tuple[str, Path]] = {}
    for path in sorted((report_dir / "samples").glob("*__*.jsonl")):
        model, dataset = path.stem.split("__", 1)
        found[dataset] = (model, path)
    return found


def compare(a: Path, b: Path) -> list[DatasetAgreement]:
    """Every dataset present in both report folders, clip by clip (errored clips count as
    different: an error on one side is a disagreement)."""
    left, right = _samples(a), _samples(b)
    results = []
    for dataset in sorted(left.keys() & right.keys()):
        (model_a, path_a), (model_b, path_b) = left[dataset], right[dataset]
        agreement = DatasetAgreement(dataset, (model_a, model_b))
        records_a = {r.id: r for r in read_samples(path_a)}
        records_b = {r.id: r for r in read_samples(path_b)}
        agreement.only_one = sorted(records_a.keys() ^ records_b.keys())
        for sample_id in sorted(records_a.keys() & records_b.keys()):
            ra, rb = records_a[sample_id], records_b[sample_id]
            if ra.error is None and rb.error is None and ra.raw_output == rb.raw_output:
                agreement.identical += 1
            elif ra.error is None and rb.error is None and \
                    ra.normalized_hypothesis == rb.normalized_hypothesis:
                agreement.same_words.append(sample_id)
            else:
                agreement.different.append((sample_id, ra.error or str(ra.raw_output),
                                            rb.error or str(rb.raw_output)))
        results.append(agreement)
    return results
