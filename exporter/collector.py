"""The Prometheus collector: reads Page snapshots, yields fresh metric families per scrape.

It only reads; it never calls the Graph API. A series the API stopped returning is gone
from the snapshot, and so from /metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from exporter.catalog import CATALOG, exported_name, help_text
from exporter.config import MetricSpec, RefreshConfig
from exporter.durations import format_duration
from exporter.snapshots import PageSnapshot, SnapshotStore

BASELINE_SUFFIX = "_baseline"

PAGE_METRICS: dict[str, str] = {
    "messenger_insights_page_info": "Configured Facebook Pages; always 1, with the Page name.",
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
        snapshots = self.store.snapshots()
        yield from self._insights_families(snapshots)
        yield from self._page_families(snapshots)

    def _insights_families(self, snapshots: Mapping[str, PageSnapshot]) -> Iterator[Metric]:
        now = self.clock()
        refresh = self.refresh()
        interval = format_duration(refresh.interval)
        families: dict[str, Metric] = {}
        end_times: dict[tuple[str, str, str], float] = {}
        for page_id, snapshot in snapshots.items():
            for result in snapshot.fresh_results(now, refresh.stale_after):
                spec = result.spec
                name = exported_name(spec.name)
                family = families.get(name)
                if family is None:
                    meaning = spec.help or CATALOG[spec.name].meaning
                    family = Metric(name, help_text(meaning, spec.name, interval), "gauge")
                    families[name] = family
                data = result.data
                if data is None:
                    continue
                key = (page_id, spec.name, spec.period)
                end_times[key] = max(data.end_time, end_times.get(key, 0.0))
                _add_series(family, page_id, spec.period, data.label_names, data.series)
                if data.baseline:
                    baseline_name = name + BASELINE_SUFFIX
                    baseline_family = families.get(baseline_name)
                    if baseline_family is None:
                        meaning = spec.help or CATALOG[spec.name].meaning
                        baseline_family = Metric(
                            baseline_name, baseline_help(meaning, spec, interval), "gauge"
                        )
                        families[baseline_name] = baseline_family
                    _add_series(baseline_family, page_id, spec.period, data.label_names, data.baseline)
        yield from (family for family in families.values() if family.samples)
        end_family = Metric(
            "messenger_insights_data_end_timestamp_seconds",
            PAGE_METRICS["messenger_insights_data_end_timestamp_seconds"],
            "gauge",
        )
        for (page_id, metric, period), end_time in end_times.items():
            end_family.add_sample(
                end_family.name, {"page_id": page_id, "metric": metric, "period": period}, end_time
            )
        yield end_family

    def _page_families(self, snapshots: Mapping[str, PageSnapshot]) -> Iterator[Metric]:
        info = _family("messenger_insights_page_info")
        up = _family("messenger_insights_up")
        last_success = _family("messenger_insights_last_success_timestamp_seconds")
        duration = _family("messenger_insights_refresh_duration_seconds")
        rejected = _family("messenger_insights_metric_rejected")
        for page_id, snapshot in snapshots.items():
            page = {"page_id": page_id}
            info.add_sample(info.name, {**page, "page_name": snapshot.page.display_name}, 1)
            up.add_sample(up.name, page, 1 if snapshot.up else 0)
            last_success.add_sample(last_success.name, page, snapshot.last_success or 0)
            if snapshot.refresh_duration is not None:
                duration.add_sample(duration.name, page, snapshot.refresh_duration)
            for metric in dict.fromkeys(spec.name for spec in snapshot.page.metrics):
                flag = 1 if metric in snapshot.rejected else 0
                rejected.add_sample(rejected.name, {**page, "metric": metric}, flag)
        yield from (info, up, last_success, duration, rejected)


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


def baseline_help(meaning: str, spec: MetricSpec, interval: str) -> str:
    return (
        f"Mean daily value over the {spec.baseline} complete days before the latest one "
        f"(fewer when the API has fewer) of: {help_text(meaning, spec.name, interval)}"
    )


def _family(name: str) -> Metric:
    return Metric(name, PAGE_METRICS[name], "gauge")
