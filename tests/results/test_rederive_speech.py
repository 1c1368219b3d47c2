"""A merge re-derives a pair whose answers are speech from its records: the scored output
must be the judge's transcript, the written answer must follow from the written text, and
text-speech-wer from the written and the spoken answers; what needs the clip (DNSMOS,
speaker similarity) is carried, and the pair's speech metrics are summed up again."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from audiogate.registry import load as registry
from audiogate.results.reassemble import rebuild
from audiogate.results.rederive import Scoring, rescore
from audiogate.samples import sample_set_fingerprint
from audiogate.scoring.pair import Outcome, SampleRecord, score
from audiogate.scoring.pair_result import PairResult
from audiogate.scoring.speech import consistency

MODEL, DATASET = "whisper-tiny.en-spoken", "librispeech-test-clean"
# (reference, what the model wrote, what the judge heard it say)
SAID = {
    "1089-134686-0000": ("HE HOPED THERE WOULD BE STEW FOR DINNER",
                         "He hoped there would be stew for dinner.",
                         "He hoped there would be stew for dinner."),
    "1089-134686-0001": ("STUFF IT INTO YOU HIS BELLY COUNSELLED HIM",
                         "Stuff it into you, his belly counselled him.",
                         "Stuff it into you his belly counseled him."),
    "1089-134686-0002": ("AFTER EARLY NIGHTFALL THE YELLOW LAMPS WOULD LIGHT UP",
                         "After early nightfall the yellow lamps would light up.",
                         "After early nightfall, the yellow lamps would light up here."),
}


def _scoring() -> Scoring:
    spec = registry.dataset(DATASET)
    return Scoring.of(registry.model(MODEL), spec, registry.protocols(), lenient=False,
                      recorded_rules=None)


def _records() -> list[SampleRecord]:
    spec = _scoring().spec
    outcomes = []
    for sample_id, (reference, written, heard) in SAID.items():
        value, detail = consistency(spec, written, heard)
        speech = {"audio": {"format": "wav", "sample_rate": 22050, "seconds": 2.0,
                            "sha256": sample_id, "path": None, "transcript": written},
                  "judge": "whisper-tiny.en", "transcript": heard, "written": written,
                  "written_answer": written, "text_speech": detail,
                  "metrics": {"dnsmos": 3.1, "text-speech-wer": value}}
        outcomes.append(Outcome(sample_id, reference, None, heard, heard, None, speech=speech))
    _, records = score(spec, outcomes)
    return records


def test_honest_records_of_a_spoken_answer_re_derive_without_a_word() -> None:
    records = _records()
    summary, fresh, problems = rescore(records, _scoring(), source=Path(
        "samples.jsonl"))
    assert problems == []
    assert [r.speech for r in fresh] == [r.speech for r in records]
    assert summary.value is not None and summary.value > 0  # "counseled", "here"
    first = PairResult(MODEL, DATASET, "asr", "en", "wer", summary,
                       sample_set_fingerprint(SAID), 6.0, 1.0, 1.0, 3, 0, {"engine": "openai"},
                       judge={"model": "whisper-tiny.en", "identity": {}},
                       metrics={"dnsmos": {}, "text-speech-wer": {}})
    again = rebuild([first], fresh, _scoring(), n_resamples=200, notes=[])
    assert again.judge == first.judge
    assert set(again.metrics) == {"dnsmos", "text-speech-wer"}
    assert again.metrics["dnsmos"]["value"] == 3.1
    assert again.metrics["text-speech-wer"]["scored"] == 3


def test_a_tampered_text_speech_wer_is_named() -> None:
    records = _records()
    bad = records[2]
    assert bad.speech is not None
    bad.speech["metrics"]["text-speech-wer"] = 0.0  # "says what it writes"
    *_, problems = rescore(records, _scoring(), source=Path("s.jsonl"))
    assert len(problems) == 1
    assert problems[0].startswith(f"s.jsonl: sample {bad.id}: stored text-speech-wer 0.00, "
                                  "re-scored ")


def test_an_output_that_is_not_the_judges_transcript_is_named() -> None:
    records = _records()
    bad = dataclasses.replace(records[1], raw_output="Stuff it into you, his belly counselled him.")
    problems = rescore([records[0], bad, records[2]], _scoring(),
                       source=Path("s.jsonl"))[2]
    assert any("is not the judge's transcript" in p for p in problems), problems


def test_a_written_answer_that_its_text_does_not_give_is_named() -> None:
    records = _records()
    assert records[0].speech is not None
    records[0].speech["written_answer"] = "something else"
    problems = rescore(records, _scoring(), source=Path("s.jsonl"))[2]
    assert any("stored written answer 'something else'" in p for p in problems), problems
