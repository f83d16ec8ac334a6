"""The monitoring bundle against a real Prometheus scraping the real exporter.

The simulator serves three Pages, one of whose blocked and reported conversations spike on
the latest day, and another whose token lacks a permission and expires in three days; it
requires appsecret_proof, and the exporter has the app id and secret, so it checks tokens
with /debug_token. The exporter refreshes the Pages every few seconds; Prometheus scrapes it
every second and evaluates rules.yml and alerts.yml every second. Then every dashboard query
and every recording rule must return data, and the spike and token alerts must be active for
their Page and for no other.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from exporter.simulator import Scenario, Simulator
from tests.conftest import (
    RunningExporter,
    Scrape,
    exporter_env,
    own_tokens,
    token_env,
    wait_until,
)
from tests.monitoring import (
    ALERTS,
    DASHBOARD_METRICS,
    DASHBOARDS,
    JOB,
    RULES,
    RunningPrometheus,
    alert_rules,
    grafana_regex_escape,
    launch_prometheus,
    panel_queries,
    promtool,
    recording_rules,
    rules,
    substitute,
)

# Every test here starts processes (the exporter, Prometheus, promtool or Chromium).
pytestmark = pytest.mark.e2e

TOKEN = "EAAB-monitoring-e2e-5d1c"
APP_ID = "1234567890"
APP_SECRET = "e2e-app-secret-7f3a"
SPIKING = "3100000001"
PAGES = {SPIKING: "Spiking Shop (St. Louis)", "3100000002": "Quiet Cafe", "3100000003": "Calm Books"}
# This Page's first request fails once (retried at once), so errors by code have a series.
FLAKY = "3100000002"
# This Page has a token of its own, which lacks a permission and expires in three days.
BAD_TOKEN_PAGE = "3100000003"
BAD_TOKEN = "EAAB-monitoring-e2e-calm-91b0"
SPIKE_ALERTS = {
    "MessengerInsightsBlockedConversationsSpike",
    "MessengerInsightsReportedConversationsSpike",
}
TOKEN_ALERTS = {"MessengerInsightsTokenExpiringSoon", "MessengerInsightsTokenInvalid"}

# The metrics the dashboards query, as a user would configure them.
CONFIG = """
graph_api:
  base_url: {url}
  timeout: 5s
  app_id: "{app_id}"
  app_secret_env: META_APP_SECRET
refresh:
  interval: 5s
pages:
{pages}
""" + DASHBOARD_METRICS

_METRIC_NAME = re.compile(r"(?<![\w:])messenger_insights_[a-z0-9_]+(?![\w:])")


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """The simulator of an app with "Require App Secret" on: every call needs appsecret_proof."""
    sim = Simulator(host="127.0.0.1", port=0, app_secret=APP_SECRET)
    sim.start()
    yield sim
    sim.stop()


def page_entry(page_id: str, name: str) -> str:
    entry = f'  - id: "{page_id}"\n    name: "{name}"'
    if page_id == BAD_TOKEN_PAGE:
        return entry + "\n    access_token_env: CALM_BOOKS_PAGE_TOKEN"
    return entry + f"\n    access_token_env: {token_env(page_id)}"


def start_stack_exporter(simulator: Simulator,
                         start_exporter: Callable[..., RunningExporter]) -> tuple[RunningExporter, Scrape]:
    """The spiking Page, a Page whose first request fails once, one whose token is unfit, and
    every Page up with its token checked."""
    simulator.set_scenario(SPIKING, Scenario("spike", {"factor": 10, "add": 50}))
    simulator.set_scenario(FLAKY, Scenario("transient", {"times": 1}))
    # Every Page its own token, known to the API from the start (as Meta knows the tokens
    # it issued, whenever the exporter checks them).
    tokens = own_tokens(TOKEN, [page for page in PAGES if page != BAD_TOKEN_PAGE], simulator)
    simulator.set_page_token(BAD_TOKEN_PAGE, BAD_TOKEN)
    simulator.set_token_info(BAD_TOKEN, expires_at=int(time.time()) + 3 * 86400,
                             scopes=["pages_read_engagement", "pages_show_list", "read_insights"])
    pages = "\n".join(page_entry(page_id, name) for page_id, name in PAGES.items())
    exporter = start_exporter(
        CONFIG.format(url=simulator.url, pages=pages, app_id=APP_ID),
        env=exporter_env(**tokens, CALM_BOOKS_PAGE_TOKEN=BAD_TOKEN,
                         META_APP_SECRET=APP_SECRET),
    )

    def ready(scrape: Scrape) -> bool:
        up = scrape.series("messenger_insights_up")
        errors = scrape.series("messenger_insights_api_errors_total")
        checked = scrape.series("messenger_insights_token_expiry_timestamp_seconds")
        return (len(up) == len(PAGES) and all(value == 1 for value in up.values())
                and any(value >= 1 for value in errors.values()) and len(checked) == len(PAGES))

    return exporter, exporter.wait_for(
        ready, timeout=30, what="every Page up, its token checked, and one API error counted")


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[[str], RunningPrometheus]]:
    """Start Prometheus scraping one target every second with the bundle's rules loaded."""
    started: list[RunningPrometheus] = []

    def start(target: str) -> RunningPrometheus:
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES), str(ALERTS)],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
        }
        running = launch_prometheus(config, tmp_path, args=("--log.level=info",))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def eventually_all(checks: dict[str, Callable[[], bool]], timeout: float) -> list[str]:
    """Poll until every check holds or time runs out; the names of those that never held."""
    pending = dict(checks)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = {name: check for name, check in pending.items() if not check()}
        if pending:
            time.sleep(0.5)
    return sorted(pending)


def test_dashboards_rules_and_alerts_against_a_real_prometheus(
    simulator: Simulator,
    start_exporter: Callable[..., RunningExporter],
    start_prometheus: Callable[[str], RunningPrometheus],
) -> None:
    exporter, scrape = start_stack_exporter(simulator, start_exporter)
    prometheus = start_prometheus(exporter.url.removeprefix("http://"))

    def target_up() -> bool:
        return [s["value"][1] for s in prometheus.query(f'up{{job="{JOB}"}}')] == ["1"]

    wait_until(target_up, 20, f"Prometheus to scrape the exporter:\n{prometheus.logs()}")

    # One Page's answers now report its quota nearly used: the governor puts it on hold and
    # the exporter shows until when.
    simulator.set_scenario(FLAKY, Scenario("usage", {"call_count": 95}))
    exporter.wait_for(
        lambda s: (s.get("messenger_insights_throttled_until_timestamp_seconds", page_id=FLAKY) or 0) > 0,
        timeout=30, what="the governor to hold the busy Page")

    # Every name the bundle uses is one the exporter serves.
    served = {name for name, _ in scrape.samples}
    for path in (RULES, ALERTS):
        used = {name for rule in rules(path) for name in _METRIC_NAME.findall(rule["expr"])}
        assert used - served == set(), f"{path.name} uses names not served"
    for query in panel_queries():
        assert set(_METRIC_NAME.findall(query.expr)) - served == set(), query.where()

    # Every panel query returns data, for one real Page and for "All".
    queries = panel_queries()
    assert len(queries) > 20 and len(DASHBOARDS) == 2
    def has_data(expr: str) -> Callable[[], bool]:
        return lambda: bool(prometheus.query(expr))

    checks: dict[str, Callable[[], bool]] = {}
    for page_value in (grafana_regex_escape(PAGES[SPIKING]), ".+"):
        for query in queries:
            expr = substitute(query.expr, {"page_name": page_value, "datasource": "prometheus"})
            checks[f"{query.where()} with page_name={page_value}: {expr}"] = has_data(expr)
    # Every recording rule returns data.
    for rule in recording_rules():
        checks[f"recording rule {rule['record']}"] = has_data(rule["record"])
    missing = eventually_all(checks, timeout=30)
    assert missing == [], "no data for:\n" + "\n".join(missing)

    # A per-Page panel shows each Page by name.
    (first, *_) = [q for q in queries if "blocked_conversations_unique{" in q.expr]
    names = {s["metric"]["page_name"] for s in prometheus.query(substitute(first.expr, {"page_name": ".+"}))}
    assert names == set(PAGES.values())

    # The token-expiry panel shows days left, and -1 (which it maps to "never") for the
    # tokens whose expiry is 0.
    (expiry,) = [q for q in queries if q.panel == "Token expires in"]
    days = {s["metric"]["page_id"]: float(s["value"][1])
            for s in prometheus.query(substitute(expiry.expr, {"page_name": ".+"}))}
    assert days.pop(BAD_TOKEN_PAGE) == pytest.approx(3, abs=0.01)
    assert set(days.values()) == {-1}

    # The spike alerts are active (pending or firing) for the spiking Page, the token alerts
    # for the Page with the unfit token (once, for the permission it lacks), and no other.
    def active_alerts() -> list[tuple[str, str, str, str]]:
        return sorted((alert["labels"]["alertname"], alert["labels"]["page_id"],
                       alert["labels"]["page_name"], alert["labels"].get("scope", ""))
                      for alert in prometheus.api("alerts")["alerts"]
                      if alert["labels"]["alertname"] in SPIKE_ALERTS | TOKEN_ALERTS
                      and alert["state"] in ("pending", "firing"))

    expected = sorted([*((name, SPIKING, PAGES[SPIKING], "") for name in SPIKE_ALERTS),
                       ("MessengerInsightsTokenExpiringSoon", BAD_TOKEN_PAGE, PAGES[BAD_TOKEN_PAGE], ""),
                       ("MessengerInsightsTokenInvalid", BAD_TOKEN_PAGE, PAGES[BAD_TOKEN_PAGE],
                        "pages_messaging")])
    wait_until(lambda: set(active_alerts()) >= set(expected), 20,
               "the spike alerts of the spiking Page and the token alerts of the unfit token's Page")
    assert active_alerts() == expected
    assert {rule["alert"] for rule in alert_rules()} >= SPIKE_ALERTS | TOKEN_ALERTS


def test_exporter_output_passes_promtool_check_metrics(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    exporter, _ = start_stack_exporter(simulator, start_exporter)
    text = requests.get(f"{exporter.url}/metrics", timeout=10).text
    result = promtool("check", "metrics", stdin=text)
    findings = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 0 and findings == [], "promtool check metrics found:\n" + "\n".join(findings)
    # Meta's page_messages_order_count is exported without the _count suffix promlint
    # reserves for histograms and summaries; the test's config asks for it.
    assert "messenger_insights_page_messages_orders{" in text
