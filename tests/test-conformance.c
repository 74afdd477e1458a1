/* Behaviour every transport shares. Built once, run once per scheme:
 *   test-conformance <scheme>
 * Cross-process cases really fork; every wait is bounded. */
#include "test-common.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *scheme;

struct stream_arg {
	ipc_channel *ch, *other;    /* other: the end this process must not hold */
	uint32_t count;
};

static int
is_stream(void)
{
	return strcmp(scheme, "shm") != 0;
}

/* A message whose bytes depend on its sequence number and size. */
static void
fill_msg(unsigned char *p, size_t len, uint32_t seq)
{
	uint32_t x = seq * 2654435761u + (uint32_t)len;
	size_t i;

	for (i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (unsigned char)(x >> 16);
	}
	if (len >= 4)
		memcpy(p, &seq, 4);
}

static int
check_msg(const unsigned char *p, size_t len, uint32_t seq)
{
	unsigned char *want = malloc(len ? len : 1);
	int ok;

	fill_msg(want, len, seq);
	ok = memcmp(want, p, len) == 0;
	free(want);
	return ok;
}

static size_t
size_for(uint32_t seq)
{
	static const size_t sizes[] = { 0, 1, 7, 64, 300, 4000, 4096, 5000, 65536, 70000 };

	return sizes[seq % (sizeof(sizes) / sizeof(sizes[0]))];
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ basics */

START_TEST(conf_roundtrip)
{
	ipc_channel *tx, *rx;
	char buf[16];

	ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
	ck_assert_int_eq(ipc_send(tx, "hi", 3, 1000), 3);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 1000), 3);
	ck_assert_str_eq(buf, "hi");
	test_unpair(tx, rx);
}
END_TEST

START_TEST(conf_zero_length_and_order)
{
	ipc_channel *tx, *rx;
	char buf[8];
	int i;

	ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
	for (i = 0; i < 10; i++) {
		char c = (char)('a' + i);

		ck_assert_int_eq(ipc_send(tx, &c, (size_t)(i % 2), 1000), i % 2);
	}
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 1000), i % 2);
		if (i % 2)
			ck_assert_int_eq(buf[0], 'a' + i);
	}
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 0), -EAGAIN);
	test_unpair(tx, rx);
}
END_TEST

START_TEST(conf_msgsize_keeps_message)
{
	ipc_channel *tx, *rx;
	char buf[64];
	void *p = NULL;

	ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
	ck_assert_int_eq(ipc_send(tx, "0123456789", 10, 1000), 10);
	ck_assert_int_eq(ipc_send(tx, "next", 4, 1000), 4);
	ck_assert_int_eq(ipc_recv(rx, buf, 5, 1000), -EMSGSIZE);
	ck_assert_int_eq(ipc_recv(rx, buf, 9, 1000), -EMSGSIZE);
	ck_assert_int_eq(ipc_recv_size(rx, 1000), 10);
	ck_assert_int_eq(ipc_recv_size(rx, 1000), 10);
	ck_assert_int_eq(ipc_recv_alloc(rx, &p, 1000), 10);
	ck_assert_mem_eq(p, "0123456789", 10);
	ipc_free(p);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 1000), 4);
	ck_assert_mem_eq(buf, "next", 4);
	test_unpair(tx, rx);
}
END_TEST

START_TEST(conf_timeouts)
{
	ipc_channel *tx, *rx;
	char buf[8];
	int64_t t0, dt;

	ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 0), -EAGAIN);
	ck_assert_int_eq(ipc_recv_size(rx, 0), -EAGAIN);
	t0 = now_ms();
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 120), -ETIMEDOUT);
	dt = now_ms() - t0;
	ck_assert_msg(dt >= 119 && dt < 1000, "120 ms timeout took %lld ms", (long long)dt);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), -2), -EINVAL);
	ck_assert_int_eq(ipc_send(tx, buf, 1, -5), -EINVAL);
	test_unpair(tx, rx);
}
END_TEST

/* A full channel: sends with timeout 0 answer -EAGAIN, and each send that
 * returned len arrives whole, even one that was only partly written. */
static int
drain_count(void *arg)
{
	struct stream_arg *a = arg;
	ipc_channel *rx = a->ch;
	static unsigned char buf[70000];
	uint32_t seq = 0;
	ssize_t n;

	ipc_close(a->other);
	while ((n = ipc_recv(rx, buf, sizeof(buf), 10000)) >= 0) {
		if ((size_t)n != 65536 || !check_msg(buf, (size_t)n, seq))
			return 2;
		seq++;
	}
	if (n != IPC_EOF)
		return 3;
	return seq == 0 ? 4 : (int)(seq & 0x3f) + 10;
}

START_TEST(conf_full_all_or_nothing)
{
	ipc_channel *tx, *rx;
	static unsigned char msg[65536];
	struct stream_arg da;
	uint32_t seq = 0;
	ssize_t n;
	pid_t pid;
	int st;

	ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
	for (;;) {
		fill_msg(msg, sizeof(msg), seq);
		n = ipc_send(tx, msg, sizeof(msg), 0);
		if (n == -EAGAIN)
			break;
		ck_assert_int_eq(n, sizeof(msg));
		ck_assert_uint_lt(++seq, 100000);
	}
	ck_assert_uint_gt(seq, 0);
	/* The timeout is bounded even when the channel stays full. */
	fill_msg(msg, sizeof(msg), seq);
	n = ipc_send(tx, msg, sizeof(msg), 50);
	ck_assert_msg(n == -ETIMEDOUT || n == (ssize_t)sizeof(msg), "send: %zd", n);
	if (n > 0)
		seq++;
	da = (struct stream_arg){ rx, tx, 0 };
	pid = test_fork(drain_count, &da);
	ipc_close(rx);
	/* Finishes a committed tail while the child reads, then the child sees EOF. */
	ck_assert_int_eq(ipc_close(tx), 0);
	st = test_wait(pid, 30000);
	ck_assert_int_eq(st, (int)(seq & 0x3f) + 10);
}
END_TEST

/* --------------------------------------------------- sizes, across fork */

struct sizes_arg {
	ipc_channel *tx;
	size_t max;
};

static int
send_sizes(void *p)
{
	struct sizes_arg *a = p;
	size_t sizes[] = { 0, 1, 65536, a->max };
	unsigned char *buf = malloc(a->max + 1);
	size_t i;

	for (i = 0; i < 4; i++) {
		fill_msg(buf, sizes[i], (uint32_t)i);
		if (ipc_send(a->tx, buf, sizes[i], 10000) != (ssize_t)sizes[i])
			return 1;
	}
	if (ipc_send(a->tx, buf, a->max + 1, 1000) != -EMSGSIZE)
		return 2;
	free(buf);
	ipc_close(a->tx);
	return 0;
}

START_TEST(conf_sizes_across_fork)
{
	ipc_channel *tx, *rx;
	struct sizes_arg a;
	size_t sizes[] = { 0, 1, 65536, 0 };
	unsigned char *buf;
	ssize_t n;
	pid_t pid;
	int i;

	ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
	a.tx = tx;
	a.max = is_stream() ? 16u << 20 : 256u << 10;   /* the default max_msg */
	sizes[3] = a.max;
	buf = malloc(a.max + 1);
	pid = test_fork(send_sizes, &a);
	ipc_close(tx);
	for (i = 0; i < 4; i++) {
		n = ipc_recv(rx, buf, a.max + 1, 10000);
		ck_assert_int_eq(n, (ssize_t)sizes[i]);
		ck_assert(check_msg(buf, (size_t)n, (uint32_t)i));
	}
	ck_assert_int_eq(test_wait(pid, 20000), 0);
	if (is_stream())
		ck_assert_int_eq(ipc_recv(rx, buf, a.max + 1, 5000), IPC_EOF);
	free(buf);
	ipc_close(rx);
}
END_TEST

/* ------------------------------------------------ many messages, EINTR */

static volatile sig_atomic_t interrupted;

static void
on_usr1(int sig)
{
	(void)sig;
	interrupted++;
}

static void
no_restart_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;    /* no SA_RESTART: every blocked call sees EINTR */
	sigaction(SIGUSR1, &sa, NULL);
}


static int
send_stream(void *p)
{
	struct stream_arg *a = p;
	static unsigned char buf[70000];
	uint32_t seq;

	ipc_close(a->other);
	for (seq = 0; seq < a->count; seq++) {
		size_t len = size_for(seq);

		fill_msg(buf, len, seq);
		if (ipc_send(a->ch, buf, len, 20000) != (ssize_t)len)
			return 1;
	}
	ipc_close(a->ch);
	return 0;
}

static int
recv_stream(void *p)
{
	struct stream_arg *a = p;
	static unsigned char buf[70000];
	uint32_t seq;
	ssize_t n;

	ipc_close(a->other);
	for (seq = 0; seq < a->count; seq++) {
		n = ipc_recv(a->ch, buf, sizeof(buf), 20000);
		if (n != (ssize_t)size_for(seq))
			return 10;
		if (!check_msg(buf, (size_t)n, seq))
			return 11;
	}
	if (is_stream() && ipc_recv(a->ch, buf, sizeof(buf), 20000) != IPC_EOF)
		return 12;
	return interrupted ? 0 : 13;
}

static int
storm(void *p)
{
	pid_t *victims = p;
	struct timespec nap = { 0, 5000 };

	for (;;) {
		if (kill(victims[0], SIGUSR1) < 0 && kill(victims[1], SIGUSR1) < 0)
			return 0;
		kill(victims[1], SIGUSR1);
		nanosleep(&nap, NULL);
	}
}

START_TEST(conf_eintr_storm)
{
	ipc_channel *tx, *rx;
	struct stream_arg sa, ra;
	pid_t pids[2], k;

	no_restart_handler();     /* inherited by both children before the storm */
	ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
	sa = (struct stream_arg){ tx, rx, (uint32_t)test_scale(50000) };
	ra = (struct stream_arg){ rx, tx, sa.count };
	pids[1] = test_fork(recv_stream, &ra);
	pids[0] = test_fork(send_stream, &sa);
	ipc_close(tx);
	ipc_close(rx);
	k = test_fork(storm, pids);
	ck_assert_int_eq(test_wait(pids[0], 120000), 0);
	ck_assert_int_eq(test_wait(pids[1], 120000), 0);
	kill(k, SIGKILL);
	test_wait(k, 5000);
}
END_TEST

/* ------------------------------------------------------ dying peers */

static int
send_then_die_mid_frame(void *p)
{
	static unsigned char big[200000];
	ipc_channel *tx = p;

	/* Read at this process's first send: the second send dies half-way. */
	setenv("IPC_CRASH_AT", "send-half-frame:2", 1);
	if (ipc_send(tx, "whole", 5, 5000) != 5)
		return 1;
	ipc_send(tx, big, sizeof(big), 5000);
	return 2;       /* not reached: the crash point _exit()s */
}

START_TEST(conf_peer_dies_mid_frame)
{
	ipc_channel *tx, *rx;
	static unsigned char buf[200000];
	pid_t pid;

	if (!is_stream())
		return;     /* shm has its own crash tests */
	ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
	/* The crash point is read at a process's first send: this one sent nothing. */
	pid = test_fork(send_then_die_mid_frame, tx);
	ipc_close(tx);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 10000), 5);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 10000), -ECONNRESET);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 1000), IPC_EOF);
	ck_assert_int_eq(test_wait(pid, 5000), 99);
	ipc_close(rx);
}
END_TEST

static int
sleep_forever(void *p)
{
	(void)p;
	pause();
	return 0;
}

START_TEST(conf_peer_killed)
{
	ipc_channel *tx, *rx;
	char buf[8];
	pid_t pid;

	ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
	pid = test_fork(sleep_forever, NULL);   /* holds a copy of tx */
	ipc_close(tx);
	kill(pid, SIGKILL);
	ck_assert_int_eq(test_wait(pid, 5000), 128 + SIGKILL);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 5000), IPC_EOF);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 5000), IPC_EOF);
	ipc_close(rx);
}
END_TEST

static int
send_to_gone_receiver(void *p)
{
	struct stream_arg *a = p;
	sigset_t mask;
	ssize_t n;
	int i;

	/* SIGPIPE keeps its default action: if the library raised it, this
	 * process would die of it instead of returning. */
	signal(SIGPIPE, SIG_DFL);
	if (a->count) {
		/* A thread that blocks SIGPIPE itself must find it still blocked,
		 * and nothing left pending, after the library's guard. */
		sigemptyset(&mask);
		sigaddset(&mask, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &mask, NULL);
	}
	ipc_close(a->other);
	if (ipc_send(a->ch, "a", 1, 1000) != 1)
		return 1;
	usleep(100000);     /* the parent closes its receiving end */
	/* A socket may take a send or two before the peer's reset arrives. */
	for (i = 0; (n = ipc_send(a->ch, "b", 1, 1000)) == 1 && i < 100; i++)
		usleep(10000);
	if (n != -EPIPE && n != -ECONNRESET && n != IPC_EOF)
		return 2;
	if (ipc_send(a->ch, "b", 1, 1000) != n)
		return 5;       /* the error sticks */
	pthread_sigmask(SIG_SETMASK, NULL, &mask);
	if (sigismember(&mask, SIGPIPE) != (a->count != 0))
		return 3;
	sigpending(&mask);
	if (sigismember(&mask, SIGPIPE))
		return 4;
	ipc_close(a->ch);
	return 0;
}

START_TEST(conf_receiver_gone_no_sigpipe)
{
	/* Kernels with RWF_NOSIGNAL, then the older kernels' signal-mask guard,
	 * with SIGPIPE unblocked and blocked by the caller. */
	static const char *guard[] = { NULL, "1", "1" };
	struct stream_arg a;
	ipc_channel *tx, *rx;
	char buf[4];
	int i;

	for (i = 0; i < 3; i++) {
		if (guard[i])
			setenv("IPC_TEST_SIGMASK_GUARD", "1", 1);   /* read by the child */
		else
			unsetenv("IPC_TEST_SIGMASK_GUARD");
		ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
		a = (struct stream_arg){ tx, rx, (uint32_t)(i == 2) };
		{
			pid_t pid = test_fork(send_to_gone_receiver, &a);

			ipc_close(tx);
			ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 5000), 1);
			ipc_close(rx);
			ck_assert_int_eq(test_wait(pid, 10000), 0);
		}
	}
	unsetenv("IPC_TEST_SIGMASK_GUARD");
}
END_TEST

/* --------------------------------------------------- bad peers */

START_TEST(conf_not_libipc_peer)
{
	static const char *garbage[] = {
		"GET / HTTP/1.0\r\n\r\n",
		"\xff\xff\xff\xff",
		"\x89IPC\x02\x00\x00\x00\x00\x00\x10\x00",          /* unknown version */
		"\x89IPC\x01\x00\x00\x00\x01\x00\x00\x00\xff\xff\xff\xff",  /* 4 GiB frame */
		"\x89IPC\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x01",  /* > max_msg */
	};
	static const size_t glen[] = { 18, 4, 12, 16, 16 };
	ipc_channel *tx, *rx;
	char buf[64];
	size_t i;

	if (!is_stream())
		return;     /* shm: corruption tests in its own suite */
	for (i = 0; i < sizeof(glen) / sizeof(glen[0]); i++) {
		ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
		/* Bytes straight on the wire, as a foreign program would send. */
		ck_assert_int_eq(write(ipc_fd(tx), garbage[i], glen[i]), (ssize_t)glen[i]);
		ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 2000), -EPROTO);
		ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 2000), -EPROTO);
		ck_assert_int_eq(ipc_recv_size(rx, 2000), -EPROTO);
		test_unpair(tx, rx);
	}
}
END_TEST

/* ------------------------------------------------------ raw mode */

START_TEST(conf_raw_bytes)
{
	ipc_channel *tx, *rx;
	char buf[64];
	size_t got = 0;
	ssize_t n;
	int rc;

	rc = test_pair_opt(scheme, &tx, &rx, IPC_RAW, NULL);
	if (rc == -EINVAL && !is_stream())
		return;     /* no raw mode for shared memory */
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(ipc_send(tx, "abc", 3, 1000), 3);
	ck_assert_int_eq(ipc_send(tx, "defg", 4, 1000), 4);
	while (got < 7) {
		n = ipc_recv(rx, buf + got, sizeof(buf) - got, 1000);
		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	ck_assert_mem_eq(buf, "abcdefg", 7);
	ck_assert_int_eq(ipc_recv_size(rx, 0), -EINVAL);
	ipc_close(tx);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 1000), IPC_EOF);
	ipc_close(rx);
}
END_TEST

/* ------------------------------------------- shutdown, threads, epoll */

static void *
blocked_recv(void *p)
{
	char buf[8];

	return (void *)(intptr_t)ipc_recv(p, buf, sizeof(buf), 10000);
}

START_TEST(conf_shutdown_wakes_blocked_recv)
{
	ipc_channel *tx, *rx;
	pthread_t t;
	void *ret;
	int64_t t0;
	char buf[4];

	ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, blocked_recv, rx), 0);
	usleep(50000);
	t0 = now_ms();
	ck_assert_int_eq(ipc_shutdown(rx), 0);
	pthread_join(t, &ret);
	ck_assert_int_eq((intptr_t)ret, IPC_EOF);
	ck_assert_int_lt(now_ms() - t0, 2000);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 1000), IPC_EOF);
	test_unpair(tx, rx);
}
END_TEST

struct duplex {
	ipc_channel *ch;
	uint32_t count;
};

static void *
duplex_sender(void *p)
{
	struct duplex *d = p;
	unsigned char buf[512];
	uint32_t seq;

	for (seq = 0; seq < d->count; seq++) {
		fill_msg(buf, seq % 512, seq);
		if (ipc_send(d->ch, buf, seq % 512, 10000) != (ssize_t)(seq % 512))
			return (void *)1;
	}
	return NULL;
}

START_TEST(conf_send_and_recv_threads)
{
	ipc_channel *a, *b;
	struct duplex da, db;
	pthread_t ta, tb;
	unsigned char buf[512];
	void *ra, *rb;
	uint32_t seq;
	ssize_t n;

	if (!test_two_way(scheme))
		return;     /* one-way transports have one direction per channel */
	ck_assert_int_eq(test_pair(scheme, &a, &b), 0);
	da = (struct duplex){ a, (uint32_t)test_scale(20000) };
	db = (struct duplex){ b, da.count };
	ck_assert_int_eq(pthread_create(&ta, NULL, duplex_sender, &da), 0);
	ck_assert_int_eq(pthread_create(&tb, NULL, duplex_sender, &db), 0);
	/* This thread receives on both while the two threads send on both. */
	for (seq = 0; seq < da.count; seq++) {
		n = ipc_recv(b, buf, sizeof(buf), 10000);
		ck_assert_int_eq(n, seq % 512);
		ck_assert(check_msg(buf, (size_t)n, seq));
		n = ipc_recv(a, buf, sizeof(buf), 10000);
		ck_assert_int_eq(n, seq % 512);
		ck_assert(check_msg(buf, (size_t)n, seq));
	}
	pthread_join(ta, &ra);
	pthread_join(tb, &rb);
	ck_assert_ptr_null(ra);
	ck_assert_ptr_null(rb);
	test_unpair(a, b);
}
END_TEST

START_TEST(conf_epoll_edge_rule)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET }, out;
	ipc_channel *tx, *rx;
	char buf[16];
	int ep, fd, i, got = 0;

	ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
	fd = ipc_fd(rx);
	ck_assert_int_ge(fd, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ck_assert_int_ge(ep, 0);
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(ipc_send(tx, "m", 1, 1000), 1);
	ck_assert_int_eq(epoll_wait(ep, &out, 1, 2000), 1);
	/* The rule: drain with timeout 0 until -EAGAIN, which re-arms. */
	while (ipc_recv(rx, buf, sizeof(buf), 0) == 1)
		got++;
	ck_assert_int_eq(got, 3);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 0), -EAGAIN);
	ck_assert_int_eq(epoll_wait(ep, &out, 1, 0), 0);
	ck_assert_int_eq(ipc_send(tx, "n", 1, 1000), 1);
	ck_assert_int_eq(epoll_wait(ep, &out, 1, 2000), 1);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 0), 1);
	close(ep);
	test_unpair(tx, rx);
}
END_TEST

START_TEST(conf_close_in_child_leaves_channel)
{
	ipc_channel *tx, *rx;
	char buf[8];
	pid_t pid;

	ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* A forked copy closing both ends must not unlink, shut down or
		 * reset anything the parent still uses. */
		ipc_close(tx);
		ipc_close(rx);
		_exit(0);
	}
	ck_assert_int_eq(test_wait(pid, 5000), 0);
	ck_assert_int_eq(ipc_send(tx, "ok", 2, 1000), 2);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 1000), 2);
	test_unpair(tx, rx);
}
END_TEST

START_TEST(conf_no_fd_leak_over_many_pairs)
{
	ipc_channel *tx, *rx;
	int before = test_fd_count(), i;
	char buf[4];

	for (i = 0; i < 200; i++) {
		ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
		ck_assert_int_eq(ipc_send(tx, "x", 1, 1000), 1);
		ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 1000), 1);
		test_unpair(tx, rx);
	}
	ck_assert_int_eq(test_fd_count(), before);
}
END_TEST

static Suite *
conformance_suite(void)
{
	Suite *s = suite_create(scheme);
	TCase *tc = tcase_create("conformance");

	tcase_add_checked_fixture(tc, test_fixture_setup, test_fixture_teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, conf_roundtrip);
	tcase_add_test(tc, conf_zero_length_and_order);
	tcase_add_test(tc, conf_msgsize_keeps_message);
	tcase_add_test(tc, conf_timeouts);
	tcase_add_test(tc, conf_full_all_or_nothing);
	tcase_add_test(tc, conf_sizes_across_fork);
	tcase_add_test(tc, conf_eintr_storm);
	tcase_add_test(tc, conf_peer_dies_mid_frame);
	tcase_add_test(tc, conf_peer_killed);
	tcase_add_test(tc, conf_receiver_gone_no_sigpipe);
	tcase_add_test(tc, conf_not_libipc_peer);
	tcase_add_test(tc, conf_raw_bytes);
	tcase_add_test(tc, conf_shutdown_wakes_blocked_recv);
	tcase_add_test(tc, conf_send_and_recv_threads);
	tcase_add_test(tc, conf_epoll_edge_rule);
	tcase_add_test(tc, conf_close_in_child_leaves_channel);
	tcase_add_test(tc, conf_no_fd_leak_over_many_pairs);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s <scheme>\n", argv[0]);
		return 2;
	}
	scheme = argv[1];
	if (strcmp(scheme, "tls") == 0) {
		if (!test_have_listener("tls+tcp://127.0.0.1:0"))
			test_skip("libipc has no tls+tcp:// driver");
		test_tls_certs();       /* once, before the cases fork */
	}
	return test_run(conformance_suite());
}
