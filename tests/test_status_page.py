"""The status page at `/`, in process: states, tokens, counts, filters, paging, the header,
scrubbing, the HTTP answers, and the board that reads the running exporter."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from types import MappingProxyType

import pytest
import requests

from exporter.app import Exporter
from exporter.config import (
    Config,
    ConfigError,
    GraphApiConfig,
    PageConfig,
    RefreshConfig,
    TokenSource,
)
from exporter.http_server import Endpoint, HttpServer
from exporter.page_status import (
    FAILING,
    HELD,
    PENDING,
    STALE,
    UP,
    ReloadRecord,
    StatusInputs,
    classify,
    token_view,
)
from exporter.redact import Secret
from exporter.reloader import Reloader
from exporter.runtime import Settings
from exporter.scheduler import DueTimes
from exporter.snapshots import ErrorInfo, PageSnapshot
from exporter.status_board import StatusBoard
from exporter.status_page import (
    Query,
    QueryError,
    parse_query,
    relative,
    render,
    select,
    status_json,
)
from exporter.token_check import TokenStatus
from exporter.usage import UsageBoard, UsageReport
from tests import status_fixtures as fx
from tests.dom import Node, parse


def rows(document: Node) -> dict[str, Node]:
    return {row.attrs["data-page-id"]: row for row in document.find_all("tr") if "data-page-id" in row.attrs}


def cell(row: Node, name: str) -> str:
    return row.one("td", name).text()


@pytest.fixture
def page() -> Node:
    return parse(render(fx.every_state(), Query()))


def test_each_page_state_is_classified() -> None:
    inputs = fx.every_state()
    states = {page_id: classify(inputs, s) for page_id, s in inputs.snapshots.items()}
    assert states == {
        fx.UP_ID: UP, fx.FAILING_ID: FAILING, fx.HELD_ID: HELD, fx.STALE_ID: STALE, fx.PENDING_ID: PENDING,
        fx.RECOVERED_ID: UP, fx.EXPIRING_ID: UP, fx.REVOKED_ID: FAILING,
    }
    # A hold on the whole app holds every Page, even one never tried.
    held = fx.every_state(app_held_until=fx.NOW + 60)
    assert {classify(held, s) for s in held.snapshots.values()} == {HELD}
    # Data older than stale_after is stale even when the last refresh said up (refreshes stopped).
    old = PageSnapshot(PageConfig("9", None, TokenSource(env="T"), ()), attempted=True, up=True,
                       last_success=fx.NOW - fx.STALE_AFTER - 1)
    assert classify(inputs, old) == STALE


def test_rows_show_state_times_duration_and_next_refresh(page: Node) -> None:
    shown = rows(page)
    assert {p: r.attrs["data-state"] for p, r in shown.items()}[fx.HELD_ID] == HELD
    up = shown[fx.UP_ID]
    assert cell(up, "page") == "Acme Store 1001"
    assert cell(up, "state") == "up"
    last = up.one("td", "last-success").one("time")
    assert last.text() == "12 s ago"
    assert last.attrs["data-ts"] == f"{fx.NOW - 12:.3f}"
    assert cell(up, "duration") == "420 ms"
    assert cell(up, "next-due") == "in 6 min"
    assert cell(shown[fx.STALE_ID], "duration") == "30.0 s"
    assert cell(shown[fx.PENDING_ID], "last-success") == "never"
    assert cell(shown[fx.PENDING_ID], "duration") == "—"
    assert cell(shown[fx.PENDING_ID], "next-due") == "now"  # never refreshed: due at once
    assert cell(shown[fx.HELD_ID], "state") == "held by rate limits until 14:16:20 UTC (in 3 min)"
    assert shown[fx.HELD_ID].one("span", "until").one("time").attrs["title"] == "2026-09-21 14:16:20 UTC"


def test_absolute_times_are_utc_on_hover(page: Node) -> None:
    up = rows(page)[fx.UP_ID].one("td", "last-success").one("time")
    assert up.attrs["title"] == "2026-09-21 14:13:08 UTC"
    assert up.attrs["datetime"] == "2026-09-21T14:13:08Z"


def test_current_error_and_a_recovered_pages_last_error_apart(page: Node) -> None:
    shown = rows(page)
    failing = shown[fx.FAILING_ID].one("td", "errors")
    assert failing.one("div", "error").text() == (
        "network connection refused at 127.0.0.1:9 (graph_api.base_url http://127.0.0.1:9) (20 s ago)")
    assert failing.find_all(css="recovered") == []
    recovered = shown[fx.RECOVERED_ID].one("td", "errors")
    assert recovered.find_all(css="error") == []
    assert recovered.one("div", "recovered").text() == (
        "recovered; last error 1 unknown error token=[REDACTED] (1 h ago)")
    assert cell(shown[fx.UP_ID], "errors") == ""


@pytest.mark.parametrize(("page_id", "state", "text"), [
    (fx.UP_ID, "valid", "valid"),
    (fx.EXPIRING_ID, "expiring", "expiring in 3 days"),
    (fx.REVOKED_ID, "invalid", "invalid"),
    (fx.HELD_ID, "unchecked", "not checked yet"),
])
def test_token_column(page: Node, page_id: str, state: str, text: str) -> None:
    token = rows(page)[page_id].one("span", "token")
    assert token.classes == {"token", state}
    assert token.text() == text


def test_token_details_name_the_source_never_the_value() -> None:
    inputs = fx.every_state()
    fjord = inputs.snapshots[fx.EXPIRING_ID].page
    view = token_view(inputs, fjord)
    assert view.detail == "expires 2026-09-24 14:14:20 UTC; token from environment variable FJORD_TOKEN"
    # A 190 newer than the last (valid) check: invalid, as messenger_insights_token_valid says.
    refused = token_view(inputs, inputs.snapshots[fx.REVOKED_ID].page)
    assert refused.text == "invalid"
    assert refused.detail == "the Graph API refused it (error 190); token from environment variable GROVE_TOKEN"
    no_checks = dataclasses.replace(inputs, tokens=None)
    unchecked = token_view(no_checks, fjord)
    assert (unchecked.state, unchecked.text) == ("unchecked", "not checked")
    assert unchecked.detail == ("no answer yet; set graph_api.app_id and app_secret to check expiry; "
                                "token from environment variable FJORD_TOKEN")
    answered = token_view(no_checks, inputs.snapshots[fx.UP_ID].page)
    assert (answered.state, answered.text) == ("valid", "valid")
    assert answered.detail.startswith("the last answer accepted it; expiry not checked; set graph_api")


@pytest.mark.parametrize(("status", "text"), [
    (TokenStatus(True, 0.0, 0.0, frozenset()), "valid"),
    (TokenStatus(True, fx.NOW + 30 * 86400, 0.0, frozenset()), "valid"),
    (TokenStatus(True, fx.NOW + 3600, 0.0, frozenset()), "expiring today"),
    (TokenStatus(True, fx.NOW + 86400 + 1, 0.0, frozenset()), "expiring in 1 day"),
    (TokenStatus(True, 0.0, fx.NOW + 2 * 86400 + 1, frozenset()), "expiring in 2 days"),
    (TokenStatus(True, fx.NOW - 1, 0.0, frozenset()), "expired"),
    (TokenStatus(False, 0.0, 0.0, frozenset()), "invalid"),
    (TokenStatus(True, 0.0, 0.0, frozenset({"read_insights"})), "lacks read_insights"),
])
def test_token_states(status: TokenStatus, text: str) -> None:
    inputs = dataclasses.replace(fx.every_state(), tokens={fx.UP_ID: status}, token_answers={})
    assert token_view(inputs, inputs.snapshots[fx.UP_ID].page).text == text


def test_header_summary(page: Node) -> None:
    summary = {dt.text(): dd.text() for dt, dd in zip(page.find_all("dt"), page.find_all("dd"), strict=True)}
    assert summary["Version"] == "0.1.0"
    assert summary["Config"] == (
        "/etc/exporter/config.yaml, loaded 1 h ago; last reload failed 1 min ago: config.yaml:3:1: "
        "refresh.interval: bad duration (still running the config loaded before)")
    assert summary["Graph API"] == "http://127.0.0.1:9, version v24.0"
    assert summary["Refresh"] == "every 15m, stale after 45m"
    assert summary["Shard"] == "1 of 3"
    assert summary["API usage high-water mark"] == (
        "87% (call_count, app), 2 min ago; the governor holds a scope at 90%")
    assert "Rate limits" not in summary
    assert page.one(id="demo-banner").text().startswith("Demo. These Pages and their numbers come from")


def test_no_demo_banner_outside_the_demo_and_an_app_hold_in_the_header() -> None:
    page = parse(render(fx.every_state(demo=False, app_held_until=fx.NOW + 600), Query()))
    assert page.find_all(id="demo-banner") == []
    assert page.one(id="summary-rate-limits").text() == "the whole app is held until 14:23:20 UTC (in 10 min)"


def test_counts_and_filters(page: Node) -> None:
    links = {a.attrs["data-filter"]: a for a in page.one(id="counts").find_all("a")}
    assert {f: a.text() for f, a in links.items()} == {
        "all": "All 8", "failing": "Failing 4", "stale": "Stale 1", "held": "Held 1",
        "pending": "Pending 1", "up": "Up 3"}
    assert links["all"].classes == {"chosen"}
    assert links["failing"].attrs["href"] == "?show=failing"
    failing = parse(render(fx.every_state(), Query(show="failing")))
    # Most urgent first, then by name.
    assert list(rows(failing)) == [fx.FAILING_ID, fx.REVOKED_ID, fx.STALE_ID, fx.HELD_ID]
    assert failing.one(id="range").text() == "Pages 1 to 4 of 4"
    held = rows(parse(render(fx.every_state(), Query(show="held"))))
    assert list(held) == [fx.HELD_ID]


def test_search_by_name_or_id() -> None:
    inputs = fx.every_state()
    assert [r.page_id for r in select(inputs, Query(search="CEDAR")).rows] == [fx.HELD_ID]
    assert [r.page_id for r in select(inputs, Query(search="1005")).rows] == [fx.PENDING_ID]
    none = parse(render(inputs, Query(search="nothing like it")))
    assert none.one(id="range").text() == "No Page matches (of 8)."


def test_paging_with_ten_thousand_pages() -> None:
    inputs = many_pages(10_000)
    first = select(inputs, Query(limit=100))
    assert first.matching == 10_000 and len(first.rows) == 100
    assert first.counts == {FAILING: 200, STALE: 0, HELD: 0, PENDING: 0, UP: 9800}
    assert all(r.state == FAILING for r in first.rows)  # problems first
    page = parse(render(inputs, Query(show="up", limit=100, offset=200)))
    assert page.one(id="range").text() == "Pages 201 to 300 of 9800"
    assert page.one("a", rel="prev").attrs["href"] == "?show=up&offset=100"
    assert page.one("a", rel="next").attrs["href"] == "?show=up&offset=300"
    last = select(inputs, Query(show="up", limit=1000, offset=9000))
    assert len(last.rows) == 800


def many_pages(count: int) -> StatusInputs:
    base = fx.every_state(demo=False)
    snapshots = {}
    for index in range(count):
        page_id = str(10**14 + index)
        up = index % 50 != 0
        snapshots[page_id] = PageSnapshot(
            PageConfig(page_id, f"Page {index:05d}", TokenSource(env="META_PAGE_TOKEN"), ()),
            attempted=True, up=up, last_success=fx.NOW - index % 600, refresh_duration=0.3,
            last_error=None if up else ErrorInfo("2", "Service temporarily unavailable", fx.NOW - 5))
    return dataclasses.replace(base, snapshots=MappingProxyType(snapshots), held={}, tokens=None, due={})


def test_everything_scrubbed_and_escaped() -> None:
    assert fx.SECRET not in render(fx.every_state(), parse_query(f"q={fx.SECRET}"))
    text = render(fx.every_state(), Query())
    assert fx.SECRET not in text
    assert "Echo [REDACTED]" in text
    assert "Bluebird &lt;Cafe&gt; &amp; Co" in text and "<Cafe>" not in text


@pytest.mark.parametrize(("query", "expected"), [
    ("", Query()),
    ("show=failing&q=+acme+&limit=50&offset=100", Query("failing", "acme", 50, 100)),
    ("show=&limit=&offset=&unknown=1", Query()),
])
def test_query_parameters(query: str, expected: Query) -> None:
    assert parse_query(query) == expected


@pytest.mark.parametrize(("query", "message"), [
    ("show=broken", "show='broken' is not one of all, failing, stale, held, pending, up"),
    ("limit=0", "limit='0' must be a whole number from 1 to 1000"),
    ("limit=5000", "limit='5000' must be a whole number from 1 to 1000"),
    ("offset=-1", "offset='-1' must be a whole number from 0 to 1000000000"),
    ("q=" + "x" * 201, "q is longer than 200 characters"),
])
def test_bad_query_parameters(query: str, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert str(caught.value) == message


@pytest.mark.parametrize(("delta", "text"), [
    (0.4, "now"), (-12.7, "12 s ago"), (-59.9, "59 s ago"), (-60, "1 min ago"), (-7199, "1 h ago"),
    (-3 * 86400, "3 d ago"), (8.2, "in 8 s"), (180, "in 3 min"),
])
def test_relative_times(delta: float, text: str) -> None:
    assert relative(fx.NOW + delta, fx.NOW) == text


def test_overdue_refresh_reads_now() -> None:
    assert relative(fx.NOW - 5, fx.NOW, past="now") == "now"


class FixedStatus:
    def __init__(self, inputs: StatusInputs) -> None:
        self.inputs = inputs

    def read(self) -> StatusInputs:
        return self.inputs

    def generation(self) -> str:
        return self.inputs.generation


class NoView:
    registry = None


@pytest.fixture
def served() -> Iterator[str]:
    endpoint = Endpoint(NoView(), lambda: None, FixedStatus(fx.every_state()))  # type: ignore[arg-type]
    server = HttpServer("127.0.0.1:0", endpoint)
    server.start()
    yield server.url
    server.stop()


def test_served_over_http(served: str) -> None:
    page = requests.get(served + "/?show=failing", timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "no-store"
    assert len(rows(parse(page.text))) == 4
    assert fx.SECRET not in page.text
    head = requests.head(served + "/", timeout=5)
    assert head.status_code == 200 and head.text == ""
    status = requests.get(served + "/status.json", timeout=5)
    assert status.headers["Content-Type"] == "application/json"
    assert status.json() == {"version": "0.1.0", "generation": "7.2.0"}
    bad = requests.get(served + "/?limit=lots", timeout=5)
    assert (bad.status_code, bad.text) == (400, "400 bad query: limit='lots' must be a whole number from 1 to 1000\n")


def test_page_loads_nothing_from_elsewhere(page: Node) -> None:
    for tag, attribute in (("script", "src"), ("link", "href"), ("img", "src")):
        assert all(attribute not in node.attrs for node in page.find_all(tag))
    for link in page.find_all("a"):
        assert "//" not in link.attrs["href"]


# --- the board that reads the running exporter -----------------------------------------


def exporter_with_pages() -> Exporter:
    pages = tuple(PageConfig(str(i), f"Page {i}", TokenSource(env="T"), ()) for i in (1, 2))
    config = Config(GraphApiConfig(base_url="http://127.0.0.1:9"), RefreshConfig(60, 180), pages,
                    source="c.yaml")
    return Exporter(Settings(config, {p.id: Secret("page-token-1234") for p in pages}))


def test_board_reads_every_source_once() -> None:
    exporter = exporter_with_pages()
    due = DueTimes(60, clock=lambda: fx.NOW)
    due.take_due(["1"])
    reloads = Reloader(exporter, lambda: exporter.runtime.settings, lambda: None)
    board = StatusBoard(exporter, due=due, reloads=reloads, demo=True, clock=lambda: fx.NOW)
    before = board.generation()
    exporter.store.put(PageSnapshot(exporter.runtime.pages["1"], attempted=True, up=True, last_success=fx.NOW))
    exporter.governor._pause("2", 600, "test")
    exporter.self_metrics.record_usage([UsageReport("app", "", {"call_count": 42.0})])
    inputs = board.read()
    assert inputs.generation != before
    assert inputs.now == fx.NOW and inputs.demo
    assert set(inputs.snapshots) == {"1", "2"}
    assert set(inputs.held) == {"2"}
    assert set(inputs.due) == {"1"} and inputs.due["1"] > fx.NOW
    assert inputs.tokens is None  # no app id and secret
    assert inputs.usage_peak is not None and inputs.usage_peak.ratio == 0.42
    assert inputs.reload == reloads.record
    assert (inputs.shard_index, inputs.shard_count) == (0, 1)
    assert classify(inputs, inputs.snapshots["2"]) == HELD


def test_reload_record_keeps_the_last_failure_until_a_reload_works() -> None:
    exporter = exporter_with_pages()
    attempts = iter([None, "bad"])

    def load() -> Settings:
        if next(attempts) == "bad":
            raise ConfigError(["c.yaml:2:3: pages: bad"])
        return exporter.runtime.settings

    reloads = Reloader(exporter, load, lambda: None)
    assert reloads.reload() is None
    loaded = reloads.record.loaded_at
    assert reloads.reload() == "c.yaml:2:3: pages: bad"
    assert reloads.record == ReloadRecord(loaded, reloads.record.failed_at, "c.yaml:2:3: pages: bad")
    assert reloads.record.failed_at is not None


def test_usage_high_water_mark() -> None:
    board = UsageBoard(clock=lambda: fx.NOW)
    assert board.peak() is None
    board.record([UsageReport("app", "", {"call_count": 30.0, "total_time": 55.0})])
    board.record([UsageReport("business_use_case", "1001", {"call_count": 20.0})])
    peak = board.peak()
    assert peak is not None
    assert (peak.ratio, peak.source, peak.scope_id, peak.kind, peak.at) == (0.55, "app", "", "total_time", fx.NOW)


def test_status_json_is_small() -> None:
    assert json.loads(status_json("1.0", "3.4")) == {"version": "1.0", "generation": "3.4"}
