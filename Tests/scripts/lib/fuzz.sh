# One libFuzzer run of one target, shared by Tests/scripts/fuzz-readers.sh and
# Cluster/fuzz-package-readers.sh (sourced; it is not a test itself).
#
#   fuzz_target TARGET BIN WORK SEEDS MAX_LEN BUDGET...
#
# Runs FUZZ_TARGET=TARGET BIN over WORK/corpus-TARGET (written), the committed
# corpus Tests/fuzz/corpus/TARGET and SEEDS, for the libFuzzer BUDGET flags
# (-runs=N or -max_total_time=S); prints executions, executions/s, coverage and
# the corpus size; with FUZZ_UPDATE_CORPUS set, merges what adds coverage into the
# committed corpus. Returns 1 on a finding (the reproducer is left in WORK).
fuzz_target() {
    local t=$1 bin=$2 work=$3 seeds=$4 max_len=$5; shift 5
    local corpus="$work/corpus-$t" committed="Tests/fuzz/corpus/$t" log="$work/fuzz-$t.log" rc=0
    mkdir -p "$corpus" "$committed"
    FUZZ_TARGET=$t "$bin" "$corpus" "$committed" "$seeds" "$@" -max_len="$max_len" -rss_limit_mb=2048 \
        -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$work/crash-$t-" > "$log" 2>&1 || rc=$?
    local execs rate cov
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    echo "$t: $execs executions ($rate exec/s), $cov, corpus $(ls "$corpus" | wc -l) files, exit $rc"
    if [ $rc -ne 0 ]; then
        echo "$t: the reader crashed; log $log"; grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -20
        return 1
    fi
    if [ -n "${FUZZ_UPDATE_CORPUS:-}" ]; then
        # Keep only inputs that add coverage: a small committed corpus.
        FUZZ_TARGET=$t "$bin" -merge=1 "$committed" "$corpus" "$seeds" > "$work/merge-$t.log" 2>&1
        echo "$t: $committed now holds $(ls "$committed" | wc -l) inputs"
    fi
}
