-- common.lua: shared by the wrk scripts of bench/run.sh (loaded with dofile). Reads the API key and the id files
-- named by environment variables, counts responses by status in every thread, and in done() prints one JSON
-- line (prefixed "BENCH_JSON ") with requests/s, latency percentiles in ms, status counts and socket errors.
-- Env: BENCH_API_KEY, BENCH_IDS (one UUID a line, hottest first for conversations), BENCH_HOT_PCT (default 50),
-- BENCH_NHOT (default 100), BENCH_SCENARIO (a label).

local M = {}

function M.read_ids(path)
    local ids = {}
    local f = assert(io.open(path, "r"), "cannot open " .. tostring(path))
    for line in f:lines() do
        if #line >= 36 then ids[#ids + 1] = line:sub(1, 36) end
    end
    f:close()
    assert(#ids > 0, "no ids in " .. path)
    return ids
end

M.api_key = os.getenv("BENCH_API_KEY") or ""
M.hot_pct = tonumber(os.getenv("BENCH_HOT_PCT") or "50")
M.nhot = tonumber(os.getenv("BENCH_NHOT") or "100")

-- With probability hot_pct % one of the first nhot ids (the hottest), else any id uniformly.
function M.pick(ids)
    if math.random(1, 100) <= M.hot_pct then
        return ids[math.random(1, math.min(M.nhot, #ids))]
    end
    return ids[math.random(1, #ids)]
end

-- Per-thread status counters; the main state collects them in done().
local threads = {}
function setup(thread)
    thread:set("thread_id", #threads + 1)
    threads[#threads + 1] = thread
end

statuses = {}
function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
    local counts, total, non2xx = {}, 0, 0
    for _, t in ipairs(threads) do
        local s = t:get("statuses") or {}
        for code, n in pairs(s) do
            counts[code] = (counts[code] or 0) + n
            total = total + n
            if code < 200 or code > 299 then non2xx = non2xx + n end
        end
    end
    local parts = {}
    for code, n in pairs(counts) do parts[#parts + 1] = string.format('"%d":%d', code, n) end
    local e = summary.errors
    local secs = summary.duration / 1e6
    io.write(string.format(
        'BENCH_JSON {"scenario":"%s","requests":%d,"duration_s":%.3f,"rps":%.1f,' ..
        '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f,' ..
        '"non2xx":%d,"responses":%d,"statuses":{%s},' ..
        '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"wrk_status_errors":%d}\n',
        os.getenv("BENCH_SCENARIO") or "?", summary.requests, secs, summary.requests / secs,
        latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
        latency.max / 1000, latency.mean / 1000,
        non2xx, total, table.concat(parts, ","),
        e.connect, e.read, e.write, e.timeout, e.status))
end

return M
