"""One Page's snapshot as exposition text: per family, its sample lines.

The lines are exactly those prometheus_client writes for the same samples (labels sorted
by name, values in Go's float format), built straight from the parsed values without
Metric and Sample objects: a refresh of many Pages renders each Page once, so this is
where most of the rendering time goes. Label values and HELP texts pass through the token
scrubber once per distinct string, not once per line.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from prometheus_client.utils import floatToGoString

from exporter.catalog import CATALOG, exported_name, help_text
from exporter.config import MetricSpec, RefreshConfig
from exporter.durations import format_duration
from exporter.memo import Remembered
from exporter.page_metrics import BASELINE_SUFFIX, PAGE_METRICS, baseline_help
from exporter.redact import SCRUBBER, scrub
from exporter.snapshots import MetricResult, PageSnapshot

END = "messenger_insights_data_end_timestamp_seconds"
INFO = "messenger_insights_page_info"
UP = "messenger_insights_up"
LAST_SUCCESS = "messenger_insights_last_success_timestamp_seconds"
DURATION = "messenger_insights_refresh_duration_seconds"
REJECTED = "messenger_insights_metric_rejected"
# Distinct label values remembered, escaped and scrubbed; beyond this the memo starts over.
MEMO_LIMIT = 200_000
# Layouts and plans remembered (one per shape of a Page's results, which Pages with the
# same entries and breakdown values share); beyond this they start over.
LAYOUT_LIMIT = 4096


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


class _Plan(NamedTuple):
    """How one metric entry's values become lines: its families' names, heads and line
    templates, the same for every Page with that entry."""

    name: str
    head: FamilyHead
    template: str
    baseline_name: str
    baseline_head: FamilyHead
    baseline_template: str


class _Memo:
    """Label values escaped and scrubbed, HELP texts scrubbed: each distinct string once.

    Forgotten whenever a secret is registered, since scrubbing depends on them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = -1
        self._labels: dict[str, str] = {}
        self._heads: dict[tuple[str, str], FamilyHead] = {}
        self._page_heads: dict[tuple[FamilyHead, ...], tuple[FamilyHead, ...]] = {}
        # Keyed by ids (equal specs and label rows hash slowly): what the id is of is kept
        # in the value, so the id stays its own while it is remembered.
        self._layouts: Remembered[tuple[object, ...], tuple[list[object], _Layout | None]] = Remembered(LAYOUT_LIMIT)
        self._plans: Remembered[tuple[int, str, tuple[str, ...]], tuple[MetricSpec, _Plan]] = Remembered(LAYOUT_LIMIT)
        self._none_rejected: Remembered[int, tuple[object, str]] = Remembered(LAYOUT_LIMIT)
        self._end_lines: Remembered[tuple[tuple[str, str], ...], str] = Remembered(LAYOUT_LIMIT)
        self._floats: Remembered[float, str] = Remembered(LAYOUT_LIMIT)

    def forget_if_stale(self) -> None:
        generation = SCRUBBER.generation
        if generation != self._generation or len(self._labels) > MEMO_LIMIT:
            with self._lock:
                self._labels = {}
                self._heads = {}
                self._page_heads = {}
                for remembered in (self._layouts, self._plans, self._end_lines, self._none_rejected):
                    remembered.clear()
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

    def end_lines(self, keys: tuple[tuple[str, str], ...]) -> str:
        found = self._end_lines.get(keys)
        return found if found is not None else self._end_lines.put(keys, _end_lines(keys, self.label))

    def none_rejected(self, metrics: tuple[MetricSpec, ...]) -> str:
        found = self._none_rejected.get(id(metrics))
        if found is None:
            found = self._none_rejected.put(id(metrics), (metrics, _none_rejected(metrics, self.label)))
        return found[1]

    def go_float(self, value: float) -> str:
        """go_float, remembered: end times repeat across Pages and rounds."""
        found = self._floats.get(value)
        if found is None or value == 0:  # 0.0 and -0.0 are one key
            found = self._floats.put(value, go_float(value))
        return found

    def plan(self, spec: MetricSpec, interval: str, label_names: tuple[str, ...]) -> _Plan:
        key = (id(spec), interval, label_names)
        found = self._plans.get(key)
        if found is None:
            found = self._plans.put(key, (spec, self._new_plan(spec, interval, label_names)))
        return found[1]

    def _new_plan(self, spec: MetricSpec, interval: str, label_names: tuple[str, ...]) -> _Plan:
        meaning = spec.help or CATALOG[spec.name].meaning
        name = exported_name(spec.name)
        baseline = name + BASELINE_SUFFIX
        period = self.label(spec.period)
        return _Plan(
            name, self.head(name, help_text(meaning, spec.name, interval)), _template(name, period, label_names),
            baseline, self.head(baseline, baseline_help(meaning, spec, interval)),
            _template(baseline, period, label_names),
        )

    def layout(self, results: Sequence[MetricResult], interval: str) -> _Layout | None:
        key = (interval, *[(id(r.spec), id(r.data.labels), r.data.has_baseline)  # type: ignore[union-attr]
                           for r in results])
        found = self._layouts.get(key)
        if found is None:
            kept: list[object] = [(r.spec, r.data.labels) for r in results]  # type: ignore[union-attr]
            found = self._layouts.put(key, (kept, _layout(results, interval)))
        return found[1]

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
    values: Sequence[float],
) -> None:
    """One line per series: its label values (zipped with `values`), the Page id, its value."""
    if labels and not labels[0]:  # no breakdown: a single series without labels of its own
        out.extend([template.format(page_id, go_float(value)) for _, value in zip(labels, values, strict=False)])
        return
    label = MEMO.label
    out.extend([template.format(*[label(v) for v in row], page_id, go_float(value))
                for row, value in zip(labels, values, strict=False)])


def _reprs_are_go_floats(values: Sequence[float]) -> bool:
    """Every value is a float that floatToGoString writes as repr() does: finite, below
    1e6 (a sum is NaN when one of the values is, and min and max are then reliable)."""
    return not math.isnan(sum(values)) and -math.inf < min(values, default=0.0) and max(values, default=0.0) < 1e6


class _Layout(NamedTuple):
    """The insights families of every Page whose results have one shape (the same entries,
    label rows and baselines): their heads, and all their lines as one format with {0} for
    the Page id and {1}, {2}, … for the values in the order the results hold them (each
    result's values, then its baselines). Families are joined by a NUL, which neither the
    lines nor the Page id hold."""

    names: tuple[str, ...]
    heads: tuple[FamilyHead, ...]
    text: str


def _layout(results: Sequence[MetricResult], interval: str) -> _Layout | None:
    """The layout of these results (each with data), or None when a label value holds a NUL."""
    families: dict[str, tuple[FamilyHead, list[str]]] = {}
    slot = 0

    def lines(name: str, head: FamilyHead, template: str, labels: Sequence[tuple[str, ...]]) -> bool:
        nonlocal slot
        out = families.setdefault(name, (head, []))[1]
        for row in labels:
            values = [MEMO.label(value) for value in row]
            if any("\x00" in value for value in values):
                return False
            slot += 1
            line = template.format(*values, "\x00page", "\x00value")
            out.append(_braces(line).replace("\x00page", "{0}").replace("\x00value", f"{{{slot}}}"))
        return True

    for result in results:
        assert result.data is not None
        data = result.data
        plan = MEMO.plan(result.spec, interval, data.label_names)
        if not lines(plan.name, plan.head, plan.template, data.labels):
            return None
        if data.has_baseline and not lines(plan.baseline_name, plan.baseline_head, plan.baseline_template,
                                           data.labels):
            return None
    return _Layout(tuple(families), tuple(head for head, _ in families.values()),
                   "\x00".join("".join(out) for _, out in families.values()))


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def render_page(snapshot: PageSnapshot, refresh: RefreshConfig, now: float) -> PageText:
    """The Page's families, as the tests' reference renderer (prometheus_client) writes them."""
    MEMO.forget_if_stale()
    page_id = MEMO.label(snapshot.page.id)
    interval = format_duration(refresh.interval)
    fresh = snapshot.fresh_results(now, refresh.stale_after)
    results = [result for result in fresh if result.data is not None]
    layout = MEMO.layout(results, interval) if "\x00" not in page_id else None
    families = _filled(layout, page_id, results) if layout is not None else _rendered(results, page_id, interval)
    end_times: dict[tuple[str, str], float] = {}
    for result in results:
        key = (result.spec.name, result.spec.period)
        end_times[key] = max(result.data.end_time, end_times.get(key, 0.0))  # type: ignore[union-attr]
    _status_lines(families, snapshot, page_id, end_times)
    expiries = [r.fetched_at + refresh.stale_after for r in fresh]
    return PageText(
        MEMO.heads(tuple(head for head, _ in families.values())),
        tuple("".join(lines).encode("utf-8") for _, lines in families.values()),
        min(expiries, default=math.inf),
    )


def _filled(layout: _Layout, page_id: str, results: Sequence[MetricResult]) -> dict[str, tuple[FamilyHead, list[str]]]:
    """The layout's families with this Page's id and values: one format call for them all."""
    if not layout.names:
        return {}
    values = list(itertools.chain.from_iterable(r.data.values for r in results))  # type: ignore[union-attr]
    shown = map(repr, values) if _reprs_are_go_floats(values) else map(go_float, values)
    texts = layout.text.format(page_id, *shown).split("\x00")
    return {name: (head, [text]) for name, head, text in zip(layout.names, layout.heads, texts, strict=True)}


def _rendered(results: Sequence[MetricResult], page_id: str, interval: str) -> dict[str, tuple[FamilyHead, list[str]]]:
    """The results' families line by line (what _filled does, for label values with a NUL)."""
    families: dict[str, tuple[FamilyHead, list[str]]] = {}
    for result in results:
        data = result.data
        assert data is not None
        plan = MEMO.plan(result.spec, interval, data.label_names)
        if plan.name not in families:
            families[plan.name] = (plan.head, [])
        _series_lines(families[plan.name][1], plan.template, page_id, data.labels, data.values)
        if data.has_baseline:
            if plan.baseline_name not in families:
                families[plan.baseline_name] = (plan.baseline_head, [])
            _series_lines(families[plan.baseline_name][1], plan.baseline_template, page_id,
                          data.labels, data.values[len(data.labels):])
    return families


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
    family(END).append(MEMO.end_lines(tuple(end_times)).format(page_id, *map(MEMO.go_float, end_times.values())))
    page = f'{{page_id="{page_id}"}} '
    family(INFO).append(f'{INFO}{{page_id="{page_id}",page_name="{label(snapshot.page.display_name)}"}} 1.0\n')
    family(UP).append(f"{UP}{page}{'1.0' if snapshot.up else '0.0'}\n")
    family(LAST_SUCCESS).append(f"{LAST_SUCCESS}{page}{go_float(snapshot.last_success or 0.0)}\n")
    duration = family(DURATION)
    if snapshot.refresh_duration is not None:
        duration.append(f"{DURATION}{page}{go_float(snapshot.refresh_duration)}\n")
    rejected = family(REJECTED)
    if not snapshot.rejected:
        rejected.append(MEMO.none_rejected(snapshot.page.metrics).format(page_id))
        return
    for metric in dict.fromkeys(spec.name for spec in snapshot.page.metrics):
        flag = "1.0" if metric in snapshot.rejected else "0.0"
        rejected.append(f'{REJECTED}{{metric="{label(metric)}",page_id="{page_id}"}} {flag}\n')


def _end_lines(keys: Sequence[tuple[str, str]], label: Callable[[str], str]) -> str:
    """messenger_insights_data_end_timestamp_seconds' lines for these (metric, period) keys,
    as a format: {0} the Page id, {1}, {2}, … the end times."""
    return "".join(
        _braces(f'{END}{{metric="{label(metric)}",page_id="') + "{0}"
        + _braces(f'",period="{label(period)}"}} ') + f"{{{number}}}\n"
        for number, (metric, period) in enumerate(keys, 1)
    )


def _none_rejected(metrics: Sequence[MetricSpec], label: Callable[[str], str]) -> str:
    """messenger_insights_metric_rejected's lines when the API rejected none of the metrics,
    as a format: {0} the Page id."""
    return "".join(
        _braces(f'{REJECTED}{{metric="{label(metric)}",page_id="') + '{0}"}} 0.0\n'
        for metric in dict.fromkeys(spec.name for spec in metrics)
    )
