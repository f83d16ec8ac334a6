"""The CPU of a refresh round in process, without the network: µs per insights operation.

    python -m bench.client_cpu --pages 2000 --reps 3

Records, once, the simulator's answers to a refresh of `--pages` Pages with the
benchmark's workload (bench.run's metrics: 4 operations and about 94 series per Page, a
token per Page), on an injected clock so every request is the same each time. Then
refreshes those Pages `--reps` times with the answers replayed instead of sent: what is
timed (time.process_time) is everything the exporter does for an operation but the HTTP
exchange itself (building the batch body, decoding and checking the answers, parsing,
usage headers and governor, snapshots), and then rendering every Page's new snapshot
(render_page) as a /metrics build does. To compare a change, save the answers once with
`--answers FILE` and replay them with each tree's exporter package first on the path.

When it records, it also prints the HTTP client's own CPU per operation: the sending
threads' CPU (time.thread_time) inside GraphClient._fetch, sending each batch to the
simulator (which runs in threads of its own) and reading its answer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from prometheus_client import CollectorRegistry

from bench.build_cpu import REFRESH, START, specs
from bench.run import page_ids
from exporter.config import GraphApiConfig, PageConfig, TokenSource
from exporter.governor import RateLimitGovernor
from exporter.graph_client import Form, GraphClient
from exporter.page_text import render_page
from exporter.redact import Secret
from exporter.refresh import PageRefresher, group_specs
from exporter.self_metrics import SelfMetrics
from exporter.simulator import Simulator
from exporter.snapshots import SnapshotStore

Answer = tuple[bytes, int, dict[str, str]]
PAGES_PER_ROUND_CALL = 200  # Pages per refresh_many, as the scheduler hands them out


def token_of(page_id: str) -> str:
    return "EAAB" + hashlib.sha256(f"bench-token\x1f{page_id}".encode()).hexdigest()[:60]


class Clock:
    def __call__(self) -> float:
        return START


def client_for(base_url: str, fetch: Callable[..., Answer] | None = None) -> GraphClient:
    api = GraphApiConfig(base_url=base_url, max_concurrency=1)
    client = GraphClient(api, SelfMetrics(CollectorRegistry()), RateLimitGovernor(api.max_usage_ratio, clock=Clock()),
                         clock=Clock())
    if fetch is not None:
        client._fetch = fetch  # type: ignore[method-assign]
    return client


def record(pages: list[tuple[PageConfig, Secret]]) -> tuple[dict[bytes, Answer], float]:
    """The simulator's answer to every request of one round, by request body, and the CPU
    seconds the client's threads spent in _fetch for them."""
    simulator = Simulator(port=0, now=Clock(), page_tokens={page.id: token.reveal() for page, token in pages})
    simulator.start()
    answers: dict[bytes, Answer] = {}
    fetch_cpu: list[float] = []
    try:
        client = client_for(simulator.url)
        real_fetch = client._fetch

        def recording(method: str, url: str, *, params: dict[str, str] | None = None, form: Form | None = None,
                      headers: dict[str, str] | None = None) -> Answer:
            started = time.thread_time()
            answer = real_fetch(method, url, params=params, form=form, headers=headers)
            fetch_cpu.append(time.thread_time() - started)
            answers[_key(form, params)] = answer
            return answer

        client._fetch = recording  # type: ignore[method-assign]
        refresh(client, pages)
    finally:
        simulator.stop()
    return answers, sum(fetch_cpu)


def _key(form: Form | None, params: dict[str, str] | None) -> bytes:
    """A request's body (url-encoded, as sent) or query: what identifies its answer."""
    if isinstance(form, bytes):
        return form
    return urlencode(form).encode() if form is not None else urlencode(params or {}).encode()


def refresh(client: GraphClient, pages: list[tuple[PageConfig, Secret]]) -> SnapshotStore:
    store = SnapshotStore()
    store.keep_only(tuple(page for page, _ in pages))
    refresher = PageRefresher(client, store, REFRESH, clock=Clock())
    for start in range(0, len(pages), PAGES_PER_ROUND_CALL):
        snapshots = refresher.refresh_many(pages[start:start + PAGES_PER_ROUND_CALL])
        if not all(snapshot.up for snapshot in snapshots):
            failed = next(s for s in snapshots if not s.up)
            raise SystemExit(f"Page {failed.page.id} not refreshed: {failed.last_error}")
    return store


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--answers", type=Path,
                        help="the recorded answers: read from this file if it exists, else recorded and saved "
                             "there (so that several runs, or trees, replay the same ones)")
    args = parser.parse_args(argv)
    metrics = specs()
    pages = [(PageConfig(page_id, f"Bench Page {n}", TokenSource(env="T"), metrics), Secret(token_of(page_id)))
             for n, page_id in enumerate(page_ids(args.pages), 1)]
    fetch_cpu: float | None = None
    if args.answers is not None and args.answers.exists():
        answers: dict[bytes, Answer] = pickle.loads(args.answers.read_bytes())  # noqa: S301 - our own file
    else:
        answers, fetch_cpu = record(pages)
        if args.answers is not None:
            args.answers.write_bytes(pickle.dumps(answers))

    def replay(method: str, url: str, *, params: dict[str, str] | None = None, form: Form | None = None,
               headers: dict[str, str] | None = None) -> Answer:
        return answers[_key(form, params)]

    operations = sum(len(group_specs(page.metrics)) for page, _ in pages)
    refresh_cpu, render_cpu = [], []
    for _ in range(args.reps):
        started = time.process_time()
        store = refresh(client_for("http://127.0.0.1:9", replay), pages)
        refresh_cpu.append(time.process_time() - started)
        started = time.process_time()
        for snapshot in store.snapshots().values():
            render_page(snapshot, REFRESH, START)
        render_cpu.append(time.process_time() - started)
    refresh_us = statistics.median(refresh_cpu) / operations * 1e6
    render_us = statistics.median(render_cpu) / operations * 1e6
    print(json.dumps({
        "pages": args.pages, "operations": operations,
        "refresh_cpu_seconds": [round(s, 3) for s in refresh_cpu],
        "render_cpu_seconds": [round(s, 3) for s in render_cpu],
        "refresh_us_per_operation": round(refresh_us, 1), "render_us_per_operation": round(render_us, 1),
        "seconds_per_1000_operations": round((refresh_us + render_us) / 1000, 4),
        **({} if fetch_cpu is None else {"http_client_us_per_operation": round(fetch_cpu / operations * 1e6, 1)}),
    }, indent=1))


if __name__ == "__main__":
    main()
