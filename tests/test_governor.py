"""The rate-limit governor's rules, on a clock the test moves."""

from __future__ import annotations

from exporter.governor import MIN_PAUSE_SECONDS, RateLimitGovernor
from exporter.usage import UsageReport


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def governor() -> tuple[RateLimitGovernor, Clock]:
    clock = Clock()
    return RateLimitGovernor(0.9, clock=clock), clock


def bucu(scope: str, percent: float, regain: float = 0.0) -> UsageReport:
    return UsageReport("business_use_case", scope, {"call_count": percent}, regain)


def test_usage_below_the_limit_pauses_nothing() -> None:
    gov, _ = governor()
    gov.observe([bucu("1", 89), UsageReport("app", "", {"total_time": 50})], "1")
    assert gov.blocked_until("1") is None


def test_usage_at_the_limit_pauses_that_page_for_at_least_a_minute() -> None:
    gov, clock = governor()
    gov.observe([bucu("1", 90)], "1")
    assert gov.blocked_until("1") == clock.now + MIN_PAUSE_SECONDS
    assert gov.pages_on_hold(["1", "2"]) == {"1": clock.now + MIN_PAUSE_SECONDS}
    assert gov.blocked_until("2") is None  # other Pages go on
    assert gov.app_paused_until() == 0
    clock.now += MIN_PAUSE_SECONDS + 1
    assert gov.blocked_until("1") is None


def test_estimated_time_to_regain_access_sets_the_pause() -> None:
    gov, clock = governor()
    gov.observe([bucu("1", 10, regain=7)], "1")
    assert gov.blocked_until("1") == clock.now + 7 * 60


def test_app_usage_and_app_wide_errors_pause_everything() -> None:
    gov, clock = governor()
    gov.observe([UsageReport("app", "", {"call_count": 95})], "1")
    assert gov.blocked_until("1") == gov.blocked_until("2") == clock.now + 60
    assert gov.app_paused_until() == clock.now + 60
    assert gov.pages_on_hold(["2"]) == {}  # the Pages' own pauses; the app's is reported apart
    other, clock2 = governor()
    other.observe([], "5", 17)
    assert other.blocked_until("6") == clock2.now + 60


def test_page_rate_limit_errors_pause_the_page_and_grow_with_repeated_hits() -> None:
    gov, clock = governor()
    pauses = []
    for _ in range(8):
        gov.observe([], "1", 80001)
        until = gov.blocked_until("1")
        assert until is not None
        pauses.append(until - clock.now)
        clock.now = until + 1  # the pause passes; the next request is limited again
    assert pauses == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert gov.blocked_until("2") is None


def test_a_healthy_answer_after_the_pause_resets_the_backoff() -> None:
    gov, clock = governor()
    gov.observe([], "1", 32)
    clock.now += 61
    gov.observe([bucu("1", 5)], "1")
    gov.observe([], "1", 613)
    assert gov.blocked_until("1") == clock.now + 60


def test_a_business_use_case_id_other_than_the_page_holds_its_pages() -> None:
    gov, clock = governor()
    gov.observe([bucu("999", 99)], "1")
    gov.observe([bucu("999", 50)], "2")  # Page 2 shares the business use case
    assert gov.blocked_until("1") == clock.now + 60
    assert gov.blocked_until("2") == clock.now + 60
    assert gov.blocked_until("3") is None


def test_other_errors_pause_nothing() -> None:
    gov, _ = governor()
    for code in (1, 2, 100, 190, 10, None):
        gov.observe([], "1", code)
    assert gov.blocked_until("1") is None


def test_one_answer_is_one_hit_however_many_signals_it_carries() -> None:
    gov, clock = governor()
    page_header = UsageReport("page", "1", {"call_count": 100})
    gov.observe([bucu("1", 100), page_header], "1", 80001)
    assert gov.blocked_until("1") == clock.now + 60
    # Answers that were already under way when the pause began do not lengthen it.
    gov.observe([bucu("1", 100)], "1", 80001)
    assert gov.blocked_until("1") == clock.now + 60


def test_app_level_calls_only_heed_the_app_figures() -> None:
    gov, _ = governor()
    gov.observe([UsageReport("page", "", {"call_count": 100}), bucu("", 100)], "")
    assert gov.blocked_until("1") is None


def test_pages_on_hold_lists_only_paused_pages() -> None:
    gov, clock = governor()
    assert gov.pages_on_hold(["1", "2", "3"]) == {}
    gov.observe([bucu("2", 95)], "2")
    gov.observe([bucu("999", 99)], "3")  # Page 3 held through its business use case
    assert gov.pages_on_hold(["1", "2", "3"]) == {"2": clock.now + 60, "3": clock.now + 60}
    assert gov.pages_on_hold(["1"]) == {}
    clock.now += 61
    assert gov.pages_on_hold(["1", "2", "3"]) == {}
