"""The HTTP endpoint: routes, content negotiation, readiness, and requests that are not HTTP."""

from __future__ import annotations

import email.utils
import gzip
import logging
import socket
import time
from collections.abc import Callable

import pytest
import requests

from exporter.http_server import Endpoint, HttpServer, ListenAddressError, parse_listen_address
from exporter.simulator import Scenario, Simulator
from tests.conftest import RunningExporter, exporter_env, wait_until

PAGE = "4000000001"
TOKEN = "EAAB-canary-http-0b5e11"


def start(simulator: Simulator, start_exporter: Callable[..., RunningExporter], **kwargs: bool) -> RunningExporter:
    config = f"""
graph_api: {{base_url: "{simulator.url}", timeout: 10s}}
refresh: {{interval: 30s}}
pages: [{{id: "{PAGE}", name: "Acme <Store> & Co"}}]
metrics: [page_messages_new_conversations_unique]
"""
    simulator.set_page_token(PAGE, TOKEN)
    return start_exporter(config, env=exporter_env(META_PAGE_TOKEN=TOKEN), **kwargs)


@pytest.mark.e2e
def test_ready_only_after_the_first_refresh_attempt(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    simulator.set_scenario(PAGE, Scenario("slow", {"seconds": 3}))
    exporter = start(simulator, start_exporter, wait_ready=False)
    wait_until(lambda: _status(exporter.url + "/-/healthy") == 200, what="the server to listen")
    assert _status(exporter.url + "/-/ready") == 503
    # /metrics answers at once while the API is slow: it never waits for a refresh.
    scrape = exporter.scrape()
    assert scrape.get("messenger_insights_up", page_id=PAGE) == 0
    exporter.wait_ready()
    assert exporter.scrape().get("messenger_insights_up", page_id=PAGE) == 1


@pytest.mark.e2e
def test_routes_methods_and_encodings(simulator: Simulator, start_exporter: Callable[..., RunningExporter]) -> None:
    exporter = start(simulator, start_exporter)
    url = exporter.url
    assert _status(url + "/nope") == 404
    assert requests.post(url + "/metrics", timeout=5).status_code == 405
    assert requests.delete(url + "/", timeout=5).headers.get("Allow") == "GET, HEAD"
    head = requests.head(url + "/metrics", timeout=5)
    assert head.status_code == 200 and head.content == b""

    plain = requests.get(url + "/metrics", headers={"Accept-Encoding": "identity"}, timeout=5)
    assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "Content-Encoding" not in plain.headers

    raw = requests.get(url + "/metrics", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=5)
    assert raw.headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(raw.raw.read()).decode()
    assert "messenger_insights_up{page_id=\"4000000001\"} 1.0" in text

    om = requests.get(url + "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"},
                      timeout=5)
    assert om.headers["Content-Type"].startswith("application/openmetrics-text")
    assert om.text.endswith("# EOF\n")

    landing = requests.get(url + "/", timeout=5)
    assert landing.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Acme &lt;Store&gt; &amp; Co" in landing.text and "<Store>" not in landing.text
    assert 'href="metrics"' in landing.text
    assert TOKEN not in landing.text


@pytest.mark.parametrize("raw", [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200),  # a TLS hello on the plain port
    b"GARBAGE\r\n\r\n",
    b"GET /metrics HTTP/9.9\r\n\r\n",
    b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n",
    b"",
])
@pytest.mark.e2e
def test_malformed_requests_never_hurt_the_daemon(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter], raw: bytes
) -> None:
    exporter = start(simulator, start_exporter)
    host, port = exporter.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        try:
            reply = sock.recv(100)
        except (ConnectionResetError, TimeoutError):
            reply = b""
    assert reply == b"" or reply.startswith(b"HTTP/")
    assert exporter.process.poll() is None
    assert exporter.scrape().get("messenger_insights_up", page_id=PAGE) == 1


@pytest.mark.parametrize(("text", "expected"), [
    (":10490", ("", 10490)),
    ("127.0.0.1:9", ("127.0.0.1", 9)),
    ("[::1]:10490", ("::1", 10490)),
    ("localhost:0", ("localhost", 0)),
])
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(text) == expected


@pytest.mark.parametrize("text", ["10490", "::1:10490", ":http", ":70000", ""])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(ListenAddressError):
        parse_listen_address(text)


def _status(url: str) -> int:
    try:
        return requests.get(url, timeout=5).status_code
    except requests.ConnectionError:
        return 0


def test_the_date_header_and_the_request_log(caplog: pytest.LogCaptureFixture) -> None:
    """The Date header is formatted once a second; a request is logged only at debug level."""
    from tests import status_fixtures as fx
    from tests.test_status_page import FixedStatus, NoView

    endpoint = Endpoint(NoView(), lambda: None, FixedStatus(fx.every_state()))  # type: ignore[arg-type]
    server = HttpServer("127.0.0.1:0", endpoint)
    server.start()
    try:
        before = time.time()
        with caplog.at_level(logging.INFO, logger="exporter.http_server"):
            date = requests.get(server.url + "/-/healthy", timeout=5).headers["Date"]
        after = time.time()
        assert date in {email.utils.formatdate(int(t), usegmt=True) for t in (before, after)}
        assert [r for r in caplog.records if r.name == "exporter.http_server"] == []
        with caplog.at_level(logging.DEBUG, logger="exporter.http_server"):
            requests.get(server.url + f"/-/healthy?access_token={TOKEN}", timeout=5)
        logged = [r.getMessage() for r in caplog.records if r.name == "exporter.http_server"]
        assert len(logged) == 1 and "GET /-/healthy?access_token=[REDACTED]" in logged[0] and TOKEN not in logged[0]
    finally:
        server.stop()
