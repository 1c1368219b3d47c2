"""Benchmarks (one run each, reported, never asserted on time) against real `audiogate
serve` processes (whisper-tiny.en on CPU), the same test-other clips each time:
- requests/s with one replica and with two replicas of the server (auto in flight);
- requests/s at 1, 4, 8, 16, 32 and 64 in flight and with `auto`, on one replica.
The embedded server decodes one request at a time, so `auto` should settle near one
running plus a short queue, and match the best fixed setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiogate.registry.load import model
from tests.engines.test_replicas import Served
from tests.throughput import clips, measure, requests_for, table

MODEL = "whisper-tiny.en-served"
SWEEP = 8  # requests per setting: a serial server runs them one by one at any setting
REPLICAS = 24  # requests for the one-vs-two replicas comparison


@pytest.fixture(scope="module")
def servers() -> list[Served]:
    made = [Served(), Served()]
    yield made  # type: ignore[misc]
    for server in made:
        server.stop()


def test_one_vs_two_replicas(servers: list[Served], shared_data: Path) -> None:
    requests = requests_for(clips(shared_data, ("test-other",)), REPLICAS)
    one = measure(model(MODEL), (servers[0].url,), requests, "auto")
    two = measure(model(MODEL), tuple(s.url for s in servers), requests, "auto")
    print(f"\nreplicas of audiogate serve (whisper-tiny.en), {REPLICAS} test-other clips: one "
          f"{one.per_second:.2f} req/s ({one.seconds:.1f} s), two {two.per_second:.2f} "
          f"req/s ({two.seconds:.1f} s): x{two.per_second / one.per_second:.2f}; "
          f"shares {[r['sent'] for r in two.dispatch['replicas']]}")
    assert one.errors == two.errors == 0


def test_fixed_in_flight_vs_auto(servers: list[Served], shared_data: Path) -> None:
    requests = requests_for(clips(shared_data, ("test-other",)), SWEEP)
    rows = [measure(model(MODEL), (servers[0].url,), requests, s)
            for s in (1, 4, 8, 16, 32, 64, "auto")]
    print(f"\naudiogate serve (whisper-tiny.en), {SWEEP} test-other clips per setting\n\n"
          + table(rows))
    assert all(r.errors == 0 for r in rows)
