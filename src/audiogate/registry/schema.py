"""What each registry entry may hold, and the checks that make a typo or an impossible
number an error naming file:line and the key (never a key silently ignored).

Keys depend on the entry's kind: a dataset's options on its loader, a model's keys on its
engine. Blocks whose keys belong to something outside audiogate are checked where that is
knowable: a whisper-cpu model's ``settings:`` against faster-whisper's
``WhisperModel.transcribe`` signature, read from the installed package's source (importing
it would load CTranslate2 before the CPU kernels are pinned). ``sampling:`` and
``extra_body:`` (fields of the server's request), ``env:`` (environment variables) and a
vllm model's ``llm:`` arguments are passed through as written: a server decides what it
accepts, and vLLM refuses an unknown argument itself when the engine starts. The numbers
among them that audiogate knows (temperature, max_tokens) are still range-checked.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from audiogate.errors import RegistryError

# --- datasets ---------------------------------------------------------------------------
DATASET_KEYS = frozenset({"task", "language", "loader", "path", "metric", "expected_samples",
                          "abnormal_limit", "fetch", "protocol", "groups", "long_form"})
# Options every dataset may carry: its Hugging Face copy, how to get it, Traditional ->
# Simplified conversion before Chinese scoring.
# `judge:` the judge ASR that transcribes a pair's answers when they are speech (a
# text-to-speech dataset, or a chat model answering it in speech).
COMMON_OPTIONS = frozenset({"hf", "get", "to_simplified", "judge"})
# Text-to-speech loaders also read how the target text is given to the model.
TTS_OPTIONS = frozenset({"text_case"})
# The options each loader reads (audiogate.datasets.LOADERS names the loaders).
LOADER_OPTIONS: dict[str, frozenset[str]] = {
    "aishell": frozenset({"split"}),
    "fleurs": frozenset({"split", "reference_field", "reference_fallback"}),
    "hf": frozenset({"split", "config", "reference_field", "id_field", "audio_field",
                     "audio_cache"}),
    "librispeech": frozenset(),
    "librispeech-chapters": frozenset(),
    "manifest": frozenset(),
    "mmau": frozenset({"json"}),
    "tedlium": frozenset({"split"}),
    "tedlium-talks": frozenset({"split"}),
    "earnings": frozenset(),
    "librispeech-pc-cross-sentence": frozenset({"list", "audio_root"}) | TTS_OPTIONS,
    "librispeech-tts": TTS_OPTIONS,
    "seed-tts": frozenset({"list"}) | TTS_OPTIONS,
    "tts-manifest": TTS_OPTIONS,
}
HF_BLOCK_KEYS = frozenset({"path", "expected_samples"}) | LOADER_OPTIONS["hf"]

# --- models -----------------------------------------------------------------------------
MODEL_KEYS = frozenset({"engine", "tasks", "languages", "metric", "prompts", "answer",
                        "max_audio_seconds"})
# The keys each engine reads (audiogate.engines.ENGINE_MODULES names the engines).
ENGINE_KEYS: dict[str, frozenset[str]] = {
    "whisper-cpu": frozenset({"weights", "settings"}),
    "openai": frozenset({"endpoint", "served_model_name", "launch", "launch_timeout",
                         "weights", "env", "chat", "sampling", "extra_body", "retry",
                         "revision", "api_key_env", "stream", "speech"}),
    "vllm": frozenset({"vllm", "weights", "env", "chat", "sampling", "extra_body"}),
    "replay": frozenset(),
    # the embedded text-to-speech (eSpeak NG): its voice name and words per minute
    "tts-cpu": frozenset({"voice", "rate"}),
    # weights: a weights.py name, env:VAR or a Hugging Face checkpoint folder; transformers:
    # how it is loaded and batched; generation: generate() arguments (passed through).
    "transformers": frozenset({"weights", "transformers", "generation", "chat"}),
    # factory: package.module:function; kwargs: passed to it; checkpoint: a file or folder
    # (content-fingerprinted, passed as checkpoint=); identity: the user's own fields.
    "python": frozenset({"factory", "kwargs", "checkpoint", "identity", "batch_size"}),
}
# The `transformers:` block of a transformers entry (engines/transformers_engine.py).
TRANSFORMERS_KEYS = frozenset({"class", "device", "dtype", "batch_size", "sort_by_length",
                               "skip_special_tokens"})
# Engine kinds other packages register (engines/plugins.py): their settings are theirs to
# check, so only the keys every model shares are checked here.
PLUGIN_GROUP = "audiogate.engines"
CHAT_KEYS = frozenset({"user_role", "audio_chunk_seconds", "assistant_prefix", "system",
                       "max_audios_per_prompt", "min_audio_seconds"})
# `speech:` of an openai entry: the voice and audio format each request asks for
SPEECH_KEYS = frozenset({"voice", "format"})
ANSWER_KEYS = frozenset({"after_think", "json_field"})
RETRY_KEYS = frozenset({"attempts", "backoff"})
VLLM_KEYS = frozenset({"mode", "llm", "template", "chat_template"})
# whisper-cpu `settings:` beyond WhisperModel.transcribe's arguments (given to WhisperModel)
WHISPER_MODEL_SETTINGS = frozenset({"compute_type"})

# --- prompts and protocols --------------------------------------------------------------
PROMPT_KEYS = frozenset({"turn", "option", "task", "source"})
PROTOCOL_KEYS = frozenset({"description", "wer", "cer", "tasks"})
PROFILE_KEYS = frozenset({"normalizer", "tokenizer", "alignment", "empty_reference",
                          "drop_references", "drop_check", "multilingual_compound_pairs",
                          "abnormal_filter", "round", "rtfx", "aggregate"})

# --- thresholds.yaml's speed entries (gate/speed_entry.py) ------------------------------
# `metric: speed` entries: latency, time to first token, RTFx and throughput, each recorded
# with what it was measured on.
SPEED = "speed"
SPEED_VALUES = ("latency_p50", "latency_p90", "latency_p99", "ttft_p50", "ttft_p90",
                "ttft_p99", "rtfx", "throughput")
SPEED_LIMITS = ("max_latency_p50", "max_latency_p90", "max_latency_p99", "max_ttft_p50",
                "max_ttft_p90", "max_ttft_p99", "min_rtfx", "min_throughput")
SPEED_ENTRY_KEYS = frozenset({"metric", "samples", "sample_set", "measured_on", "gate",
                              "baseline", "margin", "confidence", "note", *SPEED_VALUES,
                              *SPEED_LIMITS})
# What a speed entry was measured on: all must match for a run's speed to be comparable.
MEASURED_ON_KEYS = frozenset({"cpu", "cpus", "gpu", "gpu_count", "server", "server_hardware",
                              "engine", "engine_version", "concurrency", "batch_size"})


@dataclass(frozen=True)
class Bound:
    """The range a number must be in: at least (or, ``strict``, above) ``minimum``."""

    minimum: float
    strict: bool = False
    whole: bool = False
    unit: str = ""

    def text(self) -> str:
        if self.whole:
            return f"a whole number >= {self.minimum:g}"
        unit = f" ({self.unit})" if self.unit else ""
        return f"a number {'>' if self.strict else '>='} {self.minimum:g}{unit}"


SECONDS = Bound(0, strict=True, unit="seconds")
DATASET_NUMBERS = {"abnormal_limit": Bound(0, strict=True, unit="percent"),
                   "expected_samples": Bound(1, whole=True)}
HF_NUMBERS = {"expected_samples": Bound(1, whole=True)}
MODEL_NUMBERS = {"launch_timeout": SECONDS, "max_audio_seconds": SECONDS,
                 "batch_size": Bound(1, whole=True), "rate": Bound(1, whole=True)}
TRANSFORMERS_NUMBERS = {"batch_size": Bound(1, whole=True)}
CHAT_NUMBERS = {"audio_chunk_seconds": SECONDS, "max_audios_per_prompt": Bound(1, whole=True),
                "min_audio_seconds": Bound(0, unit="seconds")}
RETRY_NUMBERS = {"attempts": Bound(0, whole=True), "backoff": Bound(0, unit="seconds")}
SAMPLING_NUMBERS = {"temperature": Bound(0), "max_tokens": Bound(1, whole=True)}
WHISPER_NUMBERS = {"beam_size": Bound(1, whole=True), "best_of": Bound(1, whole=True),
                   "max_new_tokens": Bound(1, whole=True), "chunk_length": Bound(1, whole=True),
                   "temperature": Bound(0), "patience": Bound(0, strict=True)}
PROFILE_NUMBERS = {"round": Bound(0, whole=True)}


@dataclass(frozen=True)
class Where:
    """A place in a registry file, shown as ``file:line`` (line 0: the file only)."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def at(self, node: Any, key: Any = None) -> Where:
        """The line of ``key`` in the loaded mapping ``node`` (of ``node`` itself without a
        key); this place where the YAML loader does not know it."""
        try:
            line = node.lc.key(key)[0] if key is not None else node.lc.line
            return Where(self.file, int(line) + 1)
        except (AttributeError, KeyError, TypeError):
            return self


def plain(value: Any) -> Any:
    """``value`` as plain Python (dict, list, str, int, float, bool, None), without the
    round-trip YAML loader's subclasses that remember lines and styles."""
    if isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    return value


def closest(name: str, known: Collection[str]) -> str:
    """`` (did you mean 'x'?)`` for the known name closest to ``name`` (difflib), or ""."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_keys(node: Mapping[Any, Any], known: Collection[str], where: Where, what: str, *,
               known_as: str = "known") -> None:
    """A RegistryError naming file:line and the first key of ``node`` not in ``known``,
    with the closest known key suggested."""
    for key in node:
        if key not in known:
            raise RegistryError(f"{where.at(node, key)}: {what}: unknown key {plain(key)!r}"
                                f"{closest(key, known)}; {known_as}: "
                                f"{', '.join(sorted(known))}")


MODEL_BOOLEANS = ("stream",)


def check_booleans(node: Mapping[Any, Any], keys: Collection[str], where: Where,
                   what: str) -> None:
    """Each of ``keys`` present in ``node`` is true or false (not "yes", not 1)."""
    for key in keys:
        raw = node.get(key)
        if raw is not None and not isinstance(plain(raw), bool):
            raise RegistryError(f"{where.at(node, key)}: {what}: `{key}` must be true or "
                                f"false, not {plain(raw)!r}")


def check_numbers(node: Mapping[Any, Any], bounds: Mapping[str, Bound], where: Where,
                  what: str) -> None:
    """Each number of ``node`` named in ``bounds`` is finite, not a boolean and in range (a
    list holds such numbers, as a temperature fallback does); absent or null is fine."""
    for key, bound in bounds.items():
        raw = node.get(key)
        if raw is None:
            continue
        for value in raw if isinstance(raw, list) else [raw]:
            _check_number(plain(value), bound, f"{where.at(node, key)}: {what}: `{key}`")


def _check_number(value: Any, bound: Bound, place: str) -> None:
    if bound.whole:
        if isinstance(value, bool) or not isinstance(value, int) or value < bound.minimum:
            raise RegistryError(f"{place} must be {bound.text()}, not {value!r}")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RegistryError(f"{place} must be a number, not {value!r}")
    if not math.isfinite(value):
        raise RegistryError(f"{place} must be a finite number, not {value!r}")
    if value < bound.minimum or (bound.strict and value == bound.minimum):
        raise RegistryError(f"{place} must be {bound.text()}, not {value!r}")


def check_block(node: Mapping[Any, Any], key: str, where: Where, what: str,
                known: Collection[str] | None, bounds: Mapping[str, Bound] | None = None, *,
                known_as: str = "known") -> None:
    """The mapping under ``node[key]`` (absent or null: nothing to check): its keys against
    ``known`` (None: passed through as written) and its numbers against ``bounds``."""
    block = node.get(key)
    if block is None:
        return
    if not isinstance(block, Mapping):
        raise RegistryError(f"{where.at(node, key)}: {what}: `{key}` must be a mapping, not "
                            f"{plain(block)!r}")
    if known is not None:
        check_keys(block, known, where, f"{what}: {key}", known_as=known_as)
    if bounds:
        check_numbers(block, bounds, where, f"{what}: {key}")


def plugin_engine_kinds() -> frozenset[str]:
    """The engine kinds installed packages register (entry points, nothing imported)."""
    from importlib import metadata

    return frozenset(ep.name for ep in metadata.entry_points(group=PLUGIN_GROUP))


@cache
def faster_whisper_settings() -> frozenset[str] | None:
    """The arguments the installed faster-whisper's ``WhisperModel.transcribe`` takes (bar
    the audio), plus ``compute_type``; None when faster-whisper is not installed (its
    engine then fails before any setting is used)."""
    found = importlib.util.find_spec("faster_whisper")
    if found is None or not found.submodule_search_locations:
        return None
    source = Path(next(iter(found.submodule_search_locations))) / "transcribe.py"
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef) and node.name == "WhisperModel":
            for method in node.body:
                if isinstance(method, ast.FunctionDef) and method.name == "transcribe":
                    args = method.args
                    names = {a.arg for a in args.args + args.kwonlyargs} - {"self", "audio"}
                    return frozenset(names) | WHISPER_MODEL_SETTINGS
    return None
