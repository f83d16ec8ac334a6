"""/metrics tail latency under concurrent gzip clients, against nginx serving the same bytes.

    python -m bench.serve_p99 --pages 10000 --pairs 3 --seconds 10

Builds a running exporter's state in process (bench/status_page.py's Pages, each with
insights series so the gzip body is about 5 MB at 10,000 Pages), serves it with the real
HTTP server and ExpositionCache, writes the exact gzip body it serves to a file that nginx
serves with gzip_static (bench/run.py's configuration), and runs wrk the way bench/run.py
does (`-t2 -c16 --latency -s bench/wrk.lua -- gzip`) against each, interleaved: exporter,
nginx, exporter, nginx, ... It prints each run's p50, p99 and scrapes/s, then the medians
and the ratio of p99s. Much quicker than `make bench`, which stays the reference.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import logging
import os
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.run import (
    BREAKDOWN_METRICS,
    CHANNEL,
    FREQUENCY,
    TOPIC,
    free_port,
    nginx_binary,
    nginx_config,
    wrk_load,
)
from bench.status_page import build_exporter
from exporter.catalog import BREAKDOWN_LABELS, CATALOG
from exporter.config import MetricSpec
from exporter.http_server import Endpoint, HttpServer
from exporter.insights_response import MetricData
from exporter.snapshots import MetricResult, PageSnapshot
from exporter.status_board import StatusBoard

# bench/run.py's workload: every catalog metric, three split by channel and by topic, and
# recurring notification tokens by topic and frequency; a few values per label.
SPECS = (
    *(MetricSpec(name) for name in CATALOG),
    *(MetricSpec(name, breakdowns=(split,)) for split in (CHANNEL, TOPIC) for name in BREAKDOWN_METRICS),
    MetricSpec("recurring_notifications_tokens", breakdowns=(TOPIC, FREQUENCY)),
)
VALUES = {CHANNEL: ("messenger", "instagram", "whatsapp"), TOPIC: ("offers", "news"),
          FREQUENCY: ("daily", "weekly")}


def series_of(spec: MetricSpec, value: float) -> tuple[tuple[str, ...], list[tuple[tuple[str, ...], float]]]:
    """Label names and (label values, value) pairs: one per combination of breakdown values."""
    combos: list[tuple[str, ...]] = [()]
    for split in spec.breakdowns:
        combos = [(*combo, v) for combo in combos for v in VALUES[split]]
    names = tuple(BREAKDOWN_LABELS[split] for split in spec.breakdowns)
    return names, [(combo, value + k) for k, combo in enumerate(combos)]


def with_insights(snapshot: PageSnapshot, index: int, now: float) -> PageSnapshot:
    """The snapshot with a value for every spec (a few series for those split by a label)."""
    results = []
    for number, spec in enumerate(SPECS):
        names, series = series_of(spec, float((index * 7919 + number * 104729) % 100_000))
        baseline = [(labels, v / 3) for labels, v in series]
        data = MetricData.of(spec.name, now - 3600, names, series, baseline=baseline, baseline_days=7)
        results.append(MetricResult(spec, now - 60, data))
    return dataclasses.replace(snapshot, results=tuple(results), attempted=True)


@contextmanager
def exporter_serving(pages: int) -> Iterator[tuple[str, bytes]]:
    now = time.time()
    exporter, due = build_exporter(pages, now, SPECS)
    snapshots = exporter.store.snapshots()
    exporter.store.put_many([with_insights(snapshots[page_id], i, now) for i, page_id in enumerate(snapshots)])
    exporter.exposition.start()
    server = HttpServer("127.0.0.1:0", Endpoint(exporter, lambda: None, StatusBoard(exporter, due=due)))
    server.start()
    try:
        body = b"".join(exporter.metrics_body(openmetrics=False, compress=True))
        yield f"{server.url}/metrics", body
    finally:
        server.stop()
        exporter.exposition.stop()


@contextmanager
def nginx_serving(directory: Path, body: bytes) -> Iterator[str]:
    www = directory / "www"
    (directory / "temp").mkdir(parents=True, exist_ok=True)
    www.mkdir(parents=True, exist_ok=True)
    (www / "metrics.gz").write_bytes(body)
    (www / "metrics").write_bytes(gzip.decompress(body))
    port = free_port()
    conf = directory / "nginx.conf"
    conf.write_text(nginx_config(directory, port, as_root=os.geteuid() == 0), encoding="utf-8")
    process = subprocess.Popen(  # noqa: S603 - our own command
        [nginx_binary(), "-e", str(directory / "error.log"), "-p", str(directory), "-c", str(conf)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port_open(port, 10)
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        process.terminate()
        process.wait(10)


def wait_port_open(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nginx did not listen on port {port} within {timeout:.0f}s")


def one_run(url: str, connections: int, seconds: float) -> tuple[float, float, float]:
    numbers = wrk_load(url, gzip_on=True, connections=connections, duration=seconds)
    errors = sum(numbers[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    if errors:
        raise SystemExit(f"{url}: {errors:.0f} errors in the wrk run")
    return numbers["p50_us"] / 1000, numbers["p99_us"] / 1000, numbers["requests"] / (numbers["duration_us"] / 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=3, help="exporter/nginx runs, interleaved")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=16)
    options = parser.parse_args()
    logging.disable(logging.WARNING)
    with exporter_serving(options.pages) as (exporter_url, body), \
            tempfile.TemporaryDirectory(prefix="serve-p99-") as work, \
            nginx_serving(Path(work), body) as nginx_url:
        print(f"{options.pages:,} Pages, gzip body {len(body):,} bytes; load {os.getloadavg()[0]:.2f}")
        rows: dict[str, list[tuple[float, float, float]]] = {"exporter": [], "nginx": []}
        for _ in range(options.pairs):
            for name, url in (("exporter", exporter_url), ("nginx", nginx_url)):
                p50, p99, rate = one_run(url, options.connections, options.seconds)
                rows[name].append((p50, p99, rate))
                print(f"  {name:9} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  {rate:6.0f}/s  "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)
        medians = {name: [statistics.median(r[i] for r in runs) for i in range(3)] for name, runs in rows.items()}
        for name, (p50, p99, rate) in medians.items():
            print(f"median {name:9} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  {rate:6.0f}/s")
        ratios = [e[1] / n[1] for e, n in zip(rows["exporter"], rows["nginx"], strict=True)]
        print(f"p99 exporter/nginx per pair: {', '.join(f'{r:.2f}' for r in ratios)}; "
              f"median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
