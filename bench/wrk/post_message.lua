-- post_message.lua: POST /v1/conversations/{id}/messages with a 60–160 character outbound SMS, to a uniformly
-- random conversation (BENCH_IDS lists conversation ids). Uniform, not hot-skewed: each insert also updates its
-- conversation's last_message_at, and 64 clients on a handful of rows would measure row-lock queueing.
local C = dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local ids
local text = "Reminder: choir practice moves to Thursday 7pm this week. Youth group meets Friday at 6. " ..
             "Potluck after Sunday service, bring a dish to share!"

function init(args)
    math.randomseed(os.time() * 1000 + (thread_id or 0))
    ids = C.read_ids(os.getenv("BENCH_IDS"))
end

function request()
    local body = '{"content":"' .. text:sub(1, math.random(60, #text)) .. '","direction":"outbound","channel":"sms"}'
    return wrk.format("POST", "/v1/conversations/" .. ids[math.random(1, #ids)] .. "/messages",
                      { ["X-API-Key"] = C.api_key, ["Content-Type"] = "application/json" }, body)
end
