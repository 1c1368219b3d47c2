"""Live progress for a long (model, dataset) pair.

A pair can run for hours; pytest shows nothing until the test ends. ``Progress`` emits
one line every ``interval`` seconds (and one at the end) through a caller-supplied
``write`` — the terminal reporter's ``write_line`` in the main process, ``sys.__stderr__``
under xdist workers — so it never prints behind pytest's capture and never floods ``-q``.

Line format::

    label: 208/2620 (7.9%): 80 reused, 128 inferred; 3.2 samples/s ETA 12m34s
    label: 6/6 done: 5 reused, 1 inferred; 0.5 samples/s, in 8s

Counts are of the pair's samples: done (from the store or inferred now) of the total. The
rate and ETA are of inferred samples only, so a rerun that reuses most of a pair does not
report an absurd speed.
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
        done = self.inferred + self.reused
        rate = self.inferred / elapsed if elapsed > 0 else 0.0
        counts = (f"{self.reused} reused, {self.inferred} inferred" if self.reused
                  else f"{self.inferred} inferred")
        speed = [f"{format_rate(rate)} samples/s"] if self.inferred else []
        if final:
            return (f"{self.label}: {done}/{self.total} done: {counts}; "
                    + ", ".join([*speed, f"in {format_duration(elapsed)}"]))
        pct = 100.0 * done / self.total if self.total else 100.0
        head = f"{self.label}: {done}/{self.total} ({pct:.1f}%)"
        if self.reused:
            head += f": {counts};"
        if rate > 0:
            remaining = max(self.total - done, 0)
            eta = f"ETA {format_duration(remaining / rate)}"
        else:
            eta = "ETA ?"
        return " ".join([head, *speed, eta])
