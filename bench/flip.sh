#!/usr/bin/env bash
# One node on SQLite while every check flips: the single-node side of
# bench/cluster.sh. CHECKS tcp checks against one backend that, at the
# flip, closes its listener, so every probe after that is refused.
#
# Reports, for a quiet window and for the window of the flip (same length):
#   - the server's CPU seconds;
#   - fsync and fdatasync calls (perf's syscall tracepoints, system-wide:
#     nothing else writes during the run);
#   - the latency of the API change batches an operator sends meanwhile
#     (one single-record UPSERT every 100 ms: p50, p99, max);
# and how long after the flip the last transition is in the event log.
#
# Usage: bench/flip.sh   (from the repository root, as root; EIGHTFOLD=path
#   to skip the release build and measure another binary)
# Environment: CHECKS=10000 INTERVAL=10 WINDOW=20 OUT=/tmp/eightfold-flip
set -euo pipefail

CHECKS=${CHECKS:-10000}
INTERVAL=${INTERVAL:-10}
WINDOW=${WINDOW:-20}
OUT=${OUT:-/tmp/eightfold-flip}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EIGHTFOLD=${EIGHTFOLD:-$ROOT/target/release/eightfold}
API=127.0.0.1:5453
BACKEND_PORT=5454
. "$ROOT/bench/lib.sh"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# fsync + fdatasync calls on the machine over $WINDOW seconds.
syncs() {
    perf stat -x, -a -e syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync \
        sleep "$WINDOW" 2>&1 >/dev/null | awk -F, '{n += $1} END {print n}'
}

# One single-record change batch every 100 ms for $WINDOW seconds; prints
# "p50 p99 max" in milliseconds.
changes() {
    python3 - "$API" "$WINDOW" <<'PY'
import json, sys, time, urllib.request
api, window = sys.argv[1], float(sys.argv[2])
def post(path, body):
    req = urllib.request.Request(f"http://{api}/v1{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req) as r:
        r.read()
took, i, end = [], 0, time.monotonic() + window
while time.monotonic() < end:
    start = time.monotonic()
    post("/zones/flip.test/changes", {"changes": [{"action": "UPSERT", "record": {
        "name": "www", "type": "A", "ttl": 60, "values": [f"10.0.{i // 250 % 250}.{i % 250}"]}}]})
    took.append((time.monotonic() - start) * 1000)
    i += 1
    time.sleep(max(0.0, 0.1 - (time.monotonic() - start)))
took.sort()
pick = lambda q: took[min(len(took) - 1, int(q * len(took)))]
print(f"{pick(0.5):.1f} {pick(0.99):.1f} {took[-1]:.1f}")
PY
}

# Seconds from $1 (date +%s.%N) until every check's fall is in the event
# log, or "never" after three windows.
recorded_after() {
    local n
    for _ in $(seq 1 $((WINDOW * 30))); do
        n=$(sqlite3 -readonly "$OUT/e.db" "SELECT COUNT(*) FROM health_events WHERE new_healthy = 0" 2>/dev/null || echo 0)
        if [ "$n" -ge "$CHECKS" ]; then
            awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
            return
        fi
        sleep 0.1
    done
    echo never
}

# CPU seconds, syncs and change latencies over one window, as one line.
window() { # pid
    local t0 t1 s lat
    t0=$(cpu_ticks "$1")
    syncs >"$OUT/syncs" &
    local perf=$!
    lat=$(changes)
    wait "$perf"
    t1=$(cpu_ticks "$1")
    s=$(cat "$OUT/syncs")
    awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v s="$s" -v l="$lat" \
        'BEGIN { split(l, x, " "); printf "cpu_s %.2f syncs %d change_ms_p50 %s p99 %s max %s", (b - a) / hz, s, x[1], x[2], x[3] }'
}

main() {
    ulimit -n "$(ulimit -Hn)"
    rm -rf "$OUT"
    mkdir -p "$OUT"
    [ "$EIGHTFOLD" = "$ROOT/target/release/eightfold" ] && (cd "$ROOT" && cargo build --release --quiet)

    {
        printf '[server]\ndata = "%s"\napi = "%s"\n\n' "$OUT/e.db" "$API"
        for i in $(seq 0 $((CHECKS - 1))); do
            printf '[[health_check]]\nid = "c%d"\ntype = "tcp"\nip = "127.0.0.1"\nport = %d\ninterval = "%ds"\nfailure_threshold = 1\n\n' \
                "$i" "$BACKEND_PORT" "$INTERVAL"
        done
    } >"$OUT/eightfold.toml"
    python3 "$ROOT/bench/tcp_backend.py" "$BACKEND_PORT" "$OUT/fail" &
    PIDS+=($!)
    RUST_LOG=info "$EIGHTFOLD" serve --config "$OUT/eightfold.toml" --dns 127.0.0.1:0 >"$OUT/eightfold.log" 2>&1 &
    local pid=$!
    PIDS+=($pid)
    for _ in $(seq 1 1200); do
        grep -q ' ready ' "$OUT/eightfold.log" && break
        sleep 0.05
    done
    curl -sf -X POST "http://$API/v1/zones" -H 'Content-Type: application/json' \
        -d '{"name": "flip.test."}' >/dev/null

    # Every check probed at least once.
    sleep $((INTERVAL + 5))
    local quiet flip recorded
    quiet=$(window "$pid")
    log "quiet: $quiet"

    touch "$OUT/fail"
    recorded_after "$(date +%s.%N)" >"$OUT/recorded" &
    local poller=$!
    flip=$(window "$pid")
    log "flip:  $flip"
    wait "$poller"
    recorded=$(cat "$OUT/recorded")
    printf 'quiet %s\nflip %s\nall_recorded_after_s %s\n' "$quiet" "$flip" "$recorded" | tee "$OUT/results.txt"
}

main "$@"
