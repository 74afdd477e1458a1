/* SSL_CTX from struct ipc_tls: protocol floor, verification, our own
 * certificate chain and key.
 *
 * Files are opened by us and handed to OpenSSL as a BIO over the descriptor
 * we checked, so the key file that fstat() found private is the file whose
 * bytes are parsed (no window between a stat of the path and OpenSSL's own
 * open), and a missing file is -ENOENT rather than an OpenSSL string. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tls.h"

#define TLS_KNOWN_FLAGS (IPC_TLS_REQUIRE_CLIENT_CERT | IPC_TLS_1_2)
/* TLS 1.2 only with forward secrecy and an AEAD; 1.3's suites are all that. */
#define TLS_12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"

void
ipc__tls_clear_errors(void)
{
	ERR_clear_error();
}

int
ipc__tls_conf_fill(struct ipc_tls *out, const struct ipc_tls *in)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	if (!in)
		return 0;
	if (in->size < sizeof(*in))
		return -EINVAL;
	for (i = sizeof(*in); i < in->size; i++)
		if (p[i])
			return -E2BIG;
	*out = *in;
	out->size = sizeof(*out);
	if (out->flags & ~(unsigned)TLS_KNOWN_FLAGS)
		return -EINVAL;
	return 0;
}

/* Never prompt on a terminal for a passphrase: an encrypted key is refused. */
static int
tls_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf; (void)size; (void)rwflag; (void)u;
	return -1;
}

/* Open @p path for reading as a regular file. @p secret: refuse any
 * permission for group or others, as ssh does for private keys. */
static int
tls_open_file(const char *path, int secret, BIO **out)
{
	struct stat st;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto fail;
	}
	if (secret && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		rc = -EACCES;
		goto fail;
	}
	if (!(*out = BIO_new_fd(fd, BIO_CLOSE))) {
		rc = -ENOMEM;
		goto fail;
	}
	return 0;
fail:
	close(fd);
	return rc;
}

/* Valid now? A certificate past notAfter or before notBefore: -EKEYEXPIRED. */
static int
tls_cert_current(const X509 *x)
{
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0 ||
	    X509_cmp_current_time(X509_get0_notBefore(x)) >= 0)
		return -EKEYEXPIRED;
	return 0;
}

/* The leaf and any intermediates that follow it in one PEM file. */
static int
tls_use_chain(SSL_CTX *ctx, const char *path, int server)
{
	X509 *leaf, *x;
	BIO *bio;
	int rc;

	if ((rc = tls_open_file(path, 0, &bio)) < 0)
		return rc;
	if (!(leaf = PEM_read_bio_X509_AUX(bio, NULL, tls_no_passphrase, NULL))) {
		BIO_free(bio);
		return -EINVAL;
	}
	rc = SSL_CTX_use_certificate(ctx, leaf) == 1 ? 0 : -EINVAL;
	if (rc == 0 && server)
		rc = tls_cert_current(leaf);
	X509_free(leaf);
	while (rc == 0 && (x = PEM_read_bio_X509(bio, NULL, tls_no_passphrase, NULL))) {
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			rc = -ENOMEM;
		}
	}
	/* The loop ends at end of file, which OpenSSL queues as "no start
	 * line"; anything else is a malformed certificate in the chain. */
	if (rc == 0 && ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE)
		rc = -EINVAL;
	ERR_clear_error();
	BIO_free(bio);
	return rc;
}

static int
tls_use_key(SSL_CTX *ctx, const char *path)
{
	EVP_PKEY *key;
	BIO *bio;
	int rc;

	if ((rc = tls_open_file(path, 1, &bio)) < 0)
		return rc;
	key = PEM_read_bio_PrivateKey(bio, NULL, tls_no_passphrase, NULL);
	BIO_free(bio);
	if (!key)
		return -EINVAL;
	rc = SSL_CTX_use_PrivateKey(ctx, key) == 1 ? 0 : -EINVAL;
	EVP_PKEY_free(key);
	if (rc == 0 && SSL_CTX_check_private_key(ctx) != 1)
		rc = -EINVAL;        /* not the certificate's key */
	return rc;
}

/* Trusted CAs: the bundle named, or the system's store. A listener that asks
 * for client certificates also names the bundle's CAs in its request. */
static int
tls_use_cas(SSL_CTX *ctx, const struct ipc_tls *conf, int server)
{
	STACK_OF(X509_NAME) *names;
	BIO *bio;
	int rc;

	if (!conf->ca_file)
		return SSL_CTX_set_default_verify_paths(ctx) == 1 ? 0 : -ENOMEM;
	/* Our own open first: errno for a missing or unreadable bundle. */
	if ((rc = tls_open_file(conf->ca_file, 0, &bio)) < 0)
		return rc;
	BIO_free(bio);
	if (SSL_CTX_load_verify_locations(ctx, conf->ca_file, NULL) != 1)
		return -EINVAL;
	if (server && (conf->flags & IPC_TLS_REQUIRE_CLIENT_CERT)) {
		if (!(names = SSL_load_client_CA_file(conf->ca_file)))
			return -EINVAL;
		SSL_CTX_set_client_CA_list(ctx, names);
	}
	return 0;
}

static int
tls_ctx_setup(SSL_CTX *ctx, const struct ipc_tls *conf, int server)
{
	int floor = (conf->flags & IPC_TLS_1_2) ? TLS1_2_VERSION : TLS1_3_VERSION;
	int rc, mode;

	if (SSL_CTX_set_min_proto_version(ctx, floor) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
		return -EINVAL;
	if ((conf->flags & IPC_TLS_1_2) && SSL_CTX_set_cipher_list(ctx, TLS_12_CIPHERS) != 1)
		return -EINVAL;
	/* No renegotiation, no compression, no tickets or session cache (every
	 * channel is a full handshake: nothing resumable is kept). A peer that
	 * closes without close_notify is an end of stream; the framing decides
	 * whether that cut a message (-ECONNRESET) or came between two. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	                    SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET |
	                    SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* Non-blocking use: a write retried after WANT_WRITE may come from a
	 * moved buffer (the framing's committed tail); no hidden retry loops. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);
	/* Read whole socket buffers' worth, not a record header and then its
	 * body: two recv() per record otherwise. What is read ahead is counted
	 * as pending (SSL_has_pending), so edge-style ipc_fd still holds. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, 64u << 10);
	SSL_CTX_set_default_passwd_cb(ctx, tls_no_passphrase);

	if (server && !conf->cert_file)
		return -EINVAL;
	if (conf->cert_file) {
		if ((rc = tls_use_chain(ctx, conf->cert_file, server)) < 0)
			return rc;
		if ((rc = tls_use_key(ctx, conf->key_file ? conf->key_file : conf->cert_file)) < 0)
			return rc;
	} else if (conf->key_file) {
		return -EINVAL;      /* a key without its certificate */
	}
	if (!server || (conf->flags & IPC_TLS_REQUIRE_CLIENT_CERT)) {
		if ((rc = tls_use_cas(ctx, conf, server)) < 0)
			return rc;
		mode = SSL_VERIFY_PEER;
		if (server)
			mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		SSL_CTX_set_verify(ctx, mode, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return 0;
}

int
ipc__tls_ctx_new(SSL_CTX **out, const struct ipc_tls *conf, int server)
{
	SSL_CTX *ctx;
	int rc;

	ERR_clear_error();
	if (!(ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()))) {
		ERR_clear_error();
		return -ENOMEM;
	}
	rc = tls_ctx_setup(ctx, conf, server);
	ERR_clear_error();
	if (rc < 0) {
		SSL_CTX_free(ctx);
		return rc;
	}
	*out = ctx;
	return 0;
}
