"""Helpers for in-process tests: settings without files or variables, a log watcher."""

from __future__ import annotations

import io
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field

from exporter import cli
from exporter.config import load_text
from exporter.redact import Secret
from exporter.runtime import Settings

METRICS = ("page_messages_new_conversations_unique", "page_messages_sent")
APP_ID = "100000000000777"


def settings_for(
    url: str,
    pages: Mapping[str, str],
    *,
    metrics: tuple[str, ...] = METRICS,
    api: str = "max_retries: 0",
    app_secret: str | None = None,
    extra: str = "",
) -> Settings:
    """Settings for these Pages (id -> token) against the simulator at `url`; `api` adds
    graph_api keys, `extra` whole sections."""
    listed = ", ".join(f'{{id: "{page_id}"}}' for page_id in pages)
    app = f", app_id: '{APP_ID}', app_secret_env: APP_SECRET" if app_secret is not None else ""
    text = (f"graph_api: {{base_url: '{url}', {api}{app}}}\n"
            f"pages: [{listed}]\nmetrics: [{', '.join(metrics)}]\n{extra}")
    config = load_text(text, "test.yaml")
    return Settings(config, {page_id: Secret(token) for page_id, token in pages.items()},
                    Secret(app_secret) if app_secret is not None else None)


@dataclass
class LogWatch:
    """Log records at WARNING or above, and exceptions that ended a thread."""

    records: list[logging.LogRecord] = field(default_factory=list)
    thread_errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [f"{r.levelname} {r.name}: {r.getMessage()}" for r in self.records] + self.thread_errors

    def tracebacks(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.exc_info] + self.thread_errors


class _Collect(logging.Handler):
    def __init__(self, watch: LogWatch) -> None:
        super().__init__(logging.WARNING)
        self.watch = watch

    def emit(self, record: logging.LogRecord) -> None:
        self.watch.records.append(record)


@contextmanager
def watch_logs() -> Iterator[LogWatch]:
    watch = LogWatch()
    handler = _Collect(watch)
    root = logging.getLogger()
    previous_hook = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        watch.thread_errors.append(f"{args.exc_type.__name__} in {args.thread}: {args.exc_value}")

    root.addHandler(handler)
    threading.excepthook = hook
    try:
        yield watch
    finally:
        root.removeHandler(handler)
        threading.excepthook = previous_hook


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: Mapping[str, str] | None = None) -> CliResult:
    """`messenger-insights-exporter ARGS` in this process: exit code, stdout and stderr.

    `env` replaces the environment for the call; the root logger, which the CLI sets up,
    is put back afterwards.
    """
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_env = dict(os.environ)
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as exc:  # argparse: --help, unknown flags
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    return CliResult(code, out.getvalue(), err.getvalue())
