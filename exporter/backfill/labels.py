"""The target labels Prometheus adds to every scraped series, given to backfilled ones.

Unless history carries the same `job` and `instance` (and, under the Prometheus operator,
`namespace`, `pod`, `service`, ...) as the live scrapes, history and live data are two
series, and joins such as `* on(page_id) group_left(page_name) messenger_insights_page_info`
match twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from exporter.catalog import BREAKDOWN_LABELS, OBJECT_KEY_LABEL

# prometheus/prometheus.yml (which docker-compose.yml mounts) scrapes the exporter as job
# messenger-insights at exporter:10490; deploy/kubernetes names the job the same, and the
# instance there is each pod's address (see docs/backfill.md to find yours).
DEFAULT_JOB = "messenger-insights"
DEFAULT_INSTANCE = "exporter:10490"
_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Labels the exporter's own series carry: a target label of the same name would clash.
EXPORTER_LABELS = frozenset({"page_id", "page_name", "period", "metric", OBJECT_KEY_LABEL,
                             *BREAKDOWN_LABELS.values()})


class LabelError(ValueError):
    pass


def target_labels(job: str, instance: str, extra: Sequence[str]) -> dict[str, str]:
    """job, instance (each left out when empty) and NAME=VALUE pairs; LabelError if unusable."""
    labels = {name: value for name, value in (("job", job), ("instance", instance)) if value}
    for item in extra:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not _NAME.fullmatch(name):
            raise LabelError(f"--backfill.label={item}: give NAME=VALUE, NAME a Prometheus label name")
        if name.startswith("__"):
            raise LabelError(f"--backfill.label={item}: names starting with __ are reserved")
        if name in ("job", "instance"):
            raise LabelError(f"--backfill.label={item}: use --backfill.{name} for {name}")
        labels[name] = value
    clash = sorted(EXPORTER_LABELS.intersection(labels))
    if clash:
        raise LabelError(f"label {clash[0]} is one the exporter's series carry already")
    return labels


def rendered(labels: Mapping[str, str]) -> str:
    """`instance="exporter:10490",job="messenger-insights",` to put first in a series' braces."""
    return "".join(f'{name}="{_escape(value)}",' for name, value in sorted(labels.items()))


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
