"""Unicode format characters (zero-width space, joiners, BOM, soft hyphen, bidi marks),
private-use characters and whitespace controls, scored exactly as the reference scorers
score them.

Ground truth: tests/ground_truth/ultraeval_format_characters.json and
open_asr_format_characters.json, recorded by running UltraEval-Audio's and the Open ASR
Leaderboard's own scorers on these inputs (see the README there). Every entry is a test;
the last tests load such references through the real loaders (a LibriSpeech layout, a
JSONL manifest) and score them through the pair scorer the gate uses: the loaders must
hand them over as they are, and refuse only text that was not read correctly.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from audiogate.datasets import load_dataset
from audiogate.registry import load as registry
from audiogate.registry.load import DatasetSpec, profile_for
from audiogate.scoring.alignment import align, corpus_percent
from audiogate.scoring.chinese import chinese_tokens, normalize_chinese
from audiogate.scoring.english import english_tokens, normalize_english
from audiogate.scoring.open_asr_english import normalize_open_asr_english
from audiogate.scoring.open_asr_multilingual import normalize_open_asr_multilingual
from audiogate.scoring.pair import Outcome, score_asr
from audiogate.scoring.protocol import TextScorer, text_scorer

# Recorded counts; a changed file means this test file needs a look.
N_EN, N_ZH, N_PAIRS = 21, 11, 18
N_OA_EN, N_OA_PAIRS, N_ML_STRINGS, N_ML_PAIRS = 21, 12, 6, 4


@pytest.fixture(scope="module")
def ultraeval(ground_truth: Path) -> dict[str, Any]:
    path = ground_truth / "ultraeval_format_characters.json"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def open_asr(ground_truth: Path) -> dict[str, Any]:
    path = ground_truth / "open_asr_format_characters.json"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def english() -> DatasetSpec:
    return registry.dataset("librispeech-test-clean")


def _scorer(name: str, spec: DatasetSpec) -> TextScorer:
    return text_scorer(name, profile_for(spec, registry.protocols(), name), spec)


def _tokens(lang: str, text: str) -> list[str]:
    return chinese_tokens(text) if lang == "zh" else english_tokens(text)


def test_every_recorded_entry_is_covered(ultraeval: dict[str, Any],
                                         open_asr: dict[str, Any]) -> None:
    assert (len(ultraeval["en"]), len(ultraeval["zh"]), len(ultraeval["pairs"])) == \
        (N_EN, N_ZH, N_PAIRS)
    ml = open_asr["multilingual"]
    assert (len(open_asr["en"]), len(open_asr["pairs"]), len(ml["strings"]),
            len(ml["pairs"])) == (N_OA_EN, N_OA_PAIRS, N_ML_STRINGS, N_ML_PAIRS)


# --- UltraEval-Audio ------------------------------------------------------------------------

@pytest.mark.parametrize("index", range(N_EN))
def test_ultraeval_en_entry(ultraeval: dict[str, Any], index: int) -> None:
    entry = ultraeval["en"][index]
    assert normalize_english(entry["input"]) == entry["normalized"]
    assert english_tokens(entry["input"]) == entry["tokens"]


@pytest.mark.parametrize("index", range(N_ZH))
def test_ultraeval_zh_entry(ultraeval: dict[str, Any], index: int) -> None:
    entry = ultraeval["zh"][index]
    assert normalize_chinese(entry["input"]) == entry["normalized"]
    assert chinese_tokens(entry["input"]) == entry["tokens"]


@pytest.mark.parametrize("index", range(N_PAIRS))
def test_ultraeval_pair(ultraeval: dict[str, Any], index: int) -> None:
    p = ultraeval["pairs"][index]
    got = align(_tokens(p["lang"], p["ref"]), _tokens(p["lang"], p["hyp"])).percent
    assert got == p["per_sample_percent"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_ultraeval_corpus(ultraeval: dict[str, Any], lang: str) -> None:
    pairs = [p for p in ultraeval["pairs"] if p["lang"] == lang]
    value = corpus_percent(align(_tokens(lang, p["ref"]), _tokens(lang, p["hyp"]))
                           for p in pairs)
    assert value == ultraeval[f"{lang}_corpus_percent"]


# --- Open ASR Leaderboard -------------------------------------------------------------------

@pytest.mark.parametrize("index", range(N_OA_EN))
def test_open_asr_en_entry(open_asr: dict[str, Any], index: int) -> None:
    entry = open_asr["en"][index]
    normalized = normalize_open_asr_english(entry["input"])
    assert normalized == entry["normalized"]
    assert normalized.split() == entry["tokens"]


@pytest.mark.parametrize("index", range(N_OA_PAIRS))
def test_open_asr_pair(open_asr: dict[str, Any], english: DatasetSpec, index: int) -> None:
    p = open_asr["pairs"][index]
    got = _scorer("open-asr", english).score(p["ref"], p["hyp"])
    assert got.dropped == (not p["kept_by_leaderboard"])
    assert (got.reference, got.hypothesis) == (p["ref_normalized"], p["hyp_normalized"])
    a = got.alignment
    assert a is not None
    assert (a.insertions, a.deletions, a.substitutions, a.ref_len) == \
        (p["ins"], p["del"], p["sub"], p["ref_len"])
    assert a.percent == p["per_sample_percent"]


@pytest.mark.parametrize("index", range(N_ML_STRINGS))
def test_open_asr_multilingual_string(open_asr: dict[str, Any], index: int) -> None:
    entry = open_asr["multilingual"]["strings"][index]
    normalized = normalize_open_asr_multilingual(entry["input"], entry["lang"])
    assert normalized == entry["normalized"]
    assert normalized.split() == entry["tokens"]


@pytest.mark.parametrize("index", range(N_ML_PAIRS))
def test_open_asr_multilingual_pair(open_asr: dict[str, Any], english: DatasetSpec,
                                    index: int) -> None:
    p = open_asr["multilingual"]["pairs"][index]
    spec = replace(english, name=f"x-{p['lang']}", language=p["lang"])
    a = _scorer("open-asr", spec).score(p["ref"], p["hyp"]).alignment
    assert a is not None
    assert (a.insertions, a.deletions, a.substitutions, a.ref_len) == \
        (p["ins"], p["del"], p["sub"], p["ref_len"])
    assert a.percent == p["per_sample_percent"]


# --- through the loaders and the pair scorer the gate uses ---------------------------------

CLIP = Path("LibriSpeech/test-clean/1089/134686/1089-134686-0000.flac")


def _librispeech_layout(shared_data: Path, tmp_path: Path, references: list[str],
                        *, bom: bool = False) -> tuple[Path, list[str]]:
    """A LibriSpeech chapter in tmp_path whose transcript lines hold ``references`` (one
    real clip copied under each id); ``bom``: the file starts with a UTF-8 BOM."""
    chapter = tmp_path / "LibriSpeech/test-clean/1089/134686"
    chapter.mkdir(parents=True)
    ids = [f"1089-134686-{i:04d}" for i in range(len(references))]
    for utt_id in ids:
        shutil.copyfile(shared_data / CLIP, chapter / f"{utt_id}.flac")
    text = "".join(f"{utt_id} {ref}\n" for utt_id, ref in zip(ids, references, strict=True))
    (chapter / "1089-134686.trans.txt").write_bytes(
        (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return tmp_path, ids


def test_format_characters_load_and_score_like_the_reference_scorers(
        shared_data: Path, tmp_path: Path, english: DatasetSpec,
        ultraeval: dict[str, Any], open_asr: dict[str, Any]) -> None:
    """The recorded English pairs as a LibriSpeech transcript: every reference loads as
    written, and the pair's numbers are the ones both scorers produced."""
    pairs = [p for p in ultraeval["pairs"] if p["lang"] == "en"]
    root, ids = _librispeech_layout(shared_data, tmp_path, [p["ref"] for p in pairs])
    samples = load_dataset(english, root)
    assert [(s.id, s.error) for s in samples] == [(i, None) for i in ids]
    assert [s.reference for s in samples] == [p["ref"] for p in pairs]
    outcomes = [Outcome(s.id, s.reference, None, p["hyp"], p["hyp"], None)
                for s, p in zip(samples, pairs, strict=True)]
    result, records = score_asr(english, outcomes)
    assert result.errors == 0 and result.scored == len(pairs)
    assert result.value == ultraeval["en_corpus_percent"]
    assert [r.score for r in records] == [p["per_sample_percent"] for p in pairs]
    oasr = result.protocols["open-asr"]
    assert oasr.value == open_asr["en_corpus_percent"]
    assert oasr.reported == open_asr["en_corpus_wer_leaderboard"]


def test_a_bom_that_starts_the_file_is_its_encoding_mark(shared_data: Path, tmp_path: Path,
                                                         english: DatasetSpec) -> None:
    """A transcript saved "UTF-8 with BOM": the mark is not part of the first utterance id
    (the audio would have no transcript line), nor of its text."""
    root, ids = _librispeech_layout(shared_data, tmp_path, ["HELLO WORLD", "GOOD MORNING"],
                                    bom=True)
    samples = load_dataset(english, root)
    assert [(s.id, s.reference, s.error) for s in samples] == \
        [(ids[0], "HELLO WORLD", None), (ids[1], "GOOD MORNING", None)]


@pytest.mark.parametrize(("junk", "code"), [
    ("\x1b[0m", "U+001B"), ("\x00", "U+0000"), ("\x7f", "U+007F"), ("\x80", "U+0080"),
    ("\x9b", "U+009B"), ("\x1f", "U+001F")])
def test_control_characters_are_refused(shared_data: Path, tmp_path: Path,
                                        english: DatasetSpec, junk: str, code: str) -> None:
    """C0/C1 controls other than whitespace show bytes that are not text (a terminal escape,
    binary data, a wrong encoding): the sample errors, naming file, line and code point."""
    root, ids = _librispeech_layout(shared_data, tmp_path,
                                    ["HELLO WORLD", f"HELLO {junk}WORLD"])
    by_id = {s.id: s for s in load_dataset(english, root)}
    assert by_id[ids[0]].error is None
    error = by_id[ids[1]].error
    trans = root / "LibriSpeech/test-clean/1089/134686/1089-134686.trans.txt"
    assert error is not None and error.startswith(f"{trans}:2: control character")
    assert code in error


def test_replacement_character_and_lone_surrogates_are_refused(tmp_path: Path,
                                                               shared_data: Path) -> None:
    """U+FFFD is what a decoder writes for bytes it could not read, and a lone surrogate
    (``\\ud800`` in JSON) is half of a character: neither is text someone wrote."""
    shutil.copyfile(shared_data / CLIP, tmp_path / "a.flac")
    rows = [{"id": "ok", "audio": "a.flac", "reference": "HEL\u200bLO \ufeffWORLD \ue000"},
            {"id": "fffd", "audio": "a.flac", "reference": "HEL\ufffdLO"}]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    text += '{"id": "surrogate", "audio": "a.flac", "reference": "HEL\\ud800LO"}\n'
    manifest = tmp_path / "set.jsonl"
    manifest.write_text(text, encoding="utf-8")
    spec = DatasetSpec("m", "asr", "en", "manifest", str(manifest), "wer")
    by_id = {s.id: s for s in load_dataset(spec, tmp_path)}
    assert by_id["ok"].error is None
    assert by_id["ok"].reference == "HEL\u200bLO \ufeffWORLD \ue000"
    fffd = by_id["fffd"].error
    assert fffd is not None and fffd.startswith(f"{manifest}:2: U+FFFD replacement character")
    surrogate = by_id["surrogate"].error
    assert surrogate is not None and surrogate.startswith(f"{manifest}:3: unpaired surrogate")
    assert "U+D800" in surrogate
    # a refused reference is kept by no record: it could not even be written as UTF-8
    assert by_id["surrogate"].reference == by_id["fffd"].reference == ""
