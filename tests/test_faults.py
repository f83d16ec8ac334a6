"""The fault-injection suite: one test per fault the Graph API can throw at the exporter.

Each test asserts what issue 4 promises: the daemon keeps running, /metrics answers
promptly all along, other Pages are untouched, the affected Page shows up 0 and the error
is counted by code (or, for a throttled scope, no request is made at all), the values come
back once the fault ends, and no token shows up anywhere.

Faults share one exporter, a Page each beside a control Page. The faults in what the API
answers (HTTP errors, bad JSON, wrong shapes, every Graph error code) begin together, each
on its own Page, and each test ends its own; the faults in how the answer travels (late,
reset, dropped, oversized, trickling) spoil a whole batch answer in the simulator, so they
go one at a time. Error 100 and an API that refuses connections get exporters of their own.

Rate limits pause a scope for at least a minute: they are set off first (per-Page limits
share an exporter with a control Page; each app-wide limit has an exporter of its own, since
it pauses every Page of its process), checked while paused, and their comeback is checked
once, by the last test, when the other tests have used up the minute.

Everything runs against the simulator on loopback with `refresh.interval: 1s`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest
import requests

from exporter.simulator import Scenario, Simulator
from tests.conftest import (
    Labels,
    RunningExporter,
    Scrape,
    exporter_env,
    free_port,
    own_tokens,
    token_env,
)
from tests.faultkit import (
    BLOCKED,
    FAULTS,
    NEW,
    THROTTLED,
    Fault,
    Invariant,
    SteadyClock,
    Watch,
    assert_no_internal_error,
    assert_no_secret,
    error_increase,
    errors_by_code,
    exporter_outputs,
    insights_of,
    last_error_code,
    last_success,
    launch,
    page_list,
    settle,
    up,
)

# Every test here starts processes (the exporter, Prometheus, promtool or Chromium).
pytestmark = pytest.mark.e2e

TOKEN = "EAAB-canary-faults-6b1f93d2c0"
SECRETS = (TOKEN,)
PAGE_VALUES = dict[tuple[str, Labels], float]


def config(url: str, pages: list[str] | tuple[str, ...], *, stale_after: str = "1m") -> str:
    return f"""
graph_api:
  base_url: {url}
  timeout: 2s
  max_retries: 0
  max_concurrency: 8
refresh:
  interval: 1s
  stale_after: {stale_after}
pages:
{page_list(pages, token_env)}
metrics:
  - {NEW}
  - {BLOCKED}
"""


def env(pages: Iterable[str], simulator: Simulator) -> dict[str, str]:
    """Each Page's own token (a Page token reads no other Page), all with the canary in them,
    registered with the simulator."""
    return exporter_env(**own_tokens(TOKEN, pages, simulator))


def control_untouched(control: str, values: PAGE_VALUES) -> Invariant:
    def check(scrape: Scrape) -> str | None:
        if up(scrape, control) != 1:
            return f"the control Page {control} showed up={up(scrape, control)}"
        if insights_of(scrape, control) != values:
            return f"the control Page {control} changed values: {insights_of(scrape, control)}"
        return None

    return check


def values_kept(page: str, values: PAGE_VALUES, why: str) -> Invariant:
    def check(scrape: Scrape) -> str | None:
        found = insights_of(scrape, page)
        return None if found == values else f"Page {page} lost its last values ({why}): {found}"

    return check


# --- rate limits: set off first, checked while paused, and (last test) after ---------------

PAGE_LIMITS = "page_limits"
RATE_CONTROL = "4200000000"
BELOW_LIMIT = "4200000099"
# The contract's pauses: the minimum, and what an estimated_time_to_regain_access of 2 sets.
MINUTE, TWO_MINUTES = 60.0, 120.0
# How far a pause may be from the contract's (the gauge vs the request that was limited).
PAUSE_SLACK = 3.0
# Requests of other Pages already under way when a Page's limit arrives are no violation.
IN_FLIGHT = 1.0


@dataclass(frozen=True)
class Limit:
    """A rate limit one Page runs into once (`times: 1`), and what the contract makes of it."""

    name: str
    process: str  # the exporter: PAGE_LIMITS, or one of its own for an app-wide limit
    page: str
    scenario: Scenario
    code: str | None  # the error code counted; None for a pause asked by usage headers
    pause: float

    @property
    def app_wide(self) -> bool:
        return self.process != PAGE_LIMITS

    @property
    def label(self) -> str:
        """page_id of messenger_insights_throttled_until_timestamp_seconds for the scope."""
        return "" if self.app_wide else self.page


def _once(name: str, **params: object) -> Scenario:
    return Scenario(name, {**params, "times": 1})


LIMITS: tuple[Limit, ...] = (
    Limit("error_32_page_limit", PAGE_LIMITS, "4200000001", _once("error", code=32), "32", MINUTE),
    Limit("error_613_custom_limit", PAGE_LIMITS, "4200000002", _once("error", code=613), "613", MINUTE),
    Limit("error_80001_without_estimate", PAGE_LIMITS, "4200000003", _once("error", code=80001),
          "80001", MINUTE),
    Limit("error_80008_without_estimate", PAGE_LIMITS, "4200000004", _once("error", code=80008),
          "80008", MINUTE),
    # Meta's full answer: the error, with usage headers at 100 % and an estimate (or 0).
    Limit("rate_limited_80001_usage_full_no_estimate", PAGE_LIMITS, "4200000005",
          _once("rate_limited", code=80001, minutes=0), "80001", MINUTE),
    Limit("rate_limited_80001_estimate_1_min", PAGE_LIMITS, "4200000006",
          _once("rate_limited", code=80001, minutes=1), "80001", MINUTE),
    Limit("rate_limited_80001_estimate_2_min", PAGE_LIMITS, "4200000007",
          _once("rate_limited", code=80001, minutes=2), "80001", TWO_MINUTES),
    # Successful answers whose usage headers ask for a pause.
    Limit("usage_business_use_case_at_90", PAGE_LIMITS, "4200000008", _once("usage", call_count=90),
          None, MINUTE),
    Limit("usage_page_at_95", PAGE_LIMITS, "4200000009", _once("usage", call_count=95, source="page"),
          None, MINUTE),
    Limit("usage_estimate_2_min", PAGE_LIMITS, "4200000010", _once("usage", call_count=10, minutes=2),
          None, TWO_MINUTES),
    # App-wide: every Page of the process pauses.
    Limit("error_4_app_limit", "app_4", "4300000001", _once("error", code=4), "4", MINUTE),
    Limit("error_17_user_limit", "app_17", "4400000001", _once("error", code=17), "17", MINUTE),
    Limit("usage_app_at_90", "app_usage", "4500000001", _once("usage", call_count=90, source="app"),
          None, MINUTE),
)


@dataclass(frozen=True)
class Paused:
    hit: float  # real time the limited request reached the API
    until: float  # what the exporter's throttled_until gauge said once paused
    index: int  # how many requests of the Page the API had seen before the limited one


@dataclass
class RateWorld:
    clock: SteadyClock
    simulator: Simulator
    exporters: dict[str, RunningExporter]
    pages: dict[str, tuple[str, ...]]
    baseline: dict[str, PAGE_VALUES]
    paused: dict[str, Paused]
    # How long each exporter's log was when the limits were set.
    log_offsets: dict[str, int] = field(default_factory=dict)

    def affected(self, limit: Limit) -> tuple[str, ...]:
        return self.pages[limit.process] if limit.app_wide else (limit.page,)

    def request_times(self, page: str) -> list[float]:
        """Real times of every request the API saw for the Page (insights or batch operation)."""
        return [self.clock.real(r.time) for r in self.simulator.requests() if r.page_id == page]

    def requests_during_pause(self, limit: Limit, page: str, until: float) -> list[float]:
        """Requests of `page` after `limit` paused its scope and before `until`."""
        paused = self.paused[limit.name]
        times = self.request_times(page)
        if page == limit.page:
            later = times[paused.index + 1:]
            return [t for t in later if t < until]
        return [t for t in times if paused.hit + IN_FLIGHT < t < until]


def all_up(scrape: Scrape, pages: tuple[str, ...]) -> bool:
    return all(up(scrape, page) == 1 and insights_of(scrape, page) for page in pages)


def is_paused(scrape: Scrape, label: str) -> bool:
    """The throttled gauge of the scope shows a time to come (0, or no series: not paused)."""
    return (scrape.get(THROTTLED, page_id=label) or 0) > time.time()


def rate_config(url: str, pages: tuple[str, ...]) -> str:
    # stale_after beyond any pause: the last values are served all through it.
    return config(url, pages, stale_after="10m")


@pytest.fixture(scope="module")
def rate_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RateWorld]:
    directory = tmp_path_factory.mktemp("rate-limits")
    clock = SteadyClock()
    simulator = Simulator(now=clock)
    simulator.start()
    pages: dict[str, tuple[str, ...]] = {
        PAGE_LIMITS: (RATE_CONTROL, BELOW_LIMIT, *(each.page for each in LIMITS if not each.app_wide))}
    for limit in LIMITS:
        if limit.app_wide:
            pages[limit.process] = (limit.page, str(int(limit.page) + 1))
    exporters = {name: launch(directory, name, rate_config(simulator.url, listed), env(listed, simulator))
                 for name, listed in pages.items()}
    try:
        baseline: dict[str, PAGE_VALUES] = {}
        for name, exporter in exporters.items():
            exporter.wait_ready()
            listed = pages[name]
            scrape = exporter.wait_for(partial(all_up, pages=listed), what=f"every Page of {name} up")
            baseline |= {page: insights_of(scrape, page) for page in listed}
        world = RateWorld(clock, simulator, exporters, pages, baseline, {})
        seen = {limit.name: len(world.request_times(limit.page)) for limit in LIMITS}
        world.log_offsets = {name: len(exporter.logs()) for name, exporter in exporters.items()}
        for limit in LIMITS:
            simulator.set_scenario(limit.page, limit.scenario)
        simulator.set_scenario(BELOW_LIMIT, Scenario("usage", {"call_count": 89}))
        for limit in LIMITS:
            scrape = exporters[limit.process].wait_for(partial(is_paused, label=limit.label),
                                                       what=f"{limit.name}: the scope to be paused")
            index = seen[limit.name]
            times = world.request_times(limit.page)
            assert len(times) > index, f"{limit.name}: paused without the limited request"
            until = scrape.get(THROTTLED, page_id=limit.label) or 0.0
            world.paused[limit.name] = Paused(times[index], until, index)
        yield world
    finally:
        for exporter in exporters.values():
            exporter.stop()
        simulator.stop()


@pytest.mark.parametrize("limit", LIMITS, ids=[limit.name for limit in LIMITS])
def test_a_throttled_scope_gets_no_request_and_keeps_its_values(rate_world: RateWorld, limit: Limit) -> None:
    world = rate_world
    exporter = world.exporters[limit.process]
    paused = world.paused[limit.name]
    affected = world.affected(limit)
    watch = Watch(exporter, SECRETS)
    watch.invariants += [values_kept(page, world.baseline[page], "stale rule during a pause")
                         for page in affected]
    control_requests = world.simulator.request_count(RATE_CONTROL)

    scrape = watch.wait_for(lambda s: all(up(s, page) == 0 for page in affected),
                            what="up 0 on every Page of the paused scope")
    # The gauge says until when (its length is checked last).
    assert scrape.get(THROTTLED, page_id=limit.label) == paused.until
    # Errors: the limited answer once, by its code; a throttled scope makes no request to count.
    expected = Counter(each.code for each in LIMITS
                       if each.process == limit.process and each.code is not None)
    assert {code: n for code, n in errors_by_code(scrape).items() if n} == expected
    # Zero requests to the scope since the pause began.
    for page in affected:
        early = world.requests_during_pause(limit, page, paused.until)
        assert not early, f"{len(early)} request(s) for Page {page} during its pause"
    if not limit.app_wide:
        # Other Pages go on: the control Page is still asked, and answered.
        started = time.time()
        watch.wait_for(lambda s: last_success(s, RATE_CONTROL) > started and up(s, RATE_CONTROL) == 1,
                       what="the control Page refreshed during the pause")
        assert world.simulator.request_count(RATE_CONTROL) > control_requests
    watch.assert_healthy()
    assert_no_secret(exporter_outputs(exporter), SECRETS)
    # One limited answer pauses for the minimum, or for the estimated time.
    assert paused.until - paused.hit == pytest.approx(limit.pause, abs=PAUSE_SLACK), (
        f"paused for {paused.until - paused.hit:.0f}s after one limited answer; the contract "
        f"sets {limit.pause:.0f}s")


def test_usage_below_the_limit_pauses_nothing_and_is_exported(rate_world: RateWorld) -> None:
    exporter = rate_world.exporters[PAGE_LIMITS]
    before = rate_world.simulator.request_count(BELOW_LIMIT)
    watch = Watch(exporter, SECRETS)
    started = time.time()
    scrape = watch.wait_for(
        lambda s: last_success(s, BELOW_LIMIT) > started
        and s.get("messenger_insights_api_usage_ratio", source="business_use_case", id=BELOW_LIMIT,
                  kind="call_count") == 0.89,
        what="a refresh at 89 % usage")
    assert up(scrape, BELOW_LIMIT) == 1
    assert not is_paused(scrape, BELOW_LIMIT)
    assert rate_world.simulator.request_count(BELOW_LIMIT) > before
    watch.assert_healthy()


# --- faults that share one exporter --------------------------------------------------------

CONTROL = "4100000000"
FAULT_PAGE = {fault.name: str(4100000001 + index) for index, fault in enumerate(FAULTS)}
IN_ANSWER = [fault for fault in FAULTS if not fault.transport]
IN_TRANSPORT = [fault for fault in FAULTS if fault.transport]


@dataclass
class FaultWorld:
    simulator: Simulator
    exporter: RunningExporter
    baseline: dict[str, PAGE_VALUES]


@pytest.fixture(scope="module")
def fault_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultWorld]:
    directory = tmp_path_factory.mktemp("faults")
    simulator = Simulator(now=SteadyClock())
    simulator.start()
    pages = (CONTROL, *FAULT_PAGE.values())
    # stale_after beyond the module's length: the faults begin together and last a while.
    exporter = launch(directory, "faults", config(simulator.url, pages, stale_after="10m"), env(pages, simulator))
    try:
        exporter.wait_ready()
        scrape = exporter.wait_for(partial(all_up, pages=pages), what="every Page up")
        yield FaultWorld(simulator, exporter, {page: insights_of(scrape, page) for page in pages})
    finally:
        exporter.stop()
        simulator.stop()


@dataclass(frozen=True)
class AnswerFaults:
    errors: dict[str, float]  # error counts before the faults began
    began: float


@pytest.fixture(scope="module")
def answer_faults(fault_world: FaultWorld) -> AnswerFaults:
    """Every fault in what the API answers, on at once, each on its own Page; each test then
    ends its own fault."""
    before = errors_by_code(fault_world.exporter.scrape())
    for fault in IN_ANSWER:
        fault_world.simulator.set_scenario(FAULT_PAGE[fault.name], fault.scenario)
    return AnswerFaults(before, time.time())


def fault_watch(world: FaultWorld, page: str) -> Watch:
    watch = Watch(world.exporter, SECRETS)
    watch.invariants += [control_untouched(CONTROL, world.baseline[CONTROL]),
                         values_kept(page, world.baseline[page], "stale rule while failing")]
    return watch


def fault_ends(world: FaultWorld, watch: Watch, page: str) -> Scrape:
    """Clear the Page's fault: it comes back, with its values."""
    world.simulator.clear_scenario(page)
    cleared = time.time()
    after = watch.wait_for(lambda s: up(s, page) == 1 and last_success(s, page) > cleared,
                           what="the Page back after the fault")
    assert insights_of(after, page) == world.baseline[page]
    return after


@pytest.mark.parametrize("fault", IN_ANSWER, ids=[fault.name for fault in IN_ANSWER])
def test_a_fault_in_the_answer_stays_on_its_page_and_passes(
    fault_world: FaultWorld, answer_faults: AnswerFaults, fault: Fault
) -> None:
    page = FAULT_PAGE[fault.name]
    watch = fault_watch(fault_world, page)
    counted = answer_faults.errors.get(fault.code, 0)
    # Down, counted, and meanwhile the control Page refreshed (successfully) as usual.
    watch.wait_for(lambda s: up(s, page) == 0 and errors_by_code(s).get(fault.code, 0) > counted
                   and last_success(s, CONTROL) > answer_faults.began,
                   what=f"Page {page} down with code {fault.code} counted, the control Page refreshed")
    assert last_error_code(fault_world.exporter, page) == fault.code
    fault_ends(fault_world, watch, page)
    watch.assert_healthy()
    assert_no_secret(exporter_outputs(fault_world.exporter), SECRETS)


@pytest.mark.parametrize("fault", IN_TRANSPORT, ids=[fault.name for fault in IN_TRANSPORT])
def test_a_fault_in_transport_stays_on_its_page_and_passes(fault_world: FaultWorld, fault: Fault) -> None:
    """One at a time: each is the only fault on while it lasts."""
    simulator, exporter = fault_world.simulator, fault_world.exporter
    page = FAULT_PAGE[fault.name]
    for other in IN_ANSWER:
        simulator.clear_scenario(FAULT_PAGE[other.name])
    pages = (CONTROL, *FAULT_PAGE.values())
    before = exporter.wait_for(partial(all_up, pages=pages), what="every Page up before the fault")
    watch = fault_watch(fault_world, page)
    simulator.set_scenario(page, fault.scenario)
    fault_set = time.time()
    try:
        counted = errors_by_code(before).get(fault.code, 0)
        watch.wait_for(lambda s: up(s, page) == 0 and errors_by_code(s).get(fault.code, 0) > counted
                       and last_success(s, CONTROL) > fault_set, timeout=8,
                       what=f"Page {page} down with code {fault.code} counted, the control Page refreshed")
        assert last_error_code(exporter, page) == fault.code
    finally:
        simulator.clear_scenario(page)
    after = fault_ends(fault_world, watch, page)
    increase = error_increase(before, after)
    assert set(increase) == {fault.code}, f"errors counted as {increase}; expected code {fault.code} only"
    watch.assert_healthy()
    assert_no_secret(exporter_outputs(exporter), SECRETS)


# --- faults that need an exporter of their own ---------------------------------------------

def test_connection_refused_while_the_api_is_down_then_back(tmp_path: Path) -> None:
    """base_url is global: the whole API goes away (its port closes) and comes back on the
    same port. Every Page is affected by nature, so there is no control Page here."""
    port = free_port()
    clock = SteadyClock()
    simulator = Simulator(port=port, now=clock)
    simulator.start()
    pages = ["4600000001", "4600000002"]
    exporter = launch(tmp_path, "refused", config(simulator.url, pages), env(pages, simulator))
    try:
        exporter.wait_ready()
        watch = Watch(exporter, SECRETS)
        before = watch.wait_for(lambda s: all(up(s, p) == 1 and insights_of(s, p) for p in pages),
                                what="every Page up")
        values = {page: insights_of(before, page) for page in pages}
        watch.invariants += [values_kept(page, values[page], "stale rule while failing") for page in pages]
        simulator.stop()
        counted = errors_by_code(before).get("network", 0)
        watch.wait_for(lambda s: all(up(s, p) == 0 for p in pages)
                       and errors_by_code(s).get("network", 0) > counted,
                       what="every Page down, counted as network errors")
        assert "connection refused" in requests.get(exporter.url + "/", timeout=5).text
        simulator = Simulator(port=port, now=clock)
        own_tokens(TOKEN, pages, simulator)  # the same API again: it knows the same tokens
        simulator.start()
        back_at = time.time()
        after = watch.wait_for(lambda s: all(up(s, p) == 1 and last_success(s, p) > back_at for p in pages),
                               what="every Page back with the API")
        assert {page: insights_of(after, page) for page in pages} == values
        assert set(error_increase(before, after)) == {"network"}
        watch.assert_healthy()
        assert_no_secret(exporter_outputs(exporter), SECRETS)
    finally:
        exporter.stop()
        simulator.stop()


def test_error_100_rejects_the_metric_and_the_page_stays_up(tmp_path: Path) -> None:
    """README: code 100 on a request of several metrics → each asked alone; the one refused
    is marked rejected (metric_rejected 1, its series dropped), `up` stays 1, and it is not
    asked for again for 24 h or until a reload."""
    simulator = Simulator(now=SteadyClock())
    simulator.start()
    control, page = "4700000000", "4700000001"
    exporter = launch(tmp_path, "rejected", config(simulator.url, [control, page]), env([control, page], simulator))
    try:
        exporter.wait_ready()
        watch = Watch(exporter, SECRETS)
        before = watch.wait_for(lambda s: up(s, page) == 1 and up(s, control) == 1
                                and bool(insights_of(s, page)), what="both Pages up")
        values = insights_of(before, page)
        watch.invariants.append(control_untouched(control, insights_of(before, control)))
        # The group request and then NEW alone are refused; BLOCKED alone is answered.
        simulator.set_scenario(page, Scenario("error", {"code": 100, "times": 2}))
        set_at = time.time()
        rejected = watch.wait_for(
            lambda s: s.get("messenger_insights_metric_rejected", page_id=page, metric=NEW) == 1
            and last_success(s, page) > set_at, what="the metric rejected")
        assert up(rejected, page) == 1
        assert rejected.get("messenger_insights_metric_rejected", page_id=page, metric=BLOCKED) == 0
        kept = {key: value for key, value in values.items() if key[0] != f"messenger_insights_{NEW}"
                and not key[0].startswith(f"messenger_insights_{NEW}_")}
        assert kept and insights_of(rejected, page) == kept, "only the rejected metric's series go"
        assert error_increase(before, rejected) == {"100": 2}

        # Values come back: a reload asks for the metric again.
        assert requests.post(exporter.url + "/-/reload", timeout=10).status_code == 200
        back = watch.wait_for(
            lambda s: s.get("messenger_insights_metric_rejected", page_id=page, metric=NEW) == 0
            and insights_of(s, page) == values, what="the metric asked for again after a reload")
        assert up(back, page) == 1
        watch.assert_healthy()
        assert_no_secret(exporter_outputs(exporter), SECRETS)
    finally:
        exporter.stop()
        simulator.stop()


# --- last: the rate-limited scopes come back ------------------------------------------------

RECOVERY_SLACK = 6.0


def test_throttled_scopes_come_back_after_their_pause(rate_world: RateWorld) -> None:
    """Waits once for every one-minute pause at the same time (they began together)."""
    world = rate_world
    short = [limit for limit in LIMITS if limit.pause == MINUTE]
    deadline = max(world.paused[each.name].hit for each in short) + MINUTE + RECOVERY_SLACK

    def back(limit: Limit, scrape: Scrape) -> bool:
        contract_end = world.paused[limit.name].hit + limit.pause
        return all(up(scrape, page) == 1 and last_success(scrape, page) > contract_end
                   for page in world.affected(limit))

    watches = {name: Watch(exporter, SECRETS) for name, exporter in world.exporters.items()}
    scrapes: dict[str, Scrape] = {}

    def all_back() -> bool:
        scrapes.update({name: watch.scrape() for name, watch in watches.items()})
        return all(back(limit, scrapes[limit.process]) for limit in short)

    settle(all_back, deadline - time.time())

    problems = [problem for limit in LIMITS
                for problem in _comeback_problems(world, limit, scrapes[limit.process], back)]
    for name, exporter in world.exporters.items():
        try:
            assert_no_internal_error(exporter.logs()[world.log_offsets[name]:])
        except AssertionError as exc:
            problems.append(f"{name}, during the pauses: {exc}")
    assert not problems, "\n".join(problems)
    for name, watch in watches.items():
        watch.assert_healthy()
        assert_no_secret(exporter_outputs(world.exporters[name]), SECRETS)


def _comeback_problems(
    world: RateWorld, limit: Limit, scrape: Scrape, back: Callable[[Limit, Scrape], bool]
) -> list[str]:
    """What went wrong for one limit: requests during its pause; for a one-minute pause, no
    comeback, a throttle still shown, or other values after it."""
    paused = world.paused[limit.name]
    problems = []
    for page in world.affected(limit):
        early = world.requests_during_pause(limit, page, min(paused.until, time.time()))
        if early:
            problems.append(f"{limit.name}: {len(early)} request(s) for Page {page} during the pause")
    if limit.pause != MINUTE:
        return problems
    if not back(limit, scrape):
        return [*problems, (
            f"{limit.name}: not back {time.time() - paused.hit:.0f}s after one limited answer; "
            f"throttled until +{paused.until - paused.hit:.0f}s "
            f"(up: {[up(scrape, p) for p in world.affected(limit)]})")]
    if is_paused(scrape, limit.label):
        problems.append(f"{limit.name}: still shown as throttled after its comeback")
    problems.extend(f"{limit.name}: Page {page} came back with other values"
                    for page in world.affected(limit) if insights_of(scrape, page) != world.baseline[page])
    return problems
