"""--check-api against the simulator, in-process through cli.main: all good, a bad token
(with and without app credentials), a retired metric, a throttled Page, a Page limit, an
unreachable API. Every run is checked for tokens in its output and for a bounded number of
requests.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest

from exporter import cli
from exporter.redact import Secret
from exporter.simulator import Scenario, Simulator
from tests.conftest import free_port

APP_ID = "918273645546372"
APP_SECRET = "7d1e0c9b8a7f6e5d4c3b2a1f0e9d8c7b"
ACME, BLUEBIRD = "6100000001", "6100000002"
TOKENS = {ACME: "EAAGcheckapiACME0a1b2c3d4e5f6a7b8c9d", BLUEBIRD: "EAAGcheckapiBLUE9f8e7d6c5b4a3f2e1d0c"}
NEW, BLOCKED, ORDERS = ("page_messages_new_conversations_unique", "page_messages_blocked_conversations_unique",
                        "page_messages_order_count")
SECRETS = (APP_SECRET, *TOKENS.values())


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """cli.main sets up the root logger; put it back for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(params=[True], ids=["with-app"])
def app(request: pytest.FixtureRequest) -> bool:
    """Whether the config has app credentials (and the app requires appsecret_proof)."""
    return bool(request.param)


@pytest.fixture
def simulator(app: bool) -> Iterator[Simulator]:
    # Each Page's own token, issued by the API: it knows them from the start.
    with Simulator(port=0, app_secret=APP_SECRET if app else None, page_tokens=TOKENS) as running:
        yield running


def write_config(tmp_path: Path, url: str, *, app: bool, extra_metric: str | None = None,
                 extra: str = "") -> Path:
    app_lines = f'\n  app_id: "{APP_ID}"\n  app_secret_env: CHECK_APP_SECRET' if app else ""
    metrics = [NEW, BLOCKED, ORDERS, *([extra_metric] if extra_metric else [])]
    path = tmp_path / "config.yaml"
    path.write_text(f"""
graph_api:
  base_url: {url}
  timeout: 5s
  max_retries: 0{app_lines}
pages:
  - {{id: "{ACME}", name: Acme Store, access_token_env: ACME_TOKEN}}
  - {{id: "{BLUEBIRD}", name: Bluebird Cafe, access_token_env: BLUEBIRD_TOKEN}}
{extra}
metrics:
""" + "".join(f"  - name: {name}\n" for name in metrics) + """
  - name: page_messages_new_conversations_unique
    period: week
""", encoding="utf-8")
    return path


def check_api(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
              *args: str, app: bool = True, extra: str = "") -> Run:
    monkeypatch.setenv("ACME_TOKEN", TOKENS[ACME])
    monkeypatch.setenv("BLUEBIRD_TOKEN", TOKENS[BLUEBIRD])
    monkeypatch.setenv("CHECK_APP_SECRET", APP_SECRET)
    config = write_config(tmp_path, url, app=app, extra=extra)
    code = cli.main([f"--config.file={config}", "--check-api", *args])
    captured = capsys.readouterr()
    for secret in SECRETS:
        assert secret not in captured.out + captured.err, "a secret in the output"
    return Run(code, captured.out, captured.err)


def row(out: str, start: str) -> str:
    """The table row starting with `start` (a Page id, or two spaces and a metric name)."""
    found = [line for line in out.splitlines() if line.startswith(start)]
    assert found, f"no row {start!r} in:\n{out}"
    return found[0]


def test_all_good_exits_0_with_every_page_and_metric_accepted_and_batches_equal(
    tmp_path: Path, simulator: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = check_api(tmp_path, simulator.url, monkeypatch, capsys)
    assert run.code == 0, run.out
    assert f"Graph API:    {simulator.url}  TLS: no  version asked: v24.0  answered: v24.0" in run.out
    for page in (ACME, BLUEBIRD):
        cells = row(run.out, page).split()
        assert cells[-5:] == ["OK", "valid", "never", "none", "equal"], row(run.out, page)
    assert row(run.out, f"  {NEW} ").split()[1:] == ["day", "accepted"]
    assert "All is well" in run.out
    assert "business_use_case 6100000001: call_count" in run.out  # the usage headers
    # Bounded: 2 tokens checked; per Page 2 GETs (the day and the week group); one batch of
    # all four operations, and one re-asking the first Page's two behind the other's token.
    assert simulator.request_count(kind="debug_token") == 2
    assert simulator.request_count(ACME, kind="insights") == simulator.request_count(BLUEBIRD, kind="insights") == 2
    assert simulator.request_count(kind="batch") == 4 + 1 + 2
    assert simulator.http_request_count() == 2 + 4 + 2


@pytest.mark.parametrize("app", [True, False], ids=["with-app", "without-app"], indirect=True)
def test_a_bad_token_exits_1_naming_the_page_the_error_and_the_fix(
    tmp_path: Path, simulator: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    app: bool,
) -> None:
    simulator.set_scenario(BLUEBIRD, Scenario("expired_token"))
    simulator.set_token_info(TOKENS[BLUEBIRD], is_valid=False, expires_at=1_700_000_000)
    run = check_api(tmp_path, simulator.url, monkeypatch, capsys, app=app)
    assert run.code == 1, run.out
    assert row(run.out, ACME).split()[3] == "OK"
    assert row(run.out, BLUEBIRD).split()[3:5] == ["FAIL", "INVALID"]
    assert row(run.out, f"  {NEW} ").split()[1:] == ["day", "accepted"]  # Acme's
    problem = next(line for line in run.out.splitlines() if line.startswith("error: Page 6100000002"))
    assert "(Bluebird Cafe): the access token is invalid: " in problem
    assert "expired" in problem.lower()
    fix = run.out.splitlines()[run.out.splitlines().index(problem) + 1]
    assert fix.startswith("  fix: get a new Page token") and "environment variable BLUEBIRD_TOKEN" in fix
    assert "1 problem(s) to fix" in run.out
    if app:  # /debug_token found it: no insights request was wasted on it
        assert simulator.request_count(BLUEBIRD) == 0
    else:
        assert simulator.request_count(BLUEBIRD) == 1, "asked again after a 190"
        assert "without graph_api.app_id and an app secret" in run.out


def test_a_retired_metric_is_rejected_by_name_and_the_others_accepted(
    tmp_path: Path, simulator: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator.set_scenario(ACME, Scenario("retired_metric", {"metrics": [BLOCKED]}))
    run = check_api(tmp_path, simulator.url, monkeypatch, capsys)
    assert run.code == 1, run.out
    lines = run.out.splitlines()
    acme = lines.index(row(run.out, ACME))
    verdicts = [line.split()[:3] for line in lines[acme + 1:acme + 5]]
    assert verdicts == [[NEW, "day", "accepted"], [BLOCKED, "day", "REJECTED"], [ORDERS, "day", "accepted"],
                        [NEW, "week", "accepted"]]
    assert row(run.out, ACME).split()[3] == "FAIL"
    assert row(run.out, BLUEBIRD).split()[3] == "OK"
    assert f"error: Page 6100000001 (Acme Store): the Graph API rejects {BLOCKED} (period day): (#100)" in run.out
    assert "fix: check the name's spelling; if Meta retired the metric, remove it" in run.out
    # The batch asks only for what was accepted, and agrees.
    assert row(run.out, ACME).split()[-1] == "equal"


def test_a_throttled_page_is_reported_as_throttled_and_not_asked_again(
    tmp_path: Path, simulator: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator.set_scenario(BLUEBIRD, Scenario("rate_limited", {"code": 80001, "minutes": 5}))
    run = check_api(tmp_path, simulator.url, monkeypatch, capsys)
    assert run.code == 1, run.out
    assert "THROTTLED until" in row(run.out, BLUEBIRD)
    assert row(run.out, ACME).split()[3] == "OK"
    assert simulator.request_count(BLUEBIRD) == 1, "a throttled Page was asked again"
    assert "rate limited: Meta asks for no requests until" in run.out
    assert "run --check-api again after that time" in run.out


def test_at_most_n_pages_are_checked(
    tmp_path: Path, simulator: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = check_api(tmp_path, simulator.url, monkeypatch, capsys, "--check-api.pages=1")
    assert run.code == 0, run.out
    assert "Pages:        1 of 2 checked (--check-api.pages=N checks more)" in run.out
    assert simulator.request_count(BLUEBIRD) == 0
    # One token only: the batch proves its format, and the output says so.
    assert "with one token, the batch's fallback token is that same token" in run.out


def test_an_unreachable_api_exits_1_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = check_api(tmp_path, f"http://127.0.0.1:{free_port()}", monkeypatch, capsys, app=False)
    assert run.code == 1, run.out
    assert "answered: none (no answer)" in run.out
    assert "request failed: network: connection refused" in run.out
    assert "fix: check graph_api.base_url and that this host can reach it" in run.out


def _body_token_form(operations: Sequence[tuple[str, dict[str, str], Secret]],
                     proof: Callable[[Secret], str | None]) -> dict[str, str]:
    """The defect issue 9 found: each GET operation's token in its `body`, which Meta does
    not read on a GET, so every operation runs with the top-level (first operation's) token."""
    def credentials(token: Secret) -> dict[str, str]:
        token_proof = proof(token)
        return {"access_token": token.reveal(), **({"appsecret_proof": token_proof} if token_proof else {})}

    batch = [{"method": "GET", "relative_url": f"{path}?{urlencode(params)}", "body": urlencode(credentials(token))}
             for path, params, token in operations]
    return {**credentials(operations[0][2]), "batch": json.dumps(batch), "include_headers": "true"}


def test_a_batch_that_does_not_authenticate_as_each_page_fails_every_page(
    tmp_path: Path, simulator: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("exporter.graph_client.batch_body",
                        lambda operations, proof: urlencode(_body_token_form(operations, proof)).encode())
    run = check_api(tmp_path, simulator.url, monkeypatch, capsys)
    assert run.code == 1, run.out
    # Bluebird's operations ran with Acme's token, and Acme's, asked again behind Bluebird's
    # operation, with Bluebird's: each fails, though both Pages' single GETs worked.
    for page in (ACME, BLUEBIRD):
        cells = row(run.out, page).split()
        assert cells[3:5] == ["FAIL", "valid"] and cells[-1] == "FAILED", row(run.out, page)
    assert run.out.count("inside a batch: failed: 190: ") == 2
    assert "fix: set graph_api.batch_size: 1 until it is fixed" in run.out


def test_discovered_pages_follow_the_configured_ones_up_to_the_limit(
    tmp_path: Path, simulator: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    user_token = "EAAGcheckapiUSER5a4b3c2d1e0f9a8b7c6d"
    monkeypatch.setenv("CHECK_USER_TOKEN", user_token)
    simulator.set_user_token(user_token)
    # Bluebird is configured and discovered: it is checked once, as configured.
    simulator.set_accounts([(BLUEBIRD, "Bluebird Cafe"), ("7100000001", "Shop One"), ("7100000002", "Shop Two")])
    run = check_api(tmp_path, simulator.url, monkeypatch, capsys, "--check-api.pages=3",
                    extra="discovery:\n  user_token_env: CHECK_USER_TOKEN")
    assert run.code == 0, run.out
    assert "Pages:        3 of 4 checked (--check-api.pages=N checks more)" in run.out
    assert row(run.out, "7100000001").startswith("7100000001 Shop One (discovered)")
    assert row(run.out, "7100000001").split()[4:9] == ["OK", "valid", "never", "none", "equal"]
    assert "7100000002" not in run.out
    assert [line.split()[0] for line in run.out.splitlines() if line[:1].isdigit()] == [
        ACME, BLUEBIRD, "7100000001"]
    assert simulator.request_count("7100000002") == 0
    assert user_token not in run.out and simulator.page_token_for("7100000001", user_token) not in run.out
