"""The demo shows an alert: `--demo` and a real Prometheus with the shipped rules and alerts.

The README's "See an alert fire" runs `make demo` and a Prometheus started with
prometheus/local.yml. This test does the same with the real processes: the exporter in
`--demo` mode and Prometheus with local.yml, changed only where a test must (the target's
port, and scrape and evaluation every second instead of every 15 s). The rule files are
the shipped ones, unchanged, so the spike alerts keep their thresholds and their `for: 5m`:
the test waits those five minutes for them to fire, for the demo's spiking Page alone.
Also: `promtool check metrics` has nothing to say about the demo's whole /metrics.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from exporter.demo import DEMO_PAGES, DEMO_SPIKING_PAGE
from tests.conftest import RunningExporter, free_port, wait_until
from tests.monitoring import ALERTS, JOB, PROMETHEUS_DIR, alert_rules, promtool, require_tool
from tests.test_prometheus_e2e import RunningPrometheus

# Every test here starts processes (the exporter, Prometheus, promtool or Chromium).
pytestmark = pytest.mark.e2e

LOCAL_CONFIG = PROMETHEUS_DIR / "local.yml"
SPIKE_ALERTS = ("MessengerInsightsBlockedConversationsSpike", "MessengerInsightsReportedConversationsSpike")
FAST = "1s"


def seconds(duration: str) -> float:
    """A Prometheus duration such as 5m or 1h30m, in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)(ms|s|m|h|d)", duration)
    assert "".join(n + u for n, u in parts) == duration, f"not a duration this test reads: {duration}"
    return sum(int(n) * units[u] for n, u in parts)


def poll(condition: Callable[[], bool], timeout: float, what: str, every: float = 1.0) -> None:
    """wait_until for long waits: a query a second, not twenty."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


@pytest.fixture
def demo(start_exporter: Callable[..., RunningExporter]) -> RunningExporter:
    """`messenger-insights-exporter --demo` (the config file it is given is ignored)."""
    exporter = start_exporter("", args=("--demo",))
    exporter.wait_for(lambda s: len(s.series("messenger_insights_up")) == len(DEMO_PAGES)
                      and all(v == 1 for v in s.series("messenger_insights_up").values()),
                      timeout=30, what="every demo Page up")
    return exporter


def local_config_for(target: str) -> dict[str, Any]:
    """prometheus/local.yml with the test's target and one-second intervals; the rule files it
    names, made absolute, are the shipped ones."""
    config: dict[str, Any] = yaml.safe_load(LOCAL_CONFIG.read_text(encoding="utf-8"))
    (job,) = config["scrape_configs"]
    assert job["job_name"] == JOB
    assert job["static_configs"] == [{"targets": ["localhost:10490"]}], "the README's make demo address"
    rule_files = [(PROMETHEUS_DIR / name).resolve() for name in config["rule_files"]]
    assert {path.name for path in rule_files} == {"rules.yml", "alerts.yml"}
    job["static_configs"] = [{"targets": [target]}]
    config["rule_files"] = [str(path) for path in rule_files]
    config["global"] = {"scrape_interval": FAST, "scrape_timeout": FAST, "evaluation_interval": FAST}
    return config


@pytest.fixture
def local_prometheus(tmp_path: Path) -> Iterator[Callable[[str], RunningPrometheus]]:
    started: list[RunningPrometheus] = []

    def start(target: str) -> RunningPrometheus:
        config_path = tmp_path / "local.yml"
        config_path.write_text(yaml.safe_dump(local_config_for(target)), encoding="utf-8")
        port = free_port()
        log_path = tmp_path / "prometheus.log"
        with log_path.open("w", encoding="utf-8") as log_file:
            process = subprocess.Popen(
                [require_tool("prometheus"), f"--config.file={config_path}",
                 f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                stdout=log_file, stderr=subprocess.STDOUT, text=True)
        running = RunningPrometheus(process, f"http://127.0.0.1:{port}", log_path)
        started.append(running)

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"prometheus exited with {process.returncode}:\n{running.logs()}")
            try:
                return requests.get(f"{running.url}/-/ready", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(ready, 30, "Prometheus to be ready")
        return running

    yield start
    for running in started:
        running.stop()


def test_the_demo_metrics_pass_promtool_check_metrics(demo: RunningExporter) -> None:
    response = requests.get(f"{demo.url}/metrics", timeout=10)
    assert response.headers["Content-Type"].startswith("text/plain")
    result = promtool("check", "metrics", stdin=response.text)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_only_the_spiking_demo_page_crosses_the_spike_thresholds(demo: RunningExporter) -> None:
    scrape = demo.scrape()
    for metric in ("page_messages_blocked_conversations_unique", "page_messages_reported_conversations_unique"):
        name = f"messenger_insights_{metric}"
        for page_id, _ in DEMO_PAGES:
            day = scrape.get(name, page_id=page_id, period="day")
            baseline = scrape.get(name + "_baseline", page_id=page_id, period="day")
            assert day is not None and baseline is not None
            # The shipped alerts' thresholds (prometheus/alerts.yml): > 3 x baseline and >= 10.
            assert (day > 3 * baseline and day >= 10) == (page_id == DEMO_SPIKING_PAGE), (metric, page_id)


def test_the_demo_fires_the_shipped_spike_alerts_in_a_local_prometheus(
    demo: RunningExporter, local_prometheus: Callable[[str], RunningPrometheus]
) -> None:
    holds = {rule["alert"]: seconds(rule["for"]) for rule in alert_rules() if rule["alert"] in SPIKE_ALERTS}
    assert set(holds) == set(SPIKE_ALERTS), f"{ALERTS} lost a spike alert"
    prometheus = local_prometheus(demo.url.removeprefix("http://"))
    spiking_name = dict(DEMO_PAGES)[DEMO_SPIKING_PAGE]

    def spike_alerts(state: str) -> list[tuple[str, str, str]]:
        return sorted((alert["labels"]["alertname"], alert["labels"]["page_id"], alert["labels"]["page_name"])
                      for alert in prometheus.api("alerts")["alerts"]
                      if alert["labels"]["alertname"] in SPIKE_ALERTS and alert["state"] == state)

    expected = [(name, DEMO_SPIKING_PAGE, spiking_name) for name in SPIKE_ALERTS]
    wait_until(lambda: spike_alerts("pending") == expected, 30,
               f"the spike alerts to be pending for {spiking_name}:\n{prometheus.logs()}")
    pending_since = time.monotonic()
    # They fire once their `for:` has passed, and for the spiking Page only.
    poll(lambda: spike_alerts("firing") == expected, max(holds.values()) + 30,
         f"the spike alerts to fire for {spiking_name}")
    assert time.monotonic() - pending_since >= min(holds.values()) - 2
    assert spike_alerts("pending") == []
    (firing,) = prometheus.query('ALERTS{alertname="MessengerInsightsBlockedConversationsSpike", '
                                 'alertstate="firing"}')
    assert firing["metric"]["severity"] == "critical"
