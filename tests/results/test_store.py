"""The results store: keys, error semantics, and durability under real processes.

Everything here uses a real SQLite file and, for concurrency and crashes, real
subprocesses — the failure modes being guarded (lost rows, "database is locked",
a torn write after SIGKILL) only exist across processes.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from audiogate.results.store import (
    SCHEMA_VERSION,
    Store,
    StoredOutput,
    StoreError,
    audio_hash,
    output_key,
)
from audiogate.samples import Output

pytest_plugins = ["pytester"]

IDENTITY = {
    "model": "Qwen/Qwen2-Audio-7B-Instruct",
    "engine": "vllm",
    "dtype": "bfloat16",
    "sampling": {"temperature": 0.0, "max_tokens": 256},
}
PROMPT = (("audio", ""), ("text", "Transcribe the audio."))


def _key(**overrides: object) -> str:
    args: dict[str, object] = {
        "engine_identity": IDENTITY,
        "task": "asr",
        "prompt": PROMPT,
        "dataset": "librispeech_test_clean",
        "sample_id": "1089-134686-0000",
        "audio_hash": "ab" * 32,
    }
    args.update(overrides)
    return output_key(**args)  # type: ignore[arg-type]


def _out(sample_id: str = "s1", text: str | None = "hello", error: str | None = None):
    return StoredOutput(
        model="m",
        dataset="d",
        sample_id=sample_id,
        text=text,
        error=error,
        seconds=0.25,
        audio_seconds=3.5,
    )


# -- keys ------------------------------------------------------------------------------


def test_key_is_stable_and_ignores_dict_order() -> None:
    reordered = {
        "sampling": {"max_tokens": 256, "temperature": 0.0},
        "dtype": "bfloat16",
        "engine": "vllm",
        "model": "Qwen/Qwen2-Audio-7B-Instruct",
    }
    assert _key() == _key()
    assert _key() == _key(engine_identity=reordered)
    assert len(_key()) == 64 and int(_key(), 16) >= 0


@pytest.mark.parametrize(
    "override",
    [
        {"engine_identity": {**IDENTITY, "model": "other/model"}},
        {"engine_identity": {**IDENTITY, "sampling": {"temperature": 0.7, "max_tokens": 256}}},
        {"engine_identity": {**IDENTITY, "tensor_parallel": 2}},
        {"task": "mmau"},
        {"prompt": None},
        {"prompt": (("audio", ""), ("text", "Transcribe the audio"))},
        {"prompt": (("text", "Transcribe the audio."), ("audio", ""))},  # order matters
        {"dataset": "librispeech_test_other"},
        {"sample_id": "1089-134686-0001"},
        {"audio_hash": "cd" * 32},
        {"audio_hash": None},
    ],
)
def test_key_changes_with_each_input(override: dict[str, object]) -> None:
    assert _key(**override) != _key()


def test_key_accepts_paths_and_refuses_unstable_values() -> None:
    with_path = {**IDENTITY, "weights": Path("/models/qwen")}
    assert _key(engine_identity=with_path) == _key(
        engine_identity={**IDENTITY, "weights": "/models/qwen"}
    )
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        _key(engine_identity={**IDENTITY, "engine": object()})
    with pytest.raises(TypeError):
        _key(engine_identity={**IDENTITY, "stops": {"a", "b"}})  # sets have no order


def test_audio_hash() -> None:
    rng = np.random.default_rng(0)
    audio = rng.standard_normal(16_000 * 30).astype(np.float32)
    h = audio_hash(audio)
    assert len(h) == 64
    assert audio_hash(audio.copy()) == h
    assert audio_hash(audio.astype(np.float64)) == h  # same samples, same hash
    changed = audio.copy()
    changed[12345] += 1e-3
    assert audio_hash(changed) != h
    assert audio_hash(audio[:-1]) != h
    assert audio_hash(audio[::2]) == audio_hash(np.ascontiguousarray(audio[::2]))
    t0 = time.perf_counter()
    for _ in range(10):
        audio_hash(audio)
    assert (time.perf_counter() - t0) / 10 < 0.05  # cheap: 30 s of audio in well under 50 ms


# -- basic operations -------------------------------------------------------------------


def test_open_creates_dirs_schema_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "results.sqlite"
    with Store.open(path) as store:
        assert store.journal_mode == "wal"
        assert store.count() == 0
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    conn.close()
    Store.open(path).close()  # reopening an existing store is fine and adds no version row
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 1
    conn.close()


def test_wrong_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 999")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"results\.sqlite.*schema version 999"):
        Store.open(path)


def test_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"results\.sqlite"):
        Store.open(path)


def test_put_get_roundtrip(tmp_path: Path) -> None:
    with Store.open(tmp_path / "r.sqlite") as store:
        assert store.get("missing") is None
        value = StoredOutput(
            model="m",
            dataset="d",
            sample_id="id-1",
            text="héllo 你好\nworld",
            error=None,
            seconds=1.5,
            audio_seconds=12.25,
            created_at=1_700_000_000.5,
        )
        store.put("k1", value)
        assert store.get("k1") == value
        # INSERT OR REPLACE: the latest value wins, still one row
        newer = StoredOutput(
            model="m", dataset="d", sample_id="id-1", text="bye", error=None, seconds=2.0
        )
        store.put("k1", newer)
        assert store.get("k1") == newer
        assert store.count() == 1
    with Store.open(tmp_path / "r.sqlite") as store:  # survives reopening
        assert store.get("k1") == newer


def test_output_conversion() -> None:
    out = Output(sample_id="x", text="t", seconds=0.5)
    stored = StoredOutput.from_output(out, model="m", dataset="d", audio_seconds=2.0)
    assert (stored.model, stored.dataset, stored.audio_seconds) == ("m", "d", 2.0)
    assert stored.to_output() == out


def test_errors_are_absent_by_default(tmp_path: Path) -> None:
    with Store.open(tmp_path / "r.sqlite") as store:
        store.put("ok", _out("a"))
        store.put("bad", _out("b", text=None, error="EngineError: timeout after 600 s"))
        assert store.get("bad") is None
        got = store.get("bad", include_errors=True)
        assert got is not None and got.error == "EngineError: timeout after 600 s"
        assert got.text is None
        assert set(store.get_many(["ok", "bad", "nope"])) == {"ok"}
        assert set(store.get_many(["ok", "bad", "nope"], include_errors=True)) == {"ok", "bad"}
        assert store.count() == 1
        assert store.count(include_errors=True) == 2
        # a retry that succeeds replaces the error
        store.put("bad", _out("b", text="fixed"))
        fixed = store.get("bad")
        assert fixed is not None and fixed.text == "fixed" and fixed.error is None


def test_get_many_large_and_duplicates(tmp_path: Path) -> None:
    with Store.open(tmp_path / "r.sqlite") as store:
        store.put_many([(f"k{i}", _out(f"s{i}", text=f"t{i}")) for i in range(1234)])
        keys = [f"k{i}" for i in range(0, 1300)] + ["k5", "k5"]
        got = store.get_many(keys)
        assert len(got) == 1234
        assert got["k1233"].text == "t1233"
        assert store.get_many([]) == {}


def test_delete_and_count(tmp_path: Path) -> None:
    with Store.open(tmp_path / "r.sqlite") as store:
        for model in ("m1", "m2"):
            for dataset in ("d1", "d2"):
                store.put_many(
                    (
                        f"{model}/{dataset}/{i}",
                        StoredOutput(model, dataset, str(i), "t", None, 0.1),
                    )
                    for i in range(10)
                )
        assert store.count() == 40
        assert store.count("m1") == 20
        assert store.count(dataset="d2") == 20
        assert store.count("m1", "d2") == 10
        assert store.delete("m1", "d2") == 10
        assert store.count("m1", "d2") == 0 and store.count("m1", "d1") == 10
        assert store.delete(model="m2") == 20
        assert store.count() == 10
        assert store.delete() == 10
        assert store.count() == 0


def test_closed_store_refuses_use(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "r.sqlite")
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.get("k")


def test_failed_batch_leaves_nothing(tmp_path: Path) -> None:
    """A batch is one transaction: an error half-way commits none of it."""
    with Store.open(tmp_path / "r.sqlite") as store:
        bad = StoredOutput("m", "d", "x", "t", None, seconds="not a number")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            store.put_many([("a", _out("a")), ("b", bad)])
        store.put_many([("a", _out("a")), ("b", _out("b"))])
        assert store.count() == 2


def test_threads_share_one_store(tmp_path: Path) -> None:
    with Store.open(tmp_path / "r.sqlite") as store:

        def work(t: int) -> None:
            for i in range(100):
                store.put(f"t{t}-{i}", _out(f"{t}-{i}"))
                store.get(f"t{t}-{i}")

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert store.count() == 400


# -- many processes -------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from audiogate.results.store import Store, StoredOutput

    path = Path(sys.argv[1])
    worker, n, overlap = (int(a) for a in sys.argv[2:5])
    with Store.open(path) as store:
        for i in range(n):
            store.put(f"w{worker}-{i}", StoredOutput("m", "d", f"w{worker}-{i}",
                      f"text {worker} {i}", None, 0.01 * i, 1.0))
            if i < overlap:
                store.put(f"shared-{i}", StoredOutput("m", "d", f"shared-{i}",
                          f"shared text {i}", None, 0.5))
    print("done", flush=True)
    """
)


def test_four_processes_write_one_store(tmp_path: Path) -> None:
    """4 processes x (500 own + 50 shared keys) on a fresh file, while this process reads."""
    path = tmp_path / "shared" / "results.sqlite"  # does not exist yet: all race to create it
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(w), "500", "50"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    seen: list[int] = []
    reader_errors: list[BaseException] = []
    try:
        # read concurrently with the writers: counts only ever grow, nothing raises
        while not path.exists():
            time.sleep(0.01)
        with Store.open(path) as reader:
            while any(p.poll() is None for p in procs):
                try:
                    seen.append(reader.count())
                    reader.get_many([f"w0-{i}" for i in range(500)])
                except BaseException as exc:  # pragma: no cover - reported below
                    reader_errors.append(exc)
                    break
                time.sleep(0.005)
        results = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert out.strip() == "done"
    assert not reader_errors, reader_errors
    assert seen == sorted(seen), "row count went backwards while writers wrote"

    with Store.open(path) as store:
        assert store.count() == 4 * 500 + 50
        own = store.get_many([f"w{w}-{i}" for w in range(4) for i in range(500)])
        assert len(own) == 2000
        assert all(v.text == f"text {k[1]} {k.split('-')[1]}" for k, v in own.items())
        shared = store.get_many([f"shared-{i}" for i in range(50)])
        assert {v.text for v in shared.values()} == {f"shared text {i}" for i in range(50)}
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM outputs").fetchone() == (
        2050,
        2050,
    )
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from audiogate.results.store import Store, StoredOutput

    path, batch = Path(sys.argv[1]), int(sys.argv[2])
    store = Store.open(path)
    i = 0
    while True:
        rows = [(f"k{j}", StoredOutput("m", "d", f"k{j}", "x" * 2000 + str(j), None, 0.1))
                for j in range(i, i + batch)]
        store.put_many(rows)
        i += batch
        print(i, flush=True)   # reported only after the commit returned
    """
)


@pytest.mark.parametrize("batch", [1, 7])
def test_sigkill_loses_no_committed_row(tmp_path: Path, batch: int) -> None:
    path = tmp_path / "results.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path), str(batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reported = 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            reported = int(line)
            if reported >= 300:
                break
        # kill while it is still writing: most likely mid-transaction
        os.kill(proc.pid, signal.SIGKILL)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, err
    for line in rest.split():
        reported = int(line)  # commits that printed before the kill landed
    assert reported >= 300

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with Store.open(path) as store:
        committed = store.count()
        assert committed >= reported
        assert committed % batch == 0, "a batch was partly committed"
        got = store.get_many([f"k{j}" for j in range(reported)])
        assert len(got) == reported
        assert all(v.text == "x" * 2000 + k[1:] for k, v in got.items())
        store.put("after", _out("after"))  # still writable
        assert store.get("after") is not None


def test_windows_roundtrip_and_a_version_2_store_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)  # the version-2 layout: no windows column
    conn.executescript(
        "CREATE TABLE schema_version (version INTEGER NOT NULL);"
        "INSERT INTO schema_version VALUES (2);"
        "CREATE TABLE outputs (key TEXT PRIMARY KEY, model TEXT NOT NULL, dataset TEXT NOT NULL,"
        " sample_id TEXT NOT NULL, text TEXT, error TEXT, seconds REAL NOT NULL,"
        " audio_seconds REAL, created_at REAL NOT NULL, run_id TEXT);"
        "INSERT INTO outputs VALUES ('old', 'm', 'd', 'a', 'kept', NULL, 1.0, 2.0, 5.0, NULL);")
    conn.commit()
    conn.close()
    with Store.open(path) as store:
        old = store.get("old")
        assert old is not None and old.text == "kept" and old.windows is None
        out = Output("b", "long text", 3.0, windows=[[0.0, 30.0], [27.5, 61.2]])
        store.put("new", StoredOutput.from_output(out, model="m", dataset="d"))
    with Store.open(path) as store:
        new = store.get("new")
        assert new is not None and new.to_output() == out
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


# -- a damaged store file ---------------------------------------------------------------

PAGE = 4096  # SQLite's default page size (every store here is made with it)
CHOICES = ("another --store PATH", "--no-store", "move this file aside")


def _filled(path: Path, rows: int, start: int = 0) -> None:
    """``rows`` outputs of another model, ~400 bytes each: a store of many pages."""
    with Store.open(path) as store:
        store.put_many([(f"filler-{i}", _out(f"f{i}", text="filler text " * 30))
                        for i in range(start, start + rows)])


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_unreadable(message: str, path: Path) -> None:
    assert message.startswith(f"{path}: the results store is unreadable (")
    assert "the file was left as it is" in message
    assert all(choice in message for choice in CHOICES), message


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def _truncated(path: Path) -> None:
    _filled(path, 3000)
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)


@pytest.mark.parametrize("damage", [_random_bytes, _truncated], ids=["random-bytes",
                                                                     "truncated"])
def test_a_store_unreadable_at_open_is_named_and_left_as_it_is(
        tmp_path: Path, damage: object) -> None:
    path = tmp_path / "store.sqlite"
    damage(path)  # type: ignore[operator]
    before = _digest(path)
    with pytest.raises(StoreError) as raised:
        Store.open(path)
    _assert_unreadable(str(raised.value), path)
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.sqlite"]


def test_a_damaged_page_read_mid_run_stops_every_later_use(tmp_path: Path) -> None:
    """The store opens (its first pages are sound); a page in the middle is damaged and
    only a read that reaches it fails. From then on this Store touches the file no more:
    no row is written into a damaged database."""
    path = tmp_path / "store.sqlite"
    _filled(path, 1500)
    with Store.open(path) as store:
        store.put("wanted", _out("wanted", text="the sample this run needs"))
    _filled(path, 1500, start=1500)
    data = path.read_bytes()
    page = data.index(b"the sample this run needs") // PAGE
    assert 0 < page < len(data) // PAGE - 1  # in the middle of the file
    with path.open("r+b") as f:
        f.seek(page * PAGE)
        f.write(os.urandom(PAGE))
    before = _digest(path)

    store = Store.open(path)
    assert store.get("filler-0") is not None  # sound pages still read
    with pytest.raises(StoreError) as raised:
        store.get("wanted")
    _assert_unreadable(str(raised.value), path)
    for later in (lambda: store.put("new", _out("new")), lambda: store.count(),
                  lambda: store.begin_run("m", "d", "identity")):
        with pytest.raises(StoreError) as again:
            later()
        assert str(again.value) == str(raised.value)
    store.close()
    assert _digest(path) == before


def test_a_zero_length_store_is_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    path.touch()
    with Store.open(path) as store:
        store.put("k", _out("k"))
    with Store.open(path) as store:
        got = store.get("k")
        assert got is not None and got.text == "hello"


# -- the pytest front door: a damaged store fails the pair with the message, no traceback

def _predictions(project: pytest.Pytester, shared_data: Path) -> Path:
    """The references of the real test-clean slice, replayed (no model: a run takes a
    second)."""
    from audiogate.datasets import load_dataset
    from audiogate.registry import load as registry

    samples = load_dataset(registry.dataset("librispeech-test-clean"), shared_data)
    predictions = project.path / "predictions.jsonl"
    predictions.write_text("".join(f'{{"id": "{s.id}", "prediction": "{s.reference}"}}\n'
                                   for s in samples), encoding="utf-8")
    return predictions


def _replay(pytester: pytest.Pytester, shared_data: Path, predictions: Path,
            store: Path) -> pytest.RunResult:
    return pytester.runpytest(
        "-k", "librispeech-test-clean", "--model=replay", f"--predictions={predictions}",
        f"--data-root={shared_data}", f"--store={store}", "-p", "no:cacheprovider",
        "-p", "no:randomly")


def _damaged_mid_file(pytester: pytest.Pytester, shared_data: Path, predictions: Path,
                      path: Path) -> None:
    """A real store of a finished run of this pair, amid other rows; then the page that
    holds this pair's first stored output is overwritten with random bytes."""
    _filled(path, 1500)
    _replay(pytester, shared_data, predictions, path).assert_outcomes(passed=1)
    _filled(path, 1500, start=1500)
    data = path.read_bytes()
    page = data.index(b"1089-134686-0000") // PAGE
    with path.open("r+b") as f:
        f.seek(page * PAGE)
        f.write(os.urandom(PAGE))


@pytest.mark.parametrize("damage", ["random-bytes", "truncated", "page-read-mid-run"])
def test_the_plugin_names_an_unreadable_store_and_leaves_it(
        project: pytest.Pytester, shared_data: Path, damage: str) -> None:
    predictions = _predictions(project, shared_data)
    path = project.path / "store.sqlite"
    if damage == "random-bytes":
        _random_bytes(path)
    elif damage == "truncated":
        _truncated(path)
    else:
        _damaged_mid_file(project, shared_data, predictions, path)
    size = path.stat().st_size
    result = _replay(project, shared_data, predictions, path)
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    assert "Traceback" not in out and "sqlite3." not in out and "raise " not in out, out
    assert "The above exception" not in out and "During handling" not in out, out
    summary = next(x for x in out.splitlines()  # the reason, once, under FAILURES
                   if x.startswith("replay/librispeech-test-clean: "))
    assert f"{path}: the results store is unreadable (" in summary
    assert all(choice in summary for choice in CHOICES), summary
    assert path.is_file() and path.stat().st_size >= size  # never removed nor replaced
