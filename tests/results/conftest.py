"""Report fixtures: a regression made from the shared LibriSpeech references."""

from __future__ import annotations

import random

import pytest
from pair_reports import edit, librispeech_meta, scored

from audiogate.scoring.pair import SampleRecord


@pytest.fixture(scope="session")
def regression(references: list[tuple[str, str]]) -> tuple[list[SampleRecord],
                                                           list[SampleRecord]]:
    """(baseline, candidate): the baseline gets every reference right but two; the
    candidate breaks 1, 2 or 3 words in six utterances and fixes one of the two."""
    rng = random.Random(7)
    base_items = [(i, ref, ref) for i, ref in references]
    base_items[10] = (base_items[10][0], base_items[10][1], edit(base_items[10][1], "sub"))
    base_items[20] = (base_items[20][0], base_items[20][1], edit(base_items[20][1], "del"))
    cand_items = [(i, ref, ref) for i, ref in references]
    cand_items[20] = base_items[20]
    damage = {3: ["sub"], 5: ["del", "sub"], 8: ["ins", "sub", "del"], 13: ["sub", "sub"],
              30: ["del"], 37: ["ins"]}
    for index, kinds in damage.items():
        i, ref, hyp = cand_items[index]
        for n, kind in enumerate(kinds):
            hyp = edit(hyp or ref, kind, at=1 + 4 * n + rng.randrange(2))
        cand_items[index] = (i, ref, hyp)
    return (scored("librispeech-test-other", base_items, librispeech_meta),
            scored("librispeech-test-other", cand_items, librispeech_meta))
