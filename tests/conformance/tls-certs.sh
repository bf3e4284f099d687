#!/bin/sh
# tls-certs.sh DIR - creates the test PKI for the TLS suites with the
# openssl command: a CA (ca.pem), a server certificate for localhost and
# 127.0.0.1 (server.pem, server.key), a client certificate signed by that CA
# (client.pem, client.key; subject O=edad-test, CN=edad-client), and a
# client certificate from another, untrusted CA (rogue.pem, rogue.key).
# EC P-256 keys, valid for a day; nothing outside DIR is touched.
set -eu
dir=${1:?usage: tls-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() {  # ca NAME SUBJECT
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -subj "$2" -days 2 -out "$1.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}

leaf() {  # leaf NAME SUBJECT CA EXTFILE
    key "$1.key"
    openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
    openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 1 \
        -extfile "$4" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr"
}

cat > server.ext <<'X'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
X
cat > client.ext <<'X'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
X

ca ca "/O=edad-test/CN=edad test CA"
ca rogueca "/O=rogue/CN=rogue CA"
leaf server "/O=edad-test/CN=localhost" ca server.ext
leaf client "/O=edad-test/CN=edad-client" ca client.ext
leaf rogue "/O=edad-test/CN=edad-client" rogueca client.ext
rm -f server.ext client.ext ca.srl rogueca.srl
