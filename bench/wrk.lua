-- wrk script of the /metrics benchmark (bench/run.py).
--   wrk ... -s bench/wrk.lua URL -- gzip       asks for gzip (Accept-Encoding: gzip)
--   wrk ... -s bench/wrk.lua URL -- identity   asks for the plain text
-- At the end it prints one line, "BENCH_JSON {...}", with the counts and the latency
-- percentiles (microseconds) for run.py to read.

function init(args)
  if args[1] == "gzip" then
    wrk.headers["Accept-Encoding"] = "gzip"
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, errors.connect,
    errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
