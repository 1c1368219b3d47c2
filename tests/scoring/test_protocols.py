"""Scoring protocols as registry data: loading, a dataset's gating protocol, and every pair
scored under all protocols from the same outputs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from audiogate.errors import RegistryError
from audiogate.registry import load as registry
from audiogate.registry.load import DatasetSpec, profile_for
from audiogate.scoring.pair import Outcome, PairScore, protocol_rtfx, score_asr
from audiogate.scoring.protocol import text_scorer


@pytest.fixture(scope="module")
def spec() -> DatasetSpec:
    return registry.dataset("librispeech-test-clean")


def _ok(sample_id: str, ref: str, hyp: str) -> Outcome:
    return Outcome(sample_id, ref, None, hyp, hyp, None, seconds=0.5, audio_seconds=2.0)


def test_builtin_protocols_and_defaults(spec: DatasetSpec) -> None:
    known = registry.protocols()
    assert set(known) == {"ultraeval-audio", "open-asr", "seed-tts-eval"}
    assert known["seed-tts-eval"].tasks == ("tts",)
    assert known["seed-tts-eval"].profiles["wer"].aggregate == "mean"
    assert set(known["ultraeval-audio"].profiles) == {"wer", "cer"}
    assert set(known["open-asr"].profiles) == {"wer"}
    assert known["open-asr"].profiles["wer"].round == 2
    # every short-form dataset is gated by the reference table's protocol; the long-form
    # sets (which UltraEval-Audio has none of) by the Open ASR Leaderboard's
    datasets = registry.datasets().values()
    assert {d.protocol for d in datasets if not d.long_form and d.task != "tts"} == \
        {"ultraeval-audio"}
    # text-to-speech: Seed-TTS-Eval's sets by its own protocol, the CPU default by UltraEval's
    assert {d.protocol for d in datasets if d.task == "tts"} == {"ultraeval-audio",
                                                                 "seed-tts-eval"}
    assert {d.protocol for d in datasets if d.long_form} == {"open-asr"}
    assert profile_for(spec, known).tokenizer == "13a"


def test_dataset_names_its_protocol(tmp_path: Path) -> None:
    extra = tmp_path / "datasets.yaml"
    extra.write_text("my-calls:\n  task: asr\n  language: en\n  loader: manifest\n"
                     "  path: x.jsonl\n  metric: wer\n  protocol: open-asr\n", encoding="utf-8")
    mine = registry.datasets(extra)["my-calls"]
    assert mine.protocol == "open-asr" and "protocol" not in mine.options
    assert profile_for(mine, registry.protocols()).alignment == "kaldialign-compounds"


def test_cer_dataset_cannot_be_gated_by_a_wer_only_protocol() -> None:
    aishell = replace(registry.dataset("aishell-1"), protocol="open-asr")
    with pytest.raises(RegistryError, match="no cer profile"):
        profile_for(aishell, registry.protocols())
    with pytest.raises(RegistryError, match="unknown protocol 'nope'"):
        profile_for(replace(aishell, protocol="nope"), registry.protocols())


@pytest.mark.parametrize(("body", "message"), [
    ("p:\n  wer: {normalizer: open-asr, tokenizer: whitespace}\n", "lacks"),
    ("p:\n  wer: {normalizer: a, tokenizer: b, alignment: c, colour: red}\n", "unknown key"),
    ("p:\n  acc: {normalizer: a, tokenizer: b, alignment: c}\n",
     "unknown key .acc.; known: cer, description, tasks, wer"),
    ("p:\n  wer: {normalizer: a, tokenizer: b, alignment: c, empty_reference: skip}\n",
     "error or drop"),
    ("p:\n  description: only words\n", "defines no profile"),
])
def test_malformed_profiles_are_refused(tmp_path: Path, body: str, message: str) -> None:
    extra = tmp_path / "protocols.yaml"
    extra.write_text(body, encoding="utf-8")
    with pytest.raises(RegistryError, match=message):
        registry.protocols(extra)


def test_unknown_part_names_the_known_ones(tmp_path: Path, spec: DatasetSpec) -> None:
    extra = tmp_path / "protocols.yaml"
    extra.write_text("p:\n  wer: {normalizer: nltk, tokenizer: whitespace, alignment: "
                     "levenshtein}\n", encoding="utf-8")
    profile = registry.protocols(extra)["p"].profiles["wer"]
    with pytest.raises(RegistryError, match=r"unknown normalizer 'nltk'.*open-asr"):
        text_scorer("p", profile, spec)


def test_both_protocols_from_the_same_outputs(spec: DatasetSpec) -> None:
    outcomes = [
        _ok("money", "IT COST FIVE DOLLARS AND FIFTY CENTS", "It cost $5.50."),  # 13a: "$ 5.50"
        _ok("names", "STEPHEN WENT TO THE B B C", "Steven went to the BBC."),
        _ok("filler", "HMM", "hmm"),  # empty: an error for one, dropped by the other
    ]
    result, records = score_asr(spec, outcomes)
    assert result.protocol == "ultraeval-audio"
    uea, oasr = result.protocols["ultraeval-audio"], result.protocols["open-asr"]
    assert result.value == uea.value
    assert (uea.scored, uea.errors, uea.dropped) == (2, 1, 0)
    assert (oasr.scored, oasr.errors, oasr.dropped) == (2, 0, 1)
    # UltraEval-Audio: stephen/steven and b b c/bbc are 2 sub + 2 del; 4 + 7 tokens
    assert uea.value == 4 / 11 * 100
    assert oasr.value == 0.0 and oasr.reported == 0.0
    money, names, filler = records
    assert money.protocols["open-asr"] == {"score": 0.0, "substitutions": 0, "deletions": 0,
                                           "insertions": 0, "ref_tokens": 3}
    assert names.protocols["open-asr"]["normalized_reference"] == "steven went to the bbc"
    assert "normalized_hypothesis" not in names.protocols["open-asr"]  # same text: omitted
    assert filler.error == "empty reference after normalization"
    assert filler.protocols["open-asr"] == {"dropped": True}
    # Σ 2 s audio / Σ 0.5 s, over the samples it kept; UltraEval-Audio defines none
    assert protocol_rtfx(spec, records) == {"open-asr": 4.0}


def test_gating_under_open_asr_drops_instead_of_erroring(spec: DatasetSpec) -> None:
    gated = replace(spec, protocol="open-asr")
    outcomes = [_ok("a", "AN E MAIL ARRIVED", "An email arrived."), _ok("b", "HMM", "")]
    result, (a, b) = score_asr(gated, outcomes)
    assert result.protocol == "open-asr"
    assert (result.value, result.scored, result.errors, result.dropped) == (0.0, 1, 0, 1)
    assert b.dropped and b.error is None and b.score is None
    assert b.normalized_reference == ""
    assert a.normalized_reference == "an email arrived"
    assert a.protocols["ultraeval-audio"]["score"] == 50.0  # "e mail" vs "email"
    assert set(result.others()) == {"ultraeval-audio"}


def test_no_abnormal_filter_under_open_asr(spec: DatasetSpec) -> None:
    hallucination = " ".join(["word"] * 30)
    result, (rec,) = score_asr(spec, [_ok("x", "HELLO", hallucination)])
    assert rec.excluded and result.value is None and result.excluded == 1
    oasr = result.protocols["open-asr"]
    assert (oasr.excluded, oasr.scored, oasr.value) == (0, 1, 3000.0)


def test_cer_pairs_have_no_other_protocol() -> None:
    aishell = registry.dataset("aishell-1")
    result, (rec,) = score_asr(aishell, [_ok("z", "北京欢迎你", "北京欢迎您")])
    assert set(result.protocols) == {"ultraeval-audio"} and result.others() == {}
    assert rec.protocols == {} and rec.score == 20.0


def test_pair_score_round_trips_through_json(spec: DatasetSpec) -> None:
    from dataclasses import asdict

    result, _ = score_asr(spec, [_ok("a", "HELLO WORLD", "hello word")])
    again = PairScore.from_json(asdict(result))
    assert again == result
    assert again.protocols["open-asr"].reported == 50.0
