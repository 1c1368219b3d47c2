"""Run one (model, dataset) pair: samples -> engine (or store) -> outcomes -> score."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from audiogate.datasets import (
    ignore_missing_audio,
    load_dataset_with_notes,
    missing_audio_hint,
    missing_audio_summary,
)
from audiogate.datasets.audio import duration_seconds, load_sample_audio
from audiogate.engines.base import Engine
from audiogate.errors import AudiogateError, RegistryError
from audiogate.registry.load import ANSWERED, TTS, DatasetSpec, ModelSpec, ProtocolSpec
from audiogate.samples import Output, Request, Sample, sample_set_fingerprint
from audiogate.scoring import anomalies
from audiogate.scoring.answer import answer_rules, extract_answer
from audiogate.scoring.pair import (
    Learned,
    Outcome,
    SampleRecord,
    Shown,
    error_line,
    normalizer_versions,
    protocol_rtfx,
    score,
)
from audiogate.scoring.pair_result import PairResult


@dataclass(frozen=True)
class RunOptions:
    prompt: str | None = None  # overrides the model entry's prompt for the task
    lenient: bool = False  # MMAU: map a bare option letter to its choice
    rerun: bool = False  # ignore stored outputs and infer again
    protocols: Mapping[str, ProtocolSpec] | None = None  # scoring protocols (default: built-in)
    # replay: the model entry whose answer rules turn a raw prediction into the scored
    # answer (the model that produced the predictions), so a replay scores like a live run
    answers_of: ModelSpec | None = None
    # processes that score a large pair (scoring.parallel); 1: in this process
    scoring_workers: int = 1
    # keep each sample's alignment as the HTML report shows it (PairRun.shown), so the
    # report need not align the texts again
    keep_shown: bool = False
    # a pair whose answers are speech: the judge ASR (scoring/judge.py) and where the clips
    # are kept (default: audio/ beside the store)
    judge: Any = None
    audio_dir: Path | None = None


def prompt_for(model: ModelSpec, dataset: DatasetSpec, override: str | None,
               sample: Sample) -> tuple[tuple[str, str], ...] | None:
    """The chat user turn for engines that take prompts; None for plain ASR engines. A
    text-to-speech request is its text (and voice) as prompt parts."""
    if dataset.task == TTS:
        from audiogate.datasets._tts import tts_prompt

        return tts_prompt(sample, dataset)
    name = override or dict(model.options.get("prompts") or {}).get(dataset.task)
    if not name:
        return None
    from audiogate.engines.prompts import render

    return render(str(name), sample)


class PairRun:
    """One execution of a pair; kept small so the pytest fixture and the CLI share it."""

    def __init__(self, model: ModelSpec, dataset: DatasetSpec, engine: Engine,
                 data_root: Path, *, store: Any = None, options: RunOptions = RunOptions(),
                 on_progress: Callable[[int, int, bool], None] | None = None,
                 on_audio: Callable[[str, float, float], None] | None = None) -> None:
        self.model, self.dataset, self.engine = model, dataset, engine
        self.data_root, self.store, self.options = data_root, store, options
        self.on_progress = on_progress
        # (sample id, seconds of its audio done, its duration), while a recording runs
        self.on_audio = on_audio
        self._audio_reported: set[str] = set()  # recordings whose end on_audio was told
        self.identity = engine.identity()
        self.rules = answer_rules(options.answers_of or model, dataset.task)
        self.metric = str(model.options.get("metric") or dataset.metric)
        # Outputs of an earlier, finished run are scored again only when the identity proves
        # the weights (local files by content, a pinned revision); a server cannot prove
        # which weights it serves, so its outputs are reused only to resume its own run.
        self.reuse_finished = bool(getattr(engine, "reuses_stored_outputs", True))
        self.run_id: str | None = None
        # sample id -> its gating alignment as the HTML report shows it (keep_shown)
        self.shown: Shown | None = {} if options.keep_shown else None
        self.reused_from: Counter[str] = Counter()
        self.not_reused = 0
        self.speech = speech_step(self)  # None unless the pair's answers are speech

    def run(self, samples: list[Sample] | None = None, notes: list[str] | None = None
            ) -> tuple[PairResult, list[SampleRecord]]:
        if self.metric not in (self.dataset.metric, ANSWERED):
            raise RegistryError(f"model {self.model.name!r}: metric {self.metric!r} cannot "
                                f"score {self.dataset.name} (scored by "
                                f"{self.dataset.metric!r}; a model may ask for {ANSWERED!r})")
        if samples is None:
            samples, notes = load_dataset_with_notes(self.dataset, self.data_root)
        notes = list(notes or []) + self._replacements()
        if not self.engine.needs_audio:  # replayed predictions: the audio is never read
            samples = ignore_missing_audio(samples)
        elif (missing := missing_audio_summary(
                samples, hint=missing_audio_hint(self.dataset))) is not None:
            notes.append(missing)
        by_id = {s.id: s for s in samples}
        outcomes: dict[str, Outcome] = {}
        pending: dict[str, tuple[str | None, float]] = {}  # id -> (store key, audio seconds)
        started = time.perf_counter()
        inferred = 0
        if self.store is not None:
            from audiogate.results.store import canonical_json

            digest = hashlib.sha256(canonical_json(self.identity).encode()).hexdigest()
            self.run_id, resumed = self.store.begin_run(self.model.name, self.dataset.name,
                                                        digest)
            if resumed:
                notes.append(f"resumed the interrupted run {self.run_id} of this pair")

        def requests() -> Iterator[Request]:
            for sample in samples:
                request = self._prepare(sample, outcomes, pending)
                if request is not None:
                    yield request

        not_sent: list[str] = []
        writer = None
        if self.store is not None:
            from audiogate.results.store import BatchedWriter

            # one transaction per chunk; a kill loses at most the chunk in flight
            writer = BatchedWriter(self.store)
        try:
            for output in self.engine.run(requests()):
                if self.speech is not None:
                    output = self.speech.keep(output)
                key, audio_s = pending.pop(output.sample_id)
                outcomes[output.sample_id] = self._outcome(by_id[output.sample_id], output,
                                                           audio_s)
                if output.not_attempted:  # the engine is down: never stored, sent by a rerun
                    not_sent.append(str(output.error))
                    continue
                inferred += 1
                if self.on_audio is not None and output.sample_id not in self._audio_reported:
                    self.on_audio(output.sample_id, audio_s, audio_s)  # engines that cannot tell
                if writer is not None and key is not None:
                    self._put(writer, key, output, audio_s)
                self._progress(len(outcomes), len(samples), False)
        finally:
            if writer is not None:
                writer.close()
        for sample_id, (_, audio_s) in pending.items():
            outcomes[sample_id] = self._failed(by_id[sample_id],
                                               "engine returned no output for this sample",
                                               audio_s)
        for sample in samples:  # never drawn: the engine stopped taking requests
            if sample.id not in outcomes:
                outcomes[sample.id] = self._failed(sample, "the engine stopped taking samples "
                                                           "before this one was sent")
                not_sent.append(str(outcomes[sample.id].error))
        wall = time.perf_counter() - started
        dispatch = dict(getattr(self.engine, "last_dispatch", None) or {})
        if dispatch.get("limit_max") is None:
            dispatch = {}  # nothing was sent
        for dropped in dispatch.pop("dropped", []):
            notes.append(f"replica dropped, the others finished the pair: {dropped}")
        if self.store is not None and self.run_id is not None and not not_sent:
            self.store.finish_run(self.run_id)  # with samples not sent, the next run resumes
        if not_sent:
            notes.append(f"{len(not_sent)} sample(s) not sent: {not_sent[0]}")
        if self.not_reused:
            notes.append(f"{self.not_reused} stored output(s) of this served model were not "
                         "reused (inferred again): a server cannot prove which weights it "
                         "serves; pin `revision:` in the model entry to reuse them")
        ordered = [outcomes[s.id] for s in samples]
        if self.speech is not None:
            self.speech.finish(ordered, by_id)
        learned = self._known_normalized(ordered)
        pair_score, records = score(self.dataset, ordered, lenient=self.options.lenient,
                                    protocols=self.options.protocols, metric=self.metric,
                                    workers=self.options.scoring_workers, learned=learned,
                                    shown=self.shown)
        if learned:
            self.store.put_normalized(learned)
        empty = empty_outputs_note(records, self.identity, self.dataset.language)
        if empty:
            notes.append(empty)
        flagged = flag_abnormal(records) if self.dataset.long_form else []
        if flagged:
            notes.append(f"{len(flagged)} recording(s) with abnormal output (flagged, score "
                         "unchanged): " + "; ".join(f"{i}: {f}" for i, f in flagged[:5])
                         + (f" (+{len(flagged) - 5} more)" if len(flagged) > 5 else ""))
        scored = [r for r in records if r.error is None]
        result = PairResult(
            model=self.model.name, dataset=self.dataset.name, task=self.dataset.task,
            language=self.dataset.language, metric=self.metric, score=pair_score,
            sample_set=sample_set_fingerprint(s.id for s in samples),
            audio_seconds=sum(r.audio_seconds for r in scored),
            # Σ per-request seconds; a concurrent engine overlaps requests, so a run that
            # inferred everything counts no more than its wall time.
            inference_seconds=(min(sum(r.seconds for r in scored), wall)
                               if inferred == len(samples) else sum(r.seconds for r in scored)),
            wall_seconds=wall, inferred=inferred,
            reused=sum(o.reused for o in ordered), engine=self.identity,
            reused_from=self._reused_from(),
            error_samples=[(r.id, error_line(r)) for r in records if r.error is not None],
            notes=notes, groups=list(self.dataset.groups),
            protocol_rtfx=protocol_rtfx(self.dataset, records, self.options.protocols),
            flagged=flagged,
            dispatch=dispatch,
            measured_on=self._measured_on(dispatch, records),
            load_seconds=getattr(self.engine, "load_seconds", None),
            answer_rules=dict(self.rules),
        )
        if self.speech is not None:
            result.judge = self.speech.judge.describe()
        return result, records

    def _known_normalized(self, outcomes: list[Outcome]) -> Learned | None:
        """Give each outcome the normalized forms of its texts the store already holds
        (an earlier run, another model on the same references); returns the list that
        scoring fills with the forms it makes, or None without a store."""
        if self.store is None or self.metric == ANSWERED:
            return None
        versions = normalizer_versions(self.dataset, self.options.protocols)
        if not versions:
            return None
        texts = {o.reference for o in outcomes}
        texts.update(o.answer for o in outcomes if o.error is None and o.answer)
        known = self.store.normalized(versions, texts)
        for o in outcomes:
            mine = {(v, t): known[(v, t)] for v in versions
                    for t in (o.reference, o.answer) if t is not None and (v, t) in known}
            o.normalized = mine or None
        return []

    def _measured_on(self, dispatch: dict[str, Any], records: list[SampleRecord]
                     ) -> dict[str, Any]:
        """What this run's timings were taken on, with the machine's load average (noise,
        not part of what must match)."""
        from audiogate.engines.hardware import host_facts
        from audiogate.gate.speed import measured_on

        replicas = getattr(getattr(self.engine, "dispatcher", None), "replicas", None) or []
        host = host_facts([str(r.url) for r in replicas])
        return {**measured_on(host, self.identity, dispatch, records),
                "load_1m": host.get("load_1m")}

    def _replacements(self) -> list[str]:
        """A user file's entries that replaced a built-in one and decide this pair: the
        model, the dataset, the protocols that score it."""
        protocols = self.options.protocols or {}
        found = [self.model.replaces, self.dataset.replaces]
        found += [p.replaces for p in protocols.values() if self.dataset.metric in p.profiles]
        return [text for text in found if text is not None]

    def _prepare(self, sample: Sample, outcomes: dict[str, Outcome],
                 pending: dict[str, tuple[str | None, float]]) -> Request | None:
        """Load audio, look in the store; return a Request only if inference is needed."""
        if sample.error is not None:
            outcomes[sample.id] = self._failed(sample, sample.error)
            return None
        audio = None
        audio_s = 0.0
        digest = None
        if self.engine.needs_audio:
            if sample.audio_path is None and not sample.parts:
                outcomes[sample.id] = self._failed(sample, "sample has no audio path")
                return None
            try:
                audio = load_sample_audio(sample)
            except AudiogateError as exc:
                outcomes[sample.id] = self._failed(sample, str(exc))
                return None
            audio_s = duration_seconds(audio)
            if self.store is not None:
                from audiogate.results.store import audio_hash

                digest = audio_hash(audio)
        try:
            prompt = prompt_for(self.model, self.dataset, self.options.prompt, sample)
        except AudiogateError as exc:
            outcomes[sample.id] = self._failed(sample, str(exc), audio_s)
            return None
        key = None
        if self.store is not None:
            from audiogate.results.store import output_key

            key = output_key(self.identity, self.dataset.task, prompt, self.dataset.name,
                             sample.id, digest)
            stored = None if self.options.rerun else self.store.get(key)
            if stored is not None and not self.reuse_finished and stored.run_id != self.run_id:
                self.not_reused += 1
                stored = None
            if stored is not None and self.speech is not None and \
                    not self.speech.kept(stored.to_output()):
                stored = None  # its clip is gone: spoken again
            if stored is not None:
                self.reused_from[stored.run_id or "before runs were recorded"] += 1
                outcomes[sample.id] = self._outcome(sample, stored.to_output(), audio_s,
                                                    reused=True)
                self._progress(len(outcomes), -1, True)
                return None
        pending[sample.id] = (key, audio_s)
        progress = None
        if self.on_audio is not None:
            on_audio, reported = self.on_audio, self._audio_reported

            def progress(done: float) -> None:
                if done >= audio_s:
                    reported.add(sample.id)
                on_audio(sample.id, min(done, audio_s), audio_s)
            progress(0.0)
        return Request(sample, audio, self.dataset.task, self.dataset.language, prompt,
                       progress=progress)

    def _put(self, writer: Any, key: str, output: Output, audio_s: float) -> None:
        from audiogate.results.store import StoredOutput

        writer.put(key, StoredOutput.from_output(output, model=self.model.name,
                                                     dataset=self.dataset.name,
                                                     audio_seconds=audio_s,
                                                     run_id=self.run_id))

    def _reused_from(self) -> dict[str, int]:
        """How many outputs came from which earlier run ("run <id> of <start time>")."""
        out = {}
        for run_id, count in sorted(self.reused_from.items()):
            started = self.store.run_started(run_id) if self.store is not None else None
            when = "" if started is None else \
                f" of {datetime.fromtimestamp(started, UTC).isoformat(timespec='seconds')}"
            label = "this run (resumed)" if run_id == self.run_id else f"run {run_id}{when}"
            out[label] = count
        return out

    def _failed(self, sample: Sample, error: str, audio_s: float = 0.0) -> Outcome:
        """A sample that never reached the engine (or got nothing back): an error outcome."""
        return self._outcome(sample, Output(sample.id, None, 0.0, error=error), audio_s)

    def _outcome(self, sample: Sample, output: Output, audio_s: float, *,
                 reused: bool = False) -> Outcome:
        answer = None
        if output.error is None and output.text is not None:
            answer = extract_answer(output.text, self.rules)
        return Outcome(
            sample_id=sample.id, reference=sample.reference,
            audio_path=str(sample.audio_path) if sample.audio_path else None,
            raw=output.text, answer=answer, error=output.error, seconds=output.seconds,
            audio_seconds=audio_s, reused=reused, meta=dict(sample.meta), windows=output.windows,
            # a stored output's time is an earlier run's: never this run's measurement
            timing=None if reused or output.timing is None else output.timing.to_json(),
            speech=None if self.speech is None else self.speech.record(output),
        )

    def _progress(self, done: int, total: int, reused: bool) -> None:
        if self.on_progress is not None:
            self.on_progress(done, total, reused)


def flag_abnormal(records: list[SampleRecord]) -> list[tuple[str, str]]:
    """Flag every scored recording whose output loops or stops early (on the gating
    protocol's normalized texts); returns (id, flag) pairs. Scores are left as they are."""
    found = []
    for record in records:
        if record.error is not None or record.normalized_reference is None:
            continue
        record.flags = anomalies.flags(record.normalized_hypothesis or "",
                                       record.normalized_reference, record.audio_seconds)
        found += [(record.id, flag) for flag in record.flags]
    return found


def empty_outputs_note(records: list[SampleRecord], identity: dict[str, Any],
                       language: str) -> str | None:
    """"N of M outputs are empty" when more than half of the answered samples got no text
    (a score then measures the silence, not the model), with a hint for the known cause."""
    answered = [r for r in records if r.error is None]
    empty = sum(not (r.raw_output or "").strip() for r in answered)
    if not answered or empty * 2 <= len(answered):
        return None
    note = f"{empty} of {len(answered)} outputs are empty"
    served_whisper = identity.get("engine") == "openai" and \
        identity.get("endpoint") == "transcriptions"
    if served_whisper and language == "en" and \
            "whisper-en-prompt" not in identity.get("server_patches", []):
        note += (" — if the served model is an English-only Whisper (*.en, vocabulary < "
                 "51865): vLLM's transcription endpoint gives it the multilingual prompt "
                 "<|en|><|transcribe|>, which ends most clips at once; serve it with "
                 "AUDIOGATE_VLLM_WHISPER_EN_PROMPT=1 (audiogate's vLLM plugin) or run it "
                 "in-process (engine vllm)")
    return note


def speech_step(run: PairRun) -> Any:
    """The produced-speech step of a pair whose answers are speech
    (results/speech_outputs.py), or None for a pair that is scored on text."""
    from audiogate.registry.load import judged

    if not judged(run.model, run.dataset):
        return None
    from audiogate.results.speech_outputs import PairSpeech

    return PairSpeech(run.model, run.dataset, run.options, run.store, run.rules)
