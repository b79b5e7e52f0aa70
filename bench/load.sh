#!/usr/bin/env bash
# 1 M records in 10,000 zone files (issue 14), loaded by eightfold, NSD or
# Knot from the same files: time until the last zone's record is
# answered, CPU time, peak and steady memory, and optionally the same
# after a reload of the same files.
#
#   bench/load.sh                          # target/release/eightfold
#   SERVER=nsd bench/load.sh               # NSD 4 on the same files
#   SERVER=knot bench/load.sh              # Knot 3 on the same files
#   SERVERS="eightfold nsd knot" bench/load.sh   # each in turn
#   EIGHTFOLD=/path/to/old/eightfold bench/load.sh   # before/after
#   HUP=1 bench/load.sh                    # also reload once
#
# Each zone: SOA, NS, the NS's address and 100 A records (h0..h99), the
# data set of issue 14. "ready" is measured from the start of the process
# until `dig` gets h42.z9999's address (polled every 20 ms); NSD and
# eightfold answer only once every zone is loaded, Knot answers each zone
# as soon as it is loaded, so for Knot "ready" also waits until its log
# counts every zone loaded (the line says how many were when z9999 first
# answered). CPU is user + system time by then of the whole process tree
# (NSD forks a server and a transfer process; Knot and eightfold are one
# process with threads): utime + stime of every live process in the tree
# plus its cutime + cstime, the time of children it has reaped. Memory,
# one second later: VmHWM (peak resident) of the biggest process of the
# tree and the PSS (smaps_rollup) summed over the tree, so the pages NSD's
# processes share after fork count once. The files are written once into
# $OUT and reused; each server's configuration goes into $OUT/<server>/.
#
# One line per server: "<server>: ready N ms, N ms CPU (...), VmHWM N MiB,
# PSS N MiB". HUP=1 then touches every zone file (NSD and Knot reread only
# the files whose mtime changed) and reloads: SIGHUP for eightfold and NSD
# (NSD builds the new zones in a forked process, then swaps), `knotc
# reload` for Knot; the wait ends on the server's own log of the reload
# (eightfold "reloaded", NSD's new server process up and the old one
# gone, Knot every zone "loaded" again). Then "<server> after reload:"
# reload ms, CPU ms of the reload, VmHWM and PSS again.
#
# Environment: SERVER (eightfold), SERVERS, OUT (/tmp/eightfold-load),
# PORT (15399), ZONES (10000), TRIES (3000 polls), HUP (0), EIGHTFOLD,
# NSD (/usr/sbin/nsd), KNOTD (/usr/sbin/knotd), KNOTC (/usr/sbin/knotc).
set -euo pipefail

if [ -n "${SERVERS:-}" ]; then
    for s in $SERVERS; do SERVERS='' SERVER=$s "$0"; done
    exit 0
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVER=${SERVER:-eightfold}
EIGHTFOLD=${EIGHTFOLD:-$ROOT/target/release/eightfold}
NSD=${NSD:-/usr/sbin/nsd}
KNOTD=${KNOTD:-/usr/sbin/knotd}
KNOTC=${KNOTC:-/usr/sbin/knotc}
OUT=${OUT:-/tmp/eightfold-load}
PORT=${PORT:-15399}
ZONES=${ZONES:-10000}
HZ=$(getconf CLK_TCK)

case $SERVER in
eightfold) [ -x "$EIGHTFOLD" ] || { echo "no eightfold binary at $EIGHTFOLD" >&2; exit 1; } ;;
nsd) [ -x "$NSD" ] || { echo "$NSD is not installed: apt-get install nsd" >&2; exit 1; } ;;
knot) [ -x "$KNOTD" ] || { echo "$KNOTD is not installed: apt-get install knot" >&2; exit 1; } ;;
*) echo "SERVER must be eightfold, nsd or knot, not $SERVER" >&2; exit 2 ;;
esac

mkdir -p "$OUT/zones"
OUT=$(cd "$OUT" && pwd)
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

# The zone files, z0 .. z(ZONES-1), the same for every server.
zone_names() { awk '$1 == "name" {gsub(/"/, "", $3); print $3}' "$OUT/eightfold.toml"; }

# NSD 4 without its database (zones only in memory, like the others),
# everything in $OUT/nsd, one server process, no rate limiting, no
# remote control.
nsd_conf() {
    local d=$1
    cat <<EOF
server:
  ip-address: 127.0.0.1@$PORT
  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "$d"
  pidfile: "$d/nsd.pid"
  database: ""
  xfrdfile: "$d/xfrd.state"
  xfrdir: "$d"
  zonelistfile: "$d/zone.list"
  logfile: "$d/nsd.log"
  verbosity: 1
  hide-version: yes
  rrl-ratelimit: 0
remote-control:
  control-enable: no
EOF
    zone_names | awk -v z="$OUT/zones" '{printf "zone:\n  name: \"%s\"\n  zonefile: \"%s/%szone\"\n", $1, z, $1}'
}

# Knot 3: the zone files read whole and never written back, no journal,
# timers in $OUT/knot/db, a control socket for knotc, zone events logged
# (to know when every zone is loaded). Its default worker counts.
knot_conf() {
    local d=$1
    cat <<EOF
server:
    rundir: "$d"
    listen: 127.0.0.1@$PORT
control:
    listen: "$d/knot.sock"
database:
    storage: "$d/db"
log:
  - target: "$d/knot.log"
    any: info
template:
  - id: default
    storage: "$OUT/zones"
    file: "%s.zone"
    zonefile-load: whole
    zonefile-sync: -1
    journal-content: none
    semantic-checks: off
zone:
EOF
    zone_names | awk '{printf "  - domain: \"%s\"\n", $1}'
}

# The process and its descendants, one pid a line.
tree() {
    awk -v root="$1" '
        { pid = $1; sub(/^[0-9]+ \(.*\) /, ""); ppid[pid] = $2 }
        END { for (p in ppid) { q = p; while (q != "" && q != 0 && q != root) q = ppid[q]; if (q == root) print p } }' \
        /proc/[0-9]*/stat 2>/dev/null
}
# CPU ms of the tree: utime + stime + cutime + cstime of every live member.
cpu_ms() {
    local p
    for p in $(tree "$1"); do cat "/proc/$p/stat" 2>/dev/null || true; done |
        awk -v hz="$HZ" '{ sub(/^[0-9]+ \(.*\) /, ""); t += $12 + $13 + $14 + $15 } END { print int(t * 1000 / hz) }'
}
# "VmHWM MiB of the biggest process, PSS MiB summed, processes".
memory() {
    local p hwm=0 pss=0 n=0 k
    for p in $(tree "$1"); do
        k=$(awk '$1 == "VmHWM:" {print $2}' "/proc/$p/status" 2>/dev/null || true)
        [ -n "$k" ] && [ "$k" -gt "$hwm" ] && hwm=$k
        k=$(awk '$1 == "Pss:" {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
        [ -n "$k" ] && pss=$((pss + k)) && n=$((n + 1))
    done
    echo "$((hwm / 1024)) $((pss / 1024)) $n"
}
# Children of the process (NSD's server and xfrd), sorted.
children() { tree "$1" | grep -vx "$1" | sort -n | tr '\n' ' '; }
count() { grep -c "$1" "$2" 2>/dev/null || true; }

d="$OUT/$SERVER"
mkdir -p "$d"
case $SERVER in
eightfold)
    rm -f "$d"/e.db*
    cmd=("$EIGHTFOLD" serve --config "$OUT/eightfold.toml" --dns "127.0.0.1:$PORT" --data "$d/e.db")
    ;;
nsd)
    rm -f "$d"/nsd.log "$d"/zone.list "$d"/xfrd.state "$d"/nsd.pid
    nsd_conf "$d" >"$d/nsd.conf"
    cmd=("$NSD" -d -c "$d/nsd.conf")
    ;;
knot)
    rm -rf "$d/db" "$d/knot.log" "$d/knot.sock"
    knot_conf "$d" >"$d/knot.conf"
    cmd=("$KNOTD" -c "$d/knot.conf")
    ;;
esac

last="h42.z$((ZONES - 1)).load.test"
pid=
stop() {
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
trap stop EXIT
start=$(date +%s%N)
"${cmd[@]}" >"$d/stderr.log" 2>&1 &
pid=$!
answer=
for _ in $(seq 1 "${TRIES:-3000}"); do
    answer=$(dig +short +tries=1 +time=1 -p "$PORT" @127.0.0.1 "$last" A 2>/dev/null || true)
    [ -n "$answer" ] && [[ "$answer" != *";;"* ]] && break
    kill -0 "$pid" 2>/dev/null || { echo "$SERVER exited; see $d/stderr.log" >&2; exit 1; }
    sleep 0.02
done
note=
if [ "$SERVER" = knot ]; then
    # Knot answers a zone once it is loaded, in whatever order its
    # background workers take them: wait for all.
    loaded=$(count '\] loaded,' "$d/knot.log")
    note=", $loaded zones loaded then"
    until [ "$(count '\] loaded,' "$d/knot.log")" -ge "$ZONES" ]; do sleep 0.02; done
fi
ready=$((($(date +%s%N) - start) / 1000000))
cpu=$(cpu_ms "$pid")
sleep 1
read -r hwm pss procs < <(memory "$pid")
echo "$SERVER: ready ${ready} ms, ${cpu} ms CPU ($last: $answer$note), VmHWM $hwm MiB, PSS $pss MiB ($procs processes)"

if [ "${HUP:-0}" = 1 ]; then
    # Same contents, a new mtime: NSD and Knot skip unchanged files.
    find "$OUT/zones" -name '*.zone' -exec touch {} +
    cpu0=$(cpu_ms "$pid")
    t0=$(date +%s%N)
    case $SERVER in
    eightfold)
        before=$(count reloaded "$d/stderr.log")
        kill -HUP "$pid"
        until [ "$(count reloaded "$d/stderr.log")" -gt "$before" ]; do sleep 0.02; done
        ;;
    nsd)
        # The reload forks a process that reads the changed files and
        # becomes the new server process; the old one then exits.
        old=$(children "$pid")
        kill -HUP "$pid"
        while true; do
            now=$(children "$pid")
            [ "$now" != "$old" ] && [ "$(wc -w <<<"$now")" -le "$(wc -w <<<"$old")" ] && break
            sleep 0.02
        done
        ;;
    knot)
        before=$(count '\] loaded,' "$d/knot.log")
        "$KNOTC" -c "$d/knot.conf" reload >/dev/null
        until [ "$(count '\] loaded,' "$d/knot.log")" -ge $((before + ZONES)) ]; do sleep 0.02; done
        ;;
    esac
    reload=$((($(date +%s%N) - t0) / 1000000))
    cpu1=$(cpu_ms "$pid")
    sleep 1
    read -r hwm pss procs < <(memory "$pid")
    echo "$SERVER after reload: ${reload} ms, $((cpu1 - cpu0)) ms CPU, VmHWM $hwm MiB, PSS $pss MiB ($procs processes)"
fi
