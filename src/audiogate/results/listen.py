"""The clips a report lets you listen to: the worst and the regressed utterances of a pair.

Files beside the report, not embedded: each chosen clip is copied into the report
folder's ``audio/`` under the sha256 of its bytes and linked relatively (``audio/<sha>.wav``),
so the page stays a few hundred kilobytes whatever the pair's size and opens from a CI
artifact with no network (the folder is the artifact). Base64 inside the page would make it
a third larger than the audio itself and load every clip up front. A pair of thousands of
utterances still copies at most ``MAX_WORST + MAX_REGRESSED`` clips of each kind: the produced
speech of a pair whose answers are speech, the input clip of a speech-recognition pair, and
a text-to-speech sample's voice prompt.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiogate.scoring.pair import SampleRecord

FOLDER = "audio"
MAX_WORST = 10  # the highest per-sample error rates (accuracy: the wrong answers)
MAX_REGRESSED = 20  # the worst regressions against the baseline


@dataclass
class Clips:
    """What one pair's page links: id -> {"a": produced, "in": input clip, "p": prompt}."""

    links: dict[str, dict[str, str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # files that were not there to copy

    def note(self) -> str | None:
        if not self.missing:
            return None
        shown = ", ".join(self.missing[:3]) + (" …" if len(self.missing) > 3 else "")
        return (f"{len(self.missing)} clip(s) to listen to are not on this machine "
                f"(not linked): {shown}")


def chosen(rates: Mapping[str, float], regressed: Sequence[str]) -> list[str]:
    """The ids whose clips are linked: the regressed first (worst first), then the worst
    by per-sample rate (ties by id), each list bounded."""
    worst = sorted(rates, key=lambda i: (-rates[i], i))[:MAX_WORST]
    return list(dict.fromkeys([*regressed[:MAX_REGRESSED], *worst]))


def link_clips(records: Sequence[SampleRecord], ids: Sequence[str], task: str,
               report_dir: Path) -> Clips:
    """Copy the chosen samples' clips beside the report and return their relative links."""
    by_id = {r.id: r for r in records}
    found = Clips()
    for sample_id in ids:
        record = by_id.get(sample_id)
        if record is None:
            continue
        links: dict[str, str] = {}
        produced = ((record.speech or {}).get("audio") or {}).get("path")
        if produced:
            _add(links, "a", Path(produced), report_dir, found)
        if record.audio_path:
            _add(links, "p" if task == "tts" else "in", Path(record.audio_path), report_dir,
                 found)
        if links:
            found.links[sample_id] = links
    return found


def _add(links: dict[str, str], kind: str, source: Path, report_dir: Path,
         found: Clips) -> None:
    try:
        data = source.read_bytes()
    except OSError:
        found.missing.append(str(source))
        return
    name = f"{hashlib.sha256(data).hexdigest()}{source.suffix.lower()}"
    target = report_dir / FOLDER / name
    if not target.is_file() or target.stat().st_size != len(data):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)
    links[kind] = f"{FOLDER}/{name}"


def speech_lines(record: SampleRecord) -> dict[str, Any]:
    """What the page shows of a sample's speech besides the scored text: the written
    answer of a chat model that speaks, and the judge that heard it."""
    speech = record.speech or {}
    out: dict[str, Any] = {}
    if speech.get("written") is not None:
        out["w"] = speech.get("written_answer") or speech["written"]
    return out


def summary_lines(result: Any) -> list[str]:
    """What the Markdown report says of a pair whose answers are speech: the judge, and
    each speech metric with its interval."""
    lines = []
    if result.judge:
        lines.append(f"judge: `{result.judge.get('model')}` (its transcripts of the produced "
                     "speech are what is scored)")
    for name, m in (result.metrics or {}).items():
        interval = m.get("interval") or {}
        value = "—" if m.get("value") is None else f"{m['value']:.3f}"
        ci = f" [{interval['low']:.3f}, {interval['high']:.3f}]" if interval else ""
        lines.append(f"{name}: {value}{ci} ({m.get('scored')} scored, {m.get('errors')} "
                     f"errors; {'mean' if m.get('aggregate') == 'mean' else 'corpus'} over "
                     "samples)")
    return lines
