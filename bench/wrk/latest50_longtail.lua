-- latest50_longtail.lua: GET /v1/conversations/{id}/messages?limit=50 for the long tail: uniformly random over the
-- ids of BENCH_IDS, which bench/run.sh fills with the quiet conversations (fewer messages over the data set's span
-- than days in it: less than one a day), spread over the whole id space (heat ranks are a random permutation of
-- the ids). No hot share: every request is a quiet conversation. Same output as every script (common.lua).
local C = dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local ids

function init(args)
    math.randomseed(os.time() * 1000 + (thread_id or 0))
    ids = C.read_ids(os.getenv("BENCH_IDS"))
end

function request()
    return wrk.format("GET", "/v1/conversations/" .. ids[math.random(1, #ids)] .. "/messages?limit=50",
                      { ["X-API-Key"] = C.api_key })
end
