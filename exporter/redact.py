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


# Every secret begins with one of few prefixes (Meta's tokens with `EAA`): the pattern
# finds where one starts, and a set lookup per length says which secret is there. Its size
# grows with the distinct prefixes, not with the secrets: registering 10,000 Page tokens
# made the first scrub compile an alternation of all of them for 0.9 s.
_PREFIX_LENGTH = 4


Span = tuple[int, int]


class Scrubber:
    """Replaces every registered secret wherever it occurs: every character of every
    occurrence, overlapping ones too (one [REDACTED] for overlapping ones)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._lengths: tuple[int, ...] = ()  # of the secrets, longest first
        self._prefixes: set[str] = set()
        # The prefixes as one pattern, compiled when first needed after a new one.
        self._pattern: re.Pattern[str] | None = None
        # Grows with every secret registered: whoever keeps scrubbed text knows when to redo it.
        self.generation = 0

    def register(self, secret: str) -> None:
        if len(secret) < _MIN_SECRET_LENGTH:
            return
        with self._lock:
            if secret in self._secrets:
                return
            self._secrets.add(secret)
            if len(secret) not in self._lengths:
                self._lengths = tuple(sorted({*self._lengths, len(secret)}, reverse=True))
            if secret[:_PREFIX_LENGTH] not in self._prefixes:
                self._prefixes.add(secret[:_PREFIX_LENGTH])
                self._pattern = None
            self.generation += 1

    def scrub(self, text: str) -> str:
        if self._secrets:
            spans = self._spans(text)
            if spans:
                text = _redacted(text, spans)
        # Outside ASCII, IGNORECASE matches letters that lower() does not map to ASCII ones
        # (a dotted capital I, a long s): such texts are always scanned.
        lowered = text.lower() if text.isascii() else None
        if lowered is None or _RELATIVE_URL_WORD in lowered:
            text = _RELATIVE_URLS.sub(_redact_relative_url, text)
        if lowered is None or any(word in lowered for word in _CREDENTIAL_WORDS):
            text = _CREDENTIAL_PATTERNS.sub(_redact_match, text)
        return text

    def _spans(self, text: str) -> list[Span]:
        """Where secrets occur: the longest one at each place a prefix starts."""
        pattern = self._pattern
        if pattern is None:
            with self._lock:
                pattern = re.compile("|".join(map(re.escape, sorted(self._prefixes))))
                self._pattern = pattern
        secrets, lengths, size = self._secrets, self._lengths, len(text)
        spans: list[Span] = []
        found = pattern.search(text)
        while found is not None:
            start = found.start()
            for length in lengths:
                end = start + length
                if end <= size and text[start:end] in secrets:
                    spans.append((start, end))
                    break
            found = pattern.search(text, start + 1)
        return spans


def _redacted(text: str, spans: list[Span]) -> str:
    """The text with each span, overlapping spans merged, replaced by one REDACTED."""
    spans.sort()
    pieces: list[str] = []
    done = 0  # the text before this is in pieces or redacted
    for start, end in spans:
        if start >= done:
            pieces.append(text[done:start])
            pieces.append(REDACTED)
        elif end > done:
            pass  # overlaps the span just redacted: extends it
        else:
            continue
        done = max(done, end)
    pieces.append(text[done:])
    return "".join(pieces)


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
