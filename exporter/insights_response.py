"""Turning a Graph API insights answer into the values to export.

Both dialects parse: recorded responses (ISO `end_time` with `+0000`, numeric values)
and Meta's reference page (unix seconds and values as strings). The value exported is
the one with the latest `end_time`; breakdown rows become labels.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import chain, repeat
from typing import Any

import orjson

from exporter.catalog import BREAKDOWN_LABELS, CATALOG, OBJECT_KEY_LABEL
from exporter.memo import Remembered

LabelValues = tuple[str, ...]


class ResponseError(Exception):
    """The answer is not an insights answer this exporter can trust."""


@dataclass(frozen=True, slots=True)
class MetricData:
    """One metric's latest values, compactly: a Page can have hundreds of series.

    `labels` holds the label values of each series (equal tuples of them are shared across
    Pages); `values` their values, as doubles, followed, when a baseline was asked for and
    the answer had earlier days, by each series' mean daily value over the `baseline_days`
    days before the latest.
    """

    name: str
    end_time: float
    label_names: tuple[str, ...]
    labels: tuple[LabelValues, ...]
    values: array[float]
    baseline_days: int = 0
    # Every end_time of the answer with its values, oldest first; asked for by backfills only.
    history: tuple[tuple[float, tuple[tuple[LabelValues, float], ...]], ...] = ()

    @classmethod
    def of(
        cls,
        name: str,
        end_time: float,
        label_names: tuple[str, ...],
        series: Sequence[tuple[LabelValues, float]],
        *,
        baseline: Sequence[tuple[LabelValues, float]] = (),
        baseline_days: int = 0,
    ) -> MetricData:
        """From (label values, value) pairs; the baseline's, if any, in the same order."""
        labels = tuple(labels for labels, _ in series)
        if baseline and tuple(labels for labels, _ in baseline) != labels:
            raise ValueError("a baseline has the series' labels, in their order")
        if bool(baseline) != bool(baseline_days):
            raise ValueError("a baseline has days, and days have a baseline")
        values = array("d", [value for _, value in series] + [value for _, value in baseline])
        return cls(name, end_time, label_names, shared_labels(labels), values, baseline_days)

    @property
    def series(self) -> tuple[tuple[LabelValues, float], ...]:
        return tuple(zip(self.labels, self.values, strict=False))

    @property
    def has_baseline(self) -> bool:
        return len(self.values) > len(self.labels)

    @property
    def baseline(self) -> tuple[tuple[LabelValues, float], ...]:
        """Each series' baseline; empty when there is none."""
        return tuple(zip(self.labels, self.values[len(self.labels):], strict=False))


_SHARED: Remembered[tuple[LabelValues, ...], tuple[LabelValues, ...]] = Remembered(10_000)
_TIMES: Remembered[str, float] = Remembered(4096)  # end_time text -> unix seconds; new days keep coming


def shared_labels(labels: tuple[LabelValues, ...]) -> tuple[LabelValues, ...]:
    """One tuple for all equal ones: most Pages have the same breakdown rows."""
    found = _SHARED.get(labels)
    return found if found is not None else _SHARED.put(labels, labels)


def decode_json(body: bytes | str) -> Any:
    """The JSON document of an answer (or of a usage header): orjson, the one JSON parser of
    everything the API sends. It decodes a refresh's answers in two thirds of the time the
    standard library takes, and refuses NaN, Infinity and lone surrogates, which are not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ResponseError(f"answer is not JSON ({_short(exc)})") from None


def parse_insights(
    document: Any,
    metrics: Iterable[str],
    period: str,
    breakdowns: tuple[str, ...],
    baselines: Mapping[str, int] | None = None,
    *,
    history: bool = False,
) -> dict[str, MetricData]:
    """The latest values of each requested metric found in the answer.

    A metric the answer leaves out, or answers with no values, is absent from the result:
    that means "no data", not an error. Anything malformed raises ResponseError.
    `baselines` maps a metric to the number of days before the latest whose mean to keep;
    with `history`, every end_time's values are kept too.
    """
    if not history:
        found = _regular(document, metrics, period, breakdowns, baselines)
        if found is not None:
            return found
    return _parse_general(document, metrics, period, breakdowns, baselines, history=history)


def _parse_general(
    document: Any,
    metrics: Iterable[str],
    period: str,
    breakdowns: tuple[str, ...],
    baselines: Mapping[str, int] | None,
    *,
    history: bool,
) -> dict[str, MetricData]:
    """Any answer, row by row: the reader that decides what is malformed and says why."""
    if not isinstance(document, dict):
        raise ResponseError(f"answer is {_kind(document)}, not an object")
    data = document.get("data")
    if not isinstance(data, list):
        raise ResponseError(f'"data" is {_kind(data)}, not a list')
    wanted = set(metrics)
    rows: dict[str, list[list[dict[str, Any]]]] = {}  # name -> its entries' values
    for index, entry in enumerate(data):
        name, values = _entry(index, entry)
        if name in wanted and entry.get("period", period) == period:
            for row_index, row in enumerate(values):
                if type(row) is not dict:
                    raise ResponseError(f"data[{index}] ({name}): values[{row_index}] is {_kind(row)}")
            rows.setdefault(name, []).append(values)
    result: dict[str, MetricData] = {}
    for name, metric_rows in rows.items():
        latest = _latest(name, metric_rows, breakdowns, (baselines or {}).get(name, 0), history)
        if latest is not None:
            result[name] = latest
    return result


def _latest(
    name: str, rows: list[list[dict[str, Any]]], breakdowns: tuple[str, ...], baseline_days: int,
    history: bool = False,
) -> MetricData | None:
    """The metric's values at the latest end_time, and their baseline; the rows of every
    entry of the metric in the answer together."""
    collected = _by_time(name, rows, breakdowns)
    if collected is None:
        return None
    label_names, by_time = collected
    data = latest_of(name, label_names, by_time, baseline_days)
    if data is None or not history:
        return data
    return replace(data, history=tuple(sorted((when, tuple(v.items())) for when, v in by_time.items())))


def _by_time(
    name: str, rows: list[list[dict[str, Any]]], breakdowns: tuple[str, ...]
) -> tuple[tuple[str, ...], dict[float, dict[LabelValues, float]]] | None:
    """The label names, and each end_time's values by label values. Fast path first: a
    refresh parses millions."""
    non_negative = CATALOG[name].non_negative if name in CATALOG else False
    by_time: dict[float, dict[LabelValues, float]] = {}
    has_object = False
    for row in itertools.chain.from_iterable(rows):
        raw_time = row.get("end_time")
        when = _TIMES.get(raw_time) if type(raw_time) is str else None
        if when is None:
            when = _end_time(raw_time, name)
        labels = tuple([
            value if type(value := row.get(dimension, "")) is str else _dimension(row, dimension, name)
            for dimension in breakdowns
        ]) if breakdowns else ()
        values = by_time.get(when)
        if values is None:
            values = by_time[when] = {}
        raw = row.get("value")
        if type(raw) is int and 0 <= raw < 2**53:  # the common case, checked inline
            values[labels] = float(raw)
        elif isinstance(raw, dict):
            has_object = True
            for key, item in raw.items():
                values[(*labels, str(key))] = parse_value(item, name, non_negative)
        else:
            values[labels] = parse_value(raw, name, non_negative)
    if not by_time:
        return None
    label_names = tuple(BREAKDOWN_LABELS[d] for d in breakdowns)
    if has_object:
        label_names = (*label_names, OBJECT_KEY_LABEL)
        # A plain number beside object values has no key; give it an empty one.
        by_time = {
            when: {(k if len(k) == len(label_names) else (*k, "")): v for k, v in values.items()}
            for when, values in by_time.items()
        }
    return label_names, by_time


def latest_of(
    name: str,
    label_names: tuple[str, ...],
    by_time: Mapping[float, Mapping[LabelValues, float]],
    baseline_days: int,
) -> MetricData | None:
    """What an answer holding these end_times exports: the latest values, and the mean of
    up to `baseline_days` earlier ones as the baseline. Backfills ask it for past moments."""
    if not by_time:
        return None
    end_time = max(by_time)
    latest = by_time[end_time]
    if not latest:
        return None  # only empty objects: the API's way of saying "no data"
    series = array("d", latest.values())
    earlier = sorted((when for when in by_time if when < end_time), reverse=True)[:baseline_days]
    if earlier:
        totals = dict.fromkeys(latest, 0.0)
        for when in earlier:
            for labels, value in by_time[when].items():
                if labels in totals:
                    totals[labels] += value
        series.extend([total / len(earlier) for total in totals.values()])
    return MetricData(name, end_time, label_names, shared_labels(tuple(latest)), series, len(earlier))


# The regular answer, read in bulk. Nearly every answer is one: each wanted metric once,
# its rows objects with a plain number, an end_time and string dimensions, each end_time's
# rows together, oldest first, with the same breakdown rows in the same order. Such an
# answer is read column by column (itemgetter, slices) instead of row by row, and what its
# end_times and dimensions imply for each metric (the latest, the label rows, the baseline's
# rows) is worked out once per distinct set of them: most Pages' answers have the same.
# Anything else makes _regular return None, and the general reader above decides, with its
# messages.

_DICT = frozenset({dict})
_INT = frozenset({int})
_NUMBER = frozenset({int, float})
_EXACT = 2**53  # beyond it, and for floats that are not finite, parse_value decides
Columns = tuple[tuple[Any, ...], ...]  # a value per row: end_times, dimensions' values
Shape = tuple[tuple[Callable[[Any], Any], ...], tuple[str, ...]]  # getters of columns, label names
Plan = tuple["_Grid | None", ...]
_PLANS: Remembered[Columns, Plan] = Remembered(256)  # by the metrics' row counts, then the columns
_RECENT: Remembered[tuple[int, ...], tuple[Columns, Plan]] = Remembered(256)  # by the row counts


class _Grid:
    """What a regular metric's end_times and dimensions imply, whatever its values; row
    numbers count among all the rows of the answer's wanted metrics."""

    __slots__ = ("_sums", "blocks", "end", "end_time", "first", "labels", "per_block", "start")

    def __init__(self, end_time: float, labels: tuple[LabelValues, ...], blocks: int, first: int) -> None:
        self.end_time = end_time
        self.labels = labels
        self.per_block = len(labels)
        self.blocks = blocks
        self.first = first
        self.end = first + blocks * self.per_block
        self.start = self.end - self.per_block  # the latest block's first row
        self._sums: dict[int, tuple[slice, ...]] = {}

    def sums(self, days: int) -> tuple[slice, ...]:
        """For each series, its rows of the `days` blocks before the latest, newest first:
        the order in which the general reader adds them, so the doubles are the same."""
        found = self._sums.get(days)
        if found is None:
            step = self.per_block
            stops = [self.start - step * (days + 1) + j for j in range(step)]
            found = self._sums[days] = tuple(
                slice(self.start - step + j, stop if stop >= 0 else None, -step) for j, stop in enumerate(stops)
            )
        return found


def _regular(
    document: Any,
    metrics: Iterable[str],
    period: str,
    breakdowns: tuple[str, ...],
    baselines: Mapping[str, int] | None,
) -> dict[str, MetricData] | None:
    """What the general reader would make of a regular answer; None for any other."""
    shape = _shape(breakdowns)
    if shape is None or type(document) is not dict:
        return None
    found = _wanted_rows(document.get("data"), metrics, period)
    if found is None:
        return None
    columns = _columns(found, shape[0])
    plan = _plan(found, columns[1:]) if columns is not None else None
    lowest = _lowest(columns[0]) if columns is not None and columns[0] else 0
    if columns is None or plan is None or lowest is None:
        return None
    result: dict[str, MetricData] = {}
    for name, grid in zip(found, plan, strict=True):
        if grid is not None:
            data = _metric_data(name, grid, columns[0], shape[1], baselines.get(name, 0) if baselines else 0,
                                lowest=lowest)
            if data is None:
                return None
            result[name] = data
    return result


@functools.lru_cache(maxsize=64)
def _shape(breakdowns: tuple[str, ...]) -> Shape | None:
    """Getters of a row's value, end_time and dimensions, and the label names; None for a
    dimension unknown to the catalog."""
    if not all(dimension in BREAKDOWN_LABELS for dimension in breakdowns):
        return None
    getters = tuple(map(operator.itemgetter, ("value", "end_time", *breakdowns)))
    return getters, tuple(BREAKDOWN_LABELS[d] for d in breakdowns)


def _wanted_rows(data: Any, metrics: Iterable[str], period: str) -> dict[str, list[Any]] | None:
    """Each wanted metric's rows, if every entry is well formed and none comes twice."""
    if type(data) is not list:
        return None
    wanted = set(metrics)
    found: dict[str, list[Any]] = {}
    for entry in data:
        if type(entry) is not dict:
            return None
        name, values = entry.get("name"), entry.get("values")
        if type(name) is not str or type(values) is not list:
            return None
        if name in wanted and entry.get("period", period) == period:
            if name in found:
                return None
            found[name] = values
    return found


def _columns(found: dict[str, list[Any]], getters: tuple[Callable[[Any], Any], ...]) -> Columns | None:
    """The values, end_times and dimensions of all the metrics' rows, each a column; None
    if a row is not an object or misses one."""
    rows = list(chain.from_iterable(found.values()))
    if set(map(type, rows)) - _DICT:
        return None
    try:
        return tuple([tuple(map(getter, rows)) for getter in getters])
    except KeyError:
        return None


def _plan(found: dict[str, list[Any]], columns: Columns) -> Plan | None:
    """The grid of each metric (None for one without rows), worked out once per distinct
    answer layout."""
    lengths = tuple(map(len, found.values()))
    recent = _RECENT.get(lengths)
    if recent is not None and recent[0] == columns:  # compared, not hashed: the strings are new
        return recent[1]
    key = (lengths, *columns)
    try:
        plan = _PLANS.get(key)
    except TypeError:  # an unhashable end_time or dimension
        return None
    if plan is None:
        grids: list[_Grid | None] = []
        first = 0
        for name, values in found.items():
            grid = None
            if values:
                grid = _new_grid(name, tuple(column[first:first + len(values)] for column in columns), first)
                if grid is None:
                    return None
                first = grid.end
            grids.append(grid)
        plan = _PLANS.put(key, tuple(grids))
    _RECENT.put(lengths, (columns, plan))
    return plan


def _lowest(raw: tuple[Any, ...]) -> int | float | None:
    """The lowest value, if all are ints or floats, finite and below 2**53 in size."""
    types = set(map(type, raw))
    if types != _INT:
        if not _NUMBER.issuperset(types):
            return None
        try:
            if not math.isfinite(sum(raw)):  # NaN and infinities: a sum of finite ones would do
                return None
        except OverflowError:
            return None
    lowest: int | float = min(raw)
    return lowest if lowest > -_EXACT and max(raw) < _EXACT else None


def _metric_data(
    name: str, grid: _Grid, raw: tuple[Any, ...], label_names: tuple[str, ...], baseline_days: int, *,
    lowest: float,
) -> MetricData | None:
    if type(baseline_days) is not int or baseline_days < 0:
        return None
    if lowest < 0 and (CATALOG[name].non_negative if name in CATALOG else False) and \
            min(raw[grid.first:grid.end]) < 0:
        return None
    series = array("d", raw[grid.start:grid.end])
    days = min(baseline_days, grid.blocks - 1)
    if days:
        add, append = operator.add, series.append  # a loop: a list comprehension costs a call
        for rows in grid.sums(days):
            append(functools.reduce(add, raw[rows], 0.0) / days)
    return MetricData(name, grid.end_time, label_names, grid.labels, series, days)


def _new_grid(name: str, key: Columns, first: int) -> _Grid | None:
    """The grid of these end_times and dimensions, if each end_time's rows come together,
    oldest first, with the same distinct string dimensions in the same order."""
    times, labels = key[0], key[1:]
    heads = dict.fromkeys(times)
    per_block, rest = divmod(len(times), len(heads))
    if rest or times != tuple(chain.from_iterable(repeat(head, per_block) for head in heads)):
        return None
    if not all(type(value) is str for value in chain.from_iterable(labels)):
        return None
    rows = list(zip(*labels, strict=True)) if labels else [()] * len(times)
    if rows != rows[:per_block] * len(heads) or len(set(rows[:per_block])) != per_block:
        return None
    block_times = []
    for raw in heads:
        try:
            block_times.append(_TIMES.get(raw) or _end_time(raw, name))
        except ResponseError:
            return None
    if any(earlier >= later for earlier, later in itertools.pairwise(block_times)):
        return None
    return _Grid(block_times[-1], shared_labels(tuple(rows[:per_block])), len(block_times), first)


def _end_time(raw: Any, metric: str) -> float:
    seconds = parse_end_time(raw, metric)
    if type(raw) is str:
        _TIMES.put(raw, seconds)
    return seconds


def _dimension(row: Mapping[str, Any], dimension: str, metric: str) -> str:
    value = row.get(dimension, "")
    if type(value) is str:
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ResponseError(f"{metric}: breakdown {dimension} is {_kind(value)}, not a string")
    return str(value)


def parse_value(raw: Any, metric: str, non_negative: bool) -> float:
    """A finite number from an int, a float or a numeric string."""
    if isinstance(raw, bool) or raw is None:
        raise ResponseError(f"{metric}: value is {_kind(raw)}, not a number")
    if isinstance(raw, int | float):
        try:
            value = float(raw)
        except OverflowError:  # an integer too large for a double
            raise ResponseError(f"{metric}: value {_clip(str(raw))} is not a finite number") from None
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise ResponseError(f"{metric}: value {_clip(raw)!r} is not a number") from None
    else:
        raise ResponseError(f"{metric}: value is {_kind(raw)}, not a number")
    if not math.isfinite(value):
        raise ResponseError(f"{metric}: value {_clip(str(raw))} is not a finite number")
    if non_negative and value < 0:
        raise ResponseError(f"{metric}: value {value:g} is negative, which a count cannot be")
    return value


def parse_end_time(raw: Any, metric: str) -> float:
    """Unix seconds from ISO 8601 (`2026-09-03T07:00:00+0000`) or unix seconds (string or number)."""
    if isinstance(raw, bool) or raw is None:
        raise ResponseError(f"{metric}: end_time is {_kind(raw)}")
    if isinstance(raw, int | float):
        seconds = float(raw) if -4.0e9 < raw < 4.0e9 else math.inf
    elif isinstance(raw, str):
        seconds = _parse_time_text(raw.strip(), metric)
    else:
        raise ResponseError(f"{metric}: end_time is {_kind(raw)}")
    # Insights data starts in 2004 at the earliest; far-future times are garbage too.
    if not math.isfinite(seconds) or not 1.0e9 <= seconds <= 4.0e9:
        raise ResponseError(f"{metric}: end_time {_clip(str(raw))!r} is not a plausible time")
    return seconds


def _parse_time_text(text: str, metric: str) -> float:
    if text.isdigit():
        return float(text)
    parsed = _iso_seconds(text)
    if parsed is None:
        raise ResponseError(f"{metric}: end_time {_clip(text)!r} is not a time")
    if math.isnan(parsed):
        raise ResponseError(f"{metric}: end_time {_clip(text)!r} has no UTC offset")
    return parsed


@functools.lru_cache(maxsize=4096)
def _iso_seconds(text: str) -> float | None:
    """Unix seconds of an ISO time; None if it is not one, NaN if it has no offset.

    A refresh meets the same few dozen end_time strings thousands of times.
    """
    try:
        parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        return math.nan
    return parsed.timestamp()


def _entry(index: int, entry: Any) -> tuple[str, list[Any]]:
    """An entry of "data": its metric name and its list of values, or ResponseError."""
    if not isinstance(entry, dict):
        raise ResponseError(f"data[{index}] is {_kind(entry)}, not an object")
    name = entry.get("name")
    if not isinstance(name, str):
        raise ResponseError(f"data[{index}].name is {_kind(name)}, not a string")
    values = entry.get("values")
    if not isinstance(values, list):
        raise ResponseError(f"data[{index}] ({name}): values is {_kind(values)}, not a list")
    return name, values


# What a JSON value is, for messages; bool before int, which it is a kind of.
_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "a boolean"), ((int, float), "a number"), (str, "a string"), (list, "a list"), (dict, "an object"),
)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return next((kind for types, kind in _KINDS if isinstance(value, types)), type(value).__name__)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _short(exc: Exception) -> str:
    return _clip(str(exc), 80)
