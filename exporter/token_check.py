"""Checking Page tokens with /debug_token: validity, expiry, and the permissions they lack."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from prometheus_client.core import Metric

from exporter.changes import Changes
from exporter.graph_client import GraphClient, GraphError
from exporter.redact import Secret

log = logging.getLogger(__name__)

CHECK_INTERVAL_SECONDS = 6 * 3600
REQUIRED_SCOPES = ("pages_messaging", "pages_read_engagement", "pages_show_list", "read_insights")


class TokenInfoError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class TokenStatus:
    valid: bool
    expires_at: float  # 0: never expires
    data_access_expires_at: float
    missing_scopes: frozenset[str]


def parse_token_info(document: Any) -> TokenStatus:
    """The status /debug_token reports; TokenInfoError when the answer is not one."""
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        raise TokenInfoError('debug_token answer has no "data" object')
    valid = data.get("is_valid")
    if not isinstance(valid, bool):
        raise TokenInfoError("debug_token answer has no is_valid flag")
    scopes = data.get("scopes", [])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise TokenInfoError("debug_token scopes is not a list of names")
    return TokenStatus(
        valid=valid,
        expires_at=_timestamp(data.get("expires_at"), "expires_at"),
        data_access_expires_at=_timestamp(data.get("data_access_expires_at"), "data_access_expires_at"),
        missing_scopes=frozenset(REQUIRED_SCOPES) - set(scopes),
    )


def _timestamp(value: Any, field: str) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 4e9:
        raise TokenInfoError(f"debug_token {field} is not a unix time")
    return float(value)


class TokenChecker:
    """Checks every distinct Page token; keeps the last good status of each Page."""

    def __init__(
        self,
        client: GraphClient,
        app_id: str,
        app_secret: Secret,
        previous: Mapping[str, TokenStatus] | None = None,
        changes: Changes | None = None,
    ) -> None:
        self.client = client
        self.changes = changes or Changes()
        self.app_token = Secret(f"{app_id}|{app_secret.reveal()}")
        # A reload makes a new checker; the last results stand until its first check.
        self._statuses: Mapping[str, TokenStatus] = MappingProxyType(dict(previous or {}))

    def statuses(self) -> Mapping[str, TokenStatus]:
        return self._statuses

    def check(self, tokens: Mapping[str, Secret]) -> None:
        pages_of: dict[Secret, list[str]] = {}
        for page_id, token in tokens.items():
            pages_of.setdefault(token, []).append(page_id)
        updated = {page: status for page, status in self._statuses.items() if page in tokens}
        for token, pages in pages_of.items():
            try:
                status = parse_token_info(self.client.debug_token(token, self.app_token))
            except (GraphError, TokenInfoError) as exc:
                log.error("token check failed", extra=  # noqa: TRY400 - no traceback wanted
                          {"page_ids": ",".join(pages), "error": str(exc)})
                continue
            if not status.valid or status.missing_scopes:
                log.warning(
                    "Page token is not fit for insights",
                    extra={"page_ids": ",".join(pages), "valid": status.valid,
                           "missing_scopes": ",".join(sorted(status.missing_scopes))},
                )
            updated.update(dict.fromkeys(pages, status))
        self._statuses = MappingProxyType(updated)
        self.changes.changed()


class TokenFamilies:
    """Token status per Page, from the last /debug_token check; rendered with the cached
    part of /metrics, since it changes only when a check runs.

    # TYPE messenger_insights_token_valid gauge
    messenger_insights_token_valid{page_id="1234"} 1.0
    messenger_insights_token_missing_scope{page_id="1234",scope="read_insights"} 0.0
    """

    def __init__(self, checker: Callable[[], TokenChecker | None], changes: Changes) -> None:
        self.checker = checker
        self.changes = changes

    def families(self) -> list[Metric]:
        valid = Metric("messenger_insights_token_valid",
                       "1 if /debug_token reports the Page token valid, else 0.", "gauge")
        expiry = Metric("messenger_insights_token_expiry_timestamp_seconds",
                        "When the Page token expires (unix time); 0 when it never expires.", "gauge")
        data_access = Metric("messenger_insights_token_data_access_expiry_timestamp_seconds",
                             "When data access of the Page token lapses (unix time).", "gauge")
        missing = Metric("messenger_insights_token_missing_scope",
                         "1 for each permission insights need that the Page token lacks, else 0.",
                         "gauge")
        checker = self.checker()
        for page_id, status in (checker.statuses() if checker is not None else {}).items():
            page = {"page_id": page_id}
            valid.add_sample(valid.name, page, 1 if status.valid else 0)
            expiry.add_sample(expiry.name, page, status.expires_at)
            data_access.add_sample(data_access.name, page, status.data_access_expires_at)
            for scope in REQUIRED_SCOPES:
                missing.add_sample(missing.name, {**page, "scope": scope},
                                   1 if scope in status.missing_scopes else 0)
        return [valid, expiry, data_access, missing]
