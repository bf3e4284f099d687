#!/usr/bin/env bash
# tools/test-all.sh - run every test edad has, the way CI does:
#   1. the full `make check` (unit, conformance, interop) in ./build
#   2. the same suites again under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. generated-code drift check (make regen && git diff --exit-code)
#   4. layer-dependency check (tools/check_layers.sh)
#   5. the libFuzzer targets for FUZZ_SECONDS each (default 60; clang)
#   6. make distcheck (skip with EDAD_SKIP_DISTCHECK=1)
# and prints one closing line "N passed, N failed[, N skipped]" summing
# every Check test case, node test and check step.  Exit status 0 only when
# nothing failed.  Expects tools/setup.sh to have run (it builds ./build).
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
passed=0 failed=0 skipped=0
failures=()

step() {   # step NAME CMD... : one pass/fail unit
    local name=$1; shift
    echo "=== $name"
    if "$@"; then passed=$((passed + 1)); echo "--- $name: ok"
    else failed=$((failed + 1)); failures+=("$name"); echo "--- $name: FAILED"; fi
}

# Sum the results of one `make check` build dir: Check cases from each
# test's log, node's "# pass/# fail/# skipped", else the automake verdict.
tally_build() {
    local dir=$1 label=$2 trs log p f s
    while IFS= read -r trs; do
        log=${trs%.trs}.log
        res=$(sed -n 's/^:test-result: //p' "$trs" | head -1)
        if grep -qE '^[0-9]+%: Checks: [0-9]+' "$log" 2>/dev/null; then
            read -r p f < <(awk '/^[0-9]+%: Checks: [0-9]+/ {
                    gsub(",", ""); c += $3; fl += $5; e += $7 }
                END { print c - fl - e, fl + e }' "$log")
            passed=$((passed + p)); failed=$((failed + f))
            [ "$f" -gt 0 ] && failures+=("$label:${log#$dir/}")
            # a crash after some cases ran still fails the program
            if [ "$res" = FAIL ] && [ "$f" -eq 0 ]; then
                failed=$((failed + 1)); failures+=("$label:${log#$dir/} (exit)")
            fi
        elif grep -qE '^# (pass|fail) [0-9]+' "$log" 2>/dev/null; then
            p=$(awk '/^# pass [0-9]+/ {print $3}' "$log" | tail -1)
            f=$(awk '/^# fail [0-9]+/ {print $3}' "$log" | tail -1)
            s=$(awk '/^# skipped [0-9]+/ {print $3}' "$log" | tail -1)
            passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
            [ "${f:-0}" -gt 0 ] && failures+=("$label:${log#$dir/}")
            if [ "$res" = FAIL ] && [ "${f:-0}" -eq 0 ]; then
                failed=$((failed + 1)); failures+=("$label:${log#$dir/} (exit)")
            fi
        else
            case $res in
                PASS|XFAIL) passed=$((passed + 1)) ;;
                SKIP) skipped=$((skipped + 1)) ;;
                *) failed=$((failed + 1)); failures+=("$label:${log#$dir/}") ;;
            esac
        fi
    done < <(find "$dir/tests" -name '*.trs' 2>/dev/null | sort)
}

run_check() {   # run_check DIR LABEL CONFIGURE-ARGS...
    local dir=$1 label=$2; shift 2
    mkdir -p "$dir"
    if [ ! -f "$dir/Makefile" ]; then
        (cd "$dir" && "$top/configure" "$@") >"$dir.configure.log" 2>&1 ||
            { cat "$dir.configure.log"; failed=$((failed + 1)); failures+=("$label:configure"); return; }
    fi
    if ! make -C "$dir" -j"$jobs" >"$dir.build.log" 2>&1; then
        tail -50 "$dir.build.log"; failed=$((failed + 1)); failures+=("$label:build"); return
    fi
    echo "=== $label: make check"
    find "$dir/tests" -name '*.trs' -delete 2>/dev/null
    make -C "$dir" -j"$jobs" check >"$dir.check.log" 2>&1
    grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' "$dir.check.log"
    grep -A3 -E '^# (TOTAL|FAIL|ERROR)' "$dir.check.log" | head -20
    for l in $(grep -lE ':[A-Z]+:|FAIL|Assertion|ERROR' $(find "$dir/tests" -name '*.log') 2>/dev/null); do
        if grep -qE '^:test-result: (FAIL|ERROR)' "${l%.log}.trs" 2>/dev/null; then
            echo "----- $l"; tail -40 "$l"
        fi
    done
    tally_build "$dir" "$label"
}

[ -x configure ] || autoreconf -fi

run_check build "default" --enable-werror

if [ "${EDAD_SKIP_SANITIZERS:-0}" != 1 ]; then
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    run_check build-san "asan+ubsan" --enable-werror --enable-asan --enable-ubsan
    unset ASAN_OPTIONS UBSAN_OPTIONS
fi

regen_check() {
    make -C build regen >/dev/null && git diff --exit-code -- include src conf man
}
if git rev-parse --git-dir >/dev/null 2>&1 && command -v python3 >/dev/null; then
    step "generated code matches the spec (make regen)" regen_check
fi
[ -x tools/check_layers.sh ] && step "layer dependencies" tools/check_layers.sh

if [ "${EDAD_SKIP_FUZZ:-0}" != 1 ] && command -v clang >/dev/null; then
    fuzz_build() {
        mkdir -p build-fuzz
        if [ ! -f build-fuzz/Makefile ]; then
            (cd build-fuzz && "$top/configure" CC=clang --enable-fuzzing --enable-asan --enable-ubsan) \
                >build-fuzz.configure.log 2>&1 || { cat build-fuzz.configure.log; return 1; }
        fi
        make -C build-fuzz -j"$jobs" fuzz-targets >build-fuzz.build.log 2>&1 || { tail -30 build-fuzz.build.log; return 1; }
    }
    if step "fuzz targets build (clang libFuzzer)" fuzz_build; then
        fuzz_run() {
            bash fuzz/run.sh "$FUZZ_SECONDS" build-fuzz >build-fuzz.run.log 2>&1
            local rc=$?
            grep -E '^(==|Done|stat::number_of_executed_units)' build-fuzz.run.log
            [ $rc -eq 0 ] || tail -60 build-fuzz.run.log
            return $rc
        }
        step "fuzzing ${FUZZ_SECONDS}s per target" fuzz_run
    fi
fi

if [ "${EDAD_SKIP_DISTCHECK:-0}" != 1 ]; then
    distcheck() { make -C build -j"$jobs" distcheck >build.distcheck.log 2>&1 || { tail -40 build.distcheck.log; return 1; }; }
    step "make distcheck" distcheck
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
    echo "failed:"; printf '  %s\n' "${failures[@]}"
fi
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
