"""Turning a Graph API insights answer into the values to export.

Both dialects parse: recorded responses (ISO `end_time` with `+0000`, numeric values)
and Meta's reference page (unix seconds and values as strings). The value exported is
the one with the latest `end_time`; breakdown rows become labels.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exporter.catalog import BREAKDOWN_LABELS, CATALOG, OBJECT_KEY_LABEL

LabelValues = tuple[str, ...]


class ResponseError(Exception):
    """The answer is not an insights answer this exporter can trust."""


@dataclass(frozen=True, slots=True)
class MetricData:
    """One metric's latest values: label names, and a value per label-value tuple.

    `baseline` holds, for the same label values, the mean daily value over the days
    before the latest one (`baseline_days` of them); empty when none was asked for.
    """

    name: str
    end_time: float
    label_names: tuple[str, ...]
    series: tuple[tuple[LabelValues, float], ...]
    baseline: tuple[tuple[LabelValues, float], ...] = ()
    baseline_days: int = 0


def decode_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ResponseError(f"answer is not JSON ({_short(exc)})") from None


def parse_insights(
    document: Any,
    metrics: Iterable[str],
    period: str,
    breakdowns: tuple[str, ...],
    baselines: Mapping[str, int] | None = None,
) -> dict[str, MetricData]:
    """The latest values of each requested metric found in the answer.

    A metric the answer leaves out, or answers with no values, is absent from the result:
    that means "no data", not an error. Anything malformed raises ResponseError.
    `baselines` maps a metric to the number of days before the latest whose mean to keep.
    """
    if not isinstance(document, dict):
        raise ResponseError(f"answer is {_kind(document)}, not an object")
    data = document.get("data")
    if not isinstance(data, list):
        raise ResponseError(f'"data" is {_kind(data)}, not a list')
    wanted = set(metrics)
    rows: dict[str, list[Mapping[str, Any]]] = {}
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise ResponseError(f"data[{index}] is {_kind(entry)}, not an object")
        name = entry.get("name")
        if not isinstance(name, str):
            raise ResponseError(f"data[{index}].name is {_kind(name)}, not a string")
        values = entry.get("values")
        if not isinstance(values, list):
            raise ResponseError(f"data[{index}] ({name}): values is {_kind(values)}, not a list")
        entry_period = entry.get("period", period)
        if name not in wanted or entry_period != period:
            continue
        for row_index, row in enumerate(values):
            if not isinstance(row, dict):
                raise ResponseError(f"data[{index}] ({name}): values[{row_index}] is {_kind(row)}")
            rows.setdefault(name, []).append(row)
    result: dict[str, MetricData] = {}
    for name, metric_rows in rows.items():
        latest = _latest(name, metric_rows, breakdowns, (baselines or {}).get(name, 0))
        if latest is not None:
            result[name] = latest
    return result


def _latest(
    name: str, rows: list[Mapping[str, Any]], breakdowns: tuple[str, ...], baseline_days: int
) -> MetricData | None:
    non_negative = CATALOG[name].non_negative if name in CATALOG else False
    by_time: dict[float, dict[LabelValues, float]] = {}
    has_object = False
    for row in rows:
        when = parse_end_time(row.get("end_time"), name)
        labels = tuple(_dimension(row, dimension, name) for dimension in breakdowns)
        values = by_time.setdefault(when, {})
        raw = row.get("value")
        if isinstance(raw, dict):
            has_object = True
            for key, item in raw.items():
                values[(*labels, str(key))] = parse_value(item, name, non_negative)
        else:
            values[labels] = parse_value(raw, name, non_negative)
    if not by_time:
        return None
    end_time = max(by_time)
    label_names = tuple(BREAKDOWN_LABELS[d] for d in breakdowns)
    if has_object:
        label_names = (*label_names, OBJECT_KEY_LABEL)
        # A plain number beside object values has no key; give it an empty one.
        by_time = {
            when: {(k if len(k) == len(label_names) else (*k, "")): v for k, v in values.items()}
            for when, values in by_time.items()
        }
    latest = by_time[end_time]
    if not latest:
        return None  # only empty objects: the API's way of saying "no data"
    earlier = sorted((when for when in by_time if when < end_time), reverse=True)[:baseline_days]
    baseline = tuple(
        (labels, sum(by_time[when].get(labels, 0.0) for when in earlier) / len(earlier))
        for labels in latest
    ) if earlier else ()
    return MetricData(name, end_time, label_names, tuple(latest.items()), baseline, len(earlier))


def _dimension(row: Mapping[str, Any], dimension: str, metric: str) -> str:
    value = row.get(dimension, "")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ResponseError(f"{metric}: breakdown {dimension} is {_kind(value)}, not a string")
    return str(value)


def parse_value(raw: Any, metric: str, non_negative: bool) -> float:
    """A finite number from an int, a float or a numeric string."""
    if isinstance(raw, bool) or raw is None:
        raise ResponseError(f"{metric}: value is {_kind(raw)}, not a number")
    if isinstance(raw, int | float):
        value = float(raw)
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
        seconds = float(raw)
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


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _short(exc: Exception) -> str:
    return _clip(str(exc), 80)
