"""Turning a Graph API insights answer into the values to export.

Both dialects parse: recorded responses (ISO `end_time` with `+0000`, numeric values)
and Meta's reference page (unix seconds and values as strings). The value exported is
the one with the latest `end_time`; breakdown rows become labels.
"""

from __future__ import annotations

import functools
import itertools
import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson

from exporter.catalog import BREAKDOWN_LABELS, CATALOG, OBJECT_KEY_LABEL

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


_SHARED: dict[tuple[LabelValues, ...], tuple[LabelValues, ...]] = {}
_SHARED_LIMIT = 10_000
_TIMES: dict[str, float] = {}  # end_time text -> unix seconds
_TIMES_LIMIT = 4096


def shared_labels(labels: tuple[LabelValues, ...]) -> tuple[LabelValues, ...]:
    """One tuple for all equal ones: most Pages have the same breakdown rows."""
    found = _SHARED.get(labels)
    if found is None:
        if len(_SHARED) >= _SHARED_LIMIT:
            _SHARED.clear()
        found = _SHARED[labels] = labels
    return found


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


def _end_time(raw: Any, metric: str) -> float:
    seconds = parse_end_time(raw, metric)
    if type(raw) is str and len(_TIMES) < _TIMES_LIMIT:
        _TIMES[raw] = seconds
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
