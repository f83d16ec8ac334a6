"""How fast the status page at `/` answers with many Pages (issue 11: under 100 ms with 10,000).

    python -m bench.status_page --pages 1000,10000 --requests 30

For each size it builds a running exporter's state in process (Pages in every state, a
token per Page registered with the scrubber as discovery would, token statuses, governor
holds, due times), serves it with the real HTTP server and StatusBoard, and times requests
over one keep-alive connection on 127.0.0.1: the default page, the failing filter, a
search, the largest page (1,000 rows), and status.json (what the page polls). The
baseline, timed in the same run, is /-/healthy: the server's own cost per request.
Figures are wall-clock milliseconds per answer: median, 90th percentile and maximum.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import logging
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

from exporter.app import Exporter
from exporter.config import (
    Config,
    GraphApiConfig,
    MetricSpec,
    PageConfig,
    RefreshConfig,
    TokenSource,
)
from exporter.http_server import Endpoint, HttpServer
from exporter.redact import Secret, register_secret
from exporter.runtime import Settings
from exporter.scheduler import DueTimes
from exporter.snapshots import ErrorInfo, PageSnapshot
from exporter.status_board import StatusBoard
from exporter.token_check import TokenChecker, TokenStatus

CASES = (
    ("/-/healthy (baseline)", "/-/healthy"),
    ("/ (first 100, all)", "/"),
    ("/?show=failing", "/?show=failing"),
    ("/?q=page 0042", "/?q=page+0042"),
    ("/?limit=1000", "/?limit=1000"),
    ("/status.json", "/status.json"),
)


def build_exporter(pages: int, now: float, metrics: tuple[MetricSpec, ...] = ()) -> tuple[Exporter, DueTimes]:
    """The exporter, its Pages configured with `metrics` (their snapshots have no values)."""
    configs = tuple(PageConfig(str(10**14 + i), f"Page {i:05d}", TokenSource(env="T"), metrics)
                    for i in range(pages))
    tokens = {}
    for page in configs:
        value = f"EAAB{page.id}bench{page.id[::-1]}"
        register_secret(value)
        tokens[page.id] = Secret(value)
    config = Config(GraphApiConfig(base_url="http://127.0.0.1:9", app_id="1"), RefreshConfig(900, 2700),
                    configs, source="bench")
    exporter = Exporter(Settings(config, tokens, Secret("bench-app-secret")))
    snapshots = []
    for index, page in enumerate(configs):
        up = index % 20 != 0
        snapshots.append(PageSnapshot(
            page, attempted=index % 500 != 0, up=up, last_success=now - (index % 3000),
            refresh_duration=0.2,
            last_error=None if up else ErrorInfo("2", "Service temporarily unavailable", now - 30)))
    exporter.store.put_many(snapshots)
    for page in configs[::97]:
        exporter.governor._pause(page.id, 600, "bench")
    statuses = {page.id: TokenStatus(True, now + (index % 30) * 86400, 0.0, frozenset())
                for index, page in enumerate(configs)}
    runtime = exporter.runtime
    assert runtime.token_checker is not None
    checker = TokenChecker(runtime.client, "1", Secret("bench-app-secret"), previous=statuses)
    exporter.runtime = dataclasses.replace(runtime, token_checker=checker)
    due = DueTimes(900)
    due.take_due(list(runtime.pages))
    return exporter, due


@contextmanager
def serving(pages: int) -> Iterator[tuple[str, int]]:
    exporter, due = build_exporter(pages, time.time())
    board = StatusBoard(exporter, due=due)
    server = HttpServer("127.0.0.1:0", Endpoint(exporter, lambda: None, board))
    server.start()
    try:
        host, port = server.url.removeprefix("http://").split(":")
        yield host, int(port)
    finally:
        server.stop()


def time_requests(host: str, port: int, path: str, count: int) -> tuple[list[float], int]:
    connection = http.client.HTTPConnection(host, port, timeout=30)
    timings, size = [], 0
    try:
        for _ in range(count + 2):  # two warm-ups, not counted
            started = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - started
            if response.status != 200:
                raise SystemExit(f"{path}: HTTP {response.status}: {body[:200]!r}")
            timings.append(elapsed * 1000)
            size = len(body)
    finally:
        connection.close()
    return timings[2:], size


def measure(pages: int, count: int) -> None:
    print(f"\n{pages:,} Pages, {count} requests per case (ms per answer):")
    print(f"{'case':28} {'median':>8} {'p90':>8} {'max':>8} {'x baseline':>11} {'bytes':>9}")
    with serving(pages) as (host, port):
        baseline = 0.0
        for name, path in CASES:
            timings, size = time_requests(host, port, path, count)
            median = statistics.median(timings)
            p90 = statistics.quantiles(timings, n=10)[-1] if len(timings) > 1 else timings[0]
            baseline = baseline or median
            print(f"{name:28} {median:8.1f} {p90:8.1f} {max(timings):8.1f} {median / baseline:11.1f} {size:9,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default="1000,10000", help="comma-separated Page counts")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per case")
    options = parser.parse_args()
    logging.disable(logging.WARNING)  # the governor logs each hold the benchmark sets up
    for pages in (int(p) for p in options.pages.split(",")):
        measure(pages, options.requests)


if __name__ == "__main__":
    main()
