"""LibriSpeech in its OpenSLR layout: <split>/<spk>/<chapter>/*.flac + <spk>-<chapter>.trans.txt."""

from __future__ import annotations

from pathlib import Path

from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample


def id_meta(utt_id: str) -> dict[str, str]:
    """Speaker and chapter from a LibriSpeech id (``1089-134686-0000``): the report's groups."""
    parts = utt_id.split("-")
    if len(parts) != 3:
        return {}
    return {"speaker": parts[0], "chapter": parts[1]}


def load(root: Path, spec: DatasetSpec) -> list[Sample]:
    """Every utterance under ``root``; audio/transcript mismatches become error samples."""
    references: dict[str, tuple[str, Path, int]] = {}
    listed: set[str] = set()  # every id with a transcript line, even an unusable one
    samples: list[Sample] = []
    for trans in sorted(root.glob("*/*/*.trans.txt")):
        for number, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            utt_id, _, text = line.strip().partition(" ")
            where = f"{trans}:{number}"
            listed.add(utt_id)
            if not text.strip():
                samples.append(Sample(utt_id, "", trans.parent / f"{utt_id}.flac",
                                      error=f"{where}: transcript line has no text"))
            elif utt_id in references:
                samples.append(Sample(utt_id, text, None,
                                      error=f"{where}: duplicate id (first at "
                                            f"{references[utt_id][1]}:{references[utt_id][2]})"))
            else:
                references[utt_id] = (text.strip(), trans, number)
    audio = {p.stem: p for p in root.glob("*/*/*.flac")}
    for utt_id, (text, trans, number) in references.items():
        path = audio.get(utt_id, trans.parent / f"{utt_id}.flac")
        if utt_id in audio:
            samples.append(Sample(utt_id, text, path, meta=id_meta(utt_id)))
        else:
            samples.append(Sample(utt_id, text, path,
                                  meta={**id_meta(utt_id), "missing_audio": True},
                                  error=f"{trans}:{number}: transcript line has no audio "
                                        f"({path})"))
    for utt_id, path in audio.items():
        if utt_id not in listed:
            samples.append(Sample(utt_id, "", path,
                                  error=f"{path}: audio has no transcript line in "
                                        f"{path.parent}/*.trans.txt"))
    return samples
