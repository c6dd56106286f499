#!/usr/bin/env bash
# bench/backup.sh (`make bench-backup`): pgBackRest through ywctl against what an operator would run instead,
# on one throwaway topology (its S3 server behind nginx's TLS) holding bench/load.sql's ~1M messages:
#   full backup: `ywctl backup run --type full` (lz4, encrypted, to S3) vs `pg_basebackup -Ft -z` to a local
#                file, alternating, BENCH_ROUNDS rounds: time and size;
#   restore:     `ywctl backup restore` of the newest backup plus BENCH_BACKUP_WAL_ROWS rows of WAL written after
#                it: time to a queryable server (RTO), its parts, and the WAL replay rate;
#   archiving:   POST message rate (wrk, ywmsgd) with archive_command = pgbackrest archive-push vs a no-op
#                archive_command (`true`: same archive_mode, nothing shipped), alternating: the overhead.
# Output: bench/out/backup-<stamp>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BENCH_BUILD:-build-release}
rounds=${BENCH_ROUNDS:-2}
messages=${BENCH_MESSAGES:-1050000}
wal_rows=${BENCH_BACKUP_WAL_ROWS:-300000}
duration=${BENCH_DURATION:-20}
conns=${BENCH_CONNS:-32}
jobs=${BENCH_JOBS:-$(nproc)}
skip_build=${BENCH_SKIP_BUILD:-0}
out="$root/bench/out"
mkdir -p "$out"
report="$out/backup-$(date -u +%Y%m%dT%H%M%SZ).txt"

say() { printf '[bench-backup %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }
for tool in psql pg_basebackup wrk jq curl ss pgbackrest; do command -v "$tool" >/dev/null || die "$tool is missing"; done

if [ "$skip_build" != 1 ]; then
    say "building Release into $build (-j$jobs)"
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
        cmake --build "$build" -j "$jobs" --target ywctl ywmsgd >/dev/null || die "build failed"
fi
case $build in /*) bdir=$build ;; *) bdir=$root/$build ;; esac
ywctl="$bdir/ywctl"
ywmsgd="$bdir/ywmsgd"
[ -x "$ywctl" ] && [ -x "$ywmsgd" ] || die "ywctl/ywmsgd not built in $build"

tmp=$(mktemp -d /tmp/ywbench-backup.XXXXXX)
chmod 755 "$tmp"
cluster_dir="$tmp/cluster"
server_pid=""
cleanup() {
    local rc=$?
    trap - EXIT
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
    for d in "$tmp"/restore*; do [ -f "$d/postmaster.pid" ] && as_pg pg_ctl -D "$d" stop -m immediate >/dev/null 2>&1; done
    [ -e "$cluster_dir" ] && "$ywctl" cluster destroy --yes --dir "$cluster_dir" >/dev/null 2>&1
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
# PostgreSQL's programs as the postgres system user when we are root.
as_pg() {
    local bin=/usr/lib/postgresql/15/bin
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- env PATH="$bin:$PATH" "$@"; else PATH="$bin:$PATH" "$@"; fi
}

port_free() { ! ss -Htan "sport = :$1" 2>/dev/null | grep -q .; }
base=""
for _ in $(seq 1 200); do
    b=$(( 20000 + RANDOM % 8000 ))
    ok=1
    for p in $b $((b + 1)) $((b + 2)) $((b + 3)) $((b + 947)) $((b + 948)) $((b + 949)) $((b + 1000)); do
        port_free "$p" || { ok=0; break; }
    done
    [ $ok = 1 ] && { base=$b; break; }
done
[ -n "$base" ] || die "no free ports"
say "topology on $base.. in $cluster_dir"
"$ywctl" cluster up --dir "$cluster_dir" --port-base "$base" --no-backup >"$tmp/up.log" 2>&1 ||
    { tail "$tmp/up.log"; die "cluster up failed"; }
env_file="$cluster_dir/cluster.env"
grep -q '^PGBACKREST_CONFIG=' "$env_file" || die "the topology has no backups (moto_server, nginx, pgbackrest?)"
Y=("$ywctl" --config "$env_file")
"${Y[@]}" db migrate >/dev/null
"${Y[@]}" partitions ensure --ahead 2 >/dev/null
psql_pg=(psql -X -q -h 127.0.0.1 -p "$base" -U postgres -d ywmessaging -v ON_ERROR_STOP=1)
seed=$("${Y[@]}" --json demo seed --name "Bench Church" --tier enterprise)
tenant_id=$(jq -r .tenant_id <<<"$seed") api_key=$(jq -r .api_key <<<"$seed")
say "loading ~$messages messages"
"${psql_pg[@]}" -v tenant_id="$tenant_id" -v messages="$messages" -f bench/load.sql >"$tmp/load.log" 2>&1 ||
    { tail "$tmp/load.log"; die "load failed"; }
"${psql_pg[@]}" -c "CHECKPOINT"
db_bytes=$("${psql_pg[@]}" -Atc "SELECT sum(pg_database_size(datname)) FROM pg_database")
n_messages=$("${psql_pg[@]}" -Atc "SELECT count(*) FROM conversation_message")

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }

{
    echo "# bench/backup.sh on $(hostname), $(nproc) cores, $(date -u +%FT%TZ); ywctl $build; pgBackRest $(pgbackrest version | awk '{print $2}')"
    echo "# $n_messages messages; all databases $(mb "$db_bytes") MB"
    echo
    echo "## full backup (alternating, $rounds rounds)"
    printf '%-6s %-28s %8s %10s\n' round tool seconds size_mb
} | tee "$report"

for r in $(seq 1 "$rounds"); do
    order="ywctl basebackup"; [ $((r % 2)) = 0 ] && order="basebackup ywctl"
    for tool in $order; do
        if [ "$tool" = ywctl ]; then
            t0=$(now)
            j=$("${Y[@]}" --json backup run --type full) || die "backup run failed: $j"
            t1=$(now)
            size=$(jq -r .backup.repo_size <<<"$j")
            printf '%-6s %-28s %8s %10s\n' "$r" "ywctl backup run --type full" "$(secs "$t0" "$t1")" "$(mb "$size")" | tee -a "$report"
        else
            rm -rf "$tmp/bb"; mkdir -p "$tmp/bb"; chown postgres "$tmp/bb" 2>/dev/null || true
            t0=$(now)
            as_pg pg_basebackup -h 127.0.0.1 -p "$base" -U postgres -D "$tmp/bb" -Ft -z -X fetch -c fast >/dev/null
            t1=$(now)
            size=$(du -sb "$tmp/bb" | cut -f1)
            printf '%-6s %-28s %8s %10s\n' "$r" "pg_basebackup -Ft -z (local)" "$(secs "$t0" "$t1")" "$(mb "$size")" | tee -a "$report"
        fi
    done
done
rm -rf "$tmp/bb"

# ---- restore: the newest backup plus WAL written after it
say "writing $wal_rows rows of WAL after the newest backup"
stop_lsn=$("${Y[@]}" --json backup list | jq -r '.backups[-1].lsn_stop')
"${psql_pg[@]}" -c "INSERT INTO conversation_message (id, tenant_id, conversation_id, direction, content)
    SELECT gen_random_uuid(), '$tenant_id', gen_random_uuid(), 'inbound', md5(g::text) || ' after the backup'
    FROM generate_series(1, $wal_rows) g"
end_lsn=$("${psql_pg[@]}" -Atc "SELECT pg_current_wal_lsn()")
seg=$("${psql_pg[@]}" -Atc "SELECT pg_walfile_name(pg_switch_wal())")
for _ in $(seq 1 600); do
    [ "$("${psql_pg[@]}" -Atc "SELECT coalesce(last_archived_wal, '') >= '$seg' FROM pg_stat_archiver")" = t ] && break
    sleep 0.5
done
wal_bytes=$("${psql_pg[@]}" -Atc "SELECT pg_wal_lsn_diff('$end_lsn', '$stop_lsn')::bigint")
{
    echo
    echo "## restore to a queryable server (newest backup + $(mb "$wal_bytes") MB of WAL)"
    printf '%-6s %8s %10s %10s %14s\n' round rto_s files_s replay_s replay_MB/s
} | tee -a "$report"
for r in $(seq 1 "$rounds"); do
    j=$("${Y[@]}" --json backup restore --to "$tmp/restore$r" --stop) || die "restore failed: $j"
    total=$(jq -r .total_ms <<<"$j") files=$(jq -r .restore_ms <<<"$j") replay=$(jq -r .recovery_ms <<<"$j")
    awk -v r="$r" -v t="$total" -v f="$files" -v p="$replay" -v w="$wal_bytes" 'BEGIN {
        printf "%-6s %8.1f %10.1f %10.1f %14.1f\n", r, t / 1000, f / 1000, p / 1000, (w / 1048576) / (p / 1000) }' |
        tee -a "$report"
    rm -rf "$tmp/restore$r"
done

# ---- archive_command overhead on the write path
http_port=$((base + 3))
admin_token=$(sed -n 's/^YW_ADMIN_TOKEN=//p' "$env_file")
YW_HTTP_PORT=$http_port YW_HTTP_HOST=127.0.0.1 YW_LOG_LEVEL=warn YW_RATE_LIMIT_ENABLED=false YW_CACHE_ENABLED=false \
    "$ywmsgd" --config "$env_file" >"$tmp/ywmsgd.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/health")" = 200 ] && break
    sleep 0.2
done
"${psql_pg[@]}" -Atc "SELECT id FROM bench_conversations ORDER BY n" >"$tmp/ids.txt"
archive_cmd=$("${psql_pg[@]}" -Atc "SHOW archive_command")
set_archive() {
    local cmd=$1
    "${psql_pg[@]}" -c "ALTER SYSTEM SET archive_command = \$cmd\$$cmd\$cmd\$" -c "SELECT pg_reload_conf()" >/dev/null
}
{
    echo
    echo "## POST message rate, archive_command pgbackrest vs a no-op (c=$conns, ${duration}s, alternating)"
    printf '%-6s %-12s %10s %10s %12s\n' round archiving req_s p99_ms wal_segments
} | tee -a "$report"
for r in $(seq 1 "$rounds"); do
    order="pgbackrest noop"; [ $((r % 2)) = 0 ] && order="noop pgbackrest"
    for mode in $order; do
        if [ "$mode" = pgbackrest ]; then set_archive "$archive_cmd"; else set_archive "true"; fi
        before=$("${psql_pg[@]}" -Atc "SELECT archived_count FROM pg_stat_archiver")
        BENCH_IDS="$tmp/ids.txt" BENCH_API_KEY="$api_key" BENCH_WRK_DIR="$root/bench/wrk" \
            wrk -t2 -c"$conns" -d"${duration}s" --timeout 10s --latency -s bench/wrk/post_message.lua \
            "http://127.0.0.1:$http_port" >"$tmp/wrk.txt" 2>&1
        rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt")
        p99=$(awk '$1 == "99%" {v=$2; if (v ~ /ms/) {sub("ms","",v)} else if (v ~ /us/) {sub("us","",v); v/=1000} else {sub("s","",v); v*=1000}; print v}' "$tmp/wrk.txt")
        after=$("${psql_pg[@]}" -Atc "SELECT archived_count FROM pg_stat_archiver")
        printf '%-6s %-12s %10s %10s %12s\n' "$r" "$mode" "$rps" "$p99" "$((after - before))" | tee -a "$report"
    done
done
set_archive "$archive_cmd"
say "report: $report"
