"""LibriSpeech's own transcripts as text-to-speech input, in its OpenSLR layout (the CPU
default gates the shipped test-clean slice this way).

Each utterance's transcript is the text to say, scored against itself. Its voice prompt
is the next utterance of the same speaker in id order (wrapping around), with that
utterance's transcript as ``prompt_text``; a speaker with one utterance gives no prompt.
The utterance's own recording is kept as ``ground_truth_audio``. A transcript line or a
clip that LibriSpeech's loader finds broken stays an error sample.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from audiogate.datasets.librispeech import load as load_librispeech
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample


def load(root: Path, spec: DatasetSpec) -> list[Sample]:
    found = load_librispeech(root, spec)
    usable = sorted((s for s in found if s.error is None), key=lambda s: s.id)
    by_speaker: dict[str, list[Sample]] = {}
    for sample in usable:
        by_speaker.setdefault(str(sample.meta.get("speaker", "")), []).append(sample)
    samples: list[Sample] = []
    for group in by_speaker.values():
        for n, sample in enumerate(group):
            prompt = group[(n + 1) % len(group)] if len(group) > 1 else None
            meta = {**sample.meta, "ground_truth_audio": str(sample.audio_path)}
            if prompt is not None:
                meta.update(prompt_id=prompt.id, prompt_text=prompt.reference)
            samples.append(Sample(sample.id, sample.reference,
                                  prompt.audio_path if prompt is not None else None, meta=meta))
    # broken lines stay errors: the prompt audio is optional here, a missing clip is not
    samples += [dataclasses.replace(s, meta={k: v for k, v in s.meta.items()
                                             if k != "missing_audio"})
                for s in found if s.error is not None]
    return samples
