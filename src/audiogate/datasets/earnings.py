"""Earnings-21 / Earnings-22 (Rev, github.com/revdotcom/speech-datasets) in their published
layout: one sample per earnings call, whole.

    <root>/media/<file id>.mp3
    <root>/transcripts/nlp_references/<file id>.nlp
    <root>/<metadata csv>   # earnings21-file-metadata.csv (file_id, audio_length, ...) or
                            # metadata.csv (File ID, ..., File Length (seconds), ...)

The metadata lists the calls (``file_id`` / ``File ID``), so a missing .mp3 or .nlp is an
error naming it, never a call silently dropped. The reference is the NLP file's ``token``
column (first of its pipe-separated ``token|speaker|ts|endTs|punctuation|case|tags|
wer_tags`` columns) joined with spaces, after its header line: the text the Open ASR
Leaderboard scores these sets on, before its normalizer.
"""

from __future__ import annotations

import csv
from pathlib import Path

from audiogate.datasets._text import decoded_lines
from audiogate.errors import DatasetMissing
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample

METADATA = ("earnings21-file-metadata.csv", "metadata.csv")
ID_COLUMNS = ("file_id", "File ID")
LENGTH_COLUMNS = ("audio_length", "File Length (seconds)")
NLP_HEADER = "token|speaker|ts|endTs|punctuation|case|tags|wer_tags"


def nlp_reference(path: Path) -> tuple[str, str | None]:
    """(reference, problem) of one .nlp file; a problem names ``path:line``."""
    tokens: list[str] = []
    for lineno, decoded, undecodable, _ in decoded_lines(path):
        if decoded is None:
            return "", str(undecodable)
        line = decoded.strip()
        if not line or (lineno == 1 and line.lower().startswith("token|")):
            continue
        token = line.split("|", 1)[0].strip()
        if "|" not in line:
            return "", f"{path}:{lineno}: not an NLP line ({NLP_HEADER})"
        if token:
            tokens.append(token)
    if not tokens:
        return "", f"{path}: no tokens"
    return " ".join(tokens), None


def calls(root: Path) -> list[tuple[str, float | None]]:
    """(file id, published length in seconds) of every call in the metadata."""
    for name in METADATA:
        path = root / name
        if path.is_file():
            break
    else:
        raise DatasetMissing(f"Earnings: no {' or '.join(METADATA)} in {root}")
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    header = rows[0].keys() if rows else []
    id_col = next((c for c in ID_COLUMNS if c in header), None)
    if id_col is None:
        raise DatasetMissing(f"{path}: no {' or '.join(ID_COLUMNS)} column")
    length_col = next((c for c in LENGTH_COLUMNS if c in header), None)
    found = []
    for row in rows:
        raw = row.get(length_col or "", "") or ""
        try:
            length = float(raw) if raw else None
        except ValueError:
            length = None
        found.append((row[id_col].strip(), length))
    return found


def load(root: Path, spec: DatasetSpec) -> list[Sample]:
    samples = []
    for call, length in calls(root):
        audio = root / "media" / f"{call}.mp3"
        nlp = root / "transcripts" / "nlp_references" / f"{call}.nlp"
        meta: dict[str, object] = {"call": call, "published_seconds": length}
        if not nlp.is_file():
            samples.append(Sample(call, "", audio, meta=meta,
                                  error=f"reference {nlp} not found"))
            continue
        reference, problem = nlp_reference(nlp)
        if problem is None and not audio.is_file():
            problem = f"audio file {audio} not found"
            meta["missing_audio"] = True
        samples.append(Sample(call, reference, audio, meta=meta, error=problem))
    return samples
