"""Benchmark of --backfill.*: N Pages x D days against the simulator (a separate process,
100 ms per answer), every catalog metric at period day (the default config).

Each size is run by a fresh exporter process into a fresh folder; the figures are its wall
time, the operations and HTTP requests the simulator counted, the bytes and samples
written, and the process' peak RSS. The baseline is the same Pages over fewer days, in the
same run. Memory holds one request window (at most 90 days) of values, so beyond one
window it should not grow with the days (the ratio stays near 1); time and output grow in
proportion.

    python -m bench.backfill --pages 100 --days 90,180
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
# Runs the backfill in this process, then writes its peak RSS (KiB) where the bench reads it.
CHILD = (
    "import resource, sys\n"
    "from exporter.cli import main\n"
    "code = main(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def get_json(url: str, method: str = "GET", payload: object = None) -> Any:
    data = json.dumps(payload).encode() if payload is not None else b"" if method in {"POST", "PUT"} else None
    request = urllib.request.Request(url, method=method, data=data)  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback
        body = answer.read()
    return json.loads(body) if body else None


def config_for(url: str, pages: int) -> tuple[str, dict[str, str]]:
    """Every Page with a token of its own (a Page token reads its own Page only); env holds
    them, by variable."""
    ids = [f"{9_100_000_000 + n}" for n in range(pages)]
    lines = [f'  - id: "{page_id}"\n    access_token_env: BENCH_TOKEN_{page_id}' for page_id in ids]
    env = {f"BENCH_TOKEN_{page_id}": f"EAAB-bench-backfill-{page_id}" for page_id in ids}
    return f"graph_api:\n  base_url: {url}\npages:\n" + "\n".join(lines) + "\n", env


def count_output(folder: Path) -> tuple[int, int]:
    """Bytes and sample lines (lines not starting with #) of every file written."""
    size = samples = 0
    for path in folder.glob("*.om"):
        with path.open("rb") as stream:
            previous = b"\n"
            while chunk := stream.read(1 << 24):
                size += len(chunk)
                lines = chunk.count(b"\n")
                comments = chunk.count(b"\n#") + (1 if previous == b"\n" and chunk.startswith(b"#") else 0)
                samples += lines - comments
                previous = chunk[-1:]
    return size, samples


def run_size(sim_url: str, pages: int, days: int, work: Path) -> dict[str, Any]:
    get_json(f"{sim_url}/_sim/reset", "POST")
    config_text, env = config_for(sim_url, pages)
    # The simulator, like Meta, refuses a token it never issued: tell it each Page's.
    tokens = {name.removeprefix("BENCH_TOKEN_"): token for name, token in env.items()}
    get_json(f"{sim_url}/_sim/page-tokens", "PUT", {"tokens": tokens})
    config = work / "config.yaml"
    config.write_text(config_text, encoding="utf-8")
    folder = work / f"history-{pages}x{days}"
    rss_file = work / "rss"
    command = [sys.executable, "-c", CHILD, str(rss_file), f"--config.file={config}",
               f"--backfill.start={days}d", f"--backfill.output={folder}/", "--log.level=warning"]
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - our own command
        command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"the backfill exited {result.returncode}:\n{result.stderr[-3000:]}")
    counted = get_json(f"{sim_url}/_sim/requests")
    size, samples = count_output(folder)
    written_days = len(list(folder.glob("*.om")))
    shutil.rmtree(folder)
    return {
        "pages": pages, "days": days, "files": written_days, "wall_seconds": round(wall, 2),
        "operations": counted["total"], "http_requests": counted["http_total"],
        "output_bytes": size, "samples": samples,
        "samples_per_series_per_day": None,
        "bytes_per_sample": round(size / samples, 1) if samples else None,
        "peak_rss_mib": round(int(rss_file.read_text()) / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--days", default="90,180", help="comma-separated; the first is the baseline")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per simulator answer")
    parser.add_argument("--out", default="bench/results/backfill.json")
    parser.add_argument("--work", default=None, help="folder for the output (default: a temporary one)")
    args = parser.parse_args(argv)
    sizes = [int(d) for d in args.days.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-backfill-", dir=args.work))
    port = free_port()
    simulator = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "exporter.simulator", "--listen", f"{HOST}:{port}", "--latency", f"{args.latency:g}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sim_url = f"http://{HOST}:{port}"
    try:
        for _ in range(100):
            try:
                get_json(f"{sim_url}/_sim/requests")
                break
            except OSError:
                time.sleep(0.1)
        results = []
        for days in sizes:
            figures = run_size(sim_url, args.pages, days, work)
            series_days = figures["pages"] * 34 * figures["files"]  # 11 values, 11 baselines, 11 end times, info
            figures["samples_per_series_per_day"] = round(figures["samples"] / series_days, 1)
            results.append(figures)
            print(json.dumps(figures), flush=True)
    finally:
        simulator.terminate()
        simulator.wait()
        shutil.rmtree(work, ignore_errors=True)
    base, *rest = results
    for figures in rest:
        scale = figures["days"] / base["days"]
        print(f"{figures['pages']} Pages x {figures['days']} days against {base['days']} days (x{scale:g}): "
              f"wall time x{figures['wall_seconds'] / base['wall_seconds']:.2f}, "
              f"samples x{figures['samples'] / base['samples']:.2f}, "
              f"peak RSS x{figures['peak_rss_mib'] / base['peak_rss_mib']:.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "latency_seconds": args.latency, "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(), "results": results,
        "children_cpu_seconds": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime, 1),
    }, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
