/* The core's own suite: argument checking, options, errors, the registry. */
#include "test-common.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

START_TEST(api_bad_uris)
{
	static const struct { const char *uri; int flags; int rc; } cases[] = {
		{ NULL,                IPC_RECV, -EINVAL },
		{ "",                  IPC_RECV, -EINVAL },
		{ "nocolon",           IPC_RECV, -EINVAL },
		{ ":x",                IPC_RECV, -EINVAL },
		{ "1abc:x",            IPC_RECV, -EINVAL },
		{ "sp ace:x",          IPC_RECV, -EINVAL },
		{ "nosuch:/x",         IPC_RECV, -EPROTONOSUPPORT },
		{ "pipe:",             IPC_RECV, -EPROTONOSUPPORT },
		{ "fifo:",             IPC_RECV, -EINVAL },
		{ "fifo:relative",     IPC_RECV, -EINVAL },
		{ "fifo:/tmp/x",       IPC_RECV | IPC_SEND, -EINVAL },
		{ "fifo:/nonexistent-dir/x", IPC_RECV, -ENOENT },
		{ "fd:",               IPC_RECV, -EINVAL },
		{ "fd:abc",            IPC_RECV, -EINVAL },
		{ "fd:-1",             IPC_RECV, -EINVAL },
		{ "fd:3x",             IPC_RECV, -EINVAL },
		{ "fd:99999999999",    IPC_RECV, -EINVAL },
		{ "fd:3,3",            IPC_RECV | IPC_SEND, -EINVAL },
		{ "fd:4000",           IPC_RECV, -EBADF },
		{ "fd:0",              IPC_RECV | IPC_CREATE, -EINVAL },
		{ "fd:0",              0, -EINVAL },
		{ "fd:0",              IPC_RECV | (1 << 20), -EINVAL },
	};
	ipc_channel *ch = (ipc_channel *)0x1;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = ipc_open(&ch, cases[i].uri, cases[i].flags, NULL);

		ck_assert_msg(rc == cases[i].rc, "%s: got %d (%s), want %d",
		              cases[i].uri ? cases[i].uri : "(null)", rc,
		              ipc_strerror(rc), cases[i].rc);
		ck_assert_ptr_eq(ch, (ipc_channel *)0x1);   /* untouched on failure */
	}
	ck_assert_int_eq(ipc_open(NULL, "fd:0", IPC_RECV, NULL), -EINVAL);
}
END_TEST

START_TEST(api_options)
{
	struct { ipc_options o; unsigned char future[16]; } big;
	ipc_options o = IPC_OPTIONS_INIT;
	ipc_channel *ch;
	const char *path = test_path("opt.fifo");
	char uri[600];

	snprintf(uri, sizeof(uri), "fifo:%s", path);
	o.size = 0;
	ck_assert_int_eq(ipc_open(&ch, uri, IPC_RECV | IPC_CREATE, &o), -EINVAL);
	o.size = sizeof(o) - 1;
	ck_assert_int_eq(ipc_open(&ch, uri, IPC_RECV | IPC_CREATE, &o), -EINVAL);
	o = (ipc_options)IPC_OPTIONS_INIT;
	o.max_msg = (size_t)IPC_MSG_LIMIT + 1;
	ck_assert_int_eq(ipc_open(&ch, uri, IPC_RECV | IPC_CREATE, &o), -EINVAL);
	o = (ipc_options)IPC_OPTIONS_INIT;
	o.mode = 010000;
	ck_assert_int_eq(ipc_open(&ch, uri, IPC_RECV | IPC_CREATE, &o), -EINVAL);
	o = (ipc_options)IPC_OPTIONS_INIT;
	o.open_timeout_ms = -7;
	ck_assert_int_eq(ipc_open(&ch, uri, IPC_RECV | IPC_CREATE, &o), -EINVAL);
	ck_assert_int_eq(access(path, F_OK), -1);   /* nothing was created */

	/* A newer caller's larger struct: fine while the unknown part is zero. */
	memset(&big, 0, sizeof(big));
	big.o.size = sizeof(big);
	big.future[3] = 1;
	ck_assert_int_eq(ipc_open(&ch, uri, IPC_RECV | IPC_CREATE, &big.o), -E2BIG);
	big.future[3] = 0;
	ck_assert_int_eq(ipc_open(&ch, uri, IPC_RECV | IPC_CREATE, &big.o), 0);
	ipc_close(ch);

	/* A 0.1 caller's struct ends before .tls: that size stays valid. */
	{
		struct { unsigned char b[offsetof(ipc_options, tls)]; } v01;

		memset(&o, 0x5a, sizeof(o));        /* .tls must not be read */
		o.size = sizeof(v01);
		o.max_msg = 0;
		o.capacity = 0;
		o.mode = 0;
		o.open_timeout_ms = 0;
		ck_assert_int_eq(ipc_open(&ch, uri, IPC_RECV | IPC_CREATE, &o), 0);
		ipc_close(ch);
		o.size = sizeof(v01) + 1;
		ck_assert_int_eq(ipc_open(&ch, uri, IPC_RECV | IPC_CREATE, &o), -EINVAL);
		o.size = sizeof(v01) - 1;
		ck_assert_int_eq(ipc_open(&ch, uri, IPC_RECV | IPC_CREATE, &o), -EINVAL);
	}
}
END_TEST

START_TEST(api_bad_calls)
{
	ipc_channel *e[2];
	char buf[8];

	ck_assert_int_eq(ipc_pipe(NULL, 0), -EINVAL);
	ck_assert_int_eq(ipc_pipe(e, IPC_CREATE), -EINVAL);
	ck_assert_int_eq(ipc_pipe(e, 0), 0);
	ck_assert_int_eq(ipc_send(NULL, "x", 1, 0), -EINVAL);
	ck_assert_int_eq(ipc_recv(NULL, buf, 1, 0), -EINVAL);
	ck_assert_int_eq(ipc_send(e[1], NULL, 1, 0), -EINVAL);
	ck_assert_int_eq(ipc_recv(e[0], NULL, 1, 0), -EINVAL);
	ck_assert_int_eq(ipc_send(e[0], "x", 1, 0), -EBADF);
	ck_assert_int_eq(ipc_recv(e[1], buf, 1, 0), -EBADF);
	ck_assert_int_eq(ipc_recv_size(e[1], 0), -EBADF);
	ck_assert_int_eq(ipc_recv_alloc(e[0], NULL, 0), -EINVAL);
	ck_assert_int_eq(ipc_send(e[1], buf, (size_t)-1, 0), -EINVAL);
	ck_assert_int_eq(ipc_send(e[1], buf, (16u << 20) + 1, 0), -EMSGSIZE);
	ck_assert_int_eq(ipc_peer_cred(e[0], &(struct ipc_peer){ 0 }), -EOPNOTSUPP);
	{
		unsigned char md[32];

		ck_assert_int_eq(ipc_peer_cert(e[0], buf, sizeof(buf), md), -EOPNOTSUPP);
		ck_assert_int_eq(ipc_peer_cert(e[0], NULL, 0, NULL), -EOPNOTSUPP);
		ck_assert_int_eq(ipc_peer_cert(NULL, buf, sizeof(buf), md), -EINVAL);
		ck_assert_int_eq(ipc_peer_cert(e[0], NULL, 8, md), -EINVAL);
		ck_assert_int_eq(ipc_peer_cert(e[0], buf, 0, md), -EINVAL);
	}
	ck_assert_int_eq(ipc_fd(NULL), -EINVAL);
	ck_assert_int_ge(ipc_fd(e[0]), 0);
	ck_assert_int_eq(ipc_shutdown(NULL), -EINVAL);
	ck_assert_int_eq(ipc_close(NULL), 0);
	ck_assert_int_eq(ipc_listen(NULL, "fd:0", 0, NULL), -EINVAL);
	{
		ipc_listener *l;

		ck_assert_int_eq(ipc_listen(&l, "fifo:/tmp/x", 0, NULL), -EOPNOTSUPP);
		ck_assert_int_eq(ipc_listen(&l, "nosuch:x", 0, NULL), -EPROTONOSUPPORT);
	}
	ipc_close(e[0]);
	ipc_close(e[1]);
}
END_TEST

START_TEST(api_strerror)
{
	static const int codes[] = { EAGAIN, ETIMEDOUT, EPIPE, ECONNRESET, EPROTO, EMSGSIZE,
		EINVAL, E2BIG, EPROTONOSUPPORT, EBADF, EACCES, ENOTSUP, EEXIST, ENOENT, ENOMEM,
		ENOSPC, EMFILE, ECONNREFUSED, EADDRINUSE, EBUSY, ESRCH, EPERM, EOPNOTSUPP };
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *s = ipc_strerror(-codes[i]);

		ck_assert_ptr_nonnull(s);
		ck_assert_str_ne(s, "Unknown error");
	}
	ck_assert_str_eq(ipc_strerror(IPC_EOF), "End of stream");
	ck_assert_str_eq(ipc_strerror(0), "Success");
	ck_assert_str_eq(ipc_strerror(-100000), "Unknown error");
	ck_assert_str_eq(ipc_version(), IPC_VERSION_STRING);
	ck_assert_int_eq(IPC_EOF, -4096);
}
END_TEST

/* A table from a newer release: members we do not know must be unused. */
struct newer_driver {
	struct ipc_driver d;
	void (*future_op)(void);
};

static void
future(void)
{
}

/* A driver compiled against 0.1's header (IPC_DRIVER_ABI 1): no size, one
 * priv_size, a const fd(). Its layout, as that header declared it. */
struct driver_v1 {
	unsigned    abi;
	const char *scheme;
	size_t      priv_size;
	int     (*open)(ipc_channel *, const char *, int, const ipc_options *);
	ssize_t (*send)(ipc_channel *, const void *, size_t, int);
	ssize_t (*recv)(ipc_channel *, void *, size_t, int);
	ssize_t (*recv_size)(ipc_channel *, int);
	int     (*fd)(const ipc_channel *);
	int     (*pending)(const ipc_channel *);
	void    (*shutdown)(ipc_channel *);
	void    (*close)(ipc_channel *);
	int     (*listen)(ipc_listener *, const char *, int, const ipc_options *);
	int     (*accept)(ipc_listener *, ipc_channel *, int);
	int     (*listener_addr)(const ipc_listener *, char *, size_t);
	int     (*listener_fd)(const ipc_listener *);
	void    (*listener_close)(ipc_listener *);
	int     (*peer_cred)(const ipc_channel *, struct ipc_peer *);
};

static int
v1_fd(const ipc_channel *ch)
{
	return *(const int *)ipc_channel_priv((ipc_channel *)ch);
}

START_TEST(api_driver_abi_versions)
{
	struct newer_driver nd = { .d = test_seqpacket_driver };
	struct driver_v1 v1 = {
		.abi = 1, .scheme = "seqpacket-v1", .priv_size = test_seqpacket_driver.priv_size,
		.open = test_seqpacket_driver.open, .send = test_seqpacket_driver.send,
		.recv = test_seqpacket_driver.recv, .fd = v1_fd,
		.close = test_seqpacket_driver.close,
	};
	ipc_channel *a, *b;
	char buf[8];

	/* A newer table: accepted while its extra members are unused. */
	nd.d.size = sizeof(nd);
	nd.d.scheme = "seqpacket-new";
	nd.future_op = future;
	ck_assert_int_eq(ipc_register_driver(&nd.d), -E2BIG);
	nd.future_op = NULL;
	ck_assert_int_eq(ipc_register_driver(&nd.d), 0);
	test_seqpacket_pair("seqpacket-new", &a, &b);
	ck_assert_int_eq(ipc_send(a, "x", 1, 1000), 1);
	ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), 1000), 1);
	ipc_close(a);
	ipc_close(b);

	/* 0.1's table works as it did (the library copies it). */
	ck_assert_int_eq(ipc_register_driver((const struct ipc_driver *)&v1), 0);
	test_seqpacket_pair("seqpacket-v1", &a, &b);
	ck_assert_int_eq(ipc_send(a, "hey", 3, 1000), 3);
	ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), 1000), 3);
	ck_assert_int_eq(ipc_recv_size(b, 0), -EOPNOTSUPP);
	ck_assert_int_ge(ipc_fd(b), 0);
	ipc_close(a);
	ipc_close(b);
}
END_TEST

/* Loan ops without their give-back halves: never called, only refused. */
static ssize_t
lone_reserve(ipc_channel *ch, void **buf, size_t len, int timeout_ms)
{
	(void)ch, (void)buf, (void)len, (void)timeout_ms;
	return -ENOSYS;
}

static ssize_t
lone_peek(ipc_channel *ch, const void **buf, int timeout_ms)
{
	(void)ch, (void)buf, (void)timeout_ms;
	return -ENOSYS;
}

START_TEST(api_user_driver)
{
	struct ipc_driver bad = test_seqpacket_driver;
	ipc_channel *a, *b;
	char uri[32], buf[16];
	int sv[2];

	ck_assert_int_eq(ipc_register_driver(NULL), -EINVAL);
	bad.abi = IPC_DRIVER_ABI + 1;
	ck_assert_int_eq(ipc_register_driver(&bad), -EINVAL);
	bad = test_seqpacket_driver;
	bad.recv = NULL;
	ck_assert_int_eq(ipc_register_driver(&bad), -EINVAL);
	bad = test_seqpacket_driver;
	bad.scheme = "bad scheme";
	ck_assert_int_eq(ipc_register_driver(&bad), -EINVAL);
	bad = test_seqpacket_driver;
	bad.scheme = "fifo";
	ck_assert_int_eq(ipc_register_driver(&bad), -EEXIST);
	bad = test_seqpacket_driver;
	bad.size = offsetof(struct ipc_driver, listener_close);   /* shorter than 0.2's */
	ck_assert_int_eq(ipc_register_driver(&bad), -EINVAL);
	/* a loan that could be taken but never given back */
	bad = test_seqpacket_driver;
	bad.send_reserve = lone_reserve;
	ck_assert_int_eq(ipc_register_driver(&bad), -EINVAL);
	bad = test_seqpacket_driver;
	bad.recv_peek = lone_peek;
	ck_assert_int_eq(ipc_register_driver(&bad), -EINVAL);
	ck_assert_int_eq(ipc_register_driver(&test_seqpacket_driver), 0);
	ck_assert_int_eq(ipc_register_driver(&test_seqpacket_driver), -EEXIST);

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	snprintf(uri, sizeof(uri), "seqpacket:%d", sv[0]);
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV, NULL), 0);
	snprintf(uri, sizeof(uri), "seqpacket:%d", sv[1]);
	ck_assert_int_eq(ipc_open(&b, uri, IPC_SEND | IPC_RECV, NULL), 0);
	ck_assert_int_eq(ipc_send(a, "hello", 5, 1000), 5);
	ck_assert_int_eq(ipc_recv(b, buf, 2, 1000), -EMSGSIZE);
	ck_assert_int_eq(ipc_recv_size(b, 0), 5);
	ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), 1000), 5);
	ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), 30), -ETIMEDOUT);
	ck_assert_int_eq(ipc_fd(b), sv[1]);
	ipc_shutdown(b);
	ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), -1), IPC_EOF);
	ipc_close(a);
	ipc_close(b);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("api");

	tcase_add_checked_fixture(tc, test_fixture_setup, test_fixture_teardown);
	tcase_set_timeout(tc, 120);     /* not Check's 4 s: loaded machines, valgrind */
	tcase_add_test(tc, api_bad_uris);
	tcase_add_test(tc, api_options);
	tcase_add_test(tc, api_bad_calls);
	tcase_add_test(tc, api_strerror);
	tcase_add_test(tc, api_user_driver);
	tcase_add_test(tc, api_driver_abi_versions);
	suite_add_tcase(s, tc);
	return test_run(s);
}
