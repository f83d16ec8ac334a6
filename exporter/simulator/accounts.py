"""Page discovery: the Pages a user token manages, listed as GET me/accounts lists them."""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from exporter.simulator.errors import invalid_parameter
from exporter.simulator.tokens import numeric_id, page_token

TASKS = ("ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE")
CATEGORIES = ("Shopping & retail", "Restaurant", "Clothing (Brand)", "Local business")
# What me/accounts gives without `fields`, in Meta's order.
DEFAULT_FIELDS = ("access_token", "category", "category_list", "name", "id", "tasks")
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
_ID_DIGITS = 15


@dataclass(frozen=True, slots=True)
class ManagedPage:
    id: str
    name: str
    tasks: tuple[str, ...] = TASKS

    @classmethod
    def of(cls, entry: Sequence[Any]) -> ManagedPage:
        """(id, name) or (id, name, tasks); ValueError/TypeError if it is not one."""
        if isinstance(entry, str | bytes) or len(entry) not in {2, 3}:
            raise TypeError(f"a Page is (id, name) or (id, name, tasks), not {entry!r}")
        page_id, name, *rest = entry
        if not isinstance(page_id, str) or not page_id.isascii() or not page_id.isdigit():
            raise ValueError(f"a Page id is digits, not {page_id!r}")
        if not isinstance(name, str):
            raise TypeError(f"a Page name is text, not {name!r}")
        tasks = rest[0] if rest else TASKS
        if isinstance(tasks, str) or not all(isinstance(task, str) for task in tasks):
            raise TypeError(f"tasks are a list of names, not {tasks!r}")
        return cls(page_id, name, tuple(tasks))


def generated(count: int, prefix: str) -> list[ManagedPage]:
    """`count` Pages with ids starting with `prefix` (digits): 700000000000001, ..."""
    if count < 0:
        raise ValueError("the number of Pages cannot be negative")
    if not prefix.isascii() or not prefix.isdigit():
        raise ValueError(f"the Page id prefix must be digits, not {prefix!r}")
    width = max(_ID_DIGITS - len(prefix), len(str(count)))
    return [
        ManagedPage(f"{prefix}{index:0{width}d}", f"Simulated Page {index}")
        for index in range(1, count + 1)
    ]


class AccountBook:
    """The Pages the user token manages; thread-safe."""

    def __init__(self, pages: Iterable[ManagedPage] = ()) -> None:
        self._lock = threading.Lock()
        self._pages = tuple(pages)

    def set(self, pages: Iterable[ManagedPage]) -> None:
        pages = tuple(pages)
        with self._lock:
            self._pages = pages

    def pages(self) -> tuple[ManagedPage, ...]:
        with self._lock:
            return self._pages

    def manages(self, page_id: str) -> bool:
        with self._lock:
            return any(page.id == page_id for page in self._pages)

    def allows_analysis(self, page_id: str) -> bool:
        """False for a managed Page whose tasks lack ANALYZE (others: no tasks known)."""
        with self._lock:
            return all("ANALYZE" in page.tasks for page in self._pages if page.id == page_id)


def _cursor(page_id: str) -> str:
    return base64.urlsafe_b64encode(f"page:{page_id}".encode()).decode().rstrip("=")


def _position(pages: Sequence[ManagedPage], cursor: str) -> int:
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    for index, page in enumerate(pages):
        if decoded == f"page:{page.id}":
            return index
    raise invalid_parameter("The cursor is not valid")


def parse_fields(raw: str | None) -> tuple[str, ...]:
    """Top-level field names; nested selections (`a{b,c}`) and modifiers are dropped."""
    if raw is None or not raw.strip():
        return DEFAULT_FIELDS
    names, depth, current = [], 0, ""
    for char in raw + ",":
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            names.append(current.split(".", maxsplit=1)[0].strip())
            current = ""
        elif depth == 0:
            current += char
    return tuple(dict.fromkeys(name for name in names if name))


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise invalid_parameter("Param limit must be a positive integer")
    return min(int(raw), MAX_LIMIT)


def page_fields(page: ManagedPage, user_token: str, fields: Sequence[str]) -> dict[str, Any]:
    """One Page as me/accounts lists it; fields it does not know are left out, id is always in."""
    category = CATEGORIES[int(numeric_id("category", page.id)) % len(CATEGORIES)]
    known: dict[str, Any] = {
        "access_token": page_token(page.id, user_token),
        "category": category,
        "category_list": [{"id": numeric_id("category", category), "name": category}],
        "name": page.name,
        "id": page.id,
        "tasks": list(page.tasks),
    }
    wanted = fields if "id" in fields else (*fields, "id")
    return {name: known[name] for name in wanted if name in known}


@dataclass(frozen=True, slots=True)
class Listing:
    body: dict[str, Any]
    pages: tuple[ManagedPage, ...]  # the Pages of this answer


def listing(
    pages: Sequence[ManagedPage],
    user_token: str,
    params: Mapping[str, str],
    endpoint_url: str,
) -> Listing:
    """One page of results: `limit` Pages after the `after` cursor (or before `before`).

    `endpoint_url` is the endpoint's URL; paging links add the token and cursors to it, as
    Meta's do.
    """
    limit = _limit(params.get("limit"))
    fields = parse_fields(params.get("fields"))
    if params.get("after"):
        start = _position(pages, params["after"]) + 1
    elif params.get("before"):
        start = max(0, _position(pages, params["before"]) - limit)
    else:
        start = 0
    shown = tuple(pages[start : start + limit])
    body: dict[str, Any] = {"data": [page_fields(page, user_token, fields) for page in shown]}
    if not shown:
        return Listing(body, shown)
    link = {"access_token": user_token}
    if params.get("fields"):
        link["fields"] = params["fields"]
    link["limit"] = str(limit)
    first, last = _cursor(shown[0].id), _cursor(shown[-1].id)
    paging: dict[str, Any] = {"cursors": {"before": first, "after": last}}
    if start > 0:
        paging["previous"] = f"{endpoint_url}?{urlencode({**link, 'before': first}, safe=',')}"
    if start + len(shown) < len(pages):
        paging["next"] = f"{endpoint_url}?{urlencode({**link, 'after': last}, safe=',')}"
    body["paging"] = paging
    return Listing(body, shown)
