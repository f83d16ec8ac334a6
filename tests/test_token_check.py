"""The token checker in-process against Simulator(port=0) with an app secret: one
/debug_token per distinct token, validity, expiry and missing permissions, answers that
are not token info, and a checker whose client was retired."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from exporter.config import GraphApiConfig, Window
from exporter.governor import RateLimitGovernor
from exporter.graph_client import GraphClient, InsightsQuery
from exporter.redact import Secret
from exporter.self_metrics import SelfMetrics
from exporter.simulator import Simulator
from exporter.token_check import (
    REQUIRED_SCOPES,
    TokenChecker,
    TokenInfoError,
    TokenStatus,
    parse_token_info,
)
from tests.inprocess import watch_logs

APP_ID, APP_SECRET = "100000000000777", "token-check-app-secret"
A, B, C = "8400000001", "8400000002", "8400000003"
SHARED, OWN = Secret("EAAB-token-shared-by-a-and-b"), Secret("EAAB-token-of-c")
TOKENS = {A: SHARED, B: SHARED, C: OWN}


class Clock:
    now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sim() -> Iterator[Simulator]:
    # The tokens the API issued: SHARED is A's Page token (B is configured with it too).
    simulator = Simulator(port=0, app_secret=APP_SECRET,
                          page_tokens={A: SHARED.reveal(), C: OWN.reveal()})
    simulator.start()
    yield simulator
    simulator.stop()


def checker_for(sim: Simulator, clock: Clock | None = None) -> TokenChecker:
    api = GraphApiConfig(base_url=sim.url, max_retries=0, timeout=5, app_id=APP_ID)
    client = GraphClient(api, SelfMetrics(CollectorRegistry()), RateLimitGovernor(0.9),
                         app_secret=Secret(APP_SECRET))
    # The simulator knows a Page token once it was used for that Page.
    client.run([(InsightsQuery(page, ("page_messages_sent",), "day", Window()), token)
                for page, token in TOKENS.items()])
    return TokenChecker(client, APP_ID, Secret(APP_SECRET), clock=clock or Clock())


def test_each_distinct_token_is_checked_once_and_every_page_gets_its_status(sim: Simulator) -> None:
    clock = Clock()
    checker = checker_for(sim, clock)
    checker.check(TOKENS)
    assert sim.request_count(kind="debug_token") == 2
    statuses = checker.statuses()
    assert set(statuses) == {A, B, C} and statuses[A] is statuses[B]
    assert statuses[C] == TokenStatus(True, 0.0, statuses[C].data_access_expires_at, frozenset(), clock.now)


def test_invalid_expiring_and_missing_permissions_are_reported(sim: Simulator) -> None:
    sim.set_token_info(OWN.reveal(), is_valid=False)
    sim.set_token_info(SHARED.reveal(), expires_at=1_800_000_000, scopes=["pages_show_list"])
    checker = checker_for(sim)
    with watch_logs() as logs:
        checker.check(TOKENS)
    statuses = checker.statuses()
    assert statuses[C].valid is False
    assert statuses[A].valid and statuses[A].expires_at == 1_800_000_000
    assert statuses[A].missing_scopes == frozenset(REQUIRED_SCOPES) - {"pages_show_list"}
    assert [r.getMessage() for r in logs.records] == ["Page token is not fit for insights"] * 2


def test_a_failed_check_keeps_the_last_status_and_says_so(sim: Simulator) -> None:
    checker = checker_for(sim)
    checker.check(TOKENS)
    before = checker.statuses()
    sim.set_token_info(OWN.reveal(), is_valid=None)  # an answer without is_valid
    with watch_logs() as logs:
        checker.check(TOKENS)
    assert checker.statuses()[C] is before[C]
    assert [r.getMessage() for r in logs.records] == ["token check failed"]
    assert not logs.tracebacks()


def test_pages_no_longer_listed_are_forgotten(sim: Simulator) -> None:
    checker = checker_for(sim)
    checker.check(TOKENS)
    checker.check({A: SHARED})
    assert set(checker.statuses()) == {A}


def test_a_retired_checker_stops_quietly_and_keeps_what_it_had(sim: Simulator) -> None:
    checker = checker_for(sim)
    checker.check(TOKENS)
    before = checker.statuses()
    checker.client.close(wait=0)
    with watch_logs() as logs:
        checker.check(TOKENS)
    assert checker.statuses() is before
    assert not logs.records
    assert sim.request_count(kind="debug_token") == 2


def test_a_throttled_app_is_a_failed_check_not_a_crash(sim: Simulator) -> None:
    checker = checker_for(sim)
    checker.client.governor.observe([], "", 4)
    with watch_logs() as logs:
        checker.check(TOKENS)
    assert checker.statuses() == {}
    assert sim.request_count(kind="debug_token") == 0
    assert {r.getMessage() for r in logs.records} == {"token check failed"}


@pytest.mark.parametrize(("document", "problem"), [
    ([], 'no "data" object'),
    ({"data": {"scopes": []}}, "no is_valid flag"),
    ({"data": {"is_valid": True, "scopes": "read_insights"}}, "not a list of names"),
    ({"data": {"is_valid": True, "expires_at": "soon"}}, "expires_at is not a unix time"),
    ({"data": {"is_valid": True, "data_access_expires_at": -1}}, "data_access_expires_at is not a unix time"),
])
def test_answers_that_are_not_token_info_are_refused(document: object, problem: str) -> None:
    with pytest.raises(TokenInfoError, match=problem):
        parse_token_info(document)
