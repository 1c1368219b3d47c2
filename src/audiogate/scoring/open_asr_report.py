"""How the Open ASR Leaderboard reports its numbers (``normalizer/eval_utils.py``
``score_results``): RTFx, and the average over datasets.

A dataset's WER is its corpus value rounded to 2 decimals (the profile's ``round``); what
it averages are those rounded values, so the average can differ from the mean of the
unrounded ones.
"""

from __future__ import annotations

from collections.abc import Sequence


def leaderboard_rtfx(durations: Sequence[float], times: Sequence[float]) -> float | None:
    """A dataset's RTFx: Σ audio seconds / Σ per-sample inference seconds, rounded to 4
    digits; none unless every sample has both (a sample's time is its batch's wall time
    divided by the batch size)."""
    if not durations or not (all(times) and all(durations)):
        return None
    return round(sum(durations) / sum(times), 4)


def table_rtfx(audio_seconds: Sequence[float], inference_seconds: Sequence[float]
               ) -> float | None:
    """The public table's RTFx column: total audio / total time over a model's datasets,
    rounded to 2 digits."""
    total = sum(inference_seconds)
    return round(sum(audio_seconds) / total, 2) if total else None


def average_wer(dataset_wers: Sequence[float]) -> float:
    """The table's average WER: the mean of the datasets' rounded WERs, rounded to 2."""
    if not dataset_wers:
        raise ValueError("no dataset WER to average")
    return round(sum(dataset_wers) / len(dataset_wers), 2)
