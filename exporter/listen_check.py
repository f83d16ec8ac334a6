"""--check-config's look at the listen address: bind it as the server would, and say why
the server could not listen there, and what to do."""

from __future__ import annotations

import errno
import http.client
import socket
import ssl

from exporter.http_server import ListenAddressError, parse_listen_address

SERVER_NAME = "messenger-insights-exporter/"
PROBE_TIMEOUT_SECONDS = 2.0


class AddressInUseError(ListenAddressError):
    """The port is taken; `by_exporter` when the one listening there is this exporter."""

    def __init__(self, message: str, *, by_exporter: bool) -> None:
        super().__init__(message)
        self.by_exporter = by_exporter


def probe_listen_address(text: str, *, tls: bool = False) -> None:
    """Bind the address as the server would, then let it go: ListenAddressError naming the
    problem and its fix when the server could not listen there."""
    host, port = parse_listen_address(text)
    if host == "":
        candidates = [("::", socket.AF_INET6)] if socket.has_ipv6 else []
        candidates.append(("0.0.0.0", socket.AF_INET))  # noqa: S104 - an empty host asks for all
    else:
        candidates = [(host, socket.AF_INET6 if ":" in host else socket.AF_INET)]
    error: OSError | None = None
    for address, family in candidates:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                sock.bind((address, port))
                return
        except OSError as exc:
            error = exc
    assert error is not None
    if error.errno == errno.EADDRINUSE:
        raise AddressInUseError(cannot_listen(text, port, error), by_exporter=exporter_listens(host, port, tls=tls))
    raise ListenAddressError(cannot_listen(text, port, error))


def cannot_listen(text: str, port: int, error: OSError) -> str:
    """Why the server cannot listen on the address, and what to do about it."""
    fix = "choose another with --web.listen-address"
    if error.errno == errno.EADDRINUSE:
        return (f"cannot listen on {text}: port {port} is already in use (another exporter, or "
                f"another program); stop that or {fix}")
    if error.errno == errno.EACCES:
        return (f"cannot listen on {text}: permission denied (ports below 1024 need root or "
                f"CAP_NET_BIND_SERVICE); {fix}, e.g. :10490")
    if error.errno == errno.EADDRNOTAVAIL:
        return (f"cannot listen on {text}: this machine has no such address; {fix}, e.g. :{port} "
                "for every address")
    if isinstance(error, socket.gaierror):
        return f"cannot listen on {text}: the host name does not resolve; {fix}"
    return f"cannot listen on {text}: {error.strerror or error}; {fix}"


def exporter_listens(host: str, port: int, *, tls: bool) -> bool:
    """Whether what listens there answers as this exporter does (its Server header), over
    HTTPS or plain HTTP, the scheme of this web config first. No credentials are sent: any
    answer, a 401 included, carries the header."""
    address = "127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host == "::" else host  # noqa: S104
    return any(_answers_as_exporter(address, port, tls=scheme) for scheme in (tls, not tls))


def _answers_as_exporter(address: str, port: int, *, tls: bool) -> bool:
    connection: http.client.HTTPConnection
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # only reading the Server header of our own port
        connection = http.client.HTTPSConnection(address, port, timeout=PROBE_TIMEOUT_SECONDS, context=context)
    else:
        connection = http.client.HTTPConnection(address, port, timeout=PROBE_TIMEOUT_SECONDS)
    try:
        connection.request("GET", "/-/healthy")
        return connection.getresponse().getheader("Server", "").startswith(SERVER_NAME)
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
