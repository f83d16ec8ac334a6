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
from exporter.simulator import Scenario, Simulator

DEMO_PAGES = (
    ("100000000000001", "Acme Store"),
    ("100000000000002", "Bluebird Cafe"),
    ("100000000000003", "Cedar Outfitters"),
)
# The demo Page whose blocked and reported conversations spike on the latest complete day:
# 10 x the day's value + 20, against a 7-day baseline of at most 6 (the simulator's range
# for both), so the shipped spike alerts (> 3 x baseline and >= 10) fire for it alone.
DEMO_SPIKING_PAGE = "100000000000003"
DEMO_SPIKE = Scenario("spike", {"factor": 10, "add": 20})
DEMO_INTERVAL_SECONDS = 15.0
# The demo app: the simulator requires appsecret_proof with this secret, and the exporter
# checks the Page tokens with /debug_token, so the token panels have data.
DEMO_APP_ID = "100000000000999"
DEMO_APP_SECRET = Secret("demo-app-secret")

# The breakdowns the dashboards read (grafana/generate.py): marketing messages sent, read
# ratio and engagement by channel, by topic and by campaign (one entry each), and
# recurring-notification opt-ins by topic x frequency.
DEMO_BREAKDOWNS = (
    *(
        MetricSpec(metric, breakdowns=(dimension,))
        for metric in ("page_messages_sent", "page_messages_read_ratio", "page_messages_engagement")
        for dimension in ("messaging_channel", "recurring_notifications_topic", "campaign_id")
    ),
    MetricSpec(
        "recurring_notifications_tokens",
        period="total_over_range",
        window=Window(range_seconds=28 * 86400),
        breakdowns=("recurring_notifications_topic", "recurring_notifications_frequency"),
    ),
)


def demo_config(base_url: str) -> tuple[Config, dict[str, Secret]]:
    """Three sample Pages with every catalog metric and the dashboards' breakdowns, refreshed
    every 15s, their tokens checked as the demo app's (start the simulator with
    app_secret=DEMO_APP_SECRET and give the exporter that secret)."""
    metrics = (*default_metrics(), *DEMO_BREAKDOWNS)
    pages = tuple(
        PageConfig(page_id, name, TokenSource(env="DEMO_TOKEN"), metrics) for page_id, name in DEMO_PAGES
    )
    config = Config(
        GraphApiConfig(base_url=base_url, timeout=10.0, app_id=DEMO_APP_ID,
                       app_secret=TokenSource(env="DEMO_APP_SECRET")),
        RefreshConfig(interval=DEMO_INTERVAL_SECONDS, stale_after=3 * DEMO_INTERVAL_SECONDS),
        pages,
        source="built-in demo",
    )
    tokens = {page_id: Secret(f"demo-token-{page_id}") for page_id, _ in DEMO_PAGES}
    return config, tokens


def start_demo() -> tuple[Config, dict[str, Secret], Simulator]:
    """The simulator, started with one Page spiking, and the demo's config and tokens; the
    exporter's app secret is DEMO_APP_SECRET."""
    simulator = Simulator(host="127.0.0.1", port=0, app_secret=DEMO_APP_SECRET.reveal())
    simulator.set_scenario(DEMO_SPIKING_PAGE, DEMO_SPIKE)
    simulator.start()
    config, tokens = demo_config(simulator.url)
    # Each demo Page reads with its own token, as against Meta: the simulator refuses any
    # other Page's.
    for page_id, token in tokens.items():
        simulator.set_page_token(page_id, token.reveal())
    return config, tokens, simulator
