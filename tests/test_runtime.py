"""One runtime per reload or rediscovery, published with one assignment: in-process tests
against the simulator, including 50 reloads under continuous scrapes, refreshes and
token checks."""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from exporter.app import Exporter
from exporter.http_server import Endpoint, HttpServer
from exporter.reloader import Reloader
from exporter.runtime import Runtime, Settings
from exporter.scheduler import DueTimes, RefreshScheduler
from exporter.simulator import Scenario, Simulator
from exporter.status_board import StatusBoard
from tests.conftest import Scrape, wait_until
from tests.inprocess import settings_for, watch_logs

APP_SECRET = "runtime-test-app-secret"
K1, K2, R1, R2 = "8100000001", "8100000002", "8100000003", "8100000004"
TOKENS = {page: f"EAAB-runtime-token-{page}" for page in (K1, K2, R1, R2)}
SENT = "messenger_insights_page_messages_sent"
NEW = "messenger_insights_page_messages_new_conversations_unique"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(port=0, app_secret=APP_SECRET, page_tokens=TOKENS)
    simulator.start()
    yield simulator
    simulator.stop()


def pages(*ids: str) -> dict[str, str]:
    return {page: TOKENS[page] for page in ids}


def settings(sim: Simulator, *ids: str, api: str = "max_retries: 0, batch_size: 2") -> Settings:
    return settings_for(sim.url, pages(*ids), api=api, app_secret=APP_SECRET)


def value(exporter: Exporter, page: str) -> float | None:
    body = b"".join(exporter.metrics_body(openmetrics=False, compress=False)).decode()
    return Scrape.parse(body).get(NEW, page_id=page, period="day")


def test_a_reload_publishes_a_new_runtime_and_leaves_the_old_one_whole(sim: Simulator) -> None:
    exporter = Exporter(settings(sim, K1, R1))
    assert exporter.refresh_all_once()
    before = exporter.runtime
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.pages = {}  # type: ignore[misc]
    kept = value(exporter, K1)
    exporter.reload(settings(sim, K1, R2))
    after = exporter.runtime
    assert isinstance(after, Runtime) and after is not before
    assert set(before.pages) == {K1, R1} and set(after.pages) == {K1, R2}
    assert before.tokens[R1].reveal() == TOKENS[R1] and R1 not in after.tokens
    assert before.client.closed and not after.client.closed, "a removed Page retires the old client"
    assert after.refresher.client is after.client
    assert after.token_checker is not None and after.token_checker.client is after.client
    assert value(exporter, K1) == kept, "a kept Page keeps its values"
    assert value(exporter, R1) is None
    assert set(exporter.snapshots()) == {K1, R2}
    assert exporter.refresh_pages([K1, R1, R2]) == []
    assert value(exporter, R2) is not None


def test_a_reload_that_removes_nothing_keeps_the_client(sim: Simulator) -> None:
    exporter = Exporter(settings(sim, K1))
    client = exporter.runtime.client
    exporter.reload(settings(sim, K1, K2))
    assert exporter.runtime.client is client and not client.closed
    exporter.reload(settings(sim, K1, K2, api="max_retries: 1, batch_size: 2"))
    assert exporter.runtime.client is not client and client.closed, "new API settings, new client"


def test_a_round_a_reload_overtakes_stores_nothing_and_asks_again(sim: Simulator) -> None:
    sim.set_scenario(R1, Scenario("slow", {"seconds": 0.4}))
    exporter = Exporter(settings(sim, K1, R1, api="max_retries: 0, batch_size: 1"))
    old = exporter.runtime
    interrupted: list[list[str]] = []
    round_ = threading.Thread(target=lambda: interrupted.append(exporter.refresh_pages([K1, R1])))
    round_.start()
    wait_until(lambda: sim.request_count(R1) > 0, what="the slow request in flight")
    exporter.reload(settings(sim, K1, R2, api="max_retries: 0, batch_size: 1"))
    requests_after_reload = sim.request_count(R1)
    round_.join(timeout=10)
    assert old.client.closed
    assert R1 not in exporter.snapshots(), "a removed Page does not come back from an old round"
    assert sim.request_count(R1) == requests_after_reload
    assert set(interrupted[0]) <= {K1, R1}


def test_a_token_check_uses_the_runtime_it_started_with(sim: Simulator) -> None:
    exporter = Exporter(settings(sim, K1, R1))
    exporter.check_tokens()
    checker = exporter.runtime.token_checker
    assert checker is not None and set(checker.statuses()) == {K1, R1}
    exporter.reload(settings(sim, K1, R2))
    renewed = exporter.runtime.token_checker
    assert renewed is not None and renewed is not checker
    assert set(renewed.statuses()) == {K1}, "a kept Page's last status stands; a removed one goes"
    exporter.check_tokens()
    assert set(renewed.statuses()) == {K1, R2}


class _Load:
    """Scrapes, status page views, refresh rounds and token checks, each in a loop until stopped."""

    def __init__(self, exporter: Exporter, url: str) -> None:
        self.exporter = exporter
        self.url = url
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.scrapes = self.rounds = self.checks = 0
        self.workers = [threading.Thread(target=t) for t in (
            self.scrape, self.scrape, self.status_page, self.refresh, self.refresh, self.check)]

    def __enter__(self) -> _Load:
        for worker in self.workers:
            worker.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for worker in self.workers:
            worker.join(timeout=30)

    def scrape(self) -> None:
        while not self.stop.is_set():
            answer = requests.get(f"{self.url}/metrics", timeout=10)
            if answer.status_code != 200:
                self.failures.append(f"scrape answered {answer.status_code}")
                continue
            scraped = Scrape.parse(answer.text)
            for page in (K1, K2):
                if scraped.get(NEW, page_id=page, period="day") is None or not scraped.series(SENT, page_id=page):
                    self.failures.append(f"scrape {self.scrapes} has no values for kept Page {page}")
            self.scrapes += 1

    def status_page(self) -> None:
        while not self.stop.is_set():
            answer = requests.get(f"{self.url}/", timeout=10)
            if answer.status_code != 200:
                self.failures.append(f"status page answered {answer.status_code}")
            time.sleep(0.01)

    def refresh(self) -> None:
        while not self.stop.is_set():
            self.exporter.refresh_pages(list(self.exporter.runtime.pages))
            self.rounds += 1
            time.sleep(0.002)

    def check(self) -> None:
        while not self.stop.is_set():
            self.exporter.check_tokens()
            self.checks += 1
            time.sleep(0.005)

    def wait_for_a_scrape_and_a_round(self) -> None:
        """Each config meets at least one scrape and one refresh round, whatever the load."""
        scrapes, rounds, deadline = self.scrapes, self.rounds, time.monotonic() + 20
        while self.scrapes <= scrapes or self.rounds <= rounds:
            assert time.monotonic() < deadline, "no scrape or no refresh round after a reload"
            time.sleep(0.002)


@pytest.mark.slow  # seconds of continuous load: it runs with the end-to-end set
def test_fifty_reloads_under_scrapes_refreshes_and_token_checks(sim: Simulator) -> None:
    """Alternating two configs that share K1 and K2: every scrape succeeds and shows both
    (and the status page answers),
    and once a reload has removed R1 or R2, no request about it or with its token reaches
    the API until a reload adds it back."""
    configs = itertools.cycle([settings(sim, K1, K2, R2), settings(sim, K1, K2, R1)])
    exporter = Exporter(settings(sim, K1, K2, R1))
    assert exporter.refresh_all_once()
    exporter.exposition.start()
    reloader = Reloader(exporter, lambda: next(configs), lambda: None)
    server = HttpServer("127.0.0.1:0", Endpoint(exporter, reloader.reload, StatusBoard(exporter, reloads=reloader)))
    server.start()
    removed_windows: list[tuple[str, float, float]] = []  # Page, from, until
    with watch_logs() as logs:
        try:
            with _Load(exporter, server.url) as load:
                for index in range(50):
                    started = time.time()
                    if removed_windows:
                        page, since, _ = removed_windows[-1]
                        removed_windows[-1] = (page, since, started)
                    assert reloader.reload() is None
                    removed_windows.append((R1 if index % 2 == 0 else R2, time.time(), float("inf")))
                    load.wait_for_a_scrape_and_a_round()
        finally:
            server.stop()
            exporter.exposition.stop()
    assert not load.failures, load.failures[:5]
    assert not logs.tracebacks(), logs.tracebacks()
    assert not logs.problems(), logs.problems()[:5]
    assert load.checks >= 10, load.checks
    log = sim.requests()
    assert len(log) < 10_000, "the simulator's log overflowed: too many requests to judge"
    proofs = {page: sim.appsecret_proof(TOKENS[page], APP_SECRET) for page in (R1, R2)}
    late = [
        (page, entry.kind, entry.time - since)
        for page, since, until in removed_windows
        for entry in log
        if since < entry.time < until
        and (entry.page_id == page or entry.query.get("appsecret_proof") == proofs[page])
    ]
    assert not late, f"requests about a removed Page after its reload: {late[:5]}"
    for page in (R1, R2):
        assert any(entry.page_id == page for entry in log), f"{page} was never refreshed at all"


def test_pages_a_reload_interrupted_are_due_again_at_the_next_tick(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter = Exporter(settings(sim, K1, K2))
    scheduler = RefreshScheduler(exporter)
    scheduler.due = DueTimes(3600, clock=lambda: 1_790_000_000.0)
    rounds: list[list[str]] = []

    def interrupted_round(page_ids: list[str]) -> list[str]:
        rounds.append(sorted(page_ids))
        return [K1]  # a reload retired the round's client before K1 was asked

    monkeypatch.setattr(exporter, "refresh_pages", interrupted_round)
    scheduler.tick()
    scheduler.tick()
    assert rounds == [[K1, K2], [K1]]
