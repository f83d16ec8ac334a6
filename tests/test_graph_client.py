"""GraphClient in-process against Simulator(port=0): retries with backoff, batches split by
batch_size, a broken batch asked again one operation at a time, the governor's holds,
debug_token, and a retired client that sends nothing more."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from exporter import graph_client
from exporter.config import GraphApiConfig, Window
from exporter.governor import RateLimitGovernor
from exporter.graph_client import (
    ClientClosedError,
    GraphClient,
    GraphError,
    InsightsQuery,
    ThrottledError,
)
from exporter.insights_response import MetricData
from exporter.redact import Secret
from exporter.self_metrics import SelfMetrics
from exporter.simulator import Scenario, Simulator
from tests.conftest import wait_until

NEW = "page_messages_new_conversations_unique"
SENT = "page_messages_sent"
PAGES = tuple(f"830000000{i}" for i in range(1, 6))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(port=0, page_tokens={page: page_token(page) for page in PAGES})
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The backoff attempts asked for; no real waiting."""
    asked: list[int] = []

    def no_wait(attempt: int) -> float:
        asked.append(attempt)
        return 0.0

    monkeypatch.setattr(graph_client, "backoff_delay", no_wait)
    return asked


def client_for(sim: Simulator, *, retries: int = 3, batch_size: int = 50, timeout: float = 5.0,
               clock: Clock | None = None, app_secret: str | None = None) -> GraphClient:
    api = GraphApiConfig(base_url=sim.url, timeout=timeout, max_retries=retries, batch_size=batch_size)
    governor = RateLimitGovernor(api.max_usage_ratio, clock=clock or time.time)
    return GraphClient(api, SelfMetrics(CollectorRegistry()), governor, clock=clock or time.time,
                       app_secret=Secret(app_secret) if app_secret is not None else None)


def page_token(page: str) -> str:
    """The Page's own token, registered with the simulator (Meta knows the tokens it issued)."""
    return f"EAAB-client-token-{page}"


def operation(page: str, *metrics: str) -> tuple[InsightsQuery, Secret]:
    return InsightsQuery(page, metrics or (NEW,), "day", Window()), Secret(page_token(page))


def errors(client: GraphClient, code: str) -> float:
    return float(client.metrics.api_errors.labels(code)._value.get())


def test_a_transient_error_is_retried_with_backoff_until_it_passes(sim: Simulator, delays: list[int]) -> None:
    sim.set_scenario(PAGES[0], Scenario("transient", {"times": 2}))
    client = client_for(sim, retries=3)
    (result,) = client.run([operation(PAGES[0])])
    assert isinstance(result, dict) and isinstance(result[NEW], MetricData)
    assert sim.request_count(PAGES[0]) == 3
    assert delays == [0, 1], "backoff grows with each attempt"
    assert errors(client, "2") + errors(client, "1") == 2


def test_retries_stop_at_max_retries_with_the_last_error(sim: Simulator, delays: list[int]) -> None:
    sim.set_scenario(PAGES[0], Scenario("transient"))
    client = client_for(sim, retries=2)
    (result,) = client.run([operation(PAGES[0])])
    assert isinstance(result, GraphError) and result.transient
    assert sim.request_count(PAGES[0]) == 3
    assert delays == [0, 1]


def test_only_the_failing_operations_are_retried(sim: Simulator, delays: list[int]) -> None:
    sim.set_scenario(PAGES[1], Scenario("transient", {"times": 1}))
    client = client_for(sim, retries=3)
    results = client.run([operation(page) for page in PAGES[:3]])
    assert all(isinstance(r, dict) for r in results)
    assert [sim.request_count(page) for page in PAGES[:3]] == [1, 2, 1]


def test_a_token_error_is_not_retried(sim: Simulator, delays: list[int]) -> None:
    sim.set_scenario(PAGES[0], Scenario("invalid_token"))
    client = client_for(sim, retries=3)
    (result,) = client.run([operation(PAGES[0])])
    assert isinstance(result, GraphError) and result.code == "190" and not result.transient
    assert result.kind == "token or permission"
    assert sim.request_count(PAGES[0]) == 1 and delays == []


def test_operations_are_split_into_batches_of_batch_size(sim: Simulator) -> None:
    client = client_for(sim, batch_size=2)
    results = client.run([operation(page) for page in PAGES])
    assert all(isinstance(r, dict) for r in results)
    assert sim.http_request_count() == 3, "5 operations in batches of 2: 2 + 2 + 1 (alone)"
    assert sim.request_count(kind="insights") == 1, "a batch of one is a plain GET"
    assert sim.request_count(kind="batch") == 4


def test_batch_size_one_sends_each_operation_alone(sim: Simulator) -> None:
    client = client_for(sim, batch_size=1)
    results = client.run([operation(page) for page in PAGES[:3]])
    assert all(isinstance(r, dict) for r in results)
    assert sim.http_request_count() == 3 and sim.request_count(kind="batch") == 0


def test_a_batch_broken_as_a_whole_is_asked_again_one_operation_at_a_time(sim: Simulator) -> None:
    sim.set_scenario(PAGES[2], Scenario("reset"))  # spoils the whole batch answer
    client = client_for(sim, retries=0, batch_size=50)
    results = client.run([operation(page) for page in PAGES])
    assert isinstance(results[2], GraphError) and results[2].code == "network"
    assert all(isinstance(results[i], dict) for i in (0, 1, 3, 4)), "only its own Page suffers"
    assert sim.http_request_count() == 1 + len(PAGES)
    assert sim.request_count(kind="insights") == len(PAGES)


def test_per_operation_errors_in_a_batch_stay_with_their_operation(sim: Simulator) -> None:
    sim.set_scenario(PAGES[1], Scenario("retired_metric", {"metrics": [SENT]}))
    sim.set_scenario(PAGES[3], Scenario("permission_denied", {"code": 10}))
    client = client_for(sim, retries=0)
    results = client.run([operation(page, NEW, SENT) for page in PAGES])
    assert sim.http_request_count() == 1
    assert isinstance(results[1], GraphError) and results[1].rejects_metric
    assert isinstance(results[3], GraphError) and results[3].code == "10" and not results[3].rejects_metric
    assert all(isinstance(results[i], dict) for i in (0, 2, 4))


def test_a_held_page_gets_no_request(sim: Simulator) -> None:
    clock = Clock(time.time())
    client = client_for(sim, clock=clock)
    client.governor.observe([], PAGES[0], 613)
    results = client.run([operation(page) for page in PAGES[:2]])
    assert isinstance(results[0], ThrottledError) and results[0].until >= clock.now + 60
    assert isinstance(results[1], dict)
    assert sim.request_count(PAGES[0]) == 0
    clock.now += 3600
    assert isinstance(client.run([operation(PAGES[0])])[0], dict), "the hold ends with its pause"


def test_everything_held_sends_nothing(sim: Simulator) -> None:
    client = client_for(sim)
    client.governor.observe([], "", 4)  # app-wide limit
    results = client.run([operation(page) for page in PAGES])
    assert all(isinstance(r, ThrottledError) for r in results)
    assert sim.http_request_count() == 0


def test_debug_token_answers_and_counts() -> None:
    with Simulator(port=0, app_secret="client-app-secret", page_tokens={PAGES[0]: page_token(PAGES[0])}) as sim:
        client = client_for(sim, app_secret="client-app-secret")
        query, token = operation(PAGES[0])
        assert isinstance(client.run([(query, token)])[0], dict)
        app_token = Secret("1|client-app-secret")
        assert client.debug_token(token, app_token)["data"]["is_valid"] is True
        assert client.debug_token(Secret("EAAB-never-seen"), app_token)["data"]["is_valid"] is False
        assert sim.request_count(kind="debug_token") == 2
        assert all(entry.proof_ok for entry in sim.requests())
        assert client.metrics.api_requests.labels("success")._value.get() == 3


def test_a_closed_client_sends_nothing_and_counts_no_error(sim: Simulator) -> None:
    client = client_for(sim)
    assert client.close(wait=0) and client.closed
    results = client.run([operation(page) for page in PAGES])
    assert all(isinstance(r, ClientClosedError) for r in results)
    with pytest.raises(ClientClosedError):
        client.get_json("me/accounts", {}, Secret("EAAB-user-token"))
    with pytest.raises(ClientClosedError):
        client.debug_token(Secret("EAAB-page"), Secret("1|secret"))
    assert sim.http_request_count() == 0
    assert client.metrics.api_requests.labels("error")._value.get() == 0


def test_close_waits_for_the_requests_in_flight(sim: Simulator) -> None:
    sim.set_scenario(PAGES[0], Scenario("slow", {"seconds": 0.4}))
    client = client_for(sim, retries=0)
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.extend(client.run([operation(PAGES[0])])))
    thread.start()
    wait_until(lambda: sim.request_count(PAGES[0]) == 1, what="the request in flight")
    assert client.close(wait=0.01) is False, "still in flight"
    started = time.monotonic()
    assert client.close(wait=5) is True
    assert time.monotonic() - started < 3
    thread.join(timeout=5)
    assert isinstance(outcome[0], dict), "a request already sent finishes normally"


def test_close_cuts_a_backoff_short(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_client, "backoff_delay", lambda attempt: 30.0)
    sim.set_scenario(PAGES[0], Scenario("transient"))
    client = client_for(sim, retries=3)
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.extend(client.run([operation(PAGES[0])])))
    thread.start()
    wait_until(lambda: sim.request_count(PAGES[0]) == 1, what="the first try")
    client.close(wait=1)
    thread.join(timeout=5)
    assert not thread.is_alive(), "the 30 s backoff was cut short"
    assert isinstance(outcome[0], GraphError) and sim.request_count(PAGES[0]) == 1


def test_proxies_and_no_proxy_come_from_the_environment(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy that refuses connections: the API is reached through it, or not at all.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    (result,) = client_for(sim, retries=0).run([operation(PAGES[0])])
    assert isinstance(result, GraphError) and result.code == "network"
    assert sim.request_count() == 0
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    (result,) = client_for(sim, retries=0).run([operation(PAGES[0])])
    assert isinstance(result, dict)


def test_a_ca_bundle_from_the_environment_is_used(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    assert client_for(sim)._session().verify == "/etc/ssl/certs/ca-certificates.crt"
