"""The simulator as a real HTTP server on a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from exporter.simulator.answer import Answer
from exporter.simulator.app import GraphApp, internal_error
from exporter.simulator.requestlog import RecordedRequest
from exporter.simulator.scenarios import Scenario

# Request bodies are read (so the client never sees a reset) but only this much is kept.
_MAX_BODY = 1 << 20
_CHUNK = 1 << 16


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so stop() leaves no idle connection answering.
    protocol_version = "HTTP/1.0"
    server_version = "GraphAPISimulator/1.0"
    timeout = 30

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: no per-request lines on stderr."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def _serve(self) -> None:
        try:
            body = self._read_body()
            headers = {key.lower(): value for key, value in self.headers.items()}
            answer = self.server.app.handle(self.command, self.path, headers, body)
        except Exception:  # noqa: BLE001 - one broken request must not break the server
            answer = internal_error()
        self._send(answer)

    def _read_body(self) -> bytes:
        try:
            remaining = max(0, int(self.headers.get("Content-Length") or 0))
        except ValueError:
            remaining = 0
        kept = bytearray()
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, _CHUNK))
            if not chunk:
                break
            remaining -= len(chunk)
            kept += chunk[: max(0, _MAX_BODY - len(kept))]
        return bytes(kept)

    def _send(self, answer: Answer) -> None:
        try:
            self.send_response(answer.status)
            if answer.content_type is not None:
                self.send_header("Content-Type", answer.content_type)
            for name, value in answer.headers:
                self.send_header(name, value)
            if answer.status != 204:
                self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD" and answer.status != 204:
                self.wfile.write(answer.body)
        except OSError:
            self.close_connection = True  # the client went away; nothing left to tell it


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: GraphApp) -> None:
        self.app = app
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet: a failed connection is the client's business, not a traceback on stderr."""


class _Server6(_Server):
    address_family = socket.AF_INET6


class Simulator:
    """A Graph API look-alike serving Messenger insights on a local port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        extra_metrics: Iterable[str] = (),
        now: Callable[[], float] | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._stopping = threading.Event()
        self._app = GraphApp(
            latency=latency,
            extra_metrics=tuple(extra_metrics),
            clock=now or time.time,
            stopping=self._stopping,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen and serve on a daemon thread; returns once the port is open."""
        if self._server is not None:
            raise RuntimeError("the simulator is already started")
        self._stopping.clear()
        server_class = _Server6 if ":" in self._host else _Server
        self._server = server_class((self._host, self._port), self._app)
        self._app.base_url = self.url
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"graph-simulator:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the port; safe to call more than once."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def set_scenario(self, page_id: str, scenario: Scenario) -> None:
        self._app.state.scenarios.set(page_id, scenario)

    def clear_scenario(self, page_id: str) -> None:
        self._app.state.scenarios.clear(page_id)

    def request_count(self, page_id: str | None = None) -> int:
        """Insights requests received, for one Page or for all."""
        return self._app.state.log.count(page_id)

    def requests(self) -> list[RecordedRequest]:
        return self._app.state.log.entries()

    def reset_log(self) -> None:
        self._app.state.log.clear()

    def reset(self) -> None:
        """Forget requests, scenarios and usage, as POST /_sim/reset does."""
        self._app.state.reset()
