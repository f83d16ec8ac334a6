"""CPU of parsing insights answers, in process: the benchmark's workload, the simulator's answers.

    python -m bench.parse_cpu --answers /tmp/answers.json --against ../main

Records what `--once` hands to parse_insights for `--pages` Pages of bench.run's workload
(the simulator in this process, a token per Page; 4 operations per Page), then times
parse_insights over those decoded answers (time.process_time, `--reps` passes over all of
them, `--rounds` times) and orjson's decode of their bytes, and prints microseconds per
operation. `--answers FILE` keeps the recording (made if FILE does not exist), so runs
compare the same answers; `--against DIR` times another checkout's parser too (e.g.
`--against ../main`), the two taking turns pass by pass so that other work on the machine
weighs on both alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import orjson

from bench.run import TOKEN, TOKEN_ENV, config_document, workload, write_token_files
from exporter import cli, graph_client, insights_response
from exporter.simulator import Simulator

Call = tuple[Any, tuple[str, ...], str, tuple[str, ...], dict[str, int], bool]


def record(pages: int) -> list[dict[str, Any]]:
    """The arguments of every parse_insights call of one `--once` of the workload."""
    calls: list[dict[str, Any]] = []
    parse = insights_response.parse_insights

    def recording(document: Any, metrics: Any, period: str, breakdowns: tuple[str, ...],
                  baselines: dict[str, int] | None = None, *, history: bool = False) -> Any:
        calls.append({"document": document, "metrics": list(metrics), "period": period,
                      "breakdowns": list(breakdowns), "baselines": baselines or {}, "history": history})
        return parse(document, metrics, period, breakdowns, baselines, history=history)

    sim = Simulator(host="127.0.0.1", port=0)
    sim.start()
    os.environ.setdefault(TOKEN_ENV, TOKEN)
    graph_client.parse_insights = recording  # type: ignore[attr-defined,assignment]
    try:
        with tempfile.TemporaryDirectory(prefix="parse-cpu-") as work:
            for page_id, token in write_token_files(Path(work) / "tokens", pages).items():
                sim.set_page_token(page_id, token)
            document = config_document(sim.url, pages, workload(), batch_size=None,
                                       max_concurrency=None, interval="15m",
                                       token_dir=Path(work) / "tokens")
            config = Path(work) / "config.yaml"
            config.write_bytes(orjson.dumps(document))
            with redirect_stdout(io.StringIO()):
                code = cli.main(["--once", f"--config.file={config}", "--log.level=error"])
    finally:
        graph_client.parse_insights = parse  # type: ignore[attr-defined]
        sim.stop()
    if code != 0:
        raise SystemExit(f"--once failed (exit {code})")
    return calls


def load(path: Path | None, pages: int) -> list[dict[str, Any]]:
    if path is not None and path.exists():
        recorded: list[dict[str, Any]] = orjson.loads(path.read_bytes())
        return recorded
    calls = record(pages)
    if path is not None:
        path.write_bytes(orjson.dumps(calls))
    return calls


def timed(work: Callable[[], object], reps: int) -> float:
    start = time.process_time()
    for _ in range(reps):
        work()
    return time.process_time() - start


def fast_path_share(module: Any, prepared: list[Call]) -> str:
    """How often one pass took the parser's fast path (`_regular`, None when it declines)."""
    fast = getattr(module, "_regular", None)
    if fast is None:
        return "none in this parser"
    counts = [0, 0]

    def counting(*args: Any, **kwargs: Any) -> Any:
        found = fast(*args, **kwargs)
        counts[0] += 1
        counts[1] += found is not None
        return found

    module._regular = counting
    try:
        parse_all(module, prepared)
    finally:
        module._regular = fast
    return f"{counts[1]} of {counts[0]} answers ({100 * counts[1] / max(counts[0], 1):.1f} %)"


def other_parser(checkout: Path) -> Any:
    """Another checkout's exporter/insights_response.py, loaded beside this one's (it
    imports the rest of the package from this checkout)."""
    path = checkout.resolve() / "exporter" / "insights_response.py"
    spec = importlib.util.spec_from_file_location("other_insights_response", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--reps", type=int, default=10, help="passes over all answers per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--answers", type=Path, help="recorded answers: read, or written if absent")
    parser.add_argument("--against", type=Path, help="also time this checkout's parser, pass for pass")
    args = parser.parse_args(argv)
    calls = load(args.answers, args.pages)
    parsers = {"this": insights_response}
    if args.against is not None:
        parsers[str(args.against)] = other_parser(args.against)
    bodies = [orjson.dumps(call["document"]) for call in calls]
    prepared: list[Call] = [
        (orjson.loads(body), tuple(c["metrics"]), c["period"], tuple(c["breakdowns"]), c["baselines"],
         c["history"])
        for body, c in zip(bodies, calls, strict=True)
    ]
    rows = sum(len(e.get("values", ())) for c in prepared for e in c[0]["data"])
    entries = sum(len(c[0]["data"]) for c in prepared)
    print(f"{len(prepared)} operations, {rows / len(prepared):.1f} rows and "
          f"{entries / len(prepared):.2f} entries per operation, {sum(map(len, bodies)) / len(bodies):.0f} bytes")

    for label, module in parsers.items():
        print(f"{label} ({module.__file__}): fast path {fast_path_share(module, prepared)}")
    parse_us, decode_us = measure(parsers, bodies, prepared, args.reps, args.rounds)
    for label, figures in parse_us.items():
        print(f"parse_insights, {label}: {min(figures):.1f} us/op (median {statistics.median(figures):.1f}; "
              f"rounds {', '.join(f'{u:.1f}' for u in figures)})")
    print(f"orjson decode: {min(decode_us):.1f} us/op (median {statistics.median(decode_us):.1f})")


def parse_all(module: Any, prepared: list[Call]) -> None:
    for document, metrics, period, breakdowns, baselines, history in prepared:
        module.parse_insights(document, metrics, period, breakdowns, baselines, history=history)


def parse_fresh(module: Any, bodies: list[bytes], prepared: list[Call]) -> float:
    """CPU of one pass over freshly decoded answers, as the exporter meets them (no string
    hashed before); the parsing only."""
    fresh = [(orjson.loads(body), *call[1:]) for body, call in zip(bodies, prepared, strict=True)]
    parse = module.parse_insights
    start = time.process_time()
    for document, metrics, period, breakdowns, baselines, history in fresh:
        parse(document, metrics, period, breakdowns, baselines, history=history)
    return time.process_time() - start


def measure(parsers: dict[str, Any], bodies: list[bytes], prepared: list[Call], reps: int,
            rounds: int) -> tuple[dict[str, list[float]], list[float]]:
    """Microseconds per operation of each parser and of orjson's decode, per round."""
    per_op = 1e6 / (reps * len(prepared))
    parse_us: dict[str, list[float]] = {label: [] for label in parsers}
    decode_us = []
    for _ in range(rounds):
        spent = dict.fromkeys(parsers, 0.0)
        for _ in range(reps):  # the parsers take turns, so other work on the machine weighs on both
            for label, module in parsers.items():
                spent[label] += parse_fresh(module, bodies, prepared)
        for label, seconds in spent.items():
            parse_us[label].append(seconds * per_op)
        decode_us.append(timed(lambda: [orjson.loads(body) for body in bodies], reps) * per_op)
    return parse_us, decode_us


if __name__ == "__main__":
    main()
