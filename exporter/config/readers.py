"""Typed readers of single config values: each checks type and bounds, and says what is wrong.

A reader takes the raw YAML value and its place, and returns the value or None (after
reporting the problem there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from exporter.config.fields import Reader
from exporter.config.report import At, kind
from exporter.durations import DurationError, format_duration, parse_duration

T = TypeVar("T")

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DIGITS = re.compile(r"^[0-9]{1,32}$")


def text(raw: Any, at: At) -> str | None:
    """A non-empty string, stripped."""
    if isinstance(raw, str) and raw.strip():
        return raw.strip()
    at.problem(f"must be a non-empty string, got {kind(raw)}")
    return None


def duration(*, at_least: float | None = None) -> Reader[float]:
    """Seconds, from a Prometheus duration string (30s, 15m), at least `at_least`."""

    def read(raw: Any, at: At) -> float | None:
        if not isinstance(raw, str):
            at.problem(f"must be a duration such as 30s or 15m, got {kind(raw)}")
            return None
        try:
            seconds = parse_duration(raw.strip())
        except DurationError as exc:
            at.problem(str(exc))
            return None
        if at_least is not None and seconds < at_least:
            at.problem(f"must be at least {format_duration(at_least)}")
            return None
        return seconds

    return read


def integer(low: int, high: int) -> Reader[int]:
    """A whole number from low to high (a boolean is not one)."""

    def read(raw: Any, at: At) -> int | None:
        if isinstance(raw, bool) or not isinstance(raw, int):
            at.problem(f"must be a whole number from {low} to {high}, got {kind(raw)}")
            return None
        if not low <= raw <= high:
            at.problem(f"must be from {low} to {high}, got {raw}")
            return None
        return raw

    return read


def ratio(raw: Any, at: At) -> float | None:
    """A number above 0 and at most 1."""
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= 1:
        at.problem(f"must be a number above 0 and at most 1, got {kind(raw)}")
        return None
    return float(raw)


def matching(pattern: str, wrong: str) -> Reader[str]:
    """A string the pattern matches; `wrong` is the message otherwise, with {value}."""
    compiled = re.compile(pattern)

    def read(raw: Any, at: At) -> str | None:
        value = text(raw, at)
        if value is not None and compiled.match(value) is None:
            at.problem(wrong.format(value=repr(value)))
            return None
        return value

    return read


def one_of(choices: tuple[str, ...]) -> Reader[str]:
    """One of a few fixed words."""

    def read(raw: Any, at: At) -> str | None:
        value = text(raw, at)
        if value is not None and value not in choices:
            at.problem(f"{value!r} is not one of {', '.join(choices)}")
            return None
        return value

    return read


def env_name(raw: Any, at: At) -> str | None:
    """The name of an environment variable (never its value)."""
    name = text(raw, at)
    if name is not None and _ENV_NAME.match(name) is None:
        at.problem(f"{name!r} is not an environment variable name")
        return None
    return name


def digits(what: str, missing: str) -> Reader[str]:
    """An id made of digits (a Page id, an app id); an unquoted YAML number is fine."""

    def read(raw: Any, at: At) -> str | None:
        if raw is None:
            at.problem(f"missing: {missing}")
            return None
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)
        if not isinstance(raw, str) or _DIGITS.match(raw.strip()) is None:
            at.problem(f"must be {what} made of digits, got {raw!r}")
            return None
        return raw.strip()

    return read


def regexes(raw: Any, at: At) -> tuple[re.Pattern[str], ...] | None:
    """One regular expression or a list of them (none when empty)."""
    items = [] if raw is None else [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list):
        at.problem(f"must be a list of regular expressions, got {kind(raw)}")
        return None
    compiled = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            (at / index).problem(f"must be a regular expression, got {kind(item)}")
            continue
        try:
            compiled.append(re.compile(item))
        except re.error as exc:
            (at / index).problem(f"{item!r} is not a valid regular expression: {exc}")
    return tuple(compiled) if len(compiled) == len(items) else None


def unique_list(
    item: Reader[T],
    *,
    wrong: str,
    identity: Callable[[T], Hashable],
    repeated: Callable[[T, int, At], None],
) -> Reader[tuple[T, ...]]:
    """A non-empty list; an item whose identity repeats an earlier one's is reported, dropped.

    `wrong` is the message for anything else, with {kind}; `repeated` reports a repeat
    given the item, the index of the first and the repeat's place.
    """

    def read(raw: Any, at: At) -> tuple[T, ...] | None:
        if not isinstance(raw, list) or not raw:
            at.problem(wrong.format(kind=kind(raw)))
            return None
        items: list[T] = []
        first: dict[Hashable, int] = {}
        for index, entry in enumerate(raw):
            value = item(entry, at / index)
            if value is None:
                continue
            if identity(value) in first:
                repeated(value, first[identity(value)], at / index)
                continue
            first[identity(value)] = index
            items.append(value)
        return tuple(items)

    return read
