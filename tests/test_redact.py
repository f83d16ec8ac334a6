"""The scrubber removes every character of every occurrence of every registered secret."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.redact import REDACTED, Scrubber

# Few letters, so that secrets overlap, contain one another, share prefixes and sit inside
# longer words.
SECRETS = st.lists(st.text(alphabet="ab1-|", min_size=6, max_size=12), max_size=6)
TEXTS = st.text(alphabet="ab1-| x=", max_size=60)


def reference(text: str, secrets: list[str]) -> str:
    """Every occurrence found by brute force; overlapping ones redacted as one."""
    spans = sorted((i, i + len(s)) for s in secrets for i in range(len(text)) if text.startswith(s, i))
    out, done = [], 0
    for start, end in spans:
        if start >= done:
            out += [text[done:start], REDACTED]
        done = max(done, end)
    return "".join(out) + text[done:]


@settings(max_examples=500, deadline=None)
@given(SECRETS, TEXTS)
def test_every_occurrence_of_every_secret_is_redacted(secrets: list[str], text: str) -> None:
    scrubber = Scrubber()
    for secret in secrets:
        scrubber.register(secret)
    assert scrubber.scrub(text) == reference(text, secrets)


def page_token(n: int) -> str:
    return "EAAB" + hashlib.sha256(str(n).encode()).hexdigest()[:60]


def test_ten_thousand_tokens_inside_urls_words_and_each_other() -> None:
    scrubber = Scrubber()
    for n in range(10_000):
        scrubber.register(page_token(n))
    scrubber.register("EAAB-dashed-secret")
    scrubber.register(page_token(7)[:20])  # a secret inside another, and shorter
    text = (f"a {page_token(1)} b ?x={page_token(9999)}&y x{page_token(5)}y {page_token(7)} "
            f"{page_token(7)[:20]}Z EAAB-dashed-secret-x")
    assert scrubber.scrub(text) == f"a {REDACTED} b ?x={REDACTED}&y x{REDACTED}y {REDACTED} {REDACTED}Z {REDACTED}-x"
    assert scrubber.scrub("refresh done pages=10000 seconds=1.5") == "refresh done pages=10000 seconds=1.5"
