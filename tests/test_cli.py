"""The command line as a user runs it: modes, exit codes, messages (in-process), and the
daemon's life with signals (e2e: a real process)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from exporter import __version__
from exporter.demo import DEMO_PAGES
from exporter.simulator import Scenario, Simulator
from tests.conftest import (
    RunningExporter,
    Scrape,
    exporter_env,
    free_port,
    own_tokens,
    token_env,
    wait_until,
)
from tests.inprocess import run_cli

REPO = Path(__file__).parent.parent
TOKEN = "EAAB-canary-cli-9d2f40"
# The Pages of small_config: each reads with its own token (own_tokens).
PAGES = ("5000000001", "5000000002")


def small_config(tmp_path: Path, url: str, pages: tuple[str, ...]) -> Path:
    path = tmp_path / "config.yaml"
    page_list = ", ".join(f'{{id: "{p}", access_token_env: {token_env(p)}}}' for p in pages)
    path.write_text(f"graph_api: {{base_url: '{url}', max_retries: 0}}\npages: [{page_list}]\n"
                    "metrics: [page_messages_new_conversations_unique, page_messages_sent]\n")
    return path


def test_version_and_help() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith(f"messenger-insights-exporter, version {__version__}")
    help_text = run_cli("--help").stdout
    for flag in ("--config.file", "--web.listen-address", "--log.level", "--log.format", "--demo",
                 "--once", "--check-config", "--version"):
        assert flag in help_text


def test_check_config_on_the_example() -> None:
    env = exporter_env(META_PAGE_TOKEN=TOKEN, ACME_OUTLET_PAGE_TOKEN=TOKEN + "-2")
    result = run_cli(f"--config.file={REPO / 'config.example.yaml'}", "--check-config", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    assert "OK: 2 Pages, 22 metric entries" in result.stdout
    missing = run_cli(f"--config.file={REPO / 'config.example.yaml'}", "--check-config", env=exporter_env())
    assert missing.returncode == 1
    assert "environment variable META_PAGE_TOKEN is not set" in missing.stderr
    assert "environment variable ACME_OUTLET_PAGE_TOKEN is not set" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli(f"--config.file={tmp_path / 'nope.yaml'}", env=exporter_env())
    assert result.returncode == 1
    assert f"{tmp_path / 'nope.yaml'}: config file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_default_config_file_is_config_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("--check-config", env=exporter_env())
    assert result.returncode == 1
    assert "config.yaml: config file not found" in result.stderr


def test_once_prints_the_exposition_and_exits_0(tmp_path: Path, simulator: Simulator) -> None:
    config = small_config(tmp_path, simulator.url, ("5000000001", "5000000002"))
    result = run_cli(f"--config.file={config}", "--once", env=exporter_env(**own_tokens(TOKEN, PAGES, simulator)))
    assert result.returncode == 0, result.stderr
    scrape = Scrape.parse(result.stdout)
    assert scrape.get("messenger_insights_up", page_id="5000000001") == 1
    assert scrape.get("messenger_insights_up", page_id="5000000002") == 1
    assert scrape.series("messenger_insights_page_messages_sent", page_id="5000000002")
    assert TOKEN not in result.stdout + result.stderr


def test_once_exits_1_when_a_page_fails(tmp_path: Path, simulator: Simulator) -> None:
    simulator.set_scenario("5000000002", Scenario("expired_token"))
    config = small_config(tmp_path, simulator.url, ("5000000001", "5000000002"))
    result = run_cli(f"--config.file={config}", "--once", env=exporter_env(**own_tokens(TOKEN, PAGES, simulator)))
    assert result.returncode == 1
    scrape = Scrape.parse(result.stdout)
    assert scrape.get("messenger_insights_up", page_id="5000000001") == 1
    assert scrape.get("messenger_insights_up", page_id="5000000002") == 0
    assert "code=190" in result.stderr and "page_id=5000000002" in result.stderr


def test_json_logs(tmp_path: Path, simulator: Simulator) -> None:
    simulator.set_scenario("5000000001", Scenario("invalid_token"))
    config = small_config(tmp_path, simulator.url, ("5000000001",))
    result = run_cli(f"--config.file={config}", "--once", "--log.format=json",
                     env=exporter_env(**own_tokens(TOKEN, PAGES, simulator)))
    records = [json.loads(line) for line in result.stderr.splitlines()]
    failure = next(r for r in records if r["msg"] == "Graph API request failed")
    assert failure["level"] == "error"
    assert failure["page_id"] == "5000000001"
    assert failure["code"] == "190"


@pytest.mark.e2e
def test_demo_serves_three_lively_pages_and_stops_on_sigterm() -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "exporter", "--demo", f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=exporter_env())
    exporter = RunningExporter(process, f"http://127.0.0.1:{port}", Path("/dev/null"))
    try:
        wait_until(lambda: _ready(exporter.url), timeout=30, what="the demo to be ready")
        scrape = exporter.scrape()
        for page_id, name in DEMO_PAGES:
            assert scrape.get("messenger_insights_page_info", page_id=page_id, page_name=name) == 1
            assert scrape.get("messenger_insights_up", page_id=page_id) == 1
            assert scrape.series("messenger_insights_page_messages_sent", page_id=page_id, channel="instagram")
            assert len(scrape.series("messenger_insights_recurring_notifications_tokens", page_id=page_id,
                                     period="total_over_range")) == 9
        assert "Refreshed every 15s." in scrape.help["messenger_insights_page_messages_sent"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "Traceback" not in stderr


@pytest.mark.e2e
def test_sigint_stops_cleanly(simulator: Simulator, start_exporter: Callable[..., RunningExporter]) -> None:
    simulator.set_page_token("1", TOKEN)
    exporter = start_exporter(f"graph_api: {{base_url: '{simulator.url}'}}\npages: [{{id: '1'}}]\n",
                              env=exporter_env(META_PAGE_TOKEN=TOKEN))
    exporter.process.send_signal(signal.SIGINT)
    assert exporter.process.wait(timeout=15) == 0
    assert "Traceback" not in exporter.logs()


@pytest.mark.parametrize("address", ["10490", "[::1:1", "127.0.0.1:99999"])
def test_bad_listen_address_exits_1(tmp_path: Path, simulator: Simulator, address: str) -> None:
    config = small_config(tmp_path, simulator.url, ("1",))
    result = run_cli(f"--config.file={config}", f"--web.listen-address={address}",
                     env=exporter_env(**own_tokens(TOKEN, ("1",), simulator)))
    assert result.returncode == 1
    assert "listen address" in result.stderr and "Traceback" not in result.stderr


def test_port_in_use_exits_1(tmp_path: Path, simulator: Simulator) -> None:
    config = small_config(tmp_path, simulator.url, ("1",))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
                         env=exporter_env(**own_tokens(TOKEN, ("1",), simulator)))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: port {port} is already in use" in result.stderr


def _ready(url: str) -> bool:
    try:
        return requests.get(url + "/-/ready", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False
