"""The exporter's own activity: Graph API requests, errors, usage headers, build info."""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from exporter import __version__

USAGE_KINDS = ("call_count", "total_cputime", "total_time")
# Response header -> `source` label of messenger_insights_api_usage_ratio.
USAGE_HEADERS = {
    "x-app-usage": "app",
    "x-business-use-case-usage": "business_use_case",
    "x-page-usage": "page",
}


class SelfMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.api_requests = Counter(
            "messenger_insights_api_requests",
            "Graph API HTTP requests made, by outcome (success or error).",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("success", "error"):
            self.api_requests.labels(outcome)
        self.api_errors = Counter(
            "messenger_insights_api_errors",
            "Failed Graph API requests, by Graph error code, or http (an HTTP error without "
            "a Graph error body), network (connection or timeout) or decode (unusable answer).",
            ["code"],
            registry=registry,
        )
        self.api_usage = Gauge(
            "messenger_insights_api_usage_ratio",
            "Latest Graph API rate-limit usage header value divided by 100 (1 = quota used up), "
            "by source (app, business_use_case, page), id and kind.",
            ["source", "id", "kind"],
            registry=registry,
        )
        build_info = Gauge(
            "messenger_insights_build_info",
            "Build information of the exporter; always 1.",
            ["version", "python_version"],
            registry=registry,
        )
        build_info.labels(__version__, platform.python_version()).set(1)

    def request_succeeded(self) -> None:
        self.api_requests.labels("success").inc()

    def request_failed(self, code: str) -> None:
        self.api_requests.labels("error").inc()
        self.api_errors.labels(code).inc()

    def record_usage(self, headers: Mapping[str, str], page_id: str) -> None:
        """Update usage ratios from whatever usage headers an answer carries."""
        for header, source in USAGE_HEADERS.items():
            raw = headers.get(header)
            if raw is None:
                continue
            for scope_id, figures in parse_usage_header(source, raw, page_id):
                for kind, percent in figures.items():
                    self.api_usage.labels(source, scope_id, kind).set(percent / 100)


def parse_usage_header(source: str, raw: str, page_id: str) -> list[tuple[str, dict[str, float]]]:
    """(scope id, {kind: percent}) pairs from a usage header; malformed parts are skipped.

    x-app-usage and x-page-usage hold one object; x-business-use-case-usage maps each
    business-use-case id to a list of objects, one per type.
    """
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        return []
    if source == "business_use_case":
        if not isinstance(document, dict):
            return []
        pairs: list[tuple[str, dict[str, float]]] = []
        for scope_id, entries in document.items():
            if not isinstance(entries, list):
                continue
            merged: dict[str, float] = {}
            for entry in entries:
                for kind, percent in _figures(entry).items():
                    merged[kind] = max(percent, merged.get(kind, 0.0))
            if merged:
                pairs.append((str(scope_id), merged))
        return pairs
    scope = "" if source == "app" else page_id
    figures = _figures(document)
    return [(scope, figures)] if figures else []


def _figures(entry: Any) -> dict[str, float]:
    if not isinstance(entry, dict):
        return {}
    figures: dict[str, float] = {}
    for kind in USAGE_KINDS:
        value = entry.get(kind)
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1e6:
            figures[kind] = float(value)
    return figures
