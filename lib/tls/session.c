/* One TLS session: how the peer is verified, and what a failed OpenSSL call
 * means as a libipc return value. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls.h"

static int
tls_is_ip_literal(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

int
ipc__tls_session_new(SSL **out, SSL_CTX *ctx, BIO *bio, const char *name, int server)
{
	SSL *ssl;
	int rc = 0;

	ERR_clear_error();
	if (!(ssl = SSL_new(ctx))) {
		BIO_free(bio);
		ERR_clear_error();
		return -ENOMEM;
	}
	SSL_set_bio(ssl, bio, bio);
	if (server) {
		SSL_set_accept_state(ssl);
	} else {
		SSL_set_connect_state(ssl);
		if (!name || !*name) {
			rc = -EINVAL;
		} else if (tls_is_ip_literal(name)) {
			/* RFC 6066: no IP literal in SNI; the certificate must
			 * carry the address as an iPAddress entry. */
			if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) != 1)
				rc = -EINVAL;
		} else {
			SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			if (SSL_set_tlsext_host_name(ssl, name) != 1 || SSL_set1_host(ssl, name) != 1)
				rc = -EINVAL;
		}
	}
	ERR_clear_error();
	if (rc < 0) {
		SSL_free(ssl);
		return rc;
	}
	*out = ssl;
	return 0;
}

/* A failed certificate check, from X509_verify_cert's code. */
static int
tls_verify_code(long v)
{
	switch (v) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
		return -EKEYEXPIRED;
	case X509_V_ERR_OUT_OF_MEM:
		return -ENOMEM;
	default:
		return -EKEYREJECTED;
	}
}

/* An alert the peer sent us (OpenSSL queues it as reason 1000 + alert). */
static int
tls_alert_code(int alert)
{
	switch (alert) {
	case SSL_AD_CERTIFICATE_EXPIRED:
		return -EKEYEXPIRED;
	case SSL_AD_BAD_CERTIFICATE:
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
	case SSL_AD_CERTIFICATE_REVOKED:
	case SSL_AD_CERTIFICATE_UNKNOWN:
	case SSL_AD_UNKNOWN_CA:
	case SSL_AD_ACCESS_DENIED:
	case SSL_AD_CERTIFICATE_REQUIRED:
		return -EKEYREJECTED;
	case SSL_AD_PROTOCOL_VERSION:
		return -EPROTO;
	default:
		return -ECONNRESET;
	}
}

/* The first error OpenSSL queued for this failure says what it was. */
static int
tls_queue_code(SSL *ssl)
{
	unsigned long e = ERR_peek_error();
	int reason = ERR_GET_REASON(e);

	if (!e)
		return -EPROTO;
	if (ERR_GET_LIB(e) == ERR_LIB_SSL) {
		if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
			return tls_verify_code(SSL_get_verify_result(ssl));
		if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
			return -EKEYREJECTED;
		if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256)
			return tls_alert_code(reason - SSL_AD_REASON_OFFSET);
		if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
			return -ECONNRESET;
	}
	if (reason == ERR_R_MALLOC_FAILURE)
		return -ENOMEM;
	/* Wrong version number, a plaintext or HTTP peer, a bad record MAC,
	 * no protocol in common: the peer does not speak our TLS. */
	return -EPROTO;
}

int
ipc__tls_result(SSL *ssl, int ret, short *events)
{
	int err = SSL_get_error(ssl, ret), rc;

	*events = 0;
	switch (err) {
	case SSL_ERROR_WANT_READ:
		*events = POLLIN;
		rc = -EAGAIN;
		break;
	case SSL_ERROR_WANT_WRITE:
		*events = POLLOUT;
		rc = -EAGAIN;
		break;
	case SSL_ERROR_ZERO_RETURN:
		rc = IPC_EOF;
		break;
	case SSL_ERROR_SYSCALL:
		/* The socket failed under OpenSSL (our BIO keeps errno), or
		 * the peer went away in the middle of a handshake. */
		rc = ERR_peek_error() ? tls_queue_code(ssl) : errno ? -errno : -ECONNRESET;
		if (rc == -EPIPE)
			rc = -ECONNRESET;
		break;
	case SSL_ERROR_SSL:
		rc = tls_queue_code(ssl);
		break;
	default:
		rc = -EPROTO;
		break;
	}
	ERR_clear_error();
	return rc;
}
