"""The keys of speech output are part of the strict registry schema: a text-to-speech
dataset's `judge:` and `text_case:`, an openai entry's `speech:` block, the embedded
synthesizer's `voice:` and `rate:`, a protocol's `tasks:` and a profile's `aggregate:`; a
typo in any of them is an error naming file:line, never a key silently ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiogate.errors import RegistryError
from audiogate.registry import load as registry
from audiogate.registry import schema

TTS_SET = """\
my-tts:
  task: tts
  language: en
  loader: tts-manifest
  path: my-tts/manifest.jsonl
  metric: wer
{extra}"""

TTS_MODEL = """\
my-voice:
  engine: tts-cpu
  tasks: [tts]
  languages: [en]
{extra}"""

SPEAKER = """\
my-speaker:
  engine: openai
  endpoint: speech
  tasks: [tts]
{extra}"""

PROTOCOL = """\
mine:
  tasks: [tts]
  wer: {{normalizer: ultraeval-english, tokenizer: whitespace, alignment: levenshtein,
        {extra}}}
"""


def _error(tmp_path: Path, text: str, load: object) -> str:
    path = tmp_path / "extra.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        load(path)  # type: ignore[operator]
    return str(info.value).replace(str(path), "FILE")


def _loads(tmp_path: Path, text: str, load: object) -> dict[str, object]:
    path = tmp_path / "ok.yaml"
    path.write_text(text, encoding="utf-8")
    return load(path)  # type: ignore[operator,no-any-return]


def test_speech_keys_load(tmp_path: Path) -> None:
    ds = _loads(tmp_path, TTS_SET.format(extra="  judge: whisper-base\n  text_case: lower\n"),
                registry.datasets)["my-tts"]
    assert ds.options["judge"] == "whisper-base"  # type: ignore[attr-defined]
    assert registry.judge_name(ds) == "whisper-base"  # type: ignore[arg-type]
    voice = _loads(tmp_path, TTS_MODEL.format(extra="  voice: en-gb\n  rate: 160\n"),
                   registry.models)["my-voice"]
    assert voice.options == {"voice": "en-gb", "rate": 160}  # type: ignore[attr-defined]
    speaker = _loads(tmp_path, SPEAKER.format(extra="  speech: {voice: alloy, format: wav}\n"),
                     registry.models)["my-speaker"]
    assert speaker.speaks  # type: ignore[attr-defined]
    mine = _loads(tmp_path, PROTOCOL.format(extra="aggregate: mean"),
                  registry.protocols)["mine"]
    assert mine.tasks == ("tts",)  # type: ignore[attr-defined]
    assert mine.profiles["wer"].aggregate == "mean"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("text", "load", "expected"), [
    (TTS_SET.format(extra="  judg: whisper-base\n"), registry.datasets,
     "FILE:7: dataset 'my-tts': unknown key 'judg' (did you mean 'judge'?)"),
    (TTS_SET.format(extra="  text_cse: lower\n"), registry.datasets,
     "FILE:7: dataset 'my-tts': unknown key 'text_cse' (did you mean 'text_case'?)"),
    (TTS_MODEL.format(extra="  voise: en-gb\n"), registry.models,
     "FILE:5: model 'my-voice': unknown key 'voise' (did you mean 'voice'?)"),
    (TTS_MODEL.format(extra="  rate: 0\n"), registry.models,
     "FILE:5: model 'my-voice': `rate` must be a whole number >= 1, not 0"),
    (TTS_MODEL.format(extra="  rate: fast\n"), registry.models,
     "`rate` must be a whole number >= 1, not 'fast'"),
    (SPEAKER.format(extra="  speech: {voice: alloy, fromat: wav}\n"), registry.models,
     "FILE:5: model 'my-speaker': speech: unknown key 'fromat' (did you mean 'format'?)"),
    (SPEAKER.format(extra="  voice: alloy\n"), registry.models,
     "FILE:5: model 'my-speaker': unknown key 'voice' for engine 'openai' (a key of tts-cpu)"),
    (PROTOCOL.format(extra="aggregat: mean"), registry.protocols,
     "protocol 'mine': wer: unknown key 'aggregat' (did you mean 'aggregate'?)"),
    (PROTOCOL.format(extra="aggregate: median"), registry.protocols,
     "protocol 'mine': wer aggregate must be one of corpus, mean"),
])
def test_a_typo_in_a_speech_key_is_an_error(tmp_path: Path, text: str, load: object,
                                            expected: str) -> None:
    assert expected in _error(tmp_path, text, load)


def test_text_case_is_a_key_of_text_to_speech_loaders_only(tmp_path: Path) -> None:
    asr = "my-set:\n  task: asr\n  language: en\n  loader: librispeech\n  path: x\n" \
          "  metric: wer\n  text_case: lower\n"
    assert "unknown key 'text_case'" in _error(tmp_path, asr, registry.datasets)
    for loader in ("librispeech-tts", "seed-tts", "tts-manifest",
                   "librispeech-pc-cross-sentence"):
        assert "text_case" in schema.LOADER_OPTIONS[loader]
