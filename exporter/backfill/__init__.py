"""`--backfill.*`: past insights written as timestamped OpenMetrics for promtool.

What a live exporter would have served at each moment of a range of past days, fetched
from the Graph API in windows of at most 90 days and written in the live exposition's
names, labels, HELP and TYPE (docs/backfill.md).
"""
