"""The pytest plugin: options, one session object, parametrization, gate, end-of-run summary.

Registered by the project's root conftest.py (``pytest_plugins``). Every (model, dataset)
pair is one test; workers under pytest-xdist send each pair's result to the controller
through the test report's ``user_properties``, so serial and ``-n auto`` runs print and
write the same table.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest

from audiogate.datasets import load_dataset_with_notes
from audiogate.engines import EngineContext, make_engine
from audiogate.engines.base import Engine
from audiogate.errors import AudiogateError, DatasetMissing
from audiogate.gate.decide import GateRules, RecordedIds, decide, not_recorded
from audiogate.gate.paired import (
    PerSample,
    baseline_texts,
    interval,
    per_sample,
    write_baseline,
)
from audiogate.gate.speech import (
    averages_per_sample,
    baseline_metrics,
    judge_of,
    speech_measured,
    speech_result,
)
from audiogate.gate.speed import summarize as summarize_speed
from audiogate.gate.thresholds import NOT_GATED_STATUS, Change, Measured, Thresholds
from audiogate.gate.thresholds import load as load_thresholds
from audiogate.gate.thresholds import update as update_thresholds
from audiogate.paths import DATA_ROOT_ENV, cache_home, default_data_root
from audiogate.plugin.speed import record_speed, speed_kept
from audiogate.registry import load as registry
from audiogate.registry.load import DatasetSpec, ModelSpec, judged, speech_metrics
from audiogate.results.decision_row import row as decision_row
from audiogate.results.junit import SPEED_STATUS_PROPERTY, STATUS_PROPERTY, properties
from audiogate.results.progress import Progress
from audiogate.results.report import (
    COLUMN_LEGEND,
    FAILING,
    HTML_FILENAME,
    Row,
    claim_report_dir,
    counts_line,
    mark_run_finished,
    mark_run_started,
    mark_run_unfinished,
    read_samples,
    run_metadata,
    samples_path,
    table,
    write_samples,
)
from audiogate.results.speed import LEGEND as SPEED_LEGEND
from audiogate.results.terminal import LEGEND, compact_table, pair_lines, wrap
from audiogate.results.writers import write_reports
from audiogate.runner import PairRun, RunOptions
from audiogate.samples import parse_shard, shard_info, take_shard
from audiogate.scoring.judge import Judge
from audiogate.scoring.pair import SampleRecord
from audiogate.scoring.pair_result import PairResult
from audiogate.scoring.parallel import available_cores

# The serving options (--engine-url, ...) and the one-server-per-run hooks.
pytest_plugins = ["audiogate.plugin.one_server"]

KEY = pytest.StashKey["AudiogateSession"]()
RESULT_PROPERTY = "audiogate.row"
PAIR_PROPERTY = "audiogate.pair"
LONG_FORM = "long-form"  # marker and -k keyword of the long-form pairs
# What runs without --model: the embedded CPU models (speech recognition, text-to-speech).
DEFAULT_MODELS = ("whisper-tiny.en", "espeak-en")
REFUSED_PROPERTY = "audiogate.refused"  # an update that would have loosened the gate
STATUS_COLOUR: dict[str, dict[str, bool]] = {
    "fail": {"red": True}, "error": {"red": True}, NOT_GATED_STATUS: {"yellow": True},
    "skipped": {"yellow": True}}
# Options that select the model, its engine and its data: a "record it" command carries them.
SELECTING_OPTIONS = (
    ("models_file", "--models-file", True), ("datasets_file", "--datasets-file", True),
    ("engine_url", "--engine-url", False), ("thresholds", "--thresholds", True),
    ("predictions", "--predictions", True), ("predictions_from", "--predictions-from", False),
    ("prompt", "--prompt", False), ("judge", "--judge", False),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("audiogate", "audiogate: release gates for audio models")
    group.addoption("--model", action="append", default=None,
                    help="registered model to gate (repeatable; default: whisper-tiny.en and "
                         "espeak-en, the embedded CPU models)")
    group.addoption("--data-root", default=None,
                    help="folder holding the datasets (default: $AUDIOGATE_DATA_ROOT, the "
                         "`audiogate_data_root` ini value, else ~/.cache/audiogate/data)")
    group.addoption("--thresholds", default=None,
                    help="thresholds file (default: thresholds.yaml in the rootdir)")
    group.addoption("--report-dir", default=None,
                    help="where reports go (default: reports/ in the rootdir)")
    group.addoption("--update-thresholds", action="store_true",
                    help="record the measured values of the pairs that ran in the thresholds "
                         "file (the only way audiogate ever writes it)")
    group.addoption("--record-speed", action="store_true",
                    help="with --update-thresholds: also record each pair's speed on this "
                         "machine (a speed entry; every sample inferred again, as --rerun, "
                         "so the speed is this run's)")
    group.addoption("--require-gate", action="store_true",
                    help="fail pairs that have no recorded threshold for their sample set")
    group.addoption("--no-gate", action="store_true",
                    help="measure and report only: gate nothing (exploring a new split); the "
                         "summary and the reports say so. Errored samples still fail")
    group.addoption("--accept-regression", action="store_true",
                    help="with --update-thresholds: also record entries that loosen a gate "
                         "(a higher max, a lower min, more excluded samples)")
    group.addoption("--prompt", default=None,
                    help="prompt template for chat models (overrides the model entry)")
    group.addoption("--predictions-from", default=None, metavar="MODEL",
                    help="with --model replay: the registered model that produced the "
                         "predictions; its answer rules (text after </think>, a JSON field) "
                         "are applied, so the replay scores like the live run")
    group.addoption("--judge", default=None, metavar="MODEL",
                    help="the registered ASR model that transcribes produced speech (default: "
                         "the dataset's `judge:`, else whisper-tiny.en for English, "
                         "whisper-base for Chinese); a run judged by another model than the "
                         "thresholds entry's is not comparable")
    group.addoption("--predictions", default=None,
                    help="JSONL of {id, prediction} for the replay engine")
    group.addoption("--mmau-lenient", action="store_true",
                    help="MMAU: map a bare option letter to its choice (default: official rule)")
    group.addoption("--download", action="store_true",
                    help="fetch a gated pair's missing dataset before running it (never "
                         "without this flag)")
    group.addoption("--mirror", default=None,
                    help="with --download: base URL replacing the official hosts "
                         "(default $AUDIOGATE_MIRROR)")
    group.addoption("--sources", default=None,
                    help="with --download: a sources YAML replacing the built-in one (private "
                         "mirrors with their own archives and checksums)")
    group.addoption("--store", default=None,
                    help="per-sample store (default: .audiogate/store.sqlite in the rootdir)")
    group.addoption("--no-store", action="store_true", help="do not read or write the store")
    group.addoption("--rerun", action="store_true",
                    help="ignore stored outputs: infer every sample again")
    group.addoption("--models-file", default=None, help="extra model registry YAML")
    group.addoption("--datasets-file", default=None, help="extra dataset registry YAML")
    group.addoption("--protocols-file", default=None,
                    help="extra scoring protocol registry YAML (profiles per metric)")
    group.addoption("--bootstrap-resamples", type=int, default=10_000,
                    help="resamples for the 95 %% bootstrap intervals and the paired gate")
    group.addoption("--long-form", action="store_true",
                    help="also collect the long-form pairs (recordings of minutes to hours); "
                         "`-k long-form` selects them and implies this")
    group.addoption("--shard", default=None, metavar="K/N",
                    help="run the K-th of N disjoint parts of every selected pair's samples "
                         "(split by a hash of the sample id); gates nothing: merge all N "
                         "with `audiogate report merge`")
    group.addoption("--progress-interval", type=float, default=10.0,
                    help="seconds between progress lines of a running pair")
    parser.addini("audiogate_data_root", "default data root for this project", default="")


SCORING_WORKERS_ENV = "AUDIOGATE_SCORING_WORKERS"


def scoring_workers(config: pytest.Config) -> int:
    """Processes that score a large pair: the cores left to this pytest process (its
    share under xdist), or AUDIOGATE_SCORING_WORKERS."""
    wanted = os.environ.get(SCORING_WORKERS_ENV, "").strip()
    if wanted:
        try:
            return max(1, int(wanted))
        except ValueError:
            raise pytest.UsageError(f"{SCORING_WORKERS_ENV}={wanted!r}: give a number of "
                                    "processes (1: score in the pytest process)") from None
    count = int(getattr(config, "workerinput", {}).get("workercount", 1) or 1)
    return max(1, available_cores() // max(1, count))

def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "audiogate_task(name): the task this gated test covers")
    config.addinivalue_line("markers", f"{LONG_FORM}: a pair of a long-form dataset (recordings "
                            "of minutes to hours), collected only when asked for")
    if config.option.help:
        return
    if not hasattr(config, "workerinput"):  # the controller (or a serial run) owns the folder
        mark_run_started(_report_dir(config))  # first: the session below may refuse to start
    session = AudiogateSession(config)
    config.stash[KEY] = session
    config.pluginmanager.register(session, "audiogate-session")


def _given(config: pytest.Config, name: str) -> Path | None:
    """A path option as given, relative to where pytest was started (None if not given)."""
    value = config.getoption(name)
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(config.invocation_params.dir) / path


def _shard_option(config: pytest.Config) -> tuple[int, int] | None:
    """--shard K/N as (K, N), 1 <= K <= N; a malformed value is a usage error."""
    value = config.getoption("shard")
    if value is None:
        return None
    try:
        return parse_shard(str(value))
    except AudiogateError as exc:
        raise pytest.UsageError(f"--shard {value}: {exc}") from exc


def _path_option(config: pytest.Config, name: str, default: Path) -> Path:
    value = config.getoption(name)
    path = Path(value).expanduser() if value else default
    return path if path.is_absolute() else Path(config.invocation_params.dir) / path


def _report_dir(config: pytest.Config) -> Path:
    return _path_option(config, "report_dir", Path(config.rootpath) / "reports")


class AudiogateSession:
    """Per-process state: registries, thresholds, engines (one per model), the store."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        root = Path(config.rootpath)
        try:
            self.models = registry.models(_given(config, "models_file"))
            self.datasets = registry.datasets(_given(config, "datasets_file"))
        except AudiogateError as exc:
            raise pytest.UsageError(str(exc)) from exc
        extra_protocols = config.getoption("protocols_file")
        try:
            self.protocols = registry.protocols(Path(extra_protocols) if extra_protocols
                                                else None)
            for spec in self.datasets.values():
                if spec.metric != "acc":
                    registry.profile_for(spec, self.protocols)
        except AudiogateError as exc:
            raise pytest.UsageError(str(exc)) from exc
        self.model_names: list[str] = config.getoption("model") or list(DEFAULT_MODELS)
        for name in self.model_names:
            if name not in self.models:
                raise pytest.UsageError(f"--model {name}: unknown model; registered: "
                                        f"{', '.join(sorted(self.models))}")
        ini_root = config.getini("audiogate_data_root")  # a project's own default
        data_default = root / ini_root if ini_root and not os.environ.get(DATA_ROOT_ENV) \
            else default_data_root()
        self.data_root = _path_option(config, "data_root", data_default)
        self.data_root_source = (
            "--data-root" if config.getoption("data_root") else
            f"${DATA_ROOT_ENV}" if os.environ.get(DATA_ROOT_ENV, "").strip() else
            "the audiogate_data_root ini value" if ini_root else
            f"the default, as neither --data-root nor ${DATA_ROOT_ENV} is set")
        self.thresholds_path = _path_option(config, "thresholds", root / "thresholds.yaml")
        self.report_dir = _report_dir(config)
        self.store_path = _path_option(config, "store", root / ".audiogate" / "store.sqlite")
        self.no_gate = bool(config.getoption("no_gate"))
        self.updating = bool(config.getoption("update_thresholds"))
        if self.no_gate and self.updating:
            raise pytest.UsageError("--no-gate measures without gating; it cannot be combined "
                                    "with --update-thresholds")
        self.record_speed = bool(config.getoption("record_speed"))
        if self.record_speed and not self.updating:
            raise pytest.UsageError("--record-speed records speed entries in the thresholds "
                                    "file: add --update-thresholds")
        self.shard = _shard_option(config)
        if self.shard is not None and self.updating:
            raise pytest.UsageError("--shard runs a part of each pair, which is never recorded: "
                                    "record thresholds from a merged or a full run")
        self.thresholds = self._load_thresholds(config)
        self.gate_rules = GateRules(
            no_gate=self.no_gate, require_gate=bool(config.getoption("require_gate")),
            updating=self.updating,
            accept_regression=bool(config.getoption("accept_regression")),
            n_resamples=int(config.getoption("bootstrap_resamples")),
            shard=None if self.shard is None else f"{self.shard[0]}/{self.shard[1]}")
        self.predictions_from: ModelSpec | None = None
        if config.getoption("predictions_from"):
            name = config.getoption("predictions_from")
            if name not in self.models:
                raise pytest.UsageError(f"--predictions-from {name}: unknown model; registered: "
                                        f"{', '.join(sorted(self.models))}")
            self.predictions_from = self.models[name]
        self.engines: dict[str, Engine] = {}
        self.engine_errors: dict[str, str] = {}
        self._store: Any = None
        self.rows: list[Row] = []
        self.failures: dict[str, str] = {}  # pair id -> message, for pairs with no result
        self.skipped: dict[str, str] = {}  # pair id -> reason
        self.refusals: list[str] = []  # updates refused because they loosen a gate
        self.ran_pairs: set[tuple[str, str]] = set()
        self.per_sample: dict[str, PerSample] = {}  # pair id -> scored samples (this process)
        self.records: dict[str, list[SampleRecord]] = {}  # pair id -> every sample's record
        # pair id -> sample id -> its alignment as the HTML report shows it (from scoring)
        self.shown: dict[str, dict[str, list[Any]]] = {}
        self.recorded_ids = RecordedIds(self.thresholds_path.parent)
        self.is_worker = hasattr(config, "workerinput")

    def _load_thresholds(self, config: pytest.Config) -> Thresholds:
        """The thresholds file; a missing explicit path and a file with no entries are usage
        errors (a gate that silently has nothing to compare with would pass everything)."""
        path = self.thresholds_path
        explicit = config.getoption("thresholds") is not None
        if explicit and not path.exists() and not self.updating:
            raise pytest.UsageError(f"--thresholds {path}: no such file")
        try:
            loaded = load_thresholds(path, self.models, self.datasets, self.protocols)
        except AudiogateError as exc:
            raise pytest.UsageError(str(exc)) from exc
        if path.exists() and not (loaded.entries or loaded.speed) and not (
                self.updating or self.no_gate or self.shard is not None):
            raise pytest.UsageError(
                f"{path}: the thresholds file has no entries, so nothing would be gated; "
                "record some with --update-thresholds, or measure without gating with "
                "--no-gate")
        return loaded

    def record_hint(self, model: str, dataset: str) -> str:
        """The command that records this pair, carrying every option that selected it."""
        parts = ["pytest", "benchmarks", "-k", f"{model}/{dataset}", "--model", model,
                 "--data-root", str(self.data_root)]
        for name, flag, is_path in SELECTING_OPTIONS:
            value = self.config.getoption(name)
            for one in (value if isinstance(value, list) else [value] if value else []):
                given = Path(str(one)).expanduser()
                absolute = given if given.is_absolute() else \
                    Path(self.config.invocation_params.dir) / given
                parts += [flag, str(absolute) if is_path else str(one)]
        return "`" + shlex.join([*parts, "--update-thresholds"]) + "`"

    # -- parametrization ------------------------------------------------------------------
    def pairs_for(self, task: str) -> list[tuple[ModelSpec, DatasetSpec]]:
        found = []
        for name in self.model_names:
            model = self.models[name]
            for dataset in self.datasets.values():
                if dataset.task == task and model.supports(dataset):
                    found.append((model, dataset))
        return found

    @pytest.hookimpl
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "pair" not in metafunc.fixturenames:
            return
        marker = metafunc.definition.get_closest_marker("audiogate_task")
        task = marker.args[0] if marker else getattr(metafunc.module, "TASK", "asr")
        long_form = self.long_form_selected
        pairs = [(m, d) for m, d in self.pairs_for(task) if long_form or not d.long_form]
        metafunc.parametrize("pair", [pytest.param(
            (m.name, d.name), id=f"{m.name}/{d.name}",
            marks=[getattr(pytest.mark, LONG_FORM)] if d.long_form else []) for m, d in pairs],
            indirect=True)

    @property
    def long_form_selected(self) -> bool:
        """Long-form pairs take minutes each, and their names share the split names of the
        short sets (``-k test-other``): they are collected only when asked for, by
        ``--long-form`` or a ``-k`` expression that names them."""
        return bool(self.config.getoption("long_form")) or \
            LONG_FORM in str(getattr(self.config.option, "keyword", "") or "")

    # -- engines and store ----------------------------------------------------------------
    def engine_context(self, model: ModelSpec) -> EngineContext:
        from audiogate.plugin.one_server import engine_urls, launched_url

        urls = engine_urls(self.config, model.name)
        predictions = self.config.getoption("predictions")
        return EngineContext(
            engine_url=urls[0] if urls else None, engine_urls=urls,
            concurrency=self.config.getoption("engine_concurrency"),
            extra={"launched": bool(urls) and launched_url(self.config, model.name)},
            timeout=float(self.config.getoption("engine_timeout")),
            predictions=Path(predictions).resolve() if predictions else None,
            cache_dir=cache_home(), log_dir=self.report_dir,
        )

    def engine_for(self, model: ModelSpec) -> Engine:
        """One engine per model per process, created on first use and reused by every pair."""
        if model.name in self.engine_errors:
            raise AudiogateError(self.engine_errors[model.name])
        if model.name not in self.engines:
            try:
                self.engines[model.name] = make_engine(model, self.engine_context(model))
            except AudiogateError as exc:
                self.engine_errors[model.name] = f"engine for {model.name}: {exc}"
                raise AudiogateError(self.engine_errors[model.name]) from exc
        return self.engines[model.name]

    def judge_for(self, dataset: DatasetSpec) -> Judge:
        """The judge ASR of a pair whose answers are speech (--judge, the dataset's `judge:`,
        the language's default), with the shared engine of that model."""
        name = registry.judge_name(dataset, self.config.getoption("judge"))
        if name not in self.models:
            raise AudiogateError(f"judge {name!r} is not a registered model; registered: "
                                 f"{', '.join(sorted(self.models))}")
        spec = self.models[name]
        return Judge(spec, self.engine_for(spec))

    @property
    def audio_dir(self) -> Path:
        """Where produced speech is kept: audio/ beside the store (the report folder's
        audio/ with --no-store)."""
        if self.config.getoption("no_store"):
            return self.report_dir / "audio"
        return self.store_path.parent / "audio"

    @property
    def store(self) -> Any:
        if self.config.getoption("no_store"):
            return None
        if self._store is None:
            from audiogate.results.store import Store

            self._store = Store.open(self.store_path)
        return self._store

    # -- progress -------------------------------------------------------------------------
    def progress_writer(self) -> Any:
        """Lines that reach the terminal while a pair runs, past pytest's output capture
        (like -s would): through the terminal reporter, or a worker's own stderr (which
        pytest-xdist workers inherit from the controller)."""
        if self.config.get_verbosity() < -1:
            return None
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        worker = getattr(self.config, "workerinput", {}).get("workerid")
        prefix = f"[{worker}] " if worker else ""

        def write(line: str) -> None:
            with capture.global_and_fixture_disabled() if capture is not None \
                    else contextlib.nullcontext():
                if reporter is not None and not self.is_worker:
                    reporter.write_line(line)
                else:
                    print(prefix + line, file=sys.__stderr__, flush=True)
        return write

    def _is_long_form(self, dataset: str) -> bool:
        spec = self.datasets.get(dataset)
        return spec is not None and spec.long_form

    def _selected_everything(self) -> bool:
        """Whether an unused threshold entry means something: the run selected every pair
        of its models (no -k, -m or node ids), or -v asked for the whole picture."""
        option = self.config.option
        if self.config.get_verbosity() > 0:
            return True
        narrowed = bool(getattr(option, "keyword", "")) or bool(getattr(option, "markexpr", ""))
        return not narrowed and not any("::" in str(a) for a in self.config.args)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        """A task with no selected pair has nothing to test: drop it quietly instead of
        pytest's "got empty parameter set" skip."""
        empty = [item for item in items if any(
            str(mark.kwargs.get("reason", "")).startswith("got empty parameter set")
            for mark in item.iter_markers("skip")) and "pair" in getattr(item, "fixturenames", ())]
        if empty:
            items[:] = [item for item in items if item not in empty]
            config.hook.pytest_deselected(items=empty)

    # -- collecting results (controller or serial) ---------------------------------------
    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if PAIR_PROPERTY not in props:
            return
        pair_id = str(props[PAIR_PROPERTY])
        model, dataset = pair_id.split("/", 1)
        self.ran_pairs.add((model, dataset))
        if RESULT_PROPERTY in props and report.when == "call":
            row = Row.from_json(json.loads(str(props[RESULT_PROPERTY])))
            self.rows.append(row)
            self.failures.pop(pair_id, None)
        elif report.failed and not any(r.result.pair_id == pair_id for r in self.rows):
            self.failures[pair_id] = _short(report)
        elif report.skipped:
            self.skipped[pair_id] = _skip_reason(report)
        if REFUSED_PROPERTY in props and report.when == "call":
            self.refusals.append(str(props[REFUSED_PROPERTY]))

    def _unscored_rows(self) -> list[Row]:
        """Pairs that never produced a result (failed before scoring, skipped): still rows of
        every report, with their status and why."""
        rows = []
        for status, found in (("fail", self.failures), ("skipped", self.skipped)):
            for pair_id, reason in sorted(found.items()):
                model, dataset = pair_id.split("/", 1)
                spec = self.datasets.get(dataset)
                result = PairResult.unscored(
                    model, dataset, spec.task if spec else "?", spec.language if spec else "?",
                    spec.metric if spec else "?")
                if self.shard is not None:  # so the merge knows it is one shard's row
                    result.shard = {"index": self.shard[0], "count": self.shard[1]}
                rows.append(Row(result, status, reason))
        return rows

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for engine in self.engines.values():
            with contextlib.suppress(Exception):  # closing must not hide the run's result
                engine.close()
        if self._store is not None:
            self._store.close()
        if self.is_worker:
            return
        self.threshold_changes: list[Change] = []
        if self.updating:
            recorded = [r for r in self.rows
                        if r.status in {"pass", "updated"} and r.result.score.value is not None
                        and r.result.score.errors == 0]
            measured = []
            for r in recorded:
                assert r.result.score.value is not None
                baseline = self._write_baseline(r.result)
                measured.append(Measured(r.result.model, r.result.dataset, r.result.metric,
                                         r.result.score.value, r.result.score.total,
                                         r.result.sample_set, baseline,
                                         r.result.score.excluded, r.result.score.protocol,
                                         judge_of(r.result)))
                measured += [Measured(r.result.model, r.result.dataset, metric, value,
                                      r.result.score.total, r.result.sample_set, baseline,
                                      judge=judge)
                             for metric, value, judge in speech_measured(r.result)]
            self.threshold_changes = update_thresholds(
                self.thresholds_path, measured,
                accept_regression=bool(self.config.getoption("accept_regression")))
            self.threshold_changes += [c for r in self.rows
                                       if (c := not_recorded(r.result, r.status)) is not None]
            speed_gated = {f"{e.model}/{e.dataset}" for e in self.thresholds.speed}
            if self.record_speed:
                self.threshold_changes += record_speed(
                    self.rows, self.thresholds_path, self.report_dir, speed_gated=speed_gated,
                    accept_regression=bool(self.config.getoption("accept_regression")))
            else:
                self.threshold_changes += speed_kept(self.rows, speed_gated)
            refused = [c for c in self.threshold_changes if c.refused] + self.refusals
            if refused and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED  # asked to record, and didn't
        self.replay_problems = self._replay_problems()
        meta = run_metadata()
        if self.no_gate or self.shard is not None:
            meta["gated"] = False
        if self.shard is not None:
            meta["shard"] = self.gate_rules.shard
        if self.replay_problems:
            meta["replay_problems"] = self.replay_problems
        rows = self.rows + self._unscored_rows()
        unfinished = self._unfinished(exitstatus, bool(rows))
        if unfinished:
            meta["unfinished"] = unfinished
        if rows:  # this run owns its report folder: nothing older may pass for its result
            claim_report_dir(self.report_dir, rows)
            self.written = write_reports(rows, self.report_dir, meta, shown=self.shown)
        if unfinished:  # the mark set at the start stays, and says why
            mark_run_unfinished(self.report_dir, unfinished)
        else:
            mark_run_finished(self.report_dir)

    def _unfinished(self, exitstatus: int | pytest.ExitCode, ran: bool) -> str | None:
        """Why this run's report folder holds no whole result (None: it does): the run was
        interrupted or crashed, or it was given the folder and ran no pair."""
        finished = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED,
                    pytest.ExitCode.NO_TESTS_COLLECTED)
        if exitstatus not in finished:
            name = getattr(exitstatus, "name", str(exitstatus)).lower().replace("_", " ")
            return f"the run ended early (pytest exit status {int(exitstatus)}: {name}); " \
                   "its reports, if any, hold only the pairs done by then"
        if not ran and self.config.getoption("report_dir"):
            return "the run given this folder (--report-dir) ran no pair"
        return None

    def _replay_problems(self) -> list[str]:
        """Bad lines, duplicate ids and ids that match no sample of any pair that ran, for
        a --predictions file (checked once, here, over every pair of the run)."""
        predictions = self.config.getoption("predictions")
        replayed = [r for r in self.rows if self.models[r.result.model].engine == "replay"]
        if not predictions or not replayed:
            return []
        from audiogate.engines.replay import ReplayEngine

        ran = {record.id for r in replayed for record in read_samples(
            samples_path(self.report_dir, r.result.model, r.result.dataset))}
        try:
            return ReplayEngine(Path(predictions).resolve()).problems(ran)
        except AudiogateError as exc:
            return [str(exc)]

    def _write_baseline(self, result: PairResult) -> str:
        """Per-sample baseline of an accepted run, beside thresholds.yaml (relative path)."""
        relative = Path("baselines") / result.model / f"{result.dataset}.jsonl"
        records = read_samples(samples_path(self.report_dir, result.model, result.dataset))
        write_baseline(self.thresholds_path.parent / relative,
                       per_sample(records, result.metric), result.metric,
                       excluded=[r.id for r in records if r.excluded],
                       texts=baseline_texts(records, result.metric),
                       metrics=baseline_metrics(records, list(result.metrics)))
        return relative.as_posix()

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The report's path first, a table that fits 120 columns (the wide one with -v),
        then what a person must read: why a pair is not gated or skipped (a failure's reason
        is printed once, under pytest's FAILURES, unless --tb=no hides that section)."""
        if self.is_worker or not (self.rows or self.failures or self.skipped):
            return
        tr = terminalreporter
        verbose = self.config.get_verbosity() > 0
        failures_above = self.config.getoption("tbstyle", "auto") != "no"
        rows = sorted(self.rows + self._unscored_rows(),
                      key=lambda r: (r.result.model, r.result.task, r.result.dataset))
        tr.write_sep("=", "audiogate results")
        written = getattr(self, "written", [])
        html = [p for p in written if p.name == HTML_FILENAME]
        for path in html:
            tr.write_line(f"report: {path}")
        if verbose:
            tr.write_line(table(rows, markdown=False))
            for line in wrap(COLUMN_LEGEND):
                tr.write_line(line)
        else:
            for line in compact_table(rows):
                tr.write_line(line)
            tr.write_line(LEGEND)
            if any(r.result.speed for r in rows):
                tr.write_line(SPEED_LEGEND)
        failing = [r for r in rows if r.status in FAILING]
        for row in rows:
            colour = STATUS_COLOUR.get(row.status, {})
            if row.status in FAILING:
                if not failures_above:
                    for line in pair_lines(row, show_reason=True):
                        tr.write_line(line, **colour)
            elif verbose or row.status in {NOT_GATED_STATUS, "skipped"} or row.result.notes:
                show = verbose or row.status in {NOT_GATED_STATUS, "skipped"}
                for line in pair_lines(row, show_reason=show):
                    tr.write_line(line, **colour)
        if failing and failures_above:
            tr.write_line(f"{len(failing)} pair(s) failed: why is under FAILURES above; which "
                          "utterances moved is in the report", red=True)
        if self.shard is not None:
            for line in wrap(f"--shard {self.gate_rules.shard}: a part of each pair's "
                             "samples, nothing gated; `audiogate report merge` of all the "
                             "shards gives the verdict"):
                tr.write_line(line, yellow=True)
        elif self.no_gate:
            tr.write_line(f"--no-gate: nothing was gated this run ({len(rows)} pair(s) "
                          "measured only)", yellow=True)
        changes = getattr(self, "threshold_changes", [])
        if self.updating:
            written_any = any(c.written for c in changes)
            tr.write_line(f"thresholds {'updated' if written_any else 'unchanged'} in "
                          f"{self.thresholds_path}:")
            for change in changes:
                for line in wrap(change.text, first=f"  {change.kind}: "):
                    tr.write_line(line, red=change.refused)
            for text in self.refusals:
                for line in wrap(text, first="  loosened: "):
                    tr.write_line(line, red=True)
        unused = [e for e in self.thresholds.unused(self.ran_pairs) if e.model in self.model_names
                  and (self.long_form_selected or not self._is_long_form(e.dataset))]
        if unused and self._selected_everything():
            tr.write_line(f"{len(unused)} threshold entr(y/ies) for the selected model(s) "
                          "not used by any test this run:")
            for e in unused:
                tr.write_line(f"  {e.model}/{e.dataset} {e.metric} (line {e.line})")
        for problem in getattr(self, "replay_problems", []):
            for line in wrap(problem, first="predictions: "):
                tr.write_line(line, yellow=True)
        if verbose:
            for path in written:
                if path not in html:
                    tr.write_line(f"report: {path}")
        tr.write_line(counts_line(rows))

    # -- one line per failure in pytest's short test summary -------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]
                                  ) -> Any:
        """pytest's short summary line of a failed pair points to the audiogate results
        instead of repeating the reason: on CI (``$CI`` set) and with ``-vv`` pytest would
        print the whole reason there a second time, untruncated."""
        report: pytest.TestReport = yield
        crash = getattr(report.longrepr, "reprcrash", None)
        pair_id = dict(item.user_properties).get(PAIR_PROPERTY)
        if report.failed and pair_id is not None and crash is not None:
            status = dict(item.user_properties).get(STATUS_PROPERTY, "fail")
            crash.message = f"{pair_id}: {str(status).upper()}, why is in the audiogate results"
        return report

    # -- pytest-benchmark's banner ---------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_report_header(self, config: pytest.Config) -> Any:
        """pytest-benchmark's settings line says nothing about a gate run: it is held back
        here and printed after collection only when a collected test uses its fixture."""
        lines = yield
        plugin = config.pluginmanager.get_plugin("benchmark")
        banner = getattr(plugin, "pytest_report_header", None)
        if banner is None:
            return lines
        self.benchmark_banner = banner(config)
        return [line for line in lines if line != self.benchmark_banner]

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        banner = getattr(self, "benchmark_banner", None)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if banner and reporter is not None and any(
                "benchmark" in getattr(item, "fixturenames", ()) for item in session.items):
            reporter.write_line(banner)


def _short(report: pytest.TestReport) -> str:
    text = str(report.longrepr) if report.longrepr else "failed"
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:2000] if lines else "failed"


def _skip_reason(report: pytest.TestReport) -> str:
    """The reason of a skipped test (pytest keeps it as (file, line, "Skipped: reason"))."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "skipped")


def _mark(node: pytest.Item, status: str) -> None:
    """Every pair's status reaches JUnit XML, also when it never got a result."""
    node.user_properties.append((STATUS_PROPERTY, status))


class Pair:
    """The `pair` fixture's value: one (model, dataset) pair, ready to run and gate."""

    def __init__(self, session: AudiogateSession, model: ModelSpec, dataset: DatasetSpec,
                 node: pytest.Item) -> None:
        self.session, self.model, self.dataset, self.node = session, model, dataset, node
        self.id = f"{model.name}/{dataset.name}"
        node.user_properties.append((PAIR_PROPERTY, self.id))

    def _download(self) -> tuple[list[Any], list[str]]:
        """--download: fetch the dataset (once: fetch locks and skips what is installed)."""
        from audiogate.datasets.fetch import fetch

        s = self.session
        assert self.dataset.fetch is not None
        try:
            sources = s.config.getoption("sources")
            fetch(self.dataset.fetch, s.data_root, base_url=s.config.getoption("mirror"),
                  sources=Path(sources) if sources else None, progress=False)
            return load_dataset_with_notes(self.dataset, s.data_root)
        except AudiogateError as exc:
            self._fail(f"{self.id}: --download could not install {self.dataset.fetch!r} into "
                       f"{s.data_root}: {exc}")

    def _fail(self, message: str) -> NoReturn:
        _mark(self.node, "fail")
        # from None: the message says it all; the error it was made from (raised inside
        # an except block) would otherwise be printed above it, as a traceback chain
        raise pytest.fail.Exception(message, pytrace=False) from None

    @property
    def gated(self) -> bool:
        return self.session.thresholds.is_gated(self.model.name, self.dataset.name)

    def run(self) -> PairResult:
        """Load the data, run the shared engine (or reuse stored outputs), score."""
        s = self.session
        must_run = (self.gated and not s.no_gate) or s.config.getoption("require_gate")
        missing: DatasetMissing | None = None
        try:
            samples, notes = load_dataset_with_notes(self.dataset, s.data_root)
        except DatasetMissing as exc:  # decided below, outside the handler: one message
            missing = exc
        except AudiogateError as exc:  # a dataset file that cannot be read: named
            self._fail(f"{self.id}: {exc}")
        if missing is not None:
            where = f" [data root from {s.data_root_source}]"
            if not must_run:
                _mark(self.node, "skipped")
                pytest.skip(f"{self.id}: not gated, and its data is missing: {missing}{where}")
            if not (s.config.getoption("download") and self.dataset.fetch):
                self._fail(f"{self.id} is gated but its data is missing: {missing}{where}")
            samples, notes = self._download()
        shard = None
        if s.shard is not None:
            shard = shard_info(samples, *s.shard)
            samples = take_shard(samples, *s.shard)
        try:
            store = s.store  # an unreadable store file fails the pair here, named
            engine = s.engine_for(self.model)
        except AudiogateError as exc:
            self._fail(f"{self.id}: {exc}")
        progress = None
        write = s.progress_writer()
        if write is not None:
            progress = Progress(len(samples), self.id, write,
                                interval=s.config.getoption("progress_interval"))
        judge = None
        if judged(self.model, self.dataset):  # its answers are speech: a judge hears them
            try:
                judge = s.judge_for(self.dataset)
            except AudiogateError as exc:
                self._fail(f"{self.id}: {exc}")
        runner = PairRun(self.model, self.dataset, engine, s.data_root, store=store,
                         options=RunOptions(answers_of=s.predictions_from,
                                            prompt=s.config.getoption("prompt"),
                                            lenient=s.config.getoption("mmau_lenient"),
                                            rerun=(s.config.getoption("rerun")
                                                   or s.record_speed),
                                            protocols=s.protocols, judge=judge,
                                            audio_dir=s.audio_dir,
                                            scoring_workers=scoring_workers(s.config),
                                            # the reports are written here, not by
                                            # an xdist worker
                                            keep_shown=not s.is_worker),
                         on_progress=(lambda done, total, reused: progress.update(
                             reused=reused)) if progress else None,
                         on_audio=progress.audio if progress and self.dataset.long_form
                         else None)
        try:
            result, records = runner.run(samples, notes)
        except AudiogateError as exc:
            self._fail(f"{self.id}: {exc}")
        if progress is not None:
            progress.finish()
        result.shard = shard
        write_samples(records, samples_path(s.report_dir, self.model.name, self.dataset.name))
        data = per_sample(records, result.metric)
        s.per_sample[self.id] = data
        s.records[self.id] = records
        if runner.shown is not None:
            s.shown[self.id] = runner.shown
        result.interval = interval(data, result.metric,
                                   n_resamples=s.config.getoption("bootstrap_resamples"))
        result.speed = summarize_speed(
            records, wall_seconds=result.wall_seconds,
            complete=result.reused == 0 and result.inferred == result.score.total,
            n_resamples=s.config.getoption("bootstrap_resamples"))
        if judge is not None:
            speech_result(result, records, speech_metrics(self.model, self.dataset),
                          averages_per_sample(self.dataset, s.protocols),
                          n_resamples=s.config.getoption("bootstrap_resamples"))
        self.node.user_properties += properties(result)
        return result


class Gate:
    """The `gate` fixture's value: the one shared check every gated test calls."""

    def __init__(self, session: AudiogateSession, node: pytest.Item) -> None:
        self.session, self.node = session, node

    def check(self, result: PairResult) -> None:
        s = self.session
        # the gate is the records' last reader: the reports read the per-sample file, so a
        # large pair's records are not held twice while they are written
        records = s.records.pop(result.pair_id, [])
        decision = decide(result, records, s.thresholds, s.gate_rules,
                          record_hint=s.record_hint(result.model, result.dataset),
                          recorded_ids=s.recorded_ids)
        if decision.refused:
            self.node.user_properties.append((REFUSED_PROPERTY, decision.refused))
        row = decision_row(result, decision, s.thresholds,
                           samples_path(s.report_dir, result.model, result.dataset))
        self.node.user_properties.append((RESULT_PROPERTY, json.dumps(row.to_json())))
        _mark(self.node, row.status)
        if row.speed is not None:
            self.node.user_properties.append((SPEED_STATUS_PROPERTY, row.speed["status"]))
        if row.status in {"fail", "error"}:
            word = "ERROR — " if row.status == "error" else ""
            pytest.fail(f"{result.pair_id}: {word}{row.reason}", pytrace=False)
