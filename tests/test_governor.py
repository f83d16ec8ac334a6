"""The rate-limit governor's rules, on a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.core import Metric

from exporter.governor import MIN_PAUSE_SECONDS, RateLimitGovernor, ThrottleCollector
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


class NoWalk:
    """Configured Page ids that answer `in` but refuse to be walked: listing holds must not walk them."""

    def __init__(self, ids: set[str]) -> None:
        self.ids = ids

    def __contains__(self, page_id: object) -> bool:
        return page_id in self.ids

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("pages_on_hold walked every Page")


def test_holds_are_listed_without_walking_the_pages_as_they_start_and_expire() -> None:
    gov, clock = governor()
    pages = NoWalk({str(n) for n in range(10_000)})
    start = clock.now
    gov.observe([], "7", 80001)  # 60 s
    clock.now += 10
    gov.observe([bucu("b999", 99)], "8")  # the business use case holds 8, and 9 once linked: 60 s
    gov.observe([bucu("b999", 10)], "9")
    clock.now += 10
    gov.observe([bucu("42", 10, regain=2)], "42")  # 120 s
    gov.observe([], "not-configured", 32)  # held, but not one of these Pages
    assert gov.pages_on_hold(pages) == {"7": start + 60, "8": start + 70, "9": start + 70, "42": start + 140}
    clock.now = start + 60  # Page 7's pause ends at this instant
    assert gov.pages_on_hold(pages) == {"8": start + 70, "9": start + 70, "42": start + 140}
    gov.observe([], "8", 80001)  # Page 8's own pause, longer than the business use case's
    clock.now = start + 75
    assert gov.pages_on_hold(pages) == {"8": start + 120, "42": start + 140}
    clock.now = start + 130
    assert gov.pages_on_hold(pages) == {"42": start + 140}
    gov.observe([], "7", 80001)  # a second hit: twice as long
    assert gov.pages_on_hold(pages) == {"7": clock.now + 120, "42": start + 140}
    clock.now += 121
    assert gov.pages_on_hold(pages) == {}
    assert gov._running == {}  # ended pauses are not walked again


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("error"), st.sampled_from("12345"), st.sampled_from([80001, 32, 1])),
        st.tuples(st.just("usage"), st.sampled_from("12345"), st.sampled_from(["1", "2", "b1", "b2"]),
                  st.integers(0, 100), st.sampled_from([0, 0, 3])),
        st.tuples(st.just("wait"), st.sampled_from([0.0, 30.0, 59.0, 61.0, 200.0, 4000.0])),
    ),
    max_size=40,
)


@settings(max_examples=100, deadline=None)
@given(OPERATIONS)
def test_pages_on_hold_agrees_with_each_pages_own_answer(operations: list[tuple[Any, ...]]) -> None:
    """Whatever holds start, end and link Pages, the listing is what blocked_until says of each Page."""
    gov, clock = governor()
    ids = "123456"
    for operation in operations:
        if operation[0] == "error":
            gov.observe([], operation[1], operation[2])
        elif operation[0] == "usage":
            _, page_id, scope, percent, regain = operation
            gov.observe([bucu(scope, percent, regain)], page_id)
        else:
            clock.now += operation[1]
        expected = {p: until for p in ids if (until := gov.blocked_until(p)) is not None}
        assert gov.pages_on_hold(NoWalk(set(ids))) == expected
        assert gov.pages_on_hold(["1", "3"]) == {p: u for p, u in expected.items() if p in ("1", "3")}


def test_the_throttle_family_is_kept_while_the_holds_stay_and_follows_them() -> None:
    gov, clock = governor()
    collector = ThrottleCollector(gov, lambda: {"1": None, "2": None})

    def samples() -> list[tuple[str, float]]:
        return [(s.labels["page_id"], s.value) for s in family()[0].samples]

    def family() -> list[Metric]:
        return list(collector.collect())

    assert samples() == [("", 0.0)]
    gov.observe([bucu("2", 95)], "2")
    assert samples() == [("", 0.0), ("2", clock.now + 60)]
    first = family()[0]
    clock.now += 30
    assert family()[0] is first  # unchanged holds: the same family, compared by identity
    gov.observe([UsageReport("app", "", {"call_count": 95})], "1")
    assert samples() == [("", clock.now + 60), ("2", clock.now + 30)]
    clock.now += 30  # Page 2's pause ends
    assert samples() == [("", clock.now + 30)]
