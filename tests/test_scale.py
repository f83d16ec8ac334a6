"""Discovery and sharding, as users run them: real processes, a real Prometheus."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import yaml

from exporter.simulator import Scenario, Simulator
from tests.conftest import RunningExporter, exporter_env, free_port, wait_until
from tests.inprocess import run_cli
from tests.monitoring import require_tool

USER_TOKEN = "EAAU-canary-user-token-5e5e"
ACME = [("9100000001", "Acme Store"), ("9100000002", "Acme Outlet"), ("9100000003", "Acme Test Page"),
        ("9100000004", "Bluebird Cafe")]


def discovery_config(url: str, extra: str = "") -> str:
    return f"""
graph_api: {{base_url: "{url}", max_retries: 0}}
refresh: {{interval: 1h}}
discovery:
  user_token_env: META_SYSTEM_USER_TOKEN
  interval: 2s
  include: ["^Acme"]
  exclude: ["Test"]
metrics: [page_messages_new_conversations_unique]
{extra}
"""


@pytest.mark.e2e
def test_discovery_finds_filters_follows_and_survives_failures(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    simulator.set_accounts(ACME)
    simulator.set_user_token(USER_TOKEN)
    simulator.set_page_token("9100000002", "EAAB-outlet-configured-1")
    config = discovery_config(simulator.url, """
pages:
  - id: "9100000002"
    name: Outlet (configured)
    access_token_env: OUTLET_TOKEN
    metrics: [page_messages_blocked_conversations_unique]
""")
    exporter = start_exporter(config, env=exporter_env(META_SYSTEM_USER_TOKEN=USER_TOKEN,
                                                       OUTLET_TOKEN="EAAB-outlet-configured-1"))
    scrape = exporter.wait_for(lambda s: s.get("messenger_insights_up", page_id="9100000001") == 1,
                               what="the discovered Page")
    assert scrape.get("messenger_insights_page_info", page_id="9100000001", page_name="Acme Store") == 1
    # A configured Page wins over the discovered one with the same id: its name, its metrics.
    assert scrape.get("messenger_insights_page_info", page_id="9100000002", page_name="Outlet (configured)") == 1
    assert scrape.get("messenger_insights_page_messages_blocked_conversations_unique",
                      page_id="9100000002", period="day") is not None
    assert scrape.get("messenger_insights_page_messages_new_conversations_unique",
                      page_id="9100000002", period="day") is None
    assert scrape.series("messenger_insights_page_info", page_id="9100000003") == {}  # excluded
    assert scrape.series("messenger_insights_page_info", page_id="9100000004") == {}  # not included
    assert scrape.get("messenger_insights_discovered_pages") == 2  # Acme Store, Acme Outlet
    assert scrape.get("messenger_insights_pages") == 2
    assert scrape.get("messenger_insights_shard_info", index="0", count="1") == 1
    last_success = scrape.get("messenger_insights_discovery_last_success_timestamp_seconds") or 0
    assert last_success > 1.7e9

    # Rediscovery: a new Page is refreshed at once, a removed one vanishes.
    simulator.set_accounts([ACME[1], ("9100000005", "Acme Annex")])
    scrape = exporter.wait_for(lambda s: s.get("messenger_insights_up", page_id="9100000005") == 1,
                               timeout=20, what="the new Page")
    assert scrape.series("messenger_insights_page_info", page_id="9100000001") == {}
    assert scrape.series("messenger_insights_page_messages_new_conversations_unique", page_id="9100000001") == {}

    # A failing discovery keeps the last list.
    simulator.set_accounts_scenario(Scenario("transient"))
    before = simulator.request_count(kind="accounts")
    wait_until(lambda: simulator.request_count(kind="accounts") > before + 1, what="two failed discoveries")
    # The simulator counts a request when it arrives, the exporter its error once answered.
    wait_until(lambda: (exporter.scrape().get("messenger_insights_api_errors_total", code="1") or 0) >= 2,
               what="both failures counted by the exporter")
    scrape = exporter.scrape()
    assert scrape.get("messenger_insights_up", page_id="9100000005") == 1
    assert scrape.get("messenger_insights_discovered_pages") == 2
    assert (scrape.get("messenger_insights_api_errors_total", code="1") or 0) >= 2
    assert "Page discovery failed; keeping the last list" in exporter.logs()
    assert USER_TOKEN not in exporter.logs() + exporter.scrape().text


def test_discovery_user_token_missing_is_a_startup_error(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(discovery_config("http://127.0.0.1:9"))
    result = run_cli(f"--config.file={config}", "--check-config", env=exporter_env())
    assert result.returncode == 1
    assert "discovery user token: environment variable META_SYSTEM_USER_TOKEN is not set" in result.stderr


SHARDS = 3
PAGES = 3000


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator[Callable[[list[str]], str]]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(targets: list[str]) -> str:
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "2s", "scrape_timeout": "2s"},
            "scrape_configs": [{"job_name": "messenger-insights", "static_configs": [{"targets": targets}]}],
        }))
        port = free_port()
        log = (tmp_path / "prometheus.log").open("wb")
        processes.append(subprocess.Popen(
            [require_tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT))
        return f"http://127.0.0.1:{port}"

    yield start
    for process in processes:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


def query(prometheus: str, expr: str) -> list[dict[str, object]]:
    try:
        answer = requests.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=5).json()
    except requests.RequestException:
        return []
    return list(answer.get("data", {}).get("result", []))


@pytest.mark.e2e
def test_three_shards_split_three_thousand_discovered_pages(
    start_exporter: Callable[..., RunningExporter], prometheus_for: Callable[[list[str]], str]
) -> None:
    simulator = Simulator(accounts=PAGES, user_tokens=(USER_TOKEN,))
    simulator.start()
    try:
        config = f"""
graph_api: {{base_url: "{simulator.url}"}}
refresh: {{interval: 1h}}
discovery: {{user_token_env: META_SYSTEM_USER_TOKEN, interval: 1h}}
metrics: [page_messages_new_conversations_unique]
"""
        env = exporter_env(META_SYSTEM_USER_TOKEN=USER_TOKEN)
        shards = [start_exporter(config, env=env, args=(f"--shard.count={SHARDS}", f"--shard.index={i}"),
                                 wait_ready=False) for i in range(SHARDS)]
        for shard in shards:
            shard.wait_ready(timeout=120)
        prometheus = prometheus_for([s.url.removeprefix("http://") for s in shards])

        by_instance: dict[str, float] = {}

        def counted() -> bool:
            result = query(prometheus, "count by (instance) (messenger_insights_page_info)")
            by_instance.clear()
            by_instance.update({str(r["metric"]["instance"]): float(r["value"][1]) for r in result})  # type: ignore[index]
            return sum(by_instance.values()) == PAGES

        wait_until(counted, timeout=90, what=f"Prometheus to see {PAGES} Pages from {SHARDS} shards")
        # Every Page was fetched by exactly one shard, once.
        counts = {p: simulator.request_count(p) for p in {r.page_id for r in simulator.requests()} if p}
        assert len(counts) == PAGES
        assert set(counts.values()) == {1}
        owned = [s.scrape().get("messenger_insights_pages") or 0 for s in shards]
        assert sorted(owned) == sorted(by_instance.values())
        assert all(abs(n - PAGES / SHARDS) < 0.15 * PAGES / SHARDS for n in owned), owned
        for index, shard in enumerate(shards):
            assert shard.scrape().get("messenger_insights_shard_info", index=str(index), count=str(SHARDS)) == 1
    finally:
        simulator.stop()
