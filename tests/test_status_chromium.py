"""The status page in headless Chromium: it renders (a screenshot), every state shows in the
DOM after the page's own script ran, and auto-refresh works behind TLS and basic auth.

`--dump-dom` prints the DOM after load (and after --virtual-time-budget of timers): no
driver needed. Chromium comes from .ci/ensure-chromium, which `make test` runs first.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from exporter.http_server import Endpoint, HttpServer
from exporter.simulator import Scenario, Simulator
from tests import status_fixtures as fx
from tests.conftest import (
    RunningExporter,
    exporter_env,
    free_port,
    own_tokens,
    stop_process,
    token_env,
    wait_until,
)
from tests.dom import Node, parse
from tests.test_status_page import FixedStatus, NoView, rows
from tests.test_web_config import PASSWORD, pki  # noqa: F401 - the certificates fixture

# Every test here starts processes (the exporter, Prometheus, promtool or Chromium).
pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
CANARY = "EAAB-status-live-canary-3d7e"
RELATIVE = re.compile(r"^(now|in \d+ (s|min|h|d)|\d+ (s|min|h|d) ago)$")


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("`chromium` is not on PATH. The status page tests run headless Chromium. Run "
                    ".ci/ensure-chromium (as root on Debian or Ubuntu it installs the `chromium` "
                    "package; `make test` runs it first).", pytrace=False)
    return path


def chromium(tmp_path: Path, url: str, *extra: str) -> str:
    """Chromium's stdout for the URL, with a fresh profile and no background traffic."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [chromium_path(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={profile}", *extra, url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def dump_dom(tmp_path: Path, url: str, *extra: str) -> Node:
    return parse(chromium(tmp_path, url, "--dump-dom", *extra))


@pytest.fixture
def every_state_url() -> Iterator[str]:
    endpoint = Endpoint(NoView(), lambda: None, FixedStatus(fx.every_state()))  # type: ignore[arg-type]
    server = HttpServer("127.0.0.1:0", endpoint)
    server.start()
    yield server.url
    server.stop()


def test_every_state_in_the_browser_dom(tmp_path: Path, every_state_url: str) -> None:
    page = dump_dom(tmp_path, every_state_url + "/", "--virtual-time-budget=6000")
    shown = rows(page)
    assert {p: r.attrs["data-state"] for p, r in shown.items()} == {
        fx.FAILING_ID: "failing", fx.REVOKED_ID: "failing", fx.STALE_ID: "stale", fx.HELD_ID: "held",
        fx.PENDING_ID: "pending", fx.UP_ID: "up", fx.RECOVERED_ID: "up", fx.EXPIRING_ID: "up"}
    for row in shown.values():
        assert row.one("span", "badge").text() == row.attrs["data-state"]
    held = shown[fx.HELD_ID].one("span", "until")
    assert held.text().startswith("by rate limits until 14:16:20 UTC (in ")
    # The page's script rewrote every relative time against the server's clock.
    for time in page.find_all("time"):
        assert RELATIVE.match(time.text()), time.text()
        assert time.attrs["title"].endswith(" UTC")
    assert shown[fx.UP_ID].one("td", "last-success").text() in tuple(f"{n} s ago" for n in range(12, 20))
    assert shown[fx.PENDING_ID].one("td", "last-success").text() == "never"
    tokens = {p: (r.one("span", "token").text(), r.one("span", "token").classes) for p, r in shown.items()}
    assert tokens[fx.UP_ID] == ("valid", {"token", "valid"})
    assert tokens[fx.EXPIRING_ID] == ("expiring in 3 days", {"token", "expiring"})
    assert tokens[fx.REVOKED_ID] == ("invalid", {"token", "invalid"})
    assert tokens[fx.PENDING_ID] == ("not checked yet", {"token", "unchecked"})
    assert shown[fx.FAILING_ID].one("div", "error").text().startswith("network connection refused at 127.0.0.1:9")
    recovered = shown[fx.RECOVERED_ID]
    assert recovered.find_all(css="error") == []
    assert recovered.one("div", "recovered").text().startswith("recovered; last error 1 unknown error token=[REDACTED]")
    assert page.one(id="demo-banner").text().startswith("Demo.")
    assert page.one(id="summary-shard").text() == "1 of 3"
    assert page.one(id="summary-graph-api").text() == "http://127.0.0.1:9, version v24.0"
    assert page.one(id="summary-api-usage-high-water-mark").text().startswith("87% (call_count, app), ")
    assert "last reload failed" in page.one(id="summary-config").text()
    counts = {a.attrs["data-filter"]: a.text() for a in page.one(id="counts").find_all("a")}
    assert counts["failing"] == "Failing 4" and counts["held"] == "Held 1" and counts["stale"] == "Stale 1"
    # The poll found nothing new (the same generation): no swap, and it says it is live.
    assert page.one("body").attrs.get("data-refreshes") is None
    assert page.one(id="live").text().startswith("Updates itself every 5 s; last checked ")
    assert fx.SECRET not in chromium(tmp_path, every_state_url + "/", "--dump-dom")


def test_filter_and_paging_links_in_the_browser(tmp_path: Path, every_state_url: str) -> None:
    failing = dump_dom(tmp_path, every_state_url + "/?show=failing&limit=2")
    assert list(rows(failing)) == [fx.FAILING_ID, fx.REVOKED_ID]
    assert failing.one(id="range").text() == "Pages 1 to 2 of 4"
    assert failing.one("a", css="chosen").attrs["data-filter"] == "failing"
    following = failing.one("a", rel="next").attrs["href"]
    second = dump_dom(tmp_path, every_state_url + "/" + following)
    assert list(rows(second)) == [fx.STALE_ID, fx.HELD_ID]


def test_screenshot_shows_the_page(tmp_path: Path, every_state_url: str) -> None:
    shot = tmp_path / "status-page.png"
    chromium(tmp_path, every_state_url + "/", f"--screenshot={shot}", "--window-size=1400,900",
             "--hide-scrollbars")
    width, height, colours = png_summary(shot.read_bytes())
    assert (width, height) == (1400, 900)
    # A blank or error page has a handful of colours; the table, badges and text have many.
    assert colours > 200, colours
    print(f"status page screenshot: {shot}")  # for a look by eye


def png_summary(data: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct pixels in the first rows of an RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat = 8, b""
    width = height = channels = 0
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        chunk = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        position += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    # Filtered scanlines: distinct byte runs still tell a blank page from a drawn one.
    pixels = {raw[i:i + channels] for row in range(min(height, 600))
              for i in range(row * stride + 1, row * stride + stride, channels)}
    return width, height, len(pixels)


def test_demo_behind_tls_and_basic_auth_refreshes_itself(tmp_path: Path, pki: Path) -> None:  # noqa: F811
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {pki / 'server.crt'}\n  key_file: {pki / 'server.key'}\n"
                   f"basic_auth_users:\n  prometheus: {(pki / 'hash').read_text()}\n")
    port = free_port()
    log = (tmp_path / "demo.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "exporter", "--demo", f"--web.config.file={web}",
                                f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT,
                               text=True)
    try:
        base = f"https://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return requests.get(base + "/-/ready", verify=str(pki / "ca.crt"), auth=("prometheus", PASSWORD),
                                    timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(ready, 60, "the demo to be ready")
        # Over a minute of virtual time: the script polls status.json and fetches the page again
        # (at the latest after a minute), with the credentials the browser was given.
        page = dump_dom(tmp_path, f"https://prometheus:{PASSWORD.replace(' ', '%20')}@127.0.0.1:{port}/",
                        "--ignore-certificate-errors", "--virtual-time-budget=70000")
        assert int(page.one("body").attrs.get("data-refreshes", "0")) >= 1, page.one(id="live").text()
        assert page.one(id="live").text().startswith("Updates itself every 5 s; last checked ")
        assert page.one(id="demo-banner").text().startswith("Demo.")
        assert {r.attrs["data-state"] for r in rows(page).values()} == {"up"}
        assert {r.one("span", "token").text() for r in rows(page).values()} == {"valid"}
        assert len(rows(page)) == 3
        assert "demo-token-" not in chromium(tmp_path, f"https://prometheus:x@127.0.0.1:{port}/",
                                             "--ignore-certificate-errors", "--dump-dom")
    finally:
        stop_process(process)
        log.close()


def test_a_live_exporters_failing_and_held_pages_in_the_browser(
    tmp_path: Path, simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    """The page reads the state the running exporter keeps: a token Meta refuses, a Page the
    governor holds after a rate-limit error, and a good one, as a real refresh left them."""
    good, refused, limited = "4950000001", "4950000002", "4950000003"
    pages = [good, refused, limited]
    simulator.set_scenario(refused, Scenario("invalid_token"))
    simulator.set_scenario(limited, Scenario("rate_limited", {"code": 80001, "minutes": 5}))
    entries = "".join(f"  - {{id: '{page}', access_token_env: {token_env(page)}}}\n" for page in pages)
    exporter = start_exporter(
        f"graph_api: {{base_url: '{simulator.url}', max_retries: 0}}\nrefresh: {{interval: 1h}}\n"
        f"pages:\n{entries}",
        env=exporter_env(**own_tokens(CANARY, pages, simulator)))
    text = chromium(tmp_path, exporter.url + "/", "--dump-dom")
    assert CANARY not in text
    shown = rows(parse(text))
    assert {p: r.attrs["data-state"] for p, r in shown.items()} == {
        good: "up", refused: "failing", limited: "held"}
    assert shown[refused].one("span", "token").text() == "invalid"
    assert shown[refused].one("span", "token").attrs["title"] == (
        f"the Graph API refused it (error 190); token from environment variable {token_env(refused)}")
    error = shown[refused].one("div", "error")
    assert error.one("code").text() == "190"
    assert error.one("span", "message").attrs["title"].endswith(
        f"; the Page token from environment variable {token_env(refused)} no longer works: get a new one "
        '(README.md, "Real setup", step 1 "Get a Page access token"), then restart the exporter with '
        "the new value")
    assert shown[limited].one("span", "until").text().startswith("by rate limits until ")
    assert shown[limited].one("div", "error").one("code").text() == "80001"
    assert shown[good].one("td", "errors").text() == ""
    assert shown[good].one("td", "next-due").text().startswith("in ")


def test_ensure_chromium_script_runs_before_the_tests() -> None:
    script = ROOT / ".ci" / "ensure-chromium"
    assert script.stat().st_mode & 0o111
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    makefile = (ROOT / "Makefile").read_text()
    assert "\t$(MAKE) --no-print-directory test-e2e" in recipe(makefile, "test")
    steps = recipe(makefile, "test-e2e")
    assert "\t.ci/ensure-chromium" in steps
    assert steps.index("\t.ci/ensure-chromium") < next(i for i, s in enumerate(steps) if "pytest" in s)


def recipe(makefile: str, target: str) -> list[str]:
    found = re.search(rf"^{re.escape(target)}:.*\n((?:\t.+\n)+)", makefile, re.MULTILINE)
    assert found is not None, f"no {target} target"
    return found.group(1).splitlines()
