"""LibriSpeech in its OpenSLR layout: <split>/<spk>/<chapter>/*.flac + <spk>-<chapter>.trans.txt."""

from __future__ import annotations

from pathlib import Path

from audiogate.datasets._text import decoded_lines, describe_unknown
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
    # (chapter folder, id) of every transcript line, even an unusable one: a clip belongs
    # to the transcript of its own folder, never to a line elsewhere with the same id
    listed: set[tuple[Path, str]] = set()
    samples: list[Sample] = []
    for trans in sorted(root.glob("*/*/*.trans.txt")):
        lines = list(decoded_lines(trans))
        broken = next((line for line in lines if line.error is not None), None)
        for number, line, _, first in lines:
            if broken is not None:  # a file that is not UTF-8: none of its lines is trusted
                listed.add((trans.parent, first))
                if first:
                    samples.append(Sample(first, "", trans.parent / f"{first}.flac", error=(
                        broken.error if number == broken.number else
                        f"{trans}:{number}: not scored: the file is not valid UTF-8 "
                        f"({broken.error})")))
                continue
            assert line is not None
            if not line.strip():
                continue
            utt_id, _, text = line.strip().partition(" ")
            where = f"{trans}:{number}"
            listed.add((trans.parent, utt_id))
            bad = describe_unknown(text)
            if bad:
                samples.append(Sample(utt_id, "", trans.parent / f"{utt_id}.flac",
                                      error=f"{where}: {bad}"))
            elif not text.strip():
                samples.append(Sample(utt_id, "", trans.parent / f"{utt_id}.flac",
                                      error=f"{where}: transcript line has no text"))
            elif utt_id in references:
                samples.append(Sample(utt_id, text, None,
                                      error=f"{where}: duplicate id (first at "
                                            f"{references[utt_id][1]}:{references[utt_id][2]})"))
            else:
                references[utt_id] = (text.strip(), trans, number)
    audio = sorted(root.glob("*/*/*.flac"))
    for utt_id, (text, trans, number) in references.items():
        path = trans.parent / f"{utt_id}.flac"
        if path.is_file():
            samples.append(Sample(utt_id, text, path, meta=id_meta(utt_id)))
        else:
            samples.append(Sample(utt_id, text, path,
                                  meta={**id_meta(utt_id), "missing_audio": True},
                                  error=f"{trans}:{number}: transcript line has no audio "
                                        f"({path})"))
    for path in audio:
        if (path.parent, path.stem) not in listed:
            samples.append(Sample(path.stem, "", path,
                                  error=f"{path}: audio has no transcript line in "
                                        f"{path.parent}/*.trans.txt"))
    return samples
