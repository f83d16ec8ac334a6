"""The monitoring bundle as files: rules, alerts, dashboards, provisioning and Compose.

promtool checks and unit-tests the rules; everything else is checked structurally here.
That each query returns data from the real exporter, and names only metrics it serves, is
tests/test_prometheus_e2e.py's job.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.monitoring import (
    ALERTMANAGER_CONFIG,
    ALERTS,
    COMPOSE,
    DASHBOARDS,
    GENERATOR,
    GRAFANA_DIR,
    JOB,
    PROMETHEUS_CONFIG,
    ROOT,
    RULE_TESTS,
    RULES,
    RUNBOOK_BASE,
    RUNBOOKS,
    alert_rules,
    github_anchor,
    load_dashboard,
    load_yaml,
    panel_queries,
    panels,
    promtool,
    recording_rules,
)

SEVERITIES = ("critical", "warning", "info")
EXPECTED_ALERTS = {
    "MessengerInsightsBlockedConversationsSpike",
    "MessengerInsightsReportedConversationsSpike",
    "MessengerInsightsExporterDown",
    "MessengerInsightsRefreshFailing",
    "MessengerInsightsDataStale",
    "MessengerInsightsMetricRejected",
    "MessengerInsightsApiUsageHigh",
    "MessengerInsightsTokenExpiringSoon",
    "MessengerInsightsTokenInvalid",
}


def check(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{result.args} failed:\n{result.stdout}\n{result.stderr}"


# -- Prometheus rules ------------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.parametrize("path", [RULES, ALERTS], ids=["rules", "alerts"])
def test_rule_files_pass_promtool_check_rules(path: Path) -> None:
    result = promtool("check", "rules", str(path))
    check(result)
    assert "SUCCESS" in result.stdout


def test_there_are_rule_unit_tests() -> None:
    names = {path.name for path in RULE_TESTS}
    assert {"alerts_test.yml", "rules_test.yml"} <= names


@pytest.mark.e2e
@pytest.mark.parametrize("path", RULE_TESTS, ids=[p.name for p in RULE_TESTS])
def test_promtool_unit_tests_pass(path: Path) -> None:
    result = promtool("test", "rules", str(path.relative_to(ROOT)))
    check(result)
    assert "SUCCESS" in result.stdout and "FAILED" not in result.stdout


def _unit_tests() -> list[dict[str, Any]]:
    return [test for path in RULE_TESTS for test in (load_yaml(path).get("tests") or [])]


def test_every_alert_has_unit_tests_where_it_fires_and_where_it_does_not() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for test in _unit_tests():
        for case in test.get("alert_rule_test") or []:
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - fires == set(), "alerts without a unit test where they fire"
    assert names - quiet == set(), "alerts without a unit test where they stay quiet"


def test_every_recording_rule_has_a_unit_test() -> None:
    tested = {case["expr"].strip() for test in _unit_tests()
              for case in test.get("promql_expr_test") or []}
    missing = {rule["record"] for rule in recording_rules()} - tested
    assert missing == set()


def test_recording_rules_are_named_level_metric_operations() -> None:
    for rule in recording_rules():
        assert rule["record"].count(":") == 2, rule["record"]
        level, metric, operations = rule["record"].split(":")
        assert re.fullmatch(r"[a-z_]+", level), rule["record"]
        assert metric.startswith("messenger_insights_"), rule["record"]
        assert re.fullmatch(r"[a-z0-9_]+", operations), rule["record"]


def test_the_issue_lists_every_alert() -> None:
    assert {rule["alert"] for rule in alert_rules()} == EXPECTED_ALERTS


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_alert_has_severity_summary_description_and_runbook(rule: dict[str, Any]) -> None:
    assert rule.get("labels", {}).get("severity") in SEVERITIES
    annotations = rule.get("annotations", {})
    for key in ("summary", "description", "runbook_url"):
        assert str(annotations.get(key, "")).strip(), f"{rule['alert']} has no {key}"
    assert annotations["runbook_url"] == RUNBOOK_BASE + github_anchor(rule["alert"])


def test_every_runbook_url_points_to_a_runbook_heading() -> None:
    if not RUNBOOKS.exists():
        pytest.fail("docs/runbooks.md is missing: each alert's runbook is a '## <AlertName>' section of it")
    headings = re.findall(r"^##\s+(.+?)\s*#*\s*$", RUNBOOKS.read_text(encoding="utf-8"), re.MULTILINE)
    anchors = {github_anchor(heading) for heading in headings}
    missing = [rule["alert"] for rule in alert_rules()
               if rule["annotations"]["runbook_url"].removeprefix(RUNBOOK_BASE) not in anchors]
    assert missing == [], f"docs/runbooks.md has no '## <AlertName>' runbook section for {missing}"


def test_target_down_alert_selects_the_scrape_job() -> None:
    (rule,) = [r for r in alert_rules() if r["alert"] == "MessengerInsightsExporterDown"]
    assert f'up{{job="{JOB}"}}' in rule["expr"]


@pytest.mark.e2e
def test_example_prometheus_config_passes_promtool_check_config() -> None:
    result = promtool("check", "config", str(PROMETHEUS_CONFIG.relative_to(ROOT)))
    check(result)
    config = load_yaml(PROMETHEUS_CONFIG)
    assert set(config["rule_files"]) == {"rules.yml", "alerts.yml"}
    assert JOB in {job["job_name"] for job in config["scrape_configs"]}


def test_alertmanager_config_routes_to_a_defined_receiver() -> None:
    config = load_yaml(ALERTMANAGER_CONFIG)
    receivers = {receiver["name"] for receiver in config["receivers"]}
    assert config["route"]["receiver"] in receivers
    for route in config["route"].get("routes", []):
        assert route["receiver"] in receivers


# -- Grafana ---------------------------------------------------------------------------

def test_both_dashboards_exist() -> None:
    assert {path.name for path in DASHBOARDS} == {
        "messenger-insights-overview.json", "messenger-insights-exporter.json",
    }


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_dashboard_panels_each_have_a_datasource_and_queries(path: Path) -> None:
    dashboard = load_dashboard(path)
    assert dashboard["uid"] == path.stem
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert panels(dashboard)
    for panel in panels(dashboard):
        title = panel.get("title")
        assert title, f"a panel of {path.name} has no title"
        assert panel.get("datasource") == {"type": "prometheus", "uid": "${datasource}"}, title
        assert panel.get("targets"), f"{title} has no query"
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), f"{title} has an empty query"
            assert target.get("datasource") == panel["datasource"], title
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, title


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_dashboard_has_a_datasource_variable_and_a_page_picker(path: Path) -> None:
    variables = {v["name"]: v for v in load_dashboard(path)["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    picker = variables["page_name"]
    assert picker["type"] == "query"
    assert picker["definition"] == "label_values(messenger_insights_page_info, page_name)"
    assert picker["query"]["query"] == picker["definition"]


def test_per_page_queries_show_page_names() -> None:
    """Any query on per-Page series joins page_info, so legends can name the Page.

    A selector of page_id="" picks the app's own series (no Page to name).
    """
    for query in panel_queries():
        expr = query.expr.replace('page_id=""', "")
        if "page_id" in expr or "{{page_name}}" in query.legend:
            assert "group_left(page_name) messenger_insights_page_info" in query.expr, query.where()


@pytest.mark.e2e
def test_committed_dashboards_match_the_generator(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(GENERATOR), "--output", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, check=False)
    check(result)
    generated = {path.name: path.read_text(encoding="utf-8") for path in tmp_path.glob("*.json")}
    committed = {path.name: path.read_text(encoding="utf-8") for path in DASHBOARDS}
    assert sorted(generated) == sorted(committed)
    stale = [name for name in generated if generated[name] != committed[name]]
    assert stale == [], f"{stale} differ from grafana/generate.py's output: run python grafana/generate.py"


def test_grafana_provisioning() -> None:
    datasources = load_yaml(GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml")
    (datasource,) = datasources["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    providers = load_yaml(GRAFANA_DIR / "provisioning" / "dashboards" / "dashboards.yml")
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    # Compose mounts grafana/dashboards where the provider looks.
    grafana = load_yaml(COMPOSE)["services"]["grafana"]
    mounts = dict(_bind_mounts(grafana))
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]


# -- docker-compose.yml ----------------------------------------------------------------

_PINNED = re.compile(r"^[\w.\-/]+:v?\d+\.\d+\.\d+$")


def _bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            mounts.append((str(volume["source"]), str(volume["target"])))
        else:
            source, target = str(volume).split(":")[:2]
            mounts.append((source, target))
    return mounts


def test_compose_file_parses_and_has_the_stack() -> None:
    compose = load_yaml(COMPOSE)
    assert set(compose["services"]) == {"exporter", "prometheus", "alertmanager", "grafana"}
    exporter = compose["services"]["exporter"]
    assert exporter["build"] == "."
    assert exporter["command"] == ["--demo"]


def test_compose_images_are_pinned_to_versions() -> None:
    for name, service in load_yaml(COMPOSE)["services"].items():
        if "image" not in service:
            assert "build" in service, f"{name} has neither image nor build"
            continue
        image = service["image"]
        assert ":latest" not in image, name
        assert _PINNED.match(image), f"{name}: {image} is not pinned to an exact version"


def test_compose_mounts_exist() -> None:
    compose = load_yaml(COMPOSE)
    named = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for source, target in _bind_mounts(service):
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in named, f"{name} uses volume {source}, which is not declared"
            assert target.startswith("/"), f"{name}: {target}"
        build = service.get("build")
        if build is not None:
            context = build if isinstance(build, str) else build["context"]
            assert (ROOT / context / "Dockerfile").exists(), name


def test_compose_prometheus_loads_the_rules_and_scrapes_the_exporter() -> None:
    compose = load_yaml(COMPOSE)
    mounts = dict(_bind_mounts(compose["services"]["prometheus"]))
    assert mounts["./prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert mounts["./prometheus/rules.yml"] == "/etc/prometheus/rules.yml"
    assert mounts["./prometheus/alerts.yml"] == "/etc/prometheus/alerts.yml"
    config = load_yaml(PROMETHEUS_CONFIG)
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == JOB]
    hosts = {target.split(":")[0] for static in job["static_configs"] for target in static["targets"]}
    assert hosts <= set(compose["services"])
    alertmanagers = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert {target.split(":")[0] for target in alertmanagers} == {"alertmanager"}


# -- .ci/ensure-prometheus --------------------------------------------------------------

@pytest.mark.e2e
def test_ensure_prometheus_script_is_executable_bash() -> None:
    script = ROOT / ".ci" / "ensure-prometheus"
    assert script.stat().st_mode & 0o111
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    check(result)
    test_recipe = re.search(r"^test-e2e:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert test_recipe is not None and test_recipe.group(1) == ".ci/ensure-prometheus"
