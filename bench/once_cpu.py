"""The exporter's CPU per 1,000 insights operations, start to exposition, quickly.

    python -m bench.once_cpu --pages 2000 --reps 3 [--tree /other/checkout ...]

Starts the simulator (no added latency) as its own process, writes the benchmark's config
(bench.run's workload, a token file per Page) and runs `--once` (refresh every Page, print
`/metrics`, exit) `--reps` times per work tree, the trees interleaved so a busy machine
slows them alike. Prints each run's user + system CPU of the exporter process (the
simulator's is not in it) per 1,000 operations, and the median per tree. Unlike
`make bench` it is a few seconds per thousand Pages, for comparing a change against main.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.run import (
    REPO,
    SimulatorProcess,
    exporter_env,
    groups_of,
    parse_options,
    prepare_config,
    workload,
)


def run_once_cpu(tree: Path, config: Path, out: Path, profile: Path | None = None) -> float:
    """CPU seconds (user + system) of one `--once` run of the exporter in `tree`; with
    `profile`, py-spy records its stacks there (raw format; its own CPU is counted too)."""
    env = exporter_env()
    env["PYTHONPATH"] = str(tree)
    spy = [] if profile is None else ["py-spy", "record", "--gil", "-r", "200", "-f", "raw", "-o", str(profile), "--"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with out.open("wb") as stdout:
        result = subprocess.run(  # noqa: S603 - our own command
            [*spy, sys.executable, "-m", "exporter", f"--config.file={config}", "--once", "--log.level=warning"],
            stdout=stdout, stderr=subprocess.PIPE, env=env, cwd=tree, timeout=1800, check=False,
        )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"--once in {tree} exited {result.returncode}: {result.stderr.decode()[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--tree", action="append", type=Path,
                        help="a checkout of the exporter to measure (repeatable; default: this one)")
    parser.add_argument("--profile", type=Path, help="py-spy raw stacks of the first run of each tree: FILE.N")
    args = parser.parse_args(argv)
    trees = [tree.resolve() for tree in args.tree or [REPO]]
    entries = workload()
    operations = args.pages * groups_of(entries)
    with tempfile.TemporaryDirectory(prefix="once-cpu-") as folder:
        work = Path(folder)
        sim = SimulatorProcess(work, 0.0)
        try:
            opts = parse_options(["--pages", str(args.pages)])
            config = prepare_config(work, sim, args.pages, entries, opts).path
            cpu: dict[str, list[float]] = {str(tree): [] for tree in trees}
            for rep in range(args.reps):
                for number, tree in enumerate(trees):
                    profile = Path(f"{args.profile}.{number}") if args.profile is not None and rep == 0 else None
                    seconds = run_once_cpu(tree, config, work / "once.txt", profile)
                    cpu[str(tree)].append(seconds)
                    print(f"{tree}: {seconds:.2f} s CPU, {seconds / operations * 1000:.3f} s per 1,000 "
                          "operations", file=sys.stderr, flush=True)
        finally:
            sim.service.stop()
    report = {tree: {"cpu_seconds": [round(s, 3) for s in runs],
                     "median_per_1000_operations": round(statistics.median(runs) / operations * 1000, 4)}
              for tree, runs in cpu.items()}
    print(json.dumps({"pages": args.pages, "operations": operations, "trees": report}, indent=1))


if __name__ == "__main__":
    main()
