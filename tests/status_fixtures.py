"""Status page inputs with a Page in every state the page shows, at a fixed moment."""

from __future__ import annotations

from types import MappingProxyType

from exporter.config import Config, GraphApiConfig, PageConfig, RefreshConfig, TokenSource
from exporter.page_status import ReloadRecord, StatusInputs
from exporter.redact import register_secret
from exporter.snapshots import ErrorInfo, PageSnapshot
from exporter.token_check import TokenStatus
from exporter.token_validity import Evidence
from exporter.usage import UsagePeak

NOW = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC
SECRET = "EAAB-status-page-canary-5e1f0a"
INTERVAL = 900.0
STALE_AFTER = 2700.0

UP_ID, FAILING_ID, HELD_ID, STALE_ID = "1001", "1002", "1003", "1004"
PENDING_ID, RECOVERED_ID, EXPIRING_ID, REVOKED_ID = "1005", "1006", "1007", "1008"


def _page(page_id: str, name: str | None, env: str = "META_PAGE_TOKEN") -> PageConfig:
    return PageConfig(page_id, name, TokenSource(env=env), ())


def _snapshots() -> dict[str, PageSnapshot]:
    register_secret(SECRET)
    refused = ErrorInfo("network", "connection refused at 127.0.0.1:9 (graph_api.base_url "
                                   "http://127.0.0.1:9)", NOW - 20)
    return {
        UP_ID: PageSnapshot(_page(UP_ID, "Acme Store"), attempted=True, up=True,
                            last_success=NOW - 12, refresh_duration=0.42),
        FAILING_ID: PageSnapshot(_page(FAILING_ID, "Bluebird <Cafe> & Co"), attempted=True, up=False,
                                 last_success=NOW - 300, refresh_duration=1.3, last_error=refused),
        HELD_ID: PageSnapshot(_page(HELD_ID, "Cedar Outfitters"), attempted=True, up=False,
                              last_success=NOW - 100, refresh_duration=0.01,
                              last_error=ErrorInfo("throttled", "rate limited: no requests until "
                                                   "2026-09-21 14:16:20 UTC", NOW - 5)),
        STALE_ID: PageSnapshot(_page(STALE_ID, "Delta Diner"), attempted=True, up=False,
                               last_success=NOW - 7200, refresh_duration=30.0,
                               last_error=ErrorInfo("2", "Service temporarily unavailable", NOW - 30)),
        PENDING_ID: PageSnapshot(_page(PENDING_ID, None)),
        RECOVERED_ID: PageSnapshot(_page(RECOVERED_ID, f"Echo {SECRET}"), attempted=True, up=True,
                                   last_success=NOW - 3, refresh_duration=0.2,
                                   last_error=ErrorInfo("1", f"unknown error token={SECRET}", NOW - 3600)),
        EXPIRING_ID: PageSnapshot(_page(EXPIRING_ID, "Fjord Fish", env="FJORD_TOKEN"), attempted=True,
                                  up=True, last_success=NOW - 40, refresh_duration=0.3),
        REVOKED_ID: PageSnapshot(_page(REVOKED_ID, "Grove Garden", env="GROVE_TOKEN"), attempted=True,
                                 up=False, last_success=NOW - 60, refresh_duration=0.2,
                                 last_error=ErrorInfo("190", "Error validating access token: The "
                                                      "session has been invalidated", NOW - 50)),
    }


def every_state(*, demo: bool = True, app_held_until: float = 0.0) -> StatusInputs:
    snapshots = _snapshots()
    config = Config(GraphApiConfig(base_url="http://127.0.0.1:9"),
                    RefreshConfig(INTERVAL, STALE_AFTER),
                    tuple(s.page for s in snapshots.values()), source="/etc/exporter/config.yaml")
    valid = TokenStatus(True, 0.0, 0.0, frozenset())
    return StatusInputs(
        now=NOW,
        snapshots=MappingProxyType(snapshots),
        held={HELD_ID: NOW + 180},
        app_held_until=app_held_until,
        tokens={UP_ID: valid, FAILING_ID: valid, STALE_ID: valid, RECOVERED_ID: valid,
                EXPIRING_ID: TokenStatus(True, NOW + 3 * 86400 + 60, 0.0, frozenset()),
                REVOKED_ID: TokenStatus(True, 0.0, 0.0, frozenset(), checked_at=NOW - 3600)},
        token_answers={UP_ID: Evidence(True, NOW - 12), REVOKED_ID: Evidence(False, NOW - 50)},
        due={UP_ID: NOW + 400, FAILING_ID: NOW + 20},
        config=config,
        shard_index=1,
        shard_count=3,
        reload=ReloadRecord(NOW - 3600, NOW - 60, "config.yaml:3:1: refresh.interval: bad duration"),
        usage_peak=UsagePeak(0.87, "app", "", "call_count", NOW - 120),
        demo=demo,
        generation="7.2.0",
    )
