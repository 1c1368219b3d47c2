"""What is measured on produced speech, sample by sample, before a pair is scored.

For every sample that got a clip: the judge transcribes it, and that transcript becomes
the sample's output (``raw``, and the answer the model's answer rules extract from it), so
the dataset's protocol scores it exactly as it scores a written answer. The written answer
of a chat model that speaks is kept beside it, with the WER of what it said against what
it wrote (``text-speech-wer``). Speaker similarity to the voice prompt (``sim-ge2e``,
when the sample has one) and DNSMOS are measured on the clip.

Everything lands in the outcome's ``speech`` block, which becomes the per-sample record's:
the clip (hash, format, path), the judge and its transcript, the written answer, each
metric's value or error. A merge re-derives a pair from these records alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soundfile as sf

from audiogate.datasets.audio import load_audio
from audiogate.errors import AudiogateError
from audiogate.registry import load as registry
from audiogate.registry.load import DNSMOS, SIM, TEXT_SPEECH_WER, DatasetSpec, profile_for
from audiogate.samples import Sample
from audiogate.scoring.answer import extract_answer
from audiogate.scoring.judge import Judge, timed
from audiogate.scoring.pair import Outcome
from audiogate.scoring.protocol import text_scorer

CONSISTENCY_PROTOCOL = "ultraeval-audio"  # how a written answer and a spoken one compare


class Cache(Protocol):
    """Where measurements of a clip are kept between runs (results/audio_store.py)."""

    def get(self, kind: str, identity: dict[str, Any], clip: str,
            other: str | None = None) -> str | None: ...

    def put(self, kind: str, identity: dict[str, Any], clip: str, other: str | None,
            value: str, seconds: float) -> None: ...


class NoCache:
    def get(self, kind: str, identity: dict[str, Any], clip: str,
            other: str | None = None) -> str | None:
        return None

    def put(self, kind: str, identity: dict[str, Any], clip: str, other: str | None,
            value: str, seconds: float) -> None:
        pass


class SpeechStep:
    """Judges and measures the produced speech of one pair's outcomes."""

    def __init__(self, dataset: DatasetSpec, judge: Judge, metrics: Sequence[str],
                 rules: Mapping[str, Any], cache: Cache | None = None) -> None:
        self.dataset, self.judge, self.metrics = dataset, judge, tuple(metrics)
        self.rules = rules  # the model's answer rules: a transcript is scored as text is
        self.cache: Cache = cache or NoCache()

    def finish(self, outcomes: Sequence[Outcome], samples: Mapping[str, Sample]) -> None:
        """Transcribe, score-ready, and measure every outcome that has a clip (in place)."""
        spoken = []
        for o in outcomes:
            if o.error is not None:
                continue
            clip = _clip(o)
            if clip is None:
                o.error = "the model produced no speech for this sample"
                continue
            spoken.append((o, clip))
        self._transcribe(spoken)
        for o, clip in spoken:
            if o.error is None:
                self._measure(o, clip, samples[o.sample_id])

    # -- the judge ------------------------------------------------------------------
    def _transcribe(self, spoken: list[tuple[Outcome, Path]]) -> None:
        identity = self.judge.identity()
        heard: dict[str, str | None] = {}
        errors: dict[str, str] = {}
        missing = []
        for o, clip in spoken:
            sha = str(o.speech["audio"]["sha256"])  # type: ignore[index]
            cached = self.cache.get("judge", identity, sha)
            if cached is not None:
                heard[o.sample_id] = cached
            else:
                missing.append((o.sample_id, clip))
        shas = {o.sample_id: str(o.speech["audio"]["sha256"])  # type: ignore[index]
                for o, _ in spoken}
        for output in self.judge.transcribe(missing, self.dataset.language):
            if output.error is not None or output.text is None:
                errors[output.sample_id] = str(output.error)
                continue
            heard[output.sample_id] = output.text
            self.cache.put("judge", identity, shas[output.sample_id], None, output.text,
                           output.seconds)
        for o, _ in spoken:
            speech = o.speech
            assert speech is not None
            speech["judge"] = self.judge.name
            if o.sample_id not in heard:
                o.error = (f"the judge {self.judge.name} could not transcribe the produced "
                           f"speech: {errors.get(o.sample_id, 'no transcript returned')}")
                continue
            transcript = str(heard[o.sample_id])
            speech["transcript"] = transcript
            if o.raw is not None:  # a chat answer: the written one is kept beside it
                speech["written"], speech["written_answer"] = o.raw, o.answer
            o.raw, o.answer = transcript, extract_answer(transcript, self.rules)

    # -- metrics --------------------------------------------------------------------
    def _measure(self, o: Outcome, clip: Path, sample: Sample) -> None:
        speech = o.speech
        assert speech is not None
        values: dict[str, float] = {}
        problems: dict[str, str] = {}
        for metric in self.metrics:
            try:
                value = self._metric(metric, o, clip, sample, speech)
            except AudiogateError as exc:
                problems[metric] = str(exc)
                continue
            if value is not None:
                values[metric] = value
        speech["metrics"] = values
        if problems:
            speech["metric_errors"] = problems

    def _metric(self, metric: str, o: Outcome, clip: Path, sample: Sample,
                speech: dict[str, Any]) -> float | None:
        sha = str(speech["audio"]["sha256"])
        if metric == DNSMOS:
            from audiogate.scoring import dnsmos

            found = self._cached(DNSMOS, dnsmos.models().identity(), sha, None, lambda: json.dumps(
                dnsmos.models().score(*_read(clip), what=str(clip)).to_json()))
            speech["dnsmos"] = json.loads(found)
            return float(speech["dnsmos"][dnsmos.REPORTED])
        if metric == SIM:
            if sample.audio_path is None:
                return None  # no voice prompt: nothing to compare with
            from audiogate.scoring import speaker_similarity as sim

            prompt = Path(sample.audio_path)
            try:
                prompt_sha = _file_sha(prompt)
            except OSError as exc:
                raise AudiogateError(f"voice prompt {prompt}: {exc}") from exc
            value = self._cached(SIM, sim.encoder().identity(), sha, prompt_sha, lambda: repr(
                sim.encoder().similarity(load_audio(prompt), 16_000, *_read(clip))))
            speech["prompt_audio"] = str(prompt)
            return float(value)
        if metric == TEXT_SPEECH_WER:
            written = (speech.get("written_answer") or "").strip()
            if not written:
                raise AudiogateError("the written answer is empty: nothing to compare the "
                                     "spoken one with")
            return self._consistency(written, o.answer or "", speech)
        raise AudiogateError(f"unknown speech metric {metric!r}")

    def _cached(self, kind: str, identity: dict[str, Any], clip: str, other: str | None,
                measure: Any) -> str:
        found = self.cache.get(kind, identity, clip, other)
        if found is None:
            found, seconds = timed(measure)
            self.cache.put(kind, identity, clip, other, found, seconds)
        return str(found)

    def _consistency(self, written: str, spoken: str, speech: dict[str, Any]) -> float:
        value, speech["text_speech"] = consistency(self.dataset, written, spoken)
        return value


def consistency(dataset: DatasetSpec, written: str, spoken: str
                ) -> tuple[float, dict[str, Any]]:
    """WER (CER for zh) of the spoken answer against the written one, under
    UltraEval-Audio's normalization for the dataset's language, and its counts and
    normalized texts (kept in the record's ``text_speech``)."""
    metric = "cer" if dataset.language == "zh" else "wer"
    known = registry.protocols()
    spec = DatasetSpec(dataset.name, dataset.task, dataset.language, dataset.loader,
                       dataset.path, metric, protocol=CONSISTENCY_PROTOCOL)
    scorer = text_scorer(CONSISTENCY_PROTOCOL, profile_for(spec, known), spec)
    scored = scorer.score(written, spoken)
    if scored.alignment is None or not scored.alignment.ref_len:
        raise AudiogateError("the written answer has no words after normalization")
    a = scored.alignment
    return a.percent, {"errors": a.errors, "ref_tokens": a.ref_len,
                       "normalized_written": scored.reference,
                       "normalized_spoken": scored.hypothesis}


def _clip(o: Outcome) -> Path | None:
    audio = (o.speech or {}).get("audio")
    if not audio or not audio.get("path"):
        return None
    return Path(audio["path"])


def _read(path: Path) -> tuple[np.ndarray, int]:
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudiogateError(f"{path}: cannot decode produced audio ({exc})") from exc
    return samples.mean(axis=1), int(rate)


def _file_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
