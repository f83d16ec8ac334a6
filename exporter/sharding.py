"""Which Pages this replica owns: jump consistent hash of the Page id (Lamping & Veach 2014).

Going from N to N+1 shards moves only about 1/(N+1) of the Pages, and every replica
computes the same owner for a Page without talking to the others. Python's own hash() is
salted per process, so the key comes from SHA-256 instead.
"""

from __future__ import annotations

import hashlib
import re
import socket
from dataclasses import dataclass

_MASK = 0xFFFFFFFFFFFFFFFF
_ORDINAL = re.compile(r"-(\d+)$")


class ShardError(ValueError):
    pass


def jump_hash(key: int, buckets: int) -> int:
    """The bucket in [0, buckets) of a 64-bit key."""
    bucket, candidate = -1, 0
    while candidate < buckets:
        bucket = candidate
        key = (key * 2862933555777941757 + 1) & _MASK
        candidate = int((bucket + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return bucket


def page_key(page_id: str) -> int:
    return int.from_bytes(hashlib.sha256(page_id.encode("utf-8")).digest()[:8], "big")


def shard_of(page_id: str, count: int) -> int:
    return jump_hash(page_key(page_id), count)


@dataclass(frozen=True, slots=True)
class Shard:
    index: int = 0
    count: int = 1

    def owns(self, page_id: str) -> bool:
        return self.count == 1 or shard_of(page_id, self.count) == self.index


def resolve_shard(count: int, index: int | None, hostname: str | None = None) -> Shard:
    """The shard from a count and an index, or the index from the host name's trailing -<n>
    (as a StatefulSet names its pods: exporter-0, exporter-1, …)."""
    if count < 1:
        raise ShardError(f"shard count must be at least 1, got {count}")
    if index is None:
        if count == 1:
            return Shard()
        name = hostname if hostname is not None else socket.gethostname()
        match = _ORDINAL.search(name)
        if match is None:
            raise ShardError(
                f"no shard index given and the host name {name!r} does not end in -<n>; "
                "set --shard.index or shard.index"
            )
        index = int(match.group(1))
    if not 0 <= index < count:
        raise ShardError(f"shard index {index} is outside 0..{count - 1}")
    return Shard(index, count)
