"""Messages that name the place and the fix (issue 11), each pinned to its exact text:
network errors with the host and port tried, token errors with the Page's token source,
--check-config binding the listen address, unknown flags with a suggestion."""

from __future__ import annotations

import dataclasses
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from exporter import cli, listen_check
from exporter.app import Exporter
from exporter.config import (
    Config,
    DiscoveryConfig,
    GraphApiConfig,
    MetricSpec,
    PageConfig,
    RefreshConfig,
    TokenSource,
    Window,
)
from exporter.credentials import DISCOVERED, GET_A_TOKEN, token_renewal
from exporter.discovery import DiscoveryError, discover
from exporter.governor import RateLimitGovernor
from exporter.graph_client import GraphClient, GraphError, InsightsQuery, host_and_port
from exporter.http_server import Endpoint, HttpServer
from exporter.redact import Secret, register_secret
from exporter.runtime import Settings
from exporter.self_metrics import SelfMetrics
from exporter.simulator import Scenario, Simulator
from exporter.status_page import Query, render
from exporter.web_config import load_web_config
from tests import status_fixtures as fx
from tests.conftest import free_port
from tests.test_status_page import FixedStatus, NoView
from tests.test_web_config import pki  # noqa: F401 - the certificates fixture

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "EAAB-messages-canary-token-91c2"


def one_error(base_url: str, timeout: float = 5.0) -> GraphError:
    api = GraphApiConfig(base_url=base_url, timeout=timeout, max_retries=0)
    client = GraphClient(api, SelfMetrics(CollectorRegistry()), RateLimitGovernor(0.9))
    query = InsightsQuery("1234", ("page_messages_new_conversations_unique",), "day", Window())
    (result,) = client.run([(query, Secret(TOKEN))])
    assert isinstance(result, GraphError)
    assert result.code == "network"
    assert TOKEN not in str(result)
    return result


def test_connection_refused_names_host_and_port() -> None:
    port = free_port()
    error = one_error(f"http://127.0.0.1:{port}")
    assert error.message == f"connection refused by 127.0.0.1:{port} (graph_api.base_url http://127.0.0.1:{port})"


def test_unknown_host_names_the_host() -> None:
    error = one_error("http://no-such-host.invalid:8080")
    assert error.message == ("host name no-such-host.invalid not resolved "
                             "(graph_api.base_url http://no-such-host.invalid:8080)")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def test_no_answer_names_host_and_port(silent_port: int) -> None:
    error = one_error(f"http://127.0.0.1:{silent_port}", timeout=0.3)
    assert error.message == (f"no answer from 127.0.0.1:{silent_port} within 0.3s "
                             f"(graph_api.base_url http://127.0.0.1:{silent_port})")


def test_credentials_in_the_base_url_are_never_shown() -> None:
    port = free_port()
    error = one_error(f"http://proxyuser:s3cret-pass@127.0.0.1:{port}")
    assert error.message == f"connection refused by 127.0.0.1:{port} (graph_api.base_url http://127.0.0.1:{port})"
    inputs = fx.every_state()
    api = dataclasses.replace(inputs.config.graph_api, base_url="https://u:s3cret-pass@graph.example/x")
    page = render(dataclasses.replace(inputs, config=dataclasses.replace(inputs.config, graph_api=api)), Query())
    assert "s3cret-pass" not in page and "https://graph.example/x" in page


@pytest.mark.parametrize(("base_url", "target"), [
    ("https://graph.facebook.com", "graph.facebook.com:443"),
    ("http://graph.example:8080/", "graph.example:8080"),
    ("http://[::1]:9000", "[::1]:9000"),
    ("http://localhost", "localhost:80"),
])
def test_host_and_port_of_a_base_url(base_url: str, target: str) -> None:
    assert host_and_port(base_url) == target


# --- token errors -----------------------------------------------------------------------


@pytest.mark.parametrize(("source", "text"), [
    (TokenSource(env="ACME_TOKEN"),
     f"the Page token from environment variable ACME_TOKEN no longer works: get a new one ({GET_A_TOKEN}), "
     "then restart the exporter with the new value"),
    (TokenSource(file="/run/secrets/acme"),
     f"the Page token from file /run/secrets/acme no longer works: get a new one ({GET_A_TOKEN}), "
     "write it to that file, then reload (SIGHUP or POST /-/reload)"),
    (DISCOVERED,
     "the Page token from Page discovery (/me/accounts with the discovery user token) no longer works: "
     f"get a new user token ({GET_A_TOKEN}), put it where discovery.user_token says, then reload "
     "(SIGHUP or POST /-/reload)"),
])
def test_token_renewal_names_the_source(source: TokenSource, text: str) -> None:
    assert token_renewal(source) == text


class RefusingClient:
    def get_json(self, path: str, params: dict[str, str], token: Secret) -> object:
        raise GraphError("190", "Error validating access token: Session has expired", graph_code=190)


def test_discovery_with_a_dead_user_token_names_its_source() -> None:
    config = DiscoveryConfig(TokenSource(env="META_SYSTEM_USER_TOKEN"))
    with pytest.raises(DiscoveryError) as caught:
        discover(RefusingClient(), Secret(TOKEN), config)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "listing Pages failed: 190: Error validating access token: Session has expired; the discovery "
        "user token from environment variable META_SYSTEM_USER_TOKEN no longer works: get a new one "
        f"({GET_A_TOKEN}), then restart the exporter with the new value")


def test_the_pointed_readme_step_exists() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.index("\n## Real setup\n")
    step = readme.index("\n### 1. Get a Page access token\n")
    assert setup < step < readme.index("\n## ", setup + 1)
    assert GET_A_TOKEN == 'README.md, "Real setup", step 1 "Get a Page access token"'


def test_error_190_in_the_refresh_names_the_token_source(caplog: pytest.LogCaptureFixture) -> None:
    simulator = Simulator(host="127.0.0.1", port=0, page_tokens={"4900000001": TOKEN})
    simulator.start()
    try:
        register_secret(TOKEN)
        page = PageConfig("4900000001", "Acme", TokenSource(env="ACME_TOKEN"),
                          (MetricSpec("page_messages_new_conversations_unique"),))
        config = Config(GraphApiConfig(base_url=simulator.url, max_retries=0), RefreshConfig(60, 180), (page,))
        exporter = Exporter(Settings(config, {page.id: Secret(TOKEN)}))
        simulator.set_scenario(page.id, Scenario("invalid_token"))
        exporter.refresh_all_once()
    finally:
        simulator.stop()
    snapshot = exporter.snapshots()[page.id]
    assert snapshot.last_error is not None and snapshot.last_error.code == "190"
    message = snapshot.last_error.message
    assert message.endswith(
        "; the Page token from environment variable ACME_TOKEN no longer works: get a new one "
        '(README.md, "Real setup", step 1 "Get a Page access token"), then restart the exporter '
        "with the new value")
    assert message.startswith("Error validating access token")
    logged = [getattr(record, "error", "") for record in caplog.records]
    assert message in logged
    assert all(TOKEN not in text for text in logged) and TOKEN not in message


# --- the command line -------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--web.listen-adress=:10490"], "unknown flag --web.listen-adress; did you mean --web.listen-address?"),
    (["--web.listen-adress", ":10490"], "unknown flag --web.listen-adress; did you mean --web.listen-address?"),
    (["-web.listen-address=:10490"], "unknown flag -web.listen-address; did you mean --web.listen-address?"),
    (["--check-confg"], "unknown flag --check-confg; did you mean --check-config?"),
    (["--bogus"], "unknown flag --bogus; see --help for the flags"),
    (["--colour", "--confg.file=x"],
     "unknown flag --colour; unknown flag --confg.file; did you mean --config.file?; see --help for the flags"),
    (["config.yaml"], "unexpected argument 'config.yaml': every setting is a flag (see --help)"),
])
def test_unknown_flags_get_a_suggestion(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(args)
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"messenger-insights-exporter: error: {message}"


@pytest.fixture
def taken_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A port held by a socket that accepts connections and never answers. The probe for a
    running exporter waits for an answer; a short wait keeps the test fast, and the message
    is the same however long it waits."""
    monkeypatch.setattr(listen_check, "PROBE_TIMEOUT_SECONDS", 0.1)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text("pages: [{id: '1234'}]\n", encoding="utf-8")
    monkeypatch.setenv("META_PAGE_TOKEN", TOKEN)
    return path


IN_USE = ("messenger-insights-exporter: error: cannot listen on 127.0.0.1:{port}: port {port} is already "
          "in use (another exporter, or another program); stop that or choose another with "
          "--web.listen-address")


def test_check_config_reports_a_listen_address_in_use(
    config_file: Path, taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main([f"--config.file={config_file}", "--check-config",
                     f"--web.listen-address=127.0.0.1:{taken_port}"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.strip() == IN_USE.format(port=taken_port)


def test_check_config_binds_a_free_address_and_lets_it_go(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    args = [f"--config.file={config_file}", "--check-config", f"--web.listen-address=127.0.0.1:{port}"]
    assert cli.main(args) == 0
    assert cli.main(args) == 0  # the first check let the port go
    assert re.match(r".*config\.yaml: OK: 1 Page", capsys.readouterr().out)


def test_check_config_reports_an_address_this_machine_does_not_have(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main([f"--config.file={config_file}", "--check-config", "--web.listen-address=192.0.2.1:10490"])
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        "messenger-insights-exporter: error: cannot listen on 192.0.2.1:10490: this machine has no such "
        "address; choose another with --web.listen-address, e.g. :10490 for every address")


def test_the_daemon_says_the_same_when_the_port_is_taken(
    config_file: Path, taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main([f"--config.file={config_file}", f"--web.listen-address=127.0.0.1:{taken_port}"])
    assert code == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == IN_USE.format(port=taken_port)


def test_check_config_accepts_the_port_of_the_running_exporter(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checking a config before reloading the exporter that serves on its port is fine."""
    endpoint = Endpoint(NoView(), lambda: None, FixedStatus(fx.every_state()))  # type: ignore[arg-type]
    server = HttpServer("127.0.0.1:0", endpoint)
    server.start()
    try:
        address = server.url.removeprefix("http://")
        assert cli.main([f"--config.file={config_file}", "--check-config", f"--web.listen-address={address}"]) == 0
    finally:
        server.stop()
    out, err = capsys.readouterr()
    assert "config.yaml: OK: 1 Page" in out
    assert err.strip() == (f"warning: {address} is in use by a running messenger-insights-exporter: fine if "
                           "this config is for its reload, else choose another with --web.listen-address")


@pytest.mark.e2e  # openssl makes the certificates
@pytest.mark.parametrize("with_web_config", [True, False])
def test_check_config_knows_the_running_exporter_behind_tls(
    config_file: Path, pki: Path, tmp_path: Path, with_web_config: bool,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {pki / 'server.crt'}\n  key_file: {pki / 'server.key'}\n")
    endpoint = Endpoint(NoView(), lambda: None, FixedStatus(fx.every_state()),  # type: ignore[arg-type]
                        load_web_config(str(web)))
    server = HttpServer("127.0.0.1:0", endpoint)
    server.start()
    try:
        address = server.url.removeprefix("https://")
        extra = [f"--web.config.file={web}"] if with_web_config else []
        code = cli.main([f"--config.file={config_file}", "--check-config", f"--web.listen-address={address}", *extra])
    finally:
        server.stop()
    assert code == 0
    assert capsys.readouterr().err.strip().startswith(f"warning: {address} is in use by a running messenger-insights-exporter")
