"""Shared test harness: a Graph API simulator on loopback and the exporter as a real process."""

from __future__ import annotations

import calendar
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from exporter.simulator import Simulator

Labels = frozenset[tuple[str, str]]


def _refuse_process(*args: object, **kwargs: object) -> None:
    raise AssertionError("the fast set (-m 'not e2e') starts no process")


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """The fast set starts no process at all, not even from a module's fixture. Refused from
    here, after collection, because pytest-xdist's controller starts its workers as processes
    and a worker asks the platform (`uname -p`) while it sets up: both come before this."""
    config = session.config
    xdist_controller = bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")
    if config.option.markexpr.startswith("not e2e") and not xdist_controller:
        subprocess.Popen._execute_child = _refuse_process  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def no_process_unless_e2e(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only tests marked e2e may start a process: the fast set (`-m "not e2e"`, make
    test-fast) must not, and this makes sure of it."""
    if request.node.get_closest_marker("e2e") is not None:
        return

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{request.node.nodeid} starts a process: mark it e2e, or test in-process")

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[str]) -> int:
    """SIGTERM, and SIGKILL if it has not exited 15 s later; the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Scrape:
    """One /metrics answer, parsed as Prometheus parses it."""

    text: str
    samples: dict[tuple[str, Labels], float] = field(default_factory=dict)
    help: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Scrape:
        scrape = cls(text)
        for family in text_string_to_metric_families(text):
            scrape.help[family.name] = family.documentation
            scrape.types[family.name] = family.type
            for sample in family.samples:
                scrape.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return scrape

    def get(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def series(self, name: str, **match: str) -> dict[Labels, float]:
        """Every sample of a name whose labels include `match`."""
        return {
            labels: value
            for (sample_name, labels), value in self.samples.items()
            if sample_name == name and all((k, v) in labels for k, v in match.items())
        }


@dataclass
class RunningExporter:
    process: subprocess.Popen[str]
    url: str
    log_path: Path

    def scrape(self, headers: dict[str, str] | None = None) -> Scrape:
        response = requests.get(f"{self.url}/metrics", headers=headers, timeout=10)
        response.raise_for_status()
        return Scrape.parse(response.text)

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"exporter exited with {self.process.returncode}:\n{self.logs()}")
            try:
                return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(ready, timeout, "the exporter to be ready")

    def wait_for(self, condition: Callable[[Scrape], bool], timeout: float = 20.0, what: str = "metrics") -> Scrape:
        """Scrape until `condition` holds; the last scrape."""
        last: list[Scrape] = []

        def check() -> bool:
            last[:] = [self.scrape()]
            return condition(last[0])

        wait_until(check, timeout, what)
        return last[0]

    def stop(self) -> int:
        return stop_process(self.process)


def token_env(page_id: str) -> str:
    """The environment variable of a Page's own token in configs that give every Page one."""
    return f"PAGE_TOKEN_{page_id}"


def own_tokens(canary: str, pages: Iterable[str], simulator: Simulator) -> dict[str, str]:
    """Every Page's own token, in token_env(page): the canary with the Page id appended, so a
    search for the canary finds any of them; each registered with `simulator` as its Page's.
    Against Meta (and the simulator) a Page token reads its own Page's insights only, and a
    token never issued is refused (190)."""
    tokens = {page: f"{canary}-{page}" for page in pages}
    for page, token in tokens.items():
        simulator.set_page_token(page, token)
    return {token_env(page): token for page, token in tokens.items()}


def exporter_env(**tokens: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_TOKEN")}
    env.update(tokens)
    return env


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    sim = Simulator(host="127.0.0.1", port=0)
    sim.start()
    yield sim
    sim.stop()


def launch_exporter(directory: Path, config_name: str, log_name: str, config: str, *,
                    env: dict[str, str], args: tuple[str, ...] = ()) -> RunningExporter:
    """Start an exporter process on a free loopback port, its log in a file; no waiting."""
    config_path = directory / config_name
    config_path.write_text(config, encoding="utf-8")
    log_path = directory / log_name
    port = free_port()
    command = [sys.executable, "-m", "exporter", f"--config.file={config_path}",
               f"--web.listen-address=127.0.0.1:{port}", "--log.level=debug", *args]
    with log_path.open("w", encoding="utf-8") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, text=True, env=env)
    return RunningExporter(process, f"http://127.0.0.1:{port}", log_path)


@pytest.fixture
def start_exporter(tmp_path: Path) -> Iterator[Callable[..., RunningExporter]]:
    """Start the exporter process with a config text; stopped (SIGTERM) after the test."""
    started: list[RunningExporter] = []

    def start(config: str, env: dict[str, str] | None = None, args: tuple[str, ...] = (),
              wait_ready: bool = True) -> RunningExporter:
        index = len(started)
        running = launch_exporter(tmp_path, f"config-{index}.yaml", f"exporter-{index}.log", config,
                                  env=env if env is not None else exporter_env(), args=args)
        started.append(running)
        if wait_ready:
            running.wait_ready()
        return running

    yield start
    for running in started:
        running.stop()


LABEL_OF = {
    "messaging_channel": "channel", "recurring_notifications_topic": "topic",
    "recurring_notifications_frequency": "frequency", "recurring_notifications_entry_point": "entry_point",
    "campaign_id": "campaign_id", "message_type": "message_type", "engagement_source": "engagement_source",
}


def oracle_token(sim: Simulator, page_id: str) -> str:
    """A second Page token of the Page, registered, for tests that read the simulator
    directly."""
    token = f"oracle-token-{page_id}"
    sim.set_page_token(page_id, token)
    return token


def expected_from_simulator(  # noqa: PLR0917 - reads like the query it makes
    sim: Simulator, page_id: str, metric: str, period: str = "day",
    breakdowns: tuple[str, ...] = (), extra: dict[str, str] | None = None,
) -> tuple[float, dict[Labels, float]]:
    """What the exporter should serve for one metric, read straight from the simulator.

    Written independently of the exporter's parser: the latest end_time wins, each
    breakdown row is a series labelled page_id, period and the breakdown labels.
    """
    params = {"metric": metric, "period": period, **(extra or {})}
    if breakdowns:
        params["breakdown"] = ",".join(breakdowns)
    response = requests.get(f"{sim.url}/v24.0/{page_id}/insights", params=params,
                            headers={"Authorization": f"Bearer {oracle_token(sim, page_id)}"}, timeout=10)
    response.raise_for_status()
    (entry,) = response.json()["data"]

    def when(row: dict[str, str]) -> float:
        text = str(row["end_time"])
        if text.isdigit():
            return float(text)
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S+0000")))

    latest = max(when(row) for row in entry["values"])
    series: dict[Labels, float] = {}
    for row in entry["values"]:
        if when(row) != latest:
            continue
        labels = {"page_id": page_id, "period": period}
        labels.update({LABEL_OF[d]: str(row[d]) for d in breakdowns})
        series[frozenset(labels.items())] = float(row["value"])
    return latest, series
