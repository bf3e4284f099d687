#!/bin/sh
# man-drift.sh - fail when man/edad.conf.5 differs from what the option table
# (src/conf/options.def) generates; `make regen-man` (or regen-conf) fixes it.
# Run by make check from the build dir; srcdir comes from automake.
srcdir=${srcdir:-.}
gen=./src/conf/edad-gen-conf
if [ ! -x "$gen" ]; then
    echo "SKIP: $gen is not built"
    exit 77
fi
tmp=$(mktemp) || exit 99
trap 'rm -f "$tmp"' EXIT
"$gen" --man >"$tmp" || { echo "FAIL: $gen --man failed"; exit 1; }
if ! diff -u "$srcdir/man/edad.conf.5" "$tmp"; then
    echo "FAIL: man/edad.conf.5 is out of date with src/conf/options.def; run make regen-man"
    exit 1
fi
echo "PASS: man/edad.conf.5 matches the option table"
