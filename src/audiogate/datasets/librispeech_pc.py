"""LibriSpeech test-clean in F5-TTS's cross-sentence form
(``data/librispeech_pc_test_clean_cross_sentence.lst`` of SWivid/F5-TTS, read as its
``eval/utils_eval.py`` reads it).

One tab-separated line per utterance: ``prompt id, prompt seconds, prompt text, target id,
target seconds, target text`` (texts from LibriSpeech-PC: cased and punctuated). The
prompt audio is ``<test-clean>/<speaker>/<chapter>/<prompt id>.flac``; the model speaks the
target text in that voice, scored against the target text; the target's own recording is
kept as ``ground_truth_audio``. ``<test-clean>`` is ``options.audio_root`` (relative to the
list's folder), by default ``LibriSpeech/test-clean`` beside the list, where F5-TTS's
README places it.
"""

from __future__ import annotations

from pathlib import Path

from audiogate.datasets._tts import read_lines, resolve, tts_sample
from audiogate.datasets.librispeech import id_meta
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample

DEFAULT_LIST = "librispeech_pc_test_clean_cross_sentence.lst"
DEFAULT_AUDIO_ROOT = "LibriSpeech/test-clean"


def _flac(audio_root: Path, utt: str) -> Path | None:
    parts = utt.split("-")
    if len(parts) != 3:
        return None
    return audio_root / parts[0] / parts[1] / f"{utt}.flac"


def load(root: Path, spec: DatasetSpec) -> list[Sample]:
    path = root / str(spec.options.get("list", DEFAULT_LIST)) if root.is_dir() else root
    audio_root = resolve(str(spec.options.get("audio_root", DEFAULT_AUDIO_ROOT)), path.parent)
    samples: list[Sample] = []
    seen: dict[str, str] = {}
    for item in read_lines(path, "list"):
        if isinstance(item, Sample):
            samples.append(item)
            continue
        number, where, line = item
        fields = line.strip().split("\t")
        if len(fields) != 6:
            samples.append(Sample(f"<line {number}>", "", None, error=(
                f"{where}: {len(fields)} tab-separated fields; expected 6 (prompt id, "
                "prompt seconds, prompt text, target id, target seconds, target text)")))
            continue
        prompt_id, prompt_s, prompt_text, target_id, target_s, text = fields
        prompt, truth = _flac(audio_root, prompt_id), _flac(audio_root, target_id)
        try:
            seconds = (float(prompt_s), float(target_s))
        except ValueError:
            seconds = None
        if prompt is None or truth is None or seconds is None:
            samples.append(Sample(target_id, "", None, error=(
                f"{where}: expected LibriSpeech ids (speaker-chapter-utterance) and "
                f"durations in seconds, got {prompt_id!r} {prompt_s!r} {target_id!r} "
                f"{target_s!r}")))
            continue
        meta = {**id_meta(target_id), "prompt_text": prompt_text, "prompt_id": prompt_id,
                "prompt_seconds": seconds[0], "target_seconds": seconds[1],
                "ground_truth_audio": str(truth)}
        samples.append(tts_sample(target_id, text, prompt, where, meta, seen))
    return samples
