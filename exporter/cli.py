"""Command line: flags in the Prometheus style, the daemon's life from start to signal."""

from __future__ import annotations

import argparse
import logging
import os
import platform
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType

from prometheus_client import generate_latest

from exporter import __version__
from exporter.app import Exporter
from exporter.config import Config, ConfigError, load_file
from exporter.credentials import resolve_tokens
from exporter.http_server import HttpServer, ListenAddressError, parse_listen_address
from exporter.logs import FORMATS, LEVELS, setup_logging
from exporter.redact import Secret, scrub

log = logging.getLogger("exporter")

PROGRAM = "messenger-insights-exporter"
DEFAULT_LISTEN = ":10490"


@dataclass(frozen=True, slots=True)
class Options:
    config_file: str
    listen_address: str
    log_level: str
    log_format: str
    demo: bool
    once: bool
    check_config: bool


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Prometheus exporter for Meta's Messenger Insights API.",
        allow_abbrev=False,
    )
    parser.add_argument("--config.file", dest="config_file", default="config.yaml", metavar="PATH",
                        help="YAML config file (default: config.yaml)")
    parser.add_argument("--web.listen-address", dest="listen_address", default=DEFAULT_LISTEN,
                        metavar="[HOST]:PORT", help=f"address to serve /metrics on (default: {DEFAULT_LISTEN})")
    parser.add_argument("--log.level", dest="log_level", default="info", choices=list(LEVELS),
                        help="log level (default: info)")
    parser.add_argument("--log.format", dest="log_format", default="text", choices=FORMATS,
                        help="log format: text (logfmt) or json (default: text)")
    parser.add_argument("--demo", action="store_true",
                        help="run against the built-in Graph API simulator with three sample Pages; "
                             "no config file or token needed")
    parser.add_argument("--once", action="store_true",
                        help="refresh every Page once, print the metrics to stdout and exit "
                             "(0 if every Page refreshed fully, else 1)")
    parser.add_argument("--check-config", action="store_true",
                        help="validate the config and its tokens, print a summary and exit")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    namespace = parser.parse_args(argv)
    if namespace.version:
        print(f"{PROGRAM}, version {__version__} (python {platform.python_version()})")
        return 0
    options = Options(
        namespace.config_file, namespace.listen_address, namespace.log_level,
        namespace.log_format, namespace.demo, namespace.once, namespace.check_config,
    )
    setup_logging(options.log_level, options.log_format)
    try:
        return run(options)
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # the last line of defence: a message, never a traceback
        log.debug("unexpected error", exc_info=True)
        _fail(f"unexpected error: {type(exc).__name__}: {scrub(str(exc))}")
        return 1


def run(options: Options) -> int:
    if options.demo and options.check_config:
        _fail("--demo and --check-config do not go together: the demo has no config file")
        return 1
    if not options.once and not options.check_config:
        try:
            parse_listen_address(options.listen_address)
        except ListenAddressError as exc:
            _fail(str(exc))
            return 1

    if options.demo:
        from exporter.demo import start_demo  # noqa: PLC0415 - the simulator only loads for the demo

        config, tokens, simulator = start_demo()
        log.info("demo: Graph API simulator started", extra={"url": simulator.url})
    else:
        loaded = _load(options.config_file)
        if loaded is None:
            return 1
        config, tokens = loaded
    if options.check_config:
        print(config.summary())
        return 0

    exporter = Exporter(config, tokens)
    if options.once:
        ok = exporter.refresh_all_once()
        sys.stdout.write(scrub(generate_latest(exporter.registry).decode("utf-8")))
        return 0 if ok else 1
    return serve(exporter, options.listen_address)


def _load(path: str) -> tuple[Config, dict[str, Secret]] | None:
    try:
        config = load_file(path)
        tokens = resolve_tokens(config, os.environ)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"{path}: {len(exc.problems)} problem(s) found; nothing was started", file=sys.stderr)
        return None
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return config, tokens


def serve(exporter: Exporter, listen_address: str) -> int:
    from exporter.scheduler import RefreshScheduler  # noqa: PLC0415 - APScheduler only where used

    try:
        server = HttpServer(listen_address, exporter)
    except OSError as exc:
        _fail(f"cannot listen on {listen_address}: {exc.strerror or exc}")
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received signal; shutting down", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler = RefreshScheduler(exporter)
    server.start()
    scheduler.start()
    log.info(
        "exporter started",
        extra={"version": __version__, "listen": listen_address, "url": server.url,
               "pages": len(exporter.pages), "config": exporter.config.source},
    )
    while not stop.wait(1.0):
        pass
    scheduler.shutdown()
    exporter.stop()
    server.stop()
    log.info("exporter stopped")
    return 0


def _fail(message: str) -> None:
    print(f"{PROGRAM}: error: {scrub(message)}", file=sys.stderr)
