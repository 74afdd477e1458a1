/* The peer's certificate as an application authorises by it: the subject in
 * RFC 2253 form and the SHA-256 fingerprint of the DER encoding (what
 * `openssl x509 -fingerprint -sha256` prints). */
#include <errno.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tls.h"

int
ipc__tls_peer_cert(const SSL *ssl, char *subject, size_t cap, unsigned char sha256[32])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	X509 *x = SSL_get0_peer_certificate(ssl);
	BIO *mem;
	char *text;
	long n;
	int rc;

	/* Only a certificate that passed verification counts: a listener that
	 * did not ask for one has none, and a failed chain never gets here
	 * (the handshake was refused). */
	if (!x || SSL_get_verify_result(ssl) != X509_V_OK)
		return -ENOTCONN;
	ERR_clear_error();
	if (!(mem = BIO_new(BIO_s_mem()))) {
		ERR_clear_error();
		return -ENOMEM;
	}
	/* XN_FLAG_RFC2253 escapes what RFC 2253 says to, and every byte above
	 * 0x7f as \XX: the subject is printable ASCII, never raw bytes. */
	if (X509_NAME_print_ex(mem, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	n = BIO_get_mem_data(mem, &text);
	if (n < 0 || n >= 1 << 20) {
		rc = -EPROTO;
		goto out;
	}
	if (sha256 && (X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32)) {
		rc = -ENOMEM;
		goto out;
	}
	if (subject && cap) {
		if ((size_t)n >= cap) {
			rc = -ERANGE;
			goto out;
		}
		memcpy(subject, text, (size_t)n);
		subject[n] = 0;
	} else if (subject || cap) {
		rc = -EINVAL;
		goto out;
	}
	if (sha256)
		memcpy(sha256, md, 32);
	rc = (int)n;
out:
	BIO_free(mem);
	ERR_clear_error();
	return rc;
}
