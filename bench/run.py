"""The exporter's performance benchmark (issue 5): Graph API calls, refresh time, /metrics, memory.

    python -m bench.run --pages 1000,10000 --out bench/results/latest.json

For each number of Pages it writes a config (every catalog metric at period day, plus
page_messages_sent, page_messages_read_ratio and page_messages_engagement by channel and
by topic, plus recurring_notifications_tokens by topic x frequency over 28 days), runs the
exporter against the Graph API simulator (a separate process, 100 ms per answer) and
measures:

- operations and HTTP round trips per full refresh, counted by the simulator, beside the
  minimum (operations = Pages x groups; round trips = ceil(operations / 50));
- the wall time of a full refresh in the running daemon (start to /-/ready: every Page
  refreshed once), and of `--once`;
- /metrics latency (p50, p99) and throughput with 1 and 16 clients, with gzip and
  without, against the exporter, a naive exporter (prometheus_client rendering the same
  series on every scrape: bench/naive_server.py) and nginx serving the exporter's exact
  bytes from a file (gzip_static): the physical limit of this machine;
- the exporter's resident memory, and bytes per series between two sizes.

Every loop is bounded in count and time, all traffic stays on 127.0.0.1, and every
process it starts is stopped by its own pid at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import hashlib
import http.client
import json
import math
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from exporter.catalog import CATALOG

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WRK_SCRIPT = BENCH_DIR / "wrk.lua"
TOKEN_ENV = "BENCH_PAGE_TOKEN"  # noqa: S105 - a variable name
TOKEN = "EAAB-bench-page-token"  # noqa: S105 - registered as the first Page's token
MAX_BATCH = 50  # the Graph API's most operations per batch: the round-trip minimum's divisor
BREAKDOWN_METRICS = ("page_messages_sent", "page_messages_read_ratio", "page_messages_engagement")
CHANNEL = "messaging_channel"
TOPIC = "recurring_notifications_topic"
FREQUENCY = "recurring_notifications_frequency"
MB = 1_000_000

# The targets of issue 5, checked at the largest size run.
TARGET_REFRESH_SECONDS = 30.0
TARGET_P99_GZIP_MS = 50.0
TARGET_VS_NAIVE = 200.0
TARGET_VS_NGINX = 3.0
TARGET_BYTES_PER_SERIES = 300.0  # issue 12 (issue 5: 400)
# Issue 12: the exporter's own CPU, from its start until /metrics shows every Page.
TARGET_CPU_PER_1000_OPERATIONS = 0.15
TARGET_REFRESH_CPU_SECONDS = 8.0
TARGET_P99_VS_NGINX = 1.2  # /metrics p99, gzip, the most clients, at the largest size
CAMPAIGN_METRICS = ("page_messages_sent", "page_messages_read_ratio", "page_messages_engagement")

LoadTool = Literal["wrk", "python"]
StaticTool = Literal["nginx", "python"]


class BenchError(Exception):
    """The benchmark cannot go on; the message says why and what to do."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the workload ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One `metrics:` entry of the config the benchmark writes."""

    name: str
    period: str = "day"
    range: str | None = None
    breakdowns: tuple[str, ...] = ()

    def as_yaml(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name}
        if self.period != "day":
            entry["period"] = self.period
        if self.range is not None:
            entry["range"] = self.range
        if self.breakdowns:
            entry["breakdowns"] = list(self.breakdowns)
        return entry


def workload(*, crossed: bool = False) -> tuple[Entry, ...]:
    """The metrics of every Page.

    "By channel and topic" is read as two entries per metric (by channel, and by topic); with
    `crossed`, one entry by channel x topic. Either way the insights operations per Page are
    the distinct (period, window, breakdowns) groups: 4 (3 when crossed).
    """
    entries = [Entry(name) for name in CATALOG]
    splits = [(CHANNEL, TOPIC)] if crossed else [(CHANNEL,), (TOPIC,)]
    entries += [Entry(name, breakdowns=split) for split in splits for name in BREAKDOWN_METRICS]
    entries.append(Entry("recurring_notifications_tokens", "total_over_range", "28d", (TOPIC, FREQUENCY)))
    return tuple(entries)


def campaign_workload(*, crossed: bool = False) -> tuple[Entry, ...]:
    """The workload plus breakdowns by campaign: the three metrics that take campaign_id at
    period day (each with its baseline) and page_messages_sent over 28 days, each by
    campaign_id: with N campaign ids, 4 x N more series per Page (and 3 x N baselines)."""
    extra = [Entry(name, breakdowns=("campaign_id",)) for name in CAMPAIGN_METRICS]
    extra.append(Entry("page_messages_sent", "total_over_range", "28d", ("campaign_id",)))
    return (*workload(crossed=crossed), *extra)


def groups_of(entries: Sequence[Entry]) -> int:
    """Operations one Page needs at least: one per (period, window, breakdowns).

    Every entry at period day without a range shares one window (the baseline's), so the
    period, the range and the breakdowns tell the groups apart.
    """
    return len({(e.period, e.range, tuple(sorted(e.breakdowns))) for e in entries})


def page_ids(count: int) -> list[str]:
    return [f"9{index:014d}" for index in range(1, count + 1)]


def config_document(
    sim_url: str,
    pages: int,
    entries: Sequence[Entry],
    *,
    batch_size: int | None,
    max_concurrency: int | None,
    interval: str,
    token_dir: Path | None = None,
) -> dict[str, Any]:
    """The config; with `token_dir`, each Page reads its own token from a file there (as
    Pages found by discovery have their own tokens), else all share one variable."""
    graph_api: dict[str, Any] = {"base_url": sim_url}
    if batch_size is not None:
        graph_api["batch_size"] = batch_size
    if max_concurrency is not None:
        graph_api["max_concurrency"] = max_concurrency
    return {
        "graph_api": graph_api,
        "refresh": {"interval": interval},
        "defaults": {"access_token_env": TOKEN_ENV},
        "metrics": [entry.as_yaml() for entry in entries],
        "pages": [
            {"id": page_id, "name": f"Bench Page {n}"}
            | ({"access_token_file": str(token_dir / page_id)} if token_dir is not None else {})
            for n, page_id in enumerate(page_ids(pages), 1)
        ],
    }


def write_token_files(token_dir: Path, pages: int) -> dict[str, str]:
    """Each Page's own token in a file; returns Page id -> token."""
    token_dir.mkdir(parents=True, exist_ok=True)
    tokens = {}
    for page_id in page_ids(pages):
        digest = hashlib.sha256(f"bench-token\x1f{page_id}".encode()).hexdigest()
        tokens[page_id] = f"EAAB{digest[:60]}"
        (token_dir / page_id).write_text(tokens[page_id] + "\n", encoding="utf-8")
    return tokens


# --- processes -------------------------------------------------------------------------------


def exporter_env() -> dict[str, str]:
    env = dict(os.environ)
    env[TOKEN_ENV] = TOKEN
    # An installed exporter (pip, the Docker image) runs from compiled bytecode; with this
    # set, every start would compile its modules again (0.35 s of CPU per start here).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


class Service:
    """A process the benchmark started; stopped by its own pid, never by name."""

    started: ClassVar[list[Service]] = []  # every one, for stop_all()

    def __init__(self, name: str, args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("wb") as log_file:
            self.process = subprocess.Popen(  # noqa: S603 - our own commands, no shell
                list(args), stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO,
                env=dict(env) if env is not None else exporter_env(),
            )
        Service.started.append(self)

    @classmethod
    def stop_all(cls) -> None:
        """Whatever is still running, newest first (an error may have skipped its stop)."""
        while cls.started:
            cls.started.pop().stop()

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 15.0) -> None:
        if not self.alive():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, service: Service, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive():
            raise BenchError(f"{service.name} exited with {service.process.returncode}:\n{service.log_tail()}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise BenchError(f"{service.name} did not listen on {HOST}:{port} within {timeout:g}s:\n{service.log_tail()}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its waited-for children), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(value) for value in fields[11:13]) / ticks


def memory_of(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) in bytes, from /proc/PID/status."""
    found: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return found
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found


def machine_busy(seconds: float = 1.0) -> float:
    """Share of all CPUs in use over `seconds` (from /proc/stat): other work skews the numbers."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    return round(1 - (idle1 - idle0) / max(1, total1 - total0), 3)


def wait_idle(pid: int, timeout: float, busy_share: float = 0.1) -> bool:
    """Whether the process stopped using CPU (below `busy_share` of a core) within `timeout`."""
    deadline = time.monotonic() + timeout
    before, at = cpu_seconds(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now_cpu, now = cpu_seconds(pid), time.monotonic()
        if (now_cpu - before) / (now - at) < busy_share:
            return True
        before, at = now_cpu, now
    return False


# --- HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes  # as sent: still compressed when Content-Encoding says so
    seconds: float


def request(url: str, method: str = "GET", headers: Mapping[str, str] | None = None,
            timeout: float = 60.0, body: bytes | None = None) -> Answer:
    parts = urlsplit(url)
    if parts.hostname != HOST:
        raise BenchError(f"refusing to send traffic anywhere but {HOST}: {url}")
    connection = http.client.HTTPConnection(HOST, parts.port, timeout=timeout)
    try:
        started = time.perf_counter()
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""),
                           body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        body = response.read()
        seconds = time.perf_counter() - started
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body, seconds)
    finally:
        connection.close()


def status_of(url: str, timeout: float = 2.0) -> int | None:
    try:
        return request(url, timeout=timeout).status
    except OSError:
        return None


# --- the simulator ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimCounts:
    operations: int  # insights requests and batch operations (API calls about a Page)
    round_trips: int  # HTTP requests on the API: a batch counts once
    by_kind: dict[str, int]


class SimulatorProcess:
    def __init__(self, work: Path, latency: float, campaign_ids: int = 0) -> None:
        port = free_port()
        self.url = f"http://{HOST}:{port}"
        campaigns = ["--campaign-ids", str(campaign_ids)] if campaign_ids else []
        self.service = Service(
            "simulator",
            [sys.executable, "-m", "exporter.simulator", "--listen", f"{HOST}:{port}", "--latency", f"{latency:g}",
             *campaigns],
            work / "simulator.log",
        )
        wait_port(port, self.service, 30)

    def counts(self) -> SimCounts:
        answer = request(f"{self.url}/_sim/requests", timeout=60)
        if answer.status != 200:
            raise BenchError(f"the simulator's /_sim/requests answered {answer.status}")
        document = json.loads(answer.body)
        by_kind = {str(k): int(v) for k, v in document.get("by_kind", {}).items()}
        operations = by_kind.get("insights", 0) + by_kind.get("batch", 0)
        return SimCounts(operations, int(document.get("http_total", 0)), by_kind)

    def reset(self) -> None:
        answer = request(f"{self.url}/_sim/reset", method="POST", timeout=30)
        if answer.status >= 300:
            raise BenchError(f"the simulator's /_sim/reset answered {answer.status}")

    def register_tokens(self, tokens: Mapping[str, str]) -> None:
        """Page id -> its Page token: the simulator, like Meta, refuses tokens it never issued."""
        answer = request(f"{self.url}/_sim/page-tokens", method="PUT", timeout=60,
                         body=json.dumps({"tokens": dict(tokens)}).encode())
        if answer.status >= 300:
            raise BenchError(f"the simulator's /_sim/page-tokens answered {answer.status}")


# --- config ----------------------------------------------------------------------------------


@dataclass
class ConfigInfo:
    path: Path
    batch_size: int | None  # as written in the config; None when the exporter does not take it
    planned_requests: int | None  # what --check-config says one refresh asks
    check_output: str
    notes: list[str] = field(default_factory=list)


def check_config(path: Path) -> tuple[bool, str]:
    result = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "exporter", f"--config.file={path}", "--check-config"],
        capture_output=True, text=True, timeout=300, env=exporter_env(), cwd=REPO, check=False,
    )
    return result.returncode == 0, (result.stdout + result.stderr).strip()


def prepare_config(work: Path, sim: SimulatorProcess, pages: int, entries: Sequence[Entry],
                   opts: Options) -> ConfigInfo:
    """Write the config and register its tokens with the simulator; keep graph_api.batch_size
    only if this exporter's config takes it."""
    sim_url = sim.url
    path = work / f"config-{pages}.yaml"
    notes: list[str] = []
    token_dir = work / "tokens" if opts.distinct_tokens else None
    # A shared token is one Page's token, as against Meta: every other Page is refused.
    sim.register_tokens(write_token_files(token_dir, pages) if token_dir is not None
                        else {page_ids(1)[0]: TOKEN})

    def write(batch_size: int | None) -> tuple[bool, str]:
        document = config_document(sim_url, pages, entries, batch_size=batch_size,
                                   max_concurrency=opts.max_concurrency, interval=opts.interval,
                                   token_dir=token_dir)
        # JSON is YAML: one line per Page keeps 10,000 Pages quick to write and to read.
        path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        return check_config(path)

    batch_size: int | None = opts.batch_size if opts.batch_size > 0 else None
    ok, output = write(batch_size)
    if not ok and batch_size is not None and "batch_size" in output:
        notes.append("graph_api.batch_size is not a key this exporter's config takes: left out "
                     f"(--check-config said: {_first_line_with(output, 'batch_size')})")
        batch_size = None
        ok, output = write(None)
    if not ok:
        raise BenchError(f"the exporter rejects the benchmark's config {path}:\n{output}")
    match = re.search(r"([\d,]+) insights requests? per refresh", output)
    planned = int(match.group(1).replace(",", "")) if match else None
    return ConfigInfo(path, batch_size, planned, output, notes)


def _first_line_with(text: str, word: str) -> str:
    return next((line.strip() for line in text.splitlines() if word in line), text.strip()[:200])


# --- load generators -------------------------------------------------------------------------


@dataclass
class LoadResult:
    target: str
    gzip: bool
    connections: int
    tool: str
    seconds: float  # how long the load ran
    requests: int  # completed within that time
    errors: int
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    response_bytes: int  # of one response body, as sent
    single_ms: float  # one request alone, before the load
    note: str = ""


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def python_load(url: str, *, gzip_on: bool, connections: int, duration: float,
                max_requests: int = 1_000_000) -> tuple[int, int, list[float], float]:
    """Keep-alive clients in threads, each sending requests back to back until `duration`.

    Only requests answered before the end count, as with wrk. (requests, errors,
    sorted latencies in seconds, seconds run).
    """
    parts = urlsplit(url)
    headers = {"Accept-Encoding": "gzip"} if gzip_on else {}
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    started = time.perf_counter()
    deadline = started + duration
    per_client = max(1, max_requests // connections)

    def client() -> None:
        mine: list[float] = []
        failed = 0
        connection = http.client.HTTPConnection(HOST, parts.port, timeout=duration + 5)
        try:
            for _ in range(per_client):
                if time.perf_counter() >= deadline:
                    break
                sent = time.perf_counter()
                try:
                    connection.request("GET", parts.path, headers=headers)
                    response = connection.getresponse()
                    response.read()
                    ok = response.status == 200
                except OSError:
                    connection.close()
                    ok = False
                done = time.perf_counter()
                if done > deadline:
                    break
                if ok:
                    mine.append(done - sent)
                else:
                    failed += 1
        finally:
            connection.close()
            with lock:
                latencies.extend(mine)
                errors[0] += failed

    threads = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 10)
    return len(latencies), errors[0], sorted(latencies), duration


def wrk_load(url: str, *, gzip_on: bool, connections: int, duration: float) -> dict[str, float]:
    """One wrk run; the numbers its Lua script prints."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not installed: run `make bench` (installs it as root), "
                         "`apt-get install wrk`, or pass --load python")
    seconds = max(1, math.ceil(duration))
    command = [wrk, f"-t{min(connections, os.cpu_count() or 1)}", f"-c{connections}", f"-d{seconds}s",
               f"--timeout={seconds + 5}s", "-s", str(WRK_SCRIPT), url, "--",
               "gzip" if gzip_on else "identity"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BenchError(f"wrk failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    return parse_wrk_output(result.stdout)


def parse_wrk_output(stdout: str) -> dict[str, float]:
    for line in stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            document = json.loads(line.removeprefix("BENCH_JSON "))
            return {str(k): float(v) for k, v in document.items()}
    raise BenchError(f"wrk printed no BENCH_JSON line (is bench/wrk.lua used?):\n{stdout}")


def run_load(target: str, url: str, *, gzip_on: bool, connections: int, opts: Options) -> LoadResult:
    # Alone first: one warm-up request, then one timed; the run lasts long enough for a
    # few rounds of every client, within --max-duration.
    headers = {"Accept-Encoding": "gzip"} if gzip_on else {}
    request(url, headers=headers, timeout=opts.max_duration + 60)
    probe = request(url, headers=headers, timeout=opts.max_duration + 60)
    if probe.status != 200:
        raise BenchError(f"{target} answered {probe.status} to GET {url}")
    if gzip_on and probe.headers.get("content-encoding") != "gzip":
        raise BenchError(f"{target} did not gzip its answer although asked to")
    duration = min(opts.max_duration, max(opts.duration, 3 * probe.seconds * connections))
    if opts.load == "wrk":
        numbers = wrk_load(url, gzip_on=gzip_on, connections=connections, duration=duration)
        ran = numbers["duration_us"] / 1e6
        completed = int(numbers["requests"])
        errors = int(sum(numbers[k] for k in ("connect_errors", "read_errors", "write_errors",
                                               "status_errors", "timeouts")))
        have = completed > 0
        p50 = numbers["p50_us"] / 1000 if have else None
        p99 = numbers["p99_us"] / 1000 if have else None
        worst = numbers["max_us"] / 1000 if have else None
    else:
        completed, errors, latencies, ran = python_load(url, gzip_on=gzip_on, connections=connections,
                                                        duration=duration)
        p50 = percentile(latencies, 0.50) * 1000 if latencies else None
        p99 = percentile(latencies, 0.99) * 1000 if latencies else None
        worst = latencies[-1] * 1000 if latencies else None
    note = ""
    if completed == 0:
        note = f"no scrape finished within {ran:.0f}s: throughput below {1 / ran:.3g}/s"
    return LoadResult(target, gzip_on, connections, opts.load, round(ran, 3), completed, errors,
                      completed / ran if ran > 0 else 0.0, p50, p99, worst, len(probe.body),
                      probe.seconds * 1000, note)


# --- the static baseline ---------------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise BenchError("nginx is not installed: run `make bench` (installs it as root), "
                         "`apt-get install nginx`, or pass --static python")
    return found


def nginx_config(directory: Path, port: int, *, as_root: bool) -> str:
    """nginx serving directory/www/metrics (and metrics.gz to gzip clients) on HOST:port.

    Everything it writes stays in `directory`; run as root, its workers run as root too
    (the user that started it), so they can read the temp dir.
    """
    user = ""
    if as_root:
        name = pwd.getpwuid(os.getuid()).pw_name
        user = f"user {name};\n"
    temp = directory / "temp"
    return f"""{user}worker_processes auto;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    types {{ }}
    default_type "text/plain; version=0.0.4; charset=utf-8";
    server {{
        listen {HOST}:{port};
        root {directory}/www;
        location = /metrics {{
            gzip_static on;
        }}
    }}
}}
"""


def start_static(work: Path, www: Path, tool: StaticTool) -> tuple[str, Service]:
    port = free_port()
    if tool == "python":
        service = Service("static server", [sys.executable, "-m", "bench.naive_server", "static",
                                            "--listen", f"{HOST}:{port}", "--dir", str(www)],
                          work / "static.log")
    else:
        directory = work / "nginx"
        (directory / "temp").mkdir(parents=True, exist_ok=True)
        if (directory / "www").exists():
            shutil.rmtree(directory / "www")
        shutil.copytree(www, directory / "www")
        conf = directory / "nginx.conf"
        conf.write_text(nginx_config(directory, port, as_root=os.geteuid() == 0), encoding="utf-8")
        service = Service("nginx", [nginx_binary(), "-e", str(directory / "error.log"), "-p", str(directory),
                                    "-c", str(conf)], work / "nginx.log")
    wait_port(port, service, 30)
    return f"http://{HOST}:{port}/metrics", service


def start_naive(work: Path, exposition: Path, timeout: float) -> tuple[str, Service]:
    port = free_port()
    service = Service("naive exporter", [sys.executable, "-m", "bench.naive_server", "naive",
                                         "--listen", f"{HOST}:{port}", "--exposition", str(exposition)],
                      work / "naive.log")
    wait_port(port, service, timeout)
    return f"http://{HOST}:{port}/metrics", service


# --- profiles --------------------------------------------------------------------------------


class Profiler:
    """py-spy sampling the exporter while a phase runs (--profile); raw stacks + a summary."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.binary = None
        if directory is not None:
            self.binary = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
            if self.binary is None:
                raise BenchError("--profile needs py-spy (pip install py-spy)")
            directory.mkdir(parents=True, exist_ok=True)
        self.summaries: dict[str, list[dict[str, Any]]] = {}

    @contextlib.contextmanager
    def phase(self, name: str, pids: Mapping[str, int]) -> Iterator[None]:
        """Sample each process (name -> pid) while the block runs."""
        if self.directory is None or self.binary is None:
            yield
            return
        spies: list[tuple[str, Path, subprocess.Popen[bytes]]] = []
        time.sleep(0.3)  # py-spy needs the interpreter of a process just started to be up
        for process, pid in pids.items():
            out = self.directory / f"{name}-{process}.txt"
            spies.append((f"{name}-{process}", out, subprocess.Popen(  # noqa: S603 - our own command
                [self.binary, "record", "--pid", str(pid), "--format", "raw", "--output", str(out),
                 "--rate", "100", "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )))
        try:
            yield
        finally:
            for key, out, spy in spies:
                spy.send_signal(signal.SIGINT)
                try:
                    spy.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    spy.kill()
                    spy.wait()
                if out.exists():
                    self.summaries[key] = summarize_stacks(out.read_text(encoding="utf-8", errors="replace"))


def summarize_stacks(raw: str, top: int = 12) -> list[dict[str, Any]]:
    """Functions by share of samples on the stack (inclusive), from py-spy's raw format."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [re.sub(r" \((.*/)?([^/]+)\)$", r" (\2)", f) for f in stack.split(";")]
        for frame in set(frames[1:] if frames and frames[0].startswith("thread") else frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        if frames:
            own[frames[-1]] = own.get(frames[-1], 0) + count
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])
    rows = [{"frame": f, "inclusive": round(n / total, 3), "self": round(own.get(f, 0) / total, 3)}
            for f, n in ranked if "<module>" not in f][:top]
    rows += [{"frame": f, "inclusive": round(inclusive.get(f, 0) / total, 3), "self": round(n / total, 3)}
             for f, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]
             if f not in {row["frame"] for row in rows}]
    return rows if total else []


# --- one size --------------------------------------------------------------------------------


@dataclass
class RefreshResult:
    operations: int
    round_trips: int
    min_operations: int
    min_round_trips: int
    by_kind: dict[str, int]
    complete: bool
    wall_seconds: float | None  # start of the process until every Page has refreshed once
    timeout_seconds: float
    projected_seconds: float | None  # when incomplete: the time at the rate seen
    exporter_cpu_seconds: float
    simulator_cpu_seconds: float


@dataclass
class OnceResult:
    exit_code: int | None
    complete: bool
    wall_seconds: float
    operations: int
    round_trips: int
    series: int
    projected_seconds: float | None


@dataclass
class SizeResult:
    pages: int
    groups: int
    series: int = 0
    exposition_bytes: int = 0
    exposition_gzip_bytes: int = 0
    config_batch_size: int | None = None
    planned_requests: int | None = None
    notes: list[str] = field(default_factory=list)
    refresh: RefreshResult | None = None
    once: OnceResult | None = None
    memory: dict[str, int] = field(default_factory=dict)
    scrapes: list[LoadResult] = field(default_factory=list)
    ratios: list[dict[str, Any]] = field(default_factory=list)
    profiles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    machine_busy_before: float = 0.0  # share of the CPUs other work used just before
    # From /-/ready until /metrics had every Page up and a steady series count (at most
    # a poll interval late): how far the render cache lags behind the refresh.
    metrics_complete_seconds: float | None = None
    # The exporter's CPU from its start until then: start-up, requests, parsing, snapshots
    # and rendering every Page (plus the few /metrics polls that saw it complete).
    exporter_cpu_complete_seconds: float | None = None
    workload: str = "standard"


def count_series(body: bytes) -> int:
    return sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))


def projected(elapsed: float, done: int, wanted: int) -> float | None:
    """The time all `wanted` operations would take at the rate seen; None once all were sent
    (then the rest of the time went to answering, parsing and rendering, not to sending)."""
    return round(elapsed * wanted / done, 1) if 0 < done < wanted else None


def run_daemon(sim: SimulatorProcess, work: Path, config: Path, *, pages: int, min_ops: int, opts: Options,
               profiler: Profiler) -> tuple[Service, str, RefreshResult]:
    sim.reset()
    sim_cpu = cpu_seconds(sim.service.pid)
    port = free_port()
    url = f"http://{HOST}:{port}"
    started = time.monotonic()
    exporter = Service("exporter", [sys.executable, "-m", "exporter", f"--config.file={config}",
                                    f"--web.listen-address={HOST}:{port}"], work / f"exporter-{pages}.log")
    ready_at: float | None = None
    last_print = started
    deadline = started + opts.refresh_timeout
    # /-/ready turns 200 once every Page has refreshed once. The simulator's counts are
    # only read for progress every 15 s: its /_sim/requests answer (with its request log)
    # costs it CPU that the refresh would miss.
    with profiler.phase(f"refresh-{pages}", {"exporter": exporter.pid, "simulator": sim.service.pid}):
        while time.monotonic() < deadline:
            if not exporter.alive():
                raise BenchError(f"the exporter exited with {exporter.process.returncode}:\n{exporter.log_tail()}")
            now = time.monotonic()
            if now - last_print >= 15:
                log(f"  {pages} Pages: {now - started:.0f}s, {sim.counts().operations}/{min_ops} operations so far")
                last_print = now
            if status_of(f"{url}/-/ready") == 200:
                ready_at = time.monotonic() - started
                break
            time.sleep(0.1)
    elapsed = time.monotonic() - started
    exporter_cpu = cpu_seconds(exporter.pid)
    counts = sim.counts()
    result = RefreshResult(
        counts.operations, counts.round_trips, min_ops, math.ceil(min_ops / MAX_BATCH), counts.by_kind,
        ready_at is not None, round(ready_at, 2) if ready_at is not None else None, opts.refresh_timeout,
        None if ready_at is not None else projected(elapsed, counts.operations, min_ops),
        round(exporter_cpu, 2), round(cpu_seconds(sim.service.pid) - sim_cpu, 2),
    )
    return exporter, url, result


UP = re.compile(rb"^messenger_insights_up\{[^}\n]*\} 1(?:\.0)?$", re.MULTILINE)


def settled_exposition(url: str, pages: int, timeout: float) -> bytes:
    """/metrics once the render cache has caught up: every Page up, the series count steady."""
    deadline = time.monotonic() + timeout
    body, previous = b"", -1
    while time.monotonic() < deadline:
        answer = request(f"{url}/metrics", timeout=120)
        body = answer.body
        series = count_series(body)
        if answer.status == 200 and series == previous and len(UP.findall(body)) >= pages:
            return body
        previous = series
        time.sleep(1.0)
    log(f"  warning: /metrics did not settle with every Page up within {timeout:g}s")
    return body


def measure_target(target: str, url: str, service: Service | None, opts: Options,
                   restart: Callable[[], tuple[str, Service]] | None) -> tuple[list[LoadResult], Service | None]:
    """Every (clients, gzip) case against one server.

    wrk abandons the scrapes in flight when its time is up; a Python server goes on
    rendering them. Before the next case it is waited for, or restarted where it can be
    (the naive exporter, whose 16 abandoned renders could take minutes).
    """
    results = []
    cases = [(c, g) for c in opts.connections for g in (False, True)]
    for index, (connections, gzip_on) in enumerate(cases):
        result = run_load(target, url, gzip_on=gzip_on, connections=connections, opts=opts)
        results.append(result)
        log(f"  {target:<9} gzip={'yes' if gzip_on else 'no ':<3} clients={connections:<3} "
            f"{result.rps:10.1f}/s  p50 {_ms(result.p50_ms)}  p99 {_ms(result.p99_ms)}"
            + (f"  ({result.note})" if result.note else ""))
        last = index == len(cases) - 1
        if service is None or last or wait_idle(service.pid, 2.0 if restart else 120.0):
            continue
        if restart is not None:
            service.kill()
            url, service = restart()
        else:
            log(f"  warning: {target} still busy 120s after the load ended")
    return results, service


def start_size(sim: SimulatorProcess, work: Path, pages: int, entries: Sequence[Entry], opts: Options, *,
               name: str) -> tuple[SizeResult, ConfigInfo, int]:
    groups = groups_of(entries)
    size = SizeResult(pages, groups, workload=name)
    size.machine_busy_before = wait_quiet(opts.wait_quiet)
    if size.machine_busy_before > 0.15:
        size.notes.append(f"{size.machine_busy_before:.0%} of the CPUs were busy with other work just before "
                          "this size: its numbers are skewed")
        log(f"warning: the machine is {size.machine_busy_before:.0%} busy with other work")
    log(f"{pages} Pages ({name}): writing and checking the config")
    return size, prepare_config(work, sim, pages, entries, opts), pages * groups


def settle_and_measure(size: SizeResult, url: str, exporter: Service, opts: Options) -> bytes:
    """/metrics once complete: its series, the exporter's CPU so far and its memory."""
    settle_started = time.monotonic()
    body = settled_exposition(url, size.pages, opts.settle_timeout)
    size.metrics_complete_seconds = round(time.monotonic() - settle_started, 1)
    size.exporter_cpu_complete_seconds = round(cpu_seconds(exporter.pid), 2)
    size.series = count_series(body)
    size.exposition_bytes = len(body)
    size.memory = {f"{k}_after_refresh": v for k, v in memory_of(exporter.pid).items()}
    return body


def run_series_size(sim: SimulatorProcess, work: Path, pages: int, opts: Options, profiler: Profiler) -> SizeResult:
    """The many-series workload (breakdowns by campaign): refresh, CPU and memory only."""
    size, info, min_ops = start_size(sim, work, pages, campaign_workload(crossed=opts.crossed), opts,
                                     name=f"campaigns x{opts.campaigns}")
    size.config_batch_size, size.planned_requests = info.batch_size, info.planned_requests
    size.notes += info.notes
    exporter, url, size.refresh = run_daemon(sim, work, info.path, pages=pages, min_ops=min_ops,
                                             opts=opts, profiler=profiler)
    try:
        settle_and_measure(size, url, exporter, opts)
    finally:
        exporter.stop()
    log(f"{pages} Pages ({size.workload}): {size.series} series, exporter CPU "
        f"{size.exporter_cpu_complete_seconds} s, RSS {size.memory.get('VmRSS_after_refresh', 0) / MB:.0f} MB")
    return size


def run_size(sim: SimulatorProcess, work: Path, pages: int, opts: Options, profiler: Profiler) -> SizeResult:
    size, info, min_ops = start_size(sim, work, pages, workload(crossed=opts.crossed), opts, name="standard")
    size.config_batch_size, size.planned_requests = info.batch_size, info.planned_requests
    size.notes += info.notes
    if opts.distinct_tokens:
        size.notes.append("every Page has its own token (--distinct-tokens)")
    if info.planned_requests is not None and info.planned_requests != min_ops:
        size.notes.append(f"--check-config plans {info.planned_requests} insights requests per refresh; "
                          f"the minimum is {min_ops}")

    log(f"{pages} Pages: daemon, full refresh (at most {opts.refresh_timeout:g}s)")
    exporter, url, refresh = run_daemon(sim, work, info.path, pages=pages, min_ops=min_ops,
                                        opts=opts, profiler=profiler)
    size.refresh = refresh
    if not refresh.complete:
        size.notes.append(f"the daemon's full refresh did not finish within {opts.refresh_timeout:g}s; "
                          "/metrics was measured while it went on")
    try:
        www = work / "www"
        www.mkdir(exist_ok=True)
        body = settle_and_measure(size, url, exporter, opts)
        gz = request(f"{url}/metrics", headers={"Accept-Encoding": "gzip"}, timeout=120)
        if gz.headers.get("content-encoding") != "gzip":
            raise BenchError("the exporter did not gzip /metrics although asked to")
        (www / "metrics").write_bytes(body)
        (www / "metrics.gz").write_bytes(gz.body)
        size.exposition_gzip_bytes = len(gz.body)
        if count_series(gzip.decompress(gz.body)) != size.series:
            size.notes.append("the gzip and plain expositions hold different numbers of series")
        log(f"{pages} Pages: {size.series} series, {len(body) / MB:.1f} MB ({len(gz.body) / MB:.2f} MB gzip), "
            f"RSS {size.memory.get('VmRSS_after_refresh', 0) / MB:.0f} MB")

        log(f"{pages} Pages: /metrics under load ({opts.load})")
        with profiler.phase(f"scrape-{pages}", {"exporter": exporter.pid}):
            results, _ = measure_target("exporter", f"{url}/metrics", exporter, opts, None)
        size.scrapes += results
        size.memory.update({f"{k}_after_load": v for k, v in memory_of(exporter.pid).items()})
    finally:
        exporter.stop()

    static_name = _measure_static_and_naive(size, work, www, body, opts)
    log(f"{pages} Pages: --once (at most {opts.once_timeout:g}s)")
    size.once = run_once(sim, work, info.path, pages=pages, min_ops=min_ops, opts=opts)
    size.ratios = ratios(size.scrapes, static_name)
    size.profiles = {k: v for k, v in profiler.summaries.items() if f"-{pages}-" in k}
    return size


def _measure_static_and_naive(size: SizeResult, work: Path, www: Path, body: bytes, opts: Options) -> str:
    """/metrics's bytes served by a static server, then by the naive exporter; the static
    server's name."""
    static_name = "nginx" if opts.static == "nginx" else "static-py"
    static_url, static = start_static(work, www, opts.static)
    try:
        check = request(static_url, timeout=120)
        if check.body != body:
            raise BenchError(f"{static_name} does not serve the exporter's bytes")
        results, _ = measure_target(static_name, static_url, None, opts, None)
        size.scrapes += results
    finally:
        static.stop()

    log(f"{size.pages} Pages: naive exporter parsing the exposition")

    def restart_naive() -> tuple[str, Service]:
        return start_naive(work, www / "metrics", opts.naive_start_timeout)

    naive_url, naive = restart_naive()
    try:
        results, last = measure_target("naive", naive_url, naive, opts, restart_naive)
        size.scrapes += results
        naive = last or naive
    finally:
        naive.stop()
    return static_name


def run_once(sim: SimulatorProcess, work: Path, config: Path, *, pages: int, min_ops: int, opts: Options) -> OnceResult:
    sim.reset()
    out = work / f"once-{pages}.txt"
    started = time.monotonic()
    with out.open("wb") as stdout, (work / f"once-{pages}.log").open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "-m", "exporter", f"--config.file={config}", "--once"],
            stdout=stdout, stderr=stderr, env=exporter_env(), cwd=REPO,
        )
        try:
            code: int | None = process.wait(timeout=opts.once_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = None
    elapsed = time.monotonic() - started
    counts = sim.counts()
    complete = code is not None
    series = count_series(out.read_bytes()) if complete else 0
    out.unlink(missing_ok=True)
    return OnceResult(code, complete, round(elapsed, 2), counts.operations, counts.round_trips, series,
                      None if complete else projected(elapsed, counts.operations, min_ops))


def ratios(scrapes: Sequence[LoadResult], static_name: str) -> list[dict[str, Any]]:
    """Per (gzip, clients): exporter throughput over naive's, static's over the exporter's."""
    by_key = {(r.target, r.gzip, r.connections): r for r in scrapes}
    found = []
    for (target, gzip_on, connections), exporter in by_key.items():
        if target != "exporter":
            continue
        naive = by_key.get(("naive", gzip_on, connections))
        static = by_key.get((static_name, gzip_on, connections))
        row: dict[str, Any] = {"gzip": gzip_on, "connections": connections}
        if naive is not None:
            if naive.requests > 0:
                row["exporter_vs_naive"] = round(exporter.rps / naive.rps, 1)
            else:  # naive finished nothing: its throughput is below 1/seconds
                row["exporter_vs_naive_at_least"] = round(exporter.rps * naive.seconds, 1)
        if static is not None and exporter.rps > 0:
            row[f"{static_name}_vs_exporter"] = round(static.rps / exporter.rps, 2)
        found.append(row)
    return found


# --- report ----------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return f"{value:9.1f} ms" if value is not None else "        - ms"


def _n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _not_done(seconds: float, projection: float | None) -> str:
    if projection is None:
        return f"not done in {seconds:.0f} s (every operation sent)"
    return f"not done in {seconds:.0f} s (~{projection:,.0f} s at that rate)"


Goal = dict[str, Any]


def _goal(name: str, goal: str, measured: str, met: bool | None) -> Goal:
    return {"target": name, "goal": goal, "measured": measured, "met": met}


def targets(sizes: Sequence[SizeResult], static_name: str) -> tuple[float | None, list[Goal]]:
    """bytes per series, and each target of issue 5 with what was measured."""
    if not sizes:
        return None, []
    small, large = min(sizes, key=lambda s: s.pages), max(sizes, key=lambda s: s.pages)
    per_series = None
    rss_small, rss_large = small.memory.get("VmRSS_after_refresh"), large.memory.get("VmRSS_after_refresh")
    if large.pages > small.pages and rss_small and rss_large and large.series > small.series:
        per_series = round((rss_large - rss_small) / (large.series - small.series), 1)
    rows = _refresh_goals(sizes, large)
    for row in large.ratios:
        if row["gzip"]:
            rows += _gzip_goals(large, row, static_name)
    if per_series is not None:
        rows.append(_goal(f"RSS per series ({small.pages} -> {large.pages} Pages)",
                          f"<= {TARGET_BYTES_PER_SERIES:g} B", f"{per_series:g} B",
                          per_series <= TARGET_BYTES_PER_SERIES))
    return per_series, rows + _cpu_goals(large) + _p99_against_static_goal(large, static_name)


def _refresh_goals(sizes: Sequence[SizeResult], large: SizeResult) -> list[Goal]:
    """Operations and round trips per refresh at every size; the largest one's wall time."""
    rows = []
    for size in sizes:
        if size.refresh is None:
            continue
        r = size.refresh
        rows.append(_goal(f"operations per refresh ({size.pages} Pages)", f"= {r.min_operations}",
                          str(r.operations), r.complete and r.operations == r.min_operations))
        rows.append(_goal(f"round trips per refresh ({size.pages} Pages)", f"= {r.min_round_trips}",
                          str(r.round_trips), r.complete and r.round_trips <= r.min_round_trips))
    if large.refresh is not None:
        r = large.refresh
        measured = (f"{r.wall_seconds:.1f} s" if r.wall_seconds is not None
                    else _not_done(r.timeout_seconds, r.projected_seconds))
        rows.append(_goal(f"full refresh of {large.pages} Pages", f"< {TARGET_REFRESH_SECONDS:g} s", measured,
                          r.wall_seconds is not None and r.wall_seconds < TARGET_REFRESH_SECONDS))
    return rows


def _gzip_goals(large: SizeResult, row: dict[str, Any], static_name: str) -> list[Goal]:
    """p99 and throughput against the naive exporter and the static server, at one client count."""
    rows = []
    c = row["connections"]
    exporter = next((s for s in large.scrapes if s.target == "exporter" and s.gzip and s.connections == c), None)
    if exporter is not None:
        rows.append(_goal(f"/metrics p99 with gzip, {c} client(s), {large.pages} Pages",
                          f"< {TARGET_P99_GZIP_MS:g} ms", _ms(exporter.p99_ms).strip(),
                          exporter.p99_ms is not None and exporter.p99_ms < TARGET_P99_GZIP_MS))
    if "exporter_vs_naive" in row:
        rows.append(_goal(f"throughput vs naive, gzip, {c} client(s)", f">= {TARGET_VS_NAIVE:g}x",
                          f"{row['exporter_vs_naive']:g}x", row["exporter_vs_naive"] >= TARGET_VS_NAIVE))
    elif "exporter_vs_naive_at_least" in row:
        at_least = row["exporter_vs_naive_at_least"]
        rows.append(_goal(f"throughput vs naive, gzip, {c} client(s)", f">= {TARGET_VS_NAIVE:g}x",
                          f">= {at_least:g}x", True if at_least >= TARGET_VS_NAIVE else None))
    key = f"{static_name}_vs_exporter"
    if key in row:
        rows.append(_goal(f"{static_name} over exporter, gzip, {c} client(s)", f"<= {TARGET_VS_NGINX:g}x",
                          f"{row[key]:g}x", row[key] <= TARGET_VS_NGINX))
    return rows


def _cpu_goals(large: SizeResult) -> list[Goal]:
    cpu = large.exporter_cpu_complete_seconds
    if cpu is None or large.refresh is None or not large.refresh.operations:
        return []
    per_1000 = cpu / large.refresh.operations * 1000
    return [
        _goal(f"exporter CPU per 1,000 operations ({large.pages} Pages)",
              f"<= {TARGET_CPU_PER_1000_OPERATIONS:g} s", f"{per_1000:.3f} s",
              per_1000 <= TARGET_CPU_PER_1000_OPERATIONS),
        _goal(f"exporter CPU, full refresh of {large.pages} Pages", f"<= {TARGET_REFRESH_CPU_SECONDS:g} s",
              f"{cpu:.1f} s", cpu <= TARGET_REFRESH_CPU_SECONDS),
    ]


def _p99_against_static_goal(large: SizeResult, static_name: str) -> list[Goal]:
    most = max((s.connections for s in large.scrapes), default=0)
    exporter_p99 = next((s.p99_ms for s in large.scrapes if s.target == "exporter" and s.gzip and s.connections == most), None)
    static_p99 = next((s.p99_ms for s in large.scrapes if s.target == static_name and s.gzip and s.connections == most), None)
    if exporter_p99 is None or not static_p99:
        return []
    ratio = round(exporter_p99 / static_p99, 2)
    return [_goal(f"/metrics p99, gzip, {most} clients, against {static_name}'s", f"<= {TARGET_P99_VS_NGINX:g}x",
                  f"{ratio:g}x", ratio <= TARGET_P99_VS_NGINX)]


def cpu_per_1000_operations(size: SizeResult) -> float | None:
    if size.exporter_cpu_complete_seconds is None or size.refresh is None or not size.refresh.operations:
        return None
    return size.exporter_cpu_complete_seconds / size.refresh.operations * 1000


def marginal(sizes: Sequence[SizeResult]) -> dict[str, float]:
    """Growth between the smallest and the largest size: CPU per 1,000 more operations,
    bytes and CPU per more series. Start-up costs cancel out."""
    if len(sizes) < 2:
        return {}
    small, large = min(sizes, key=lambda s: s.pages), max(sizes, key=lambda s: s.pages)
    found: dict[str, float] = {}
    cpu_small, cpu_large = small.exporter_cpu_complete_seconds, large.exporter_cpu_complete_seconds
    if cpu_small is not None and cpu_large is not None and small.refresh and large.refresh:
        operations = large.refresh.operations - small.refresh.operations
        if operations > 0:
            found["cpu_per_1000_operations"] = round((cpu_large - cpu_small) / operations * 1000, 4)
        if large.series > small.series:
            found["cpu_microseconds_per_series"] = round((cpu_large - cpu_small) / (large.series - small.series) * 1e6, 2)
    rss_small, rss_large = small.memory.get("VmRSS_after_refresh"), large.memory.get("VmRSS_after_refresh")
    if rss_small and rss_large and large.series > small.series:
        found["bytes_per_series"] = round((rss_large - rss_small) / (large.series - small.series), 1)
    return found


def series_growth(sizes: Sequence[SizeResult], series_sizes: Sequence[SizeResult]) -> list[dict[str, Any]]:
    """The many-series workload against the standard one at the same number of Pages: what
    each series more per Page costs in memory and CPU."""
    rows = []
    for many in series_sizes:
        standard = next((s for s in sizes if s.pages == many.pages), None)
        if standard is None or many.series <= standard.series:
            continue
        more = many.series - standard.series
        row: dict[str, Any] = {
            "pages": many.pages, "workload": many.workload,
            "series_per_page": [round(standard.series / standard.pages, 1), round(many.series / many.pages, 1)],
            "cpu_per_1000_operations": [cpu_per_1000_operations(standard), cpu_per_1000_operations(many)],
            "exporter_cpu_seconds": [standard.exporter_cpu_complete_seconds, many.exporter_cpu_complete_seconds],
            "rss_bytes": [standard.memory.get("VmRSS_after_refresh"), many.memory.get("VmRSS_after_refresh")],
        }
        rss_a, rss_b = row["rss_bytes"]
        if rss_a and rss_b:
            row["bytes_per_more_series"] = round((rss_b - rss_a) / more, 1)
        cpu_a, cpu_b = row["exporter_cpu_seconds"]
        if cpu_a is not None and cpu_b is not None:
            row["cpu_microseconds_per_more_series"] = round((cpu_b - cpu_a) / more * 1e6, 2)
        rows.append(row)
    return rows


def render_report(sizes: Sequence[SizeResult], per_series: float | None, goals: Sequence[dict[str, Any]],
                  growth: Sequence[dict[str, Any]] = ()) -> str:
    lines: list[str] = []
    for size in sizes:
        lines += _size_lines(size)
    if per_series is not None:
        lines.append("")
        lines.append(f"RSS growth per series: {per_series:,.0f} bytes")
    standard = [size for size in sizes if size.workload == "standard"]
    cpu_growth = marginal(standard).get("cpu_per_1000_operations")
    if cpu_growth is not None:
        lines.append(f"exporter CPU growth per 1,000 operations: {cpu_growth:.3f} s "
                     f"({min(s.pages for s in standard):,} -> {max(s.pages for s in standard):,} Pages)")
    for row in growth:
        before, after = row["series_per_page"]
        lines.append(f"series per Page {before:g} -> {after:g} ({row['workload']}, {row['pages']:,} Pages): "
                     f"{row.get('bytes_per_more_series', '-')} bytes and "
                     f"{row.get('cpu_microseconds_per_more_series', '-')} us of exporter CPU per series more")
    if goals:
        lines.append("")
        lines.append("Targets (issues 5 and 12):")
        for goal in goals:
            mark = {True: "met", False: "MISSED", None: "?"}[goal["met"]]
            lines.append(f"  {mark:<7}{goal['target']:<55}{goal['goal']:>10}   measured {goal['measured']}")
    return "\n".join(lines)


def _size_lines(size: SizeResult) -> list[str]:
    """One size's section of the report: refresh, --once, memory, scrapes, ratios, notes."""
    shown = "" if size.workload == "standard" else f" ({size.workload})"
    lines = ["", f"== {size.pages:,} Pages{shown}: {size.groups} operations per Page, {size.series:,} series, "
                 f"/metrics {size.exposition_bytes / MB:.1f} MB ({size.exposition_gzip_bytes / MB:.2f} MB gzip)"
                 f", batch_size in config: {size.config_batch_size if size.config_batch_size else 'no'}"]
    lines += _refresh_lines(size)
    once = size.once
    if once is not None:
        wall = (f"{once.wall_seconds:.2f} s" if once.complete
                else _not_done(once.wall_seconds, once.projected_seconds))
        lines.append(f"  {'--once':<26}{wall:>12}   (exit {once.exit_code}, {once.operations:,} operations, "
                     f"{once.round_trips:,} round trips)")
    rss = size.memory.get("VmRSS_after_refresh")
    if rss:
        lines.append(f"  {'exporter RSS':<26}{rss / MB:>9.1f} MB   (after load "
                     f"{size.memory.get('VmRSS_after_load', 0) / MB:.1f} MB, peak "
                     f"{size.memory.get('VmHWM_after_load', 0) / MB:.1f} MB)")
    lines += _scrape_lines(size)
    for row in size.ratios:
        parts = [f"{k.replace('_', ' ')} {v:g}x" for k, v in row.items() if k not in ("gzip", "connections")]
        lines.append(f"  gzip={'yes' if row['gzip'] else 'no'}, {row['connections']} client(s): "
                     + ", ".join(parts))
    lines.extend(f"  note: {note}" for note in size.notes)
    return lines


def _refresh_lines(size: SizeResult) -> list[str]:
    r = size.refresh
    if r is None:
        return []
    wall = (f"{r.wall_seconds:.2f} s" if r.wall_seconds is not None
            else _not_done(r.timeout_seconds, r.projected_seconds))
    lines = [
        f"  {'per full refresh':<26}{'measured':>12}{'minimum':>12}",
        f"  {'operations':<26}{r.operations:>12,}{r.min_operations:>12,}",
        f"  {'HTTP round trips':<26}{r.round_trips:>12,}{r.min_round_trips:>12,}",
        f"  {'full refresh (daemon)':<26}{wall:>12}   (CPU meanwhile: exporter "
        f"{r.exporter_cpu_seconds:.1f} s, simulator {r.simulator_cpu_seconds:.1f} s)",
    ]
    if size.metrics_complete_seconds is not None:
        lines.append(f"  {'/metrics complete':<26}{size.metrics_complete_seconds:>10.1f} s   later "
                     "(every Page up in /metrics, series count steady)")
    per_1000 = cpu_per_1000_operations(size)
    if size.exporter_cpu_complete_seconds is not None and per_1000 is not None:
        lines.append(f"  {'exporter CPU until then':<26}{size.exporter_cpu_complete_seconds:>10.1f} s   "
                     f"({per_1000:.3f} s per 1,000 operations, "
                     f"{size.exporter_cpu_complete_seconds / max(size.series, 1) * 1e6:.1f} us per series)")
    return lines


def _scrape_lines(size: SizeResult) -> list[str]:
    if not size.scrapes:
        return []
    lines = ["", f"  {'/metrics':<10}{'clients':>8}{'gzip':>6}{'req/s':>12}{'p50':>13}{'p99':>13}"
                 f"{'alone':>13}{'body':>11}  tool"]
    for s in size.scrapes:
        lines.append(f"  {s.target:<10}{s.connections:>8}{'yes' if s.gzip else 'no':>6}{s.rps:>12,.1f}"
                     f"{_ms(s.p50_ms):>13}{_ms(s.p99_ms):>13}{_ms(s.single_ms):>13}"
                     f"{s.response_bytes / MB:>8.2f} MB  {s.tool}" + (f"  ({s.note})" if s.note else ""))
    return lines


# --- main ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    pages: tuple[int, ...]
    out: Path | None
    latency: float
    duration: float
    max_duration: float
    connections: tuple[int, ...]
    load: LoadTool
    static: StaticTool
    batch_size: int
    max_concurrency: int | None
    interval: str
    crossed: bool
    distinct_tokens: bool
    refresh_timeout: float
    once_timeout: float
    settle_timeout: float
    naive_start_timeout: float
    profile: Path | None
    keep: bool
    wait_quiet: float
    campaigns: int = 10
    campaign_pages: int | None = None  # None: the smallest size; 0: no many-series run


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
    return values


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=_ints, default=(1000, 10000), help="Page counts (default 1000,10000)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--latency", type=float, default=0.1, help="simulated API latency, s (default 0.1)")
    parser.add_argument("--duration", type=float, default=5.0,
                        help="seconds of load per /metrics case at least (default 5)")
    parser.add_argument("--max-duration", type=float, default=20.0,
                        help="seconds of load per case at most, for slow servers (default 20)")
    parser.add_argument("--connections", type=_ints, default=(1, 16), help="concurrent clients (default 1,16)")
    parser.add_argument("--load", choices=("wrk", "python"), default="wrk",
                        help="load generator: wrk (default) or a Python fallback (no package needed)")
    parser.add_argument("--static", choices=("nginx", "python"), default="nginx",
                        help="static-file baseline: nginx (default) or a Python fallback")
    parser.add_argument("--batch-size", type=int, default=50,
                        help="graph_api.batch_size to write, if the config takes it (0: leave it out)")
    parser.add_argument("--max-concurrency", type=int, default=None,
                        help="graph_api.max_concurrency to write (default: the exporter's own default)")
    parser.add_argument("--interval", default="15m", help="refresh.interval to write (default 15m)")
    parser.add_argument("--crossed", action="store_true",
                        help="the three breakdown metrics by channel x topic in one entry, not by each")
    parser.add_argument("--distinct-tokens", action=argparse.BooleanOptionalAction, default=True,
                        help="give every Page its own token (a file each; the default) instead of one "
                             "shared token, which the simulator, like Meta, refuses to all Pages but one")
    parser.add_argument("--refresh-timeout", type=float, default=300.0,
                        help="seconds to wait for the daemon's full refresh (default 300)")
    parser.add_argument("--once-timeout", type=float, default=300.0, help="seconds --once may take (default 300)")
    parser.add_argument("--settle-timeout", type=float, default=180.0,
                        help="seconds for /metrics to show every Page after the refresh (default 180)")
    parser.add_argument("--naive-start-timeout", type=float, default=300.0,
                        help="seconds the naive exporter may take to parse the exposition (default 300)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write py-spy profiles of the exporter's refresh and scrapes to this folder")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (configs, logs)")
    parser.add_argument("--wait-quiet", type=float, default=60.0,
                        help="seconds to wait, before each size, for other work to leave the CPUs (default 60)")
    parser.add_argument("--campaigns", type=int, default=10,
                        help="campaign ids per Page in the many-series run (default 10)")
    parser.add_argument("--campaign-pages", type=int, default=None,
                        help="Pages of the many-series run (default: the smallest size; 0: skip it)")
    args = parser.parse_args(argv)
    return Options(args.pages, args.out, args.latency, args.duration, max(args.duration, args.max_duration),
                   args.connections, args.load, args.static, args.batch_size, args.max_concurrency,
                   args.interval, args.crossed, args.distinct_tokens, args.refresh_timeout, args.once_timeout, args.settle_timeout,
                   args.naive_start_timeout, args.profile, args.keep, args.wait_quiet, args.campaigns,
                   args.campaign_pages)


def tool_versions(opts: Options) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    commands: list[tuple[str, list[str]]] = [("exporter", [sys.executable, "-m", "exporter", "--version"])]
    if opts.load == "wrk" and (wrk := shutil.which("wrk")):
        commands.append(("wrk", [wrk, "--version"]))
    if opts.static == "nginx":
        commands.append(("nginx", [nginx_binary(), "-v"]))
    for name, command in commands:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            result = subprocess.run(command, capture_output=True, text=True, timeout=60,  # noqa: S603
                                    check=False, env=exporter_env(), cwd=REPO)
            versions[name] = ((result.stdout or result.stderr).strip().splitlines() or [""])[0]
    return versions


def exporter_source() -> dict[str, Any]:
    """Which exporter code was measured: the commit, the files changed since, a hash of it all."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "exporter").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    found: dict[str, Any] = {"sha256_of_exporter_py": digest.hexdigest()[:16]}
    git = shutil.which("git")
    if git is not None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            head = subprocess.run([git, "rev-parse", "--short", "HEAD"], capture_output=True,  # noqa: S603
                                  text=True, timeout=30, check=False, cwd=REPO)
            status = subprocess.run([git, "status", "--porcelain", "--", "exporter"],  # noqa: S603
                                    capture_output=True, text=True, timeout=30, check=False, cwd=REPO)
            if head.returncode == 0:
                found["commit"] = head.stdout.strip()
                found["changed_since"] = [line[3:] for line in status.stdout.splitlines()]
    return found


def wait_quiet(limit: float) -> float:
    """Wait (up to `limit` s) until other work leaves the CPUs mostly idle; the last reading."""
    deadline = time.monotonic() + limit
    busy = machine_busy()
    while busy > 0.15 and time.monotonic() < deadline:
        log(f"waiting for the machine to quieten: {busy:.0%} of the CPUs busy")
        time.sleep(4)
        busy = machine_busy()
    return busy


def preflight(opts: Options) -> None:
    if opts.load == "wrk" and shutil.which("wrk") is None:
        raise BenchError("wrk is not installed: run `make bench` (installs it as root), "
                         "`apt-get install wrk`, or pass --load python")
    if opts.static == "nginx":
        nginx_binary()


def run(opts: Options) -> dict[str, Any]:
    preflight(opts)
    source = exporter_source()
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    profiler = Profiler(opts.profile)
    sizes: list[SizeResult] = []
    series_sizes: list[SizeResult] = []
    campaign_pages = min(opts.pages) if opts.campaign_pages is None else opts.campaign_pages
    started = time.monotonic()
    try:
        sim = SimulatorProcess(work, opts.latency, opts.campaigns)
        try:
            for pages in sorted(opts.pages):
                sizes.append(run_size(sim, work, pages, opts, profiler))
            if campaign_pages and opts.campaigns:
                series_sizes.append(run_series_size(sim, work, campaign_pages, opts, profiler))
        finally:
            sim.service.stop()
    finally:
        Service.stop_all()
        if opts.keep:
            log(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    static_name = "nginx" if opts.static == "nginx" else "static-py"
    per_series, goals = targets(sizes, static_name)
    growth = series_growth(sizes, series_sizes)
    return {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": tool_versions(opts),
        "exporter_source": source,
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()},
        "workload": [entry.as_yaml() for entry in workload(crossed=opts.crossed)],
        "campaign_workload": [entry.as_yaml() for entry in campaign_workload(crossed=opts.crossed)[-4:]],
        "sizes": [asdict(size) for size in [*sizes, *series_sizes]],
        "bytes_per_series": per_series,
        "marginal": marginal(sizes),
        "series_growth": growth,
        "targets": goals,
        "report": render_report([*sizes, *series_sizes], per_series, goals, growth),
    }


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_options(argv)
    try:
        results = run(opts)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    print(results["report"])
    if opts.out is not None:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        opts.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"\nwritten: {opts.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
