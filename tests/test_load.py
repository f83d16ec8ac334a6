"""50 concurrent /metrics clients while Pages refresh: every scrape succeeds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import requests

from exporter.simulator import Simulator
from tests.conftest import RunningExporter, exporter_env, own_tokens, token_env

# Every test here starts processes (the exporter, Prometheus, promtool or Chromium).
pytestmark = pytest.mark.e2e

CLIENTS = 50
SCRAPES_PER_CLIENT = 20


def test_fifty_concurrent_scrapes_during_refreshes(
    simulator: Simulator, start_exporter: Callable[..., RunningExporter]
) -> None:
    ids = [str(7000000000 + i) for i in range(20)]
    pages = ", ".join(f'{{id: "{page}", access_token_env: {token_env(page)}}}' for page in ids)
    exporter = start_exporter(
        f"graph_api: {{base_url: '{simulator.url}'}}\nrefresh: {{interval: 1s}}\npages: [{pages}]\n",
        env=exporter_env(**own_tokens("EAAB-canary-load-0001", ids, simulator)),
    )
    requests_before = simulator.request_count()
    failures: list[str] = []
    sizes: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        with requests.Session() as session:
            for _ in range(SCRAPES_PER_CLIENT):
                try:
                    answer = session.get(exporter.url + "/metrics", headers={"Accept-Encoding": "gzip"}, timeout=10)
                    ok = answer.status_code == 200 and 'messenger_insights_up{page_id="7000000019"}' in answer.text
                    with lock:
                        sizes.append(len(answer.content))
                        if not ok:
                            failures.append(f"HTTP {answer.status_code}")
                except requests.RequestException as exc:
                    with lock:
                        failures.append(type(exc).__name__)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.monotonic() - started
    assert failures == []
    assert len(sizes) == CLIENTS * SCRAPES_PER_CLIENT
    assert simulator.request_count() > requests_before, "refreshes ran during the scrapes"
    print(f"{len(sizes)} scrapes by {CLIENTS} clients in {elapsed:.1f}s, none failed")
