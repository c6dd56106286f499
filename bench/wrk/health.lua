-- health.lua: GET /health (no key; the server runs SELECT 1 on the primary). Not in the default scenario list: a
-- floor for the HTTP + pool path, and a way to check the harness before the API endpoints exist.
local C = dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")

function request()
    return wrk.format("GET", "/health")
end
