"""The whole /metrics of a fixed scenario, compared byte for byte with tests/golden/metrics.txt.

The scenario: three Pages against a simulator whose clock stands still (so its values
never change), the exporter on the same clock, one refresh round and one token check.
Acme answers everything; Bluebird's API has retired one metric; Cedar's token is invalid.
What no clock fixes is masked: refresh durations (time.monotonic), and the process and
Python families of prometheus_client (the machine's, not the exporter's).

A change to what the exporter exports shows up here as a diff to review. When it is
intended, write the file again and commit it with the change:

    GOLDEN_UPDATE=1 .venv/bin/pytest tests/test_golden.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from exporter.app import Exporter
from exporter.config import load_text
from exporter.redact import Secret
from exporter.runtime import Settings
from exporter.simulator import Scenario, Simulator

GOLDEN = Path(__file__).parent / "golden" / "metrics.txt"
# Tuesday 2026-09-01 12:00 UTC: a fixed moment, mid-day in Pacific time.
NOW = 1_788_264_000.0
APP_SECRET = "golden-app-secret"
ACME, BLUEBIRD, CEDAR = "1000000000000001", "1000000000000002", "1000000000000003"
CONFIG = f"""
graph_api: {{base_url: "BASE_URL", max_retries: 0, app_id: "100000000000999", app_secret_env: APP_SECRET}}
refresh: {{interval: 15m, stale_after: 45m}}
pages:
  - {{id: "{ACME}", name: Acme Store}}
  - {{id: "{BLUEBIRD}", name: Bluebird Cafe}}
  - {{id: "{CEDAR}"}}
metrics:
  - name: page_messages_new_conversations_unique
  - name: page_messages_blocked_conversations_unique
    baseline_days: 3
  - name: page_messages_sent
    breakdowns: [messaging_channel]
  - name: page_messages_read_ratio
    baseline_days: 0
  - name: recurring_notifications_tokens
    period: total_over_range
    range: 28d
    breakdowns: [recurring_notifications_topic]
"""
MASKED_FAMILIES = ("process_", "python_")
MASKED_VALUES = ("messenger_insights_refresh_duration_seconds",)


def scenario_metrics() -> str:
    """/metrics after one round and one token check of the fixed scenario, masked."""
    tokens = {page: f"EAAB-golden-token-{page}" for page in (ACME, BLUEBIRD, CEDAR)}
    with Simulator(port=0, now=lambda: NOW, app_secret=APP_SECRET, page_tokens=tokens) as sim:
        sim.set_scenario(BLUEBIRD, Scenario("retired_metric", {"metrics": ["page_messages_read_ratio"]}))
        sim.set_scenario(CEDAR, Scenario("invalid_token"))
        sim.set_token_info(f"EAAB-golden-token-{CEDAR}", is_valid=False)
        config = load_text(CONFIG.replace("BASE_URL", sim.url), "golden.yaml")
        secrets = {page: Secret(token) for page, token in tokens.items()}
        exporter = Exporter(Settings(config, secrets, Secret(APP_SECRET)), clock=lambda: NOW)
        exporter.refresh_pages(list(exporter.runtime.pages))
        exporter.check_tokens()
        body = b"".join(exporter.metrics_body(openmetrics=False, compress=False)).decode()
    return mask(body)


def mask(body: str) -> str:
    return "".join(mask_line(line) for line in body.splitlines(keepends=True)
                   if not family_of(line).startswith(MASKED_FAMILIES))


def family_of(line: str) -> str:
    return re.sub(r"^# (HELP|TYPE) ", "", line).split("{")[0].split(" ")[0]


def mask_line(line: str) -> str:
    if family_of(line) in MASKED_VALUES and not line.startswith("#"):
        return re.sub(r" \S+$", " MASKED", line)
    return re.sub(r'python_version="[^"]*"', 'python_version="MASKED"', line)


def test_metrics_of_the_fixed_scenario_are_the_golden_file() -> None:
    actual = scenario_metrics()
    if os.environ.get("GOLDEN_UPDATE") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(actual, encoding="utf-8")
    expected = GOLDEN.read_text(encoding="utf-8")
    assert actual == expected, (
        "/metrics differs from tests/golden/metrics.txt; if the change is intended, run "
        "GOLDEN_UPDATE=1 .venv/bin/pytest tests/test_golden.py and commit the file"
    )


def test_the_scenario_is_the_same_run_after_run() -> None:
    assert scenario_metrics() == scenario_metrics()
