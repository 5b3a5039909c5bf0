-- Status counting and a one-line result for scripts/load-test.
-- Any response other than 200 is an error here: the endpoints under test answer 200
-- to a logged-in client, and a 3xx means the session was not accepted (a login redirect).
-- Each wrk thread has its own Lua state; done() gathers their counters.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok_responses = 0
  bad_responses = 0
  bad_statuses = ""
end

function response(status, headers, body)
  if status == 200 then
    ok_responses = ok_responses + 1
  else
    bad_responses = bad_responses + 1
    if #bad_statuses < 200 then
      bad_statuses = bad_statuses .. status .. " "
    end
  end
end

function done(summary, latency, requests)
  local ok, bad, statuses = 0, 0, ""
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("ok_responses")
    bad = bad + thread:get("bad_responses")
    statuses = statuses .. thread:get("bad_statuses")
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    "LOAD_RESULT requests=%d duration_us=%d rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f " ..
    "ok=%d non200=%d connect=%d read=%d write=%d timeout=%d errors=%d first_bad_statuses=%s\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, ok, bad, e.connect, e.read, e.write, e.timeout, bad + socket_errors,
    statuses == "" and "-" or statuses:gsub(" $", ""):gsub(" ", ",")))
end
