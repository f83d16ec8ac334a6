"""Batch operations authenticate as their own Page (issue 9): the exporter's client against a
simulator that applies Meta's batch rules and refuses any Page's insights to another Page's
token. In process, the simulator on port 0."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from exporter.config import GraphApiConfig, Window
from exporter.governor import RateLimitGovernor
from exporter.graph_client import GraphClient, GraphError, InsightsQuery
from exporter.insights_response import MetricData
from exporter.redact import Secret
from exporter.self_metrics import SelfMetrics
from exporter.simulator import Simulator

NEW = "page_messages_new_conversations_unique"
BLOCKED = "page_messages_blocked_conversations_unique"
APP_ID = "5100000999"
APP_SECRET = "batch-tokens-app-secret"
PAGE_TOKENS = {
    "5100000001": "EAAB-batch-tokens-page-one-1a",
    "5100000002": "EAAB-batch-tokens-page-two-2b",
    "5100000003": "EAAB-batch-tokens-page-three-3c",
}


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator(app_secret=APP_SECRET, page_tokens=PAGE_TOKENS) as sim:
        yield sim


def client(simulator: Simulator, batch_size: int = 50) -> GraphClient:
    api = GraphApiConfig(base_url=simulator.url, timeout=10.0, max_retries=0, batch_size=batch_size)
    now = time.time()  # one instant for every query: the same window whichever way it is sent
    return GraphClient(api, SelfMetrics(CollectorRegistry()), RateLimitGovernor(0.9),
                       app_secret=Secret(APP_SECRET), clock=lambda: now)


def operations() -> list[tuple[InsightsQuery, Secret]]:
    window = Window(range_seconds=7 * 86_400)
    return [(InsightsQuery(page, (NEW, BLOCKED), "day", window), Secret(token))
            for page, token in PAGE_TOKENS.items()]


def test_three_pages_with_three_tokens_in_one_batch_each_get_their_own_values(simulator: Simulator) -> None:
    graph = client(simulator)
    batched = graph.run(operations())
    assert simulator.http_request_count() == 1
    recorded = simulator.requests()
    # Each operation named its own token (in its relative_url) and its own proof.
    assert [(r.page_id, r.kind, r.token_source, r.proof_ok) for r in recorded] == [
        (page, "batch", "relative_url", True) for page in PAGE_TOKENS
    ]
    simulator.reset_log()
    alone = client(simulator, batch_size=1).run(operations())
    assert {r.kind for r in simulator.requests()} == {"insights"}
    assert all(isinstance(result, dict) for result in batched), batched
    assert batched == alone
    values: list[dict[str, MetricData]] = [r for r in batched if isinstance(r, dict)]
    assert len({tuple(result[NEW].series) + tuple(result[BLOCKED].series) for result in values}) == 3


def test_one_operation_with_the_wrong_token_fails_alone(simulator: Simulator) -> None:
    """The simulator would catch a client that let operations fall back to the top-level
    token: only the operation whose own token is not its Page's is refused."""
    mixed = operations()
    second_page = mixed[1][0]
    mixed[1] = (second_page, mixed[0][1])  # the second Page asked with the first Page's token
    first, wrong, third = client(simulator).run(mixed)
    assert isinstance(first, dict) and isinstance(third, dict)
    assert isinstance(wrong, GraphError) and wrong.graph_code == 190


def test_debug_token_names_its_input_token_in_the_relative_url(simulator: Simulator) -> None:
    graph = client(simulator)
    app_token = Secret(f"{APP_ID}|{APP_SECRET}")
    for page, token in PAGE_TOKENS.items():
        data = graph.debug_token(Secret(token), app_token)["data"]
        assert (data["is_valid"], data["profile_id"], data["app_id"]) == (True, page, APP_ID)
    assert graph.debug_token(Secret("EAAB-never-issued-token"), app_token)["data"]["is_valid"] is False
    recorded = [r for r in simulator.requests() if r.kind == "debug_token"]
    # No token of its own: the operation ran as the top-level app token, with its proof.
    assert {(r.token_source, r.proof_ok) for r in recorded} == {("batch", True)}
    assert {r.query["input_token"] for r in recorded} == {"REDACTED"}
