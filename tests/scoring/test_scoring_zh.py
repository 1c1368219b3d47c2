"""Chinese CER normalization must match UltraEval-Audio's scorer entry for entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from audiogate.scoring.alignment import align, corpus_percent
from audiogate.scoring.chinese import chinese_tokens, normalize_chinese

N_ZH_ENTRIES = 60  # recorded entries; a changed count means this file needs a look


@pytest.fixture(scope="module")
def recorded(ground_truth: Path) -> dict[str, Any]:
    """What UltraEval-Audio's scorer produced, recorded by running it."""
    path = ground_truth / "ultraeval_normalization.json"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def zh_pairs(recorded: dict[str, Any]) -> tuple[list[dict[str, Any]], float]:
    """The zh ref/hyp pairs and the corpus CER recorded over them."""
    rows = [p for p in recorded["pairs"] if p.get("lang") == "zh"]
    samples = [p for p in rows if "per_sample_percent" in p]
    (corpus,) = [p["corpus_of_the_above_percent"] for p in rows if "per_sample_percent" not in p]
    return samples, corpus


def test_every_recorded_entry_is_covered(recorded: dict[str, Any]) -> None:
    assert len(recorded["zh"]) == N_ZH_ENTRIES


@pytest.mark.parametrize("index", range(N_ZH_ENTRIES))
def test_matches_ultraeval(recorded: dict[str, Any], index: int) -> None:
    entry = recorded["zh"][index]
    text = entry["input"]
    assert normalize_chinese(text) == entry["normalized"], text
    assert chinese_tokens(text) == entry["tokens"], text


def test_per_sample_cer_matches_ultraeval(
    zh_pairs: tuple[list[dict[str, Any]], float],
) -> None:
    samples, _ = zh_pairs
    assert samples
    for p in samples:
        got = align(chinese_tokens(p["ref"]), chinese_tokens(p["hyp"])).percent
        assert got == pytest.approx(p["per_sample_percent"], rel=1e-12), p


def test_corpus_cer_matches_ultraeval(zh_pairs: tuple[list[dict[str, Any]], float]) -> None:
    samples, corpus = zh_pairs
    alignments = [align(chinese_tokens(p["ref"]), chinese_tokens(p["hyp"])) for p in samples]
    assert corpus_percent(alignments) == pytest.approx(corpus, rel=1e-12)


def test_mixed_latin_and_cjk() -> None:
    """Latin words stay whole tokens beside per-character CJK tokens."""
    assert chinese_tokens("我用iPhone拍照") == ["我", "用", "iphone", "拍", "照"]
    assert chinese_tokens("GDP增长6.5%") == [
        "gdp", "增", "长", "百", "分", "之", "六", "点", "五",
    ]  # fmt: skip


def test_traditional_kept_by_default() -> None:
    """UltraEval-Audio does not convert scripts for zh: 東 and 东 are different characters."""
    assert normalize_chinese("東京是日本的首都") == "東京是日本的首都"
    assert align(chinese_tokens("东京"), chinese_tokens("東京")).percent == 50.0


def test_traditional_converted_when_asked() -> None:
    assert normalize_chinese("東京是日本的首都", to_simplified=True) == "东京是日本的首都"
    assert chinese_tokens("這個價格", to_simplified=True) == ["这", "个", "价", "格"]
    ref, hyp = chinese_tokens("东京"), chinese_tokens("東京", to_simplified=True)
    assert align(ref, hyp).percent == 0.0


def test_punctuation_only_difference_is_zero_cer() -> None:
    ref = chinese_tokens("你好，世界！《红楼梦》是一本书。")
    hyp = chinese_tokens("你好世界 红楼梦是一本书")
    assert align(ref, hyp).percent == 0.0


def test_empty_hypothesis_is_full_error() -> None:
    assert chinese_tokens("") == []
    a = align(chinese_tokens("北京欢迎你"), chinese_tokens(""))
    assert (a.deletions, a.percent) == (5, 100.0)


def test_empty_reference_is_rejected() -> None:
    with pytest.raises(ValueError):
        align(chinese_tokens("。！"), chinese_tokens("你好"))
