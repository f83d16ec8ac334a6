"""Running a backfill's requests through the live client: batched like refreshes, held
back by the rate-limit governor (the backfill waits, it never pushes through), and a
request the API refuses for one metric asked again metric by metric."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from exporter.config import MetricSpec
from exporter.graph_client import (
    GraphClient,
    GraphError,
    InsightsQuery,
    OperationResult,
    ThrottledError,
)
from exporter.redact import Secret

# While held back, look again at least this often (a stop request ends the wait at once).
MAX_PAUSE_SLICE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Request:
    """One insights request of a backfill, and the entries it answers."""

    page_id: str
    specs: tuple[MetricSpec, ...]
    query: InsightsQuery
    token: Secret


class Fetcher:
    def __init__(
        self,
        client: GraphClient,
        stop: threading.Event,
        on_pause: Callable[[float], None] = lambda until: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.stop = stop
        self.on_pause = on_pause
        self.clock = clock

    def run(self, requests: Sequence[Request]) -> list[tuple[Request, OperationResult]]:
        """Every request's outcome (or split requests' outcomes); held-back requests wait for
        the governor and go again. After a stop, what was not answered is an error."""
        done: list[tuple[Request, OperationResult]] = []
        pending = list(requests)
        while pending and not self.stop.is_set():
            results = self.client.run([(r.query, r.token) for r in pending])
            again: list[Request] = []
            held: list[float] = []
            for request, result in zip(pending, results, strict=True):
                if isinstance(result, ThrottledError):
                    again.append(request)
                    held.append(result.until)
                elif isinstance(result, GraphError) and result.rejects_metric and len(request.specs) > 1:
                    again.extend(_one_by_one(request))
                else:
                    done.append((request, result))
            if held:
                self._pause(min(held))
            pending = again
        done.extend((r, GraphError("interrupted", "not asked: the backfill was stopped")) for r in pending)
        return done

    def _pause(self, until: float) -> None:
        self.on_pause(until)
        while not self.stop.is_set() and (left := until - self.clock()) > 0:
            self.stop.wait(min(left, MAX_PAUSE_SLICE_SECONDS))


def _one_by_one(request: Request) -> list[Request]:
    """Error 100 fails a whole request: ask each metric alone to find the one refused."""
    return [
        replace(request, specs=(spec,), query=replace(request.query, metrics=(spec.name,)))
        for spec in request.specs
    ]
