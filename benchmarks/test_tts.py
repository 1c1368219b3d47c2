"""Text-to-speech gates: every registered TTS dataset × every selected model. The produced
speech is transcribed by the pair's judge ASR and scored against the text it was given."""

import pytest

from audiogate.plugin import Gate, Pair

pytestmark = pytest.mark.audiogate_task("tts")


def test_tts(pair: Pair, gate: Gate) -> None:
    gate.check(pair.run())
