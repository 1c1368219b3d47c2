"""Seed-TTS-Eval's test sets in their published layout (``en/meta.lst``, ``zh/meta.lst``,
``zh/hardcase.lst``): one ``|``-separated line per utterance.

Read as its ``get_wav_res_ref_text.py`` reads them: the line stripped, then by field count

- 5: ``id|prompt text|prompt wav|target text|ground-truth wav``
- 4: ``id|prompt text|prompt wav|target text`` (the published TTS lists)
- 3: ``id|target text|prompt wav`` (an id ending in ``.wav`` loses it)
- 2: ``id|target text`` (no prompt)

Prompt and ground-truth wav paths are relative to the list's folder unless absolute. Their
script reuses the previous line's fields for a line of any other shape; here that line is
an error sample naming the file and line.
"""

from __future__ import annotations

from pathlib import Path

from audiogate.datasets._tts import read_lines, resolve, tts_sample
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample

DEFAULT_LIST = "meta.lst"


def list_file(root: Path, spec: DatasetSpec) -> Path:
    """The list: ``root`` itself, or ``options.list`` (default meta.lst) inside it."""
    return root / str(spec.options.get("list", DEFAULT_LIST)) if root.is_dir() else root


def load(root: Path, spec: DatasetSpec) -> list[Sample]:
    path = list_file(root, spec)
    samples: list[Sample] = []
    seen: dict[str, str] = {}
    for item in read_lines(path, "list"):
        if isinstance(item, Sample):
            samples.append(item)
            continue
        number, where, line = item
        fields = line.strip().split("|")
        prompt_text: str | None = None
        prompt: str | None = None
        truth: str | None = None
        if len(fields) == 5:
            utt, prompt_text, prompt, text, truth = fields
        elif len(fields) == 4:
            utt, prompt_text, prompt, text = fields
        elif len(fields) == 3:
            utt, text, prompt = fields
            utt = utt.removesuffix(".wav")
        elif len(fields) == 2:
            utt, text = fields
        else:
            samples.append(Sample(f"<line {number}>", "", None, error=(
                f"{where}: {len(fields)} '|'-separated fields; expected 4 (id|prompt text|"
                "prompt wav|target text), 5 (+ ground-truth wav), 3 or 2")))
            continue
        meta: dict[str, object] = {}
        if prompt_text is not None:
            meta["prompt_text"] = prompt_text
        if truth:
            meta["ground_truth_audio"] = str(resolve(truth, path.parent))
        samples.append(tts_sample(utt, text, resolve(prompt, path.parent) if prompt else None,
                                  where, meta, seen))
    return samples
