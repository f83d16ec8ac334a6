"""Unit tests where the logic is subtle: exposition text, scrubbing, durations, headers, errors."""

from __future__ import annotations

import json
import logging
from types import MappingProxyType
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter.batch import debug_token_form
from exporter.config import MetricSpec, PageConfig, RefreshConfig, TokenSource, Window
from exporter.durations import DurationError, format_duration, parse_duration
from exporter.graph_client import GraphError, InsightsQuery, backoff_delay, graph_error
from exporter.insights_response import MetricData
from exporter.logs import JsonFormatter, LogfmtFormatter
from exporter.redact import REDACTED, Scrubber, Secret
from exporter.refresh import group_specs
from exporter.snapshots import ErrorInfo, MetricResult, PageSnapshot, SnapshotStore
from exporter.usage import UsageReport, parse_usage_header
from tests.reference_batch import batch_form
from tests.reference_renderer import InsightsCollector

NOW = 1_800_000_000.0


def test_exposition_is_exactly_this() -> None:
    sent = MetricSpec("page_messages_sent", breakdowns=("messaging_channel",), baseline_days=2)
    blocked = MetricSpec("page_messages_blocked_conversations_unique", baseline_days=0)
    page = PageConfig("42", "Acme", TokenSource(env="T"), (sent, blocked))
    store = SnapshotStore()
    store.keep_only((page,))
    store.put(PageSnapshot(
        page=page,
        results=(
            MetricResult(sent, NOW - 10, MetricData.of(
                "page_messages_sent", NOW - 3600, ("channel",),
                ((("messenger",), 7.0), (("instagram",), 3.0)),
                baseline=((("messenger",), 5.5), (("instagram",), 2.0)), baseline_days=2)),
            MetricResult(blocked, NOW - 10, None),
        ),
        attempted=True, up=False, last_success=NOW - 100, refresh_duration=0.25,
        last_error=ErrorInfo("190", "bad token", NOW - 10),
        rejected=MappingProxyType({"page_messages_blocked_conversations_unique": NOW - 10}),
    ))
    registry = CollectorRegistry()
    registry.register(InsightsCollector(store, lambda: RefreshConfig(900, 2700), clock=lambda: NOW))
    assert generate_latest(registry).decode() == (
        "# HELP messenger_insights_page_messages_sent Marketing messages the Page sent "
        "(Graph API insights metric page_messages_sent). Refreshed every 15m.\n"
        "# TYPE messenger_insights_page_messages_sent gauge\n"
        'messenger_insights_page_messages_sent{channel="messenger",page_id="42",period="day"} 7.0\n'
        'messenger_insights_page_messages_sent{channel="instagram",page_id="42",period="day"} 3.0\n'
        "# HELP messenger_insights_page_messages_sent_baseline Mean daily value over the 2 complete "
        "days before the latest one (fewer when the API has fewer) of: Marketing messages the Page "
        "sent (Graph API insights metric page_messages_sent). Refreshed every 15m.\n"
        "# TYPE messenger_insights_page_messages_sent_baseline gauge\n"
        'messenger_insights_page_messages_sent_baseline{channel="messenger",page_id="42",period="day"} 5.5\n'
        'messenger_insights_page_messages_sent_baseline{channel="instagram",page_id="42",period="day"} 2.0\n'
        "# HELP messenger_insights_data_end_timestamp_seconds end_time of the insights value exported "
        "(the end of the latest complete period).\n"
        "# TYPE messenger_insights_data_end_timestamp_seconds gauge\n"
        'messenger_insights_data_end_timestamp_seconds{metric="page_messages_sent",page_id="42",period="day"}'
        " 1.7999964e+09\n"
        "# HELP messenger_insights_page_info Pages this exporter refreshes (configured or discovered); "
        "always 1, with the Page name.\n"
        "# TYPE messenger_insights_page_info gauge\n"
        'messenger_insights_page_info{page_id="42",page_name="Acme"} 1.0\n'
        "# HELP messenger_insights_up 1 if the last refresh of the Page got an answer for every "
        "configured metric the API has not rejected, else 0.\n"
        "# TYPE messenger_insights_up gauge\n"
        'messenger_insights_up{page_id="42"} 0.0\n'
        "# HELP messenger_insights_last_success_timestamp_seconds Unix time at the end of the last fully "
        "successful refresh of the Page (0 before the first).\n"
        "# TYPE messenger_insights_last_success_timestamp_seconds gauge\n"
        'messenger_insights_last_success_timestamp_seconds{page_id="42"} 1.7999999e+09\n'
        "# HELP messenger_insights_refresh_duration_seconds How long the last refresh of the Page took.\n"
        "# TYPE messenger_insights_refresh_duration_seconds gauge\n"
        'messenger_insights_refresh_duration_seconds{page_id="42"} 0.25\n'
        "# HELP messenger_insights_metric_rejected 1 for a configured metric the Graph API rejected as not "
        "a valid insights metric, else 0.\n"
        "# TYPE messenger_insights_metric_rejected gauge\n"
        'messenger_insights_metric_rejected{metric="page_messages_sent",page_id="42"} 0.0\n'
        'messenger_insights_metric_rejected{metric="page_messages_blocked_conversations_unique",page_id="42"} 1.0\n'
    )


def test_stale_results_are_not_served() -> None:
    spec = MetricSpec("page_messages_sent")
    page = PageConfig("1", None, TokenSource(env="T"), (spec,))
    store = SnapshotStore()
    store.keep_only((page,))
    data = MetricData.of("page_messages_sent", NOW, (), (((), 1.0),))
    store.put(PageSnapshot(page, (MetricResult(spec, NOW - 2701, data),), attempted=True))
    registry = CollectorRegistry()
    registry.register(InsightsCollector(store, lambda: RefreshConfig(900, 2700), clock=lambda: NOW))
    assert registry.get_sample_value("messenger_insights_page_messages_sent",
                                     {"page_id": "1", "period": "day"}) is None
    assert registry.get_sample_value("messenger_insights_page_info", {"page_id": "1", "page_name": "1"}) == 1


def test_scrubber_removes_registered_tokens_and_credential_shapes() -> None:
    scrubber = Scrubber()
    scrubber.register("EAAB-registered-secret")
    scrubber.register("abc")  # too short to scrub everywhere
    text = scrubber.scrub(
        "token EAAB-registered-secret; https://graph.facebook.com/v25.0/1/insights?access_token=EAAXYZ"
        "&metric=a; Authorization: Bearer EAAGm0PX4ZCpsBAKZC1234; OAuth access token; abc; "
        '{"appsecret_proof": "deadbeef"}; input_token=EAA1&x=1'
    )
    assert text == (
        "token [REDACTED]; https://graph.facebook.com/v25.0/1/insights?access_token=[REDACTED]"
        "&metric=a; Authorization: Bearer [REDACTED]; OAuth access token; abc; "
        '{"appsecret_proof": "[REDACTED]"}; input_token=[REDACTED]&x=1'
    )


@pytest.mark.parametrize(("text", "scrubbed"), [
    ("ACCESS_TOKEN=EAAXYZ&x=1", "ACCESS_TOKEN=[REDACTED]&x=1"),
    ("BEARER EAAGm0PX4ZCpsBAKZC1234", "BEARER [REDACTED]"),
    # IGNORECASE takes a dotted capital I for an i, and a long s for an s: lower() does not
    ("\u0130nput_token=EAA1&x=1", "\u0130nput_token=[REDACTED]&x=1"),
    ("acce\u017f\u017f_token=EAA1&x=1", "acce\u017f\u017f_token=[REDACTED]&x=1"),
    ("messenger_insights_up 1.0", "messenger_insights_up 1.0"),
])
def test_scrubber_finds_credential_words_in_any_case(text: str, scrubbed: str) -> None:
    assert Scrubber().scrub(text) == scrubbed


def test_secret_never_shows_itself() -> None:
    secret = Secret("EAAB-very-secret")
    assert "EAAB" not in f"{secret} {secret!r} {[secret]}"
    assert secret.reveal() == "EAAB-very-secret"


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("15m", 900), ("1h30m", 5400), ("7d", 604800), ("1w", 604800), ("500ms", 0.5), ("1y", 31536000),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "15 m", "1m1h", "-1s", "0s", "1.5h", "m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(900, "15m"), (5400, "1h30m"), (45, "45s"), (86400 * 28, "28d")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_usage_headers() -> None:
    assert parse_usage_header("app", '{"call_count":28,"total_time":25,"total_cputime":25}', "1") == [
        UsageReport("app", "", {"call_count": 28.0, "total_time": 25.0, "total_cputime": 25.0})]
    bucu = ('{"123":[{"type":"pages","call_count":5,"total_cputime":1,"total_time":2,'
            '"estimated_time_to_regain_access":0},{"type":"messenger","call_count":9,'
            '"estimated_time_to_regain_access":7}]}')
    (report,) = parse_usage_header("business_use_case", bucu, "1")
    assert report == UsageReport("business_use_case", "123",
                                 {"call_count": 9.0, "total_cputime": 1.0, "total_time": 2.0}, 7.0)
    assert report.highest_ratio == 0.09
    assert parse_usage_header("page", '{"call_count": 3}', "77") == [UsageReport("page", "77", {"call_count": 3.0})]
    for garbage in ("", "nope", "[]", '{"call_count": "x"}', '{"1": 5}', "[" * 5000, '{"call_count": NaN}'):
        assert parse_usage_header("business_use_case", garbage, "1") == []
        assert parse_usage_header("app", garbage, "1") == []


def test_usage_headers_read_alike_remembered_or_not() -> None:
    """Short values are remembered by their text, long ones read each time: same reports."""
    entry = '[{"type":"pages","call_count":%d,"total_time":1,"estimated_time_to_regain_access":0}]'
    many = "{" + ",".join(f'"{n}":{entry % (n % 90)}' for n in range(1, 40)) + "}"
    assert len(many) > 512
    reports = parse_usage_header("business_use_case", many, "1")
    assert [(r.scope_id, dict(r.figures)) for r in reports] == [
        (str(n), {"call_count": float(n % 90), "total_time": 1.0}) for n in range(1, 40)]
    app = '{"call_count":28,"total_time":25,"total_cputime":25' + " " * 600 + "}"
    assert parse_usage_header("app", app, "1") == parse_usage_header("app", " ".join(app.split()), "1")
    first = parse_usage_header("business_use_case", '{"5":' + entry % 3 + "}", "1")
    first.clear()  # each call gets its own list, the remembered one is not touched
    assert parse_usage_header("business_use_case", '{"5":' + entry % 3 + "}", "1") == [
        UsageReport("business_use_case", "5", {"call_count": 3.0, "total_time": 1.0})]


@pytest.mark.parametrize(("body", "status", "code", "transient", "rejects"), [
    ({"error": {"code": 100, "message": "(#100) The value must be a valid insights metric"}}, 400, "100", False, True),
    ({"error": {"code": 100, "error_subcode": 33, "message": "Unsupported get request"}}, 400, "100", False, False),
    ({"error": {"code": 190, "error_subcode": 463, "message": "expired"}}, 400, "190", False, False),
    ({"error": {"code": 1, "message": "An unknown error occurred"}}, 500, "1", True, False),
    ({"error": {"code": 2, "is_transient": True}}, 400, "2", True, False),
    ({"error": {"code": 80001, "is_transient": True}}, 400, "80001", False, False),
    ({"error": {"code": 4}}, 403, "4", False, False),
    ({"error": {"code": 12345, "is_transient": True}}, 400, "12345", True, False),
    ({"error": "text"}, 502, "http", True, False),
    ({}, 404, "http", False, False),
])
def test_error_classification(body: object, status: int, code: str, transient: bool, rejects: bool) -> None:
    error = graph_error(body, status)
    assert (error.code, error.transient, error.rejects_metric) == (code, transient, rejects)


def test_error_messages_are_scrubbed_when_made() -> None:
    error = GraphError("190", "see https://x/?access_token=EAAsecret123&a=1")
    assert "EAAsecret123" not in str(error) and "EAAsecret123" not in error.message


def test_backoff_grows_and_is_capped() -> None:
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (3, 4.0), (20, 30.0)]:
        delays = [backoff_delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)


def test_grouping_and_query_parameters() -> None:
    specs = (
        MetricSpec("page_messages_sent"),
        MetricSpec("page_messages_sent", breakdowns=("messaging_channel",)),
        MetricSpec("page_messages_blocked_conversations_unique"),
        MetricSpec("page_messages_new_conversations_unique", baseline_days=0),
        MetricSpec("recurring_notifications_tokens", "total_over_range", Window(date_preset="last_28d")),
    )
    groups = group_specs(specs)
    assert [[s.name for s in g] for g in groups] == [
        ["page_messages_sent", "page_messages_blocked_conversations_unique"],
        ["page_messages_sent"],
        ["page_messages_new_conversations_unique"],
        ["recurring_notifications_tokens"],
    ]
    query = InsightsQuery("1", ("a", "b"), "day", Window(range_seconds=8 * 86400), ("messaging_channel",))
    assert query.params(NOW) == {"metric": "a,b", "period": "day", "since": str(int(NOW - 8 * 86400)),
                                 "until": str(int(NOW)), "breakdown": "messaging_channel"}
    preset = InsightsQuery("1", ("a",), "total_over_range", Window(date_preset="last_28d"))
    assert preset.params(NOW) == {"metric": "a", "period": "total_over_range", "date_preset": "last_28d"}


def test_batch_operations_carry_their_tokens_in_relative_url_and_no_output_shows_one() -> None:
    tokens = [Secret("EAAB-relative-url-page-one"), Secret("EAAB-relative-url-page-two")]
    form = batch_form([(f"{n}/insights", {"metric": "a,b", "period": "day"}, token)
                       for n, token in enumerate(tokens, 1)], lambda token: f"proof-of-{token.reveal()}")
    operations = json.loads(form["batch"])
    # GET operations have only method and relative_url (Meta does not read a GET's body).
    assert [set(op) for op in operations] == [{"method", "relative_url"}] * 2
    assert [parse_qs(urlsplit(op["relative_url"]).query) for op in operations] == [
        {"metric": ["a,b"], "period": ["day"], "access_token": [t.reveal()],
         "appsecret_proof": [f"proof-of-{t.reveal()}"]} for t in tokens]
    assert (form["access_token"], form["appsecret_proof"]) == (tokens[0].reveal(), "proof-of-EAAB-relative-url-page-one")
    (check,) = json.loads(debug_token_form(tokens[1], Secret("1|s"), "p")["batch"])
    assert check == {"method": "GET", "relative_url": f"debug_token?input_token={tokens[1].reveal()}"}

    # Every form a relative_url can take in a message comes out without it: JSON, JSON in
    # JSON, a repr, the url-encoded body, logfmt and JSON log lines.
    record = logging.LogRecord("exporter.graph_client", logging.DEBUG, __file__, 1, "batch %s", (form,), None)
    record.relative_url = operations[0]["relative_url"]
    record.batch = form["batch"]
    texts = [form["batch"], json.dumps(form), repr(operations), urlencode(form),
             f"relative_url={operations[1]['relative_url']}"]
    scrubber = Scrubber()  # nothing registered: the shapes alone must do
    log_lines = [LogfmtFormatter().format(record), JsonFormatter().format(record)]  # scrubbed as written
    for text in [*map(scrubber.scrub, texts), *log_lines]:
        assert "EAAB-relative-url" not in text and "proof-of" not in text, text
        assert "insights?" not in text and "debug_token?" not in text, text
        assert "relative_url" in text and REDACTED in text


def test_recent_collector_shares_one_reading_for_a_moment() -> None:
    from prometheus_client.core import GaugeMetricFamily

    from exporter.recent import Recent

    class Counting:
        readings = 0

        def collect(self) -> list[GaugeMetricFamily]:
            self.readings += 1
            return [GaugeMetricFamily("readings", "Readings so far.", value=self.readings)]

    now = [100.0]
    source = Counting()
    recent = Recent(source, max_age=1.0, clock=lambda: now[0])
    first = list(recent.collect())
    now[0] += 0.5
    assert list(recent.collect()) == first and source.readings == 1
    now[0] += 0.5
    assert next(iter(recent.collect())).samples[0].value == 2
