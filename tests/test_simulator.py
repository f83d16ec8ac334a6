"""The Graph API simulator, exercised over real loopback HTTP."""

from __future__ import annotations

import calendar as stdlib_calendar
import datetime as dt
import hashlib
import hmac
import itertools
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from exporter import pacific_calendar as pacific
from exporter.catalog import BREAKDOWN_LABELS, CATALOG
from exporter.simulator import RecordedRequest, Scenario, Simulator
from exporter.simulator.__main__ import main as simulator_main
from exporter.simulator.breakdowns import DIMENSION_VALUES

REPO = Path(__file__).resolve().parent.parent
PAGE = "1234567890"
TOKEN = "EAABsecretTOKEN123"
NEW = "page_messages_new_conversations_unique"
BLOCKED = "page_messages_blocked_conversations_unique"
REPORTED = "page_messages_reported_conversations_unique"
CONNECTIONS = "page_messages_total_messaging_connections"
READ_RATIO = "page_messages_read_ratio"
EARNINGS = "page_messages_paid_order_earnings"
TOKENS = "recurring_notifications_tokens"


def utc(*parts: int) -> float:
    return float(stdlib_calendar.timegm((*parts, 0, 0, 0)[:6]))


# 05:00 PDT on 2026-09-04: the latest complete day is 2026-09-03.
SUMMER_NOW = utc(2026, 9, 4, 12, 0, 0)
# 12:00 PST on 2026-01-15: the latest complete day is 2026-01-14.
WINTER_NOW = utc(2026, 1, 15, 20, 0, 0)


def token_of(page: str) -> str:
    """Each Page reads its insights with its own token, as against Meta."""
    return TOKEN if page == PAGE else f"EAABtokenOF{page}"


# The user token that lists the managed Pages (me/accounts).
USER_TOKEN = "EAAUuserTOKEN42"
# The Pages whose tokens (token_of) the tests' simulators know, as Meta knows every token it
# issued; other Pages have no known token, and a token never registered gets 190.
KNOWN_PAGES = (PAGE, "42", "43", "44", "45", "555", "987654321")


def registered(**options: Any) -> Simulator:
    """A simulator that knows token_of(page) for KNOWN_PAGES (and `page_tokens`), and
    USER_TOKEN as the user token."""
    tokens = {page: token_of(page) for page in KNOWN_PAGES} | options.pop("page_tokens", {})
    return Simulator(page_tokens=tokens, user_tokens=(USER_TOKEN,), **options)


# The default of get()'s token: the Page's own.
OWN = "<the Page's own token>"
# get(period=OMITTED) sends no period at all.
OMITTED = "<no period>"


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Simulator]:
    with registered(now=lambda: SUMMER_NOW, extra_metrics=("page_fans_city",),
                   page_tokens={PAGE: TOKEN}) as simulator:
        yield simulator


@pytest.fixture
def sim(shared_sim: Simulator) -> Simulator:
    shared_sim.reset()
    return shared_sim


@pytest.fixture(scope="module")
def winter_sim() -> Iterator[Simulator]:
    with registered(now=lambda: WINTER_NOW) as simulator:
        yield simulator


def get(
    simulator: Simulator,
    page: str = PAGE,
    token: str | None = OWN,
    path: str | None = None,
    **params: str,
) -> requests.Response:
    if token == OWN:
        token = token_of(page)
    # Without a period Meta answers one entry per supported period: ask for one unless
    # the test leaves it out on purpose (period=OMITTED).
    params.setdefault("period", "day")
    if params["period"] == OMITTED:
        del params["period"]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = simulator.url + (path or f"/v24.0/{page}/insights")
    return requests.get(url, params=params, headers=headers, timeout=10)


def ok(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_of(response: requests.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert {"message", "type", "code", "fbtrace_id"} <= error.keys()
    assert response.headers["WWW-Authenticate"].startswith('OAuth "Facebook Platform"')
    return error


def values_of(body: dict[str, Any], metric: str) -> list[dict[str, Any]]:
    (entry,) = [e for e in body["data"] if e["name"] == metric]
    found: list[dict[str, Any]] = entry["values"]
    return found


def end_times(body: dict[str, Any], metric: str) -> list[str]:
    return [v["end_time"] for v in values_of(body, metric)]


def put_scenario(simulator: Simulator, page: str, payload: object) -> requests.Response:
    url = f"{simulator.url}/_sim/pages/{page}/scenario"
    return requests.put(url, data=json.dumps(payload), timeout=10)


# --- calendar ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "end"),
    [
        (dt.date(2026, 9, 3), "2026-09-04T07:00:00+0000"),
        (dt.date(2026, 1, 14), "2026-01-15T08:00:00+0000"),
        (dt.date(2026, 3, 7), "2026-03-08T08:00:00+0000"),  # DST starts on 03-08
        (dt.date(2026, 3, 8), "2026-03-09T07:00:00+0000"),
        (dt.date(2026, 10, 31), "2026-11-01T07:00:00+0000"),  # DST ends on 11-01
        (dt.date(2026, 11, 1), "2026-11-02T08:00:00+0000"),
        (dt.date(2024, 12, 31), "2025-01-01T08:00:00+0000"),
    ],
)
def test_day_end_is_next_pacific_midnight(day: dt.date, end: str) -> None:
    assert pacific.iso_utc(pacific.day_end(day)) == end


def test_dst_rule_matches_tzdata_when_available() -> None:
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        zone = zoneinfo.ZoneInfo("America/Los_Angeles")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no tzdata here")
    for hours in range(0, 24 * 365 * 3, 5):
        instant = utc(2025, 1, 1, 0, 0, 0) + hours * 3600
        offset = dt.datetime.fromtimestamp(instant, zone).utcoffset()
        assert offset is not None
        assert pacific.utc_offset_hours(instant) * 3600 == offset.total_seconds()
        assert pacific.pacific_date(instant) == dt.datetime.fromtimestamp(instant, zone).date()


def test_pacific_clock_format() -> None:
    assert pacific.pacific_clock(utc(2026, 11, 3, 17, 0, 0)) == "Tuesday, 03-Nov-26 09:00:00 PST"


def test_breakdown_values_cover_the_catalog_dimensions() -> None:
    assert set(DIMENSION_VALUES) == set(BREAKDOWN_LABELS)


# --- day values and windows --------------------------------------------------------------


def test_day_default_window_is_two_latest_complete_days_summer(sim: Simulator) -> None:
    body = ok(get(sim, metric=NEW, period="day"))
    (entry,) = body["data"]
    assert entry["name"] == NEW
    assert entry["period"] == "day"
    assert entry["id"] == f"{PAGE}/insights/{NEW}/day"
    assert entry["title"] and entry["description"]
    assert end_times(body, NEW) == ["2026-09-03T07:00:00+0000", "2026-09-04T07:00:00+0000"]
    assert all(type(v["value"]) is int for v in entry["values"])


def test_day_default_window_winter_uses_pst(winter_sim: Simulator) -> None:
    body = ok(get(winter_sim, metric=NEW))
    assert end_times(body, NEW) == ["2026-01-14T08:00:00+0000", "2026-01-15T08:00:00+0000"]


def test_a_day_is_complete_once_its_end_time_has_passed() -> None:
    midnight = pacific.day_end(dt.date(2026, 9, 3))
    with registered(now=lambda: midnight) as simulator:
        body = ok(get(simulator, metric=NEW))
    assert end_times(body, NEW)[-1] == "2026-09-04T07:00:00+0000"
    with registered(now=lambda: midnight - 1) as simulator:
        body = ok(get(simulator, metric=NEW))
    assert end_times(body, NEW)[-1] == "2026-09-03T07:00:00+0000"


def test_window_by_dates_and_by_unix_seconds_agree(sim: Simulator) -> None:
    by_date = ok(get(sim, metric=NEW, since="2026-08-01", until="2026-08-08"))
    since, until = pacific.day_start(dt.date(2026, 8, 1)), pacific.day_start(dt.date(2026, 8, 8))
    by_unix = ok(get(sim, metric=NEW, since=str(since), until=str(until)))
    assert values_of(by_date, NEW) == values_of(by_unix, NEW)
    ends = end_times(by_date, NEW)
    assert len(ends) == 7
    assert ends[0] == "2026-08-02T07:00:00+0000"  # the day of 08-01; since is inclusive
    assert ends[-1] == "2026-08-08T07:00:00+0000"  # the day of 08-07; until is exclusive


def test_window_across_dst_start(sim: Simulator) -> None:
    body = ok(get(sim, metric=NEW, since="2026-03-06", until="2026-03-10"))
    assert end_times(body, NEW) == [
        "2026-03-07T08:00:00+0000",
        "2026-03-08T08:00:00+0000",
        "2026-03-09T07:00:00+0000",
        "2026-03-10T07:00:00+0000",
    ]


def test_window_stops_at_latest_complete_day(sim: Simulator) -> None:
    body = ok(get(sim, metric=NEW, since="2026-09-01", until="2026-09-10"))
    assert end_times(body, NEW) == [
        "2026-09-02T07:00:00+0000",
        "2026-09-03T07:00:00+0000",
        "2026-09-04T07:00:00+0000",
    ]


def test_more_than_93_days_is_refused(sim: Simulator) -> None:
    error = error_of(get(sim, metric=NEW, since="1760000000", until="1768035201"), 400, 1)
    assert error["message"] == (
        "There cannot be more than 93 days (8035200 s) between since and until"
    )
    ok(get(sim, metric=NEW, since="1760000000", until="1768035200"))


def test_bad_since_is_refused(sim: Simulator) -> None:
    error_of(get(sim, metric=NEW, since="last tuesday", until="2026-09-01"), 400, 100)


@pytest.mark.parametrize(
    ("preset", "count", "last_end"),
    [
        ("yesterday", 1, "2026-09-04T07:00:00+0000"),
        ("last_7d", 7, "2026-09-04T07:00:00+0000"),
        ("last_90d", 90, "2026-09-04T07:00:00+0000"),
        ("last_month", 31, "2026-09-01T07:00:00+0000"),
        ("this_month", 3, "2026-09-04T07:00:00+0000"),
    ],
)
def test_date_presets(sim: Simulator, preset: str, count: int, last_end: str) -> None:
    ends = end_times(ok(get(sim, metric=NEW, date_preset=preset)), NEW)
    assert len(ends) == count
    assert ends[-1] == last_end


def test_today_has_no_complete_day(sim: Simulator) -> None:
    assert values_of(ok(get(sim, metric=NEW, date_preset="today")), NEW) == []


def test_date_preset_is_ignored_beside_since_until(sim: Simulator) -> None:
    body = ok(get(sim, metric=NEW, date_preset="last_90d", since="2026-08-01", until="2026-08-03"))
    assert len(values_of(body, NEW)) == 2


def test_unknown_date_preset_is_refused(sim: Simulator) -> None:
    error = error_of(get(sim, metric=NEW, date_preset="last_century"), 400, 100)
    assert "last_7d" in error["message"]


def test_unknown_period_lists_the_valid_ones(sim: Simulator) -> None:
    error = error_of(get(sim, metric=NEW, period="fortnight"), 400, 100)
    for period in ("day", "week", "days_28", "month", "total_over_range", "lifetime"):
        assert period in error["message"]


def test_omitted_period_means_day(sim: Simulator) -> None:
    assert ok(get(sim, metric=NEW))["data"][0]["period"] == "day"


# --- value shapes ------------------------------------------------------------------------


def test_magnitudes_are_plausible(sim: Simulator) -> None:
    metrics = ",".join(CATALOG)
    body = ok(get(sim, metric=metrics, since="2026-06-01", until="2026-08-30"))
    assert [e["name"] for e in body["data"]] == list(CATALOG)
    for name in (BLOCKED, REPORTED):
        assert all(0 <= v["value"] <= 9 for v in values_of(body, name))
    assert all(10 <= v["value"] <= 500 for v in values_of(body, NEW))
    ratios = [v["value"] for v in values_of(body, READ_RATIO)]
    assert all(isinstance(r, float) and 0 < r < 1 for r in ratios)
    earnings = [v["value"] for v in values_of(body, EARNINGS)]
    assert all(round(e, 2) == e >= 0 for e in earnings)
    connections = [v["value"] for v in values_of(body, CONNECTIONS)]
    assert connections == sorted(connections)
    assert connections[0] > 1000
    assert connections[-1] - connections[0] < connections[0]
    assert any(v["value"] < 0 for v in values_of(body, TOKENS))


def test_rolling_periods_sum_the_daily_values(sim: Simulator) -> None:
    daily = ok(
        get(sim, metric=f"{NEW},{CONNECTIONS},{READ_RATIO}", since="2026-08-01", until="2026-09-04")
    )
    new_by_day = [v["value"] for v in values_of(daily, NEW)]
    for period, length in (("week", 7), ("days_28", 28), ("month", 30)):
        rolled = ok(get(sim, metric=f"{NEW},{CONNECTIONS},{READ_RATIO}", period=period))
        assert end_times(rolled, NEW) == end_times(daily, NEW)[-2:]
        assert values_of(rolled, NEW)[-1]["value"] == sum(new_by_day[-length:])
        assert values_of(rolled, NEW)[-2]["value"] == sum(new_by_day[-length - 1 : -1])
        assert values_of(rolled, CONNECTIONS) == values_of(daily, CONNECTIONS)[-2:]
        assert all(0 < v["value"] < 1 for v in values_of(rolled, READ_RATIO))


def test_total_over_range_is_one_value_at_the_window_end(sim: Simulator) -> None:
    window = {"since": "2026-08-01", "until": "2026-08-15"}
    daily = ok(get(sim, metric=f"{NEW},{CONNECTIONS}", **window))
    total = ok(get(sim, metric=f"{NEW},{CONNECTIONS}", period="total_over_range", **window))
    for metric in (NEW, CONNECTIONS):
        (value,) = values_of(total, metric)
        assert value["end_time"] == "2026-08-15T07:00:00+0000"
    assert values_of(total, NEW)[0]["value"] == sum(v["value"] for v in values_of(daily, NEW))
    assert values_of(total, CONNECTIONS)[0]["value"] == values_of(daily, CONNECTIONS)[-1]["value"]
    assert total["data"][0]["id"] == f"{PAGE}/insights/{NEW}/total_over_range"


def test_total_over_range_end_is_clamped_to_latest_complete_day(sim: Simulator) -> None:
    total = ok(
        get(sim, metric=NEW, period="total_over_range", since="2026-09-01", until="2026-09-20")
    )
    assert end_times(total, NEW) == ["2026-09-04T07:00:00+0000"]


def test_total_over_range_without_window_covers_the_default_two_days(sim: Simulator) -> None:
    daily = ok(get(sim, metric=NEW))
    (total,) = values_of(ok(get(sim, metric=NEW, period="total_over_range")), NEW)
    assert total["value"] == sum(v["value"] for v in values_of(daily, NEW))
    assert total["end_time"] == "2026-09-04T07:00:00+0000"


def test_breakdown_rows_are_the_cartesian_product(sim: Simulator) -> None:
    dims = ("recurring_notifications_topic", "recurring_notifications_frequency")
    body = ok(get(sim, metric=TOKENS, period="total_over_range", breakdown=",".join(dims)))
    rows = values_of(body, TOKENS)
    expected = list(itertools.product(*(DIMENSION_VALUES[d] for d in dims)))
    assert [(r[dims[0]], r[dims[1]]) for r in rows] == expected
    assert list(rows[0]) == ["value", "end_time", *dims]
    assert {"newproducts", "10percentsale"} <= {r[dims[0]] for r in rows}
    assert {r[dims[1]] for r in rows} == {"daily", "weekly", "monthly"}


def test_breakdown_by_day_gives_rows_for_each_day(sim: Simulator) -> None:
    body = ok(get(sim, metric="page_messages_sent", breakdown="messaging_channel"))
    rows = values_of(body, "page_messages_sent")
    assert [(r["end_time"][:10], r["messaging_channel"]) for r in rows] == [
        ("2026-09-03", "messenger"),
        ("2026-09-03", "instagram"),
        ("2026-09-04", "messenger"),
        ("2026-09-04", "instagram"),
    ]


def test_unknown_breakdown_is_refused(sim: Simulator) -> None:
    error_of(get(sim, metric=NEW, breakdown="messaging_channel,age"), 400, 100)


def test_values_are_deterministic_across_instances() -> None:
    params = {"metric": ",".join(CATALOG), "since": "2026-07-01", "until": "2026-08-01"}
    bodies = []
    for _ in range(2):
        with registered(now=lambda: SUMMER_NOW) as simulator:
            bodies.append(ok(get(simulator, **params))["data"])
    assert bodies[0] == bodies[1]
    with registered(now=lambda: SUMMER_NOW) as simulator:
        other_page = ok(get(simulator, page="987654321", **params))["data"]
    assert [e["values"] for e in other_page] != [e["values"] for e in bodies[0]]


def test_metric_as_json_list(sim: Simulator) -> None:
    body = ok(get(sim, metric=json.dumps([NEW, BLOCKED])))
    assert [e["name"] for e in body["data"]] == [NEW, BLOCKED]


def test_unknown_metric_fails_the_whole_request(sim: Simulator) -> None:
    error = error_of(get(sim, metric=f"{NEW},page_impressions_unique"), 400, 100)
    assert error["message"] == "(#100) The value must be a valid insights metric"
    assert error["type"] == "OAuthException"


def test_extra_metrics_are_accepted(sim: Simulator) -> None:
    body = ok(get(sim, metric=f"{NEW},page_fans_city"))
    assert len(values_of(body, "page_fans_city")) == 2


def test_missing_metric(sim: Simulator) -> None:
    error = error_of(get(sim), 400, 3001)
    assert error["error_subcode"] == 1504028


# --- tokens, paging, headers, routing ------------------------------------------------------


def test_missing_token(sim: Simulator) -> None:
    error = error_of(get(sim, token=None, metric=NEW), 400, 104)
    assert error["message"] == "An access token is required to request this resource."
    assert error["type"] == "OAuthException"


def test_token_sources_are_logged_without_the_token(sim: Simulator) -> None:
    ok(get(sim, metric=NEW))
    ok(
        requests.get(
            f"{sim.url}/v24.0/{PAGE}/insights",
            params={"metric": NEW},
            headers={"Authorization": f"OAuth {TOKEN}"},
            timeout=10,
        )
    )
    ok(get(sim, token=None, metric=NEW, access_token=TOKEN))
    get(sim, token=None, metric=NEW)
    log = sim.requests()
    assert [r.token_source for r in log] == ["header", "header", "query", "none"]
    assert log[2].query == {"metric": NEW, "period": "day", "access_token": "REDACTED"}
    assert all(isinstance(r, RecordedRequest) and r.page_id == PAGE for r in log)
    assert log[0].method == "GET"
    assert log[0].path == f"/v24.0/{PAGE}/insights"
    assert log[0].time == SUMMER_NOW
    assert TOKEN not in repr(log)


def test_paging_echoes_the_token_and_shifts_the_window(sim: Simulator) -> None:
    body = ok(get(sim, metric=NEW, period="day", since="1788332400", until="1788505200"))
    previous = urlsplit(body["paging"]["previous"])
    following = parse_qs(urlsplit(body["paging"]["next"]).query)
    assert parse_qs(previous.query) == {
        "access_token": [TOKEN],
        "metric": [NEW],
        "period": ["day"],
        "since": ["1788159600"],
        "until": ["1788332400"],
    }
    assert previous.path == f"/v24.0/{PAGE}/insights"
    assert following["since"] == ["1788505200"]
    assert following["until"] == ["1788678000"]
    assert f"access_token={TOKEN}&" in body["paging"]["next"]


def test_standard_headers(sim: Simulator) -> None:
    response = get(sim, path=f"/v25.0/{PAGE}/insights", metric=NEW)
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert response.headers["facebook-api-version"] == "v25.0"
    app_usage = json.loads(response.headers["x-app-usage"])
    assert set(app_usage) == {"call_count", "total_time", "total_cputime"}
    business = json.loads(response.headers["x-business-use-case-usage"])
    (usage,) = business[PAGE]
    assert usage["type"] == "pages"
    assert usage["estimated_time_to_regain_access"] == 0
    page_usage = json.loads(response.headers["x-page-usage"])
    for figures in (app_usage, usage, page_usage):
        assert all(0 <= figures[k] <= 100 for k in ("call_count", "total_time", "total_cputime"))


def test_usage_grows_with_calls_but_stays_plausible() -> None:
    with registered(now=lambda: SUMMER_NOW) as simulator:
        session = requests.Session()
        for _ in range(60):
            response = session.get(
                f"{simulator.url}/{PAGE}/insights",
                params={"metric": NEW, "access_token": TOKEN},
                timeout=10,
            )
        (usage,) = json.loads(response.headers["x-business-use-case-usage"])[PAGE]
    assert 0 < usage["call_count"] < 95


@pytest.mark.parametrize(
    "path", [f"/{PAGE}/insights", f"/{PAGE}/insights/", f"/v24.0/{PAGE}/insights/"]
)
def test_paths_with_and_without_version(sim: Simulator, path: str) -> None:
    response = get(sim, path=path, metric=NEW)
    ok(response)
    assert response.headers["facebook-api-version"] == "v24.0"


def test_non_numeric_page_id(sim: Simulator) -> None:
    error = error_of(get(sim, page="me", metric=NEW), 400, 100)
    assert error["error_subcode"] == 33
    assert "Object with ID 'me' does not exist" in error["message"]


def test_unknown_path(sim: Simulator) -> None:
    error = error_of(get(sim, path="/v24.0/123/feed"), 400, 100)
    assert error["message"].startswith("Unsupported get request")


def test_other_methods_on_insights(sim: Simulator) -> None:
    response = requests.post(f"{sim.url}/v24.0/{PAGE}/insights", data=b"x" * 200_000, timeout=10)
    error = error_of(response, 400, 100)
    assert error["message"].startswith("Unsupported post request")


def test_a_broken_request_answers_500_and_the_server_goes_on() -> None:
    broken = False

    def clock() -> float:
        if broken:
            raise RuntimeError("clock broke")
        return SUMMER_NOW

    with registered(now=clock) as simulator:
        broken = True
        error_of(get(simulator, metric=NEW), 500, 1)
        broken = False
        ok(get(simulator, metric=NEW))


def test_malformed_http_does_not_stop_the_server(sim: Simulator) -> None:
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as raw:
        raw.sendall(b"\x00\xffNOT HTTP AT ALL\r\n\r\n")
        raw.recv(4096)
    ok(get(sim, metric=NEW))


def test_latency_delays_answers() -> None:
    with registered(now=lambda: SUMMER_NOW, latency=0.2) as simulator:
        started = time.monotonic()
        ok(get(simulator, metric=NEW))
        assert time.monotonic() - started >= 0.2


# --- scenarios ----------------------------------------------------------------------------


# (HTTP status, code, error_subcode, start of the message)
Expected = tuple[int, int, int | None, str]


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (Scenario("invalid_token"), (400, 190, 460, "Error validating access token: The")),
        (Scenario("expired_token"), (400, 190, 463, "Error validating access token: Session")),
        (Scenario("permission_denied"), (403, 10, None, "(#10) Application does not have")),
        (Scenario("permission_denied", {"code": 200}), (403, 200, None, "(#200) ")),
        (Scenario("rate_limited"), (400, 80001, None, "(#80001) There have been too many")),
        (Scenario("rate_limited", {"code": 4}), (403, 4, None, "(#4) Application request")),
        (Scenario("rate_limited", {"code": 17}), (400, 17, None, "(#17) User request limit")),
        (Scenario("rate_limited", {"code": 32}), (400, 32, None, "(#32) Page request limit")),
        (Scenario("rate_limited", {"code": 613}), (400, 613, None, "(#613) Calls to this api")),
        (Scenario("transient"), (500, 1, None, "An unknown error occurred")),
        (Scenario("transient", {"status": 503}), (503, 1, None, "An unknown error occurred")),
        (Scenario("transient", {"code": 2}), (400, 2, None, "(#2) Service temporarily")),
    ],
)
def test_error_scenarios(sim: Simulator, scenario: Scenario, expected: Expected) -> None:
    status, code, subcode, message = expected
    sim.set_scenario(PAGE, scenario)
    error = error_of(get(sim, metric=NEW), status, code)
    assert error.get("error_subcode") == subcode
    assert error["message"].startswith(message)
    ok(get(sim, page="555", metric=NEW))  # other Pages are unaffected


def test_expired_token_names_the_current_time(sim: Simulator) -> None:
    sim.set_scenario(PAGE, Scenario("expired_token"))
    error = error_of(get(sim, metric=NEW), 400, 190)
    assert error["message"].endswith("The current time is Friday, 04-Sep-26 05:00:00 PDT.")


def test_transient_code_2_is_transient(sim: Simulator) -> None:
    sim.set_scenario(PAGE, Scenario("transient", {"code": 2}))
    assert error_of(get(sim, metric=NEW), 400, 2)["is_transient"] is True


def test_rate_limit_headers(sim: Simulator) -> None:
    sim.set_scenario(PAGE, Scenario("rate_limited", {"minutes": 7}))
    response = get(sim, metric=NEW)
    (usage,) = json.loads(response.headers["x-business-use-case-usage"])[PAGE]
    assert usage["call_count"] == 100
    assert usage["estimated_time_to_regain_access"] == 7
    sim.set_scenario(PAGE, Scenario("rate_limited", {"code": 4}))
    response = get(sim, metric=NEW)
    assert json.loads(response.headers["x-app-usage"])["call_count"] == 100


def test_retired_metric_fails_requests_naming_it(sim: Simulator) -> None:
    sim.set_scenario(PAGE, Scenario("retired_metric", {"metrics": [BLOCKED]}))
    error = error_of(get(sim, metric=f"{NEW},{BLOCKED}"), 400, 100)
    assert error["message"] == "(#100) The value must be a valid insights metric"
    ok(get(sim, metric=NEW))


def test_garbage(sim: Simulator) -> None:
    sim.set_scenario(PAGE, Scenario("garbage"))
    response = get(sim, metric=NEW)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError, match="Expecting value"):
        response.json()


def test_raw_body(sim: Simulator) -> None:
    sim.set_scenario(
        PAGE,
        Scenario(
            "body", {"status": 502, "body": "upstream <b>down</b>", "content_type": "text/html"}
        ),
    )
    response = get(sim, metric=NEW)
    assert response.status_code == 502
    assert response.text == "upstream <b>down</b>"
    assert response.headers["Content-Type"] == "text/html"


def test_slow(sim: Simulator) -> None:
    sim.set_scenario(PAGE, Scenario("slow", {"seconds": 0.3, "times": 1}))
    started = time.monotonic()
    ok(get(sim, metric=NEW))
    assert time.monotonic() - started >= 0.3


def test_unix_dialect(sim: Simulator) -> None:
    sim.set_scenario(PAGE, Scenario("unix_dialect"))
    body = ok(get(sim, metric=f"{NEW},{READ_RATIO}"))
    for metric in (NEW, READ_RATIO):
        for value in values_of(body, metric):
            assert isinstance(value["value"], str)
            assert value["end_time"] in {"1788418800", "1788505200"}
    float(values_of(body, READ_RATIO)[0]["value"])
    int(values_of(body, NEW)[0]["value"])
    sim.clear_scenario(PAGE)
    normal = ok(get(sim, metric=NEW))
    assert [str(v["value"]) for v in values_of(normal, NEW)] == [
        v["value"] for v in values_of(body, NEW)
    ]


def test_empty_data_and_empty_values(sim: Simulator) -> None:
    sim.set_scenario(PAGE, Scenario("empty"))
    assert ok(get(sim, metric=NEW)) == {"data": []}
    sim.set_scenario(PAGE, Scenario("empty", {"mode": "values"}))
    body = ok(get(sim, metric=f"{NEW},{BLOCKED}"))
    assert [e["values"] for e in body["data"]] == [[], []]


def test_spike_changes_only_the_latest_day(sim: Simulator) -> None:
    window = {"since": "2026-08-25", "until": "2026-09-04"}
    normal = ok(get(sim, metric=f"{BLOCKED},{REPORTED},{NEW}", **window))
    sim.set_scenario(PAGE, Scenario("spike", {"factor": 3, "add": 50}))
    spiked = ok(get(sim, metric=f"{BLOCKED},{REPORTED},{NEW}", **window))
    for metric in (BLOCKED, REPORTED):
        before, after = values_of(normal, metric), values_of(spiked, metric)
        assert after[:-1] == before[:-1]
        assert after[-1]["value"] == before[-1]["value"] * 3 + 50
    assert values_of(spiked, NEW) == values_of(normal, NEW)


def test_times_limits_a_scenario(sim: Simulator) -> None:
    sim.set_scenario(PAGE, Scenario("transient", {"times": 2}))
    error_of(get(sim, metric=NEW), 500, 1)
    error_of(get(sim, metric=NEW), 500, 1)
    ok(get(sim, metric=NEW))
    ok(get(sim, metric=NEW))


def test_clear_scenario(sim: Simulator) -> None:
    sim.set_scenario(PAGE, Scenario("invalid_token"))
    error_of(get(sim, metric=NEW), 400, 190)
    sim.clear_scenario(PAGE)
    ok(get(sim, metric=NEW))


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("no_such_scenario", {}),
        ("rate_limited", {"code": 99999}),
        ("rate_limited", {"minute": 5}),
        ("slow", {"seconds": "long"}),
        ("transient", {"times": 0}),
        ("retired_metric", {}),
    ],
)
def test_invalid_scenarios_are_refused(name: str, params: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="scenario"):
        Scenario(name, params)


# --- control API and bookkeeping ------------------------------------------------------------


def test_request_count_and_reset_log(sim: Simulator) -> None:
    get(sim, metric=NEW)
    get(sim, page="42", metric=NEW)
    get(sim, page="42", metric=NEW)
    assert sim.request_count() == 3
    assert sim.request_count("42") == 2
    assert sim.request_count("7") == 0
    sim.reset_log()
    assert sim.request_count() == 0
    assert sim.requests() == []


def test_control_api(sim: Simulator) -> None:
    assert put_scenario(sim, PAGE, {"name": "permission_denied", "params": {}}).status_code == 204
    error_of(get(sim, metric=NEW), 403, 10)
    deleted = requests.delete(f"{sim.url}/_sim/pages/{PAGE}/scenario", timeout=10)
    assert deleted.status_code == 204
    ok(get(sim, metric=NEW))
    get(sim, page="42", metric=NEW, token=None)

    log = requests.get(f"{sim.url}/_sim/requests", timeout=10).json()
    assert log["total"] == 3
    assert log["by_page"] == {PAGE: 2, "42": 1}
    assert log["log"][0]["page_id"] == PAGE
    assert set(log["log"][0]) == {
        "method", "path", "page_id", "query", "token_source", "time", "proof_ok", "kind"
    }

    assert put_scenario(sim, PAGE, {"name": "transient", "params": {"times": 1}}).status_code == 204
    assert requests.post(f"{sim.url}/_sim/reset", timeout=10).status_code == 204
    ok(get(sim, metric=NEW))
    assert requests.get(f"{sim.url}/_sim/requests", timeout=10).json()["total"] == 1


@pytest.mark.parametrize(
    "payload",
    [{"name": "bogus"}, {"params": {}}, ["invalid_token"], {"name": "slow", "params": [1]}],
)
def test_control_api_refuses_bad_scenarios(sim: Simulator, payload: object) -> None:
    response = put_scenario(sim, PAGE, payload)
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_control_api_refuses_non_json(sim: Simulator) -> None:
    response = requests.put(f"{sim.url}/_sim/pages/{PAGE}/scenario", data="{", timeout=10)
    assert response.status_code == 400


def test_stop_is_idempotent_and_frees_the_port() -> None:
    simulator = registered(now=lambda: SUMMER_NOW)
    simulator.start()
    port = simulator.port
    simulator.stop()
    simulator.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/{PAGE}/insights", timeout=2)


# --- connection faults ----------------------------------------------------------------------


def raw_get(simulator: Simulator, path: str) -> tuple[bytes, OSError | None]:
    """Everything a plain socket receives for a GET, and the error that ended it (if any)."""
    request = f"GET {path} HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    received = b""
    with socket.create_connection(("127.0.0.1", simulator.port), timeout=5) as raw:
        raw.sendall(request.encode())
        try:
            while chunk := raw.recv(65536):
                received += chunk
        except OSError as error:
            return received, error
    return received, None


def handler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "process_request" in t.name]


def test_reset_sends_part_of_the_body_then_resets(sim: Simulator) -> None:
    sim.set_scenario(PAGE, Scenario("reset", {"times": 2}))
    received, error = raw_get(sim, f"/v24.0/{PAGE}/insights?metric={NEW}")
    assert isinstance(error, ConnectionResetError)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 ")
    (length,) = [
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.startswith(b"Content-")
        and line.lower().startswith(b"content-length")
    ]
    assert 0 < len(body) < length
    with pytest.raises(requests.RequestException, match="reset"):
        get(sim, metric=NEW)
    ok(get(sim, metric=NEW))
    assert sim.request_count(PAGE) == 3


def test_drop_closes_without_a_byte(sim: Simulator) -> None:
    sim.set_scenario(PAGE, Scenario("drop", {"times": 2}))
    assert raw_get(sim, f"/v24.0/{PAGE}/insights?metric={NEW}") == (b"", None)
    with pytest.raises(requests.ConnectionError):
        get(sim, metric=NEW)
    ok(get(sim, metric=NEW))


def test_trickle_sends_a_normal_answer_slowly(sim: Simulator) -> None:
    normal = get(sim, metric=NEW)
    rate = 4 * len(normal.content)  # a quarter of a second for the whole answer
    sim.set_scenario(PAGE, Scenario("trickle", {"bytes_per_second": rate, "times": 1}))
    started = time.monotonic()
    slow = get(sim, metric=NEW)
    assert time.monotonic() - started >= 0.2
    assert ok(slow)["data"] == ok(normal)["data"]


def test_trickle_trips_a_total_deadline_and_stops_when_the_client_leaves(sim: Simulator) -> None:
    sim.set_scenario(PAGE, Scenario("trickle"))  # 50 bytes a second
    started = time.monotonic()
    response = requests.get(
        f"{sim.url}/{PAGE}/insights",
        params={"metric": NEW, "access_token": TOKEN},
        stream=True,
        timeout=5,
    )
    received = b""
    for chunk in response.iter_content(8):
        received += chunk
        if time.monotonic() - started > 0.3:
            break  # the client's total-time limit
    assert len(received) < int(response.headers["Content-Length"])
    response.close()
    deadline = time.monotonic() + 2
    while handler_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert handler_threads() == []


def test_trickle_stops_when_the_simulator_stops() -> None:
    simulator = registered(now=lambda: SUMMER_NOW)
    simulator.start()
    simulator.set_scenario(PAGE, Scenario("trickle", {"bytes_per_second": 1}))
    failures: list[BaseException] = []

    def fetch() -> None:
        try:
            get(simulator, metric=NEW).json()
        except (requests.RequestException, ValueError) as error:
            failures.append(error)

    client = threading.Thread(target=fetch)
    client.start()
    deadline = time.monotonic() + 5
    while simulator.request_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    simulator.stop()
    client.join(timeout=3)
    assert not client.is_alive()
    assert time.monotonic() - started < 1.5
    assert failures  # the answer never completed
    assert handler_threads() == []


def test_huge_answer_is_that_many_megabytes_of_json(sim: Simulator) -> None:
    sim.set_scenario(PAGE, Scenario("huge", {"megabytes": 0.5, "times": 1}))
    response = get(sim, metric=NEW)
    assert len(response.content) == int(response.headers["Content-Length"]) == 1 << 19
    body = ok(response)
    assert len(values_of(body, NEW)) == 2
    sim.set_scenario(PAGE, Scenario("huge", {"times": 1}))
    response = requests.get(
        f"{sim.url}/{PAGE}/insights",
        params={"metric": NEW, "access_token": TOKEN},
        stream=True,
        timeout=10,
    )
    assert response.status_code == 200
    assert sum(len(chunk) for chunk in response.iter_content(1 << 20)) == 20 << 20


# --- the error and usage scenarios ----------------------------------------------------------

RATE_LIMIT_CODES = (4, 17, 32, 613, 80001)


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"code": 100}, 400, "(#100) The value must be a valid insights metric"),
        ({"code": 190}, 400, "Invalid OAuth access token - Cannot parse access token"),
        ({"code": 190, "subcode": 463}, 400, "Error validating access token: Session has expired"),
        ({"code": 190, "subcode": 467}, 400, "Error validating access token: The user is not"),
        ({"code": 190, "subcode": 460}, 400, "Error validating access token: The session has"),
        ({"code": 190, "subcode": 458}, 400, "Error validating access token: The user has not"),
        ({"code": 10}, 403, "(#10) Application does not have permission"),
        ({"code": 200}, 403, "(#200) "),
        ({"code": 299}, 403, "(#299) "),
        ({"code": 4}, 400, "(#4) Application request limit reached"),
        ({"code": 4, "status": 403}, 403, "(#4) Application request limit reached"),
        ({"code": 17}, 400, "(#17) User request limit reached"),
        ({"code": 32}, 400, "(#32) Page request limit reached"),
        ({"code": 613}, 400, "(#613) Calls to this api have exceeded the rate limit."),
        ({"code": 80001}, 400, "(#80001) There have been too many calls to this Page account"),
        ({"code": 1}, 500, "An unknown error occurred"),
        ({"code": 99}, 500, "An unknown error occurred"),
        (
            {"code": 1, "message": "Please reduce the amount of data you're asking for, then "
             "retry your request"},
            500,
            "Please reduce the amount of data",
        ),
        ({"code": 2}, 400, "(#2) Service temporarily unavailable"),
        ({"code": 12345}, 400, "(#12345) "),
    ],
)
def test_error_scenario_gives_every_error_of_the_table(
    sim: Simulator, params: dict[str, Any], status: int, message: str
) -> None:
    sim.set_scenario(PAGE, Scenario("error", params))
    error = error_of(get(sim, metric=NEW), status, params["code"])
    assert error["message"].startswith(message)
    assert error["type"] == "OAuthException"
    assert error.get("error_subcode") == params.get("subcode")
    transient = params["code"] in {2, *RATE_LIMIT_CODES}
    assert error.get("is_transient") is (True if transient else None)


def test_error_scenario_overrides(sim: Simulator) -> None:
    sim.set_scenario(
        PAGE,
        Scenario(
            "error",
            {"code": 190, "subcode": 463, "status": 401, "message": "gone", "is_transient": False,
             "type": "GraphMethodException"},
        ),
    )
    error = error_of(get(sim, metric=NEW), 401, 190)
    assert error == {**error, "message": "gone", "error_subcode": 463, "is_transient": False,
                     "type": "GraphMethodException"}
    with pytest.raises(ValueError, match="needs parameter 'code'"):
        Scenario("error")


def test_error_scenario_minutes_exhaust_the_quota_in_the_headers(sim: Simulator) -> None:
    sim.set_scenario(PAGE, Scenario("error", {"code": 80001, "minutes": 9}))
    response = get(sim, metric=NEW)
    (usage,) = json.loads(response.headers["x-business-use-case-usage"])[PAGE]
    assert (usage["call_count"], usage["estimated_time_to_regain_access"]) == (100, 9)
    assert json.loads(response.headers["x-app-usage"])["call_count"] < 100
    sim.set_scenario(PAGE, Scenario("error", {"code": 4, "minutes": 2}))
    response = get(sim, metric=NEW)
    assert json.loads(response.headers["x-app-usage"])["call_count"] == 100
    (usage,) = json.loads(response.headers["x-business-use-case-usage"])[PAGE]
    assert (usage["call_count"], usage["estimated_time_to_regain_access"]) == (100, 2)
    sim.set_scenario(PAGE, Scenario("error", {"code": 4}))
    (usage,) = json.loads(get(sim, metric=NEW).headers["x-business-use-case-usage"])[PAGE]
    assert usage["estimated_time_to_regain_access"] == 0


@pytest.mark.parametrize(
    ("params", "header", "figure", "minutes"),
    [
        ({}, "x-business-use-case-usage", 95, 0),
        ({"call_count": 99, "minutes": 4}, "x-business-use-case-usage", 99, 4),
        ({"source": "app", "call_count": 91}, "x-app-usage", 91, 0),
        ({"source": "page", "call_count": 0}, "x-page-usage", 0, 0),
    ],
)
def test_usage_scenario_answers_normally_with_that_usage(
    sim: Simulator, params: dict[str, Any], header: str, figure: int, minutes: int
) -> None:
    for _ in range(20):  # some measured usage, so 0 is a figure the scenario put there
        get(sim, metric=NEW)
    sim.set_scenario(PAGE, Scenario("usage", params))
    response = get(sim, metric=NEW)
    assert len(values_of(ok(response), NEW)) == 2
    usage = json.loads(response.headers[header])
    if header == "x-business-use-case-usage":
        (usage,) = usage[PAGE]
    assert usage["call_count"] == figure
    (business,) = json.loads(response.headers["x-business-use-case-usage"])[PAGE]
    assert business["estimated_time_to_regain_access"] == minutes
    others = {"x-app-usage", "x-page-usage"} - {header}
    assert all(json.loads(response.headers[h])["call_count"] < 60 for h in others)


# --- token checks ---------------------------------------------------------------------------

APP_TOKEN = "1234567|app-secret-value"
NINETY_DAYS = 90 * 86400


def debug_token(
    simulator: Simulator, input_token: str | None = TOKEN, app_token: str | None = APP_TOKEN,
    path: str = "/v24.0/debug_token", **params: str,
) -> requests.Response:
    if input_token is not None:
        params["input_token"] = input_token
    if app_token is not None:
        params["access_token"] = app_token
    return requests.get(simulator.url + path, params=params, timeout=10)


def test_debug_token_defaults(sim: Simulator) -> None:
    data = ok(debug_token(sim))["data"]
    assert data == {
        "app_id": "1234567",
        "type": "PAGE",
        "application": data["application"],
        "data_access_expires_at": int(SUMMER_NOW) + NINETY_DAYS,
        "expires_at": 0,
        "is_valid": True,
        "profile_id": data["profile_id"],
        "scopes": [
            "pages_messaging", "pages_read_engagement", "pages_show_list", "read_insights",
            "public_profile",
        ],
        "granular_scopes": data["granular_scopes"],
        "user_id": data["user_id"],
    }
    assert data["profile_id"].isdigit()
    assert {"scope": "read_insights", "target_ids": [data["profile_id"]]} in data["granular_scopes"]
    assert {"scope": "public_profile"} in data["granular_scopes"]
    for scheme in ("Bearer", "OAuth"):
        response = requests.get(
            f"{sim.url}/debug_token",
            params={"input_token": TOKEN},
            headers={"Authorization": f"{scheme} {APP_TOKEN}"},
            timeout=10,
        )
        assert ok(response)["data"] == data


def test_debug_token_overrides(sim: Simulator) -> None:
    sim.set_token_info(TOKEN, is_valid=False, token="a field named token")
    data = ok(debug_token(sim))["data"]
    assert data["token"] == "a field named token"
    assert data["is_valid"] is False
    assert (data["error"]["code"], data["error"]["subcode"]) == (190, 460)
    # A token Meta never issued is invalid, with the error of a token it cannot parse.
    assert ok(debug_token(sim, input_token="other"))["data"] == {
        "error": {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"},
        "is_valid": False,
        "scopes": [],
    }
    sim.clear_token_info(TOKEN)
    sim.set_token_info(TOKEN, expires_at=int(SUMMER_NOW) - 60, scopes=["pages_show_list"])
    data = ok(debug_token(sim))["data"]
    assert data["is_valid"] is False
    assert data["error"]["subcode"] == 463
    assert data["scopes"] == ["pages_show_list"]
    assert [g["scope"] for g in data["granular_scopes"]] == ["pages_show_list"]
    sim.set_token_info(TOKEN, expires_at=int(SUMMER_NOW) + 3600, data_access_expires_at=None)
    data = ok(debug_token(sim))["data"]
    assert data["is_valid"] is True
    assert "data_access_expires_at" not in data
    sim.clear_token_info(TOKEN)
    assert ok(debug_token(sim))["data"]["expires_at"] == 0


def test_debug_token_control_api(sim: Simulator) -> None:
    url = f"{sim.url}/_sim/token-info"
    payload = {"token": TOKEN, "info": {"is_valid": False, "scopes": []}}
    assert requests.put(url, data=json.dumps(payload), timeout=10).status_code == 204
    data = ok(debug_token(sim))["data"]
    assert (data["is_valid"], data["scopes"], data["granular_scopes"]) == (False, [], [])
    deleted = requests.delete(url, data=json.dumps({"token": TOKEN}), timeout=10)
    assert deleted.status_code == 204
    assert ok(debug_token(sim))["data"]["is_valid"] is True
    bad_bodies: list[object] = [{"info": {}}, {"token": TOKEN, "info": []}, []]
    for bad in bad_bodies:
        assert requests.put(url, data=json.dumps(bad), timeout=10).status_code == 400
    sim.set_token_info(TOKEN, is_valid=False)
    sim.reset()
    assert ok(debug_token(sim))["data"]["is_valid"] is True


def test_debug_token_errors(sim: Simulator) -> None:
    error_of(debug_token(sim, input_token=None), 400, 100)
    error_of(debug_token(sim, app_token=None), 400, 190)
    error_of(debug_token(sim, app_token=TOKEN), 400, 190)
    error_of(debug_token(sim, app_token="abc|def"), 400, 190)


def test_debug_token_requests_are_logged_apart_from_pages(sim: Simulator) -> None:
    ok(debug_token(sim, path="/debug_token"))
    ok(get(sim, metric=NEW))
    assert sim.request_count() == 1
    assert sim.request_count(kind="debug_token") == 1
    (entry, _) = sim.requests()
    assert (entry.kind, entry.page_id, entry.proof_ok) == ("debug_token", None, None)
    assert entry.query == {"input_token": "REDACTED", "access_token": "REDACTED"}
    log = requests.get(f"{sim.url}/_sim/requests", timeout=10).json()
    assert (log["total"], log["by_page"], log["by_kind"]) == (
        1, {PAGE: 1}, {"debug_token": 1, "insights": 1}
    )


def test_app_secret_requires_appsecret_proof() -> None:
    secret = "s3cret"
    proof = Simulator.appsecret_proof(TOKEN, secret)
    assert proof == hmac.new(secret.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
    with registered(now=lambda: SUMMER_NOW, app_secret=secret) as simulator:
        missing = error_of(get(simulator, metric=NEW), 400, 100)
        assert missing["type"] == "GraphMethodException"
        wrong = error_of(get(simulator, metric=NEW, appsecret_proof="00" * 32), 400, 100)
        assert wrong["message"] == "Invalid appsecret_proof provided in the API argument"
        assert wrong["type"] == "GraphMethodException"
        ok(get(simulator, metric=NEW, appsecret_proof=proof))
        app_token = f"1234567|{secret}"  # this app's token: its secret is the app's
        app_proof = Simulator.appsecret_proof(app_token, secret)
        error_of(debug_token(simulator, app_token=app_token), 400, 100)
        ok(debug_token(simulator, app_token=app_token, appsecret_proof=app_proof))
        # Another app's token (not this app's secret) is refused, proof or not.
        other_app = error_of(debug_token(simulator, appsecret_proof=Simulator.appsecret_proof(
            APP_TOKEN, secret)), 400, 190)
        assert other_app["message"] == "Invalid OAuth access token - Cannot parse access token"
        error_of(accounts(simulator), 400, 100)
        user_proof = Simulator.appsecret_proof(USER_TOKEN, secret)
        ok(accounts(simulator, appsecret_proof=user_proof))
        assert [r.proof_ok for r in simulator.requests()] == [
            False, False, True, False, True, True, False, True
        ]
    with registered(now=lambda: SUMMER_NOW, app_secret=secret) as simulator:
        simulator.set_scenario(PAGE, Scenario("transient", {"times": 1}))
        error_of(get(simulator, metric=NEW), 400, 100)  # refused before the scenario is used
        error_of(get(simulator, metric=NEW, appsecret_proof=proof), 500, 1)


# --- batch requests -------------------------------------------------------------------------


def batch(
    simulator: Simulator, operations: list[Any], token: str | None = TOKEN, path: str = "/v24.0",
    **fields: str,
) -> requests.Response:
    form = {"batch": json.dumps(operations), **fields}
    if token is not None:
        form["access_token"] = token
    return requests.post(simulator.url + path, data=form, timeout=10)


def op(page: str = PAGE, metric: str = NEW, token: str | None = OWN, **extra: str) -> dict[str, str]:
    """A GET operation for one period, its own token (the Page's, unless told) in its
    relative_url."""
    params = {"metric": metric, "period": "day", **extra}
    if token is not None:
        params["access_token"] = token_of(page) if token == OWN else token
    return {"method": "GET", "relative_url": f"{page}/insights?{urlencode(params)}"}


def entries(response: requests.Response) -> list[dict[str, Any] | None]:
    assert response.status_code == 200, response.text
    found: list[dict[str, Any] | None] = response.json()
    return found


def header_of(entry: dict[str, Any], name: str) -> str:
    (value,) = [h["value"] for h in entry["headers"] if h["name"].lower() == name.lower()]
    return str(value)


def test_batch_answers_each_operation_as_a_single_get_would(sim: Simulator) -> None:
    own_token = op("42", BLOCKED)
    in_url = op("43", metric=READ_RATIO, period="week")
    response = batch(sim, [op(token=None), own_token, in_url, op("44", metric="bogus")])
    assert sim.http_request_count() == 1
    first, second, third, fourth = entries(response)
    assert first is not None and second is not None and third is not None and fourth is not None
    assert first["code"] == 200
    assert header_of(first, "Content-Type") == "text/javascript; charset=UTF-8"
    assert header_of(first, "facebook-api-version") == "v24.0"
    assert PAGE in json.loads(header_of(first, "x-business-use-case-usage"))
    assert json.loads(first["body"]) == ok(get(sim, metric=NEW))
    assert json.loads(second["body"])["data"] == ok(get(sim, page="42", metric=BLOCKED))["data"]
    assert f"access_token={token_of('42')}" in json.loads(second["body"])["paging"]["next"]
    assert json.loads(third["body"])["data"] == ok(
        get(sim, page="43", metric=READ_RATIO, period="week")
    )["data"]
    assert fourth["code"] == 400
    assert json.loads(fourth["body"])["error"]["code"] == 100
    assert header_of(fourth, "WWW-Authenticate").startswith("OAuth")
    operations = [r for r in sim.requests() if r.kind == "batch"]
    assert [(r.page_id, r.token_source) for r in operations] == [
        (PAGE, "batch"), ("42", "relative_url"), ("43", "relative_url"), ("44", "relative_url")
    ]
    assert operations[2].query["access_token"] == "REDACTED"
    assert sim.request_count(PAGE) == 2
    assert sim.request_count(kind="batch") == 4
    assert sim.http_request_count() == 4  # the batch and three single GETs
    log = requests.get(f"{sim.url}/_sim/requests", timeout=10).json()
    assert log["http_total"] == 4


def test_batch_operations_meet_their_pages_scenarios(sim: Simulator) -> None:
    sim.set_scenario(PAGE, Scenario("error", {"code": 190, "subcode": 463}))
    sim.set_scenario("42", Scenario("batch_timeout", {"times": 1}))
    sim.set_scenario("43", Scenario("rate_limited", {"minutes": 3}))
    sim.set_scenario("44", Scenario("garbage"))
    answers = entries(batch(sim, [op(), op("42"), op("43"), op("44"), op("45")]))
    expired, timed_out, limited, garbage, fine = answers
    assert timed_out is None
    assert expired is not None and limited is not None and garbage is not None
    assert fine is not None
    assert expired["code"] == 400
    assert json.loads(expired["body"])["error"]["error_subcode"] == 463
    assert json.loads(limited["body"])["error"]["code"] == 80001
    (usage,) = json.loads(header_of(limited, "x-business-use-case-usage"))["43"]
    assert usage["estimated_time_to_regain_access"] == 3
    assert garbage["code"] == 200
    assert garbage["body"].startswith("<!DOCTYPE html>")
    assert fine["code"] == 200
    assert sim.request_count("42") == 1
    assert entries(batch(sim, [op("42")]))[0] is not None  # times: 1 used up
    ok(get(sim, page="42", metric=NEW))


def test_batch_refusals(sim: Simulator) -> None:
    error_of(batch(sim, [op()] * 51), 400, 1)
    error_of(batch(sim, [op()], token=None), 400, 100)
    error_of(batch(sim, [op()], path="/", batch="not json"), 400, 100)
    error_of(batch(sim, [{"method": "GET"}]), 400, 100)
    error_of(requests.post(f"{sim.url}/v24.0/", data={"access_token": TOKEN}, timeout=10), 400, 100)
    error_of(requests.get(f"{sim.url}/v24.0", params={"access_token": TOKEN}, timeout=10), 400, 100)
    assert sim.request_count() == 0
    assert len(entries(batch(sim, [op()] * 50))) == 50
    headers = {"Authorization": f"Bearer {TOKEN}"}
    form = {"batch": json.dumps([op()])}
    by_header = requests.post(f"{sim.url}/", data=form, headers=headers, timeout=10)
    assert entries(by_header)[0] is not None


def test_batch_post_operation_and_other_endpoints(sim: Simulator) -> None:
    sim.set_accounts([("111", "One")])
    operations = [
        {"method": "POST", "relative_url": f"{PAGE}/insights?metric={NEW}"},
        {"method": "GET", "relative_url": f"debug_token?input_token={TOKEN}&access_token={APP_TOKEN}"},
        {"method": "GET", "relative_url": f"/v25.0/me/accounts?fields=id&access_token={USER_TOKEN}"},
        {"method": "GET", "relative_url": "123/feed"},
    ]
    posted, checked, listed, feed = entries(batch(sim, operations))
    assert posted is not None and checked is not None and listed is not None and feed is not None
    assert json.loads(posted["body"])["error"]["message"].startswith("Unsupported post request")
    assert json.loads(checked["body"])["data"]["app_id"] == "1234567"
    assert json.loads(listed["body"])["data"] == [{"id": "111"}]
    assert header_of(listed, "facebook-api-version") == "v25.0"
    assert feed["code"] == 400
    # Insights operations log as "batch"; the token check and the Page listing keep their kind.
    assert [r.kind for r in sim.requests()] == ["batch", "debug_token", "accounts", "batch"]


def test_batch_connection_faults_break_the_whole_batch(sim: Simulator) -> None:
    sim.set_scenario("42", Scenario("reset", {"times": 1}))
    with pytest.raises(requests.RequestException, match="reset"):
        batch(sim, [op(), op("42")])
    sim.set_scenario("42", Scenario("drop", {"times": 1}))
    with pytest.raises(requests.ConnectionError):
        batch(sim, [op(), op("42")])
    assert sim.request_count(PAGE) == 2
    sim.set_scenario(PAGE, Scenario("slow", {"seconds": 0.4}))
    sim.set_scenario("42", Scenario("slow", {"seconds": 0.4}))
    started = time.monotonic()
    assert all(entries(batch(sim, [op(), op("42")])))
    assert 0.4 <= time.monotonic() - started < 0.75  # side by side, not one after the other


def test_batch_trickle_and_huge(sim: Simulator) -> None:
    sim.set_scenario("42", Scenario("huge", {"megabytes": 0.25}))
    answers = entries(batch(sim, [op(), op("42")]))
    assert answers[1] is not None
    huge_body = answers[1]["body"]
    assert len(huge_body) >= 1 << 18
    assert len(values_of(json.loads(huge_body), NEW)) == 2
    sim.set_scenario("42", Scenario("trickle", {"bytes_per_second": 8000}))
    started = time.monotonic()
    response = batch(sim, [op(), op("42")])
    assert time.monotonic() - started >= len(response.content) / 8000 * 0.8
    assert all(entries(response))


def test_latency_applies_once_per_batch() -> None:
    with registered(now=lambda: SUMMER_NOW, latency=0.2) as simulator:
        started = time.monotonic()
        assert all(entries(batch(simulator, [op(str(page)) for page in range(1, 6)])))
        assert 0.2 <= time.monotonic() - started < 0.8  # not 0.2 for each of the five


def test_batch_with_app_secret() -> None:
    secret = "s3cret"
    proof = Simulator.appsecret_proof(TOKEN, secret)
    other = token_of("43")
    with registered(now=lambda: SUMMER_NOW, app_secret=secret) as simulator:
        error_of(batch(simulator, [op(token=None)]), 400, 100)
        own = op("42")
        own_proven = op("43", appsecret_proof=Simulator.appsecret_proof(other, secret))
        # Without a token of its own, an operation runs with the top-level token and proof.
        fallback = op(token=None)
        answers = entries(batch(simulator, [fallback, own, own_proven], appsecret_proof=proof))
        assert [a["code"] if a else None for a in answers] == [200, 400, 200]
        assert [r.proof_ok for r in simulator.requests()] == [True, False, True]
        # A proof in a GET operation's body is not read either.
        in_body = {**op("43"), "body": f"appsecret_proof={Simulator.appsecret_proof(other, secret)}"}
        (refused,) = entries(batch(simulator, [in_body], appsecret_proof=proof))
        assert refused is not None
        assert json.loads(refused["body"])["error"]["message"].endswith("appsecret_proof argument")


# --- as strict as Meta ------------------------------------------------------------------


def test_a_get_operations_body_is_not_read_so_its_token_is_the_fallback_one(sim: Simulator) -> None:
    """Meta: "GET and DELETE operations can only have relative_url and method fields". A
    token only in a GET operation's body is not read: the operation runs as the top-level
    token, which the paging links (echoing the token used) show."""
    sim.set_page_token("42", token_of("42"))
    in_body = {**op(token=None), "body": f"access_token={token_of('42')}"}
    (answer,) = entries(batch(sim, [in_body], token=TOKEN))
    assert answer is not None and answer["code"] == 200  # PAGE would refuse 42's token
    body = json.loads(answer["body"])
    assert body["data"] == ok(get(sim, metric=NEW))["data"]
    assert parse_qs(urlsplit(body["paging"]["previous"]).query)["access_token"] == [TOKEN]
    # The other way round, the defect of issue 9: 42's operation, its token in the body,
    # runs as the first Page's token and is refused.
    own_in_body = {**op("42", token=None), "body": f"access_token={token_of('42')}"}
    (refused,) = entries(batch(sim, [own_in_body], token=TOKEN))
    assert refused is not None and refused["code"] == 400
    assert json.loads(refused["body"])["error"]["code"] == 190
    # DELETE does not read its body either; POST and PUT do.
    for method in ("DELETE", "POST", "PUT"):
        entries(batch(sim, [{**op("42", token=None), "method": method,
                             "body": f"access_token={token_of('42')}"}], token=TOKEN))
    sources = [(r.method, r.token_source) for r in sim.requests() if r.kind == "batch"]
    assert sources == [("GET", "batch"), ("GET", "batch"), ("DELETE", "batch"), ("POST", "body"),
                       ("PUT", "body")]


def test_a_page_token_reads_its_own_page_and_no_other(sim: Simulator) -> None:
    sim.set_page_token("42", token_of("42"))
    ok(get(sim, page="42", metric=NEW))
    # Another Page's token: 190 where the Page exists, 100/33 where the token cannot see it.
    assert error_of(get(sim, page="42", token=TOKEN, metric=NEW), 400, 190)["message"] == (
        "(#190) This method must be called with a Page Access Token")
    unseen = error_of(get(sim, page="47", token=TOKEN, metric=NEW), 400, 100)
    assert unseen["error_subcode"] == 33
    assert unseen["message"].startswith("Unsupported get request. Object with ID '47' does not exist")
    # A token never registered is one Meta never issued, whatever Page it asks for: it is
    # not learnt as the Page token of the first Page it reads.
    for _ in range(2):
        refused = error_of(get(sim, page="47", token="EAABneverISSUED", metric=NEW), 400, 190)
        assert refused["message"] == "Invalid OAuth access token - Cannot parse access token"
    error_of(get(sim, page="42", token="EAABneverISSUED", metric=NEW), 400, 190)
    # User and app tokens read no Page's insights.
    ok(accounts(sim))
    error_of(get(sim, page="42", token=USER_TOKEN, metric=NEW), 400, 190)
    error_of(get(sim, page="42", token=APP_TOKEN, metric=NEW), 400, 190)
    # Registered tokens outlive a reset.
    sim.reset()
    ok(get(sim, page="42", metric=NEW))
    ok(accounts(sim))
    url = f"{sim.url}/_sim/page-tokens"
    error_of(get(sim, page="48", token="EAAB48", metric=NEW), 400, 190)
    assert requests.put(url, data=json.dumps({"page_id": "48", "token": "EAAB48"}), timeout=10).status_code == 204
    ok(get(sim, page="48", token="EAAB48", metric=NEW))
    error_of(get(sim, page="44", token="EAAB48", metric=NEW), 400, 190)
    assert error_of(get(sim, page="49", token="EAAB48", metric=NEW), 400, 100)["error_subcode"] == 33
    many = {"tokens": {"50": "EAAB50", "51": "EAAB51"}}
    assert requests.put(url, data=json.dumps(many), timeout=10).status_code == 204
    ok(get(sim, page="51", token="EAAB51", metric=NEW))
    bad_bodies: list[object] = [{"page_id": "x", "token": "t"}, {"page_id": "45"}, [],
                                {"tokens": [["52", "t"]]}, {"tokens": {"52": "EAAB52", "x": "t"}}]
    for bad in bad_bodies:
        assert requests.put(url, data=json.dumps(bad), timeout=10).status_code == 400
    assert requests.get(url, timeout=10).status_code == 405
    error_of(get(sim, page="52", token="EAAB52", metric=NEW), 400, 190)  # nothing of a bad body
    users = f"{sim.url}/_sim/user-tokens"
    error_of(accounts(sim, token="EAAUlater"), 400, 190)
    assert requests.put(users, data=json.dumps({"token": "EAAUlater"}), timeout=10).status_code == 204
    ok(accounts(sim, token="EAAUlater"))
    for bad in ({"token": ""}, {}, []):
        assert requests.put(users, data=json.dumps(bad), timeout=10).status_code == 400
    assert requests.get(users, timeout=10).status_code == 405


def test_an_unregistered_token_is_one_meta_never_issued_everywhere(sim: Simulator) -> None:
    """Meta knows every token it issued: one it did not gets 190 "Cannot parse access token"
    on insights, alone or in a batch, and debug_token calls it invalid; reading a Page does
    not make it that Page's token."""
    never = "EAABneverISSUED"
    for page in (PAGE, "46"):
        error = error_of(get(sim, page=page, token=never, metric=NEW), 400, 190)
        assert (error["message"], error["type"]) == (
            "Invalid OAuth access token - Cannot parse access token", "OAuthException")
        assert "error_subcode" not in error
    (in_batch,) = entries(batch(sim, [op("46", token=never)]))
    assert in_batch is not None and in_batch["code"] == 400
    assert json.loads(in_batch["body"])["error"]["code"] == 190
    (fallback,) = entries(batch(sim, [op("46", token=None)], token=never))
    assert fallback is not None and json.loads(fallback["body"])["error"]["code"] == 190
    unknown = ok(debug_token(sim, input_token=never))["data"]
    assert unknown["is_valid"] is False and unknown["error"]["code"] == 190
    # Saying what debug_token tells of it does not issue it either.
    sim.set_token_info(never, is_valid=True)
    assert ok(debug_token(sim, input_token=never))["data"]["is_valid"] is False
    error_of(get(sim, page="46", token=never, metric=NEW), 400, 190)
    # Nor does a user token come to exist by listing Pages.
    error_of(accounts(sim, token=never), 400, 190)
    assert sim.request_count(kind="insights") == 3


def test_debug_token_knows_the_tokens_it_issued(sim: Simulator) -> None:
    sim.set_page_token("46", "EAABfor46")
    known = ok(debug_token(sim, input_token="EAABfor46"))["data"]
    assert (known["is_valid"], known["profile_id"], known["type"]) == (True, "46", "PAGE")
    user = ok(debug_token(sim, input_token=USER_TOKEN))["data"]
    assert (user["is_valid"], user["type"], "profile_id" in user) == (True, "USER", False)


def test_without_read_insights_the_answer_is_an_empty_dataset(sim: Simulator) -> None:
    """Meta's insights reference: without read_insights "an empty dataset is returned"."""
    sim.set_token_info(TOKEN, scopes=["pages_show_list", "pages_read_engagement"])
    response = get(sim, metric=NEW)
    assert (response.status_code, response.json()) == (200, {"data": []})
    (answer,) = entries(batch(sim, [op()]))
    assert answer is not None and (answer["code"], json.loads(answer["body"])) == (200, {"data": []})


def test_period_omitted_answers_every_period_the_metric_supports(sim: Simulator) -> None:
    body = ok(get(sim, metric=f"{NEW},{BLOCKED}", period=OMITTED))
    assert [(e["name"], e["period"]) for e in body["data"]] == [
        (metric, period) for metric in (NEW, BLOCKED) for period in ("day", "week", "days_28")
    ]
    daily = ok(get(sim, metric=NEW, period="day"))["data"][0]
    assert body["data"][0] == daily
    assert "period" not in parse_qs(urlsplit(body["paging"]["previous"]).query)


def test_paging_next_is_left_out_when_its_window_lies_in_the_future(sim: Simulator) -> None:
    now = int(SUMMER_NOW)
    assert "next" not in ok(get(sim, metric=NEW, since=str(now - 2 * 86400), until=str(now)))["paging"]
    assert "next" not in ok(get(sim, metric=NEW, date_preset="today"))["paging"]
    assert "next" in ok(get(sim, metric=NEW, since=str(now - 4 * 86400), until=str(now - 2 * 86400)))["paging"]
    assert "next" in ok(get(sim, metric=NEW))["paging"]  # the default window ends at midnight


def test_a_token_debug_token_calls_invalid_is_refused_everywhere(sim: Simulator) -> None:
    sim.set_token_info(TOKEN, is_valid=False)
    invalid = error_of(get(sim, metric=NEW), 400, 190)
    assert invalid["error_subcode"] == 460
    (in_batch,) = entries(batch(sim, [op()]))
    assert in_batch is not None and json.loads(in_batch["body"])["error"]["code"] == 190
    sim.set_token_info(TOKEN, is_valid=None, expires_at=int(SUMMER_NOW) - 60)
    expired = error_of(get(sim, metric=NEW), 400, 190)
    assert expired["error_subcode"] == 463 and "Session has expired" in expired["message"]
    sim.set_token_info(TOKEN, expires_at=int(SUMMER_NOW) + 60)
    ok(get(sim, metric=NEW))
    sim.set_token_info(USER_TOKEN, is_valid=False,
                       error={"code": 190, "subcode": 458, "message": "Error validating access token: x"})
    assert error_of(accounts(sim), 400, 190)["error_subcode"] == 458


def test_insights_need_the_analyze_task_on_the_page(sim: Simulator) -> None:
    sim.set_accounts([("111", "Analyzed"), ("112", "Messaging only", ["MESSAGING"])])
    listed = {page["id"]: page["access_token"] for page in ok(accounts(sim))["data"]}
    ok(get(sim, page="111", token=listed["111"], metric=NEW))
    error_of(get(sim, page="112", token=listed["112"], metric=NEW), 403, 10)
    # With a Page token, `me` is the Page: it has no accounts to list.
    no_edge = error_of(accounts(sim, token=listed["111"]), 400, 100)
    assert no_edge["message"] == "(#100) Tried accessing nonexisting field (accounts) on node type (Page)"


def test_batch_operations_without_headers_when_include_headers_is_false(sim: Simulator) -> None:
    (without,) = entries(batch(sim, [op()], include_headers="false"))
    assert without is not None and set(without) == {"code", "body"}
    (default,) = entries(batch(sim, [op()]))
    assert default is not None and set(default) == {"code", "headers", "body"}


@pytest.mark.parametrize(("now", "asked", "answered"), [
    (SUMMER_NOW, "v24.0", "v24.0"),
    (SUMMER_NOW, "v26.0", "v26.0"),
    (SUMMER_NOW, "v20.0", "v21.0"),  # dead: the next live version answers
    (utc(2027, 6, 1, 0, 0, 0), "v22.0", "v23.0"),
    (utc(2027, 6, 1, 0, 0, 0), "v19.0", "v23.0"),
    (SUMMER_NOW, "v27.0", None),  # not released
    (WINTER_NOW, "v25.0", None),  # not released yet then
    (SUMMER_NOW, "v24.1", None),
])
def test_dead_versions_are_served_by_the_next_live_one(now: float, asked: str, answered: str | None) -> None:
    with registered(now=lambda: now, page_tokens={PAGE: TOKEN}) as simulator:
        response = get(simulator, path=f"/{asked}/{PAGE}/insights", metric=NEW)
        if answered is None:
            error_of(response, 400, 2500)
            (refused,) = entries(batch(simulator, [{**op(), "relative_url": f"/{asked}/{op()['relative_url']}"}]))
            assert refused is not None and json.loads(refused["body"])["error"]["code"] == 2500
            return
        ok(response)
        assert response.headers["facebook-api-version"] == answered
        assert f"/{answered}/{PAGE}/insights" in response.json()["paging"]["previous"]


# --- Page discovery ------------------------------------------------------------------------


def accounts(
    simulator: Simulator, token: str | None = USER_TOKEN, path: str = "/v24.0/me/accounts",
    **params: str,
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(simulator.url + path, params=params, headers=headers, timeout=10)


def test_accounts_page_through_the_managed_pages() -> None:
    with registered(now=lambda: SUMMER_NOW, accounts=30) as simulator:
        first = ok(accounts(simulator, fields="id,name,access_token"))
        assert len(first["data"]) == 25
        assert first["data"][0] == {
            "id": "700000000000001",
            "name": first["data"][0]["name"],
            "access_token": Simulator.page_token_for("700000000000001", USER_TOKEN),
        }
        assert "previous" not in first["paging"]
        following = urlsplit(first["paging"]["next"])
        query = parse_qs(following.query)
        assert query["access_token"] == [USER_TOKEN]
        assert query["after"] == [first["paging"]["cursors"]["after"]]
        assert following.path == "/v24.0/me/accounts"
        second = ok(requests.get(first["paging"]["next"], timeout=10))
        assert [p["id"] for p in second["data"]] == [f"7000000000000{n}" for n in range(26, 31)]
        assert "next" not in second["paging"]
        assert "previous" in second["paging"]
        assert set(second["data"][0]) == {"id", "name", "access_token"}
        back = ok(requests.get(second["paging"]["previous"], timeout=10))
        assert back["data"] == first["data"]
        assert simulator.request_count() == 0
        assert simulator.request_count(kind="accounts") == 3
        entry = simulator.requests()[0]
        assert (entry.kind, entry.page_id, entry.token_source) == ("accounts", None, "header")


def test_accounts_fields_limit_and_tokens(sim: Simulator) -> None:
    sim.set_accounts([("111", "One"), ("222", "Two", ["MESSAGING"]), ("333", "Three")])
    everything = ok(accounts(sim, path="/me/accounts"))
    assert set(everything["data"][0]) == {
        "access_token", "category", "category_list", "name", "id", "tasks"
    }
    assert "ANALYZE" in everything["data"][0]["tasks"]
    assert everything["data"][1]["tasks"] == ["MESSAGING"]
    sim.set_user_token("EAAUsomeoneElse")
    assert everything["data"][0]["access_token"] != ok(accounts(sim, token="EAAUsomeoneElse"))[
        "data"
    ][0]["access_token"]
    assert ok(accounts(sim, fields="name,instagram_business_account{id}"))["data"][0] == {
        "name": "One", "id": "111"
    }
    two = ok(accounts(sim, limit="2", fields="id"))
    assert two["data"] == [{"id": "111"}, {"id": "222"}]
    assert parse_qs(urlsplit(two["paging"]["next"]).query)["limit"] == ["2"]
    error_of(accounts(sim, limit="many"), 400, 100)
    error_of(accounts(sim, after="bogus"), 400, 100)
    error_of(accounts(sim, token=None), 400, 2500)
    page_token = everything["data"][2]["access_token"]
    assert page_token == sim.page_token_for("333", USER_TOKEN)
    assert ok(debug_token(sim, input_token=page_token))["data"]["profile_id"] == "333"
    sim.set_accounts([])
    assert ok(accounts(sim)) == {"data": []}


def test_accounts_limit_is_at_most_100() -> None:
    with registered(now=lambda: SUMMER_NOW, accounts=120, accounts_prefix="55") as simulator:
        body = ok(accounts(simulator, limit="500", fields="id"))
        assert len(body["data"]) == 100
        assert body["data"][0]["id"] == "550000000000001"
    with pytest.raises(ValueError, match="digits"):
        Simulator(accounts=1, accounts_prefix="x")


def test_accounts_control_api(sim: Simulator) -> None:
    url = f"{sim.url}/_sim/accounts"
    pages = {"pages": [["111", "One"], ["222", "Two", ["ANALYZE"]]]}
    assert requests.put(url, data=json.dumps(pages), timeout=10).status_code == 204
    assert [p["name"] for p in ok(accounts(sim))["data"]] == ["One", "Two"]
    assert requests.get(url, timeout=10).json()["pages"][1] == ["222", "Two", ["ANALYZE"]]
    for bad in ({"pages": [["abc", "x"]]}, {"pages": "111"}, {"pages": [["1"]]}):
        assert requests.put(url, data=json.dumps(bad), timeout=10).status_code == 400
    scenario = f"{sim.url}/_sim/accounts/scenario"
    payload = {"name": "transient", "params": {"times": 1}}
    assert requests.put(scenario, data=json.dumps(payload), timeout=10).status_code == 204
    error_of(accounts(sim), 500, 1)
    ok(accounts(sim))


@pytest.mark.parametrize(
    ("scenario", "status", "code"),
    [
        (Scenario("transient"), 500, 1),
        (Scenario("invalid_token"), 400, 190),
        (Scenario("error", {"code": 4, "minutes": 1}), 400, 4),
        (Scenario("error", {"code": 200}), 403, 200),
    ],
)
def test_accounts_scenarios(sim: Simulator, scenario: Scenario, status: int, code: int) -> None:
    sim.set_accounts([("111", "One")])
    sim.set_accounts_scenario(scenario)
    error_of(accounts(sim), status, code)
    ok(get(sim, metric=NEW))  # insights are unaffected
    sim.set_accounts_scenario(None)
    ok(accounts(sim))


def test_accounts_garbage_and_times(sim: Simulator) -> None:
    sim.set_accounts([("111", "One")])
    sim.set_accounts_scenario(Scenario("garbage", {"times": 1}))
    response = accounts(sim)
    assert response.status_code == 200
    with pytest.raises(ValueError, match="Expecting value"):
        response.json()
    assert ok(accounts(sim))["data"][0]["id"] == "111"
    sim.set_accounts_scenario(Scenario("transient"))
    sim.reset()
    ok(accounts(sim))


# --- command line ---------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "exporter.simulator", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.e2e
def test_cli_serves_until_sigterm() -> None:
    process = run_cli(
        "--listen", "127.0.0.1:0", "--scenario", '777=rate_limited:{"code": 17}',
        "--accounts", "3", "--accounts-prefix", "9", "--page-token", "555=EAAB555",
        "--page-token", f"{PAGE}={TOKEN}", "--page-token", "777=EAAB777", "--user-token", USER_TOKEN,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("simulator listening on http://127.0.0.1:")
        url = line.removeprefix("simulator listening on ")
        response = requests.get(
            f"{url}/v24.0/{PAGE}/insights",
            params={"metric": NEW, "access_token": TOKEN},
            timeout=10,
        )
        assert len(response.json()["data"][0]["values"]) == 2
        limited = requests.get(
            f"{url}/v24.0/777/insights", params={"metric": NEW, "access_token": "EAAB777"}, timeout=10
        )
        assert limited.json()["error"]["code"] == 17
        # --page-token: the token is that Page's from the start, so another Page refuses it.
        refused = requests.get(
            f"{url}/v24.0/{PAGE}/insights", params={"metric": NEW, "access_token": "EAAB555"},
            timeout=10,
        )
        assert refused.json()["error"]["code"] == 190
        listed = requests.get(f"{url}/me/accounts", params={"access_token": USER_TOKEN}, timeout=10)
        assert [p["id"] for p in listed.json()["data"]][-1] == "900000000000003"
        # A token given by no flag was never issued.
        stranger = requests.get(f"{url}/me/accounts", params={"access_token": "EAAUstranger"}, timeout=10)
        assert stranger.json()["error"]["code"] == 190
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0
    assert stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ("--listen", "nonsense"),
        ("--latency", "-1"),
        ("--scenario", "123=no_such"),
        ("--scenario", "123=slow:{not json"),
        ("--bogus",),
        ("--accounts", "-1"),
        ("--accounts-prefix", "x7"),
        ("--user-token", ""),
    ],
)
def test_cli_rejects_bad_arguments(args: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        simulator_main(list(args))
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert "usage:" in stderr
    assert "Traceback" not in stderr


def test_breakdown_rows_of_a_count_add_up_to_its_total() -> None:
    import datetime as dt

    from exporter.simulator.breakdowns import rows
    from exporter.simulator.values import daily_value

    day = dt.date(2026, 9, 3)
    for metric in ("page_messages_sent", "page_messages_new_conversations_unique"):
        total = daily_value("987", metric, day)
        dims = ("messaging_channel", "recurring_notifications_topic")
        split = sum(daily_value("987", metric, day, row) for row in rows(dims))
        assert abs(split - total) <= len(rows(dims)) / 2  # rounding of each row only


def test_every_date_preset_the_config_accepts_is_answered() -> None:
    import requests as http

    from exporter.config import DATE_PRESETS

    with registered() as sim:
        for preset in DATE_PRESETS:
            answer = http.get(f"{sim.url}/v24.0/{PAGE}/insights", timeout=10,
                              params={"metric": "page_messages_sent", "period": "total_over_range",
                                      "date_preset": preset},
                              headers={"Authorization": f"Bearer {TOKEN}"})
            assert answer.status_code == 200, (preset, answer.text)
