"""The Hugging Face parquet layout gives the same samples and audio as the native layout.

A parquet copy is written here (tmp only) from the shared LibriSpeech test-clean slice,
shaped like TwinkStart/librispeech: ``data/test_clean-0000N-of-00002.parquet`` with the
``datasets.Audio`` struct ``{bytes: <FLAC file bytes>, path: <id>.flac}`` and ``text``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audiogate.datasets import load_dataset
from audiogate.datasets.audio import load_audio
from audiogate.errors import DatasetMissing
from audiogate.registry.load import dataset

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

NAME = "librispeech-test-clean"


def _write_hf_copy(native: Path, snapshot: Path) -> int:
    """Two shards, rows in an order unlike the native sort (the loader must not care)."""
    rows = []
    for trans in sorted(native.glob("*/*/*.trans.txt"), reverse=True):
        for line in trans.read_text(encoding="utf-8").splitlines():
            utt, _, text = line.partition(" ")
            flac = trans.parent / f"{utt}.flac"
            rows.append({"audio": {"bytes": flac.read_bytes(), "path": flac.name},
                         "text": text, "speaker_id": int(utt.split("-")[0])})
    schema = pa.schema([
        ("audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        ("text", pa.string()), ("speaker_id", pa.int64()),
    ])
    (snapshot / "data").mkdir(parents=True)
    half = len(rows) // 2
    for i, part in enumerate((rows[:half], rows[half:])):
        table = pa.Table.from_pylist(part, schema=schema)
        pq.write_table(table, snapshot / "data" / f"test_clean-{i:05d}-of-00002.parquet")
    return len(rows)


def test_hf_copy_matches_native(shared_data: Path, tmp_path: Path) -> None:
    spec = dataset(NAME)
    native = load_dataset(spec, shared_data)
    root = tmp_path / "data"
    count = _write_hf_copy(shared_data / spec.path, root / spec.options["hf"]["path"])
    assert count == len(native)

    # the SAME registry name: the native folder is absent, so the hf copy is read
    copy = load_dataset(spec, root)
    assert [(s.id, s.reference) for s in copy] == [(s.id, s.reference) for s in native]
    assert not any(s.error for s in copy)
    for a, b in zip(copy, native, strict=True):
        assert a.audio_path is not None and a.audio_path.is_relative_to(root / ".hf-audio")
        assert a.audio_path.suffix == ".flac"
        assert a.meta["layout"] == "hf" and a.meta["speaker_id"] == int(a.id.split("-")[0])
        np.testing.assert_array_equal(load_audio(a.audio_path), load_audio(b.audio_path))

    # decoded once: a second load reuses the cached files untouched
    mtimes = {s.audio_path: s.audio_path.stat().st_mtime_ns for s in copy}
    again = load_dataset(spec, root)
    assert {s.audio_path: s.audio_path.stat().st_mtime_ns for s in again} == mtimes


def test_hf_copy_listed_with_its_layout(shared_data: Path, tmp_path: Path) -> None:
    from audiogate.datasets.fetch import dataset_status

    spec = dataset(NAME)
    root = tmp_path / "data"
    _write_hf_copy(shared_data / spec.path, root / spec.options["hf"]["path"])
    status = dataset_status(spec, root)
    assert (status.layout, status.status, status.found, status.expected) == (
        "hf", "partial", 6, 2620)
    assert status.path == root / "hf" / "TwinkStart" / "librispeech"


def test_missing_split_names_the_layouts_tried(shared_data: Path, tmp_path: Path) -> None:
    spec = dataset("librispeech-dev-other")  # same snapshot folder, split not written
    root = tmp_path / "data"
    _write_hf_copy(shared_data / "LibriSpeech" / "test-clean",
                   root / spec.options["hf"]["path"])
    with pytest.raises(DatasetMissing, match=r"no parquet shards for split 'dev_other'"):
        load_dataset(spec, root)


def test_hf_copy_scores_like_native_with_the_real_model(shared_data: Path,
                                                        tmp_path: Path) -> None:
    """whisper-tiny.en on 3 clips read from each layout: same hypotheses, same corpus WER."""
    from audiogate.engines import EngineContext, make_engine
    from audiogate.registry.load import model
    from audiogate.runner import PairRun

    spec = dataset(NAME)
    root = tmp_path / "data"
    _write_hf_copy(shared_data / spec.path, root / spec.options["hf"]["path"])
    tiny = model("whisper-tiny.en")
    engine = make_engine(tiny, EngineContext(cache_dir=tmp_path / "cache"))
    try:
        runs = {}
        for layout, data_root in (("native", shared_data), ("hf", root)):
            run = PairRun(tiny, spec, engine, data_root, store=None)
            samples = load_dataset(spec, data_root)[:3]
            assert all((s.meta.get("layout") == "hf") == (layout == "hf") for s in samples)
            runs[layout] = run.run(samples)
    finally:
        engine.close()
    (native, native_records), (hf, hf_records) = runs["native"], runs["hf"]
    assert [r.id for r in hf_records] == [r.id for r in native_records]
    assert len(native_records) == 3 and not any(r.error for r in native_records + hf_records)
    assert [(r.raw_output, r.normalized_hypothesis, r.normalized_reference, r.score)
            for r in hf_records] == [
        (r.raw_output, r.normalized_hypothesis, r.normalized_reference, r.score)
        for r in native_records]
    assert (hf.inferred, hf.reused) == (native.inferred, native.reused) == (3, 0)
    assert hf.sample_set == native.sample_set
    assert hf.score == native.score
    assert hf.score.value is not None and hf.score.total == 3
