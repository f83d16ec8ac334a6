"""Batching and spreading: fewest round trips, per-operation outcomes, even load."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import pytest

from exporter.scheduler import DueTimes, next_due, phase_of
from exporter.simulator import Scenario, Simulator
from tests.conftest import RunningExporter, exporter_env, own_tokens, token_env, wait_until

TOKEN = "EAAB-canary-batching-2b2b"


def config(url: str, pages: list[str], extra: str = "", interval: str = "1h") -> str:
    listed = ", ".join(f'{{id: "{p}", access_token_env: {token_env(p)}}}' for p in pages)
    return (f"graph_api: {{base_url: '{url}', max_retries: 1{extra}}}\nrefresh: {{interval: {interval}}}\n"
            f"pages: [{listed}]\n"
            "metrics: [page_messages_new_conversations_unique, page_messages_sent, "
            "{name: page_messages_sent, breakdowns: [messaging_channel]}]\n")


PAGES = [str(8000000000 + i) for i in range(60)]


@pytest.mark.e2e
def test_round_trips_are_the_minimum(simulator: Simulator, start_exporter: Callable[..., RunningExporter]) -> None:
    exporter = start_exporter(config(simulator.url, PAGES), env=exporter_env(**own_tokens(TOKEN, PAGES, simulator)))
    operations = len(PAGES) * 2  # two groups per Page
    assert simulator.request_count() == operations
    assert simulator.http_request_count() == math.ceil(operations / 50)
    scrape = exporter.scrape()
    assert all(scrape.get("messenger_insights_up", page_id=p) == 1 for p in PAGES)
    assert scrape.get("messenger_insights_api_requests_total", outcome="success") == operations


@pytest.mark.e2e
def test_per_operation_errors_timeouts_and_rejections(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    bad, late, retired = PAGES[0], PAGES[1], PAGES[2]
    simulator.set_scenario(bad, Scenario("invalid_token"))
    simulator.set_scenario(late, Scenario("batch_timeout", {"times": 1}))
    simulator.set_scenario(retired, Scenario("retired_metric", {"metrics": ["page_messages_sent"]}))
    exporter = start_exporter(config(simulator.url, PAGES[:10]), env=exporter_env(**own_tokens(TOKEN, PAGES, simulator)))
    scrape = exporter.scrape()
    assert scrape.get("messenger_insights_up", page_id=bad) == 0
    assert scrape.get("messenger_insights_api_errors_total", code="190") == 2  # its two operations
    assert all(scrape.get("messenger_insights_up", page_id=p) == 1 for p in PAGES[1:10])
    # The operation that came back null was asked again, alone, as a plain GET.
    late_requests = [r for r in simulator.requests() if r.page_id == late]
    assert [r.kind for r in late_requests].count("insights") == 1
    assert scrape.series("messenger_insights_page_messages_sent", page_id=late)
    # Error 100 inside a batch: the group was asked again one metric at a time.
    assert scrape.get("messenger_insights_metric_rejected", page_id=retired, metric="page_messages_sent") == 1
    assert scrape.get("messenger_insights_page_messages_new_conversations_unique",
                      page_id=retired, period="day") is not None


@pytest.mark.e2e
def test_usage_headers_of_an_operation_pause_its_page(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    hot = PAGES[3]
    simulator.set_scenario(hot, Scenario("usage", {"call_count": 95}))
    exporter = start_exporter(config(simulator.url, PAGES[:5], interval="2s"),
                              env=exporter_env(**own_tokens(TOKEN, PAGES, simulator)))
    first = simulator.request_count(hot)
    scrape = exporter.scrape()
    assert (scrape.get("messenger_insights_throttled_until_timestamp_seconds", page_id=hot) or 0) > 0
    assert scrape.get("messenger_insights_throttled_until_timestamp_seconds", page_id=PAGES[4]) is None
    assert scrape.get("messenger_insights_throttled_until_timestamp_seconds", page_id="") == 0
    others = simulator.request_count(PAGES[4])
    wait_until(lambda: simulator.request_count(PAGES[4]) >= others + 4, timeout=20, what="two more rounds")
    assert simulator.request_count(hot) == first, "a paused Page got requests"
    assert exporter.scrape().get("messenger_insights_up", page_id=hot) == 0


def test_phases_are_stable_and_spread() -> None:
    assert phase_of("1234567890") == phase_of("1234567890")
    phases = [phase_of(str(8000000000 + i)) for i in range(10_000)]
    buckets = Counter(int(p * 10) for p in phases)
    assert all(900 <= n <= 1100 for n in buckets.values()), buckets


def test_each_page_is_due_once_per_interval_at_its_phase() -> None:
    interval, anchor = 900.0, 1_000_000.0
    for page in ("1", "2", "77777"):
        due = next_due(page, anchor, anchor, interval)
        assert interval / 2 <= due - anchor < 1.5 * interval
        assert math.isclose((due - anchor) / interval % 1, phase_of(page), abs_tol=1e-9)
        assert next_due(page, due, anchor, interval) == due + interval


def test_refreshes_after_the_first_are_spread_over_the_interval() -> None:
    now = [0.0]
    times = DueTimes(100.0, clock=lambda: now[0])
    pages = [str(i) for i in range(2000)]
    assert len(times.take_due(pages)) == 2000  # every Page at once at start
    per_second: Counter[int] = Counter()
    for second in range(1, 251):
        now[0] = float(second)
        per_second[second] = len(times.take_due(pages))
    # From then on each Page is due once per interval, about 20 a second, never a burst.
    steady = [per_second[s] for s in range(151, 251)]
    assert sum(steady) == 2000
    assert max(steady) <= 45
