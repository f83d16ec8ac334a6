"""Config reloads (SIGHUP, POST /-/reload): a bad new config keeps the old one running."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from exporter.app import Exporter, Settings
from exporter.config import ConfigError, load_file
from exporter.credentials import resolve_app_secret, resolve_tokens

log = logging.getLogger(__name__)


def load_settings(path: str) -> Settings:
    """Config, Page tokens and app secret from a config file; ConfigError with every problem."""
    config = load_file(path)
    return Settings(config, resolve_tokens(config, os.environ), resolve_app_secret(config, os.environ))


class Reloader:
    def __init__(
        self, exporter: Exporter, load: Callable[[], Settings], on_change: Callable[[], None]
    ) -> None:
        self.exporter = exporter
        self.load = load
        self.on_change = on_change
        self._lock = threading.Lock()

    def reload(self) -> str | None:
        """Load and apply the config; None when it worked, else the reason it did not."""
        with self._lock:
            try:
                settings = self.load()
            except ConfigError as exc:
                self.exporter.reload_failed()
                log.error(  # noqa: TRY400 - the problems say it all; no traceback
                    "config reload failed; keeping the running config",
                          extra={"problems": "; ".join(exc.problems)})
                return "\n".join(exc.problems)
            for warning in settings.config.warnings:
                log.warning("config warning", extra={"warning": warning})
            self.exporter.reload(settings)
            self.on_change()
            log.info("config reloaded", extra={"pages": len(settings.config.pages)})
            return None
