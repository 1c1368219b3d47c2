"""What `audiogate report merge` takes from a report folder: only what it can re-derive.

A report folder is the record of a run the merge did not see, and any of its files can be
edited. Every number in it follows from each sample's texts (its reference and its raw
output, through the answer rules) by the scoring functions a live run uses, so the merge
scores every sample again with those functions and compares: a stored answer, normalized
text, count, flag, score or sample set that disagrees with the re-scoring is named, never
believed. What no file can prove (the texts themselves, timings, how the outputs were
obtained) is carried as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from audiogate.errors import AudiogateError
from audiogate.gate.paired import interval, per_sample
from audiogate.registry.load import TEXT_SPEECH_WER, DatasetSpec, ModelSpec, ProtocolSpec
from audiogate.samples import sample_set_fingerprint
from audiogate.scoring.answer import answer_rules, extract_answer
from audiogate.scoring.pair import EMPTY_REFERENCE, Outcome, PairScore, SampleRecord, score
from audiogate.scoring.pair_result import PairResult
from audiogate.scoring.speech import consistency

# What a record holds besides its texts and what scoring derives from them: carried as is.
# ``speech`` (a pair whose answers are speech: the clip, the judge's transcript, the
# written answer, what was measured on the clip) is carried too: the clip's measurements
# need the clip and its models; what follows from its texts is checked (speech_differences).
CARRIED = frozenset({"id", "audio_path", "reference", "raw_output", "seconds", "audio_seconds",
                     "meta", "windows", "flags", "speech"})
# Derived fields a message names specifically (the rest are named field by field).
NAMED = frozenset({"answer", "error", "substitutions", "deletions", "insertions",
                   "ref_tokens", "score", "excluded", "dropped", "normalized_reference",
                   "normalized_hypothesis", "protocols"})
_OTHER_FIELDS = tuple(f.name for f in fields(SampleRecord) if f.name not in CARRIED | NAMED)


@dataclass(frozen=True)
class Scoring:
    """How one pair's samples are scored: what a live run of it would use."""

    spec: DatasetSpec
    metric: str  # the dataset's, unless the model entry asks for another (``answered``)
    lenient: bool  # MMAU: the lenient letter rule
    protocols: Mapping[str, ProtocolSpec] | None
    answer_rules: Mapping[str, Any]

    @classmethod
    def of(cls, model: ModelSpec, spec: DatasetSpec, protocols: Mapping[str, ProtocolSpec],
           *, lenient: bool, recorded_rules: Mapping[str, Any] | None) -> Scoring:
        """The scoring a live run of ``model`` on ``spec`` uses (as PairRun sets it up); the
        answer rules the run recorded (--predictions-from's for a replay), else the entry's."""
        metric = str(model.options.get("metric") or spec.metric)
        rules = recorded_rules if recorded_rules is not None else answer_rules(model, spec.task)
        return cls(spec, metric, lenient, protocols, dict(rules))


def rescore(records: Sequence[SampleRecord], scoring: Scoring, source: Path
            ) -> tuple[PairScore, list[SampleRecord], list[str]]:
    """The records scored again from their texts, their summary, and one line per stored
    field that disagrees ("FILE: sample X: stored 0 errors, re-scored 3"); records whose
    fields cannot be scored at all raise AudiogateError naming the file."""
    try:
        summary, fresh = score(scoring.spec, [_outcome(r, scoring) for r in records],
                               lenient=scoring.lenient, protocols=scoring.protocols,
                               metric=scoring.metric)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # a field of a bad type
        raise AudiogateError(f"{source}: records that cannot be scored "
                             f"({type(exc).__name__}: {exc})") from exc
    problems = []
    for old, new in zip(records, fresh, strict=True):
        new.flags = list(old.flags)  # what the output looks like, not a score
        found = record_differences(old, new) + speech_differences(new, scoring)
        problems += [f"{source}: sample {old.id}: {p}" for p in found]
    return summary, fresh, problems


def speech_differences(record: SampleRecord, scoring: Scoring) -> list[str]:
    """What a spoken answer's record says that its texts do not: the scored output is the
    judge's transcript, the written answer follows from the written text by the answer
    rules, and text-speech-wer from the written and the spoken answers."""
    speech = record.speech
    if not speech or record.error is not None:
        return []
    out = []
    transcript = speech.get("transcript")
    if transcript is not None and record.raw_output != transcript:
        out.append(f"stored output {_text(record.raw_output)} is not the judge's transcript "
                   f"{_text(transcript)}")
    if speech.get("written") is not None:
        written = extract_answer(str(speech["written"]), scoring.answer_rules)
        if written != speech.get("written_answer"):
            out.append(f"stored written answer {_text(speech.get('written_answer'))}, but the "
                       f"answer rules give {_text(written)} from its written text")
    stored = (speech.get("metrics") or {}).get(TEXT_SPEECH_WER)
    if stored is not None:
        try:
            value, _ = consistency(scoring.spec, str(speech.get("written_answer") or ""),
                                   record.answer or "")
        except AudiogateError as exc:
            out.append(f"stored {TEXT_SPEECH_WER} {_number(stored)}, re-scored: {exc}")
        else:
            if value != stored:
                out.append(f"stored {TEXT_SPEECH_WER} {_number(stored)}, re-scored "
                           f"{_number(value)}")
    return out


def _outcome(record: SampleRecord, scoring: Scoring) -> Outcome:
    """The sample as the engine gave it: a scoring error (an empty reference) is decided
    again; an engine or data error stays an error (it can only count against the pair)."""
    error = None if record.error == EMPTY_REFERENCE else record.error
    answer = None
    if error is None and record.raw_output is not None:
        answer = extract_answer(record.raw_output, scoring.answer_rules)
    return Outcome(record.id, record.reference, record.audio_path, record.raw_output, answer,
                   error, seconds=record.seconds, audio_seconds=record.audio_seconds,
                   meta=dict(record.meta), windows=record.windows, timing=record.timing,
                   speech=record.speech)


def record_differences(old: SampleRecord, new: SampleRecord) -> list[str]:
    """What a stored record says that its re-scoring does not."""
    out = []
    if old.answer != new.answer:
        out.append(f"stored answer {_text(old.answer)}, but the answer rules give "
                   f"{_text(new.answer)} from its raw output")
    if old.error != new.error:
        out.append(f"stored {_error(old.error)}, re-scored {_error(new.error)}")
    if _edits(old) != _edits(new):
        out.append(f"stored {_count(_edits(old))} errors, re-scored {_count(_edits(new))}")
    elif _sdi(old) != _sdi(new):
        out.append(f"stored S/D/I {_sdi(old)}, re-scored {_sdi(new)}")
    if old.ref_tokens != new.ref_tokens:
        out.append(f"stored {_count(old.ref_tokens)} reference tokens, re-scored "
                   f"{_count(new.ref_tokens)}")
    if old.score != new.score:
        out.append(f"stored score {_number(old.score)}, re-scored {_number(new.score)}")
    for flag in ("excluded", "dropped"):
        if getattr(old, flag) != getattr(new, flag):
            out.append(f"stored {_flag(getattr(old, flag), flag)}, re-scored "
                       f"{_flag(getattr(new, flag), flag)}")
    for name in ("normalized_reference", "normalized_hypothesis"):
        if getattr(old, name) != getattr(new, name):
            out.append(f"stored {name.replace('_', ' ')} {_text(getattr(old, name))}, "
                       f"re-scored {_text(getattr(new, name))}")
    for name in sorted(set(old.protocols) | set(new.protocols)):
        if old.protocols.get(name) != new.protocols.get(name):
            out.append(f"stored {name} counts {old.protocols.get(name)}, re-scored "
                       f"{new.protocols.get(name)}")
    out += [f"stored {name} {getattr(old, name)!r}, re-scored {getattr(new, name)!r}"
            for name in _OTHER_FIELDS if getattr(old, name) != getattr(new, name)]
    return out


def result_differences(stored: PairResult, scoring: Scoring, derived: PairScore,
                       records: Sequence[SampleRecord]) -> list[str]:
    """What a report's row says about a pair (or one shard of it) that its re-scored
    records do not: the metric, the protocol, the score and its counts, the sample set,
    the 95 % interval, the errored samples."""
    out = []
    for metric in dict.fromkeys((stored.metric, stored.score.metric)):
        if metric != scoring.metric:
            out.append(f"stored metric {metric!r}, re-derived {scoring.metric!r} (the model "
                       f"entry and the dataset say how {stored.pair_id} is scored)")
    if stored.score.protocol != derived.protocol:
        out.append(f"stored protocol {stored.score.protocol!r}, re-scored under "
                   f"{derived.protocol!r}")
    out += score_differences(stored.score, derived)
    fingerprint = sample_set_fingerprint(r.id for r in records)
    if stored.sample_set != fingerprint:
        out.append(f"stored sample set {stored.sample_set}, re-derived {fingerprint} (from the "
                   f"{len(records)} records' ids)")
    out += interval_differences(stored, scoring.metric, records)
    errored = [r.id for r in records if r.error is not None]
    listed = [sample_id for sample_id, _ in stored.error_samples]
    if listed != errored:
        out.append(f"stored errored samples {_ids(listed)}, re-scored {_ids(errored)}")
    return out


def interval_differences(stored: PairResult, metric: str, records: Sequence[SampleRecord]
                         ) -> list[str]:
    """A stored 95 % interval that the records do not give at its own resample count (the
    count the merge's paired gate takes from the runs)."""
    data = per_sample(records, metric)
    if stored.interval is None:
        return [f"stored no 95 % interval for {len(data)} scored sample(s)"] if data else []
    n = stored.interval.get("n_resamples")
    derived = interval(data, metric, n_resamples=n) \
        if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None
    if derived == stored.interval:
        return []
    return [f"stored 95 % interval {_interval(stored.interval)} ({n} resamples), re-derived "
            f"{_interval(derived)}"]


def _interval(value: Mapping[str, Any] | None) -> str:
    if not value:
        return "none"
    return f"[{_number(value.get('low'))}, {_number(value.get('high'))}]"


def score_differences(stored: PairScore, derived: PairScore) -> list[str]:
    """Each count and value of a stored score that its re-scoring does not give."""
    out = []
    for f in fields(PairScore):
        old, new = getattr(stored, f.name), getattr(derived, f.name)
        if f.name in {"metric", "protocol"} or old == new:
            continue
        if f.name == "value":
            out.append(f"stored {derived.metric.upper()} {_number(old)}, re-scored "
                       f"{_number(new)}")
        elif f.name == "breakdown" and isinstance(old, dict):
            out += [f"stored {key} {old.get(key)}, re-scored {new.get(key)}"
                    for key in sorted(set(old) | set(new), key=str)
                    if old.get(key) != new.get(key)]
        elif f.name == "protocols":
            for name in sorted(set(old) | set(new)):
                a, b = old.get(name), new.get(name)
                if a is None or b is None:
                    out.append(f"stored {name} {a}, re-scored {b}")
                    continue
                out += [f"stored {name} {g.name} {getattr(a, g.name)}, re-scored "
                        f"{getattr(b, g.name)}" for g in fields(a)
                        if getattr(a, g.name) != getattr(b, g.name)]
        else:
            out.append(f"stored {f.name} {old}, re-scored {new}")
    return out


def _edits(record: SampleRecord) -> int | None:
    counts = (record.substitutions, record.deletions, record.insertions)
    return None if all(c is None for c in counts) else sum(int(c or 0) for c in counts)


def _sdi(record: SampleRecord) -> str:
    return "/".join(_count(c) for c in (record.substitutions, record.deletions,
                                        record.insertions))


def _count(value: int | None) -> str:
    return "no" if value is None else str(value)


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _error(error: str | None) -> str:
    return "no error" if error is None else f"error {_text(error)}"


def _flag(value: bool, name: str) -> str:
    return name if value else f"not {name}"


def _text(value: str | None, width: int = 80) -> str:
    if value is None:
        return "none"
    return repr(value if len(value) <= width else value[:width] + "…")


def _ids(ids: Sequence[str], show: int = 5) -> str:
    more = f" (+{len(ids) - show} more)" if len(ids) > show else ""
    return "[" + ", ".join(ids[:show]) + more + "]"
