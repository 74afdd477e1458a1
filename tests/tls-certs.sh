#!/bin/sh
# Make the certificates the TLS tests need, with the openssl command, in DIR:
#   ca.pem ca.key              the test CA
#   server.pem server.key      CA-signed; SAN localhost, 127.0.0.1, ::1 and
#                              every extra SAN given (e.g. IP:10.1.2.1)
#   client.pem client.key      CA-signed client certificate, CN=client
#   expired.pem expired.key    CA-signed, the server's names, already expired
#   wrongname.pem wrongname.key  CA-signed, only DNS:elsewhere.example
#   other-ca.pem               another CA
#   rogue.pem rogue.key        signed by the other CA, the server's names
# Keys are mode 0600. EC P-256 keys: quick to make.
# usage: tls-certs.sh DIR [SAN ...]
set -eu
dir=$1
shift
san="DNS:localhost,IP:127.0.0.1,IP:::1"
for extra in "$@"; do
	san="$san,$extra"
done
cd "$dir"
umask 077

key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2> /dev/null
}

# cert NAME CN CA DAYS SAN EKU
cert() {
	key "$1"
	printf 'subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' \
		"$5" "$6" > "$1.ext"
	openssl req -new -key "$1.key" -subj "/O=libipc test/CN=$2" -out "$1.csr" 2> /dev/null
	openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
		-days "$4" -extfile "$1.ext" -out "$1.pem" 2> /dev/null
	rm -f "$1.csr" "$1.ext"
}

ca() {
	key "$1"
	openssl req -x509 -new -key "$1.key" -subj "/O=libipc test/CN=$2" -days 2 \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		-out "$1.pem" 2> /dev/null
}

ca ca "test CA"
ca other-ca "other CA"
cert server localhost ca 2 "$san" serverAuth,clientAuth
cert client client ca 2 "DNS:client" clientAuth,serverAuth
# -days -1: notAfter one day before notBefore, which is now: expired.
cert expired expired ca -1 "$san" serverAuth,clientAuth
cert wrongname elsewhere.example ca 2 "DNS:elsewhere.example" serverAuth,clientAuth
cert rogue localhost other-ca 2 "$san" serverAuth,clientAuth
chmod 0644 ./*.pem
chmod 0600 ./*.key
