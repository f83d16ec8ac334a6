"""What the backfill tests share: a config, running a backfill in-process, reading its
output back as Prometheus would (the newest sample within the 5-minute lookback)."""

from __future__ import annotations

import bisect
import io
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from exporter.backfill.run import BackfillOptions, run_backfill
from exporter.config import load_text
from exporter.redact import Secret
from exporter.runtime import Settings

Labels = frozenset[tuple[str, str]]
LOOKBACK_SECONDS = 300
TARGET = {"job": "messenger-insights", "instance": "exporter:10490"}


def page_token(page_id: str) -> str:
    """A Page's own token in settings_for's settings; the simulator must know it."""
    return f"EAAB-backfill-{page_id}"


def settings_for(config_text: str) -> Settings:
    """The config, each Page with a token of its own (page_token)."""
    config = load_text(config_text, "backfill-test.yaml")
    return Settings(config, {page.id: Secret(page_token(page.id)) for page in config.pages})


@dataclass
class Backfilled:
    """A backfill's samples by series: sorted timestamps and their values."""

    times: dict[tuple[str, Labels], list[float]] = field(default_factory=dict)
    values: dict[tuple[str, Labels], list[float]] = field(default_factory=dict)
    help: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Backfilled:
        """Strict OpenMetrics (prometheus_client's parser refuses interleaved families,
        a missing # EOF, samples out of order); every sample must carry a timestamp."""
        found = cls()
        for family in text_string_to_metric_families(text):  # type: ignore[no-untyped-call]
            found.help[family.name] = family.documentation
            found.types[family.name] = family.type
            for sample in family.samples:
                assert sample.timestamp is not None, f"{sample.name} has no timestamp"
                key = (sample.name, frozenset(sample.labels.items()))
                found.times.setdefault(key, []).append(float(sample.timestamp))
                found.values.setdefault(key, []).append(sample.value)
        for key, times in found.times.items():
            assert times == sorted(times), f"{key[0]}: samples out of time order"
        return found

    @classmethod
    def read(cls, path: Path) -> Backfilled:
        if path.is_dir():
            merged = cls()
            for day in sorted(path.glob("*.om")):
                part = cls.parse(day.read_text(encoding="utf-8"))
                for key, times in part.times.items():
                    merged.times.setdefault(key, []).extend(times)
                    merged.values.setdefault(key, []).extend(part.values[key])
                merged.help.update(part.help)
                merged.types.update(part.types)
            return merged
        return cls.parse(path.read_text(encoding="utf-8"))

    def at(self, t: float) -> dict[tuple[str, Labels], float]:
        """What an instant query at t sees: per series, the newest sample in (t-5m, t]."""
        seen = {}
        for key, times in self.times.items():
            index = bisect.bisect_right(times, t) - 1
            if index >= 0 and times[index] > t - LOOKBACK_SECONDS:
                seen[key] = self.values[key][index]
        return seen

    def samples(self) -> int:
        return sum(len(times) for times in self.times.values())


def backfill(settings: Settings, output: Path | str, start: str, end: str | None, now: float,
             **flags: str) -> tuple[int, str]:
    """Exit code and stderr of an in-process backfill."""
    err = io.StringIO()
    options = BackfillOptions(start, end, str(output), flags.get("job", TARGET["job"]),
                              flags.get("instance", TARGET["instance"]),
                              tuple(v for k, v in flags.items() if k.startswith("label")))
    code = run_backfill(options, settings, err=err, clock=lambda: now)
    return code, err.getvalue()
