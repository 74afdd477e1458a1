/* ipc-bench rows: libipc's tls+tcp:// beside bare OpenSSL (SSL_write /
 * SSL_read over the same TCP, with the same framing and settings), with a
 * self-signed certificate made for the run. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#ifdef HAVE_OPENSSL
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

/* --- tls: libipc's tls+tcp:// beside bare OpenSSL over the same TCP --- */

static char tls_cert[300], tls_key[300];

#ifdef HAVE_OPENSSL
/* One self-signed certificate for 127.0.0.1 in the run's directory: the
 * listener's chain and the connector's trust anchor, for both rows. */
static int
tls_make_cert(void)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	X509_NAME *name;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	FILE *f;
	int fd, rc = -ENOMEM;

	if (tls_cert[0])
		return 0;
	dir_path(tls_cert, sizeof(tls_cert), "tls.pem");
	dir_path(tls_key, sizeof(tls_key), "tls.key");
	if (!(key = EVP_EC_gen("P-256")) || !(x = X509_new()))
		goto out;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"ipc-bench",
	                           -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if (!(ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1")))
		goto out;
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (!X509_sign(x, key, EVP_sha256()))
		goto out;
	rc = -EIO;
	if ((fd = open(tls_key, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    !(f = fdopen(fd, "w")))
		goto out;
	if (!PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)) {
		fclose(f);
		goto out;
	}
	fclose(f);
	if (!(f = fopen(tls_cert, "w")))
		goto out;
	if (!PEM_write_X509(f, x)) {
		fclose(f);
		goto out;
	}
	fclose(f);
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	ERR_clear_error();
	if (rc < 0)
		tls_cert[0] = 0;
	return rc;
}
#endif

static int
tls_lib_prepare(struct run *r)
{
#ifdef HAVE_OPENSSL
	struct ipc_tls t = IPC_TLS_INIT;
	ipc_options o = IPC_OPTIONS_INIT;
	int rc;

	if ((rc = tls_make_cert()) < 0)
		return rc;
	t.cert_file = tls_cert;
	t.key_file = tls_key;
	o.tls = &t;
	if ((rc = ipc_listen(&r->lst, "tls+tcp://127.0.0.1:0", 0, &o)) < 0)
		return rc;
	rc = ipc_listener_addr(r->lst, r->uri, sizeof(r->uri));
	return rc < 0 ? rc : 0;
#else
	(void)r;
	return -EPROTONOSUPPORT;    /* libipc built without OpenSSL: no tls+tcp:// */
#endif
}

static int
tls_lib_attach(struct run *r, int child, struct ep *e)
{
	struct ipc_tls t = IPC_TLS_INIT;
	ipc_options o = IPC_OPTIONS_INIT;
	int rc;

	ep_init(e, &bench_lib_ops);
	t.ca_file = tls_cert;       /* the URI's host, 127.0.0.1, is checked */
	o.tls = &t;
	o.open_timeout_ms = 10000;
	if (child)
		rc = ipc_open(&e->tx, r->uri, IPC_SEND | IPC_RECV, &o);
	else
		rc = ipc_accept(r->lst, &e->tx, 10000);
	e->rx = e->tx;
	return rc;
}

#ifdef HAVE_OPENSSL
static SSL_CTX *ossl_ctx[2];    /* [0] listener, [1] connector */

/* The same framing as every raw row; the header travels in the record of
 * the payload's first bytes (as libipc gathers it), the rest in one call. */
static int
ossl_send(struct ep *e, const void *buf, size_t len)
{
	static unsigned char rec[16384];
	size_t first = len < sizeof(rec) - 4 ? len : sizeof(rec) - 4;

	put_be32(rec, (uint32_t)len);
	memcpy(rec + 4, buf, first);
	if (SSL_write(e->ssl, rec, (int)(first + 4)) <= 0)
		return -EIO;
	if (len > first && SSL_write(e->ssl, (const char *)buf + first, (int)(len - first)) <= 0)
		return -EIO;
	return 0;
}

static int
ossl_read_full(struct ep *e, void *buf, size_t len)
{
	size_t got = 0;
	int r;

	while (got < len) {
		r = SSL_read(e->ssl, (char *)buf + got, (int)(len - got));
		if (r <= 0)
			return timed_out ? -ETIMEDOUT : -EPIPE;
		got += (size_t)r;
	}
	return 0;
}

static ssize_t
ossl_recv(struct ep *e, void *buf, size_t cap)
{
	unsigned char hdr[4];
	uint32_t len;
	int rc;

	if ((rc = ossl_read_full(e, hdr, 4)) < 0)
		return rc;
	if ((len = get_be32(hdr)) > cap)
		return -EMSGSIZE;
	if ((rc = ossl_read_full(e, buf, len)) < 0)
		return rc;
	return len;
}

static void
ossl_close(struct ep *e)
{
	SSL_free(e->ssl);
	e->ssl = NULL;
	raw_close(e);
}

static const struct ep_ops ossl_ops = { ossl_send, ossl_recv, ossl_close, NULL };

/* What libipc sets up, by hand: TLS 1.3, verification, no tickets, reads
 * of whole socket buffers. */
static int
ossl_prepare(struct run *r)
{
	int i, rc;

	if ((rc = tls_make_cert()) < 0)
		return rc;
	for (i = 0; i < 2; i++) {
		if (ossl_ctx[i])
			continue;
		if (!(ossl_ctx[i] = SSL_CTX_new(i ? TLS_client_method() : TLS_server_method())))
			return -ENOMEM;
		SSL_CTX_set_min_proto_version(ossl_ctx[i], TLS1_3_VERSION);
		SSL_CTX_set_options(ossl_ctx[i], SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
		SSL_CTX_set_num_tickets(ossl_ctx[i], 0);
		SSL_CTX_set_read_ahead(ossl_ctx[i], 1);
		SSL_CTX_set_default_read_buffer_len(ossl_ctx[i], 64u << 10);
		if (i) {
			if (SSL_CTX_load_verify_locations(ossl_ctx[i], tls_cert, NULL) != 1)
				return -EINVAL;
			SSL_CTX_set_verify(ossl_ctx[i], SSL_VERIFY_PEER, NULL);
		} else if (SSL_CTX_use_certificate_file(ossl_ctx[i], tls_cert, SSL_FILETYPE_PEM) != 1 ||
		           SSL_CTX_use_PrivateKey_file(ossl_ctx[i], tls_key, SSL_FILETYPE_PEM) != 1) {
			return -EINVAL;
		}
	}
	return tcp_raw_prepare(r);
}

static int
ossl_attach(struct run *r, int child, struct ep *e)
{
	SSL *ssl;
	int rc;

	if ((rc = sock_raw_attach(r, child, e)) < 0)
		return rc;
	e->ops = &ossl_ops;
	if (!(ssl = SSL_new(ossl_ctx[child ? 1 : 0])) || SSL_set_fd(ssl, e->rfd) != 1) {
		SSL_free(ssl);
		return -ENOMEM;
	}
	e->ssl = ssl;
	if (child)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
	if ((child ? SSL_connect(ssl) : SSL_accept(ssl)) != 1) {
		ERR_clear_error();
		return -EPROTO;
	}
	return 0;
}
#endif

static void
tls_cleanup(struct run *r)
{
	sock_lib_cleanup(r);
	sock_raw_cleanup(r);
}

const struct impl bench_rows_tls[] = {
	{ "tls", "libipc", "openssl", tls_lib_prepare, tls_lib_attach, tls_cleanup,
	  "tls+tcp:// over loopback, TLS 1.3, P-256 certificate", 0 },
#ifdef HAVE_OPENSSL
	{ "tls", "openssl", NULL, ossl_prepare, ossl_attach, tls_cleanup,
	  "SSL_write/SSL_read over TCP_NODELAY, same framing", 0 },
#endif
};
const size_t bench_nrows_tls = sizeof(bench_rows_tls) / sizeof(bench_rows_tls[0]);
