"""Property-based tests: arbitrary input never raises anything but the project's own errors."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.catalog import BREAKDOWN_LABELS, CATALOG, PERIODS
from exporter.config import ConfigError, load_text

SCALARS = (st.none() | st.booleans() | st.integers(-10, 10**12) | st.floats(allow_nan=True)
           | st.text(max_size=12) | st.sampled_from(["15m", "30s", "0s", "91d", "v24.0", "day", "1e309"]))
KEYS = st.sampled_from([
    "graph_api", "refresh", "defaults", "pages", "metrics", "id", "name", "period", "range",
    "date_preset", "breakdowns", "help", "baseline_days", "interval", "stale_after", "timeout",
    "max_retries", "max_concurrency", "base_url", "version", "access_token_env", "access_token_file",
    "max_usage_ratio", "app_id", "app_secret_env", "app_secret_file", "bogus",
]) | st.text(max_size=6)
VALUES = st.recursive(
    SCALARS | st.sampled_from([*CATALOG, *PERIODS, *BREAKDOWN_LABELS]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)


def _check(text: str) -> None:
    try:
        config = load_text(text, "prop.yaml")
    except ConfigError as exc:
        assert exc.problems
        assert all(p.startswith("prop.yaml") for p in exc.problems)
        return
    assert config.pages  # a config that loads has Pages to poll


@pytest.mark.slow  # hundreds of generated examples: seconds
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_any_mapping_loads_or_raises_config_error(document: dict[str, Any]) -> None:
    _check(yaml.safe_dump(document, allow_unicode=True))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_loads_or_raises_config_error(text: str) -> None:
    _check(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["pages:", "  - id: 1", "    name: x", "metrics:", "  - page_messages_sent",
                                 "  - {name: a, help: b}", "refresh: {interval: 1m}", "&a [*a]", "*b",
                                 "? [1]", ": x", "\t", "- !!binary AA", "!!python/name:os.system", "---",
                                 "%YAML 1.1", "'", "{", "graph_api: {version: v1.0}"]), max_size=8))
def test_yaml_fragments_load_or_raise_config_error(lines: list[str]) -> None:
    _check("\n".join(lines))
