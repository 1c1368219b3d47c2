"""A pair whose answers are speech, inside its run (runner.PairRun): every clip is kept
content-addressed as it arrives, a stored answer counts as finished only while its clip
is there, and once every answer is in, the judge and the speech metrics
(scoring/speech.py) turn the clips into scored outcomes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from audiogate.errors import AudiogateError, RegistryError
from audiogate.registry.load import DatasetSpec, ModelSpec, speech_metrics
from audiogate.results.audio_store import FOLDER, AudioStore, MeasureCache
from audiogate.samples import Output, Sample
from audiogate.scoring.judge import Judge
from audiogate.scoring.pair import Outcome
from audiogate.scoring.speech import SpeechStep


class PairSpeech:
    """The produced-speech side of one pair run."""

    def __init__(self, model: ModelSpec, dataset: DatasetSpec, options: Any, store: Any,
                 rules: Mapping[str, Any]) -> None:
        pair = f"{model.name}/{dataset.name}"
        judge: Judge | None = options.judge
        if judge is None:
            raise RegistryError(f"{pair}: its answers are speech, scored by what a judge ASR "
                                "hears, and no judge was given")
        if "asr" not in judge.spec.tasks or dataset.language not in judge.spec.languages:
            raise RegistryError(f"{pair}: the judge {judge.name!r} is not an ASR model for "
                                f"{dataset.language!r} (tasks {list(judge.spec.tasks)}, "
                                f"languages {list(judge.spec.languages)})")
        folder = options.audio_dir or (Path(store.path).parent / FOLDER if store else None)
        if folder is None:
            raise RegistryError(f"{pair}: produced speech needs a folder to be kept in")
        self.judge = judge
        self.audio = AudioStore(folder)
        cache = MeasureCache(store, dataset.name, rerun=bool(options.rerun)) if store else None
        self.step = SpeechStep(dataset, judge, speech_metrics(model, dataset), rules, cache)

    def keep(self, output: Output) -> Output:
        """The engine's output with its clip written to disk (or the clip's error)."""
        if output.audio is None or output.audio.data is None:
            return output
        try:
            return dataclasses.replace(output, audio=self.audio.keep(output.audio))
        except (AudiogateError, OSError) as exc:
            return dataclasses.replace(output, text=None, audio=None,
                                       error=f"produced audio could not be kept: {exc}")

    def kept(self, output: Output) -> bool:
        """Whether a stored answer's clip is still there (else the sample is spoken again)."""
        return output.audio is not None and self.audio.present(output.audio)

    def record(self, output: Output) -> dict[str, Any] | None:
        """An outcome's speech block: its clip, with where it is kept."""
        if output.audio is None:
            return None
        kept = dataclasses.replace(output.audio, path=str(self.audio.path_of(output.audio)))
        return {"audio": kept.to_json()}

    def finish(self, outcomes: Sequence[Outcome], samples: Mapping[str, Sample]) -> None:
        self.step.finish(outcomes, samples)
