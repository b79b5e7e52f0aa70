#!/usr/bin/env bash
# eightfold on 1 M records in 10,000 zone files (issue 14): time until the
# last zone's record is answered, peak and steady memory, and optionally
# the same after a SIGHUP reload of the same files.
#
#   bench/load.sh                          # target/release/eightfold
#   EIGHTFOLD=/path/to/old/eightfold bench/load.sh   # before/after
#   HUP=1 bench/load.sh                    # also reload once
#
# Each zone: SOA, NS, the NS's address and 100 A records (h0..h99), the
# data set of issue 14. "ready" is measured from the start of the process
# until `dig` gets h42.z9999's address (polled every 20 ms), and the CPU
# time the process used by then; memory is
# VmHWM (peak resident) and the PSS of the process (smaps_rollup) one
# second after that. The files are written once into $OUT and reused.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
EIGHTFOLD=${EIGHTFOLD:-$ROOT/target/release/eightfold}
OUT=${OUT:-/tmp/eightfold-load}
PORT=${PORT:-15399}
ZONES=${ZONES:-10000}

mkdir -p "$OUT/zones"
if [ ! -e "$OUT/eightfold.toml" ] || [ "$(grep -c '^\[\[zone\]\]' "$OUT/eightfold.toml")" != "$ZONES" ]; then
    python3 - "$OUT" "$ZONES" <<'PY'
import sys
d, zones = sys.argv[1], int(sys.argv[2])
with open(f"{d}/eightfold.toml", "w") as conf:
    for z in range(zones):
        name = f"z{z}.load.test."
        conf.write(f'[[zone]]\nname = "{name}"\nfile = "zones/{name}zone"\n\n')
        with open(f"{d}/zones/{name}zone", "w") as f:
            f.write(f"$ORIGIN {name}\n$TTL 300\n")
            f.write("@ 3600 SOA ns1 hostmaster 1 3600 600 604800 60\n@ 3600 NS ns1\nns1 3600 A 127.0.0.53\n")
            for i in range(100):
                f.write(f"h{i} A 10.{z >> 8 & 255}.{z & 255}.{i}\n")
PY
fi

rm -f "$OUT"/e.db*
last="h42.z$((ZONES - 1)).load.test"
start=$(date +%s%N)
"$EIGHTFOLD" serve --config "$OUT/eightfold.toml" --dns "127.0.0.1:$PORT" --data "$OUT/e.db" >"$OUT/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
answer=
for _ in $(seq 1 "${TRIES:-3000}"); do
    answer=$(dig +short +tries=1 +time=1 -p "$PORT" @127.0.0.1 "$last" A 2>/dev/null || true)
    [ -n "$answer" ] && [[ "$answer" != *";;"* ]] && break
    sleep 0.02
done
ready=$((($(date +%s%N) - start) / 1000000))
# CPU time to get there (user + system, all threads): steadier than the
# wall clock on a machine shared with other work.
cpu_ms=$(awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$pid/stat")
sleep 1
kib() { awk -v k="$1" '$1 == k":" {print $2}' "$2"; }
echo "ready ${ready} ms, ${cpu_ms} ms CPU ($last: $answer), VmHWM $(($(kib VmHWM /proc/$pid/status) / 1024)) MiB, PSS $(($(kib Pss /proc/$pid/smaps_rollup) / 1024)) MiB"
if [ "${HUP:-0}" = 1 ]; then
    before=$(grep -c reloaded "$OUT/log" || true)
    kill -HUP $pid
    until [ "$(grep -c reloaded "$OUT/log" || true)" -gt "$before" ]; do sleep 0.1; done
    sleep 1
    echo "after SIGHUP: VmHWM $(($(kib VmHWM /proc/$pid/status) / 1024)) MiB, PSS $(($(kib Pss /proc/$pid/smaps_rollup) / 1024)) MiB"
fi
