"""What the monitoring-bundle tests share: where the files are, the Prometheus tools, the queries.

The tests never skip for a missing tool: without `prometheus` or `promtool` they fail,
saying how to get them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.conftest import free_port, stop_process, wait_until

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = ROOT / "prometheus"
RULES = PROMETHEUS_DIR / "rules.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTMANAGER_CONFIG = PROMETHEUS_DIR / "alertmanager.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
GRAFANA_DIR = ROOT / "grafana"
DASHBOARDS = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
GENERATOR = GRAFANA_DIR / "generate.py"
COMPOSE = ROOT / "docker-compose.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"

RUNBOOK_BASE = (
    "https://github.com/messenger-insights-exporter/messenger-insights-exporter/blob/main/docs/runbooks.md#"
)
JOB = "messenger-insights"


def require_tool(name: str) -> str:
    """The path of a Prometheus tool; fails the test (never skips) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH. The monitoring tests need Prometheus' `prometheus` and "
            "`promtool` binaries. Run .ci/ensure-prometheus (as root on Debian or Ubuntu it "
            "installs the `prometheus` package; `make test` runs it first), or install "
            "Prometheus 2.x and put both binaries on PATH.",
            pytrace=False,
        )
    return path


def promtool(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args], input=stdin, capture_output=True, text=True,
        cwd=cwd, timeout=120, check=False,
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules(path: Path) -> list[dict[str, Any]]:
    """Every rule of a Prometheus rule file, groups flattened."""
    document = load_yaml(path)
    return [rule for group in document["groups"] for rule in group["rules"]]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for rule in rules(ALERTS) if "alert" in rule]


def recording_rules() -> list[dict[str, Any]]:
    return [rule for rule in rules(RULES) if "record" in rule]


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    expr: str
    legend: str
    instant: bool

    def where(self) -> str:
        return f"{self.dashboard} / {self.panel!r} / {self.ref_id}"


def load_dashboard(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included; rows themselves left out."""
    found: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            found.extend(panel.get("panels", []))
        else:
            found.append(panel)
    return found


def panel_queries() -> list[PanelQuery]:
    queries = []
    for path in DASHBOARDS:
        for panel in panels(load_dashboard(path)):
            for target in panel.get("targets", []):
                queries.append(PanelQuery(path.name, panel.get("title", ""), target.get("refId", ""),
                                          target.get("expr", ""), target.get("legendFormat", ""),
                                          bool(target.get("instant"))))
    return queries


# Grafana's built-in interval variables, as a 1-second scrape interval makes them.
BUILTIN_INTERVALS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(expr: str, values: dict[str, str]) -> str:
    """A panel query with its template variables replaced as Grafana would replace them."""
    known = {**BUILTIN_INTERVALS, **values}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in known:
            raise AssertionError(f"unknown template variable ${name} in {expr!r}")
        return known[name]

    return _VARIABLE.sub(replace, expr)


def grafana_regex_escape(value: str) -> str:
    """A variable value as Grafana writes it into a Prometheus regex matcher (=~"...").

    Regex metacharacters get a backslash, itself doubled inside the PromQL string.
    """
    out = []
    for char in value:
        if char == "\\":
            out.append("\\" * 4)
        elif char in "$^*{}[]'+?.()|":
            out.append("\\" * 2 + char)
        else:
            out.append(char)
    return "".join(out)


def github_anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading's text."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


# The config entries of every metric the dashboards query, as a user would configure them.
DASHBOARD_METRICS = """
metrics:
  - name: page_messages_new_conversations_unique
  - name: page_messages_blocked_conversations_unique
  - name: page_messages_reported_conversations_unique
  - name: page_messages_total_messaging_connections
  - name: page_messages_sent
    breakdowns: [messaging_channel]
  - name: page_messages_sent
    breakdowns: [recurring_notifications_topic]
  - name: page_messages_sent
    breakdowns: [campaign_id]
  - name: page_messages_read_ratio
    breakdowns: [messaging_channel]
  - name: page_messages_read_ratio
    breakdowns: [recurring_notifications_topic]
  - name: page_messages_read_ratio
    breakdowns: [campaign_id]
  - name: page_messages_engagement
    breakdowns: [messaging_channel]
  - name: page_messages_engagement
    breakdowns: [recurring_notifications_topic]
  - name: page_messages_engagement
    breakdowns: [campaign_id]
  - name: recurring_notifications_tokens
    period: total_over_range
    range: 28d
    breakdowns: [recurring_notifications_topic, recurring_notifications_frequency]
  - name: page_messages_order_count
  - name: page_messages_paid_order_earnings
  - name: page_messages_with_business_outcomes
"""


@dataclass
class RunningPrometheus:
    """A real Prometheus started by a test, and its HTTP API."""

    process: subprocess.Popen[str]
    url: str
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def api(self, path: str, **params: str) -> Any:
        body = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=30).json()
        if body.get("status") != "success":
            raise AssertionError(f"Prometheus answered {path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        result = data["result"]
        if data["resultType"] == "scalar":
            return [{"value": result}]
        return list(result)

    def at(self, expr: str, moment: float) -> list[dict[str, Any]]:
        """An instant query at a past moment (unix seconds)."""
        return list(self.api("query", query=expr, time=str(moment))["result"])

    def stop(self) -> None:
        stop_process(self.process)


def launch_prometheus(config: dict[str, Any], workdir: Path, *, tsdb: Path | None = None,
                      args: Sequence[str] = (), ready_within: float = 30) -> RunningPrometheus:
    """Prometheus with this config (written to workdir/prometheus.yml) on a free loopback
    port, its log in workdir/prometheus.log; returned once /-/ready answers 200."""
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    log_path = workdir / "prometheus.log"
    with log_path.open("w", encoding="utf-8") as log_file:
        process = subprocess.Popen(
            [require_tool("prometheus"), f"--config.file={config_path}",
             f"--storage.tsdb.path={tsdb or workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", *args],
            stdout=log_file, stderr=subprocess.STDOUT, text=True)
    running = RunningPrometheus(process, f"http://127.0.0.1:{port}", log_path)

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"prometheus exited with {process.returncode}:\n{running.logs()}")
        try:
            return requests.get(f"{running.url}/-/ready", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_until(ready, ready_within, "Prometheus to be ready")
    except BaseException:
        running.stop()
        raise
    return running
