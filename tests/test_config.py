"""The config loader: every failure mode reported with its place, good configs parsed right."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exporter.catalog import CATALOG
from exporter.config import ConfigError, Window, load_file, load_text
from exporter.credentials import resolve_tokens
from exporter.redact import Secret
from exporter.suggestions import close_matches
from tests.inprocess import run_cli

CONFFILES = Path(__file__).parent / "conffiles"
REPO = Path(__file__).parent.parent


def expected_message(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: '"
    return first.removeprefix("# expect: ")


BAD_FILES = sorted(CONFFILES.glob("*.yaml"))


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.stem for p in BAD_FILES])
def test_each_bad_config_names_its_problem_and_place(path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_file(path)
    expected = expected_message(path)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems
    assert all(problem.startswith(str(path)) for problem in caught.value.problems)


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.stem for p in BAD_FILES])
def test_check_config_exits_1_with_the_problem_and_no_traceback(path: Path) -> None:
    result = run_cli(f"--config.file={path}", "--check-config",
                     env={**os.environ, "META_PAGE_TOKEN": "token-for-config-tests"})
    assert result.returncode == 1
    assert expected_message(path) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_every_problem_is_reported_in_one_pass() -> None:
    text = """
graph_api:
  timout: 10s
pages:
  - id: abc
  - id: "2"
    metrics:
      - name: page_messages_sentt
      - name: page_messages_sent
        breakdowns: [nope]
"""
    with pytest.raises(ConfigError) as caught:
        load_text(text, "multi.yaml")
    problems = caught.value.problems
    assert len(problems) == 4, problems
    assert problems[0].startswith("multi.yaml:3: graph_api.timout: unknown key")
    assert any(p.startswith("multi.yaml:5: pages[0].id:") for p in problems)
    assert any(p.startswith("multi.yaml:8: pages[1].metrics[0].name:") for p in problems)
    assert any(p.startswith("multi.yaml:10: pages[1].metrics[1].breakdowns[0]:") for p in problems)


def test_problems_are_listed_in_file_order_whatever_the_section_order() -> None:
    text = """
pages:
  - id: "1"
    acces_token_env: ACME_TOKEN
refresh:
  interval: 15 minutes
graph_api:
  timout: 10s
"""
    with pytest.raises(ConfigError) as caught:
        load_text(text, "order.yaml")
    assert caught.value.problems == [
        "order.yaml:4: pages[0].acces_token_env: unknown key (did you mean access_token_env?)",
        "order.yaml:6: refresh.interval: '15 minutes' is not a duration (use Prometheus syntax such "
        "as 30s, 15m, 1h, 7d)",
        "order.yaml:8: graph_api.timout: unknown key (did you mean timeout?)",
    ]


def test_a_missing_section_is_reported_at_the_start_of_the_file() -> None:
    with pytest.raises(ConfigError) as caught:
        load_text("refresh:\n  interval: 0s\n", "start.yaml")
    assert caught.value.problems == [
        "start.yaml:1: pages: no Pages configured: list at least one under pages:",
        "start.yaml:2: refresh.interval: '0s' is not a positive duration",
    ]


@pytest.mark.parametrize(("name", "message"), [
    # One letter off: the one close name, not the three others sharing its words.
    ("page_messages_new_conversation_unique",
     "unknown metric 'page_messages_new_conversation_unique'; did you mean "
     "page_messages_new_conversations_unique? (to export a metric the catalog does not know, "
     "give the entry its own help: text)"),
    # Nothing close: every catalog name starts with page_messages_, which is no reason.
    ("page_messages_spam",
     "unknown metric 'page_messages_spam' (to export a metric the catalog does not know, give "
     "the entry its own help: text)"),
    ("page_messages_total_conversations",
     "unknown metric 'page_messages_total_conversations' (to export a metric the catalog does "
     "not know, give the entry its own help: text)"),
])
def test_an_unknown_metric_gets_a_suggestion_only_when_one_is_close(name: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(f"pages: [{{id: '1'}}]\nmetrics:\n  - {name}\n", "close.yaml")
    assert caught.value.problems == [f"close.yaml:3: metrics[0].name: {message}"]


@pytest.mark.parametrize(("text", "problem"), [
    ("pages: [{id: '1', token: x}]\n", "c.yaml:1: pages[0].token: unknown key"),
    ("pages: [{id: '1'}]\nrefresh: {stale: 1h}\n", "c.yaml:2: refresh.stale: unknown key"),
    ("pages: [{id: '1'}]\nrefresh: {Interval: 1h}\n",
     "c.yaml:2: refresh.Interval: unknown key (did you mean interval?)"),
    ("pages: [{id: '1'}]\nmetrics: [{name: page_messages_sent, breakdowns: [channel]}]\n",
     "c.yaml:2: metrics[0].breakdowns[0]: unknown breakdown 'channel'"),
    ("pages: [{id: '1'}]\nmetrics: [{name: page_messages_sent, date_preset: last_7_days}]\n",
     "c.yaml:2: metrics[0].date_preset: unknown date_preset 'last_7_days' (did you mean last_7d?)"),
    ("pages: [{id: '1', access_token: X}]\n",
     "c.yaml:1: pages[0].access_token: unknown key (did you mean access_token_env?)"),
])
def test_keys_and_words_get_a_suggestion_only_when_one_is_close(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(text, "c.yaml")
    assert caught.value.problems == [problem]


@pytest.mark.parametrize(("word", "close"), [
    ("timout", ["timeout"]),  # one letter left out
    ("intreval", ["interval"]),  # two letters swapped
    ("max_concurency", ["max_concurrency"]),
    ("Graph_API", ["graph_api"]),  # case is not a difference
    ("page_messages_sentt", ["page_messages_sent"]),
    ("page_messages_read", ["page_messages_read_ratio"]),  # shortened
    ("page_messages_spam", []),  # shares a prefix with everything, and nothing else
    ("ids", ["id"]),
    ("xyz", []),
])
def test_close_matches_are_typos_or_shortenings(word: str, close: list[str]) -> None:
    choices = ["id", "timeout", "interval", "max_concurrency", "graph_api", *CATALOG]
    assert close_matches(word, choices, limit=1) == close


INDENT_HINT = ("hint: the keys of one mapping start in the same column, and so do the dashes of one "
               "list; indent with spaces, never tabs")


@pytest.mark.parametrize(("text", "problem"), [
    # A key indented less than its neighbours: at its own line and column, not at line 2
    # where the enclosing list starts.
    ("pages:\n  - id: '1'\n    name: a\n  - id: '2'\n   name: b\n",
     f"y.yaml:5:4: invalid YAML: this line is not indented like the lines above it (in the list "
     f"that starts at line 2, column 3); {INDENT_HINT}"),
    # Indented more: YAML reads it as the rest of the value above.
    ("pages:\n  - id: '1'\n    name: a\n     metrics: [page_messages_sent]\n",
     f"y.yaml:4:6: invalid YAML: this line is indented more than line 3 above it, so it reads as "
     f"the rest of that line's value; {INDENT_HINT}"),
    ("refresh:\n  interval: 1m\n stale_after: 3m\n",
     f"y.yaml:3:2: invalid YAML: this line is not indented like the lines above it (in the mapping "
     f"that starts at line 1, column 1); {INDENT_HINT}"),
    ("refresh:\n\tinterval: 1m\n",
     "y.yaml:2:1: invalid YAML: a tab character; hint: YAML indents with spaces only; replace the "
     "tab with spaces"),
    ("refresh:\n  interval 1m\n  stale_after: 3m\n",
     "y.yaml:2:3: invalid YAML: this line has no ':' after its key, so line 3 reads as the rest of "
     "it; hint: write key: value"),
    ("pages:\n  - id: '1'\n    name: Acme: Outlet\n",
     "y.yaml:3:15: invalid YAML: a ': ' inside a value; hint: put the value in quotes "
     "(name: \"a: b\") if it contains ': '"),
    ("pages: [{id: '1'}\nrefresh: {}\n",
     "y.yaml:1:8: invalid YAML: this [ is not closed before line 2; hint: close it with ], or "
     "separate its items with commas"),
    ("pages: [{id: '1'}]\n---\nrefresh: {}\n",
     "y.yaml:2:1: invalid YAML: a second document starts here; hint: a config file holds one document"),
    ("pages: [{id: '1', name: @acme}]\n",
     "y.yaml:1:25: invalid YAML: a plain value cannot start with '@'; hint: put the value in quotes"),
])
def test_yaml_errors_name_the_line_and_column_to_fix_with_a_hint(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(text, "y.yaml")
    assert caught.value.problems == [problem]


def test_defaults_when_only_pages_are_given() -> None:
    config = load_text("pages:\n  - id: 1234567890\n")
    assert config.graph_api.base_url == "https://graph.facebook.com"
    assert config.graph_api.version == "v24.0"
    assert config.graph_api.timeout == 30
    assert config.graph_api.max_retries == 3
    assert config.graph_api.max_concurrency == 4
    assert config.refresh.interval == 900
    assert config.refresh.stale_after == 2700
    (page,) = config.pages
    assert page.id == "1234567890"  # an unquoted YAML integer becomes the id string
    assert page.token.env == "META_PAGE_TOKEN"
    assert [m.name for m in page.metrics] == list(CATALOG)
    assert {m.period for m in page.metrics} == {"day"}


def test_stale_after_defaults_to_three_intervals() -> None:
    config = load_text("refresh:\n  interval: 2m\npages:\n  - id: '1'\n")
    assert config.refresh.stale_after == 360


def test_full_config_parses_into_the_right_objects() -> None:
    text = """
graph_api:
  base_url: http://127.0.0.1:9999/
  version: v25.0
  timeout: 1m30s
  max_retries: 0
  max_concurrency: 8
refresh:
  interval: 30s
  stale_after: 2m
defaults:
  access_token_file: /run/secrets/page-token
pages:
  - id: "111"
    name: Acme Store
    access_token_env: ACME_TOKEN
  - id: "222"
    metrics:
      - page_messages_new_conversations_unique
      - name: page_messages_new_conversations_unique
        period: week
metrics:
  - name: recurring_notifications_tokens
    period: total_over_range
    range: 28d
    breakdowns: [recurring_notifications_topic, recurring_notifications_frequency]
  - name: recurring_notifications_tokens
    period: total_over_range
    date_preset: last_7d
  - name: page_messages_some_future_metric
    help: Something Meta added last week
"""
    config = load_text(text, "full.yaml")
    assert config.graph_api.base_url == "http://127.0.0.1:9999"
    assert config.graph_api.version == "v25.0"
    assert config.graph_api.timeout == 90
    assert config.graph_api.max_retries == 0
    assert config.graph_api.max_concurrency == 8
    acme, other = config.pages
    assert acme.name == "Acme Store"
    assert acme.display_name == "Acme Store"
    assert other.display_name == "222"
    assert acme.token.env == "ACME_TOKEN"
    assert other.token.file == "/run/secrets/page-token"
    tokens_28d, tokens_7d, custom = acme.metrics
    assert tokens_28d.window == Window(range_seconds=28 * 86400)
    assert tokens_28d.breakdowns == ("recurring_notifications_topic", "recurring_notifications_frequency")
    assert tokens_7d.window == Window(date_preset="last_7d")
    assert custom.help == "Something Meta added last week"
    assert [(m.name, m.period) for m in other.metrics] == [
        ("page_messages_new_conversations_unique", "day"),
        ("page_messages_new_conversations_unique", "week"),
    ]


def test_unlisted_breakdown_is_a_warning_not_an_error() -> None:
    text = """
pages: [{id: "1"}]
metrics:
  - name: page_messages_blocked_conversations_unique
    breakdowns: [messaging_channel]
"""
    config = load_text(text, "warn.yaml")
    assert len(config.warnings) == 1
    assert config.warnings[0].startswith("warn.yaml:5: metrics[0].breakdowns[0]: Meta's reference does not list")


def test_example_config_is_valid() -> None:
    config = load_file(REPO / "config.example.yaml")
    assert [p.id for p in config.pages] == ["1234567890", "9876543210"]
    assert not config.warnings


def test_missing_token_variable_is_named_without_a_value() -> None:
    config = load_text("pages:\n  - id: '1'\n    access_token_env: ACME_TOKEN\n", "t.yaml")
    with pytest.raises(ConfigError) as caught:
        resolve_tokens(config, {})
    assert caught.value.problems == ["t.yaml: pages[0] (Page 1): environment variable ACME_TOKEN is not set"]
    with pytest.raises(ConfigError) as caught:
        resolve_tokens(config, {"ACME_TOKEN": "  \n"})
    assert "environment variable ACME_TOKEN is empty" in caught.value.problems[0]


def test_token_file_problems_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    empty = tmp_path / "empty"
    empty.write_text("\n")
    text = f"pages:\n  - id: '1'\n    access_token_file: {missing}\n  - id: '2'\n    access_token_file: {empty}\n"
    with pytest.raises(ConfigError) as caught:
        resolve_tokens(load_text(text), {})
    assert f"token file {missing} does not exist" in caught.value.problems[0]
    assert f"file {empty} is empty" in caught.value.problems[1]


def test_tokens_are_read_and_stripped(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("EAAB-file-token-123\n")
    text = f"pages:\n  - id: '1'\n    access_token_file: {token_file}\n  - id: '2'\n"
    tokens = resolve_tokens(load_text(text), {"META_PAGE_TOKEN": "EAAB-env-token-456"})
    assert tokens == {"1": Secret("EAAB-file-token-123"), "2": Secret("EAAB-env-token-456")}
    assert "EAAB" not in repr(tokens)


def test_token_with_characters_a_header_cannot_carry_is_refused() -> None:
    config = load_text("pages:\n  - id: '1'\n", "t.yaml")
    with pytest.raises(ConfigError) as caught:
        resolve_tokens(config, {"META_PAGE_TOKEN": "EAAB\u00e9t\u00e9-token"})
    assert caught.value.problems == [
        "t.yaml: pages[0] (Page 1): environment variable META_PAGE_TOKEN holds characters an access "
        "token cannot have"
    ]
