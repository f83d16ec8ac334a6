"""The exporter's own activity: Graph API requests, errors, usage headers, build info."""

from __future__ import annotations

import platform

from prometheus_client import CollectorRegistry, Counter, Gauge

from exporter import __version__
from exporter.sharding import Shard
from exporter.usage import UsageBoard, UsageReport


class SelfMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.api_requests = Counter(
            "messenger_insights_api_requests",
            "Graph API requests made (each operation of a batch counts), by outcome (success or error).",
            ["outcome"],
            registry=registry,
        )
        self._succeeded, self._failed = (self.api_requests.labels(outcome) for outcome in ("success", "error"))
        self.api_errors = Counter(
            "messenger_insights_api_errors",
            "Failed Graph API requests (operations), by Graph error code, or http (an HTTP error without "
            "a Graph error body), network (connection or timeout) or decode (unusable answer).",
            ["code"],
            registry=registry,
        )
        for code in ("http", "network", "decode"):
            self.api_errors.labels(code)
        self.usage = UsageBoard()  # rendered with the cached part of /metrics
        build_info = Gauge(
            "messenger_insights_build_info",
            "Build information of the exporter; always 1.",
            ["version", "python_version"],
            registry=registry,
        )
        build_info.labels(__version__, platform.python_version()).set(1)

    def request_succeeded(self) -> None:
        self._succeeded.inc()

    def request_failed(self, code: str) -> None:
        self._failed.inc()
        self.api_errors.labels(code).inc()

    def record_usage(self, reports: list[UsageReport]) -> None:
        self.usage.record(reports)


class ScaleMetrics:
    """Sharding and discovery: what this replica owns and what discovery last found."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.shard_info = Gauge(
            "messenger_insights_shard_info", "This replica's shard; always 1.", ["index", "count"],
            registry=registry,
        )
        self.pages = Gauge("messenger_insights_pages", "Pages this shard owns and refreshes.",
                           registry=registry)
        self.discovered_pages = Gauge(
            "messenger_insights_discovered_pages",
            "Pages the last successful discovery found (after include/exclude, before sharding).",
            registry=registry,
        )
        self.discovery_success = Gauge(
            "messenger_insights_discovery_last_success_timestamp_seconds",
            "Unix time of the last successful Page discovery (0 before the first).",
            registry=registry,
        )

    def shard(self, shard: Shard, owned: int) -> None:
        self.shard_info.clear()
        self.shard_info.labels(str(shard.index), str(shard.count)).set(1)
        self.pages.set(owned)

    def discovered(self, count: int, at: float) -> None:
        self.discovered_pages.set(count)
        self.discovery_success.set(at)
