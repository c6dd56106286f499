-- get_user_zipf.lua: GET /v1/users/{id} with a Zipf-like skew over every user: the k-th id of BENCH_IDS is
-- picked with probability ∝ 1 / k^s (BENCH_ZIPF_S, default 1.0), like real traffic where a few people are
-- read most. The cache's hit rate on it is the second cache target (docs/benchmarks.md).
local C = dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local ids, cdf

function init(args)
    math.randomseed(os.time() * 1000 + (thread_id or 0))
    ids = C.read_ids(os.getenv("BENCH_IDS"))
    local s = tonumber(os.getenv("BENCH_ZIPF_S") or "1.0")
    cdf = {}
    local total = 0
    for k = 1, #ids do
        total = total + 1 / (k ^ s)
        cdf[k] = total
    end
    for k = 1, #ids do cdf[k] = cdf[k] / total end
end

-- The first k with cdf[k] >= u (binary search).
local function zipf_index()
    local u, lo, hi = math.random(), 1, #cdf
    while lo < hi do
        local mid = math.floor((lo + hi) / 2)
        if cdf[mid] < u then lo = mid + 1 else hi = mid end
    end
    return lo
end

function request()
    return wrk.format("GET", "/v1/users/" .. ids[zipf_index()], { ["X-API-Key"] = C.api_key })
end
