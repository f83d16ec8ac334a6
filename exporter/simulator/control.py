"""The /_sim control API: scenarios, the request log and reset, over HTTP."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import unquote

from exporter.simulator.answer import Answer, json_answer, no_content
from exporter.simulator.errors import GraphError
from exporter.simulator.requestlog import RequestLog
from exporter.simulator.scenarios import Scenario, ScenarioBook
from exporter.simulator.usage import UsageMeter

PREFIX = "/_sim"
_SCENARIO_PATH = re.compile(r"/_sim/pages/([^/]+)/scenario/?")
_CONTROL_ERROR = "SimulatorControlException"


@dataclass(frozen=True, slots=True)
class State:
    scenarios: ScenarioBook
    log: RequestLog
    usage: UsageMeter

    def reset(self) -> None:
        self.scenarios.clear_all()
        self.log.clear()
        self.usage.clear()


def is_control(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def _error(status: int, message: str) -> Answer:
    return json_answer(status, GraphError(status, message, 100, type=_CONTROL_ERROR).body())


def scenario_from_json(raw: bytes) -> Scenario:
    """`{"name": ..., "params": {...}}`; ValueError/TypeError if it is not a valid one."""
    try:
        payload = json.loads(raw or b"null")
    except ValueError:
        raise ValueError("the body must be JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
        raise TypeError('the body must be {"name": "...", "params": {...}}')
    params = payload.get("params") or {}
    if not isinstance(params, dict):
        raise TypeError("params must be a JSON object")
    return Scenario(payload["name"], params)


def _scenario(state: State, method: str, page_id: str, body: bytes) -> Answer:
    if method == "DELETE":
        state.scenarios.clear(page_id)
        return no_content()
    if method != "PUT":
        return _error(405, f"{method} is not allowed here; use PUT or DELETE")
    try:
        scenario = scenario_from_json(body)
    except (ValueError, TypeError) as error:
        return _error(400, str(error))
    state.scenarios.set(page_id, scenario)
    return no_content()


def _requests(state: State) -> Answer:
    return json_answer(
        200,
        {
            "total": state.log.count(),
            "by_page": state.log.by_page(),
            "log": [entry.as_json() for entry in state.log.entries()],
        },
    )


def handle(state: State, method: str, path: str, body: bytes) -> Answer:
    match = _SCENARIO_PATH.fullmatch(path)
    if match is not None:
        return _scenario(state, method, unquote(match.group(1)), body)
    if path.rstrip("/") == "/_sim/requests":
        return _requests(state) if method == "GET" else _error(405, "use GET")
    if path.rstrip("/") == "/_sim/reset":
        if method != "POST":
            return _error(405, "use POST")
        state.reset()
        return no_content()
    return _error(404, f"unknown control path {path}")
