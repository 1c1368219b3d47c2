"""Audio reasoning gates (MMAU accuracy): every registered MMAU set × every selected model."""

import pytest

pytestmark = pytest.mark.audiogate_task("mmau")


def test_mmau(pair, gate):
    gate.check(pair.run())
