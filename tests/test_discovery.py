"""Page discovery in-process against Simulator(port=0): paging by cursor, include/exclude,
failures that keep the last list, and the exporter's runtime built from what it found."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from exporter import app
from exporter.app import Exporter
from exporter.config import DiscoveryConfig, GraphApiConfig, TokenSource
from exporter.credentials import DISCOVERED
from exporter.discovery import PAGE_SIZE, DiscoveryError, discover
from exporter.governor import RateLimitGovernor
from exporter.graph_client import ClientClosedError, GraphClient
from exporter.redact import Secret
from exporter.runtime import Settings
from exporter.self_metrics import SelfMetrics
from exporter.sharding import Shard
from exporter.simulator import Scenario, Simulator
from tests.inprocess import settings_for, watch_logs

USER = Secret("EAAB-discovery-user-token")
EVERYTHING = DiscoveryConfig(TokenSource(env="USER_TOKEN"))


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(port=0, accounts=250, accounts_prefix="9", user_tokens=(USER.reveal(),))
    simulator.start()
    yield simulator
    simulator.stop()


def client(sim: Simulator) -> GraphClient:
    api = GraphApiConfig(base_url=sim.url, max_retries=0, timeout=5)
    return GraphClient(api, SelfMetrics(CollectorRegistry()), RateLimitGovernor(0.9))


def test_every_page_is_followed_through_the_cursors(sim: Simulator) -> None:
    found = discover(client(sim), USER, EVERYTHING)
    assert len(found) == 250 and len({page.id for page in found}) == 250
    assert sim.request_count(kind="accounts") == -(-250 // PAGE_SIZE)
    assert all(page.token.reveal() == sim.page_token_for(page.id, USER.reveal()) for page in found)
    assert found[0].name == "Simulated Page 1"
    assert all("after" not in entry.query or entry.query["after"] for entry in sim.requests())


def test_include_and_exclude_match_names_and_ids(sim: Simulator) -> None:
    sim.set_accounts([("901", "Acme Store"), ("902", "Acme Outlet"), ("903", "Bluebird"), ("904", "Acme Test")])
    config = DiscoveryConfig(TokenSource(env="USER_TOKEN"), include=(re.compile("^Acme"), re.compile("^903$")),
                             exclude=(re.compile("Test"),))
    assert [page.id for page in discover(client(sim), USER, config)] == ["901", "902", "903"]


@pytest.mark.parametrize("scenario", [Scenario("transient"), Scenario("invalid_token"), Scenario("garbage")])
def test_a_failed_listing_is_an_error_not_a_shorter_list(sim: Simulator, scenario: Scenario) -> None:
    sim.set_accounts_scenario(scenario)
    with pytest.raises(DiscoveryError, match=r"listing Pages failed|me/accounts"):
        discover(client(sim), USER, EVERYTHING)


def test_a_retired_client_stops_discovery_without_an_error(sim: Simulator) -> None:
    retired = client(sim)
    retired.close(wait=0)
    with pytest.raises(ClientClosedError):
        discover(retired, USER, EVERYTHING)


def exporter_with_discovery(sim: Simulator, configured: dict[str, str], shard: Shard | None = None) -> Exporter:
    settings = settings_for(sim.url, configured, extra="discovery: {user_token_env: USER_TOKEN}\n")
    return Exporter(Settings(settings.config, settings.tokens, user_token=USER, shard=shard or Shard()))


def test_discovery_publishes_a_runtime_with_the_pages_found(sim: Simulator) -> None:
    sim.set_accounts([("901", "Acme"), ("902", "Bluebird")])
    exporter = exporter_with_discovery(sim, {"902": "EAAB-configured-902"})
    assert not exporter.is_ready(), "not ready before discovery was tried"
    before = exporter.runtime
    exporter.discover()
    runtime = exporter.runtime
    assert runtime is not before and runtime.settings is before.settings
    assert runtime.client is before.client, "Pages were only added: the client goes on"
    assert set(runtime.pages) == {"901", "902"}
    assert runtime.pages["901"].token == DISCOVERED and runtime.pages["901"].name == "Acme"
    assert runtime.tokens["902"].reveal() == "EAAB-configured-902", "a configured Page wins"
    assert exporter.discovery_succeeded and set(exporter.snapshots()) == {"901", "902"}
    exporter.refresh_pages(list(runtime.pages))
    assert exporter.is_ready()

    sim.set_accounts([("902", "Bluebird")])
    exporter.discover()
    assert set(exporter.runtime.pages) == {"902"} and set(exporter.snapshots()) == {"902"}
    assert runtime.client.closed, "a Page gone: the client that had its token is retired"


def test_a_failed_rediscovery_keeps_the_last_list(sim: Simulator) -> None:
    sim.set_accounts([("901", "Acme")])
    exporter = exporter_with_discovery(sim, {})
    exporter.discover()
    kept = exporter.runtime
    sim.set_accounts_scenario(Scenario("transient"))
    with watch_logs() as logs:
        exporter.discover()
    assert exporter.runtime is kept
    assert [r.getMessage() for r in logs.records] == ["Page discovery failed; keeping the last list"]
    assert not logs.tracebacks()


def test_discovery_started_before_a_reload_is_dropped(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    sim.set_accounts([("901", "Acme")])
    exporter = exporter_with_discovery(sim, {})
    reloaded = exporter_with_discovery(sim, {"905": "EAAB-905"}).runtime.settings

    def listing_then_reload(*args: object) -> list[object]:
        exporter.reload(reloaded)  # a reload lands while the listing is under way
        return []

    monkeypatch.setattr(app, "discover", listing_then_reload)
    exporter.discover()
    assert exporter.runtime.settings is reloaded and set(exporter.runtime.pages) == {"905"}
    assert not exporter.discovery_succeeded


def test_a_shard_owns_only_its_part_of_what_is_found(sim: Simulator) -> None:
    shards = [exporter_with_discovery(sim, {}, Shard(index, 3)) for index in range(3)]
    for shard in shards:
        shard.discover()
    owned = [set(shard.runtime.pages) for shard in shards]
    assert sum(len(pages) for pages in owned) == 250
    assert set().union(*owned) == {f"9{i:014d}" for i in range(1, 251)}
    assert all(50 < len(pages) < 120 for pages in owned), [len(p) for p in owned]


def test_stop_means_no_more_discovery(sim: Simulator) -> None:
    exporter = exporter_with_discovery(sim, {})
    exporter.stop(0)
    started = time.monotonic()
    exporter.discover()
    assert time.monotonic() - started < 1 and sim.request_count(kind="accounts") == 0
