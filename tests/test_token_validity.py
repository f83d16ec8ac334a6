"""Token validity from every answer: error 190 sets messenger_insights_token_valid to 0 within
one refresh, with or without app credentials; a good answer sets 1; with app credentials a
190 asks for a /debug_token re-check, rate limited per token. In-process, against
Simulator(port=0); the clocks are injected where the rate limit is concerned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from exporter.app import Exporter
from exporter.changes import Changes
from exporter.config import load_text
from exporter.redact import Secret
from exporter.runtime import Settings
from exporter.scheduler import TOKEN_RECHECK_JOB, RefreshScheduler
from exporter.simulator import Scenario, Simulator
from exporter.token_validity import (
    RECHECK_MIN_SECONDS,
    RECHECK_POLL_SECONDS,
    Evidence,
    TokenAnswers,
    token_valid,
)
from tests.conftest import RunningExporter, Scrape, exporter_env, wait_until

APP_ID = "918273645546372"
APP_SECRET = "0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"
GOOD, BAD, OTHER = "5100000001", "5100000002", "5100000003"
# One Page token per Page: Meta's Page tokens read their own Page only.
TOKENS = {GOOD: "EAAGvalidityGOOD1a2b3c4d5e6f7a8b9", BAD: "EAAGvalidityBAD9f8e7d6c5b4a3f2e1",
          OTHER: "EAAGvalidityOTHER5e6f7a8b9c0d1e2"}


class Clock:
    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    # Each Page's own token, issued by the API: it knows them from the start.
    with Simulator(port=0, app_secret=APP_SECRET, page_tokens=TOKENS) as running:
        yield running


def settings(url: str, *, app_credentials: bool) -> Settings:
    app = f'\n  app_id: "{APP_ID}"\n  app_secret_env: SOME_SECRET' if app_credentials else ""
    pages = "\n".join(f'  - {{id: "{page}", access_token_env: T{page}}}' for page in TOKENS)
    config = load_text(f"""
graph_api:
  base_url: {url}
  timeout: 5s
  max_retries: 0{app}
refresh:
  interval: 1m
pages:
{pages}
metrics:
  - name: page_messages_new_conversations_unique
""")
    return Settings(config, {page: Secret(token) for page, token in TOKENS.items()},
                    Secret(APP_SECRET))


def scrape(exporter: Exporter) -> Scrape:
    return Scrape.parse(b"".join(exporter.metrics_body(openmetrics=False, compress=False)).decode())


def valid(exporter: Exporter) -> dict[str, float | None]:
    metrics = scrape(exporter)
    return {page: metrics.get("messenger_insights_token_valid", page_id=page) for page in TOKENS}


# --- the rule ------------------------------------------------------------------------------

def test_the_newer_of_answer_and_check_decides_but_an_answer_never_overrules_an_invalid_check() -> None:
    ok, bad = True, False
    assert token_valid(None, None) is None
    assert token_valid(Evidence(ok, 10), None) is True
    assert token_valid(Evidence(bad, 10), None) is False
    assert token_valid(None, Evidence(bad, 10)) is False
    assert token_valid(Evidence(bad, 20), Evidence(ok, 10)) is False  # a 190 after a good check
    assert token_valid(Evidence(bad, 10), Evidence(ok, 20)) is True  # the re-check found it fine
    assert token_valid(Evidence(ok, 20), Evidence(bad, 10)) is False  # the check stands
    assert token_valid(Evidence(ok, 20), Evidence(ok, 10)) is True


def test_a_190_asks_for_one_recheck_per_token_and_then_none_for_the_rate_limit_interval() -> None:
    clock = Clock()
    changes = Changes()
    answers = TokenAnswers(changes, clock)
    token, other = Secret("EAAGtokenA"), Secret("EAAGtokenB")
    answers.record([("1", token, False), ("2", token, False)], recheck=True)
    answers.record([("3", other, True)], recheck=True)
    assert answers.take_rechecks() == {token}
    assert answers.take_rechecks() == set()
    clock.now += RECHECK_MIN_SECONDS - 1
    answers.record([("1", token, False)], recheck=True)
    assert answers.take_rechecks() == set(), "re-checked again within the rate limit"
    clock.now += 1
    answers.record([("1", token, False)], recheck=True)
    assert answers.take_rechecks() == {token}
    # Without app credentials nothing is queued.
    clock.now += RECHECK_MIN_SECONDS
    answers.record([("1", token, False)], recheck=False)
    assert answers.take_rechecks() == set()


def test_answers_about_a_token_a_page_no_longer_uses_are_forgotten() -> None:
    changes = Changes()
    answers = TokenAnswers(changes, Clock())
    answers.record([("1", Secret("EAAGold-token"), False), ("2", Secret("EAAGkept"), True)], recheck=True)
    before = changes.version
    answers.keep_only({"1": Secret("EAAGnew-token"), "2": Secret("EAAGkept")})
    assert set(answers.answers()) == {"2"}
    assert answers.take_rechecks() == set()
    assert changes.version > before


# --- through the exporter -----------------------------------------------------------------

@pytest.mark.parametrize("app_credentials", [False, True], ids=["without-app", "with-app"])
def test_190_flips_token_valid_to_0_within_one_refresh_and_a_good_answer_sets_1(
    simulator: Simulator, *, app_credentials: bool
) -> None:
    exporter = Exporter(settings(simulator.url, app_credentials=app_credentials))
    if app_credentials:
        exporter.check_tokens()
    exporter.refresh_pages(list(TOKENS))
    assert valid(exporter) == dict.fromkeys(TOKENS, 1.0)

    simulator.set_scenario(BAD, Scenario("invalid_token"))
    exporter.refresh_pages([BAD])
    assert valid(exporter) == {GOOD: 1.0, BAD: 0.0, OTHER: 1.0}

    simulator.clear_scenario(BAD)
    if app_credentials:
        # The re-check the 190 asked for: /debug_token still calls the token valid.
        exporter.recheck_tokens()
    exporter.refresh_pages([BAD])
    assert valid(exporter) == dict.fromkeys(TOKENS, 1.0)


def test_without_app_credentials_token_valid_is_exported_for_every_page_and_nothing_else(
    simulator: Simulator,
) -> None:
    exporter = Exporter(settings(simulator.url, app_credentials=False))
    assert valid(exporter) == dict.fromkeys(TOKENS, None), "no answer yet: no claim either way"
    simulator.set_scenario(BAD, Scenario("expired_token"))
    exporter.refresh_pages(list(TOKENS))
    metrics = scrape(exporter)
    assert valid(exporter) == {GOOD: 1.0, BAD: 0.0, OTHER: 1.0}
    assert metrics.series("messenger_insights_token_expiry_timestamp_seconds") == {}
    assert metrics.series("messenger_insights_token_missing_scope") == {}
    assert simulator.request_count(kind="debug_token") == 0
    exporter.recheck_tokens()
    assert simulator.request_count(kind="debug_token") == 0


def test_with_app_credentials_a_190_is_rechecked_once_and_the_check_decides(simulator: Simulator) -> None:
    exporter = Exporter(settings(simulator.url, app_credentials=True))
    clock = Clock(time.time())
    checker = exporter.runtime.token_checker
    assert checker is not None
    exporter.token_answers.clock = checker.clock = clock
    exporter.check_tokens()
    clock.now += 1
    checks = simulator.request_count(kind="debug_token")
    assert checks == len(TOKENS)

    # The token goes bad while running: insights answer 190, /debug_token says invalid.
    simulator.set_scenario(BAD, Scenario("invalid_token"))
    simulator.set_token_info(TOKENS[BAD], is_valid=False)
    exporter.refresh_pages(list(TOKENS))
    assert valid(exporter) == {GOOD: 1.0, BAD: 0.0, OTHER: 1.0}
    clock.now += 1
    exporter.recheck_tokens()
    assert simulator.request_count(kind="debug_token") == checks + 1, "one re-check, of that token only"
    assert valid(exporter) == {GOOD: 1.0, BAD: 0.0, OTHER: 1.0}
    assert checker.statuses()[BAD].valid is False

    # It keeps failing every refresh: no further re-check until the rate limit allows one.
    for _ in range(3):
        exporter.refresh_pages([BAD])
        exporter.recheck_tokens()
    assert simulator.request_count(kind="debug_token") == checks + 1
    clock.now += RECHECK_MIN_SECONDS
    exporter.refresh_pages([BAD])
    exporter.recheck_tokens()
    assert simulator.request_count(kind="debug_token") == checks + 2

    # A good answer does not overrule the check that found the token invalid.
    simulator.clear_scenario(BAD)
    clock.now += 1
    exporter.refresh_pages([BAD])
    assert valid(exporter)[BAD] == 0.0


def test_the_scheduler_runs_rechecks_well_within_a_minute_only_with_app_credentials(
    simulator: Simulator,
) -> None:
    for app_credentials in (False, True):
        exporter = Exporter(settings(simulator.url, app_credentials=app_credentials))
        scheduler = RefreshScheduler(exporter)
        scheduler.scheduler.start(paused=True)
        try:
            scheduler.reconcile()
            job = scheduler.scheduler.get_job(TOKEN_RECHECK_JOB)
            if not app_credentials:
                assert job is None
                continue
            assert job is not None
            assert job.trigger.interval.total_seconds() <= 30
        finally:
            scheduler.shutdown()


# --- a running exporter process ---------------------------------------------------------

@pytest.mark.e2e
def test_a_token_going_bad_while_running_flips_within_a_refresh_and_is_rechecked_once(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    """The scheduler's wiring: refreshes every second, the re-check job every 20 s."""
    pages = "\n".join(f'  - {{id: "{page}", access_token_env: T{page}}}' for page in TOKENS)
    config = f"""
graph_api:
  base_url: {simulator.url}
  timeout: 5s
  max_retries: 0
  app_id: "{APP_ID}"
  app_secret_env: APP_SECRET_FOR_TEST
refresh:
  interval: 1s
pages:
{pages}
metrics:
  - name: page_messages_new_conversations_unique
"""
    env = exporter_env(APP_SECRET_FOR_TEST=APP_SECRET, **{f"T{page}": token for page, token in TOKENS.items()})
    exporter = start_exporter(config, env=env)
    exporter.wait_for(lambda s: all(s.get("messenger_insights_token_expiry_timestamp_seconds", page_id=p)
                                    is not None for p in TOKENS), what="every token checked")
    checks = simulator.request_count(kind="debug_token")

    simulator.set_token_info(TOKENS[BAD], is_valid=False)
    simulator.set_scenario(BAD, Scenario("invalid_token"))
    asked = simulator.request_count(BAD)
    scrape = exporter.wait_for(lambda s: s.get("messenger_insights_token_valid", page_id=BAD) == 0,
                               timeout=10, what="token_valid 0")
    assert simulator.request_count(BAD) <= asked + 3, "more than a refresh or so to notice"
    assert scrape.get("messenger_insights_token_valid", page_id=GOOD) == 1
    wait_until(lambda: simulator.request_count(kind="debug_token") > checks, timeout=RECHECK_POLL_SECONDS + 10,
               what="the re-check")
    # The token keeps failing every second; the rate limit allows no second re-check.
    failing = simulator.request_count(BAD)
    wait_until(lambda: simulator.request_count(BAD) >= failing + 3, what="three more failing refreshes")
    assert simulator.request_count(kind="debug_token") == checks + 1
    assert exporter.scrape().get("messenger_insights_token_valid", page_id=BAD) == 0
