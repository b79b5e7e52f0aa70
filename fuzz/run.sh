#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for a bounded time each.
#
#   fuzz/run.sh                 # 300 s per target, all five
#   fuzz/run.sh 60              # 60 s per target (a CI smoke run)
#   fuzz/run.sh 600 handler     # one target, 10 minutes
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). It works on stable Rust
# through RUSTC_BOOTSTRAP=1, which unlocks the -Z flags cargo-fuzz passes
# (sanitizer coverage, AddressSanitizer); on nightly it is harmless.
#
# Each target starts from its committed seeds (fuzz/seeds/<target>) plus
# what earlier runs found (fuzz/corpus/<target>, not committed). A crash
# stops the run of that target, leaves its input under
# fuzz/artifacts/<target>/ and makes the script exit 1 at the end; turn
# it into a regression test in tests/properties.rs.
set -uo pipefail

cd "$(dirname "$0")"
secs="${1:-300}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(handler zonefile config validate sigv4)
fi

export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do cargo fuzz build "$t" || exit 2; done

failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    printf '\n==> %s for %ss\n' "$t" "$secs"
    # -rss_limit_mb bounds memory; -timeout flags any input slower than 10 s.
    if ! cargo fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 2>&1 | tee "artifacts/$t/last-run.log" |
        grep -E '^(#[0-9]+ +(INITED|DONE|pulse)|==[0-9]+==|stat::|thread .* panicked|SUMMARY|Done|.*Test unit written)'; then
        :
    fi
    if grep -qE 'panicked|ERROR: libFuzzer|SUMMARY: AddressSanitizer|Test unit written' "artifacts/$t/last-run.log"; then
        failed+=("$t")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    printf '\nfindings in: %s (see fuzz/artifacts/)\n' "${failed[*]}"
    exit 1
fi
printf '\nno findings\n'
