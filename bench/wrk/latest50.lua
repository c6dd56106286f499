-- latest50.lua: GET /v1/conversations/{id}/messages?limit=50, the first page of the latest messages, over the
-- hot/uniform conversation mix of common.lua (BENCH_IDS lists conversation ids hottest first).
local C = dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local ids

function init(args)
    math.randomseed(os.time() * 1000 + (thread_id or 0))
    ids = C.read_ids(os.getenv("BENCH_IDS"))
end

function request()
    return wrk.format("GET", "/v1/conversations/" .. C.pick(ids) .. "/messages?limit=50",
                      { ["X-API-Key"] = C.api_key })
end
