"""The per-Page metrics besides the insights themselves: their names and HELP texts, and
the HELP of a baseline series."""

from __future__ import annotations

from exporter.catalog import help_text
from exporter.config import MetricSpec

BASELINE_SUFFIX = "_baseline"

PAGE_METRICS: dict[str, str] = {
    "messenger_insights_page_info": "Pages this exporter refreshes (configured or discovered); always 1, with the Page name.",
    "messenger_insights_up": (
        "1 if the last refresh of the Page got an answer for every configured metric the "
        "API has not rejected, else 0."
    ),
    "messenger_insights_last_success_timestamp_seconds": (
        "Unix time at the end of the last fully successful refresh of the Page (0 before the first)."
    ),
    "messenger_insights_refresh_duration_seconds": "How long the last refresh of the Page took.",
    "messenger_insights_metric_rejected": (
        "1 for a configured metric the Graph API rejected as not a valid insights metric, else 0."
    ),
    "messenger_insights_data_end_timestamp_seconds": (
        "end_time of the insights value exported (the end of the latest complete period)."
    ),
}


def baseline_help(meaning: str, spec: MetricSpec, interval: str) -> str:
    return (
        f"Mean daily value over the {spec.baseline} complete days before the latest one "
        f"(fewer when the API has fewer) of: {help_text(meaning, spec.name, interval)}"
    )
