"""The sections of the config file, each a table of fields with its rules.

`read_config` walks the parsed document once, collecting every problem instead of
stopping at the first; each problem names the file, the line and the key path
(`pages[1].metrics[0].name`).
"""

from __future__ import annotations

import re
from typing import Any

from exporter import yaml_source
from exporter.config.fields import Either, Field, Reader, Section, Values
from exporter.config.metric_entries import metric_list
from exporter.config.model import (
    DEFAULT_TOKEN_ENV,
    MIN_DISCOVERY_INTERVAL_SECONDS,
    Config,
    ConfigError,
    DiscoveryConfig,
    GraphApiConfig,
    MetricSpec,
    PageConfig,
    RefreshConfig,
    ShardConfig,
    TokenSource,
    default_metrics,
)
from exporter.config.readers import (
    digits,
    duration,
    env_name,
    integer,
    matching,
    ratio,
    regexes,
    text,
    unique_list,
)
from exporter.config.report import At, Report, kind
from exporter.durations import format_duration


def _secret(
    env_key: str,
    file_key: str,
    name: str = "token",
    default: TokenSource | None = None,
    missing: str | None = None,
) -> Either[TokenSource]:
    """A secret's source: the name of an environment variable or the path of a file."""

    def from_env(raw: Any, at: At) -> TokenSource | None:
        name = env_name(raw, at)
        return None if name is None else TokenSource(env=name)

    def from_file(raw: Any, at: At) -> TokenSource | None:
        path = text(raw, at)
        return None if path is None else TokenSource(file=path)

    return Either(name, {env_key: from_env, file_key: from_file}, default, missing)


_URL = matching(r"^https?://[^/?#\s]+(/[^?#\s]*)?$", "must be an http:// or https:// URL, got {value}")


def _base_url(raw: Any, at: At) -> str | None:
    url = _URL(raw, at)
    return None if url is None else url.rstrip("/")


def _app_id_needs_a_secret(values: Values, at: At) -> None:
    if values.valid("app_id", "app_secret") and values["app_id"] is not None and values["app_secret"] is None:
        (at / "app_id").warn("without app_secret_env or app_secret_file, tokens are not checked")


_API = GraphApiConfig()
GRAPH_API = Section(GraphApiConfig, (
    Field("base_url", _base_url, _API.base_url),
    Field("version", matching(r"^v[0-9]+\.[0-9]+$", "must look like v24.0, got {value}"), _API.version),
    Field("timeout", duration(), _API.timeout),
    Field("max_retries", integer(0, 10), _API.max_retries),
    Field("max_concurrency", integer(1, 64), _API.max_concurrency),
    Field("max_usage_ratio", ratio, _API.max_usage_ratio),
    Field("batch_size", integer(1, 50), _API.batch_size),
    Field("app_id", digits("an app id", "an app id made of digits is needed"), None),
    _secret("app_secret_env", "app_secret_file", name="app_secret"),
), rules=(_app_id_needs_a_secret,))


def _stale_after_covers_interval(values: Values, at: At) -> None:
    if values.given("stale_after") and values.valid("interval", "stale_after"):
        interval = values["interval"]
        if values["stale_after"] < interval:
            values.refuse("stale_after", at / "stale_after",
                          f"must be at least the refresh interval ({format_duration(interval)})")


REFRESH = Section(RefreshConfig, (
    Field("interval", duration(at_least=1), RefreshConfig().interval),
    Field("stale_after", duration(), default_of=lambda values: 3 * values["interval"]),
), rules=(_stale_after_covers_interval,))


def _index_below_count(values: Values, at: At) -> None:
    if values.valid("count", "index") and values["index"] is not None and values["index"] >= values["count"]:
        values.refuse("index", at / "index",
                      f"must be below shard.count ({values['count']}), got {values['index']}")


SHARD = Section(ShardConfig, (
    Field("count", integer(1, 10_000), 1),
    Field("index", integer(0, 9_999), None),
), rules=(_index_below_count,))

_NO_PATTERNS: tuple[re.Pattern[str], ...] = ()
_DISCOVERY = Section(DiscoveryConfig, (
    _secret("user_token_env", "user_token_file", name="user_token",
            missing="needs user_token_env or user_token_file: the token that lists the Pages"),
    Field("interval", duration(at_least=MIN_DISCOVERY_INTERVAL_SECONDS), 3600.0),
    Field("include", regexes, _NO_PATTERNS),
    Field("exclude", regexes, _NO_PATTERNS),
))


def _discovery(raw: Any, at: At) -> DiscoveryConfig | None:
    if raw is None:
        at.problem("is empty: give user_token_env or user_token_file, or remove discovery:")
        return None
    return _DISCOVERY(raw, at)


DEFAULTS: Section[TokenSource] = Section(lambda token: token, (
    _secret("access_token_env", "access_token_file", default=TokenSource(env=DEFAULT_TOKEN_ENV)),
))


def _page(default_token: TokenSource, default: tuple[MetricSpec, ...]) -> Section[PageConfig]:
    """A `pages:` entry; without its own token or metrics it takes the defaults."""
    return Section(PageConfig, (
        Field("id", digits("a Page id", "every Page needs its numeric id"), required=True),
        Field("name", text, None),
        _secret("access_token_env", "access_token_file", default=default_token),
        Field("metrics", metric_list, default),
    ))


def _pages(default_token: TokenSource, default: tuple[MetricSpec, ...]) -> Reader[tuple[PageConfig, ...]]:
    """The `pages:` list: no Page twice."""
    page = _page(default_token, default)

    def entry(raw: Any, at: At) -> PageConfig | None:
        if not isinstance(raw, dict):
            at.problem(f"must be a mapping with at least an id, got {kind(raw)}")
            return None
        return page(raw, at)

    def repeated(item: PageConfig, first: int, at: At) -> None:
        (at / "id").problem(f"Page {item.id} is already listed as pages[{first}]")

    listing = unique_list(entry, wrong="must be a non-empty list of Pages, got {kind}",
                          identity=lambda item: item.id, repeated=repeated)

    def read(raw: Any, at: At) -> tuple[PageConfig, ...] | None:
        if raw is None:
            at.problem("no Pages configured: list at least one under pages:")
            return None
        return listing(raw, at)

    return read


_TOP: Section[dict[str, Any]] = Section(dict, (
    Field("graph_api", GRAPH_API, GraphApiConfig()),
    Field("refresh", REFRESH, RefreshConfig()),
    Field("defaults", DEFAULTS, TokenSource(env=DEFAULT_TOKEN_ENV)),
    Field("metrics", metric_list, default_metrics()),
    Field("discovery", _discovery, None),
    Field("shard", SHARD, ShardConfig()),
), also=("pages",))


def read_config(document: yaml_source.Located, source: str) -> Config:
    """The config in a parsed document; raises ConfigError naming every problem."""
    report = Report(document, source)
    at = At(report)
    if not isinstance(document.data, dict):
        at.problem(f"must be a mapping of sections (graph_api, refresh, defaults, pages, "
                   f"metrics), got {kind(document.data)}")
        raise ConfigError(report.problems)
    top = _TOP.values(document.data, at)
    assert top is not None  # a mapping, checked above
    raw_pages = document.data.get("pages")
    discovers = top.given("discovery")
    pages: tuple[PageConfig, ...] | None = ()
    if not discovers or raw_pages not in (None, []):
        # Pages are checked even when the defaults they would take are wrong.
        default_token = top.get("defaults", TokenSource(env=DEFAULT_TOKEN_ENV))
        pages = _pages(default_token, top.get("metrics", default_metrics()))(raw_pages, at / "pages")
    if report.problems or not top.ok or pages is None:
        raise ConfigError(report.problems, report.warnings)
    return Config(
        top["graph_api"], top["refresh"], pages, source, tuple(report.warnings), top["metrics"],
        top["discovery"], top["shard"],
    )
