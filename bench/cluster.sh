#!/usr/bin/env bash
# The cluster's cost (issue 11): three eightfold nodes on one PostgreSQL,
# 10,000 checks each at a 10 s interval against one backend (HTTP, or TCP
# with TYPE=tcp: the lighter backend for a machine that cannot serve
# thousands of HTTP probes a second beside four servers).
#
# Reports
#   - rows written to PostgreSQL per second (inserts + updates + deletes of
#     every table, from pg_stat_user_tables) at steady state, and while
#     every check flips (the backend starts failing every request), and
#     the transactions committed per second in both windows;
#   - the memory a node adds for the cluster: the PSS of a node on
#     PostgreSQL next to a node alone on SQLite with the same checks (and
#     the nodes' PSS again at the end of the flip).
#
# Usage: bench/cluster.sh   (from the repository root, as root, with
#   Debian's postgresql installed; EIGHTFOLD=path to skip the release build)
# Environment: CHECKS=10000 INTERVAL=10 WINDOW=30 SETTLE=INTERVAL+5 TYPE=http
#   OUT=/tmp/eightfold-cluster
set -euo pipefail

CHECKS=${CHECKS:-10000}
INTERVAL=${INTERVAL:-10}
WINDOW=${WINDOW:-30}
TYPE=${TYPE:-http}
OUT=${OUT:-/tmp/eightfold-cluster}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EIGHTFOLD=${EIGHTFOLD:-$ROOT/target/release/eightfold}
PG_PORT=5441
BACKEND_PORT=5442
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
PIDS=()

log() { printf '%s\n' "$*" >&2; }
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -d "$OUT/pg" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$OUT/pg" -m immediate stop >/dev/null 2>&1 || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

psql_q() { "$PG_BIN/psql" -X -q -A -t -h 127.0.0.1 -p "$PG_PORT" -U postgres -d bench -c "$1"; }

# Rows written so far, every table (the statistics are flushed about every
# half second; the windows are long enough for that not to matter).
rows_written() {
    psql_q "SELECT pg_stat_force_next_flush(); SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables" 2>/dev/null | tail -1
}

# Transactions committed so far in the bench database (the nodes' writes
# and reads; this script's own queries add a few).
commits() {
    psql_q "SELECT pg_stat_force_next_flush(); SELECT xact_commit FROM pg_stat_database WHERE datname = 'bench'" 2>/dev/null | tail -1
}

# Rows written so far, per table, for the log (what the totals are made of).
rows_by_table() {
    psql_q "SELECT pg_stat_force_next_flush(); SELECT relname || ' ' || (n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY relname" 2>/dev/null | tr '\n' ' '
}

pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }

wait_ready() { # log file
    local i
    for i in $(seq 1 1200); do
        grep -q ' ready ' "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    log "not ready: $1"
    return 1
}

main() {
    # Thousands of probes a second: the backend needs more than 1,024
    # descriptors when the machine is busy.
    ulimit -n "$(ulimit -Hn)"
    rm -rf "$OUT"
    mkdir -p "$OUT"
    chmod 755 "$OUT"
    [ "$EIGHTFOLD" = "$ROOT/target/release/eightfold" ] && (cd "$ROOT" && cargo build --release --quiet)

    # PostgreSQL, as the postgres user (it refuses root).
    mkdir -p "$OUT/pg" && chown postgres "$OUT/pg"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$OUT/pg" -A trust -U postgres >"$OUT/initdb.log"
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$OUT/pg" -l "$OUT/pg/server.log" \
        -o "-p $PG_PORT -k $OUT/pg -c listen_addresses=127.0.0.1" -w start >/dev/null
    "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE bench"

    # The checks, and a backend that answers until $OUT/fail exists: HTTP
    # 200 (then 503), or for TCP checks accepted connections (then the
    # listener is closed, so connections are refused).
    python3 - "$OUT" "$CHECKS" "$INTERVAL" "$BACKEND_PORT" "$TYPE" <<'EOF'
import sys
out, n, interval, port, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
with open(f"{out}/checks.toml", "w") as f:
    for i in range(n):
        path = f'path = "/c{i}"\n' if kind == "http" else ""
        f.write(f'[[health_check]]\nid = "c{i}"\ntype = "{kind}"\nip = "127.0.0.1"\nport = {port}\n'
                f'{path}interval = "{interval}s"\nfailure_threshold = 1\n\n')
EOF
    if [ "$TYPE" = tcp ]; then
        python3 "$ROOT/bench/tcp_backend.py" "$BACKEND_PORT" "$OUT/fail" &
    else
        python3 - "$BACKEND_PORT" "$OUT/fail" <<'EOF' &
import asyncio, os, sys
port, flag = int(sys.argv[1]), sys.argv[2]
async def handle(reader, writer):
    try:
        await reader.readuntil(b"\r\n\r\n")
        status = b"503 Service Unavailable" if os.path.exists(flag) else b"200 OK"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
    except Exception:
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    await server.serve_forever()
asyncio.run(main())
EOF
    fi
    PIDS+=($!)

    local url="postgresql://postgres@127.0.0.1:$PG_PORT/bench" node pids=()
    for node in a b c; do
        {
            printf '[server]\ndata = "%s"\nnode = "%s"\napi = "127.0.0.1:0"\n\n' "$url" "$node"
            cat "$OUT/checks.toml"
        } >"$OUT/$node.toml"
        RUST_LOG=info "$EIGHTFOLD" serve --config "$OUT/$node.toml" --dns 127.0.0.1:0 >"$OUT/$node.log" 2>&1 &
        PIDS+=($!)
        pids+=($!)
        wait_ready "$OUT/$node.log"
    done
    # A node alone on SQLite with the same checks, for the memory figure.
    {
        printf '[server]\ndata = "%s"\nnode = "alone"\napi = "127.0.0.1:0"\n\n' "$OUT/alone.db"
        cat "$OUT/checks.toml"
    } >"$OUT/alone.toml"
    RUST_LOG=info "$EIGHTFOLD" serve --config "$OUT/alone.toml" --dns 127.0.0.1:0 >"$OUT/alone.log" 2>&1 &
    local alone=$!
    PIDS+=($alone)
    wait_ready "$OUT/alone.log"

    # Every check probed at least once, everywhere.
    sleep "${SETTLE:-$((INTERVAL + 5))}"
    local r0 r1 r2 r3 flip_at c0 c1 c2 c3
    r0=$(rows_written)
    c0=$(commits)
    log "rows by table before the steady window: $(rows_by_table)"
    sleep "$WINDOW"
    r1=$(rows_written)
    c1=$(commits)
    log "rows by table after it: $(rows_by_table)"
    local steady
    steady=$(awk -v a="$r0" -v b="$r1" -v w="$WINDOW" 'BEGIN { printf "%.1f", (b - a) / w }')
    log "steady: $((r1 - r0)) rows in ${WINDOW} s = $steady rows/s (3 nodes, $CHECKS checks each)"

    local pss_nodes=() p
    for p in "${pids[@]}"; do pss_nodes+=("$(pss_kib "$p")"); done
    local pss_alone
    pss_alone=$(pss_kib "$alone")
    # The lone node is stopped now: it would flip too, on its own store.
    kill "$alone"

    r2=$(rows_written)
    c2=$(commits)
    touch "$OUT/fail"
    flip_at=$(date +%s)
    sleep "$WINDOW"
    r3=$(rows_written)
    c3=$(commits)
    # The nodes again once every vote changed: what reading them back cost.
    local pss_flipped=()
    for p in "${pids[@]}"; do pss_flipped+=("$(pss_kib "$p")"); done
    local flipping
    flipping=$(awk -v a="$r2" -v b="$r3" -v w="$WINDOW" 'BEGIN { printf "%.1f", (b - a) / w }')
    log "flipping: $((r3 - r2)) rows in ${WINDOW} s = $flipping rows/s, from $(date -d "@$flip_at" +%T)"
    local steady_commits flipping_commits
    steady_commits=$(awk -v a="$c0" -v b="$c1" -v w="$WINDOW" 'BEGIN { printf "%.1f", (b - a) / w }')
    flipping_commits=$(awk -v a="$c2" -v b="$c3" -v w="$WINDOW" 'BEGIN { printf "%.1f", (b - a) / w }')

    # How many checks every node had out by the end of the window.
    local unhealthy
    unhealthy=$(psql_q "SELECT node || '=' || count(*) FILTER (WHERE NOT healthy) FROM health_observations GROUP BY node ORDER BY node" | tr '\n' ' ')
    log "observations saying unhealthy, per node: $unhealthy"

    log "memory (PSS): cluster nodes ${pss_nodes[*]} KiB (${pss_flipped[*]} KiB after the flip); the same checks alone on SQLite $pss_alone KiB"
    printf 'steady_rows_per_s %s\nflipping_rows_per_s %s\nsteady_commits_per_s %s\nflipping_commits_per_s %s\nunhealthy_at_end %s\npss_nodes_kib %s\npss_flipped_kib %s\npss_alone_kib %s\n' \
        "$steady" "$flipping" "$steady_commits" "$flipping_commits" "$unhealthy" "${pss_nodes[*]}" "${pss_flipped[*]}" "$pss_alone" | tee "$OUT/results.txt"
}

main "$@"
