"""The reference renderer of the tests: Page snapshots as prometheus_client Metric families,
collected per scrape through a CollectorRegistry.

The exporter renders /metrics with its own text renderer (exporter/page_text.py and the
cache in exporter/exposition.py); the tests check it byte for byte against this plain
rendering with prometheus_client. It is not part of the package.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from exporter.catalog import CATALOG, exported_name, help_text
from exporter.config import RefreshConfig
from exporter.durations import format_duration
from exporter.page_metrics import BASELINE_SUFFIX, PAGE_METRICS, baseline_help
from exporter.snapshots import PageSnapshot, SnapshotStore


class InsightsCollector(Collector):
    """Yields the insights gauges and the per-Page status gauges.

    # HELP messenger_insights_page_messages_sent Marketing messages the Page sent (...)
    # TYPE messenger_insights_page_messages_sent gauge
    messenger_insights_page_messages_sent{channel="instagram",page_id="1234",period="day"} 17.0
    # HELP messenger_insights_up 1 if the last refresh of the Page got an answer ...
    # TYPE messenger_insights_up gauge
    messenger_insights_up{page_id="1234"} 1.0
    """

    def __init__(
        self,
        store: SnapshotStore,
        refresh: Callable[[], RefreshConfig],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.refresh = refresh  # read per scrape: a reload may change it
        self.clock = clock

    def describe(self) -> Iterator[Metric]:
        # Registering must not trigger a collection; the insights families depend on config.
        return iter(())

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        refresh = self.refresh()
        yield from merge_families(
            page_families(snapshot, refresh, now) for snapshot in self.store.snapshots().values()
        )


def merge_families(per_page: Iterable[list[Metric]]) -> list[Metric]:
    """Families of many Pages as one family per name, in order of first appearance."""
    merged: dict[str, Metric] = {}
    for families in per_page:
        for family in families:
            target = merged.get(family.name)
            if target is None:
                target = merged[family.name] = Metric(family.name, family.documentation, family.type)
            target.samples.extend(family.samples)
    return [family for family in merged.values() if family.samples]


def page_families(snapshot: PageSnapshot, refresh: RefreshConfig, now: float) -> list[Metric]:
    """Everything one Page exports: its insights values, baselines and status."""
    page_id = snapshot.page.id
    interval = format_duration(refresh.interval)
    families: dict[str, Metric] = {}
    end_times: dict[tuple[str, str], float] = {}
    for result in snapshot.fresh_results(now, refresh.stale_after):
        spec, data = result.spec, result.data
        if data is None:
            continue
        meaning = spec.help or CATALOG[spec.name].meaning
        name = exported_name(spec.name)
        family = families.get(name)
        if family is None:
            family = families[name] = Metric(name, help_text(meaning, spec.name, interval), "gauge")
        _add_series(family, page_id, spec.period, data.label_names, data.series)
        if data.baseline:
            baseline_name = name + BASELINE_SUFFIX
            baseline = families.get(baseline_name)
            if baseline is None:
                baseline = families[baseline_name] = Metric(
                    baseline_name, baseline_help(meaning, spec, interval), "gauge"
                )
            _add_series(baseline, page_id, spec.period, data.label_names, data.baseline)
        key = (spec.name, spec.period)
        end_times[key] = max(data.end_time, end_times.get(key, 0.0))
    end = _family("messenger_insights_data_end_timestamp_seconds")
    for (metric, period), end_time in end_times.items():
        end.add_sample(end.name, {"page_id": page_id, "metric": metric, "period": period}, end_time)
    page = {"page_id": page_id}
    info = _family("messenger_insights_page_info")
    info.add_sample(info.name, {**page, "page_name": snapshot.page.display_name}, 1)
    up = _family("messenger_insights_up")
    up.add_sample(up.name, page, 1 if snapshot.up else 0)
    last_success = _family("messenger_insights_last_success_timestamp_seconds")
    last_success.add_sample(last_success.name, page, snapshot.last_success or 0)
    duration = _family("messenger_insights_refresh_duration_seconds")
    if snapshot.refresh_duration is not None:
        duration.add_sample(duration.name, page, snapshot.refresh_duration)
    rejected = _family("messenger_insights_metric_rejected")
    for metric in dict.fromkeys(spec.name for spec in snapshot.page.metrics):
        rejected.add_sample(rejected.name, {**page, "metric": metric}, 1 if metric in snapshot.rejected else 0)
    return [*families.values(), end, info, up, last_success, duration, rejected]


def _add_series(
    family: Metric,
    page_id: str,
    period: str,
    label_names: tuple[str, ...],
    series: tuple[tuple[tuple[str, ...], float], ...],
) -> None:
    for values, value in series:
        labels = {"page_id": page_id, "period": period}
        labels.update(zip(label_names, values, strict=True))
        family.samples.append(Sample(family.name, labels, value))


def _family(name: str) -> Metric:
    return Metric(name, PAGE_METRICS[name], "gauge")
