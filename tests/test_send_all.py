"""The body goes out in one blocking write, and still within the request timeout."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from exporter.http_server import send_all


def _connected_pair() -> tuple[socket.socket, socket.socket]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    return server, client


def test_a_client_that_never_reads_is_cut_off_at_the_timeout() -> None:
    server, client = _connected_pair()
    server.settimeout(7.0)
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            send_all(server, [b"x" * 64_000_000], 1.0)
        elapsed = time.monotonic() - started
        assert 0.9 <= elapsed < 3.0
        assert server.gettimeout() == 7.0  # the Python timeout, for reading the next request
    finally:
        server.close()
        client.close()


def test_every_buffer_arrives_whole_and_in_order_to_a_slow_reader() -> None:
    server, client = _connected_pair()
    buffers = [b"head\r\n\r\n", b"", bytes(range(256)) * 40_000, b"tail" * 1000]
    received = bytearray()

    def read_slowly() -> None:
        while chunk := client.recv(65536):
            received.extend(chunk)
            time.sleep(0.001)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    try:
        send_all(server, buffers, 30.0)
        server.shutdown(socket.SHUT_WR)
        reader.join(30)
    finally:
        server.close()
        client.close()
    assert bytes(received) == b"".join(buffers)


def test_a_client_gone_mid_answer_raises_connection_error() -> None:
    server, client = _connected_pair()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()  # a reset, as a killed scraper sends
    try:
        with pytest.raises(ConnectionError):
            for _ in range(5):
                send_all(server, [b"x" * 5_000_000], 5.0)
                time.sleep(0.05)
    finally:
        server.close()
