"""Config reloads (SIGHUP, POST /-/reload): a bad new config keeps the old one running."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from exporter.app import Exporter
from exporter.config import Config, ConfigError, load_file
from exporter.credentials import resolve_app_secret, resolve_tokens, resolve_user_token
from exporter.page_status import ReloadRecord
from exporter.runtime import Settings
from exporter.sharding import ShardError, resolve_shard

log = logging.getLogger(__name__)
T = TypeVar("T")


def load_settings(path: str, shard_count: int | None = None, shard_index: int | None = None) -> Settings:
    """Config, tokens, app secret and shard from a config file (flags win over its shard:);
    ConfigError with every problem."""
    config = load_file(path)
    count = shard_count if shard_count is not None else config.shard.count
    index = shard_index if shard_index is not None else config.shard.index
    try:
        shard = resolve_shard(count, index)
    except ShardError as exc:
        raise ConfigError([f"{config.source}: {exc}"]) from None
    problems: list[str] = []

    def collect(resolve: Callable[[Config, Mapping[str, str]], T]) -> T | None:
        try:
            return resolve(config, os.environ)
        except ConfigError as exc:
            problems.extend(exc.problems)
            return None

    tokens = collect(resolve_tokens)
    app_secret = collect(resolve_app_secret)
    user_token = collect(resolve_user_token)
    if problems or tokens is None:
        raise ConfigError(problems)
    return Settings(config, tokens, app_secret, user_token, shard)


class Reloader:
    def __init__(
        self, exporter: Exporter, load: Callable[[], Settings], on_change: Callable[[], None]
    ) -> None:
        self.exporter = exporter
        self.load = load
        self.on_change = on_change
        self._lock = threading.Lock()
        # The running config was loaded just before the reloader was made.
        self.record = ReloadRecord(loaded_at=time.time())

    def reload(self) -> str | None:
        """Load and apply the config; None when it worked, else the reason it did not."""
        with self._lock:
            try:
                settings = self.load()
            except ConfigError as exc:
                self.exporter.reload_failed()
                self.record = ReloadRecord(self.record.loaded_at, time.time(), "\n".join(exc.problems))
                log.error(  # noqa: TRY400 - the problems say it all; no traceback
                    "config reload failed; keeping the running config",
                          extra={"problems": "; ".join(exc.problems)})
                return "\n".join(exc.problems)
            for warning in settings.config.warnings:
                log.warning("config warning", extra={"warning": warning})
            self.exporter.reload(settings)
            self.record = ReloadRecord(loaded_at=time.time())
            self.on_change()
            log.info("config reloaded", extra={"pages": len(settings.config.pages)})
            return None
