"""Fields of thresholds.yaml as the gate reads them: a node's line, a finite number, a count.

Shared by the accuracy entries (thresholds.py) and the speed entries (speed_entry.py), so
that neither imports the other's reader.
"""

from __future__ import annotations

import math
from typing import Any

from audiogate.errors import ThresholdsError


def line(node: Any, key: Any = None) -> int:
    """The 1-based line of ``key`` in a loaded mapping (of ``node`` without a key); 0 where
    the YAML loader does not know it."""
    try:
        if key is not None:
            return int(node.lc.key(key)[0]) + 1
        return int(node.lc.line) + 1
    except (AttributeError, KeyError, TypeError):
        return 0


def finite(raw: Any, where: str) -> float:
    """A finite number; booleans (`true` reads as 1.0) and strings are refused."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ThresholdsError(f"{where} must be a number, not {raw!r}")
    value = float(raw)
    if not math.isfinite(value):
        raise ThresholdsError(f"{where} must be a finite number, not {raw!r}")
    return value


def count(raw: Any, where: str) -> int:
    """A non-negative integer (a count of samples)."""
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise ThresholdsError(f"{where} must be a non-negative integer, not {raw!r}")
    return int(raw)
