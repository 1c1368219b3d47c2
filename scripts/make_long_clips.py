"""Write clips longer than Whisper's 30 s window from real LibriSpeech utterances, as a
manifest dataset (``librispeech-long-concat``), to check that served and in-process vLLM
split long audio the same way.

Each clip is consecutive utterances of one chapter with 0.5 s of silence between them; its
reference is their transcripts joined by spaces.

usage: python make_long_clips.py DATA_ROOT OUT_DIR
       -> OUT_DIR/manifest.jsonl, OUT_DIR/*.wav, OUT_DIR/datasets.yaml (for --datasets-file)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from audiogate.datasets.audio import TARGET_RATE, load_audio

# (clip id, LibriSpeech chapter folders, utterances taken from them in order)
CLIPS = (
    ("dev-clean-1272-128104-x7", ("dev-clean/1272/128104",), 7),  # ~80 s: 3 windows
    ("test-clean-1089-1995-x6", ("test-clean/1089/134686", "test-clean/1089/134691",
                                 "test-clean/1995/1837"), 6),  # ~38 s: 2 windows
)
GAP = np.zeros(TARGET_RATE // 2, dtype=np.float32)


def transcripts(chapter: Path) -> list[tuple[str, str]]:
    [trans] = chapter.glob("*.trans.txt")
    return [tuple(line.split(" ", 1)) for line in trans.read_text().splitlines()]  # type: ignore[misc]


def main(data_root: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for clip_id, chapters, count in CLIPS:
        utterances = [(data_root / "LibriSpeech" / c / f"{u}.flac", text)
                      for c in chapters for u, text in transcripts(data_root / "LibriSpeech"
                                                                   / c)][:count]
        pieces = []
        for path, _ in utterances:
            pieces += [load_audio(path), GAP]
        audio = np.concatenate(pieces[:-1])
        sf.write(out / f"{clip_id}.wav", audio, TARGET_RATE, subtype="FLOAT")
        lines.append(json.dumps({"id": clip_id, "audio": f"{clip_id}.wav",
                                 "reference": " ".join(t for _, t in utterances)}))
        print(f"{clip_id}: {len(audio) / TARGET_RATE:.1f} s from {len(utterances)} utterances")
    (out / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    (out / "datasets.yaml").write_text(
        "librispeech-long-concat:\n  task: asr\n  language: en\n  loader: manifest\n"
        f"  path: {(out / 'manifest.jsonl').resolve()}\n  metric: wer\n"
        "  abnormal_limit: 1000\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
