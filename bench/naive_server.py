"""The baselines the exporter's /metrics is measured against, each its own process.

    python -m bench.naive_server naive  --listen 127.0.0.1:PORT --exposition FILE
    python -m bench.naive_server static --listen 127.0.0.1:PORT --dir DIR

naive: what a straightforward exporter does. prometheus_client's own server
(`start_http_server`) renders, on every scrape, the series of FILE (an exposition the
exporter served, parsed once at start into metric families that the collector yields as
they are) with `generate_latest`, and gzips the result when the scraper asks for it. The
families are built once, so a scrape costs only the rendering (and the gzip): a lower
bound on what a naive exporter pays, which makes the ratio against it conservative.

static: DIR/metrics (and DIR/metrics.gz for clients accepting gzip) served as they are
by a small threaded HTTP/1.1 server. It stands in for nginx where nginx is not installed
(the smoke test); it is not the physical limit nginx gives.

Both print "listening on http://HOST:PORT" once they answer, and stop on SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector


class FixedCollector(Collector):
    """Yields the same families on every scrape; prometheus_client renders them each time."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def load_families(path: Path) -> list[Metric]:
    return list(text_string_to_metric_families(path.read_text(encoding="utf-8")))


def serve_naive(host: str, port: int, exposition: Path) -> tuple[int, list[object]]:
    registry = CollectorRegistry(auto_describe=False)
    families = load_families(exposition)
    registry.register(FixedCollector(families))
    server, thread = start_http_server(port, addr=host, registry=registry)
    return int(server.server_address[1]), [server, thread]


class _StaticHandler(BaseHTTPRequestHandler):
    server: _StaticServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, a small body would wait
    # for the client's delayed ACK of the headers (about 40 ms on Linux).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self._send(404, b"404 page not found\n", {})
            return
        accepts_gzip = "gzip" in self.headers.get("Accept-Encoding", "").lower()
        if accepts_gzip and self.server.gzip_body is not None:
            self._send(200, self.server.gzip_body, {"Content-Encoding": "gzip"})
        else:
            self._send(200, self.server.body, {})

    def _send(self, status: int, body: bytes, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _StaticServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], directory: Path) -> None:
        self.body = (directory / "metrics").read_bytes()
        gzip_path = directory / "metrics.gz"
        self.gzip_body = gzip_path.read_bytes() if gzip_path.exists() else None
        super().__init__(address, _StaticHandler)


def serve_static(host: str, port: int, directory: Path) -> tuple[int, list[object]]:
    server = _StaticServer((host, port), directory)
    thread = threading.Thread(target=server.serve_forever, name="static", daemon=True)
    thread.start()
    return int(server.server_address[1]), [server, thread]


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.naive_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("naive", "static"))
    parser.add_argument("--listen", type=_listen, default=("127.0.0.1", 0), metavar="HOST:PORT")
    parser.add_argument("--exposition", type=Path, help="naive: the exposition text to serve")
    parser.add_argument("--dir", type=Path, help="static: the folder holding metrics and metrics.gz")
    args = parser.parse_args(argv)
    host, port = args.listen
    if args.mode == "naive":
        if args.exposition is None:
            parser.error("naive needs --exposition")
        port, _keep = serve_naive(host, port, args.exposition)
    else:
        if args.dir is None:
            parser.error("static needs --dir")
        port, _keep = serve_static(host, port, args.dir)

    stop = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    print(f"listening on http://{host}:{port}", flush=True)
    while not stop.wait(0.5):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
