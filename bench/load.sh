#!/usr/bin/env bash
# 1 M records in 10,000 zone files (issue 14), loaded by eightfold, NSD or
# Knot from the same files: time until the last zone's record is
# answered, CPU time, peak and steady memory, and optionally the same
# after a reload of the same files. bench/README.md has the details.
#
#   bench/load.sh                          # target/release/eightfold
#   SERVER=nsd bench/load.sh               # NSD 4 on the same files
#   SERVER=knot bench/load.sh              # Knot 3 on the same files
#   SERVERS="eightfold nsd knot" bench/load.sh   # each in turn
#   EIGHTFOLD=/path/to/old/eightfold bench/load.sh   # before/after
#   HUP=1 bench/load.sh                    # also reload once
#
# Each zone: SOA, NS, the NS's address and 100 A records (h0..h99), the
# data set of issue 14, written once into $OUT/zones and reused; each
# server's configuration and logs go into $OUT/<server>/. "ready" is
# measured from the start of the process until `dig` gets h42.z9999's
# address (polled every 20 ms); NSD and eightfold answer only once every
# zone is loaded, Knot answers each zone as soon as it is loaded, so for
# Knot "ready" also waits until its log counts every zone loaded. CPU is
# the user + system time by then of the whole process tree (NSD runs
# three processes: xfrd, the one started; main, which reads the zones;
# and the server it forks): utime + stime + cutime + cstime of every live
# process of the tree, cutime + cstime being the time of the children it
# has reaped. Memory, one second later: VmHWM (peak resident) of the
# biggest process of the tree, and the PSS (smaps_rollup) summed over the
# tree, so the pages NSD's processes share after fork count once.
#
# One line per server: "<server>: ready N ms, N ms CPU (...), VmHWM N MiB,
# PSS N MiB (N processes)". HUP=1 then touches every zone file (TOUCH=0:
# not; NSD and Knot read again only the files whose mtime changed,
# eightfold those whose contents did) and reloads: SIGHUP for eightfold
# and NSD, `knotc reload` for Knot; the wait ends on the server's own
# signs of the reload done (eightfold logs "reloaded"; NSD logs every zone
# read again and its new server process has replaced the old one; Knot
# logs the configuration reloaded and every zone loaded again). Then
# "<server> after reload (N files touched):" its time, CPU, VmHWM, PSS.
# HUP=1 CHANGE=1 instead adds a comment to every zone file, so that every
# server reads and builds every zone again (the worst reload); it changes
# the files in $OUT for good, so give it an OUT of its own.
#
# Environment: SERVER (eightfold), SERVERS, OUT (/tmp/eightfold-load),
# PORT (15399), ZONES (10000), TRIES (3000 polls), HUP (0), TOUCH (1),
# CHANGE (0),
# EIGHTFOLD, NSD (/usr/sbin/nsd), KNOTD (/usr/sbin/knotd), KNOTC
# (/usr/sbin/knotc).
set -eEuo pipefail
trap 'echo "${SERVER:-load.sh}: line $LINENO: $BASH_COMMAND failed" >&2' ERR

if [ -n "${SERVERS:-}" ]; then
    for s in $SERVERS; do SERVERS='' SERVER=$s bash "$0"; done
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
# (cat, not awk, reads the files: mawk stops at a file that has gone,
# and processes come and go all the time, dig among them.)
tree() {
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$1" '
        { pid = $1; sub(/^[0-9]+ \(.*\) /, ""); ppid[pid] = $2 }
        END { for (p in ppid) { q = p; while (q != "" && q != 0 && q != root) q = ppid[q]; if (q == root) print p } }'
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
# Its descendants (NSD's main and server processes), sorted.
children() { tree "$1" | { grep -vx "$1" || true; } | sort -n | tr '\n' ' '; }
count() { local n; n=$(grep -c "$1" "$2" 2>/dev/null) || true; echo "${n:-0}"; }
# Polls "$@" every 20 ms until it succeeds, TRIES times at most.
wait_until() {
    for _ in $(seq 1 "${TRIES:-3000}"); do
        "$@" && return 0
        sleep 0.02
    done
    echo "$SERVER: gave up waiting for: $*" >&2
    return 1
}
knot_loaded() { [ "$(count '\] loaded,' "$d/knot.log")" -ge "$1" ]; }
knot_reloaded() { # configuration reloads, zone loads to reach
    [ "$(count 'configuration reloaded' "$d/knot.log")" -ge "$1" ] && knot_loaded "$2"
}
eightfold_reloaded() { [ "$(count reloaded "$d/stderr.log")" -gt "$1" ]; }
# NSD's reload is done: every zone read again (its log), a new server
# process, and no more processes than before (the one that ran the old
# server has gone).
nsd_reloaded() { # children before, reads to reach
    local now
    [ "$(count 'read with success' "$d/nsd.log")" -ge "$2" ] || return 1
    now=$(children "$pid")
    [ "$now" != "$1" ] && [ "$(wc -w <<<"$now")" -le "$(wc -w <<<"$1")" ]
}

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
    mkdir "$d/db"
    knot_conf "$d" >"$d/knot.conf"
    cmd=("$KNOTD" -c "$d/knot.conf")
    ;;
esac

last="h42.z$((ZONES - 1)).load.test"
pid=
# Stops the server and waits (5 s at most, then SIGKILL) until every
# process of its tree has gone, so the next run can bind the port.
stop() {
    [ -n "$pid" ] || return 0
    local all p
    all=$(tree "$pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 250); do
        p=
        for p in $all; do alive "$p" && break; p=; done
        [ -z "$p" ] && break
        sleep 0.02
    done
    for p in $all; do
        if alive "$p"; then kill -9 "$p" 2>/dev/null || true; fi
    done
    wait "$pid" 2>/dev/null || true
}
# Running (not gone, not a zombie).
alive() { [ -r "/proc/$1/stat" ] && [ "$(sed -E 's/^[0-9]+ \(.*\) (.).*/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
trap stop EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
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
if [ -z "$answer" ] || [[ "$answer" == *";;"* ]]; then
    echo "$SERVER: no answer for $last; see $d/" >&2
    exit 1
fi
note=
if [ "$SERVER" = knot ]; then
    # Knot answers a zone once it is loaded, in whatever order its
    # background workers take them: wait for all.
    loaded=$(count '\] loaded,' "$d/knot.log")
    note=", $loaded zones loaded then"
    wait_until knot_loaded "$ZONES"
fi
ready=$((($(date +%s%N) - start) / 1000000))
cpu=$(cpu_ms "$pid")
sleep 1
read -r hwm pss procs < <(memory "$pid")
echo "$SERVER: ready ${ready} ms, ${cpu} ms CPU ($last: $answer$note), VmHWM $hwm MiB, PSS $pss MiB ($procs processes)"

if [ "${HUP:-0}" = 1 ]; then
    # TOUCH=1: the same contents with a new mtime. NSD and Knot read again
    # only the files whose mtime changed, eightfold those whose contents
    # did (a digest of each, so it reads them all either way).
    # CHANGE=1: every file's contents change (a comment is added), so
    # every server parses and builds every zone again: the worst reload.
    changed=0
    if [ "${CHANGE:-0}" = 1 ]; then
        find "$OUT/zones" -name '*.zone' -exec sh -c 'for f; do echo "; changed" >>"$f"; done' sh {} +
        changed=$ZONES
    elif [ "${TOUCH:-1}" = 1 ]; then
        find "$OUT/zones" -name '*.zone' -exec touch {} +
        changed=$ZONES
    fi
    cpu0=$(cpu_ms "$pid")
    t0=$(date +%s%N)
    case $SERVER in
    eightfold)
        before=$(count reloaded "$d/stderr.log")
        kill -HUP "$pid"
        wait_until eightfold_reloaded "$before"
        ;;
    nsd)
        # The process started is NSD's xfrd: it passes the reload on to
        # its child, the main process, which reads the changed files, forks
        # the new server process from them and lets the old one go.
        old=$(children "$pid")
        before=$(count 'read with success' "$d/nsd.log")
        kill -HUP "$pid"
        wait_until nsd_reloaded "$old" $((before + changed))
        ;;
    knot)
        # knotc returns once the configuration is read again; the zones
        # whose files changed then load in the background.
        before=$(count '\] loaded,' "$d/knot.log")
        configs=$(count 'configuration reloaded' "$d/knot.log")
        "$KNOTC" -c "$d/knot.conf" reload >/dev/null
        wait_until knot_reloaded $((configs + 1)) $((before + changed))
        ;;
    esac
    reload=$((($(date +%s%N) - t0) / 1000000))
    cpu1=$(cpu_ms "$pid")
    sleep 1
    read -r hwm pss procs < <(memory "$pid")
    echo "$SERVER after reload ($changed files $([ "${CHANGE:-0}" = 1 ] && echo changed || echo touched)): ${reload} ms, $((cpu1 - cpu0)) ms CPU, VmHWM $hwm MiB, PSS $pss MiB ($procs processes)"
fi
