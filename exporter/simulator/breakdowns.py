"""The values each breakdown dimension takes, and the rows a breakdown request yields.

The dimensions are those of exporter.catalog.BREAKDOWN_LABELS; a test keeps the two in step.
"""

from __future__ import annotations

import itertools

# One breakdown row: (dimension, value) pairs in the order the request named them.
Row = tuple[tuple[str, str], ...]

DIMENSION_VALUES: dict[str, tuple[str, ...]] = {
    "campaign_id": ("abc123", "summer_messaging_campaign", "spring_sale_2"),
    "engagement_source": ("primary_cta", "secondary_cta"),
    "message_type": ("marketing_message", "recurring_notification", "utility_message"),
    "messaging_channel": ("messenger", "instagram"),
    "recurring_notifications_entry_point": (
        "thread",
        "chat_plugin",
        "click_to_messenger_ad",
        "m_me_link",
    ),
    "recurring_notifications_frequency": ("daily", "weekly", "monthly"),
    "recurring_notifications_topic": ("newproducts", "10percentsale", "weeklydeals"),
}

_CAMPAIGN_IDS = DIMENSION_VALUES["campaign_id"]


def use_campaign_ids(count: int) -> None:
    """Serve `count` campaign ids (the first three as always, then campaign_4, …): Pages with
    many campaigns, for the benchmark of series per Page."""
    more = (f"campaign_{n}" for n in range(len(_CAMPAIGN_IDS) + 1, count + 1))
    DIMENSION_VALUES["campaign_id"] = (*_CAMPAIGN_IDS, *more)[:count]


def rows(dimensions: tuple[str, ...]) -> list[Row]:
    """Every combination of the dimensions' values; one empty row without a breakdown."""
    choices = [[(dim, value) for value in DIMENSION_VALUES[dim]] for dim in dimensions]
    return [tuple(combo) for combo in itertools.product(*choices)]
