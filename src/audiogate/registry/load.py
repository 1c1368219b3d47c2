"""Load the dataset and model registries (package YAML plus optional user files)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml import YAML

from audiogate.errors import RegistryError

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


@dataclass(frozen=True)
class ModelSpec:
    """One registered model: which engine runs it and with what settings."""

    name: str
    engine: str
    tasks: tuple[str, ...]
    languages: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)

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

_DATASET_KEYS = {"task", "language", "loader", "path", "metric", "expected_samples",
                 "abnormal_limit", "fetch", "protocol", "groups", "long_form"}
# Keys of speech output (read from an entry's options): a dataset's judge ASR and how its
# target text is given to a text-to-speech model; a model's `speech:` block (voice and
# format of a served model's speech) and the embedded synthesizer's voice and rate.
SPEECH_DATASET_KEYS = {"judge", "text_case"}
SPEECH_MODEL_KEYS = {"speech", "voice", "rate"}
_PROFILE_KEYS = {"normalizer", "tokenizer", "alignment", "empty_reference", "drop_references",
                 "drop_check", "multilingual_compound_pairs", "abnormal_filter", "round", "rtfx",
                 "aggregate"}
AGGREGATES = ("corpus", "mean")


def _read_yaml(text: str, origin: str) -> dict[str, Any]:
    try:
        data = YAML(typ="safe").load(text)
    except Exception as exc:  # ruamel raises many error types; all mean "not YAML"
        raise RegistryError(f"{origin}: not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RegistryError(f"{origin}: expected a mapping of names to entries")
    return data


def _package_yaml(name: str) -> dict[str, Any]:
    text = resources.files("audiogate.registry").joinpath(name).read_text(encoding="utf-8")
    return _read_yaml(text, f"audiogate/registry/{name}")


def _dataset(name: str, raw: Any, origin: str) -> DatasetSpec:
    if not isinstance(raw, dict):
        raise RegistryError(f"{origin}: dataset {name!r} must be a mapping")
    missing = {"task", "language", "loader", "path", "metric"} - raw.keys()
    if missing:
        raise RegistryError(f"{origin}: dataset {name!r} lacks {sorted(missing)}")
    if raw["metric"] not in METRICS:
        raise RegistryError(f"{origin}: dataset {name!r}: unknown metric {raw['metric']!r}")
    options = {k: v for k, v in raw.items() if k not in _DATASET_KEYS}
    groups = raw.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
        raise RegistryError(f"{origin}: dataset {name!r}: groups must be a list of sample meta "
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


def _profile(where: str, metric: str, raw: Any) -> ProfileSpec:
    if metric not in METRICS or metric == "acc":
        raise RegistryError(f"{where}: profiles are for wer or cer, not {metric!r}")
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: the {metric} profile must be a mapping")
    unknown = set(raw) - _PROFILE_KEYS
    missing = {"normalizer", "tokenizer", "alignment"} - raw.keys()
    if unknown or missing:
        problem = f"unknown key(s) {sorted(unknown)}" if unknown else f"lacks {sorted(missing)}"
        raise RegistryError(f"{where}: {metric} profile {problem} (keys: "
                            f"{', '.join(sorted(_PROFILE_KEYS))})")
    if raw.get("empty_reference", "error") not in ("error", "drop"):
        raise RegistryError(f"{where}: {metric} empty_reference must be error or drop")
    digits = raw.get("round")
    if digits is not None and (not isinstance(digits, int) or isinstance(digits, bool)):
        raise RegistryError(f"{where}: {metric} round must be a number of digits or null")
    if raw.get("aggregate", "corpus") not in AGGREGATES:
        raise RegistryError(f"{where}: {metric} aggregate must be one of "
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


def _protocol(name: str, raw: Any, origin: str) -> ProtocolSpec:
    where = f"{origin}: protocol {name!r}"
    if not isinstance(raw, dict):
        raise RegistryError(f"{where} must be a mapping of metrics to profiles")
    profiles = {m: _profile(where, m, p) for m, p in raw.items()
                if m not in ("description", "tasks")}
    if not profiles:
        raise RegistryError(f"{where} defines no profile (wer or cer)")
    tasks = raw.get("tasks", [])
    if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
        raise RegistryError(f"{where}: tasks must be a list of task names, not {tasks!r}")
    return ProtocolSpec(name, str(raw.get("description", "")), profiles, tuple(tasks))


def _model(name: str, raw: Any, origin: str) -> ModelSpec:
    if not isinstance(raw, dict) or "engine" not in raw:
        raise RegistryError(f"{origin}: model {name!r} must be a mapping with an 'engine'")
    options = {k: v for k, v in raw.items() if k not in {"engine", "tasks", "languages"}}
    return ModelSpec(
        name=name, engine=raw["engine"], tasks=tuple(raw.get("tasks", ["asr"])),
        languages=tuple(raw.get("languages", ["en"])), options=options,
    )


Entry = TypeVar("Entry")
Parse = Callable[[str, Any, str], Entry]


@cache
def _builtin(filename: str, parse: Parse[Any]) -> dict[str, Any]:
    return {n: parse(n, r, filename) for n, r in _package_yaml(filename).items()}


def registered(filename: str, parse: Parse[Entry], extra: Path | None) -> dict[str, Entry]:
    """The package's ``filename`` entries; ``extra`` is a user YAML file whose entries add
    or override (the same for datasets, models and prompts)."""
    found: dict[str, Entry] = dict(_builtin(filename, parse))
    if extra is not None:
        if not extra.is_file():
            raise RegistryError(f"{extra}: no such registry file (given for {filename})")
        raw = _read_yaml(extra.read_text(encoding="utf-8"), str(extra))
        found.update({n: parse(n, r, str(extra)) for n, r in raw.items()})
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
