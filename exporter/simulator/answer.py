"""An HTTP answer, independent of the server that sends it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

JSON_TYPE = "application/json; charset=UTF-8"
# What fills a padded (huge) body: safe inside a JSON string, needs no escaping.
FILLER = b"x"

DeliveryMode = Literal["normal", "reset", "drop", "trickle"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """How an answer's bytes reach the client, or fail to.

    normal: all at once; reset: status, headers and part of the body, then a TCP reset;
    drop: the connection closes before anything is sent; trickle: `bytes_per_second`.
    """

    mode: DeliveryMode = "normal"
    bytes_per_second: float = 0.0

    def worse(self, other: Delivery) -> Delivery:
        """The one of two that does more damage (for a batch made of several answers)."""
        rank = {"normal": 0, "trickle": 1, "reset": 2, "drop": 3}
        if rank[other.mode] != rank[self.mode]:
            return other if rank[other.mode] > rank[self.mode] else self
        if self.mode == "trickle":
            return self if self.bytes_per_second <= other.bytes_per_second else other
        return self


NORMAL = Delivery()


@dataclass(frozen=True, slots=True)
class Streamed:
    """A body produced as it is sent: bytes parts, and ints standing for that much FILLER."""

    parts: tuple[bytes | int, ...]

    def __len__(self) -> int:
        return sum(part if isinstance(part, int) else len(part) for part in self.parts)

    def chunks(self, size: int) -> Iterator[bytes]:
        filler = FILLER * size
        for part in self.parts:
            if isinstance(part, int):
                for start in range(0, part, size):
                    yield filler[: min(size, part - start)]
            else:
                for start in range(0, len(part), size):
                    yield part[start : start + size]

    def as_json_string(self) -> Streamed:
        """The body as the content of a JSON string (what a batch operation's "body" holds)."""
        escaped: list[bytes | int] = [b'"']
        for part in self.parts:
            escaped.append(part if isinstance(part, int) else _json_string_content(part))
        escaped.append(b'"')
        return Streamed(tuple(escaped))


def _json_string_content(raw: bytes) -> bytes:
    return json.dumps(raw.decode("utf-8", errors="replace"))[1:-1].encode()


def json_string(raw: bytes | Streamed) -> bytes | Streamed:
    """A body as a JSON string literal."""
    if isinstance(raw, Streamed):
        return raw.as_json_string()
    return b'"' + _json_string_content(raw) + b'"'


def padded(body: bytes, total: int) -> Streamed:
    """`body` grown to `total` bytes with a leading "filler" member, still one JSON value.

    The filler comes first, so a client gets to the data only after reading it all.
    """
    if body.startswith(b"{"):
        rest = body[1:].lstrip()
        head, tail = b'{"filler":"', (b'"}' if rest == b"}" else b'",' + rest)
        return Streamed((head, max(0, total - len(head) - len(tail)), tail))
    # Not an object: trailing whitespace keeps any JSON text what it was.
    return Streamed((body, max(0, total - len(body))))


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes | Streamed = b""
    content_type: str | None = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    delivery: Delivery = field(default=NORMAL)

    def with_headers(self, extra: list[tuple[str, str]]) -> Answer:
        return replace(self, headers=(*self.headers, *extra))

    @property
    def length(self) -> int:
        return len(self.body)

    def chunks(self, size: int) -> Iterator[bytes]:
        if isinstance(self.body, Streamed):
            yield from self.body.chunks(size)
        else:
            for start in range(0, len(self.body), size):
                yield self.body[start : start + size]


def json_answer(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    return Answer(status, json.dumps(payload, separators=(",", ":")).encode(), JSON_TYPE, headers)


def no_content() -> Answer:
    return Answer(204, content_type=None)
