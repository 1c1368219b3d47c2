"""Load the dataset and model registries (package YAML plus optional user files).

Every entry is checked against ``schema``: an unknown key or an impossible number is a
RegistryError naming file:line; an entry of a user file that replaces a built-in one says so
(``replaces``), and the runner puts that on every pair it runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml import YAML

from audiogate.errors import RegistryError
from audiogate.registry import schema
from audiogate.registry.schema import Where, plain

METRICS = ("wer", "cer", "acc")  # what a dataset is scored by
# `answered`: the share of samples that got a non-empty answer. A model entry asks for it
# (`metric: answered`) when its text means nothing (random weights) and only the path is
# under test; it applies to any dataset.
ANSWERED = "answered"
# What a model that speaks is measured by besides its dataset's metric (per sample, then
# the mean over the samples): the voice prompt's speaker similarity (resemblyzer's GE2E
# encoder, named by it: not Seed-TTS-Eval's WavLM SIM), DNSMOS (P.808 MOS, as
# UltraEval-Audio's CV3-Eval reports it), and for a chat answer in speech the WER of the
# judge's transcript of the spoken answer against the written answer ("does it say what
# it writes").
SIM = "sim-ge2e"
DNSMOS = "dnsmos"
TEXT_SPEECH_WER = "text-speech-wer"
SPEECH_METRICS = {SIM: False, DNSMOS: False, TEXT_SPEECH_WER: True}  # lower is better?
LOWER_IS_BETTER = {"wer": True, "cer": True, "acc": False, ANSWERED: False, **SPEECH_METRICS}
PROPORTIONS = frozenset({"acc", ANSWERED})  # per-sample 0/100 scores, averaged
# The protocol that gates a dataset that names none: the reference table's.
DEFAULT_PROTOCOL = "ultraeval-audio"
# The judge ASR that transcribes produced speech when a dataset entry names none (`judge:`,
# or --judge): a registered model, by the dataset's language.
DEFAULT_JUDGES = {"en": "whisper-tiny.en", "zh": "whisper-base"}
TTS = "tts"  # the task of text-to-speech datasets
AGGREGATES = ("corpus", "mean")  # how a protocol's profile pools per-sample rates


@dataclass(frozen=True)
class DatasetSpec:
    """One registered benchmark: how to load it and how to score it."""

    name: str
    task: str
    language: str
    loader: str
    path: str
    metric: str
    expected_samples: int | None = None
    abnormal_limit: float | None = None
    fetch: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    protocol: str = DEFAULT_PROTOCOL  # the scoring protocol that gates it
    # Recordings of minutes to hours (one sample per talk, call or chapter): selected by
    # `-k long-form`, and each stitched output is checked for looping and truncation.
    long_form: bool = False
    # Sample meta keys the report breaks the score down by (speaker, chapter, talk...).
    groups: tuple[str, ...] = ()
    # A user file's entry that took a built-in one's name: says which (None: not so).
    replaces: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ProfileSpec:
    """How one protocol computes one metric (the parts are named in protocols.yaml)."""

    metric: str
    normalizer: str
    tokenizer: str
    alignment: str
    empty_reference: str = "error"  # "error": the sample errors; "drop": left out, counted
    drop_references: tuple[str, ...] = ()
    drop_check: str | None = None  # normalizer deciding what is dropped (default: normalizer)
    multilingual_compound_pairs: bool = False
    abnormal_filter: bool = False
    round: int | None = None
    rtfx: bool = False
    # "corpus": Σ edits / Σ reference tokens; "mean": the mean of the per-sample rates
    # (Seed-TTS-Eval's average_wer.py)
    aggregate: str = "corpus"


@dataclass(frozen=True)
class ProtocolSpec:
    """A published table's scoring protocol: one profile per metric it defines."""

    name: str
    description: str
    profiles: dict[str, ProfileSpec]
    tasks: tuple[str, ...] = ()  # the tasks it scores (empty: every task)
    replaces: str | None = field(default=None, compare=False)  # see DatasetSpec.replaces


@dataclass(frozen=True)
class ModelSpec:
    """One registered model: which engine runs it and with what settings."""

    name: str
    engine: str
    tasks: tuple[str, ...]
    languages: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    replaces: str | None = field(default=None, compare=False)  # see DatasetSpec.replaces

    def supports(self, dataset: DatasetSpec) -> bool:
        return dataset.task in self.tasks and dataset.language in self.languages

    @property
    def speaks(self) -> bool:
        """A text-to-speech model, or a chat model that answers in speech (`speech:`)."""
        chat = self.options.get("endpoint", "chat") == "chat"
        return TTS in self.tasks or (bool(self.options.get("speech")) and chat)


def judged(model: ModelSpec, dataset: DatasetSpec) -> bool:
    """Whether the pair's answers are speech, transcribed by a judge before scoring."""
    return dataset.task == TTS or model.speaks


def speech_metrics(model: ModelSpec, dataset: DatasetSpec) -> tuple[str, ...]:
    """The metrics a pair reports (and may gate) besides its dataset's own."""
    if dataset.task == TTS:
        return (SIM, DNSMOS)
    if model.speaks:
        return (DNSMOS, TEXT_SPEECH_WER)
    return ()


def judge_name(dataset: DatasetSpec, override: str | None = None) -> str:
    """The judge of a judged pair: --judge, else the dataset's `judge:`, else the default
    for its language."""
    name = override or dataset.options.get("judge") or DEFAULT_JUDGES.get(dataset.language)
    if not name:
        raise RegistryError(f"dataset {dataset.name!r}: no judge ASR for language "
                            f"{dataset.language!r}; name one with `judge:` or --judge")
    return str(name)


def _read_yaml(text: str, origin: str, *, lines: bool = False) -> Mapping[Any, Any]:
    """A registry file's mapping of names to entries; ``lines``: loaded by the round-trip
    loader, which keeps the line of every key (for messages that name file:line)."""
    try:
        data = YAML(typ="rt" if lines else "safe").load(text)
    except Exception as exc:  # ruamel raises many error types; all mean "not YAML"
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{origin}:{mark.line + 1}" if mark is not None else origin
        raise RegistryError(f"{where}: not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise RegistryError(f"{origin}: expected a mapping of names to entries")
    return data


def _package_entries(name: str) -> Mapping[Any, Any]:
    text = resources.files("audiogate.registry").joinpath(name).read_text(encoding="utf-8")
    return _read_yaml(text, f"audiogate/registry/{name}", lines=True)


def _known(kind: str, name: str, known: Mapping[str, Any], where: Where, what: str) -> None:
    """A RegistryError when ``name`` is not a known ``kind``, with the closest one."""
    if name not in known:
        raise RegistryError(f"{where}: {what}: unknown {kind} {name!r}"
                            f"{schema.closest(name, known)}; known: {', '.join(sorted(known))}")


def _dataset(name: str, raw: Any, origin: Where) -> DatasetSpec:
    what = f"dataset {name!r}"
    if not isinstance(raw, Mapping):
        raise RegistryError(f"{origin}: {what} must be a mapping")
    missing = {"task", "language", "loader", "path", "metric"} - raw.keys()
    if missing:
        raise RegistryError(f"{origin}: {what} lacks {sorted(missing)}")
    if raw["metric"] not in METRICS:
        raise RegistryError(f"{origin.at(raw, 'metric')}: {what}: unknown metric "
                            f"{plain(raw['metric'])!r} (known: {', '.join(METRICS)})")
    loader = str(raw["loader"])
    _known("loader", loader, schema.LOADER_OPTIONS, origin.at(raw, "loader"), what)
    schema.check_keys(raw, schema.DATASET_KEYS | schema.COMMON_OPTIONS
                      | schema.LOADER_OPTIONS[loader], origin, what)
    schema.check_numbers(raw, schema.DATASET_NUMBERS, origin, what)
    schema.check_block(raw, "hf", origin, what, schema.HF_BLOCK_KEYS, schema.HF_NUMBERS)
    raw = plain(raw)
    options = {k: v for k, v in raw.items() if k not in schema.DATASET_KEYS}
    groups = raw.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
        raise RegistryError(f"{origin}: {what}: groups must be a list of sample meta "
                            f"keys (e.g. [speaker, chapter]), not {groups!r}")
    return DatasetSpec(
        name=name, task=raw["task"], language=raw["language"], loader=raw["loader"],
        path=str(raw["path"]), metric=raw["metric"],
        expected_samples=raw.get("expected_samples"),
        abnormal_limit=raw.get("abnormal_limit"), fetch=raw.get("fetch"), options=options,
        protocol=str(raw.get("protocol", DEFAULT_PROTOCOL)),
        long_form=bool(raw.get("long_form", False)),
        groups=tuple(groups),
    )


def _profile(origin: Where, what: str, metric: str, raw: Any) -> ProfileSpec:
    if not isinstance(raw, Mapping):
        raise RegistryError(f"{origin}: {what}: the {metric} profile must be a mapping")
    schema.check_keys(raw, schema.PROFILE_KEYS, origin, f"{what}: {metric}")
    schema.check_numbers(raw, schema.PROFILE_NUMBERS, origin, f"{what}: {metric}")
    missing = {"normalizer", "tokenizer", "alignment"} - raw.keys()
    if missing:
        raise RegistryError(f"{origin}: {what}: {metric} profile lacks {sorted(missing)}")
    raw = plain(raw)
    if raw.get("empty_reference", "error") not in ("error", "drop"):
        raise RegistryError(f"{origin}: {what}: {metric} empty_reference must be error or drop")
    digits = raw.get("round")
    if raw.get("aggregate", "corpus") not in AGGREGATES:
        raise RegistryError(f"{origin}: {what}: {metric} aggregate must be one of "
                            f"{', '.join(AGGREGATES)}")
    return ProfileSpec(
        metric=metric, normalizer=str(raw["normalizer"]), tokenizer=str(raw["tokenizer"]),
        alignment=str(raw["alignment"]),
        empty_reference=str(raw.get("empty_reference", "error")),
        drop_references=tuple(str(t) for t in raw.get("drop_references") or ()),
        drop_check=str(raw["drop_check"]) if raw.get("drop_check") else None,
        multilingual_compound_pairs=bool(raw.get("multilingual_compound_pairs", False)),
        abnormal_filter=bool(raw.get("abnormal_filter", False)), round=digits,
        rtfx=bool(raw.get("rtfx", False)), aggregate=str(raw.get("aggregate", "corpus")),
    )


def _protocol(name: str, raw: Any, origin: Where) -> ProtocolSpec:
    what = f"protocol {name!r}"
    if not isinstance(raw, Mapping):
        raise RegistryError(f"{origin}: {what} must be a mapping of metrics to profiles")
    schema.check_keys(raw, schema.PROTOCOL_KEYS, origin, what)
    profiles = {m: _profile(origin.at(raw, m), what, m, p) for m, p in raw.items()
                if m not in ("description", "tasks")}
    if not profiles:
        raise RegistryError(f"{origin}: {what} defines no profile (wer or cer)")
    tasks = plain(raw.get("tasks", []))
    if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
        raise RegistryError(f"{origin.at(raw, 'tasks')}: {what}: tasks must be a list of task "
                            f"names, not {tasks!r}")
    return ProtocolSpec(name, str(raw.get("description", "")), profiles, tuple(tasks))


def _model(name: str, raw: Any, origin: Where) -> ModelSpec:
    what = f"model {name!r}"
    if not isinstance(raw, Mapping) or "engine" not in raw:
        raise RegistryError(f"{origin}: {what} must be a mapping with an 'engine'")
    engine = str(raw["engine"])
    plugins = schema.plugin_engine_kinds() - schema.ENGINE_KEYS.keys()
    _known("engine", engine, {**schema.ENGINE_KEYS, **dict.fromkeys(plugins)},
           origin.at(raw, "engine"), what)
    if engine in schema.ENGINE_KEYS:
        _check_model(raw, engine, origin, what)
    raw = plain(raw)
    options = {k: v for k, v in raw.items() if k not in {"engine", "tasks", "languages"}}
    return ModelSpec(
        name=name, engine=engine, tasks=tuple(raw.get("tasks", ["asr"])),
        languages=tuple(raw.get("languages", ["en"])), options=options,
    )


def _check_model(raw: Mapping[Any, Any], engine: str, origin: Where, what: str) -> None:
    """The keys its engine reads, and every block and number audiogate can check."""
    known = schema.MODEL_KEYS | schema.ENGINE_KEYS[engine]
    for key in raw:
        owners = sorted(e for e, keys in schema.ENGINE_KEYS.items() if key in keys)
        if key not in known and owners:
            raise RegistryError(f"{origin.at(raw, key)}: {what}: unknown key {plain(key)!r} for "
                                f"engine {engine!r} (a key of {', '.join(owners)}); known: "
                                f"{', '.join(sorted(known))}")
    schema.check_keys(raw, known, origin, what)
    schema.check_numbers(raw, schema.MODEL_NUMBERS, origin, what)
    schema.check_booleans(raw, schema.MODEL_BOOLEANS, origin, what)
    settings = schema.faster_whisper_settings()
    schema.check_block(raw, "settings", origin, what, settings, schema.WHISPER_NUMBERS,
                       known_as="faster-whisper accepts (compute_type and "
                                "WhisperModel.transcribe's arguments)")
    schema.check_block(raw, "chat", origin, what, schema.CHAT_KEYS, schema.CHAT_NUMBERS)
    schema.check_block(raw, "retry", origin, what, schema.RETRY_KEYS, schema.RETRY_NUMBERS)
    schema.check_block(raw, "speech", origin, what, schema.SPEECH_KEYS)
    schema.check_block(raw, "vllm", origin, what, schema.VLLM_KEYS)
    schema.check_block(raw, "transformers", origin, what, schema.TRANSFORMERS_KEYS,
                       schema.TRANSFORMERS_NUMBERS)
    schema.check_block(raw, "generation", origin, what, None)
    schema.check_block(raw, "sampling", origin, what, None, schema.SAMPLING_NUMBERS)
    for passed_through in ("extra_body", "env", "prompts"):
        schema.check_block(raw, passed_through, origin, what, None)
    schema.check_block(raw, "answer", origin, what, None)
    answer = raw.get("answer") or {}
    for task, rules in answer.items():
        if isinstance(rules, Mapping):  # per task: {asr: {json_field: content}}
            schema.check_block(answer, task, origin, f"{what}: answer", schema.ANSWER_KEYS)
        else:
            schema.check_keys({task: rules}, schema.ANSWER_KEYS, origin.at(answer, task),
                              f"{what}: answer")


Entry = TypeVar("Entry")
Parse = Callable[[str, Any, Where], Entry]


def _replacing(entry: Entry, kind: str, name: str, where: Where) -> Entry:
    """``entry`` marked as the one that took a built-in entry's name (where it has room)."""
    if not dataclasses.is_dataclass(entry) or isinstance(entry, type) or \
            "replaces" not in {f.name for f in dataclasses.fields(entry)}:
        return entry
    text = f"{kind} {name!r} is the entry at {where}, which replaces the built-in one"
    replaced: Entry = dataclasses.replace(entry, replaces=text)  # type: ignore[type-var]
    return replaced


def _parse_all(raw: Mapping[Any, Any], parse: Parse[Entry], origin: str
               ) -> dict[str, Entry]:
    where = Where(origin)
    return {str(n): parse(str(n), r, where.at(raw, n)) for n, r in raw.items()}


@cache
def _builtin(filename: str, parse: Parse[Any]) -> dict[str, Any]:
    return _parse_all(_package_entries(filename), parse, f"audiogate/registry/{filename}")


def registered(filename: str, parse: Parse[Entry], extra: Path | None) -> dict[str, Entry]:
    """The package's ``filename`` entries; ``extra`` is a user YAML file whose entries add
    or override (the same for datasets, models and prompts); one that overrides a built-in
    entry carries ``replaces``, saying so."""
    builtin: dict[str, Entry] = _builtin(filename, parse)
    found = dict(builtin)
    if extra is not None:
        if not extra.is_file():
            raise RegistryError(f"{extra}: no such registry file (given for {filename})")
        raw = _read_yaml(extra.read_text(encoding="utf-8"), str(extra), lines=True)
        kind = filename.removesuffix("s.yaml")
        where = Where(str(extra))
        for name, entry in _parse_all(raw, parse, str(extra)).items():
            found[name] = _replacing(entry, kind, name, where.at(raw, name)) \
                if name in builtin else entry
    return found


def lookup(kind: str, name: str, known: Mapping[str, Entry]) -> Entry:
    """``known[name]``, or a RegistryError that lists the registered names."""
    if name not in known:
        raise RegistryError(f"unknown {kind} {name!r}; registered: {', '.join(sorted(known))}")
    return known[name]


def datasets(extra: Path | None = None) -> dict[str, DatasetSpec]:
    """All registered datasets (plus a user file's)."""
    return registered("datasets.yaml", _dataset, extra)


def models(extra: Path | None = None) -> dict[str, ModelSpec]:
    """All registered models (plus a user file's)."""
    return registered("models.yaml", _model, extra)


def protocols(extra: Path | None = None) -> dict[str, ProtocolSpec]:
    """All registered scoring protocols (plus a user file's)."""
    return registered("protocols.yaml", _protocol, extra)


def profile_for(dataset: DatasetSpec, known: Mapping[str, ProtocolSpec],
                name: str | None = None) -> ProfileSpec:
    """The profile of protocol ``name`` (default: the dataset's gating protocol) for the
    dataset's metric; a RegistryError that says what is missing otherwise."""
    name = name or dataset.protocol
    protocol = lookup("protocol", name, known)
    if dataset.metric not in protocol.profiles:
        raise RegistryError(f"dataset {dataset.name!r} is gated under protocol {name!r}, which "
                            f"has no {dataset.metric} profile (it has: "
                            f"{', '.join(sorted(protocol.profiles))})")
    if protocol.tasks and dataset.task not in protocol.tasks:
        raise RegistryError(f"dataset {dataset.name!r} (task {dataset.task}) is gated under "
                            f"protocol {name!r}, which scores {', '.join(protocol.tasks)} only")
    return protocol.profiles[dataset.metric]


def dataset(name: str, extra: Path | None = None) -> DatasetSpec:
    return lookup("dataset", name, datasets(extra))


def model(name: str, extra: Path | None = None) -> ModelSpec:
    return lookup("model", name, models(extra))
