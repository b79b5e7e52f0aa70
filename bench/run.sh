#!/usr/bin/env bash
# Side-by-side benchmark: eightfold vs NSD, Knot and PowerDNS on loopback.
#
# Usage: bench/run.sh            (from the repository root; needs root for apt)
# Environment:
#   DURATION=10     seconds of dnsperf per server, mix and round
#   ROUNDS=3        rounds; each runs every mix on every server in turn
#   RATE=10000      queries/s of the first fixed-rate latency run; the
#                   second runs at half the server's saturating rate
#   LAT_SECONDS=4   seconds of each latency run
#   SERVERS="limit nsd knot pdns eightfold"   which servers to run; limit
#                   is the machine's own: bench/limit, a responder that
#                   only sends each query back (QR set), batched like
#                   eightfold, so every figure reads as a share of it
#   MIXES="www hosts nx routed"         which query mixes to run
#   LOAD=1          also time loading 1 M records in 10 k zone files:
#                   bench/load.sh for eightfold, NSD and Knot (those of
#                   SERVERS), ROUNDS times each, interleaved (0: skip)
#   LOAD_PORT=5391  the port of those load runs
#   CHECKS=1        also measure 10 k HTTP health checks at 10 s (0: skip)
#   CHECK_WINDOWS=3 30 s windows of that measurement (median reported)
#   NO_APT=1        do not apt-get install anything
#   EIGHTFOLD=path  eightfold binary to run (default: a fresh release build)
#   OUT=/tmp/eightfold-bench   working folder (zones, configs, logs, results)
#
# Every server is pinned to CPU 1 and dnsperf to CPU 0 (taskset), so
# queries per server CPU-second compare the servers' own work, and the
# client never competes with the server for a core. Everything listens on
# 127.0.0.1 only; every run is bounded by DURATION. All servers run at
# once, idle but for the one being measured, and the rounds interleave
# them so that a slow minute on a shared machine hits every server alike;
# the table gives medians over the rounds.
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-10000}
LAT_SECONDS=${LAT_SECONDS:-4}
SERVERS=${SERVERS:-"limit nsd knot pdns eightfold"}
MIXES=${MIXES:-"www hosts nx routed"}
LOAD=${LOAD:-1}
CHECKS=${CHECKS:-1}
CHECK_WINDOWS=${CHECK_WINDOWS:-3}
OUT=${OUT:-/tmp/eightfold-bench}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
HOSTS=10000

ROOT=$(cd "$(dirname "$0")/.." && pwd)
EIGHTFOLD=${EIGHTFOLD:-$ROOT/target/release/eightfold}
declare -A PORT=([nsd]=5301 [knot]=5302 [pdns]=5303 [eightfold]=5304 [limit]=5305)
HTTP_PORT=5380
LOAD_PORT=${LOAD_PORT:-5391}
. "$ROOT/bench/lib.sh"

install_tools() {
    [ "${NO_APT:-0}" = 1 ] && return
    local need=()
    command -v dnsperf >/dev/null || need+=(dnsperf)
    command -v nsd >/dev/null || [ -x /usr/sbin/nsd ] || need+=(nsd)
    [ -x /usr/sbin/knotd ] || need+=(knot)
    [ -x /usr/sbin/pdns_server ] || need+=(pdns-server)
    [ -e /usr/lib/x86_64-linux-gnu/pdns/libbindbackend.so ] || ls /usr/lib/*/pdns/libbindbackend.so >/dev/null 2>&1 || need+=(pdns-backend-bind)
    if [ ${#need[@]} -gt 0 ]; then
        log "installing: ${need[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >"$OUT/apt.log" 2>&1
    fi
    # Debian starts the packaged daemons on port 53; they are not ours.
}

# ---------------------------------------------------------------- data ---

generate() {
    python3 - "$OUT" "$HOSTS" "$HTTP_PORT" <<'EOF'
import random, sys
out, hosts, http_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(6)
soa = "@ 3600 SOA ns1 hostmaster 1 3600 600 604800 60\n@ 3600 NS ns1\nns1 3600 A 127.0.0.53\n"
# The static zone: identical bytes for every server.
with open(f"{out}/bench.test.zone", "w") as f:
    f.write("$ORIGIN bench.test.\n$TTL 300\n" + soa)
    f.write("www 300 A 192.0.2.1\nwww 300 A 192.0.2.2\n")
    for i in range(hosts):
        f.write(f"h{i} 300 A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\n")
# Query files: dnsperf loops over them.
with open(f"{out}/q-www.txt", "w") as f:
    f.write("www.bench.test A\n" * 1000)
with open(f"{out}/q-hosts.txt", "w") as f:
    for _ in range(100000):
        f.write(f"h{rnd.randrange(hosts)}.bench.test A\n")
with open(f"{out}/q-nx.txt", "w") as f:
    for _ in range(100000):
        f.write(f"nx{rnd.randrange(10**9)}.bench.test A\n")
with open(f"{out}/q-routed.txt", "w") as f:
    f.write("multi.routed.test A\nfo.routed.test A\nwt.routed.test A\n" * 1000)

# The routed zone. Multivalue: 12 addresses 127.0.0.1-12, each checked
# on its own address; 127.0.0.10-12 have no listener, so 3 are down.
# Failover: 127.0.0.20 (up) then 127.0.0.21. Weighted: 127.0.0.30-32.
multi = [f"127.0.0.{i}" for i in range(1, 13)]
up = [a for a in multi if a not in ("127.0.0.10", "127.0.0.11", "127.0.0.12")]
up += ["127.0.0.20", "127.0.0.21", "127.0.0.30", "127.0.0.31", "127.0.0.32"]
with open(f"{out}/http-up.txt", "w") as f:
    f.write("\n".join(up) + "\n")
with open(f"{out}/routed.test.zone", "w") as f:
    f.write("$ORIGIN routed.test.\n$TTL 300\n" + soa)
# eightfold: health checks and records in its config.
checks, records = [], []
def rec(name, routing, set_id, value, check, extra=""):
    checks.append(f'[[health_check]]\nid = "{check}"\ntype = "http"\nip = "{value}"\n'
                  f'port = {http_port}\ninterval = "10s"\nfailure_threshold = 1\n')
    records.append(f'[[zone.record]]\nname = "{name}"\ntype = "A"\nttl = 30\nrouting = "{routing}"\n'
                   f'set = "{set_id}"\nvalue = "{value}"\nhealth_check = "{check}"\n{extra}')
for i, a in enumerate(multi):
    rec("multi", "multivalue", f"m{i}", a, f"m{i}")
rec("fo", "failover", "p", "127.0.0.20", "fo-p", 'failover = "primary"\n')
rec("fo", "failover", "s", "127.0.0.21", "fo-s", 'failover = "secondary"\n')
for i, (a, w) in enumerate([("127.0.0.30", 10), ("127.0.0.31", 20), ("127.0.0.32", 70)]):
    rec("wt", "weighted", f"w{i}", a, f"w{i}", f"weight = {w}\n")
with open(f"{out}/eightfold.toml", "w") as f:
    f.write("\n".join(checks))
    f.write(f'\n[[zone]]\nname = "bench.test."\nfile = "{out}/bench.test.zone"\n')
    f.write(f'\n[[zone]]\nname = "routed.test."\nfile = "{out}/routed.test.zone"\n\n')
    f.write("\n".join(records))
# PowerDNS: the same routing as LUA records. ifurlup probes the URL on each
# address; a list of lists is tried in order (failover); selector "all"
# answers every up address (multivalue, 9 here rather than eightfold's 8
# random ones); weighted has no health-aware LUA form, so it is a random
# choice among the up addresses (close in cost, not in shares).
q = lambda xs: "{" + ",".join(f"'{x}'" for x in xs) + "}"
url = f"http://routed.test:{http_port}/"
with open(f"{out}/routed.test.lua.zone", "w") as f:
    f.write("$ORIGIN routed.test.\n$TTL 300\n" + soa)
    f.write(f"multi 30 LUA A \"ifurlup('{url}', {{{q(multi)}}}, {{selector='all'}})\"\n")
    f.write(f"fo 30 LUA A \"ifurlup('{url}', {{{q(['127.0.0.20'])}, {q(['127.0.0.21'])}}})\"\n")
    f.write(f"wt 30 LUA A \"ifurlup('{url}', {{{q(['127.0.0.30','127.0.0.31','127.0.0.32'])}}})\"\n")
EOF
}

# Loopback HTTP backends for the routed mix: one listener per "up" address.
start_backends() {
    python3 - "$OUT/http-up.txt" "$HTTP_PORT" >"$OUT/http.log" 2>&1 <<'EOF' &
import http.server, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "3"); self.end_headers()
        self.wfile.write(b"OK\n")
    def log_message(self, *a): pass
port = int(sys.argv[2])
servers = [http.server.ThreadingHTTPServer((a.strip(), port), H) for a in open(sys.argv[1]) if a.strip()]
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
EOF
    PIDS+=($!)
}

# ------------------------------------------------------------- servers ---

wait_ready() { # name port
    local i
    for i in $(seq 1 100); do
        if dig +short +time=1 +tries=1 -p "$2" @127.0.0.1 www.bench.test A >/dev/null 2>&1 &&
            [ -n "$(dig +short +time=1 +tries=1 -p "$2" @127.0.0.1 www.bench.test A)" ]; then
            return 0
        fi
        sleep 0.1
    done
    log "$1 did not answer on port $2; see $OUT/$1.log"
    return 1
}

start_nsd() {
    local d="$OUT/nsd"
    mkdir -p "$d"
    cp "$OUT/bench.test.zone" "$d/"
    cat >"$d/nsd.conf" <<EOF
server:
  ip-address: 127.0.0.1
  port: ${PORT[nsd]}
  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "$d"
  pidfile: "$d/nsd.pid"
  xfrdfile: "$d/xfrd.state"
  xfrdir: "$d"
  zonelistfile: "$d/zone.list"
  database: ""
  logfile: "$d/nsd.log"
  verbosity: 0
  # Debian's NSD limits identical answers to 200/s per /24 (RRL); a
  # benchmark from one address would measure the limiter.
  rrl-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: "bench.test"
  zonefile: "bench.test.zone"
EOF
    taskset -c "$SERVER_CPU" /usr/sbin/nsd -d -c "$d/nsd.conf" >"$OUT/nsd.log" 2>&1 &
    PIDS+=($!)
    SERVER_PID=$!
    wait_ready nsd "${PORT[nsd]}"
}

start_knot() {
    local d="$OUT/knot"
    mkdir -p "$d/db"
    cp "$OUT/bench.test.zone" "$d/"
    # One UDP worker: the server has one core, more workers only switch.
    cat >"$d/knot.conf" <<EOF
server:
    rundir: "$d"
    listen: 127.0.0.1@${PORT[knot]}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$d/db"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "$d"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: bench.test
EOF
    taskset -c "$SERVER_CPU" /usr/sbin/knotd -c "$d/knot.conf" >"$OUT/knot.log" 2>&1 &
    PIDS+=($!)
    SERVER_PID=$!
    wait_ready knot "${PORT[knot]}"
}

start_pdns() {
    local d="$OUT/pdns"
    mkdir -p "$d"
    cp "$OUT/bench.test.zone" "$d/"
    cp "$OUT/routed.test.lua.zone" "$d/routed.test.zone"
    cat >"$d/named.conf" <<EOF
zone "bench.test" { type master; file "$d/bench.test.zone"; };
zone "routed.test" { type master; file "$d/routed.test.zone"; };
EOF
    # Debian's defaults otherwise (packet cache on, 3 distributor threads).
    taskset -c "$SERVER_CPU" /usr/sbin/pdns_server --no-config --daemon=no --guardian=no \
        --disable-syslog --loglevel=3 \
        --local-address=127.0.0.1 --local-port="${PORT[pdns]}" \
        --socket-dir="$d" --launch=bind --bind-config="$d/named.conf" \
        --enable-lua-records=shared >"$OUT/pdns.log" 2>&1 &
    PIDS+=($!)
    SERVER_PID=$!
    wait_ready pdns "${PORT[pdns]}"
}

start_limit() {
    (cd "$ROOT/bench/limit" && cargo build --release --quiet)
    taskset -c "$SERVER_CPU" "$ROOT/bench/limit/target/release/echo-limit" \
        "127.0.0.1:${PORT[limit]}" >"$OUT/limit.log" 2>&1 &
    PIDS+=($!)
    SERVER_PID=$!
    # It answers with the query itself: any answer means it is up.
    local i
    for i in $(seq 1 100); do
        grep -q ready "$OUT/limit.log" 2>/dev/null && return 0
        sleep 0.1
    done
    log "limit did not start; see $OUT/limit.log"
    return 1
}

start_eightfold() {
    local d="$OUT/eightfold"
    mkdir -p "$d"
    taskset -c "$SERVER_CPU" "$EIGHTFOLD" serve --config "$OUT/eightfold.toml" \
        --dns "127.0.0.1:${PORT[eightfold]}" --data "$d/eightfold.db" >"$OUT/eightfold.log" 2>&1 &
    PIDS+=($!)
    SERVER_PID=$!
    wait_ready eightfold "${PORT[eightfold]}"
}

# Servers may set their own thread affinity: Knot pins its UDP worker to
# CPU 0 at start, the client's core, where wakeups are local and cheap.
# Pin every thread of the server back to SERVER_CPU, and say when one had
# moved.
pin_server() { # name
    local t moved=0
    for t in /proc/"$SERVER_PID"/task/*; do
        [ "$(taskset -pc "${t##*/}" | awk -F': ' '{print $2}')" = "$SERVER_CPU" ] || moved=$((moved + 1))
    done
    [ "$moved" -gt 0 ] && log "$1: $moved thread(s) had set their own CPU affinity; pinned back to CPU $SERVER_CPU"
    taskset -a -pc "$SERVER_CPU" "$SERVER_PID" >/dev/null
}

# CPU clock ticks (user + system) of a process and all its descendants.
# cat reads the files: mawk gives up at one that has gone meanwhile.
cpu_ticks() {
    local root=$1
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$root" '
        { pid = $1; sub(/^[0-9]+ \(.*\) /, ""); ppid[pid] = $2; t[pid] = $12 + $13 }
        END {
            total = 0
            for (p in t) { q = p; while (q != "" && q != 0 && q != root) q = ppid[q]; if (q == root) total += t[p] }
            print total
        }'
}

# ---------------------------------------------------------------- runs ---

# Saturating run: returns "qps cpu_seconds lost completed".
throughput() { # pid port file
    local before after out
    before=$(cpu_ticks "$1")
    out=$(taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$2" -d "$3" -l "$DURATION" -c 8 -q 500 -T 1 2>&1)
    after=$(cpu_ticks "$1")
    local qps lost completed
    qps=$(awk '/Queries per second:/ {print $4}' <<<"$out")
    lost=$(awk '/Queries lost:/ {print $3}' <<<"$out")
    completed=$(awk '/Queries completed:/ {print $3}' <<<"$out")
    echo "$qps $(awk -v a="$after" -v b="$before" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (a - b) / hz}') $lost $completed"
}

# Fixed-rate run: returns "p50 p99 p999" in microseconds.
latency() { # port file rate
    taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$1" -d "$2" -l "$LAT_SECONDS" -Q "$3" -c 8 -T 1 -v 2>/dev/null |
        awk '$1 == ">" { print $NF * 1000000 }' | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) { print "- - -"; exit }
            printf "%d %d %d\n", v[int(NR * 0.5) + 1], v[int(NR * 0.99) + 1], v[int(NR * 0.999) + 1] }'
}

RESULTS="$OUT/results.txt"

declare -A SPID

# Starts every server, each pinned to SERVER_CPU.
start_servers() {
    local name
    for name in $SERVERS; do
        "start_$name"
        SPID[$name]=$SERVER_PID
        pin_server "$name"
    done
    sleep 1 # let health checks (eightfold, PowerDNS) settle
}

stop_servers() {
    local name
    for name in $SERVERS; do
        kill "${SPID[$name]}" 2>/dev/null || true
        wait "${SPID[$name]}" 2>/dev/null || true
    done
    sleep 0.3
}

# One server, one mix, one round: a warm-up, a saturating run, and two
# latency runs: at RATE, and at half the rate this run saturated at.
measure() { # name mix round
    local name=$1 mix=$2 port=${PORT[$1]} file="$OUT/q-$2.txt"
    # Warm up (PowerDNS's cache and LUA health checks, page faults).
    taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$file" -l 1 -T 1 >/dev/null 2>&1 || true
    read -r qps cpu lost completed < <(throughput "${SPID[$name]}" "$port" "$file")
    read -r p50 p99 p999 < <(latency "$port" "$file" "$RATE")
    local half
    half=$(awk -v q="$qps" 'BEGIN { printf "%d", q / 2 }')
    read -r h50 h99 h999 < <(latency "$port" "$file" "$half")
    log "$(printf 'round %s  %-10s %-7s %10s qps  %6s cpu-s  lost %-6s  at %s/s: p50 %sus p99 %sus p99.9 %sus  at %s/s: p99 %sus' \
        "$3" "$name" "$mix" "$qps" "$cpu" "$lost" "$RATE" "$p50" "$p99" "$p999" "$half" "$h99")"
    echo "$name $mix $qps $cpu $lost $p50 $p99 $p999 $completed $3 $half $h99" >>"$RESULTS"
}

# Every round runs each mix on every server, starting both the mixes' and
# the servers' order one further along each round.
run_rounds() {
    local servers=($SERVERS) mixes=($MIXES) round m mix i name
    for round in $(seq 1 "$ROUNDS"); do
        for m in "${!mixes[@]}"; do
            mix=${mixes[$(((m + round - 1) % ${#mixes[@]}))]}
            for i in "${!servers[@]}"; do
                name=${servers[$(((i + round - 1) % ${#servers[@]}))]}
                [ "$mix" = routed ] && [ "$name" != eightfold ] && [ "$name" != pdns ] && [ "$name" != limit ] && continue
                measure "$name" "$mix" "$round"
            done
        done
    done
}

# Medians over the rounds; ratios to NSD are taken within each round (the
# same minute of the machine), then their median and range shown.
table() {
    python3 - "$RESULTS" "$SERVERS" "$MIXES" "$RATE" <<'EOF'
import statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] in ("load", "checks"):
        continue
    name, mix, qps, cpu, lost, p50, p99, p999, done, rnd, half, h99 = f
    per = float(done) / float(cpu) if float(cpu) > 0 else 0.0
    rows[name, mix].append(dict(round=rnd, qps=float(qps), per=per, cpu=float(cpu), lost=int(lost),
                                p50=p50, p99=p99, p999=p999, half=half, h99=h99))
def med(xs):
    xs = [float(x) for x in xs if x != "-"]
    return statistics.median(xs) if xs else None
def ratio(name, mix, key, to="nsd"):
    ref = {r["round"]: r[key] for r in rows.get((to, mix), [])}
    rs = [r[key] / ref[r["round"]] for r in rows[name, mix] if ref.get(r["round"])]
    if not rs:
        return "-"
    return f"{statistics.median(rs):.2f}× ({min(rs):.2f}-{max(rs):.2f})"
def num(x):
    return "-" if x is None else f"{x:.0f}"
rate = sys.argv[4]
print(f"| server | mix | rounds | queries/s | server CPU-s | queries per CPU-s | of limit q/CPU-s | vs NSD q/s | vs NSD q/CPU-s | p50 µs at {rate}/s | p99 µs at {rate}/s | p99.9 µs at {rate}/s | p99 µs at ½ saturation | lost |")
print("|---|---|---:|---:|---:|---:|---|---|---|---:|---:|---:|---:|---:|")
for name in sys.argv[2].split():
    for mix in sys.argv[3].split():
        rs = rows.get((name, mix))
        if not rs:
            continue
        half = num(med(r['h99'] for r in rs))
        print(f"| {name} | {mix} | {len(rs)} | {num(med(r['qps'] for r in rs))} | "
              f"{med(r['cpu'] for r in rs):.2f} | {num(med(r['per'] for r in rs))} | "
              f"{ratio(name, mix, 'per', 'limit')} | "
              f"{ratio(name, mix, 'qps')} | {ratio(name, mix, 'per')} | "
              f"{num(med(r['p50'] for r in rs))} | {num(med(r['p99'] for r in rs))} | "
              f"{num(med(r['p999'] for r in rs))} | {half} (at {num(med(r['half'] for r in rs))}/s) | "
              f"{sum(r['lost'] for r in rs)} |")
routed = {n: rows.get((n, "routed")) for n in ("eightfold", "pdns")}
if all(routed.values()):
    ref = {r["round"]: r["per"] for r in routed["pdns"]}
    rs = [r["per"] / ref[r["round"]] for r in routed["eightfold"] if ref.get(r["round"])]
    if rs:
        print(f"\nrouted, eightfold vs PowerDNS LUA per CPU-s: {statistics.median(rs):.1f}× "
              f"({min(rs):.1f}-{max(rs):.1f}× over {len(rs)} rounds)")
EOF
}

# Load time and memory of 1 M records in 10 k zone files (SOA, NS, the
# NS's address and 100 A records each): bench/load.sh on the same files
# for eightfold, NSD and Knot (those of SERVERS), ROUNDS times, the
# servers' order turning each round, on a port of its own. One row per
# run: "load server ready_ms cpu_ms vmhwm_mib pss_mib round".
load_test() {
    local servers=() name round i line
    for name in $SERVERS; do
        case $name in eightfold | nsd | knot) servers+=("$name") ;; esac
    done
    [ ${#servers[@]} -gt 0 ] || return 0
    mkdir -p "$OUT/load"
    for round in $(seq 1 "$ROUNDS"); do
        for i in "${!servers[@]}"; do
            name=${servers[$(((i + round - 1) % ${#servers[@]}))]}
            # In the background, so cleanup can stop it (it then stops
            # its server).
            SERVERS='' SERVER=$name EIGHTFOLD=$EIGHTFOLD OUT="$OUT/load" PORT=$LOAD_PORT \
                bash "$ROOT/bench/load.sh" >"$OUT/load/$name.out" 2>&1 &
            PIDS+=("$!")
            if ! wait "$!"; then
                log "load: $name failed: $(tail -3 "$OUT/load/$name.out")"
                continue
            fi
            line=$(grep "^$name: ready" "$OUT/load/$name.out" || true)
            log "load, round $round: $line"
            if [[ $line =~ ready\ ([0-9]+)\ ms,\ ([0-9]+)\ ms\ CPU.*VmHWM\ ([0-9]+)\ MiB,\ PSS\ ([0-9]+)\ MiB ]]; then
                echo "load $name ${BASH_REMATCH[1]} ${BASH_REMATCH[2]} ${BASH_REMATCH[3]} ${BASH_REMATCH[4]} $round" >>"$RESULTS"
            fi
        done
    done
    load_table | tee "$OUT/load.md"
}

# The load rows: medians over the rounds (and the range) per server.
load_table() {
    python3 - "$RESULTS" <<'EOF'
import statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    if f and f[0] == "load" and len(f) == 7:
        rows[f[1]].append([int(x) for x in f[2:6]])
if rows:
    print("\n1 M records in 10,000 zone files: medians (range) over the runs")
    print("| server | runs | ready ms | CPU ms | VmHWM MiB | PSS MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rs in rows.items():
        cols = []
        for k in range(4):
            xs = [r[k] for r in rs]
            cols.append(f"{statistics.median(xs):.0f} ({min(xs)}-{max(xs)})" if len(xs) > 1 else str(xs[0]))
        print(f"| {name} | {len(rs)} | " + " | ".join(cols) + " |")
EOF
}

# CPU of 10,000 HTTP checks at a 10 s interval, the backend in another
# process on the other core, and how evenly the probes spread over time.
checks_test() {
    local d="$OUT/checks" port=5381 window=30
    mkdir -p "$d"
    python3 - "$d" "$port" <<'EOF'
import sys
d, port = sys.argv[1], int(sys.argv[2])
with open(f"{d}/eightfold.toml", "w") as f:
    for i in range(10000):
        f.write(f'[[health_check]]\nid = "c{i}"\ntype = "http"\nip = "127.0.0.1"\nport = {port}\n'
                f'path = "/c{i}"\ninterval = "10s"\n\n')
    f.write('[[zone]]\nname = "checks.test."\n')
EOF
    # An asyncio backend on the client's core: one line per request, with
    # its second, counted afterwards.
    taskset -c "$CLIENT_CPU" python3 - "$port" "$d/requests.txt" <<'EOF' &
import asyncio, sys, time
port, log = int(sys.argv[1]), open(sys.argv[2], "w", buffering=1)
async def handle(reader, writer):
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nOK\n")
        await writer.drain()
        log.write(f"{int(time.time())}\n")
    except Exception:
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    await server.serve_forever()
asyncio.run(main())
EOF
    local backend=$!
    PIDS+=($backend)
    sleep 1
    taskset -c "$SERVER_CPU" "$EIGHTFOLD" serve --config "$d/eightfold.toml" \
        --dns "127.0.0.1:${PORT[eightfold]}" --data "$d/eightfold.db" >"$d/eightfold.log" 2>&1 &
    local pid=$!
    PIDS+=($pid)
    for _ in $(seq 1 600); do
        grep -q ready "$d/eightfold.log" && break
        sleep 0.05
    done
    # First probes are spread over one interval; measure after it, in
    # CHECK_WINDOWS windows of 30 s back to back (the median is the figure:
    # single windows have ranged 8.7-11.5 % on a quiet machine).
    sleep 12
    local before after t0 t1 w shares=()
    t0=$(date +%s)
    for w in $(seq 1 "$CHECK_WINDOWS"); do
        before=$(cpu_ticks "$pid")
        sleep "$window"
        after=$(cpu_ticks "$pid")
        shares+=("$(awk -v a="$after" -v b="$before" -v hz="$(getconf CLK_TCK)" -v w="$window" \
            'BEGIN {printf "%.1f", 100 * (a - b) / hz / w}')")
    done
    t1=$(date +%s)
    kill "$pid" "$backend" 2>/dev/null || true
    wait "$pid" "$backend" 2>/dev/null || true
    local median spread
    median=$(printf '%s\n' "${shares[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    spread=$(awk -v t0="$t0" -v t1="$t1" '$1 >= t0 && $1 < t1 { n[$1]++; total++ }
        END { min = -1; for (s in n) { if (min < 0 || n[s] < min) min = n[s]; if (n[s] > max) max = n[s] }
              printf "%d probes, per second min %d max %d", total, min, max }' "$d/requests.txt")
    log "checks: 10,000 http checks at 10 s: median ${median} % of one core over $CHECK_WINDOWS windows of ${window} s (${shares[*]}); $spread"
    echo "checks $median $window ${shares[*]}" >>"$RESULTS"
}

main() {
    mkdir -p "$OUT"
    : >"$RESULTS"
    install_tools
    [ "$EIGHTFOLD" = "$ROOT/target/release/eightfold" ] && (cd "$ROOT" && cargo build --release --quiet)
    generate
    start_backends
    log "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); server on CPU $SERVER_CPU, dnsperf on CPU $CLIENT_CPU; ${DURATION}s per run, $ROUNDS rounds"
    start_servers
    run_rounds
    stop_servers
    table | tee "$OUT/table.md"
    [ "$LOAD" = 1 ] && load_test
    [ "$CHECKS" = 1 ] && checks_test
    log "results in $OUT"
}

main "$@"
