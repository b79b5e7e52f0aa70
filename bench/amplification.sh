#!/usr/bin/env bash
# Reflection factor: what a spoofed-source attacker gets out of eightfold
# (and of NSD and Knot, for comparison), with response-rate limiting off
# and on.
#
# Usage: bench/amplification.sh        (from the repository root)
# Environment:
#   RATE=2000        queries/s from the one attacked address
#   SECONDS_EACH=5   seconds per server, setting and kind of query
#   SERVERS="eightfold nsd knot"        (a server that is not installed is skipped)
#   CONFIGS="off 5/2 20/2 20/0 20/1"    rate limiting: off, or answers/s / slip
#   KINDS="any txt biga dnskey nx"      kinds of query (bench/amplification.py)
#   EIGHTFOLD=path   eightfold binary (default: target/release/eightfold, built if missing)
#   OUT=/tmp/eightfold-amplification    working folder (configs, logs, results)
#
# Every server serves bench/amplification.zone (amp.test.) on 127.0.0.1, one
# port per server and setting, all started at once. For each of them and each
# kind of query, bench/amplification.py sends RATE queries/s for SECONDS_EACH
# from one address and counts what comes back to that address: the victim's
# view of a reflection attack. Each run comes from its own /24 (127.N.0.1),
# so no rate limiter carries state from one run to the next. Beside each
# flood, a real client at 127.N.0.2 (same /24) asks for a name 10 times a
# second, retrying over TCP when its answer is truncated.
#
# Servers are pinned to CPU 1 and the client to CPU 0, as in bench/run.sh.
# Rate limiting settings, as each server names them:
#   eightfold  [server] rate_limit = N, rate_limit_slip = S
#   NSD        rrl-ratelimit: N, rrl-slip: S (off: rrl-ratelimit: 0; Debian's default is 200)
#   Knot       mod-rrl rate-limit: N, slip: S (off: no module, Knot's default)
set -euo pipefail

RATE=${RATE:-2000}
SECONDS_EACH=${SECONDS_EACH:-5}
SERVERS=${SERVERS:-"eightfold nsd knot"}
CONFIGS=${CONFIGS:-"off 5/2 20/2 20/0 20/1"}
KINDS=${KINDS:-"any txt biga dnskey nx"}
OUT=${OUT:-/tmp/eightfold-amplification}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
EIGHTFOLD=${EIGHTFOLD:-$ROOT/target/release/eightfold}
ZONE=$ROOT/bench/amplification.zone
declare -A BASE=([eightfold]=5400 [nsd]=5420 [knot]=5440)
. "$ROOT/bench/lib.sh"

wait_ready() { # name port
    local i
    for i in $(seq 1 100); do
        [ -n "$(dig +short +norec +time=1 +tries=1 -p "$2" @127.0.0.1 mail.amp.test A 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    log "$1 did not answer on port $2; see $OUT/$1-*.log"
    return 1
}

# $1 = a setting ("off" or "N/S"); sets RL (answers/s, 0 = off) and SLIP.
parse() {
    if [ "$1" = off ]; then RL=0 SLIP=2; else RL=${1%/*} SLIP=${1#*/}; fi
}

start_eightfold() { # tag port
    local d="$OUT/eightfold-$1"
    mkdir -p "$d"
    { echo "[server]"
      echo "rate_limit = $RL"
      echo "rate_limit_slip = $SLIP"
      echo
      echo '[[zone]]'
      echo 'name = "amp.test."'
      echo "file = \"$ZONE\""; } >"$d/eightfold.toml"
    taskset -c "$SERVER_CPU" "$EIGHTFOLD" serve --config "$d/eightfold.toml" \
        --dns "127.0.0.1:$2" --data "$d/eightfold.db" >"$d.log" 2>&1 &
    PIDS+=($!)
}

start_nsd() { # tag port
    local d="$OUT/nsd-$1"
    mkdir -p "$d"
    cp "$ZONE" "$d/amp.test.zone"
    cat >"$d/nsd.conf" <<EOF
server:
  ip-address: 127.0.0.1
  port: $2
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
  rrl-ratelimit: $RL
  rrl-slip: $SLIP
remote-control:
  control-enable: no
zone:
  name: "amp.test"
  zonefile: "amp.test.zone"
EOF
    taskset -c "$SERVER_CPU" /usr/sbin/nsd -d -c "$d/nsd.conf" >"$d.log" 2>&1 &
    PIDS+=($!)
}

start_knot() { # tag port
    local d="$OUT/knot-$1" rrl=""
    mkdir -p "$d/db"
    cp "$ZONE" "$d/amp.test.zone"
    if [ "$RL" -gt 0 ]; then
        rrl="mod-rrl:
  - id: limit
    rate-limit: $RL
    slip: $SLIP"
    fi
    cat >"$d/knot.conf" <<EOF
server:
    rundir: "$d"
    listen: 127.0.0.1@$2
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$d/db"
log:
  - target: stderr
    any: warning
$rrl
template:
  - id: default
    storage: "$d"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
$([ "$RL" -gt 0 ] && echo "    global-module: mod-rrl/limit")
zone:
  - domain: amp.test
EOF
    taskset -c "$SERVER_CPU" /usr/sbin/knotd -c "$d/knot.conf" >"$d.log" 2>&1 &
    PIDS+=($!)
}

installed() {
    case $1 in
    eightfold) [ -x "$EIGHTFOLD" ] ;;
    nsd) [ -x /usr/sbin/nsd ] ;;
    knot) [ -x /usr/sbin/knotd ] ;;
    esac
}

main() {
    mkdir -p "$OUT"
    local results="$OUT/results.jsonl" servers=() name config i port kind n=0
    : >"$results"
    if [ ! -x "$EIGHTFOLD" ] && [ "$EIGHTFOLD" = "$ROOT/target/release/eightfold" ]; then
        (cd "$ROOT" && cargo build --release --quiet)
    fi
    for name in $SERVERS; do
        if installed "$name"; then servers+=("$name"); else log "skipping $name: not installed"; fi
    done
    declare -A PORT
    for name in "${servers[@]}"; do
        i=0
        for config in $CONFIGS; do
            parse "$config"
            port=$((BASE[$name] + i))
            PORT[$name/$config]=$port
            "start_$name" "${config/\//-}" "$port"
            i=$((i + 1))
        done
    done
    for name in "${servers[@]}"; do
        for config in $CONFIGS; do wait_ready "$name" "${PORT[$name/$config]}"; done
    done
    log "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); $RATE queries/s for ${SECONDS_EACH}s per run"
    log "versions: eightfold $("$EIGHTFOLD" --version 2>/dev/null || echo "?"), $(/usr/sbin/nsd -v 2>&1 | head -1), $(/usr/sbin/knotd --version 2>/dev/null | head -1)"
    for kind in $KINDS; do
        for name in "${servers[@]}"; do
            for config in $CONFIGS; do
                n=$((n + 1))
                taskset -c "$CLIENT_CPU" python3 "$ROOT/bench/amplification.py" measure \
                    --port "${PORT[$name/$config]}" --kind "$kind" --rate "$RATE" \
                    --seconds "$SECONDS_EACH" --source "127.$n.0.1" \
                    --server "$name" --config "$config" --label "$n" >>"$results"
            done
        done
    done
    python3 "$ROOT/bench/amplification.py" table "$results" | tee "$OUT/table.md"
    log "results in $OUT"
}

main "$@"
