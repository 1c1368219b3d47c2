"""A LibriSpeech data root holding chosen clips of the shared real slices, in the native
layout (``LibriSpeech/<split>/<speaker>/<chapter>/``: the FLAC files and the lines of
their transcript), for tests that run the real model on a few clips in tmp."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path


def first_utterances(shared_data: Path, split: str, chapter: str, count: int) -> list[str]:
    """The ``count`` first utterance ids (sorted) of ``chapter`` ("speaker/chapter")."""
    spk, chap = chapter.split("/")
    trans = shared_data / "LibriSpeech" / split / spk / chap / f"{spk}-{chap}.trans.txt"
    lines = trans.read_text(encoding="utf-8").splitlines()
    return sorted(line.split(" ", 1)[0] for line in lines if line.strip())[:count]


def librispeech_subset(shared_data: Path, root: Path,
                       ids: Mapping[str, Iterable[str]]) -> Path:
    """``root`` holding only the utterances ``ids[split]`` of each shared split."""
    for split, wanted in ids.items():
        for utt in wanted:
            spk, chapter, _ = utt.split("-")
            src = shared_data / "LibriSpeech" / split / spk / chapter
            dst = root / "LibriSpeech" / split / spk / chapter
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / f"{utt}.flac", dst / f"{utt}.flac")
            line = next(t for t in (src / f"{spk}-{chapter}.trans.txt").read_text(
                encoding="utf-8").splitlines() if t.split(" ", 1)[0] == utt)
            with (dst / f"{spk}-{chapter}.trans.txt").open("a", encoding="utf-8") as out:
                out.write(line + "\n")
    return root
