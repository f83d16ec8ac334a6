"""The HTTP endpoint: /metrics, the status page, health, readiness and reload."""

from __future__ import annotations

import base64
import email.utils
import functools
import logging
import math
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from exporter import __version__
from exporter.page_status import StatusInputs
from exporter.redact import scrub
from exporter.snapshots import PageSnapshot
from exporter.status_page import QueryError, parse_query, render, status_json
from exporter.web_config import BasicAuth, WebConfig

log = logging.getLogger(__name__)

ROUTES = ("/", "/status.json", "/metrics", "/-/healthy", "/-/ready", "/-/reload")
REQUEST_TIMEOUT_SECONDS = 30
TLS_HANDSHAKE_TIMEOUT_SECONDS = 10
_IOV_MAX = 1024  # buffers one sendmsg takes (Linux, the BSDs)


class ListenAddressError(ValueError):
    pass


class ExporterView(Protocol):
    """What the HTTP server reads from the running exporter."""

    registry: CollectorRegistry

    def snapshots(self) -> Mapping[str, PageSnapshot]: ...

    def is_ready(self) -> bool: ...

    def metrics_body(self, *, openmetrics: bool, compress: bool) -> list[bytes]: ...


def parse_listen_address(text: str) -> tuple[str, int]:
    """`[HOST]:PORT`, `HOST:PORT` or `:PORT` into (host, port); empty host means all."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ListenAddressError(f"listen address {text!r} must be [HOST]:PORT, e.g. :10490")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ListenAddressError(f"listen address {text!r}: write an IPv6 host in brackets, [::1]:10490")
    return host, int(port_text)


Reload = Callable[[], str | None]  # None when the reload worked, else why it did not


class StatusSource(Protocol):
    """The exporter's state for the status page, read once per request."""

    def read(self) -> StatusInputs: ...

    def generation(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What the server serves and how it guards it."""

    view: ExporterView
    reload: Reload
    status: StatusSource
    web: WebConfig = field(default_factory=WebConfig)
    auth: BasicAuth | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], endpoint: Endpoint, family: socket.AddressFamily) -> None:
        self.address_family = family
        self.endpoint = endpoint
        self.view = endpoint.view
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake happens here, in the connection's own thread, so a slow or
        # broken client cannot hold up the accept loop.
        context = self.endpoint.web.ssl_context
        if context is not None:
            request.settimeout(TLS_HANDSHAKE_TIMEOUT_SECONDS)
            try:
                request = context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                log.debug("TLS handshake failed", extra={"client": client_address[0]})
                request.close()
                return
        super().finish_request(request, client_address)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            # Dual stack: "::" answers IPv4 clients too.
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("error while serving a request", exc_info=True)


class HttpServer:
    def __init__(self, address: str, endpoint: Endpoint) -> None:
        host, port = parse_listen_address(address)
        self._server = _bind(host, port, endpoint)
        self._scheme = "https" if endpoint.web.ssl_context is not None else "http"
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else str(host)  # noqa: S104
        return f"{self._scheme}://[{shown}]:{port}" if ":" in shown else f"{self._scheme}://{shown}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _bind(host: str, port: int, endpoint: Endpoint) -> _Server:
    if host == "":
        if socket.has_ipv6:
            try:
                return _Server(("::", port), endpoint, socket.AF_INET6)
            except OSError:
                pass
        return _Server(("0.0.0.0", port), endpoint, socket.AF_INET)  # noqa: S104 - an empty host asks for all
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return _Server((host, port), endpoint, family)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_TIMEOUT_SECONDS
    # Over TLS headers and body go out in separate writes; without this, Nagle holds the
    # body of a keep-alive scrape for the client's delayed ACK (about 40 ms).
    disable_nagle_algorithm = True
    _headers_buffer: list[bytes]  # BaseHTTPRequestHandler's: the status line and headers so far
    server_version = f"messenger-insights-exporter/{__version__}"

    def version_string(self) -> str:
        return self.server_version

    def date_time_string(self, timestamp: float | None = None) -> str:
        return _http_date(int(time.time() if timestamp is None else timestamp))

    # Answer even a garbled request line with a status line, in plain text.
    default_request_version = "HTTP/1.0"
    error_content_type = "text/plain; charset=utf-8"
    error_message_format = "%(code)d %(message)s\n"

    def do_GET(self) -> None:
        self._head = False
        if self._authorized():
            self._route()

    def do_HEAD(self) -> None:
        self._head = True
        if self._authorized():
            self._route()

    def _other_method(self) -> None:
        self._head = False
        if not self._authorized():
            return
        path = self.path.split("?", 1)[0]
        if path == "/-/reload" and self.command in ("POST", "PUT"):
            self._reload()
        elif path not in ROUTES:
            self._send(404, b"404 page not found\n")
        else:
            allowed = "POST, PUT" if path == "/-/reload" else "GET, HEAD"
            self._send(405, b"405 method not allowed\n", extra={"Allow": allowed})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = _other_method  # noqa: N815

    def _authorized(self) -> bool:
        auth = self.server.endpoint.auth
        if auth is None:
            return True
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", ""
            if user and auth.check(user, password):
                return True
        self._send(401, b"401 Unauthorized\n",
                   extra={"WWW-Authenticate": 'Basic realm="messenger-insights-exporter"'})
        return False

    def _reload(self) -> None:
        error = self.server.endpoint.reload()
        if error is None:
            self._send(200, b"Reloaded.\n")
        else:
            self._send(500, f"failed to reload config: {scrub(error)}\n".encode())

    def _route(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/-/reload":
            self._send(405, b"405 method not allowed\n", extra={"Allow": "POST, PUT"})
        elif path == "/metrics":
            self._metrics()
        elif path == "/":
            self._status_page()
        elif path == "/status.json":
            status = self.server.endpoint.status
            self._send(200, status_json(__version__, status.generation()), "application/json",
                       extra={"Cache-Control": "no-store"})
        elif path == "/-/healthy":
            self._send(200, b"Healthy.\n")
        elif path == "/-/ready":
            if self.server.view.is_ready():
                self._send(200, b"Ready.\n")
            else:
                self._send(503, b"Not ready: not every Page has finished its first refresh.\n")
        else:
            self._send(404, b"404 page not found\n")

    def _status_page(self) -> None:
        try:
            query = parse_query(self.path.partition("?")[2])
        except QueryError as exc:
            self._send(400, f"400 bad query: {scrub(str(exc))}\n".encode())
            return
        try:
            page = render(self.server.endpoint.status.read(), query)
        except Exception:
            log.exception("rendering the status page failed")
            self._send(500, b"rendering the status page failed; see the exporter's log\n")
            return
        self._send(200, page.encode(), "text/html; charset=utf-8", extra={"Cache-Control": "no-store"})

    def _metrics(self) -> None:
        _, content_type = choose_encoder(self.headers.get("Accept", ""))
        openmetrics = content_type.startswith("application/openmetrics-text")
        compress = _accepts_gzip(self.headers.get("Accept-Encoding", ""))
        try:
            chunks = self.server.view.metrics_body(openmetrics=openmetrics, compress=compress)
        except Exception:
            log.exception("rendering /metrics failed")
            self._send(500, b"rendering metrics failed; see the exporter's log\n")
            return
        self._send(200, chunks, content_type, extra={"Content-Encoding": "gzip"} if compress else {})

    def _send(
        self,
        status: int,
        body: bytes | list[bytes],
        content_type: str = "text/plain; charset=utf-8",
        extra: dict[str, str] | None = None,
    ) -> None:
        chunks = [body] if isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(sum(len(c) for c in chunks)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        # The headers go out with the body: one write, not two (no Nagle wait either).
        self._headers_buffer.append(b"\r\n")
        answer = [b"".join(self._headers_buffer), *([] if getattr(self, "_head", False) else chunks)]
        self._headers_buffer = []
        try:
            self._write(answer)
        except (ConnectionError, TimeoutError) as exc:
            # The client went away or stopped reading: nothing to answer it, nothing to fix here.
            log.debug("answer not sent: %s", exc.__class__.__name__)
            self.close_connection = True

    def _write(self, buffers: list[bytes]) -> None:
        connection = self.connection
        if isinstance(connection, ssl.SSLSocket):
            for buffer in buffers:
                self.wfile.write(buffer)
            return
        send_all(connection, buffers, REQUEST_TIMEOUT_SECONDS)

    def log_message(self, format: str, *args: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):  # every request comes here: no scrub unless shown
            log.debug(scrub(format % args))


@functools.lru_cache(maxsize=4)
def _http_date(second: int) -> str:
    """The Date header's value: formatted once a second, not per answer."""
    return email.utils.formatdate(second, usegmt=True)


def send_all(connection: socket.socket, buffers: Sequence[bytes], timeout: float) -> None:
    """Send the buffers in order, all within `timeout` seconds, or raise TimeoutError.

    With a Python timeout set, socket.sendall polls and sends what fits in the socket
    buffer, taking the GIL back after each piece; with many clients each of those waits
    for the GIL can last a switch interval (5 ms), the tail of /metrics under load. In
    blocking mode one sendmsg queues a whole 5 MB body with the GIL released once, and the
    kernel's send timeout (SO_SNDTIMEO, set to what is left of `timeout` before each call)
    still ends it for a client that stops reading. The connection's Python timeout, for
    reading the next request, is back when this returns.
    """
    deadline = time.monotonic() + timeout
    views = [memoryview(buffer) for buffer in buffers if buffer]
    previous = connection.gettimeout()
    connection.settimeout(None)
    try:
        while views:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the client did not take the answer in time")
            seconds = math.ceil(left * 1e6) / 1e6
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                                  struct.pack("@ll", int(seconds), round(seconds % 1 * 1e6)))
            try:
                sent = connection.sendmsg(views[:_IOV_MAX])
            except BlockingIOError:  # SO_SNDTIMEO passed with nothing sent
                continue
            views = _drop_sent(views, sent)
    finally:
        connection.settimeout(previous)


def _drop_sent(views: list[memoryview], sent: int) -> list[memoryview]:
    while views and sent >= len(views[0]):
        sent -= len(views.pop(0))
    if sent:
        views[0] = views[0][sent:]
    return views


def _accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() == "gzip":
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False
