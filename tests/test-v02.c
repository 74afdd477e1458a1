/* The calls of version 0.2 that are not per transport: ipc_pair, IPC_INHERIT
 * ends through dup2 + exec, ipc_flush, ipc_listener_shutdown. */
#include "test-common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

START_TEST(pair_duplex_framed_and_raw)
{
	ipc_channel *e[2];
	char buf[16];
	ssize_t n;

	ck_assert_int_eq(ipc_pair(e, 0), 0);
	ck_assert_int_eq(ipc_send(e[0], "ping", 4, 1000), 4);
	ck_assert_int_eq(ipc_recv(e[1], buf, sizeof(buf), 1000), 4);
	ck_assert_int_eq(ipc_send(e[1], "pong!", 5, 1000), 5);
	ck_assert_int_eq(ipc_recv(e[0], buf, sizeof(buf), 1000), 5);
	ck_assert_mem_eq(buf, "pong!", 5);
	ck_assert_int_eq(ipc_send(e[0], "", 0, 1000), 0);
	ck_assert_int_eq(ipc_recv(e[1], buf, sizeof(buf), 1000), 0);
	ipc_close(e[0]);
	ck_assert_int_eq(ipc_recv(e[1], buf, sizeof(buf), 1000), IPC_EOF);
	ipc_close(e[1]);

	ck_assert_int_eq(ipc_pair(e, IPC_RAW), 0);
	ck_assert_int_eq(ipc_send(e[1], "abc", 3, 1000), 3);
	n = ipc_recv(e[0], buf, sizeof(buf), 1000);
	ck_assert(n >= 1 && n <= 3);
	ck_assert_int_eq(ipc_pair(NULL, 0), -EINVAL);
	ck_assert_int_eq(ipc_pair(e, IPC_CREATE), -EINVAL);
	ipc_close(e[0]);
	ipc_close(e[1]);
}
END_TEST

/* IPC_INHERIT ends are blocking descriptions, close-on-exec until dup2'd,
 * and the library's own calls still time out on them. */
START_TEST(inherit_ends_block_but_calls_time_out)
{
	ipc_channel *p[2], *s[2];
	char buf[8];
	int fd;

	ck_assert_int_eq(ipc_pipe(p, IPC_INHERIT), 0);
	fd = ipc_fd(p[0]);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	ck_assert_int_eq(fcntl(ipc_fd(p[1]), F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(ipc_recv(p[0], buf, sizeof(buf), 50), -ETIMEDOUT);
	ck_assert_int_eq(ipc_recv(p[0], buf, sizeof(buf), 0), -EAGAIN);
	ck_assert_int_eq(ipc_send(p[1], "hi", 2, 1000), 2);
	ck_assert_int_eq(ipc_recv(p[0], buf, sizeof(buf), 1000), 2);
	ipc_close(p[0]);
	ipc_close(p[1]);

	ck_assert_int_eq(ipc_pair(s, IPC_INHERIT), 0);
	ck_assert_int_eq(fcntl(ipc_fd(s[0]), F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(ipc_recv(s[0], buf, sizeof(buf), 50), -ETIMEDOUT);
	ipc_close(s[0]);
	ipc_close(s[1]);
}
END_TEST

/* The seed's pipeline with a real program: lines through an IPC_INHERIT pipe
 * onto wc's stdin, its count back through another onto its stdout. */
START_TEST(inherit_pipe_through_exec_of_wc)
{
	ipc_channel *in[2], *out[2];
	char buf[64];
	size_t got = 0;
	ssize_t n;
	pid_t pid;
	int i;

	ck_assert_int_eq(ipc_pipe(in, IPC_RAW | IPC_INHERIT), 0);
	ck_assert_int_eq(ipc_pipe(out, IPC_RAW | IPC_INHERIT), 0);
	fflush(stdout);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (dup2(ipc_fd(in[0]), STDIN_FILENO) < 0 ||
		    dup2(ipc_fd(out[1]), STDOUT_FILENO) < 0)
			_exit(126);
		/* Everything else is close-on-exec: wc sees the end of its
		 * input when the parent closes its end. */
		execlp("wc", "wc", "-l", (char *)NULL);
		_exit(127);
	}
	ipc_close(in[0]);
	ipc_close(out[1]);
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(ipc_send(in[1], "line\n", 5, 5000), 5);
	ipc_close(in[1]);
	while ((n = ipc_recv(out[0], buf + got, sizeof(buf) - 1 - got, 10000)) > 0)
		got += (size_t)n;
	ck_assert_int_eq(n, IPC_EOF);
	buf[got] = 0;
	ck_assert_int_eq(atoi(buf), 100);
	ck_assert_int_eq(test_wait(pid, 10000), 0);
	ipc_close(out[0]);
}
END_TEST

/* A send that timed out half-way is committed; ipc_flush pushes the rest. */
START_TEST(flush_pushes_committed_tail)
{
	static unsigned char big[1 << 20], sink[1 << 20];
	ipc_channel *e[2];
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(ipc_pair(e, 0), 0);
	ck_assert_int_eq(ipc_flush(e[0], 0), 0);        /* nothing held */
	memset(big, 'b', sizeof(big));
	/* Nobody reads: the socket takes part of it, the rest is the tail. */
	ck_assert_int_eq(ipc_send(e[0], big, sizeof(big), 100), sizeof(big));
	ck_assert_int_eq(ipc_flush(e[0], 0), -EAGAIN);
	ck_assert_int_eq(ipc_flush(e[0], 50), -ETIMEDOUT);
	/* A reader drains while we flush; a blocking flush finishes it. */
	fflush(stdout);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		n = ipc_recv(e[1], sink, sizeof(sink), 10000);
		_exit(n == (ssize_t)sizeof(big) && sink[sizeof(sink) - 1] == 'b' ? 0 : 1);
	}
	ck_assert_int_eq(ipc_flush(e[0], 10000), 0);
	ck_assert_int_eq(ipc_flush(e[0], 0), 0);
	ck_assert_int_eq(test_wait(pid, 10000), 0);
	ipc_close(e[0]);
	ipc_close(e[1]);
}
END_TEST

struct acceptor {
	ipc_listener *l;
	_Atomic pid_t tid;
	atomic_int rc;
	atomic_int done;
};

static void *
accept_thread(void *p)
{
	struct acceptor *a = p;
	ipc_channel *ch = NULL;

	atomic_store(&a->tid, test_tid());
	atomic_store(&a->rc, ipc_accept(a->l, &ch, -1));
	atomic_store(&a->done, 1);
	return NULL;
}

static int
join_within(pthread_t t, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return pthread_timedjoin_np(t, NULL, &ts);
}

static void
listen_here(ipc_listener **l, const char *uri)
{
	if (!test_have_listener(uri))
		test_skip("no listening transport for the test");
	ck_assert_int_eq(ipc_listen(l, uri, 0, NULL), 0);
}

static const char *
listen_uri(void)
{
	static char uri[600];

	snprintf(uri, sizeof(uri), "unix:%s", test_path("l.sock"));
	return uri;
}

/* A thread blocked in ipc_accept(-1) returns IPC_EOF when another thread
 * shuts the listener down; later accepts too, without blocking. */
START_TEST(listener_shutdown_from_thread)
{
	struct acceptor a = { 0 };
	ipc_channel *ch = NULL;
	struct pollfd p;
	pthread_t t;

	listen_here(&a.l, listen_uri());
	ck_assert_int_eq(pthread_create(&t, NULL, accept_thread, &a), 0);
	while (!atomic_load(&a.tid))
		sched_yield();
	(void)test_wait_asleep(a.tid, 2000);  /* only makes "blocked" likely */
	ck_assert_int_eq(ipc_listener_shutdown(a.l), 0);
	ck_assert_int_eq(join_within(t, 10000), 0);
	ck_assert_int_eq(atomic_load(&a.rc), IPC_EOF);
	ck_assert_int_eq(ipc_accept(a.l, &ch, -1), IPC_EOF);
	ck_assert_int_eq(ipc_accept(a.l, &ch, 0), IPC_EOF);
	ck_assert_ptr_null(ch);
	/* An event loop sees it as readable, and its accept gets IPC_EOF. */
	p = (struct pollfd){ .fd = ipc_listener_fd(a.l), .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 0), 1);
	ck_assert_int_eq(ipc_listener_shutdown(NULL), -EINVAL);
	ipc_listener_close(a.l);
}
END_TEST

static ipc_listener *sig_listener;

static void
on_usr1(int sig)
{
	(void)sig;
	ipc_listener_shutdown(sig_listener);    /* async-signal-safe */
}

struct kicker {
	pid_t tid;
	pthread_t target;
};

static void *
kick_thread(void *p)
{
	struct kicker *k = p;

	(void)test_wait_asleep(k->tid, 2000);
	pthread_kill(k->target, SIGUSR1);
	return NULL;
}

/* The same from a signal handler in the blocked thread itself. */
START_TEST(listener_shutdown_from_signal_handler)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	struct kicker k = { .tid = test_tid(), .target = pthread_self() };
	ipc_channel *ch = NULL;
	pthread_t t;

	listen_here(&sig_listener, listen_uri());
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	alarm(30);              /* a hang fails the test, never waits forever */
	ck_assert_int_eq(pthread_create(&t, NULL, kick_thread, &k), 0);
	ck_assert_int_eq(ipc_accept(sig_listener, &ch, -1), IPC_EOF);
	alarm(0);
	pthread_join(t, NULL);
	ck_assert_int_eq(ipc_accept(sig_listener, &ch, 1000), IPC_EOF);
	ipc_listener_close(sig_listener);
}
END_TEST

static int
hello_arrived(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static int
second_worker(void *arg)
{
	ipc_listener *l = arg;
	ipc_channel *c;

	if (ipc_accept(l, &c, 10000) != 0)
		return 1;
	ipc_close(c);
	return 0;
}

/* Pre-forked workers share connections fairly: an ipc_accept() takes from
 * the kernel only what it returns (while the peers' hellos are there), and
 * says hello only to the peer it returns, so the next peer is left to
 * whichever worker accepts next. (It once took all three into its own set
 * and greeted them, and a second worker waited in vain.) */
START_TEST(prefork_accept_takes_only_what_it_returns)
{
	unsigned char h[12] = { 0x89, 'I', 'P', 'C', 1, 0, 0, 0, 0, 0x10, 0, 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	ipc_listener *l;
	ipc_channel *c;
	int cl[3], i, greeted = 0;
	char uri[600];
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", test_path("w.sock"));
	snprintf(uri, sizeof(uri), "unix:%s", sa.sun_path);
	listen_here(&l, uri);
	/* Three peers whose hellos are all in before anyone accepts. */
	for (i = 0; i < 3; i++) {
		cl[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(cl[i], 0);
		ck_assert_int_eq(connect(cl[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
		ck_assert_int_eq(write(cl[i], h, sizeof(h)), (ssize_t)sizeof(h));
	}
	ck_assert_int_eq(ipc_accept(l, &c, 5000), 0);
	for (i = 0; i < 3; i++)
		greeted += hello_arrived(cl[i]);
	ck_assert_int_eq(greeted, 1);
	/* Another worker gets the next one, from the kernel's queue. */
	pid = test_fork(second_worker, l);
	ck_assert_int_eq(test_wait(pid, 20000), 0);
	for (greeted = 0, i = 0; i < 3; i++)
		greeted += hello_arrived(cl[i]);
	ck_assert_int_eq(greeted, 2);
	ipc_close(c);
	for (i = 0; i < 3; i++)
		close(cl[i]);
	ipc_listener_close(l);
}
END_TEST

/* shm can tell an explicit max_msg of 16 MiB (up to the whole ring) from
 * the default (half the ring): the core leaves 0 for the driver to see. */
START_TEST(shm_explicit_max_msg_is_not_the_default)
{
	struct ipc_options o = IPC_OPTIONS_INIT;
	static char msg[1536 << 10];
	ipc_channel *a, *b;
	char uri[64];

	if (ipc_open(&a, "shm:", IPC_RECV, NULL) == -EPROTONOSUPPORT)
		test_skip("no shm transport");
	/* The fixture's prefix: its teardown removes the object if an assert fails. */
	snprintf(uri, sizeof(uri), "shm:/ipc-test-%ld-v02", (long)getpid());
	/* The default: half the ring, so 1.5 MiB is too big. */
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL), 0);
	ck_assert_int_eq(ipc_open(&b, uri, IPC_SEND | IPC_RECV, NULL), 0);
	ck_assert_int_eq(ipc_send(b, msg, sizeof(msg), 1000), -EMSGSIZE);
	ipc_close(b);
	ipc_close(a);
	/* 16 MiB asked for explicitly: as much as the ring holds. */
	o.max_msg = 16u << 20;
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	ck_assert_int_eq(ipc_open(&b, uri, IPC_SEND | IPC_RECV, &o), 0);
	ck_assert_int_eq(ipc_send(b, msg, sizeof(msg), 1000), (ssize_t)sizeof(msg));
	ipc_close(b);
	ipc_close(a);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("v02");
	TCase *tc = tcase_create("v02");

	tcase_add_checked_fixture(tc, test_fixture_setup, test_fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, pair_duplex_framed_and_raw);
	tcase_add_test(tc, inherit_ends_block_but_calls_time_out);
	tcase_add_test(tc, inherit_pipe_through_exec_of_wc);
	tcase_add_test(tc, flush_pushes_committed_tail);
	tcase_add_test(tc, listener_shutdown_from_thread);
	tcase_add_test(tc, listener_shutdown_from_signal_handler);
	tcase_add_test(tc, shm_explicit_max_msg_is_not_the_default);
	tcase_add_test(tc, prefork_accept_takes_only_what_it_returns);
	suite_add_tcase(s, tc);
	return test_run_forked(s);     /* handlers and alarms stay in their case */
}
