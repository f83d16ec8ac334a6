"""One scrubber for every text that leaves the process: logs, errors, pages, /metrics.

Configured tokens are registered here when they are read; anything shaped like a
credential parameter (`access_token=…`, `Bearer …`) is removed as well, since Graph API
paging and error URLs echo the token they were called with. So is every batch operation's
`relative_url` whole, in any of the forms it takes (JSON, JSON inside JSON, a Python repr,
the url-encoded form body): it carries its operation's Page token and appsecret_proof.
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

# A batch operation's relative_url, whole: its value runs to the closing quote of the form
# it is written in (JSON, JSON inside a JSON string, a Python repr, the url-encoded form
# body), since the URL itself contains `&`; as a field (`relative_url=…`, quoted or not, as
# logfmt writes it), to the end of the field.
_RELATIVE_URLS = re.compile(
    r"(?P<key>relative_url"
    r"(?:(?P<json>\"\s*:\s*\")|(?P<nested>\\\"\s*:\s*\\\")|(?P<repr>'\s*:\s*')"
    r"|(?P<encoded>%22%3A(?:\+|%20)*%22)|(?P<field>=)))"
    r"(?(json)[^\"\\]*(?:\\.[^\"\\]*)*"
    r"|(?(nested)(?:[^\\]|\\(?!\"))*"
    r"|(?(repr)[^']*"
    r"|(?(encoded)(?:(?!%22)[^\s&])*"
    r"|(?:\"[^\"]*\"|[^\s\"'<>]*)))))",
    re.IGNORECASE,
)


# Each pattern above needs one of these words (case-insensitively); a text without any of
# them is not scanned by it. The scan costs about a millisecond per 6 KB (a scrape's own
# metrics), the substring search a few microseconds: most texts hold none of them.
_CREDENTIAL_WORDS = ("access_token", "input_token", "appsecret_proof", "client_secret",
                     "fb_exchange_token", "bearer", "oauth")
_RELATIVE_URL_WORD = "relative_url"


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
        text = pattern.sub(REDACTED, text)
        # Outside ASCII, IGNORECASE matches letters that lower() does not map to ASCII ones
        # (a dotted capital I, a long s): such texts are always scanned.
        lowered = text.lower() if text.isascii() else None
        if lowered is None or _RELATIVE_URL_WORD in lowered:
            text = _RELATIVE_URLS.sub(_redact_relative_url, text)
        if lowered is None or any(word in lowered for word in _CREDENTIAL_WORDS):
            text = _CREDENTIAL_PATTERNS.sub(_redact_match, text)
        return text


def _redact_match(match: re.Match[str]) -> str:
    if match.group("key") is not None:
        return match.group("key") + REDACTED
    return match.group("scheme") + REDACTED


def _redact_relative_url(match: re.Match[str]) -> str:
    return match.group("key") + REDACTED


SCRUBBER = Scrubber()


def register_secret(secret: str) -> None:
    SCRUBBER.register(secret)


def scrub(text: str) -> str:
    return SCRUBBER.scrub(text)
