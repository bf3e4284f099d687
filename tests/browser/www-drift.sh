#!/bin/sh
# www-drift.sh - fails when src/mgmt/www.gen.c (committed) no longer matches
# the dashboard's files in src/mgmt/www/: someone edited a file there and did
# not run `make regen`.  Exits 77 (automake SKIP) without python3.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not installed"; exit 77; }
cd "$top" || exit 99
exec python3 tools/embed_www.py --check --root src/mgmt/www --out src/mgmt/www.gen.c \
    src/mgmt/www/index.html src/mgmt/www/app.js src/mgmt/www/style.css src/mgmt/www/favicon.svg
