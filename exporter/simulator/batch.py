"""Batch requests: POST /{version} with a `batch` of operations, answered as a JSON array."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from exporter.simulator.answer import JSON_TYPE, Answer, Streamed, json_string
from exporter.simulator.errors import invalid_parameter, missing_parameter, too_many_operations
from exporter.simulator.requestlog import TokenSource

MAX_OPERATIONS = 50
# What Meta names as each operation's Content-Type for a JSON body.
OPERATION_JSON_TYPE = "text/javascript; charset=UTF-8"


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str  # the relative_url's path, with a leading slash
    # The relative_url's query, and for POST and PUT the fields of the body too.
    params: dict[str, str]
    token: str | None
    token_source: TokenSource


def form(query: Mapping[str, str], content_type: str, body: bytes) -> dict[str, Any]:
    """The request's fields: the query string, then the url-encoded (or JSON) body."""
    fields: dict[str, Any] = dict(query)
    if content_type.split(";", maxsplit=1)[0].strip().lower() == "application/json":
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            raise invalid_parameter("The request body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise invalid_parameter("The request body must be a JSON object")
        fields.update(payload)
    else:
        fields.update(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    return fields


# Meta's batch reference: "GET and DELETE operations can only have `relative_url` and
# `method` fields; POST and PUT operations may contain an optional `body`". A body on a GET
# is not read: a token in it is silently replaced by the top-level fallback token.
_BODYLESS_METHODS = frozenset({"GET", "DELETE"})


def _operation(index: int, raw: Any, token: str, proof: str | None) -> Operation:
    if not isinstance(raw, dict):
        raise invalid_parameter(f"batch[{index}] must be a JSON object")
    method, relative_url = raw.get("method", "GET"), raw.get("relative_url")
    if not isinstance(method, str) or not method:
        raise invalid_parameter(f"batch[{index}].method must be an HTTP method")
    method = method.upper()
    if not isinstance(relative_url, str) or not relative_url.strip("/"):
        raise missing_parameter(f"batch[{index}].relative_url")
    body = raw.get("body", "")
    if not isinstance(body, str):
        raise invalid_parameter(f"batch[{index}].body must be a url-encoded string")
    url = urlsplit(relative_url)
    in_url = dict(parse_qsl(url.query, keep_blank_values=True))
    in_body = {} if method in _BODYLESS_METHODS else dict(parse_qsl(body, keep_blank_values=True))
    params = in_body | in_url
    source: TokenSource
    if in_url.get("access_token"):
        op_token, source = in_url["access_token"], "relative_url"
    elif in_body.get("access_token"):
        op_token, source = in_body["access_token"], "body"
    else:
        # An operation without its own token runs with the top-level access_token and the
        # top-level appsecret_proof (graph-api.md, "Batch requests").
        op_token, source = token, "batch"
        if proof is not None:
            params.setdefault("appsecret_proof", proof)
    return Operation(method, "/" + url.path.lstrip("/"), params, op_token, source)


def operations(raw: Any, token: str, proof: str | None) -> list[Operation]:
    """The operations of `batch` (a JSON list, or its text); GraphError if it is not one."""
    if raw is None or raw == "":
        raise missing_parameter("batch")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise invalid_parameter("batch parameter must be a JSON array") from None
    if not isinstance(raw, list) or not raw:
        raise invalid_parameter("batch parameter must be a non-empty JSON array")
    if len(raw) > MAX_OPERATIONS:
        raise too_many_operations(MAX_OPERATIONS)
    return [_operation(index, item, token, proof) for index, item in enumerate(raw)]


def _entry(answer: Answer, with_headers: bool) -> list[bytes | int]:
    entry: dict[str, Any] = {"code": answer.status}
    if with_headers:
        headers = []
        if answer.content_type is not None:
            content_type = (
                OPERATION_JSON_TYPE if answer.content_type == JSON_TYPE else answer.content_type
            )
            headers.append({"name": "Content-Type", "value": content_type})
        headers += [{"name": name, "value": value} for name, value in answer.headers]
        entry["headers"] = headers
    head = json.dumps(entry, separators=(",", ":"))
    body = json_string(answer.body)
    parts = body.parts if isinstance(body, Streamed) else (body,)
    return [head[:-1].encode() + b',"body":', *parts, b"}"]


def include_headers(fields: Mapping[str, object]) -> bool:
    """Meta's `include_headers` batch parameter: each operation's headers are in its entry
    unless it is false."""
    return str(fields.get("include_headers", "true")).strip().lower() not in {"false", "0"}


def render(answers: Sequence[Answer | None], *, with_headers: bool = True) -> bytes | Streamed:
    """The batch's answer: each operation's status, headers and body text; null if it timed out."""
    parts: list[bytes | int] = [b"["]
    for index, answer in enumerate(answers):
        if index:
            parts.append(b",")
        parts += [b"null"] if answer is None else _entry(answer, with_headers)
    parts.append(b"]")
    if any(isinstance(part, int) for part in parts):
        return Streamed(tuple(parts))
    return b"".join(part for part in parts if isinstance(part, bytes))
