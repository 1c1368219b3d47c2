"""AISHELL-1 and FLEURS-zh loaders on the shared real slices, and on broken copies of them."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from audiogate.datasets import load_dataset, loader_for
from audiogate.errors import DatasetMissing, RegistryError
from audiogate.registry.load import DatasetSpec, dataset
from audiogate.samples import Sample
from audiogate.scoring.pair import Outcome, score_asr

AISHELL_WAV = Path("aishell-1/data_aishell/wav/test/S0764")
FLEURS_WAV = Path("fleurs-zh/cmn_hans_cn/audio/test/fleurs_zh_1883_clip5.wav")
TRANSCRIPT = Path("data_aishell/transcript/aishell_transcript_v0.8.txt")


def _by_id(samples: list[Sample]) -> dict[str, Sample]:
    return {s.id: s for s in samples}


# --- AISHELL-1 -----------------------------------------------------------------------------

def test_aishell_real_slice(shared_data: Path) -> None:
    samples = load_dataset(dataset("aishell-1"), shared_data)
    assert [s.id for s in samples] == ["BAC009S0764W0121", "BAC009S0764W0122"]
    assert [s.reference for s in samples] == ["甚至 出现 交易 几乎 停滞 的 情况",
                                              "一二 线 城市 虽然 也 处于 调整 中"]
    for s in samples:
        assert s.error is None
        assert s.audio_path is not None and s.audio_path.is_file()
        assert s.meta["speaker"] == "S0764"


def _aishell_copy(shared_data: Path, tmp_path: Path, lines: list[str],
                  wavs: dict[str, str]) -> Path:
    """A small AISHELL tree in tmp_path: ``wavs`` maps new utterance ids to real shared wavs."""
    root = tmp_path / "aishell-1"
    for utt_id, source in wavs.items():
        dest = root / "data_aishell/wav/test" / utt_id[6:11] / f"{utt_id}.wav"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data / AISHELL_WAV / f"{source}.wav", dest)
    (root / TRANSCRIPT).parent.mkdir(parents=True)
    (root / TRANSCRIPT).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return root


def _load_aishell(root: Path) -> dict[str, Sample]:
    return _by_id(loader_for("aishell")(root, dataset("aishell-1")))


def test_aishell_problems_name_file_and_line(shared_data: Path, tmp_path: Path) -> None:
    root = _aishell_copy(
        shared_data, tmp_path,
        lines=[
            "BAC009S0764W0121 甚至 出现 交易 几乎 停滞 的 情况",
            "BAC009S0764W0122 一二 线 城市 虽然 也 处于 调整 中",  # its wav is missing
            "BAC009S0002W0122 训练 集 的 句子",  # another split's speaker: not ours, skipped
            "BAC009S0764W0121 重复 的 行",  # a second line for the same utterance
        ],
        wavs={"BAC009S0764W0121": "BAC009S0764W0121",
              "BAC009S0764W0999": "BAC009S0764W0122"},  # audio with no transcript line
    )
    transcript = root / TRANSCRIPT
    got = _load_aishell(root)
    assert set(got) == {"BAC009S0764W0121", "BAC009S0764W0122", "BAC009S0764W0121#line4",
                        "BAC009S0764W0999"}
    assert got["BAC009S0764W0121"].error is None

    missing = got["BAC009S0764W0122"].error
    assert missing is not None
    assert f"{transcript}:2" in missing
    assert str(root / "data_aishell/wav/test/S0764/BAC009S0764W0122.wav") in missing
    assert got["BAC009S0764W0122"].meta["missing_audio"] is True

    duplicate = got["BAC009S0764W0121#line4"].error
    assert duplicate is not None and f"{transcript}:4" in duplicate and "line 1" in duplicate

    orphan = got["BAC009S0764W0999"].error
    assert orphan is not None
    assert "no transcript line" in orphan and str(transcript) in orphan
    assert "BAC009S0764W0999.wav" in orphan


@pytest.mark.parametrize(("junk", "code"), [("\x07", "U+0007"), ("\x80", "U+0080"),
                                            ("\x1b", "U+001B")])
def test_aishell_control_characters_are_refused(shared_data: Path, tmp_path: Path,
                                                junk: str, code: str) -> None:
    root = _aishell_copy(
        shared_data, tmp_path,
        lines=["BAC009S0764W0121 甚至 出现 交易 几乎 停滞 的 情况",
               f"BAC009S0764W0122 一二 线 城{junk}市 虽然 也 处于 调整 中"],
        wavs={"BAC009S0764W0121": "BAC009S0764W0121",
              "BAC009S0764W0122": "BAC009S0764W0122"},
    )
    got = _load_aishell(root)
    assert got["BAC009S0764W0121"].error is None
    error = got["BAC009S0764W0122"].error
    assert error is not None
    assert error.startswith(f"{root / TRANSCRIPT}:2: control character(s) ({code})")


def test_aishell_format_characters_are_scored_like_ultraeval(
        shared_data: Path, tmp_path: Path, ground_truth: Path) -> None:
    """The recorded Chinese pairs with format and private-use characters (zero-width space,
    BOM, an emoji family joined by U+200D, U+E000) load as written and give the CER
    UltraEval-Audio's own scorer produced for them."""
    truth = json.loads((ground_truth / "ultraeval_format_characters.json").read_text(
        encoding="utf-8"))
    pairs = [p for p in truth["pairs"] if p["lang"] == "zh"]
    ids = [f"BAC009S0764W{121 + i:04d}" for i in range(len(pairs))]
    root = _aishell_copy(shared_data, tmp_path,
                         lines=[f"{i} {p['ref']}" for i, p in zip(ids, pairs, strict=True)],
                         wavs={i: "BAC009S0764W0121" for i in ids})
    got = _load_aishell(root)
    assert [(got[i].error, got[i].reference) for i in ids] == [(None, p["ref"]) for p in pairs]
    outcomes = [Outcome(i, got[i].reference, None, p["hyp"], p["hyp"], None)
                for i, p in zip(ids, pairs, strict=True)]
    result, records = score_asr(dataset("aishell-1"), outcomes)
    assert result.errors == 0
    assert result.value == truth["zh_corpus_percent"]
    assert [r.score for r in records] == [p["per_sample_percent"] for p in pairs]


def test_aishell_without_transcript_is_missing(shared_data: Path, tmp_path: Path) -> None:
    root = _aishell_copy(shared_data, tmp_path, lines=[],
                         wavs={"BAC009S0764W0121": "BAC009S0764W0121"})
    (root / TRANSCRIPT).unlink()
    with pytest.raises(DatasetMissing, match=r"aishell_transcript_v0\.8\.txt"):
        _load_aishell(root)


# --- FLEURS-zh ------------------------------------------------------------------------------

def _fleurs_spec(**options: str) -> DatasetSpec:
    spec = dataset("fleurs-zh")
    return dataclasses.replace(spec, options={"split": "test", **options})


def test_fleurs_real_slice_uses_the_registry_fallback(shared_data: Path) -> None:
    """The shared row has no raw_transcription; the registry entry falls back on purpose."""
    samples = load_dataset(dataset("fleurs-zh"), shared_data)
    assert len(samples) == 1
    s = samples[0]
    assert s.id == "fleurs_zh_1883_clip5"
    assert s.error is None
    assert s.reference == "桥下垂直净空 15 米该项目于 2011 年 8 月完工但直到 2017 年 3 月才开始通车"
    assert s.meta["reference_field"] == "transcription"
    assert s.meta["sentence_id"] == "1883"
    assert s.audio_path == shared_data / FLEURS_WAV


def test_fleurs_empty_raw_transcription_is_an_error_without_fallback(shared_data: Path) -> None:
    root = shared_data / "fleurs-zh/cmn_hans_cn"
    (s,) = loader_for("fleurs")(root, _fleurs_spec(reference_field="raw_transcription"))
    assert s.error == f"{root / 'test.tsv'}:1: raw_transcription empty"


def _fleurs_copy(shared_data: Path, tmp_path: Path, rows: list[str]) -> Path:
    root = tmp_path / "cmn_hans_cn"
    (root / "audio/test").mkdir(parents=True)
    shutil.copyfile(shared_data / FLEURS_WAV, root / "audio/test/1001.wav")
    (root / "test.tsv").write_text("".join(f"{r}\n" for r in rows), encoding="utf-8")
    return root


def test_fleurs_bad_rows_name_file_and_line(shared_data: Path, tmp_path: Path) -> None:
    root = _fleurs_copy(shared_data, tmp_path, rows=[
        "1883\t1001.wav\t桥下垂直净空15米。\t桥下垂直净空 15 米\t桥|下\t221760\tMALE",
        "1883\t1002.wav\t该项目于2011年完工。\t该项目于 2011 年完工\t该|项\t100\tFEMALE",
        "1884\t1003.wav\t只有三列",
        "1885\t1001.wav\t同一个文件。\t同一个文件\tx\t1\tMALE",
        "1886\t1004.wav\t\t\tx\t1\tMALE",
    ])
    tsv = root / "test.tsv"
    got = _by_id(loader_for("fleurs")(root, _fleurs_spec(reference_fallback="transcription")))
    assert got["1001"].error is None
    assert got["1001"].reference == "桥下垂直净空15米。"
    assert got["1001"].meta["reference_field"] == "raw_transcription"

    missing = got["1002"].error
    assert missing == f"{tsv}:2: audio file {root / 'audio/test/1002.wav'} not found"
    assert got["1002"].meta["missing_audio"] is True

    short = got["test-line3"].error
    assert short is not None and short.startswith(f"{tsv}:3: 3 tab-separated columns")

    dup = got["1001#line4"].error
    assert dup is not None and dup.startswith(f"{tsv}:4:") and "line 1" in dup

    assert got["1004"].error == f"{tsv}:5: raw_transcription empty and transcription is empty too"


def test_fleurs_reference_field_option(shared_data: Path, tmp_path: Path) -> None:
    root = _fleurs_copy(shared_data, tmp_path, rows=[
        "1883\t1001.wav\t桥下垂直净空15米。\t桥下垂直净空 15 米\tx\t221760\tMALE"])
    (s,) = loader_for("fleurs")(root, _fleurs_spec(reference_field="transcription"))
    assert s.reference == "桥下垂直净空 15 米"
    with pytest.raises(RegistryError, match="reference_field must be one of"):
        loader_for("fleurs")(root, _fleurs_spec(reference_field="chars"))


def test_fleurs_control_characters_are_refused(shared_data: Path, tmp_path: Path) -> None:
    root = _fleurs_copy(shared_data, tmp_path, rows=[
        "1883\t1001.wav\t桥下\x1b[0m垂直\tx\tx\t1\tMALE"])
    (s,) = loader_for("fleurs")(root, _fleurs_spec())
    assert s.error is not None
    assert s.error.startswith(f"{root / 'test.tsv'}:1: control character(s) (U+001B): ")
