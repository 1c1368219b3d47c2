"""Produced speech kept beside the store, and the measurements made on it.

Clips are content-addressed: ``<folder>/<sha256 of the bytes>.<format>`` (``<store
dir>/audio/`` beside the results store; with ``--no-store``, the report folder's
``audio/``), written to a temporary name and renamed, so a clip is there whole or not at
all and any number of processes may keep the same clip at once. A clip already there is
trusted only after its bytes hash to its name.

What is measured on a clip (the judge's transcript, speaker similarity, DNSMOS) is kept
in the results store too, keyed on the measuring model's identity and the clip's hash, so
a resumed run neither speaks nor listens again.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from audiogate.errors import AudiogateError
from audiogate.samples import ProducedAudio

FOLDER = "audio"
MEASURED = "produced-speech"  # the `dataset` a measurement's key is made under


class AudioStore:
    """A folder of content-addressed clips."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path_of(self, audio: ProducedAudio) -> Path:
        return self.folder / f"{audio.sha256}.{audio.format}"

    def keep(self, audio: ProducedAudio) -> ProducedAudio:
        """Write the clip's bytes (if not there already) and return it with its path and
        without its bytes."""
        path = self.path_of(audio)
        if audio.data is None:
            if not self.present(audio):
                raise AudiogateError(f"{path}: produced audio not found (and no bytes to "
                                     "write it from)")
            return replace(audio, path=str(path))
        if hashlib.sha256(audio.data).hexdigest() != audio.sha256:
            raise AudiogateError(f"produced audio: its bytes do not hash to {audio.sha256}")
        if not self.present(audio):
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
            tmp.write_bytes(audio.data)
            tmp.replace(path)
        return replace(audio, data=None, path=str(path))

    def present(self, audio: ProducedAudio) -> bool:
        """Whether the clip is on disk with exactly its bytes."""
        path = self.path_of(audio)
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest() == audio.sha256
        except OSError:
            return False


class MeasureCache:
    """Measurements of produced clips in the results store (``Store``), one row each.

    ``kind`` names what was measured (``judge``, ``sim-ge2e``, ``dnsmos``), ``identity``
    the model that measured it, ``clip`` the clip's sha256 and ``other`` anything else the
    value depends on (the voice prompt's audio hash for speaker similarity).
    """

    def __init__(self, store: Any, dataset: str, *, rerun: bool = False) -> None:
        self.store, self.dataset, self.rerun = store, dataset, rerun

    def _key(self, kind: str, identity: dict[str, Any], clip: str, other: str | None) -> str:
        from audiogate.results.store import output_key

        return output_key(identity, kind, None, MEASURED, clip, other)

    def get(self, kind: str, identity: dict[str, Any], clip: str,
            other: str | None = None) -> str | None:
        if self.rerun:
            return None
        found = self.store.get(self._key(kind, identity, clip, other))
        return None if found is None else found.text

    def put(self, kind: str, identity: dict[str, Any], clip: str, other: str | None,
            value: str, seconds: float) -> None:
        from audiogate.results.store import StoredOutput

        self.store.put(self._key(kind, identity, clip, other),
                       StoredOutput(kind, self.dataset, clip, value, None, seconds))
