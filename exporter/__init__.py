"""Prometheus exporter for Meta's Messenger Insights API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("messenger-insights-exporter")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
