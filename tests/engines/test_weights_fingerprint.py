"""The weights' content fingerprint: never an old digest for other bytes.

Real files on disk, changed the ways a user changes a checkpoint: other bytes written in
place, copied over it (``cp -p``) or renamed into place (``rsync -t``), each time with the
old size and the old modification time restored to the nanosecond.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from audiogate.engines.weights import SETTLED_NS, content_fingerprint

SIZE = 1 << 20


def _checkpoint(folder: Path, seed: int) -> Path:
    """A model folder: model.bin of SIZE random bytes, and a small config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.bin").write_bytes(os.urandom(SIZE) if seed else bytes(SIZE))
    (folder / "config.json").write_text('{"d_model": 384}', encoding="utf-8")
    return folder


def _in_place(weights: Path, other: bytes) -> None:
    with weights.open("r+b") as f:
        f.write(other)


def _copied_over(weights: Path, other: bytes) -> None:
    """`cp -p new model.bin`: the same inode, rewritten, with the source's times."""
    source = weights.with_name("new.bin.src")
    source.write_bytes(other)
    stat = weights.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    shutil.copy2(source, weights)
    source.unlink()


def _renamed_over(weights: Path, other: bytes) -> None:
    """`rsync -t`: a temporary file with the old times, renamed into place."""
    tmp = weights.with_name(".model.bin.rsync")
    tmp.write_bytes(other)
    stat = weights.stat()
    os.utime(tmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    tmp.replace(weights)


@pytest.mark.parametrize("change", [_in_place, _copied_over, _renamed_over],
                         ids=["written-in-place", "cp-p", "rsync-t"])
def test_other_bytes_with_the_old_size_and_mtime_get_a_new_fingerprint(
        tmp_path: Path, change: Callable[[Path, bytes], None]) -> None:
    folder = _checkpoint(tmp_path / "model", seed=1)
    weights = folder / "model.bin"
    first = content_fingerprint(folder, tmp_path / "cache")
    assert first["model.bin"] == hashlib.sha256(weights.read_bytes()).hexdigest()

    before = weights.stat()
    other = os.urandom(SIZE)
    change(weights, other)
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))  # as `touch -r` would
    after = weights.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)

    again = content_fingerprint(folder, tmp_path / "cache")
    assert again["model.bin"] == hashlib.sha256(other).hexdigest() != first["model.bin"]
    assert again["config.json"] == first["config.json"]


def test_a_settled_file_is_hashed_once_and_its_old_digests_are_forgotten(
        tmp_path: Path) -> None:
    """The cache still spares the hashing of unchanged weights: a file whose last change
    lies SETTLED_NS back is read from the index (proved by planting a digest there)."""
    folder = _checkpoint(tmp_path / "model", seed=1)
    cache = tmp_path / "cache"
    index = cache / "weights" / "fingerprints.json"
    time.sleep(SETTLED_NS / 1e9 + 0.2)  # a ctime cannot be set back: wait it out
    real = content_fingerprint(folder, cache)
    known = json.loads(index.read_text(encoding="utf-8"))
    [key] = [k for k in known if k.startswith(f"{(folder / 'model.bin').resolve()}|")]
    known[key] = "planted"
    index.write_text(json.dumps(known), encoding="utf-8")
    assert content_fingerprint(folder, cache)["model.bin"] == "planted"  # not read again

    (folder / "model.bin").write_bytes(os.urandom(SIZE))
    time.sleep(SETTLED_NS / 1e9 + 0.2)
    changed = content_fingerprint(folder, cache)
    assert changed["model.bin"] not in {"planted", real["model.bin"]}
    keys = [k for k in json.loads(index.read_text(encoding="utf-8"))
            if k.startswith(f"{(folder / 'model.bin').resolve()}|")]
    assert len(keys) == 1  # the earlier version's digest left the index


def test_a_file_changed_just_now_is_not_cached(tmp_path: Path) -> None:
    """A ctime within SETTLED_NS of the hashing could be one clock tick from a later
    write: such a digest is used for this run only, never stored."""
    folder = _checkpoint(tmp_path / "model", seed=1)
    content_fingerprint(folder, tmp_path / "cache")
    index = tmp_path / "cache" / "weights" / "fingerprints.json"
    assert json.loads(index.read_text(encoding="utf-8")) == {}
