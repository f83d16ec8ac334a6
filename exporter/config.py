"""The YAML config: parsed into small frozen objects, every problem reported in one pass.

Each problem names the file, the line and the key path (`pages[1].metrics[0].name`).
Tokens are never read from the YAML: only the names of the variables or files that
hold them. Resolving those is `credentials.py`'s job.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter import yaml_source
from exporter.catalog import BREAKDOWN_LABELS, CATALOG, PERIODS
from exporter.durations import DurationError, format_duration, parse_duration

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
_LONG_PRESETS = ("this_year", "last_year", "maximum")

_PAGE_ID = re.compile(r"^[0-9]{1,32}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,150}$")
_VERSION = re.compile(r"^v[0-9]+\.[0-9]+$")


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


def load_file(path: str | Path) -> Config:
    """Read and validate a config file; raises ConfigError naming every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{source}: config file not found"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{source}: config file is not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read config file: {exc.strerror}"]) from None
    return load_text(text, source)


def load_text(text: str, source: str = "<config>") -> Config:
    try:
        document = yaml_source.parse(text, source)
    except yaml_source.YamlSourceError as exc:
        raise ConfigError([str(exc)]) from None
    return _Validator(document, source).config()


class _Validator:
    """Walks the parsed document once, collecting problems instead of stopping at the first."""

    def __init__(self, document: yaml_source.Located, source: str) -> None:
        self.doc = document
        self.source = source
        self.problems: list[str] = []
        self.warnings: list[str] = []

    # -- reporting ---------------------------------------------------------------------

    def _where(self, path: yaml_source.Path) -> str:
        line = self.doc.line_of(path)
        dotted = _dotted(path)
        place = f"{self.source}:{line}" if line is not None else self.source
        return f"{place}: {dotted}" if dotted else place

    def problem(self, path: yaml_source.Path, message: str) -> None:
        self.problems.append(f"{self._where(path)}: {message}")

    def warn(self, path: yaml_source.Path, message: str) -> None:
        self.warnings.append(f"{self._where(path)}: {message}")

    # -- typed reads -------------------------------------------------------------------

    def mapping(self, value: Any, path: yaml_source.Path, allowed: tuple[str, ...]) -> dict[str, Any]:
        """The mapping at path with unknown keys reported; {} when absent or wrong."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, f"must be a mapping, got {_kind(value)}")
            return {}
        for key in value:
            if key not in allowed:
                hint = _suggest(str(key), allowed)
                self.problem((*path, key), f"unknown key{hint}")
        return {k: v for k, v in value.items() if k in allowed}

    def string(self, value: Any, path: yaml_source.Path) -> str | None:
        if isinstance(value, str) and value.strip():
            return value.strip()
        self.problem(path, f"must be a non-empty string, got {_kind(value)}")
        return None

    def duration(self, value: Any, path: yaml_source.Path) -> float | None:
        if not isinstance(value, str):
            self.problem(path, f"must be a duration such as 30s or 15m, got {_kind(value)}")
            return None
        try:
            return parse_duration(value.strip())
        except DurationError as exc:
            self.problem(path, str(exc))
            return None

    def integer(self, value: Any, path: yaml_source.Path, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(path, f"must be a whole number from {low} to {high}, got {_kind(value)}")
            return None
        if not low <= value <= high:
            self.problem(path, f"must be from {low} to {high}, got {value}")
            return None
        return value

    # -- sections ----------------------------------------------------------------------

    def config(self) -> Config:
        if not isinstance(self.doc.data, dict):
            self.problem((), f"must be a mapping of sections (graph_api, refresh, defaults, pages, "
                         f"metrics), got {_kind(self.doc.data)}")
            raise ConfigError(self.problems)
        top = self.mapping(
            self.doc.data, (), ("graph_api", "refresh", "defaults", "pages", "metrics", "discovery", "shard")
        )
        graph_api = self.graph_api(top.get("graph_api"))
        refresh = self.refresh(top.get("refresh"))
        default_token = self.token_source(top.get("defaults"), ("defaults",))
        if default_token is None:
            default_token = TokenSource(env=DEFAULT_TOKEN_ENV)
        metrics = self.metric_list(top["metrics"], ("metrics",)) if "metrics" in top else default_metrics()
        discovery = self.discovery(top["discovery"]) if "discovery" in top else None
        shard = self.shard(top.get("shard"))
        pages: tuple[PageConfig, ...] = ()
        if discovery is None or top.get("pages") not in (None, []):
            pages = self.pages(top.get("pages"), default_token, metrics)
        if self.problems:
            raise ConfigError(self.problems, self.warnings)
        return Config(graph_api, refresh, pages, self.source, tuple(self.warnings), metrics, discovery, shard)

    def discovery(self, raw: Any) -> DiscoveryConfig | None:
        path: yaml_source.Path = ("discovery",)
        section = self.mapping(raw, path, ("user_token_env", "user_token_file", "interval", "include", "exclude"))
        if not isinstance(raw, dict):
            if raw is None:
                self.problem(path, "is empty: give user_token_env or user_token_file, or remove discovery:")
            return None
        token = self.secret_source(section, path, "user_token_env", "user_token_file")
        if token is None and "user_token_env" not in section and "user_token_file" not in section:
            self.problem(path, "needs user_token_env or user_token_file: the token that lists the Pages")
        interval = 3600.0
        if "interval" in section:
            interval = self.duration(section["interval"], (*path, "interval")) or interval
            if interval < MIN_DISCOVERY_INTERVAL_SECONDS:
                self.problem((*path, "interval"), "must be at least 1s")
        include = self.patterns(section.get("include"), (*path, "include"))
        exclude = self.patterns(section.get("exclude"), (*path, "exclude"))
        if token is None:
            return None
        return DiscoveryConfig(token, interval, include, exclude)

    def patterns(self, raw: Any, path: yaml_source.Path) -> tuple[re.Pattern[str], ...]:
        if raw is None:
            return ()
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list):
            self.problem(path, f"must be a list of regular expressions, got {_kind(raw)}")
            return ()
        compiled = []
        for index, item in enumerate(raw):
            if not isinstance(item, str):
                self.problem((*path, index), f"must be a regular expression, got {_kind(item)}")
                continue
            try:
                compiled.append(re.compile(item))
            except re.error as exc:
                self.problem((*path, index), f"{item!r} is not a valid regular expression: {exc}")
        return tuple(compiled)

    def shard(self, raw: Any) -> ShardConfig:
        path: yaml_source.Path = ("shard",)
        section = self.mapping(raw, path, ("count", "index"))
        count = 1
        if "count" in section:
            count = self.integer(section["count"], (*path, "count"), 1, 10_000) or 1
        index = None
        if "index" in section:
            index = self.integer(section["index"], (*path, "index"), 0, 9_999)
            if index is not None and index >= count:
                self.problem((*path, "index"), f"must be below shard.count ({count}), got {index}")
                index = None
        return ShardConfig(count, index)

    def graph_api(self, raw: Any) -> GraphApiConfig:
        path: yaml_source.Path = ("graph_api",)
        section = self.mapping(
            raw,
            path,
            ("base_url", "version", "timeout", "max_retries", "max_concurrency", "max_usage_ratio",
             "batch_size", "app_id", "app_secret_env", "app_secret_file"),
        )
        base = GraphApiConfig()
        base_url = base.base_url
        if "base_url" in section:
            url = self.string(section["base_url"], (*path, "base_url"))
            if url is not None:
                if re.match(r"^https?://[^/?#\s]+(/[^?#\s]*)?$", url) is None:
                    self.problem((*path, "base_url"), f"must be an http:// or https:// URL, got {url!r}")
                base_url = url.rstrip("/")
        version = base.version
        if "version" in section:
            text = self.string(section["version"], (*path, "version"))
            if text is not None and _VERSION.match(text) is None:
                self.problem((*path, "version"), f"must look like v24.0, got {text!r}")
            version = text or version
        timeout = base.timeout
        if "timeout" in section:
            timeout = self.duration(section["timeout"], (*path, "timeout")) or timeout
        retries = base.max_retries
        if "max_retries" in section:
            parsed = self.integer(section["max_retries"], (*path, "max_retries"), 0, 10)
            retries = retries if parsed is None else parsed
        concurrency = base.max_concurrency
        if "max_concurrency" in section:
            parsed = self.integer(section["max_concurrency"], (*path, "max_concurrency"), 1, 64)
            concurrency = parsed or concurrency
        usage = base.max_usage_ratio
        if "max_usage_ratio" in section:
            raw_ratio = section["max_usage_ratio"]
            if isinstance(raw_ratio, bool) or not isinstance(raw_ratio, int | float) or not 0 < raw_ratio <= 1:
                self.problem((*path, "max_usage_ratio"), f"must be a number above 0 and at most 1, "
                             f"got {_kind(raw_ratio)}")
            else:
                usage = float(raw_ratio)
        batch_size = base.batch_size
        if "batch_size" in section:
            parsed = self.integer(section["batch_size"], (*path, "batch_size"), 1, 50)
            batch_size = parsed or batch_size
        app_id = None
        if "app_id" in section:
            app_id = self.page_id(section["app_id"], (*path, "app_id"), what="an app id")
        secret = self.secret_source(section, path, "app_secret_env", "app_secret_file")
        if app_id is not None and secret is None:
            self.warn((*path, "app_id"), "without app_secret_env or app_secret_file, tokens are not checked")
        return GraphApiConfig(
            base_url, version, timeout, retries, concurrency, usage, batch_size, app_id, secret
        )

    def secret_source(
        self, section: dict[str, Any], path: yaml_source.Path, env_key: str, file_key: str
    ) -> TokenSource | None:
        """The environment variable or file a section names for a secret; None if neither."""
        env = section.get(env_key)
        file = section.get(file_key)
        if env is not None and file is not None:
            self.problem(path, f"set {env_key} or {file_key}, not both")
            return None
        if env is not None:
            name = self.string(env, (*path, env_key))
            if name is not None and _ENV_NAME.match(name) is None:
                self.problem((*path, env_key), f"{name!r} is not an environment variable name")
                return None
            return TokenSource(env=name) if name else None
        if file is not None:
            text = self.string(file, (*path, file_key))
            return TokenSource(file=text) if text else None
        return None

    def refresh(self, raw: Any) -> RefreshConfig:
        path: yaml_source.Path = ("refresh",)
        section = self.mapping(raw, path, ("interval", "stale_after"))
        interval: float | None = RefreshConfig().interval
        if "interval" in section:
            interval = self.duration(section["interval"], (*path, "interval"))
            if interval is not None and interval < 1:
                self.problem((*path, "interval"), "must be at least 1s")
        if interval is None:
            return RefreshConfig()
        stale_after = 3 * interval
        if "stale_after" in section:
            parsed = self.duration(section["stale_after"], (*path, "stale_after"))
            if parsed is not None and parsed < interval:
                self.problem(
                    (*path, "stale_after"),
                    f"must be at least the refresh interval ({format_duration(interval)})",
                )
            stale_after = parsed or stale_after
        return RefreshConfig(interval, stale_after)

    def token_source(self, raw: Any, path: yaml_source.Path) -> TokenSource | None:
        """The token source a section names, or None when it names none (or a bad one)."""
        section = self.mapping(raw, path, ("access_token_env", "access_token_file"))
        return self.secret_source(section, path, "access_token_env", "access_token_file")

    def pages(
        self, raw: Any, default_token: TokenSource | None, metrics: tuple[MetricSpec, ...]
    ) -> tuple[PageConfig, ...]:
        path: yaml_source.Path = ("pages",)
        if raw is None:
            self.problem(path, "no Pages configured: list at least one under pages:")
            return ()
        if not isinstance(raw, list) or not raw:
            self.problem(path, f"must be a non-empty list of Pages, got {_kind(raw)}")
            return ()
        pages: list[PageConfig] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(raw):
            page = self.page(item, (*path, index), default_token, metrics)
            if page is None:
                continue
            if page.id in seen:
                self.problem((*path, index, "id"), f"Page {page.id} is already listed as pages[{seen[page.id]}]")
                continue
            seen[page.id] = index
            pages.append(page)
        return tuple(pages)

    def page(
        self,
        raw: Any,
        path: yaml_source.Path,
        default_token: TokenSource | None,
        metrics: tuple[MetricSpec, ...],
    ) -> PageConfig | None:
        if not isinstance(raw, dict):
            self.problem(path, f"must be a mapping with at least an id, got {_kind(raw)}")
            return None
        section = self.mapping(raw, path, ("id", "name", "access_token_env", "access_token_file", "metrics"))
        page_id = self.page_id(section.get("id"), (*path, "id"))
        name = None
        if "name" in section:
            name = self.string(section["name"], (*path, "name"))
        token_keys = {k: v for k, v in section.items() if k in ("access_token_env", "access_token_file")}
        token = self.token_source(token_keys, path) if token_keys else default_token
        page_metrics = metrics
        if "metrics" in section:
            page_metrics = self.metric_list(section["metrics"], (*path, "metrics"))
        if page_id is None or token is None:
            return None
        return PageConfig(page_id, name, token, page_metrics)

    def page_id(self, raw: Any, path: yaml_source.Path, what: str = "a Page id") -> str | None:
        if raw is None:
            needed = "every Page needs its numeric id" if what == "a Page id" else f"{what} made of digits is needed"
            self.problem(path, f"missing: {needed}")
            return None
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)
        if not isinstance(raw, str) or _PAGE_ID.match(raw.strip()) is None:
            self.problem(path, f"must be {what} made of digits, got {raw!r}")
            return None
        return raw.strip()

    def metric_list(self, raw: Any, path: yaml_source.Path) -> tuple[MetricSpec, ...]:
        if not isinstance(raw, list) or not raw:
            self.problem(
                path,
                f"must be a non-empty list of metrics, got {_kind(raw)} "
                "(leave it out to export every catalog metric)",
            )
            return ()
        specs: list[MetricSpec] = []
        seen: dict[tuple[str, str, tuple[str, ...]], int] = {}
        for index, item in enumerate(raw):
            spec = self.metric(item, (*path, index))
            if spec is None:
                continue
            if spec.series_key in seen:
                self.problem(
                    (*path, index),
                    f"{spec.name} with period {spec.period} and these breakdowns is already "
                    f"listed at index {seen[spec.series_key]}: the two would export the same series",
                )
                continue
            seen[spec.series_key] = index
            specs.append(spec)
        return tuple(specs)

    def metric(self, raw: Any, path: yaml_source.Path) -> MetricSpec | None:
        if isinstance(raw, str):
            raw = {"name": raw}
        if not isinstance(raw, dict):
            self.problem(path, f"must be a metric name or a mapping with a name, got {_kind(raw)}")
            return None
        section = self.mapping(
            raw, path, ("name", "period", "range", "date_preset", "breakdowns", "help", "baseline_days")
        )
        help_text = None
        if "help" in section:
            help_text = self.string(section["help"], (*path, "help"))
        name = self.metric_name(section.get("name"), (*path, "name"), custom=help_text is not None)
        period = "day"
        if "period" in section:
            text = self.string(section["period"], (*path, "period"))
            if text is not None and text not in PERIODS:
                self.problem((*path, "period"), f"{text!r} is not one of {', '.join(PERIODS)}")
                text = None
            period = text or period
        window = self.window(section, path)
        breakdowns = self.breakdowns(section.get("breakdowns"), (*path, "breakdowns"), name, help_text)
        baseline_days = self.baseline_days(section, path, period)
        if name is None or breakdowns is None or window is None or baseline_days is None:
            return None
        return MetricSpec(name, period, window, breakdowns, help_text, baseline_days)

    def baseline_days(self, section: dict[str, Any], path: yaml_source.Path, period: str) -> int | None:
        if "baseline_days" not in section:
            return DEFAULT_BASELINE_DAYS if period == "day" else 0
        days = self.integer(section["baseline_days"], (*path, "baseline_days"), 0, MAX_BASELINE_DAYS)
        if days and period != "day":
            self.problem((*path, "baseline_days"), f"a baseline is for period day, not {period}")
            return None
        return days

    def metric_name(self, raw: Any, path: yaml_source.Path, *, custom: bool) -> str | None:
        if raw is None:
            self.problem(path, "missing: every metric entry needs a name")
            return None
        name = self.string(raw, path)
        if name is None:
            return None
        if _METRIC_NAME.match(name) is None:
            self.problem(path, f"{name!r} is not an insights metric name (lowercase letters, digits, _)")
            return None
        if name not in CATALOG and not custom:
            close = difflib.get_close_matches(name, list(CATALOG), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            self.problem(
                path,
                f"unknown metric {name!r}{hint} (to export a metric the catalog does not know, "
                "give the entry its own help: text)",
            )
            return None
        return name

    def window(self, section: dict[str, Any], path: yaml_source.Path) -> Window | None:
        has_range = "range" in section
        has_preset = "date_preset" in section
        if has_range and has_preset:
            self.problem(path, "set range or date_preset, not both")
            return None
        if has_range:
            seconds = self.duration(section["range"], (*path, "range"))
            if seconds is None:
                return None
            if seconds > MAX_WINDOW_SECONDS:
                self.problem(
                    (*path, "range"),
                    f"{format_duration(seconds)} is over 90 days; the Graph API refuses windows "
                    "over 93 days",
                )
                return None
            return Window(range_seconds=seconds)
        if has_preset:
            preset = self.string(section["date_preset"], (*path, "date_preset"))
            if preset is None:
                return None
            if preset in _LONG_PRESETS:
                self.problem((*path, "date_preset"), f"{preset} is a window over 90 days")
                return None
            if preset not in DATE_PRESETS:
                self.problem((*path, "date_preset"), f"unknown date_preset {preset!r}{_suggest(preset, DATE_PRESETS)}")
                return None
            return Window(date_preset=preset)
        return Window()

    def breakdowns(
        self, raw: Any, path: yaml_source.Path, metric: str | None, help_text: str | None
    ) -> tuple[str, ...] | None:
        if raw is None:
            return ()
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list):
            self.problem(path, f"must be a list of breakdown dimensions, got {_kind(raw)}")
            return None
        result: list[str] = []
        ok = True
        for index, item in enumerate(raw):
            if not isinstance(item, str) or item not in BREAKDOWN_LABELS:
                hint = _suggest(str(item), tuple(BREAKDOWN_LABELS))
                self.problem((*path, index), f"unknown breakdown {item!r}{hint}")
                ok = False
                continue
            if item in result:
                self.problem((*path, index), f"breakdown {item} is listed twice")
                ok = False
                continue
            listed = CATALOG[metric].breakdowns if metric in CATALOG else None
            if listed is not None and help_text is None and item not in listed:
                allowed = ", ".join(listed) if listed else "none"
                self.warn(
                    (*path, index),
                    f"Meta's reference does not list breakdown {item} for {metric} "
                    f"(it lists: {allowed}); the API decides",
                )
            result.append(item)
        return tuple(result) if ok else None


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun[:-1] + 'ies' if noun.endswith('y') else noun + 's'}"


def _dotted(path: yaml_source.Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"boolean {value}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


__all__ = [
    "Config",
    "ConfigError",
    "GraphApiConfig",
    "MetricSpec",
    "PageConfig",
    "RefreshConfig",
    "TokenSource",
    "Window",
    "load_file",
    "load_text",
]
