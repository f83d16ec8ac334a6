"""The Exporter and the Reloader in-process against Simulator(port=0): refresh rounds,
readiness, a round that breaks, shutdown with a request in flight, and reloads from files
(good, bad, with warnings) with their gauges."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter import refresh
from exporter.app import Exporter
from exporter.reloader import Reloader, load_settings
from exporter.simulator import Scenario, Simulator
from tests.conftest import Scrape, wait_until
from tests.inprocess import settings_for, watch_logs

A, B = "8500000001", "8500000002"
TOKENS = {A: "EAAB-app-test-token-a", B: "EAAB-app-test-token-b"}
NEW = "messenger_insights_page_messages_new_conversations_unique"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(port=0, page_tokens=TOKENS)
    simulator.start()
    yield simulator
    simulator.stop()


def scrape(exporter: Exporter) -> Scrape:
    return Scrape.parse(b"".join(exporter.metrics_body(openmetrics=False, compress=False)).decode())


def gauge(exporter: Exporter, name: str) -> float | None:
    return exporter.registry.get_sample_value(name)


def test_one_round_refreshes_every_page_and_makes_it_ready(sim: Simulator) -> None:
    exporter = Exporter(settings_for(sim.url, TOKENS))
    assert not exporter.is_ready()
    assert scrape(exporter).get("messenger_insights_up", page_id=A) == 0
    assert exporter.refresh_all_once()
    assert exporter.is_ready()
    metrics = scrape(exporter)
    assert metrics.get("messenger_insights_up", page_id=A) == metrics.get("messenger_insights_up", page_id=B) == 1
    assert metrics.get(NEW, page_id=A, period="day") is not None
    assert sim.http_request_count() == 1, "both Pages' operations in one batch"
    assert metrics.get("messenger_insights_pages") == 2


def test_a_failing_page_is_down_and_the_round_says_so(sim: Simulator) -> None:
    sim.set_scenario(B, Scenario("invalid_token"))
    exporter = Exporter(settings_for(sim.url, TOKENS))
    assert not exporter.refresh_all_once()
    metrics = scrape(exporter)
    assert metrics.get("messenger_insights_up", page_id=A) == 1
    assert metrics.get("messenger_insights_up", page_id=B) == 0
    assert exporter.is_ready(), "attempted counts, not success"


def test_unknown_and_busy_pages_are_left_out_of_a_round(sim: Simulator) -> None:
    sim.set_scenario(A, Scenario("slow", {"seconds": 0.3}))
    exporter = Exporter(settings_for(sim.url, TOKENS))
    first = threading.Thread(target=exporter.refresh_pages, args=([A],))
    first.start()
    wait_until(lambda: sim.request_count(A) == 1, what="A in flight")
    assert exporter.refresh_pages([A, B, "999"]) == []
    first.join(timeout=10)
    assert sim.request_count(A) == 1 and sim.request_count(B) == 1


def test_a_round_that_breaks_marks_its_pages_down_without_a_crash(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter = Exporter(settings_for(sim.url, TOKENS))

    def broken(*args: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(refresh, "query_for", broken)
    with watch_logs() as logs:
        assert exporter.refresh_pages([A, B]) == []
    snapshot = exporter.snapshots()[A]
    assert snapshot.attempted and not snapshot.up
    assert snapshot.last_error is not None and snapshot.last_error.message == "internal error: RuntimeError"
    assert [r.getMessage() for r in logs.records] == ["refresh failed unexpectedly"]


def test_stop_waits_a_bounded_time_for_a_round_in_flight(sim: Simulator) -> None:
    sim.set_scenario(A, Scenario("slow", {"seconds": 3}))
    exporter = Exporter(settings_for(sim.url, TOKENS, api="max_retries: 0, timeout: 10s"))
    threading.Thread(target=exporter.refresh_pages, args=([A],), daemon=True).start()
    wait_until(lambda: sim.request_count(A) == 1, what="A in flight")
    started = time.monotonic()
    with watch_logs() as logs:
        assert exporter.stop(0.2) is False
    assert time.monotonic() - started < 1.5
    assert "refreshes still running at shutdown; abandoning them" in [r.getMessage() for r in logs.records]
    assert exporter.refresh_pages([B]) == [] and sim.request_count(B) == 0, "nothing new after stop"


def test_stop_returns_at_once_when_nothing_runs(sim: Simulator) -> None:
    exporter = Exporter(settings_for(sim.url, TOKENS))
    assert exporter.stop(5) is True


def config_text(url: str, pages: tuple[str, ...], extra: str = "") -> str:
    listed = ", ".join(f'{{id: "{p}", access_token_env: TOKEN_{p}}}' for p in pages)
    return f"graph_api: {{base_url: '{url}', max_retries: 0}}\npages: [{listed}]\n{extra}"


def test_reloads_from_the_file_good_bad_and_with_warnings(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for page, token in TOKENS.items():
        monkeypatch.setenv(f"TOKEN_{page}", token)
    path = tmp_path / "config.yaml"
    path.write_text(config_text(sim.url, (A,)))
    exporter = Exporter(load_settings(str(path)))
    changes: list[int] = []
    reloader = Reloader(exporter, lambda: load_settings(str(path)), lambda: changes.append(1))
    loaded_at = gauge(exporter, "messenger_insights_config_last_reload_success_timestamp_seconds")

    path.write_text("pages: [{id: not-a-number}]\n")
    with watch_logs() as logs:
        problems = reloader.reload()
    assert problems is not None and "must be a Page id made of digits" in problems
    assert gauge(exporter, "messenger_insights_config_last_reload_successful") == 0
    assert set(exporter.runtime.pages) == {A} and changes == []
    assert [r.getMessage() for r in logs.records] == ["config reload failed; keeping the running config"]
    assert not logs.tracebacks()

    time.sleep(0.01)
    text = config_text(sim.url, (A, B)).replace("max_retries: 0", "max_retries: 0, app_id: '123'")
    path.write_text(text)
    with watch_logs() as logs:
        assert reloader.reload() is None
    assert set(exporter.runtime.pages) == {A, B} and changes == [1]
    warnings = [r.getMessage() for r in logs.records]
    assert warnings == ["config warning"] and "tokens are not checked" in str(logs.records[0].__dict__)
    assert gauge(exporter, "messenger_insights_config_last_reload_successful") == 1
    reloaded_at = gauge(exporter, "messenger_insights_config_last_reload_success_timestamp_seconds")
    assert reloaded_at is not None and loaded_at is not None and reloaded_at > loaded_at


def test_a_missing_token_variable_fails_the_reload_naming_it(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"TOKEN_{A}", TOKENS[A])
    monkeypatch.delenv(f"TOKEN_{B}", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text(config_text(sim.url, (A,)))
    exporter = Exporter(load_settings(str(path)))
    reloader = Reloader(exporter, lambda: load_settings(str(path)), lambda: None)
    path.write_text(config_text(sim.url, (A, B)))
    with watch_logs():
        problems = reloader.reload()
    assert problems is not None and f"TOKEN_{B}" in problems
    assert set(exporter.runtime.pages) == {A}


def test_shard_flags_win_over_the_file(sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for page, token in TOKENS.items():
        monkeypatch.setenv(f"TOKEN_{page}", token)
    path = tmp_path / "config.yaml"
    path.write_text(config_text(sim.url, (A, B), "shard: {count: 2, index: 0}\n"))
    assert load_settings(str(path)).shard.count == 2
    settings = load_settings(str(path), shard_count=3, shard_index=2)
    assert (settings.shard.index, settings.shard.count) == (2, 3)
    with pytest.raises(Exception, match="index"):
        load_settings(str(path), shard_count=2, shard_index=5)
