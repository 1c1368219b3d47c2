"""Speech recognition gates: every registered ASR dataset × every selected model."""

import pytest

pytestmark = pytest.mark.audiogate_task("asr")


def test_asr(pair, gate):
    gate.check(pair.run())
