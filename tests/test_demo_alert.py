"""The demo shows an alert: `--demo` and a real Prometheus with the shipped rules and alerts.

The README's "See an alert fire" runs `make demo` and a Prometheus started with
prometheus/local.yml. This test does the same with the real processes: the exporter in
`--demo` mode and Prometheus with local.yml, changed only where a test must (the target's
port, and scrape and evaluation every second instead of every 15 s). The rule files are
the shipped ones, unchanged, thresholds and `for: 5m` included.

What is proven, and how:
- In the real Prometheus, both spike alerts go *pending* for the demo's spiking Page, and
  no alert of the shipped set is pending or firing for anything else.
- Pending turns into *firing* once the alerts' `for:` (read from alerts.yml) has passed,
  for that Page alone: rather than waiting those minutes in real time, the test hands
  Prometheus' own rule engine (`promtool test rules`, virtual time) every
  `messenger_insights_*` series the real Prometheus scraped from the demo, with its job and
  instance labels, each held at its scraped value, and the shipped rules.yml and
  alerts.yml. At `for:` - 1m neither alert fires; at `for:` + 1m each fires exactly once,
  with the labels and annotations the real Prometheus showed on the pending alert.
- `promtool check metrics` has nothing to say about the demo's whole /metrics.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from exporter.demo import DEMO_PAGES, DEMO_SPIKING_PAGE
from tests.conftest import RunningExporter, wait_until
from tests.monitoring import (
    ALERTS,
    JOB,
    PROMETHEUS_DIR,
    RULES,
    RunningPrometheus,
    alert_rules,
    launch_prometheus,
    promtool,
)

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
        running = launch_prometheus(local_config_for(target), tmp_path)
        started.append(running)
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
    demo: RunningExporter, local_prometheus: Callable[[str], RunningPrometheus], tmp_path: Path
) -> None:
    holds = {rule["alert"]: rule["for"] for rule in alert_rules() if rule["alert"] in SPIKE_ALERTS}
    assert set(holds) == set(SPIKE_ALERTS), f"{ALERTS} lost a spike alert"
    target = demo.url.removeprefix("http://")
    prometheus = local_prometheus(target)
    spiking_name = dict(DEMO_PAGES)[DEMO_SPIKING_PAGE]

    def active_alerts() -> list[tuple[str, str, str, str]]:
        return sorted((alert["state"], alert["labels"]["alertname"], alert["labels"].get("page_id", ""),
                       alert["labels"].get("page_name", ""))
                      for alert in prometheus.api("alerts")["alerts"])

    # In the real Prometheus: both spike alerts pending for the spiking Page, and no alert
    # of the shipped set pending or firing for anything else.
    expected = [("pending", name, DEMO_SPIKING_PAGE, spiking_name) for name in sorted(SPIKE_ALERTS)]
    wait_until(lambda: active_alerts() == expected, 30,
               f"the spike alerts (and no other alert) to be pending for {spiking_name}:\n{prometheus.logs()}")
    pending = {alert["labels"]["alertname"]: alert for alert in prometheus.api("alerts")["alerts"]}
    scraped = prometheus.query(f'{{__name__=~"messenger_insights_.+",job="{JOB}"}}')
    assert active_alerts() == expected, "an alert changed state while the scraped series were read"

    # Pending to firing after `for:`, in Prometheus' own rule engine in virtual time: the
    # series just scraped from the demo, held, through the shipped rule files.
    assert {series["metric"]["instance"] for series in scraped} == {target}
    result = promtool("test", "rules", str(write_rule_test(tmp_path, scraped, holds, pending)))
    assert result.returncode == 0, result.stdout + result.stderr


def write_rule_test(directory: Path, scraped: list[dict[str, Any]], holds: dict[str, str],
                    pending: dict[str, dict[str, Any]]) -> Path:
    """A `promtool test rules` file: the shipped rules.yml and alerts.yml over the scraped
    series, each held at its scraped value; every alert of `holds` quiet at its `for:` - 1m
    and firing at `for:` + 1m with the labels and annotations it had while pending."""
    longest = max(seconds(hold) for hold in holds.values())
    minutes = int(longest // 60) + 2
    input_series = [{"series": series_text(series["metric"]), "values": f"{series_value(series)}x{minutes}"}
                    for series in scraped]
    checks: list[dict[str, Any]] = []
    for name, hold in holds.items():
        alert = pending[name]
        labels = {key: value for key, value in alert["labels"].items() if key != "alertname"}
        checks.append({"alertname": name, "eval_time": f"{int(seconds(hold)) - 60}s", "exp_alerts": []})
        checks.append({"alertname": name, "eval_time": f"{int(seconds(hold)) + 60}s",
                       "exp_alerts": [{"exp_labels": labels, "exp_annotations": alert["annotations"]}]})
    document = {
        "rule_files": [str(RULES), str(ALERTS)],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": input_series, "alert_rule_test": checks}],
    }
    path = directory / "demo_alerts_test.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def series_text(labels: dict[str, str]) -> str:
    """A series as promtool's input_series write it: name{label="value",...}."""
    name = labels["__name__"]
    pairs = ",".join(f"{key}={json.dumps(value)}" for key, value in sorted(labels.items()) if key != "__name__")
    return f"{name}{{{pairs}}}"


def series_value(series: dict[str, Any]) -> str:
    """A sample value as promtool's series notation reads it (Inf and NaN by name)."""
    value = float(series["value"][1])
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return repr(value)
