-- One request list built once per thread, then replayed in order: every request carries
-- the next access token (BENCH_TOKENS file, one per line; optional) and the next client
-- address in X-Forwarded-For (BENCH_XFF addresses in 10.0.0.0/8; 0 = no header).
-- BENCH_DELAY_MS > 0 paces each connection (fixed-rate mode); BENCH_COUNT_STATUS=1
-- counts responses per status (costs a Lua call per response, so only where needed).
-- BENCH_USERS ("email password" per line) switches to login bodies: JSON, one user after
-- another. done() prints one JSON line after the marker BENCH_JSON for the harness.

local path = os.getenv("BENCH_PATH") or "/"
local method = os.getenv("BENCH_METHOD") or "GET"
local tokens_file = os.getenv("BENCH_TOKENS") or ""
local n_xff = tonumber(os.getenv("BENCH_XFF") or "0")
local fixed_xff = os.getenv("BENCH_FIXED_XFF") or ""
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local count_status = os.getenv("BENCH_COUNT_STATUS") == "1"
-- Login mode: BENCH_USERS file ("email password" per line) -> POST JSON bodies in turn.
local users_file = os.getenv("BENCH_USERS") or ""

local requests = {}
local n_requests = 0
local cursor = 0
statuses = {}

local function xff(i)
  -- 10.a.b.c, a distinct address for every i < 2^24 (LuaJIT: no // operator)
  return string.format("10.%d.%d.%d", math.floor(i / 65536) % 256,
                       math.floor(i / 256) % 256, i % 256)
end

function init(args)
  local tokens = {}
  if tokens_file ~= "" then
    for line in io.lines(tokens_file) do
      if line ~= "" then tokens[#tokens + 1] = line end
    end
  end
  local users = {}
  if users_file ~= "" then
    for line in io.lines(users_file) do
      local email, password = line:match("^(%S+) (%S+)$")
      if email then users[#users + 1] = {email, password} end
    end
  end
  local count = math.max(#tokens, #users, n_xff, 1)
  for i = 0, count - 1 do
    local headers = {}
    local body = nil
    if #users > 0 then
      local user = users[(i % #users) + 1]
      headers["Content-Type"] = "application/json"
      body = string.format('{"email": "%s", "password": "%s"}', user[1], user[2])
    end
    if #tokens > 0 then headers["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1] end
    if fixed_xff ~= "" then
      headers["X-Forwarded-For"] = fixed_xff
    elseif n_xff > 0 then
      headers["X-Forwarded-For"] = xff(i % n_xff + 1)
    end
    requests[i + 1] = wrk.format(method, path, headers, body)
  end
  n_requests = count
end

function request()
  cursor = cursor % n_requests + 1
  return requests[cursor]
end

if delay_ms > 0 then
  function delay() return delay_ms end
end

if count_status then
  function response(status, headers, body)
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  end
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests_stats)
  local counts = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    if s then
      for k, v in pairs(s) do counts[#counts + 1] = string.format('"%s": %d', k, v) end
    end
  end
  local e = summary.errors
  io.write("BENCH_JSON ")
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, "p50": %d, "p90": %d, ' ..
    '"p99": %d, "p999": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    table.concat(counts, ", ")))
end
