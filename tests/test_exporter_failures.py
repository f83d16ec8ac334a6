"""Failures stay where they happen: a bad token, a retired metric, a failing Page, stale data."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import requests

from exporter.simulator import Scenario, Simulator
from tests.conftest import RunningExporter, Scrape, exporter_env, own_tokens, token_env, wait_until
from tests.faultkit import page_errors

# Every test here starts processes (the exporter, Prometheus, promtool or Chromium).
pytestmark = pytest.mark.e2e

TOKEN = "EAAB-canary-failures-51c0de"
GOOD, BAD_TOKEN, FAILING = "3000000001", "3000000002", "3000000003"
ALL_PAGES = (GOOD, BAD_TOKEN, FAILING)

METRICS = """
metrics:
  - name: page_messages_new_conversations_unique
  - name: page_messages_sent
  - name: page_messages_blocked_conversations_unique
"""


def config(url: str, pages: list[str], *, interval: str = "1s", stale_after: str | None = None,
           retries: int = 0, metrics: str = METRICS) -> str:
    page_list = "\n".join(f'  - {{id: "{page}", access_token_env: {token_env(page)}}}' for page in pages)
    stale = f"stale_after: {stale_after}" if stale_after else ""
    return f"""
graph_api:
  base_url: {url}
  timeout: 3s
  max_retries: {retries}
refresh:
  interval: {interval}
  {stale}
pages:
{page_list}
{metrics}
"""


def up(scrape: Scrape, page: str) -> float | None:
    return scrape.get("messenger_insights_up", page_id=page)


def new_conversations(scrape: Scrape, page: str) -> float | None:
    return scrape.get("messenger_insights_page_messages_new_conversations_unique", page_id=page, period="day")


def no_token_anywhere(exporter: RunningExporter) -> None:
    texts = [exporter.logs(), exporter.scrape().text, requests.get(exporter.url + "/", timeout=5).text]
    for text in texts:
        assert TOKEN not in text


def test_bad_token_and_failing_page_do_not_touch_the_good_page(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    simulator.set_scenario(BAD_TOKEN, Scenario("invalid_token"))
    simulator.set_scenario(FAILING, Scenario("transient", {"status": 503}))
    exporter = start_exporter(config(simulator.url, [GOOD, BAD_TOKEN, FAILING], interval="30s"),
                              env=exporter_env(**own_tokens(TOKEN, ALL_PAGES, simulator)))
    scrape = exporter.scrape()
    assert up(scrape, GOOD) == 1
    assert up(scrape, BAD_TOKEN) == 0
    assert up(scrape, FAILING) == 0
    assert new_conversations(scrape, GOOD) is not None
    assert new_conversations(scrape, BAD_TOKEN) is None
    assert scrape.get("messenger_insights_last_success_timestamp_seconds", page_id=BAD_TOKEN) == 0
    assert scrape.get("messenger_insights_api_errors_total", code="190") == 1  # never retried
    assert scrape.get("messenger_insights_api_errors_total", code="1") == 1  # retries: 0
    errors = page_errors(exporter)
    assert errors[BAD_TOKEN].startswith("190: Error validating access token")
    assert errors[FAILING].startswith("1: An unknown error occurred")
    log_lines = [line for line in exporter.logs().splitlines() if "Graph API request failed" in line]
    assert len(log_lines) == 2
    assert any(f"page_id={BAD_TOKEN}" in line and "code=190" in line for line in log_lines)
    assert any(f"page_id={FAILING}" in line and "code=1 " in line for line in log_lines)
    no_token_anywhere(exporter)


def test_transient_errors_are_retried_within_the_refresh(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    simulator.set_scenario(FAILING, Scenario("transient", {"times": 2}))
    exporter = start_exporter(config(simulator.url, [FAILING], interval="30s", retries=3),
                              env=exporter_env(**own_tokens(TOKEN, ALL_PAGES, simulator)))
    scrape = exporter.scrape()
    assert up(scrape, FAILING) == 1
    assert simulator.request_count(FAILING) == 3
    assert scrape.get("messenger_insights_api_errors_total", code="1") == 2
    assert scrape.get("messenger_insights_api_requests_total", outcome="success") == 1
    assert scrape.get("messenger_insights_api_requests_total", outcome="error") == 2


def test_retired_metric_is_isolated_and_not_asked_for_again(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    simulator.set_scenario(GOOD, Scenario("retired_metric", {"metrics": ["page_messages_sent"]}))
    exporter = start_exporter(config(simulator.url, [GOOD], interval="1s"),
                              env=exporter_env(**own_tokens(TOKEN, ALL_PAGES, simulator)))
    scrape = exporter.scrape()
    assert up(scrape, GOOD) == 1
    assert scrape.get("messenger_insights_metric_rejected", page_id=GOOD, metric="page_messages_sent") == 1
    assert scrape.get("messenger_insights_metric_rejected", page_id=GOOD,
                      metric="page_messages_new_conversations_unique") == 0
    assert new_conversations(scrape, GOOD) is not None
    assert scrape.series("messenger_insights_page_messages_sent") == {}
    # First refresh: the group request, then one request per metric.
    first = simulator.requests()
    assert [r.query["metric"] for r in first[:4]] == [
        "page_messages_new_conversations_unique,page_messages_sent,page_messages_blocked_conversations_unique",
        "page_messages_new_conversations_unique", "page_messages_sent",
        "page_messages_blocked_conversations_unique",
    ]
    wait_until(lambda: simulator.request_count(GOOD) >= 7, what="two more refreshes")
    later = simulator.requests()[4:]
    assert later and all(r.query["metric"] == "page_messages_new_conversations_unique,"
                         "page_messages_blocked_conversations_unique" for r in later)
    warnings = [line for line in exporter.logs().splitlines() if "rejected a metric" in line]
    assert len(warnings) == 1 and "metric=page_messages_sent" in warnings[0]


def test_failed_refresh_keeps_values_until_stale_after_then_drops_them(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    exporter = start_exporter(config(simulator.url, [GOOD, FAILING], interval="1s", stale_after="4s"),
                              env=exporter_env(**own_tokens(TOKEN, ALL_PAGES, simulator)))
    before = exporter.scrape()
    value = new_conversations(before, FAILING)
    assert value is not None
    simulator.set_scenario(FAILING, Scenario("transient"))
    failed_at = time.monotonic()
    during = exporter.wait_for(lambda s: up(s, FAILING) == 0, what="up to drop to 0")
    assert time.monotonic() - failed_at < 3
    assert new_conversations(during, FAILING) == value  # last good value, still served
    gone = exporter.wait_for(lambda s: new_conversations(s, FAILING) is None, timeout=15,
                             what="stale values to be dropped")
    assert time.monotonic() - failed_at >= 3
    assert up(gone, GOOD) == 1 and new_conversations(gone, GOOD) is not None
    assert gone.get("messenger_insights_page_info", page_id=FAILING, page_name=FAILING) == 1
    simulator.clear_scenario(FAILING)
    back = exporter.wait_for(lambda s: up(s, FAILING) == 1, what="the Page to come back")
    assert new_conversations(back, FAILING) == value


def test_series_the_api_stops_returning_disappear(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    exporter = start_exporter(config(simulator.url, [GOOD, FAILING], interval="1s"),
                              env=exporter_env(**own_tokens(TOKEN, ALL_PAGES, simulator)))
    assert new_conversations(exporter.scrape(), GOOD) is not None
    simulator.set_scenario(GOOD, Scenario("empty"))
    scrape = exporter.wait_for(lambda s: new_conversations(s, GOOD) is None, what="series to vanish")
    assert up(scrape, GOOD) == 1  # "no data" is an answer, not an error
    assert scrape.get("messenger_insights_data_end_timestamp_seconds", page_id=GOOD,
                      metric="page_messages_new_conversations_unique", period="day") is None
    assert new_conversations(scrape, FAILING) is not None


def test_garbage_and_tokens_in_error_bodies_are_handled_and_scrubbed(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    echoed = own_tokens(TOKEN, [BAD_TOKEN], simulator)[token_env(BAD_TOKEN)]  # the Page's own token
    echo = json.dumps({"error": {"message": f"Invalid OAuth access token {echoed} "
                                 f"(see https://graph.facebook.com/x?access_token={echoed})",
                                 "type": "OAuthException", "code": 190}})
    simulator.set_scenario(BAD_TOKEN, Scenario("body", {"status": 400, "body": echo}))
    simulator.set_scenario(FAILING, Scenario("garbage"))
    exporter = start_exporter(config(simulator.url, [GOOD, BAD_TOKEN, FAILING], interval="30s"),
                              env=exporter_env(**own_tokens(TOKEN, ALL_PAGES, simulator)))
    scrape = exporter.scrape()
    assert up(scrape, GOOD) == 1
    assert up(scrape, BAD_TOKEN) == 0 and up(scrape, FAILING) == 0
    assert scrape.get("messenger_insights_api_errors_total", code="decode") == 1
    assert scrape.get("messenger_insights_api_errors_total", code="190") == 1
    assert "Invalid OAuth access token [REDACTED]" in page_errors(exporter)[BAD_TOKEN]
    no_token_anywhere(exporter)


def test_unreachable_api_is_a_network_error(start_exporter: Callable[..., RunningExporter]) -> None:
    from tests.conftest import free_port

    # No API listens, so no simulator has to know the token.
    exporter = start_exporter(config(f"http://127.0.0.1:{free_port()}", [GOOD], interval="30s"),
                              env=exporter_env(**{token_env(GOOD): f"{TOKEN}-{GOOD}"}))
    scrape = exporter.scrape()
    assert up(scrape, GOOD) == 0
    assert scrape.get("messenger_insights_api_errors_total", code="network") == 1
    assert "connection refused" in requests.get(exporter.url + "/", timeout=5).text
