"""A `metrics:` list (global or a Page's): each entry checked against the catalog."""

from __future__ import annotations

import re
from typing import Any

from exporter.catalog import BREAKDOWN_LABELS, CATALOG, PERIODS
from exporter.config.fields import Either, Field, Section, Values, suggestion
from exporter.config.model import (
    DATE_PRESETS,
    DEFAULT_BASELINE_DAYS,
    LONG_DATE_PRESETS,
    MAX_BASELINE_DAYS,
    MAX_WINDOW_SECONDS,
    MetricSpec,
    Window,
)
from exporter.config.readers import duration, integer, one_of, text, unique_list
from exporter.config.report import At, kind
from exporter.durations import format_duration
from exporter.suggestions import close_matches

_METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,150}$")


def _name(raw: Any, at: At) -> str | None:
    if raw is None:
        at.problem("missing: every metric entry needs a name")
        return None
    name = text(raw, at)
    if name is not None and _METRIC_NAME.match(name) is None:
        at.problem(f"{name!r} is not an insights metric name (lowercase letters, digits, _)")
        return None
    return name


def _range(raw: Any, at: At) -> Window | None:
    seconds = duration()(raw, at)
    if seconds is not None and seconds > MAX_WINDOW_SECONDS:
        at.problem(f"{format_duration(seconds)} is over 90 days; the Graph API refuses windows over 93 days")
        return None
    return None if seconds is None else Window(range_seconds=seconds)


def _date_preset(raw: Any, at: At) -> Window | None:
    preset = text(raw, at)
    if preset in LONG_DATE_PRESETS:
        at.problem(f"{preset} is a window over 90 days")
        return None
    if preset is not None and preset not in DATE_PRESETS:
        at.problem(f"unknown date_preset {preset!r}{suggestion(preset, DATE_PRESETS)}")
        return None
    return None if preset is None else Window(date_preset=preset)


def _breakdowns(raw: Any, at: At) -> tuple[str, ...] | None:
    items = [] if raw is None else [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list):
        at.problem(f"must be a list of breakdown dimensions, got {kind(raw)}")
        return None
    result: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, str) or item not in BREAKDOWN_LABELS:
            (at / index).problem(f"unknown breakdown {item!r}{suggestion(str(item), BREAKDOWN_LABELS)}")
        elif item in result:
            (at / index).problem(f"breakdown {item} is listed twice")
        else:
            result.append(item)
    return tuple(result) if len(result) == len(items) else None


def _known_to_catalog(values: Values, at: At) -> None:
    """A name the catalog does not know needs the entry's own help: text."""
    if not values.valid("name") or values["name"] in CATALOG or values.given("help"):
        return
    name = values["name"]
    close = close_matches(name, CATALOG)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    values.refuse("name", at / "name", f"unknown metric {name!r}{hint} (to export a metric the "
                  "catalog does not know, give the entry its own help: text)")


def _baseline_is_daily(values: Values, at: At) -> None:
    if values.given("baseline_days") and values.valid("baseline_days", "period"):
        period = values["period"]
        if values["baseline_days"] and period != "day":
            values.refuse("baseline_days", at / "baseline_days", f"a baseline is for period day, not {period}")


def _breakdowns_listed_by_meta(values: Values, at: At) -> None:
    """Breakdowns Meta's reference does not list for a catalog metric: a warning, the API decides."""
    if values.given("help") or not values.valid("name", "breakdowns") or values["name"] not in CATALOG:
        return
    listed = CATALOG[values["name"]].breakdowns
    for index, item in enumerate(values["breakdowns"]):
        if item not in listed:
            (at / "breakdowns" / index).warn(
                f"Meta's reference does not list breakdown {item} for {values['name']} "
                f"(it lists: {', '.join(listed) if listed else 'none'}); the API decides"
            )


_METRIC = Section(MetricSpec, (
    Field("name", _name, required=True),
    Field("period", one_of(PERIODS), "day"),
    Either("window", {"range": _range, "date_preset": _date_preset}, Window()),
    Field("breakdowns", _breakdowns, ()),
    Field("help", text, None),
    Field("baseline_days", integer(0, MAX_BASELINE_DAYS),
          default_of=lambda values: DEFAULT_BASELINE_DAYS if values["period"] == "day" else 0),
), rules=(_known_to_catalog, _baseline_is_daily, _breakdowns_listed_by_meta))


def _entry(raw: Any, at: At) -> MetricSpec | None:
    """A metric name alone, or a mapping with a name."""
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict):
        at.problem(f"must be a metric name or a mapping with a name, got {kind(raw)}")
        return None
    return _METRIC(raw, at)


def _repeated(spec: MetricSpec, first: int, at: At) -> None:
    at.problem(f"{spec.name} with period {spec.period} and these breakdowns is already listed at "
               f"index {first}: the two would export the same series")


metric_list = unique_list(
    _entry,
    wrong="must be a non-empty list of metrics, got {kind} (leave it out to export every catalog metric)",
    identity=lambda spec: spec.series_key,
    repeated=_repeated,
)
