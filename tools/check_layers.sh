#!/usr/bin/env bash
# tools/check_layers.sh - fail when an #include breaks edad's layer order.
# Each src/<layer>/ file may include its own folder's headers, the public
# headers (include/edad/<x>.h) of the layers listed for it below, and system
# headers; only net/, mgmt/http*.c and server.c may include <event2/...>.
# See docs/architecture.md for why the layers are ordered this way.
set -u
cd "$(dirname "$0")/.."

allowed() {   # layer -> public headers it may include
    case $1 in
        core)    echo "status core" ;;
        amqp)    echo "status core amqp amqp_methods.gen" ;;
        net)     echo "status core net" ;;
        conf)    echo "status core conf" ;;
        store)   echo "status core store" ;;
        broker)  echo "status core store broker access" ;;
        session) echo "status core amqp net conf store broker access session" ;;
        mgmt)    echo "status core conf store broker access mgmt" ;;
        *)       echo "*" ;;
    esac
}

bad=0
while IFS= read -r f; do
    rel=${f#src/}
    case $rel in
        */*) layer=${rel%%/*} ;;
        *) continue ;;            # src/main.c, src/server.c: wiring, anything goes
    esac
    ok=$(allowed "$layer")
    while IFS= read -r inc; do
        hdr=${inc#edad/}; hdr=${hdr%.h}
        if [ "$ok" != "*" ] && ! grep -qw -- "$hdr" <<<"$ok"; then
            echo "$f: includes edad/$hdr.h, which layer '$layer' may not use"
            bad=1
        fi
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\(edad\/[^"]*\)".*/\1/p' "$f")
    if grep -qE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<event2/' "$f"; then
        case $rel in
            net/*|mgmt/http*.c) ;;
            *) echo "$f: includes <event2/...>; only net/ and mgmt/http.c may"; bad=1 ;;
        esac
    fi
    if grep -qE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"\.\./' "$f"; then
        echo "$f: reaches into another layer's folder with \"../\""; bad=1
    fi
done < <(find src -name '*.[ch]' | sort)

if [ $bad -eq 0 ]; then echo "layers: ok"; fi
exit $bad
