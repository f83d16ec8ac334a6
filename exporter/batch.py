"""Graph API batch requests: many insights operations in one POST, and their answers.

Meta's batch reference: "GET and DELETE operations can only have `relative_url` and
`method` fields" (a `body` on a GET is not read), and each operation may name its own token
"as a query string or form post parameter", the top-level token being only the fallback.
So every GET operation carries all its parameters, its Page token and appsecret_proof
included, in the query of its `relative_url`. That `relative_url` travels inside the POST
body (the `batch` form field): the token is in no request line. The answer is a JSON array
in request order; `null` means that operation timed out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus

from exporter.insights_response import ResponseError
from exporter.redact import Secret

MAX_BATCH_SIZE = 50


@dataclass(frozen=True, slots=True)
class OperationAnswer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


def batch_body(
    operations: Sequence[tuple[str, dict[str, str], Secret]],
    proof: Callable[[Secret], str | None],
) -> bytes:
    """The url-encoded body of a batch POST for (relative path, params, token) operations:
    the fields `access_token`, `batch` (the operations as JSON, each GET with its own token
    in its relative_url), `include_headers` and, with an app secret, `appsecret_proof`.

    Url-encoding the `batch` field character by character cost more than all the rest of
    sending a batch (about 25 µs per operation, and as much again for each relative_url).
    Both encodings work per character, so the body is joined from encoded pieces instead:
    the operations of a round share their parameters but for the token, so a parameter set
    is encoded once, and text without a character to encode (Page ids, most tokens, hex
    proofs) is taken as it is.
    """
    quoted_ops = [
        _OPERATION_HEAD + _in_batch(path + "?") + _in_batch_query(tuple(params.items()))
        + _in_batch(("&" if params else "") + form_encode(_credentials(token, proof).items()))
        + _OPERATION_TAIL
        for path, params, token in operations
    ]
    # The API requires a token at the top level too. Every operation names its own, so the
    # top-level one is only a fallback that none of them should need; the first will do.
    top_token = operations[0][2]
    fields = [f"access_token={form_quote(top_token.reveal())}",
              f"batch=%5B{'%2C'.join(quoted_ops)}%5D", "include_headers=true"]
    if (top_proof := proof(top_token)) is not None:
        fields.append(f"appsecret_proof={form_quote(top_proof)}")
    return "&".join(fields).encode("ascii")


# What a form value keeps as it is: quote_plus(value, safe="") leaves these alone.
_FORM_SAFE = re.compile(r"[A-Za-z0-9_.~-]*")


def form_quote(text: str) -> str:
    """A form key or value as urlencode encodes it (quote_plus with nothing else safe)."""
    return text if _FORM_SAFE.fullmatch(text) else quote_plus(text, safe="")


def form_encode(fields: Iterable[tuple[str, str]]) -> str:
    """urlencode(fields): `key=value` pairs joined by `&`, each side form-quoted."""
    return "&".join(f"{form_quote(key)}={form_quote(value)}" for key, value in fields)


def _in_batch(text: str) -> str:
    """Text inside a JSON string of the `batch` field, as that field is form-encoded."""
    if _URL_TEXT.fullmatch(text):  # what a relative_url is made of: JSON leaves it alone
        for char, code in _URL_CODES:
            text = text.replace(char, code)
        return text
    return form_quote(json.dumps(text)[1:-1])


_URL_TEXT = re.compile(r"[A-Za-z0-9_.~/?&=%+,:-]*")
_URL_CODES = (("%", "%25"), *((char, f"%{ord(char):02X}") for char in "/?&=+,:"))


@lru_cache(maxsize=256)
def _in_batch_query(items: tuple[tuple[str, str], ...]) -> str:
    return _in_batch(form_encode(items))


_OPERATION_HEAD = form_quote('{"method":"GET","relative_url":"')
_OPERATION_TAIL = form_quote('"}')


def debug_token_form(input_token: Secret, app_token: Secret, proof: str | None) -> dict[str, str]:
    """/debug_token as a one-operation batch, so the Page token travels in the POST body:
    the endpoint takes it only as the `input_token` parameter, which would otherwise be in
    the URL. The operation has no token of its own: it runs with the top-level app token
    and its appsecret_proof."""
    operation = {"method": "GET",
                 "relative_url": relative_url("debug_token", {"input_token": input_token.reveal()})}
    form = {"access_token": app_token.reveal(), "batch": json.dumps([operation]),
            "include_headers": "true"}
    if proof is not None:
        form["appsecret_proof"] = proof
    return form


def relative_url(path: str, params: dict[str, str]) -> str:
    """An operation's `relative_url`: its path and every parameter, as a GET's URL has them.

    It holds tokens: it belongs in the POST body only, never in a log line (the scrubber
    removes relative_url values wherever they appear)."""
    return f"{path}?{form_encode(params.items())}"


def _credentials(token: Secret, proof: Callable[[Secret], str | None]) -> dict[str, str]:
    credentials = {"access_token": token.reveal()}
    if (token_proof := proof(token)) is not None:
        credentials["appsecret_proof"] = token_proof
    return credentials


def parse_batch_answer(document: Any, count: int) -> list[OperationAnswer | None]:
    """Each operation's answer, in request order; ResponseError if the array is not one."""
    if not isinstance(document, list):
        raise ResponseError("batch answer is not a list")
    if len(document) != count:
        raise ResponseError(f"batch answer has {len(document)} entries for {count} operations")
    answers: list[OperationAnswer | None] = []
    for index, entry in enumerate(document):
        if entry is None:
            answers.append(None)
            continue
        if not isinstance(entry, dict):
            raise ResponseError(f"batch answer [{index}] is not an object")
        status, body = entry.get("code"), entry.get("body", "")
        if isinstance(status, bool) or not isinstance(status, int) or not isinstance(body, str):
            raise ResponseError(f"batch answer [{index}] has no status code or body")
        answers.append(OperationAnswer(status, _headers(entry.get("headers")), body.encode("utf-8")))
    return answers


def _headers(raw: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("value"), str):
                headers[item["name"].lower()] = item["value"]
    return headers
