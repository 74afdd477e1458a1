/* The OpenSSL layer of tls+tcp:// (lib/tls/), below any driver: contexts
 * from struct ipc_tls, verification, and the return value of every refusal.
 *
 * Each handshake runs both ends in this one thread over a non-blocking
 * socketpair, stepping each side in turn until both have settled, so the
 * outcome never depends on scheduling. Certificates are made at start-up by
 * tests/tls-certs.sh (argv[1]) with the openssl command. */
#include "test-common.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "tls/stream.h"

static char certs[256];

static const char *
cert(const char *name)
{
	static char p[4][512];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", certs, name);
	return p[k];
}

/* A configuration with @p name.pem / @p name.key (NULL: no certificate). */
static struct ipc_tls
conf(const char *name, const char *ca, unsigned flags)
{
	struct ipc_tls t = IPC_TLS_INIT;
	char pem[64], key[64];

	if (name) {
		snprintf(pem, sizeof(pem), "%s.pem", name);
		snprintf(key, sizeof(key), "%s.key", name);
		t.cert_file = strdup(cert(pem));
		t.key_file = strdup(cert(key));
	}
	t.ca_file = ca ? strdup(cert(ca)) : NULL;
	t.flags = flags;
	return t;
}

static void
conf_free(struct ipc_tls *t)
{
	free((char *)t->cert_file);
	free((char *)t->key_file);
	free((char *)t->ca_file);
}

static SSL_CTX *
ctx_ok(const struct ipc_tls *t, int server)
{
	SSL_CTX *ctx = NULL;
	int rc = ipc__tls_ctx_new(&ctx, t, server);

	ck_assert_msg(rc == 0, "ctx: %s", ipc_strerror(rc));
	ck_assert_uint_eq(ERR_peek_error(), 0);
	return ctx;
}

/* ---------------------------------------------------------- handshakes */

struct side {
	SSL  *ssl;
	int   fd;
	int   server;
	int   shook;    /* handshake done */
	int   done;
	int   rc;       /* 0 or the refusal */
};

/* One step: handshake, then the server writes one byte and the client reads
 * it (in TLS 1.3 a client learns that its certificate was refused only
 * there, from the server's alert). */
static void
side_step(struct side *s)
{
	short ev;
	char c = 'x';
	int r;

	if (s->done)
		return;
	errno = 0;
	if (!s->shook) {
		r = SSL_do_handshake(s->ssl);
		if (r == 1) {
			s->shook = 1;
		} else if ((r = ipc__tls_result(s->ssl, r, &ev)) != -EAGAIN) {
			s->rc = r;
			s->done = 1;
			return;
		} else {
			ck_assert(ev == POLLIN || ev == POLLOUT);
			return;
		}
	}
	errno = 0;
	r = s->server ? SSL_write(s->ssl, &c, 1) : SSL_read(s->ssl, &c, 1);
	if (r == 1) {
		ck_assert_int_eq(c, 'x');
		s->done = 1;
		s->rc = 0;
	} else if ((r = ipc__tls_result(s->ssl, r, &ev)) != -EAGAIN) {
		s->done = 1;
		s->rc = r;
	}
	ck_assert_uint_eq(ERR_peek_error(), 0);
}

static struct side
side_new(SSL_CTX *ctx, int fd, const char *name, int server)
{
	struct side s = { .fd = fd, .server = server, .rc = -ETIMEDOUT };
	BIO *bio = BIO_new_socket(fd, BIO_NOCLOSE);
	int rc;

	ck_assert_ptr_nonnull(bio);
	rc = ipc__tls_session_new(&s.ssl, ctx, bio, name, server);
	ck_assert_msg(rc == 0, "session: %s", ipc_strerror(rc));
	return s;
}

struct shake {
	int client, server;     /* each side's result */
	SSL *c, *s;             /* kept for inspection; freed by shake_free */
	int fds[2];
};

/* Run a handshake between two contexts; a side with a NULL context is a raw
 * socket that writes @p raw (a libipc hello: a peer that does not speak TLS).
 * A side still waiting after the other has settled and nothing moves is
 * reported as -ETIMEDOUT (the deadline the driver would apply). */
static struct shake
shake(SSL_CTX *cctx, SSL_CTX *sctx, const char *name)
{
	static const unsigned char hello[12] = { 0x89, 'I', 'P', 'C', 1, 0, 0, 0, 0, 0x00, 0x01, 0 };
	struct shake h = { 0 };
	struct side c = { .done = 1, .rc = 0 }, s = { .done = 1, .rc = 0 };
	int i;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	                            h.fds), 0);
	if (cctx)
		c = side_new(cctx, h.fds[0], name, 0);
	else
		ck_assert_int_eq(write(h.fds[0], hello, sizeof(hello)), sizeof(hello));
	if (sctx)
		s = side_new(sctx, h.fds[1], NULL, 1);
	else
		ck_assert_int_eq(write(h.fds[1], hello, sizeof(hello)), sizeof(hello));
	for (i = 0; i < 64 && !(c.done && s.done); i++) {
		side_step(&c);
		side_step(&s);
	}
	h.client = c.rc;
	h.server = s.rc;
	h.c = c.ssl;
	h.s = s.ssl;
	return h;
}

static void
shake_free(struct shake *h)
{
	SSL_free(h->c);
	SSL_free(h->s);
	close(h->fds[0]);
	close(h->fds[1]);
}

/* Expect @p crc on the client and @p src on the server. */
static void
expect(SSL_CTX *cctx, SSL_CTX *sctx, const char *name, int crc, int src)
{
	struct shake h = shake(cctx, sctx, name);

	ck_assert_msg(h.client == crc, "client: %s, expected %s", ipc_strerror(h.client),
	              ipc_strerror(crc));
	ck_assert_msg(h.server == src, "server: %s, expected %s", ipc_strerror(h.server),
	              ipc_strerror(src));
	shake_free(&h);
}

/* The server configuration most cases use, and a client that trusts ca.pem. */
static SSL_CTX *
server_ctx(unsigned flags)
{
	struct ipc_tls t = conf("server", "ca.pem", flags);
	SSL_CTX *ctx = ctx_ok(&t, 1);

	conf_free(&t);
	return ctx;
}

static SSL_CTX *
client_ctx(const char *name, unsigned flags)
{
	struct ipc_tls t = conf(name, "ca.pem", flags);
	SSL_CTX *ctx = ctx_ok(&t, 0);

	conf_free(&t);
	return ctx;
}

/* ------------------------------------------------------------- contexts */

static int
ctx_rc(const struct ipc_tls *t, int server)
{
	SSL_CTX *ctx = NULL;
	int rc = ipc__tls_ctx_new(&ctx, t, server);

	SSL_CTX_free(ctx);
	ck_assert_uint_eq(ERR_peek_error(), 0);
	return rc;
}

START_TEST(ctx_conf_rules)
{
	struct { struct ipc_tls t; unsigned char future[8]; } big;
	struct ipc_tls in = IPC_TLS_INIT, out;

	ck_assert_int_eq(ipc__tls_conf_fill(&out, NULL), 0);
	ck_assert_uint_eq(out.size, sizeof(out));
	ck_assert_ptr_null(out.cert_file);
	in.size = 0;
	ck_assert_int_eq(ipc__tls_conf_fill(&out, &in), -EINVAL);
	in.size = sizeof(in) - 1;
	ck_assert_int_eq(ipc__tls_conf_fill(&out, &in), -EINVAL);
	in.size = sizeof(in);
	in.flags = 1u << 7;
	ck_assert_int_eq(ipc__tls_conf_fill(&out, &in), -EINVAL);
	memset(&big, 0, sizeof(big));
	big.t.size = sizeof(big);
	big.t.flags = IPC_TLS_1_2;
	ck_assert_int_eq(ipc__tls_conf_fill(&out, &big.t), 0);
	ck_assert_uint_eq(out.flags, IPC_TLS_1_2);
	ck_assert_uint_eq(out.size, sizeof(out));
	big.future[5] = 1;
	ck_assert_int_eq(ipc__tls_conf_fill(&out, &big.t), -E2BIG);
}
END_TEST

START_TEST(ctx_refusals)
{
	struct ipc_tls t = IPC_TLS_INIT;
	char path[600];

	/* A listener needs a certificate; a key alone means nothing. */
	ck_assert_int_eq(ctx_rc(&t, 1), -EINVAL);
	t.key_file = cert("server.key");
	ck_assert_int_eq(ctx_rc(&t, 0), -EINVAL);
	/* Missing files are named by errno. */
	t = conf("server", NULL, 0);
	free((char *)t.cert_file);
	t.cert_file = strdup(cert("nonexistent.pem"));
	ck_assert_int_eq(ctx_rc(&t, 1), -ENOENT);
	conf_free(&t);
	t = conf(NULL, "nonexistent.pem", 0);
	ck_assert_int_eq(ctx_rc(&t, 0), -ENOENT);
	conf_free(&t);
	/* A key that is not the certificate's. */
	t = conf("server", NULL, 0);
	free((char *)t.key_file);
	t.key_file = strdup(cert("client.key"));
	ck_assert_int_eq(ctx_rc(&t, 1), -EINVAL);
	conf_free(&t);
	/* Not PEM at all (a directory is not a file either). */
	t = conf("server", NULL, 0);
	free((char *)t.cert_file);
	t.cert_file = strdup(cert("server.key"));
	ck_assert_int_eq(ctx_rc(&t, 1), -EINVAL);
	free((char *)t.cert_file);
	t.cert_file = strdup(certs);
	ck_assert_int_eq(ctx_rc(&t, 1), -EINVAL);
	conf_free(&t);
	/* A listener's own certificate past its validity. */
	t = conf("expired", NULL, 0);
	ck_assert_int_eq(ctx_rc(&t, 1), -EKEYEXPIRED);
	conf_free(&t);
	/* A bundle that is not PEM. */
	snprintf(path, sizeof(path), "%s", test_path("junk.pem"));
	{
		FILE *f = fopen(path, "w");

		ck_assert_ptr_nonnull(f);
		fputs("not a certificate\n", f);
		fclose(f);
	}
	t = conf(NULL, NULL, 0);
	t.ca_file = path;
	ck_assert_int_eq(ctx_rc(&t, 0), -EINVAL);
	unlink(path);
}
END_TEST

/* A copy of server.key with @p mode, used as the listener's key. */
static int
key_mode_rc(mode_t mode, int server)
{
	struct ipc_tls t = conf(server ? "server" : "client", NULL, 0);
	const char *copy = test_path("k.key");
	char cmd[1200];
	int rc;

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", t.key_file, copy);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(chmod(copy, mode), 0);
	free((char *)t.key_file);
	t.key_file = strdup(copy);
	rc = ctx_rc(&t, server);
	conf_free(&t);
	unlink(copy);
	return rc;
}

START_TEST(ctx_key_mode)
{
	ck_assert_int_eq(key_mode_rc(0644, 1), -EACCES);
	ck_assert_int_eq(key_mode_rc(0640, 1), -EACCES);
	ck_assert_int_eq(key_mode_rc(0604, 0), -EACCES);
	ck_assert_int_eq(key_mode_rc(0602, 1), -EACCES);
	ck_assert_int_eq(key_mode_rc(0600, 1), 0);
	ck_assert_int_eq(key_mode_rc(0400, 0), 0);
}
END_TEST

START_TEST(ctx_combined_pem)
{
	const char *both = test_path("both.pem");
	struct ipc_tls t = IPC_TLS_INIT;
	char cmd[1600];
	SSL_CTX *s, *c;

	/* Certificate and key in one file: key_file NULL, the mode rule on it. */
	snprintf(cmd, sizeof(cmd), "umask 077; cat '%s' '%s' > '%s'", cert("server.pem"),
	         cert("server.key"), both);
	ck_assert_int_eq(system(cmd), 0);
	t.cert_file = both;
	s = ctx_ok(&t, 1);
	c = client_ctx(NULL, 0);
	expect(c, s, "localhost", 0, 0);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
	ck_assert_int_eq(chmod(both, 0644), 0);
	ck_assert_int_eq(ctx_rc(&t, 1), -EACCES);
	unlink(both);
}
END_TEST

/* ------------------------------------------------------------ handshake */

START_TEST(shake_good)
{
	SSL_CTX *s = server_ctx(0), *c = client_ctx(NULL, 0);
	struct shake h = shake(c, s, "localhost");

	ck_assert_int_eq(h.client, 0);
	ck_assert_int_eq(h.server, 0);
	ck_assert_int_eq(SSL_version(h.c), TLS1_3_VERSION);
	ck_assert_int_eq(SSL_get_verify_result(h.c), X509_V_OK);
	shake_free(&h);
	/* IP literals are checked against the certificate's addresses. */
	expect(c, s, "127.0.0.1", 0, 0);
	expect(c, s, "::1", 0, 0);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
}
END_TEST

START_TEST(shake_wrong_ca)
{
	struct ipc_tls t = conf("rogue", NULL, 0);
	SSL_CTX *s = ctx_ok(&t, 1), *c = client_ctx(NULL, 0);

	/* The client decides; the server hears the alert (unknown CA). */
	expect(c, s, "localhost", -EKEYREJECTED, -EKEYREJECTED);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
	conf_free(&t);
}
END_TEST

START_TEST(shake_expired_server)
{
	SSL_CTX *s = server_ctx(0), *c = client_ctx(NULL, 0);

	/* ipc__tls_ctx_new refuses an expired certificate for a listener, so
	 * put it in behind its back: the connector must refuse it too. */
	ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(s, cert("expired.pem")), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(s, cert("expired.key"), SSL_FILETYPE_PEM), 1);
	expect(c, s, "localhost", -EKEYEXPIRED, -EKEYEXPIRED);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
}
END_TEST

START_TEST(shake_name_mismatch)
{
	struct ipc_tls t = conf("wrongname", NULL, 0);
	SSL_CTX *s = ctx_ok(&t, 1), *c = client_ctx(NULL, 0), *good = server_ctx(0);

	expect(c, s, "localhost", -EKEYREJECTED, -EKEYREJECTED);
	expect(c, s, "127.0.0.1", -EKEYREJECTED, -EKEYREJECTED);
	expect(c, s, "elsewhere.example", 0, 0);
	/* The right certificate, the wrong name or address. */
	expect(c, good, "otherhost", -EKEYREJECTED, -EKEYREJECTED);
	expect(c, good, "127.0.0.2", -EKEYREJECTED, -EKEYREJECTED);
	/* No partial wildcards, no suffix matches. */
	expect(c, good, "localhost.", -EKEYREJECTED, -EKEYREJECTED);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
	SSL_CTX_free(good);
	conf_free(&t);
}
END_TEST

START_TEST(shake_mutual)
{
	SSL_CTX *s = server_ctx(IPC_TLS_REQUIRE_CLIENT_CERT);
	SSL_CTX *c = client_ctx("client", 0), *anon = client_ctx(NULL, 0);
	SSL_CTX *expired = client_ctx("expired", 0), *rogue = client_ctx("rogue", 0);

	expect(c, s, "localhost", 0, 0);
	/* The server decides; the client hears it in the alert. */
	expect(anon, s, "localhost", -EKEYREJECTED, -EKEYREJECTED);
	expect(expired, s, "localhost", -EKEYEXPIRED, -EKEYEXPIRED);
	expect(rogue, s, "localhost", -EKEYREJECTED, -EKEYREJECTED);
	SSL_CTX_free(s);
	/* Without the flag the listener asks for nothing: any client goes. */
	s = server_ctx(0);
	expect(rogue, s, "localhost", 0, 0);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
	SSL_CTX_free(anon);
	SSL_CTX_free(expired);
	SSL_CTX_free(rogue);
}
END_TEST

START_TEST(shake_tls12)
{
	SSL_CTX *s = server_ctx(0), *c = client_ctx(NULL, IPC_TLS_1_2);

	/* A TLS 1.2-only client (as openssl s_client -tls1_2) to a 1.3 listener. */
	ck_assert_int_eq(SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION), 1);
	expect(c, s, "localhost", -EPROTO, -EPROTO);
	SSL_CTX_free(s);
	/* Allowed with IPC_TLS_1_2, and then it really is 1.2. */
	s = server_ctx(IPC_TLS_1_2);
	{
		struct shake h = shake(c, s, "localhost");

		ck_assert_int_eq(h.client, 0);
		ck_assert_int_eq(h.server, 0);
		ck_assert_int_eq(SSL_version(h.s), TLS1_2_VERSION);
		shake_free(&h);
	}
	SSL_CTX_free(s);
	SSL_CTX_free(c);
	/* A 1.3-only connector refuses a listener that stops at 1.2. */
	c = client_ctx(NULL, 0);
	s = server_ctx(IPC_TLS_1_2);
	ck_assert_int_eq(SSL_CTX_set_max_proto_version(s, TLS1_2_VERSION), 1);
	expect(c, s, "localhost", -EPROTO, -EPROTO);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
}
END_TEST

START_TEST(shake_plaintext)
{
	SSL_CTX *s = server_ctx(0), *c = client_ctx(NULL, 0);
	struct shake h;

	/* A plain libipc tcp:// client's hello to a TLS listener. */
	h = shake(NULL, s, NULL);
	ck_assert_int_eq(h.server, -EPROTO);
	shake_free(&h);
	/* A TLS client to a plain tcp:// listener, which sends its hello first. */
	h = shake(c, NULL, "localhost");
	ck_assert_int_eq(h.client, -EPROTO);
	shake_free(&h);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
}
END_TEST

START_TEST(shake_stalled)
{
	SSL_CTX *s = server_ctx(0);
	struct side sv;
	short ev;
	int fds[2], r;

	/* A client that connects and says nothing: the handshake only ever
	 * wants to read, and the deadline is the driver's. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	                            fds), 0);
	sv = side_new(s, fds[1], NULL, 1);
	errno = 0;
	r = SSL_do_handshake(sv.ssl);
	ck_assert_int_eq(ipc__tls_result(sv.ssl, r, &ev), -EAGAIN);
	ck_assert_int_eq(ev, POLLIN);
	/* It goes away: end of stream in the middle of a handshake. */
	close(fds[0]);
	errno = 0;
	r = SSL_do_handshake(sv.ssl);
	r = ipc__tls_result(sv.ssl, r, &ev);
	ck_assert_msg(r == -ECONNRESET || r == IPC_EOF, "%s", ipc_strerror(r));
	ck_assert_uint_eq(ERR_peek_error(), 0);
	SSL_free(sv.ssl);
	close(fds[1]);
	SSL_CTX_free(s);
}
END_TEST

/* ------------------------------------------------------------ peer cert */

/* What `openssl x509 -fingerprint -sha256` says of @p pem, as 32 bytes. */
static void
fingerprint(const char *pem, unsigned char out[32])
{
	char cmd[700], line[256], *p;
	FILE *f;
	int i;

	snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout -fingerprint -sha256", pem);
	ck_assert_ptr_nonnull(f = popen(cmd, "r"));
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	pclose(f);
	ck_assert_ptr_nonnull(p = strchr(line, '='));
	for (i = 0, p++; i < 32; i++, p += 3)
		ck_assert_int_eq(sscanf(p, "%2hhx", &out[i]), 1);
}

START_TEST(peer_cert)
{
	SSL_CTX *s = server_ctx(IPC_TLS_REQUIRE_CLIENT_CERT), *c = client_ctx("client", 0);
	struct shake h = shake(c, s, "localhost");
	unsigned char md[32], want[32];
	char subj[128];
	int n;

	ck_assert_int_eq(h.client, 0);
	ck_assert_int_eq(h.server, 0);
	n = ipc__tls_peer_cert(h.c, subj, sizeof(subj), md);
	ck_assert_str_eq(subj, "CN=localhost,O=libipc test");
	ck_assert_int_eq(n, (int)strlen(subj));
	fingerprint(cert("server.pem"), want);
	ck_assert_mem_eq(md, want, 32);
	ck_assert_int_eq(ipc__tls_peer_cert(h.s, subj, sizeof(subj), md), 23);
	ck_assert_str_eq(subj, "CN=client,O=libipc test");
	fingerprint(cert("client.pem"), want);
	ck_assert_mem_eq(md, want, 32);
	/* Length only; exactly too small; no fingerprint wanted. */
	ck_assert_int_eq(ipc__tls_peer_cert(h.s, NULL, 0, NULL), 23);
	memset(subj, '#', sizeof(subj));
	ck_assert_int_eq(ipc__tls_peer_cert(h.s, subj, 23, NULL), -ERANGE);
	ck_assert_int_eq(subj[0], '#');
	ck_assert_int_eq(ipc__tls_peer_cert(h.s, subj, 24, NULL), 23);
	ck_assert_int_eq(ipc__tls_peer_cert(h.s, subj, 0, NULL), -EINVAL);
	shake_free(&h);
	SSL_CTX_free(s);
	/* A listener that asked for no certificate has none. */
	s = server_ctx(0);
	h = shake(c, s, "localhost");
	ck_assert_int_eq(h.server, 0);
	ck_assert_int_eq(ipc__tls_peer_cert(h.s, subj, sizeof(subj), md), -ENOTCONN);
	shake_free(&h);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
}
END_TEST

/* --------------------------------------------------------------- stream */

/* A channel to wait with (its shutdown flag and wake descriptor). */
static ipc_channel *waiter, *waiter_other;

static void
waiter_new(void)
{
	ipc_channel *e[2];

	ck_assert_int_eq(ipc_pipe(e, 0), 0);
	waiter = e[0];
	waiter_other = e[1];
}

static void
waiter_free(void)
{
	ipc_close(waiter);
	ipc_close(waiter_other);
}

/* Two streams over a socketpair, handshakes stepped in turn to the end. */
static void
stream_pair(SSL_CTX *cctx, SSL_CTX *sctx, struct ipc__tls_stream **c,
            struct ipc__tls_stream **s, int raw)
{
	int fds[2], rc, rs = -EAGAIN, rcl = -EAGAIN, i;
	short ev;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	                            fds), 0);
	ck_assert_int_eq(ipc__tls_stream_new(c, cctx, fds[0], "localhost", 0, raw), 0);
	ck_assert_int_eq(ipc__tls_stream_new(s, sctx, fds[1], NULL, 1, raw), 0);
	for (i = 0; i < 64 && (rcl == -EAGAIN || rs == -EAGAIN); i++) {
		if (rcl == -EAGAIN)
			rcl = ipc__tls_stream_handshake(*c, &ev);
		if (rs == -EAGAIN)
			rs = ipc__tls_stream_handshake(*s, &ev);
	}
	rc = rcl ? rcl : rs;
	ck_assert_msg(rc == 0, "handshake: %s", ipc_strerror(rc));
	ck_assert_uint_eq(ERR_peek_error(), 0);
}

/* What the framing does with a stream: write everything, waiting for room,
 * presenting the uncounted rest first each time. */
static int
stream_write_all(struct ipc__tls_stream *s, const void *buf, size_t len)
{
	size_t off = 0;
	ssize_t r;
	int rc;

	while (off < len) {
		struct iovec iov = { (char *)buf + off, len - off };

		r = ipc__tls_stream_writev(s, &iov, 1);
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r != -EAGAIN)
			return (int)r;
		if ((rc = ipc__tls_stream_wait(s, waiter, POLLOUT, ipc_deadline(10000))) < 0)
			return rc;
	}
	return 0;
}

static ssize_t
stream_read_all(struct ipc__tls_stream *s, void *buf, size_t len)
{
	size_t off = 0;
	ssize_t r;
	int rc;

	while (off < len) {
		struct iovec iov = { (char *)buf + off, len - off };

		r = ipc__tls_stream_readv(s, &iov, 1);
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r == 0)
			break;
		if (r != -EAGAIN)
			return r;
		if ((rc = ipc__tls_stream_wait(s, waiter, POLLIN, ipc_deadline(10000))) < 0)
			return rc;
	}
	return (ssize_t)off;
}

struct xfer {
	struct ipc__tls_stream *s;
	unsigned char *buf;
	size_t len;
	ssize_t rc;
};

static void *
reader_main(void *p)
{
	struct xfer *x = p;

	x->rc = stream_read_all(x->s, x->buf, x->len);
	return NULL;
}

static void *
writer_main(void *p)
{
	struct xfer *x = p;

	x->rc = stream_write_all(x->s, x->buf, x->len);
	return NULL;
}

static void
fill(unsigned char *b, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (unsigned char)((i * 131 + seed * 7 + (i >> 9)) & 0xff);
}

START_TEST(stream_bulk)
{
	SSL_CTX *cc = client_ctx(NULL, 0), *sc = server_ctx(0);
	struct ipc__tls_stream *c, *s;
	size_t len = 4u << 20;
	unsigned char *src = malloc(len), *dst = malloc(len);
	struct xfer x;
	pthread_t t;

	waiter_new();
	fill(src, len, 1);
	stream_pair(cc, sc, &c, &s, 0);
	/* Far more than a socket holds: every held-back byte and every
	 * half-sent record is exercised, and one wrong byte shows. */
	x = (struct xfer){ s, dst, len, -1 };
	ck_assert_int_eq(pthread_create(&t, NULL, reader_main, &x), 0);
	ck_assert_int_eq(stream_write_all(c, src, len), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(x.rc, (ssize_t)len);
	ck_assert(memcmp(src, dst, len) == 0);
	ck_assert_int_eq(ipc__tls_stream_close(c, 1000), 0);
	/* The owner's close sent close_notify (in TLS 1.3 an encrypted record,
	 * type 23), then end of file: read the socket itself to see it. */
	ck_assert_int_eq(ipc__tls_stream_wait(s, waiter, POLLIN, ipc_deadline(5000)), 0);
	ck_assert_int_eq(recv(ipc__tls_stream_fd(s), dst, 64, 0), 24);
	ck_assert_int_eq(dst[0], 23);
	ck_assert_int_eq(recv(ipc__tls_stream_fd(s), dst, 64, 0), 0);
	ck_assert_int_eq(ipc__tls_stream_close(s, 1000), 0);
	free(src);
	free(dst);
	SSL_CTX_free(cc);
	SSL_CTX_free(sc);
	waiter_free();
}
END_TEST

/* Messages offered on a full socket are all or nothing: what the receiver
 * gets is exactly the messages whose first write counted, each whole. */
START_TEST(stream_all_or_nothing)
{
	SSL_CTX *cc = client_ctx(NULL, 0), *sc = server_ctx(0);
	struct ipc__tls_stream *c, *s;
	enum { MSG = 3000, TRIES = 400 };
	unsigned char *sent = malloc((size_t)MSG * TRIES), *got = malloc((size_t)MSG * TRIES + 1);
	unsigned char m[MSG];
	size_t nsent = 0, tail = 0;
	unsigned k, refused = 0;
	struct xfer x;
	pthread_t t;
	ssize_t r;

	waiter_new();
	stream_pair(cc, sc, &c, &s, 0);
	for (k = 0; k < TRIES; k++) {
		struct iovec iov;

		fill(m, sizeof(m), k + 2);
		/* A committed tail first, as the framing keeps it. */
		while (tail) {
			iov = (struct iovec){ sent + nsent - tail, tail };
			r = ipc__tls_stream_writev(c, &iov, 1);
			if (r == -EAGAIN)
				break;
			ck_assert_int_gt(r, 0);
			tail -= (size_t)r;
		}
		if (tail) {
			refused++;
			continue;       /* the socket is full: nothing new may go */
		}
		iov = (struct iovec){ m, sizeof(m) };
		r = ipc__tls_stream_writev(c, &iov, 1);
		if (r == -EAGAIN) {
			refused++;
			continue;       /* nothing of it was written */
		}
		ck_assert_int_gt(r, 0);
		memcpy(sent + nsent, m, sizeof(m));
		nsent += sizeof(m);
		tail = sizeof(m) - (size_t)r;
	}
	ck_assert_uint_gt(refused, 0);      /* 1.2 MB offered: the socket filled */
	x = (struct xfer){ s, got, nsent + 1, -1 };
	ck_assert_int_eq(pthread_create(&t, NULL, reader_main, &x), 0);
	if (tail)
		ck_assert_int_eq(stream_write_all(c, sent + nsent - tail, tail), 0);
	ck_assert_int_eq(ipc__tls_stream_close(c, 5000), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(x.rc, (ssize_t)nsent);
	ck_assert(memcmp(sent, got, nsent) == 0);
	ck_assert_int_eq(ipc__tls_stream_close(s, 1000), 0);
	free(sent);
	free(got);
	SSL_CTX_free(cc);
	SSL_CTX_free(sc);
	waiter_free();
}
END_TEST

START_TEST(stream_pending_edge)
{
	SSL_CTX *cc = client_ctx(NULL, 0), *sc = server_ctx(0);
	struct ipc__tls_stream *c, *s;
	unsigned char src[300], dst[300];
	struct iovec iov[2];
	struct pollfd p;

	waiter_new();
	stream_pair(cc, sc, &c, &s, 0);
	fill(src, sizeof(src), 9);
	/* A small head and a body go out as one record. */
	iov[0] = (struct iovec){ src, 4 };
	iov[1] = (struct iovec){ src + 4, sizeof(src) - 4 };
	ck_assert_int_eq(ipc__tls_stream_writev(c, iov, 2), (ssize_t)sizeof(src));
	ck_assert_int_eq(ipc__tls_stream_wait(s, waiter, POLLIN, ipc_deadline(5000)), 0);
	iov[0] = (struct iovec){ dst, 100 };
	ck_assert_int_eq(ipc__tls_stream_readv(s, iov, 1), 100);
	/* The rest sits inside OpenSSL: the socket no longer says readable,
	 * the stream says pending, and a wait answers at once. */
	p = (struct pollfd){ .fd = ipc__tls_stream_fd(s), .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 0), 0);
	ck_assert_uint_gt(ipc__tls_stream_pending(s), 0);
	ck_assert_int_eq(ipc__tls_stream_wait(s, waiter, POLLIN, 0), 0);
	iov[0] = (struct iovec){ dst + 100, 50 };
	iov[1] = (struct iovec){ dst + 150, 150 };
	ck_assert_int_eq(ipc__tls_stream_readv(s, iov, 2), 200);
	ck_assert(memcmp(src, dst, sizeof(src)) == 0);
	ck_assert_uint_eq(ipc__tls_stream_pending(s), 0);
	iov[0] = (struct iovec){ dst, 1 };
	ck_assert_int_eq(ipc__tls_stream_readv(s, iov, 1), -EAGAIN);
	ck_assert_int_eq(ipc__tls_stream_wait(s, waiter, POLLIN, 0), -EAGAIN);
	ck_assert_int_eq(ipc__tls_stream_wait(s, waiter, POLLIN, ipc_deadline(30)), -ETIMEDOUT);
	ipc_shutdown(waiter);
	ck_assert_int_eq(ipc__tls_stream_wait(s, waiter, POLLIN, -1), IPC_EOF);
	ipc__tls_stream_close(c, 1000);
	ipc__tls_stream_close(s, 1000);
	SSL_CTX_free(cc);
	SSL_CTX_free(sc);
	waiter_free();
}
END_TEST

START_TEST(stream_garbage_sticky)
{
	SSL_CTX *cc = client_ctx(NULL, 0), *sc = server_ctx(0);
	struct ipc__tls_stream *c, *s;
	unsigned char buf[64];
	struct iovec iov = { buf, sizeof(buf) };

	waiter_new();
	stream_pair(cc, sc, &c, &s, 0);
	/* Bytes straight on the socket, under TLS: a forged record. */
	ck_assert_int_eq(write(ipc__tls_stream_fd(c), "\x17\x03\x03\x00\x05hello", 10), 10);
	ck_assert_int_eq(ipc__tls_stream_wait(s, waiter, POLLIN, ipc_deadline(5000)), 0);
	ck_assert_int_eq(ipc__tls_stream_readv(s, &iov, 1), -EPROTO);
	ck_assert_int_eq(ipc__tls_stream_readv(s, &iov, 1), -EPROTO);
	ck_assert_uint_eq(ERR_peek_error(), 0);
	ipc__tls_stream_close(c, 1000);
	ipc__tls_stream_close(s, 1000);
	SSL_CTX_free(cc);
	SSL_CTX_free(sc);
	waiter_free();
}
END_TEST

START_TEST(stream_no_sigpipe)
{
	SSL_CTX *cc = client_ctx(NULL, 0), *sc = server_ctx(0);
	struct ipc__tls_stream *c, *s;
	static unsigned char buf[1 << 16];
	struct iovec iov = { buf, sizeof(buf) };
	ssize_t r = 0;
	int i;

	/* SIGPIPE's default action: raising it would kill this test. */
	signal(SIGPIPE, SIG_DFL);
	waiter_new();
	stream_pair(cc, sc, &c, &s, 0);
	ipc__tls_stream_close(s, 0);
	for (i = 0; i < 100 && (r = ipc__tls_stream_writev(c, &iov, 1)) > 0; i++)
		;
	ck_assert_msg(r == -EPIPE || r == -ECONNRESET, "%s", ipc_strerror((int)r));
	ck_assert_int_eq(ipc__tls_stream_writev(c, &iov, 1), r);     /* sticky */
	ipc__tls_stream_close(c, 1000);
	SSL_CTX_free(cc);
	SSL_CTX_free(sc);
	waiter_free();
}
END_TEST

static int
child_closes(void *p)
{
	/* A copy in a forked child: closing it must not end the parent's. */
	return ipc__tls_stream_close(p, 1000) == 0 ? 0 : 1;
}

START_TEST(stream_fork_ownership)
{
	SSL_CTX *cc = client_ctx(NULL, 0), *sc = server_ctx(0);
	struct ipc__tls_stream *c, *s;
	unsigned char buf[16];
	struct iovec iov = { buf, sizeof(buf) };

	waiter_new();
	stream_pair(cc, sc, &c, &s, 0);
	fflush(NULL);
	ck_assert_int_eq(test_wait(test_fork(child_closes, c), 10000), 0);
	/* The child sent no close_notify: the parent's stream works on. */
	ck_assert_int_eq(stream_write_all(c, "after fork", 10), 0);
	ck_assert_int_eq(stream_read_all(s, buf, 10), 10);
	ck_assert(memcmp(buf, "after fork", 10) == 0);
	/* And since a fork happened after it was made, a copy may live on:
	 * the owner's close sends no close_notify either, only end of file. */
	ck_assert_int_eq(ipc__tls_stream_close(c, 1000), 0);
	ck_assert_int_eq(ipc__tls_stream_wait(s, waiter, POLLIN, ipc_deadline(5000)), 0);
	ck_assert_int_eq(recv(ipc__tls_stream_fd(s), buf, sizeof(buf), 0), 0);
	ck_assert_int_eq(ipc__tls_stream_readv(s, &iov, 1), 0);
	ipc__tls_stream_close(s, 1000);
	SSL_CTX_free(cc);
	SSL_CTX_free(sc);
	waiter_free();
}
END_TEST

/* One thread sends while another receives on the same stream. */
START_TEST(stream_duplex_threads)
{
	SSL_CTX *cc = client_ctx(NULL, 0), *sc = server_ctx(0);
	struct ipc__tls_stream *c, *s;
	size_t len = 1u << 20;
	unsigned char *a = malloc(len), *b = malloc(len), *ra = malloc(len), *rb = malloc(len);
	struct xfer w, r, w2, r2;
	pthread_t t[4];
	int i;

	waiter_new();
	fill(a, len, 3);
	fill(b, len, 4);
	stream_pair(cc, sc, &c, &s, 0);
	w = (struct xfer){ c, a, len, -1 };
	r = (struct xfer){ c, rb, len, -1 };
	w2 = (struct xfer){ s, b, len, -1 };
	r2 = (struct xfer){ s, ra, len, -1 };
	pthread_create(&t[0], NULL, writer_main, &w);
	pthread_create(&t[1], NULL, reader_main, &r);
	pthread_create(&t[2], NULL, writer_main, &w2);
	pthread_create(&t[3], NULL, reader_main, &r2);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(w.rc, 0);
	ck_assert_int_eq(w2.rc, 0);
	ck_assert_int_eq(r.rc, (ssize_t)len);
	ck_assert_int_eq(r2.rc, (ssize_t)len);
	ck_assert(memcmp(a, ra, len) == 0);
	ck_assert(memcmp(b, rb, len) == 0);
	ipc__tls_stream_close(c, 1000);
	ipc__tls_stream_close(s, 1000);
	free(a); free(b); free(ra); free(rb);
	SSL_CTX_free(cc);
	SSL_CTX_free(sc);
	waiter_free();
}
END_TEST

START_TEST(stream_handshake_deadline)
{
	SSL_CTX *sc = server_ctx(0);
	struct ipc__tls_stream *s;
	int fds[2];
	short ev;

	waiter_new();
	/* A client that connects and never speaks. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	                            fds), 0);
	ck_assert_int_eq(ipc__tls_stream_new(&s, sc, fds[1], NULL, 1, 0), 0);
	ck_assert_int_eq(ipc__tls_stream_handshake(s, &ev), -EAGAIN);
	ck_assert_int_eq(ev, POLLIN);
	ck_assert_int_eq(ipc__tls_stream_wait(s, waiter, ev, ipc_deadline(50)), -ETIMEDOUT);
	ck_assert_ptr_null(ipc__tls_stream_ssl(s));
	ck_assert_int_eq(ipc__tls_stream_close(s, 1000), 0);
	close(fds[0]);
	SSL_CTX_free(sc);
	waiter_free();
}
END_TEST

START_TEST(stream_raw_no_holdback)
{
	SSL_CTX *cc = client_ctx(NULL, 0), *sc = server_ctx(0);
	struct ipc__tls_stream *c, *s;
	size_t len = 4u << 20, off = 0;
	unsigned char *src = malloc(len), *dst = malloc(len);
	struct xfer x;
	pthread_t t;
	ssize_t r;

	/* Raw: a count is final; the caller may present anything next. */
	waiter_new();
	fill(src, len, 5);
	stream_pair(cc, sc, &c, &s, 1);
	x = (struct xfer){ s, dst, len, -1 };
	ck_assert_int_eq(pthread_create(&t, NULL, reader_main, &x), 0);
	while (off < len) {
		struct iovec iov = { src + off, len - off < 1000 ? len - off : 1000 };

		r = ipc__tls_stream_writev(c, &iov, 1);
		if (r == -EAGAIN) {
			ck_assert_int_eq(ipc__tls_stream_wait(c, waiter, POLLOUT,
			                                      ipc_deadline(10000)), 0);
			continue;
		}
		ck_assert_int_eq(r, (ssize_t)iov.iov_len);
		off += (size_t)r;
	}
	ck_assert_int_eq(ipc__tls_stream_close(c, 5000), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(x.rc, (ssize_t)len);
	ck_assert(memcmp(src, dst, len) == 0);
	ipc__tls_stream_close(s, 1000);
	free(src);
	free(dst);
	SSL_CTX_free(cc);
	SSL_CTX_free(sc);
	waiter_free();
}
END_TEST

static Suite *
tls_suite(void)
{
	Suite *s = suite_create("tls-session");
	TCase *t = tcase_create("core");

	tcase_add_checked_fixture(t, test_fixture_setup, test_fixture_teardown);
	tcase_set_timeout(t, 120);
	tcase_add_test(t, ctx_conf_rules);
	tcase_add_test(t, ctx_refusals);
	tcase_add_test(t, ctx_key_mode);
	tcase_add_test(t, ctx_combined_pem);
	tcase_add_test(t, shake_good);
	tcase_add_test(t, shake_wrong_ca);
	tcase_add_test(t, shake_expired_server);
	tcase_add_test(t, shake_name_mismatch);
	tcase_add_test(t, shake_mutual);
	tcase_add_test(t, shake_tls12);
	tcase_add_test(t, shake_plaintext);
	tcase_add_test(t, shake_stalled);
	tcase_add_test(t, peer_cert);
	suite_add_tcase(s, t);
	t = tcase_create("stream");
	tcase_add_checked_fixture(t, test_fixture_setup, test_fixture_teardown);
	tcase_set_timeout(t, 120);
	tcase_add_test(t, stream_bulk);
	tcase_add_test(t, stream_all_or_nothing);
	tcase_add_test(t, stream_pending_edge);
	tcase_add_test(t, stream_garbage_sticky);
	tcase_add_test(t, stream_no_sigpipe);
	tcase_add_test(t, stream_fork_ownership);
	tcase_add_test(t, stream_duplex_threads);
	tcase_add_test(t, stream_handshake_deadline);
	tcase_add_test(t, stream_raw_no_holdback);
	suite_add_tcase(s, t);
	return s;
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

int
main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[800];
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: %s tls-certs.sh\n", argv[0]);
		return 2;
	}
	if (system("openssl version > /dev/null 2>&1") != 0)
		test_skip("no openssl command to make certificates with");
	snprintf(certs, sizeof(certs), "%s/ipc-tls-certs-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(certs)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", argv[1], certs);
	rc = system(cmd) == 0 ? test_run(tls_suite()) : (fprintf(stderr, "%s failed\n", cmd), 1);
	nftw(certs, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return rc;
}
