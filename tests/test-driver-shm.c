/* shm driver: rings, wake-ups, several senders and receivers, crashes,
 * corruption, lifecycle. Crash victims are this program re-executed with
 * IPC_CRASH_AT set, so each dies inside the window under test. */
#include "test-common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Segment offsets used to scribble on it (doc/ipc-shm.7, "Layout"). */
#define SEG_RING(r)      (512 + (r) * 512)
#define SEG_PLOCK        0
#define SEG_TAIL         8
#define SEG_HEAD         16
#define SEG_RPOS         72
#define SEG_DATA(r, cap) (4096 + (r) * (cap))

extern char **environ;
static char self_exe[4096];
static pid_t runner;    /* the process that runs the suite */

/* "shm:/ipc-test-<runner>-<test process>-<tag>": unique per test, and every
 * name of a run shares a prefix that the runner sweeps when it exits. */
static const char *
shm_uri(const char *tag)
{
	static char uri[128];

	snprintf(uri, sizeof(uri), "shm:/ipc-test-%ld-%ld-%s", (long)runner, (long)getpid(),
	         tag);
	return uri;
}

/* Remove the test objects of this test process (@p all: of the whole run);
 * the first name found goes to @p left. */
static int
shm_sweep(int all, char *left, size_t cap)
{
	char prefix[64];
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	int n = 0;

	if (all)
		snprintf(prefix, sizeof(prefix), "ipc-test-%ld-", (long)runner);
	else
		snprintf(prefix, sizeof(prefix), "ipc-test-%ld-%ld-", (long)runner,
		         (long)getpid());
	while (d && (e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
			char path[300];

			if (left && !n)
				snprintf(left, cap, "%s", e->d_name);
			snprintf(path, sizeof(path), "/dev/shm/%s", e->d_name);
			unlink(path);
			n++;
		}
	if (d)
		closedir(d);
	return n;
}

/* A failed test skips its teardown: the runner removes what it left. */
static void
shm_sweep_at_exit(void)
{
	if (getpid() == runner)
		shm_sweep(1, NULL, 0);
}

static void
shm_teardown(void)
{
	char left[300] = "";

	shm_sweep(0, left, sizeof(left));
	test_fixture_teardown();
	ck_assert_msg(!left[0], "left /dev/shm/%s behind", left);
}

/* Message i: 4-byte id, then bytes derived from the id; length varies. */
static size_t
msg_len(uint32_t id, size_t maxlen)
{
	return 4 + (id * 2654435761u >> 7) % (maxlen - 3);
}

static size_t
msg_make(unsigned char *buf, uint32_t id, size_t maxlen)
{
	size_t len = msg_len(id, maxlen), i;

	memcpy(buf, &id, 4);
	for (i = 4; i < len; i++)
		buf[i] = (unsigned char)(id * 31 + i * 7);
	return len;
}

/* The id of a whole, untorn message, or -1. */
static long
msg_check(const unsigned char *buf, size_t len, size_t maxlen)
{
	uint32_t id;
	size_t i;

	if (len < 4)
		return -1;
	memcpy(&id, buf, 4);
	if (len != msg_len(id, maxlen))
		return -1;
	for (i = 4; i < len; i++)
		if (buf[i] != (unsigned char)(id * 31 + i * 7))
			return -1;
	return id;
}

/* --- the re-executed child: shm-child send|recv <uri> <base> <count> <maxlen> ---
 * Writes 'R' to stdout once attached; a receiver then writes each id it got
 * (4 bytes). Exit 0 on success, 1 on a torn message or an error. */
static int
child_main(int argc, char **argv)
{
	static unsigned char buf[1 << 16];
	ipc_channel *ch;
	uint32_t base, count, i;
	size_t maxlen;
	ssize_t n;

	if (argc != 7)
		return 2;
	base = (uint32_t)atol(argv[4]);
	count = (uint32_t)atol(argv[5]);
	maxlen = (size_t)atol(argv[6]);
	if (ipc_open(&ch, argv[3], IPC_SEND | IPC_RECV, NULL) < 0)
		return 3;
	if (write(1, "R", 1) != 1)
		return 4;
	if (strcmp(argv[2], "send") == 0) {
		for (i = 0; i < count; i++) {
			n = ipc_send(ch, buf, msg_make(buf, base + i, maxlen), 10000);
			if (n < 0)
				return 5;
		}
	} else if (strcmp(argv[2], "sendb") == 0) {
		/* batches of up to 5, each in its own 2 KiB of buf */
		for (i = 0; i < count; i += (uint32_t)n) {
			struct iovec m[5];
			uint32_t k;

			for (k = 0; k < 5 && i + k < count; k++)
				m[k] = (struct iovec){ buf + k * 2048,
				                       msg_make(buf + k * 2048, base + i + k, maxlen) };
			if ((n = ipc_send_batch(ch, m, k, 10000)) < 1)
				return 5;
		}
	} else if (strcmp(argv[2], "recvb") == 0) {
		for (;;) {
			struct iovec m[8];
			ssize_t k;

			for (k = 0; k < 8; k++)
				m[k] = (struct iovec){ buf + k * 2048, 2048 };
			n = ipc_recv_batch(ch, m, 8, 10000);
			if (n == IPC_EOF)
				break;
			if (n < 1)
				return 6;
			for (k = 0; k < n; k++) {
				long id = msg_check(m[k].iov_base, m[k].iov_len, maxlen);

				if (id < 0)
					return 1;
				if (write(1, &(uint32_t){ (uint32_t)id }, 4) != 4)
					return 4;
			}
		}
	} else {
		for (;;) {
			long id;

			n = ipc_recv(ch, buf, sizeof(buf), 10000);
			if (n == IPC_EOF)
				break;
			if (n < 0)
				return 6;
			if ((id = msg_check(buf, (size_t)n, maxlen)) < 0)
				return 1;
			if (write(1, &(uint32_t){ (uint32_t)id }, 4) != 4)
				return 4;
		}
	}
	ipc_close(ch);
	return 0;
}

/* Start this program as a child; its stdout comes back through *out. */
static pid_t
spawn(const char *crash_at, const char *role, const char *uri, uint32_t base,
      uint32_t count, size_t maxlen, int *out)
{
	int fds[2];
	pid_t pid;

	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char b[16], c[16], m[16];

		dup2(fds[1], 1);
		snprintf(b, sizeof(b), "%u", base);
		snprintf(c, sizeof(c), "%u", count);
		snprintf(m, sizeof(m), "%zu", maxlen);
		if (crash_at)
			setenv("IPC_CRASH_AT", crash_at, 1);
		else
			unsetenv("IPC_CRASH_AT");
		execl(self_exe, self_exe, "shm-child", role, uri, b, c, m, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	*out = fds[0];
	return pid;
}

/* Wait for the child's 'R' (attached), at most @p ms. */
static void
await_ready(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c = 0;

	ck_assert_int_eq(poll(&p, 1, ms), 1);
	ck_assert_int_eq(read(fd, &c, 1), 1);
	ck_assert_int_eq(c, 'R');
}

static void
pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static int
cpu_count(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	return CPU_COUNT(&set);
}

/* --- basics --- */

START_TEST(shm_ring_basics)
{
	ipc_options o = IPC_OPTIONS_INIT;
	static unsigned char buf[8192], got[8192];
	ipc_channel *a, *b;
	const char *uri = shm_uri("basic");
	long i;

	o.capacity = 4096;
	o.max_msg = 1u << 20;   /* explicit: up to the whole ring */
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	/* the name is taken while a lives */
	ck_assert_int_eq(ipc_open(&b, uri, IPC_SEND | IPC_RECV | IPC_CREATE, &o), -EEXIST);
	ck_assert_int_eq(ipc_open(&b, uri, IPC_SEND | IPC_RECV, &o), 0);

	/* zero-length, recv_size, too-small buffer keeps the message */
	ck_assert_int_eq(ipc_send(a, "", 0, 0), 0);
	ck_assert_int_eq(ipc_recv_size(b, 1000), 0);
	ck_assert_int_eq(ipc_recv(b, got, sizeof(got), 0), 0);
	ck_assert_int_eq(ipc_send(b, "hello", 5, 0), 5);
	ck_assert_int_eq(ipc_recv(a, got, 4, 0), -EMSGSIZE);
	ck_assert_int_eq(ipc_recv_size(a, 0), 5);
	ck_assert_int_eq(ipc_recv(a, got, 5, 0), 5);
	ck_assert_int_eq(memcmp(got, "hello", 5), 0);

	/* timeouts */
	ck_assert_int_eq(ipc_recv(b, got, sizeof(got), 0), -EAGAIN);
	ck_assert_int_eq(ipc_recv(b, got, sizeof(got), 30), -ETIMEDOUT);

	/* the largest message fills the whole ring; one byte more never fits */
	ck_assert_int_eq(ipc_send(a, buf, 4089, 0), -EMSGSIZE);
	memset(buf, 0xa5, 4088);
	ck_assert_int_eq(ipc_send(a, buf, 4088, 0), 4088);
	ck_assert_int_eq(ipc_send(a, buf, 0, 0), -EAGAIN);
	ck_assert_int_eq(ipc_send(a, buf, 0, 20), -ETIMEDOUT);
	ck_assert_int_eq(ipc_recv(b, got, sizeof(got), 0), 4088);
	ck_assert_int_eq(memcmp(buf, got, 4088), 0);

	/* the same the other way */
	ck_assert_int_eq(ipc_send(b, buf, 4089, 0), -EMSGSIZE);
	ck_assert_int_eq(ipc_send(b, buf, 4088, 0), 4088);
	ck_assert_int_eq(ipc_recv(a, got, sizeof(got), 0), 4088);

	/* every length across many wrap-arounds, several in flight */
	for (i = 0; i < test_scale(3000); i++) {
		size_t len = msg_make(buf, (uint32_t)i, 1300);
		ssize_t n;

		ck_assert_int_eq(ipc_send(a, buf, len, 0), (ssize_t)len);
		if (i >= 2) {
			n = ipc_recv(b, got, sizeof(got), 0);
			ck_assert_int_eq(msg_check(got, (size_t)n, 1300), i - 2);
		}
	}
	for (i = 0; i < 2; i++)
		ck_assert_int_ge(msg_check(got, (size_t)ipc_recv(b, got, sizeof(got), 0), 1300), 0);

	/* orderly close: the other side drains, then reads the end */
	ck_assert_int_eq(ipc_send(b, "x", 1, 0), 1);
	ipc_close(b);
	ck_assert_int_eq(ipc_recv(a, got, sizeof(got), 1000), 1);
	ck_assert_int_eq(ipc_recv(a, got, sizeof(got), 1000), IPC_EOF);
	ck_assert_int_eq(ipc_send(a, "x", 1, 1000), -EPIPE);
	ipc_close(a);
}
END_TEST

START_TEST(shm_bad_addresses)
{
	ipc_channel *c;
	ipc_options o = IPC_OPTIONS_INIT;

	ck_assert_int_eq(ipc_open(&c, "shm:noslash", IPC_SEND, NULL), -EINVAL);
	ck_assert_int_eq(ipc_open(&c, "shm:/a/b", IPC_SEND, NULL), -EINVAL);
	ck_assert_int_eq(ipc_open(&c, "shm:/", IPC_SEND, NULL), -EINVAL);
	ck_assert_int_eq(ipc_open(&c, shm_uri("raw"), IPC_SEND | IPC_RAW | IPC_CREATE, NULL),
	                 -EINVAL);
	ck_assert_int_eq(ipc_open(&c, shm_uri("none"), IPC_SEND, NULL), -ENOENT);
	o.capacity = (size_t)1 << 31;
	ck_assert_int_eq(ipc_open(&c, shm_uri("big"), IPC_SEND | IPC_CREATE, &o), -EINVAL);
}
END_TEST

static void *
recv_forever(void *arg)
{
	char buf[16];

	return (void *)(intptr_t)ipc_recv(arg, buf, sizeof(buf), -1);
}

START_TEST(shm_shutdown_wakes)
{
	ipc_channel *a, *b;
	pthread_t t;
	void *ret;
	struct timespec nap = { 0, 50000000 };

	ck_assert_int_eq(test_pair("shm", &a, &b), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, recv_forever, b), 0);
	nanosleep(&nap, NULL);
	ck_assert_int_eq(ipc_shutdown(b), 0);
	ck_assert_int_eq(pthread_join(t, &ret), 0);
	ck_assert_int_eq((intptr_t)ret, IPC_EOF);
	test_unpair(a, b);
}
END_TEST

START_TEST(shm_peer_killed)
{
	ipc_channel *a;
	const char *uri = shm_uri("kill");
	unsigned char buf[2048];
	int out;
	pid_t pid;

	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL), 0);
	/* a receiver that never gets its end: it blocks until killed */
	pid = spawn(NULL, "recv", uri, 0, 0, 100, &out);
	await_ready(out, 5000);
	kill(pid, SIGKILL);
	ck_assert_int_eq(test_wait(pid, 5000), 128 + SIGKILL);
	close(out);
	/* the kernel dropped its lock: the end, and no one to send to */
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 2000), IPC_EOF);
	ck_assert_int_eq(ipc_send(a, "y", 1, 2000), -EPIPE);
	ipc_close(a);
}
END_TEST

START_TEST(shm_slots_run_out)
{
	ipc_options o = IPC_OPTIONS_INIT;
	const char *uri = shm_uri("slots");
	ipc_channel *a, *b[64];
	int i, n;

	o.capacity = 4096;
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	/* 64 slots, the creator holds one */
	for (n = 0; n < 63; n++)
		ck_assert_int_eq(ipc_open(&b[n], uri, IPC_SEND | IPC_RECV, NULL), 0);
	ck_assert_int_eq(ipc_open(&b[63], uri, IPC_SEND | IPC_RECV, NULL), -EUSERS);
	/* a closed attacher's slot is free again */
	ipc_close(b[10]);
	ck_assert_int_eq(ipc_open(&b[10], uri, IPC_SEND | IPC_RECV, NULL), 0);
	ck_assert_int_eq(ipc_send(b[10], "s", 1, 0), 1);
	ck_assert_int_eq(ipc_recv(a, &(char){ 0 }, 1, 0), 1);
	for (i = 0; i < n; i++)
		ipc_close(b[i]);
	ipc_close(a);
}
END_TEST

/* One thread sends while another receives on the same channel. */
struct thr_arg {
	ipc_channel *a;
	const char *uri;
	long n;
};

static int
echo_all(void *arg)
{
	struct thr_arg *t = arg;
	static unsigned char buf[2048];
	ipc_channel *b;
	ssize_t n;

	/* like a pipe's unused end: side A stays alive while we hold it */
	ipc_close(t->a);
	if (ipc_open(&b, t->uri, IPC_SEND | IPC_RECV, NULL) < 0)
		return 3;
	while ((n = ipc_recv(b, buf, sizeof(buf), 20000)) >= 0)
		if ((n = ipc_send(b, buf, (size_t)n, 20000)) < 0) {
			fprintf(stderr, "echo send: %zd\n", n);
			return 2;
		}
	ipc_close(b);
	if (n != IPC_EOF)
		fprintf(stderr, "echo recv: %zd\n", n);
	return n == IPC_EOF ? 0 : 1;
}

static void *
send_all(void *arg)
{
	struct thr_arg *t = arg;
	static unsigned char buf[2048];
	long i;

	for (i = 0; i < t->n; i++)
		if (ipc_send(t->a, buf, msg_make(buf, (uint32_t)i, 900), 20000) < 0)
			return (void *)1;
	return NULL;
}

START_TEST(shm_send_recv_threads)
{
	ipc_options o = IPC_OPTIONS_INIT;
	static unsigned char got[2048];
	struct thr_arg t;
	char uri[128];
	pthread_t th;
	void *ret;
	pid_t pid;
	long i;

	snprintf(uri, sizeof(uri), "%s", shm_uri("thr"));
	o.capacity = 8192;
	ck_assert_int_eq(ipc_open(&t.a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	t.n = test_scale(5000);
	t.uri = uri;
	pid = test_fork(echo_all, &t);
	ck_assert_int_eq(pthread_create(&th, NULL, send_all, &t), 0);
	for (i = 0; i < t.n; i++) {
		ssize_t n = ipc_recv(t.a, got, sizeof(got), 20000);

		ck_assert_int_ge(n, 0);
		ck_assert_int_eq(msg_check(got, (size_t)n, 900), i);
	}
	ck_assert_int_eq(pthread_join(th, &ret), 0);
	ck_assert_ptr_null(ret);
	ipc_close(t.a);
	ck_assert_int_eq(test_wait(pid, 20000), 0);
}
END_TEST

/* --- lost wake-ups: tiny ring, both directions, many round trips --- */

struct wake_arg {
	const char *uri;
	long n;
	int cpu;
};

static int
wake_echo(void *arg)
{
	struct wake_arg *w = arg;
	static unsigned char buf[2048];
	ipc_channel *b;
	long i;

	pin_to(w->cpu);
	if (ipc_open(&b, w->uri, IPC_SEND | IPC_RECV, NULL) < 0)
		return 3;
	for (i = 0; i < w->n; i++) {
		ssize_t n = ipc_recv(b, buf, sizeof(buf), 20000);

		if (n < 0 || msg_check(buf, (size_t)n, 1000) != i)
			return 1;
		if (ipc_send(b, buf, (size_t)n, 20000) != n)
			return 2;
	}
	ipc_close(b);
	return 0;
}

static void
wake_run(int cpu_a, int cpu_b, const char *tag)
{
	static unsigned char buf[2048], got[2048];
	ipc_options o = IPC_OPTIONS_INIT;
	struct wake_arg w = { shm_uri(tag), test_scale(4000), cpu_b };
	ipc_channel *a;
	cpu_set_t saved;
	long i, r = 0;
	pid_t pid;
	const long window = 3;

	sched_getaffinity(0, sizeof(saved), &saved);
	/* A lost wake-up must show as a timeout, not hide behind the 100 ms
	 * liveness re-check: make sleeps long for this test. */
	setenv("IPC_SHM_TEST_WAIT_MS", "60000", 1);
	o.capacity = 4096;
	pin_to(cpu_a);
	ck_assert_int_eq(ipc_open(&a, w.uri, IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	pid = test_fork(wake_echo, &w);
	for (i = 0; i < w.n; i++) {
		size_t len = msg_make(buf, (uint32_t)i, 1000);

		ck_assert_int_eq(ipc_send(a, buf, len, 20000), (ssize_t)len);
		if (i >= window) {
			ssize_t n = ipc_recv(a, got, sizeof(got), 20000);

			ck_assert_int_eq(msg_check(got, (size_t)n, 1000), r);
			r++;
		}
	}
	for (; r < w.n; r++) {
		ssize_t n = ipc_recv(a, got, sizeof(got), 20000);

		ck_assert_int_eq(msg_check(got, (size_t)n, 1000), r);
	}
	ck_assert_int_eq(test_wait(pid, 20000), 0);
	ipc_close(a);
	unsetenv("IPC_SHM_TEST_WAIT_MS");
	sched_setaffinity(0, sizeof(saved), &saved);
}

START_TEST(shm_wakeups_one_cpu)
{
	wake_run(0, 0, "wake1");
}
END_TEST

START_TEST(shm_wakeups_two_cpus)
{
	if (cpu_count() < 2) {
		printf("shm_wakeups_two_cpus: one CPU only, skipped\n");
		return;
	}
	wake_run(0, 1, "wake2");
}
END_TEST

/* --- 4 senders, 4 receivers --- */

#define MP_SENDERS 4
#define MP_RECEIVERS 4

struct mp_arg {
	const char *uri;
	ipc_channel *a;         /* receivers: the creator's channel, inherited */
	uint32_t base, count;
	unsigned *seen;         /* shared: how often each id arrived */
	unsigned long long *sum;
};

static int
mp_sender(void *arg)
{
	struct mp_arg *m = arg;
	static unsigned char buf[1024];
	ipc_channel *b;
	uint32_t i;

	if (ipc_open(&b, m->uri, IPC_SEND | IPC_RECV, NULL) < 0)
		return 3;
	for (i = 0; i < m->count; i++) {
		size_t len = msg_make(buf, m->base + i, 700);

		if (ipc_send(b, buf, len, 20000) != (ssize_t)len)
			return 2;
	}
	ipc_close(b);
	return 0;
}

static int
mp_receiver(void *arg)
{
	struct mp_arg *m = arg;
	static unsigned char buf[1024];
	unsigned long long sum = 0;

	for (;;) {
		ssize_t n = ipc_recv(m->a, buf, sizeof(buf), 20000);
		long id;

		if (n == IPC_EOF)
			break;
		if (n < 0)
			return 2;
		if ((id = msg_check(buf, (size_t)n, 700)) < 0 || (uint32_t)id >= m->count)
			return 1;
		__atomic_fetch_add(&m->seen[id], 1, __ATOMIC_RELAXED);
		sum += (unsigned long long)id * 7 + (unsigned long long)n;
	}
	__atomic_fetch_add(m->sum, sum, __ATOMIC_RELAXED);
	ipc_close(m->a);
	return 0;
}

START_TEST(shm_many_senders_receivers)
{
	ipc_options o = IPC_OPTIONS_INIT;
	uint32_t per = (uint32_t)test_scale(3000), total = per * MP_SENDERS, i;
	struct mp_arg s[MP_SENDERS], r;
	pid_t pids[MP_SENDERS + MP_RECEIVERS];
	unsigned long long expect = 0;
	void *shared;
	ipc_channel *a, *b;
	int k;

	shared = mmap(NULL, total * sizeof(unsigned) + 64, PROT_READ | PROT_WRITE,
	              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(shared, MAP_FAILED);
	/* no 100 ms re-checks: a lost wake-up or a missed end hangs, and fails */
	setenv("IPC_SHM_TEST_WAIT_MS", "60000", 1);
	o.capacity = 16384;
	ck_assert_int_eq(ipc_open(&a, shm_uri("mpmc"), IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	r = (struct mp_arg){ .uri = shm_uri("mpmc"), .a = a, .count = total,
	                     .seen = (unsigned *)((char *)shared + 64),
	                     .sum = shared };
	for (k = 0; k < MP_RECEIVERS; k++)
		pids[k] = test_fork(mp_receiver, &r);
	/* keeps side B alive until every sender is done, so that receivers
	 * read the end only after the last message */
	ck_assert_int_eq(ipc_open(&b, shm_uri("mpmc"), IPC_SEND | IPC_RECV, NULL), 0);
	for (k = 0; k < MP_SENDERS; k++) {
		s[k] = r;
		s[k].base = (uint32_t)k * per;
		s[k].count = per;
		pids[MP_RECEIVERS + k] = test_fork(mp_sender, &s[k]);
	}
	for (k = MP_RECEIVERS; k < MP_SENDERS + MP_RECEIVERS; k++)
		ck_assert_int_eq(test_wait(pids[k], 50000), 0);
	ipc_close(b);
	for (k = 0; k < MP_RECEIVERS; k++)
		ck_assert_int_eq(test_wait(pids[k], 50000), 0);
	for (i = 0; i < total; i++) {
		ck_assert_msg(r.seen[i] == 1, "message %u arrived %u times", i, r.seen[i]);
		expect += (unsigned long long)i * 7 + msg_len(i, 700);
	}
	ck_assert(*r.sum == expect);
	ipc_close(a);
	unsetenv("IPC_SHM_TEST_WAIT_MS");
	munmap(shared, total * sizeof(unsigned) + 64);
}
END_TEST

/* --- crashes inside each dangerous window --- */

static void
read_ids(int fd, unsigned char *seen, uint32_t n, long *count)
{
	uint32_t id;

	while (read(fd, &id, 4) == 4) {
		ck_assert_uint_lt(id, n);
		ck_assert_msg(!seen[id], "message %u delivered twice", id);
		seen[id] = 1;
		(*count)++;
	}
}

static const char *send_points[] = { "shm-send-locked", "shm-send-reserved",
                                     "shm-send-midcopy" };
static const char *recv_points[] = { "shm-recv-locked", "shm-recv-claimed",
                                     "shm-recv-midcopy" };

/* A sender dies in the window; a second sender's messages all arrive,
 * whole, after it, and the receiver then reads the end. */
static void
crash_sender(const char *point, int round)
{
	static unsigned char buf[2048];
	const uint32_t n = 300, maxlen = 900;
	ipc_options o = IPC_OPTIONS_INIT;
	unsigned char seen[300] = { 0 };
	char tag[64];
	const char *uri;
	ipc_channel *a;
	int out, out2;
	pid_t victim, survivor;
	uint32_t got = 0;

	snprintf(tag, sizeof(tag), "cs%d-%s", round, point);
	uri = shm_uri(tag);
	o.capacity = 4096;
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	victim = spawn(point, "send", uri, 1000, 5, maxlen, &out);
	ck_assert_int_eq(test_wait(victim, 10000), 99);
	close(out);
	survivor = spawn(NULL, "send", uri, 0, n, maxlen, &out2);
	await_ready(out2, 10000);
	while (got < n) {
		ssize_t len = ipc_recv(a, buf, sizeof(buf), 10000);
		long id;

		ck_assert_int_ge(len, 0);
		id = msg_check(buf, (size_t)len, maxlen);
		ck_assert_int_ge(id, 0);    /* never torn */
		ck_assert_int_lt(id, n);    /* the victim's message never shows */
		ck_assert(!seen[id]);
		seen[id] = 1;
		got++;
	}
	ck_assert_int_eq(test_wait(survivor, 10000), 0);
	close(out2);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 5000), IPC_EOF);
	ipc_close(a);
}

/* A receiver dies in the window; a second receiver gets every other
 * message exactly once, and the ring does not stay clogged. */
static void
crash_receiver(const char *point, int round)
{
	static unsigned char buf[2048];
	const uint32_t n = 300, maxlen = 900;
	ipc_options o = IPC_OPTIONS_INIT;
	unsigned char seen[300] = { 0 };
	char tag[64];
	const char *uri;
	ipc_channel *a;
	int out, out2;
	pid_t victim, survivor;
	long count = 0;
	uint32_t i;

	snprintf(tag, sizeof(tag), "cr%d-%s", round, point);
	uri = shm_uri(tag);
	o.capacity = 4096;
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	for (i = 0; i < 2; i++)
		ck_assert_int_ge(ipc_send(a, buf, msg_make(buf, i, maxlen), 0), 0);
	victim = spawn(point, "recv", uri, 0, 0, maxlen, &out);
	ck_assert_int_eq(test_wait(victim, 10000), 99);
	close(out);
	survivor = spawn(NULL, "recv", uri, 0, 0, maxlen, &out2);
	await_ready(out2, 10000);
	/* far more than the ring holds: the dead reader's record must be freed */
	for (i = 2; i < n; i++)
		ck_assert_int_ge(ipc_send(a, buf, msg_make(buf, i, maxlen), 10000), 0);
	ipc_close(a);   /* the survivor drains, then reads the end */
	read_ids(out2, seen, n, &count);
	ck_assert_int_eq(test_wait(survivor, 10000), 0);
	close(out2);
	/* at most once; only what the victim held is missing */
	if (strcmp(point, "shm-recv-locked") == 0)
		ck_assert_int_eq(count, n);
	else
		ck_assert_int_eq(count, n - 1);
	ck_assert(seen[n - 1]);
}

START_TEST(shm_crash_points)
{
	long rounds = test_scale(2);
	size_t k;
	int round;

	for (round = 0; round < rounds; round++) {
		for (k = 0; k < sizeof(send_points) / sizeof(send_points[0]); k++)
			crash_sender(send_points[k], round);
		for (k = 0; k < sizeof(recv_points) / sizeof(recv_points[0]); k++)
			crash_receiver(recv_points[k], round);
	}
}
END_TEST

/* Random kills: senders and receivers SIGKILLed at arbitrary moments while a
 * steady sender and receiver carry on; nothing torn, nothing twice. */
static int
killer_sender(void *arg)
{
	struct mp_arg *m = arg;
	static unsigned char buf[1024];
	ipc_channel *b;
	uint32_t i;

	if (ipc_open(&b, m->uri, IPC_SEND | IPC_RECV, NULL) < 0)
		return 3;
	for (i = 0;; i++)
		if (ipc_send(b, buf, msg_make(buf, m->base + (i % m->count), 700), 20000) < 0)
			return 2;
}

static int
killer_receiver(void *arg)
{
	struct mp_arg *m = arg;
	static unsigned char buf[1024];

	for (;;) {
		ssize_t n = ipc_recv(m->a, buf, sizeof(buf), 20000);

		if (n == IPC_EOF)
			return 0;
		if (n < 0)
			return 2;
		if (msg_check(buf, (size_t)n, 700) < 0)
			return 1;
	}
}

START_TEST(shm_random_kills)
{
	ipc_options o = IPC_OPTIONS_INIT;
	static unsigned char buf[1024];
	struct mp_arg m;
	ipc_channel *a, *b;
	long round, rounds = test_scale(20);
	unsigned seed = (unsigned)getpid();
	uint32_t i;

	o.capacity = 8192;
	ck_assert_int_eq(ipc_open(&a, shm_uri("rk"), IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	ck_assert_int_eq(ipc_open(&b, shm_uri("rk"), IPC_SEND | IPC_RECV, NULL), 0);
	m = (struct mp_arg){ .uri = shm_uri("rk"), .a = a, .base = 100000, .count = 1000 };
	for (round = 0; round < rounds; round++) {
		pid_t s = test_fork(killer_sender, &m), r = test_fork(killer_receiver, &m);
		struct timespec nap = { 0, (long)(rand_r(&seed) % 20000000) };

		nanosleep(&nap, NULL);
		kill(s, SIGKILL);
		nap.tv_nsec = (long)(rand_r(&seed) % 5000000);
		nanosleep(&nap, NULL);
		kill(r, SIGKILL);
		ck_assert_int_eq(test_wait(s, 5000), 128 + SIGKILL);
		ck_assert_int_eq(test_wait(r, 5000), 128 + SIGKILL);
		/* survivors: b still sends, a still receives everything, whole */
		for (i = 0; i < 20; i++) {
			static unsigned char old[1024];
			ssize_t rc;

			/* the ring may still be full of the killed sender's
			 * messages, which only a can drain: make room first */
			while ((rc = ipc_send(b, buf, msg_make(buf, i, 700), 0)) == -EAGAIN) {
				ssize_t n = ipc_recv(a, old, sizeof(old), 5000);

				ck_assert_int_ge(n, 0);
				ck_assert_int_ge(msg_check(old, (size_t)n, 700), 100000);
			}
			ck_assert_int_ge(rc, 0);
			for (;;) {
				ssize_t n = ipc_recv(a, buf, sizeof(buf), 5000);
				long id;

				ck_assert_int_ge(n, 0);
				id = msg_check(buf, (size_t)n, 700);
				ck_assert_int_ge(id, 0);
				if (id == (long)i)
					break;
				/* older messages of a killed sender, still whole */
				ck_assert_int_ge(id, 100000);
			}
		}
	}
	ipc_close(b);
	ipc_close(a);
}
END_TEST

/* --- hostile peers --- */

struct scribble {
	const char *name;   /* without "shm:" */
	size_t off;
	uint64_t val;
	int width;
};

static int
scribbler(void *arg)
{
	struct scribble *s = arg;
	int fd = shm_open(s->name, O_RDWR, 0);
	unsigned char *p;

	if (fd < 0)
		return 3;
	p = mmap(NULL, s->off + 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return 4;
	if (s->width == 8)
		memcpy(p + s->off, &s->val, 8);
	else
		memcpy(p + s->off, &(uint32_t){ (uint32_t)s->val }, 4);
	return 0;
}

static void
corrupt_one(size_t off, uint64_t val, int width, int send_first, int op_send, const char *tag)
{
	ipc_options o = IPC_OPTIONS_INIT;
	unsigned char buf[256];
	const char *uri = shm_uri(tag);
	struct scribble s = { uri + 4, off, val, width };
	ipc_channel *a, *b;
	ssize_t rc;

	o.capacity = 4096;
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	ck_assert_int_eq(ipc_open(&b, uri, IPC_SEND | IPC_RECV, NULL), 0);
	if (send_first)
		ck_assert_int_eq(ipc_send(b, "hello", 5, 0), 5);
	ck_assert_int_eq(test_wait(test_fork(scribbler, &s), 5000), 0);
	rc = op_send ? ipc_send(a, buf, 100, 2000) : ipc_recv(a, buf, sizeof(buf), 2000);
	ck_assert_msg(rc == -EPROTO, "%s: got %zd, want -EPROTO", tag, rc);
	/* and it stays broken */
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 0), -EPROTO);
	test_unpair(a, b);
}

START_TEST(shm_corruption)
{
	/* a receives on ring 1 and sends on ring 0 */
	corrupt_one(SEG_RING(1) + SEG_TAIL, 0xdeadbeef000ull, 8, 0, 0, "c-tail");
	corrupt_one(SEG_RING(1) + SEG_TAIL, 13, 8, 0, 0, "c-tail-odd");
	corrupt_one(SEG_RING(1) + SEG_RPOS, 4096 * 3, 8, 1, 0, "c-rpos");
	corrupt_one(SEG_DATA(1, 4096) + 4, 0x7fffffff, 4, 1, 0, "c-len");
	corrupt_one(SEG_DATA(1, 4096) + 4, 1000, 4, 1, 0, "c-len-past-tail");
	corrupt_one(SEG_DATA(1, 4096), 7, 4, 1, 0, "c-state");
	corrupt_one(SEG_DATA(1, 4096), (99u << 10) | 2, 4, 1, 0, "c-state-tag");
	corrupt_one(SEG_RING(0) + SEG_HEAD, 64, 8, 0, 1, "c-head");
	corrupt_one(SEG_RING(0) + SEG_TAIL, 1ull << 40, 8, 0, 1, "c-tail-far");
	corrupt_one(SEG_RING(0) + SEG_PLOCK, (5u << 7) | 100, 4, 0, 1, "c-lock");
}
END_TEST

/* --- lifecycle --- */

START_TEST(shm_half_initialised_and_stale)
{
	ipc_options o = IPC_OPTIONS_INIT;
	const char *uri = shm_uri("stale");
	ipc_channel *a, *b;
	char buf[8];
	int64_t t0;
	int out;
	pid_t pid;
	struct timespec ts;

	/* the creator dies before it publishes the segment */
	pid = spawn("shm-create-init", "create", uri, 0, 0, 100, &out);
	ck_assert_int_eq(test_wait(pid, 10000), 99);
	close(out);
	/* an opener waits for it, bounded by open_timeout_ms */
	o.open_timeout_ms = 300;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ck_assert_int_eq(ipc_open(&b, uri, IPC_SEND | IPC_RECV, &o), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ck_assert_int_ge((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - t0, 250);
	/* the next creator takes the stale name over */
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL), 0);
	ck_assert_int_eq(ipc_open(&b, uri, IPC_SEND | IPC_RECV, &o), 0);
	ck_assert_int_eq(ipc_send(b, "ok", 3, 0), 3);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 0), 3);
	test_unpair(a, b);
}
END_TEST

struct hang_arg {
	const char *uri;
	int fd;
};

/* An object some other program made under the name is never removed. */
START_TEST(shm_foreign_object_left_alone)
{
	const char *uri = shm_uri("foreign");
	ipc_channel *a;
	struct stat st;
	int fd;

	fd = shm_open(uri + 4, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "not libipc", 10), 10);
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL), -EEXIST);
	ck_assert_int_eq(ftruncate(fd, 8192), 0);
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL), -EEXIST);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 8192);
	/* nor used by an opener: it was never published */
	{
		ipc_options o = IPC_OPTIONS_INIT;

		o.open_timeout_ms = 100;
		ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV, &o), -ETIMEDOUT);
	}
	close(fd);
	ck_assert_int_eq(shm_unlink(uri + 4), 0);
}
END_TEST

static int
create_and_hang(void *arg)
{
	struct hang_arg *h = arg;
	ipc_channel *a;

	if (ipc_open(&a, h->uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL) < 0)
		return 3;
	if (write(h->fd, "R", 1) != 1)
		return 4;
	pause();
	return 0;
}

START_TEST(shm_creator_killed)
{
	char uri[128];
	ipc_channel *a, *b;
	int fds[2];
	char c;
	pid_t pid;

	snprintf(uri, sizeof(uri), "%s", shm_uri("killed"));
	ck_assert_int_eq(pipe(fds), 0);
	pid = test_fork(create_and_hang, &(struct hang_arg){ uri, fds[1] });
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	close(fds[0]);
	close(fds[1]);
	ck_assert_int_eq(ipc_open(&b, uri, IPC_SEND | IPC_RECV, NULL), 0);
	/* alive: the name is taken */
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL), -EEXIST);
	kill(pid, SIGKILL);
	ck_assert_int_eq(test_wait(pid, 5000), 128 + SIGKILL);
	/* dead: the orphan reads the end, and the name can be made again */
	ck_assert_int_eq(ipc_recv(b, &c, 1, 2000), IPC_EOF);
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL), 0);
	ipc_close(b);
	ipc_close(a);
}
END_TEST

static int
open_as_nobody(void *arg)
{
	ipc_channel *b;
	int rc;

	if (setgid(65534) < 0 || setuid(65534) < 0)
		return 77;
	rc = ipc_open(&b, arg, IPC_SEND | IPC_RECV, NULL);
	return rc == -EACCES ? 0 : 1;
}

START_TEST(shm_other_uid)
{
	ipc_channel *a;
	char uri[128];
	struct stat st;
	int rc;

	snprintf(uri, sizeof(uri), "%s", shm_uri("uid"));
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL), 0);
	{
		char path[160];

		snprintf(path, sizeof(path), "/dev/shm%s", uri + 4);
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_int_eq(st.st_mode & 07777, 0600);
	}
	if (geteuid() != 0) {
		printf("shm_other_uid: not root, cannot switch uid; skipped\n");
		ipc_close(a);
		return;
	}
	rc = test_wait(test_fork(open_as_nobody, uri), 5000);
	ipc_close(a);
	if (rc == 77) {
		printf("shm_other_uid: setuid(nobody) failed; skipped\n");
		return;
	}
	ck_assert_int_eq(rc, 0);
}
END_TEST

START_TEST(shm_mode_exact)
{
	ipc_options o = IPC_OPTIONS_INIT;
	ipc_channel *a;
	struct stat st;
	char path[160];
	mode_t old = umask(077);

	o.mode = 0640;
	ck_assert_int_eq(ipc_open(&a, shm_uri("mode"), IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	umask(old);
	snprintf(path, sizeof(path), "/dev/shm%s", shm_uri("mode") + 4);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	ipc_close(a);
	ck_assert_int_eq(stat(path, &st), -1);
}
END_TEST

/* In a private mount namespace with a 1 MiB tmpfs on /dev/shm, asking for
 * 2 x 4 MiB must fail at open with -ENOSPC and leave nothing behind. */
static int
enospc_child(void *arg)
{
	ipc_options o = IPC_OPTIONS_INIT;
	ipc_channel *a;
	DIR *d;
	struct dirent *e;
	int rc, left = 0;

	(void)arg;
	if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=1m") < 0)
		return 77;
	o.capacity = 4u << 20;
	rc = ipc_open(&a, "shm:/ipc-test-enospc", IPC_SEND | IPC_RECV | IPC_CREATE, &o);
	if ((d = opendir("/dev/shm"))) {
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				left++;
		closedir(d);
	}
	return rc == -ENOSPC && left == 0 ? 0 : 1;
}

START_TEST(shm_enospc)
{
	int rc = test_wait(test_fork(enospc_child, NULL), 10000);

	if (rc == 77) {
		printf("shm_enospc: cannot mount a private tmpfs here; skipped\n");
		return;
	}
	ck_assert_int_eq(rc, 0);
}
END_TEST

/* --- ipc_fd --- */

struct late_arg {
	const char *uri;
	int go;     /* read end: close once a byte comes */
};

static int
late_sender(void *arg)
{
	struct late_arg *l = arg;
	ipc_channel *b;
	struct timespec nap = { 0, 100000000 };
	char c;

	if (ipc_open(&b, l->uri, IPC_SEND | IPC_RECV, NULL) < 0)
		return 3;
	nanosleep(&nap, NULL);
	if (ipc_send(b, "late", 4, 1000) != 4)
		return 2;
	if (read(l->go, &c, 1) != 1)
		return 4;
	ipc_close(b);
	return 0;
}

START_TEST(shm_poll_fd)
{
	char uri[128], buf[16];
	ipc_channel *a;
	struct pollfd p;
	int fd, go[2], i;
	pid_t pid;

	snprintf(uri, sizeof(uri), "%s", shm_uri("poll"));
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL), 0);
	fd = ipc_fd(a);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ipc_fd(a), fd);
	/* edge-style: drain until -EAGAIN, which re-arms */
	while (ipc_recv(a, buf, sizeof(buf), 0) != -EAGAIN)
		;
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 50), 0);
	pid = test_fork(late_sender, &(struct late_arg){ uri, go[0] });
	/* the sender's attach rings once, its message once more */
	for (i = 0;; i++) {
		ssize_t n;

		ck_assert_int_lt(i, 3);
		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		if ((n = ipc_recv(a, buf, sizeof(buf), 0)) == -EAGAIN)
			continue;
		ck_assert_int_eq(n, 4);
		break;
	}
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 0), -EAGAIN);
	ck_assert_int_eq(poll(&p, 1, 50), 0);
	ck_assert_int_eq(write(go[1], "x", 1), 1);
	close(go[0]);
	close(go[1]);
	/* the peer's orderly close rings too: the drain reads the end */
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	ck_assert_int_eq(test_wait(pid, 5000), 0);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 0), IPC_EOF);
	ipc_close(a);
}
END_TEST

/* A killed peer cannot ring the doorbell; the descriptor fires anyway and
 * the drain reads the end. */
START_TEST(shm_poll_fd_peer_killed)
{
	char uri[128], buf[16];
	ipc_channel *a;
	struct pollfd p;
	int fd, out;
	pid_t pid;

	snprintf(uri, sizeof(uri), "%s", shm_uri("pollkill"));
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL), 0);
	fd = ipc_fd(a);
	ck_assert_int_ge(fd, 0);
	while (ipc_recv(a, buf, sizeof(buf), 0) != -EAGAIN)
		;
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 50), 0);
	/* a peer that attaches rings, so that the loop starts watching it */
	pid = spawn(NULL, "recv", uri, 0, 0, 100, &out);
	await_ready(out, 5000);
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 0), -EAGAIN);
	ck_assert_int_eq(poll(&p, 1, 50), 0);
	kill(pid, SIGKILL);
	ck_assert_int_eq(test_wait(pid, 5000), 128 + SIGKILL);
	close(out);
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 0), IPC_EOF);
	ipc_close(a);
}
END_TEST

/* --- issue 9: the holes an adversarial review found --- */

#define SEG_META_LIVE(side) (44 + 4 * (side))   /* meta.live[side] */
#define SIDE_B_INDEX 2

/* Map the object behind @p uri as a peer would (read-write, shared). */
static unsigned char *
seg_map(const char *uri, size_t *len)
{
	struct stat st;
	unsigned char *p;
	int fd = shm_open(uri + 4, O_RDWR, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	*len = (size_t)st.st_size;
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	close(fd);
	return p;
}

static uint32_t
seg_live(const char *uri, int side)
{
	size_t len;
	unsigned char *p = seg_map(uri, &len);
	uint32_t v;

	memcpy(&v, p + SEG_META_LIVE(side), 4);
	munmap(p, len);
	return v;
}

/* 2. A peer writes positions no ring can have; every call of the victim
 * answers -EPROTO (ipc_poll: IPC_POLLERR), the first one already, and
 * nothing reads past the mapping (the A side's receive ring is the last
 * thing in it). */
enum { OP_POLL, OP_RECV, OP_RECV_SIZE, OP_FD, OP_SEND, OP_COUNT };
static const char *op_names[] = { "ipc_poll", "ipc_recv", "ipc_recv_size", "ipc_fd",
                                  "ipc_send" };

static long
hostile_op(ipc_channel *a, int op)
{
	unsigned char buf[256] = { 0 };
	struct ipc_pollitem it = { .ch = a, .events = IPC_POLLIN };
	int rc;

	switch (op) {
	case OP_POLL:
		/* A broken channel is an item's IPC_POLLERR, not the call's
		 * error (ipc_poll(3)): that answer stands for its -EPROTO
		 * here, anything else is returned as it is. */
		if ((rc = ipc_poll(&it, 1, 0)) == 1 && it.revents == (IPC_POLLERR | IPC_POLLIN))
			return -EPROTO;
		return rc < 0 ? rc : 1000 + it.revents;
	case OP_RECV:
		return ipc_recv(a, buf, sizeof(buf), 200);
	case OP_RECV_SIZE:
		return ipc_recv_size(a, 200);
	case OP_FD:
		return ipc_fd(a);
	default:
		return ipc_send(a, buf, 100, 200);
	}
}

static void
hostile_one(int ring, size_t field, uint64_t val, int op, int k)
{
	ipc_options o = IPC_OPTIONS_INIT;
	char tag[32];
	const char *uri;
	unsigned char *seg;
	ipc_channel *a, *b;
	size_t len;
	long rc;
	int j;

	snprintf(tag, sizeof(tag), "h%d-%d", k, op);
	uri = shm_uri(tag);
	o.capacity = 4096;
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	ck_assert_int_eq(ipc_open(&b, uri, IPC_SEND | IPC_RECV, &o), 0);
	ck_assert_int_eq(ipc_send(b, "hello", 5, 0), 5);  /* something to read */
	seg = seg_map(uri, &len);
	memcpy(seg + SEG_RING(ring) + field, &val, 8);
	rc = hostile_op(a, op);
	ck_assert_msg(rc == -EPROTO, "ring %d +%zu = %#llx: %s gave %ld, want -EPROTO", ring,
	              field, (unsigned long long)val, op_names[op], rc);
	for (j = 0; j < OP_COUNT; j++)
		ck_assert_msg(hostile_op(a, j) == -EPROTO, "%s after %s: not -EPROTO",
		              op_names[j], op_names[op]);
	munmap(seg, len);
	test_unpair(a, b);
}

START_TEST(shm_hostile_indices)
{
	/* a receives on ring 1 (its receive calls, ipc_fd, ipc_poll) */
	static const struct { size_t field; uint64_t val; } rx[] = {
		{ SEG_RPOS, 4096 - 1 },     /* 3 bytes before the end of the mapping */
		{ SEG_RPOS, 4 },
		{ SEG_RPOS, 1ull << 40 },
		{ SEG_TAIL, 13 },
		{ SEG_TAIL, 1ull << 40 },
	};
	/* and sends on ring 0 (ipc_send, ipc_fd, ipc_poll) */
	static const struct { size_t field; uint64_t val; } tx[] = {
		{ SEG_TAIL, 13 },
		{ SEG_TAIL, 1ull << 40 },
		{ SEG_HEAD, 12 },
		{ SEG_HEAD, 1ull << 40 },
	};
	static const int rx_ops[] = { OP_POLL, OP_RECV, OP_RECV_SIZE, OP_FD };
	static const int tx_ops[] = { OP_SEND, OP_FD, OP_POLL };
	size_t i, j;
	int k = 0;

	for (i = 0; i < sizeof(rx) / sizeof(rx[0]); i++)
		for (j = 0; j < sizeof(rx_ops) / sizeof(rx_ops[0]); j++)
			hostile_one(1, rx[i].field, rx[i].val, rx_ops[j], k++);
	for (i = 0; i < sizeof(tx) / sizeof(tx[0]); i++)
		for (j = 0; j < sizeof(tx_ops) / sizeof(tx_ops[0]); j++)
			hostile_one(0, tx[i].field, tx[i].val, tx_ops[j], k++);
}
END_TEST

/* 4. IPC_CREATE never removes what is not provably a dead libipc channel. */
static void
foreign_kind(int kind)
{
	char tag[32], path[200];
	const char *uri;
	ipc_channel *a;
	struct stat st;
	unsigned char data[16384];
	size_t len = 0, i;
	int fd = -1;

	snprintf(tag, sizeof(tag), "foreign%d", kind);
	uri = shm_uri(tag);
	snprintf(path, sizeof(path), "/dev/shm%s", uri + 4);
	memset(data, 0, sizeof(data));
	switch (kind) {
	case 0:     /* a FIFO */
		ck_assert_int_eq(mkfifo(path, 0600), 0);
		break;
	case 1:     /* an empty object */
		len = 0;
		break;
	case 2:     /* 64 KiB of zeros */
		len = 65536;
		break;
	case 3:     /* 16 zero bytes, then another program's data, of a libipc size */
		len = 4096 + 2 * 4096;
		for (i = 16; i < sizeof(data); i++)
			data[i] = (unsigned char)(i * 13 + 1);
		break;
	case 4:     /* all zeros, of a libipc size: maybe a creator that died
		     * before its header, but it cannot be told apart */
		len = 4096 + 2 * 4096;
		break;
	default:    /* text */
		len = 10;
		memcpy(data, "not libipc", 10);
		break;
	}
	if (kind != 0) {
		fd = shm_open(uri + 4, O_RDWR | O_CREAT | O_EXCL, 0600);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(ftruncate(fd, (off_t)len), 0);
		for (i = 0; i < len; i += sizeof(data))
			ck_assert_int_eq(pwrite(fd, data, len - i < sizeof(data) ? len - i
			                                                        : sizeof(data),
			                        (off_t)i),
			                 (ssize_t)(len - i < sizeof(data) ? len - i : sizeof(data)));
	}
	ck_assert_msg(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL) == -EEXIST,
	              "foreign object %d not refused", kind);
	/* still there, untouched */
	ck_assert_int_eq(lstat(path, &st), 0);
	if (kind == 0) {
		ck_assert(S_ISFIFO(st.st_mode));
	} else {
		unsigned char back[16384];

		ck_assert_int_eq(st.st_size, (off_t)len);
		if (len) {
			size_t n = len < sizeof(back) ? len : sizeof(back);

			ck_assert_int_eq(pread(fd, back, n, 0), (ssize_t)n);
			ck_assert_int_eq(memcmp(back, data, n), 0);
		}
		close(fd);
	}
	ck_assert_int_eq(unlink(path), 0);
}

START_TEST(shm_foreign_kinds)
{
	int kind;

	for (kind = 0; kind <= 5; kind++)
		foreign_kind(kind);
}
END_TEST

/* 5a. max_msg, one rule: the receiver's limit reaches the sender, the
 * smallest among the live receivers of a side counts, and a receiver never
 * takes more than its own. */
static int
attach_small_and_hang(void *arg)
{
	ipc_options o = IPC_OPTIONS_INIT;
	ipc_channel *b;

	o.max_msg = 64;
	if (ipc_open(&b, arg, IPC_SEND | IPC_RECV, &o) < 0)
		return 3;
	pause();
	return 0;
}

START_TEST(shm_max_msg_rule)
{
	ipc_options o = IPC_OPTIONS_INIT, small = IPC_OPTIONS_INIT, big = IPC_OPTIONS_INIT;
	static unsigned char buf[8192];
	char uri[128];
	ipc_channel *a, *b1, *b2;
	void *got = NULL;
	pid_t pid;

	snprintf(uri, sizeof(uri), "%s", shm_uri("maxmsg"));
	o.capacity = 8192;
	small.max_msg = 64;
	big.max_msg = 1000;
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	/* a's default: half its ring */
	ck_assert_int_eq(ipc_open(&b1, uri, IPC_SEND | IPC_RECV, NULL), 0);
	ck_assert_int_eq(ipc_send(b1, buf, 4097, 0), -EMSGSIZE);
	ck_assert_int_eq(ipc_send(b1, buf, 4096, 0), 4096);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 0), 4096);
	ipc_close(b1);
	ck_assert_int_eq(ipc_open(&b1, uri, IPC_SEND | IPC_RECV, &big), 0);
	/* b1's limit reaches a */
	ck_assert_int_eq(ipc_send(a, buf, 1001, 0), -EMSGSIZE);
	ck_assert_int_eq(ipc_send(a, buf, 500, 0), 500);
	/* b2 comes later with a smaller limit: the queued 500 bytes are more
	 * than it takes, so it refuses them and allocates nothing */
	ck_assert_int_eq(ipc_open(&b2, uri, IPC_SEND | IPC_RECV, &small), 0);
	ck_assert_int_eq(ipc_recv_size(b2, 0), -EPROTO);
	ck_assert_int_eq(ipc_recv_alloc(b2, &got, 0), -EPROTO);
	ck_assert_ptr_null(got);
	ck_assert_int_eq(ipc_recv(b1, buf, sizeof(buf), 0), 500);
	/* the smallest live limit counts */
	ck_assert_int_eq(ipc_send(a, buf, 65, 0), -EMSGSIZE);
	ck_assert_int_eq(ipc_send(a, buf, 64, 0), 64);
	ck_assert_int_eq(ipc_recv(b1, buf, sizeof(buf), 0), 64);
	ipc_close(b2);
	ck_assert_int_eq(ipc_send(a, buf, 1000, 0), 1000);
	ck_assert_int_eq(ipc_recv(b1, buf, sizeof(buf), 0), 1000);
	/* a dead attacher's limit stops counting */
	pid = test_fork(attach_small_and_hang, uri);
	while (ipc_send(a, buf, 65, 0) != -EMSGSIZE) {   /* until it is attached */
		struct timespec nap = { 0, 1000000 };

		ck_assert_int_eq(ipc_recv(b1, buf, sizeof(buf), 0), 65);
		ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), 0);    /* still running */
		nanosleep(&nap, NULL);
	}
	kill(pid, SIGKILL);
	ck_assert_int_eq(test_wait(pid, 5000), 128 + SIGKILL);
	ck_assert_int_eq(ipc_send(a, buf, 1000, 0), 1000);
	ck_assert_int_eq(ipc_recv(b1, buf, sizeof(buf), 0), 1000);
	ipc_close(b1);
	ipc_close(a);
}
END_TEST

/* 6. With every default, a 1 MiB message goes through. */
START_TEST(shm_default_one_mib)
{
	size_t n = 1u << 20;
	unsigned char *buf = malloc(n), *got = malloc(n);
	ipc_channel *a, *b;
	size_t i;

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(got);
	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)(i * 7 + i / 251);
	ck_assert_int_eq(ipc_open(&a, shm_uri("mib"), IPC_SEND | IPC_RECV | IPC_CREATE, NULL), 0);
	ck_assert_int_eq(ipc_open(&b, shm_uri("mib"), IPC_SEND | IPC_RECV, NULL), 0);
	ck_assert_int_eq(ipc_send(a, buf, n, 5000), (ssize_t)n);
	ck_assert_int_eq(ipc_recv(b, got, n, 5000), (ssize_t)n);
	ck_assert_int_eq(memcmp(buf, got, n), 0);
	ck_assert_int_eq(ipc_send(b, buf, n + 1, 0), -EMSGSIZE);
	ipc_close(b);
	ipc_close(a);
	free(buf);
	free(got);
}
END_TEST

/* 5b. Zero-length messages with NULL buffers (memcpy(NULL, ...) is UB). */
START_TEST(shm_zero_length_null)
{
	ipc_channel *a, *b;

	ck_assert_int_eq(test_pair("shm", &a, &b), 0);
	ck_assert_int_eq(ipc_send(a, NULL, 0, 0), 0);
	ck_assert_int_eq(ipc_recv_size(b, 0), 0);
	ck_assert_int_eq(ipc_recv(b, NULL, 0, 0), 0);
	test_unpair(a, b);
}
END_TEST

/* 5c. A sender out of descriptors still rings the receiver's doorbell. */
static int
bell_emfile(void *arg)
{
	const char *uri = arg;
	ipc_channel *a, *b;
	struct rlimit rl;
	struct pollfd p;
	char buf[16];
	int fd;

	if (ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL) < 0 ||
	    ipc_open(&b, uri, IPC_SEND | IPC_RECV, NULL) < 0)
		return 3;
	if ((fd = ipc_fd(b)) < 0)
		return 4;
	while (ipc_recv(b, buf, sizeof(buf), 0) != -EAGAIN)
		;
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 0) != 0)
		return 5;
	/* not one descriptor more for this process */
	if ((fd = dup(0)) < 0)
		return 6;
	close(fd);
	rl.rlim_cur = rl.rlim_max = (rlim_t)fd;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || dup(0) >= 0)
		return 77;
	if (ipc_send(a, "ring", 4, 0) != 4)
		return 7;
	if (poll(&p, 1, 5000) != 1)
		return 8;   /* the doorbell was lost */
	if (ipc_recv(b, buf, sizeof(buf), 0) != 4)
		return 9;
	ipc_close(b);
	ipc_close(a);
	return 0;
}

START_TEST(shm_bell_without_descriptors)
{
	char uri[128];
	int rc;

	snprintf(uri, sizeof(uri), "%s", shm_uri("emfile"));
	rc = test_wait(test_fork(bell_emfile, uri), 10000);
	if (rc == 77) {
		printf("shm_bell_without_descriptors: cannot lower RLIMIT_NOFILE; skipped\n");
		shm_unlink(uri + 4);
		return;
	}
	ck_assert_int_eq(rc, 0);
}
END_TEST

/* 5d. A killed attacher and a child that exec()s are counted out. */
START_TEST(shm_live_count)
{
	char uri[128], buf[16];
	ipc_channel *a, *b;
	int out;
	pid_t pid;

	snprintf(uri, sizeof(uri), "%s", shm_uri("live"));
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL), 0);
	pid = spawn(NULL, "recv", uri, 0, 0, 100, &out);
	await_ready(out, 5000);
	ck_assert_int_eq(seg_live(uri, SIDE_B_INDEX), 1);
	kill(pid, SIGKILL);
	ck_assert_int_eq(test_wait(pid, 5000), 128 + SIGKILL);
	close(out);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 2000), IPC_EOF);
	ck_assert_int_eq(seg_live(uri, SIDE_B_INDEX), 0);
	/* a child that execs drops the slot fork() gave it */
	ck_assert_int_eq(ipc_open(&b, uri, IPC_SEND | IPC_RECV, NULL), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(test_wait(pid, 5000), 0);
	ipc_close(b);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 2000), IPC_EOF);
	ck_assert_int_eq(seg_live(uri, SIDE_B_INDEX), 0);
	ipc_close(a);
}
END_TEST

/* Duplex MPMC: senders and receivers of both rings in the same processes
 * (the shape that tore a message); every message exactly once, whole. */
#define DX_PROCS 2      /* per side */

struct dx_arg {
	const char *uri;
	ipc_channel *ch;        /* side A: inherited; side B: opened by the child */
	int dir;                /* the direction this process sends: 0 A->B, 1 B->A */
	uint32_t base, count, total;
	unsigned *seen[2];      /* shared: per direction, how often each id came */
	unsigned *got;          /* shared: per direction, messages received */
	int err;
};

static void *
dx_send(void *arg)
{
	struct dx_arg *d = arg;
	static __thread unsigned char buf[1024];
	uint32_t i;

	for (i = 0; i < d->count; i++) {
		size_t len = msg_make(buf, d->base + i, 700);

		if (ipc_send(d->ch, buf, len, 20000) != (ssize_t)len) {
			d->err = 2;
			break;
		}
	}
	return NULL;
}

static void *
dx_recv(void *arg)
{
	struct dx_arg *d = arg;
	static __thread unsigned char buf[1024];
	int in = d->dir ^ 1;
	int64_t end = 0;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	end = (int64_t)ts.tv_sec + 60;
	while (__atomic_load_n(&d->got[in], __ATOMIC_ACQUIRE) < d->total) {
		ssize_t n = ipc_recv(d->ch, buf, sizeof(buf), 100);
		long id;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (n == -ETIMEDOUT && ts.tv_sec < end)
			continue;
		/* The other side left after the last message, taken by another
		 * receiver, which may not have counted it yet: the end is right
		 * once the count is complete (waited for, bounded). */
		if (n == IPC_EOF) {
			while (__atomic_load_n(&d->got[in], __ATOMIC_ACQUIRE) < d->total &&
			       ts.tv_sec < end) {
				struct timespec nap = { 0, 1000000 };

				nanosleep(&nap, NULL);
				clock_gettime(CLOCK_MONOTONIC, &ts);
			}
			if (__atomic_load_n(&d->got[in], __ATOMIC_ACQUIRE) == d->total)
				break;
		}
		if (n < 0) {
			fprintf(stderr, "duplex: dir %d receive: %zd (%u of %u)\n", in, n,
			        __atomic_load_n(&d->got[in], __ATOMIC_ACQUIRE), d->total);
			d->err = 3;
			break;
		}
		if ((id = msg_check(buf, (size_t)n, 700)) < 0 || (uint32_t)id >= d->total) {
			d->err = 1;     /* torn */
			break;
		}
		__atomic_fetch_add(&d->seen[in][id], 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&d->got[in], 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static int
dx_proc(void *arg)
{
	struct dx_arg *d = arg;
	pthread_t s, r;

	if (!d->ch && ipc_open(&d->ch, d->uri, IPC_SEND | IPC_RECV, NULL) < 0)
		return 4;
	if (pthread_create(&r, NULL, dx_recv, d) || pthread_create(&s, NULL, dx_send, d))
		return 5;
	pthread_join(s, NULL);
	pthread_join(r, NULL);
	ipc_close(d->ch);
	return d->err;
}

START_TEST(shm_duplex_many)
{
	ipc_options o = IPC_OPTIONS_INIT;
	uint32_t per = (uint32_t)test_scale(3000), total = per * DX_PROCS, i;
	size_t bytes = 2 * total * sizeof(unsigned) + 64;
	struct dx_arg d[2 * DX_PROCS];
	pid_t pids[2 * DX_PROCS];
	unsigned *shared;
	ipc_channel *a;
	int k, dir;

	shared = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(shared, MAP_FAILED);
	o.capacity = 8192;
	ck_assert_int_eq(ipc_open(&a, shm_uri("duplex"), IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	for (k = 0; k < 2 * DX_PROCS; k++) {
		dir = k % 2;
		d[k] = (struct dx_arg){ .uri = shm_uri("duplex"), .ch = dir == 0 ? a : NULL,
		                        .dir = dir, .base = (uint32_t)(k / 2) * per, .count = per,
		                        .total = total, .got = shared,
		                        .seen = { shared + 16, shared + 16 + total } };
		pids[k] = test_fork(dx_proc, &d[k]);
	}
	for (k = 0; k < 2 * DX_PROCS; k++)
		ck_assert_int_eq(test_wait(pids[k], 90000), 0);
	for (dir = 0; dir < 2; dir++)
		for (i = 0; i < total; i++)
			ck_assert_msg(d[0].seen[dir][i] == 1, "direction %d: message %u came %u times",
			              dir, i, d[0].seen[dir][i]);
	ipc_close(a);
	munmap(shared, bytes);
}
END_TEST

/* --- batches: one reservation, one claim (ipc_send_batch, ipc_recv_batch) --- */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A 100-byte message: its id, then bytes derived from it. */
static void
fixed_make(unsigned char *buf, uint32_t id)
{
	size_t i;

	memcpy(buf, &id, 4);
	for (i = 4; i < 100; i++)
		buf[i] = (unsigned char)(id * 13 + i);
}

static long
fixed_check(const unsigned char *buf, size_t len)
{
	uint32_t id;
	size_t i;

	if (len != 100)
		return -1;
	memcpy(&id, buf, 4);
	for (i = 4; i < 100; i++)
		if (buf[i] != (unsigned char)(id * 13 + i))
			return -1;
	return id;
}

/* 4096 bytes of ring, 100-byte messages (112 with the header): 36 fit, and
 * 64 bytes stay free. Nobody receives while a sends, so every count is
 * exact: whole messages in order, never one overtaking another that did
 * not fit, the batch cut by room or by a deadline. */
START_TEST(shm_batch_full_ring)
{
	static unsigned char data[41][100], got[8][128];
	ipc_options o = IPC_OPTIONS_INIT;
	struct iovec m[41], v[8];
	ipc_channel *a, *b;
	uint32_t i, want;
	size_t k;
	ssize_t n;

	o.capacity = 4096;
	ck_assert_int_eq(ipc_open(&a, shm_uri("bfull"), IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	ck_assert_int_eq(ipc_open(&b, shm_uri("bfull"), IPC_SEND | IPC_RECV, NULL), 0);
	for (i = 0; i < 41; i++) {
		fixed_make(data[i], i);
		m[i] = (struct iovec){ data[i], 100 };
	}
	ck_assert_int_eq(ipc_send_batch(a, m, 40, 0), 36);
	/* 64 bytes left: the 100-byte one does not fit, and the empty one
	 * behind it must not overtake it */
	ck_assert_int_eq(ipc_send_batch(a, (struct iovec[]){ { data[36], 100 }, { NULL, 0 } }, 2,
	                                0), -EAGAIN);
	ck_assert_int_eq(ipc_send_batch(a, (struct iovec[]){ { NULL, 0 }, { NULL, 0 }, { NULL, 0 },
	                                                     { NULL, 0 }, { NULL, 0 }, { NULL, 0 },
	                                                     { NULL, 0 }, { NULL, 0 }, { NULL, 0 } },
	                                9, 0), 8);   /* 8 bytes each */
	ck_assert_int_eq(ipc_send_batch(a, (struct iovec[]){ { NULL, 0 } }, 1, 0), -EAGAIN);
	ck_assert_int_eq(ipc_send_batch(a, m + 36, 4, 30), -ETIMEDOUT);
	/* room for one: a batch of two sends one */
	ck_assert_int_eq(ipc_recv(b, got[0], sizeof(got[0]), 1000), 100);
	ck_assert_int_eq(fixed_check(got[0], 100), 0);
	ck_assert_int_eq(ipc_send_batch(a, m + 36, 2, 0), 1);
	/* room for three: a batch of four with a deadline sends three */
	for (i = 1; i < 4; i++) {
		ck_assert_int_eq(ipc_recv(b, got[0], sizeof(got[0]), 1000), 100);
		ck_assert_int_eq(fixed_check(got[0], 100), i);
	}
	ck_assert_int_eq(ipc_send_batch(a, m + 37, 4, 50), 3);
	/* b drains in batches: 4..35, eight empty ones, 36..39; a buffer too
	 * small in the middle of a batch stops it there */
	for (want = 4; want < 36;) {
		size_t nb = 36 - want < 8 ? 36 - want : 8;     /* never into the empty ones */

		for (k = 0; k < 8; k++)
			v[k] = (struct iovec){ got[k], k == 5 ? 99 : sizeof(got[k]) };
		n = ipc_recv_batch(b, v, nb, 1000);
		ck_assert_int_ge(n, 1);
		ck_assert_int_le(n, 5);
		for (k = 0; k < (size_t)n; k++, want++)
			ck_assert_int_eq(fixed_check(got[k], v[k].iov_len), want);
		if (n == 5) {   /* the next one waits for a buffer of 100 */
			ck_assert_int_eq(ipc_recv_batch(b, v + 5, 3, 1000), -EMSGSIZE);
			ck_assert_int_eq(ipc_recv_size(b, 1000), 100);
		}
	}
	for (k = 0; k < 8; k++)
		v[k] = (struct iovec){ got[k], sizeof(got[k]) };
	ck_assert_int_eq(ipc_recv_batch(b, v, 8, 1000), 8);
	for (k = 0; k < 8; k++)
		ck_assert_uint_eq(v[k].iov_len, 0);
	for (k = 0; k < 8; k++)
		v[k] = (struct iovec){ got[k], sizeof(got[k]) };
	ck_assert_int_eq(ipc_recv_batch(b, v, 8, 1000), 4);
	for (k = 0; k < 4; k++)
		ck_assert_int_eq(fixed_check(got[k], v[k].iov_len), 36 + k);
	ck_assert_int_eq(ipc_recv_batch(b, v, 8, 0), -EAGAIN);
	test_unpair(a, b);
}
END_TEST

/* A message above what the peer takes: -EMSGSIZE when it comes first,
 * else the batch stops before it; the peer's own max_msg counts (as for
 * ipc_send), not only the ring's size. */
START_TEST(shm_batch_peer_limit)
{
	ipc_options o = IPC_OPTIONS_INIT, ob = IPC_OPTIONS_INIT;
	static unsigned char big[2000], got[3000];
	struct iovec m[3] = { { "a", 1 }, { big, sizeof(big) }, { "c", 1 } };
	ipc_channel *a, *b;

	o.capacity = 65536;
	ob.max_msg = 1000;
	ck_assert_int_eq(ipc_open(&a, shm_uri("blim"), IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	ck_assert_int_eq(ipc_open(&b, shm_uri("blim"), IPC_SEND | IPC_RECV, &ob), 0);
	ck_assert_int_eq(ipc_send_batch(a, m, 3, 1000), 1);
	ck_assert_int_eq(ipc_send_batch(a, m + 1, 2, 1000), -EMSGSIZE);
	ck_assert_int_eq(ipc_send_batch(a, m + 2, 1, 1000), 1);
	ck_assert_int_eq(ipc_recv(b, got, sizeof(got), 1000), 1);
	ck_assert_int_eq(got[0], 'a');
	ck_assert_int_eq(ipc_recv(b, got, sizeof(got), 1000), 1);
	ck_assert_int_eq(got[0], 'c');
	test_unpair(a, b);
}
END_TEST

/* Two senders and two receivers of batches on each ring: thread senders
 * with their own channels (side B) towards receivers forked from the
 * creator (side A: only a fork gives that side a second attacher), and
 * forked senders towards thread receivers. Every message arrives exactly
 * once, and each receiver sees each sender's messages in the order sent. */
#define BM_SENDERS 2
#define BM_MAXLEN  300

struct bm_arg {
	const char *uri;
	ipc_channel *ch;
	uint32_t base, count, total;
	unsigned *got;          /* shared: messages received on the ring */
	unsigned *seen;         /* shared: how often each id arrived */
	int err;
};

static int
bm_send_all(ipc_channel *ch, uint32_t base, uint32_t count)
{
	static __thread unsigned char buf[17][BM_MAXLEN];
	uint32_t i = 0, k, b = 0;

	while (i < count) {
		struct iovec m[17];
		uint32_t nb = 1 + (b++ * 7) % 17;   /* batches of 1 to 17 */
		ssize_t n;

		for (k = 0; k < nb && i + k < count; k++)
			m[k] = (struct iovec){ buf[k], msg_make(buf[k], base + i + k, BM_MAXLEN) };
		if ((n = ipc_send_batch(ch, m, k, 20000)) < 1 || n > (ssize_t)k)
			return 2;
		i += (uint32_t)n;
	}
	return 0;
}

/* Receives until every message of the ring is in (*got counts them over
 * both receivers; the end is not waited for, since each side's receivers
 * keep the other side alive), checking that ids are below total and each
 * sender's (id / per) increase. */
static int
bm_recv_all(ipc_channel *ch, uint32_t per, uint32_t total, unsigned *got, unsigned *seen)
{
	static __thread unsigned char buf[8][BM_MAXLEN];
	long last[BM_SENDERS];
	int64_t end = now_ms() + 60000;
	int s;

	for (s = 0; s < BM_SENDERS; s++)
		last[s] = -1;
	while (__atomic_load_n(got, __ATOMIC_ACQUIRE) < total) {
		struct iovec v[8];
		ssize_t n, k;

		for (k = 0; k < 8; k++)
			v[k] = (struct iovec){ buf[k], BM_MAXLEN };
		n = ipc_recv_batch(ch, v, 8, 100);
		if (n == -ETIMEDOUT && now_ms() < end)
			continue;   /* the other receiver may have taken the rest */
		if (n == IPC_EOF)
			return 0;
		if (n < 1 || n > 8)
			return 3;
		for (k = 0; k < n; k++) {
			long id = msg_check(buf[k], v[k].iov_len, BM_MAXLEN);

			if (id < 0 || (uint32_t)id >= total)
				return 1;
			s = (int)((uint32_t)id / per);
			if (id <= last[s])
				return 4;   /* out of its sender's order */
			last[s] = id;
			__atomic_fetch_add(&seen[id], 1, __ATOMIC_RELAXED);
		}
		__atomic_fetch_add(got, (unsigned)n, __ATOMIC_RELEASE);
	}
	return 0;
}

static void *
bm_send_thread(void *arg)
{
	struct bm_arg *m = arg;

	m->err = bm_send_all(m->ch, m->base, m->count);
	ipc_close(m->ch);
	return NULL;
}

static void *
bm_recv_thread(void *arg)
{
	struct bm_arg *m = arg;

	m->err = bm_recv_all(m->ch, m->count, m->total, m->got, m->seen);
	return NULL;
}

static int
bm_send_proc(void *arg)
{
	struct bm_arg *m = arg;
	int rc = bm_send_all(m->ch, m->base, m->count);

	ipc_close(m->ch);
	return rc;
}

static int
bm_recv_proc(void *arg)
{
	struct bm_arg *m = arg;
	int rc = bm_recv_all(m->ch, m->count, m->total, m->got, m->seen);

	ipc_close(m->ch);
	return rc;
}

START_TEST(shm_batch_mpmc)
{
	ipc_options o = IPC_OPTIONS_INIT;
	uint32_t per = (uint32_t)test_scale(4000), total = per * BM_SENDERS, i;
	size_t bytes = (2 * total + 2) * sizeof(unsigned);
	struct bm_arg st[BM_SENDERS], rt[2], sp, rp;
	pthread_t sth[BM_SENDERS], rth[2];
	pid_t spid[BM_SENDERS], rpid[2];
	unsigned *shared, *seen;
	ipc_channel *a;
	int k;

	shared = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(shared, MAP_FAILED);
	seen = shared + 2;
	o.capacity = 8192;      /* small: batches are cut by room all the time */
	ck_assert_int_eq(ipc_open(&a, shm_uri("bmpmc"), IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	/* ring B->A: thread senders, receivers forked from a */
	rp = (struct bm_arg){ .ch = a, .count = per, .total = total, .got = shared,
	                      .seen = seen };
	for (k = 0; k < 2; k++)
		rpid[k] = test_fork(bm_recv_proc, &rp);
	/* ring A->B: senders forked from a, thread receivers */
	for (k = 0; k < 2; k++) {
		rt[k] = (struct bm_arg){ .count = per, .total = total, .got = shared + 1,
		                         .seen = seen + total };
		ck_assert_int_eq(ipc_open(&rt[k].ch, shm_uri("bmpmc"), IPC_SEND | IPC_RECV, NULL), 0);
	}
	for (k = 0; k < BM_SENDERS; k++) {
		sp = (struct bm_arg){ .ch = a, .base = (uint32_t)k * per, .count = per };
		spid[k] = test_fork(bm_send_proc, &sp);
		st[k] = (struct bm_arg){ .base = (uint32_t)k * per, .count = per };
		ck_assert_int_eq(ipc_open(&st[k].ch, shm_uri("bmpmc"), IPC_SEND | IPC_RECV, NULL), 0);
	}
	ipc_close(a);   /* the forked senders are side A's last attachers */
	for (k = 0; k < 2; k++)
		ck_assert_int_eq(pthread_create(&rth[k], NULL, bm_recv_thread, &rt[k]), 0);
	for (k = 0; k < BM_SENDERS; k++)
		ck_assert_int_eq(pthread_create(&sth[k], NULL, bm_send_thread, &st[k]), 0);
	for (k = 0; k < BM_SENDERS; k++) {
		ck_assert_int_eq(pthread_join(sth[k], NULL), 0);
		ck_assert_int_eq(st[k].err, 0);
		ck_assert_int_eq(test_wait(spid[k], 60000), 0);
	}
	for (k = 0; k < 2; k++) {
		ck_assert_int_eq(test_wait(rpid[k], 60000), 0);
		ck_assert_int_eq(pthread_join(rth[k], NULL), 0);
		ck_assert_int_eq(rt[k].err, 0);
		ipc_close(rt[k].ch);
	}
	for (i = 0; i < 2 * total; i++)
		ck_assert_msg(seen[i] == 1, "ring %u: message %u arrived %u times", i / total,
		              i % total, seen[i]);
	munmap(shared, bytes);
}
END_TEST

/* A peer rewrites the record a batch receive would take next (through a
 * mapping of its own, between calls), or the ring's positions before a
 * batch send: -EPROTO, then -EPROTO for good; never a read outside the
 * mapping (run under ASan). A bad record behind good ones ends the batch
 * after them, and the next call reports it. */
static void
batch_hostile_one(int second, size_t field, uint32_t val, const char *tag)
{
	ipc_options o = IPC_OPTIONS_INIT;
	char bufs[4][64];
	struct iovec m[4], v[4];
	unsigned char *seg;
	uint64_t rpos;
	ipc_channel *a, *b;
	size_t len, k;
	ssize_t rc;

	o.capacity = 4096;
	ck_assert_int_eq(ipc_open(&a, shm_uri(tag), IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	ck_assert_int_eq(ipc_open(&b, shm_uri(tag), IPC_SEND | IPC_RECV, NULL), 0);
	for (k = 0; k < 4; k++)
		m[k] = (struct iovec){ "0123456789abcdef", 16 };
	ck_assert_int_eq(ipc_send_batch(b, m, 4, 0), 4);
	for (k = 0; k < 4; k++)
		v[k] = (struct iovec){ bufs[k], sizeof(bufs[k]) };
	ck_assert_int_eq(ipc_recv_batch(a, v, 1, 0), 1);
	seg = seg_map(shm_uri(tag), &len);
	memcpy(&rpos, seg + SEG_RING(1) + SEG_RPOS, 8);
	/* a record is 24 bytes here: state, length, 16 bytes */
	memcpy(seg + SEG_DATA(1, 4096) + ((rpos + (second ? 24 : 0)) & 4095) + field, &val, 4);
	rc = ipc_recv_batch(a, v, 4, 200);
	if (second) {
		ck_assert_msg(rc == 1, "%s: got %zd, want the good record before the bad", tag, rc);
		ck_assert_mem_eq(bufs[0], "0123456789abcdef", 16);
		rc = ipc_recv_batch(a, v, 4, 200);
	}
	ck_assert_msg(rc == -EPROTO, "%s: got %zd, want -EPROTO", tag, rc);
	ck_assert_int_eq(ipc_recv_batch(a, v, 4, 0), -EPROTO);
	ck_assert_int_eq(ipc_send_batch(a, m, 4, 0), -EPROTO);
	ck_assert_int_eq(ipc_recv(a, bufs[0], sizeof(bufs[0]), 0), -EPROTO);
	munmap(seg, len);
	test_unpair(a, b);
}

static void
batch_hostile_tx(size_t field, uint64_t val, const char *tag)
{
	ipc_options o = IPC_OPTIONS_INIT;
	struct iovec m[4];
	unsigned char *seg;
	ipc_channel *a, *b;
	size_t len, k;

	o.capacity = 4096;
	ck_assert_int_eq(ipc_open(&a, shm_uri(tag), IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	ck_assert_int_eq(ipc_open(&b, shm_uri(tag), IPC_SEND | IPC_RECV, NULL), 0);
	for (k = 0; k < 4; k++)
		m[k] = (struct iovec){ "0123456789abcdef", 16 };
	ck_assert_int_eq(ipc_send_batch(a, m, 4, 0), 4);
	seg = seg_map(shm_uri(tag), &len);
	memcpy(seg + SEG_RING(0) + field, &val, 8);
	ck_assert_int_eq(ipc_send_batch(a, m, 4, 200), -EPROTO);
	ck_assert_int_eq(ipc_send_batch(a, m, 1, 0), -EPROTO);
	munmap(seg, len);
	test_unpair(a, b);
}

START_TEST(shm_batch_hostile)
{
	batch_hostile_one(0, 4, 0x7fffffff, "bh-len");
	batch_hostile_one(0, 4, 1000, "bh-len-past-tail");
	batch_hostile_one(0, 0, 7, "bh-state");
	batch_hostile_one(0, 0, (99u << 3) | 2, "bh-state-tag");
	batch_hostile_one(1, 4, 0x7fffffff, "bh2-len");
	batch_hostile_one(1, 4, 1000, "bh2-len-past-tail");
	batch_hostile_one(1, 0, 7, "bh2-state");
	batch_hostile_one(1, 0, (99u << 3) | 2, "bh2-state-tag");
	batch_hostile_tx(SEG_HEAD, 12, "bht-head-odd");
	batch_hostile_tx(SEG_HEAD, 1ull << 40, "bht-head-far");
	batch_hostile_tx(SEG_TAIL, 1ull << 40, "bht-tail-far");
}
END_TEST

/* Crashes inside a batch (test builds: IPC_CRASH_AT). A sender killed after
 * publishing its reservation (shm-batch-reserved) or after committing c of
 * its 5 records (shm-batch-midcommit:c): the receiver gets exactly that
 * committed prefix, then every message of a second sender, in order. */
static void
crash_batch_sender(const char *crash, uint32_t committed, int round)
{
	static unsigned char buf[8][2048];
	const uint32_t n = 300, maxlen = 100;
	ipc_options o = IPC_OPTIONS_INIT;
	uint32_t want = 0, expect;
	char tag[64];
	const char *uri;
	ipc_channel *a;
	int out;
	pid_t victim, survivor;

	snprintf(tag, sizeof(tag), "bcs%d-%u", round, committed);
	uri = shm_uri(tag);
	o.capacity = 4096;
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	victim = spawn(crash, "sendb", uri, 1000, 5, maxlen, &out);
	ck_assert_int_eq(test_wait(victim, 10000), 99);
	close(out);
	survivor = spawn(NULL, "sendb", uri, 0, n, maxlen, &out);
	await_ready(out, 10000);
	while (want < committed + n) {
		struct iovec v[8];
		ssize_t got, k;

		for (k = 0; k < 8; k++)
			v[k] = (struct iovec){ buf[k], sizeof(buf[k]) };
		got = ipc_recv_batch(a, v, 8, 10000);
		ck_assert_int_ge(got, 1);
		for (k = 0; k < got; k++, want++) {
			expect = want < committed ? 1000 + want : want - committed;
			ck_assert_int_eq(msg_check(buf[k], v[k].iov_len, maxlen), expect);
		}
	}
	ck_assert_int_eq(test_wait(survivor, 10000), 0);
	close(out);
	ck_assert_int_eq(ipc_recv(a, buf[0], sizeof(buf[0]), 5000), IPC_EOF);
	ipc_close(a);
}

/* A receiver killed holding a batch claim (shm-rbatch-claimed) over the two
 * messages waiting: those two are lost, the senders get their space back,
 * and a second receiver gets every later message once, in order. */
static void
crash_batch_receiver(int round)
{
	static unsigned char buf[2048];
	const uint32_t n = 300, maxlen = 900;
	ipc_options o = IPC_OPTIONS_INIT;
	unsigned char seen[300] = { 0 };
	char tag[64];
	const char *uri;
	ipc_channel *a;
	int out, out2;
	pid_t victim, survivor;
	long count = 0;
	uint32_t i, id, last = 1;

	snprintf(tag, sizeof(tag), "bcr%d", round);
	uri = shm_uri(tag);
	o.capacity = 4096;
	ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	for (i = 0; i < 2; i++)
		ck_assert_int_ge(ipc_send(a, buf, msg_make(buf, i, maxlen), 0), 0);
	victim = spawn("shm-rbatch-claimed", "recvb", uri, 0, 0, maxlen, &out);
	ck_assert_int_eq(test_wait(victim, 10000), 99);
	close(out);
	survivor = spawn(NULL, "recvb", uri, 0, 0, maxlen, &out2);
	await_ready(out2, 10000);
	/* far more than the ring holds: the dead claim must be dropped */
	for (i = 2; i < n; i++) {
		struct iovec m = { buf, msg_make(buf, i, maxlen) };

		ck_assert_int_eq(ipc_send_batch(a, &m, 1, 10000), 1);
	}
	ipc_close(a);
	while (read(out2, &id, 4) == 4) {
		ck_assert_uint_lt(id, n);
		ck_assert_uint_gt(id, last);    /* once each, in order */
		last = id;
		seen[id] = 1;
		count++;
	}
	ck_assert_int_eq(test_wait(survivor, 10000), 0);
	close(out2);
	ck_assert_int_eq(count, n - 2);
	ck_assert(!seen[0] && !seen[1]);
}

START_TEST(shm_batch_crash_points)
{
	long rounds = test_scale(2);
	int round;

	for (round = 0; round < rounds; round++) {
		crash_batch_sender("shm-batch-reserved", 0, round);
		crash_batch_sender("shm-batch-midcommit:1", 1, round);
		crash_batch_sender("shm-batch-midcommit:4", 4, round);
		crash_batch_receiver(round);
	}
}
END_TEST

#ifdef IPC_TEST_HOOKS
/* 1. One side, two threads: a receiver stopped in the middle of its copy
 * (ring 1) while the same side's sender runs short of space on ring 0 and
 * reaps. The receiver's claim must survive that, so the other ring's sender
 * cannot overwrite the record being copied. */
struct pause_arg {
	ipc_channel *a;
	unsigned char *buf;
	ssize_t n;
};

static void *
paused_recv(void *arg)
{
	struct pause_arg *pa = arg;

	pa->n = ipc_recv(pa->a, pa->buf, 4096, 10000);
	return NULL;
}

START_TEST(shm_duplex_claim_kept)
{
	ipc_options o = IPC_OPTIONS_INIT;
	static unsigned char m1[2000], big[4080], got[4096], x[4096];
	struct pause_arg pa;
	char env[64];
	int paused[2], resume[2];
	struct pollfd pf;
	ipc_channel *a, *b;
	pthread_t t;
	size_t i;
	char c;

	o.capacity = 4096;
	o.max_msg = 4088;
	ck_assert_int_eq(pipe2(paused, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(resume, O_CLOEXEC), 0);
	snprintf(env, sizeof(env), "shm-recv-midcopy:%d:%d", paused[1], resume[0]);
	setenv("IPC_SHM_TEST_PAUSE", env, 1);
	ck_assert_int_eq(ipc_open(&a, shm_uri("claim"), IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	ck_assert_int_eq(ipc_open(&b, shm_uri("claim"), IPC_SEND | IPC_RECV, &o), 0);
	for (i = 0; i < sizeof(m1); i++)
		m1[i] = (unsigned char)(i * 5 + 3);
	memset(big, 0xee, sizeof(big));
	/* ring 1: M1 at position 0, and a's receiver stops half-way through it */
	ck_assert_int_eq(ipc_send(b, m1, sizeof(m1), 0), (ssize_t)sizeof(m1));
	pa = (struct pause_arg){ a, got, 0 };
	ck_assert_int_eq(pthread_create(&t, NULL, paused_recv, &pa), 0);
	pf = (struct pollfd){ .fd = paused[0], .events = POLLIN };
	ck_assert_int_eq(poll(&pf, 1, 10000), 1);
	ck_assert_int_eq(read(paused[0], &c, 1), 1);
	/* ring 0: a's sender (same side, other thread's channel) runs short of
	 * space and reaps claims; the live one on ring 1 must not go */
	ck_assert_int_eq(ipc_send(a, x, 1000, 0), 1000);
	ck_assert_int_eq(ipc_recv(b, x, sizeof(x), 0), 1000);
	ck_assert_int_eq(ipc_send(a, x, 3100, 0), 3100);
	/* ring 1's sender needs M1's room: it must wait for the copy */
	ck_assert_int_eq(ipc_send(b, big, sizeof(big), 0), -EAGAIN);
	ck_assert_int_eq(write(resume[1], "g", 1), 1);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(pa.n, (ssize_t)sizeof(m1));
	ck_assert_msg(memcmp(got, m1, sizeof(m1)) == 0, "torn: the record was overwritten");
	/* and then the room is there */
	ck_assert_int_eq(ipc_send(b, big, sizeof(big), 2000), (ssize_t)sizeof(big));
	ck_assert_int_eq(ipc_recv(a, got, sizeof(got), 2000), (ssize_t)sizeof(big));
	ck_assert_int_eq(ipc_recv(b, x, sizeof(x), 0), 3100);
	unsetenv("IPC_SHM_TEST_PAUSE");
	test_unpair(a, b);
	close(paused[0]);
	close(paused[1]);
	close(resume[0]);
	close(resume[1]);
}
END_TEST

/* 3. Every slot taken, then fork(): the child gets no slot, so its inherited
 * channel fails (-EUSERS) and never touches the parent's lock or claim. The
 * child is run up to each crash point (IPC_CRASH_AT=<point>:2: the parent
 * passed it once before the fork); had it shared the slot, it would die
 * there holding the parent's lock or its claim. The parent then frees one
 * slot and the test checks, through it, that the ring is not stuck. */
static int
fork_full_main(const char *uri)
{
	static unsigned char buf[2048];
	ipc_channel *b[64], *c = NULL;
	int n, st;
	pid_t pid;
	char go;

	for (n = 0; n < 64; n++) {
		int rc = ipc_open(&b[n], uri, IPC_SEND | IPC_RECV, NULL);

		if (rc == -EUSERS)
			break;
		if (rc < 0)
			return 10;
		c = b[n];
	}
	if (n != 63 || !c)
		return 11;
	/* once through every crash point */
	if (ipc_send(c, "pre", 3, 1000) != 3 || ipc_recv(c, buf, sizeof(buf), 1000) != 5)
		return 12;
	fflush(NULL);
	if ((pid = fork()) < 0)
		return 13;
	if (pid == 0) {
		ssize_t s = ipc_send(c, "child", 5, 1000);
		ssize_t r = ipc_recv(c, buf, sizeof(buf), 1000);
		struct ipc_pollitem it = { .ch = c, .events = IPC_POLLIN };

		/* ipc_poll reports it in revents, and the receive says why */
		if (s != -EUSERS || r != -EUSERS || ipc_fd(c) != -EUSERS ||
		    ipc_poll(&it, 1, 0) != 1 || it.revents != (IPC_POLLERR | IPC_POLLIN))
			_exit(1);
		for (n = 0; n < 63; n++)
			ipc_close(b[n]);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 14;
	if (WEXITSTATUS(st) != 0)
		return 20 + WEXITSTATUS(st);     /* 21: it shared a slot; 119: died in it */
	/* still holding c's slot (and its lock word's tag alive): free another */
	ipc_close(b[0]);
	if (write(1, "R", 1) != 1 || read(0, &go, 1) != 1)
		return 15;
	for (n = 1; n < 63; n++)
		ipc_close(b[n]);
	return 0;
}

START_TEST(shm_fork_slots_full)
{
	static const char *points[] = { "none", "shm-send-locked", "shm-send-reserved",
	                                "shm-send-midcopy", "shm-recv-locked",
	                                "shm-recv-claimed", "shm-recv-midcopy" };
	ipc_options o = IPC_OPTIONS_INIT;
	unsigned char buf[64];
	size_t k;

	o.capacity = 4096;
	for (k = 0; k < sizeof(points) / sizeof(points[0]); k++) {
		char tag[64], crash[64], c = 0;
		int in[2], out[2];
		const char *uri;
		ipc_channel *a, *d;
		struct pollfd pf;
		pid_t pid;

		snprintf(tag, sizeof(tag), "ff%zu", k);
		uri = shm_uri(tag);
		snprintf(crash, sizeof(crash), "%s:2", points[k]);
		ck_assert_int_eq(ipc_open(&a, uri, IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
		ck_assert_int_eq(ipc_send(a, "first", 5, 0), 5);
		ck_assert_int_eq(ipc_send(a, "second", 6, 0), 6);
		ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
		ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
		/* posix_spawn, not fork: a fork would take a slot for the child's
		 * copy of a, held until the parent's copy of that description is
		 * closed, and the helper might find it still taken */
		{
			char *argv[] = { self_exe, "shm-child", "fork-full", (char *)uri, NULL };
			char env[80], **envp;
			size_t n = 0, j;
			posix_spawn_file_actions_t fa;

			while (environ[n])
				n++;
			envp = calloc(n + 2, sizeof(*envp));
			ck_assert_ptr_nonnull(envp);
			snprintf(env, sizeof(env), "IPC_CRASH_AT=%s", crash);
			for (j = 0; j < n; j++)
				envp[j] = environ[j];
			envp[n] = env;
			posix_spawn_file_actions_init(&fa);
			posix_spawn_file_actions_adddup2(&fa, in[0], 0);
			posix_spawn_file_actions_adddup2(&fa, out[1], 1);
			ck_assert_int_eq(posix_spawn(&pid, self_exe, &fa, NULL, argv, envp), 0);
			posix_spawn_file_actions_destroy(&fa);
			free(envp);
		}
		close(in[0]);
		close(out[1]);
		pf = (struct pollfd){ .fd = out[0], .events = POLLIN };
		ck_assert_int_eq(poll(&pf, 1, 30000), 1);
		if (read(out[0], &c, 1) != 1)
			ck_abort_msg("%s: the helper said %d", points[k], test_wait(pid, 5000));
		ck_assert_int_eq(c, 'R');
		/* through the freed slot: ring 1's lock is free, "second" is there */
		ck_assert_int_eq(ipc_open(&d, uri, IPC_SEND | IPC_RECV, NULL), 0);
		ck_assert_msg(ipc_send(d, "after", 5, 2000) == 5, "%s: ring 1 stuck", points[k]);
		ck_assert_msg(ipc_recv(d, buf, sizeof(buf), 2000) == 6 &&
		              memcmp(buf, "second", 6) == 0, "%s: lost a message", points[k]);
		ck_assert_int_eq(write(in[1], "g", 1), 1);
		ck_assert_int_eq(test_wait(pid, 10000), 0);
		close(in[1]);
		close(out[0]);
		ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 1000), 3);
		ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 1000), 5);
		ck_assert_int_eq(memcmp(buf, "after", 5), 0);
		ipc_close(d);
		ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 1000), IPC_EOF);
		ipc_close(a);
	}
}
END_TEST
#endif /* IPC_TEST_HOOKS */

/* hooks: the cases that need the library's test hooks (IPC_CRASH_AT,
 * IPC_SHM_TEST_WAIT_MS), run on their own so that a build without them
 * reports a skip, not a pass. */
static Suite *
shm_suite(int hooks)
{
	Suite *s = suite_create("shm");
	TCase *tc = tcase_create(hooks ? "hooks" : "shm");

	tcase_add_checked_fixture(tc, test_fixture_setup, shm_teardown);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);
	if (hooks) {
		tcase_add_test(tc, shm_wakeups_one_cpu);
		tcase_add_test(tc, shm_wakeups_two_cpus);
		tcase_add_test(tc, shm_many_senders_receivers);
		tcase_add_test(tc, shm_crash_points);
		tcase_add_test(tc, shm_batch_crash_points);
		tcase_add_test(tc, shm_half_initialised_and_stale);
#ifdef IPC_TEST_HOOKS
		tcase_add_test(tc, shm_duplex_claim_kept);
		tcase_add_test(tc, shm_fork_slots_full);
#endif
		return s;
	}
	tcase_add_test(tc, shm_ring_basics);
	tcase_add_test(tc, shm_bad_addresses);
	tcase_add_test(tc, shm_shutdown_wakes);
	tcase_add_test(tc, shm_slots_run_out);
	tcase_add_test(tc, shm_send_recv_threads);
	tcase_add_test(tc, shm_peer_killed);
	tcase_add_test(tc, shm_random_kills);
	tcase_add_test(tc, shm_corruption);
	tcase_add_test(tc, shm_creator_killed);
	tcase_add_test(tc, shm_foreign_object_left_alone);
	tcase_add_test(tc, shm_other_uid);
	tcase_add_test(tc, shm_mode_exact);
	tcase_add_test(tc, shm_enospc);
	tcase_add_test(tc, shm_poll_fd);
	tcase_add_test(tc, shm_poll_fd_peer_killed);
	tcase_add_test(tc, shm_hostile_indices);
	tcase_add_test(tc, shm_foreign_kinds);
	tcase_add_test(tc, shm_max_msg_rule);
	tcase_add_test(tc, shm_default_one_mib);
	tcase_add_test(tc, shm_zero_length_null);
	tcase_add_test(tc, shm_bell_without_descriptors);
	tcase_add_test(tc, shm_live_count);
	tcase_add_test(tc, shm_duplex_many);
	tcase_add_test(tc, shm_batch_full_ring);
	tcase_add_test(tc, shm_batch_peer_limit);
	tcase_add_test(tc, shm_batch_mpmc);
	tcase_add_test(tc, shm_batch_hostile);
	return s;
}

int
main(int argc, char **argv)
{
	int hooks = argc == 2 && strcmp(argv[1], "hooks") == 0;
	ssize_t n;

	if (argc >= 2 && strcmp(argv[1], "shm-child") == 0) {
#ifdef IPC_TEST_HOOKS
		if (argc >= 4 && strcmp(argv[2], "fork-full") == 0)
			return fork_full_main(argv[3]);
#endif
		if (argc >= 4 && strcmp(argv[2], "create") == 0) {
			ipc_channel *a;

			return ipc_open(&a, argv[3], IPC_SEND | IPC_RECV | IPC_CREATE, NULL) < 0 ? 3 : 0;
		}
		return child_main(argc, argv);
	}
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n < 0)
		test_skip("no /proc/self/exe to re-execute");
	self_exe[n] = 0;
	if (access("/dev/shm", W_OK) < 0)
		test_skip("/dev/shm is not writable");
	if (hooks)
		test_need_hooks("crash points and long shm waits");
	runner = getpid();
	atexit(shm_sweep_at_exit);
	return test_run(shm_suite(hooks));
}
