# compare_table.awk: bench/compare.sh's side-by-side table (default) or its target lines (-v mode=targets), from
# cmp.tsv: path, workload, side (ywmsgd|peer), round, rps, p50_ms, p99_ms, errors (non-2xx + socket), requests,
# cpu_ticks, vmhwm_kb, note. "-" in rps: the run did not happen (the note says why). -v hz=CLK_TCK; for the
# targets also -v pg_hot= -v pg_lt= (pgbench -M prepared best tps of each workload's mix).
{
    k = $1 SUBSEP $2
    if (!(k in seen)) { seen[k] = 1; order[++nk] = k; P[k] = $1; W[k] = $2 }
    s = $3
    if ($12 != "-" && index(note[k], s ": " $12) == 0) note[k] = note[k] (note[k] != "" ? "; " : "") s ": " $12
    if ($5 == "-") { list[k, s] = list[k, s] (list[k, s] != "" ? " · " : "") "–"; next }
    list[k, s] = list[k, s] (list[k, s] != "" ? " · " : "") sprintf("%.0f", $5)
    n[k, s]++; rps[k, s] += $5; p50[k, s] += $6; p99[k, s] += $7; err[k, s] += $8; req[k, s] += $9; ticks[k, s] += $10
    if ($11 / 1024 > rss[k, s]) rss[k, s] = $11 / 1024
    if (s == "ywmsgd" && $11 / 1024 > yrss) yrss = $11 / 1024
}
function has(k, s) { return n[k, s] > 0 }
function mean(a, k, s) { return a[k, s] / n[k, s] }
function cpu(k, s) { return req[k, s] > 0 ? 1e6 * ticks[k, s] / hz / req[k, s] : 0 }
function pair(a, b, fmt) { return sprintf(fmt, a) " / " sprintf(fmt, b) }
function cell(k, what, fmt,   y, p) {
    y = has(k, "ywmsgd") ? sprintf(fmt, what == "p50" ? mean(p50, k, "ywmsgd") : what == "p99" ? mean(p99, k, "ywmsgd") : what == "cpu" ? cpu(k, "ywmsgd") : what == "rss" ? rss[k, "ywmsgd"] : err[k, "ywmsgd"]) : "–"
    p = has(k, "peer") ? sprintf(fmt, what == "p50" ? mean(p50, k, "peer") : what == "p99" ? mean(p99, k, "peer") : what == "cpu" ? cpu(k, "peer") : what == "rss" ? rss[k, "peer"] : err[k, "peer"]) : "–"
    return y " / " p
}
function mark(ok) { return ok ? "✓" : "✗" }
function both(k) { return has(k, "ywmsgd") && has(k, "peer") }
function errs(k) { return err[k, "ywmsgd"] + err[k, "peer"] }
function errnote(k) { return errs(k) ? " (runs had errors: " err[k, "ywmsgd"] " / " err[k, "peer"] ")" : "" }
END {
    if (mode != "targets") {
        for (i = 1; i <= nk; i++) {
            k = order[i]
            ratio = both(k) ? sprintf("%.2f×", mean(rps, k, "ywmsgd") / mean(rps, k, "peer")) : "–"
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", P[k], W[k],
                list[k, "ywmsgd"] != "" ? list[k, "ywmsgd"] : "–", list[k, "peer"] != "" ? list[k, "peer"] : "–", ratio,
                cell(k, "p50", "%.2f"), cell(k, "p99", "%.2f"), cell(k, "cpu", "%.0f"), cell(k, "rss", "%.1f"),
                cell(k, "err", "%d"), note[k]
        }
        exit
    }
    # 1. every read path ≥ 1.5× the peer's requests/s with p99 ≤ the peer's, each workload
    for (i = 1; i <= nk; i++) {
        k = order[i]; if (P[k] == "cache") continue
        if (!both(k)) { printf "- %s/%s: ywmsgd ≥ 1.5× the peer's req/s with p99 ≤ the peer's: not measured\n", P[k], W[k]; continue }
        y = mean(rps, k, "ywmsgd"); p = mean(rps, k, "peer"); yp = mean(p99, k, "ywmsgd"); pp = mean(p99, k, "peer")
        printf "- %s %s/%s: ywmsgd ≥ 1.5× the peer's req/s with p99 ≤ the peer's: %.0f / %.0f = %.2f×, p99 %.2f vs %.2f ms%s\n",
            mark(y / p >= 1.5 && yp <= pp && !errs(k)), P[k], W[k], y, p, y / p, yp, pp, errnote(k)
    }
    # 2. the cache path ≥ 3× the peer
    for (i = 1; i <= nk; i++) {
        k = order[i]; if (P[k] != "cache") continue
        if (!both(k)) { printf "- cache/%s: ywmsgd ≥ 3× the peer's req/s: not measured\n", W[k]; continue }
        y = mean(rps, k, "ywmsgd"); p = mean(rps, k, "peer")
        printf "- %s cache/%s: ywmsgd ≥ 3× the peer's req/s: %.0f / %.0f = %.2f×%s\n", mark(y / p >= 3 && !errs(k)), W[k], y, p, y / p, errnote(k)
    }
    # 3. the database paths ≥ 0.8× pgbench -M prepared on the same SQL and mix
    for (i = 1; i <= nk; i++) {
        k = order[i]; if (P[k] == "cache") continue
        pg = W[k] == "hot" ? pg_hot : pg_lt
        if (!has(k, "ywmsgd") || pg + 0 <= 0) { printf "- %s/%s: ywmsgd ≥ 0.8× pgbench -M prepared (same SQL, same mix): not measured\n", P[k], W[k]; continue }
        y = mean(rps, k, "ywmsgd")
        printf "- %s %s/%s: ywmsgd ≥ 0.8× pgbench -M prepared (same SQL, same mix): %.0f / %.0f = %.2f×%s\n",
            mark(y / pg >= 0.8 && !err[k, "ywmsgd"]), P[k], W[k], y, pg, y / pg, err[k, "ywmsgd"] ? " (run had errors)" : ""
    }
    # 4. CPU per request ≤ 0.5× the peer's
    for (i = 1; i <= nk; i++) {
        k = order[i]
        if (!both(k) || cpu(k, "peer") <= 0) { printf "- %s/%s: ywmsgd's CPU per request ≤ 0.5× the peer's: not measured\n", P[k], W[k]; continue }
        printf "- %s %s/%s: ywmsgd's CPU per request ≤ 0.5× the peer's: %.0f / %.0f µs = %.2f×\n",
            mark(cpu(k, "ywmsgd") <= 0.5 * cpu(k, "peer")), P[k], W[k], cpu(k, "ywmsgd"), cpu(k, "peer"), cpu(k, "ywmsgd") / cpu(k, "peer")
    }
    # 5. ywmsgd RSS < 32 MB
    if (yrss > 0) printf "- %s ywmsgd RSS < 32 MB: peak VmHWM %.1f MB over the compared runs\n", mark(yrss < 32), yrss
    else print "- ywmsgd RSS < 32 MB: not measured"
}
