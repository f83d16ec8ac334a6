"""Tokens: whose each one is (which Page it reads), token checks (GET debug_token) and
appsecret_proof.

A Page token reads its own Page and no other. As Meta knows every token it issued, the
simulator knows a token only when it was registered (`TokenBook.register` for a Page token,
`TokenBook.register_user` for a user token that lists Pages; as --demo does) or handed out
by me/accounts. Any other token was never issued: every endpoint refuses it with 190
"Invalid OAuth access token - Cannot parse access token", and debug_token calls it invalid.

A known token is valid and never expires unless told otherwise: `TokenBook.set` overrides
any field of what debug_token says about one token (it does not make a token known).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from typing import Any

from exporter.simulator.errors import SESSION_INVALIDATED, GraphError, expired_message

DEFAULT_SCOPES = (
    "pages_messaging",
    "pages_read_engagement",
    "pages_show_list",
    "read_insights",
    "public_profile",
)
# Scopes granted for everything the user has, not per Page: no target_ids.
_UNTARGETED_SCOPES = frozenset({"public_profile", "email"})
APPLICATION = "Messenger Insights Exporter (simulated)"
# App access token: APP_ID|APP_SECRET.
APP_TOKEN = re.compile(r"(\d+)\|(.+)", re.DOTALL)
_DATA_ACCESS_SECONDS = 90 * 86_400


def appsecret_proof(access_token: str, app_secret: str) -> str:
    """Hex HMAC-SHA256 of the access token keyed with the app secret, as Meta checks it."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


def page_token(page_id: str, user_token: str) -> str:
    """The Page access token me/accounts hands a user token for a Page: fixed by both."""
    digest = hashlib.sha256(f"page-token\x1f{page_id}\x1f{user_token}".encode()).hexdigest()
    return "EAAP" + digest[:60]


def numeric_id(*parts: str) -> str:
    """A 15-digit Graph-style object id fixed by its inputs."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return str(100_000_000_000_000 + int.from_bytes(digest[:8], "big") % 900_000_000_000_000)


def _granular(scopes: object, profile_id: object) -> list[dict[str, Any]]:
    if not isinstance(scopes, list):
        return []
    return [
        {"scope": scope}
        if scope in _UNTARGETED_SCOPES
        else {"scope": scope, "target_ids": [profile_id]}
        for scope in scopes
    ]


# What debug_token answers for a token Meta never issued.
_UNKNOWN_TOKEN_ERROR = {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"}


class TokenBook:
    """Which Page each token reads, and what debug_token says about it; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._overrides: dict[str, dict[str, Any]] = {}
        # Page token -> (Page id, user token), for the Page tokens me/accounts handed out.
        self._issued: dict[str, tuple[str, str]] = {}
        # Page token -> its Page, for the registered ones.
        self._registered: dict[str, str] = {}
        # Registered user tokens: they list me/accounts and read no Page's insights.
        self._users: set[str] = set()

    def register(self, token: str, page_id: str) -> None:
        """`token` is a Page token of `page_id` (and of no other Page)."""
        with self._lock:
            self._registered[token] = page_id

    def register_user(self, token: str) -> None:
        """`token` is a user token: it lists the Pages it manages (me/accounts)."""
        with self._lock:
            self._users.add(token)

    def known(self, token: str) -> bool:
        """Whether the token was issued: registered (Page or user token) or handed out."""
        with self._lock:
            return self._known_locked(token)

    def is_page_token(self, token: str) -> bool:
        """Whether the token is known as a Page's (registered or handed out)."""
        with self._lock:
            return self._page_locked(token) is not None

    def is_user(self, token: str) -> bool:
        with self._lock:
            return token in self._users

    def page_of(self, token: str) -> str | None:
        """The Page `token` belongs to; None for a token that is no known Page's."""
        with self._lock:
            return self._page_locked(token)

    def page_known(self, page_id: str) -> bool:
        """Whether any token is known to be this Page's: the Page exists for the API."""
        with self._lock:
            return (
                page_id in self._registered.values()
                or any(page == page_id for page, _ in self._issued.values())
            )

    def refusal(self, token: str, now: float) -> GraphError | None:
        """The 190 every call with this token gets while debug_token calls it invalid (told
        so, or its expires_at passed): Meta refuses such a token everywhere, not only in
        /debug_token."""
        with self._lock:
            override = dict(self._overrides.get(token, {}))
        raw_expiry = override.get("expires_at")
        expires_at = (float(raw_expiry) if isinstance(raw_expiry, int | float)
                      and not isinstance(raw_expiry, bool) else 0.0)
        expired = 0 < expires_at <= now
        valid = override.get("is_valid")
        if valid is None:  # None drops the field: the expiry decides
            valid = not expired
        if valid is not False:
            return None
        error = override.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), int) and isinstance(error.get("message"), str):
            subcode = error.get("subcode")
            return GraphError(400, error["message"], error["code"],
                              subcode=subcode if isinstance(subcode, int) else None)
        if expired:
            return GraphError(400, expired_message(now, expires_at), 190, subcode=463)
        return GraphError(400, SESSION_INVALIDATED, 190, subcode=460)

    def scopes(self, token: str) -> list[str]:
        """The scopes debug_token would list for a token."""
        with self._lock:
            scopes = self._overrides.get(token, {}).get("scopes", list(DEFAULT_SCOPES))
        return [scope for scope in scopes if isinstance(scope, str)] if isinstance(scopes, list) else []

    def _page_locked(self, token: str) -> str | None:
        issued = self._issued.get(token)
        if issued is not None:
            return issued[0]
        return self._registered.get(token)

    def _known_locked(self, token: str) -> bool:
        return token in self._users or self._page_locked(token) is not None

    def set(self, token: str, fields: dict[str, Any]) -> None:
        """Override fields for a token (adding to earlier overrides); None drops a field."""
        with self._lock:
            self._overrides.setdefault(token, {}).update(fields)

    def clear(self, token: str) -> None:
        with self._lock:
            self._overrides.pop(token, None)

    def clear_all(self) -> None:
        """Forget overrides; registered and issued tokens stay."""
        with self._lock:
            self._overrides.clear()

    def issued(self, token: str, page_id: str, user_token: str) -> None:
        with self._lock:
            self._issued[token] = (page_id, user_token)

    def info(self, token: str, app_id: str, now: float) -> dict[str, Any]:
        """debug_token's `data` for a token, checked by the app `app_id`."""
        with self._lock:
            if not self._known_locked(token):
                return {"error": dict(_UNKNOWN_TOKEN_ERROR), "is_valid": False, "scopes": []}
            override = dict(self._overrides.get(token, {}))
            issued = self._issued.get(token)
            page = self._page_locked(token)
            user = token in self._users
        profile_id = page or numeric_id("profile", token)
        data: dict[str, Any] = {
            "app_id": app_id,
            "type": "USER" if user else "PAGE",
            "application": APPLICATION,
            "data_access_expires_at": int(now) + _DATA_ACCESS_SECONDS,
            "expires_at": 0,
            "is_valid": True,
            "profile_id": None if user else profile_id,
            "scopes": list(DEFAULT_SCOPES),
            "granular_scopes": None,  # derived below unless overridden
            "user_id": numeric_id("user", issued[1] if issued else token),
        }
        data.update(override)
        expires_at = data.get("expires_at")
        expired_at = (
            float(expires_at)
            if isinstance(expires_at, int | float) and 0 < expires_at <= now
            else None
        )
        if expired_at is not None and override.get("is_valid") is None:
            data["is_valid"] = False
        if data.get("is_valid") is False and "error" not in override:
            data["error"] = (
                {"code": 190, "message": expired_message(now, expired_at), "subcode": 463}
                if expired_at is not None
                else {"code": 190, "message": SESSION_INVALIDATED, "subcode": 460}
            )
        if "granular_scopes" not in override:
            data["granular_scopes"] = _granular(data.get("scopes"), data.get("profile_id"))
        return {key: value for key, value in data.items() if value is not None}
