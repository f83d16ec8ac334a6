"""The simulator as a real HTTP server on a background thread."""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from exporter.simulator.accounts import ManagedPage, generated
from exporter.simulator.answer import Answer
from exporter.simulator.app import GraphApp, internal_error
from exporter.simulator.control import ACCOUNTS
from exporter.simulator.requestlog import RecordedRequest, RequestKind
from exporter.simulator.scenarios import Scenario
from exporter.simulator.tokens import appsecret_proof, page_token

# Request bodies are read (so the client never sees a reset) but only this much is kept.
_MAX_BODY = 1 << 20
_CHUNK = 1 << 16
# A trickle sends a piece every _TICK seconds; a reset waits _SETTLE for the part sent.
_TICK = 0.05
_SETTLE = 0.05


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
        self.close_connection = True
        if answer.delivery.mode == "drop":
            return  # nothing at all: finish() closes the connection
        try:
            self.send_response(answer.status)
            if answer.content_type is not None:
                self.send_header("Content-Type", answer.content_type)
            for name, value in answer.headers:
                self.send_header(name, value)
            if answer.status != 204:
                self.send_header("Content-Length", str(answer.length))
            self.end_headers()
            if self.command == "HEAD" or answer.status == 204:
                return
            if answer.delivery.mode == "reset":
                self._reset_mid_body(answer)
            elif answer.delivery.mode == "trickle":
                self._trickle(answer, answer.delivery.bytes_per_second)
            else:
                for chunk in answer.chunks(_CHUNK):
                    self.wfile.write(chunk)
        except OSError:
            pass  # the client went away; nothing left to tell it

    def _reset_mid_body(self, answer: Answer) -> None:
        """Half the body, then a TCP reset: SO_LINGER 0 and close, so no FIN goes out."""
        remaining = max(1, answer.length // 2) if answer.length > 1 else 0
        for chunk in answer.chunks(_CHUNK):
            if remaining <= 0:
                break
            self.wfile.write(chunk[:remaining])
            remaining -= len(chunk)
        # Let the part sent reach the client: a reset discards whatever is still queued.
        self.server.app.stopping.wait(_SETTLE)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The socket really closes once the buffered reader no longer holds it.
        self.rfile.close()
        self.connection.close()

    def _trickle(self, answer: Answer, bytes_per_second: float) -> None:
        """The body a few bytes at a time; stops when the client leaves or the server stops."""
        piece = max(1, int(bytes_per_second * _TICK))
        pause = piece / bytes_per_second
        for chunk in answer.chunks(piece):
            if self._client_gone():
                return
            self.wfile.write(chunk)
            if self.server.app.stopping.wait(pause):
                return

    def _client_gone(self) -> bool:
        # The request has been read whole, so a readable socket means EOF or a reset.
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return not self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return True


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
        *,
        app_secret: str | None = None,
        accounts: int = 0,
        accounts_prefix: str = "7",
        page_tokens: Mapping[str, str] | None = None,
        user_tokens: Iterable[str] = (),
    ) -> None:
        """`app_secret`: require appsecret_proof, as an app with "Require App Secret" on.
        `accounts`: how many Pages the user token manages (me/accounts), with ids starting
        with `accounts_prefix`; set_accounts() names them instead.
        `page_tokens`: Page id -> its Page token, known from the start (set_page_token).
        `user_tokens`: user tokens that list the managed Pages (set_user_token).
        Any other token was never issued and is refused, as Meta refuses it.
        """
        self._host = host
        self._port = port
        self._stopping = threading.Event()
        self._app = GraphApp(
            latency=latency,
            extra_metrics=tuple(extra_metrics),
            clock=now or time.time,
            stopping=self._stopping,
            app_secret=app_secret,
            pages=generated(accounts, accounts_prefix),
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        for page_id, token in (page_tokens or {}).items():
            self.set_page_token(page_id, token)
        for token in user_tokens:
            self.set_user_token(token)

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

    def request_count(self, page_id: str | None = None, *, kind: RequestKind | None = None) -> int:
        """Requests received for one Page, or for all Pages (insights, batch operations).

        With `kind`, only requests of that kind ("insights", "debug_token", "batch",
        "accounts"), of any Page or none unless `page_id` is given.
        """
        return self._app.state.log.count(page_id, kind)

    def http_request_count(self) -> int:
        """HTTP requests on the API (not /_sim) of any kind: a batch counts once."""
        return self._app.state.log.http_count()

    def requests(self) -> list[RecordedRequest]:
        return self._app.state.log.entries()

    def reset_log(self) -> None:
        self._app.state.log.clear()

    def reset(self) -> None:
        """Forget requests, scenarios, usage and token info, as POST /_sim/reset does."""
        self._app.state.reset()

    # --- tokens ----------------------------------------------------------------------------

    def set_page_token(self, page_id: str, token: str) -> None:
        """`token` is a Page token of `page_id`: it reads that Page's insights and no other's.

        A token neither registered nor handed out by me/accounts gets 190 everywhere."""
        self._app.state.tokens.register(token, page_id)

    def set_user_token(self, token: str) -> None:
        """`token` is a user token: me/accounts lists the managed Pages for it."""
        self._app.state.tokens.register_user(token)

    def set_token_info(self, token: str, /, **fields: Any) -> None:
        """Override what debug_token says about a token (is_valid=False, expires_at=...,
        scopes=[...], type="USER", ...); a field given None is left out of the answer."""
        self._app.state.tokens.set(token, fields)

    def clear_token_info(self, token: str) -> None:
        self._app.state.tokens.clear(token)

    @staticmethod
    def appsecret_proof(access_token: str, app_secret: str) -> str:
        """The appsecret_proof of a token: hex HMAC-SHA256 keyed with the app secret."""
        return appsecret_proof(access_token, app_secret)

    # --- Page discovery --------------------------------------------------------------------

    def set_accounts(
        self, pages: Iterable[tuple[str, str] | tuple[str, str, Sequence[str]]]
    ) -> None:
        """The Pages the user token manages: (id, name) or (id, name, tasks)."""
        self._app.state.accounts.set([ManagedPage.of(page) for page in pages])

    def set_accounts_scenario(self, scenario: Scenario | None) -> None:
        """Put me/accounts in a scenario (transient, invalid_token, error, garbage, ...)."""
        book = self._app.state.accounts_scenario
        if scenario is None:
            book.clear(ACCOUNTS)
        else:
            book.set(ACCOUNTS, scenario)

    @staticmethod
    def page_token_for(page_id: str, user_token: str) -> str:
        """The Page token me/accounts gives this user token for this Page."""
        return page_token(page_id, user_token)
