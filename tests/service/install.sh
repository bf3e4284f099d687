#!/bin/sh
# install.sh - `make install DESTDIR=tmp` from the build dir (without its
# rebuild step, see below; distcheck runs the full one), then check and
# list what landed: the daemon, the tools, edad.conf (+ .default), the unit
# (paths substituted; `systemd-analyze verify` when it exists), sysusers and
# tmpfiles entries, both man pages.  Then `make uninstall` must leave no file,
# and an edited edad.conf must survive a reinstall and an uninstall.
# Run by make check (cwd: the build dir); prints PASS/FAIL lines.
set -u
# a make of its own: not the jobserver or the TESTS= of the make check above
submake() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "${MAKE:-make}" --no-print-directory "$@"; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/edad-install-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root
failed=0
fail() { echo "FAIL: $*"; failed=1; }
pass() { echo "PASS: $*"; }

eval "$(submake -s -o Makefile print-install-dirs | grep -E '^[a-z_]+=')" || { echo "FAIL: make print-install-dirs"; exit 1; }
# Install what make check built, never rebuild it: a relink here while
# other tests run (sources edited meanwhile) would pull binaries from under
# them.  `install` itself re-runs make for all-am (where -o does not reach),
# so the test uses its two halves, which is what `make install` runs after.
keep="-o Makefile"
for f in $install_built; do keep="$keep -o $f"; done
install_args=$keep

if ! submake install-exec-am install-data-am $install_args DESTDIR="$dest" >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log"; echo "FAIL: make install"; exit 1
fi
echo "installed into DESTDIR=$dest:"
(cd "$dest" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort | sed 's|^|  |')

for f in "$sbindir/edad" "$bindir/edad-check-store" \
         "$sysconfdir/edad/edad.conf" "$sysconfdir/edad/edad.conf.default" \
         "$systemdsystemunitdir/edad.service" "$sysusersdir/edad.conf" "$tmpfilesdir/edad.conf" \
         "$mandir/man8/edad.8" "$mandir/man5/edad.conf.5"; do
    if [ -f "$dest$f" ]; then pass "installed $f"; else fail "missing $f"; fi
done
[ -x "$dest$sbindir/edad" ] && "$dest$sbindir/edad" --version >/dev/null 2>&1 &&
    pass "installed edad runs" || fail "installed edad does not run"
"$dest$sbindir/edad" -t -c "$dest$sysconfdir/edad/edad.conf" >/dev/null 2>&1 &&
    pass "installed edad.conf is valid" || fail "installed edad.conf is not valid"

unit=$dest$systemdsystemunitdir/edad.service
if [ -f "$unit" ]; then
    grep -q "^ExecStart=$sbindir/edad -c $sysconfdir/edad/edad.conf\$" "$unit" &&
        pass "unit ExecStart uses the configured paths" ||
        fail "unit ExecStart: $(grep ExecStart= "$unit")"
    grep -q '@[a-z]*@' "$unit" && fail "unit has unsubstituted @vars@" ||
        pass "unit fully substituted"
    for k in Type=notify User=edad Group=edad 'ExecReload=/bin/kill -HUP $MAINPID' \
             NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
             StateDirectory=edad RuntimeDirectory=edad Restart=on-failure; do
        grep -qxF "$k" "$unit" && pass "unit has $k" || fail "unit lacks $k"
    done
    grep -qE '^LimitNOFILE=[0-9]+$' "$unit" && pass "unit raises LimitNOFILE" ||
        fail "unit lacks LimitNOFILE"
    grep -qE '^TimeoutStopSec=[0-9]+$' "$unit" && pass "unit bounds TimeoutStopSec" ||
        fail "unit lacks TimeoutStopSec"
    if command -v systemd-analyze >/dev/null 2>&1; then
        # verify needs ExecStart's binary: point it at the DESTDIR copy
        mkdir -p "$tmp/verify"
        sed "s|^ExecStart=$sbindir/edad|ExecStart=$dest$sbindir/edad|" "$unit" \
            >"$tmp/verify/edad.service"
        if SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$tmp/verify/edad.service" \
                >"$tmp/verify.log" 2>&1 && ! grep -v -e '^$' "$tmp/verify.log" |
                grep -qiv -e 'kmod-static-nodes\|systemd-tmpfiles\|Cannot add dependency'; then
            pass "systemd-analyze verify edad.service"
        else
            cat "$tmp/verify.log"; fail "systemd-analyze verify edad.service"
        fi
    else
        echo "SKIP: systemd-analyze not installed; unit not verified"
    fi
fi

# uninstall leaves nothing behind
submake uninstall $install_args DESTDIR="$dest" >"$tmp/uninstall.log" 2>&1 || { cat "$tmp/uninstall.log"; fail "make uninstall"; }
left=$(cd "$dest" && find . \( -type f -o -type l \) | sed 's|^\.||')
[ -z "$left" ] && pass "make uninstall removed every file" || fail "left after uninstall: $left"

# an edited edad.conf survives reinstall and uninstall (unless the top
# Makefile.am still has automake install it unconditionally)
if grep -q '^dist_sysconf_edad_DATA' "${srcdir:-.}/Makefile.am"; then
    echo "SKIP: Makefile.am installs edad.conf with dist_sysconf_edad_DATA (overwrites)"
    [ $failed -eq 0 ] && echo "PASS: install" || echo "FAIL: install"
    exit $failed
fi
conf=$dest$sysconfdir/edad/edad.conf
submake install-exec-am install-data-am $install_args DESTDIR="$dest" >"$tmp/install2.log" 2>&1 || fail "make install (2)"
echo "heartbeat = 30   # edited by the administrator" >>"$conf"
submake install-exec-am install-data-am $install_args DESTDIR="$dest" >"$tmp/install3.log" 2>&1 || fail "make install (3)"
if grep -q "edited by the administrator" "$conf"; then
    pass "reinstall keeps an edited edad.conf"
else
    fail "reinstall overwrote the edited $sysconfdir/edad/edad.conf"
fi
cmp -s "$dest$sysconfdir/edad/edad.conf.default" "${srcdir:-.}/conf/edad.conf" &&
    pass "edad.conf.default is the shipped file" || fail "edad.conf.default differs"
submake uninstall $install_args DESTDIR="$dest" >"$tmp/uninstall2.log" 2>&1 || fail "make uninstall (2)"
left=$(cd "$dest" && find . \( -type f -o -type l \) | sed 's|^\.||')
[ "$left" = "$sysconfdir/edad/edad.conf" ] && pass "uninstall keeps only the edited edad.conf" ||
    fail "after uninstall of an edited conf: '$left'"

[ $failed -eq 0 ] && echo "PASS: install" || echo "FAIL: install"
exit $failed
