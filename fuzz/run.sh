#!/usr/bin/env bash
# Build every fuzz target and run each for SECONDS, one after another, then
# print a summary: executions, exec/s, coverage (cov, ft) and corpus size
# per target, and the artefact of any crash. Exits 1 if a target crashed
# or broke a property (a panic is a crash), 2 on a usage or build error.
#
#   fuzz/run.sh SECONDS            every target
#   FUZZ_TARGETS="uri_path chunked_body" fuzz/run.sh 60
#   nice -n 19 fuzz/run.sh 180     on a shared machine
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# The committed seeds (corpus/<target>/) are read, never written: what the
# fuzzer finds goes to work/corpus/<target>/ (ignored by git) and is reused
# by the next run. Logs are in work/logs/<target>.log, crash artefacts in
# artifacts/<target>/. Extra libFuzzer flags: FUZZ_FLAGS="-max_len=8192".
set -uo pipefail

usage() {
    echo "usage: $0 SECONDS   (run every fuzz target for SECONDS each)" >&2
    exit 2
}
[ $# -eq 1 ] || usage
seconds=$1
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || usage

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
cd "$fuzz_dir/.." || exit 2

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz on the nightly toolchain is missing:" >&2
    echo "  rustup toolchain install nightly && cargo install cargo-fuzz" >&2
    exit 2
fi

targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
[ -n "$targets" ] || { echo "no fuzz targets found in $fuzz_dir" >&2; exit 2; }

echo "== building: $(echo $targets)"
if ! cargo +nightly fuzz build; then
    echo "the fuzz targets did not build" >&2
    exit 2
fi

# The dictionary that suits each target, if any.
dict_for() {
    case "$1" in
        config_*) echo "$fuzz_dir/config.dict" ;;
        h2_*|hpack_*) echo "$fuzz_dir/h2.dict" ;;
        rewrite_*) echo "$fuzz_dir/rewrite.dict" ;;
        *) echo "$fuzz_dir/fuzz.dict" ;;
    esac
}

# A field of libFuzzer's status line ($last), a final statistic of $log.
field() { sed -nE "s|.*[[:space:]]$1: ([^[:space:]]+).*|\\1|p" <<<"$last"; }
stat() { sed -nE "s|^stat::$1:[[:space:]]+([0-9]+).*|\\1|p" "$log" | tail -n 1; }

mkdir -p "$fuzz_dir/work/logs"
summary=()
failed=0
for target in $targets; do
    seeds="$fuzz_dir/corpus/$target"
    grown="$fuzz_dir/work/corpus/$target"
    log="$fuzz_dir/work/logs/$target.log"
    mkdir -p "$grown" "$seeds"
    flags=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -max_len=4096)
    dict=$(dict_for "$target")
    [ -f "$dict" ] && flags+=(-dict="$dict")
    # shellcheck disable=SC2206 # FUZZ_FLAGS is a list of flags
    flags+=(${FUZZ_FLAGS:-})

    echo "== $target: ${seconds}s (log: $log)"
    cargo +nightly fuzz run "$target" "$grown" "$seeds" -- "${flags[@]}" >"$log" 2>&1
    status=$?

    # The last status line ("#N DONE cov: … ft: … corp: … exec/s: …"), and
    # the final statistics.
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    execs=$(stat number_of_executed_units)
    rate=$(stat average_exec_per_sec)
    [ -n "$execs" ] || execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
    [ -n "$rate" ] || rate=$(field exec/s)
    cov=$(field cov)
    ft=$(field ft)
    corp=$(field corp)
    artifact=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -n 1)

    if [ $status -eq 0 ]; then
        result=ok
    else
        failed=1
        result="FAILED (exit $status)"
        echo "-- $target failed; the end of its log:"
        tail -n 40 "$log"
    fi
    line=$(printf '%-14s %-18s execs %-10s exec/s %-7s cov %-6s ft %-6s corp %s' \
        "$target" "$result" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")
    [ -n "$artifact" ] && line+=$'\n'"               artefact: $artifact"
    summary+=("$line")
    echo "$line"
done

echo
echo "== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [ $failed -ne 0 ]; then
    echo "== a target failed: reproduce with" >&2
    echo "   cargo +nightly fuzz run TARGET ARTEFACT" >&2
    exit 1
fi
