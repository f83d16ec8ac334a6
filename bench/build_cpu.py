"""CPU of the /metrics builds during a refresh round, in process, without a simulator.

    python -m bench.build_cpu --pages 10000 --round-seconds 150

Fills a SnapshotStore with the benchmark's workload (bench.run's metrics: about 94 series
per Page) and a UsageBoard with a ratio per Page and kind, then plays a refresh round on an
injected clock: batches of Pages arrive over `--round-seconds` with their usage headers
(with `--arrival end`, as a single round of every Page stores them, the snapshots all come
at the end and only the usage ratios change meanwhile). The ExpositionCache's background
policy decides when to build; each build is timed with time.process_time(). `--start`
plays the first round after start (every Page empty before it); `--gzip` builds the gzip
body too, as when Prometheus scrapes with gzip.
"""

from __future__ import annotations

import argparse
import json
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from bench.run import page_ids, workload
from exporter.catalog import BREAKDOWN_LABELS
from exporter.config import MetricSpec, PageConfig, RefreshConfig, TokenSource
from exporter.config.model import Window
from exporter.durations import parse_duration
from exporter.exposition import ExpositionCache, StaticRenderer
from exporter.insights_response import MetricData
from exporter.simulator.breakdowns import rows
from exporter.snapshots import MetricResult, PageSnapshot, SnapshotStore
from exporter.usage import USAGE_KINDS, UsageBoard, UsageReport

START = 1_800_000_000.0
REFRESH = RefreshConfig(900, 2700)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def specs() -> tuple[MetricSpec, ...]:
    out = []
    for entry in workload():
        window = Window(range_seconds=parse_duration(entry.range)) if entry.range else Window()
        out.append(MetricSpec(entry.name, entry.period, window, entry.breakdowns))
    return tuple(out)


def snapshot(page: PageConfig, at: float, salt: float) -> PageSnapshot:
    results = []
    for index, spec in enumerate(page.metrics):
        label_names = tuple(BREAKDOWN_LABELS[b] for b in spec.breakdowns)
        labels = [tuple(value for _, value in row) for row in rows(spec.breakdowns)]
        series = [(row, float(int(at) % 997 + n + index) + salt) for n, row in enumerate(labels)]
        baseline = [(row, value / 3) for row, value in series] if spec.baseline else []
        data = MetricData.of(spec.name, at - 86400, label_names, series, baseline=baseline,
                             baseline_days=spec.baseline if baseline else 0)
        results.append(MetricResult(spec, at, data))
    return PageSnapshot(page, tuple(results), attempted=True, up=True, last_success=at, refresh_duration=0.4)


def usage(page_ids: list[str], salt: float) -> list[UsageReport]:
    return [UsageReport("page", page_id, dict.fromkeys(USAGE_KINDS, (hash(page_id) % 50 + salt) % 100))
            for page_id in page_ids]


@dataclass
class World:
    clock: Clock
    store: SnapshotStore
    board: UsageBoard
    cache: ExpositionCache
    pages: tuple[PageConfig, ...]


def world(pages: int, *, start: bool, gzip: bool) -> World:
    clock = Clock()
    metrics = specs()
    configs = tuple(PageConfig(page_id, f"Bench Page {n}", TokenSource(env="T"), metrics)
                    for n, page_id in enumerate(page_ids(pages), 1))
    store = SnapshotStore()
    store.keep_only(configs)
    board = UsageBoard(clock=clock)
    if not start:
        store.put_many(snapshot(page, clock.now - 900, 0.0) for page in configs)
        board.record(usage([page.id for page in configs], 0.0))
    cache = ExpositionCache(StaticRenderer(store, lambda: REFRESH, clock, sources=(board,)),
                            CollectorRegistry(), clock)
    if gzip:
        cache._wanted_at["text_gzip"] = clock.now
    cache._rebuild()
    return World(clock, store, board, cache, configs)


def play_round(world: World, *, batch: int, seconds: float, arrival: str) -> dict[str, float]:
    """One round: a batch of Pages answered every `seconds / batches`; builds as the
    background thread's policy asks. Returns the builds' CPU and counts."""
    pages = world.pages
    batches = [pages[i:i + batch] for i in range(0, len(pages), batch)]
    step = seconds / len(batches)
    cpu = array("d")
    next_build = world.clock.now
    pending = False
    for number, chunk in enumerate(batches):
        world.clock.now += step
        world.board.record(usage([page.id for page in chunk], 1.0 + number % 7))
        if arrival == "batches":
            world.store.put_many(snapshot(page, world.clock.now, 1.0) for page in chunk)
        pending = True
        if world.clock.now >= next_build:
            next_build = world.clock.now + timed(world.cache, cpu)
            pending = False
    if arrival == "end":
        world.store.put_many(snapshot(page, world.clock.now, 1.0) for page in pages)
        pending = True
    if pending:  # the build that shows the round's last Pages
        world.clock.now = max(world.clock.now, next_build)
        timed(world.cache, cpu)
    return {"builds": len(cpu), "build_cpu_seconds": round(sum(cpu), 3),
            "last_build_cpu_seconds": round(cpu[-1], 3), "max_build_cpu_seconds": round(max(cpu), 3)}


def timed(cache: ExpositionCache, cpu: array[float]) -> float:
    """Builds once; the CPU it took goes in `cpu`; returns the policy's pause after it."""
    started = time.process_time()
    cache._rebuild()
    cpu.append(time.process_time() - started)
    return cache._pause()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=50, help="Pages per batch that arrives")
    parser.add_argument("--round-seconds", type=float, default=150.0)
    parser.add_argument("--arrival", choices=("batches", "end"), default="batches")
    parser.add_argument("--start", action="store_true", help="the first round: every Page empty before it")
    parser.add_argument("--gzip", action="store_true", help="build the gzip body too")
    args = parser.parse_args(argv)
    setup: Callable[[], World] = lambda: world(args.pages, start=args.start, gzip=args.gzip)  # noqa: E731
    built = setup()
    result = play_round(built, batch=args.batch, seconds=args.round_seconds, arrival=args.arrival)
    bodies = built.cache._bodies
    gzipped = bodies.text_gzip if bodies is not None else None
    print(json.dumps({**vars(args), **result, "gzip_bytes": len(gzipped) if gzipped is not None else None}))


if __name__ == "__main__":
    main()
