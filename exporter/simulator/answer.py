"""An HTTP answer, independent of the server that sends it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

JSON_TYPE = "application/json; charset=UTF-8"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()

    def with_headers(self, extra: list[tuple[str, str]]) -> Answer:
        return Answer(self.status, self.body, self.content_type, (*self.headers, *extra))


def json_answer(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    return Answer(status, json.dumps(payload, separators=(",", ":")).encode(), JSON_TYPE, headers)


def no_content() -> Answer:
    return Answer(204, content_type=None)
