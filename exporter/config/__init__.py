"""The YAML config: parsed into small frozen objects, every problem reported in one pass.

- `model`: what a valid config is (frozen dataclasses, defaults, limits);
- `report`, `fields`, `readers`: how a section is read from its table of typed fields;
- `validation`, `metric_entries`: the tables of the file's sections, and their rules;
- `loading`: from a file or text to a `Config`, or a `ConfigError` naming every problem.
"""

from exporter.config.loading import load_file, load_text
from exporter.config.model import (
    DATE_PRESETS,
    Config,
    ConfigError,
    DiscoveryConfig,
    GraphApiConfig,
    MetricSpec,
    PageConfig,
    RefreshConfig,
    ShardConfig,
    TokenSource,
    Window,
    default_metrics,
)

__all__ = [
    "DATE_PRESETS",
    "Config",
    "ConfigError",
    "DiscoveryConfig",
    "GraphApiConfig",
    "MetricSpec",
    "PageConfig",
    "RefreshConfig",
    "ShardConfig",
    "TokenSource",
    "Window",
    "default_metrics",
    "load_file",
    "load_text",
]
