"""The wire format of speech output on OpenAI-compatible servers (the ``openai`` engine's
requests and answers, kept apart from its HTTP machinery):

- ``POST /v1/audio/speech`` (text-to-speech): a JSON body ``{model, input, voice,
  response_format}``; the answer's body is the audio itself.
- ``POST /v1/chat/completions`` with ``modalities: ["text", "audio"]`` and ``audio: {voice,
  format}``: the answer's ``message.audio`` holds the spoken answer (base64 ``data``) and
  the model's own ``transcript`` of it, beside the written ``message.content``.

A model entry's ``speech: {voice, format}`` block sets both: for ``endpoint: speech`` the
voice and response format of every request, for ``endpoint: chat`` that the model answers
in speech too.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from audiogate.engines.speech_audio import produced
from audiogate.errors import EngineError, RegistryError
from audiogate.samples import ProducedAudio, Request

SPEECH_FORMATS = ("wav", "flac", "mp3", "pcm")  # what audiogate asks /v1/audio/speech for
CHAT_FORMATS = {"wav": "wav", "flac": "flac", "mp3": "mp3", "pcm16": "pcm"}  # chat `audio`


def request_text(request: Request) -> tuple[str, str | None]:
    """(text to speak, the sample's own voice or None) of a text-to-speech request: its
    ``("text", ...)`` and ``("voice", ...)`` prompt parts (what the store keys on)."""
    parts = dict(request.prompt or ())
    if "text" not in parts:
        raise EngineError(f"sample {request.sample.id}: no text to speak in the request")
    return parts["text"], parts.get("voice") or None


class SpeechSettings:
    """A model entry's ``speech:`` block."""

    KNOWN = frozenset({"voice", "format"})

    def __init__(self, raw: Mapping[str, Any], endpoint: str, model: str) -> None:
        unknown = set(raw) - self.KNOWN
        if unknown:
            raise RegistryError(f"model {model!r}: speech: unknown setting(s) "
                                f"{sorted(unknown)}; known: {sorted(self.KNOWN)}")
        allowed = SPEECH_FORMATS if endpoint == "speech" else tuple(CHAT_FORMATS)
        self.voice = str(raw.get("voice", "alloy"))
        self.format = str(raw.get("format", "wav"))
        if self.format not in allowed:
            raise RegistryError(f"model {model!r}: speech.format {self.format!r} is not one "
                                f"of {', '.join(allowed)} (endpoint {endpoint})")

    def identity(self) -> dict[str, Any]:
        return {"voice": self.voice, "format": self.format}

    def speech_body(self, model: str, text: str, voice: str | None) -> dict[str, Any]:
        """The JSON of one ``/v1/audio/speech`` request."""
        return {"model": model, "input": text, "voice": voice or self.voice,
                "response_format": self.format}

    def chat_fields(self) -> dict[str, Any]:
        """What a chat request adds to be answered in speech."""
        return {"modalities": ["text", "audio"],
                "audio": {"voice": self.voice, "format": self.format}}


def speech_answer(content: bytes, content_type: str, fmt: str) -> ProducedAudio:
    """The body of a ``/v1/audio/speech`` answer as produced audio."""
    if content_type.split(";")[0].strip().lower() in {"application/json", "text/plain"}:
        raise EngineError(f"expected audio, got {content_type}: {content[:300]!r}")
    return produced(content, fmt, what=f"/v1/audio/speech answer ({fmt})")


def chat_audio(message: Mapping[str, Any], fmt: str) -> ProducedAudio:
    """``message.audio`` of a chat answer as produced audio (with the model's transcript)."""
    audio = message.get("audio")
    if not isinstance(audio, Mapping):
        raise EngineError("the answer has no message.audio (the server did not answer in "
                          "speech: does it support modalities [\"text\", \"audio\"]?)")
    data = audio.get("data")
    if not isinstance(data, str):
        raise EngineError("message.audio.data must be a base64 string")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EngineError(f"message.audio.data is not valid base64: {exc}") from exc
    transcript = audio.get("transcript")
    return produced(raw, CHAT_FORMATS[fmt], what=f"message.audio ({fmt})",
                    transcript=str(transcript) if transcript is not None else None)
