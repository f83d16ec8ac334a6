"""Page discovery: the Pages a user or system-user token manages, from /me/accounts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from exporter.config import DiscoveryConfig
from exporter.credentials import user_token_renewal
from exporter.graph_client import ClientClosedError, GraphClient, GraphError
from exporter.redact import Secret, register_secret
from exporter.token_validity import TOKEN_ERROR_CODE

log = logging.getLogger(__name__)

PAGE_SIZE = 100
# A bound on paging, far above any real account: a looping cursor must not spin forever.
MAX_PAGES_OF_RESULTS = 1000


class DiscoveryError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class DiscoveredPage:
    id: str
    name: str
    token: Secret


def discover(client: GraphClient, user_token: Secret, config: DiscoveryConfig) -> list[DiscoveredPage]:
    """Every Page the token manages that the include/exclude patterns keep.

    Pages are followed through paging cursors (not the `next` URL, which echoes the token).
    Raises DiscoveryError when any part of the listing fails: a partial list would make
    Pages vanish.
    """
    found: dict[str, DiscoveredPage] = {}
    after: str | None = None
    for _ in range(MAX_PAGES_OF_RESULTS):
        params = {"fields": "id,name,access_token", "limit": str(PAGE_SIZE)}
        if after is not None:
            params["after"] = after
        try:
            document = client.get_json("me/accounts", params, user_token)
        except ClientClosedError:
            raise
        except GraphError as exc:
            fix = f"; {user_token_renewal(config.user_token)}" if exc.graph_code == TOKEN_ERROR_CODE else ""
            raise DiscoveryError(f"listing Pages failed: {exc}{fix}") from None
        for page in _pages(document):
            if config.wants(page.id, page.name):
                found.setdefault(page.id, page)
        after = _next_cursor(document)
        if after is None:
            return list(found.values())
    raise DiscoveryError(f"listing Pages did not end after {MAX_PAGES_OF_RESULTS} pages of results")


def _pages(document: Any) -> list[DiscoveredPage]:
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list):
        raise DiscoveryError('/me/accounts answer has no "data" list')
    pages = []
    for entry in data:
        if not isinstance(entry, dict):
            raise DiscoveryError("/me/accounts answer has an entry that is not an object")
        page_id, name, token = entry.get("id"), entry.get("name", ""), entry.get("access_token")
        if not isinstance(page_id, str) or not page_id.isdigit():
            raise DiscoveryError("/me/accounts answer has an entry without a numeric id")
        if not isinstance(token, str) or not token:
            log.warning("discovered Page has no access token; is the token allowed to manage it?",
                        extra={"page_id": page_id})
            continue
        register_secret(token)
        pages.append(DiscoveredPage(page_id, name if isinstance(name, str) else "", Secret(token)))
    return pages


def _next_cursor(document: dict[str, Any]) -> str | None:
    paging = document.get("paging")
    if not isinstance(paging, dict) or "next" not in paging:
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    if not isinstance(after, str) or not after:
        raise DiscoveryError("/me/accounts answer has a next page but no cursor")
    return after
