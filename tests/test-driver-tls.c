/* tls+tcp:// through the public API: every refusal with its code, and the
 * listener still serving the next good client after each; interop with
 * openssl s_client. The conformance suite covers what every transport does.
 *
 * Certificates are made at start-up by tests/tls-certs.sh (test-common). */
#include "test-common.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

/* A listener served by a thread: each client's one message comes back. */
struct server {
	ipc_listener *l;
	pthread_t     t;
	atomic_int    stop;
	atomic_int    served;
	int           err;          /* an ipc_accept error other than a timeout */
	char          uri[160];
	unsigned      port;
};

static void *
serve_main(void *p)
{
	struct server *s = p;
	ipc_channel *ch;
	char buf[256];
	ssize_t n;
	int rc;

	while (!atomic_load(&s->stop)) {
		rc = ipc_accept(s->l, &ch, 50);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0) {
			s->err = rc;
			break;
		}
		if ((n = ipc_recv(ch, buf, sizeof(buf), 5000)) >= 0)
			ipc_send(ch, buf, (size_t)n, 5000);
		ipc_close(ch);
		atomic_fetch_add(&s->served, 1);
	}
	return NULL;
}

static void
server_start(struct server *s, const char *name, unsigned flags)
{
	ipc_options o = IPC_OPTIONS_INIT;
	struct ipc_tls t;
	char *colon;
	int rc;

	memset(s, 0, sizeof(*s));
	test_tls_conf(&t, name, flags);
	o.tls = &t;
	rc = ipc_listen(&s->l, "tls+tcp://127.0.0.1:0", 0, &o);
	ck_assert_msg(rc == 0, "listen: %s", ipc_strerror(rc));
	ck_assert_int_gt(ipc_listener_addr(s->l, s->uri, sizeof(s->uri)), 0);
	ck_assert_ptr_nonnull(colon = strrchr(s->uri, ':'));
	s->port = (unsigned)atoi(colon + 1);
	ck_assert_int_eq(pthread_create(&s->t, NULL, serve_main, s), 0);
}

static void
server_stop(struct server *s)
{
	atomic_store(&s->stop, 1);
	pthread_join(s->t, NULL);
	ck_assert_int_eq(s->err, 0);
	ipc_listener_close(s->l);
}

/* Open @p uri with @p t, send one message, expect it back.
 * @return 0, or the first failure. */
static int
client_try(const char *uri, const struct ipc_tls *t)
{
	ipc_options o = IPC_OPTIONS_INIT;
	ipc_channel *ch;
	char buf[16];
	ssize_t n;
	int rc;

	o.tls = t;
	o.open_timeout_ms = 5000;
	if ((rc = ipc_open(&ch, uri, IPC_SEND | IPC_RECV, &o)) < 0)
		return rc;
	if ((n = ipc_send(ch, "ping", 4, 5000)) == 4)
		n = ipc_recv(ch, buf, sizeof(buf), 5000);
	ipc_close(ch);
	if (n < 0)
		return (int)n;
	return n == 4 && memcmp(buf, "ping", 4) == 0 ? 0 : -EBADMSG;
}

/* A good client is served: the listener survived whatever came before. */
static void
good_client(struct server *s)
{
	struct ipc_tls t;
	int before = atomic_load(&s->served), rc;

	test_tls_conf(&t, "client", 0);
	rc = client_try(s->uri, &t);
	ck_assert_msg(rc == 0, "good client: %s", ipc_strerror(rc));
	while (atomic_load(&s->served) == before)
		usleep(1000);       /* the echo is back: the count follows */
}

START_TEST(tls_good_and_peer_cert)
{
	struct ipc_tls lt, ct;
	ipc_options lo = IPC_OPTIONS_INIT, co = IPC_OPTIONS_INIT;
	ipc_listener *l;
	ipc_channel *a, *b;
	unsigned char md[32];
	char uri[160], subj[128];
	int rc;

	test_tls_conf(&lt, "server", IPC_TLS_REQUIRE_CLIENT_CERT);
	test_tls_conf(&ct, "client", 0);
	lo.tls = &lt;
	co.tls = &ct;
	ck_assert_int_eq(ipc_listen(&l, "tls+tcp://127.0.0.1:0", 0, &lo), 0);
	ck_assert_int_gt(ipc_listener_addr(l, uri, sizeof(uri)), 0);
	ck_assert(strncmp(uri, "tls+tcp://127.0.0.1:", 20) == 0);
	/* Connect from a child: ipc_open waits for the listener's hello. */
	{
		pid_t pid;

		fflush(NULL);
		if ((pid = fork()) == 0) {
			ipc_channel *ch;
			char buf[8];

			co.open_timeout_ms = 5000;
			if (ipc_open(&ch, uri, IPC_SEND | IPC_RECV, &co) < 0)
				_exit(1);
			if (ipc_peer_cert(ch, subj, sizeof(subj), md) < 0 ||
			    strcmp(subj, "CN=localhost,O=libipc test") != 0)
				_exit(2);
			if (ipc_send(ch, "hi", 2, 5000) != 2 || ipc_recv(ch, buf, 8, 5000) != 3)
				_exit(3);
			ipc_close(ch);
			_exit(0);
		}
		ck_assert_int_ge(pid, 0);
		rc = ipc_accept(l, &a, 10000);
		ck_assert_msg(rc == 0, "accept: %s", ipc_strerror(rc));
		ck_assert_int_eq(ipc_recv(a, subj, sizeof(subj), 5000), 2);
		ck_assert_int_eq(ipc_send(a, "yes", 3, 5000), 3);
		ck_assert_int_eq(ipc_peer_cert(a, subj, sizeof(subj), md), 23);
		ck_assert_str_eq(subj, "CN=client,O=libipc test");
		ck_assert_int_eq(test_wait(pid, 10000), 0);
		ipc_close(a);
	}
	/* Not a TLS channel. */
	ck_assert_int_eq(test_pair("tcp", &a, &b), 0);
	ck_assert_int_eq(ipc_peer_cert(a, subj, sizeof(subj), md), -EOPNOTSUPP);
	test_unpair(a, b);
	ipc_listener_close(l);
}
END_TEST

START_TEST(tls_refusals_listener_survives)
{
	struct server s;
	struct ipc_tls t;

	server_start(&s, "server", IPC_TLS_REQUIRE_CLIENT_CERT);
	good_client(&s);
	/* The connector decides: a listener its CA did not sign. */
	test_tls_conf(&t, "client", 0);
	t.ca_file = test_tls_file("other-ca.pem");
	ck_assert_int_eq(client_try(s.uri, &t), -EKEYREJECTED);
	good_client(&s);
	/* The connector decides: the name it asked for is not the certificate's. */
	test_tls_conf(&t, "client", 0);
	t.server_name = "elsewhere.example";
	ck_assert_int_eq(client_try(s.uri, &t), -EKEYREJECTED);
	{
		char uri[200];

		/* By name: localhost is in the certificate too. */
		test_tls_conf(&t, "client", 0);
		snprintf(uri, sizeof(uri), "tls+tcp://localhost:%u", s.port);
		ck_assert_int_eq(client_try(uri, &t), 0);
		t.server_name = "127.0.0.2";    /* an address it does not name */
		ck_assert_int_eq(client_try(uri, &t), -EKEYREJECTED);
	}
	good_client(&s);
	/* The listener decides, the client hears the alert: no certificate,
	 * an expired one, one from another CA. */
	test_tls_conf(&t, NULL, 0);
	ck_assert_int_eq(client_try(s.uri, &t), -EKEYREJECTED);
	good_client(&s);
	test_tls_conf(&t, "expired", 0);
	ck_assert_int_eq(client_try(s.uri, &t), -EKEYEXPIRED);
	good_client(&s);
	test_tls_conf(&t, "rogue", 0);
	ck_assert_int_eq(client_try(s.uri, &t), -EKEYREJECTED);
	good_client(&s);
	/* A plain libipc tcp:// client: the listener sees no TLS and drops it
	 * without a word; the client sees the connection close before a hello. */
	{
		char uri[200];

		snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u", s.port);
		ck_assert_int_eq(client_try(uri, NULL), -ECONNREFUSED);
	}
	good_client(&s);
	server_stop(&s);
}
END_TEST

/* A plain tcp:// listener judges a TLS ClientHello by its first byte,
 * answers with its own hello and drops it: the TLS client sees -EPROTO,
 * or -ECONNRESET if the reset overtakes the hello (the kernel decides). */
START_TEST(tls_client_to_plain_listener)
{
	ipc_listener *l;
	struct server s;
	struct ipc_tls t;
	char addr[160], uri[200];
	int rc;

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(ipc_listen(&l, "tcp://127.0.0.1:0", 0, NULL), 0);
	ck_assert_int_gt(ipc_listener_addr(l, addr, sizeof(addr)), 0);
	s.l = l;
	ck_assert_int_eq(pthread_create(&s.t, NULL, serve_main, &s), 0);
	snprintf(uri, sizeof(uri), "tls+tcp://%s", addr + strlen("tcp://"));
	test_tls_conf(&t, "client", 0);
	rc = client_try(uri, &t);
	ck_assert_msg(rc == -EPROTO || rc == -ECONNRESET, "TLS client of tcp://: %d", rc);
	/* That listener still serves its own kind. */
	ck_assert_int_eq(client_try(addr, NULL), 0);
	server_stop(&s);
}
END_TEST

/* A raw TCP connection to the TLS listener that says nothing, or sends
 * garbage: never blocks the good clients, dropped after the deadline. */
START_TEST(tls_stalled_and_garbage)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct server s;
	struct pollfd p;
	char c;
	int fd[2], i;

	server_start(&s, "server", IPC_TLS_REQUIRE_CLIENT_CERT);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)s.port);
	for (i = 0; i < 2; i++) {
		fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(fd[i], 0);
		ck_assert_int_eq(connect(fd[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	/* A half record header: not enough for OpenSSL, enough to judge. */
	ck_assert_int_eq(write(fd[1], "\x16\x03", 2), 2);
	/* While both are pending, good clients come and go. */
	good_client(&s);
	good_client(&s);
	/* The staller and the slow one are dropped within the deadline
	 * (1.5 s) plus slack: each sees the end of the connection. */
	for (i = 0; i < 2; i++) {
		p = (struct pollfd){ .fd = fd[i], .events = POLLIN };
		ck_assert_int_eq(poll(&p, 1, 10000), 1);
		ck_assert_int_le(read(fd[i], &c, 1), 0);
		close(fd[i]);
	}
	/* Garbage at once: dropped at once, not after the deadline. */
	fd[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(fd[0], (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(write(fd[0], "GET / HTTP/1.0\r\n\r\n", 18), 18);
	p = (struct pollfd){ .fd = fd[0], .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 10000), 1);
	ck_assert_int_le(read(fd[0], &c, 1), 0);
	close(fd[0]);
	good_client(&s);
	server_stop(&s);
}
END_TEST

START_TEST(tls_own_certificate_and_key)
{
	ipc_options o = IPC_OPTIONS_INIT;
	struct ipc_tls t;
	ipc_listener *l;
	ipc_channel *ch;
	const char *key = test_path("open.key");
	char cmd[1200];

	o.tls = &t;
	/* A listener with an expired certificate, or none. */
	test_tls_conf(&t, "expired", 0);
	ck_assert_int_eq(ipc_listen(&l, "tls+tcp://127.0.0.1:0", 0, &o), -EKEYEXPIRED);
	test_tls_conf(&t, NULL, 0);
	ck_assert_int_eq(ipc_listen(&l, "tls+tcp://127.0.0.1:0", 0, &o), -EINVAL);
	ck_assert_int_eq(ipc_listen(&l, "tls+tcp://127.0.0.1:0", 0, NULL), -EINVAL);
	/* A key file readable by others, on either side: -EACCES, as ssh. */
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 0644 '%s'",
	         test_tls_file("server.key"), key, key);
	ck_assert_int_eq(system(cmd), 0);
	test_tls_conf(&t, "server", 0);
	t.key_file = key;
	ck_assert_int_eq(ipc_listen(&l, "tls+tcp://127.0.0.1:0", 0, &o), -EACCES);
	o.open_timeout_ms = 2000;
	ck_assert_int_eq(ipc_open(&ch, "tls+tcp://127.0.0.1:9", IPC_SEND | IPC_RECV, &o),
	                 -EACCES);
	ck_assert_int_eq(chmod(key, 0600), 0);
	ck_assert_int_eq(ipc_listen(&l, "tls+tcp://127.0.0.1:0", 0, &o), 0);
	ipc_listener_close(l);
	unlink(key);
	/* A struct ipc_tls from a newer library: unknown bytes -E2BIG. */
	{
		struct { struct ipc_tls t; unsigned char more[8]; } big;

		memset(&big, 0, sizeof(big));
		test_tls_conf(&big.t, "server", 0);
		big.t.size = sizeof(big);
		big.more[1] = 1;
		o.tls = &big.t;
		ck_assert_int_eq(ipc_listen(&l, "tls+tcp://127.0.0.1:0", 0, &o), -E2BIG);
	}
}
END_TEST

/* ------------------------------------------------------- openssl s_client */

static int
have_openssl(void)
{
	return system("openssl version > /dev/null 2>&1") == 0;
}

struct sclient {
	char args[1200];
	const char *in, *out;
};

static int
run_sclient(void *p)
{
	struct sclient *c = p;
	char cmd[2000];

	snprintf(cmd, sizeof(cmd), "timeout 20 openssl s_client -quiet %s < '%s' > '%s' 2> '%s.err'",
	         c->args, c->in, c->out, c->out);
	return WEXITSTATUS(system(cmd));
}

static size_t
read_file(const char *path, unsigned char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

/* openssl s_client, not libipc, completes the handshake with client
 * certificate, speaks the wire format inside TLS (our hello and one frame
 * from stdin), and receives the listener's hello and reply. */
START_TEST(tls_interop_s_client)
{
	static const unsigned char hello[] = {
		0x89, 'I', 'P', 'C', 1, 0, 0, 0, 0x00, 0x01, 0x00, 0x00,   /* max 64 KiB */
		0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o',
	};
	struct sclient c = { .in = strdup(test_path("in")), .out = strdup(test_path("out")) };
	ipc_options o = IPC_OPTIONS_INIT;
	unsigned char got[256];
	struct ipc_tls t;
	ipc_listener *l;
	ipc_channel *ch;
	char uri[160], buf[16];
	FILE *f;
	pid_t pid;
	size_t n;
	int rc;

	if (!have_openssl())
		return;
	test_tls_conf(&t, "server", IPC_TLS_REQUIRE_CLIENT_CERT);
	o.tls = &t;
	ck_assert_int_eq(ipc_listen(&l, "tls+tcp://127.0.0.1:0", 0, &o), 0);
	ck_assert_int_gt(ipc_listener_addr(l, uri, sizeof(uri)), 0);
	ck_assert_ptr_nonnull(f = fopen(c.in, "wb"));
	ck_assert_int_eq(fwrite(hello, 1, sizeof(hello), f), sizeof(hello));
	fclose(f);
	snprintf(c.args, sizeof(c.args),
	         "-connect %s -verify_return_error -verify_ip 127.0.0.1 -CAfile '%s' "
	         "-cert '%s' -key '%s'", uri + strlen("tls+tcp://"), test_tls_file("ca.pem"),
	         test_tls_file("client.pem"), test_tls_file("client.key"));
	fflush(NULL);
	pid = test_fork(run_sclient, &c);
	rc = ipc_accept(l, &ch, 15000);
	ck_assert_msg(rc == 0, "accept: %s", ipc_strerror(rc));
	ck_assert_int_eq(ipc_recv(ch, buf, sizeof(buf), 5000), 5);
	ck_assert_mem_eq(buf, "hello", 5);
	ck_assert_int_eq(ipc_send(ch, "world", 5, 5000), 5);
	ipc_close(ch);          /* s_client sees the end of the stream and exits */
	ck_assert_int_ge(test_wait(pid, 30000), 0);
	n = read_file(c.out, got, sizeof(got));
	ck_assert_uint_eq(n, 12 + 4 + 5);
	ck_assert_mem_eq(got, "\x89IPC\x01\x00\x00\x00", 8);
	ck_assert_mem_eq(got + 12, "\x00\x00\x00\x05world", 9);
	ipc_listener_close(l);
	unlink(c.in);
	unlink(c.out);
	{
		char err[600];

		snprintf(err, sizeof(err), "%s.err", c.out);
		unlink(err);
	}
	free((char *)c.in);
	free((char *)c.out);
}
END_TEST

/* A TLS 1.2-only client (openssl s_client -tls1_2): refused by a 1.3-only
 * listener, which goes on serving; accepted by one with IPC_TLS_1_2. */
START_TEST(tls_12_client)
{
	struct sclient c = { .in = strdup(test_path("in")), .out = strdup(test_path("out")) };
	char err[600];
	struct server s;
	pid_t pid;
	FILE *f;
	int pass;

	static const unsigned char hello[] = {
		0x89, 'I', 'P', 'C', 1, 0, 0, 0, 0x00, 0x01, 0x00, 0x00,
		0, 0, 0, 4, 'p', 'i', 'n', 'g',
	};

	if (!have_openssl())
		return;
	/* Our side of the wire format, for s_client to send once connected. */
	ck_assert_ptr_nonnull(f = fopen(c.in, "wb"));
	ck_assert_int_eq(fwrite(hello, 1, sizeof(hello), f), sizeof(hello));
	fclose(f);
	for (pass = 0; pass < 2; pass++) {
		server_start(&s, "server", pass ? IPC_TLS_1_2 : 0);
		snprintf(c.args, sizeof(c.args), "-tls1_2 -connect 127.0.0.1:%u -CAfile '%s'",
		         s.port, test_tls_file("ca.pem"));
		fflush(NULL);
		pid = test_fork(run_sclient, &c);
		if (pass == 0) {
			unsigned char got[64];

			ck_assert_int_ne(test_wait(pid, 30000), 0);   /* no handshake */
			ck_assert_uint_eq(read_file(c.out, got, sizeof(got)), 0);
			good_client(&s);
		} else {
			unsigned char got[64];

			/* The handshake completes; s_client's hello and frame come
			 * out of ipc_accept, and the echo goes back in TLS 1.2. */
			ck_assert_int_ge(test_wait(pid, 30000), 0);
			ck_assert_uint_eq(read_file(c.out, got, sizeof(got)), 20);
			ck_assert_mem_eq(got, "\x89IPC", 4);
			ck_assert_mem_eq(got + 12, "\x00\x00\x00\x04ping", 8);
		}
		server_stop(&s);
	}
	unlink(c.in);
	unlink(c.out);
	snprintf(err, sizeof(err), "%s.err", c.out);
	unlink(err);
	free((char *)c.in);
	free((char *)c.out);
}
END_TEST

static Suite *
tls_suite(void)
{
	Suite *s = suite_create("driver-tls");
	TCase *t = tcase_create("tls");

	tcase_add_checked_fixture(t, test_fixture_setup, test_fixture_teardown);
	tcase_set_timeout(t, 120);
	tcase_add_test(t, tls_good_and_peer_cert);
	tcase_add_test(t, tls_refusals_listener_survives);
	tcase_add_test(t, tls_client_to_plain_listener);
	tcase_add_test(t, tls_stalled_and_garbage);
	tcase_add_test(t, tls_own_certificate_and_key);
	tcase_add_test(t, tls_interop_s_client);
	tcase_add_test(t, tls_12_client);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	if (!test_have_listener("tls+tcp://127.0.0.1:0"))
		test_skip("libipc has no tls+tcp:// driver");
	test_tls_certs();       /* once, before the cases fork */
	return test_run(tls_suite());
}
