"""Audio reasoning gates (MMAU accuracy): every registered MMAU set × every selected model."""

import pytest

from audiogate.plugin import Gate, Pair

pytestmark = pytest.mark.audiogate_task("mmau")


def test_mmau(pair: Pair, gate: Gate) -> None:
    gate.check(pair.run())
