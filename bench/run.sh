#!/usr/bin/env bash
# run.sh: `make bench` — builds Release, starts a throwaway topology on free ports, loads the data set
# (bench/load.sql), runs pgbench (the database's own ceiling for the latest-50 SQL), compares ywmsgd side by side
# with the bench peer (bench/peer/: Fastify + node-postgres + ioredis; bench/compare.sh) and runs the wrk scenarios
# against ywmsgd, prints the tables and writes them, with the raw outputs, to bench/out/. The topology, ywmsgd and
# the peer are always stopped on exit.
# Knobs (environment): see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

build=${BENCH_BUILD:-build-release}
duration=${BENCH_DURATION:-20}            # seconds of each wrk run
pg_duration=${BENCH_PG_DURATION:-10}      # seconds of each pgbench run
warmup=${BENCH_WARMUP:-5}                 # seconds of unreported warm-up (pgbench, then wrk latest-50)
conns=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}
pg_clients=${BENCH_PG_CLIENTS:-"8 16 32 64"}
pg_modes=${BENCH_PG_MODES:-"prepared extended"}
# Suffixes restart ywmsgd differently for one scenario: *_primary without read replicas (DATABASE_READ_REPLICAS
# empty: every read on DATABASE_URL), *_rl_off without rate limiting (YW_RATE_LIMIT_ENABLED=false).
scenarios=${BENCH_SCENARIOS:-"latest50 latest50_primary get_user post_message get_user_hot get_user_zipf get_user_hot_rl_off"}
messages=${BENCH_MESSAGES:-1050000}
hot_pct=${BENCH_HOT_PCT:-50}              # % of latest-50 requests that go to the hottest 1 % of conversations
db_path=${BENCH_DB_PATH:-pgbouncer}       # ywmsgd's DATABASE_URL: pgbouncer (as cluster.env; named prepared statements
                                          # on the direct node pools, the product default), direct (primary, every
                                          # statement unnamed: YW_DB_PREPARE=false), or prepared (primary, named)
log_level=${BENCH_LOG_LEVEL:-warn}
jobs=${BENCH_JOBS:-$(nproc)}
skip_build=${BENCH_SKIP_BUILD:-0}
# The cache: off for the database-path scenarios (they measure the database path); the server is restarted
# with it on for get_user_hot* (every answer a hit) and get_user_zipf (skewed: the hit rate target).
cache_scenarios="get_user_hot get_user_zipf"
micro=${BENCH_MICRO:-1}                   # 1: run the Google Benchmark micro-benchmarks (bench/micro) first
window_days=${BENCH_PG_WINDOW_DAYS:-0}    # > 0: also pgbench the SQL bounded to the last N days
nconv=10000 nhot=100

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$root/bench/out"
raw="$out/$stamp"
mkdir -p "$raw"
ln -sfn "$stamp" "$out/latest"

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }
for tool in wrk pgbench psql jq curl ss; do command -v "$tool" >/dev/null || die "$tool is missing (scripts/bootstrap.sh installs it)"; done
case $db_path in pgbouncer|direct|prepared) ;; *) die "BENCH_DB_PATH must be pgbouncer, direct or prepared, not '$db_path'";; esac
# The side-by-side comparison with the peer (BENCH_PEER*): its knobs and functions.
source bench/compare.sh

# ---------------------------------------------------------------------------------------------------- build
if [ "$skip_build" != 1 ]; then
    say "building Release into $build (-j$jobs)"
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DYW_BUILD_TESTS=OFF >"$raw/build.log" 2>&1 &&
        cmake --build "$build" -j "$jobs" >>"$raw/build.log" 2>&1 || { tail -30 "$raw/build.log" >&2; die "build failed (log: $raw/build.log)"; }
fi
case $build in /*) bdir=$build ;; *) bdir=$root/$build ;; esac
ywctl="$bdir/ywctl"
ywmsgd="$bdir/ywmsgd"
[ -x "$ywctl" ] || die "$ywctl not built"

# ---------------------------------------------------------------------------------------------------- micro
# Before the topology starts, so nothing of ours competes with them.
if [ "$micro" = 1 ] && [ -x "$bdir/yw_micro_bench" ]; then
    say "micro-benchmarks (bench/micro)"
    "$bdir/yw_micro_bench" --benchmark_out="$raw/micro.json" --benchmark_out_format=json >"$raw/micro.txt" 2>&1 ||
        say "warning: yw_micro_bench failed (see micro.txt)"
fi
peer_install

# ---------------------------------------------------------------------------------------------------- cleanup
tmp=""
cluster_dir=""
server_pid=""
sampler_pid=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null
    stop_peer
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$cluster_dir" ] && [ -e "$cluster_dir" ]; then
        say "destroying the topology in $cluster_dir"
        "$ywctl" cluster destroy --yes --dir "$cluster_dir" >"$raw/destroy.log" 2>&1 ||
            say "warning: 'ywctl cluster destroy' failed (see $raw/destroy.log)"
    fi
    [ -n "$tmp" ] && rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------------- ports
# Any TCP socket on the port, listening or not (an outgoing connection's local port blocks a bind too).
port_free() { ! ss -Htan "sport = :$1" 2>/dev/null | grep -q .; }
# Bases from 17000 up to below the kernel's ephemeral range, so outgoing connections rarely collide.
eph_low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
pick_base() {  # primary N, replicas N+1/N+2, PgBouncer N+1000, Redis N+947, S3 N+948/949, ywmsgd N+3, the peer N+4
    local lo=17000 slots base p ok
    slots=$(( (eph_low - 1001 - lo) / 10 ))
    [ "$slots" -gt 0 ] || { lo=20000; slots=4000; }
    local start=$(( RANDOM % slots ))
    for ((i = 0; i < slots; i++)); do
        base=$(( lo + ((start + i) % slots) * 10 ))
        ok=1
        for p in $base $((base + 1)) $((base + 2)) $((base + 3)) $((base + 4)) $((base + 947)) $((base + 948)) $((base + 949)) $((base + 1000)); do
            port_free "$p" || { ok=0; break; }
        done
        [ $ok = 1 ] && { echo "$base"; return 0; }
    done
    return 1
}
base=$(pick_base) || die "no free port range found"
http_port=$((base + 3))
peer_port=$((base + 4)) peer_url="http://127.0.0.1:$((base + 4))"

# ---------------------------------------------------------------------------------------------------- topology
tmp=$(mktemp -d /tmp/ywbench.XXXXXX)
chmod 755 "$tmp"   # the postgres system user must reach the topology when we are root
cluster_dir="$tmp/cluster"
say "starting the topology in $cluster_dir (ports $base.., PgBouncer $((base + 1000)), Redis $((base + 947)))"
"$ywctl" cluster up --dir "$cluster_dir" --port-base "$base" >"$raw/cluster_up.log" 2>&1 ||
    { tail -20 "$raw/cluster_up.log" >&2; die "cluster up failed"; }
env_file="$cluster_dir/cluster.env"
"$ywctl" --config "$env_file" db migrate >"$raw/migrate.log" 2>&1 || { cat "$raw/migrate.log" >&2; die "migrate failed"; }
"$ywctl" --config "$env_file" partitions ensure --ahead 2 >>"$raw/migrate.log" 2>&1 || true

admin_token=$(sed -n 's/^YW_ADMIN_TOKEN=//p' "$env_file" | tr -d "\"'")
pgb_url=$(sed -n 's/^DATABASE_URL=//p' "$env_file" | tr -d "\"'")
direct_url=$(printf '%s' "$pgb_url" | sed "s/:$((base + 1000))\//:$base\//")
# The peer's connections: app_user on the primary and on each replica, and Redis, as cluster.env gives them.
app_primary_url=$(sed -n 's/^DATABASE_PRIMARY_URL=//p' "$env_file" | tr -d "\"'")
[ -n "$app_primary_url" ] || app_primary_url=$direct_url
replica_urls=$(sed -n 's/^DATABASE_READ_REPLICAS=//p' "$env_file" | tr -d "\"'" | tr ',' '\n' | sed 's/^[^=]*=//' | paste -sd,)
redis_url=$(sed -n 's/^REDIS_URL=//p' "$env_file" | tr -d "\"'")
psql_pg=(psql -X -q -h 127.0.0.1 -p "$base" -U postgres -d ywmessaging -v ON_ERROR_STOP=1)
since=$(date -u -d "-${window_days} days" +%Y-%m-%dT%H:%M:%SZ)

# ---------------------------------------------------------------------------------------------------- server
server_note=""
start_server() {
    [ -x "$ywmsgd" ] || { server_note="ywmsgd not built"; return 1; }
    local url=$pgb_url prepare=true replicas=()
    [ "$db_path" != pgbouncer ] && url=$direct_url
    [ "$db_path" = direct ] && prepare=false
    [ "$routing" = false ] && replicas=(DATABASE_READ_REPLICAS=)   # the environment wins over cluster.env
    say "starting ywmsgd on 127.0.0.1:$http_port (database via $db_path; cache $cache_on, rate limiting $rate_limit, read replicas $routing)"
    env "${replicas[@]}" DATABASE_URL="$url" YW_DB_PREPARE="$prepare" YW_HTTP_PORT="$http_port" YW_HTTP_HOST=127.0.0.1 \
        YW_LOG_LEVEL="$log_level" YW_RATE_LIMIT_ENABLED="$rate_limit" YW_CACHE_ENABLED="$cache_on" \
        "$ywmsgd" --config "$env_file" >>"$raw/ywmsgd.log" 2>&1 &
    server_pid=$! server_started=$(date +%s)
    for _ in $(seq 1 100); do
        kill -0 "$server_pid" 2>/dev/null || { server_note="ywmsgd exited at start (see ywmsgd.log)"; server_pid=""; return 1; }
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/health")" = 200 ] && return 0
        sleep 0.2
    done
    server_note="ywmsgd /health not 200 within 20 s"
    return 1
}
server_up=0 cache_on=false rate_limit=true routing=true
start_server && server_up=1 || say "warning: $server_note; the wrk half will be skipped"
base_url="http://127.0.0.1:$http_port"

# ---------------------------------------------------------------------------------------------------- tenant + key
# Through the real admin API when it works, else `ywctl demo seed` (same tables, a real key either way).
tenant_id="" api_key="" key_source=""
if [ $server_up = 1 ]; then
    t=$(curl -s -X POST "$base_url/admin/tenants" -H "Authorization: Bearer $admin_token" \
            -H 'Content-Type: application/json' -d '{"name":"Bench Church"}' || true)
    tid=$(jq -r '.id // empty' <<<"$t" 2>/dev/null || true)
    if [ -n "$tid" ]; then
        k=$(curl -s -X POST "$base_url/admin/tenants/$tid/api-keys" -H "Authorization: Bearer $admin_token" \
                -H 'Content-Type: application/json' -d '{"tier":"enterprise","name":"bench"}' || true)
        key=$(jq -r '.api_key // empty' <<<"$k" 2>/dev/null || true)
        [ -n "$key" ] && { tenant_id=$tid api_key=$key key_source="admin API"; }
    fi
fi
if [ -z "$api_key" ]; then
    seed=$("$ywctl" --config "$env_file" --json demo seed --name "Bench Church" --tier enterprise) || die "demo seed failed"
    tenant_id=$(jq -r .tenant_id <<<"$seed") api_key=$(jq -r .api_key <<<"$seed") key_source="ywctl demo seed"
fi
say "tenant $tenant_id, key made through $key_source"
# Rate limiting stays on (every request runs the Redis script) but must not throttle the load: enterprise is
# 10000/min, so the bench key gets a burst of 1,000,000 requests (RB-16 4b).
"$ywctl" --config "$env_file" ratelimit burst "$api_key" 1000000 --yes >"$raw/burst.log" 2>&1 ||
    say "warning: could not raise the bench key's burst (see burst.log): expect 429s"

# ---------------------------------------------------------------------------------------------------- data
say "loading the data set (~$messages messages)"
t0=$(date +%s)
"${psql_pg[@]}" -v tenant_id="$tenant_id" -v messages="$messages" -f bench/load.sql >"$raw/load.log" 2>&1 ||
    { tail -20 "$raw/load.log" >&2; die "load failed"; }
load_s=$(( $(date +%s) - t0 ))
n_messages=$("${psql_pg[@]}" -Atc "SELECT count(*) FROM conversation_message")
hot_share=$("${psql_pg[@]}" -Atc "SELECT round(100.0 * sum(msg_count) FILTER (WHERE n <= $nhot) / sum(msg_count), 1) FROM bench_conversations")
n_parts=$("${psql_pg[@]}" -Atc "SELECT count(*) FROM pg_inherits WHERE inhparent = 'conversation_message'::regclass")
db_size=$("${psql_pg[@]}" -Atc "SELECT pg_size_pretty(pg_database_size('ywmessaging'))")
"${psql_pg[@]}" -Atc "SELECT id FROM bench_conversations ORDER BY n" >"$raw/conversation_ids.txt"
"${psql_pg[@]}" -Atc "SELECT id FROM bench_users ORDER BY n" >"$raw/user_ids.txt"
say "loaded $n_messages messages into $n_parts partitions in ${load_s}s (hottest 1 % of conversations: $hot_share %; database $db_size)"
cmp_prepare_longtail

# ---------------------------------------------------------------------------------------------------- pgbench
# Latency percentiles from pgbench's per-transaction log (third field: microseconds).
log_pcts() { cat "$@" 2>/dev/null | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {
    if (NR == 0) { print "- -"; exit }
    i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
    printf "%.2f %.2f\n", a[i50] / 1000, a[i99] / 1000 }'; }
pgbench_run() {  # mode clients seconds label [script]; pg_hot_pct / pg_lo (environment) change the mix
    local mode=$1 c=$2 secs=$3 label=$4 script=${5:-bench/pgbench/latest50.sql} j=$threads
    [ "$c" -lt "$j" ] && j=$c
    rm -f "$raw/pglog_$label".*
    pgbench -h 127.0.0.1 -p "$base" -U postgres -n -M "$mode" -c "$c" -j "$j" -T "$secs" \
        -D tenant="$tenant_id" -D hot_pct="${pg_hot_pct:-$hot_pct}" -D lo="${pg_lo:-1}" -D nconv="$nconv" -D nhot="$nhot" -D since="$since" \
        -l --log-prefix="$raw/pglog_$label" -f "$script" ywmessaging >"$raw/pgbench_$label.txt" 2>&1
}
# CPU busy % of the whole machine over 3 s while our topology is idle: other engineers' compiles, etc.
background_cpu() {
    local a b
    a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat); sleep 3
    b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); busy = y[1] - x[1]; idle = y[2] - x[2]
        printf "%.0f\n", ((busy + idle) > 0 ? 100 * busy / (busy + idle) : 0) }'
}
# Let the replicas replay the load's WAL and flush it, so neither runs during the measurements.
for _ in $(seq 1 120); do
    lag=$("${psql_pg[@]}" -Atc "SELECT count(*) FROM pg_stat_replication WHERE replay_lsn IS NULL OR replay_lsn < pg_current_wal_lsn()")
    [ "$lag" = 0 ] && break
    sleep 1
done
"${psql_pg[@]}" -c CHECKPOINT
# BENCH_WAIT_QUIET=S: wait up to S seconds for other work on the machine to drop below 30 % CPU.
quiet_deadline=$(( $(date +%s) + ${BENCH_WAIT_QUIET:-0} ))
while :; do
    background_cpu >"$raw/background_cpu_before"
    [ "$(cat "$raw/background_cpu_before")" -lt 30 ] || [ "$(date +%s)" -ge "$quiet_deadline" ] && break
    say "machine busy ($(cat "$raw/background_cpu_before") % CPU); waiting for it to quiet down"
done
say "background CPU busy before the measurements: $(cat "$raw/background_cpu_before") %"
say "pgbench warm-up (${warmup}s)"
pgbench_run prepared 8 "$warmup" warmup || true
rm -f "$raw"/pglog_warmup.*
printf 'mode\tclients\ttps\tavg_ms\tp50_ms\tp99_ms\tfailed\n' >"$raw/pgbench.tsv"
pgbench_measure() {  # variant mode clients script → one line of pgbench.tsv
    local variant=$1 mode=$2 c=$3 script=$4 f tps avg failed p50 p99
    say "pgbench $variant -c $c (${pg_duration}s)"
    pgbench_run "$mode" "$c" "$pg_duration" "${variant}_c$c" "$script" || say "warning: pgbench $variant -c $c failed (see pgbench_${variant}_c$c.txt)"
    f="$raw/pgbench_${variant}_c$c.txt"
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$f" | head -1)
    avg=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$f" | head -1)
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$f" | head -1)
    grep -q 'aborted' "$f" && failed="aborted"
    read -r p50 p99 < <(log_pcts "$raw/pglog_${variant}_c$c".*)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$variant" "$c" "${tps:-0}" "${avg:--}" "$p50" "$p99" "${failed:-?}" \
        >>"$raw/pgbench.tsv"
    gzip -f "$raw/pglog_${variant}_c$c".* 2>/dev/null || true
}
# Variants: the plain SQL in every mode; with BENCH_PG_WINDOW_DAYS, also the windowed SQL (mode "<mode>+window").
variants=""
for mode in $pg_modes; do variants="$variants $mode"; done
if [ "$window_days" -gt 0 ]; then for mode in $pg_modes; do variants="$variants $mode+window"; done; fi
for variant in $variants; do
    mode=${variant%+window} script=bench/pgbench/latest50.sql
    [ "$variant" != "$mode" ] && script=bench/pgbench/latest50_window.sql
    for c in $pg_clients; do pgbench_measure "$variant" "$mode" "$c" "$script"; done
done
cmp_pgbench_longtail   # the long-tail mix, -M prepared: the database's ceiling for that workload
best() {  # mode → "tps clients p50 p99" of the best run of that mode
    awk -F'\t' -v m="$1" 'NR > 1 && $1 == m && $7 == "0" && $3 + 0 > b { b = $3 + 0; l = $3 " " $2 " " $5 " " $6 }
        END { print (l == "" ? "0 - - -" : l) }' "$raw/pgbench.tsv"
}
read -r best_prep_tps best_prep_c best_prep_p50 best_prep_p99 < <(best prepared)
read -r best_ext_tps best_ext_c best_ext_p50 best_ext_p99 < <(best extended)

# ---------------------------------------------------------------------------------------------------- wrk
rss_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$server_pid/status" 2>/dev/null || echo 0; }
sample_rss() {  # max VmRSS (kB) while it runs, into $1
    local max=0 v
    while :; do
        v=$(rss_kb VmRSS); v=${v:-0}
        [ "$v" -gt "$max" ] && { max=$v; echo "$max" >"$1"; }
        sleep 0.5
    done
}
# CPU time (user + system, in clock ticks) a process has used so far; 0 when it is gone.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
redis_pid() { pgrep -f "redis-server .*:$((base + 947))" | head -1; }
wrk_run() {  # scenario ids_file seconds label → raw/wrk_<label>.txt
    local s=$1 ids=$2 secs=$3 label=$4
    BENCH_SCENARIO=$s BENCH_IDS="$ids" BENCH_API_KEY="$api_key" BENCH_WRK_DIR="$root/bench/wrk" \
        BENCH_HOT_PCT="$hot_pct" BENCH_NHOT="$nhot" \
        wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 10s --latency -s "bench/wrk/$(script_of "$s").lua" "$base_url" \
        >"$raw/wrk_$label.txt" 2>&1
}
probe() {  # scenario → HTTP status of one request of that kind
    local cid uid
    cid=$(head -1 "$raw/conversation_ids.txt") uid=$(head -1 "$raw/user_ids.txt")
    case $1 in
    latest50*) curl -s -o "$raw/probe_$1.json" -w '%{http_code}' -H "X-API-Key: $api_key" "$base_url/v1/conversations/$cid/messages?limit=50" ;;
    get_user*) curl -s -o "$raw/probe_$1.json" -w '%{http_code}' -H "X-API-Key: $api_key" "$base_url/v1/users/$uid" ;;
    health) curl -s -o "$raw/probe_$1.json" -w '%{http_code}' "$base_url/health" ;;
    post_message) curl -s -o "$raw/probe_$1.json" -w '%{http_code}' -H "X-API-Key: $api_key" -H 'Content-Type: application/json' \
        -d '{"content":"bench probe","direction":"outbound","channel":"sms"}' "$base_url/v1/conversations/$cid/messages" ;;
    esac
}
# ywmsgd logs the signal that stopped it: a SIGTERM from outside is not a crash.
stop_signal() {
    local sig
    sig=$(grep -o '"msg":"stopping","signal":[0-9]*' "$raw/ywmsgd.log" 2>/dev/null | grep -o '[0-9]*$' | head -1)
    if [ -n "$sig" ]; then echo ", after receiving signal $sig from another process"
    elif [ "${1:-}" = 0 ]; then echo ", a clean exit: most likely a SIGTERM from another process"; fi
}
# A scenario's wrk script: its name without the server suffixes.
script_of() { local b=${1%_rl_off}; echo "${b%_primary}"; }
# The cache's counter of the users namespace at /metrics (hits, misses).
cache_counter() { curl -s "$base_url/metrics" | awk -v m="yw_cache_$1_total{namespace=\"users\"}" '$1 == m { print $2 }'; }
# The server a scenario needs: "cache rate_limit routing".
scenario_config() {
    local c=false r=true p=true b
    b=$(script_of "$1")
    case " $cache_scenarios " in *" $b "*) c=true ;; esac
    [ "${1%_rl_off}" != "$1" ] && r=false
    [ "${1%_primary}" != "$1" ] && p=false
    echo "$c $r $p"
}
# Restarts ywmsgd when the scenario needs another configuration; turning the cache on starts from an empty one.
reconfigure() {
    local c r p was_cached=$cache_on
    read -r c r p < <(scenario_config "$1")
    [ "$c $r $p" = "$cache_on $rate_limit $routing" ] && return 0
    kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true
    cache_on=$c rate_limit=$r routing=$p
    start_server || { say "warning: $server_note"; return 1; }
    if [ "$cache_on" = true ] && [ "$was_cached" = false ]; then
        "$ywctl" --config "$env_file" cache clear --all --yes >"$raw/cache_clear.log" 2>&1 || true
    fi
}
# ---------------------------------------------------------------------------------------------------- peer
# ywmsgd beside the peer, path × workload (bench/compare.sh), before the wrk scenarios: post_message would add
# recent messages to the quiet conversations of the long tail. ywmsgd is left as the scenarios start it.
cmp_section

# One line per scenario: scenario rps p50 p99 non2xx rss_peak_mb hwm_mb note
: >"$raw/wrk.tsv"
for s in $scenarios; do
    ids="$raw/conversation_ids.txt"; [ "${s#get_user}" != "$s" ] && ids="$raw/user_ids.txt"
    [ $server_up = 1 ] && { reconfigure "$s" || true; }
    if [ $server_up = 1 ] && [ -z "$server_note" ] && ! kill -0 "$server_pid" 2>/dev/null; then
        st=0; wait "$server_pid" 2>/dev/null || st=$?
        server_note="ywmsgd exited with status $st after $(( $(date +%s) - server_started ))s$(stop_signal "$st")"
        say "warning: $server_note"
    fi
    if [ $server_up != 1 ] || ! kill -0 "$server_pid" 2>/dev/null; then
        printf '%s\t-\t-\t-\t-\t-\t-\t%s\n' "$s" "not run: ${server_note:-ywmsgd not running}" >>"$raw/wrk.tsv"; continue
    fi
    code=$(probe "$s" || echo 000)
    if [ "${code:0:1}" != 2 ]; then
        say "warning: $s probe answered $code; not measured"
        printf '%s\t-\t-\t-\t-\t-\t-\t%s\n' "$s" "not run: endpoint answered $code" >>"$raw/wrk.tsv"; continue
    fi
    if [ "$(script_of "$s")" = latest50 ] && [ "$warmup" -gt 0 ]; then
        say "wrk $s warm-up (${warmup}s)"; wrk_run "$s" "$ids" "$warmup" "${s}_warmup" || true
    fi
    say "wrk $s: $conns connections, $threads threads, ${duration}s"
    echo 0 >"$raw/rss_$s.kb"
    sample_rss "$raw/rss_$s.kb" & sampler_pid=$!
    hits0=$(cache_counter hits) misses0=$(cache_counter misses)
    rpid=$(redis_pid); server_cpu0=$(cpu_ticks "$server_pid") redis_cpu0=$(cpu_ticks "${rpid:-0}")
    wrk_run "$s" "$ids" "$duration" "$s" || say "warning: wrk $s failed (see wrk_$s.txt)"
    server_cpu=$(( $(cpu_ticks "$server_pid") - server_cpu0 )) redis_cpu=$(( $(cpu_ticks "${rpid:-0}") - redis_cpu0 ))
    kill "$sampler_pid" 2>/dev/null; wait "$sampler_pid" 2>/dev/null || true; sampler_pid=""
    hit_note=""
    if [ "$cache_on" = true ]; then
        hits=$(( $(cache_counter hits) - ${hits0:-0} )) misses=$(( $(cache_counter misses) - ${misses0:-0} ))
        hit_note=$(awk -v h="$hits" -v m="$misses" 'BEGIN { printf "cache hit rate %.1f %% (%d hits, %d misses)", (h + m) ? 100 * h / (h + m) : 0, h, m }')
        echo "$hit_note" >"$raw/cache_$s.txt"
    fi
    [ "$s" = latest50 ] && curl -s "$base_url/metrics/queries" >"$raw/metrics_queries_after_latest50.json" || true
    curl -s "$base_url/metrics" >"$raw/metrics_after_$s.txt" 2>/dev/null || true
    j=$(sed -n 's/^BENCH_JSON //p' "$raw/wrk_$s.txt" | tail -1)
    if [ -z "$j" ]; then
        printf '%s\t-\t-\t-\t-\t-\t-\t%s\n' "$s" "wrk produced no result (see wrk_$s.txt)" >>"$raw/wrk.tsv"; continue
    fi
    echo "$j" >"$raw/wrk_$s.json"
    # CPU per request (µs) of ywmsgd and of Redis over the run: steadier than requests/s on a shared machine,
    # where wrk and the servers compete for the same cores.
    cpu_note=$(awk -v a="$server_cpu" -v b="$redis_cpu" -v n="$(jq .requests <<<"$j")" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { if (n > 0) printf "CPU per request: ywmsgd %.1f µs, Redis %.1f µs", 1e6 * a / hz / n, 1e6 * b / hz / n }')
    echo "$server_cpu $redis_cpu $(jq .requests <<<"$j")" >"$raw/cpu_$s.txt"
    note="$hit_note"; [ -n "$cpu_note" ] && note="${note:+$note; }$cpu_note"
    socket=$(jq '.socket_errors | add' <<<"$j")
    [ "$(jq .non2xx <<<"$j")" != 0 ] && note="${note:+$note; }ERRORS: $(jq -c .statuses <<<"$j")"
    [ "$socket" != 0 ] && note="${note:+$note; }SOCKET ERRORS: $(jq -c .socket_errors <<<"$j")"
    if ! kill -0 "$server_pid" 2>/dev/null; then
        st=0; wait "$server_pid" 2>/dev/null || st=$?
        server_note="ywmsgd exited with status $st during wrk $s$(stop_signal "$st")"
        note="${note:+$note; }SERVER DIED (exit status $st$([ "$st" -gt 128 ] && echo ", signal $((st - 128))")$(stop_signal "$st"))"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$(jq .rps <<<"$j")" "$(jq .p50_ms <<<"$j")" "$(jq .p99_ms <<<"$j")" \
        "$(jq .non2xx <<<"$j")" "$(awk '{printf "%.1f", $1 / 1024}' "$raw/rss_$s.kb")" \
        "$(awk '{printf "%.1f", $1 / 1024}' <<<"$(rss_kb VmHWM)")" "$note" >>"$raw/wrk.tsv"
done
[ -n "$server_pid" ] && curl -s "$base_url/metrics/queries" >"$raw/metrics_queries.json" 2>/dev/null || true
background_cpu >"$raw/background_cpu_after"
say "background CPU busy after the measurements: $(cat "$raw/background_cpu_after") %"
[ -n "$server_pid" ] && grep -E '^Vm(RSS|HWM)' "/proc/$server_pid/status" >"$raw/ywmsgd_status.txt" 2>/dev/null || true

# ---------------------------------------------------------------------------------------------------- table
label() {
    case $1 in
    latest50) echo "wrk GET latest-50, reads on the replicas (c=$conns)" ;;
    latest50_primary) echo "wrk GET latest-50, primary only: no read replicas (c=$conns)" ;;
    get_user) echo "wrk GET user, database path: cache off (c=$conns)" ;;
    get_user_hot) echo "wrk GET user, cache hits: $nhot hot users (c=$conns)" ;;
    get_user_zipf) echo "wrk GET user, cache on, Zipf s=${BENCH_ZIPF_S:-1.0} over 10 000 users (c=$conns)" ;;
    get_user_hot_rl_off) echo "wrk GET user, cache hits, rate limiting off (c=$conns)" ;;
    *_rl_off) echo "$(label "${1%_rl_off}"), rate limiting off" ;;
    post_message) echo "wrk POST message (c=$conns)" ;;
    health) echo "wrk GET /health (c=$conns)" ;;
    *) echo "$1" ;;
    esac
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
{
    echo "| scenario | requests/s | p50 ms | p99 ms | non-2xx | ratio to pgbench best | server RSS MB (peak / HWM) | note |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    printf '| pgbench latest-50 -M prepared (best: c=%s) | %.1f | %s | %s | 0 | 1.00 | - | direct to primary |\n' \
        "$best_prep_c" "$best_prep_tps" "$best_prep_p50" "$best_prep_p99"
    [ "$best_ext_c" != - ] &&
        printf '| pgbench latest-50 -M extended (best: c=%s) | %.1f | %s | %s | 0 | %s | - | direct to primary, planned every time |\n' \
            "$best_ext_c" "$best_ext_tps" "$best_ext_p50" "$best_ext_p99" "$(ratio "$best_ext_tps" "$best_prep_tps")"
    for v in $variants; do
        case $v in *+window) ;; *) continue ;; esac
        read -r t c p50 p99 < <(best "$v")
        printf '| pgbench latest-50 -M %s (last %s days; best: c=%s) | %.1f | %s | %s | 0 | %s | - | direct to primary; fewer rows for quiet conversations |\n' \
            "$v" "$window_days" "$c" "$t" "$p50" "$p99" "$(ratio "$t" "$best_prep_tps")"
    done
    while IFS=$'\t' read -r s rps p50 p99 non2xx rss hwm note; do
        r="-"; [ "$(script_of "$s")" = latest50 ] && r=$(ratio "$rps" "$best_prep_tps")
        mem="-"; [ "$rss" != "-" ] && mem="$rss / $hwm"
        printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(label "$s")" \
            "$(awk -v v="$rps" 'BEGIN{ if (v == "-") print v; else printf "%.1f", v }')" \
            "$(awk -v v="$p50" 'BEGIN{ if (v == "-") print v; else printf "%.2f", v }')" \
            "$(awk -v v="$p99" 'BEGIN{ if (v == "-") print v; else printf "%.2f", v }')" "$non2xx" "$r" "$mem" "$note"
    done <"$raw/wrk.tsv"
} >"$raw/table.md"

# Targets: ywmsgd against pgbench on the same SQL.
targets() {
    local line rps p50 p99 non2xx rss hwm note
    line=$(awk -F'\t' '$1 == "latest50"' "$raw/wrk.tsv")
    if [ -z "$line" ] || [ "$(cut -f2 <<<"$line")" = "-" ]; then
        echo "- latest-50 targets: not measured ($(if [ -n "$line" ]; then cut -f8 <<<"$line"; else echo "scenario not in BENCH_SCENARIOS"; fi))"
    else
        IFS=$'\t' read -r _ rps p50 p99 non2xx rss hwm note <<<"$line"
        awk -v r="$rps" -v b="$best_prep_tps" -v p="$p99" -v e="$non2xx" -v c="$conns" 'BEGIN {
            ok = (b > 0 && r / b >= 0.5 && e == 0); pct = (b > 0) ? 100 * r / b : 0
            printf("- %s latest-50 ≥ 50 %% of pgbench -M prepared best: %.0f / %.0f = %.0f %%%s\n", ok ? "✓" : "✗", r, b, pct, e == 0 ? "" : " (run had errors)")
            ok = (p <= 10 && e == 0); printf("- %s latest-50 p99 ≤ 10 ms at %s connections: %.2f ms\n", ok ? "✓" : "✗", c, p) }'
    fi
    local maxrss
    maxrss=$(awk -F'\t' '$7 != "-" && $7 + 0 > m { m = $7 + 0 } END { print m + 0 }' "$raw/wrk.tsv")
    if [ "$maxrss" = 0 ]; then echo "- server RSS ≤ 100 MB: not measured"
    else awk -v m="$maxrss" 'BEGIN { printf "- %s server RSS ≤ 100 MB: peak (VmHWM) %.1f MB\n", m <= 100 ? "✓" : "✗", m }'; fi
    # Routing: GET latest-50 with reads on the two replicas, beside primary-only; the routing decision < 2 %.
    local rep prim
    rep=$(rps_of latest50) prim=$(rps_of latest50_primary)
    if [ -z "$rep" ] || [ -z "$prim" ]; then
        echo "- latest-50 over two replicas beside primary-only: not measured (needs latest50 and latest50_primary without errors)"
    else
        awk -v a="$rep" -v b="$prim" 'BEGIN { printf "- latest-50, reads on two replicas vs primary only: %.0f / %.0f req/s = %.2f× (reported, no target)\n", a, b, a / b }'
    fi
    local decision
    decision=$(jq -r "$jq_ns"' [.benchmarks[] | select(.name == "BM_ReadDecision/threads:1") | .real_time * ns] | first // empty' "$raw/micro.json" 2>/dev/null || true)
    if [ -z "$decision" ] || [ -z "$rep" ]; then
        echo "- routing decision < 2 % of a latest-50 request: not measured (needs BM_ReadDecision and latest50)"
    else  # a request's CPU budget: every core for 1/rps seconds
        awk -v d="$decision" -v r="$rep" -v n="$(nproc)" 'BEGIN { budget = 1e9 * n / r; c = 100 * d / budget
            printf "- %s routing decision < 2 %% of a latest-50 request: %.0f ns of %.0f µs of CPU per request = %.3f %%\n", c < 2 ? "✓" : "✗", d, budget / 1000, c }'
    fi
    # Rate limiting on (every request runs the Redis script) costs ≤ 10 % throughput against off,
    # on the cache-hit path: each X_rl_off against X.
    local s on off any=0
    for s in $(awk -F'\t' '$1 ~ /_rl_off$/ { print $1 }' "$raw/wrk.tsv"); do
        on=$(rps_of "${s%_rl_off}") off=$(rps_of "$s") any=1
        if [ -z "$on" ] || [ -z "$off" ]; then
            echo "- rate limiting cost ≤ 10 %: not measured (needs ${s%_rl_off} and $s without errors)"
        else
            awk -v a="$on" -v b="$off" -v w="${s%_rl_off}" 'BEGIN { c = 100 * (1 - a / b); printf "- %s rate limiting costs ≤ 10 %% throughput (%s): on %.0f / off %.0f req/s = %.1f %% cost\n", c <= 10 ? "✓" : "✗", w, a, b, c }'
            # The same cost as CPU per request of ywmsgd + Redis (wrk's share left out).
            [ -s "$raw/cpu_${s%_rl_off}.txt" ] && [ -s "$raw/cpu_$s.txt" ] &&
                awk -v on="$(cat "$raw/cpu_${s%_rl_off}.txt")" -v off="$(cat "$raw/cpu_$s.txt")" -v hz="$(getconf CLK_TCK)" 'BEGIN {
                    split(on, a, " "); split(off, b, " "); if (a[3] == 0 || b[3] == 0) exit
                    x = 1e6 * (a[1] + a[2]) / hz / a[3]; y = 1e6 * (b[1] + b[2]) / hz / b[3]
                    printf "  (CPU per request, ywmsgd + Redis: on %.1f µs, off %.1f µs: %+.1f %%)\n", x, y, 100 * (x / y - 1) }'
        fi
    done
    [ $any = 1 ] || echo "- rate limiting cost ≤ 10 %: not measured (no *_rl_off scenario in BENCH_SCENARIOS)"
}
# Google Benchmark's JSON: a time in its time_unit → ns.
jq_ns='def ns: {"ns": 1, "us": 1000, "ms": 1000000, "s": 1000000000}[.time_unit // "ns"];'
# A scenario's requests/s when it ran without errors, else nothing.
rps_of() { awk -F'\t' -v s="$1" '$1 == s && $5 == 0 && $2 != "-" { print $2 }' "$raw/wrk.tsv"; }
# Cache targets: a cache hit ≥ 3× the database path; ≥ 80 % hits on the skewed workload.
cache_targets() {
    local db hot zipf rate
    db=$(awk -F'\t' '$1 == "get_user" { print $2 }' "$raw/wrk.tsv")
    hot=$(awk -F'\t' '$1 == "get_user_hot" { print $2 }' "$raw/wrk.tsv")
    if [ -z "$db" ] || [ -z "$hot" ] || [ "$db" = - ] || [ "$hot" = - ]; then
        echo "- cache hit ≥ 3× the database path: not measured (needs get_user and get_user_hot in BENCH_SCENARIOS)"
    else
        awk -v h="$hot" -v d="$db" 'BEGIN { r = h / d; printf "- %s cache-hit GET user ≥ 3× the database path: %.0f / %.0f = %.2f×\n", (r >= 3 ? "✓" : "✗"), h, d, r }'
    fi
    rate=$(sed -n 's/^cache hit rate \([0-9.]*\) %.*/\1/p' "$raw/cache_get_user_zipf.txt" 2>/dev/null || true)
    if [ -z "$rate" ]; then echo "- ≥ 80 % cache hits on the skewed workload: not measured (get_user_zipf)"
    else awk -v r="$rate" 'BEGIN { printf "- %s ≥ 80 %% cache hits on the skewed workload (get_user_zipf, from a cold cache): %.1f %%\n", (r >= 80 ? "✓" : "✗"), r }'; fi
}
{ targets; cache_targets; } >"$raw/targets.md"
cmp_report >"$raw/compare.md"
# On a shared machine other work skews every number: say so next to the targets.
for phase in before after; do
    v=$(cat "$raw/background_cpu_$phase" 2>/dev/null || echo 0)
    awk -v v="$v" -v p="$phase" 'BEGIN { if (v > 20) printf "- ⚠ the machine was %.0f %% busy with other work %s the measurements (idle topology, 3 s sample): numbers are pessimistic\n", v, p }'
done >>"$raw/targets.md"

git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
git diff --quiet HEAD 2>/dev/null || git_rev="$git_rev (dirty tree)"
{
    echo "# make bench — $stamp"
    echo
    cat "$raw/table.md"
    echo
    cat "$raw/targets.md"
    echo
    echo "Data: $n_messages messages in $n_parts monthly partitions, 10 000 users, 10 000 conversations, hottest 1 % of"
    echo "conversations hold $hot_share % of messages; latest-50 mix: $hot_pct % hottest 1 %, rest uniform; loaded in ${load_s}s;"
    echo "database $db_size. Key made through $key_source (tier enterprise)."
    echo "ywmsgd: $build, database via $db_path, YW_LOG_LEVEL=$log_level. wrk: -t$threads -c$conns -d${duration}s."
    echo "pgbench: -j ≤ $threads, ${pg_duration}s each, directly on the primary; p50/p99 from its per-transaction log."
    [ "$window_days" -gt 0 ] && echo "Window variants: created_at >= $since (last $window_days days), a parameter."
    echo
    if [ -s "$raw/micro.json" ]; then
        echo "Micro-benchmarks (bench/micro, Google Benchmark, before the topology starts):"
        echo
        echo "| benchmark | ns per operation (wall) | ns CPU |"
        echo "|---|---:|---:|"
        jq -r "$jq_ns"' .benchmarks[] | "| \(.name) | \(.real_time * ns * 10 | round / 10) | \(.cpu_time * ns * 10 | round / 10) |"' "$raw/micro.json"
        echo
    fi
    echo "pgbench sweep:"
    echo
    echo "| mode | clients | tps | avg ms | p50 ms | p99 ms | failed |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' 'NR > 1 { printf "| %s | %s | %.1f | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' "$raw/pgbench.tsv"
    echo
    echo "Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM,"
    echo "Debian $(cat /etc/debian_version 2>/dev/null), $(psql -h 127.0.0.1 -p "$base" -U postgres -d ywmessaging -Atc 'SHOW server_version' 2>/dev/null | cut -d' ' -f1 | sed 's/^/PostgreSQL /'),"
    echo "$(pgbouncer --version 2>/dev/null | head -1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2). Commit $git_rev."
    echo "Other work on the machine (CPU busy while the topology was idle): $(cat "$raw/background_cpu_before") % before, $(cat "$raw/background_cpu_after") % after."
    if [ -s "$raw/compare.md" ]; then echo; cat "$raw/compare.md"; fi
} >"$raw/results.md"
cp "$raw/results.md" "$out/results.md"

echo
cat "$raw/table.md"
echo
cat "$raw/targets.md"
if [ -s "$raw/compare.md" ]; then echo; cat "$raw/compare.md"; fi
echo
say "results: bench/out/results.md; raw outputs: bench/out/$stamp/"
