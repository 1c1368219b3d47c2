"""Durable per-sample results, so no finished inference is ever lost.

A full run of a large model is hours of GPU time. Every finished sample is committed
to a SQLite file the moment it completes, keyed on everything that determines its
output, so a crash, Ctrl-C, SIGKILL or a rerun with a different ``pytest -n`` reuses
every finished sample and re-infers only what is missing or invalidated.

Concurrency model: each process (pytest-xdist worker) opens its own ``Store`` on the
same file. SQLite's WAL mode lets readers proceed while one writer commits; writers
take the write lock up front (``BEGIN IMMEDIATE``) and wait for each other through
``busy_timeout``. Transactions are one row (or a small batch) long, so waits are
milliseconds. The file must live on a local filesystem: WAL relies on shared memory
and POSIX locks, which network filesystems (NFS, SMB) do not provide reliably.

Pragmas and why:

* ``journal_mode=WAL`` — concurrent readers during writes, and a commit is a single
  append to the WAL: a process killed at any instant leaves each transaction either
  wholly in the WAL (committed) or ignored on recovery. Persistent in the file.
* ``synchronous=NORMAL`` — in WAL mode this is fully durable against *process* death
  (SIGKILL, Ctrl-C, OOM-kill, a CUDA abort): a commit has been written to the OS
  before ``put`` returns. Only an OS crash or power loss can roll back the last few
  commits (never corrupt the file), and the price of that is re-inferring those few
  samples. FULL would add an fsync per sample, serialised across all workers, to
  guard against a case whose cost is seconds of recomputation.
* ``busy_timeout=60000`` — a writer waits up to 60 s for the lock instead of failing
  with "database is locked"; holders keep it for milliseconds, so 60 s only ever
  elapses if another process is wedged.
* ``foreign_keys``/``mmap`` etc. are left at their defaults (not needed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from audiogate.errors import AudiogateError
from audiogate.samples import Output, ProducedAudio, Windows

# 2: runs, and the run that produced each output; 3: how the engine cut the audio
# (windows); 4: the speech an engine produced (its clip's hash and format, the clip kept
# beside the store: results/audio_store.py). Older files are migrated in place.
SCHEMA_VERSION = 4
KEY_VERSION = 1  # bump if the key recipe changes: old rows then simply stop matching
BUSY_TIMEOUT_MS = 60_000
_CHUNK = 500  # keys per SELECT ... IN (...) (well under SQLite's variable limit)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outputs (
    key           TEXT PRIMARY KEY,
    model         TEXT NOT NULL,
    dataset       TEXT NOT NULL,
    sample_id     TEXT NOT NULL,
    text          TEXT,
    error         TEXT,
    seconds       REAL NOT NULL,
    audio_seconds REAL,
    created_at    REAL NOT NULL,
    run_id        TEXT,
    windows       TEXT,
    audio         TEXT
);
CREATE INDEX IF NOT EXISTS outputs_model_dataset ON outputs (model, dataset);
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    model       TEXT NOT NULL,
    dataset     TEXT NOT NULL,
    identity    TEXT NOT NULL,
    started_at  REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS runs_pair ON runs (model, dataset, identity);
"""

_COLUMNS = ("model, dataset, sample_id, text, error, seconds, audio_seconds, created_at, run_id, "
            "windows, audio")


class StoreError(AudiogateError):
    """The store file is unusable (wrong schema version, not a database); names the file."""


# SQLite's primary result codes for a file whose bytes are not a sound database.
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


def _corrupt(exc: sqlite3.Error) -> bool:
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def store_failure(path: Path, exc: sqlite3.Error) -> StoreError:
    """The StoreError for an SQLite error on ``path``: what happened, that the file was
    left as it is, and how to go on. A corrupt file (random bytes, truncated, a damaged
    page: at open, or only when a page is read) is "unreadable"."""
    what = "is unreadable" if _corrupt(exc) else "failed"
    return StoreError(
        f"{path}: the results store {what} ({exc}); the file was left as it is. Go on with "
        "another --store PATH, or without a store (--no-store), or move this file aside "
        "(a new store is then made in its place)")


@dataclass(frozen=True)
class StoredOutput:
    """One finished sample as stored: the raw engine output or its error, plus timing.

    ``model``/``dataset``/``sample_id`` are descriptive only (the key already encodes
    them, and more): they exist so ``--rerun``, ``count`` and a human with ``sqlite3``
    can select rows without recomputing keys.
    """

    model: str
    dataset: str
    sample_id: str
    text: str | None
    error: str | None
    seconds: float  # inference wall time for this sample
    audio_seconds: float | None = None  # duration of the input audio (for real-time factor)
    created_at: float = field(default_factory=time.time)  # unix time of the commit
    run_id: str | None = None  # the pair run that produced it (None: before runs existed)
    windows: Windows | None = None  # how the engine cut the audio (Output.windows)
    audio: dict[str, Any] | None = None  # the speech it produced (ProducedAudio, no bytes)

    @classmethod
    def from_output(
        cls, output: Output, *, model: str, dataset: str, audio_seconds: float | None = None,
        run_id: str | None = None,
    ) -> StoredOutput:
        """Wrap an engine ``Output`` for storing."""
        return cls(
            model=model,
            dataset=dataset,
            sample_id=output.sample_id,
            text=output.text,
            error=output.error,
            seconds=output.seconds,
            audio_seconds=audio_seconds,
            run_id=run_id,
            windows=output.windows,
            audio=None if output.audio is None else
            {k: v for k, v in output.audio.to_json().items() if k != "path"},
        )

    def to_output(self) -> Output:
        """The engine ``Output`` this row was made from (for scoring reused samples)."""
        return Output(
            sample_id=self.sample_id, text=self.text, seconds=self.seconds, error=self.error,
            windows=self.windows,
            audio=None if self.audio is None else ProducedAudio.from_json(self.audio),
        )


def _json_default(value: Any) -> Any:
    """Serialise the few non-JSON types an identity may reasonably hold; refuse the rest.

    Anything else (an object whose repr carries a memory address, a set with no order)
    would give a key that differs on every run — a silent, total cache miss — so it is
    an error instead.
    """
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(
        f"output_key: {type(value).__name__} {value!r} is not JSON-serialisable; "
        "engine identity must hold only str/int/float/bool/None, lists/tuples, dicts, paths"
    )


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and fixed separators: equal values give equal strings."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    )


def output_key(
    engine_identity: Mapping[str, Any],
    task: str,
    prompt: tuple[tuple[str, str], ...] | None,
    dataset: str,
    sample_id: str,
    audio_hash: str | None,
) -> str:
    """sha256 hex of exactly what determines one sample's output.

    ``engine_identity`` carries the model, weights, engine settings and sampling
    parameters (``Engine.identity()``); dict key order does not matter. The audio hash
    makes a re-cut or re-resampled file a different key even when its id is unchanged;
    it is None for engines that never see audio.
    """
    payload = {
        "v": KEY_VERSION,
        "engine": dict(engine_identity),
        "task": task,
        "prompt": None if prompt is None else [list(part) for part in prompt],
        "dataset": dataset,
        "sample_id": sample_id,
        "audio": audio_hash,
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def audio_hash(array: Any) -> str:
    """sha256 hex of the audio as little-endian float32 bytes (~2 ms for 30 s at 16 kHz).

    Converting first means a float64 copy of the same samples hashes the same.
    """
    data = np.ascontiguousarray(array, dtype="<f4")
    return hashlib.sha256(data.data.cast("B")).hexdigest()  # the buffer itself: no copy


def _where(model: str | None, dataset: str | None) -> tuple[str, list[str]]:
    clauses, params = [], []
    if model is not None:
        clauses.append("model = ?")
        params.append(model)
    if dataset is not None:
        clauses.append("dataset = ?")
        params.append(dataset)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _row(row: tuple[Any, ...]) -> StoredOutput:
    *fields, windows, audio = row
    return dataclasses.replace(StoredOutput(*fields),
                               windows=json.loads(windows) if windows else None,
                               audio=json.loads(audio) if audio else None)


class Store:
    """A results file shared by every process of a run; open one ``Store`` per process.

    A ``Store`` may be used from several threads of its process (calls are serialised
    by a lock) but must not cross a fork: each process opens its own.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = conn
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self.journal_mode = ""
        self._failed: StoreError | None = None  # once unreadable, never touched again

    # -- lifecycle ------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating parent dirs, file and schema if needed) the store at ``path``.

        Safe to call from many processes at once on a file that does not exist yet.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; we issue BEGIN IMMEDIATE
        # ourselves so a writer takes the write lock before reading (in WAL mode a
        # read transaction that later upgrades can fail with SQLITE_BUSY at once,
        # without waiting).
        conn = sqlite3.connect(
            str(path),
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = _retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            conn.execute("PRAGMA synchronous = NORMAL")
            store = cls(path, conn)
            # "wal" on a local disk; anything else (a filesystem without shared memory)
            # still works, one process at a time, and is visible here for diagnostics.
            store.journal_mode = str(mode[0]).lower()
            store._init_schema()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise store_failure(path, exc) from exc
        except BaseException:
            conn.close()
            raise
        return store

    def _init_schema(self) -> None:
        with self._write() as conn:
            # statement by statement: executescript() would COMMIT our transaction
            for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                conn.execute(statement)
            rows = conn.execute("SELECT version FROM schema_version").fetchall()
            if rows == [(1,)]:  # version 1 had no runs: its outputs keep run_id NULL
                conn.execute("ALTER TABLE outputs ADD COLUMN run_id TEXT")
                rows = [(2,)]
            if rows == [(2,)]:  # version 2 recorded no windows: its outputs keep NULL
                conn.execute("ALTER TABLE outputs ADD COLUMN windows TEXT")
                rows = [(3,)]
            if rows == [(3,)]:  # version 3 kept no produced speech: its outputs keep NULL
                conn.execute("ALTER TABLE outputs ADD COLUMN audio TEXT")
                conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
                rows = [(SCHEMA_VERSION,)]
            if not rows:
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif rows != [(SCHEMA_VERSION,)]:
                found = ", ".join(str(r[0]) for r in rows)
                raise StoreError(
                    f"{self.path}: results store has schema version {found}, this audiogate "
                    f"uses {SCHEMA_VERSION}; move the file aside (or delete it) to start afresh"
                )

    def close(self) -> None:
        """Close the connection (idempotent). Committed rows are already durable."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- plumbing -------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._failed is not None:
            raise self._failed
        if self._conn is None:
            raise StoreError(f"{self.path}: store is closed")
        if os.getpid() != self._pid:
            raise StoreError(
                f"{self.path}: Store used in a forked process; open a new Store in each process"
            )
        return self._conn

    @contextmanager
    def _sqlite_errors(self) -> Iterator[None]:
        """SQLite errors as a StoreError naming the file. A corrupt file is marked failed:
        this Store neither reads nor writes it again (the user decides what happens to
        it), so every later call says the same."""
        try:
            yield
        except sqlite3.Error as exc:
            failure = store_failure(self.path, exc)
            if _corrupt(exc):
                self._failed = failure
            raise failure from exc

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._sqlite_errors():
            yield self._connection()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction: committed whole, or rolled back whole.

        Rolls back on any exception including KeyboardInterrupt; a SIGKILL mid-way
        leaves an uncommitted WAL tail that SQLite discards on the next open.
        """
        with self._lock, self._sqlite_errors():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- queries --------------------------------------------------------------------

    def get(self, key: str, *, include_errors: bool = False) -> StoredOutput | None:
        """The stored output for ``key``, or None.

        Errored rows count as absent by default: errors are mostly transient (server
        timeout, OOM, a crashed worker), so a rerun should retry them rather than
        freeze a failure into every later run. Pass ``include_errors=True`` to see
        them (reporting, or a run that wants to skip known-bad samples).
        """
        with self._read() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM outputs WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        out = _row(row)
        if out.error is not None and not include_errors:
            return None
        return out

    def get_many(
        self, keys: Iterable[str], *, include_errors: bool = False
    ) -> dict[str, StoredOutput]:
        """``{key: StoredOutput}`` for the keys present (errors skipped unless asked)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, StoredOutput] = {}
        with self._read() as conn:
            for i in range(0, len(wanted), _CHUNK):
                chunk = wanted[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key, {_COLUMNS} FROM outputs WHERE key IN ({marks})"
                for key, *rest in conn.execute(query, chunk):
                    out = _row(tuple(rest))
                    if out.error is None or include_errors:
                        found[key] = out
        return found

    def put(self, key: str, value: StoredOutput) -> None:
        """Commit one finished sample now (replacing any earlier row for ``key``)."""
        self.put_many([(key, value)])

    def put_many(self, items: Iterable[tuple[str, StoredOutput]]) -> None:
        """Commit a small batch in one transaction: all rows land, or none do."""
        rows = [
            (
                key,
                v.model,
                v.dataset,
                v.sample_id,
                v.text,
                v.error,
                float(v.seconds),
                None if v.audio_seconds is None else float(v.audio_seconds),
                float(v.created_at),
                v.run_id,
                None if v.windows is None else json.dumps(v.windows),
                None if v.audio is None else json.dumps(v.audio, sort_keys=True),
            )
            for key, v in items
        ]
        if not rows:
            return
        with self._write() as conn:
            conn.executemany(
                f"INSERT OR REPLACE INTO outputs (key, {_COLUMNS}) "
                f"VALUES ({','.join('?' * (_COLUMNS.count(',') + 2))})",
                rows,
            )

    # -- pair runs ------------------------------------------------------------------

    def begin_run(self, model: str, dataset: str, identity: str) -> tuple[str, bool]:
        """(run id, resumed) for a pair about to run with engine identity ``identity``.

        The newest run of the same pair and identity that never finished (killed, Ctrl-C,
        a crashed worker) is continued; otherwise a new run starts. Outputs carry their
        run id, so an engine that cannot prove its weights reuses only its own run's.
        """
        with self._write() as conn:
            row = conn.execute(
                "SELECT run_id FROM runs WHERE model = ? AND dataset = ? AND identity = ? "
                "AND finished_at IS NULL ORDER BY started_at DESC LIMIT 1",
                (model, dataset, identity)).fetchone()
            if row is not None:
                return str(row[0]), True
            run_id = uuid.uuid4().hex[:12]
            conn.execute("INSERT INTO runs (run_id, model, dataset, identity, started_at) "
                         "VALUES (?, ?, ?, ?, ?)", (run_id, model, dataset, identity,
                                                    time.time()))
            return run_id, False

    def finish_run(self, run_id: str) -> None:
        with self._write() as conn:
            conn.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?",
                         (time.time(), run_id))

    def run_started(self, run_id: str) -> float | None:
        """Unix time a run started (None for unknown ids)."""
        with self._read() as conn:
            row = conn.execute("SELECT started_at FROM runs WHERE run_id = ?",
                               (run_id,)).fetchone()
        return None if row is None else float(row[0])

    def delete(self, model: str | None = None, dataset: str | None = None) -> int:
        """Forget rows (``--rerun``) so they are inferred again; returns how many.

        None matches anything: ``delete(model=m)`` drops every dataset of ``m``,
        ``delete()`` empties the store.
        """
        where, params = _where(model, dataset)
        with self._write() as conn:
            return conn.execute(f"DELETE FROM outputs{where}", params).rowcount

    def count(
        self, model: str | None = None, dataset: str | None = None, *, include_errors: bool = False
    ) -> int:
        """How many rows match (None matches anything); errored rows only if asked,
        consistent with ``get``: this is "how many samples need no inference"."""
        where, params = _where(model, dataset)
        if not include_errors:
            where += (" AND " if where else " WHERE ") + "error IS NULL"
        with self._read() as conn:
            return conn.execute(f"SELECT COUNT(*) FROM outputs{where}", params).fetchone()[0]


def _retry_locked(fn: Any, deadline_s: float = BUSY_TIMEOUT_MS / 1000) -> Any:
    """Run ``fn``, retrying while the database is locked.

    Switching a fresh file to WAL needs an exclusive lock, and SQLite can report
    SQLITE_BUSY for it without consulting the busy handler when several processes
    open a new file at the same instant.
    """
    deadline = time.monotonic() + deadline_s
    delay = 0.005
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
