#!/bin/sh
# stress.sh N - the kill -9 crash test of check_durability for N cycles
# (default 200): publishers with confirms, SIGKILL at random moments,
# restart, every confirmed message checked.  Run from the build dir
# (or set EDAD_BIN); prints the totals.
set -e
n=${1:-200}
bin=${CHECK_DURABILITY:-./tests/durability/check_durability}
[ -x "$bin" ] || { echo "stress.sh: $bin not built (run from the build dir after make check)" >&2; exit 2; }
# the crash case allows 600 s; scale it for long runs (about 1 s per cycle)
EDAD_CRASH_CYCLES=$n CK_RUN_CASE=crash CK_TIMEOUT_MULTIPLIER=$((n / 200 + 1)) \
    CK_VERBOSITY=normal "$bin" 2>&1 | grep -E "crash test:|Checks|:[EF]:"
