-- get_user_hot.lua: GET /v1/users/{id} for one of the BENCH_NHOT first users only: after the first request of
-- each, every answer comes from the cache (the cache-hit path of the cache target).
local C = dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local ids

function init(args)
    math.randomseed(os.time() * 1000 + (thread_id or 0))
    ids = C.read_ids(os.getenv("BENCH_IDS"))
end

function request()
    return wrk.format("GET", "/v1/users/" .. ids[math.random(1, math.min(C.nhot, #ids))], { ["X-API-Key"] = C.api_key })
end
