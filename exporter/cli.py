"""Command line: flags in the Prometheus style, the daemon's life from start to signal."""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import platform
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

from exporter import __version__
from exporter.app import Exporter
from exporter.backfill.labels import DEFAULT_INSTANCE, DEFAULT_JOB
from exporter.backfill.run import BackfillOptions, run_backfill
from exporter.config import ConfigError
from exporter.http_server import Endpoint, HttpServer, ListenAddressError, parse_listen_address
from exporter.listen_check import AddressInUseError, cannot_listen, probe_listen_address
from exporter.logs import FORMATS, LEVELS, setup_logging
from exporter.redact import scrub
from exporter.reloader import Reloader, load_settings
from exporter.runtime import Settings
from exporter.status_board import StatusBoard
from exporter.web_config import BasicAuth, WebConfig, load_web_config

log = logging.getLogger("exporter")

PROGRAM = "messenger-insights-exporter"
DEFAULT_LISTEN = ":10490"


SHUTDOWN_GRACE_SECONDS = 10.0
DEFAULT_CHECK_API_PAGES = 20


@dataclass(frozen=True, slots=True)
class Options:
    config_file: str
    listen_address: str
    web_config_file: str | None
    log_level: str
    log_format: str
    demo: bool
    once: bool
    check_config: bool
    shard_count: int | None = None
    shard_index: int | None = None
    check_api: bool = False
    check_api_pages: int = DEFAULT_CHECK_API_PAGES
    backfill: BackfillOptions | None = None


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
    parser.add_argument("--web.config.file", dest="web_config_file", default=None, metavar="PATH",
                        help="exporter-toolkit web config: TLS and basic auth for every endpoint")
    parser.add_argument("--shard.count", dest="shard_count", type=_count_arg, default=None, metavar="N",
                        help="split the Pages among N replicas (overrides shard.count)")
    parser.add_argument("--shard.index", dest="shard_index", type=_index_arg, default=None, metavar="I",
                        help="this replica's shard, 0..N-1 (default: the host name's trailing -<n>)")
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
    parser.add_argument("--check-api", action="store_true",
                        help="make a few real requests to the Graph API for each Page, print what "
                             "works and what to fix, and exit (0 if all is well, else 1)")
    parser.add_argument("--check-api.pages", dest="check_api_pages", type=_count_arg,
                        default=DEFAULT_CHECK_API_PAGES, metavar="N",
                        help=f"--check-api checks at most N Pages (default: {DEFAULT_CHECK_API_PAGES})")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    _add_backfill_flags(parser)
    return parser


def _add_backfill_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "backfill", "write past insights as OpenMetrics for promtool, then exit (docs/backfill.md)")
    group.add_argument("--backfill.start", dest="backfill_start", default=None, metavar="DATE|DURATION",
                       help="first day to backfill: YYYY-MM-DD, or a duration back from now (90d)")
    group.add_argument("--backfill.end", dest="backfill_end", default=None, metavar="DATE|DURATION",
                       help="last day to backfill (default: the latest complete day over 3 hours ago)")
    group.add_argument("--backfill.output", dest="backfill_output", default=None, metavar="PATH",
                       help="a folder (existing, or PATH/) for one file per day; a file; or - for stdout")
    group.add_argument("--backfill.job", dest="backfill_job", default=DEFAULT_JOB, metavar="NAME",
                       help=f"job label, as your Prometheus scrapes the exporter (default: {DEFAULT_JOB})")
    group.add_argument("--backfill.instance", dest="backfill_instance", default=DEFAULT_INSTANCE,
                       metavar="HOST:PORT",
                       help=f"instance label, as your Prometheus scrapes the exporter (default: {DEFAULT_INSTANCE})")
    group.add_argument("--backfill.label", dest="backfill_labels", action="append", default=[],
                       metavar="NAME=VALUE",
                       help="another target label of the live series (namespace, pod...); repeatable")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    namespace, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(unknown_arguments(parser, unknown))
    if namespace.version:
        print(f"{PROGRAM}, version {__version__} (python {platform.python_version()})")
        return 0
    backfill = _backfill_options(parser, namespace)
    options = Options(
        namespace.config_file, namespace.listen_address, namespace.web_config_file,
        namespace.log_level, namespace.log_format, namespace.demo, namespace.once,
        namespace.check_config, namespace.shard_count, namespace.shard_index,
        namespace.check_api, namespace.check_api_pages, backfill,
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


def _backfill_options(parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> BackfillOptions | None:
    """The backfill's flags, or None without --backfill.start; a usage error when they do not fit."""
    if namespace.backfill_start is None:
        if namespace.backfill_end is not None or namespace.backfill_output is not None:
            parser.error("--backfill.end and --backfill.output need --backfill.start")
        return None
    if namespace.backfill_output is None:
        parser.error("--backfill.start needs --backfill.output: a folder (PATH/), a file, or - for stdout")
    if namespace.once or namespace.check_config:
        parser.error("--backfill.* does not go with --once or --check-config")
    return BackfillOptions(
        namespace.backfill_start, namespace.backfill_end, namespace.backfill_output,
        namespace.backfill_job, namespace.backfill_instance, tuple(namespace.backfill_labels),
    )


def run(options: Options) -> int:
    try:
        web, settings, load = _start(options)
        if options.check_config:
            return _check_config(options, settings, web)
    except _CannotStartError:
        return 1
    if options.check_api:
        return _check_api(options, settings)
    if options.backfill is not None:
        return run_backfill(options.backfill, settings)
    exporter = Exporter(settings)
    if options.once:
        return _once(exporter)
    return serve(exporter, options.listen_address, web, load, demo=options.demo)


class _CannotStartError(Exception):
    """What stops the start was said on stderr already: exit 1."""


def _start(options: Options) -> tuple[WebConfig, Settings, Callable[[], Settings]]:
    """The web config, the settings and how to load them again for a reload."""
    if options.demo and options.check_config:
        _fail("--demo and --check-config do not go together: the demo has no config file")
        raise _CannotStartError
    web = WebConfig()
    if not (options.once or options.check_api or options.backfill is not None):
        web = _web_config(options)
    if options.demo:
        from exporter.demo import DEMO_APP_SECRET, start_demo  # noqa: PLC0415 - the simulator only loads for the demo

        config, tokens, simulator = start_demo()
        log.info("demo: Graph API simulator started", extra={"url": simulator.url})
        settings = Settings(config, tokens, DEMO_APP_SECRET)
        return web, settings, lambda: settings

    def load() -> Settings:
        return load_settings(options.config_file, options.shard_count, options.shard_index)

    try:
        settings = load()
    except ConfigError as exc:
        _print_problems(options.config_file, exc)
        raise _CannotStartError from None
    for warning in settings.config.warnings:
        print(f"warning: {scrub(warning)}", file=sys.stderr)
    return web, settings, load


def _web_config(options: Options) -> WebConfig:
    """The listen address checked and the web config file read, for the modes that serve."""
    try:
        parse_listen_address(options.listen_address)
        if options.web_config_file is not None:
            return load_web_config(options.web_config_file)
    except ListenAddressError as exc:
        _fail(str(exc))
        raise _CannotStartError from None
    except ConfigError as exc:
        _print_problems(options.web_config_file or "", exc)
        raise _CannotStartError from None
    return WebConfig()


def _check_config(options: Options, settings: Settings, web: WebConfig) -> int:
    """--check-config: the listen address must be free (or held by this exporter); the summary."""
    try:
        probe_listen_address(options.listen_address, tls=web.ssl_context is not None)
    except AddressInUseError as exc:
        if not exc.by_exporter:
            _fail(str(exc))
            raise _CannotStartError from None
        # Checking a config before reloading the exporter that runs with it is fine.
        print(f"warning: {options.listen_address} is in use by a running "
              f"messenger-insights-exporter: fine if this config is for its reload, else "
              "choose another with --web.listen-address", file=sys.stderr)
    except ListenAddressError as exc:
        _fail(str(exc))
        raise _CannotStartError from None
    print(settings.config.summary(settings.shard.index, settings.shard.count))
    return 0


def _check_api(options: Options, settings: Settings) -> int:
    from exporter.check_api import ApiCheck  # noqa: PLC0415 - only this mode needs it
    from exporter.check_api_table import render  # noqa: PLC0415

    report = ApiCheck(settings, options.check_api_pages).run()
    sys.stdout.write(render(report, settings.config.source))
    return 0 if report.ok else 1


def _once(exporter: Exporter) -> int:
    """--once: refresh every Page, print the exposition; 1 if some Page failed."""
    ok = exporter.refresh_all_once()
    body = b"".join(exporter.metrics_body(openmetrics=False, compress=False))
    sys.stdout.write(body.decode("utf-8"))
    return 0 if ok else 1


def _print_problems(path: str, exc: ConfigError) -> None:
    for warning in exc.warnings:
        print(f"warning: {scrub(warning)}", file=sys.stderr)
    for problem in exc.problems:
        print(f"error: {scrub(problem)}", file=sys.stderr)
    print(f"{path}: {len(exc.problems)} problem(s) found; nothing was started", file=sys.stderr)


def serve(
    exporter: Exporter, listen_address: str, web: WebConfig, load: Callable[[], Settings], *, demo: bool = False
) -> int:
    from exporter.scheduler import RefreshScheduler  # noqa: PLC0415 - APScheduler only where used

    scheduler = RefreshScheduler(exporter)
    reloader = Reloader(exporter, load, scheduler.reconcile)
    auth = BasicAuth(web.users) if web.users else None
    status = StatusBoard(exporter, due=scheduler.due, reloads=reloader, demo=demo)
    try:
        server = HttpServer(listen_address, Endpoint(exporter, reloader.reload, status, web, auth))
    except OSError as exc:
        _fail(cannot_listen(listen_address, parse_listen_address(listen_address)[1], exc))
        return 1
    stop = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        log.info("received signal; shutting down", extra={"signal": signal.Signals(signum).name})
        stop.set()

    def on_hangup(signum: int, frame: FrameType | None) -> None:
        log.info("received SIGHUP; reloading the config")
        threading.Thread(target=reloader.reload, name="reload", daemon=True).start()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hangup)
    exporter.exposition.start()
    server.start()
    scheduler.start()
    log.info(
        "exporter started",
        extra={"version": __version__, "listen": listen_address, "url": server.url,
               "pages": len(exporter.runtime.pages), "config": exporter.runtime.config.source},
    )
    while not stop.wait(1.0):
        pass
    scheduler.shutdown()
    finished = exporter.stop(SHUTDOWN_GRACE_SECONDS)
    server.stop()
    exporter.exposition.stop()
    log.info("exporter stopped")
    if not finished:
        # Worker threads still wait on the API; the interpreter would join them at exit.
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)
    return 0


def unknown_arguments(parser: argparse.ArgumentParser, unknown: Sequence[str]) -> str:
    """What was not understood, each unknown flag with the closest known one when it is close."""
    known = [flag for action in parser._actions for flag in action.option_strings]
    flags = [arg.split("=", 1)[0] for arg in unknown if arg.startswith("-")]
    if not flags:
        return f"unexpected argument {unknown[0]!r}: every setting is a flag (see --help)"
    parts = []
    for flag in flags:
        close = difflib.get_close_matches(flag, known, n=1, cutoff=0.8)
        parts.append(f"unknown flag {flag}" + (f"; did you mean {close[0]}?" if close else ""))
    if len(parts) > 1 or not parts[0].endswith("?"):
        parts.append("see --help for the flags")
    return "; ".join(parts)


def _count_arg(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of shards (1 or more)")
    return int(text)


def _index_arg(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a shard index (0 or more)")
    return int(text)


def _fail(message: str) -> None:
    print(f"{PROGRAM}: error: {scrub(message)}", file=sys.stderr)
