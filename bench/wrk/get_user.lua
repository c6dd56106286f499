-- get_user.lua: GET /v1/users/{id} for a uniformly random user of the data set (BENCH_IDS lists user ids).
local C = dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local ids

function init(args)
    math.randomseed(os.time() * 1000 + (thread_id or 0))
    ids = C.read_ids(os.getenv("BENCH_IDS"))
end

function request()
    return wrk.format("GET", "/v1/users/" .. ids[math.random(1, #ids)], { ["X-API-Key"] = C.api_key })
end
