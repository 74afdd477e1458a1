#!/bin/sh
# Make a CA and two certificates with the openssl commands of ipc-tls(7),
# then run tls-server/tls-client: a good client twice, then refusals (a
# client without a certificate, a client of another CA) that must fail
# while the server goes on serving. $1: directory of the built examples.
# Exit 0 pass, 1 fail, 77 skip (no openssl, or a libipc built without TLS).
set -u
bin=${1:?usage: check-tls.sh BINDIR}
tmp=$(mktemp -d) || exit 1
spid=
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "check-tls: FAIL: $*" >&2; exit 1; }
command -v openssl > /dev/null 2>&1 || { echo "check-tls: SKIP: no openssl"; exit 77; }
cd "$tmp" || exit 1

# --- ipc-tls(7), EXAMPLES: a CA, a server and a client certificate ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca.key -out ca.pem -days 365 -subj "/CN=demo CA" 2> /dev/null ||
	fail "making the CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout server.key -out server.csr -subj "/CN=localhost" 2> /dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 365 -extfile server.ext -out server.pem 2> /dev/null || fail "server certificate"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout client.key -out client.csr -subj "/CN=alice" 2> /dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 365 -out client.pem 2> /dev/null || fail "client certificate"
chmod 600 ./*.key
# ---

sout=$tmp/server.out
timeout 30 "$bin/tls-server" "tls+tcp://127.0.0.1:0" 2 > "$sout" 2> "$tmp/server.err" &
spid=$!
i=0
while [ ! -s "$sout" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "tls-server printed no address"
	if ! kill -0 "$spid" 2>/dev/null; then
		if grep -q "Unknown URI scheme" "$tmp/server.err"; then
			spid=
			echo "check-tls: SKIP: libipc was built without TLS"
			exit 77
		fi
		fail "tls-server died: $(cat "$tmp/server.err")"
	fi
	sleep 0.1
done
addr=$(head -n 1 "$sout")
case $addr in tls+tcp://127.0.0.1:*) ;; *) fail "tls-server printed '$addr'" ;; esac
port=${addr##*:}

out=$(timeout 10 "$bin/tls-client" "tls+tcp://localhost:$port" "first hello" 2> "$tmp/c1.err") ||
	fail "tls-client failed: $(cat "$tmp/c1.err")"
[ "$out" = "server replied: Hello from server" ] || fail "tls-client printed '$out'"
grep -q "^server is CN=localhost" "$tmp/c1.err" || fail "no server certificate: $(cat "$tmp/c1.err")"

# Refused: no certificate (and the server's key is not ours to read).
mkdir anon && cp ca.pem anon/ && (cd anon && touch client.pem client.key)
(cd anon && timeout 10 "$bin/tls-client" "tls+tcp://localhost:$port" > /dev/null 2>&1) &&
	fail "a client without a certificate was served"
# Refused: a client certificate from another CA.
mkdir rogue && cp ca.pem rogue/ && (
	cd rogue &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout client.key -out client.pem -days 1 -subj "/CN=mallory" 2> /dev/null
) || fail "making the rogue certificate"
(cd rogue && timeout 10 "$bin/tls-client" "tls+tcp://localhost:$port" > /dev/null 2> ../rogue.err) &&
	fail "a client of another CA was served"

# The server is still there for the next good client.
out=$(timeout 10 "$bin/tls-client" "tls+tcp://127.0.0.1:$port" 2> "$tmp/c2.err") ||
	fail "second tls-client failed: $(cat "$tmp/c2.err")"
[ "$out" = "server replied: Hello from server" ] || fail "tls-client printed '$out'"
wait "$spid" || fail "tls-server exited with $?"
spid=
grep -q '^client 1 (CN=alice, sha256 [0-9a-f]*\.\.): first hello$' "$sout" ||
	fail "tls-server output: $(cat "$sout")"
grep -q '^client 2 (CN=alice, .*: Hello from client$' "$sout" || fail "tls-server output: $(cat "$sout")"
echo "check-tls: ok"
exit 0
