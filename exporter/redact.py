"""One scrubber for every text that leaves the process: logs, errors, pages, /metrics.

Configured tokens are registered here when they are read; anything shaped like a
credential parameter (`access_token=…`, `Bearer …`) is removed as well, since Graph API
paging and error URLs echo the token they were called with.
"""

from __future__ import annotations

import re
import threading

REDACTED = "[REDACTED]"
# Shorter strings are too likely to occur in ordinary text to be replaced everywhere.
_MIN_SECRET_LENGTH = 6
_CREDENTIAL_PATTERNS = re.compile(
    r"(?P<key>(?:access_token|input_token|appsecret_proof|client_secret|fb_exchange_token)"
    r"(?:=|%3D|\"\s*:\s*\"|'\s*:\s*'))(?P<value>[^&\s\"'<>]+)"
    r"|(?P<scheme>\b(?:Bearer|OAuth)\s+)(?P<token>[A-Za-z0-9._~+/=|-]{16,})",
    re.IGNORECASE,
)


class Secret:
    """A token that does not show itself in repr(), str() or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class Scrubber:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        # All secrets as one pattern, compiled when first needed after a change: with
        # thousands of discovered Page tokens, one scan beats a search per token.
        self._pattern: re.Pattern[str] | None = None
        # Grows with every secret registered: whoever keeps scrubbed text knows when to redo it.
        self.generation = 0

    def register(self, secret: str) -> None:
        if len(secret) < _MIN_SECRET_LENGTH:
            return
        with self._lock:
            if secret not in self._secrets:
                self._secrets.add(secret)
                self._pattern = None
                self.generation += 1

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None:
            with self._lock:
                # Longest first, so a token containing another is removed whole.
                ordered = sorted(self._secrets, key=len, reverse=True)
                pattern = re.compile("|".join(map(re.escape, ordered)) if ordered else r"(?!)")
                self._pattern = pattern
        return _CREDENTIAL_PATTERNS.sub(_redact_match, pattern.sub(REDACTED, text))


def _redact_match(match: re.Match[str]) -> str:
    if match.group("key") is not None:
        return match.group("key") + REDACTED
    return match.group("scheme") + REDACTED


SCRUBBER = Scrubber()


def register_secret(secret: str) -> None:
    SCRUBBER.register(secret)


def scrub(text: str) -> str:
    return SCRUBBER.scrub(text)
