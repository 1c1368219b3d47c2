"""Produced speech kept beside the store: content-addressed, whole or not at all, trusted
only when its bytes hash to its name; the store row keeps the clip's hash (schema 4, older
files migrated in place); measurements of a clip are cached and a --rerun ignores them."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from audiogate.engines.speech_audio import produced, wav_bytes
from audiogate.errors import AudiogateError
from audiogate.results.audio_store import AudioStore, MeasureCache
from audiogate.results.store import SCHEMA_VERSION, Store, StoredOutput
from audiogate.samples import Output


def _clip(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return wav_bytes((0.1 * rng.standard_normal(2205)).astype(np.float32), 22_050)


def test_a_clip_is_kept_under_its_hash(tmp_path: Path) -> None:
    store = AudioStore(tmp_path / "audio")
    data = _clip()
    kept = store.keep(produced(data, "wav"))
    path = tmp_path / "audio" / f"{hashlib.sha256(data).hexdigest()}.wav"
    assert kept.path == str(path) and kept.data is None
    assert path.read_bytes() == data and store.present(kept)
    assert [p.name for p in (tmp_path / "audio").iterdir()] == [path.name]  # no temp left
    assert store.keep(produced(data, "wav")).path == str(path)  # the same clip again


def test_a_damaged_clip_is_not_trusted_and_is_rewritten(tmp_path: Path) -> None:
    store = AudioStore(tmp_path)
    clip = produced(_clip(), "wav")
    kept = store.keep(clip)
    Path(str(kept.path)).write_bytes(b"RIFF truncated")
    assert not store.present(kept)
    store.keep(clip)
    assert store.present(kept)
    Path(str(kept.path)).unlink()
    with pytest.raises(AudiogateError, match="produced audio not found"):
        store.keep(kept)  # no bytes left to write it from


def test_bytes_that_do_not_match_their_hash_are_refused(tmp_path: Path) -> None:
    clip = produced(_clip(), "wav")
    forged = clip.__class__(clip.format, clip.sample_rate, clip.seconds, clip.sha256,
                            data=_clip(1))
    with pytest.raises(AudiogateError, match="do not hash to"):
        AudioStore(tmp_path).keep(forged)


def test_the_store_row_keeps_the_clip_and_a_version_3_store_is_migrated(
        tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)  # the version-3 layout: no audio column
    conn.executescript(
        "CREATE TABLE schema_version (version INTEGER NOT NULL);"
        "INSERT INTO schema_version VALUES (3);"
        "CREATE TABLE outputs (key TEXT PRIMARY KEY, model TEXT NOT NULL, dataset TEXT NOT NULL,"
        " sample_id TEXT NOT NULL, text TEXT, error TEXT, seconds REAL NOT NULL,"
        " audio_seconds REAL, created_at REAL NOT NULL, run_id TEXT, windows TEXT);"
        "INSERT INTO outputs VALUES ('old', 'm', 'd', 'a', 'kept', NULL, 1.0, 2.0, 5.0, NULL,"
        " NULL);")
    conn.commit()
    conn.close()
    clip = AudioStore(tmp_path / "audio").keep(produced(_clip(), "wav", transcript="said"))
    with Store.open(path) as store:
        old = store.get("old")
        assert old is not None and old.text == "kept" and old.audio is None
        store.put("new", StoredOutput.from_output(Output("b", "text", 1.0, audio=clip),
                                                  model="m", dataset="d"))
    with Store.open(path) as store:
        back = store.get("new")
        assert back is not None
        audio = back.to_output().audio
        assert audio is not None and audio.path is None  # where it is: the audio folder's
        assert (audio.sha256, audio.format, audio.transcript) == (clip.sha256, "wav", "said")
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_measurements_are_cached_per_model_and_clip(tmp_path: Path) -> None:
    with Store.open(tmp_path / "store.sqlite") as store:
        cache = MeasureCache(store, "tts-ls-test-clean")
        judge = {"judge": "whisper-tiny.en", "weights": "abc"}
        assert cache.get("judge", judge, "sha1") is None
        cache.put("judge", judge, "sha1", None, "he could wait", 1.5)
        assert cache.get("judge", judge, "sha1") == "he could wait"
        assert cache.get("judge", {**judge, "weights": "other"}, "sha1") is None
        assert cache.get("judge", judge, "sha2") is None
        cache.put("sim-ge2e", {"metric": "sim"}, "sha1", "prompt-a", "0.61", 0.2)
        assert cache.get("sim-ge2e", {"metric": "sim"}, "sha1", "prompt-b") is None
        assert MeasureCache(store, "x", rerun=True).get("judge", judge, "sha1") is None
