"""Live progress for a long (model, dataset) pair.

A pair can run for hours; pytest shows nothing until the test ends. ``Progress`` emits
one line every ``interval`` seconds (and one at the end) through a caller-supplied
``write`` — the terminal reporter's ``write_line`` in the main process, ``sys.__stderr__``
under xdist workers — so it never prints behind pytest's capture and never floods ``-q``.

Line format::

    label: 120/2540 (4.7%) (+80 reused) 3.2 samples/s ETA 13m01s

``120/2540`` counts samples *inferred* in this run against the samples that need
inference (the pair's total minus those reused from the store); ``(+80 reused)`` are
the samples taken from the store on top of that. The rate and ETA are of inferred
samples only, so a rerun that reuses most of a pair does not report an absurd speed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


def format_duration(seconds: float) -> str:
    """``45s``, ``13m01s``, ``2h05m``: short, fixed-width-ish, no locale."""
    s = max(0, math.ceil(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def format_rate(rate: float) -> str:
    """Two significant-ish digits: ``3.2``, ``0.45``, ``0.012`` (slow models stay readable)."""
    if rate >= 1:
        return f"{rate:.1f}"
    return f"{rate:.2g}"


class Progress:
    """Counts finished samples and periodically writes a one-line status.

    The clock is injectable so formatting and throttling are testable without sleeping.
    The rate is inferred samples over the time since the ``Progress`` was created (a
    whole-run average: steadier than a window for an ETA hours long).
    """

    def __init__(
        self,
        total: int,
        label: str,
        write: Callable[[str], None],
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.label = label
        self.interval = interval
        self._write = write
        self._clock = clock
        self._start = clock()
        self._last_emit = self._start
        self.inferred = 0
        self.reused = 0
        self.finished = False

    def update(self, n: int = 1, *, reused: bool = False) -> None:
        """Record ``n`` more finished samples (``reused=True``: taken from the store)."""
        if reused:
            self.reused += n
        else:
            self.inferred += n
        now = self._clock()
        if not self.finished and now - self._last_emit >= self.interval:
            self._last_emit = now
            self._write(self.line(now))

    def finish(self) -> None:
        """Write the final line (once; later calls do nothing)."""
        if self.finished:
            return
        self.finished = True
        self._write(self.line(self._clock(), final=True))

    def line(self, now: float | None = None, *, final: bool = False) -> str:
        """The status line as of ``now`` (default: the clock's current time)."""
        if now is None:
            now = self._clock()
        elapsed = max(0.0, now - self._start)
        todo = max(self.total - self.reused, 0)
        pct = 100.0 * self.inferred / todo if todo else 100.0
        parts = [f"{self.label}: {self.inferred}/{todo} ({pct:.1f}%)"]
        if self.reused:
            parts.append(f"(+{self.reused} reused)")
        rate = self.inferred / elapsed if elapsed > 0 else 0.0
        if self.inferred:
            parts.append(f"{format_rate(rate)} samples/s")
        if final:
            parts.append(f"done in {format_duration(elapsed)}")
        elif rate > 0:
            remaining = max(todo - self.inferred, 0)
            parts.append(f"ETA {format_duration(remaining / rate)}")
        else:
            parts.append("ETA ?")
        return " ".join(parts)
