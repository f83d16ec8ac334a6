"""Whether each Page token works, from every insights answer, and the /debug_token re-checks
an error 190 asks for.

Error 190 ("Error validating access token", any subcode) means the token no longer works,
so it sets the Page's `messenger_insights_token_valid` to 0 at once, with or without app
credentials; a successful answer shows the token works. Where an app id and secret are
configured, /debug_token is the more careful witness: the newer of its check and the last
answer decides, except that an answer never overrules a check that found the token
invalid (Meta does not serve insights to a token it calls invalid).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from exporter.changes import Changes
from exporter.redact import Secret

TOKEN_ERROR_CODE = 190
# A token that keeps failing is checked again at most this often (it fails every refresh).
RECHECK_MIN_SECONDS = 30 * 60
# How often the scheduler looks for re-checks to run: a 190 is re-checked within a minute.
RECHECK_POLL_SECONDS = 20.0


@dataclass(frozen=True, slots=True)
class Evidence:
    valid: bool
    at: float  # unix time


def token_valid(answer: Evidence | None, check: Evidence | None) -> bool | None:
    """The Page's token_valid from its last answer and last /debug_token check; None: unknown."""
    if check is None:
        return answer.valid if answer is not None else None
    if answer is None or check.at >= answer.at:
        return check.valid
    return answer.valid and check.valid


class TokenAnswers:
    """What the last insights answer of each Page said about its token; thread-safe.

    A 190 also asks for a /debug_token re-check of the token (when `recheck` is set),
    at most once per RECHECK_MIN_SECONDS per token.
    """

    def __init__(
        self,
        changes: Changes,
        clock: Callable[[], float] = time.time,
        recheck_min_seconds: float = RECHECK_MIN_SECONDS,
    ) -> None:
        self.changes = changes
        self.clock = clock
        self.recheck_min_seconds = recheck_min_seconds
        self._lock = threading.Lock()
        self._answers: Mapping[str, Evidence] = MappingProxyType({})
        self._token_of: dict[str, Secret] = {}  # the token each answer was about
        self._pending: set[Secret] = set()
        self._rechecked_at: dict[Secret, float] = {}

    def answers(self) -> Mapping[str, Evidence]:
        return self._answers

    def record(self, outcomes: Iterable[tuple[str, Secret, bool]], *, recheck: bool) -> None:
        """(Page id, token, whether the token worked) for each Page a refresh heard about."""
        now = self.clock()
        changed = False
        with self._lock:
            answers = dict(self._answers)
            for page_id, token, valid in outcomes:
                previous = answers.get(page_id)
                answers[page_id] = Evidence(valid, now)
                self._token_of[page_id] = token
                # An invalid answer can overrule an older valid check, so it always re-renders.
                changed = changed or previous is None or previous.valid != valid or not valid
                if not valid and recheck:
                    self._ask_recheck(token, now)
            self._answers = MappingProxyType(answers)
        if changed:
            self.changes.changed()

    def _ask_recheck(self, token: Secret, now: float) -> None:
        last = self._rechecked_at.get(token)
        if last is None or now - last >= self.recheck_min_seconds:
            self._pending.add(token)

    def take_rechecks(self) -> set[Secret]:
        """The tokens to check again now; each counts against its rate limit from here."""
        now = self.clock()
        with self._lock:
            due, self._pending = self._pending, set()
            for token in due:
                self._rechecked_at[token] = now
        return due

    def keep_only(self, tokens: Mapping[str, Secret]) -> None:
        """Forget Pages a reload or a discovery removed, and what was said about a token a
        Page no longer uses."""
        kept = set(tokens.values())
        with self._lock:
            self._token_of = {p: t for p, t in self._token_of.items() if tokens.get(p) == t}
            self._answers = MappingProxyType({p: e for p, e in self._answers.items() if p in self._token_of})
            self._pending &= kept
            self._rechecked_at = {t: at for t, at in self._rechecked_at.items() if t in kept}
        self.changes.changed()
