# Shared by the bench scripts that start servers in the background:
# `. "$ROOT/bench/lib.sh"`, then add each background process to PIDS; all
# of them are stopped when the script exits, however it exits.

PIDS=()

log() { printf '%s\n' "$*" >&2; }

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
