"""Requests in batches for in-process models: sorted by audio length, answered in order.

Why sorted: a batch is as slow as its longest member (padded audio, the longest answer),
so batching clips of similar length wastes the least. Requests are read a pool at a time
(``POOL_BATCHES`` batches' worth, so a long run never holds all its audio at once), each
pool is split by ``group`` (requests that must not share a batch: Whisper's short and
long-form decoding), sorted longest first within a group, cut into batches, and the
outputs of the pool are yielded in the order the requests came (sample order).

A batch that raises is retried one request at a time, so one bad clip is one failed
sample and its neighbours still get their text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from itertools import islice

from audiogate.samples import BATCH_SHARE, DECODE, Output, Request, Timing

POOL_BATCHES = 4  # batches read ahead: what an interrupted run may have to infer again

InferBatch = Callable[[list[Request]], list[Output]]


def batch_timing(seconds: float, size: int) -> Timing:
    """A sample's timing in a batch of ``size`` that took ``seconds``: the batch's time
    divided by its size, as the Open ASR Leaderboard divides it (transformers/run_eval.py:
    runtime / minibatch_size per sample); a batch of one is that sample's decode time."""
    return Timing(seconds / size, BATCH_SHARE if size > 1 else DECODE, in_flight=size,
                  batch=size)


def audio_length(request: Request) -> int:
    return 0 if request.audio is None else len(request.audio)


def plan_batches(pool: list[Request], size: int, *, sort: bool = True,
                 group: Callable[[Request], Hashable] | None = None) -> list[list[int]]:
    """Indices into ``pool`` of each batch: by group, longest first when ``sort``."""
    groups: dict[Hashable, list[int]] = {}
    for index, request in enumerate(pool):
        groups.setdefault(None if group is None else group(request), []).append(index)
    batches: list[list[int]] = []
    for members in groups.values():
        if sort:
            members = sorted(members, key=lambda i: -audio_length(pool[i]))
        batches += [members[i:i + size] for i in range(0, len(members), size)]
    return batches


def run_batched(requests: Iterable[Request], size: int, infer: InferBatch, label: str, *,
                sort: bool = True, group: Callable[[Request], Hashable] | None = None
                ) -> Iterator[Output]:
    """One ``Output`` per request, in request order; ``infer`` gets batches of at most
    ``size`` and returns one Output per request, in the batch's order."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    source = iter(requests)
    while pool := list(islice(source, size * POOL_BATCHES)):
        answered: dict[int, Output] = {}
        for indices in plan_batches(pool, size, sort=sort, group=group):
            outputs = _infer_safely([pool[i] for i in indices], infer, label)
            answered.update(zip(indices, outputs, strict=True))
        yield from (answered[i] for i in range(len(pool)))


def _infer_safely(batch: list[Request], infer: InferBatch, label: str) -> list[Output]:
    started = time.perf_counter()
    try:
        outputs = infer(batch)
        if len(outputs) != len(batch):
            raise RuntimeError(f"{len(outputs)} outputs for a batch of {len(batch)}")
        return outputs
    except Exception as exc:
        if len(batch) > 1:  # find the request that fails; the others get their text
            return [out for request in batch for out in _infer_safely([request], infer, label)]
        return [Output(batch[0].sample.id, None, time.perf_counter() - started,
                       error=f"{label} failed: {type(exc).__name__}: {exc}")]
