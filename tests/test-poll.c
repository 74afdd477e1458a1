/* ipc_poll over every transport at once, the read-ahead rule, timeouts,
 * EINTR, idle cost, and the edge-style rule of ipc_fd() under epoll. */
#include "test-common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Every transport built into the library (main() keeps those that are). */
static const char *const candidates[] = { "pipe", "fd", "fifo", "tcp", "unix", "shm" };
#define MAXSCHEMES (sizeof(candidates) / sizeof(candidates[0]))
static const char *schemes[MAXSCHEMES];
static size_t nschemes;

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
fd_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* The edge-style rule at the start: ask for the descriptor, then receive
 * until -EAGAIN. A fresh descriptor may be readable once before that (shm's
 * doorbell starts rung); afterwards only new messages wake it. */
static void
settle(ipc_channel *rx)
{
	char buf[64];

	ck_assert_int_ge(ipc_fd(rx), 0);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 0), -EAGAIN);
}

/* Pairs of every scheme plus a watcher in one poll: only what is ready shows. */
START_TEST(poll_mix_of_every_transport)
{
	ipc_channel *tx[MAXSCHEMES], *rx[MAXSCHEMES];
	struct ipc_pollitem it[MAXSCHEMES + 1];
	int sigs[] = { SIGUSR1 };
	struct ipc_siginfo si;
	ipc_sigwatch *w;
	char buf[32];
	size_t i, j;

	ck_assert_int_eq(ipc_sigwatch_open(&w, sigs, 1), 0);
	for (i = 0; i < nschemes; i++) {
		ck_assert_msg(test_pair(schemes[i], &tx[i], &rx[i]) == 0, "%s", schemes[i]);
		it[i] = (struct ipc_pollitem){ .ch = rx[i], .events = IPC_POLLIN };
	}
	it[nschemes] = (struct ipc_pollitem){ .w = w, .events = IPC_POLLIN };

	for (i = 0; i < nschemes; i++)
		settle(rx[i]);
	ck_assert_int_eq(ipc_poll(it, nschemes + 1, 0), 0);
	ck_assert_int_eq(ipc_poll(it, nschemes + 1, 30), 0);
	for (i = 0; i <= nschemes; i++)
		ck_assert_int_eq(it[i].revents, 0);

	for (i = 0; i < nschemes; i++) {
		ck_assert_int_eq(ipc_send(tx[i], schemes[i], strlen(schemes[i]) + 1, 1000),
		                 (ssize_t)strlen(schemes[i]) + 1);
		ck_assert_int_eq(ipc_poll(it, nschemes + 1, 1000), 1);
		for (j = 0; j <= nschemes; j++)
			ck_assert_int_eq(it[j].revents, j == i ? IPC_POLLIN : 0);
		ck_assert_int_eq(ipc_recv(rx[i], buf, sizeof(buf), 0),
		                 (ssize_t)strlen(schemes[i]) + 1);
		ck_assert_str_eq(buf, schemes[i]);
		ck_assert_int_eq(ipc_recv(rx[i], buf, sizeof(buf), 0), -EAGAIN);  /* drained */
	}
	ck_assert_int_eq(ipc_notify(getpid(), SIGUSR1, 3), 0);
	ck_assert_int_eq(ipc_poll(it, nschemes + 1, 1000), 1);
	ck_assert_int_eq(it[nschemes].revents, IPC_POLLIN);
	ck_assert_int_eq(ipc_sigwatch_read(w, &si, 0), 0);

	/* Everything at once: each item reported in the same call. */
	for (i = 0; i < nschemes; i++)
		ck_assert_int_eq(ipc_send(tx[i], "x", 1, 1000), 1);
	ck_assert_int_eq(ipc_notify(getpid(), SIGUSR1, 4), 0);
	ck_assert_int_eq(ipc_poll(it, nschemes + 1, 1000), (int)nschemes + 1);
	ck_assert_int_eq(ipc_sigwatch_read(w, &si, 0), 0);
	ck_assert_int_eq(si.value, 4);

	/* Send ends are writable, and report only what was asked. */
	for (i = 0; i < nschemes; i++)
		it[i] = (struct ipc_pollitem){ .ch = tx[i], .events = IPC_POLLOUT };
	ck_assert_int_eq(ipc_poll(it, nschemes, 0), (int)nschemes);
	for (i = 0; i < nschemes; i++)
		ck_assert_int_eq(it[i].revents, IPC_POLLOUT);

	for (i = 0; i < nschemes; i++)
		test_unpair(tx[i], rx[i]);
	ck_assert_int_eq(ipc_sigwatch_close(w), 0);
}
END_TEST

/* The next message sits in the library's read-ahead buffer while the
 * descriptor is drained: ipc_poll must still say readable, at once. */
START_TEST(poll_sees_read_ahead)
{
	ipc_channel *tx, *rx;
	struct ipc_pollitem it;
	const char *sc = schemes[_i];
	char buf[8];

	ck_assert_int_eq(test_pair(sc, &tx, &rx), 0);
	ck_assert_int_eq(ipc_send(tx, "one", 4, 1000), 4);
	ck_assert_int_eq(ipc_send(tx, "two", 4, 1000), 4);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 1000), 4);
	ck_assert_str_eq(buf, "one");
	/* Stream transports: both frames came in with one read. (shm keeps
	 * messages in its ring and leaves its doorbell rung until a drain.) */
	if (strcmp(sc, "shm") != 0)
		ck_assert_msg(!fd_readable(ipc_fd(rx)), "%s: both frames should be read ahead",
		              sc);
	it = (struct ipc_pollitem){ .ch = rx, .events = IPC_POLLIN };
	ck_assert_int_eq(ipc_poll(&it, 1, 0), 1);
	ck_assert_int_eq(it.revents, IPC_POLLIN);
	ck_assert_int_eq(ipc_poll(&it, 1, -1), 1);   /* and never blocks on it */
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 0), 4);
	ck_assert_str_eq(buf, "two");
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 0), -EAGAIN);
	ck_assert_int_eq(ipc_poll(&it, 1, 0), 0);
	ck_assert_int_eq(it.revents, 0);
	test_unpair(tx, rx);
}
END_TEST

/* ipc_fd() is edge-style: after an edge, receive with timeout 0 until
 * -EAGAIN; only that re-arms it. */
START_TEST(poll_epoll_edge_rule)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET }, out;
	const char *sc = schemes[_i];
	ipc_channel *tx, *rx;
	struct ipc_pollitem it;
	char buf[8];
	int ep, got = 0;
	ssize_t n;

	ck_assert_int_eq(test_pair(sc, &tx, &rx), 0);
	ck_assert_int_ge(ep = epoll_create1(EPOLL_CLOEXEC), 0);
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, ipc_fd(rx), &ev), 0);
	settle(rx);
	epoll_wait(ep, &out, 1, 0);     /* an edge from before the drain, if any */
	ck_assert_int_eq(epoll_wait(ep, &out, 1, 0), 0);

	ck_assert_int_eq(ipc_send(tx, "a", 2, 1000), 2);
	ck_assert_int_eq(ipc_send(tx, "b", 2, 1000), 2);
	ck_assert_int_eq(epoll_wait(ep, &out, 1, 1000), 1);
	/* Take one message only: the second went into the read-ahead buffer and
	 * the edge is spent, so epoll stays silent although a message waits. */
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 0), 2);
	ck_assert_int_eq(epoll_wait(ep, &out, 1, 50), 0);
	it = (struct ipc_pollitem){ .ch = rx, .events = IPC_POLLIN };
	ck_assert_int_eq(ipc_poll(&it, 1, 0), 1);
	/* The rule: drain until -EAGAIN. */
	while ((n = ipc_recv(rx, buf, sizeof(buf), 0)) >= 0)
		got++;
	ck_assert_int_eq(n, -EAGAIN);
	ck_assert_int_eq(got, 1);
	ck_assert_str_eq(buf, "b");
	/* Re-armed: the next message makes a new edge. */
	ck_assert_int_eq(ipc_send(tx, "c", 2, 1000), 2);
	ck_assert_int_eq(epoll_wait(ep, &out, 1, 1000), 1);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 0), 2);
	ck_assert_str_eq(buf, "c");
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 0), -EAGAIN);
	close(ep);
	test_unpair(tx, rx);
}
END_TEST

START_TEST(poll_timeouts_and_errors)
{
	ipc_channel *tx, *rx;
	struct ipc_pollitem it[2];
	int sigs[] = { SIGUSR2 };
	ipc_sigwatch *w;
	long long t0;

	ck_assert_int_eq(test_pair("pipe", &tx, &rx), 0);
	ck_assert_int_eq(ipc_sigwatch_open(&w, sigs, 1), 0);
	it[0] = (struct ipc_pollitem){ .ch = rx, .events = IPC_POLLIN };
	/* Never early; the upper bounds only tell a bounded wait from none
	 * (generous: a loaded machine must not fail them). */
	t0 = now_ms();
	ck_assert_int_eq(ipc_poll(it, 1, 0), 0);
	ck_assert_int_lt(now_ms() - t0, 30000);
	t0 = now_ms();
	ck_assert_int_eq(ipc_poll(it, 1, 120), 0);
	ck_assert_int_ge(now_ms() - t0, 120);
	ck_assert_int_lt(now_ms() - t0, 30000);

	ck_assert_int_eq(ipc_poll(it, 1, -2), -EINVAL);
	ck_assert_int_eq(ipc_poll(NULL, 1, 0), -EINVAL);
	ck_assert_int_eq(ipc_poll(NULL, 0, 0), 0);
	it[1] = (struct ipc_pollitem){ .ch = rx, .w = w, .events = IPC_POLLIN };
	ck_assert_int_eq(ipc_poll(it, 2, 0), -EINVAL);     /* two targets in one item */
	it[1] = (struct ipc_pollitem){ .events = IPC_POLLIN };
	ck_assert_int_eq(ipc_poll(it, 2, 0), -EINVAL);     /* none */
	it[1] = (struct ipc_pollitem){ .w = w, .events = 0x100 };
	ck_assert_int_eq(ipc_poll(it, 2, 0), -EINVAL);     /* unknown event bit */
	ck_assert_int_eq(ipc_sigwatch_close(w), 0);
	test_unpair(tx, rx);
}
END_TEST

START_TEST(poll_hangup_and_shutdown)
{
	ipc_channel *tx, *rx;
	struct ipc_pollitem it;
	char buf[4];

	/* The sender goes away: readable (the receive reports the end) and HUP. */
	ck_assert_int_eq(test_pair("pipe", &tx, &rx), 0);
	ipc_close(tx);
	it = (struct ipc_pollitem){ .ch = rx, .events = IPC_POLLIN };
	ck_assert_int_eq(ipc_poll(&it, 1, 1000), 1);
	ck_assert(it.revents & IPC_POLLHUP);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 0), IPC_EOF);
	ipc_close(rx);

	/* The receiver goes away: the send end reports an error. */
	ck_assert_int_eq(test_pair("pipe", &tx, &rx), 0);
	ipc_close(rx);
	it = (struct ipc_pollitem){ .ch = tx, .events = IPC_POLLOUT };
	ck_assert_int_eq(ipc_poll(&it, 1, 1000), 1);
	ck_assert(it.revents & IPC_POLLERR);
	ck_assert_int_eq(ipc_send(tx, "x", 1, 0), -EPIPE);
	ipc_close(tx);

	/* After ipc_shutdown: HUP at once, on either end. */
	ck_assert_int_eq(test_pair("fifo", &tx, &rx), 0);
	ck_assert_int_eq(ipc_shutdown(tx), 0);
	it = (struct ipc_pollitem){ .ch = tx, .events = IPC_POLLOUT };
	ck_assert_int_eq(ipc_poll(&it, 1, -1), 1);
	ck_assert_int_eq(it.revents, IPC_POLLHUP);
	test_unpair(tx, rx);
}
END_TEST

/* ipc_shutdown on any transport: HUP at once, even with -1. */
START_TEST(poll_shutdown_every_transport)
{
	ipc_channel *tx, *rx;
	struct ipc_pollitem it[2];

	ck_assert_int_eq(test_pair(schemes[_i], &tx, &rx), 0);
	ck_assert_int_eq(ipc_shutdown(rx), 0);
	it[0] = (struct ipc_pollitem){ .ch = rx, .events = IPC_POLLIN };
	it[1] = (struct ipc_pollitem){ .ch = tx, .events = IPC_POLLOUT };
	ck_assert_int_eq(ipc_poll(it, 2, -1), 2);
	ck_assert_int_eq(it[0].revents, IPC_POLLHUP);
	ck_assert_int_eq(it[1].revents, IPC_POLLOUT);
	test_unpair(tx, rx);
}
END_TEST

struct shut_arg {
	ipc_channel *ch;
	pid_t poller;
};

static void *
shut_later(void *arg)
{
	struct shut_arg *s = arg;

	/* Most likely the poll waits by then; a shutdown first must give
	 * HUP as well. */
	test_wait_asleep(s->poller, 10000);
	ipc_shutdown(s->ch);
	return NULL;
}

START_TEST(poll_woken_by_shutdown_from_another_thread)
{
	ipc_channel *tx, *rx;
	struct ipc_pollitem it;
	struct shut_arg s;
	pthread_t t;

	ck_assert_int_eq(test_pair("pipe", &tx, &rx), 0);
	it = (struct ipc_pollitem){ .ch = rx, .events = IPC_POLLIN };
	s = (struct shut_arg){ rx, test_tid() };
	ck_assert_int_eq(pthread_create(&t, NULL, shut_later, &s), 0);
	/* Only the shutdown can end it before its 60 s. */
	ck_assert_int_eq(ipc_poll(&it, 1, 60000), 1);
	ck_assert_int_eq(it.revents, IPC_POLLHUP);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	test_unpair(tx, rx);
}
END_TEST

static int
send_late(void *arg)
{
	ipc_channel *tx = arg;

	test_wait_asleep(getppid(), 10000);     /* most likely in its poll */
	return ipc_send(tx, "late", 5, 2000) == 5 ? 0 : 1;
}

/* Another process wakes a poll that waits forever. */
START_TEST(poll_wakes_for_another_process)
{
	ipc_channel *tx, *rx;
	struct ipc_pollitem it;
	char buf[8];
	pid_t child;

	ck_assert_int_eq(test_pair("fifo", &tx, &rx), 0);
	child = test_fork(send_late, tx);
	it = (struct ipc_pollitem){ .ch = rx, .events = IPC_POLLIN };
	ck_assert_int_eq(ipc_poll(&it, 1, -1), 1);
	ck_assert_int_eq(it.revents, IPC_POLLIN);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 0), 5);
	ck_assert_int_eq(test_wait(child, 30000), 0);
	test_unpair(tx, rx);
}
END_TEST

static volatile sig_atomic_t alarms;

static void
on_alarm(int s)
{
	(void)s;
	alarms++;
}

/* A handler without SA_RESTART interrupts poll(2); ipc_poll keeps waiting
 * for the rest of its time instead of returning early. */
START_TEST(poll_eintr_keeps_waiting)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerspec its = { .it_value = { 0, 40 * 1000000 },
	                          .it_interval = { 0, 60 * 1000000 } };
	ipc_channel *tx, *rx;
	struct ipc_pollitem it;
	timer_t tm;
	long long t0;

	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	ck_assert_int_eq(timer_create(CLOCK_MONOTONIC, NULL, &tm), 0);
	ck_assert_int_eq(test_pair("pipe", &tx, &rx), 0);
	it = (struct ipc_pollitem){ .ch = rx, .events = IPC_POLLIN };
	t0 = now_ms();
	ck_assert_int_eq(timer_settime(tm, 0, &its, NULL), 0);
	ck_assert_int_eq(ipc_poll(&it, 1, 400), 0);
	ck_assert_int_ge(now_ms() - t0, 400);
	ck_assert_int_lt(now_ms() - t0, 30000);
	timer_delete(tm);
	/* Expirations a busy machine delays are merged into one signal: only
	 * the first is sure to have come (at 40 ms, inside the 400 ms). */
	ck_assert_int_ge(alarms, 1);
	test_unpair(tx, rx);
}
END_TEST

static long long
cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	       ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* Idle means asleep in the kernel: under 1% of a CPU over one second. */
START_TEST(poll_idle_costs_nothing)
{
	ipc_channel *tx[MAXSCHEMES], *rx[MAXSCHEMES];
	struct ipc_pollitem it[MAXSCHEMES + 1];
	int sigs[] = { SIGUSR1 };
	ipc_sigwatch *w;
	long long t0, c0, cpu;
	size_t i;

	ck_assert_int_eq(ipc_sigwatch_open(&w, sigs, 1), 0);
	for (i = 0; i < nschemes; i++) {
		ck_assert_int_eq(test_pair(schemes[i], &tx[i], &rx[i]), 0);
		settle(rx[i]);
		it[i] = (struct ipc_pollitem){ .ch = rx[i], .events = IPC_POLLIN };
	}
	it[nschemes] = (struct ipc_pollitem){ .w = w, .events = IPC_POLLIN };
	t0 = now_ms();
	c0 = cpu_us();
	ck_assert_int_eq(ipc_poll(it, nschemes + 1, 1000), 0);
	cpu = cpu_us() - c0;
	ck_assert_int_ge(now_ms() - t0, 1000);
	printf("idle ipc_poll over %zu items for 1 s: %lld us of CPU\n", nschemes + 1, cpu);
	ck_assert_msg(cpu < 10000, "idle ipc_poll used %lld us of CPU in 1 s", cpu);
	for (i = 0; i < nschemes; i++)
		test_unpair(tx[i], rx[i]);
	ck_assert_int_eq(ipc_sigwatch_close(w), 0);
}
END_TEST

/* More items than the on-stack arrays hold. */
START_TEST(poll_many_items)
{
	enum { N = 40 };
	ipc_channel *tx[N], *rx[N];
	struct ipc_pollitem it[N];
	int i;

	for (i = 0; i < N; i++) {
		ck_assert_int_eq(test_pair("pipe", &tx[i], &rx[i]), 0);
		it[i] = (struct ipc_pollitem){ .ch = rx[i], .events = IPC_POLLIN };
	}
	ck_assert_int_eq(ipc_send(tx[N - 1], "z", 1, 1000), 1);
	ck_assert_int_eq(ipc_send(tx[17], "z", 1, 1000), 1);
	ck_assert_int_eq(ipc_poll(it, N, 1000), 2);
	for (i = 0; i < N; i++)
		ck_assert_int_eq(it[i].revents, (i == 17 || i == N - 1) ? IPC_POLLIN : 0);
	for (i = 0; i < N; i++)
		test_unpair(tx[i], rx[i]);
}
END_TEST

/* A transport a program adds itself (test_seqpacket_driver); ipc_poll must
 * serve it through its ops alone, and refuse a copy without a descriptor. */
static struct ipc_driver sq_nofd_driver;

START_TEST(poll_user_driver)
{
	ipc_channel *a, *b, *c, *d, *tx, *rx;
	struct ipc_pollitem it[3];
	char buf[8];

	sq_nofd_driver = test_seqpacket_driver;
	sq_nofd_driver.scheme = "seqpacket-nofd";
	sq_nofd_driver.fd = NULL;
	ck_assert_int_eq(ipc_register_driver(&test_seqpacket_driver), 0);
	ck_assert_int_eq(ipc_register_driver(&sq_nofd_driver), 0);
	test_seqpacket_pair("seqpacket", &a, &b);
	ck_assert_int_eq(test_pair("pipe", &tx, &rx), 0);
	it[0] = (struct ipc_pollitem){ .ch = b, .events = IPC_POLLIN };
	it[1] = (struct ipc_pollitem){ .ch = rx, .events = IPC_POLLIN };
	ck_assert_int_eq(ipc_poll(it, 2, 30), 0);
	ck_assert_int_eq(ipc_send(a, "pkt", 4, 1000), 4);
	ck_assert_int_eq(ipc_poll(it, 2, 1000), 1);
	ck_assert_int_eq(it[0].revents, IPC_POLLIN);
	ck_assert_int_eq(it[1].revents, 0);
	ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), 0), 4);
	/* Both directions on its one descriptor. */
	it[0] = (struct ipc_pollitem){ .ch = b, .events = IPC_POLLIN | IPC_POLLOUT };
	ck_assert_int_eq(ipc_poll(it, 1, 0), 1);
	ck_assert_int_eq(it[0].revents, IPC_POLLOUT);
	ipc_close(a);
	it[0].events = IPC_POLLIN;
	ck_assert_int_eq(ipc_poll(it, 1, 1000), 1);
	ck_assert(it[0].revents & IPC_POLLHUP);

	/* No descriptor: ipc_poll cannot wait for it, and says so. */
	test_seqpacket_pair("seqpacket-nofd", &c, &d);
	it[2] = (struct ipc_pollitem){ .ch = d, .events = IPC_POLLIN };
	ck_assert_int_eq(ipc_poll(it, 3, 0), -EOPNOTSUPP);
	ipc_close(c);
	ipc_close(d);
	ipc_close(b);
	test_unpair(tx, rx);
}
END_TEST

/* Listening transports built into this library (filled by main). */
static const char *listen_uris[2];
static int nlisten;

static int
connect_to(void *arg)
{
	ipc_channel *c;
	char buf[8];
	int rc = ipc_open(&c, arg, IPC_SEND | IPC_RECV, NULL);

	if (rc < 0)
		return 1;
	rc = ipc_send(c, "hi", 3, 2000) == 3 && ipc_recv(c, buf, sizeof(buf), 5000) == 3;
	ipc_close(c);
	return rc ? 0 : 2;
}

/* A listener is readable when a peer may be accepted, in one poll with the
 * channels it produces. */
START_TEST(poll_listener_and_its_clients)
{
	struct ipc_pollitem it[2];
	char uri[300], addr[300], buf[8] = "";
	ipc_listener *l;
	ipc_channel *c;
	pid_t child;

	if (strncmp(listen_uris[_i], "unix:", 5) == 0)
		snprintf(uri, sizeof(uri), "unix:%s", test_path("poll.sock"));
	else
		snprintf(uri, sizeof(uri), "%s", listen_uris[_i]);
	ck_assert_int_eq(ipc_listen(&l, uri, 0, NULL), 0);
	ck_assert_int_gt(ipc_listener_addr(l, addr, sizeof(addr)), 0);
	it[0] = (struct ipc_pollitem){ .l = l, .events = IPC_POLLIN };
	ck_assert_int_eq(ipc_poll(it, 1, 50), 0);
	ck_assert_int_eq(it[0].revents, 0);

	child = test_fork(connect_to, addr);
	ck_assert_int_eq(ipc_poll(it, 1, 5000), 1);
	ck_assert_int_eq(it[0].revents, IPC_POLLIN);
	/* Readable may mean a handshake in progress: accept with a short wait. */
	ck_assert_int_eq(ipc_accept(l, &c, 5000), 0);
	it[1] = (struct ipc_pollitem){ .ch = c, .events = IPC_POLLIN };
	while (ipc_poll(&it[1], 1, 5000) == 1 && ipc_recv(c, buf, sizeof(buf), 0) == -EAGAIN)
		;
	ck_assert_str_eq(buf, "hi");
	ck_assert_int_eq(ipc_send(c, "ok", 3, 2000), 3);
	ck_assert_int_eq(test_wait(child, 5000), 0);
	ipc_close(c);
	ck_assert_int_eq(ipc_listener_close(l), 0);
}
END_TEST

/* Is the driver for @p scheme registered? A bogus address answers anything
 * but -EPROTONOSUPPORT when it is (and opens nothing). */
static int
have_scheme(const char *scheme)
{
	ipc_options o = IPC_OPTIONS_INIT;
	ipc_channel *c;
	char uri[64];
	int rc;

	if (strcmp(scheme, "pipe") == 0)
		return 1;   /* ipc_pipe(), no URI */
	o.open_timeout_ms = 1;
	snprintf(uri, sizeof(uri), "%s:", scheme);
	rc = ipc_open(&c, uri, IPC_SEND, &o);
	if (rc == 0)
		ipc_close(c);
	return rc != -EPROTONOSUPPORT;
}

struct out_waiter {
	ipc_channel *tx;
	_Atomic pid_t tid;
	short revents;
	int rc;
};

static void *
wait_for_room(void *arg)
{
	struct out_waiter *w = arg;
	struct ipc_pollitem it = { .ch = w->tx, .events = IPC_POLLOUT };

	w->tid = test_tid();
	w->rc = ipc_poll(&it, 1, 20000);
	w->revents = it.revents;
	return NULL;
}

/* shm says IPC_POLLOUT exactly: not while its ring is full, and a poller
 * blocked on a full ring is woken when the receiver frees room (it once
 * always answered "writable", guessed from the descriptor's file type). */
START_TEST(poll_shm_pollout_exact)
{
	struct ipc_options o = IPC_OPTIONS_INIT;
	struct ipc_pollitem it;
	struct out_waiter w = { 0 };
	static char msg[1024];
	ipc_channel *tx, *rx;
	char buf[2048];
	pthread_t t;
	int n = 0;

	if (!have_scheme("shm"))
		test_skip("no shm transport");
	o.capacity = 8192;
	ck_assert_int_eq(test_pair_opt("shm", &tx, &rx, 0, &o), 0);
	it = (struct ipc_pollitem){ .ch = tx, .events = IPC_POLLOUT };
	ck_assert_int_eq(ipc_poll(&it, 1, 0), 1);
	ck_assert_int_eq(it.revents, IPC_POLLOUT);
	while (ipc_send(tx, msg, sizeof(msg), 0) == (ssize_t)sizeof(msg))
		ck_assert_int_lt(++n, 100);
	ck_assert_int_gt(n, 0);
	while (ipc_send(tx, "x", 1, 0) == 1)    /* to the last byte */
		ck_assert_int_lt(++n, 2000);
	/* Full: not writable (not even for one byte), with or without waiting. */
	ck_assert_int_eq(ipc_poll(&it, 1, 0), 0);
	ck_assert_int_eq(it.revents, 0);
	ck_assert_int_eq(ipc_poll(&it, 1, 50), 0);
	/* Room freed by a receive while another thread waits: it wakes. */
	w.tx = tx;
	ck_assert_int_eq(pthread_create(&t, NULL, wait_for_room, &w), 0);
	while (!w.tid)
		sched_yield();
	(void)test_wait_asleep(w.tid, 2000);    /* makes "it sleeps" likely only */
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 1000), (ssize_t)sizeof(msg));
	pthread_join(t, NULL);
	ck_assert_int_eq(w.rc, 1);
	ck_assert_int_eq(w.revents, IPC_POLLOUT);
	ck_assert_int_eq(ipc_send(tx, msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
	test_unpair(tx, rx);
}
END_TEST

/* A hostile peer's write into a shm segment: ring 0's tail (doc/ipc-shm.7,
 * "Layout": ring control blocks from 512, tail at +8), from another process. */
static int
scribble_tail(void *arg)
{
	const uint64_t bad = 0x7777777777777777ull;
	int fd = shm_open(arg, O_RDWR, 0);
	unsigned char *p;

	if (fd < 0)
		return 3;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return 4;
	memcpy(p + 512 + 8, &bad, sizeof(bad));
	munmap(p, 4096);
	return 0;
}

/* One broken channel does not fail a poll over many: it is reported in its
 * own revents (IPC_POLLERR and the directions asked), at once, and the call
 * in that direction says why; the healthy items are polled as usual. */
START_TEST(poll_broken_shm_is_an_item_error)
{
	ipc_options o = IPC_OPTIONS_INIT;
	struct ipc_pollitem it[3];
	ipc_channel *a, *b, *tx, *rx;
	char uri[128], buf[16];
	long long t0;

	if (!have_scheme("shm"))
		test_skip("no shm transport");
	/* the fixture's prefix: the teardown removes it if an assert fails */
	snprintf(uri, sizeof(uri), "shm:/ipc-test-%ld-poll-broken", (long)getpid());
	o.capacity = 4096;
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	ck_assert_int_eq(ipc_open(&b, uri, IPC_SEND | IPC_RECV, &o), 0);
	ck_assert_int_eq(test_pair("pipe", &tx, &rx), 0);
	settle(b);      /* b's descriptor exists before the scribble */
	ck_assert_int_eq(ipc_send(a, "12345678", 8, 1000), 8);
	ck_assert_int_eq(ipc_send(tx, "pipe", 5, 1000), 5);
	ck_assert_int_eq(test_wait(test_fork(scribble_tail, uri + 4), 5000), 0);

	it[0] = (struct ipc_pollitem){ .ch = rx, .events = IPC_POLLIN };
	it[1] = (struct ipc_pollitem){ .ch = b, .events = IPC_POLLIN };
	it[2] = (struct ipc_pollitem){ .ch = a, .events = IPC_POLLOUT };
	ck_assert_int_eq(ipc_poll(it, 3, 5000), 3);
	ck_assert_int_eq(it[0].revents, IPC_POLLIN);
	ck_assert_int_eq(it[1].revents, IPC_POLLERR | IPC_POLLIN);
	ck_assert_int_eq(it[2].revents, IPC_POLLERR | IPC_POLLOUT);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 0), 5);
	ck_assert_str_eq(buf, "pipe");
	ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), 0), -EPROTO);
	ck_assert_int_eq(ipc_send(a, "x", 1, 0), -EPROTO);

	/* Still reported, and at once: a broken channel is never waited on
	 * (the bound only tells "at once" from a 5 s wait). */
	t0 = now_ms();
	ck_assert_int_eq(ipc_poll(it, 3, 5000), 2);
	ck_assert_int_lt(now_ms() - t0, 4000);
	ck_assert_int_eq(it[0].revents, 0);
	ck_assert_int_eq(it[1].revents, IPC_POLLERR | IPC_POLLIN);
	ck_assert_int_eq(it[2].revents, IPC_POLLERR | IPC_POLLOUT);
	/* Nothing asked: still the error, which is always reported. */
	it[1].events = 0;
	ck_assert_int_eq(ipc_poll(&it[1], 1, 0), 1);
	ck_assert_int_eq(it[1].revents, IPC_POLLERR);
	/* Arguments are still checked first. */
	it[1] = (struct ipc_pollitem){ .ch = b, .l = (ipc_listener *)1, .events = IPC_POLLIN };
	ck_assert_int_eq(ipc_poll(it, 2, 0), -EINVAL);

	ck_assert_int_eq(ipc_close(b), 0);
	ck_assert_int_eq(ipc_close(a), 0);
	test_unpair(tx, rx);
}
END_TEST

static Suite *
poll_suite(void)
{
	Suite *s = suite_create("poll");
	TCase *tc = tcase_create("poll");
	size_t i;

	for (i = 0; i < MAXSCHEMES; i++)
		if (have_scheme(candidates[i]))
			schemes[nschemes++] = candidates[i];
	printf("transports: ");
	for (i = 0; i < nschemes; i++)
		printf("%s%s", schemes[i], i + 1 < nschemes ? " " : "\n");
	tcase_add_checked_fixture(tc, test_fixture_setup, test_fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, poll_mix_of_every_transport);
	tcase_add_loop_test(tc, poll_sees_read_ahead, 0, (int)nschemes);
	tcase_add_loop_test(tc, poll_epoll_edge_rule, 0, (int)nschemes);
	tcase_add_test(tc, poll_timeouts_and_errors);
	tcase_add_test(tc, poll_hangup_and_shutdown);
	tcase_add_loop_test(tc, poll_shutdown_every_transport, 0, (int)nschemes);
	tcase_add_test(tc, poll_woken_by_shutdown_from_another_thread);
	tcase_add_test(tc, poll_wakes_for_another_process);
	tcase_add_test(tc, poll_eintr_keeps_waiting);
	tcase_add_test(tc, poll_idle_costs_nothing);
	tcase_add_test(tc, poll_many_items);
	tcase_add_test(tc, poll_user_driver);
	tcase_add_test(tc, poll_shm_pollout_exact);
	tcase_add_test(tc, poll_broken_shm_is_an_item_error);
	if (test_have_listener("tcp://127.0.0.1:0"))
		listen_uris[nlisten++] = "tcp://127.0.0.1:0";
	if (test_have_listener("unix:@ipc-test-poll-probe"))
		listen_uris[nlisten++] = "unix:";   /* a path in the test's directory */
	if (nlisten)
		tcase_add_loop_test(tc, poll_listener_and_its_clients, 0, nlisten);
	else
		printf("note: no listening transport built; listener polling not tested\n");
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return test_run_forked(poll_suite());   /* cases install handlers and watchers */
}
