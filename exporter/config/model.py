"""What a valid config is: small frozen objects, their defaults and limits.

Tokens are never part of it: only the names of the variables or files that hold them.
Resolving those is `credentials.py`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from exporter.catalog import CATALOG
from exporter.durations import format_duration

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v24.0"
# Where a Page token comes from when neither the Page nor defaults: says.
DEFAULT_TOKEN_ENV = "META_PAGE_TOKEN"  # noqa: S105 - a variable name, not a secret
MAX_WINDOW_SECONDS = 90 * 86400
DEFAULT_BASELINE_DAYS = 7
MIN_DISCOVERY_INTERVAL_SECONDS = 1.0
MAX_BASELINE_DAYS = 89  # with the latest day, 90 days: the longest window allowed

# Relative windows the Graph API takes as date_preset, limited to those of 90 days or less
# (the API refuses windows over 93 days).
DATE_PRESETS: tuple[str, ...] = (
    "today", "yesterday", "this_week_mon_today", "this_week_sun_today",
    "last_3d", "last_7d", "last_14d", "last_28d", "last_30d", "last_90d",
    "last_week_mon_sun", "last_week_sun_sat", "this_month", "last_month",
    "this_quarter", "last_quarter",
)
# Presets the API takes but whose windows are over 90 days.
LONG_DATE_PRESETS = ("this_year", "last_year", "maximum")


@dataclass(frozen=True, slots=True)
class TokenSource:
    """Where a secret lives (a Page token, an app secret): an environment variable or a file."""

    env: str | None = None
    file: str | None = None

    def describe(self) -> str:
        if self.env is not None:
            return f"environment variable {self.env}"
        return f"file {self.file}"


@dataclass(frozen=True, slots=True)
class Window:
    """The time range asked of the API: a trailing range ending now, or a date_preset."""

    range_seconds: float | None = None
    date_preset: str | None = None

    def describe(self) -> str:
        if self.range_seconds is not None:
            return f"range {format_duration(self.range_seconds)}"
        if self.date_preset is not None:
            return f"date_preset {self.date_preset}"
        return "default window"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One entry of a `metrics:` list."""

    name: str
    period: str = "day"
    window: Window = Window()
    breakdowns: tuple[str, ...] = ()
    help: str | None = None
    # Complete days before the latest one whose mean is exported as the metric's baseline.
    baseline_days: int = DEFAULT_BASELINE_DAYS

    @property
    def baseline(self) -> int:
        """Days in the baseline; 0 when there is none (it exists for period day only)."""
        return self.baseline_days if self.period == "day" else 0

    @property
    def request_window(self) -> Window:
        """The window asked of the API: a baseline needs its days in the same answer."""
        if self.window == Window() and self.baseline:
            return Window(range_seconds=(self.baseline + 1) * 86400)
        return self.window

    @property
    def group_key(self) -> tuple[str, Window, tuple[str, ...]]:
        """Metrics sharing this key are fetched together, in one request."""
        return (self.period, self.request_window, self.breakdowns)

    @property
    def series_key(self) -> tuple[str, str, tuple[str, ...]]:
        """Two entries with the same key would export the same series."""
        return (self.name, self.period, tuple(sorted(self.breakdowns)))


@dataclass(frozen=True, slots=True)
class PageConfig:
    id: str
    name: str | None
    token: TokenSource
    metrics: tuple[MetricSpec, ...]

    @property
    def display_name(self) -> str:
        return self.name if self.name else self.id


@dataclass(frozen=True, slots=True)
class GraphApiConfig:
    base_url: str = DEFAULT_BASE_URL
    version: str = DEFAULT_VERSION
    timeout: float = 30.0
    max_retries: int = 3
    max_concurrency: int = 4
    max_usage_ratio: float = 0.9
    batch_size: int = 50
    app_id: str | None = None
    app_secret: TokenSource | None = None


@dataclass(frozen=True, slots=True)
class RefreshConfig:
    interval: float = 900.0
    stale_after: float = 2700.0


@dataclass(frozen=True, slots=True)
class DiscoveryConfig:
    """Pages found through /me/accounts with a user or system-user token."""

    user_token: TokenSource
    interval: float = 3600.0
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()

    def wants(self, page_id: str, name: str) -> bool:
        """Included (by any include pattern, or all when none) and not excluded, by name or id."""
        def hit(pattern: re.Pattern[str]) -> bool:
            return pattern.search(name) is not None or pattern.search(page_id) is not None

        if self.include and not any(hit(p) for p in self.include):
            return False
        return not any(hit(p) for p in self.exclude)


@dataclass(frozen=True, slots=True)
class ShardConfig:
    count: int = 1
    index: int | None = None  # None: from the host name's trailing -<n>


@dataclass(frozen=True, slots=True)
class Config:
    graph_api: GraphApiConfig
    refresh: RefreshConfig
    pages: tuple[PageConfig, ...]
    source: str = "<config>"
    warnings: tuple[str, ...] = field(default=(), compare=False)
    # The global metric list: what discovered Pages export.
    metrics: tuple[MetricSpec, ...] = field(default_factory=lambda: default_metrics())  # noqa: PLW0108 - defined below
    discovery: DiscoveryConfig | None = None
    shard: ShardConfig = ShardConfig()

    def summary(self, shard_index: int | None = None, shard_count: int | None = None) -> str:
        """One line: what this config polls (and, given the resolved shard, which part)."""
        metrics = sum(len(page.metrics) for page in self.pages)
        requests = sum(len({m.group_key for m in page.metrics}) for page in self.pages)
        text = (
            f"{self.source}: OK: {_count(len(self.pages), 'Page')}, {_count(metrics, 'metric entry')}, "
            f"{_count(requests, 'insights request')} per refresh every "
            f"{format_duration(self.refresh.interval)}"
        )
        if self.discovery is not None:
            text += f"; Pages discovered every {format_duration(self.discovery.interval)}"
        count = shard_count if shard_count is not None else self.shard.count
        index = shard_index if shard_count is not None else self.shard.index
        if count > 1:
            text += f"; shard {'from the host name' if index is None else index} of {count}"
        return text


class ConfigError(Exception):
    """The config cannot be used; `problems` lists every reason, each naming its place."""

    def __init__(self, problems: list[str], warnings: list[str] | None = None) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
        self.warnings = warnings or []


def default_metrics() -> tuple[MetricSpec, ...]:
    """Every catalog metric at period day: what a config without `metrics:` exports."""
    return tuple(MetricSpec(name) for name in CATALOG)


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun[:-1] + 'ies' if noun.endswith('y') else noun + 's'}"
