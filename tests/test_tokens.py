"""Tokens: appsecret_proof on every request, /debug_token checks and their metrics, app
secrets from the environment or a file, and a canary token and app secret that must show up
in no output whatever the Graph API does.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
import requests

from exporter.simulator import Scenario, Simulator
from tests.conftest import RunningExporter, Scrape, exporter_env, wait_until
from tests.faultkit import (
    BLOCKED,
    FAULTS,
    NEW,
    REDUCE_DATA,
    THROTTLED,
    Watch,
    assert_no_internal_error,
    assert_no_secret,
    config_file_of,
    errors_by_code,
    exporter_outputs,
    last_error_code,
    leaks,
    settle,
    up,
)
from tests.inprocess import run_cli

APP_ID = "918273645546372"
SECRET_ENV = "MIE_TEST_APP_SECRET"
SCOPES = ("pages_messaging", "pages_read_engagement", "pages_show_list", "read_insights")
DAY = 86_400


def token_config(url: str, pages: dict[str, str], *, secret: str | None = f"app_secret_env: {SECRET_ENV}",
                 timeout: str = "2s", retries: int = 0, concurrency: int = 4,
                 batch_size: int | None = None) -> str:
    """`pages`: Page id -> the environment variable holding its token."""
    listed = "\n".join(f'  - {{id: "{page}", access_token_env: {var}}}' for page, var in pages.items())
    secret_line = f"\n  {secret}" if secret else ""
    if batch_size is not None:
        secret_line += f"\n  batch_size: {batch_size}"
    return f"""
graph_api:
  base_url: {url}
  timeout: {timeout}
  max_retries: {retries}
  max_concurrency: {concurrency}
  app_id: "{APP_ID}"{secret_line}
refresh:
  interval: 1s
pages:
{listed}
metrics:
  - {NEW}
  - {BLOCKED}
"""


@pytest.fixture
def secret_simulator() -> Iterator[Callable[[str], Simulator]]:
    """Simulators of apps with "Require App Secret" on, each with the secret given."""
    started: list[Simulator] = []

    def start(app_secret: str) -> Simulator:
        simulator = Simulator(app_secret=app_secret)
        simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


def token_metric(scrape: Scrape, name: str, page: str) -> float | None:
    return scrape.get(f"messenger_insights_token_{name}", page_id=page)


# --- the token checks ----------------------------------------------------------------------

SECRET = "5e2d8c1a9f7b3e604d2c8a1f5b9e7d3c"
T_OK = "EAAGtokenOK7f3a1c9e5b2d8f4a6c0e"
T_OK_TWO = "EAAGtokenOKtwo4e8a2c6f0b3d9e1a"
T_INVALID = "EAAGtokenINVALID2b8e4d6f0a1c3e5"
T_EXPIRING = "EAAGtokenEXPIRING9c1e3a5b7d2f4"
T_SCOPES = "EAAGtokenSCOPES4d6f8a0c2e1b3d5"
TOKEN_ENV = {"TOKEN_OK": T_OK, "TOKEN_OK_TWO": T_OK_TWO, "TOKEN_INVALID": T_INVALID,
             "TOKEN_EXPIRING": T_EXPIRING, "TOKEN_SCOPES": T_SCOPES}
# Every Page its own token: a Page token reads no other Page's insights.
TOKEN_PAGES = {"4800000001": "TOKEN_OK", "4800000002": "TOKEN_OK_TWO", "4800000003": "TOKEN_INVALID",
               "4800000004": "TOKEN_EXPIRING", "4800000005": "TOKEN_SCOPES"}


@pytest.mark.e2e
def test_every_token_is_checked_once_at_start_and_its_state_exported(
    secret_simulator: Callable[[str], Simulator], start_exporter: Callable[..., RunningExporter]
) -> None:
    simulator = secret_simulator(SECRET)
    for page, variable in TOKEN_PAGES.items():  # as Meta knows every token it issued
        simulator.set_page_token(page, TOKEN_ENV[variable])
    now = int(time.time())
    simulator.set_token_info(T_OK, data_access_expires_at=now + 80 * DAY)
    simulator.set_token_info(T_OK_TWO, data_access_expires_at=now + 80 * DAY)
    simulator.set_token_info(T_INVALID, is_valid=False)
    simulator.set_token_info(T_EXPIRING, expires_at=now + 30 * DAY, data_access_expires_at=now + 60 * DAY)
    simulator.set_token_info(T_SCOPES, scopes=["pages_show_list", "public_profile"])
    exporter = start_exporter(token_config(simulator.url, TOKEN_PAGES),
                              env=exporter_env(**TOKEN_ENV, **{SECRET_ENV: SECRET}))
    watch = Watch(exporter, (SECRET, *TOKEN_ENV.values()))
    # token_valid comes from answers too; the expiry only from a check.
    scrape = watch.wait_for(
        lambda s: all(token_metric(s, "expiry_timestamp_seconds", p) is not None for p in TOKEN_PAGES),
        what="token metrics for every Page")
    ok, invalid, expiring, scoped = "4800000001", "4800000003", "4800000004", "4800000005"

    def missing(page: str) -> dict[str, float | None]:
        return {scope: scrape.get("messenger_insights_token_missing_scope", page_id=page, scope=scope)
                for scope in SCOPES}

    for page in TOKEN_PAGES:
        assert token_metric(scrape, "valid", page) == (0 if page == invalid else 1), page
    for page in ("4800000001", "4800000002"):
        assert token_metric(scrape, "expiry_timestamp_seconds", page) == 0  # never expires
        assert token_metric(scrape, "data_access_expiry_timestamp_seconds", page) == now + 80 * DAY
        assert missing(page) == dict.fromkeys(SCOPES, 0.0)
    assert token_metric(scrape, "expiry_timestamp_seconds", expiring) == now + 30 * DAY
    assert token_metric(scrape, "data_access_expiry_timestamp_seconds", expiring) == now + 60 * DAY
    assert missing(scoped) == {"pages_messaging": 1.0, "pages_read_engagement": 1.0,
                               "pages_show_list": 0.0, "read_insights": 1.0}
    assert missing(ok) == dict.fromkeys(SCOPES, 0.0)

    # Once per token at start, not per refresh.
    asked = simulator.request_count(kind="debug_token")
    seen = {page: simulator.request_count(page) for page in TOKEN_PAGES}
    wait_until(lambda: all(simulator.request_count(p) >= seen[p] + 2 for p in TOKEN_PAGES),
               what="two more refreshes of every Page")
    assert asked == simulator.request_count(kind="debug_token") == 5
    # The token checks do not stop the insights; the API refuses the invalid token's
    # insights too (190), as Meta refuses a token /debug_token calls invalid everywhere.
    latest = watch.scrape()
    assert {page: up(latest, page) for page in TOKEN_PAGES} == {
        page: 0 if page == invalid else 1 for page in TOKEN_PAGES}

    # Every request carried a correct appsecret_proof, and no token travelled in a URL.
    recorded = simulator.requests()
    insights = [r for r in recorded if r.kind in ("insights", "batch")]
    checks = [r for r in recorded if r.kind == "debug_token"]
    assert insights and len(checks) == 5
    assert [r for r in recorded if r.proof_ok is not True] == []
    assert [r for r in recorded if r.token_source == "query"] == [], "a token in a URL"
    watch.assert_healthy()
    assert_no_secret(exporter_outputs(exporter), (SECRET, *TOKEN_ENV.values()))


@pytest.mark.e2e
def test_a_wrong_app_secret_fails_requests_with_code_100_and_leaks_no_secret(
    secret_simulator: Callable[[str], Simulator], start_exporter: Callable[..., RunningExporter]
) -> None:
    simulator = secret_simulator(SECRET)
    wrong = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    pages = {"4810000001": "TOKEN_OK"}
    simulator.set_page_token("4810000001", T_OK)
    exporter = start_exporter(token_config(simulator.url, pages),
                              env=exporter_env(TOKEN_OK=T_OK, **{SECRET_ENV: wrong}))
    watch = Watch(exporter, (SECRET, wrong, T_OK))
    # Two refreshes and the token check, all refused.
    scrape = watch.wait_for(lambda s: (errors_by_code(s).get("100") or 0) >= 3
                            and simulator.http_request_count() >= 3,
                            what="requests refused with code 100")
    assert up(scrape, "4810000001") == 0
    assert last_error_code(exporter, "4810000001") == "100"
    # "Invalid appsecret_proof" is code 100 without a metric: an error, not a rejected metric.
    assert scrape.get("messenger_insights_metric_rejected", page_id="4810000001", metric=NEW) == 0
    assert token_metric(scrape, "valid", "4810000001") is None  # the check failed: nothing known
    assert all(r.proof_ok is False for r in simulator.requests())
    watch.assert_healthy()
    assert_no_secret(exporter_outputs(exporter), (SECRET, wrong, T_OK))


@pytest.mark.e2e
def test_the_app_secret_can_come_from_a_file(
    secret_simulator: Callable[[str], Simulator], start_exporter: Callable[..., RunningExporter],
    tmp_path: Path,
) -> None:
    simulator = secret_simulator(SECRET)
    # Known to the API from the start, as Meta knows every token it issued.
    simulator.set_page_token("4820000001", T_OK)
    secret_file = tmp_path / "app-secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    pages = {"4820000001": "TOKEN_OK"}
    exporter = start_exporter(token_config(simulator.url, pages, secret=f"app_secret_file: {secret_file}"),
                              env=exporter_env(TOKEN_OK=T_OK))
    watch = Watch(exporter, (SECRET, T_OK))
    scrape = watch.wait_for(lambda s: token_metric(s, "valid", "4820000001") == 1
                            and up(s, "4820000001") == 1, what="a checked token and values")
    assert not errors_by_code(scrape).get("100")
    recorded = simulator.requests()
    assert recorded and all(r.proof_ok is True for r in recorded)
    assert simulator.request_count(kind="debug_token") == 1
    watch.assert_healthy()
    assert_no_secret(exporter_outputs(exporter), (SECRET, T_OK))


@pytest.mark.parametrize("mode", ["daemon", "--check-config"])
def test_a_missing_app_secret_variable_is_a_startup_error_naming_it(tmp_path: Path, mode: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(token_config("http://127.0.0.1:9", {"4830000001": "TOKEN_OK"}), encoding="utf-8")
    env = exporter_env(TOKEN_OK=T_OK)
    env.pop(SECRET_ENV, None)
    args = ["--check-config"] if mode == "--check-config" else ["--web.listen-address=127.0.0.1:0"]
    done = run_cli(f"--config.file={config}", *args, env=env)
    assert done.returncode == 1
    assert f"environment variable {SECRET_ENV} is not set" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert T_OK not in done.stdout + done.stderr


# --- the canary --------------------------------------------------------------------------

# Shaped like real ones: Page tokens are letters and digits, app secrets 32 hex digits.
TOKEN_A, TOKEN_B, TOKEN_C = ("EAAGcanaryAq7W2e9R4t1Y8u3I6o0P5aZ", "EAAGcanaryBm3N8b5V2c7X4z9L1k6J0hQ",
                             "EAAGcanaryCf6G1h8J3k5L0q2W7e4R9tY")
CANARY_SECRET = "c4a7e1f09b3d5c8e2a6f4b1d9e7c3a05"
WRONG_SECRET = "d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4"
CANARY_SECRET_ENV = "CANARY_APP_SECRET"

ECHO = json.dumps({"error": {
    "message": (f"Invalid OAuth access token {TOKEN_A} (app secret {CANARY_SECRET}); see "
                f"https://graph.facebook.com/v24.0/me?access_token={TOKEN_B}&appsecret_proof=x "
                f"sent with Authorization: Bearer {TOKEN_C}"),
    "type": "OAuthException", "code": 190}})

# Limits that pause every Page of the app.
APP_WIDE = frozenset({"error_4", "error_17", "usage_app", "rate_limited_app"})
# Faults that spoil a whole batch answer (every operation in it fails alike).
SPOILERS = frozenset(fault.name for fault in FAULTS if fault.transport)
# Every scenario of the fault suite, each on a Page of its own, and the rest of the error
# table, the rate limits and every other scenario the simulator has. The trickle is quicker
# than in the fault suite (the whole answer in about 3s, still over the 1s timeout): here it
# must not hold up the scenarios around it, whatever the exporter does with it.
CANARY_SCENARIOS: dict[str, Scenario] = {
    **{fault.name: fault.scenario for fault in FAULTS},
    "trickle_slower_than_timeout": Scenario("trickle", {"bytes_per_second": 1000}),
    "error_100": Scenario("error", {"code": 100}),
    "error_4": Scenario("error", {"code": 4}),
    "error_17": Scenario("error", {"code": 17}),
    "error_32": Scenario("error", {"code": 32}),
    "error_613": Scenario("error", {"code": 613}),
    "error_80001": Scenario("error", {"code": 80001}),
    "error_1_reduce_data_500": Scenario("error", {"code": 1, "message": REDUCE_DATA, "status": 500}),
    "rate_limited_estimate": Scenario("rate_limited", {"code": 80001, "minutes": 1}),
    "rate_limited_app": Scenario("rate_limited", {"code": 4, "minutes": 0}),
    "usage_business_use_case": Scenario("usage", {"call_count": 95}),
    "usage_page": Scenario("usage", {"call_count": 95, "source": "page"}),
    "usage_app": Scenario("usage", {"call_count": 90, "source": "app"}),
    "usage_estimate": Scenario("usage", {"call_count": 10, "minutes": 2}),
    "transient_code_2": Scenario("transient", {"code": 2}),
    "invalid_token": Scenario("invalid_token"),
    "expired_token": Scenario("expired_token"),
    "permission_denied_10": Scenario("permission_denied", {"code": 10}),
    "permission_denied_200": Scenario("permission_denied", {"code": 200}),
    "retired_metric": Scenario("retired_metric", {"metrics": [NEW]}),
    "empty_data": Scenario("empty"),
    "empty_values": Scenario("empty", {"mode": "values"}),
    "unix_dialect": Scenario("unix_dialect"),
    "spike": Scenario("spike"),
    "batch_timeout": Scenario("batch_timeout"),
    "error_echoing_tokens": Scenario("body", {"status": 400, "body": ECHO}),
}
CANARY_PAGES = {name: str(4900000001 + index) for index, name in enumerate(CANARY_SCENARIOS)}
CANARY_CONTROL = "4900000000"


# Every Page its own token, as against Meta (a Page token reads no other Page); the first
# three are the ones the echoing answer quotes.
CANARY_TOKENS = {
    f"CANARY_TOKEN_{page}": (TOKEN_A, TOKEN_B, TOKEN_C)[index] if index < 3 else f"EAAGcanary{page}Pz4Kd7Wm2Xs9"
    for index, page in enumerate((CANARY_CONTROL, *CANARY_PAGES.values()))
}
CANARIES = (*CANARY_TOKENS.values(), CANARY_SECRET, WRONG_SECRET)


def canary_token_env(page: str) -> str:
    return f"CANARY_TOKEN_{page}"


def canary_config(url: str, *, batch_size: int | None = None, spoilers: bool = True) -> str:
    """Every scenario's Page, or those that leave a batch's other operations alone.

    batch_size 1: one request per Page, so that every scenario's answer gets read.
    """
    listed = [page for name, page in CANARY_PAGES.items() if spoilers or name not in SPOILERS]
    pages = {page: canary_token_env(page) for page in (CANARY_CONTROL, *listed)}
    return token_config(url, pages, secret=f"app_secret_env: {CANARY_SECRET_ENV}", timeout="1s",
                        retries=1, concurrency=16, batch_size=batch_size)


def bad_configs(good: str, url: str) -> dict[str, str]:
    """Configs a reload (or --check-config) refuses, whose problems quote a canary."""
    first_page = next(line for line in good.splitlines() if line.startswith("  - {id:"))
    return {
        "a token given as the variable name": good.replace(
            first_page, f'{first_page}\n  - {{id: "4999999991", access_token_env: {TOKEN_A}}}'),
        "a token in a token file's path": good.replace(
            first_page, f'{first_page}\n  - {{id: "4999999992", access_token_file: /nonexistent/{TOKEN_B}}}'),
        "a token in base_url": good.replace(
            f"base_url: {url}", f'base_url: "{url}/?access_token={TOKEN_C}"'),
        "a token as a Page id": good.replace(first_page, f'  - {{id: "{TOKEN_A}"}}'),
        "a token as a key": good + f"{TOKEN_B}: 1\n",
        "a secret as the secret's variable": good.replace(
            f"app_secret_env: {CANARY_SECRET_ENV}", f"app_secret_env: {CANARY_SECRET}"),
        "a token in broken YAML": good + f'defaults: {{access_token_env: "{TOKEN_C}"\n',
    }


# --check-config must scrub what it can know: tokens it has read (every Page's token is read
# even when another Page's is missing) and anything shaped like access_token=…. A token that
# only appears where no token belongs, in a config refused before any token is read, it
# cannot know; a reload can (the running exporter has read them).
KNOWABLE_AT_START = ("a token given as the variable name", "a token in a token file's path",
                     "a token in base_url")


@dataclass
class Run:
    """A --once or --check-config process, and what it printed."""

    name: str
    process: subprocess.Popen[str]
    stdout: str = ""
    stderr: str = ""
    finished: bool = False

    def collect(self, deadline: float) -> None:
        try:
            self.stdout, self.stderr = self.process.communicate(timeout=max(0.1, deadline - time.monotonic()))
            self.finished = True
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.stdout, self.stderr = self.process.communicate()


def start_run(name: str, config: Path, env: dict[str, str], *args: str) -> Run:
    command = [sys.executable, "-m", "exporter", f"--config.file={config}", "--log.level=debug", *args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return Run(name, process)


def attempted_everything(scrape: Scrape, pages: list[str]) -> bool:
    return all(scrape.get("messenger_insights_refresh_duration_seconds", page_id=page) is not None
               for page in pages)


def canary_simulator(start: Callable[[str], Simulator], *, app_wide: bool) -> Simulator:
    """A simulator with every canary scenario on (the app-wide limits only if asked)."""
    simulator = start(CANARY_SECRET)
    for page in (CANARY_CONTROL, *CANARY_PAGES.values()):  # every Page's token, issued
        simulator.set_page_token(page, CANARY_TOKENS[canary_token_env(page)])
    now = int(time.time())
    simulator.set_token_info(TOKEN_B, is_valid=False)
    simulator.set_token_info(TOKEN_C, expires_at=now + 3600, data_access_expires_at=now + 7200,
                             scopes=["read_insights"])
    for name, scenario in CANARY_SCENARIOS.items():
        if app_wide or name not in APP_WIDE:
            simulator.set_scenario(CANARY_PAGES[name], scenario)
    return simulator


def answered_everything(simulator: Simulator, daemon: RunningExporter, pages: list[str]) -> bool:
    """Every Page asked for, and the answer echoing the tokens read (and logged, scrubbed)."""
    return (all(simulator.request_count(page) for page in pages)
            and "Invalid OAuth access token [REDACTED]" in daemon.logs())


@pytest.mark.e2e
def test_canary_tokens_and_app_secret_appear_in_no_output(
    secret_simulator: Callable[[str], Simulator], start_exporter: Callable[..., RunningExporter],
    tmp_path: Path,
) -> None:
    env = exporter_env(**CANARY_TOKENS, **{CANARY_SECRET_ENV: CANARY_SECRET})
    all_pages = [CANARY_CONTROL, *CANARY_PAGES.values()]
    runs = _start_short_runs(secret_simulator, env, tmp_path)

    # The daemons ask one Page per request. An app-wide limit holds back every request after
    # it, so those limits come on once every other scenario has been answered.
    daemons: dict[str, tuple[Simulator, str, RunningExporter]] = {}
    for fmt in ("text", "json"):
        simulator = canary_simulator(secret_simulator, app_wide=False)
        good = canary_config(simulator.url, batch_size=1)
        daemons[fmt] = (simulator, good, start_exporter(good, env=env, args=(f"--log.format={fmt}",),
                                                        wait_ready=False))
    texts: dict[str, str] = {}
    settle_by = time.monotonic() + 20
    settled = {fmt: _exercise_daemon(fmt, daemon, all_pages=all_pages, settle_by=settle_by, texts=texts)
               for fmt, daemon in daemons.items()}
    for _, _, daemon in daemons.values():
        daemon.process.send_signal(signal.SIGTERM)
    for fmt, (_, _, daemon) in daemons.items():
        daemon.stop()
        texts[f"{fmt} daemon: log (stdout and stderr, debug)"] = daemon.logs()
    deadline = time.monotonic() + 20
    for run in runs:
        run.collect(deadline)
        texts[f"{run.name}: stdout"] = run.stdout
        texts[f"{run.name}: stderr"] = run.stderr

    # First: no canary anywhere.
    found = leaks(texts, CANARIES)
    assert not found, "canaries leaked:\n" + "\n".join(found)
    # Then: the runs were real, so that "nowhere" means something.
    _assert_the_runs_were_real(texts, runs, list(daemons))
    assert all(settled.values()), (
        f"not every scenario answered, every Page refreshed and the app paused within 20s: {settled}")


def _start_short_runs(secret_simulator: Callable[[str], Simulator], env: dict[str, str], tmp_path: Path) -> list[Run]:
    """--once and --check-config runs, alongside the daemons; --once batches its requests, so
    every operation of a batch is answered before the app-wide limits can hold any back."""
    wrong_env = {**env, CANARY_SECRET_ENV: WRONG_SECRET}
    once = canary_simulator(secret_simulator, app_wide=True)
    batched, batched_quiet = tmp_path / "batched.yaml", tmp_path / "batched-no-spoilers.yaml"
    batched.write_text(canary_config(once.url), encoding="utf-8")
    batched_quiet.write_text(canary_config(once.url, spoilers=False), encoding="utf-8")
    runs = [
        start_run("--once (text logs, batched)", batched, env, "--once"),
        start_run("--once (json logs, batched, no batch spoilers)", batched_quiet, env, "--once",
                  "--log.format=json"),
        start_run("--once with a wrong app secret", batched_quiet, wrong_env, "--once"),
    ]
    for fmt in ("text", "json"):
        runs.append(start_run(f"--check-config ({fmt} logs)", batched, env, "--check-config",
                              f"--log.format={fmt}"))
    for name, text in bad_configs(canary_config(once.url), once.url).items():
        if name in KNOWABLE_AT_START:
            path = tmp_path / f"bad-{len(runs)}.yaml"
            path.write_text(text, encoding="utf-8")
            runs.append(start_run(f"--check-config of {name}", path, env, "--check-config"))
    return runs


def _exercise_daemon(
    fmt: str, started: tuple[Simulator, str, RunningExporter], *, all_pages: list[str],
    settle_by: float, texts: dict[str, str],
) -> bool:
    """Every scenario answered, then the app-wide limits, then refused reloads and a SIGHUP;
    the daemon's outputs go into texts. True when it all settled in time."""
    simulator, good, daemon = started
    wait_until(partial(_serving, daemon), what=f"the {fmt} daemon serving")
    answered = settle(partial(answered_everything, simulator, daemon, all_pages),
                      settle_by - time.monotonic())
    for name in APP_WIDE:
        simulator.set_scenario(CANARY_PAGES[name], CANARY_SCENARIOS[name])
    paused, _ = Watch(daemon).poll(
        lambda s: attempted_everything(s, all_pages)
        and s.get("messenger_insights_token_expiry_timestamp_seconds", page_id=CANARY_CONTROL) is not None
        and (s.get(THROTTLED, page_id="") or 0) > time.time(),
        timeout=settle_by - time.monotonic())
    for name, text in bad_configs(good, simulator.url).items():
        config_file_of(daemon).write_text(text, encoding="utf-8")
        answer = requests.post(daemon.url + "/-/reload", timeout=10)
        texts[f"{fmt} daemon: /-/reload answer for {name}"] = f"{answer.status_code} {answer.text}"
    config_file_of(daemon).write_text(good, encoding="utf-8")
    daemon.process.send_signal(signal.SIGHUP)  # a reload through the signal, logged
    texts |= {f"{fmt} daemon: {where}": text
              for where, text in exporter_outputs(daemon, with_log=False).items()}
    return answered and paused


def _assert_the_runs_were_real(texts: dict[str, str], runs: list[Run], formats: list[str]) -> None:
    for where, text in texts.items():
        if "log" in where or "stderr" in where:
            try:
                assert_no_internal_error(text)
            except AssertionError as exc:
                raise AssertionError(f"{where}: {exc}") from None
    echo_read = {where: "Invalid OAuth access token [REDACTED]" in text for where, text in texts.items()
                 if where.endswith("daemon: log (stdout and stderr, debug)")
                 or where == "--once (json logs, batched, no batch spoilers): stderr"}
    assert all(echo_read.values()), f"the answer echoing the tokens was not read everywhere: {echo_read}"
    for fmt in formats:
        log = texts[f"{fmt} daemon: log (stdout and stderr, debug)"]
        assert "config reload failed" in log, f"{fmt}: reload failures are logged"
        if fmt == "json":
            assert all(json.loads(line).get("msg") for line in log.splitlines() if line.startswith("{"))
    refused = {where: text for where, text in texts.items() if "/-/reload answer" in where}
    assert all(text.startswith("500 ") for text in refused.values()), refused
    assert "OK:" in texts["--check-config (text logs): stdout"]
    assert "# TYPE messenger_insights_up gauge" in texts["--once (text logs, batched): stdout"]
    for run in runs:
        if run.name.startswith("--check-config of"):
            assert run.process.returncode == 1, run.name
    unfinished = [run.name for run in runs if not run.finished]
    assert not unfinished, f"did not finish within 20s (a fault held them): {unfinished}"


def _serving(exporter: RunningExporter) -> bool:
    if exporter.process.poll() is not None:
        raise AssertionError(f"the exporter exited:\n{exporter.logs()[-3000:]}")
    try:
        return requests.get(exporter.url + "/-/healthy", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False
