"""The sample split of `--shard K/N`: stable, disjoint, covering, independent of order."""

from __future__ import annotations

import pytest

from audiogate.errors import AudiogateError
from audiogate.samples import Sample, parse_shard, shard_info, shard_of, take_shard


def samples(ids: list[str]) -> list[Sample]:
    return [Sample(i, "ref", None) for i in ids]


def test_the_shard_of_an_id_is_fixed_by_its_hash() -> None:
    # sha256 of the id, first 8 bytes big-endian, mod N, + 1: the same on every machine
    assert [shard_of("1089-134686-0000", n) for n in (1, 2, 3, 4)] == [1, 1, 2, 1]
    assert [shard_of("BAC009S0764W0121", 4), shard_of("mmau-q-0001", 4)] == [3, 4]


def test_shards_are_disjoint_cover_the_pair_and_ignore_order() -> None:
    ids = [f"spk-{k:04d}" for k in range(1000)]
    parts = [take_shard(samples(ids), k, 4) for k in range(1, 5)]
    got = [s.id for part in parts for s in part]
    assert sorted(got) == sorted(ids) and len(got) == len(set(got))
    assert all(200 < len(part) < 300 for part in parts)  # a hash spreads them evenly
    shuffled = take_shard(samples(ids[::-1]), 2, 4)
    assert sorted(s.id for s in shuffled) == sorted(s.id for s in parts[1])
    assert [s.id for s in parts[1]] == [i for i in ids if shard_of(i, 4) == 2]  # file order
    info = shard_info(samples(ids), 2, 4)
    assert (info["index"], info["count"], info["total"], info["ids"]) == (2, 4, 1000, ids)


@pytest.mark.parametrize("text", ["0/4", "5/4", "4", "a/b", "2/0", "-1/3", ""])
def test_a_malformed_shard_is_refused(text: str) -> None:
    with pytest.raises(AudiogateError, match="K/N"):
        parse_shard(text)
    assert parse_shard("4/4") == (4, 4)
