"""Checking Page tokens with /debug_token: validity, expiry, and the permissions they lack."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from prometheus_client.core import Metric

from exporter.changes import Changes
from exporter.graph_client import ClientClosedError, GraphClient, GraphError
from exporter.redact import Secret
from exporter.token_validity import Evidence, TokenAnswers, token_valid

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
    checked_at: float = 0.0  # unix time of the check


def parse_token_info(document: Any, checked_at: float = 0.0) -> TokenStatus:
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
        checked_at=checked_at,
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
        *,
        previous: Mapping[str, TokenStatus] | None = None,
        changes: Changes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.changes = changes or Changes()
        self.clock = clock
        self.app_token = Secret(f"{app_id}|{app_secret.reveal()}")
        # A reload makes a new checker; the last results stand until its first check.
        self._statuses: Mapping[str, TokenStatus] = MappingProxyType(dict(previous or {}))

    def statuses(self) -> Mapping[str, TokenStatus]:
        return self._statuses

    def check(self, tokens: Mapping[str, Secret]) -> None:
        """Check every Page's token; Pages not in `tokens` are forgotten."""
        self._check(tokens, {page: status for page, status in self._statuses.items() if page in tokens})

    def recheck(self, tokens: Mapping[str, Secret], which: set[Secret]) -> None:
        """Check only the tokens in `which` (the Pages using them); the others keep theirs."""
        chosen = {page: token for page, token in tokens.items() if token in which}
        if chosen:
            self._check(chosen, {page: status for page, status in self._statuses.items() if page in tokens})

    def _check(self, tokens: Mapping[str, Secret], updated: dict[str, TokenStatus]) -> None:
        pages_of: dict[Secret, list[str]] = {}
        for page_id, token in tokens.items():
            pages_of.setdefault(token, []).append(page_id)
        for token, pages in pages_of.items():
            try:
                status = parse_token_info(self.client.debug_token(token, self.app_token), self.clock())
            except ClientClosedError:
                return  # a reload replaced this checker; the new one checks again
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
    """Token status per Page: valid from the last answer and /debug_token check (see
    token_validity), the rest from the last check; rendered with the cached part of
    /metrics, since it changes only when an answer or a check says something new.

    # TYPE messenger_insights_token_valid gauge
    messenger_insights_token_valid{page_id="1234"} 1.0
    messenger_insights_token_missing_scope{page_id="1234",scope="read_insights"} 0.0
    """

    def __init__(self, checker: Callable[[], TokenChecker | None], answers: TokenAnswers) -> None:
        self.checker = checker
        self.answers = answers
        self.changes = answers.changes

    def families(self) -> list[Metric]:
        valid = Metric("messenger_insights_token_valid",
                       "1 if the Page token works, 0 after Graph API error 190 or when /debug_token "
                       "reports it invalid; the newer of the last answer and the last check decides.",
                       "gauge")
        expiry = Metric("messenger_insights_token_expiry_timestamp_seconds",
                        "When the Page token expires (unix time); 0 when it never expires.", "gauge")
        data_access = Metric("messenger_insights_token_data_access_expiry_timestamp_seconds",
                             "When data access of the Page token lapses (unix time).", "gauge")
        missing = Metric("messenger_insights_token_missing_scope",
                         "1 for each permission insights need that the Page token lacks, else 0.",
                         "gauge")
        checker = self.checker()
        statuses = checker.statuses() if checker is not None else {}
        answers = self.answers.answers()
        for page_id in sorted(answers.keys() | statuses.keys()):
            status = statuses.get(page_id)
            check = Evidence(status.valid, status.checked_at) if status is not None else None
            verdict = token_valid(answers.get(page_id), check)
            if verdict is not None:
                valid.add_sample(valid.name, {"page_id": page_id}, 1 if verdict else 0)
        for page_id, status in statuses.items():
            page = {"page_id": page_id}
            expiry.add_sample(expiry.name, page, status.expires_at)
            data_access.add_sample(data_access.name, page, status.data_access_expires_at)
            for scope in REQUIRED_SCOPES:
                missing.add_sample(missing.name, {**page, "scope": scope},
                                   1 if scope in status.missing_scopes else 0)
        return [valid, expiry, data_access, missing]
