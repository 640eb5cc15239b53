#!/bin/sh
# mkcerts.sh DIR: the certificates of the TLS tests, made with the openssl
# command line alone (OpenSSL 3.0), every key EC P-256:
#   ca.crt ca.key              the test CA
#   server.crt server.key      DNS:localhost, IP:127.0.0.1, signed by the CA
#   other-ca.crt               an unrelated CA (the "wrong CA" case)
#   wrong-name.crt .key        signed by the CA, for DNS:wrong.example only
#   expired.crt .key           as server.crt, but valid in 2020 only
#   client.crt client.key      a client certificate (mutual TLS)
#   client-enc.key             client.key encrypted (AES-256) with the
#   client-enc.pass            passphrase in this file (one line)
#   cadir/                     ca.crt alone, hashed (openssl rehash): a
#                              trust directory
# Every certificate is signed with `openssl ca` from a throwaway CA
# database: x509 -req cannot backdate, and one way for all keeps them
# alike.  Each one is checked before the script ends.  Quiet on success;
# on a failure, the command and what openssl said, and exit 1.
set -eu

[ $# = 1 ] || { echo "usage: $0 DIR" >&2; exit 64; }
command -v openssl >/dev/null || { echo "mkcerts: openssl missing" >&2; exit 1; }
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mkcerts.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
umask 077

run() {
	if ! "$@" >"$TMP/out" 2>&1; then
		echo "mkcerts: failed: $*" >&2
		cat "$TMP/out" >&2
		exit 1
	fi
}

mkdir "$TMP/new"
: >"$TMP/index.txt"
# A random positive serial to start from (a new CA each run).
printf '1%s\n' "$(openssl rand -hex 15 | cut -c2-)" >"$TMP/serial"
cat >"$TMP/openssl.cnf" <<EOF
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused

[ ca ]
default_ca = test_ca
[ test_ca ]
database = $TMP/index.txt
new_certs_dir = $TMP/new
serial = $TMP/serial
certificate = $DIR/ca.crt
private_key = $DIR/ca.key
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
commonName = supplied

[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, IP:127.0.0.1
[ wrong_name_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.example
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

key() { run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# ca NAME SUBJECT KEY: a self-signed CA certificate, ten years.
ca() {
	run openssl req -config "$TMP/openssl.cnf" -new -x509 -key "$3" \
	    -subj "$2" -days 3650 -sha256 -extensions ca_ext -out "$1"
}

# sign NAME SUBJECT EXTENSIONS [openssl ca's date options]: NAME.key and
# NAME.crt, signed by the test CA (ten years unless dates are given).
sign() {
	name=$1 subj=$2 ext=$3
	shift 3
	[ $# -gt 0 ] || set -- -days 3650
	key "$DIR/$name.key"
	run openssl req -config "$TMP/openssl.cnf" -new -key "$DIR/$name.key" \
	    -subj "$subj" -out "$TMP/$name.csr"
	run openssl ca -config "$TMP/openssl.cnf" -batch -notext \
	    -extensions "$ext" "$@" -in "$TMP/$name.csr" -out "$DIR/$name.crt"
}

key "$DIR/ca.key"
ca "$DIR/ca.crt" "/CN=persistent-cache-service test CA" "$DIR/ca.key"
key "$TMP/other-ca.key"
ca "$DIR/other-ca.crt" "/CN=persistent-cache-service other CA" "$TMP/other-ca.key"

sign server /CN=localhost server_ext
sign wrong-name /CN=wrong.example wrong_name_ext
sign expired /CN=localhost server_ext \
    -startdate 20200101000000Z -enddate 20210101000000Z
sign client "/CN=persistent-cache-service test client" client_ext

printf 'pcs-test-%s\n' "$(openssl rand -hex 12)" >"$DIR/client-enc.pass"
run openssl pkey -in "$DIR/client.key" -aes-256-cbc \
    -passout "file:$DIR/client-enc.pass" -out "$DIR/client-enc.key"

mkdir -p "$DIR/cadir"
cp "$DIR/ca.crt" "$DIR/cadir/ca.crt"
run openssl rehash "$DIR/cadir"

# Check what was made: the chains, the names, the dates, the key.
for c in server wrong-name; do
	run openssl verify -CAfile "$DIR/ca.crt" -purpose sslserver "$DIR/$c.crt"
done
run openssl verify -CAfile "$DIR/ca.crt" -purpose sslclient "$DIR/client.crt"
run openssl verify -CApath "$DIR/cadir" -verify_hostname localhost "$DIR/server.crt"
run openssl verify -CAfile "$DIR/ca.crt" -verify_hostname localhost "$DIR/server.crt"
run openssl verify -CAfile "$DIR/ca.crt" -verify_ip 127.0.0.1 "$DIR/server.crt"
run openssl verify -CAfile "$DIR/ca.crt" -verify_hostname wrong.example "$DIR/wrong-name.crt"
for c in server wrong-name client; do
	run openssl x509 -noout -checkend 86400 -in "$DIR/$c.crt"
done
# expired.crt: signed by the CA, for localhost, and refused for its date
# (and nothing else: verify stops at the first error it is not told to
# ignore, and the date is the only one).
run openssl verify -CAfile "$DIR/ca.crt" -no_check_time -purpose sslserver \
    -verify_hostname localhost "$DIR/expired.crt"
if openssl x509 -noout -checkend 0 -in "$DIR/expired.crt" >/dev/null ||
    openssl verify -CAfile "$DIR/ca.crt" "$DIR/expired.crt" >"$TMP/out" 2>&1 ||
    ! grep -q "certificate has expired" "$TMP/out"; then
	echo "mkcerts: expired.crt is not refused as expired:" >&2
	openssl x509 -noout -dates -in "$DIR/expired.crt" >&2
	cat "$TMP/out" >&2
	exit 1
fi
if openssl verify -CAfile "$DIR/other-ca.crt" "$DIR/server.crt" >/dev/null 2>&1; then
	echo "mkcerts: other-ca.crt verifies server.crt" >&2
	exit 1
fi
if openssl verify -CAfile "$DIR/ca.crt" -verify_hostname localhost \
    "$DIR/wrong-name.crt" >/dev/null 2>&1; then
	echo "mkcerts: wrong-name.crt is valid for localhost" >&2
	exit 1
fi
run openssl pkey -in "$DIR/client-enc.key" -passin "file:$DIR/client-enc.pass" -noout
if openssl pkey -in "$DIR/client-enc.key" -passin pass: -noout >/dev/null 2>&1; then
	echo "mkcerts: client-enc.key is not encrypted" >&2
	exit 1
fi
