"""The backfill in-process: what it writes equals what a live exporter served at each
moment, the spacing answers every instant query, bad input is refused, failures and
Ctrl-C leave valid output."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from exporter import pacific_calendar
from exporter.backfill.fetch import Fetcher, Request
from exporter.backfill.history_range import (
    HEAD_SECONDS,
    MAX_WINDOW_DAYS,
    DayRange,
    RangeError,
    day_range,
    latest_backfillable_day,
    parse_day,
    windows,
)
from exporter.backfill.labels import LabelError, target_labels
from exporter.backfill.openmetrics import SeriesTable
from exporter.backfill.output import open_sink
from exporter.backfill.run import LIVE_ONLY, Backfill
from exporter.backfill.spacing import SAMPLE_SPACING_SECONDS
from exporter.cli import main
from exporter.config import Window
from exporter.governor import RateLimitGovernor
from exporter.graph_client import GraphClient, InsightsQuery, ThrottledError
from exporter.insights_response import MetricData, parse_insights
from exporter.page_text import FamilyHead, render_page
from exporter.redact import Secret
from exporter.refresh import PageRefresher
from exporter.self_metrics import SelfMetrics
from exporter.simulator import Scenario, Simulator
from exporter.simulator.window import oldest_kept_day
from exporter.snapshots import SnapshotStore
from tests.backfill_support import TARGET, Backfilled, backfill, page_token, settings_for
from tests.conftest import Scrape, free_port, stop_process

# 2026-11-20 12:00 UTC: the range below crosses the end of daylight saving time (1 November).
NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC).timestamp()
PAGES = ("4100000001", "4100000002")

# An 88-day baseline leaves 2 days per 90-day request window: many windows, little output.
SMALL_WINDOWS = """
graph_api:
  base_url: {url}
  timeout: 5s
pages:
  - id: "4100000001"
metrics:
  - name: page_messages_new_conversations_unique
    baseline_days: 88
"""

CONFIG = """
graph_api:
  base_url: {url}
  timeout: 5s
  max_retries: 0
refresh:
  interval: 15m
pages:
  - id: "4100000001"
    name: First Shop
  - id: "4100000002"
    name: "Second \\"Quoted\\" Shop"
metrics:
  - name: page_messages_new_conversations_unique
  - name: page_messages_blocked_conversations_unique
  - name: page_messages_total_messaging_connections
    baseline_days: 0
  - name: page_messages_sent
    breakdowns: [messaging_channel]
  - name: page_messages_order_count
    range: 3d
  - name: page_messages_new_conversations_unique
    period: week
  - name: recurring_notifications_tokens
    period: total_over_range
    range: 7d
    breakdowns: [recurring_notifications_topic]
"""

# date_preset windows, resolved by Meta against the Pacific day of each request: the
# central test crosses a quarter's start (1 October) and a month's (1 November).
PRESET_ENTRIES = """
  - name: page_messages_reported_conversations_unique
    date_preset: yesterday
  - name: page_messages_with_business_outcomes
    date_preset: last_7d
  - name: page_messages_paid_order_earnings
    date_preset: this_month
  - name: page_messages_engagement
    date_preset: last_month
    breakdowns: [engagement_source]
  - name: page_messages_new_conversations_unique
    period: total_over_range
    date_preset: last_28d
  - name: page_messages_blocked_conversations_unique
    period: total_over_range
    date_preset: this_month
  - name: page_messages_reported_conversations_unique
    period: total_over_range
    date_preset: last_quarter
  - name: page_messages_order_count
    period: total_over_range
    date_preset: this_quarter
  - name: recurring_notifications_tokens
    period: week
    date_preset: last_week_mon_sun
"""


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sim(clock: Clock) -> Iterator[Simulator]:
    simulator = Simulator(port=0, now=clock, page_tokens={page: page_token(page) for page in PAGES})
    simulator.start()
    yield simulator
    simulator.stop()


def live_at(config_text: str, t: float, clock: Clock) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """What the live exporter's refresh at moment t exports (its status gauges left out)."""
    clock.now = t
    settings = settings_for(config_text)
    config = settings.config
    client = GraphClient(config.graph_api, SelfMetrics(CollectorRegistry()),
                         RateLimitGovernor(config.graph_api.max_usage_ratio), clock=clock)
    refresher = PageRefresher(client, SnapshotStore(), config.refresh, clock=clock)
    snapshots = refresher.refresh_many([(page, settings.tokens[page.id]) for page in config.pages])
    assert all(snapshot.up for snapshot in snapshots)
    found = {}
    for snapshot in snapshots:
        text = render_page(snapshot, config.refresh, t)
        body = "".join(f"# TYPE {head.name} gauge\n{lines.decode()}" for head, lines in zip(text.heads, text.lines, strict=True)
                       if head.name not in LIVE_ONLY)
        for (name, labels), value in Scrape.parse(body).samples.items():
            found[(name, frozenset({**dict(labels), **TARGET}.items()))] = value
    return found


def moments(first: dt.date, last: dt.date) -> list[float]:
    """Midday of several days, day boundaries to the millisecond, and the DST change."""
    found = []
    for day in (first + dt.timedelta(days=1), dt.date(2026, 9, 30), dt.date(2026, 10, 1),
                dt.date(2026, 10, 31), dt.date(2026, 11, 1), dt.date(2026, 11, 2), last):
        start = pacific_calendar.day_end(day)
        found += [start + 12 * 3600.0, start, start - 0.001 if day > first else start,
                  start + SAMPLE_SPACING_SECONDS - 0.001]
    # Nothing is written for the last 3 hours (Prometheus' head block).
    return [t for t in found if t < NOW - HEAD_SECONDS]


@pytest.mark.slow
def test_backfill_serves_at_every_moment_what_the_live_exporter_served(
    sim: Simulator, clock: Clock, tmp_path: Path,
) -> None:
    config_text = CONFIG.format(url=sim.url) + PRESET_ENTRIES
    code, err = backfill(settings_for(config_text), f"{tmp_path}/out/", "2026-09-28", None, NOW)
    assert code == 0, err
    written = Backfilled.read(tmp_path / "out")
    last = latest_backfillable_day(NOW)
    assert last == dt.date(2026, 11, 19)
    assert written.at(NOW - HEAD_SECONDS + 300) == {}
    served: set[tuple[str, str]] = set()
    for t in moments(dt.date(2026, 9, 28), last):
        expected = live_at(config_text, t, clock)
        assert expected, "the live exporter serves something"
        assert written.at(t) == expected, f"at {dt.datetime.fromtimestamp(t, dt.UTC)}"
        served.update((name, dict(labels).get("period", "")) for name, labels in expected)
    # Every preset entry was compared, not only present in the config.
    assert {(f"messenger_insights_{name}", period) for name, period in (
        ("page_messages_reported_conversations_unique", "day"),
        ("page_messages_with_business_outcomes", "day"),
        ("page_messages_paid_order_earnings", "day"),
        ("page_messages_engagement", "day"),
        ("page_messages_new_conversations_unique", "total_over_range"),
        ("page_messages_blocked_conversations_unique", "total_over_range"),
        ("page_messages_reported_conversations_unique", "total_over_range"),
        ("page_messages_orders", "total_over_range"),
        ("recurring_notifications_tokens", "week"),
    )} <= served, sorted(served)
    # The live HELP and TYPE, for every family written.
    clock.now = NOW
    assert set(written.types.values()) == {"gauge"}
    assert "messenger_insights_page_info" in written.help
    assert "messenger_insights_up" not in written.help


@pytest.mark.slow
def test_samples_every_five_minutes_from_each_days_end_time(sim: Simulator, tmp_path: Path) -> None:
    config_text = CONFIG.format(url=sim.url)
    code, err = backfill(settings_for(config_text), f"{tmp_path}/out/", "2026-10-30", "2026-11-02", NOW)
    assert code == 0, err
    files = sorted(p.name for p in (tmp_path / "out").glob("*.om"))
    assert files == ["2026-10-30.om", "2026-10-31.om", "2026-11-01.om", "2026-11-02.om"]
    written = Backfilled.read(tmp_path / "out")
    key = next(k for k in written.times if k[0] == "messenger_insights_page_info")
    times = written.times[key]
    assert {b - a for a, b in itertools.pairwise(times)} == {SAMPLE_SPACING_SECONDS}
    per_day = {day: sum(1 for t in times if pacific_calendar.day_end(day) <= t
                        < pacific_calendar.day_end(day + dt.timedelta(days=1)))
               for day in (dt.date(2026, 10, 31), dt.date(2026, 11, 1), dt.date(2026, 11, 2))}
    # 31 October's value is served through 1 November, 25 hours long in Pacific time.
    assert per_day == {dt.date(2026, 10, 31): 300, dt.date(2026, 11, 1): 288, dt.date(2026, 11, 2): 288}
    assert times[0] == pacific_calendar.day_end(dt.date(2026, 10, 30))


def test_no_moment_without_a_sample_in_the_lookback_window() -> None:
    """Over days of 23, 24 and 25 hours, every instant (step 7 s, and each boundary to the
    millisecond) sees the value of the day being served, never nothing."""
    days = [dt.date(2026, 3, 7) + dt.timedelta(days=n) for n in range(3)]  # 8 March: 23 hours
    days += [dt.date(2026, 10, 31) + dt.timedelta(days=n) for n in range(3)]  # 1 November: 25 hours
    table = SeriesTable()
    spans = []
    for number, day in enumerate(days):
        span = DayRange(day, day, cutoff=1e12).sample_span(day)
        spans.append((span, float(number)))
        table.add(FamilyHead("messenger_insights_x", "x"), f'messenger_insights_x{{page_id="1"}} {float(number)}\n'.encode(),
                  "", *span)
    out = io.BytesIO()
    table.write(out, headers=True)
    written = Backfilled.parse(out.getvalue().decode())
    for (start, stop), value in spans:
        for t in [*range(start, stop, 7), start, stop - 0.001, start + 299.999]:
            assert list(written.at(float(t)).values()) == [value], t


@pytest.mark.slow
def test_file_and_folder_hold_the_same_samples_and_the_file_each_series_once(
    sim: Simulator, tmp_path: Path,
) -> None:
    # An 88-day baseline leaves 2 days per 90-day request window: 5 days take 3 windows.
    config_text = CONFIG.format(url=sim.url).split("metrics:")[0] + (
        "metrics:\n  - name: page_messages_new_conversations_unique\n    baseline_days: 88\n"
        "  - name: page_messages_sent\n    breakdowns: [messaging_channel]\n"
    )
    settings = settings_for(config_text)
    code, err = backfill(settings, tmp_path / "history.om", "2026-11-06", "2026-11-10", NOW)
    assert code == 0, err
    assert "3 window(s)" in err
    text = (tmp_path / "history.om").read_text(encoding="utf-8")
    assert text.endswith("# EOF\n")
    assert text.count("# TYPE messenger_insights_page_messages_sent gauge") == 1
    single = Backfilled.parse(text)  # strict: each family once, each series in time order
    code, err = backfill(settings, f"{tmp_path}/folder/", "2026-11-06", "2026-11-10", NOW)
    assert code == 0, err
    assert single.times == Backfilled.read(tmp_path / "folder").times
    assert not list(tmp_path.glob(".*"))  # no partial or spool files left


@pytest.mark.slow
def test_stdout(sim: Simulator, capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    settings = settings_for(CONFIG.format(url=sim.url))
    code, err = backfill(settings, "-", "2026-11-10", "2026-11-11", NOW)
    assert code == 0, err
    written = Backfilled.parse(capfdbinary.readouterr().out.decode())
    assert written.samples() > 0


@pytest.mark.slow
def test_target_labels_on_every_series(sim: Simulator, tmp_path: Path) -> None:
    settings = settings_for(CONFIG.format(url=sim.url))
    code, err = backfill(settings, tmp_path / "h.om", "2026-11-10", "2026-11-10", NOW, job="mi",
                         instance="10.0.0.7:10490", label1="namespace=monitoring")
    assert code == 0, err
    written = Backfilled.read(tmp_path / "h.om")
    for _, labels in written.times:
        assert {("job", "mi"), ("instance", "10.0.0.7:10490"), ("namespace", "monitoring")} <= labels


def test_target_label_rules() -> None:
    assert target_labels("messenger-insights", "", []) == {"job": "messenger-insights"}
    for bad, why in (("page_id=x", "carry already"), ("nameonly", "NAME=VALUE"),
                     ("__x=1", "reserved"), ("job=x", "--backfill.job"), ("1a=b", "NAME=VALUE")):
        with pytest.raises(LabelError, match=why):
            target_labels("j", "i", [bad])


def test_range_rules() -> None:
    assert parse_day("2026-06-01", "--backfill.start", NOW) == dt.date(2026, 6, 1)
    assert parse_day("10d", "--backfill.start", NOW) == dt.date(2026, 11, 10)
    assert day_range("5d", None, NOW).last == dt.date(2026, 11, 19)
    cases = {
        ("2026-13-01", None): "not a calendar date",
        ("yesterday", None): "give a date",
        ("2026-11-10", "2026-11-05"): "is after",
        ("2026-11-10", "2026-11-25"): "not over yet",
        ("2026-11-10", "2026-11-20"): "not over yet",
    }
    for (start, end), message in cases.items():
        with pytest.raises(RangeError, match=message):
            day_range(start, end, NOW)
    # The 19th's value is served from 20 November 08:00 UTC: refused until 11:00 UTC.
    early = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC).timestamp()
    with pytest.raises(RangeError, match="less than 3 hours ago"):
        day_range("2026-11-10", "2026-11-19", early)
    assert latest_backfillable_day(early) == dt.date(2026, 11, 18)


def test_windows_stay_within_ninety_days_with_their_lookback() -> None:
    days = DayRange(dt.date(2025, 1, 1), dt.date(2026, 11, 19), cutoff=NOW)
    for lookback in (0, 7, 27, 89):
        found = windows(days, lookback)
        assert found[0][1] == days.last and found[-1][0] == days.first  # newest first
        for (first, _), (_, older_last) in itertools.pairwise(found):
            assert older_last == first - dt.timedelta(days=1)  # no gap, no overlap
        assert all((last - first).days + 1 + lookback <= MAX_WINDOW_DAYS for first, last in found)
    with pytest.raises(RangeError):
        windows(days, 90)


def test_bad_input_through_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(url="http://127.0.0.1:9"), encoding="utf-8")
    monkeypatch.setenv("META_PAGE_TOKEN", "EAAB-cli-test")
    base = [f"--config.file={config}"]
    cases = [
        (["--backfill.start=2026-11-10", f"--backfill.output={tmp_path}/missing/dir/h.om"], "cannot write"),
        (["--backfill.start=4d", "--backfill.end=5d", f"--backfill.output={tmp_path}/h.om"], "is after"),
        (["--backfill.start=2d", "--backfill.end=2099-01-01", f"--backfill.output={tmp_path}/h.om"],
         "not over yet"),
        (["--backfill.start=2d", f"--backfill.output={tmp_path}/h.om", "--backfill.label=pod"], "NAME=VALUE"),
    ]
    for args, message in cases:
        assert main([*base, *args]) == 1
        assert message in capsys.readouterr().err
    for args in (["--backfill.start=2d"], ["--backfill.output=x.om"],
                 ["--backfill.start=2d", "--backfill.output=x.om", "--once"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*base, *args])
        assert exit_info.value.code == 2
    assert not list(tmp_path.glob("*.om"))


def test_start_before_the_oldest_data_stops_at_the_first_empty_window(
    sim: Simulator, tmp_path: Path,
) -> None:
    oldest = oldest_kept_day(NOW)
    settings = settings_for(CONFIG.format(url=sim.url))
    code, err = backfill(settings, f"{tmp_path}/out/", "2023-06-01", str(oldest + dt.timedelta(days=9)), NOW)
    assert code == 1
    assert f"no insights before {oldest}" in err
    assert "Meta keeps about two years" in err
    # The newest window held the last ten days; the next one came back empty; nothing older
    # was asked (the windows reach back to 2023).
    plan = windows(day_range("2023-06-01", str(oldest + dt.timedelta(days=9)), NOW), lookback=7)
    assert len(plan) > 3
    oldest_asked = min(int(r.query["since"]) for r in sim.requests() if "since" in r.query)
    assert oldest_asked >= pacific_calendar.day_start(plan[1][0]) - 8 * 86_400
    files = sorted(p.stem for p in (tmp_path / "out").glob("*.om"))
    assert files[0] == str(oldest)


@pytest.mark.slow
def test_one_page_failing_is_reported_and_the_rest_written(sim: Simulator, tmp_path: Path) -> None:
    sim.set_scenario(PAGES[1], Scenario("permission_denied", {"code": 200}))
    settings = settings_for(CONFIG.format(url=sim.url))
    code, err = backfill(settings, tmp_path / "h.om", "2026-11-01", "2026-11-05", NOW)
    assert code == 1
    assert f"Page {PAGES[1]}: page_messages_new_conversations_unique" in err
    assert "2026-11-01..2026-11-05: 200:" in err
    assert f"Page {PAGES[0]}" not in err.split("missing")[1]
    assert "no insights before" not in err  # the failure is the reason, not the oldest data
    written = Backfilled.read(tmp_path / "h.om")
    pages = {dict(labels).get("page_id") for _, labels in written.times}
    assert pages == {PAGES[0]}


@pytest.mark.slow
def test_total_over_range_without_a_window_is_listed_as_not_backfilled(sim: Simulator, tmp_path: Path) -> None:
    config_text = CONFIG.format(url=sim.url) + (
        "  - name: page_messages_sent\n    period: total_over_range\n"
        "  - name: page_messages_sent\n    date_preset: this_month\n"
    )
    code, err = backfill(settings_for(config_text), tmp_path / "h.om", "2026-11-10", "2026-11-10", NOW)
    assert code == 1
    missing = err.split("missing")[1]
    assert "page_messages_sent (period total_over_range): not backfilled: total_over_range without a window" in missing
    assert "Meta documents no default window" in missing
    assert "(period day)" not in missing  # the date_preset entry was backfilled
    written = Backfilled.read(tmp_path / "h.om")
    assert any(name == "messenger_insights_page_messages_sent" for name, _ in written.times)


def test_a_stopped_backfill_leaves_a_valid_file_of_the_windows_complete(
    sim: Simulator, tmp_path: Path,
) -> None:
    settings = settings_for(SMALL_WINDOWS.format(url=sim.url))
    days = day_range("2026-11-05", "2026-11-10", NOW)
    run = Backfill(settings, days, dict(TARGET), open_sink(str(tmp_path / "h.om")), err=io.StringIO(),
                   clock=lambda: NOW)
    write = run.sink.write

    def write_then_stop(first_day: dt.date, table: SeriesTable) -> int:
        run.stop.set()  # as Ctrl-C would, while the first window is written
        return write(first_day, table)

    run.sink.write = write_then_stop  # type: ignore[method-assign]
    assert run.run() == 130
    written = Backfilled.read(tmp_path / "h.om")
    oldest = min(t for times in written.times.values() for t in times)
    assert oldest == pacific_calendar.day_end(dt.date(2026, 11, 9))  # the newest window: 9 and 10


@pytest.mark.e2e
def test_ctrl_c_leaves_a_valid_truncated_file(tmp_path: Path) -> None:
    with Simulator(port=free_port(), latency=0.5, page_tokens={PAGES[0]: "EAAB-ctrl-c"}) as slow:
        config = tmp_path / "config.yaml"
        config.write_text(SMALL_WINDOWS.format(url=slow.url), encoding="utf-8")
        output = tmp_path / "history.om"
        process = subprocess.Popen(
            [sys.executable, "-m", "exporter", f"--config.file={config}", "--backfill.start=40d",
             f"--backfill.output={output}"],
            env={"META_PAGE_TOKEN": "EAAB-ctrl-c", "PATH": "/usr/bin:/bin"},
            stderr=subprocess.PIPE, text=True,
        )
        assert process.stderr is not None
        lines = []
        for line in process.stderr:
            lines.append(line)
            if "window " in line:  # the first window is written; twenty 2-day windows to go
                time.sleep(1.0)
                process.send_signal(2)  # SIGINT, as Ctrl-C
                break
        rest = process.communicate(timeout=60)[1]
        stop_process(process)
    assert process.returncode == 130, "".join(lines) + rest
    assert "interrupted" in rest
    written = Backfilled.read(output)
    days_written = len(written.times[next(iter(written.times))]) // 288
    assert 1 <= days_written < 38


def test_the_fetcher_waits_while_the_governor_holds_requests_back() -> None:
    class HeldOnce:
        calls = 0

        def run(self, operations: list[tuple[InsightsQuery, Secret]]) -> list[object]:
            self.calls += 1
            if self.calls == 1:
                return [ThrottledError(time.time() + 0.2) for _ in operations]
            return [{} for _ in operations]

    client = HeldOnce()
    pauses: list[float] = []
    fetcher = Fetcher(client, threading.Event(), pauses.append)  # type: ignore[arg-type]
    query = InsightsQuery("1", ("m",), "day", Window(), since=0, until=1)
    started = time.monotonic()
    results = fetcher.run([Request("1", (), query, Secret("t"))])
    assert client.calls == 2 and len(pauses) == 1
    assert time.monotonic() - started >= 0.15
    assert results[0][1] == {}


def test_history_keeps_every_end_time() -> None:
    document = {"data": [{"name": "page_messages_sent", "period": "day", "values": [
        {"value": 3, "end_time": "2026-09-03T07:00:00+0000"},
        {"value": "5", "end_time": "1788505200"},
    ]}]}
    data: MetricData = parse_insights(document, ["page_messages_sent"], "day", (), history=True)[
        "page_messages_sent"]
    assert [value for _, value in data.history] == [(((), 3.0),), (((), 5.0),)]
    assert parse_insights(document, ["page_messages_sent"], "day", ())["page_messages_sent"].history == ()
