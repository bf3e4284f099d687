#!/bin/sh
# fuzz/run.sh SECONDS [BUILD_DIR] - run every libFuzzer target built under
# BUILD_DIR/fuzz (default: the current directory) for SECONDS each, over a
# scratch copy of fuzz/corpus/<name> (the committed seeds stay untouched)
# with fuzz/amqp.dict.  Exits non-zero when a target crashes or none is
# built; crash inputs land in BUILD_DIR/fuzz/artifacts/ - add them to the
# corpus once fixed.  Build first: configure CC=clang --enable-fuzzing.
set -u
secs=${1:?usage: fuzz/run.sh SECONDS [BUILD_DIR]}
build=${2:-.}
here=$(cd "$(dirname "$0")" && pwd)
artifacts="$build/fuzz/artifacts"
mkdir -p "$artifacts"

found=0
failed=0
for bin in "$build"/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    found=$((found + 1))
    name=$(basename "$bin")
    target=${name#fuzz_}
    work=$(mktemp -d "${TMPDIR:-/tmp}/edad-fuzz-$target.XXXXXX")
    if [ -d "$here/corpus/$target" ]; then
        cp -R "$here/corpus/$target/." "$work/"
    fi
    echo "== $name: ${secs}s over $(ls "$work" | wc -l) seeds"
    if ! "$bin" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
            -dict="$here/amqp.dict" -artifact_prefix="$artifacts/$target-" "$work"; then
        echo "== $name: CRASH (inputs in $artifacts)" >&2
        failed=$((failed + 1))
    fi
    rm -rf "$work"
done

if [ "$found" -eq 0 ]; then
    echo "no fuzz targets under $build/fuzz (configure CC=clang --enable-fuzzing, make)" >&2
    exit 2
fi
echo "== $found fuzz target(s), $failed crashed"
[ "$failed" -eq 0 ]
