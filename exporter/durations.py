"""Durations in Prometheus syntax: 30s, 15m, 1h30m, 7d."""

from __future__ import annotations

import re

_UNITS: dict[str, float] = {
    "y": 365 * 86400,
    "w": 7 * 86400,
    "d": 86400,
    "h": 3600,
    "m": 60,
    "s": 1,
    "ms": 0.001,
}
_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration; raises DurationError on anything else."""
    match = _DURATION.match(text)
    if not text or match is None:
        raise DurationError(f"{text!r} is not a duration (use Prometheus syntax such as 30s, 15m, 1h, 7d)")
    seconds = sum(
        float(amount) * _UNITS[unit]
        for amount, unit in zip(match.groups(), ("y", "w", "d", "h", "m", "s", "ms"), strict=True)
        if amount is not None
    )
    if seconds <= 0:
        raise DurationError(f"{text!r} is not a positive duration")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest Prometheus spelling of a whole number of seconds (15m, 1h30m, 45s)."""
    remaining = round(seconds)
    if remaining <= 0:
        return f"{round(seconds * 1000)}ms"
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = int(_UNITS[unit])
        amount, remaining = divmod(remaining, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)
