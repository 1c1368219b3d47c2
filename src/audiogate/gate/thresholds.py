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
          max_errors: 0      # samples allowed to error (default 0)
          protocol: ultraeval-audio  # the scoring protocol it was recorded under
                                     # (default: the dataset's gating protocol)
          note: free text
"""

from __future__ import annotations

import io
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from audiogate.errors import ThresholdsError
from audiogate.registry.load import LOWER_IS_BETTER, DatasetSpec, ModelSpec

ENTRY_KEYS = {"metric", "value", "max", "min", "samples", "sample_set", "max_errors", "note",
              "protocol",
              # statistical gates (paired bootstrap against a stored baseline)
              "gate", "margin", "confidence", "baseline"}



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
    protocol: str | None = None  # the scoring protocol it was recorded under

    @property
    def lower_is_better(self) -> bool:
        return LOWER_IS_BETTER[self.metric]

    def matches(self, total: int, fingerprint: str) -> bool:
        if self.sample_set is not None:
            return self.sample_set == fingerprint
        return self.samples == total


@dataclass(frozen=True)
class Verdict:
    status: str  # "pass" | "fail" | "ungated" | "error" (not comparable: another protocol)
    reason: str
    entry: Entry | None = None


class Thresholds:
    """The validated file, indexed by (model, dataset)."""

    def __init__(self, path: Path, entries: list[Entry]) -> None:
        self.path = path
        self.entries = entries
        self.used: set[tuple[str, str]] = set()

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
    return yaml


def _line(node: Any, key: Any = None) -> int:
    try:
        if key is not None:
            return int(node.lc.key(key)[0]) + 1
        return int(node.lc.line) + 1
    except (AttributeError, KeyError, TypeError):
        return 0


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
                entries.append(_entry(path, model, datasets[dataset], item, protocols))
    return Thresholds(path, entries)


def _entry(path: Path, model: str, spec: DatasetSpec, item: Any,
           protocols: Collection[str] | None = None) -> Entry:
    line = _line(item)
    where = f"{path}:{line}: {model}/{spec.name}"
    if not isinstance(item, CommentedMap):
        raise ThresholdsError(f"{where}: each entry must be a mapping")
    unknown = set(item) - ENTRY_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise ThresholdsError(f"{path}:{_line(item, key)}: {model}/{spec.name}: unknown key "
                              f"{key!r} (allowed: {', '.join(sorted(ENTRY_KEYS))})")
    metric = item.get("metric")
    if metric not in LOWER_IS_BETTER:
        raise ThresholdsError(f"{where}: unknown metric {metric!r} (known: wer, cer, acc)")
    if metric != spec.metric:
        raise ThresholdsError(f"{where}: metric {metric!r} does not apply: {spec.name} is "
                              f"scored by {spec.metric!r}")
    bound = "max" if LOWER_IS_BETTER[metric] else "min"
    wrong = "min" if bound == "max" else "max"
    if wrong in item:
        raise ThresholdsError(f"{where}: {metric} is gated by a one-sided `{bound}`, not "
                              f"`{wrong}` (improving never fails)")
    for key in ("value", bound, "samples"):
        if key not in item:
            raise ThresholdsError(f"{where}: entry lacks `{key}`")
    try:
        value, limit = float(item["value"]), float(item[bound])
        samples, max_errors = int(item["samples"]), int(item.get("max_errors", 0))
    except (TypeError, ValueError) as exc:
        raise ThresholdsError(f"{where}: value/{bound}/samples/max_errors must be numbers "
                              f"({exc})") from exc
    sample_set = item.get("sample_set")
    gates_raw = item.get("gate", "limit")
    gates = tuple(gates_raw) if isinstance(gates_raw, list) else (str(gates_raw),)
    if not gates or set(gates) - {"limit", "paired"}:
        raise ThresholdsError(f"{path}:{_line(item, 'gate')}: {model}/{spec.name}: gate must be "
                              f"limit, paired or a list of both, not {gates_raw!r}")
    if "paired" in gates and not item.get("baseline"):
        raise ThresholdsError(f"{where}: the paired gate needs a `baseline` file (written by "
                              "--update-thresholds)")
    try:
        margin, confidence = float(item.get("margin", 0.0)), float(item.get("confidence", 0.95))
    except (TypeError, ValueError) as exc:
        raise ThresholdsError(f"{where}: margin/confidence must be numbers ({exc})") from exc
    if not 0.5 <= confidence < 1.0:
        raise ThresholdsError(f"{where}: confidence must be in [0.5, 1), not {confidence}")
    baseline = item.get("baseline")
    protocol = str(item["protocol"]) if item.get("protocol") else None
    if protocol is not None and protocols is not None and protocol not in protocols:
        raise ThresholdsError(f"{path}:{_line(item, 'protocol')}: {model}/{spec.name}: "
                              f"unknown protocol {protocol!r} (registered: "
                              f"{', '.join(sorted(protocols))})")
    if protocol is None and metric != "acc":
        protocol = spec.protocol  # entries written before protocols were named
    return Entry(model, spec.name, metric, value, limit, samples,
                 str(sample_set) if sample_set is not None else None, max_errors, line, item,
                 gates, margin, confidence, str(baseline) if baseline else None, protocol)


def judge(entries: list[Entry], metric: str, value: float | None, total: int, errors: int,
          fingerprint: str, *, record_hint: str, protocol: str | None = None) -> Verdict:
    """Compare a score with the entry recorded on the same sample set under the same scoring
    protocol, and only that one; an entry of another protocol is an error, never a gate."""
    candidates = [e for e in entries if e.metric == metric]
    if not candidates:
        return Verdict("ungated", f"no recorded threshold; record it with {record_hint}")
    matching = [e for e in candidates if e.matches(total, fingerprint)]
    if not matching:
        same_size = [e for e in candidates if e.samples == total and e.sample_set is not None]
        recorded = ", ".join(f"{e.samples} samples [{e.sample_set or 'any ids'}] "
                             f"(line {e.line})" for e in candidates)
        if same_size:
            return Verdict("fail", f"recorded on a DIFFERENT sample set of the same size "
                                   f"({recorded}); this run: {total} samples [{fingerprint}] — "
                                   "not comparable; re-record deliberately with "
                                   f"{record_hint}")
        return Verdict("ungated", f"thresholds exist only for other sample sets ({recorded}); "
                                  f"this run: {total} samples [{fingerprint}]; record it with "
                                  f"{record_hint}")
    if protocol is not None:
        same_protocol = [e for e in matching if e.protocol in (None, protocol)]
        if not same_protocol:
            recorded = ", ".join(f"{e.protocol!r} (line {e.line})" for e in matching)
            return Verdict("error", f"the threshold for this sample set was recorded under "
                                    f"protocol {recorded}, but this pair is scored for the gate "
                                    f"under {protocol!r}: values of different protocols are not "
                                    "comparable; set the dataset's `protocol:` to the recorded "
                                    f"one, or record this protocol with {record_hint}")
        matching = same_protocol
    entry = matching[0]
    name = metric.upper()
    bound = "max" if entry.lower_is_better else "min"
    if errors > entry.max_errors:
        return Verdict("fail", f"{errors} sample(s) errored (allowed {entry.max_errors})", entry)
    if value is None:
        return Verdict("fail", "nothing could be scored", entry)
    delta = round(value - entry.value, 2) + 0.0  # never "-0.00"
    worse = value > entry.limit if entry.lower_is_better else value < entry.limit
    text = (f"{name} {value:.2f} {'>' if entry.lower_is_better else '<'} {bound} "
            f"{entry.limit:.2f} (recorded {entry.value:.2f}, {delta:+.2f})")
    if worse:
        return Verdict("fail", f"regressed: {text}", entry)
    return Verdict("pass", f"{name} {value:.2f} within {bound} {entry.limit:.2f} "
                           f"(recorded {entry.value:.2f}, {delta:+.2f})", entry)


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
    protocol: str | None = None  # the gating protocol the value was scored under


def default_limit(metric: str, value: float) -> float:
    """New entries: 10 % relative slack (at least 0.1 points) in the worse direction."""
    slack = max(0.1, abs(value) * 0.10)
    return round(value + slack, 2) if LOWER_IS_BETTER[metric] else round(value - slack, 2)


def update(path: Path, measured: Iterable[Measured]) -> list[str]:
    """Write measured values for the pairs that ran; keep comments, order and other entries.

    An existing entry on the same sample set keeps its slack (limit - value); returns one
    line per change.
    """
    yaml = _yaml()
    data = yaml.load(path.read_text(encoding="utf-8")) if path.exists() else None
    if data is None:
        data = CommentedMap()
    changes: list[str] = []
    for m in measured:
        bound = "max" if LOWER_IS_BETTER[m.metric] else "min"
        value = round(m.value, 2)
        items = data.get(m.model, {}).get(m.dataset, [])
        for item in items:
            same_set = item.get("sample_set") == m.sample_set or (
                item.get("sample_set") is None and int(item.get("samples", -1)) == m.samples)
            # an entry without `protocol` was recorded under the dataset's gating protocol
            same_protocol = item.get("protocol") in (None, m.protocol)
            if item.get("metric") == m.metric and same_set and same_protocol:
                slack = float(item[bound]) - float(item["value"])
                old = float(item["value"])
                if old == value and item.get("baseline") == m.baseline:
                    break
                item["value"] = value
                item[bound] = round(value + slack, 2)
                item["sample_set"] = m.sample_set
                if m.baseline:
                    item["baseline"] = m.baseline
                if m.protocol:
                    item["protocol"] = m.protocol
                what = f"{old:.2f} -> {value:.2f}" if old != value else "baseline recorded"
                changes.append(f"{m.model}/{m.dataset} {m.metric}: {what} "
                               f"({bound} {item[bound]:.2f})")
                break
        else:
            entry = CommentedMap()
            entry["metric"] = m.metric
            entry["value"] = value
            entry[bound] = default_limit(m.metric, value)
            entry["samples"] = m.samples
            entry["sample_set"] = m.sample_set
            if m.protocol:
                entry["protocol"] = m.protocol
            if m.baseline:
                entry["baseline"] = m.baseline
            _add_entry(data, m.model, m.dataset, entry)
            changes.append(f"{m.model}/{m.dataset} {m.metric}: new entry {value:.2f} "
                           f"({bound} {entry[bound]:.2f}, {m.samples} samples)")
    if changes:
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
