"""Speech recognition gates: every registered ASR dataset × every selected model."""

import pytest

from audiogate.plugin import Gate, Pair

pytestmark = pytest.mark.audiogate_task("asr")


def test_asr(pair: Pair, gate: Gate) -> None:
    gate.check(pair.run())
