#!/usr/bin/env bash
# Memory after many change batches (issue 14 item 2): eightfold on the
# 1 M-record data set of load.sh, plus one API zone of 100 records; BATCHES
# single-record UPSERT batches through the JSON API, one after another;
# then the PSS of the process next to a fresh start on the same data (the
# same config and database, so the same zones and records).
#
#   bench/load.sh && bench/changes.sh      # load.sh writes the zone files
#   BATCHES=1000 (default)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
EIGHTFOLD=${EIGHTFOLD:-$ROOT/target/release/eightfold}
OUT=${OUT:-/tmp/eightfold-load}
PORT=${PORT:-15396}
API=${API:-127.0.0.1:15395}
BATCHES=${BATCHES:-1000}
[ -e "$OUT/eightfold.toml" ] || { echo "run bench/load.sh first (it writes $OUT)" >&2; exit 1; }

pid=
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; pid=; }
trap stop EXIT
start() {
    "$EIGHTFOLD" serve --config "$OUT/eightfold.toml" --dns "127.0.0.1:$PORT" --api "$API" \
        --data "$OUT/changes.db" >"$OUT/changes.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 3000); do
        curl -sf "http://$API/v1/zones/z0.load.test" >/dev/null 2>&1 && return 0
        sleep 0.02
    done
    echo "not ready" >&2
    exit 1
}
# PSS in MiB, then its anonymous (heap, stacks) and file-backed (the
# binary's code and data, SQLite's mapped files) parts.
pss() {
    awk '$1 == "Pss:" {t = $2} $1 == "Pss_Anon:" {a = $2} $1 == "Pss_File:" {f = $2}
         END {printf "%d MiB (anonymous %d, file-backed %d)", t / 1024, a / 1024, f / 1024}' \
        "/proc/$pid/smaps_rollup"
}

rm -f "$OUT"/changes.db*
start
python3 - "$API" "$BATCHES" <<'PY'
import json, sys, time, urllib.request
api, batches = sys.argv[1], int(sys.argv[2])
def post(path, body):
    req = urllib.request.Request(f"http://{api}/v1{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req) as r:
        r.read()
post("/zones", {"name": "changes.load.test."})
post("/zones/changes.load.test/changes", {"changes": [
    {"action": "CREATE", "record": {"name": f"h{i}", "type": "A", "ttl": 60, "values": [f"10.255.0.{i}"]}}
    for i in range(100)]})
start = time.monotonic()
for i in range(batches):
    post("/zones/changes.load.test/changes", {"changes": [
        {"action": "UPSERT", "record": {"name": f"h{i % 100}", "type": "A", "ttl": 60,
                                        "values": [f"10.255.{1 + i // 250 % 250}.{i % 250}"]}}]})
print(f"{batches} batches in {time.monotonic() - start:.1f} s", file=sys.stderr)
PY
sleep 3
after=$(pss)
stop
start
sleep 1
fresh=$(pss)
echo "PSS after $BATCHES change batches: $after; after a fresh start on the same data: $fresh"
