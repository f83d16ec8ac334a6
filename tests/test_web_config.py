"""--web.config.file: real TLS, real client certificates, real bcrypt hashes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import bcrypt
import pytest
import requests

from exporter.config import ConfigError
from exporter.simulator import Simulator
from exporter.web_config import load_web_config
from tests.conftest import RunningExporter, exporter_env, wait_until

# Every test here starts processes (the exporter, Prometheus, promtool or Chromium).
pytestmark = pytest.mark.e2e

TOKEN = "EAAB-canary-web-77aa01"
PASSWORD = "correct horse battery staple"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made by openssl."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "2", "-subj", "/CN=test-ca", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue.key", "-out", "rogue.crt",
            "-days", "2", "-subj", "/CN=rogue", cwd=d)
    # htpasswd -nBC 10 writes $2y$; bcrypt writes $2b$ for the same algorithm.
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode().replace("$2b$", "$2y$", 1)
    (d / "hash").write_text(hashed)
    return d


def start_with(start_exporter: Callable[..., RunningExporter], simulator: Simulator, tmp_path: Path,
               web_config: str) -> RunningExporter:
    web = tmp_path / "web.yml"
    web.write_text(web_config)
    config = f"graph_api: {{base_url: '{simulator.url}'}}\npages: [{{id: '1'}}]\n"
    simulator.set_page_token("1", TOKEN)
    return start_exporter(config, env=exporter_env(META_PAGE_TOKEN=TOKEN),
                          args=(f"--web.config.file={web}",), wait_ready=False)


def https(exporter: RunningExporter) -> str:
    return exporter.url.replace("http://", "https://")


def wait_listening(url: str, **kwargs: object) -> None:
    def up() -> bool:
        try:
            requests.get(url + "/-/healthy", timeout=2, **kwargs)  # type: ignore[arg-type]
        except requests.ConnectionError:
            return False
        return True

    wait_until(up, what="the TLS listener")


def test_tls_and_basic_auth(pki: Path, simulator: Simulator, tmp_path: Path,
                            start_exporter: Callable[..., RunningExporter]) -> None:
    exporter = start_with(start_exporter, simulator, tmp_path, f"""
tls_server_config:
  cert_file: {pki / 'server.crt'}
  key_file: {pki / 'server.key'}
basic_auth_users:
  prometheus: {(pki / 'hash').read_text()}
""")
    base = https(exporter)
    ca = str(pki / "ca.crt")
    wait_listening(base, verify=ca)
    for path in ("/metrics", "/-/healthy", "/-/ready", "/"):
        assert requests.get(base + path, verify=ca, timeout=5).status_code == 401
        wrong = requests.get(base + path, verify=ca, auth=("prometheus", "nope"), timeout=5)
        assert wrong.status_code == 401
        assert wrong.headers["WWW-Authenticate"] == 'Basic realm="messenger-insights-exporter"'
        assert requests.get(base + path, verify=ca, auth=("someone", PASSWORD), timeout=5).status_code == 401
    wait_until(lambda: requests.get(base + "/-/ready", verify=ca, auth=("prometheus", PASSWORD),
                                    timeout=5).status_code == 200, what="ready")
    good = requests.get(base + "/metrics", verify=ca, auth=("prometheus", PASSWORD), timeout=5)
    assert good.status_code == 200 and 'messenger_insights_up{page_id="1"} 1.0' in good.text
    with pytest.raises(requests.ConnectionError):
        requests.get(exporter.url + "/metrics", auth=("prometheus", PASSWORD), timeout=5)  # plain HTTP
    assert exporter.process.poll() is None
    assert PASSWORD not in exporter.logs() and TOKEN not in exporter.logs()


def test_client_certificates_required(pki: Path, simulator: Simulator, tmp_path: Path,
                                      start_exporter: Callable[..., RunningExporter]) -> None:
    exporter = start_with(start_exporter, simulator, tmp_path, f"""
tls_server_config:
  cert_file: {pki / 'server.crt'}
  key_file: {pki / 'server.key'}
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: {pki / 'ca.crt'}
  min_version: TLS13
""")
    base = https(exporter)
    ca = str(pki / "ca.crt")
    cert = (str(pki / "client.crt"), str(pki / "client.key"))
    wait_listening(base, verify=ca, cert=cert)
    assert requests.get(base + "/-/healthy", verify=ca, cert=cert, timeout=5).status_code == 200
    with pytest.raises((requests.ConnectionError, requests.exceptions.SSLError)):
        requests.get(base + "/-/healthy", verify=ca, timeout=5)
    rogue = (str(pki / "rogue.crt"), str(pki / "rogue.key"))  # not signed by the CA
    with pytest.raises((requests.ConnectionError, requests.exceptions.SSLError)):
        requests.get(base + "/-/healthy", verify=ca, cert=rogue, timeout=5)
    assert exporter.process.poll() is None


def test_web_config_problems_are_listed_in_file_order(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  prometheus: hunter2\ntls_server_config:\n  cert_file: /nope.crt\n"
                   "  key_file: /nope.key\n  http2: true\n")
    with pytest.raises(ConfigError) as caught:
        load_web_config(str(web))
    assert caught.value.problems == [
        f"{web}:2: basic_auth_users.prometheus: must be a bcrypt hash ($2y$..., as htpasswd -nBC 10 makes)",
        f"{web}:4: tls_server_config.cert_file: /nope.crt does not exist",
        f"{web}:5: tls_server_config.key_file: /nope.key does not exist",
        f"{web}:6: tls_server_config.http2: unknown or unsupported key",
    ]


@pytest.mark.parametrize(("web_config", "message"), [
    ("tls_server_config:\n  cert_file: /nope.crt\n  key_file: /nope.key\n",
     "web.yml:2: tls_server_config.cert_file: /nope.crt does not exist"),
    ("basic_auth_users:\n  prometheus: hunter2\n",
     "web.yml:2: basic_auth_users.prometheus: must be a bcrypt hash"),
    ("tls_server_confg: {}\n",
     "web.yml:1: tls_server_confg: unknown or unsupported key (did you mean tls_server_config?)"),
    ("tls_server_config:\n  cert_file: {crt}\n  key_file: {key}\n  client_auth_type: RequireAnyClientCert\n",
     "RequireAnyClientCert is not supported"),
    ("tls_server_config:\n  cert_file: {crt}\n  key_file: {crt}\n",
     "cannot load the certificate, key or CA"),
])
def test_bad_web_configs_exit_1_naming_the_problem(pki: Path, tmp_path: Path, web_config: str, message: str) -> None:
    web = tmp_path / "web.yml"
    web.write_text(web_config.replace("{crt}", str(pki / "server.crt")).replace("{key}", str(pki / "server.key")))
    config = tmp_path / "config.yaml"
    config.write_text("pages: [{id: '1'}]\n")
    result = subprocess.run(
        [sys.executable, "-m", "exporter", f"--config.file={config}", f"--web.config.file={web}",
         "--web.listen-address=127.0.0.1:0"],
        capture_output=True, text=True, timeout=60, check=False, env=exporter_env(META_PAGE_TOKEN=TOKEN))
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
