"""Reload (SIGHUP, POST /-/reload) and shutdown, on a running exporter process."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from exporter.simulator import Scenario, Simulator
from tests.conftest import RunningExporter, Scrape, exporter_env, own_tokens, token_env, wait_until

# Every test here starts processes (the exporter, Prometheus, promtool or Chromium).
pytestmark = pytest.mark.e2e

TOKEN = "EAAB-canary-lifecycle-4411"
A, B, C = "6000000001", "6000000002", "6000000003"


def config(url: str, pages: tuple[str, ...], interval: str = "1h") -> str:
    listed = ", ".join(f'{{id: "{p}", access_token_env: {token_env(p)}}}' for p in pages)
    return (f"graph_api: {{base_url: '{url}', max_retries: 0}}\nrefresh: {{interval: {interval}}}\n"
            f"pages: [{listed}]\nmetrics: [page_messages_new_conversations_unique, page_messages_sent]\n")


def new_conversations(scrape: Scrape, page: str) -> float | None:
    return scrape.get("messenger_insights_page_messages_new_conversations_unique", page_id=page, period="day")


def config_path(exporter: RunningExporter) -> Path:
    arg = next(a for a in exporter.process.args if str(a).startswith("--config.file="))  # type: ignore[union-attr]
    return Path(str(arg).split("=", 1)[1])


def test_sighup_reload_drops_removed_pages_keeps_kept_ones_and_adds_new_ones(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    exporter = start_exporter(config(simulator.url, (A, B)), env=exporter_env(**own_tokens(TOKEN, (A, B, C), simulator)))
    before = exporter.scrape()
    value_a = new_conversations(before, A)
    assert value_a is not None and new_conversations(before, B) is not None
    requests_for_a = simulator.request_count(A)

    gaps: list[float | None] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            gaps.append(new_conversations(exporter.scrape(), A))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        config_path(exporter).write_text(config(simulator.url, (A, C)))
        exporter.process.send_signal(signal.SIGHUP)
        after = exporter.wait_for(lambda s: new_conversations(s, C) is not None, timeout=10,
                                  what="the new Page to refresh at once")
    finally:
        stop.set()
        watcher.join()
    assert new_conversations(after, B) is None
    assert after.get("messenger_insights_page_info", page_id=B, page_name=B) is None
    assert after.get("messenger_insights_up", page_id=B) is None
    assert new_conversations(after, A) == value_a
    assert gaps and all(v == value_a for v in gaps), "the kept Page had a gap during the reload"
    assert simulator.request_count(A) == requests_for_a, "a kept Page is not refreshed again by a reload"
    assert after.get("messenger_insights_config_last_reload_successful") == 1


def test_bad_reload_keeps_the_old_config_and_says_why(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    exporter = start_exporter(config(simulator.url, (A,)), env=exporter_env(**own_tokens(TOKEN, (A, B, C), simulator)))
    loaded_at = exporter.scrape().get("messenger_insights_config_last_reload_success_timestamp_seconds")
    assert loaded_at is not None and loaded_at > 1.7e9
    config_path(exporter).write_text("pages: [{id: not-a-number}]\n")
    answer = requests.post(exporter.url + "/-/reload", timeout=10)
    assert answer.status_code == 500
    assert "pages[0].id: must be a Page id made of digits" in answer.text
    scrape = exporter.scrape()
    assert scrape.get("messenger_insights_config_last_reload_successful") == 0
    assert new_conversations(scrape, A) is not None
    assert "config reload failed; keeping the running config" in exporter.logs()
    assert requests.get(exporter.url + "/-/reload", timeout=5).status_code == 405

    time.sleep(0.01)
    config_path(exporter).write_text(config(simulator.url, (A, B)))
    assert requests.post(exporter.url + "/-/reload", timeout=10).status_code == 200
    scrape = exporter.wait_for(lambda s: new_conversations(s, B) is not None, what="Page B")
    assert scrape.get("messenger_insights_config_last_reload_successful") == 1
    assert (scrape.get("messenger_insights_config_last_reload_success_timestamp_seconds") or 0) > loaded_at


def test_reload_asks_again_for_a_rejected_metric(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    simulator.set_scenario(A, Scenario("retired_metric", {"metrics": ["page_messages_sent"]}))
    exporter = start_exporter(config(simulator.url, (A,), interval="2s"), env=exporter_env(**own_tokens(TOKEN, (A, B, C), simulator)))
    assert exporter.scrape().get("messenger_insights_metric_rejected", page_id=A, metric="page_messages_sent") == 1
    simulator.clear_scenario(A)  # Meta brings the metric back; only a reload asks before 24h
    time.sleep(2.5)
    assert exporter.scrape().get("messenger_insights_metric_rejected", page_id=A, metric="page_messages_sent") == 1
    assert requests.post(exporter.url + "/-/reload", timeout=10).status_code == 200
    scrape = exporter.wait_for(
        lambda s: s.get("messenger_insights_metric_rejected", page_id=A, metric="page_messages_sent") == 0,
        what="the metric to be asked for again")
    exporter.wait_for(lambda s: bool(s.series("messenger_insights_page_messages_sent", page_id=A)),
                      what="its values")
    assert scrape.get("messenger_insights_up", page_id=A) == 1


def test_sigterm_waits_a_bounded_time_for_requests_in_flight(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    simulator.set_scenario(B, Scenario("slow", {"seconds": 60}))
    exporter = start_exporter(config(simulator.url, (A, B), interval="1s"),
                              env=exporter_env(**own_tokens(TOKEN, (A, B, C), simulator)), wait_ready=False)
    wait_until(lambda: simulator.request_count(B) > 0, what="a slow request in flight")
    started = time.monotonic()
    exporter.process.send_signal(signal.SIGTERM)
    assert exporter.process.wait(timeout=30) == 0
    assert time.monotonic() - started < 15
    assert "refreshes still running at shutdown" in exporter.logs()
    assert "Traceback" not in exporter.logs()
