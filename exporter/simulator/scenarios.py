"""Named misbehaviours a Page can be put into, and which Page is in which.

A scenario is checked when it is created, so a typo fails where it was made rather than
as a puzzling answer later.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Check = Callable[[Any], bool]


def _integer(low: int, high: int) -> Check:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _number(low: float) -> Check:
    return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v >= low


def _one_of(*allowed: object) -> Check:
    return lambda v: not isinstance(v, bool) and v in allowed


def _positive(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < float("inf")


def _flag(v: object) -> bool:
    return isinstance(v, bool)


def _text(v: object) -> bool:
    return isinstance(v, str)


def _names(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(item, str) for item in v)


PERMISSION_CODES = (10, *range(200, 300))
RATE_LIMIT_CODES = (4, 17, 32, 613, 80001)
TRANSIENT_CODES = (1, 2, 99)

# Scenario name -> the parameters it takes. Every scenario also takes `times`.
PARAMETERS: dict[str, dict[str, Check]] = {
    "invalid_token": {},
    "expired_token": {},
    "permission_denied": {"code": _one_of(*PERMISSION_CODES)},
    "retired_metric": {"metrics": _names},
    "rate_limited": {"code": _one_of(*RATE_LIMIT_CODES), "minutes": _integer(0, 24 * 60)},
    "transient": {"status": _integer(200, 599), "code": _one_of(*TRANSIENT_CODES)},
    "garbage": {},
    "body": {"status": _integer(200, 599), "body": _text, "content_type": _text},
    "slow": {"seconds": _number(0)},
    "unix_dialect": {},
    "empty": {"mode": _one_of("data", "values")},
    "spike": {"factor": _number(0), "add": _number(0)},
    # The connection misbehaves: see answer.Delivery.
    "reset": {},
    "drop": {},
    "trickle": {"bytes_per_second": _positive},
    "huge": {"megabytes": _positive},
    # Any error of graph-api.md's table, with the status and message it gives by default.
    "error": {
        "code": _integer(1, 2**31 - 1),
        "subcode": _integer(0, 2**31 - 1),
        "status": _integer(200, 599),
        "message": _text,
        "type": _text,
        "is_transient": _flag,
        "minutes": _integer(0, 24 * 60),
    },
    # A normal answer whose usage headers show `call_count` percent for `source`.
    "usage": {
        "call_count": _integer(0, 100),
        "source": _one_of("app", "business_use_case", "page"),
        "minutes": _integer(0, 24 * 60),
    },
    # In a batch, the Page's operation comes back as null (it timed out).
    "batch_timeout": {},
}
REQUIRED: dict[str, tuple[str, ...]] = {"retired_metric": ("metrics",), "error": ("code",)}
_TIMES = _integer(1, 2**31)


@dataclass(frozen=True)
class Scenario:
    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A private copy: the caller's dict may change after it has been checked.
        object.__setattr__(self, "params", dict(self.params))
        allowed = PARAMETERS.get(self.name)
        if allowed is None:
            raise ValueError(
                f"unknown scenario {self.name!r}; known: {', '.join(sorted(PARAMETERS))}"
            )
        for key, value in self.params.items():
            check = _TIMES if key == "times" else allowed.get(key)
            if check is None:
                raise ValueError(f"scenario {self.name!r} takes no parameter {key!r}")
            if not check(value):
                raise ValueError(f"scenario {self.name!r}: bad value for {key!r}: {value!r}")
        for key in REQUIRED.get(self.name, ()):
            if key not in self.params:
                raise ValueError(f"scenario {self.name!r} needs parameter {key!r}")

    def param(self, key: str, default: Any) -> Any:
        return self.params.get(key, default)


@dataclass(slots=True)
class _Assignment:
    scenario: Scenario
    remaining: int | None  # None: until cleared


class ScenarioBook:
    """The scenario each Page is in; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: dict[str, _Assignment] = {}

    def set(self, page_id: str, scenario: Scenario) -> None:
        with self._lock:
            self._pages[page_id] = _Assignment(scenario, scenario.params.get("times"))

    def clear(self, page_id: str) -> None:
        with self._lock:
            self._pages.pop(page_id, None)

    def clear_all(self) -> None:
        with self._lock:
            self._pages.clear()

    def take(self, page_id: str) -> Scenario | None:
        """The scenario for one request of this Page, counting it against `times`."""
        with self._lock:
            assignment = self._pages.get(page_id)
            if assignment is None:
                return None
            if assignment.remaining is not None:
                assignment.remaining -= 1
                if assignment.remaining <= 0:
                    del self._pages[page_id]
            return assignment.scenario
