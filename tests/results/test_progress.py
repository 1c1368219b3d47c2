"""Progress lines: formatting, rate/ETA of inferred samples only, throttling (fake clock)."""

from __future__ import annotations

import pytest

from audiogate.results.progress import Progress, format_duration, format_rate


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _progress(total: int, interval: float = 10.0) -> tuple[Progress, FakeClock, list[str]]:
    clock, lines = FakeClock(), []
    return Progress(total, "qwen2-audio/librispeech", lines.append, interval, clock), clock, lines


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.2, "1s"), (45, "45s"), (59.5, "1m00s"), (781, "13m01s"), (3600, "1h00m"),
     (7530, "2h05m"), (-3, "0s")],
)  # fmt: skip
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("rate", "text"), [(3.21, "3.2"), (42.0, "42.0"), (0.456, "0.46"), (0.0123, "0.012")]
)
def test_format_rate(rate: float, text: str) -> None:
    assert format_rate(rate) == text


def test_line_rate_and_eta() -> None:
    p, clock, lines = _progress(2620)
    clock.t += 37.5
    p.update(120)
    # 120 samples in 37.5 s = 3.2/s; 2500 left -> 781.25 s -> 13m02s (ceil)
    assert lines == ["qwen2-audio/librispeech: 120/2620 (4.6%) 3.2 samples/s ETA 13m02s"]


def test_reused_samples_are_counted_apart_and_do_not_inflate_rate() -> None:
    p, clock, lines = _progress(2620)
    p.update(80, reused=True)  # from the store, instantly
    assert lines == []  # no time has passed: throttled
    clock.t += 40.0
    p.update(128)
    # to infer: 2620 - 80 = 2540; 128 in 40 s = 3.2/s; 2412 left -> 753.75 s -> 12m34s
    assert lines == [
        "qwen2-audio/librispeech: 208/2620 (7.9%): 80 reused, 128 inferred; 3.2 samples/s "
        "ETA 12m34s"
    ]


def test_throttled_to_one_line_per_interval() -> None:
    p, clock, lines = _progress(1000, interval=10.0)
    for _ in range(100):  # one sample every 0.5 s for 50 s
        clock.t += 0.5
        p.update()
    assert len(lines) == 5  # at 10, 20, 30, 40, 50 s
    assert lines[0].startswith("qwen2-audio/librispeech: 20/1000 (2.0%) 2.0 samples/s")
    assert lines[-1] == "qwen2-audio/librispeech: 100/1000 (10.0%) 2.0 samples/s ETA 7m30s"


def test_no_rate_yet_and_unknown_eta() -> None:
    p, clock, lines = _progress(10, interval=5)
    clock.t += 6
    p.update(3, reused=True)
    assert lines == ["qwen2-audio/librispeech: 3/10 (30.0%): 3 reused, 0 inferred; ETA ?"]


def test_finish_writes_once_even_if_throttled() -> None:
    p, clock, lines = _progress(4, interval=10.0)
    p.update(1, reused=True)
    clock.t += 2.0
    p.update(3)
    assert lines == []
    p.finish()
    p.finish()
    p.update()  # late updates are counted but print nothing
    assert lines == [
        "qwen2-audio/librispeech: 4/4 done: 1 reused, 3 inferred; 1.5 samples/s, in 2s"]


def test_everything_reused() -> None:
    p, _, lines = _progress(50)
    p.update(50, reused=True)
    p.finish()
    assert lines == ["qwen2-audio/librispeech: 50/50 done: 50 reused, 0 inferred; in 0s"]


def test_slow_model_hours() -> None:
    p, clock, lines = _progress(3000, interval=60)
    clock.t += 600
    p.update(30)  # 0.05 samples/s -> 2970 left -> 59400 s
    assert lines == ["qwen2-audio/librispeech: 30/3000 (1.0%) 0.05 samples/s ETA 16h30m"]
