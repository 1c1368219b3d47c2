"""thresholds.yaml: what each (model, dataset, metric) scored, its one-sided limit, and the
sample set it was recorded on. Loading validates every key; only `update()` ever writes.

Schema (a mapping model -> dataset -> list of entries)::

    whisper-tiny.en:
      librispeech-test-clean:
        - metric: wer
          value: 4.27        # the recorded score
          max: 4.70          # lower-is-better metrics: a max; accuracy: a min
          samples: 6         # size of the sample set it was recorded on
          sample_set: 1f9c…  # fingerprint of its sample ids (optional when only size is known)
          excluded: 0        # samples the abnormal filter excluded when it was recorded
                             # ("unknown" for tables recorded elsewhere: then max_excluded
                             # must be set explicitly)
          max_excluded: 0    # samples the filter may exclude (default: `excluded`)
          max_errors: 0      # samples allowed to error (default 0)
          protocol: ultraeval-audio  # the scoring protocol it was recorded under
                                     # (default: the dataset's gating protocol)
          judge: whisper-tiny.en     # pairs whose answers are speech: the judge ASR that
                                     # transcribed them (required on judged metrics)
          note: free text

A pair whose answers are speech may also gate its speech metrics, one entry each
(``metric: sim-ge2e`` / ``dnsmos`` with a ``min``, ``text-speech-wer`` with a ``max``).

Every value is checked on load: finite numbers only (no booleans), WER/CER >= 0, accuracy
within 0-100, the limit on the lenient side of `value`, counts non-negative integers.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from audiogate.errors import ThresholdsError
from audiogate.gate.speed_entry import parse_speed_entry
from audiogate.gate.yaml_fields import count as _count
from audiogate.gate.yaml_fields import finite as _finite
from audiogate.gate.yaml_fields import line as _line
from audiogate.registry.load import (
    ANSWERED,
    DNSMOS,
    LOWER_IS_BETTER,
    PROPORTIONS,
    SIM,
    SPEECH_METRICS,
    TEXT_SPEECH_WER,
    DatasetSpec,
    ModelSpec,
    judged,
    speech_metrics,
)
from audiogate.registry.schema import SPEED, SPEED_ENTRY_KEYS, closest

ENTRY_KEYS = {"metric", "value", "max", "min", "samples", "sample_set", "max_errors", "note",
              "excluded", "max_excluded", "protocol",
              # statistical gates (paired bootstrap against a stored baseline)
              "gate", "margin", "confidence", "baseline",
              # pairs whose answers are speech: the judge ASR of the judged metrics
              "judge"}
# What a speech metric's value may be: speaker similarity is a cosine, DNSMOS a MOS.
SPEECH_RANGES = {SIM: (-1.0, 1.0), DNSMOS: (1.0, 5.0)}
UNKNOWN = "unknown"  # `excluded: unknown`: the exclusion count of a table recorded elsewhere




@dataclass(frozen=True)
class Entry:
    model: str
    dataset: str
    metric: str
    value: float
    limit: float
    samples: int
    sample_set: str | None
    max_errors: int
    line: int
    raw: Mapping[str, Any]
    gates: tuple[str, ...] = ("limit",)  # "limit" and/or "paired"
    margin: float = 0.0  # paired gate: allowed worsening, in metric points
    confidence: float = 0.95
    baseline: str | None = None  # paired gate: per-sample JSONL, relative to thresholds.yaml
    excluded: int | None = 0  # excluded by the abnormal filter when recorded; None = unknown
    max_excluded: int = 0
    protocol: str | None = None  # the scoring protocol it was recorded under
    judge: str | None = None  # speech answers: the judge ASR that transcribed them

    @property
    def lower_is_better(self) -> bool:
        return LOWER_IS_BETTER[self.metric]

    def matches(self, total: int, fingerprint: str) -> bool:
        if self.sample_set is not None:
            return self.sample_set == fingerprint
        return self.samples == total


# The status of a pair with no recorded threshold: the gate says it, the reports show it.
NOT_GATED_STATUS = "not gated"


@dataclass(frozen=True)
class Verdict:
    status: str  # "pass" | "fail" | "not gated" | "error" (also: another scoring protocol)
    reason: str
    entry: Entry | None = None


class Thresholds:
    """The validated file, indexed by (model, dataset)."""

    def __init__(self, path: Path, entries: list[Entry], speed: list[Any] | None = None
                 ) -> None:
        self.path = path
        self.entries = entries
        self.speed: list[Any] = list(speed or [])  # speed_entry.SpeedEntry, `metric: speed`
        self.used: set[tuple[str, str]] = set()

    def speed_for(self, model: str, dataset: str) -> list[Any]:
        return [e for e in self.speed if e.model == model and e.dataset == dataset]

    def for_pair(self, model: str, dataset: str) -> list[Entry]:
        return [e for e in self.entries if e.model == model and e.dataset == dataset]

    def is_gated(self, model: str, dataset: str) -> bool:
        return bool(self.for_pair(model, dataset))

    def unused(self, collected: Iterable[tuple[str, str]]) -> list[Entry]:
        seen = set(collected)
        return [e for e in self.entries if (e.model, e.dataset) not in seen]


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # a long baseline path stays on its key's line
    return yaml


def load(path: Path, models: Mapping[str, ModelSpec], datasets: Mapping[str, DatasetSpec],
         protocols: Collection[str] | None = None) -> Thresholds:
    """Read and validate; any problem raises ThresholdsError naming file, line and key.
    ``protocols``: the known protocol names, checked when given."""
    if not path.exists():
        return Thresholds(path, [])
    try:
        data = _yaml().load(path.read_text(encoding="utf-8"))
    except Exception as exc:  # ruamel's parser/scanner errors carry the line in their text
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else f"{path}"
        raise ThresholdsError(f"{where}: not valid YAML: {exc}") from exc
    if data is None:
        return Thresholds(path, [])
    if not isinstance(data, CommentedMap):
        raise ThresholdsError(f"{path}: expected a mapping of model names at the top level")
    entries: list[Entry] = []
    speed = []
    for model, per_dataset in data.items():
        where = f"{path}:{_line(data, model)}"
        if model not in models:
            raise ThresholdsError(f"{where}: unknown model {model!r} (registered: "
                                  f"{', '.join(sorted(models))})")
        if not isinstance(per_dataset, CommentedMap):
            raise ThresholdsError(f"{where}: model {model!r} must map dataset names to entries")
        for dataset, items in per_dataset.items():
            where = f"{path}:{_line(per_dataset, dataset)}"
            if dataset not in datasets:
                raise ThresholdsError(f"{where}: unknown dataset {dataset!r} under {model!r}")
            if not isinstance(items, CommentedSeq):
                raise ThresholdsError(f"{where}: {model}/{dataset} must be a list of entries")
            for item in items:
                if isinstance(item, CommentedMap) and item.get("metric") == SPEED:
                    speed.append(parse_speed_entry(path, model, datasets[dataset], item))
                    continue
                entries.append(_entry(path, model, datasets[dataset], item, protocols,
                                      models[model]))
    return Thresholds(path, entries, speed)


def _entry(path: Path, model: str, spec: DatasetSpec, item: Any,
           protocols: Collection[str] | None = None, model_spec: ModelSpec | None = None
           ) -> Entry:
    line = _line(item)
    where = f"{path}:{line}: {model}/{spec.name}"
    if not isinstance(item, CommentedMap):
        raise ThresholdsError(f"{where}: each entry must be a mapping")

    def at(key: str) -> str:
        return f"{path}:{_line(item, key) or line}: {model}/{spec.name}: `{key}`"

    unknown = set(item) - ENTRY_KEYS
    if unknown:
        key = sorted(unknown)[0]
        hint = (" (a key of speed entries: add `metric: speed` to gate speed)"
                if key in SPEED_ENTRY_KEYS else closest(key, ENTRY_KEYS))
        raise ThresholdsError(f"{path}:{_line(item, key)}: {model}/{spec.name}: unknown key "
                              f"{key!r}{hint} (allowed: {', '.join(sorted(ENTRY_KEYS))})")
    metric = item.get("metric")
    if metric not in LOWER_IS_BETTER:
        raise ThresholdsError(f"{where}: unknown metric {metric!r} (known: "
                              f"{', '.join([*LOWER_IS_BETTER, SPEED])})")
    extra = speech_metrics(model_spec, spec) if model_spec is not None else ()
    if metric not in (spec.metric, ANSWERED, *extra):
        also = f"; this pair also reports {', '.join(extra)}" if extra else ""
        raise ThresholdsError(f"{where}: metric {metric!r} does not apply: {spec.name} is "
                              f"scored by {spec.metric!r}{also}")
    judge = _judge(item, metric, spec, model_spec, at)
    lower = LOWER_IS_BETTER[metric]
    bound = "max" if lower else "min"
    wrong = "min" if bound == "max" else "max"
    if wrong in item:
        raise ThresholdsError(f"{where}: {metric} is gated by a one-sided `{bound}`, not "
                              f"`{wrong}` (improving never fails)")
    for key in ("value", bound, "samples"):
        if key not in item:
            raise ThresholdsError(f"{where}: entry lacks `{key}`")
    value = _score(item["value"], metric, at("value"))
    limit = _score(item[bound], metric, at(bound))
    if (limit < value) if lower else (limit > value):
        raise ThresholdsError(f"{at(bound)} {limit:g} is on the strict side of value {value:g}: "
                              f"the recorded run would fail its own gate (a {bound} must be "
                              f"{'>=' if lower else '<='} the value)")
    samples = _count(item["samples"], at("samples"))
    max_errors = _count(item.get("max_errors", 0), at("max_errors"))
    excluded: int | None
    if item.get("excluded", 0) == UNKNOWN:
        excluded = None
        if "max_excluded" not in item:
            raise ThresholdsError(f"{at('excluded')} is {UNKNOWN!r} (recorded elsewhere): set "
                                  "`max_excluded` explicitly to say how many excluded samples "
                                  "this gate accepts")
    else:
        excluded = _count(item.get("excluded", 0), at("excluded"))
    max_excluded = _count(item.get("max_excluded", excluded or 0), at("max_excluded"))
    sample_set = item.get("sample_set")
    gates_raw = item.get("gate", "limit")
    gates = tuple(gates_raw) if isinstance(gates_raw, list) else (str(gates_raw),)
    if not gates or set(gates) - {"limit", "paired"}:
        raise ThresholdsError(f"{path}:{_line(item, 'gate')}: {model}/{spec.name}: gate must be "
                              f"limit, paired or a list of both, not {gates_raw!r}")
    if "paired" in gates and not item.get("baseline"):
        raise ThresholdsError(f"{where}: the paired gate needs a `baseline` file (written by "
                              "--update-thresholds)")
    margin = _finite(item.get("margin", 0.0), at("margin"))
    if not 0.0 <= margin <= 100.0:
        raise ThresholdsError(f"{at('margin')} must be within 0-100 points, not {margin:g}")
    confidence = _finite(item.get("confidence", 0.95), at("confidence"))
    if not 0.5 <= confidence < 1.0:
        raise ThresholdsError(f"{at('confidence')} must be in [0.5, 1), not {confidence:g}")
    baseline = item.get("baseline")
    protocol = str(item["protocol"]) if item.get("protocol") else None
    if protocol is not None and protocols is not None and protocol not in protocols:
        raise ThresholdsError(f"{at('protocol')}: unknown protocol {protocol!r} (registered: "
                              f"{', '.join(sorted(protocols))})")
    if protocol is None and metric not in PROPORTIONS and metric not in SPEECH_METRICS:
        protocol = spec.protocol  # entries written before protocols were named
    if "paired" in gates and metric == spec.metric and isinstance(protocols, Mapping) and \
            protocol in protocols and metric in protocols[protocol].profiles and \
            protocols[protocol].profiles[metric].aggregate == "mean":
        raise ThresholdsError(f"{at('gate')}: the paired gate compares corpus rates; "
                              f"protocol {protocol!r} averages per-sample rates: gate it by "
                              "its limit")
    return Entry(model, spec.name, metric, value, limit, samples,
                 str(sample_set) if sample_set is not None else None, max_errors, line, item,
                 gates, margin, confidence, str(baseline) if baseline else None,
                 excluded, max_excluded, protocol, judge)


def _judge(item: Any, metric: str, spec: DatasetSpec, model: ModelSpec | None,
           at: Callable[[str], str]) -> str | None:
    """The entry's `judge`: required on the metrics a judge's transcript decides (the
    dataset's own, text-speech-wer) of a pair whose answers are speech; refused elsewhere."""
    speaking = model is not None and judged(model, spec)
    decided = speaking and metric in (spec.metric, TEXT_SPEECH_WER)
    raw = item.get("judge")
    if raw is None:
        if decided:
            raise ThresholdsError(f"{at('metric')}: {metric} of a pair whose answers are "
                                  "speech needs `judge:` (the judge ASR it was recorded with)")
        return None
    if not decided:
        raise ThresholdsError(f"{at('judge')}: a judge applies to what a judge transcribed "
                              f"(the dataset metric and {TEXT_SPEECH_WER} of a pair whose "
                              "answers are speech), not to this entry")
    if not isinstance(raw, str) or not raw:
        raise ThresholdsError(f"{at('judge')} must name a registered model, not {raw!r}")
    return raw


def _score(raw: Any, metric: str, where: str) -> float:
    """A metric value: WER/CER >= 0 (may exceed 100 with insertions), accuracy 0-100,
    speaker similarity -1..1, DNSMOS 1..5."""
    value = _finite(raw, where)
    if metric in SPEECH_RANGES:
        low, high = SPEECH_RANGES[metric]
        if not low <= value <= high:
            raise ThresholdsError(f"{where} must be within {low:g}..{high:g} for {metric}, "
                                  f"not {value:g}")
        return value
    if LOWER_IS_BETTER[metric] and value < 0:
        raise ThresholdsError(f"{where} must be >= 0 for {metric}, not {value:g}")
    if not LOWER_IS_BETTER[metric] and not 0.0 <= value <= 100.0:
        raise ThresholdsError(f"{where} must be within 0-100 for {metric}, not {value:g}")
    return value


@dataclass(frozen=True)
class RunFacts:
    """What one run measured on a pair, as the gate judges it."""

    metric: str
    value: float | None
    total: int
    errors: int
    excluded: int
    fingerprint: str
    ids: frozenset[str] = frozenset()
    excluded_detail: str = ""  # the excluded samples, for the failure message
    protocol: str | None = None  # the gating protocol the value was scored under
    # `value` counts each errored sample as the worst answer; this is over the answered
    answered_value: float | None = None
    # errored samples with no reference to count as deleted: "id: error" each
    uncounted: tuple[str, ...] = ()


def _first(ids: Iterable[str], show: int = 3) -> str:
    items = sorted(ids)
    shown = ", ".join(items[:show])
    return shown + (f", … (+{len(items) - show})" if len(items) > show else "")


def sample_set_change(entry: Entry, run: RunFacts, recorded_ids: frozenset[str] | None) -> str:
    """How this run's sample set differs from the one ``entry`` was recorded on."""
    head = (f"recorded on {entry.samples} samples [{entry.sample_set or 'ids not pinned'}] "
            f"(line {entry.line})")
    if recorded_ids is None:
        return (f"{head}; this run has {run.total} samples [{run.fingerprint}] (the recorded "
                "ids are unknown: the entry has no baseline file)")
    added, missing = run.ids - recorded_ids, recorded_ids - run.ids
    parts = [f"{head}; this run has {run.total} samples [{run.fingerprint}]: "
             f"{len(added)} id(s) added, {len(missing)} missing"]
    if added:
        parts.append(f"added: {_first(added)}")
    if missing:
        parts.append(f"missing: {_first(missing)}")
    return "; ".join(parts)


def judge(entries: list[Entry], run: RunFacts, *, record_hint: str,
          recorded_ids: Callable[[Entry], frozenset[str] | None] = lambda e: None) -> Verdict:
    """Compare a run with the entry recorded on the same sample set, and only that one.

    A (model, dataset, metric) with entries but none for this sample set FAILS (a gate that
    exists is never skipped); only a pair with no entry at all is "not gated", and then an
    errored sample makes it an "error", never a quiet pass.
    """
    if run.total > 0 and run.errors == run.total:
        return Verdict("fail", f"all {run.total} sample(s) errored: nothing was measured")
    candidates = [e for e in entries if e.metric == run.metric]
    if not candidates:
        if run.errors:
            return Verdict("error", f"{run.errors} of {run.total} sample(s) errored (no "
                                    f"recorded threshold; record it with {record_hint} once "
                                    "every sample runs)")
        return Verdict(NOT_GATED_STATUS, f"no recorded threshold; record it with {record_hint}")
    matching = [e for e in candidates if e.matches(run.total, run.fingerprint)]
    if not matching:
        known = {id(e): recorded_ids(e) for e in candidates}

        def distance(e: Entry) -> tuple[int, int]:
            ids = known[id(e)]
            return (0, len(run.ids ^ ids)) if ids is not None else (1, abs(e.samples - run.total))

        closest = min(candidates, key=distance)
        return Verdict("fail", "thresholds.yaml gates this pair, but on another sample set: "
                               f"{sample_set_change(closest, run, known[id(closest)])} — not "
                               f"comparable; record this set deliberately with {record_hint}")
    if run.protocol is not None:
        same_protocol = [e for e in matching if e.protocol in (None, run.protocol)]
        if not same_protocol:
            recorded = ", ".join(f"{e.protocol!r} (line {e.line})" for e in matching)
            return Verdict("error", f"the threshold for this sample set was recorded under "
                                    f"protocol {recorded}, but this pair is scored for the gate "
                                    f"under {run.protocol!r}: values of different protocols are "
                                    "not comparable; set the dataset's `protocol:` to the "
                                    f"recorded one, or record this protocol with {record_hint}")
        matching = same_protocol
    entry = matching[0]
    verdict = _judge_entry(entry, run)
    if entry.sample_set is None:
        verdict = Verdict(verdict.status, f"{verdict.reason}; {count_only(entry)}",
                          verdict.entry)
    return verdict


def count_only(entry: Entry) -> str:
    """Why a verdict against an entry without `sample_set` proves less than it seems."""
    return (f"matched on count only: the entry (line {entry.line}) records {entry.samples} "
            f"samples and no sample_set, so any {entry.samples} samples match it; "
            "--update-thresholds pins this run's set")


def _judge_entry(entry: Entry, run: RunFacts) -> Verdict:
    """The verdict of ``run`` against the one entry recorded on its sample set."""
    name = run.metric.upper()
    bound = "max" if entry.lower_is_better else "min"
    if run.errors > entry.max_errors:
        return Verdict("fail", f"{run.errors} sample(s) errored (allowed {entry.max_errors})",
                       entry)
    if run.uncounted:
        shown = "; ".join(run.uncounted[:5]) + (
            f" (+{len(run.uncounted) - 5} more)" if len(run.uncounted) > 5 else "")
        return Verdict("fail", f"{len(run.uncounted)} errored sample(s) have no reference to "
                               "count as deleted, so the worst answer there is unknown and "
                               f"max_errors cannot allow them: {shown}", entry)
    if run.excluded > entry.max_excluded:
        recorded = "an unknown number" if entry.excluded is None else str(entry.excluded)
        return Verdict("fail", f"{run.excluded} sample(s) excluded as abnormal (recorded with "
                               f"{recorded}, allowed {entry.max_excluded}): "
                               f"{run.excluded_detail}", entry)
    if run.value is None:
        return Verdict("fail", "nothing could be scored", entry)
    # Compared at the precision the tables publish and limits are recorded at (2 decimals):
    # 2 of 3 answered is 66.67, which meets "min 66.67".
    value = round(run.value, 2)
    delta = round(value - entry.value, 2) + 0.0  # never "-0.00"
    worse = value > entry.limit if entry.lower_is_better else value < entry.limit
    text = (f"{name} {value:.2f} {'>' if entry.lower_is_better else '<'} {bound} "
            f"{entry.limit:.2f} (recorded {entry.value:.2f}, {delta:+.2f})")
    counted = f"; {errors_counted(run.errors, name, run.answered_value)}" if run.errors else ""
    if worse:
        return Verdict("fail", f"regressed: {text}{counted}", entry)
    return Verdict("pass", f"{name} {value:.2f} within {bound} {entry.limit:.2f} "
                           f"(recorded {entry.value:.2f}, {delta:+.2f}){counted}", entry)


def errors_counted(errors: int, name: str, answered: float | None) -> str:
    """How a value with allowed errors was computed, and the value without them."""
    worst = "a wrong answer" if name in ("ACC", "ANSWERED") else "every reference token deleted"
    over = "—" if answered is None else f"{answered:.2f}"
    return (f"{errors} errored sample(s) counted as {worst}; {name} over the answered "
            f"samples only: {over}")


@dataclass(frozen=True)
class Measured:
    """A pair's result as the update flow records it."""

    model: str
    dataset: str
    metric: str
    value: float
    samples: int
    sample_set: str
    baseline: str | None = None  # path of the per-sample baseline, relative to the file
    excluded: int = 0
    protocol: str | None = None  # the gating protocol the value was scored under
    judge: str | None = None  # speech answers: the judge ASR that transcribed them


@dataclass(frozen=True)
class Change:
    """What recording a measurement does to its entry."""

    kind: str  # "new" | "tightened" | "loosened" | "unchanged" | "pinned" (only the
    #            sample set of an entry matched on count only was added)
    text: str  # "whisper-tiny.en/x wer: 13.93 -> 14.85 (max 15.32 -> 16.24)"
    refused: bool = False  # a loosening without --accept-regression: not written

    @property
    def written(self) -> bool:
        """Whether recording it changes the file."""
        return self.kind not in ("unchanged", NOT_RECORDED) and not self.refused


# A pair that passed with errored samples: its value is never recorded (see not_recorded).
NOT_RECORDED = "not recorded"


def default_limit(metric: str, value: float) -> float:
    """New entries: 10 % relative slack (at least 0.1 points) in the worse direction;
    none for `answered`, whose contract is that every sample gets an answer."""
    if metric == ANSWERED:
        return round(value, 2)
    slack = max(0.1, abs(value) * 0.10)
    limit = round(value + slack, 2) if LOWER_IS_BETTER[metric] else round(value - slack, 2)
    if metric in SPEECH_RANGES:  # a limit its metric can reach
        low, high = SPEECH_RANGES[metric]
        limit = min(max(limit, low), high)
    return limit


def plan_change(m: Measured, recorded: tuple[float, float, int] | None, *,
                accept_regression: bool) -> tuple[Change, float]:
    """(the change, the new limit) for measurement ``m`` against its entry on the same set.

    ``recorded`` is (value, limit, excluded samples allowed) of that entry, or None for a
    new entry. An existing entry keeps its slack (limit - value). Raising a max, lowering a
    min or accepting more excluded samples loosens the gate: refused unless
    ``accept_regression``.
    """
    lower = LOWER_IS_BETTER[m.metric]
    bound = "max" if lower else "min"
    value = round(m.value, 2)
    pair = f"{m.model}/{m.dataset} {m.metric}"
    if recorded is None:
        limit = default_limit(m.metric, value)
        return Change("new", f"{pair}: new entry {value:.2f} ({bound} {limit:.2f}, "
                             f"{m.samples} samples, {m.excluded} excluded)"), limit
    old_value, old_limit, old_allowed = recorded
    limit = round(value + (old_limit - old_value), 2)
    looser = (limit > old_limit) if lower else (limit < old_limit)
    tighter = (limit < old_limit) if lower else (limit > old_limit)
    more_excluded = (f", excluded allowed {old_allowed} -> {m.excluded}"
                     if m.excluded > old_allowed else "")
    text = (f"{pair}: {old_value:.2f} -> {value:.2f} ({bound} {old_limit:.2f} -> "
            f"{limit:.2f}{more_excluded})")
    if looser or m.excluded > old_allowed:
        refused = not accept_regression
        return Change("loosened", text + (" — REFUSED: this loosens the gate; pass "
                                          "--accept-regression to record it" if refused else ""),
                      refused), limit
    return Change("tightened" if tighter else "unchanged", text), limit


def _same_set(item: Any, m: Measured) -> bool:
    """Recorded on this sample set, under this protocol (an entry without `protocol` was
    recorded under the dataset's gating protocol)."""
    return bool(item.get("sample_set") == m.sample_set or (
        item.get("sample_set") is None and item.get("samples") == m.samples)) and \
        item.get("protocol") in (None, m.protocol) and item.get("judge") == m.judge


def recorded_of(entry: Entry) -> tuple[float, float, int]:
    """(value, limit, excluded allowed) of a loaded entry, for ``plan_change``."""
    return entry.value, entry.limit, entry.max_excluded


def update(path: Path, measured: Iterable[Measured], *, accept_regression: bool = False
           ) -> list[Change]:
    """Write measured values for the pairs that ran; keep comments, order and other entries.

    Returns one Change per measurement (new / tightened / loosened / unchanged); a
    loosening is written only with ``accept_regression``.
    """
    yaml = _yaml()
    data = yaml.load(path.read_text(encoding="utf-8")) if path.exists() else None
    if data is None:
        data = CommentedMap()
    changes: list[Change] = []
    written = False
    for m in measured:
        bound = "max" if LOWER_IS_BETTER[m.metric] else "min"
        value = round(m.value, 2)
        items = data.get(m.model, {}).get(m.dataset, [])
        item = next((i for i in items if i.get("metric") == m.metric and _same_set(i, m)), None)
        if item is None:
            change, limit = plan_change(m, None, accept_regression=accept_regression)
            entry = CommentedMap()
            entry["metric"] = m.metric
            entry["value"] = value
            entry[bound] = limit
            entry["samples"] = m.samples
            entry["sample_set"] = m.sample_set
            entry["excluded"] = m.excluded
            if m.protocol:
                entry["protocol"] = m.protocol
            if m.judge:
                entry["judge"] = m.judge
            if m.baseline:
                entry["baseline"] = m.baseline
            _add_entry(data, m.model, m.dataset, entry)
            changes.append(change)
            written = True
            continue
        allowed = item.get("max_excluded", item.get("excluded", 0))
        allowed = allowed if isinstance(allowed, int) and not isinstance(allowed, bool) else 0
        change, limit = plan_change(m, (float(item["value"]), float(item[bound]), allowed),
                                    accept_regression=accept_regression)
        if item.get("sample_set") is None and not change.refused:
            change = Change("pinned" if change.kind == "unchanged" else change.kind,
                            f"{change.text}; sample_set pinned to {m.sample_set} (matched on "
                            "count only until now)")
        changes.append(change)
        if change.refused:
            continue
        before = (item.get("value"), item.get(bound), item.get("excluded"),
                  item.get("baseline"), item.get("sample_set"))
        item["value"] = value
        item[bound] = limit
        item["sample_set"] = m.sample_set
        if item.get("excluded", 0) != m.excluded:  # absent means 0: keep files short
            item["excluded"] = m.excluded
        if "max_excluded" in item and m.excluded > int(item["max_excluded"]):
            item["max_excluded"] = m.excluded
        if m.baseline:
            item["baseline"] = m.baseline
        if m.protocol:
            item["protocol"] = m.protocol
        after = (item.get("value"), item.get(bound), item.get("excluded"),
                 item.get("baseline"), item.get("sample_set"))
        written = written or before != after
    if written:
        buf = io.StringIO()
        yaml.dump(data, buf)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        tmp.replace(path)
    return changes


def _add_entry(data: CommentedMap, model: str, dataset: str, entry: CommentedMap) -> None:
    """Append ``entry`` under model/dataset where it belongs, keeping every comment in place.

    ruamel keeps a comment that precedes a key (``# the reasoning model`` above the next
    model) as a trailing comment of the last value before it; appending after that value
    would put the new entry above the comment. So the comment moves to the new last value.
    """
    container: Any
    value: Any
    if model not in data:
        container, key, value = data, model, CommentedMap({dataset: CommentedSeq([entry])})
    elif dataset not in data[model]:
        container, key, value = data[model], dataset, CommentedSeq([entry])
    else:
        container, key, value = data[model][dataset], None, entry
    before = _last_leaf(container)
    if key is None:
        container.append(value)
    else:
        container[key] = value
    after = _last_leaf(container)
    if before is None or after is None:
        return
    (old_node, old_key), (new_node, new_key) = before, after
    slot_old = 2 if isinstance(old_node, CommentedMap) else 0
    slot_new = 2 if isinstance(new_node, CommentedMap) else 0
    tokens = old_node.ca.items.get(old_key)
    if tokens is None or len(tokens) <= slot_old or tokens[slot_old] is None:
        return
    target = new_node.ca.items.setdefault(new_key, [None, None, None, None])
    target[slot_new], tokens[slot_old] = tokens[slot_old], None


def _last_leaf(node: Any) -> tuple[Any, Any] | None:
    """(container, key or index) of the last scalar below ``node``: where a comment that
    follows the node is attached."""
    while isinstance(node, (CommentedMap, CommentedSeq)) and len(node):
        key = list(node.keys())[-1] if isinstance(node, CommentedMap) else len(node) - 1
        child = node[key]
        if isinstance(child, (CommentedMap, CommentedSeq)) and len(child):
            node = child
            continue
        return node, key
    return None
