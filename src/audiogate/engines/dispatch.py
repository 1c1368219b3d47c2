"""How many requests a served engine keeps in flight, and on which replica.

Why adaptive: a server that batches (vLLM) is only as fast as the work it has. Too few
requests in flight leave it idle; too many only wait in its queue (client memory, tail
timeouts). ``auto`` reads the server's own gauges (``/metrics``: requests running and
waiting, at most once a second per replica) and keeps a small queue there: it grows the
limit while nothing waits and the client has filled it, and cuts it back to what runs
plus a short queue when more waits (fast growth until a queue is first seen, slow after).
Without gauges the limit stays at its start.

Replicas: several servers of one model; each request goes to the live replica with the
fewest requests in flight (relative to its own limit under ``auto``).
"""

from __future__ import annotations

import re
import shlex
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from audiogate.errors import UsageError

DEFAULT_START = 8  # the start under auto when the server declares nothing
CEILING = 256  # auto never goes above this per replica (client threads and memory)
READ_EVERY = 1.0  # seconds between two reads of one replica's /metrics
QUEUE_MIN = 1  # auto wants at least this many waiting on the server ...
QUEUE_MAX = 4  # ... and at most max(QUEUE_MAX, running / 8)
GAUGE = re.compile(r"^(?:vllm:|audiogate_)(num_requests_running|num_requests_waiting)"
                   r"(?:\{[^}]*\})?\s+([0-9.eE+-]+)\s*$", re.MULTILINE)


def parse_concurrency(value: str | int | None) -> int | None:
    """``auto`` (or None) -> None; a positive integer -> itself; anything else: ValueError."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    number = int(value)
    if number < 1:
        raise ValueError(f"concurrency must be `auto` or at least 1, not {value!r}")
    return number


def declared_max_seqs(launch: Any) -> int | None:
    """``--max-num-seqs N`` from an entry's launch command (argv list or one string)."""
    argv = shlex.split(launch) if isinstance(launch, str) else [str(a) for a in launch or ()]
    for i, arg in enumerate(argv):
        if arg == "--max-num-seqs" and i + 1 < len(argv) and argv[i + 1].isdigit():
            return int(argv[i + 1])
        if arg.startswith("--max-num-seqs=") and arg.split("=", 1)[1].isdigit():
            return int(arg.split("=", 1)[1])
    return None


def listed_models(url: str) -> list[tuple[Any, ...]]:
    """What GET /v1/models names: (id, root, max_model_len) per model, sorted."""
    try:
        response = httpx.get(f"{url}/v1/models", timeout=10.0)
        listed = response.json().get("data", []) if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError, AttributeError):
        listed = []
    return sorted((m.get("id"), m.get("root"), m.get("max_model_len"))
                  for m in listed if isinstance(m, dict))


def same_models(urls: Sequence[str]) -> None:
    """Replicas must serve the same model: a UsageError naming what each one lists."""
    if len(urls) < 2:
        return
    listed = {url: listed_models(url) for url in urls}
    if len({tuple(v) for v in listed.values()}) > 1:
        raise UsageError("the replicas do not serve the same model (GET /v1/models: "
                         + "; ".join(f"{u} lists {v or 'nothing'}" for u, v in listed.items())
                         + ")")


BUSY = (-1, -1)  # the read got no answer this time


def read_gauges(client: httpx.Client) -> tuple[int, int] | None:
    """(running, waiting) summed over the server's engines; None when it has no such
    gauges; BUSY when the read got no answer."""
    try:
        response = client.get("/metrics", timeout=2.0)
    except httpx.HTTPError:
        return BUSY  # a busy or restarting server: try again at the next read
    if response.status_code != 200:
        return None
    totals = {"num_requests_running": 0.0, "num_requests_waiting": 0.0}
    seen = set()
    for name, value in GAUGE.findall(response.text):
        totals[name] += float(value)
        seen.add(name)
    if len(seen) < 2:
        return None
    return int(totals["num_requests_running"]), int(totals["num_requests_waiting"])


def start_limit(declared: int | None) -> int:
    """Where ``auto`` starts: what the server runs at once plus the queue it may hold."""
    if declared is None:
        return DEFAULT_START
    return min(CEILING, declared + max(QUEUE_MAX, declared // 8))


def next_limit(limit: int, in_flight: int, running: int, waiting: int, full: bool,
               found: bool = False) -> int:
    """One step of ``auto``. ``full``: the client had as many requests in flight as the
    limit allows; ``found``: a queue was seen before (then growth is slow: the capacity
    is near). Requests the server holds in its front end (decoding audio, tokenizing: in
    flight, neither running nor waiting) are not a queue: on vLLM on CPU more of them still
    raise throughput (measured: 128 in flight beat 32), so only the waiting gauge counts."""
    allowed = max(QUEUE_MAX, running // 8)
    if waiting > allowed:
        return max(1, in_flight - (waiting - allowed))
    if waiting < QUEUE_MIN and full:
        return min(CEILING, limit * 2 if not found else limit + max(1, limit // 16))
    return limit


@dataclass
class Replica:
    """One server: its client, its requests in flight, its limit, what it was seen doing."""

    url: str
    client: httpx.Client
    limit: int
    in_flight: int = 0
    down: str | None = None  # why it was dropped
    connection_failures: int = 0  # consecutive
    gauges: bool = True  # until a read shows it has none
    found: bool = False  # a queue was seen on it: its capacity is near the limit
    last_read: float = -1e9
    waiting_max: int | None = None
    limits: list[int] = field(default_factory=list)  # the limit at each request sent
    sent: int = 0


class Dispatcher:
    """The limit of requests in flight (fixed, or ``auto`` per replica) and the choice of
    replica for each attempt. Thread-safe: attempts run in worker threads."""

    def __init__(self, replicas: Sequence[Replica], fixed: int | None) -> None:
        self.replicas = list(replicas)
        self.fixed = fixed
        self.lock = threading.Lock()
        self.full = False  # the run loop has as many requests out as the limit allows

    @property
    def live(self) -> list[Replica]:
        return [r for r in self.replicas if r.down is None]

    def limit(self) -> int:
        """How many requests may be in flight now, over all live replicas."""
        if self.fixed is not None:
            return self.fixed
        return sum(r.limit for r in self.live)

    def pick(self) -> Replica | None:
        """The live replica with the fewest in flight (relative to its limit); counts the
        request as in flight there. None once every replica is down."""
        with self.lock:
            live = self.live
            if not live:
                return None
            replica = min(live, key=lambda r: (r.in_flight / r.limit, -r.limit))
            replica.in_flight += 1
            replica.sent += 1
            replica.limits.append(self.fixed if self.fixed is not None else replica.limit)
            return replica

    def in_flight(self) -> int:
        """Requests in flight now over every replica (a sample's timing records it)."""
        with self.lock:
            return sum(r.in_flight for r in self.replicas)

    def release(self, replica: Replica) -> None:
        with self.lock:
            replica.in_flight -= 1

    def observe(self, now: float | None = None) -> None:
        """Read each live replica's gauges (once READ_EVERY has passed) and, under
        ``auto``, step its limit."""
        now = time.monotonic() if now is None else now
        for replica in self.live:
            if not replica.gauges or now - replica.last_read < READ_EVERY:
                continue
            replica.last_read = now
            gauges = read_gauges(replica.client)
            if gauges is None:
                replica.gauges = False
                continue
            if gauges == BUSY:
                continue
            running, waiting = gauges
            replica.waiting_max = max(waiting, replica.waiting_max or 0)
            if self.fixed is None:
                with self.lock:
                    limit = next_limit(replica.limit, replica.in_flight, running, waiting,
                                       self.full, replica.found)
                    replica.found = replica.found or waiting >= QUEUE_MIN or \
                        limit < replica.limit
                    replica.limit = limit

    def sample_until(self, stop: threading.Event) -> threading.Thread:
        """A thread that reads the gauges every READ_EVERY until ``stop`` is set: on a
        clock of its own, so a read never falls just after a batch of answers (when the
        next requests are still on the wire and the server looks idle)."""
        def loop() -> None:
            while not stop.wait(READ_EVERY) and any(r.gauges for r in self.live):
                self.observe()

        thread = threading.Thread(target=loop, name="audiogate-gauges", daemon=True)
        thread.start()
        return thread

    def stats(self) -> dict[str, Any]:
        """What the report shows: the limit over the run (min / median / max over the
        requests sent), the largest server queue seen, each replica's share."""
        limits = [v for r in self.replicas for v in r.limits]
        waits = [r.waiting_max for r in self.replicas if r.waiting_max is not None]
        out: dict[str, Any] = {
            "concurrency": "auto" if self.fixed is None else self.fixed,
            "limit_min": min(limits) if limits else None,
            "limit_median": statistics.median(limits) if limits else None,
            "limit_max": max(limits) if limits else None,
            "server_waiting_max": max(waits) if waits else None,
        }
        if len(self.replicas) > 1:
            out["replicas"] = [{"url": r.url, "sent": r.sent, "down": r.down}
                               for r in self.replicas]
        return out

    def reset_stats(self, now: float | None = None) -> None:
        """A new run: fresh stats; the first read waits READ_EVERY (nothing sent yet)."""
        now = time.monotonic() if now is None else now
        for replica in self.replicas:
            replica.limits.clear()
            replica.sent = 0
            replica.waiting_max = None
            replica.last_read = now
