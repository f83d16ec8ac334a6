"""`python -m exporter.simulator`: serve the simulated Graph API until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

from exporter.simulator.breakdowns import use_campaign_ids
from exporter.simulator.scenarios import Scenario
from exporter.simulator.server import Simulator


def _listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _latency(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"latency must be zero or more seconds: {text!r}")
    return seconds


def _count(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a number of Pages: {text!r}")
    return int(text)


def _digits(text: str) -> str:
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"Page ids are digits: {text!r}")
    return text


def _scenario(text: str) -> tuple[str, Scenario]:
    """PAGE_ID=NAME or PAGE_ID=NAME:JSON_PARAMS."""
    page_id, sep, spec = text.partition("=")
    if not sep or not page_id or not spec:
        raise argparse.ArgumentTypeError(f"expected PAGE_ID=NAME[:JSON_PARAMS], got {text!r}")
    name, _, raw_params = spec.partition(":")
    try:
        params = json.loads(raw_params) if raw_params else {}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"scenario parameters are not JSON: {raw_params!r}"
        ) from None
    if not isinstance(params, dict):
        raise argparse.ArgumentTypeError("scenario parameters must be a JSON object")
    try:
        return page_id, Scenario(name, params)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _page_token(text: str) -> tuple[str, str]:
    """PAGE_ID=TOKEN."""
    page_id, sep, token = text.partition("=")
    if not sep or not page_id.isascii() or not page_id.isdigit() or not token:
        raise argparse.ArgumentTypeError("expected PAGE_ID=TOKEN (the Page id is digits)")
    return page_id, token


def _user_token(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("expected a token")
    return text


# Each flag and what argparse needs to read it.
_FLAGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--listen", {"type": _listen_address, "default": ("127.0.0.1", 0), "metavar": "HOST:PORT",
                  "help": "address to serve on (port 0: any free port)"}),
    ("--latency", {"type": _latency, "default": 0.0, "metavar": "SECONDS",
                   "help": "delay before every API answer (once for a whole batch)"}),
    ("--scenario", {"type": _scenario, "action": "append", "default": [],
                    "metavar": "PAGE_ID=NAME[:JSON_PARAMS]",
                    "help": "put a Page in a scenario from the start (repeatable)"}),
    ("--accounts", {"type": _count, "default": 0, "metavar": "N",
                    "help": "how many Pages the user token manages (GET me/accounts)"}),
    ("--accounts-prefix", {"type": _digits, "default": "7", "metavar": "DIGITS",
                           "help": "what the ids of those Pages start with"}),
    ("--app-secret", {"default": None, "metavar": "SECRET",
                      "help": 'require appsecret_proof keyed with this secret ("Require App Secret" on)'}),
    ("--page-token", {"type": _page_token, "action": "append", "default": [], "metavar": "PAGE_ID=TOKEN",
                      "help": "a Page's token, known from the start (repeatable); a token neither "
                              "given here nor handed out by me/accounts gets error 190"}),
    ("--user-token", {"type": _user_token, "action": "append", "default": [], "metavar": "TOKEN",
                      "help": "a user token that lists the --accounts Pages (repeatable)"}),
    ("--extra-metric", {"action": "append", "default": [], "metavar": "NAME",
                        "help": "accept a metric the catalog does not list (repeatable)"}),
    ("--campaign-ids", {"type": _count, "default": None, "metavar": "N",
                        "help": "how many campaign ids a breakdown by campaign_id has (default 3)"}),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m exporter.simulator",
        description="Serve a simulated Graph API (Messenger Page insights) over HTTP.",
    )
    for flag, options in _FLAGS:
        parser.add_argument(flag, **options)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    host, port = args.listen
    if args.campaign_ids:
        use_campaign_ids(args.campaign_ids)
    simulator = Simulator(
        host,
        port,
        latency=args.latency,
        extra_metrics=args.extra_metric,
        app_secret=args.app_secret,
        accounts=args.accounts,
        accounts_prefix=args.accounts_prefix,
        page_tokens=dict(args.page_token),
        user_tokens=args.user_token,
    )
    for page_id, scenario in args.scenario:
        simulator.set_scenario(page_id, scenario)
    try:
        simulator.start()
    except OSError as error:
        parser.error(f"cannot listen on {host}:{port}: {error.strerror or error}")

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    print(f"simulator listening on {simulator.url}", flush=True)
    while not stop.wait(timeout=0.5):
        pass
    simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
