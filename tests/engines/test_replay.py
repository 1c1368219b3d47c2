"""The replay engine over a real predictions file: every problem reported, the rest scored."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from audiogate.datasets import load_dataset
from audiogate.datasets.mmau import ignore_missing_audio
from audiogate.engines import EngineContext, make_engine
from audiogate.errors import DataError, EngineError
from audiogate.registry.load import dataset, model
from audiogate.samples import Request, Sample
from audiogate.scoring.mmau import accuracy_breakdown, score_output


@pytest.fixture(scope="module")
def samples(shared_data: Path) -> list[Sample]:
    """The first five real MMAU test-mini questions (replay needs no audio)."""
    loaded = ignore_missing_audio(load_dataset(dataset("mmau-test-mini"), shared_data))
    return loaded[:5]


def _requests(samples: list[Sample]) -> list[Request]:
    return [Request(sample=s, audio=None, task="mmau", language="en") for s in samples]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_problems_reported_and_the_rest_scored(samples: list[Sample], tmp_path: Path) -> None:
    s0, s1, s2, s3, s4 = samples
    lines = [
        json.dumps({"id": s0.id, "prediction": s0.reference}),
        json.dumps({"id": s1.id, "prediction": f"<think>not {s1.meta['choices'][0]}?</think>"
                                               f"{s1.reference}"}),
        json.dumps({"id": s2.id, "prediction": s2.meta["choices"][3]}),  # a wrong choice
        '{"id": "broken", "prediction": ',  # line 4: bad JSON
        json.dumps({"id": s0.id, "prediction": s0.reference}),  # line 5: duplicate (same)
        json.dumps({"id": "not-in-dataset", "prediction": "x"}),  # line 6: unknown id
        json.dumps({"id": s3.id, "text": s3.reference}),  # line 7: wrong field name
        "",  # blank lines are fine
    ]
    path = _write(tmp_path / "preds.jsonl", lines)
    engine = make_engine(model("replay"), EngineContext(predictions=path))
    assert engine.needs_audio is False
    assert engine.identity() == {
        "engine": "replay", "predictions": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    assert s2.meta["choices"][3] != s2.reference
    outputs = {o.sample_id: o for o in engine.run(_requests(samples))}
    assert set(outputs) == {s.id for s in samples}
    assert outputs[s0.id].text == s0.reference and outputs[s0.id].error is None
    for missing in (s3, s4):  # s3's only line was unusable, s4 has none
        assert outputs[missing.id].text is None
        assert outputs[missing.id].error == f"no prediction for id {missing.id} in {path}"

    problems = engine.problems()
    assert f"{path}:4: not valid JSON (Expecting value, column 32)" in problems
    assert (f"{path}:7: no 'prediction' field (found 'text': rename it to 'prediction')"
            in problems)
    assert f"{path}: duplicate id {s0.id} at lines 1, 5 (same predictions)" in problems
    assert f"{path}: 1 prediction id(s) match no requested sample: not-in-dataset" in problems
    assert len(problems) == 4

    records = []
    for s in samples:
        out = outputs[s.id]
        correct = None if out.error else score_output(out.text or "", s.reference,
                                                      s.meta["choices"])
        records.append({"correct": correct, **s.meta})
    result = accuracy_breakdown(records)
    assert result["overall"] == {"correct": 2, "total": 3, "accuracy": pytest.approx(200 / 3)}
    assert result["errors"] == 2


def test_conflicting_duplicates_become_an_error(samples: list[Sample], tmp_path: Path) -> None:
    s0 = samples[0]
    path = _write(tmp_path / "preds.jsonl", [
        json.dumps({"id": s0.id, "prediction": "Man"}),
        json.dumps({"id": s0.id, "prediction": "Woman"}),
    ])
    engine = make_engine(model("replay"), EngineContext(predictions=path))
    (out,) = engine.run(_requests([s0]))
    assert out.text is None
    assert out.error == f"conflicting predictions for id {s0.id} in {path} (lines 1, 2)"
    assert engine.problems() == [
        f"{path}: duplicate id {s0.id} at lines 1, 2 (conflicting predictions)"
    ]


def test_recorded_errors_replay_as_errors(samples: list[Sample], tmp_path: Path) -> None:
    s0 = samples[0]
    path = _write(tmp_path / "preds.jsonl", [json.dumps({"id": s0.id, "error": "timeout"})])
    engine = make_engine(model("replay"), EngineContext(predictions=path))
    (out,) = engine.run(_requests([s0]))
    assert (out.text, out.error) == (None, "timeout")
    assert engine.problems() == []


def test_unknown_ids_are_counted_with_the_first_few(tmp_path: Path) -> None:
    path = _write(tmp_path / "preds.jsonl",
                  [json.dumps({"id": f"u{i}", "prediction": "x"}) for i in range(8)])
    engine = make_engine(model("replay"), EngineContext(predictions=path))
    assert list(engine.run([])) == []
    assert engine.problems() == [
        f"{path}: 8 prediction id(s) match no requested sample: u0, u1, u2, u3, u4 ..."
    ]


def test_non_string_prediction_and_non_object_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "preds.jsonl", [
        '{"id": "a", "prediction": null}', '["a", "b"]', '{"prediction": "x"}',
    ])
    engine = make_engine(model("replay"), EngineContext(predictions=path))
    assert engine.problems() == [
        f"{path}:1: 'prediction' must be a string, got NoneType",
        f"{path}:2: expected a JSON object, got list",
        f"{path}:3: no string 'id'",
    ]


def test_no_predictions_option_is_a_clear_error() -> None:
    with pytest.raises(EngineError, match="needs a predictions file: pass --predictions"):
        make_engine(model("replay"), EngineContext())


def test_missing_predictions_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.jsonl: cannot read"):
        make_engine(model("replay"), EngineContext(predictions=tmp_path / "nope.jsonl"))
