"""`--demo`: the exporter against the built-in Graph API simulator, no token needed."""

from __future__ import annotations

from exporter.config import (
    Config,
    GraphApiConfig,
    MetricSpec,
    PageConfig,
    RefreshConfig,
    TokenSource,
    Window,
    default_metrics,
)
from exporter.redact import Secret
from exporter.simulator import Simulator

DEMO_PAGES = (
    ("100000000000001", "Acme Store"),
    ("100000000000002", "Bluebird Cafe"),
    ("100000000000003", "Cedar Outfitters"),
)
DEMO_INTERVAL_SECONDS = 15.0

DEMO_BREAKDOWNS = (
    MetricSpec("page_messages_sent", breakdowns=("messaging_channel",)),
    MetricSpec("page_messages_read_ratio", breakdowns=("messaging_channel",)),
    MetricSpec("page_messages_engagement", breakdowns=("recurring_notifications_topic",)),
    MetricSpec(
        "recurring_notifications_tokens",
        period="total_over_range",
        window=Window(range_seconds=28 * 86400),
        breakdowns=("recurring_notifications_topic", "recurring_notifications_frequency"),
    ),
)


def demo_config(base_url: str) -> tuple[Config, dict[str, Secret]]:
    """Three sample Pages with every catalog metric and some breakdowns, refreshed every 15s."""
    metrics = (*default_metrics(), *DEMO_BREAKDOWNS)
    pages = tuple(
        PageConfig(page_id, name, TokenSource(env="DEMO_TOKEN"), metrics) for page_id, name in DEMO_PAGES
    )
    config = Config(
        GraphApiConfig(base_url=base_url, timeout=10.0),
        RefreshConfig(interval=DEMO_INTERVAL_SECONDS, stale_after=3 * DEMO_INTERVAL_SECONDS),
        pages,
        source="built-in demo",
    )
    tokens = {page_id: Secret(f"demo-token-{page_id}") for page_id, _ in DEMO_PAGES}
    return config, tokens


def start_demo() -> tuple[Config, dict[str, Secret], Simulator]:
    simulator = Simulator(host="127.0.0.1", port=0)
    simulator.start()
    config, tokens = demo_config(simulator.url)
    return config, tokens, simulator
