"""One Page's snapshot as exposition text: per family, its sample lines.

The lines are exactly those prometheus_client writes for the same samples (labels sorted
by name, values in Go's float format), built straight from the parsed values without
Metric and Sample objects: a refresh of many Pages renders each Page once, so this is
where most of the rendering time goes. Label values and HELP texts pass through the token
scrubber once per distinct string, not once per line.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from prometheus_client.utils import floatToGoString

from exporter.catalog import CATALOG, exported_name, help_text
from exporter.config import RefreshConfig
from exporter.durations import format_duration
from exporter.page_metrics import BASELINE_SUFFIX, PAGE_METRICS, baseline_help
from exporter.redact import SCRUBBER, scrub
from exporter.snapshots import PageSnapshot

END = "messenger_insights_data_end_timestamp_seconds"
INFO = "messenger_insights_page_info"
UP = "messenger_insights_up"
LAST_SUCCESS = "messenger_insights_last_success_timestamp_seconds"
DURATION = "messenger_insights_refresh_duration_seconds"
REJECTED = "messenger_insights_metric_rejected"
# Distinct label values remembered, escaped and scrubbed; beyond this the memo starts over.
MEMO_LIMIT = 200_000


class FamilyHead(NamedTuple):
    """A family's name, HELP (scrubbed) and type: what its header lines are made of.

    A tuple, so that a Page's tuple of heads hashes fast: equal ones are shared."""

    name: str
    help: str
    type: str = "gauge"


@dataclass(frozen=True, slots=True)
class PageText:
    """Every family one Page exports, in the order prometheus_client would meet them
    (empty ones too: they count for the order), and each family's sample lines."""

    heads: tuple[FamilyHead, ...]
    lines: tuple[bytes, ...]
    valid_until: float  # when the first of its values goes stale


def go_float(value: float) -> str:
    """floatToGoString, with the common case (finite, below 1e6: Python's repr) inline."""
    if -math.inf < value < 1e6:
        return repr(float(value))
    return floatToGoString(value)  # type: ignore[no-untyped-call,no-any-return]


class _Memo:
    """Label values escaped and scrubbed, HELP texts scrubbed: each distinct string once.

    Forgotten whenever a secret is registered, since scrubbing depends on them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = -1
        self._labels: dict[str, str] = {}
        self._heads: dict[tuple[str, str], FamilyHead] = {}
        self._page_heads: dict[tuple[FamilyHead, ...], tuple[FamilyHead, ...]] = {}

    def forget_if_stale(self) -> None:
        generation = SCRUBBER.generation
        if generation != self._generation or len(self._labels) > MEMO_LIMIT:
            with self._lock:
                self._labels = {}
                self._heads = {}
                self._page_heads = {}
                self._generation = generation

    def label(self, value: str) -> str:
        found = self._labels.get(value)
        if found is None:
            escaped = value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
            found = self._labels[value] = scrub(escaped)
        return found

    def head(self, name: str, help_text: str) -> FamilyHead:
        found = self._heads.get((name, help_text))
        if found is None:
            found = self._heads[(name, help_text)] = FamilyHead(name, scrub(help_text))
        return found

    def heads(self, heads: tuple[FamilyHead, ...]) -> tuple[FamilyHead, ...]:
        """One shared tuple for equal ones: most Pages export the same families."""
        return self._page_heads.setdefault(heads, heads)


MEMO = _Memo()


@functools.lru_cache(maxsize=4096)
def _template(name: str, period: str, label_names: tuple[str, ...]) -> str:
    """A line's format with a slot per label value, the Page id's last and the value's after:
    'name{channel="{0}",page_id="{1}",period="day"} {2}\\n'; labels sorted by name."""
    slots = {n: f'{n}="{{{i}}}"' for i, n in enumerate(label_names)}
    slots["page_id"] = f'page_id="{{{len(label_names)}}}"'
    slots["period"] = f'period="{_braces(period)}"'
    return f"{name}{{{{{','.join(slots[n] for n in sorted(slots))}}}}} {{{len(label_names) + 1}}}\n"


def _series_lines(
    out: list[str],
    template: str,
    page_id: str,
    labels: Sequence[tuple[str, ...]],
    values: Iterable[float],
) -> None:
    """One line per series: its label values (zipped with `values`), the Page id, its value."""
    if labels and not labels[0]:  # no breakdown: a single series without labels of its own
        out.extend([template.format(page_id, go_float(value)) for _, value in zip(labels, values, strict=False)])
        return
    label = MEMO.label
    out.extend([template.format(*[label(v) for v in row], page_id, go_float(value))
                for row, value in zip(labels, values, strict=False)])


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def render_page(snapshot: PageSnapshot, refresh: RefreshConfig, now: float) -> PageText:
    """The Page's families, as the tests' reference renderer (prometheus_client) writes them."""
    MEMO.forget_if_stale()
    page_id = MEMO.label(snapshot.page.id)
    interval = format_duration(refresh.interval)
    families: dict[str, tuple[FamilyHead, list[str]]] = {}
    end_times: dict[tuple[str, str], float] = {}
    fresh = snapshot.fresh_results(now, refresh.stale_after)
    for result in fresh:
        spec, data = result.spec, result.data
        if data is None:
            continue
        meaning = spec.help or CATALOG[spec.name].meaning
        name = exported_name(spec.name)
        period = MEMO.label(spec.period)
        if name not in families:
            families[name] = (MEMO.head(name, help_text(meaning, spec.name, interval)), [])
        _series_lines(families[name][1], _template(name, period, data.label_names), page_id,
                      data.labels, data.values)
        if data.has_baseline:
            baseline = name + BASELINE_SUFFIX
            if baseline not in families:
                families[baseline] = (MEMO.head(baseline, baseline_help(meaning, spec, interval)), [])
            _series_lines(families[baseline][1], _template(baseline, period, data.label_names), page_id,
                          data.labels, data.values[len(data.labels):])
        key = (spec.name, spec.period)
        end_times[key] = max(data.end_time, end_times.get(key, 0.0))
    _status_lines(families, snapshot, page_id, end_times)
    expiries = [r.fetched_at + refresh.stale_after for r in fresh]
    return PageText(
        MEMO.heads(tuple(head for head, _ in families.values())),
        tuple("".join(lines).encode("utf-8") for _, lines in families.values()),
        min(expiries, default=math.inf),
    )


def _status_lines(
    families: dict[str, tuple[FamilyHead, list[str]]],
    snapshot: PageSnapshot,
    page_id: str,
    end_times: dict[tuple[str, str], float],
) -> None:
    def family(name: str) -> list[str]:
        lines: list[str] = []
        families[name] = (MEMO.head(name, PAGE_METRICS[name]), lines)
        return lines

    label = MEMO.label
    end = family(END)
    for (metric, period), end_time in end_times.items():
        end.append(f'{END}{{metric="{label(metric)}",page_id="{page_id}",period="{label(period)}"}} '
                   f"{go_float(end_time)}\n")
    page = f'{{page_id="{page_id}"}} '
    family(INFO).append(f'{INFO}{{page_id="{page_id}",page_name="{label(snapshot.page.display_name)}"}} 1.0\n')
    family(UP).append(f"{UP}{page}{'1.0' if snapshot.up else '0.0'}\n")
    family(LAST_SUCCESS).append(f"{LAST_SUCCESS}{page}{go_float(snapshot.last_success or 0.0)}\n")
    duration = family(DURATION)
    if snapshot.refresh_duration is not None:
        duration.append(f"{DURATION}{page}{go_float(snapshot.refresh_duration)}\n")
    rejected = family(REJECTED)
    for metric in dict.fromkeys(spec.name for spec in snapshot.page.metrics):
        flag = "1.0" if metric in snapshot.rejected else "0.0"
        rejected.append(f'{REJECTED}{{metric="{label(metric)}",page_id="{page_id}"}} {flag}\n')
