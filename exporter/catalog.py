"""The Messenger Insights metrics the exporter knows, and how breakdowns become labels.

Facts from Meta's Messenger Insights reference (shared/graph-api.md): each metric's
meaning and the breakdown dimensions the reference lists for it. The API is the final
judge of what it accepts; this catalog is what the config is checked against.
"""

from __future__ import annotations

from dataclasses import dataclass

METRIC_PREFIX = "messenger_insights_"

PERIODS: tuple[str, ...] = ("day", "week", "days_28", "month", "total_over_range")

# Breakdown dimension -> Prometheus label name.
BREAKDOWN_LABELS: dict[str, str] = {
    "campaign_id": "campaign_id",
    "engagement_source": "engagement_source",
    "message_type": "message_type",
    "messaging_channel": "channel",
    "recurring_notifications_entry_point": "entry_point",
    "recurring_notifications_frequency": "frequency",
    "recurring_notifications_topic": "topic",
}

# Label for the keys of an object value (legacy Page metrics such as {"Denver, CO": 19}).
OBJECT_KEY_LABEL = "key"


@dataclass(frozen=True, slots=True)
class CatalogMetric:
    name: str
    meaning: str
    breakdowns: tuple[str, ...] = ()
    # Counts cannot go below zero; an answer saying otherwise is malformed.
    non_negative: bool = True


CATALOG: dict[str, CatalogMetric] = {
    m.name: m
    for m in (
        CatalogMetric(
            "page_messages_blocked_conversations_unique",
            "Conversations with the Page that people blocked",
        ),
        CatalogMetric(
            "page_messages_reported_conversations_unique",
            "Conversations with the Page that people reported (spam, inappropriate content)",
        ),
        CatalogMetric(
            "page_messages_new_conversations_unique",
            "Conversations started by people who had never messaged the business before",
        ),
        CatalogMetric(
            "page_messages_total_messaging_connections",
            "People the business can message (running total since October 2016, "
            "excluding people who blocked or reported it)",
        ),
        CatalogMetric(
            "page_messages_engagement",
            "Clicks on call-to-action buttons in marketing messages the Page sent",
            ("campaign_id", "engagement_source", "message_type", "messaging_channel",
             "recurring_notifications_topic"),
        ),
        CatalogMetric(
            "page_messages_sent",
            "Marketing messages the Page sent",
            ("campaign_id", "message_type", "messaging_channel", "recurring_notifications_topic"),
        ),
        CatalogMetric(
            "page_messages_read_ratio",
            "Marketing messages read divided by marketing messages sent (0 to 1)",
            ("campaign_id", "message_type", "messaging_channel", "recurring_notifications_topic"),
        ),
        CatalogMetric(
            "page_messages_order_count",
            "Orders created in messaging conversations",
        ),
        CatalogMetric(
            "page_messages_paid_order_earnings",
            "Approximate earnings from orders created in messaging conversations "
            "(no currency is reported)",
        ),
        CatalogMetric(
            "page_messages_with_business_outcomes",
            "Messaging connections with at least one order",
        ),
        CatalogMetric(
            "recurring_notifications_tokens",
            "Opt-ins to recurring marketing messages minus opt-outs, counted once per topic",
            ("messaging_channel", "recurring_notifications_frequency",
             "recurring_notifications_topic"),
            non_negative=False,
        ),
    )
}


# Catalog metrics whose Prometheus name is not METRIC_PREFIX + Meta's name. Prometheus
# reserves the _count suffix for histograms and summaries (`promtool check metrics`:
# 'non-histogram and non-summary metrics should not have "_count" suffix'), and Meta's
# orders metric is a gauge. Meta's name stays on the `metric` label of
# data_end_timestamp_seconds and metric_rejected, and in the HELP text.
RENAMED: dict[str, str] = {"page_messages_order_count": "page_messages_orders"}


def exported_name(metric: str) -> str:
    """The Prometheus name of an insights metric: the prefix and Meta's name, except for
    the RENAMED ones."""
    return METRIC_PREFIX + RENAMED.get(metric, metric)


def help_text(meaning: str, metric: str, interval: str) -> str:
    """HELP for an insights gauge: what it means, where it comes from, how fresh it is."""
    meaning = meaning.rstrip(". ")
    return f"{meaning} (Graph API insights metric {metric}). Refreshed every {interval}."
