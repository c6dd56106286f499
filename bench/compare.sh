# compare.sh: sourced by bench/run.sh (not run alone). ywmsgd side by side with the bench peer — bench/peer/, the
# stack a team would pick instead: Fastify + node-postgres + ioredis, one Node process — on the same topology and
# data, per path (primary, replicas, cache) × workload (hot, longtail), the two servers alternating run by run.
# Uses run.sh's globals and functions (say, die, start_server, cpu_ticks, pgbench_measure, psql_pg, …).
# Knobs: BENCH_PEER, BENCH_PEER_ROUNDS, BENCH_PEER_PATHS, BENCH_PEER_WORKLOADS, BENCH_PEER_POOL (docs/benchmarks.md).

peer=${BENCH_PEER:-1}                                   # 0: no peer (ywmsgd's rows of the paths still run)
peer_rounds=${BENCH_PEER_ROUNDS:-2}                     # ywmsgd run, peer run, ywmsgd run, peer run, …
peer_paths=${BENCH_PEER_PATHS-"primary replicas cache"}
peer_workloads=${BENCH_PEER_WORKLOADS-"hot longtail"}
peer_pool=${BENCH_PEER_POOL:-16}                        # the peer's pg.Pool max, per pool
peer_note="" peer_pid="" peer_port="" peer_url=""
lt_lo="" n_lt=0 lt_span_days="" lt_min="" lt_max="" lt_share=""
cmp_notes=()

case $peer_rounds in '' | *[!0-9]* | 0) die "BENCH_PEER_ROUNDS must be a positive integer, not '$peer_rounds'" ;; esac
for p in $peer_paths; do
    case $p in primary | replicas | cache) ;; *) die "BENCH_PEER_PATHS: unknown path '$p' (primary, replicas, cache)" ;; esac
done
for w in $peer_workloads; do
    case $w in hot | longtail) ;; *) die "BENCH_PEER_WORKLOADS: unknown workload '$w' (hot, longtail)" ;; esac
done
[ "$peer" = 1 ] || peer_note="BENCH_PEER=$peer: the peer was not run"

cmp_on() { [ -n "$peer_paths" ] && [ -n "$peer_workloads" ]; }
cmp_has_workload() { case " $peer_workloads " in *" $1 "*) return 0 ;; esac; return 1; }

# ---------------------------------------------------------------------------------------------------- install
# The bench installs the peer (never the product's bootstrap): npm ci when node_modules is missing or was
# installed from another lock.
peer_install() {
    [ "$peer" = 1 ] && cmp_on || return 0
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        peer=0 peer_note="node or npm not found: the peer's rows are skipped"
        say "note: $peer_note"; return 0
    fi
    local dir=$root/bench/peer sum
    sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
    [ -d "$dir/node_modules" ] && [ "$(cat "$dir/node_modules/.bench-lock-sha256" 2>/dev/null)" = "$sum" ] && return 0
    say "installing the peer's packages (npm ci in bench/peer)"
    if (cd "$dir" && npm ci --no-audit --no-fund) >"$raw/peer_npm_ci.log" 2>&1; then
        echo "$sum" >"$dir/node_modules/.bench-lock-sha256"
    else
        peer=0 peer_note="npm ci failed in bench/peer (see peer_npm_ci.log): the peer's rows are skipped"
        say "warning: $peer_note"
    fi
}

# ---------------------------------------------------------------------------------------------------- long tail
# The quiet conversations: fewer messages over the data set's span (load.sql: from the first day of the month 24
# months back to now) than days in it. Message counts fall with the heat rank n, so they are the ranks lt_lo..nconv;
# the ranks are a random permutation of the ids, so they are spread over the whole id space.
cmp_prepare_longtail() {
    lt_span_days=$("${psql_pg[@]}" -Atc "SELECT round((extract(epoch FROM now() - (date_trunc('month', now() AT TIME ZONE 'UTC')
        AT TIME ZONE 'UTC' - interval '24 months')) / 86400)::numeric, 1)")
    "${psql_pg[@]}" -Atc "SELECT id FROM bench_conversations WHERE msg_count < $lt_span_days ORDER BY n" >"$raw/longtail_ids.txt"
    local row
    row=$("${psql_pg[@]}" -AtF' ' -c "SELECT count(*), coalesce(min(n), 0), coalesce(min(msg_count), 0), coalesce(max(msg_count), 0),
        coalesce(round(100.0 * sum(msg_count) / (SELECT sum(msg_count) FROM bench_conversations), 1), 0)
        FROM bench_conversations WHERE msg_count < $lt_span_days")
    read -r n_lt lt_lo lt_min lt_max lt_share <<<"$row"
    if [ "$n_lt" = 0 ]; then
        cmp_has_workload longtail && say "warning: no conversation has less than one message a day: longtail skipped"
        cmp_notes+=("longtail not run: no conversation has less than one message a day over the ${lt_span_days}-day span (BENCH_MESSAGES too high?)")
        peer_workloads=$(tr ' ' '\n' <<<"$peer_workloads" | grep -vx longtail | paste -sd' ' || true)
        lt_lo=$nconv; return 0
    fi
    [ "$n_lt" -eq $((nconv - lt_lo + 1)) ] ||
        say "warning: the quiet conversations are not the ranks $lt_lo..$nconv: pgbench's longtail mix differs from wrk's"
    say "long tail: $n_lt conversations with < 1 message a day over ${lt_span_days} days (ranks $lt_lo..$nconv, $lt_min..$lt_max messages each, $lt_share % of all)"
}

# pgbench -M prepared on the longtail mix, each client count of the sweep: the database's ceiling for that workload.
cmp_pgbench_longtail() {
    cmp_on && cmp_has_workload longtail || return 0
    local c
    for c in $pg_clients; do
        pg_hot_pct=0 pg_lo=$lt_lo pgbench_measure prepared+longtail prepared "$c" bench/pgbench/latest50.sql
    done
}

# ---------------------------------------------------------------------------------------------------- servers
# ywmsgd for a path: primary = straight to the primary with named prepared statements, no read replicas;
# replicas = as it ships (reads on the replicas), cache off; cache = as it ships with YW_CACHE_ENABLED=true.
cmp_server() {
    if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    server_pid="" server_note="" rate_limit=true
    case $1 in
    primary) db_path=prepared routing=false cache_on=false ;;
    replicas) db_path=$cmp_db_path0 routing=true cache_on=false ;;
    cache) db_path=$cmp_db_path0 routing=true cache_on=true ;;
    esac
    start_server || { say "warning: $server_note"; return 1; }
}

# The peer for a path: primary = PEER_DATABASE_URL on the primary; replicas = round-robin over both replicas;
# cache = Redis (keys under peer:, so ywmsgd's keys are never touched), misses round-robin on both replicas.
start_peer() {
    local mode=$1 envs code=000
    envs=(PEER_DATABASE_URL="$app_primary_url" PEER_PORT="$peer_port" PEER_POOL_MAX="$peer_pool")
    case $mode in
    replicas) envs+=(PEER_READ_URLS="$replica_urls") ;;
    cache) envs+=(PEER_READ_URLS="$replica_urls" PEER_REDIS_URL="$redis_url" PEER_REDIS_PREFIX=peer:) ;;
    esac
    say "starting the peer on 127.0.0.1:$peer_port (mode $mode, pool $peer_pool)"
    (cd "$root/bench/peer" && exec env "${envs[@]}" node server.js) >>"$raw/peer.log" 2>&1 &
    peer_pid=$!
    for _ in $(seq 1 100); do
        kill -0 "$peer_pid" 2>/dev/null || { peer_pid=""; peer_note="the peer exited at start (see peer.log)"; return 1; }
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $api_key" \
            "$peer_url/v1/conversations/$(head -1 "$raw/conversation_ids.txt")/messages?limit=50" || true)
        [ "$code" = 200 ] && return 0
        sleep 0.2
    done
    peer_note="the peer's probe request did not answer 200 within 20 s (last: $code)"
    stop_peer; return 1
}
stop_peer() {
    [ -n "$peer_pid" ] || return 0
    kill -TERM "$peer_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$peer_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$peer_pid" 2>/dev/null || true
    wait "$peer_pid" 2>/dev/null || true
    peer_pid=""
}

# ---------------------------------------------------------------------------------------------------- check
# Before measuring a path: the same conversation's first page from both servers (the hottest and a quiet one)
# must hold the same rows in the same order; any other difference in the rows is reported.
cmp_check() {
    local path=$1 cid yc pc f
    for cid in $(head -1 "$raw/conversation_ids.txt") $(head -1 "$raw/longtail_ids.txt" 2>/dev/null); do
        f="$raw/check_${path}_${cid:0:8}"
        yc=$(curl -s -o "$f.ywmsgd.json" -w '%{http_code}' -H "X-API-Key: $api_key" "$base_url/v1/conversations/$cid/messages?limit=50" || echo 000)
        pc=$(curl -s -o "$f.peer.json" -w '%{http_code}' -H "X-API-Key: $api_key" "$peer_url/v1/conversations/$cid/messages?limit=50" || echo 000)
        [ "$yc" = 200 ] && [ "$pc" = 200 ] ||
            die "answer check ($path, conversation $cid): ywmsgd answered $yc, the peer $pc (see $f.*.json)"
        if [ "$(jq -c '[.data[].id]' "$f.ywmsgd.json")" != "$(jq -c '[.data[].id]' "$f.peer.json")" ]; then
            die "answer check FAILED ($path, conversation $cid): ywmsgd and the peer returned different rows or order (see $f.*.json)"
        fi
        if [ "$(jq -cS '.data' "$f.ywmsgd.json")" != "$(jq -cS '.data' "$f.peer.json")" ]; then
            say "warning: answer check ($path, $cid): same ids, but the rows' fields differ (see $f.*.json)"
            cmp_notes+=("answer check $path: same ids as ywmsgd, but some field values differ (check_${path}_*.json)")
        fi
        [ "$(jq '.next_cursor == null' "$f.ywmsgd.json")" = "$(jq '.next_cursor == null' "$f.peer.json")" ] ||
            cmp_notes+=("answer check $path: next_cursor null on one side only")
    done
    say "answer check ($path): same rows, same order from both servers"
}

# ---------------------------------------------------------------------------------------------------- runs
cmp_wrk() {  # url hot_pct ids seconds label: bench/wrk/latest50.lua over `ids`, hot_pct % of them to the first nhot
    BENCH_SCENARIO="$5" BENCH_IDS="$3" BENCH_API_KEY="$api_key" BENCH_WRK_DIR="$root/bench/wrk" \
        BENCH_HOT_PCT="$2" BENCH_NHOT="$nhot" \
        wrk -t"$threads" -c"$conns" -d"${4}s" --timeout 10s --latency -s bench/wrk/latest50.lua "$1" >"$raw/wrk_cmp_$5.txt" 2>&1
}
cmp_cache_counters() {  # side → "hits misses" of its first-page cache
    if [ "$1" = ywmsgd ]; then
        curl -s "$base_url/metrics" | awk '$1 == "yw_cache_hits_total{namespace=\"messages\"}" { h = $2 }
            $1 == "yw_cache_misses_total{namespace=\"messages\"}" { m = $2 } END { print h + 0, m + 0 }'
    else
        curl -s "$peer_url/stats" | jq -r '"\(.cache_hits) \(.cache_misses)"' 2>/dev/null || echo "0 0"
    fi
}
cmp_ywmsgd_counters() {  # → "ryw_lookups ryw_rounds latest_count latest_sum_s recent_count recent_sum_s"
    # the read-your-writes lookups and the MGETs they took; the first-page statements without a floor
    # (messages.latest) and with one (messages.recent), with their summed durations (pool wait included)
    curl -s "$base_url/metrics" | awk '$1 == "yw_ryw_lookups_total" { l = $2 } $1 == "yw_ryw_lookup_rounds_total" { r = $2 }
        $1 == "yw_db_query_duration_seconds_count{query=\"messages.latest\"}" { lc = $2 }
        $1 == "yw_db_query_duration_seconds_sum{query=\"messages.latest\"}" { ls = $2 }
        $1 == "yw_db_query_duration_seconds_count{query=\"messages.recent\"}" { rc = $2 }
        $1 == "yw_db_query_duration_seconds_sum{query=\"messages.recent\"}" { rs = $2 }
        END { printf "%d %d %d %.6f %d %.6f\n", l, r, lc, ls, rc, rs }'
}
cmp_row() {  # path workload side round rps p50 p99 non2xx requests cpu_ticks hwm_kb note
    local IFS=$'\t'; echo "$*" >>"$raw/cmp.tsv"
}
# One measured run: the side's cache emptied (cache path), ywmsgd's rate-limit window reset, the same warm-up for
# both sides, then wrk; the server's CPU time (utime + stime) over the run and its VmHWM after it.
cmp_run() {  # side path workload round
    local side=$1 path=$2 wl=$3 r=$4 pid url pct ids label j t0 t1 hwm h0=0 m0=0 h1 m1 before="" after note=""
    label="${path}_${wl}_${side}_r$r"
    if [ "$side" = ywmsgd ]; then pid=$server_pid url=$base_url; else pid=$peer_pid url=$peer_url; fi
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        cmp_row "$path" "$wl" "$side" "$r" - - - - - - - "not run: $side not running"; return 0
    fi
    case $wl in
    hot) pct=$hot_pct ids=$raw/conversation_ids.txt ;;
    longtail) pct=0 ids=$raw/longtail_ids.txt ;;  # uniform over the quiet conversations
    esac
    if [ "$path" = cache ]; then
        local pattern=(--all); [ "$side" = peer ] && pattern=(--pattern 'peer:*')
        "$ywctl" --config "$env_file" cache clear "${pattern[@]}" --yes >>"$raw/cmp_cache_clear.log" 2>&1 ||
            say "warning: could not empty $side's cache (see cmp_cache_clear.log)"
    fi
    [ "$side" = ywmsgd ] && { "$ywctl" --config "$env_file" ratelimit reset "$api_key" --yes >>"$raw/cmp_ratelimit_reset.log" 2>&1 || true; }
    [ "$warmup" -gt 0 ] && { cmp_wrk "$url" "$pct" "$ids" "$warmup" "${label}_warmup" || true; }
    say "compare $path/$wl round $r: $side (${duration}s)"
    [ "$path" = cache ] && read -r h0 m0 < <(cmp_cache_counters "$side")
    [ "$side" = ywmsgd ] && before=$(cmp_ywmsgd_counters)
    t0=$(cpu_ticks "$pid")
    cmp_wrk "$url" "$pct" "$ids" "$duration" "$label" || say "warning: wrk $label failed (see wrk_cmp_$label.txt)"
    t1=$(cpu_ticks "$pid")
    hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    if [ "$path" = cache ]; then
        read -r h1 m1 < <(cmp_cache_counters "$side")
        note=$(awk -v h=$((h1 - h0)) -v m=$((m1 - m0)) 'BEGIN { printf "cache hits %.1f %%", (h + m) ? 100 * h / (h + m) : 0 }')
    fi
    if [ "$side" = ywmsgd ] && [ -n "$before" ]; then
        after=$(cmp_ywmsgd_counters)
        note="${note:+$note; }$(awk -v b="$before" -v a="$after" 'BEGIN {
            split(b, x, " "); split(a, y, " "); for (i = 1; i <= 6; i++) d[i] = y[i] - x[i]; sep = ""
            if (d[2] > 0) { printf "ryw lookups %d in %d MGETs (%.1f each)", d[1], d[2], d[1] / d[2]; sep = "; " }
            if (d[3] > 0) { printf "%sno floor (messages.latest) %d, mean %.1f ms", sep, d[3], 1000 * d[4] / d[3]; sep = "; " }
            if (d[5] > 0) printf "%sfloor (messages.recent) %d, mean %.1f ms", sep, d[5], 1000 * d[6] / d[5] }')"
        note=${note%; }
    fi
    kill -0 "$pid" 2>/dev/null || note="${note:+$note; }$side DIED during the run"
    j=$(sed -n 's/^BENCH_JSON //p' "$raw/wrk_cmp_$label.txt" | tail -1)
    if [ -z "$j" ]; then
        cmp_row "$path" "$wl" "$side" "$r" - - - - - - - "wrk produced no result (wrk_cmp_$label.txt)"; return 0
    fi
    echo "$j" >"$raw/wrk_cmp_$label.json"
    [ "$(jq '.socket_errors | add' <<<"$j")" != 0 ] && note="${note:+$note; }socket errors $(jq -c .socket_errors <<<"$j")"
    [ "$(jq .non2xx <<<"$j")" != 0 ] && note="${note:+$note; }statuses $(jq -c .statuses <<<"$j")"
    cmp_row "$path" "$wl" "$side" "$r" "$(jq .rps <<<"$j")" "$(jq .p50_ms <<<"$j")" "$(jq .p99_ms <<<"$j")" \
        "$(( $(jq .non2xx <<<"$j") + $(jq '.socket_errors | add' <<<"$j") ))" "$(jq .requests <<<"$j")" \
        "$((t1 - t0))" "${hwm:-0}" "${note:--}"
}

# The whole comparison; afterwards ywmsgd is back in the configuration the wrk scenarios start from.
cmp_section() {
    cmp_on || return 0
    [ $server_up = 1 ] || { cmp_notes+=("not run: ywmsgd did not start (${server_note:-?})"); return 0; }
    : >"$raw/cmp.tsv"
    cmp_db_path0=$db_path
    local path wl r ys ps
    for path in $peer_paths; do
        ys=0 ps=0
        cmp_server "$path" && ys=1
        if [ "$peer" = 1 ]; then
            start_peer "$path" && ps=1 || say "warning: $peer_note"
        fi
        [ $ys = 1 ] && [ $ps = 1 ] && cmp_check "$path"
        for wl in $peer_workloads; do
            for r in $(seq 1 "$peer_rounds"); do
                if [ $ys = 1 ]; then cmp_run ywmsgd "$path" "$wl" "$r"
                else cmp_row "$path" "$wl" ywmsgd "$r" - - - - - - - "not run: ${server_note:-ywmsgd did not start}"; fi
                [ "$peer" = 1 ] || continue
                if [ $ps = 1 ]; then cmp_run peer "$path" "$wl" "$r"
                else cmp_row "$path" "$wl" peer "$r" - - - - - - - "not run: $peer_note"; fi
            done
        done
        stop_peer
    done
    cmp_server replicas; db_path=$cmp_db_path0 cache_on=false rate_limit=true routing=true
    "$ywctl" --config "$env_file" ratelimit reset "$api_key" --yes >>"$raw/cmp_ratelimit_reset.log" 2>&1 || true
}

# ---------------------------------------------------------------------------------------------------- report
cmp_report() {
    cmp_on || return 0
    [ -s "$raw/cmp.tsv" ] || { echo "## ywmsgd beside the peer"; echo; printf -- '- %s\n' "${cmp_notes[@]:-not run}"; return 0; }
    local lt_pg lt_c
    read -r lt_pg lt_c _ < <(best prepared+longtail)
    local quiet_in_hot
    quiet_in_hot=$(awk -v h="$hot_pct" -v n="$n_lt" -v t="$nconv" 'BEGIN { printf "%.0f", (100 - h) * n / t }')
    echo "## ywmsgd beside the peer (Fastify + node-postgres + ioredis, one Node process)"
    echo
    echo "Rounds alternate ywmsgd and the peer ($peer_rounds each; req/s of each round, in order); the ratio is ywmsgd's mean"
    echo "over the peer's; p50/p99 are means over rounds, CPU per request is the server process's utime + stime over its"
    echo "runs ÷ requests (PostgreSQL's and Redis's CPU not included), RSS is VmHWM (peak since the path's start)."
    echo
    echo "| path | workload | ywmsgd req/s | peer req/s | ratio | p50 ms ywmsgd / peer | p99 ms ywmsgd / peer | CPU µs/req ywmsgd / peer | RSS MB ywmsgd / peer | non-2xx ywmsgd / peer | note |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    awk -F'\t' -v hz="$(getconf CLK_TCK)" -f "$root/bench/compare_table.awk" "$raw/cmp.tsv"
    echo
    echo "Workloads: **hot** — $hot_pct % of requests to the hottest $nhot conversations (they hold $hot_share % of the messages),"
    echo "the rest uniform over all $nconv (so ≈ $quiet_in_hot % of requests land on quiet conversations); **longtail** — 100 % uniform"
    echo "over the $n_lt quiet conversations (fewer messages than days over the ${lt_span_days}-day span: $lt_min–$lt_max messages each,"
    echo "$lt_share % of all messages; heat ranks $lt_lo–$nconv, a random permutation of the ids, so spread over the id space)."
    echo "Paths: primary — ywmsgd straight to the primary (named prepared statements, DATABASE_READ_REPLICAS empty), the"
    echo "peer's one pool on the primary; replicas — ywmsgd as it ships (database via $cmp_db_path0, reads on the replicas), the"
    echo "peer round-robin over both replicas; cache — ywmsgd with YW_CACHE_ENABLED=true, the peer with Redis (GET, else"
    echo "query a replica and SET … EX 60); both caches emptied before each run, then the same ${warmup}s warm-up."
    echo "ywmsgd runs with its rate limiter (room leased from a Redis script), read-your-writes lookups (each database"
    echo "read asks Redis, in MGETs shared by concurrent reads) and audit log on; the peer has none of them. Peer pool:"
    echo "$peer_pool per pool."
    printf 'pgbench -M prepared, same SQL and mix, best of c = %s: hot %s tps, longtail %s tps.\n' "$pg_clients" \
        "$(awk -v t="$best_prep_tps" -v c="$best_prep_c" 'BEGIN { printf "%.0f (c=%s)", t, c }')" \
        "$(awk -v t="$lt_pg" -v c="$lt_c" 'BEGIN { if (t + 0 > 0) printf "%.0f (c=%s)", t, c; else print "not run" }')"
    [ -n "$peer_note" ] && echo "Peer: $peer_note."
    echo
    echo "Targets (issue 13):"
    echo
    awk -F'\t' -v hz="$(getconf CLK_TCK)" -v pg_hot="$best_prep_tps" -v pg_lt="${lt_pg:-0}" -v mode=targets \
        -f "$root/bench/compare_table.awk" "$raw/cmp.tsv"
    local n
    for n in "${cmp_notes[@]}"; do echo "- note: $n"; done
}
