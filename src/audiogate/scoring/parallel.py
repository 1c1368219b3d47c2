"""One pool of scoring processes per run, for pairs large enough to be worth it.

Scoring (normalize, tokenize, align under every protocol) is pure Python per sample and
the samples are independent, so a large pair is cut into chunks that worker processes
score; the chunks come back in order, so the records (and every sum made from them) are
the serial path's. The pool is started once, the first time a pair needs it, and reused
by every later pair of the process until it exits (or ``shutdown``). Workers are forked:
they start at once with everything already imported.

Scoring runs after the engine has answered every sample of the pair, so the pool never
competes with an in-process engine that is decoding in the same process; the pytest front
door gives it the cores left per xdist worker.
"""

from __future__ import annotations

import atexit
import gc
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

#: Samples below which a pair is scored in the calling process (a pool is not worth it).
PARALLEL_MIN = 2_000
#: Chunks per worker: a few, so a worker that got the long utterances does not hold the rest.
CHUNKS_PER_WORKER = 4
#: The most samples in one chunk: a worker holds one chunk and its records at a time, so a
#: very large pair costs each worker this much memory, not its share of the pair.
CHUNK_MAX = 1_000

_pool: Executor | None = None
_pool_workers = 0


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _executor(workers: int) -> Executor:
    global _pool, _pool_workers
    if _pool is None or _pool_workers != workers:
        shutdown()
        context = multiprocessing.get_context(
            "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        _pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        _pool_workers = workers
    return _pool


def shutdown() -> None:
    """Stop the pool (the next parallel pair starts a new one)."""
    global _pool, _pool_workers
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
    _pool, _pool_workers = None, 0


atexit.register(shutdown)


def chunks(items: Sequence[Any], workers: int) -> list[Sequence[Any]]:
    """``items`` cut into consecutive chunks, ``CHUNKS_PER_WORKER`` per worker or more
    (at most ``CHUNK_MAX`` items each)."""
    size = max(1, min(CHUNK_MAX, -(-len(items) // (workers * CHUNKS_PER_WORKER))))
    return [items[i:i + size] for i in range(0, len(items), size)]


def map_chunks(function: Callable[..., list[Any]], items: Sequence[Any], workers: int,
               *args: Any) -> Iterator[Any]:
    """``function(chunk, *args)`` over consecutive chunks of ``items`` in the pool, the
    results concatenated in the items' order; in this process when ``workers`` is 1 or the
    items are fewer than ``PARALLEL_MIN``."""
    if workers <= 1 or len(items) < PARALLEL_MIN:
        yield from function(items, *args)
        return
    parts = chunks(items, workers)
    starting = _pool is None or _pool_workers != workers
    executor = _executor(workers)
    if starting:
        # The workers fork on the first submit. With the parent's objects frozen, a
        # worker's garbage collector never writes to them, so the pages that hold the
        # pair stay shared with the parent instead of being copied into every worker.
        gc.freeze()
    try:
        results = executor.map(function, parts, *([arg] * len(parts) for arg in args))
    finally:
        if starting:
            gc.unfreeze()
    for result in results:
        yield from result
