"""Ranking a run against its baseline, and per-group scores, on known counts."""

from __future__ import annotations

import pytest

from audiogate.results.compare import NO_GROUP, Utterance, compare, corpus_score, groups


def utts(rows: dict[str, tuple[int, int]], meta: dict[str, dict[str, str]] | None = None
         ) -> dict[str, Utterance]:
    return {i: Utterance(i, e, n, meta=(meta or {}).get(i, {})) for i, (e, n) in rows.items()}


def test_worst_regression_first_ties_by_rate_then_id_then_improvements() -> None:
    base = utts({"a": (0, 10), "b": (1, 4), "c": (0, 20), "d": (3, 10), "e": (2, 10),
                 "f": (0, 5), "gone": (0, 5)})
    cand = utts({"a": (2, 10), "b": (3, 4), "c": (2, 20), "d": (0, 10), "e": (1, 10),
                 "f": (0, 5), "new": (1, 5)})
    result = compare(base, cand)
    # +2 each: b's rate moved by 50 points, a's by 20, c's by 10
    assert [c.id for c in result.regressions] == ["b", "a", "c"]
    assert [(c.id, c.delta) for c in result.improvements] == [("d", -3), ("e", -1)]
    assert [c.id for c in result.changes] == ["b", "a", "c", "d", "e"]
    assert result.unchanged == 1
    assert (result.only_in_base, result.only_in_cand) == (["gone"], ["new"])


def test_groups_worst_first_with_change_on_common_ids() -> None:
    meta = {"a": {"speaker": "s1"}, "b": {"speaker": "s1"}, "c": {"speaker": "s2"},
            "d": {}}
    cand = utts({"a": (2, 10), "b": (0, 10), "c": (1, 20), "d": (5, 10)}, meta)
    base = utts({"a": (1, 10), "c": (1, 20), "d": (5, 10)})
    rows = groups(cand, "speaker", "wer", base)
    assert [(g.value, g.n) for g in rows] == [(NO_GROUP, 1), ("s1", 2), ("s2", 1)]
    s1 = rows[1]
    assert s1.score == pytest.approx(10.0)  # 2 / 20 over both utterances
    assert s1.base_score == pytest.approx(10.0) and s1.delta == pytest.approx(10.0)  # a only
    assert rows[2].delta == pytest.approx(0.0)


def test_accuracy_groups_lowest_first() -> None:
    meta = {i: {"task": t} for i, t in zip("abcd", ["sound", "sound", "music", "speech"],
                                          strict=True)}
    cand = utts({"a": (0, 1), "b": (1, 1), "c": (1, 1), "d": (0, 1)}, meta)
    rows = groups(cand, "task", "acc")
    assert [(g.value, g.score) for g in rows] == [("music", 0.0), ("sound", 50.0),
                                                  ("speech", 100.0)]
    assert corpus_score(list(cand.values()), "acc") == 50.0
    assert corpus_score([], "wer") is None
