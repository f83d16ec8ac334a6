"""The benchmark (bench/) on tiny sizes, so that its harness cannot rot.

Every measurement path runs for real: the simulator, the config check, the daemon's full
refresh, the settled exposition, /metrics under load against the exporter, the naive
exporter and the static baseline, memory, --once, the ratios and the report. It uses the
Python load generator and static server, so it needs neither wrk nor nginx; the parts
only wrk and nginx use (the Lua script's output, nginx's config) are checked on their own.
Numbers are not asserted: timing is the benchmark's business, not the test command's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import run as bench


@pytest.mark.e2e
def test_benchmark_runs_end_to_end_on_tiny_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results" / "bench.json"
    code = bench.main([
        "--pages", "4,8", "--latency", "0.01", "--duration", "0.2", "--max-duration", "1",
        "--connections", "1,2", "--load", "python", "--static", "python",
        "--refresh-timeout", "60", "--once-timeout", "60", "--wait-quiet", "0", "--out", str(out),
    ])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    results = json.loads(out.read_text(encoding="utf-8"))

    sizes = [size for size in results["sizes"] if size["workload"] == "standard"]
    assert [size["pages"] for size in sizes] == [4, 8]
    for size in sizes:
        assert size["groups"] == 4
        refresh = size["refresh"]
        assert refresh["complete"], size["notes"]
        assert refresh["min_operations"] == size["pages"] * 4
        assert refresh["min_round_trips"] == 1
        assert refresh["operations"] >= refresh["min_operations"]
        assert refresh["round_trips"] >= 1
        assert refresh["wall_seconds"] > 0
        once = size["once"]
        assert once["complete"] and once["exit_code"] == 0
        assert once["operations"] >= refresh["min_operations"]
        assert once["series"] > 0
        assert size["series"] > size["pages"] and size["exposition_gzip_bytes"] > 0
        assert size["memory"]["VmRSS_after_refresh"] > 0
        assert size["exporter_cpu_complete_seconds"] > 0

        cases = {(s["target"], s["gzip"], s["connections"]) for s in size["scrapes"]}
        assert cases == {(target, gzip_on, clients) for target in ("exporter", "static-py", "naive")
                         for gzip_on in (False, True) for clients in (1, 2)}
        for scrape in size["scrapes"]:
            assert scrape["requests"] > 0 and scrape["errors"] == 0, scrape
            assert scrape["p50_ms"] is not None and scrape["p99_ms"] >= scrape["p50_ms"]
        assert len(size["ratios"]) == 4
        assert all("exporter_vs_naive" in row and "static-py_vs_exporter" in row for row in size["ratios"])

    assert results["bytes_per_series"] is not None
    assert results["marginal"]["cpu_per_1000_operations"] is not None
    (campaigns,) = [size for size in results["sizes"] if size["workload"] != "standard"]
    assert campaigns["pages"] == 4 and campaigns["groups"] == 6 and campaigns["refresh"]["complete"]
    # Per Page: 10 campaign ids x 4 metrics, a baseline for the 3 at period day, and the
    # data_end_timestamp_seconds of page_messages_sent over 28 days.
    assert campaigns["series"] - sizes[0]["series"] == 4 * (10 * 4 + 10 * 3 + 1)
    (growth,) = results["series_growth"]
    assert growth["series_per_page"][1] > growth["series_per_page"][0]
    assert "bytes_per_more_series" in growth and "cpu_microseconds_per_more_series" in growth
    assert results["exporter_source"]["sha256_of_exporter_py"]
    assert {goal["met"] for goal in results["targets"]} <= {True, False, None}
    assert "/metrics" in results["report"] and "Targets (issues 5 and 12)" in printed.out


def test_workload_groups_and_minimums() -> None:
    assert bench.groups_of(bench.workload()) == 4
    assert bench.groups_of(bench.campaign_workload()) == 6
    assert bench.groups_of(bench.workload(crossed=True)) == 3
    document = bench.config_document("http://127.0.0.1:1", 3, bench.workload(), batch_size=None,
                                     max_concurrency=None, interval="15m")
    assert "batch_size" not in document["graph_api"]
    assert len({page["id"] for page in document["pages"]}) == 3


def test_wrk_script_output_is_read() -> None:
    line = ('BENCH_JSON {"requests":120,"duration_us":2000000,"bytes":1200,"connect_errors":0,'
            '"read_errors":0,"write_errors":0,"status_errors":0,"timeouts":0,"p50_us":1500,'
            '"p90_us":1800,"p99_us":2500,"max_us":3000,"mean_us":1600.5}')
    numbers = bench.parse_wrk_output(f"Running 2s test\n{line}\n")
    assert numbers["requests"] == 120 and numbers["p99_us"] == 2500
    with pytest.raises(bench.BenchError):
        bench.parse_wrk_output("Running 2s test\n")
    script = bench.WRK_SCRIPT.read_text(encoding="utf-8")
    for key in ("requests", "duration_us", "p50_us", "p99_us", "timeouts"):
        assert f'"{key}"' in script


def test_nginx_config_stays_in_its_folder_and_on_loopback(tmp_path: Path) -> None:
    text = bench.nginx_config(tmp_path, 18080, as_root=False)
    assert "listen 127.0.0.1:18080;" in text
    assert "gzip_static on;" in text and "daemon off;" in text
    assert "user " not in text
    for line in text.splitlines():
        if line.strip().startswith(("pid ", "error_log ", "root ")) or "_temp_path " in line:
            assert str(tmp_path) in line, line
    assert bench.nginx_config(tmp_path, 18080, as_root=True).startswith("user ")


def test_profile_summary_ranks_frames() -> None:
    raw = ("thread (0x1);main (app.py:1);render (exposition.py:10);scrub (redact.py:64) 30\n"
           "thread (0x1);main (app.py:1);render (exposition.py:10) 10\n"
           "thread (0x2);refresh (refresh.py:5) 60\n")
    rows = {row["frame"]: row for row in bench.summarize_stacks(raw)}
    assert rows["refresh (refresh.py:5)"]["self"] == 0.6
    assert rows["render (exposition.py:10)"]["inclusive"] == 0.4
    assert rows["scrub (redact.py:64)"]["self"] == 0.3
