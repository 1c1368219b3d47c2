"""The pytest plugin end to end: pytester runs benchmarks/test_asr.py with the REAL embedded
model (whisper-tiny.en, faster-whisper on CPU) over the real shared LibriSpeech test-clean
slice (6 clips), and checks what a release gate must do: pass, fail with the delta, record
thresholds, refuse silent comparisons, report, and behave the same under pytest-xdist.

Every inner run has its own rootdir (pytester.path): its own thresholds.yaml, reports/ and
per-sample store, so no test shares state with another or with the repository. Each store
starts as a copy of the session's shared decode of the slices (``decoded_slices``): the
runs gate the real model's outputs for the slice without decoding its clips again; a test
that must decode says so (--no-store, or clips the store has not seen).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from decoded_slices import DecodedSlices
from ruamel.yaml import YAML

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ASR_TEST = (REPO / "benchmarks" / "test_asr.py").read_text(encoding="utf-8")
CONFTEST = 'pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n'
MODEL = "whisper-tiny.en"
DATASET = "librispeech-test-clean"
PAIR = f"{MODEL}/{DATASET}"
SLICE = Path("LibriSpeech") / "test-clean"


def fingerprint(ids: list[str]) -> str:
    """The sample-set fingerprint thresholds.yaml records: sha256 of the sorted ids, 16 hex."""
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()[:16]


class Bench:
    """An isolated project in pytester.path: conftest, test_asr.py, thresholds.yaml."""

    def __init__(self, pytester: pytest.Pytester, data_root: Path) -> None:
        self.pytester = pytester
        self.path = pytester.path
        self.data_root = data_root
        pytester.makeconftest(CONFTEST)
        pytester.makepyfile(test_asr=ASR_TEST)
        self.thresholds_path = self.path / "thresholds.yaml"
        self.thresholds("")

    @property
    def ids(self) -> list[str]:
        return sorted(p.stem for p in (self.data_root / SLICE).glob("*/*/*.flac"))

    def thresholds(self, text: str) -> Path:
        """Write thresholds.yaml; "" means no file at all (nothing recorded yet)."""
        if not text:
            self.thresholds_path.unlink(missing_ok=True)
        else:
            self.thresholds_path.write_text(text, encoding="utf-8")
        return self.thresholds_path

    def entry(self, value: float, limit: float, *, samples: int = 6,
              sample_set: str | None = None, comment: str = "") -> Path:
        lines = [f"{MODEL}:", f"  {DATASET}:", "    - metric: wer", f"      value: {value}",
                 f"      max: {limit}", f"      samples: {samples}"]
        if sample_set is not None:
            lines.append(f"      sample_set: {sample_set}")
        return self.thresholds(comment + "\n".join(lines) + "\n")

    def run(self, *args: str, select: str = DATASET, data_root: Path | None = None,
            subprocess: bool = False) -> pytest.RunResult:
        argv = ["-k", select, f"--data-root={data_root or self.data_root}", "-rA",
                "-p", "no:cacheprovider", *args]
        if subprocess:
            return self.pytester.runpytest_subprocess(*argv, timeout=600)
        return self.pytester.runpytest(*argv)

    def report(self, report_dir: str = "reports") -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.path / report_dir / "audiogate-report.json").read_text(encoding="utf-8"))
        return data

    def row(self, report_dir: str = "reports", pair: str = PAIR) -> dict[str, Any]:
        rows = [r for r in self.report(report_dir)["rows"]
                if f"{r['result']['model']}/{r['result']['dataset']}" == pair]
        assert len(rows) == 1, rows
        return rows[0]

    def samples(self, report_dir: str = "reports", dataset: str = DATASET
                ) -> list[dict[str, Any]]:
        path = self.path / report_dir / "samples" / f"{MODEL}__{dataset}.jsonl"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def bench(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
          shared_data: Path, decoded_slices: DecodedSlices) -> Bench:
    if not (shared_data / SLICE).is_dir():
        pytest.fail(f"the shared LibriSpeech test-clean slice is missing: {shared_data / SLICE}")
    decoded_slices.copy_store(pytester.path / ".audiogate" / "store.sqlite")  # the default
    monkeypatch.syspath_prepend(str(REPO))  # fixtures.gate, in-process
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))  # subprocess runs
    for name in ("AUDIOGATE_DATA_ROOT", "PYTEST_XDIST_AUTO_NUM_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    return Bench(pytester, shared_data.resolve())


def corpus_wer(records: list[dict[str, Any]]) -> float:
    """Σ edits / Σ reference tokens × 100 over the scored samples (the published formula)."""
    scored = [r for r in records if r["error"] is None and not r["excluded"]]
    edits = sum(r["substitutions"] + r["deletions"] + r["insertions"] for r in scored)
    return 100.0 * edits / sum(r["ref_tokens"] for r in scored)


# -- the gate ------------------------------------------------------------------------------

def test_recorded_threshold_passes_and_a_tightened_max_fails_with_the_delta(bench: Bench
                                                                            ) -> None:
    bench.entry(3.0, 50.0)  # recorded on 6 samples (size only), generous max
    result = bench.run()
    result.assert_outcomes(passed=1)
    row = bench.row()
    measured = row["result"]["score"]["value"]
    assert row["status"] == "pass"
    assert row["threshold"] == "max 50.00"
    assert row["reason"].startswith(f"WER {measured:.2f} within max 50.00")
    assert f"  PASS       {DATASET}  WER {measured:.2f}" in result.stdout.str()  # the table
    assert 0.5 < measured < 30, f"whisper-tiny.en on test-clean scored an implausible {measured}"

    limit, recorded = round(measured / 2, 2), round(measured / 3, 2)
    bench.entry(recorded, limit)
    result = bench.run()
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    expected = (f"regressed: WER {measured:.2f} > max {limit:.2f} "
                f"(recorded {recorded:.2f}, {measured - recorded:+.2f})")
    out = result.stdout.str()
    assert f"{PAIR}: {expected}" in out  # the test's failure message names the pair
    assert out.count(expected) == 1  # said once: the summary's table only marks it
    assert f"  FAIL       {DATASET}  WER {measured:.2f}" in out
    row = bench.row()
    assert row["status"] == "fail"
    assert row["result"]["score"]["value"] == measured


def test_update_thresholds_records_an_entry_keeping_comments_then_gates(bench: Bench) -> None:
    original = (
        "# audiogate thresholds — header comment kept\n"
        "\n"
        "# the reference model, recorded by hand\n"
        "step-audio-r1.1:\n"
        "  librispeech-test-clean:\n"
        "    - metric: wer\n"
        "      value: 2.24\n"
        "      max: 2.50  # inline comment kept\n"
        "      samples: 2620\n"
        "      note: UltraEval-Audio reference table\n"
    )
    bench.thresholds(original)
    result = bench.run("--update-thresholds")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"thresholds updated in {bench.thresholds_path}:",
                                 f"  new: {PAIR} wer: new entry *"])
    row = bench.row()
    assert row["status"] == "updated"
    measured = row["result"]["score"]["value"]

    text = bench.thresholds_path.read_text(encoding="utf-8")
    assert text.startswith(original), text  # comments, order and the other entry untouched
    data = YAML(typ="safe").load(text)
    assert data["step-audio-r1.1"]["librispeech-test-clean"] == [
        {"metric": "wer", "value": 2.24, "max": 2.5, "samples": 2620,
         "note": "UltraEval-Audio reference table"}]
    # the accuracy entry alone: speed is recorded only with --record-speed
    [entry] = data[MODEL][DATASET]
    assert {"metric", "value", "max", "samples", "sample_set"} <= set(entry)
    assert "min" not in entry  # WER is gated by a one-sided max
    if "baseline" in entry:  # the per-sample baseline goes beside the file, not elsewhere
        assert (bench.path / entry["baseline"]).is_file()
    assert entry["metric"] == "wer"
    assert entry["value"] == round(measured, 2)
    assert entry["value"] < entry["max"]
    assert entry["samples"] == 6
    assert entry["sample_set"] == fingerprint(bench.ids)

    result = bench.run()  # no flag: now gated by the recorded entry, file left alone
    result.assert_outcomes(passed=1)
    row = bench.row()
    assert row["status"] == "pass"
    assert row["threshold"] == f"max {entry['max']:.2f}"
    assert row["recorded"] == entry["value"]
    out = result.stdout.str()
    assert row["reason"].startswith(f"WER {measured:.2f} within max {entry['max']:.2f}")
    assert f"  PASS       {DATASET}  WER {measured:.2f}" in out
    assert "NOT GATED" not in out
    assert bench.thresholds_path.read_text(encoding="utf-8") == text


def test_record_speed_records_this_machines_speed_and_a_reused_run_says_it_timed_nothing(
        bench: Bench) -> None:
    bench.entry(3.0, 50.0)
    assert bench.run("--record-speed").ret == pytest.ExitCode.USAGE_ERROR  # needs updating
    bench.run().assert_outcomes(passed=1)  # every output now in the store
    result = bench.run("--update-thresholds", "--record-speed")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"  new: {PAIR} speed: *"])
    row = bench.row()
    assert row["result"]["reused"] == 0 and row["result"]["inferred"] == 6  # all timed again
    data = YAML(typ="safe").load(bench.thresholds_path.read_text(encoding="utf-8"))
    [entry, speed] = data[MODEL][DATASET]
    assert (entry["metric"], speed["metric"]) == ("wer", "speed")
    assert speed["measured_on"]["engine"] == "whisper-cpu" and speed["samples"] == 6
    assert (bench.path / speed["baseline"]).is_file()

    # the next run reuses the stored outputs: nothing timed, so speed neither passes nor
    # fails, and --require-gate makes that a failure naming the command that measures it
    bench.run().assert_outcomes(passed=1)
    assert "speed not comparable: 6 of 6 output(s) reused" in bench.row()["reason"]
    bench.run("--require-gate").assert_outcomes(failed=1)
    assert "--rerun measures every sample" in bench.row()["reason"]
    kept = bench.run("--update-thresholds")  # accuracy recorded, the speed entry kept
    kept.stdout.fnmatch_lines([f"  unchanged: {PAIR} speed: entry kept; --record-speed *"])
    assert YAML(typ="safe").load(bench.thresholds_path.read_text(encoding="utf-8"))[
        MODEL][DATASET][1] == speed


def test_missing_data_fails_a_gated_pair_and_skips_a_not_gated_one(bench: Bench) -> None:
    empty = bench.path / "no-data"
    empty.mkdir()
    bench.entry(3.0, 50.0)  # test-clean is gated, dev-clean is not
    result = bench.run(select="librispeech-test-clean or librispeech-dev-clean",
                       data_root=empty)
    result.assert_outcomes(failed=1, skipped=1)
    _, skipped, failed = result.reprec.listoutcomes()  # type: ignore[attr-defined]
    assert [r.nodeid for r in failed] == [f"test_asr.py::test_asr[{PAIR}]"]
    assert [r.nodeid for r in skipped] == [f"test_asr.py::test_asr[{MODEL}/librispeech-dev-clean]"]
    out = result.stdout.str()
    assert f"{PAIR} is gated but its data is missing" in out
    assert str(empty / SLICE) in out  # names where it looked
    flat = " ".join(out.split())  # the summary wraps at 120 columns
    assert f"SKIPPED {MODEL}/librispeech-dev-clean: not gated, and its data is missing" in flat
    assert str(empty / "LibriSpeech" / "dev-clean") in out
    assert f"  FAIL       {DATASET}  —" in out  # failed before scoring: no score
    assert out.count(f"{PAIR} is gated but its data is missing") == 1


# -- not gated pairs -----------------------------------------------------------------------

OTHER_MODEL_ONLY = ("# only another model is recorded\nstep-audio-r1.1:\n  "
                    "librispeech-test-clean:\n    - metric: wer\n      value: 2.24\n"
                    "      max: 2.5\n      samples: 2620\n")


def test_not_gated_pairs_are_reported_and_require_gate_fails_them(bench: Bench) -> None:
    bench.thresholds(OTHER_MODEL_ONLY)
    result = bench.run()
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK  # a pair with no entry at all does not fail
    out = result.stdout.str()
    assert f"NOT GATED {PAIR}: no recorded threshold" in out
    assert "UNGATED" not in out
    assert "--update-thresholds" in out  # says how to record it
    assert bench.row()["status"] == "not gated"
    assert bench.report()["verdict"] == "not gated"  # never reads as a pass
    assert bench.thresholds_path.read_text(encoding="utf-8") == OTHER_MODEL_ONLY

    result = bench.run("--require-gate")
    result.assert_outcomes(failed=1)
    assert f"{PAIR}: --require-gate: no recorded threshold" in result.stdout.str()
    assert bench.row()["status"] == "fail"


# -- thresholds that must not be compared or loaded ----------------------------------------

def test_threshold_on_a_different_sample_set_of_the_same_size_fails(bench: Bench) -> None:
    other = "0123456789abcdef"
    bench.entry(3.0, 50.0, sample_set=other)
    result = bench.run()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert f"{PAIR}: thresholds.yaml gates this pair, but on another sample set" in out
    assert f"6 samples [{other}] (line 3)" in out
    assert f"this run has 6 samples [{fingerprint(bench.ids)}]" in out
    assert bench.row()["status"] == "fail"


@pytest.mark.parametrize(("text", "line", "says"), [
    pytest.param(f"# header\n{MODEL}:\n  {DATASET}:\n    - metric: wer\n      value: 3.0\n"
                 "      maxx: 5.0\n      samples: 6\n", 6, "unknown key 'maxx'", id="bad-key"),
    pytest.param(f"{MODEL}:\n  {DATASET}:\n    - metric: wer\n      value: 3.0\n"
                 "     max: 5.0\n      samples: 6\n", 5, "not valid YAML", id="bad-indent"),
    pytest.param(f"{MODEL}:\n  {DATASET}:\n    - metric: wer\n      value: 3.0\n"
                 "      max: 5.0\n      max: 6.0\n      samples: 6\n", 6, "not valid YAML",
                 id="duplicate-key"),
    pytest.param(f"{MODEL}:\n  {DATASET}:\n    - metric: cer\n      value: 3.0\n"
                 "      max: 5.0\n      samples: 6\n", 3, "metric 'cer' does not apply",
                 id="wrong-metric"),
])
def test_malformed_thresholds_is_a_usage_error_naming_file_and_line(
        bench: Bench, text: str, line: int, says: str) -> None:
    path = bench.thresholds(text)
    result = bench.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"{path}:{line}:" in err, err
    assert says in err
    assert not (bench.path / "reports").exists()


# -- reports -------------------------------------------------------------------------------

def test_reports_markdown_json_samples_and_junit(bench: Bench) -> None:
    bench.entry(3.0, 50.0)
    result = bench.run("--report-dir=out", "--junitxml=junit.xml")
    result.assert_outcomes(passed=1)
    out_dir = bench.path / "out"
    assert not (bench.path / "reports").exists()  # --report-dir replaces the default

    report = bench.report("out")
    assert report["verdict"] == "pass"
    assert len(report["rows"]) == 1
    row = report["rows"][0]
    res, score = row["result"], row["result"]["score"]
    assert (res["model"], res["dataset"], res["task"], res["metric"]) == (MODEL, DATASET,
                                                                          "asr", "wer")
    assert (score["total"], score["scored"], score["errors"], score["excluded"]) == (6, 6, 0, 0)
    assert res["sample_set"] == fingerprint(bench.ids)
    assert res["audio_seconds"] > 0 and res["inference_seconds"] > 0
    assert (res["inferred"], res["reused"]) == (0, 6)  # the shared decode's outputs
    assert res["rtfx"] == pytest.approx(res["audio_seconds"] / res["inference_seconds"])
    value = score["value"]

    md = (out_dir / "audiogate-report.md").read_text(encoding="utf-8")
    assert md.startswith("# audiogate results — PASS")
    lines = md.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| task"))
    names = [c.strip() for c in lines[header].strip().strip("|").split("|")]
    table_rows = [dict(zip(names, (c.strip() for c in line.strip().strip("|").split("|")),
                           strict=True))
                  for line in lines[header + 2:] if line.startswith("|")]
    assert table_rows == [table_rows[0]] and table_rows[0] | {
        "task": "asr(en)", "dataset": DATASET, "model": MODEL, "measure": "wer",
        "performance": f"{value:.2f}", "threshold": "max 50.00", "delta": f"{value - 3.0:+.2f}",
        "samples": "6/6", "errors": "0", "status": "PASS"} == table_rows[0]
    assert table_rows[0]["RTFx"] == f"{res['rtfx']:.1f}"
    assert f"**{PAIR}**: PASS" in md

    records = bench.samples("out")
    assert [r["id"] for r in records] == bench.ids
    for r in records:
        assert r["error"] is None and r["raw_output"], r
        assert Path(r["audio_path"]).resolve() == next(
            (bench.data_root / SLICE).glob(f"*/*/{r['id']}.flac")).resolve()
    assert corpus_wer(records) == pytest.approx(value, abs=1e-9)  # corpus-level, not a mean

    tree = ET.parse(bench.path / "junit.xml")
    cases = tree.findall(".//testcase")
    assert len(cases) == 1
    props = {p.get("name"): p.get("value") for p in cases[0].iter("property")}
    assert props["audiogate.value"] == str(value)
    assert props["audiogate.metric"] == "wer"
    assert props["audiogate.samples"] == "6"
    assert props["audiogate.errors"] == "0"
    assert props["audiogate.pair"] == PAIR


# -- xdist ---------------------------------------------------------------------------------

def test_xdist_gives_the_same_scores_as_a_serial_run(bench: Bench,
                                                    decoded_slices: DecodedSlices) -> None:
    """Two pairs under `-n 2`, one per worker, each decoding the 6 clips, score them sample
    for sample like the serial run of the session's shared decode of the slices."""
    # A second registered dataset over the same clips, so the two workers each run a pair.
    twin = f"{DATASET}-twin"
    (bench.path / "datasets.yaml").write_text(
        f"{twin}:\n  task: asr\n  language: en\n  loader: librispeech\n"
        f"  path: {bench.data_root / SLICE}\n  metric: wer\n  abnormal_limit: 1000\n",
        encoding="utf-8")
    bench.entry(3.0, 50.0)
    parallel = bench.run("--no-store", "--datasets-file=datasets.yaml", "--report-dir=xdist",
                         "-p", "xdist", "-n", "2", subprocess=True)
    parallel.assert_outcomes(passed=2)
    assert "2 workers" in parallel.stdout.str() or "gw1" in parallel.stdout.str()

    serial = decoded_slices.rows()[DATASET]
    assert serial["result"]["inferred"] == 6  # decoded, serially, not read from a store
    report = bench.report("xdist")
    assert {row["result"]["dataset"]: (row["status"], row["threshold"])
            for row in report["rows"]} == {DATASET: ("pass", "max 50.00"),
                                                      twin: ("not gated", None)}
    assert report["verdict"] == "pass"

    def without_seconds(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        strip = ("seconds", "timing")  # how long each took: never the same twice
        return [{k: v for k, v in r.items() if k not in strip} for r in records]

    for row in report["rows"]:
        result = row["result"]
        assert result["inferred"] == 6
        assert (result["score"], result["sample_set"]) == (serial["result"]["score"],
                                                          serial["result"]["sample_set"])
        assert without_seconds(bench.samples("xdist", result["dataset"])) == without_seconds(
            decoded_slices.samples(DATASET))
    # the controller prints the merged table, as a serial run does
    out = parallel.stdout.str()
    assert f"  PASS       {DATASET}" in out and f"NOT GATED {MODEL}/{twin}:" in out
    assert f"  PASS       {DATASET}" in decoded_slices.output


# -- a corrupt clip ------------------------------------------------------------------------

def test_a_corrupt_clip_errors_the_rest_is_scored_and_the_gate_fails(bench: Bench) -> None:
    data = bench.path / "data"
    shutil.copytree(bench.data_root / SLICE, data / SLICE)  # a tmp copy, never the repo
    bad_id = "1089-134686-0001"
    bad = data / SLICE / "1089" / "134686" / f"{bad_id}.flac"
    bad.write_bytes(b"fLaC" + b"\x00\x17 this is not audio " * 64)
    bench.entry(3.0, 50.0, sample_set=fingerprint(bench.ids))  # same ids: gated
    result = bench.run(data_root=data)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert f"{PAIR}: 1 sample(s) errored (allowed 0) — errored samples: {bad_id}: {bad}" in out

    row = bench.row()
    score = row["result"]["score"]
    assert row["status"] == "fail"
    assert (score["total"], score["scored"], score["errors"]) == (6, 5, 1)
    assert [e[0] for e in row["result"]["error_samples"]] == [bad_id]
    assert str(bad) in row["result"]["error_samples"][0][1]

    records = bench.samples()
    assert len(records) == 6
    broken = [r for r in records if r["error"] is not None]
    assert [r["id"] for r in broken] == [bad_id]
    assert str(bad) in broken[0]["error"] and broken[0]["score"] is None
    others = [r for r in records if r["error"] is None]
    assert len(others) == 5 and all(r["raw_output"] and r["score"] is not None for r in others)
    assert score["answered_value"] == pytest.approx(corpus_wer(records), abs=1e-9)
    # the gated value counts the errored clip as its worst answer: its 8 words deleted
    assert broken[0]["ref_tokens"] == 8
    edits = sum(r["substitutions"] + r["deletions"] + r["insertions"] for r in others)
    assert score["value"] == pytest.approx(
        100 * (edits + 8) / (sum(r["ref_tokens"] for r in others) + 8), abs=1e-9)

    result = bench.run("--update-thresholds", data_root=data)  # an errored run never records
    result.assert_outcomes(failed=1)
    assert "thresholds unchanged" in result.stdout.str()
