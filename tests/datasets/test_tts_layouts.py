"""Text-to-speech test sets in their published layouts, on small real files made from the
shipped clips: Seed-TTS-Eval's meta.lst, F5-TTS's LibriSpeech-PC cross-sentence list, and
a JSONL manifest. Each bad line becomes an error sample naming the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf

from audiogate.datasets import load_dataset
from audiogate.datasets.audio import load_audio
from audiogate.errors import DataError
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample

TEST_CLEAN = "LibriSpeech/test-clean"
AISHELL = "aishell-1/data_aishell/wav/test/S0764"


def _spec(loader: str, path: Path, language: str = "en", **options: object) -> DatasetSpec:
    return DatasetSpec(name=f"my-{loader}", task="tts", language=language, loader=loader,
                       path=str(path), metric="wer", options=dict(options))


def _by_id(samples: list[Sample]) -> dict[str, Sample]:
    return {s.id: s for s in samples}


def _wav(flac: Path, out: Path) -> Path:
    """A shipped clip as the WAV file a published test set would hold."""
    out.parent.mkdir(parents=True, exist_ok=True)
    audio, rate = sf.read(flac)
    sf.write(out, audio, rate, subtype="PCM_16")
    return out


def test_seed_tts_meta_lst_en(tmp_path: Path, shared_data: Path) -> None:
    clips = shared_data / TEST_CLEAN / "1089"
    en = tmp_path / "seedtts_testset" / "en"
    _wav(clips / "134686/1089-134686-0001.flac", en / "prompt-wavs" / "1089-134686-0001.wav")
    _wav(clips / "134691/1089-134691-0000.flac", en / "wavs" / "1089-134691-0000.wav")
    elsewhere = _wav(clips / "134691/1089-134691-0001.flac", tmp_path / "abs.wav")
    (en / "meta.lst").write_text("\n".join([
        "1089-134691-0000|Stuff it into you, his belly counselled him.|"
        "prompt-wavs/1089-134686-0001.wav|He could wait no longer.",
        "five|Stuff it into you.|prompt-wavs/1089-134686-0001.wav|For a full hour.|"
        "wavs/1089-134691-0000.wav",
        f"three.wav|He paced up and down.|{elsewhere}",
        "two|No prompt, the engine's own voice.",
        "",
        "six|a|b|c|d|e",
        "gone|Prompt text.|prompt-wavs/missing.wav|A target.",
        "empty|Prompt text.|prompt-wavs/1089-134686-0001.wav|",
        "1089-134691-0000|Again.|prompt-wavs/1089-134686-0001.wav|Twice listed.",
    ]) + "\n", encoding="utf-8")
    samples = _by_id(load_dataset(_spec("seed-tts", en), tmp_path))
    meta = str(en / "meta.lst")

    first = samples["1089-134691-0000"]
    assert first.error is None and first.reference == "He could wait no longer."
    assert first.audio_path == en / "prompt-wavs" / "1089-134686-0001.wav"
    assert first.meta["prompt_text"] == "Stuff it into you, his belly counselled him."
    assert load_audio(first.audio_path).size > 16000  # the real prompt clip decodes
    five = samples["five"]
    assert five.error is None
    assert five.meta["ground_truth_audio"] == str(en / "wavs" / "1089-134691-0000.wav")
    three = samples["three"]  # 3 fields: id|target|prompt, ".wav" dropped from the id
    assert (three.reference, three.audio_path) == ("He paced up and down.", elsewhere)
    two = samples["two"]
    assert (two.error, two.audio_path, two.meta) == (None, None, {})

    assert samples["<line 6>"].error == (
        f"{meta}:6: 6 '|'-separated fields; expected 4 (id|prompt text|prompt wav|target "
        "text), 5 (+ ground-truth wav), 3 or 2")
    assert samples["gone"].error == (f"{meta}:7: prompt audio not found "
                                     f"({en / 'prompt-wavs' / 'missing.wav'})")
    assert samples["gone"].meta["missing_audio"] is True
    assert samples["empty"].error == f"{meta}:8: no target text"
    assert samples["1089-134691-0000#2"].error == (
        f"{meta}:9: duplicate id '1089-134691-0000' (first at {meta}:1)")
    assert len(samples) == 8


def test_seed_tts_zh_and_another_list(tmp_path: Path, shared_data: Path) -> None:
    zh = tmp_path / "zh"
    _wav(shared_data / AISHELL / "BAC009S0764W0121.wav", zh / "prompt-wavs" / "p121.wav")
    (zh / "hardcase.lst").write_text(
        "BAC009S0764W0122|甚至出现交易几乎停滞的情况|prompt-wavs/p121.wav|"
        "一二线城市虽然也处于调整中\n", encoding="utf-8")
    (zh / "meta.lst").write_text("x|\u0007bad\n", encoding="utf-8")
    [hard] = load_dataset(_spec("seed-tts", zh, "zh", list="hardcase.lst"), tmp_path)
    assert hard.error is None and hard.reference == "一二线城市虽然也处于调整中"
    assert hard.meta["prompt_text"] == "甚至出现交易几乎停滞的情况"
    [bad] = load_dataset(_spec("seed-tts", zh, "zh"), tmp_path)
    assert bad.error == f"{zh / 'meta.lst'}:1: target text: control character(s) (U+0007): " \
        "bytes that are not text (a terminal escape, binary data or a wrong encoding), so the " \
        "reference is not what the speaker said"
    with pytest.raises(DataError, match=r"nope\.lst: list not found"):
        load_dataset(_spec("seed-tts", zh, "zh", list="nope.lst"), tmp_path)


def _f5_line(prompt: str, prompt_s: float, prompt_text: str, target: str, target_s: float,
             text: str) -> str:
    return "\t".join([prompt, str(prompt_s), prompt_text, target, str(target_s), text])


def test_f5_librispeech_pc_cross_sentence(tmp_path: Path, shared_data: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "LibriSpeech").mkdir()
    (data / TEST_CLEAN).symlink_to(shared_data / TEST_CLEAN)  # where F5-TTS's README puts it
    seconds = {p.stem: sf.info(p).duration
               for p in (shared_data / TEST_CLEAN).glob("*/*/*.flac")}
    lines = [
        _f5_line("1089-134691-0000", seconds["1089-134691-0000"], "He could wait no longer.",
                 "1089-134686-0002", seconds["1089-134686-0002"],
                 "After early nightfall the yellow lamps would light up, here and there, "
                 "the squalid quarter of the brothels."),
        # a line of the published list: its prompt is not in the shipped slice
        "1995-1837-0015\t4.485\tThe squares of cotton, sharp edged, heavy, were just about "
        "to burst to bolls!\t1995-1837-0001\t8.73\tIt was the first great sorrow of his "
        "life; it was not so much the loss of the cotton itself - but the fantasy, the "
        "hopes, the dreams built around it.",
        "1089-134691-0000\t2.085\tShort.\t1089-134686-0001",
        "1089-134691-0000\tlong\tShort.\t1089-134686-0000\t10.4\tText.",
    ]
    (data / "librispeech_pc_test_clean_cross_sentence.lst").write_bytes(
        "\r\n".join(lines).encode() + b"\r\n")  # the published list has CRLF line ends
    listing = data / "librispeech_pc_test_clean_cross_sentence.lst"
    samples = _by_id(load_dataset(_spec("librispeech-pc-cross-sentence", data), tmp_path))

    good = samples["1089-134686-0002"]
    assert good.error is None
    assert good.reference.endswith("the squalid quarter of the brothels.")
    assert good.audio_path == data / TEST_CLEAN / "1089/134691/1089-134691-0000.flac"
    assert load_audio(good.audio_path).size == round(seconds["1089-134691-0000"] * 16000)
    assert good.meta == {
        "speaker": "1089", "chapter": "134686", "prompt_text": "He could wait no longer.",
        "prompt_id": "1089-134691-0000", "prompt_seconds": seconds["1089-134691-0000"],
        "target_seconds": seconds["1089-134686-0002"],
        "ground_truth_audio": str(data / TEST_CLEAN / "1089/134686/1089-134686-0002.flac"),
    }
    missing = samples["1995-1837-0001"]
    assert missing.error == (f"{listing}:2: prompt audio not found "
                             f"({data / TEST_CLEAN / '1995/1837/1995-1837-0015.flac'})")
    assert samples["<line 3>"].error == (
        f"{listing}:3: 4 tab-separated fields; expected 6 (prompt id, prompt seconds, "
        "prompt text, target id, target seconds, target text)")
    assert samples["1089-134686-0000"].error.startswith(  # type: ignore[union-attr]
        f"{listing}:4: expected LibriSpeech ids")
    # the audio root may lie elsewhere
    elsewhere = tmp_path / "lists"
    elsewhere.mkdir()
    (elsewhere / "cross.lst").write_text(lines[0] + "\n", encoding="utf-8")
    [moved] = load_dataset(_spec("librispeech-pc-cross-sentence", elsewhere / "cross.lst",
                                 audio_root=str(shared_data / TEST_CLEAN)), tmp_path)
    assert moved.error is None and moved.audio_path is not None and moved.audio_path.is_file()


def test_tts_manifest(tmp_path: Path, shared_data: Path) -> None:
    folder = tmp_path / "mine"
    prompt = _wav(shared_data / TEST_CLEAN / "1089/134691/1089-134691-0000.flac",
                  folder / "voices" / "me.wav")
    rows: list[object] = [
        {"text": "Just say this."},
        {"id": "cloned", "text": "Say it in my voice.", "prompt_audio": "voices/me.wav",
         "prompt_text": "He could wait no longer."},
        {"id": "voiced", "text": "Say it as en-us.", "voice": "en-us"},
        {"id": "typo", "text": "Lost prompt?", "promt_audio": "voices/me.wav"},
        {"id": "gone", "text": "Missing prompt.", "prompt_audio": "voices/none.wav"},
        {"id": "number", "text": 42},
        ["not", "an", "object"],
    ]
    manifest = folder / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n",
                        encoding="utf-8")
    samples = _by_id(load_dataset(_spec("tts-manifest", folder), tmp_path))
    assert samples["line-1"].error is None and samples["line-1"].audio_path is None
    cloned = samples["cloned"]
    assert (cloned.error, cloned.audio_path) == (None, prompt)
    assert cloned.meta == {"prompt_text": "He could wait no longer."}
    assert samples["voiced"].meta == {"voice": "en-us"}
    assert samples["typo"].error == (f"{manifest}:4: unknown key(s) 'promt_audio' (known: "
                                     "id, text, prompt_audio, prompt_text, voice)")
    assert samples["gone"].error == (f"{manifest}:5: prompt audio not found "
                                     f"({folder / 'voices' / 'none.wav'})")
    assert samples["number"].error == f"{manifest}:6: 'text' must be a string"
    assert samples["line-7"].error == f"{manifest}:7: not a JSON object"
    assert samples["<line 8>"].error.startswith(f"{manifest}:8: not JSON")  # type: ignore[union-attr]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty/manifest\.jsonl: manifest not found"):
        load_dataset(_spec("tts-manifest", tmp_path / "empty"), tmp_path)
