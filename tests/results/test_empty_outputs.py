"""The empty-outputs note: when it appears, and the hint for served English-only Whisper."""

from __future__ import annotations

from audiogate.runner import empty_outputs_note
from audiogate.scoring.pair import SampleRecord

SERVED = {"engine": "openai", "endpoint": "transcriptions", "model": "whisper-tiny.en"}


def records(texts: list[str | None]) -> list[SampleRecord]:
    return [SampleRecord(f"s{i}", None, "ref", t, t, error=None if t is not None else "boom")
            for i, t in enumerate(texts)]


def test_counts_answered_samples_only() -> None:
    assert empty_outputs_note(records(["", " ", "x", None, None]), {}, "en") == \
        "2 of 3 outputs are empty"
    assert empty_outputs_note(records(["", "x"]), {}, "en") is None  # half is not most
    assert empty_outputs_note(records([None]), {}, "en") is None


def test_hint_for_the_served_transcription_endpoint() -> None:
    note = empty_outputs_note(records(["", "", "x"]), SERVED, "en")
    assert note is not None and note.startswith("2 of 3 outputs are empty — if the served "
                                                "model is an English-only Whisper")
    assert "AUDIOGATE_VLLM_WHISPER_EN_PROMPT=1" in note
    patched = {**SERVED, "server_patches": ["whisper-en-prompt"]}
    assert empty_outputs_note(records(["", "", "x"]), patched, "en") == \
        "2 of 3 outputs are empty"
    assert empty_outputs_note(records(["", "", "x"]), SERVED, "zh") == \
        "2 of 3 outputs are empty"
