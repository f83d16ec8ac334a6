#!/usr/bin/env python3
"""Writes the Grafana dashboards in grafana/dashboards/ (dashboards as code, stdlib only).

    python grafana/generate.py                 # rewrite grafana/dashboards/*.json
    python grafana/generate.py --output DIR    # write them somewhere else

The JSON files are committed; a test regenerates them into a temporary directory and fails
when they differ, so edit this file and run it rather than editing the JSON. Every query
names the metrics exactly as the exporter serves them, and a test runs each one against a
real Prometheus scraping the exporter.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JSON = dict[str, Any]

OUTPUT = Path(__file__).resolve().parent / "dashboards"
SCHEMA_VERSION = 39  # Grafana 11.0
TAGS = ["messenger-insights"]
DATASOURCE: JSON = {"type": "prometheus", "uid": "${datasource}"}

# Selectors and thresholds, in one place. The alert thresholds live in prometheus/alerts.yml;
# the lines drawn here show them.
JOB = "messenger-insights"  # the scrape job of prometheus/prometheus.yml and the alerts
PAGE_PICKER = 'messenger_insights_page_info{page_name=~"$page_name"}'
DAY = 'period="day"'
SPIKE_FACTOR = 3  # MessengerInsights*ConversationsSpike: latest day > 3 x baseline
SPIKE_MINIMUM = 10  # ... and latest day >= 10
STALE_AFTER_SECONDS = 2700  # MessengerInsightsDataStale: the default refresh.stale_after
USAGE_LIMIT = 0.8  # MessengerInsightsApiUsageHigh
TOKEN_EXPIRY_DAYS = 7  # MessengerInsightsTokenExpiringSoon
# The token panels show days left; a timestamp of 0 (never expires) becomes this value, which
# real days left cannot take (they are clamped at 0), and a value mapping shows it as text.
NEVER = -1
TOKENS_CHECKED = ("The exporter checks tokens with /debug_token at start, after a reload and "
                  "every 6 hours, when graph_api has app_id and app_secret_env or "
                  "app_secret_file.")

GRID_WIDTH = 24
# Panels that show one value per series: they ask for the latest value only.
LATEST_VALUE_KINDS = ("stat", "bargauge", "table")


def with_page_name(expr: str) -> str:
    """Keep the series of the Pages picked, each labelled with its page_name.

    The page_info join: the picker lists Page names, the series carry page_id.
    """
    return f"({expr}) * on(page_id) group_left(page_name) {PAGE_PICKER}"


def insight(metric: str, *matchers: str) -> str:
    """The selector of an insights gauge as the exporter names it."""
    return f"messenger_insights_{metric}{{{', '.join(matchers)}}}"


def ratio_to_baseline(metric: str) -> str:
    """Latest day / baseline, the baseline floored at 1 (as the recording rules do)."""
    latest = f"max by (page_id) ({insight(metric, DAY)})"
    baseline = f"max by (page_id) ({insight(metric + '_baseline', DAY)})"
    return f"{latest} / clamp_min({baseline}, 1)"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str
    table: bool = False

    def target(self, ref_id: str, *, instant: bool) -> JSON:
        return {
            "datasource": DATASOURCE,
            "editorMode": "code",
            "expr": self.expr,
            "format": "table" if self.table else "time_series",
            "instant": instant,
            "legendFormat": self.legend,
            "range": not instant,
            "refId": ref_id,
        }


@dataclass(frozen=True)
class Panel:
    """One visualisation; `kind` is its Grafana panel type."""

    kind: str
    title: str
    description: str
    queries: Sequence[Query]
    width: int = 12
    height: int = 8
    unit: str = "short"
    decimals: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    # A red line (time series) or colour step (stat, bar gauge) at this value.
    threshold: float | None = None
    # Colour steps replacing the default green (and red at `threshold`).
    steps: Sequence[JSON] = ()
    mappings: Sequence[JSON] = ()
    overrides: Sequence[JSON] = ()
    options: JSON = field(default_factory=dict)
    custom: JSON = field(default_factory=dict)
    transformations: Sequence[JSON] = ()

    def render(self, panel_id: int, x: int, y: int) -> JSON:
        steps: list[JSON] = [{"color": "green", "value": None}]
        if self.threshold is not None:
            steps.append({"color": "red", "value": self.threshold})
        if self.steps:
            steps = list(self.steps)
        defaults: JSON = {
            "color": {"mode": "thresholds" if self.kind == "stat" else "palette-classic"},
            "mappings": list(self.mappings),
            "thresholds": {"mode": "absolute", "steps": steps},
            "unit": self.unit,
        }
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        if self.minimum is not None:
            defaults["min"] = self.minimum
        if self.maximum is not None:
            defaults["max"] = self.maximum
        if self.kind == "timeseries":
            custom: JSON = {"lineWidth": 2, "fillOpacity": 0, "showPoints": "never",
                            "spanNulls": False}
            if self.threshold is not None:
                custom["thresholdsStyle"] = {"mode": "dashed"}
            defaults["custom"] = {**custom, **self.custom}
        elif self.custom:
            defaults["custom"] = dict(self.custom)
        panel: JSON = {
            "datasource": DATASOURCE,
            "description": self.description,
            "fieldConfig": {"defaults": defaults, "overrides": list(self.overrides)},
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "id": panel_id,
            "options": {**_default_options(self.kind), **self.options},
            "targets": [query.target(chr(ord("A") + i), instant=self.kind in LATEST_VALUE_KINDS)
                        for i, query in enumerate(self.queries)],
            "title": self.title,
            "type": self.kind,
        }
        if self.transformations:
            panel["transformations"] = list(self.transformations)
        return panel


def _default_options(kind: str) -> JSON:
    if kind == "timeseries":
        return {
            "legend": {"calcs": ["lastNotNull"], "displayMode": "table", "placement": "bottom",
                       "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    if kind == "stat":
        return {
            "colorMode": "value",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": "value_and_name",
        }
    if kind == "bargauge":
        return {
            "displayMode": "basic",
            "orientation": "horizontal",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showUnfilled": True,
        }
    if kind == "table":
        return {"cellHeight": "sm", "showHeader": True}
    raise ValueError(f"no default options for panel type {kind}")


@dataclass(frozen=True)
class Row:
    title: str


Item = Panel | Row


def layout(items: Iterable[Item]) -> list[JSON]:
    """Panels left to right, wrapping at the grid's width; a Row starts a new line."""
    panels: list[JSON] = []
    x = y = line_height = 0
    for panel_id, item in enumerate(items, start=1):
        if isinstance(item, Row):
            y += line_height
            x = line_height = 0
            panels.append({
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "id": panel_id,
                "panels": [],
                "title": item.title,
                "type": "row",
            })
            y += 1
            continue
        if x + item.width > GRID_WIDTH:
            y += line_height
            x = line_height = 0
        panels.append(item.render(panel_id, x, y))
        x += item.width
        line_height = max(line_height, item.height)
    return panels


# -- Reusable pieces -------------------------------------------------------------------

UP_DOWN: JSON = {
    "type": "value",
    "options": {"0": {"color": "red", "index": 1, "text": "DOWN"},
                "1": {"color": "green", "index": 0, "text": "UP"}},
}
REJECTED_MAPPING: JSON = {
    "type": "value",
    "options": {"0": {"color": "green", "index": 0, "text": "accepted"},
                "1": {"color": "red", "index": 1, "text": "REJECTED"}},
}
VALID_MAPPING: JSON = {
    "type": "value",
    "options": {"0": {"color": "red", "index": 1, "text": "INVALID"},
                "1": {"color": "green", "index": 0, "text": "valid"}},
}
MISSING_SCOPE_MAPPING: JSON = {
    "type": "value",
    "options": {"0": {"color": "green", "index": 0, "text": "granted"},
                "1": {"color": "red", "index": 1, "text": "MISSING"}},
}
RELOAD_MAPPING: JSON = {
    "type": "value",
    "options": {"0": {"color": "red", "index": 1, "text": "FAILED"},
                "1": {"color": "green", "index": 0, "text": "OK"}},
}
DASHED_BASELINES: JSON = {
    "matcher": {"id": "byRegexp", "options": ".*baseline.*"},
    "properties": [{"id": "custom.lineStyle", "value": {"dash": [10, 10], "fill": "dash"}}],
}


def latest_with_baseline(metric: str) -> list[Query]:
    return [
        Query(with_page_name(insight(metric, DAY)), "{{page_name}}"),
        Query(with_page_name(insight(metric + "_baseline", DAY)), "{{page_name}} baseline"),
    ]


def latest_stat(metric: str, title: str, noun: str) -> Panel:
    return Panel(
        "stat", title,
        f"{noun.capitalize()} on the latest complete day (Meta's days end at midnight Pacific "
        f"time), and the baseline: the mean of the days before it (baseline_days, 7 by default).",
        latest_with_baseline(metric), width=6, height=5,
    )


def daily_series(metric: str, title: str, noun: str) -> Panel:
    return Panel(
        "timeseries", title,
        f"{noun.capitalize()} on the latest complete day as the exporter served it over time "
        "(it steps once a day), with the baseline dashed.",
        latest_with_baseline(metric), overrides=[DASHED_BASELINES],
    )


def by_channel_and_topic(metric: str, title: str, description: str, unit: str = "short",
                         maximum: float | None = None) -> Panel:
    """A marketing metric broken down by channel and by topic (two breakdown entries)."""
    return Panel(
        "timeseries", title,
        f"{description} Needs the metric configured with breakdowns [messaging_channel] "
        "and/or [recurring_notifications_topic].",
        [
            Query(with_page_name(insight(metric, DAY, 'channel!=""')),
                  "{{page_name}} · {{channel}}"),
            Query(with_page_name(insight(metric, DAY, 'topic!=""')),
                  "{{page_name}} · topic {{topic}}"),
        ],
        width=8, unit=unit, minimum=0, maximum=maximum,
    )


def by_campaign(metric: str, title: str, description: str, unit: str = "short",
                maximum: float | None = None) -> Panel:
    """A marketing metric broken down by campaign (a breakdown entry of its own)."""
    return Panel(
        "timeseries", title,
        f"{description} Needs the metric configured with breakdowns [campaign_id].",
        [Query(with_page_name(insight(metric, DAY, 'campaign_id!=""')),
               "{{page_name}} · {{campaign_id}}")],
        width=8, unit=unit, minimum=0, maximum=maximum,
    )


def days_left(metric: str) -> str:
    """Days until a token timestamp, clamped at 0 once past; a timestamp of 0 gives NEVER."""
    return f"clamp_min(({metric} > 0) - time(), 0) / 86400 or ({metric} == 0) - {-NEVER}"


def days_left_stat(metric: str, title: str, description: str, never: str) -> Panel:
    return Panel(
        "stat", title, description,
        [Query(with_page_name(days_left(metric)), "{{page_name}}")],
        width=8, height=5, unit="suffix: days", decimals=1,
        steps=[{"color": "red", "value": None}, {"color": "green", "value": TOKEN_EXPIRY_DAYS}],
        mappings=[{
            "type": "value",
            "options": {str(NEVER): {"color": "green", "index": 0, "text": never},
                        "0": {"color": "red", "index": 1, "text": "EXPIRED"}},
        }],
    )


def daily_total(metric: str, title: str, description: str, unit: str = "short") -> Panel:
    return Panel(
        "timeseries", title, description,
        [Query(with_page_name(insight(metric, DAY)), "{{page_name}}")],
        width=8, unit=unit, minimum=0,
    )


# -- Dashboards ------------------------------------------------------------------------

def datasource_variable() -> JSON:
    return {
        "current": {},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }


def page_variable() -> JSON:
    """The Page picker: Page names from messenger_insights_page_info.

    Queries filter with `* on(page_id) group_left(page_name) messenger_insights_page_info
    {page_name=~"$page_name"}`, which maps the names picked to their page_id series.
    """
    query = "label_values(messenger_insights_page_info, page_name)"
    return {
        "allValue": ".+",
        "current": {},
        "datasource": DATASOURCE,
        "definition": query,
        "hide": 0,
        "includeAll": True,
        "label": "Page",
        "multi": True,
        "name": "page_name",
        "options": [],
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "regex": "",
        "skipUrlSync": False,
        "sort": 1,
        "type": "query",
    }


def dashboard(uid: str, title: str, description: str, items: Iterable[Item]) -> JSON:
    return {
        "annotations": {"list": [{
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }]},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [{
            "asDropdown": False,
            "icon": "external link",
            "includeVars": True,
            "keepTime": True,
            "tags": TAGS,
            "targetBlank": False,
            "title": "Messenger Insights",
            "type": "dashboards",
        }],
        "panels": layout(items),
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "tags": TAGS,
        "templating": {"list": [datasource_variable(), page_variable()]},
        "time": {"from": "now-7d", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


def overview() -> JSON:
    blocked = "page_messages_blocked_conversations_unique"
    reported = "page_messages_reported_conversations_unique"
    new = "page_messages_new_conversations_unique"
    connections = "page_messages_total_messaging_connections"
    tokens = "recurring_notifications_tokens"
    opt_ins = with_page_name(
        insight(tokens, 'period="total_over_range"', 'topic!=""', 'frequency!=""')
    )
    items: list[Item] = [
        Row("Latest complete day"),
        latest_stat(new, "New conversations", "conversations started by people new to the Page"),
        latest_stat(blocked, "Blocked conversations", "conversations people blocked"),
        latest_stat(reported, "Reported conversations", "conversations people reported"),
        latest_stat(connections, "Total messaging connections",
                    "people the Page can message (a running total)"),
        Panel(
            "stat", "Blocked: latest day ÷ baseline",
            f"Blocked conversations on the latest day divided by the baseline (floored at 1). "
            f"The spike alert fires above {SPIKE_FACTOR} when the day also counts at least "
            f"{SPIKE_MINIMUM}.",
            [Query(with_page_name(ratio_to_baseline(blocked)), "{{page_name}}")],
            width=8, height=5, decimals=1, threshold=SPIKE_FACTOR,
        ),
        Panel(
            "stat", "Reported: latest day ÷ baseline",
            f"Reported conversations on the latest day divided by the baseline (floored at 1). "
            f"The spike alert fires above {SPIKE_FACTOR} when the day also counts at least "
            f"{SPIKE_MINIMUM}.",
            [Query(with_page_name(ratio_to_baseline(reported)), "{{page_name}}")],
            width=8, height=5, decimals=1, threshold=SPIKE_FACTOR,
        ),
        Panel(
            "stat", "Data through",
            "End of the latest complete day the Graph API reported (Meta's days end at "
            "midnight Pacific time, so the latest value is often a day old).",
            [Query(with_page_name(
                f"max by (page_id) (messenger_insights_data_end_timestamp_seconds{{{DAY}}}) * 1000"
            ), "{{page_name}}")],
            width=8, height=5, unit="dateTimeFromNow",
        ),
        Row("Daily values over time"),
        daily_series(new, "New conversations per day", "new conversations"),
        daily_series(connections, "Total messaging connections", "total messaging connections"),
        Panel(
            "timeseries", "Blocked and reported conversations per day",
            "Blocked and reported conversations on the latest complete day, with their "
            "baselines dashed.",
            [
                Query(with_page_name(insight(blocked, DAY)), "{{page_name}} blocked"),
                Query(with_page_name(insight(blocked + "_baseline", DAY)),
                      "{{page_name}} blocked baseline"),
                Query(with_page_name(insight(reported, DAY)), "{{page_name}} reported"),
                Query(with_page_name(insight(reported + "_baseline", DAY)),
                      "{{page_name}} reported baseline"),
            ],
            overrides=[DASHED_BASELINES], minimum=0,
        ),
        Panel(
            "timeseries", "Latest day ÷ baseline",
            f"Blocked and reported conversations divided by their baselines (floored at 1); "
            f"the dashed line is the spike alerts' factor of {SPIKE_FACTOR}.",
            [
                Query(with_page_name(ratio_to_baseline(blocked)), "{{page_name}} blocked"),
                Query(with_page_name(ratio_to_baseline(reported)), "{{page_name}} reported"),
            ],
            threshold=SPIKE_FACTOR, minimum=0,
        ),
        Row("Marketing messages by channel and topic"),
        by_channel_and_topic("page_messages_sent", "Marketing messages sent",
                             "Marketing messages the Page sent on the latest complete day."),
        by_channel_and_topic("page_messages_read_ratio", "Read ratio",
                             "Marketing messages read divided by marketing messages sent.",
                             unit="percentunit", maximum=1),
        by_channel_and_topic("page_messages_engagement", "Engagement",
                             "Clicks on call-to-action buttons in marketing messages."),
        Row("Marketing messages by campaign"),
        by_campaign("page_messages_sent", "Marketing messages sent by campaign",
                    "Marketing messages the Page sent on the latest complete day, per campaign."),
        by_campaign("page_messages_read_ratio", "Read ratio by campaign",
                    "Marketing messages read divided by marketing messages sent, per campaign.",
                    unit="percentunit", maximum=1),
        by_campaign("page_messages_engagement", "Engagement by campaign",
                    "Clicks on call-to-action buttons in marketing messages, per campaign."),
        Row("Recurring notifications"),
        Panel(
            "bargauge", "Opt-ins by topic and frequency",
            "Opt-ins to recurring marketing messages minus opt-outs over the metric's window "
            "(recurring_notifications_tokens at period total_over_range, e.g. range: 28d, with "
            "breakdowns [recurring_notifications_topic, recurring_notifications_frequency]).",
            [Query(opt_ins, "{{page_name}} · {{topic}} · {{frequency}}")],
            height=10,
        ),
        Panel(
            "timeseries", "Opt-ins by topic over time",
            "Opt-ins minus opt-outs over the metric's window, all frequencies added up.",
            [Query(f"sum by (page_name, topic) ({opt_ins})", "{{page_name}} · {{topic}}")],
            height=10,
        ),
        Row("Orders"),
        # Meta's page_messages_order_count, exported without the _count suffix Prometheus
        # reserves for histograms and summaries (exporter/catalog.py, RENAMED).
        daily_total("page_messages_orders", "Orders",
                    "Orders created in messaging conversations on the latest complete day "
                    "(Graph API metric page_messages_order_count)."),
        daily_total("page_messages_paid_order_earnings", "Paid order earnings",
                    "Approximate earnings from those orders on the latest complete day. The "
                    "Graph API reports no currency: it is the Page's."),
        daily_total("page_messages_with_business_outcomes", "Connections with business outcomes",
                    "Messaging connections with at least one order, on the latest complete day."),
    ]
    return dashboard(
        "messenger-insights-overview", "Messenger Insights / Overview",
        "Messenger conversations, marketing messages (by channel, topic and campaign), "
        "opt-ins and orders per Facebook Page, "
        "from the Messenger Insights exporter.",
        items,
    )


def exporter_health() -> JSON:
    items: list[Item] = [
        Row("Exporter"),
        Panel(
            "stat", "Scrape target up",
            f'Whether Prometheus can scrape the exporter (up{{job="{JOB}"}}); '
            "MessengerInsightsExporterDown fires after 5 minutes down.",
            [Query(f'up{{job="{JOB}"}}', "{{instance}}")],
            width=4, height=5, mappings=[UP_DOWN],
        ),
        Panel(
            "stat", "Pages up",
            "1 when the Page's last refresh answered every configured metric the API accepts "
            "(messenger_insights_up); MessengerInsightsRefreshFailing fires after 30 minutes "
            "down.",
            [Query(with_page_name("messenger_insights_up"), "{{page_name}}")],
            width=10, height=5, mappings=[UP_DOWN],
        ),
        Panel(
            "stat", "Config",
            "Whether the last config reload (SIGHUP or POST /-/reload) succeeded "
            "(messenger_insights_config_last_reload_successful; a failed reload keeps the "
            "config that was running), and when a config was last loaded successfully.",
            [
                Query("messenger_insights_config_last_reload_successful", "last reload"),
                Query("messenger_insights_config_last_reload_success_timestamp_seconds * 1000",
                      "loaded"),
            ],
            width=4, height=5, mappings=[RELOAD_MAPPING],
            overrides=[{
                "matcher": {"id": "byFrameRefID", "options": "B"},
                "properties": [{"id": "unit", "value": "dateTimeFromNow"},
                               {"id": "mappings", "value": []}],
            }],
        ),
        Panel(
            "stat", "Exporter version",
            "messenger_insights_build_info",
            [Query("messenger_insights_build_info",
                   "{{version}} (Python {{python_version}})")],
            width=6, height=5, options={"textMode": "name"},
        ),
        Panel(
            "timeseries", "Time since last successful refresh",
            "Seconds since the Page's last fully successful refresh (none before the first). "
            "At stale_after (45m by default, the dashed line) the exporter drops the Page's "
            "values and MessengerInsightsDataStale fires.",
            [Query(with_page_name(
                "time() - (messenger_insights_last_success_timestamp_seconds > 0)"
            ), "{{page_name}}")],
            unit="s", minimum=0, threshold=STALE_AFTER_SECONDS,
        ),
        Panel(
            "timeseries", "Refresh duration",
            "How long the Page's last refresh took (all its Graph API requests, retries "
            "included).",
            [Query(with_page_name("messenger_insights_refresh_duration_seconds"),
                   "{{page_name}}")],
            unit="s", minimum=0,
        ),
        Row("Graph API"),
        Panel(
            "timeseries", "API requests by outcome",
            "Graph API HTTP requests per second, by outcome.",
            [Query("sum by (outcome) (rate(messenger_insights_api_requests_total"
                   "[$__rate_interval]))", "{{outcome}}")],
            width=12, unit="reqps", minimum=0,
        ),
        Panel(
            "timeseries", "API errors by code",
            "Failed Graph API requests per second, by Graph error code (190 token, 4/17/32/"
            "613/80001 rate limits, 100 invalid metric, 1/2 transient) or http, network, "
            "decode. Empty while nothing fails.",
            [Query("sum by (code) (rate(messenger_insights_api_errors_total"
                   "[$__rate_interval]))", "{{code}}")],
            width=12, unit="reqps", minimum=0,
        ),
        Panel(
            "timeseries", "API usage against quotas",
            f"Graph API rate-limit usage per quota and kind (1 = used up); "
            f"MessengerInsightsApiUsageHigh fires above {USAGE_LIMIT:.0%} (dashed line).",
            [Query("max by (source, id, kind) (messenger_insights_api_usage_ratio)",
                   "{{source}} {{id}} {{kind}}")],
            width=12, unit="percentunit", minimum=0, maximum=1, threshold=USAGE_LIMIT,
        ),
        Panel(
            "timeseries", "Requests held back by rate limits",
            "Seconds until the exporter sends Graph API requests again, per Page and for the "
            "whole app (messenger_insights_throttled_until_timestamp_seconds minus now; 0 when "
            "not throttled: the exporter only has a series for a Page while it is on hold). "
            "The exporter pauses when a usage header nears graph_api.max_usage_ratio or Meta "
            "answers with a rate-limit error.",
            [
                Query(with_page_name(
                    "clamp_min(messenger_insights_throttled_until_timestamp_seconds - time(), 0)"
                    " or on(page_id) 0 * messenger_insights_page_info"
                ), "{{page_name}}"),
                Query('clamp_min(messenger_insights_throttled_until_timestamp_seconds{page_id=""}'
                      " - time(), 0)", "whole app"),
            ],
            width=12, unit="s", minimum=0,
        ),
        Panel(
            "table", "Metrics the Graph API rejects",
            "Each configured metric per Page: REJECTED when the Graph API answered that it is "
            "not a valid insights metric (messenger_insights_metric_rejected); "
            "MessengerInsightsMetricRejected fires for those.",
            [Query(with_page_name("messenger_insights_metric_rejected"), "", table=True)],
            width=24, mappings=[REJECTED_MAPPING],
            custom={"cellOptions": {"type": "color-text"}},
            transformations=[{
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True, "__name__": True, "instance": True,
                                      "job": True},
                    "indexByName": {"page_name": 0, "page_id": 1, "metric": 2, "Value": 3},
                    "renameByName": {"Value": "status", "page_name": "Page"},
                },
            }],
        ),
        Row("Page tokens"),
        Panel(
            "stat", "Token valid",
            "Whether the Page's access token works (messenger_insights_token_valid): 0 from the "
            "first Graph API error 190, 1 after a successful answer, with or without app "
            "credentials; where /debug_token checks run, an invalid check stands until the next "
            f"check. {TOKENS_CHECKED}",
            [Query(with_page_name("messenger_insights_token_valid"), "{{page_name}}")],
            width=8, height=5, mappings=[VALID_MAPPING],
        ),
        days_left_stat(
            "messenger_insights_token_expiry_timestamp_seconds", "Token expires in",
            "Days until the Page's access token expires (from "
            "messenger_insights_token_expiry_timestamp_seconds; 0 there means it never "
            "expires). Red within 7 days, when MessengerInsightsTokenExpiringSoon fires. "
            f"{TOKENS_CHECKED}",
            never="never",
        ),
        days_left_stat(
            "messenger_insights_token_data_access_expiry_timestamp_seconds",
            "Data access expires in",
            "Days until the app's access to the data of the user behind the token lapses "
            "(messenger_insights_token_data_access_expiry_timestamp_seconds; 0 there means "
            f"none reported). The user renews it by using the app again. {TOKENS_CHECKED}",
            never="none",
        ),
        Panel(
            "table", "Token permissions",
            "Each permission insights need, per Page: MISSING when the Page's token lacks it "
            "(messenger_insights_token_missing_scope); MessengerInsightsTokenInvalid fires "
            f"for those. {TOKENS_CHECKED}",
            [Query(with_page_name("messenger_insights_token_missing_scope"), "", table=True)],
            width=24, mappings=[MISSING_SCOPE_MAPPING],
            custom={"cellOptions": {"type": "color-text"}},
            transformations=[{
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True, "__name__": True, "instance": True,
                                      "job": True},
                    "indexByName": {"page_name": 0, "page_id": 1, "scope": 2, "Value": 3},
                    "renameByName": {"Value": "status", "page_name": "Page"},
                },
            }],
        ),
    ]
    return dashboard(
        "messenger-insights-exporter", "Messenger Insights / Exporter",
        "Health of the Messenger Insights exporter: scrapes, config reloads, Page refreshes, "
        "Graph API requests, errors, rate-limit usage and pauses, rejected metrics, Page "
        "tokens.",
        items,
    )


DASHBOARDS = {
    "messenger-insights-overview.json": overview,
    "messenger-insights-exporter.json": exporter_health,
}


def render(document: JSON) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write(output: Path) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in DASHBOARDS.items():
        path = output / name
        path.write_text(render(build()), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=OUTPUT,
                        help=f"directory to write the dashboards to (default: {OUTPUT})")
    args = parser.parse_args(argv)
    for path in write(args.output):
        print(path, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
