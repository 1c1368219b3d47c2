"""thresholds.yaml: validation on load, the gate's verdicts, and the one write path (update)."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path

import pytest

from audiogate.errors import ThresholdsError
from audiogate.gate.thresholds import (
    Entry,
    Measured,
    RunFacts,
    Thresholds,
    default_limit,
    judge,
    load,
    plan_change,
    recorded_of,
    update,
)
from audiogate.registry.load import DatasetSpec, ModelSpec, datasets, models
from audiogate.samples import sample_set_fingerprint

HINT = "--thresholds-update"
IDS = [f"1089-134686-{i:04d}" for i in range(6)]
FP = sample_set_fingerprint(IDS)


@pytest.fixture(scope="module")
def registry() -> tuple[dict[str, ModelSpec], dict[str, DatasetSpec]]:
    return models(), datasets()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "thresholds.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _load(tmp_path: Path, text: str,
          registry: tuple[dict[str, ModelSpec], dict[str, DatasetSpec]]) -> Thresholds:
    return load(_write(tmp_path, text), *registry)


def _error(tmp_path: Path, text: str,
           registry: tuple[dict[str, ModelSpec], dict[str, DatasetSpec]]) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ThresholdsError) as info:
        load(path, *registry)
    message = str(info.value)
    assert str(path) in message
    return message


# --- load(): a valid file --------------------------------------------------------------------

VALID = f"""
# recorded on the CI machine
whisper-tiny.en:
  librispeech-test-clean:
    - metric: wer
      value: 4.27
      max: 4.70
      samples: 6
      sample_set: {FP}
      max_errors: 1
      note: tiny model
  librispeech-dev-clean:
    - metric: wer
      value: 5.0
      max: 5.5
      samples: 10
step-audio-r1.1:
  mmau-test-mini:
    - metric: acc
      value: 77.0
      min: 75.0
      samples: 1000
"""


def test_load_valid_file(tmp_path: Path, registry) -> None:
    thresholds = _load(tmp_path, VALID, registry)
    assert len(thresholds.entries) == 3
    (tiny,) = thresholds.for_pair("whisper-tiny.en", "librispeech-test-clean")
    assert (tiny.metric, tiny.value, tiny.limit, tiny.samples) == ("wer", 4.27, 4.70, 6)
    assert (tiny.sample_set, tiny.max_errors, tiny.line) == (FP, 1, 4)
    assert tiny.lower_is_better
    (dev,) = thresholds.for_pair("whisper-tiny.en", "librispeech-dev-clean")
    assert dev.sample_set is None and dev.max_errors == 0 and dev.line == 12
    (acc,) = thresholds.for_pair("step-audio-r1.1", "mmau-test-mini")
    assert (acc.metric, acc.limit, acc.lower_is_better) == ("acc", 75.0, False)
    assert thresholds.is_gated("step-audio-r1.1", "mmau-test-mini")
    assert not thresholds.is_gated("whisper-tiny.en", "librispeech-test-other")
    unused = thresholds.unused([("whisper-tiny.en", "librispeech-test-clean")])
    assert {(e.model, e.dataset) for e in unused} == {
        ("whisper-tiny.en", "librispeech-dev-clean"), ("step-audio-r1.1", "mmau-test-mini")}


def test_missing_or_empty_file_has_no_entries(tmp_path: Path, registry) -> None:
    assert load(tmp_path / "absent.yaml", *registry).entries == []
    assert _load(tmp_path, "# nothing recorded yet\n", registry).entries == []


# --- load(): every problem names file, line and key ------------------------------------------

def test_malformed_yaml_names_file_and_line(tmp_path: Path, registry) -> None:
    message = _error(tmp_path, """
        whisper-tiny.en:
          librispeech-test-clean:
            - metric: wer
              value: [4.27
              max: 4.70
        """, registry)
    assert "not valid YAML" in message
    assert re.search(r"thresholds\.yaml:[45]: not valid YAML", message)  # file:line first
    assert "line 4" in message  # the unclosed flow sequence


def test_duplicate_key_is_malformed(tmp_path: Path, registry) -> None:
    message = _error(tmp_path, """
        whisper-tiny.en:
          librispeech-test-clean:
            - metric: wer
              value: 4.27
              value: 4.30
              max: 4.70
              samples: 6
        """, registry)
    assert "value" in message and "line 5" in message


def test_top_level_must_be_a_mapping(tmp_path: Path, registry) -> None:
    assert "top level" in _error(tmp_path, "- whisper-tiny.en\n", registry)


def test_unknown_model(tmp_path: Path, registry) -> None:
    message = _error(tmp_path, """
        whisper-tiny.en: {}
        whisper-tinyy.en:
          librispeech-test-clean: []
        """, registry)
    assert ":2: unknown model 'whisper-tinyy.en'" in message
    assert "whisper-tiny.en" in message.split("registered:")[1]


def test_unknown_dataset(tmp_path: Path, registry) -> None:
    message = _error(tmp_path, """
        whisper-tiny.en:
          librispeech-test-clean: []
          librispeech-test-cleen:
            - metric: wer
        """, registry)
    assert ":3: unknown dataset 'librispeech-test-cleen' under 'whisper-tiny.en'" in message


def test_unknown_metric(tmp_path: Path, registry) -> None:
    message = _error(tmp_path, """
        whisper-tiny.en:
          librispeech-test-clean:
            - metric: wer
              value: 4.27
              max: 4.70
              samples: 6
            - metric: bleu
              value: 30
              max: 31
              samples: 6
        """, registry)
    assert ":7: whisper-tiny.en/librispeech-test-clean: unknown metric 'bleu'" in message


def test_metric_of_another_dataset(tmp_path: Path, registry) -> None:
    message = _error(tmp_path, """
        whisper-tiny.en:
          librispeech-test-clean:
            - metric: acc
              value: 70
              min: 60
              samples: 6
        """, registry)
    assert ":3:" in message and "'acc' does not apply" in message and "'wer'" in message


def test_unknown_entry_key(tmp_path: Path, registry) -> None:
    message = _error(tmp_path, """
        whisper-tiny.en:
          librispeech-test-clean:
            - metric: wer
              value: 4.27
              max: 4.70
              samples: 6
              max_error: 1
        """, registry)
    assert ":7: whisper-tiny.en/librispeech-test-clean: unknown key 'max_error'" in message
    assert "max_errors" in message  # the allowed keys are listed


def test_min_on_a_wer_entry_refused(tmp_path: Path, registry) -> None:
    message = _error(tmp_path, """
        whisper-tiny.en:
          librispeech-test-clean:
            - metric: wer
              value: 4.27
              min: 4.00
              samples: 6
        """, registry)
    assert ":3:" in message and "`max`, not `min`" in message


def test_max_on_an_accuracy_entry_refused(tmp_path: Path, registry) -> None:
    message = _error(tmp_path, """
        step-audio-r1.1:
          mmau-test-mini:
            - metric: acc
              value: 77
              max: 80
              samples: 1000
        """, registry)
    assert ":3:" in message and "`min`, not `max`" in message


@pytest.mark.parametrize("missing", ["value", "max", "samples"])
def test_missing_field(tmp_path: Path, registry, missing: str) -> None:
    fields = {"value": "4.27", "max": "4.70", "samples": "6"}
    body = "".join(f"      {k}: {v}\n" for k, v in fields.items() if k != missing)
    text = ("whisper-tiny.en:\n  librispeech-test-clean:\n    - metric: wer\n" + body)
    message = _error(tmp_path, text, registry)
    assert f":3: whisper-tiny.en/librispeech-test-clean: entry lacks `{missing}`" in message


def test_missing_metric(tmp_path: Path, registry) -> None:
    message = _error(tmp_path, """
        whisper-tiny.en:
          librispeech-test-clean:
            - value: 4.27
              max: 4.70
              samples: 6
        """, registry)
    assert ":3:" in message and "unknown metric None" in message


def test_non_numeric_value(tmp_path: Path, registry) -> None:
    message = _error(tmp_path, """
        whisper-tiny.en:
          librispeech-test-clean:
            - metric: wer
              value: four
              max: 4.70
              samples: 6
        """, registry)
    assert ":4:" in message and "`value` must be a number, not 'four'" in message


ENTRY = ("whisper-tiny.en:\n  librispeech-test-clean:\n    - metric: wer\n"
         "      value: {value}\n      max: {max}\n      samples: {samples}\n")


@pytest.mark.parametrize(("fields", "expected"), [
    ({"max": ".nan"}, ":5: whisper-tiny.en/librispeech-test-clean: `max` must be a finite "
                      "number, not nan"),
    ({"max": ".inf"}, ":5: whisper-tiny.en/librispeech-test-clean: `max` must be a finite"),
    ({"max": "true"}, ":5: whisper-tiny.en/librispeech-test-clean: `max` must be a number, "
                      "not True"),
    ({"value": "-1", "max": "-0.5"}, ":4: whisper-tiny.en/librispeech-test-clean: `value` "
                                     "must be >= 0 for wer"),
    ({"max": "4.0"}, ":5: whisper-tiny.en/librispeech-test-clean: `max` 4 is on the strict "
                     "side of value 4.27"),
    ({"samples": "-6"}, ":6: whisper-tiny.en/librispeech-test-clean: `samples` must be a "
                        "non-negative integer, not -6"),
    ({"samples": "6.5"}, ":6: whisper-tiny.en/librispeech-test-clean: `samples` must be a "
                         "non-negative integer, not 6.5"),
    ({"extra": "      max_errors: true\n"}, ":7: whisper-tiny.en/librispeech-test-clean: "
                                            "`max_errors` must be a non-negative integer"),
    ({"extra": "      max_excluded: -1\n"}, ":7: whisper-tiny.en/librispeech-test-clean: "
                                            "`max_excluded` must be a non-negative integer"),
    ({"extra": "      excluded: unknown\n"}, ":7: whisper-tiny.en/librispeech-test-clean: "
                                             "`excluded` is 'unknown'"),
    ({"extra": "      margin: -0.5\n"}, ":7: whisper-tiny.en/librispeech-test-clean: "
                                        "`margin` must be within 0-100 points"),
])
def test_threshold_values_are_validated(tmp_path: Path, registry, fields: dict[str, str],
                                        expected: str) -> None:
    values = {"value": "4.27", "max": "4.70", "samples": "6", "extra": ""} | fields
    text = ENTRY.format(**values) + values["extra"]
    assert expected in _error(tmp_path, text, registry)


def test_accuracy_must_lie_within_0_and_100(tmp_path: Path, registry) -> None:
    text = ("step-audio-r1.1:\n  mmau-test-mini:\n    - metric: acc\n      value: 101\n"
            "      min: 99\n      samples: 1000\n")
    assert ":4: step-audio-r1.1/mmau-test-mini: `value` must be within 0-100 for acc" in \
        _error(tmp_path, text, registry)
    strict = text.replace("value: 101", "value: 70").replace("min: 99", "min: 75")
    assert "`min` 75 is on the strict side of value 70" in _error(tmp_path, strict, registry)


def test_unknown_exclusion_count_with_an_explicit_allowance_loads(tmp_path: Path,
                                                                  registry) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text(ENTRY.format(value=4.27, max=4.70, samples=6)
                    + "      excluded: unknown\n      max_excluded: 3\n", encoding="utf-8")
    (entry,) = load(path, *registry).entries
    assert (entry.excluded, entry.max_excluded) == (None, 3)


def test_entries_must_be_a_list(tmp_path: Path, registry) -> None:
    message = _error(tmp_path, """
        whisper-tiny.en:
          librispeech-test-clean:
            metric: wer
        """, registry)
    assert ":2:" in message and "must be a list of entries" in message


@pytest.mark.parametrize(("extra", "expected"), [
    ("      gate: bootstrap\n", ":7: whisper-tiny.en/librispeech-test-clean: gate must be"),
    ("      gate: paired\n", ":3: whisper-tiny.en/librispeech-test-clean: the paired gate "
                            "needs a `baseline`"),
    ("      confidence: 1.5\n", ":7: whisper-tiny.en/librispeech-test-clean: `confidence` "
                               "must be in [0.5, 1)"),
    ("      margin: lots\n", ":7: whisper-tiny.en/librispeech-test-clean: `margin` must be a "
                            "number"),
])
def test_statistical_gate_keys_validated(tmp_path: Path, registry, extra: str,
                                         expected: str) -> None:
    text = ("whisper-tiny.en:\n  librispeech-test-clean:\n    - metric: wer\n"
            "      value: 4.27\n      max: 4.70\n      samples: 6\n" + extra)
    assert expected in _error(tmp_path, text, registry)


# --- judge() ---------------------------------------------------------------------------------

def _entry(metric: str = "wer", value: float = 4.27, limit: float = 4.70, samples: int = 6,
           sample_set: str | None = FP, max_errors: int = 0, line: int = 3) -> Entry:
    dataset = "mmau-test-mini" if metric == "acc" else "librispeech-test-clean"
    return Entry("whisper-tiny.en", dataset, metric, value, limit, samples, sample_set,
                 max_errors, line, {})


def _run(metric: str, value: float | None, total: int, errors: int, fingerprint: str, *,
         excluded: int = 0, ids: tuple[str, ...] = (), protocol: str | None = None) -> RunFacts:
    return RunFacts(metric, value, total, errors, excluded, fingerprint, frozenset(ids),
                    protocol=protocol)


def test_judge_pass() -> None:
    entry = _entry()
    verdict = judge([entry], _run("wer", 4.50, 6, 0, FP), record_hint=HINT)
    assert verdict.status == "pass"
    assert verdict.entry is entry
    assert "4.50" in verdict.reason and "max 4.70" in verdict.reason and "+0.23" in verdict.reason


def test_judge_at_the_limit_passes() -> None:
    assert judge([_entry()], _run("wer", 4.70, 6, 0, FP), record_hint=HINT).status == "pass"


def test_judge_compares_at_the_recorded_precision() -> None:
    """A limit recorded from 2 of 3 answered (66.67) is met by 2 of 3 again, and a WER is
    compared as the table prints it."""
    answered = _entry("answered", value=66.67, limit=66.67, samples=6, sample_set=FP)
    assert judge([answered], _run("answered", 200 / 3, 6, 0, FP),
                 record_hint=HINT).status == "pass"
    assert judge([answered], _run("answered", 66.66, 6, 0, FP),
                 record_hint=HINT).status == "fail"
    assert judge([_entry()], _run("wer", 4.7049, 6, 0, FP), record_hint=HINT).status == "pass"
    assert judge([_entry()], _run("wer", 4.7051, 6, 0, FP), record_hint=HINT).status == "fail"


def test_judge_fail_names_the_delta() -> None:
    verdict = judge([_entry()], _run("wer", 5.27, 6, 0, FP), record_hint=HINT)
    assert verdict.status == "fail"
    assert verdict.reason == "regressed: WER 5.27 > max 4.70 (recorded 4.27, +1.00)"


@pytest.mark.parametrize("value", [0.0, 1.0, 4.27])
def test_judge_improving_wer_never_fails(value: float) -> None:
    assert judge([_entry()], _run("wer", value, 6, 0, FP), record_hint=HINT).status == "pass"


def test_judge_accuracy_is_one_sided_the_other_way() -> None:
    entry = _entry("acc", value=77.0, limit=75.0, samples=1000, sample_set=None)
    assert judge([entry], _run("acc", 99.0, 1000, 0, "x"), record_hint=HINT).status == "pass"
    assert judge([entry], _run("acc", 75.0, 1000, 0, "x"), record_hint=HINT).status == "pass"
    verdict = judge([entry], _run("acc", 70.0, 1000, 0, "x"), record_hint=HINT)
    assert verdict.status == "fail"
    assert verdict.reason.startswith("regressed: ACC 70.00 < min 75.00 (recorded 77.00, "
                                     "-7.00); matched on count only")


def test_judge_matches_by_fingerprint() -> None:
    other_set = sample_set_fingerprint(["a", "b", "c"])
    entries = [_entry(samples=3, sample_set=other_set, value=50.0, limit=55.0, line=3),
               _entry(value=4.27, limit=4.70, line=9)]
    verdict = judge(entries, _run("wer", 4.5, 6, 0, FP), record_hint=HINT)
    assert verdict.status == "pass" and verdict.entry is entries[1]
    verdict = judge(entries, _run("wer", 60.0, 3, 0, other_set), record_hint=HINT)
    assert verdict.status == "fail" and verdict.entry is entries[0]


def test_judge_matches_by_size_only_when_no_fingerprint_recorded() -> None:
    entry = _entry(sample_set=None)
    for fingerprint in (FP, sample_set_fingerprint(["x"] * 6), "anything"):
        verdict = judge([entry], _run("wer", 4.5, 6, 0, fingerprint), record_hint=HINT)
        assert verdict.status == "pass" and verdict.entry is entry


def test_judge_same_size_different_fingerprint_fails() -> None:
    other = sample_set_fingerprint([f"other-{i}" for i in range(6)])
    verdict = judge([_entry()], _run("wer", 1.0, 6, 0, other), record_hint=HINT)
    assert verdict.status == "fail"
    assert "another sample set" in verdict.reason
    assert FP in verdict.reason and other in verdict.reason and "line 3" in verdict.reason
    assert HINT in verdict.reason
    assert verdict.entry is None


@pytest.mark.parametrize("sample_set", [FP, None])
def test_judge_an_entry_for_another_sample_set_fails(sample_set: str | None) -> None:
    """A gate that exists is never skipped: another sample set FAILS (was "not gated")."""
    fingerprint = sample_set_fingerprint(IDS[:4])
    verdict = judge([_entry(sample_set=sample_set)], _run("wer", 99.0, 4, 0, fingerprint),
                    record_hint=HINT)
    assert verdict.status == "fail"
    assert "another sample set" in verdict.reason and "6 samples" in verdict.reason
    assert "4 samples" in verdict.reason and HINT in verdict.reason


def test_judge_says_which_ids_changed_against_the_closest_recorded_set() -> None:
    recorded = frozenset(IDS)
    ids = (*IDS[1:], "1089-134686-0099", "1089-134686-0098")
    near, far = _entry(line=3), _entry(samples=2, sample_set="f" * 16, line=9)
    run = _run("wer", 4.0, len(ids), 0, sample_set_fingerprint(ids), ids=ids)
    verdict = judge([far, near], run, record_hint=HINT,
                    recorded_ids=lambda e: recorded if e is near else frozenset({"x", "y"}))
    assert verdict.status == "fail" and "line 3" in verdict.reason
    assert "2 id(s) added, 1 missing" in verdict.reason
    assert "added: 1089-134686-0098, 1089-134686-0099" in verdict.reason
    assert "missing: 1089-134686-0000" in verdict.reason


def test_judge_not_gated_pair_with_errors_is_an_error_not_a_quiet_pass() -> None:
    verdict = judge([], _run("wer", 1.0, 6, 2, FP), record_hint=HINT)
    assert verdict.status == "error" and "2 of 6 sample(s) errored" in verdict.reason


def test_judge_every_sample_errored_always_fails() -> None:
    entry = _entry(max_errors=6)
    assert judge([entry], _run("wer", None, 6, 6, FP), record_hint=HINT).status == "fail"
    assert judge([], _run("wer", None, 6, 6, FP), record_hint=HINT).status == "fail"


def test_judge_more_excluded_samples_than_recorded_fails_and_lists_them() -> None:
    entry = _entry()  # recorded with 0 excluded
    run = RunFacts("wer", 2.0, 6, 0, 1, FP, excluded_detail="1089-134686-0005 (1487 %: 'you you')")
    verdict = judge([entry], run, record_hint=HINT)
    assert verdict.status == "fail"
    assert "1 sample(s) excluded as abnormal (recorded with 0, allowed 0)" in verdict.reason
    assert "1089-134686-0005 (1487 %: 'you you')" in verdict.reason
    allowed = dataclasses.replace(entry, excluded=1, max_excluded=1)
    assert judge([allowed], run, record_hint=HINT).status == "pass"


def test_judge_no_entry_for_the_metric_is_not_gated() -> None:
    verdict = judge([_entry()], _run("cer", 1.0, 6, 0, FP), record_hint=HINT)
    assert verdict.status == "not gated" and HINT in verdict.reason
    assert judge([], _run("wer", 1.0, 6, 0, FP), record_hint=HINT).status == "not gated"


def test_judge_errors_over_max_errors_fail() -> None:
    entry = _entry(max_errors=1)
    assert judge([entry], _run("wer", 4.0, 6, 1, FP), record_hint=HINT).status == "pass"
    verdict = judge([entry], _run("wer", 4.0, 6, 2, FP), record_hint=HINT)
    assert verdict.status == "fail"
    assert verdict.reason == "2 sample(s) errored (allowed 1)"
    assert judge([_entry()], _run("wer", 0.0, 6, 1, FP), record_hint=HINT).status == "fail"


def test_judge_nothing_scored_fails() -> None:
    verdict = judge([_entry()], _run("wer", None, 6, 0, FP), record_hint=HINT)
    assert verdict.status == "fail" and "nothing could be scored" in verdict.reason


def test_judge_on_loaded_entries(tmp_path: Path, registry) -> None:
    thresholds = _load(tmp_path, VALID, registry)
    entries = thresholds.for_pair("whisper-tiny.en", "librispeech-test-clean")
    assert judge(entries, _run("wer", 4.6, 6, 1, FP), record_hint=HINT).status == "pass"
    assert judge(entries, _run("wer", 4.8, 6, 0, FP), record_hint=HINT).status == "fail"


# --- sample_set_fingerprint ------------------------------------------------------------------

def test_fingerprint_is_order_independent() -> None:
    assert sample_set_fingerprint(reversed(IDS)) == FP
    assert sample_set_fingerprint(sorted(IDS, key=lambda s: s[::-1])) == FP
    assert len(FP) == 16 and int(FP, 16) >= 0


def test_fingerprint_differs_for_other_ids() -> None:
    assert sample_set_fingerprint(IDS[:-1]) != FP
    assert sample_set_fingerprint([*IDS[:-1], "1089-134686-0099"]) != FP
    assert sample_set_fingerprint(["ab", "c"]) != sample_set_fingerprint(["a", "bc"])


# --- update(): the one write path ------------------------------------------------------------

ORIGINAL = """\
# audiogate thresholds — recorded on the CI machine
whisper-tiny.en:
  # the embedded CPU model
  librispeech-test-clean:
    - metric: wer
      value: 4.27  # first recording
      max: 4.70
      samples: 6
      sample_set: {fp}
      note: keep this note
  librispeech-dev-clean:
    - metric: wer
      value: 5.0
      max: 5.5
      samples: 10
step-audio-r1.1:
  # reasoning model, MMAU official rule
  mmau-test-mini:
    - metric: acc
      value: 77.0
      min: 75.0
      samples: 1000
"""


def _original(tmp_path: Path) -> Path:
    path = tmp_path / "thresholds.yaml"
    path.write_text(ORIGINAL.format(fp=FP), encoding="utf-8")
    return path


def test_update_changes_only_the_run_pairs(tmp_path: Path, registry) -> None:
    path = _original(tmp_path)
    changes = update(path, [Measured("whisper-tiny.en", "librispeech-test-clean", "wer",
                                     5.004, 6, FP)], accept_regression=True)
    assert [(c.kind, c.text) for c in changes] == [
        ("loosened", "whisper-tiny.en/librispeech-test-clean wer: 4.27 -> 5.00 "
                     "(max 4.70 -> 5.43)")]
    before = ORIGINAL.format(fp=FP).splitlines()
    after = path.read_text(encoding="utf-8").splitlines()
    assert len(after) == len(before)
    differing = [(b, a) for b, a in zip(before, after, strict=True) if a != b]
    assert [a.split("#")[0].strip() for _, a in differing] == ["value: 5.0", "max: 5.43"]
    assert "# first recording" in after[5]  # the end-of-line comment stays on its line
    entries = load(path, *registry).for_pair("whisper-tiny.en", "librispeech-test-clean")
    assert [(e.value, e.limit, e.sample_set) for e in entries] == [(5.0, 5.43, FP)]


def test_update_keeps_existing_slack_and_records_the_fingerprint(tmp_path: Path,
                                                                 registry) -> None:
    path = _original(tmp_path)
    dev_ids = [f"dev-{i}" for i in range(10)]
    changes = update(path, [
        Measured("whisper-tiny.en", "librispeech-dev-clean", "wer", 3.0, 10,
                 sample_set_fingerprint(dev_ids)),
        Measured("step-audio-r1.1", "mmau-test-mini", "acc", 80.0, 1000, "f" * 16),
    ])
    pinned = "; sample_set pinned to {} (matched on count only until now)"
    assert [(c.kind, c.text) for c in changes] == [
        ("tightened", "whisper-tiny.en/librispeech-dev-clean wer: 5.00 -> 3.00 "
                      "(max 5.50 -> 3.50)" + pinned.format(sample_set_fingerprint(dev_ids))),
        ("tightened", "step-audio-r1.1/mmau-test-mini acc: 77.00 -> 80.00 (min 75.00 -> 78.00)"
                      + pinned.format("f" * 16)),
    ]
    thresholds = load(path, *registry)
    (dev,) = thresholds.for_pair("whisper-tiny.en", "librispeech-dev-clean")
    assert (dev.value, dev.limit, dev.sample_set) == (3.0, 3.5, sample_set_fingerprint(dev_ids))
    (acc,) = thresholds.for_pair("step-audio-r1.1", "mmau-test-mini")
    assert (acc.value, acc.limit, acc.sample_set) == (80.0, 78.0, "f" * 16)
    (clean,) = thresholds.for_pair("whisper-tiny.en", "librispeech-test-clean")
    assert (clean.value, clean.limit) == (4.27, 4.70)  # not run: untouched
    text = path.read_text(encoding="utf-8")
    for comment in ("# audiogate thresholds — recorded on the CI machine",
                    "  # the embedded CPU model", "# first recording",
                    "  # reasoning model, MMAU official rule", "note: keep this note"):
        assert comment in text
    keys = [line.strip() for line in text.splitlines() if line and not line.startswith(" ")]
    assert keys[1:] == ["whisper-tiny.en:", "step-audio-r1.1:"]


def test_update_new_entry_gets_default_limit(tmp_path: Path, registry) -> None:
    path = _original(tmp_path)
    fp3 = sample_set_fingerprint(["a", "b", "c"])
    changes = update(path, [Measured("whisper-tiny.en", "librispeech-test-other", "wer",
                                     10.0, 3, fp3)])
    assert [(c.kind, c.text) for c in changes] == [
        ("new", "whisper-tiny.en/librispeech-test-other wer: new entry 10.00 "
                "(max 11.00, 3 samples, 0 excluded)")]
    (entry,) = load(path, *registry).for_pair("whisper-tiny.en", "librispeech-test-other")
    assert (entry.value, entry.limit, entry.samples, entry.sample_set) == (10.0, 11.0, 3, fp3)
    assert len(load(path, *registry).entries) == 4


def test_update_other_sample_set_adds_an_entry_beside_the_old_one(tmp_path: Path,
                                                                   registry) -> None:
    path = _original(tmp_path)
    fp4 = sample_set_fingerprint(IDS[:4])
    update(path, [Measured("whisper-tiny.en", "librispeech-test-clean", "wer", 8.0, 4, fp4)])
    entries = load(path, *registry).for_pair("whisper-tiny.en", "librispeech-test-clean")
    assert [(e.value, e.limit, e.samples, e.sample_set) for e in entries] == [
        (4.27, 4.70, 6, FP), (8.0, default_limit("wer", 8.0), 4, fp4)]


def test_update_into_a_new_file(tmp_path: Path, registry) -> None:
    path = tmp_path / "thresholds.yaml"
    update(path, [Measured("step-audio-r1.1", "mmau-test-mini", "acc", 76.4, 1000, FP)])
    (entry,) = load(path, *registry).entries
    assert (entry.metric, entry.value, entry.limit) == ("acc", 76.4, default_limit("acc", 76.4))


def test_update_unchanged_value_does_not_rewrite(tmp_path: Path) -> None:
    path = _original(tmp_path)
    before = path.read_bytes()
    changes = update(path, [Measured("whisper-tiny.en", "librispeech-test-clean", "wer",
                                     4.2701, 6, FP)])
    assert [c.kind for c in changes] == ["unchanged"]
    assert path.read_bytes() == before
    assert not path.with_suffix(".yaml.tmp").exists()


def test_update_new_dataset_keeps_the_comment_above_the_next_model(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text(textwrap.dedent("""\
        whisper-tiny.en:
          librispeech-test-clean:
            - metric: wer
              value: 4.27
              max: 4.70
              samples: 6

        # the reasoning model
        step-audio-r1.1:
          mmau-test-mini:
            - metric: acc
              value: 77.0
              min: 75.0
              samples: 1000
        """), encoding="utf-8")
    update(path, [Measured("whisper-tiny.en", "librispeech-test-other", "wer", 10.0, 3, FP)])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[lines.index("# the reasoning model") + 1] == "step-audio-r1.1:"


def test_default_limit() -> None:
    assert default_limit("wer", 10.0) == 11.0  # 10 % relative
    assert default_limit("cer", 0.5) == 0.6  # at least 0.1 points
    assert default_limit("acc", 80.0) == 72.0  # the worse direction of accuracy is down
    assert default_limit("acc", 0.5) == 0.4


def test_update_appends_keep_every_comment_where_it_was(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text(textwrap.dedent("""\
        # header
        whisper-tiny.en:
          librispeech-test-clean:
            - metric: wer
              value: 4.27
              max: 4.70
              samples: 6

        # the reasoning model
        step-audio-r1.1:
          mmau-test-mini:
            - metric: acc
              value: 77.0
              min: 75.0
              samples: 1000
        # trailing note
        """), encoding="utf-8")
    update(path, [Measured("whisper-tiny.en", "librispeech-test-clean", "wer", 9.0, 3, FP),
                  Measured("step-audio-r1.1", "mmau-test-mini", "acc", 60.0, 10, FP)])
    text = path.read_text(encoding="utf-8")
    assert text == textwrap.dedent(f"""\
        # header
        whisper-tiny.en:
          librispeech-test-clean:
            - metric: wer
              value: 4.27
              max: 4.70
              samples: 6
            - metric: wer
              value: 9.0
              max: 9.9
              samples: 3
              sample_set: {FP}
              excluded: 0

        # the reasoning model
        step-audio-r1.1:
          mmau-test-mini:
            - metric: acc
              value: 77.0
              min: 75.0
              samples: 1000
            - metric: acc
              value: 60.0
              min: 54.0
              samples: 10
              sample_set: {FP}
              excluded: 0
        # trailing note
        """)


def test_update_refuses_to_loosen_a_gate_unless_asked(tmp_path: Path, registry) -> None:
    """A worse run that still passes must not rewrite 4.27 -> 4.60 (max 4.70 -> 5.03) silently."""
    path = _original(tmp_path)
    before = path.read_bytes()
    worse = Measured("whisper-tiny.en", "librispeech-test-clean", "wer", 4.6, 6, FP)
    (change,) = update(path, [worse])
    assert change.kind == "loosened" and change.refused
    assert "4.27 -> 4.60 (max 4.70 -> 5.03) — REFUSED" in change.text
    assert "--accept-regression" in change.text
    assert path.read_bytes() == before
    (accepted,) = update(path, [worse], accept_regression=True)
    assert not accepted.refused
    (entry,) = load(path, *registry).for_pair("whisper-tiny.en", "librispeech-test-clean")
    assert (entry.value, entry.limit) == (4.6, 5.03)


def test_update_refuses_to_accept_more_excluded_samples(tmp_path: Path, registry) -> None:
    path = _original(tmp_path)
    better_but_filtered = Measured("whisper-tiny.en", "librispeech-test-clean", "wer", 2.0, 6,
                                   FP, excluded=1)
    (change,) = update(path, [better_but_filtered])
    assert change.refused and "excluded allowed 0 -> 1" in change.text
    update(path, [better_but_filtered], accept_regression=True)
    (entry,) = load(path, *registry).for_pair("whisper-tiny.en", "librispeech-test-clean")
    assert (entry.excluded, entry.max_excluded) == (1, 1)


def test_plan_change_classifies_against_the_loaded_entry() -> None:
    entry = _entry()  # 4.27, max 4.70
    same = Measured("whisper-tiny.en", "librispeech-test-clean", "wer", 4.27, 6, FP)
    assert plan_change(same, recorded_of(entry), accept_regression=False)[0].kind == "unchanged"
    better = dataclasses.replace(same, value=4.0)
    assert plan_change(better, recorded_of(entry), accept_regression=False)[0].kind == \
        "tightened"
    assert plan_change(better, None, accept_regression=False)[0].kind == "new"


# --- the scoring protocol an entry was recorded under --------------------------------------

def test_entry_without_protocol_is_the_datasets_gating_protocol(tmp_path: Path,
                                                               registry) -> None:
    thresholds = _load(tmp_path, VALID, registry)
    (clean,) = thresholds.for_pair("whisper-tiny.en", "librispeech-test-clean")
    assert clean.protocol == "ultraeval-audio"
    (mmau,) = thresholds.for_pair("step-audio-r1.1", "mmau-test-mini")
    assert mmau.protocol is None  # accuracy has one rule


def test_entry_protocol_is_read_and_validated(tmp_path: Path, registry) -> None:
    text = VALID.replace("      note: tiny model", "      protocol: open-asr")
    path = _write(tmp_path, text)
    (clean,) = load(path, *registry, {"ultraeval-audio", "open-asr"}).for_pair(
        "whisper-tiny.en", "librispeech-test-clean")
    assert clean.protocol == "open-asr"
    with pytest.raises(ThresholdsError, match=r"thresholds.yaml:\d+: .*unknown protocol "
                                              r"'open-asr' \(registered: ultraeval-audio\)"):
        load(path, *registry, {"ultraeval-audio"})


def _recorded_under(protocol: str | None) -> Entry:
    e = _entry()
    return Entry(e.model, e.dataset, e.metric, e.value, e.limit, e.samples, e.sample_set,
                 e.max_errors, e.line, {}, protocol=protocol)


def test_judge_entry_of_another_protocol_is_an_error_that_says_so() -> None:
    verdict = judge([_recorded_under("open-asr")],
                    _run("wer", 1.0, 6, 0, FP, protocol="ultraeval-audio"), record_hint=HINT)
    assert verdict.status == "error" and verdict.entry is None
    assert "'open-asr'" in verdict.reason and "'ultraeval-audio'" in verdict.reason
    assert "not comparable" in verdict.reason and HINT in verdict.reason


def test_judge_picks_the_entry_of_the_same_protocol() -> None:
    other, same = _recorded_under("open-asr"), _recorded_under("ultraeval-audio")
    verdict = judge([other, same], _run("wer", 4.5, 6, 0, FP, protocol="ultraeval-audio"),
                    record_hint=HINT)
    assert verdict.status == "pass" and verdict.entry is same
    assert judge([other, same], _run("wer", 4.5, 6, 0, FP, protocol="open-asr"),
                 record_hint=HINT).entry is other


def test_update_writes_the_protocol(tmp_path: Path, registry) -> None:
    path = _original(tmp_path)
    update(path, [Measured("whisper-tiny.en", "librispeech-test-clean", "wer", 5.0, 6, FP,
                           protocol="ultraeval-audio"),
                  Measured("whisper-tiny.en", "librispeech-test-other", "wer", 9.0, 3, "ab",
                           protocol="ultraeval-audio")], accept_regression=True)
    thresholds = load(path, *registry)
    for dataset in ("librispeech-test-clean", "librispeech-test-other"):
        (entry,) = thresholds.for_pair("whisper-tiny.en", dataset)
        assert entry.raw["protocol"] == "ultraeval-audio"


def test_update_under_another_protocol_adds_an_entry(tmp_path: Path, registry) -> None:
    """An entry without `protocol` is the dataset's gating protocol's (so it is updated in
    place); one recorded under another protocol is left alone and a new entry added."""
    path = _original(tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("note: keep this note", "protocol: ultraeval-audio"),
                    encoding="utf-8")
    update(path, [Measured("whisper-tiny.en", "librispeech-test-clean", "wer", 3.0, 6, FP,
                           protocol="open-asr")])
    entries = load(path, *registry).for_pair("whisper-tiny.en", "librispeech-test-clean")
    assert [(e.value, e.protocol) for e in entries] == [(4.27, "ultraeval-audio"),
                                                       (3.0, "open-asr")]


# --- an entry without sample_set: matched on its count only ---------------------------------

def test_judge_says_when_an_entry_matched_on_count_only() -> None:
    """An entry recorded with `samples` and no `sample_set` cannot tell a changed set of the
    same size: every verdict judged against it says so (pass or fail), never silently."""
    entry = _entry(sample_set=None, line=7)
    other_ids = sample_set_fingerprint([f"other-{i}" for i in range(6)])
    passed = judge([entry], _run("wer", 4.5, 6, 0, other_ids), record_hint=HINT)
    assert passed.status == "pass" and passed.entry is entry
    assert passed.reason == (
        "WER 4.50 within max 4.70 (recorded 4.27, +0.23); matched on count only: the entry "
        "(line 7) records 6 samples and no sample_set, so any 6 samples match it; "
        "--update-thresholds pins this run's set")
    failed = judge([entry], _run("wer", 5.27, 6, 0, other_ids), record_hint=HINT)
    assert failed.status == "fail" and "matched on count only" in failed.reason
    pinned = judge([_entry()], _run("wer", 4.5, 6, 0, FP), record_hint=HINT)
    assert "count only" not in pinned.reason


def test_update_pins_the_sample_set_of_a_count_only_entry(tmp_path: Path, registry) -> None:
    """Recording the same value again still adds the fingerprint, and the summary says so
    (a written file is never reported as "unchanged")."""
    path = _original(tmp_path)
    dev_ids = [f"dev-{i}" for i in range(10)]
    changes = update(path, [Measured("whisper-tiny.en", "librispeech-dev-clean", "wer", 5.0,
                                     10, sample_set_fingerprint(dev_ids))])
    assert [(c.kind, c.text) for c in changes] == [
        ("pinned", "whisper-tiny.en/librispeech-dev-clean wer: 5.00 -> 5.00 (max 5.50 -> "
                   "5.50); sample_set pinned to "
                   f"{sample_set_fingerprint(dev_ids)} (matched on count only until now)")]
    (dev,) = load(path, *registry).for_pair("whisper-tiny.en", "librispeech-dev-clean")
    assert dev.sample_set == sample_set_fingerprint(dev_ids)
    # pinned once: the next identical run changes nothing
    again = update(path, [Measured("whisper-tiny.en", "librispeech-dev-clean", "wer", 5.0,
                                   10, sample_set_fingerprint(dev_ids))])
    assert [c.kind for c in again] == ["unchanged"]
