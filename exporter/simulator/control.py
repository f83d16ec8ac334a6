"""The /_sim control API: scenarios, Page and user tokens, token info, managed Pages, the request log
and reset."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from exporter.simulator.accounts import AccountBook, ManagedPage
from exporter.simulator.answer import Answer, json_answer, no_content
from exporter.simulator.errors import GraphError
from exporter.simulator.requestlog import RequestLog
from exporter.simulator.scenarios import Scenario, ScenarioBook
from exporter.simulator.tokens import TokenBook
from exporter.simulator.usage import UsageMeter

PREFIX = "/_sim"
_SCENARIO_PATH = re.compile(r"/_sim/pages/([^/]+)/scenario/?")
_CONTROL_ERROR = "SimulatorControlException"
# The key of me/accounts' scenario in its own ScenarioBook.
ACCOUNTS = "me/accounts"


@dataclass(frozen=True, slots=True)
class State:
    scenarios: ScenarioBook
    log: RequestLog
    usage: UsageMeter
    tokens: TokenBook
    accounts: AccountBook
    accounts_scenario: ScenarioBook

    def reset(self) -> None:
        """Forget scenarios, requests, usage and token overrides; the managed Pages stay."""
        self.scenarios.clear_all()
        self.accounts_scenario.clear_all()
        self.log.clear()
        self.usage.clear()
        self.tokens.clear_all()


def is_control(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def _error(status: int, message: str) -> Answer:
    return json_answer(status, GraphError(status, message, 100, type=_CONTROL_ERROR).body())


def _json_object(raw: bytes, shape: str) -> dict[str, Any]:
    try:
        payload = json.loads(raw or b"null")
    except ValueError:
        raise ValueError("the body must be JSON") from None
    if not isinstance(payload, dict):
        raise TypeError(f"the body must be {shape}")
    return payload


def scenario_from_json(raw: bytes) -> Scenario:
    """`{"name": ..., "params": {...}}`; ValueError/TypeError if it is not a valid one."""
    shape = '{"name": "...", "params": {...}}'
    payload = _json_object(raw, shape)
    if not isinstance(payload.get("name"), str):
        raise TypeError(f"the body must be {shape}")
    params = payload.get("params") or {}
    if not isinstance(params, dict):
        raise TypeError("params must be a JSON object")
    return Scenario(payload["name"], params)


def _scenario(book: ScenarioBook, key: str, method: str, body: bytes) -> Answer:
    if method == "DELETE":
        book.clear(key)
        return no_content()
    if method != "PUT":
        return _error(405, f"{method} is not allowed here; use PUT or DELETE")
    try:
        scenario = scenario_from_json(body)
    except (ValueError, TypeError) as error:
        return _error(400, str(error))
    book.set(key, scenario)
    return no_content()


def _token_info(state: State, method: str, body: bytes) -> Answer:
    """PUT {"token": ..., "info": {...}} overrides debug_token fields; DELETE {"token": ...}."""
    if method not in {"PUT", "DELETE"}:
        return _error(405, f"{method} is not allowed here; use PUT or DELETE")
    try:
        payload = _json_object(body, '{"token": "...", "info": {...}}')
    except (ValueError, TypeError) as error:
        return _error(400, str(error))
    token, info = payload.get("token"), payload.get("info")
    if not isinstance(token, str) or not token:
        return _error(400, "token must be a non-empty string")
    if method == "DELETE":
        state.tokens.clear(token)
        return no_content()
    if not isinstance(info, dict):
        return _error(400, "info must be a JSON object of debug_token fields")
    state.tokens.set(token, info)
    return no_content()


def _page_token_problem(page_id: object, token: object) -> str | None:
    if not isinstance(page_id, str) or not page_id.isascii() or not page_id.isdigit():
        return "page_id must be a string of digits"
    if not isinstance(token, str) or not token:
        return "token must be a non-empty string"
    return None


def _page_token(state: State, method: str, body: bytes) -> Answer:
    """PUT {"page_id": ..., "token": ...}: the token is that Page's (and no other's);
    PUT {"tokens": {page_id: token, ...}} registers many at once."""
    if method != "PUT":
        return _error(405, f"{method} is not allowed here; use PUT")
    try:
        payload = _json_object(body, '{"page_id": "...", "token": "..."} or {"tokens": {...}}')
    except (ValueError, TypeError) as error:
        return _error(400, str(error))
    many = payload.get("tokens")
    if "tokens" in payload and not isinstance(many, dict):
        return _error(400, "tokens must be a JSON object of Page id -> token")
    pairs = list(many.items()) if isinstance(many, dict) else [(payload.get("page_id"), payload.get("token"))]
    checked: list[tuple[str, str]] = []
    for page_id, token in pairs:
        problem = _page_token_problem(page_id, token)
        if problem is not None:
            return _error(400, problem)
        checked.append((str(page_id), str(token)))
    for page_id, token in checked:
        state.tokens.register(token, page_id)
    return no_content()


def _user_token(state: State, method: str, body: bytes) -> Answer:
    """PUT {"token": ...}: the token is a user token, which lists the managed Pages."""
    if method != "PUT":
        return _error(405, f"{method} is not allowed here; use PUT")
    try:
        token = _json_object(body, '{"token": "..."}').get("token")
    except (ValueError, TypeError) as error:
        return _error(400, str(error))
    if not isinstance(token, str) or not token:
        return _error(400, "token must be a non-empty string")
    state.tokens.register_user(token)
    return no_content()


def _managed_pages(body: bytes) -> list[ManagedPage]:
    """`{"pages": [[id, name], [id, name, [tasks]], ...]}`; ValueError/TypeError if not."""
    pages = _json_object(body, '{"pages": [["id", "name"], ...]}').get("pages")
    if not isinstance(pages, list):
        raise TypeError("pages must be a list of [id, name] or [id, name, tasks]")
    return [ManagedPage.of(entry) for entry in pages]


def _accounts(state: State, method: str, body: bytes) -> Answer:
    """PUT {"pages": [...]} sets the Pages the user token manages; GET lists them."""
    if method == "GET":
        listed = [[page.id, page.name, list(page.tasks)] for page in state.accounts.pages()]
        return json_answer(200, {"pages": listed})
    if method != "PUT":
        return _error(405, f"{method} is not allowed here; use GET or PUT")
    try:
        pages = _managed_pages(body)
    except (ValueError, TypeError) as error:
        return _error(400, str(error))
    state.accounts.set(pages)
    return no_content()


def _requests(state: State) -> Answer:
    return json_answer(
        200,
        {
            "total": state.log.count(),
            "http_total": state.log.http_count(),
            "by_page": state.log.by_page(),
            "by_kind": state.log.by_kind(),
            "log": [entry.as_json() for entry in state.log.entries()],
        },
    )


def _requests_route(state: State, method: str, _body: bytes) -> Answer:
    return _requests(state) if method == "GET" else _error(405, "use GET")


def _reset(state: State, method: str, _body: bytes) -> Answer:
    if method != "POST":
        return _error(405, "use POST")
    state.reset()
    return no_content()


def _accounts_scenario(state: State, method: str, body: bytes) -> Answer:
    return _scenario(state.accounts_scenario, ACCOUNTS, method, body)


_ROUTES: dict[str, Callable[[State, str, bytes], Answer]] = {
    "/_sim/requests": _requests_route,
    "/_sim/reset": _reset,
    "/_sim/page-tokens": _page_token,
    "/_sim/user-tokens": _user_token,
    "/_sim/token-info": _token_info,
    "/_sim/accounts": _accounts,
    "/_sim/accounts/scenario": _accounts_scenario,
}


def handle(state: State, method: str, path: str, body: bytes) -> Answer:
    match = _SCENARIO_PATH.fullmatch(path)
    if match is not None:
        return _scenario(state.scenarios, unquote(match.group(1)), method, body)
    route = _ROUTES.get(path.rstrip("/"))
    if route is None:
        return _error(404, f"unknown control path {path}")
    return route(state, method, body)
