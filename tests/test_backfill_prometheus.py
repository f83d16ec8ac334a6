"""The backfill through the real tools: written for several Pages over 30+ days from the
simulator, turned into blocks by the real promtool, loaded by a real Prometheus that also
scrapes a live exporter with the same config. Instant queries at past moments return the
simulator's day values, every overview dashboard query has data over the whole range, and
the backfilled series carry exactly the live series' label sets."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from exporter import pacific_calendar
from exporter.backfill.history_range import latest_backfillable_day
from exporter.simulator import Simulator
from tests.conftest import (
    RunningExporter,
    exporter_env,
    own_tokens,
    token_env,
    wait_until,
)
from tests.monitoring import (
    DASHBOARD_METRICS,
    GRAFANA_DIR,
    JOB,
    RunningPrometheus,
    launch_prometheus,
    load_dashboard,
    panels,
    promtool,
    substitute,
)

pytestmark = pytest.mark.e2e

PAGES = {"5100000001": "Backfill Shop", "5100000002": "History Cafe"}
DAYS = 32
OVERVIEW = GRAFANA_DIR / "dashboards" / "messenger-insights-overview.json"
# Every entry the overview dashboard reads, and two date_preset entries.
METRICS = DASHBOARD_METRICS + """  - name: page_messages_new_conversations_unique
    period: total_over_range
    date_preset: last_28d
  - name: page_messages_blocked_conversations_unique
    period: total_over_range
    date_preset: last_month
"""


def config_text(url: str) -> str:
    pages = "\n".join(f'  - id: "{page_id}"\n    name: "{name}"\n    access_token_env: {token_env(page_id)}'
                      for page_id, name in PAGES.items())
    return f"graph_api:\n  base_url: {url}\n  timeout: 10s\nrefresh:\n  interval: 5s\npages:\n{pages}\n{METRICS}"


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    sim = Simulator(host="127.0.0.1", port=0)
    sim.start()
    yield sim
    sim.stop()


def start_prometheus(tmp_path: Path, tsdb: Path, target: str) -> RunningPrometheus:
    """Prometheus on the backfilled blocks, keeping them (retention above the range), and
    scraping the live exporter as the shipped config does (job messenger-insights)."""
    config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
              "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}]}
    return launch_prometheus(config, tmp_path, tsdb=tsdb, args=("--storage.tsdb.retention.time=90d",),
                             ready_within=60)


def simulator_value(sim: Simulator, page_id: str, token: str, metric: str, day: dt.date) -> float:
    """The day's value, asked of the simulator directly (not through the exporter)."""
    response = requests.get(
        f"{sim.url}/v24.0/{page_id}/insights",
        params={"metric": metric, "period": "day", "since": str(pacific_calendar.day_start(day)),
                "until": str(pacific_calendar.day_end(day))},
        headers={"Authorization": f"Bearer {token}"}, timeout=10)
    response.raise_for_status()
    (entry,) = response.json()["data"]
    (row,) = entry["values"]
    return float(row["value"])


def overview_queries() -> list[tuple[str, str]]:
    return [(f"{panel.get('title')} / {target.get('refId')}",
             substitute(target["expr"], {"page_name": ".+", "datasource": "prometheus"}))
            for panel in panels(load_dashboard(OVERVIEW)) for target in panel.get("targets", [])]


def test_backfilled_blocks_answer_like_the_live_exporter(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter], tmp_path: Path,
) -> None:
    tokens = own_tokens("EAAB-backfill-e2e", PAGES, simulator)
    text = config_text(simulator.url)
    live = start_exporter(text, env=exporter_env(**tokens))
    target = live.url.removeprefix("http://")

    # The backfill, as a user runs it, with the instance label of the live target.
    config = tmp_path / "backfill.yaml"
    config.write_text(text, encoding="utf-8")
    history = tmp_path / "history"
    result = subprocess.run(
        [sys.executable, "-m", "exporter", f"--config.file={config}", f"--backfill.start={DAYS}d",
         f"--backfill.output={history}/", f"--backfill.instance={target}"],
        env=exporter_env(**tokens), capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    assert "warning: this backfill reaches" in result.stderr  # beyond the default 15-day retention
    files = sorted(history.glob("*.om"))
    assert len(files) >= DAYS - 1

    tsdb = tmp_path / "tsdb"
    for path in files:
        made = promtool("tsdb", "create-blocks-from", "openmetrics", str(path), str(tsdb))
        assert made.returncode == 0, f"{path.name}: {made.stdout}{made.stderr}"
    prometheus = start_prometheus(tmp_path, tsdb, target)
    try:
        check_day_values(prometheus, simulator, tokens)
        check_dashboard_over_the_range(prometheus)
        check_label_sets(prometheus, live)
    finally:
        prometheus.stop()


def check_day_values(prometheus: RunningPrometheus, sim: Simulator, tokens: dict[str, str]) -> None:
    """At midday (Pacific) of past days, each Page shows the value of the day before: the
    latest complete day then, as a live exporter showed it."""
    last = latest_backfillable_day(time.time())
    checked = 0
    for back in (1, 5, 12, 20, 30):
        shown = last - dt.timedelta(days=back)  # the value served during the next day
        midday = pacific_calendar.day_end(shown) + 12 * 3600
        for page_id in PAGES:
            for metric in ("page_messages_new_conversations_unique", "page_messages_total_messaging_connections"):
                found = prometheus.at(f'messenger_insights_{metric}{{page_id="{page_id}",period="day"}}', midday)
                assert len(found) == 1, (metric, shown, found)
                expected = simulator_value(sim, page_id, tokens[token_env(page_id)], metric, shown)
                assert float(found[0]["value"][1]) == expected, (page_id, metric, shown)
                checked += 1
    assert checked == 20


def check_dashboard_over_the_range(prometheus: RunningPrometheus) -> None:
    """Every overview query has data at every hour of the backfilled range."""
    last = latest_backfillable_day(time.time())
    start = pacific_calendar.day_end(last - dt.timedelta(days=DAYS - 2))
    end = pacific_calendar.day_end(last)
    steps = set(range(start, end + 1, 3600))
    queries = overview_queries()
    assert len(queries) > 20
    for where, expr in queries:
        data = prometheus.api("query_range", query=expr, start=str(start), end=str(end), step="3600")
        seen = {int(float(point[0])) for series in data["result"] for point in series["values"]}
        assert seen == steps, f"{where}: no data at {len(steps - seen)} of {len(steps)} hours: {expr}"


def check_label_sets(prometheus: RunningPrometheus, live: RunningExporter) -> None:
    """The series of each backfilled name carry the same label sets as the live scrapes:
    history and live data are one series each, and joins match once."""
    wait_until(lambda: bool(prometheus.at(f'up{{job="{JOB}"}} == 1', time.time())), 30,
               "Prometheus to scrape the live exporter")
    live.wait_for(lambda s: len(s.series("messenger_insights_up")) == len(PAGES)
                  and all(v == 1 for v in s.series("messenger_insights_up").values()), 30, "live data")
    wait_until(lambda: bool(prometheus.at("messenger_insights_page_messages_sent", time.time())), 30,
               "the live insights to be scraped")
    now = time.time()
    past = pacific_calendar.day_end(latest_backfillable_day(now) - dt.timedelta(days=10)) + 3600

    def label_sets(moment: float) -> dict[str, set[frozenset[tuple[str, str]]]]:
        found: dict[str, set[frozenset[tuple[str, str]]]] = {}
        for series in prometheus.api("series", **{"match[]": '{__name__=~"messenger_insights_.+"}'},
                                     start=str(moment - 240), end=str(moment)):
            name = series.pop("__name__")
            found.setdefault(name, set()).add(frozenset(series.items()))
        return found

    backfilled = label_sets(past)
    current = label_sets(now)
    assert "messenger_insights_page_messages_sent_baseline" in backfilled
    periods = {dict(labels).get("period") for labels in backfilled["messenger_insights_page_messages_new_conversations_unique"]}
    assert periods == {"day", "total_over_range"}  # the date_preset entry's history too
    assert "messenger_insights_up" not in backfilled
    for name, sets in backfilled.items():
        assert sets == current.get(name), f"{name}: backfilled and live label sets differ"
    # One page_info series per Page over the whole range: the join sees each Page once.
    info = prometheus.at("count by (page_id) (last_over_time(messenger_insights_page_info[40d]))", now)
    assert {s["metric"]["page_id"]: s["value"][1] for s in info} == dict.fromkeys(PAGES, "1")
