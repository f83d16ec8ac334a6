"""The exporter as a process against the simulator: exactly the values and labels the API gives."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import requests

from exporter.catalog import CATALOG, exported_name
from exporter.simulator import Scenario, Simulator
from tests.conftest import (
    RunningExporter,
    expected_from_simulator,
    exporter_env,
    oracle_token,
    own_tokens,
    token_env,
)

# Every test here starts processes (the exporter, Prometheus, promtool or Chromium).
pytestmark = pytest.mark.e2e

TOKEN = "EAAB-canary-values-7f3a9c"
PAGE_A = "1111111111"
PAGE_B = "2222222222"

CONFIG = """
graph_api:
  base_url: {url}
  timeout: 5s
refresh:
  interval: 30s
pages:
  - id: "{a}"
    name: Acme Store
    access_token_env: PAGE_TOKEN_{a}
  - id: {b}
    access_token_env: PAGE_TOKEN_{b}
metrics:
  - name: page_messages_new_conversations_unique
  - name: page_messages_blocked_conversations_unique
  - name: page_messages_reported_conversations_unique
  - name: page_messages_total_messaging_connections
  - name: page_messages_read_ratio
  - name: page_messages_paid_order_earnings
  - name: page_messages_order_count
  - name: page_messages_new_conversations_unique
    period: week
  - name: page_messages_sent
    breakdowns: [messaging_channel]
  - name: page_messages_engagement
    breakdowns: [recurring_notifications_topic, messaging_channel]
  - name: recurring_notifications_tokens
    period: total_over_range
    range: 28d
    breakdowns: [recurring_notifications_topic, recurring_notifications_frequency]
"""

PLAIN = [
    ("page_messages_new_conversations_unique", "day"),
    ("page_messages_blocked_conversations_unique", "day"),
    ("page_messages_reported_conversations_unique", "day"),
    ("page_messages_total_messaging_connections", "day"),
    ("page_messages_read_ratio", "day"),
    ("page_messages_paid_order_earnings", "day"),
    ("page_messages_order_count", "day"),
    ("page_messages_new_conversations_unique", "week"),
]


def run(simulator: Simulator, start_exporter: Callable[..., RunningExporter]) -> RunningExporter:
    config = CONFIG.format(url=simulator.url, a=PAGE_A, b=PAGE_B)
    return start_exporter(config, env=exporter_env(**own_tokens(TOKEN, (PAGE_A, PAGE_B), simulator)))


def test_values_and_labels_match_the_api(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    # Page B answers in the dialect of Meta's reference page: unix end_time, string values.
    simulator.set_scenario(PAGE_B, Scenario("unix_dialect"))
    exporter = run(simulator, start_exporter)
    scrape = exporter.scrape()
    for page in (PAGE_A, PAGE_B):
        for metric, period in PLAIN:
            end, expected = expected_from_simulator(simulator, page, metric, period)
            assert scrape.series(exported_name(metric), page_id=page, period=period) == expected
            assert scrape.get("messenger_insights_data_end_timestamp_seconds",
                              page_id=page, metric=metric, period=period) == end
        checks: list[tuple[str, str, tuple[str, ...], dict[str, str]]] = [
            ("page_messages_sent", "day", ("messaging_channel",), {}),
            ("page_messages_engagement", "day", ("recurring_notifications_topic", "messaging_channel"), {}),
        ]
        for metric, period, breakdowns, extra in checks:
            _, expected = expected_from_simulator(simulator, page, metric, period, breakdowns, extra)
            assert len(expected) > 1
            assert scrape.series(exported_name(metric), page_id=page) == expected
    # total_over_range: one value per topic x frequency, for the 28-day window ending now.
    tokens = scrape.series("messenger_insights_recurring_notifications_tokens", page_id=PAGE_A)
    assert len(tokens) == 9
    assert all({"topic", "frequency", "page_id", "period"} == {k for k, _ in labels} for labels in tokens)
    assert all(("period", "total_over_range") in labels for labels in tokens)


def test_help_type_and_self_metrics(simulator: Simulator, start_exporter: Callable[..., RunningExporter]) -> None:
    exporter = run(simulator, start_exporter)
    scrape = exporter.scrape()
    name = "messenger_insights_page_messages_blocked_conversations_unique"
    assert scrape.types[name] == "gauge"
    assert scrape.help[name].startswith(CATALOG["page_messages_blocked_conversations_unique"].meaning)
    assert scrape.help[name].endswith("Refreshed every 30s.")
    assert scrape.get("messenger_insights_page_info", page_id=PAGE_A, page_name="Acme Store") == 1
    assert scrape.get("messenger_insights_page_info", page_id=PAGE_B, page_name=PAGE_B) == 1
    for page in (PAGE_A, PAGE_B):
        assert scrape.get("messenger_insights_up", page_id=page) == 1
        assert (scrape.get("messenger_insights_last_success_timestamp_seconds", page_id=page) or 0) > 1.7e9
        assert (scrape.get("messenger_insights_refresh_duration_seconds", page_id=page) or 0) > 0
        rejected = scrape.series("messenger_insights_metric_rejected", page_id=page)
        assert len(rejected) == 10 and set(rejected.values()) == {0}
        # Series that name a Graph API metric use Meta's name, even where the exported one differs.
        assert frozenset({("metric", "page_messages_order_count"), ("page_id", page)}) in rejected
        assert scrape.get("messenger_insights_data_end_timestamp_seconds", page_id=page,
                          metric="page_messages_order_count", period="day")
    # 5 groups per Page (day, week, two breakdown sets, total_over_range): 10 requests, no errors.
    assert scrape.get("messenger_insights_api_requests_total", outcome="success") == 10
    assert scrape.get("messenger_insights_api_requests_total", outcome="error") == 0
    assert scrape.get("messenger_insights_api_usage_ratio", source="app", id="", kind="call_count") is not None
    assert scrape.series("messenger_insights_api_usage_ratio", source="business_use_case", id=PAGE_A)
    build = scrape.series("messenger_insights_build_info")
    assert list(build.values()) == [1]
    assert "# EOF" not in scrape.text
    assert "_created" not in scrape.text
    samples = [line for line in scrape.text.splitlines() if not line.startswith("#")]
    assert all(re.fullmatch(r'[a-z_:]+(\{.*\})? \S+', line) for line in samples), (
        "no sample may carry a timestamp")


@pytest.mark.parametrize(("batch_size", "token_source"), [(50, "relative_url"), (1, "header")])
def test_one_operation_per_group_and_the_token_never_in_a_url(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter], batch_size: int, token_source: str
) -> None:
    config = CONFIG.format(url=simulator.url, a=PAGE_A, b=PAGE_B).replace(
        "  timeout: 5s", f"  timeout: 5s\n  batch_size: {batch_size}")
    exporter = start_exporter(config, env=exporter_env(**own_tokens(TOKEN, (PAGE_A, PAGE_B), simulator)))
    recorded = [r for r in simulator.requests() if r.page_id == PAGE_A]
    assert len(recorded) == 5
    # "relative_url": in the operation's relative_url, inside the POST body; "header":
    # Authorization. Never "query" (a URL), nor "batch" (the top-level fallback token).
    assert {r.token_source for r in recorded} == {token_source}
    # Both Pages' ten operations: one batch, or ten GETs.
    assert simulator.http_request_count() == (1 if batch_size > 1 else 10)
    day = next(r for r in recorded if r.query.get("period") == "day" and "breakdown" not in r.query)
    assert day.query["metric"].split(",") == [m for m, p in PLAIN if p == "day"]
    window = next(r for r in recorded if r.query.get("period") == "total_over_range")
    assert int(window.query["until"]) - int(window.query["since"]) == 28 * 86400
    assert window.query["breakdown"] == "recurring_notifications_topic,recurring_notifications_frequency"
    # The simulator echoes the token in paging URLs, as Meta does; it must never come out.
    for text in (exporter.logs(), exporter.scrape().text, requests.get(exporter.url, timeout=5).text):
        assert TOKEN not in text


def test_baselines_from_the_same_request(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    simulator.set_scenario(PAGE_B, Scenario("spike"))
    config = f"""
graph_api: {{base_url: "{simulator.url}"}}
pages: [{{id: "{PAGE_A}", access_token_env: {token_env(PAGE_A)}}}, {{id: "{PAGE_B}", access_token_env: {token_env(PAGE_B)}}}]
metrics:
  - name: page_messages_blocked_conversations_unique
  - name: page_messages_reported_conversations_unique
    baseline_days: 3
  - name: page_messages_new_conversations_unique
    baseline_days: 0
  - name: page_messages_sent
    period: week
"""
    exporter = start_exporter(config, env=exporter_env(**own_tokens(TOKEN, (PAGE_A, PAGE_B), simulator)))
    scrape = exporter.scrape()
    for page in (PAGE_A, PAGE_B):
        for metric, days in (("page_messages_blocked_conversations_unique", 7),
                             ("page_messages_reported_conversations_unique", 3)):
            requests_made = [r for r in simulator.requests() if r.page_id == page and metric in r.query["metric"]]
            (request,) = requests_made
            assert int(request.query["until"]) - int(request.query["since"]) == (days + 1) * 86400
            daily = _daily_values(simulator, page, metric, days + 1)
            assert len(daily) == days + 1
            assert scrape.get(exported_name(metric), page_id=page, period="day") == daily[-1]
            baseline = scrape.get(exported_name(metric) + "_baseline", page_id=page, period="day")
            assert baseline == sum(daily[:-1]) / days
        assert scrape.series("messenger_insights_page_messages_new_conversations_unique_baseline") == {}
        assert scrape.series("messenger_insights_page_messages_sent_baseline") == {}
        (plain,) = [r for r in simulator.requests()
                    if r.page_id == page and r.query["metric"] == "page_messages_new_conversations_unique"]
        assert "since" not in plain.query  # no baseline: the API's default window
    spiking = scrape.get("messenger_insights_page_messages_blocked_conversations_unique", page_id=PAGE_B, period="day")
    normal = scrape.get("messenger_insights_page_messages_blocked_conversations_unique_baseline",
                        page_id=PAGE_B, period="day")
    assert spiking is not None and normal is not None and spiking > 5 * normal
    assert "complete days before the latest one" in scrape.help[
        "messenger_insights_page_messages_blocked_conversations_unique_baseline"]


def _daily_values(simulator: Simulator, page: str, metric: str, days: int) -> list[float]:
    """The last `days` complete daily values, oldest first, read straight from the simulator."""
    import time

    now = int(time.time())
    answer = requests.get(f"{simulator.url}/v24.0/{page}/insights",
                          params={"metric": metric, "period": "day", "since": str(now - days * 86400),
                                  "until": str(now)},
                          headers={"Authorization": f"Bearer {oracle_token(simulator, page)}"},
                          timeout=10).json()
    return [float(row["value"]) for row in answer["data"][0]["values"]]
