"""Token checks (GET debug_token) and appsecret_proof.

Every token is valid and never expires unless told otherwise: `TokenBook.set` overrides
any field of what debug_token says about one token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from typing import Any

from exporter.simulator.errors import SESSION_INVALIDATED, expired_message

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


class TokenBook:
    """What debug_token says about each token; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._overrides: dict[str, dict[str, Any]] = {}
        # Page token -> (Page id, user token), for the Page tokens me/accounts handed out.
        self._issued: dict[str, tuple[str, str]] = {}

    def set(self, token: str, fields: dict[str, Any]) -> None:
        """Override fields for a token (adding to earlier overrides); None drops a field."""
        with self._lock:
            self._overrides.setdefault(token, {}).update(fields)

    def clear(self, token: str) -> None:
        with self._lock:
            self._overrides.pop(token, None)

    def clear_all(self) -> None:
        with self._lock:
            self._overrides.clear()

    def issued(self, token: str, page_id: str, user_token: str) -> None:
        with self._lock:
            self._issued[token] = (page_id, user_token)

    def info(self, token: str, app_id: str, now: float) -> dict[str, Any]:
        """debug_token's `data` for a token, checked by the app `app_id`."""
        with self._lock:
            override = dict(self._overrides.get(token, {}))
            issued = self._issued.get(token)
        profile_id = issued[0] if issued else numeric_id("profile", token)
        data: dict[str, Any] = {
            "app_id": app_id,
            "type": "PAGE",
            "application": APPLICATION,
            "data_access_expires_at": int(now) + _DATA_ACCESS_SECONDS,
            "expires_at": 0,
            "is_valid": True,
            "profile_id": profile_id,
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
        if expired_at is not None and "is_valid" not in override:
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
