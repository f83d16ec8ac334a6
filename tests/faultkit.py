"""What the fault-injection and token suites share: the faults themselves, exporters that live
for a whole module, scrapes that are timed and checked as they happen, and a search for
secrets in everything the exporter shows.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from exporter.pacific_calendar import utc_offset_hours
from exporter.simulator import Scenario
from tests.conftest import Labels, RunningExporter, Scrape, launch_exporter, wait_until
from tests.dom import parse

# /metrics must answer well within this during any fault (the "promptly").
SCRAPE_BUDGET_SECONDS = 1.0
NEW = "page_messages_new_conversations_unique"
BLOCKED = "page_messages_blocked_conversations_unique"
INSIGHTS_PREFIX = "messenger_insights_page_messages_"
THROTTLED = "messenger_insights_throttled_until_timestamp_seconds"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

_DAY = 86_400
_NOON = 12 * 3_600


class SteadyClock:
    """The simulator's clock: real time moved back (less than a day) so that it reads about
    noon, Pacific time, when created. The day whose values the simulator serves then stays
    the same for hours, so values compared across a test never change under it.
    """

    def __init__(self) -> None:
        real = time.time()
        since_midnight = (real + utc_offset_hours(real) * 3_600) % _DAY
        self.offset = (since_midnight - _NOON) % _DAY

    def __call__(self) -> float:
        return time.time() - self.offset

    def real(self, simulated: float) -> float:
        """The real time of a simulator timestamp (RecordedRequest.time)."""
        return simulated + self.offset


# --- the faults --------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A way for the Graph API to fail one Page, and the code label it must be counted under.

    `transport`: the fault is in how the answer travels (late, cut, dropped, oversized,
    trickling), not in what it says; the simulator spoils a whole batch answer with it.
    """

    name: str
    scenario: Scenario
    code: str
    transport: bool = False


def insights_body(value: str = "42", end_time: str = '"2026-09-03T07:00:00+0000"', *,
                  values: bool = True) -> str:
    """An insights answer for NEW whose value and end_time are the given JSON texts."""
    rows = f', "values": [{{"value": {value}, "end_time": {end_time}}}]' if values else ""
    return (f'{{"data": [{{"name": "{NEW}", "period": "day", "title": "Daily: new conversations", '
            f'"id": "1/insights/{NEW}/day"{rows}}}]}}')


def _body(text: str, status: int = 200, content_type: str | None = None) -> Scenario:
    params: dict[str, Any] = {"status": status, "body": text}
    if content_type is not None:
        params["content_type"] = content_type
    return Scenario("body", params)


def _error(code: int, **params: Any) -> Scenario:
    return Scenario("error", {"code": code, **params})


REDUCE_DATA = "Please reduce the amount of data you're asking for, then retry your request"

# Faults one Page can suffer while the others go on: each gets its own Page of one exporter.
# Transport faults last, and the trickle last of all: an exporter that waits for the whole
# of a trickling answer is held the longest by it.
FAULTS: tuple[Fault, ...] = (
    Fault("http_500", _body("<html><body><h1>500 Internal Server Error</h1></body></html>", 500,
                            "text/html; charset=utf-8"), "http"),
    Fault("http_503", _body("", 503, "text/html; charset=utf-8"), "http"),
    Fault("http_503_graph_unknown_error", Scenario("transient", {"status": 503}), "1"),
    Fault("invalid_json", Scenario("garbage"), "decode"),
    Fault("json_not_an_object", _body("[1, 2, 3]"), "decode"),
    Fault("data_missing", _body("{}"), "decode"),
    Fault("data_not_a_list", _body(json.dumps({"data": {"name": NEW, "values": []}})), "decode"),
    Fault("values_missing", _body(insights_body(values=False)), "decode"),
    Fault("value_abc", _body(insights_body('"abc"')), "decode"),
    Fault("value_nan", _body(insights_body("NaN")), "decode"),
    Fault("value_1e309", _body(insights_body("1e309")), "decode"),
    Fault("value_negative", _body(insights_body("-3")), "decode"),
    Fault("end_time_garbage", _body(insights_body(end_time='"the day after tomorrow"')), "decode"),
    Fault("error_190_463_token_expired", _error(190, subcode=463), "190"),
    Fault("error_190_467_not_logged_in", _error(190, subcode=467), "190"),
    Fault("error_190_460_password_changed", _error(190, subcode=460), "190"),
    Fault("error_190_458_app_not_authorized", _error(190, subcode=458), "190"),
    Fault("error_190_malformed_token", _error(190), "190"),
    Fault("error_10_permission", _error(10), "10"),
    Fault("error_200_permission", _error(200), "200"),
    Fault("error_1_99_unknown", _error(1, subcode=99), "1"),
    Fault("error_1_reduce_data", _error(1, message=REDUCE_DATA), "1"),
    Fault("error_2_service_unavailable", _error(2), "2"),
    # The suite's graph_api.timeout is 2s.
    Fault("timeout", Scenario("slow", {"seconds": 5.0}), "network", transport=True),
    Fault("connection_reset_mid_body", Scenario("reset"), "network", transport=True),
    Fault("connection_dropped", Scenario("drop"), "network", transport=True),
    Fault("body_20_mb", Scenario("huge", {"megabytes": 20}), "decode", transport=True),
    Fault("trickle_slower_than_timeout", Scenario("trickle", {"bytes_per_second": 50}), "network",
          transport=True),
)


# --- exporters ---------------------------------------------------------------------------


def launch(directory: Path, name: str, config: str, env: dict[str, str],
           args: tuple[str, ...] = ()) -> RunningExporter:
    """Start an exporter process (not waiting for it), as conftest's start_exporter does."""
    return launch_exporter(directory, f"{name}.yaml", f"{name}.log", config, env=env, args=args)


def config_file_of(exporter: RunningExporter) -> Path:
    args = exporter.process.args
    assert isinstance(args, list)
    arg = next(str(a) for a in args if str(a).startswith("--config.file="))
    return Path(arg.split("=", 1)[1])


def page_list(pages: Iterable[str], env_of: Callable[[str], str] | None = None) -> str:
    lines = []
    for page in pages:
        token = f", access_token_env: {env_of(page)}" if env_of is not None else ""
        lines.append(f'  - {{id: "{page}"{token}}}')
    return "\n".join(lines)


def up(scrape: Scrape, page: str) -> float | None:
    return scrape.get("messenger_insights_up", page_id=page)


def last_success(scrape: Scrape, page: str) -> float:
    return scrape.get("messenger_insights_last_success_timestamp_seconds", page_id=page) or 0.0


def insights_of(scrape: Scrape, page: str) -> dict[tuple[str, Labels], float]:
    """Every insights series (values and baselines) the Page exports."""
    return {
        (name, labels): value
        for (name, labels), value in scrape.samples.items()
        if name.startswith(INSIGHTS_PREFIX) and ("page_id", page) in labels
    }


def page_errors(exporter: RunningExporter) -> dict[str, str]:
    """Each Page's error on the status page, "code: message": the current one, or a
    recovered Page's last one."""
    page = parse(requests.get(f"{exporter.url}/?limit=1000", timeout=10).text)
    errors = {}
    for row in page.find_all("tr"):
        if "data-page-id" not in row.attrs:
            continue
        shown = row.find_all("div", "error") or row.find_all("div", "recovered")
        if shown:
            code = shown[0].one("code").text()
            errors[row.attrs["data-page-id"]] = f"{code}: {shown[0].one('span', 'message').attrs['title']}"
    return errors


def last_error_code(exporter: RunningExporter, page: str) -> str | None:
    """The code of the Page's last error, as the status page shows it."""
    error = page_errors(exporter).get(page)
    return error.split(":", 1)[0] if error is not None else None


def errors_by_code(scrape: Scrape) -> dict[str, float]:
    return {dict(labels)["code"]: value
            for labels, value in scrape.series("messenger_insights_api_errors_total").items()}


def error_increase(before: Scrape, after: Scrape) -> dict[str, float]:
    """Codes whose error count grew, and by how much."""
    old = errors_by_code(before)
    return {code: value - old.get(code, 0.0)
            for code, value in errors_by_code(after).items() if value != old.get(code, 0.0)}


Invariant = Callable[[Scrape], str | None]


def settle(condition: Callable[[], bool], timeout: float) -> bool:
    """wait_until that says whether the condition came true instead of raising: for tests
    that report every late party at once rather than the first."""
    try:
        wait_until(condition, max(timeout, 0.0), "the condition")
    except AssertionError:
        return condition()
    return True


@dataclass
class Watch:
    """Scrapes one exporter: every scrape is timed, searched for secrets and held to the
    invariants in force at the time; what went wrong is kept for the end of the test."""

    exporter: RunningExporter
    secrets: tuple[str, ...] = ()
    durations: list[float] = field(default_factory=list)
    invariants: list[Invariant] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    # Where the exporter's log stood when the watch began: what it logs from here is ours.
    log_start: int = field(init=False)

    def __post_init__(self) -> None:
        self.log_start = len(self.exporter.logs())

    def scrape(self) -> Scrape:
        started = time.monotonic()
        response = requests.get(f"{self.exporter.url}/metrics", timeout=10)
        self.durations.append(time.monotonic() - started)
        response.raise_for_status()
        for secret in self.secrets:
            if secret in response.text:
                self.broken.append(f"a secret ({secret[:8]}…) is on /metrics")
        scrape = Scrape.parse(response.text)
        for invariant in self.invariants:
            problem = invariant(scrape)
            if problem is not None:
                self.broken.append(problem)
        return scrape

    def wait_for(self, condition: Callable[[Scrape], bool], timeout: float = 10.0,
                 what: str = "metrics") -> Scrape:
        last: list[Scrape] = []

        def check() -> bool:
            last[:] = [self.scrape()]
            return condition(last[0])

        try:
            wait_until(check, timeout, what)
        except AssertionError as exc:
            seen = "\n".join(dict.fromkeys(self.broken))
            raise AssertionError(f"{exc}; meanwhile:\n{seen}" if seen else str(exc)) from None
        return last[0]

    def poll(self, condition: Callable[[Scrape], bool], timeout: float) -> tuple[bool, Scrape]:
        """Like wait_for, but reports a timeout instead of raising it."""
        last: list[Scrape] = []

        def check() -> bool:
            last[:] = [self.scrape()]
            return condition(last[0])

        return settle(check, timeout), last[0]

    def assert_healthy(self) -> None:
        """The daemon still runs, no refresh broke, and nothing went wrong on any scrape."""
        assert self.exporter.process.poll() is None, f"the exporter exited:\n{self.exporter.logs()[-3000:]}"
        assert_no_internal_error(self.exporter.logs()[self.log_start:])
        assert requests.get(f"{self.exporter.url}/-/healthy", timeout=5).status_code == 200
        assert self.durations, "no scrape was made"
        slowest = max(self.durations)
        assert slowest < SCRAPE_BUDGET_SECONDS, (
            f"a /metrics scrape took {slowest:.2f}s during the fault "
            f"({len(self.durations)} scrapes)")
        assert not self.broken, "\n".join(dict.fromkeys(self.broken))


def assert_no_internal_error(log: str) -> None:
    """README: "refresh failed unexpectedly" (with a traceback) is a bug, whatever the API did."""
    broken = [line for line in log.splitlines()
              if "refresh failed unexpectedly" in line or "Traceback" in line]
    assert not broken, f"{len(broken)} internal error(s), the first:\n{_unescaped(broken[0])[-2500:]}"


def _unescaped(line: str) -> str:
    return line.replace("\\n", "\n").replace('\\"', '"')


# --- secrets -----------------------------------------------------------------------------


def exporter_outputs(exporter: RunningExporter, *, with_log: bool = True) -> dict[str, str]:
    """What the exporter shows: /metrics in text, OpenMetrics and gzip, `/`, and its log."""
    url = exporter.url
    texts = {
        "/metrics (text)": requests.get(f"{url}/metrics", timeout=10).text,
        "/metrics (OpenMetrics)": requests.get(f"{url}/metrics", headers={"Accept": OPENMETRICS},
                                               timeout=10).text,
        "/": requests.get(f"{url}/", timeout=10).text,
    }
    with requests.get(f"{url}/metrics", headers={"Accept-Encoding": "gzip"}, stream=True,
                      timeout=10) as response:
        assert response.headers.get("Content-Encoding") == "gzip"
        texts["/metrics (gzip, decoded)"] = gzip.decompress(response.raw.read(decode_content=False)).decode()
    if with_log:
        texts["log (stdout and stderr)"] = exporter.logs()
    return texts


def leaks(texts: dict[str, str], secrets: Iterable[str]) -> list[str]:
    """Where each secret shows up (by its first characters only)."""
    return [f"{secret[:10]}… in {where}" for where, text in texts.items() for secret in secrets
            if secret in text]


def assert_no_secret(texts: dict[str, str], secrets: Iterable[str]) -> None:
    found = leaks(texts, secrets)
    assert not found, "secrets leaked: " + "; ".join(found)
