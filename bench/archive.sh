#!/usr/bin/env bash
# bench/archive.sh (`make bench-archive`): RB-18/RB-19 against what an operator runs by hand, on one
# throwaway topology with its S3 server, for months of BENCH_ARCHIVE_MB (default "100 500") MB of CSV:
#   archive: `ywctl partitions archive` (verification included) vs the runbook's pipeline
#            (psql COPY | gzip > file, then aws s3 cp --sse AES256), both on the same month's data;
#   restore: `ywctl partitions restore` (attached, and --as a table) vs `gunzip | psql \copy` into a table made
#            LIKE the parent, from a local file and with the `aws s3 cp` download first;
#   peak RSS of ywctl (GNU time), and the partition maintainer's run when nothing is due.
# The runbook's pipeline runs first (ywctl's archive drops the month). Output: bench/out/archive-<stamp>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BENCH_BUILD:-build-release}
sizes=${BENCH_ARCHIVE_MB:-"100 500"}
jobs=${BENCH_JOBS:-$(nproc)}
skip_build=${BENCH_SKIP_BUILD:-0}
out="$root/bench/out"
mkdir -p "$out"
report="$out/archive-$(date -u +%Y%m%dT%H%M%SZ).txt"

say() { printf '[bench-archive %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }
for tool in psql gzip gunzip aws ss /usr/bin/time; do command -v "$tool" >/dev/null || die "$tool is missing"; done

if [ "$skip_build" != 1 ]; then
    say "building Release into $build (-j$jobs)"
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
        cmake --build "$build" -j "$jobs" --target ywctl >/dev/null || die "build failed"
fi
case $build in /*) bdir=$build ;; *) bdir=$root/$build ;; esac
ywctl="$bdir/ywctl"
[ -x "$ywctl" ] || die "$ywctl not built"

tmp=$(mktemp -d /tmp/ywbench-archive.XXXXXX)
chmod 755 "$tmp"
cluster_dir="$tmp/cluster"
cleanup() {
    local rc=$?
    trap - EXIT
    [ -e "$cluster_dir" ] && "$ywctl" cluster destroy --yes --dir "$cluster_dir" >/dev/null 2>&1
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT

port_free() { ! ss -Htan "sport = :$1" 2>/dev/null | grep -q .; }
base=""
for _ in $(seq 1 200); do
    b=$(( 20000 + RANDOM % 8000 ))
    ok=1
    for p in $b $((b + 1)) $((b + 2)) $((b + 947)) $((b + 948)) $((b + 949)) $((b + 1000)); do port_free "$p" || { ok=0; break; }; done
    [ $ok = 1 ] && { base=$b; break; }
done
[ -n "$base" ] || die "no free ports"
say "topology on $base.. in $cluster_dir"
"$ywctl" cluster up --dir "$cluster_dir" --port-base "$base" >"$tmp/up.log" 2>&1 || { tail "$tmp/up.log"; die "cluster up failed"; }
env_file="$cluster_dir/cluster.env"
"$ywctl" --config "$env_file" db migrate >/dev/null
val() { sed -n "s/^$1=//p" "$env_file"; }
app_url=$(val DATABASE_PRIMARY_URL)
export AWS_ACCESS_KEY_ID=$(val AWS_ACCESS_KEY_ID) AWS_SECRET_ACCESS_KEY=$(val AWS_SECRET_ACCESS_KEY)
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=
endpoint=$(val S3_ENDPOINT)
bucket=$(val S3_BUCKET)
psql_app=(psql -X -q "$app_url" -v ON_ERROR_STOP=1)

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# GNU time's "Maximum resident set size (kbytes)" of a run, in MB.
rss_mb() { awk -F': ' '/Maximum resident/ { printf "%.0f", $2 / 1024 }' "$1"; }

{
    echo "# bench/archive.sh on $(hostname), $(nproc) cores, $(date -u +%FT%TZ); ywctl $build"
    printf '%-7s %9s %7s | %9s %9s %6s | %9s %9s %9s %9s %9s %6s %6s | %8s %8s\n' size_mb rows gz1/gz6 \
        runbook_s archive_s ratio gunzip_s gz+idx_s cp+gz_s attach_s as_s ratio r_idx \
        rss_arch rss_rest
} | tee "$report"

i=0
for mb in $sizes; do
    i=$((i + 1))
    month=$(printf '2019_%02d' "$i")
    table="conversation_message_$month"
    from="2019-$(printf %02d "$i")-01"
    to="2019-$(printf %02d $((i + 1)))-01"
    # ~260 bytes of CSV per row: 2 random-looking md5s of content and the rest of a message's columns.
    rows=$(( mb * 1024 * 1024 / 260 ))
    say "month $month: $rows rows (~$mb MB of CSV)"
    "${psql_app[@]}" -c "CREATE TABLE $table PARTITION OF conversation_message FOR VALUES FROM ('$from 00:00:00+00') TO ('$to 00:00:00+00')"
    "${psql_app[@]}" -c "INSERT INTO conversation_message (id, tenant_id, conversation_id, direction, content, created_at)
        SELECT gen_random_uuid(), '00000000-0000-7000-8000-000000000001', gen_random_uuid(), 'inbound',
               md5(g::text) || ' ' || md5((g * 7)::text), '$from 00:00:00+00'::timestamptz + (g % 2000000) * interval '1 second'
        FROM generate_series(1, $rows) g"
    "${psql_app[@]}" -c "VACUUM ANALYZE $table"

    # The runbook's pipeline (RB-18 steps 2–3), CSV as the object's name says.
    t0=$(now)
    psql -X "$app_url" -c "COPY $table TO STDOUT (FORMAT csv, HEADER)" | gzip >"$tmp/$table.csv.gz"
    aws --endpoint-url "$endpoint" s3 cp --only-show-errors --sse AES256 "$tmp/$table.csv.gz" "s3://$bucket/runbook/$table.csv.gz"
    gz6_mb=$(du -m "$tmp/$table.csv.gz" | cut -f1)  # gzip's default level
    t1=$(now)
    runbook=$(secs "$t0" "$t1")

    t0=$(now)
    /usr/bin/time -v "$ywctl" --config "$env_file" partitions archive --month "$month" --yes >"$tmp/archive.log" 2>"$tmp/archive.time" ||
        { cat "$tmp/archive.log" "$tmp/archive.time"; die "archive failed"; }
    t1=$(now)
    ours=$(secs "$t0" "$t1")
    rss_archive=$(rss_mb "$tmp/archive.time")
    ours_mb=$("${psql_app[@]}" -At -c "SELECT gzip_bytes / 1048576 FROM partition_archive WHERE month = to_date('$month', 'YYYY_MM')")

    # Restore: gunzip | psql \copy (the runbook's steps 2–4), from the local file and with its download first,
    # vs ywctl (download once, both checksums and the row count checked, COPY FREEZE, ATTACH or indexes, ANALYZE).
    # $2 = idx: also build the two indexes the API needs (which ywctl's restore builds, and the runbook forgets).
    manual_restore() {
        "${psql_app[@]}" -c "CREATE TABLE manual_$month (LIKE conversation_message)"
        gunzip -c "$1" | psql -X -q "$app_url" -v ON_ERROR_STOP=1 -c "\\copy manual_$month FROM STDIN (FORMAT csv, HEADER)"
        if [ "${2:-}" = idx ]; then
            "${psql_app[@]}" -c "CREATE UNIQUE INDEX ON manual_$month (id, created_at)" \
                -c "CREATE INDEX ON manual_$month (conversation_id, created_at DESC, id DESC) WHERE deleted_at IS NULL"
        fi
        "${psql_app[@]}" -c "DROP TABLE manual_$month"
    }
    t0=$(now); manual_restore "$tmp/$table.csv.gz"; t1=$(now)
    manual=$(secs "$t0" "$t1")
    t0=$(now); manual_restore "$tmp/$table.csv.gz" idx; t1=$(now)
    manual_idx=$(secs "$t0" "$t1")
    t0=$(now)
    aws --endpoint-url "$endpoint" s3 cp --only-show-errors "s3://$bucket/runbook/$table.csv.gz" "$tmp/dl.csv.gz"
    manual_restore "$tmp/dl.csv.gz"
    t1=$(now)
    manual_dl=$(secs "$t0" "$t1")
    rm -f "$tmp/dl.csv.gz"
    t0=$(now)
    /usr/bin/time -v "$ywctl" --config "$env_file" partitions restore --month "$month" --as "restored_$month" >"$tmp/restore.log" 2>"$tmp/restore.time" ||
        { cat "$tmp/restore.log" "$tmp/restore.time"; die "restore --as failed"; }
    t1=$(now)
    restored_as=$(secs "$t0" "$t1")
    "${psql_app[@]}" -c "DROP TABLE restored_$month"
    t0=$(now)
    /usr/bin/time -v "$ywctl" --config "$env_file" partitions restore --month "$month" >"$tmp/restore.log" 2>"$tmp/restore.time" ||
        { cat "$tmp/restore.log" "$tmp/restore.time"; die "restore failed"; }
    t1=$(now)
    restored=$(secs "$t0" "$t1")
    rss_restore=$(rss_mb "$tmp/restore.time")
    "${psql_app[@]}" -c "DROP TABLE $table"
    rm -f "$tmp/$table.csv.gz"

    printf '%-7s %9s %7s | %9s %9s %6s | %9s %9s %9s %9s %9s %6s %6s | %7sM %7sM\n' "$mb" "$rows" "$ours_mb/$gz6_mb" \
        "$runbook" "$ours" "$(awk -v a="$ours" -v b="$runbook" 'BEGIN { printf "%.2f", a / b }')" \
        "$manual" "$manual_idx" "$manual_dl" "$restored" "$restored_as" \
        "$(awk -v a="$restored" -v b="$manual" 'BEGIN { printf "%.2f", a / b }')" \
        "$(awk -v a="$restored" -v b="$manual_idx" 'BEGIN { printf "%.2f", a / b }')" \
        "$rss_archive" "$rss_restore" | tee -a "$report"
done

# The maintainer's hourly run when every month exists: the function's own time, 20 runs.
"${psql_app[@]}" -c "SELECT count(*) FROM maintain_conversation_message_partitions('bench', 2)" >/dev/null
maint=$(for _ in $(seq 1 20); do
    psql -X -q "$app_url" -At -c "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) SELECT * FROM maintain_conversation_message_partitions('bench', 2)" |
        sed -n 's/^Execution Time: \([0-9.]*\) ms/\1/p'
done | sort -n | awk '{ a[NR] = $1 } END { printf "median %.2f ms, max %.2f ms over %d runs", a[int((NR + 1) / 2)], a[NR], NR }')
echo "maintainer run, nothing due: $maint" | tee -a "$report"
say "report: $report"
