/* fifo: transport quirks: who may open what, rendezvous, several writers. */
#include "test-common.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char uri[600];

static const char *
fifo_uri(const char *name)
{
	snprintf(uri, sizeof(uri), "fifo:%s", test_path(name));
	return uri;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(fifo_create_mode_and_unlink)
{
	ipc_options o = IPC_OPTIONS_INIT;
	ipc_channel *rx;
	struct stat st;
	mode_t old = umask(0077);   /* a mode through fchmod ignores the umask */

	ck_assert_int_eq(ipc_open(&rx, fifo_uri("a"), IPC_RECV | IPC_CREATE, NULL), 0);
	ck_assert_int_eq(lstat(test_path("a"), &st), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ipc_close(rx);
	ck_assert_int_eq(access(test_path("a"), F_OK), -1);

	o.mode = 0644;
	ck_assert_int_eq(ipc_open(&rx, fifo_uri("b"), IPC_RECV | IPC_CREATE, &o), 0);
	ck_assert_int_eq(lstat(test_path("b"), &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0644);
	ipc_close(rx);
	umask(old);
}
END_TEST

START_TEST(fifo_refuses_other_objects)
{
	ipc_channel *ch;
	struct passwd *pw;
	struct stat st;
	int fd;

	fd = open(test_path("file"), O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "keep", 4), 4);
	close(fd);
	ck_assert_int_eq(ipc_open(&ch, fifo_uri("file"), IPC_RECV, NULL), -ENOTSUP);
	ck_assert_int_eq(ipc_open(&ch, fifo_uri("file"), IPC_RECV | IPC_CREATE, NULL), -ENOTSUP);
	ck_assert_int_eq(stat(test_path("file"), &st), 0);     /* left alone */
	ck_assert_int_eq(st.st_size, 4);
	unlink(test_path("file"));

	/* A symlink to a FIFO is refused (O_NOFOLLOW), and stays. */
	ck_assert_int_eq(mkfifo(test_path("real"), 0600), 0);
	{
		char target[600];

		snprintf(target, sizeof(target), "%s", test_path("real"));
		ck_assert_int_eq(symlink(target, test_path("link")), 0);
	}
	ck_assert_int_eq(ipc_open(&ch, fifo_uri("link"), IPC_RECV, NULL), -ENOTSUP);
	ck_assert_int_eq(lstat(test_path("link"), &st), 0);
	unlink(test_path("link"));

	/* A FIFO owned by somebody else. */
	pw = getpwnam("nobody");
	if (geteuid() == 0 && pw) {
		ck_assert_int_eq(chown(test_path("real"), pw->pw_uid, pw->pw_gid), 0);
		ck_assert_int_eq(ipc_open(&ch, fifo_uri("real"), IPC_RECV, NULL), -EACCES);
		ck_assert_int_eq(ipc_open(&ch, fifo_uri("real"), IPC_RECV | IPC_CREATE, NULL),
		                 -EACCES);
		ck_assert_int_eq(access(test_path("real"), F_OK), 0);
	}
	unlink(test_path("real"));
}
END_TEST

START_TEST(fifo_writer_rendezvous_timeout)
{
	ipc_options o = IPC_OPTIONS_INIT;
	ipc_channel *tx, *rx;
	int64_t t0, dt;

	ck_assert_int_eq(mkfifo(test_path("r"), 0600), 0);
	o.open_timeout_ms = 150;
	t0 = now_ms();
	ck_assert_int_eq(ipc_open(&tx, fifo_uri("r"), IPC_SEND, &o), -ETIMEDOUT);
	dt = now_ms() - t0;
	/* Never early; the upper bound only tells a bounded wait from none. */
	ck_assert_msg(dt >= 140 && dt < 30000, "took %lld ms", (long long)dt);

	/* A reader that opens first waits for a writer instead of seeing EOF. */
	ck_assert_int_eq(ipc_open(&rx, fifo_uri("r"), IPC_RECV, NULL), 0);
	{
		char buf[8];

		ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 50), -ETIMEDOUT);
	}
	ck_assert_int_eq(ipc_open(&tx, fifo_uri("r"), IPC_SEND, &o), 0);
	ipc_close(tx);
	ipc_close(rx);
	unlink(test_path("r"));
}
END_TEST

static int
late_reader(void *p)
{
	ipc_channel *rx;
	char buf[16];
	ssize_t n;

	(void)p;
	/* Most likely the writer waits in its open by then (either order
	 * must work: a reader first is the plain case). */
	test_wait_asleep(getppid(), 10000);
	if (ipc_open(&rx, fifo_uri("late"), IPC_RECV, NULL) < 0)
		return 1;
	n = ipc_recv(rx, buf, sizeof(buf), 30000);
	ipc_close(rx);
	return n == 4 && memcmp(buf, "late", 4) == 0 ? 0 : 2;
}

START_TEST(fifo_writer_waits_for_reader)
{
	ipc_options o = IPC_OPTIONS_INIT;
	ipc_channel *tx;
	pid_t pid;

	ck_assert_int_eq(mkfifo(test_path("late"), 0600), 0);
	pid = test_fork(late_reader, NULL);
	o.open_timeout_ms = 60000;
	ck_assert_int_eq(ipc_open(&tx, fifo_uri("late"), IPC_SEND, &o), 0);
	ck_assert_int_eq(ipc_send(tx, "late", 4, 1000), 4);
	ck_assert_int_eq(test_wait(pid, 60000), 0);
	ipc_close(tx);
	unlink(test_path("late"));
}
END_TEST

/* Several writers: frames up to PIPE_BUF stay whole and in each writer's order. */
#define WRITERS 4

static int
writer(void *p)
{
	uint32_t id = (uint32_t)(uintptr_t)p, seq, n = (uint32_t)test_scale(5000);
	ipc_options o = IPC_OPTIONS_INIT;
	unsigned char buf[4000];
	ipc_channel *tx;

	o.open_timeout_ms = 60000;
	if (ipc_open(&tx, fifo_uri("multi"), IPC_SEND, &o) < 0)
		return 1;
	for (seq = 0; seq < n; seq++) {
		size_t len = 8 + (seq * 37) % (sizeof(buf) - 8 - 16);

		memcpy(buf, &id, 4);
		memcpy(buf + 4, &seq, 4);
		memset(buf + 8, (int)(id * 31 + seq), len - 8);
		if (ipc_send(tx, buf, len, 10000) != (ssize_t)len)
			return 2;
	}
	ipc_close(tx);
	return 0;
}

START_TEST(fifo_several_writers)
{
	uint32_t next[WRITERS] = { 0 }, n = (uint32_t)test_scale(5000), total = 0;
	unsigned char buf[4096];
	pid_t pids[WRITERS];
	ipc_channel *rx;
	ssize_t len;
	int i, hold;

	ck_assert_int_eq(ipc_open(&rx, fifo_uri("multi"), IPC_RECV | IPC_CREATE, NULL), 0);
	/* A silent writer of our own keeps the FIFO open until every message
	 * is in: otherwise a writer that finished before the next one opened
	 * would end the stream early (the scheduler's choice, not a bug). */
	hold = open(test_path("multi"), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	ck_assert_int_ge(hold, 0);
	for (i = 0; i < WRITERS; i++)
		pids[i] = test_fork(writer, (void *)(uintptr_t)i);
	while (total < n * WRITERS && (len = ipc_recv(rx, buf, sizeof(buf), 60000)) >= 0) {
		uint32_t id, seq;
		ssize_t k;

		ck_assert_int_ge(len, 8);
		memcpy(&id, buf, 4);
		memcpy(&seq, buf + 4, 4);
		ck_assert_uint_lt(id, WRITERS);
		ck_assert_uint_eq(seq, next[id]);
		ck_assert_int_eq(len, 8 + (seq * 37) % (4000 - 8 - 16));
		/* Check's asserts cost a system call each: test the bytes in C. */
		for (k = 8; k < len && buf[k] == (unsigned char)(id * 31 + seq); k++)
			;
		ck_assert_int_eq(k, len);
		next[id]++;
		total++;
	}
	ck_assert_uint_eq(total, n * WRITERS);
	close(hold);    /* the writers close theirs once all is sent: then the end */
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 60000), IPC_EOF);
	for (i = 0; i < WRITERS; i++)
		ck_assert_int_eq(test_wait(pids[i], 20000), 0);
	ipc_close(rx);
}
END_TEST

/* Plain programs as peers: `printf > fifo`. */
START_TEST(fifo_plain_shell_writer)
{
	ipc_channel *rx;
	char cmd[700], buf[64];
	ssize_t n, got = 0;

	snprintf(cmd, sizeof(cmd), "printf 'hello from sh' > %s", test_path("sh"));
	ck_assert_int_eq(ipc_open(&rx, fifo_uri("sh"), IPC_RECV | IPC_CREATE | IPC_RAW, NULL), 0);
	ck_assert_int_eq(system(cmd), 0);
	while ((n = ipc_recv(rx, buf + got, sizeof(buf) - (size_t)got, 2000)) > 0)
		got += n;
	ck_assert_int_eq(n, IPC_EOF);
	ck_assert_int_eq(got, 13);
	ck_assert_mem_eq(buf, "hello from sh", 13);
	ipc_close(rx);

	/* A framed reader refuses it instead of inventing messages. */
	ck_assert_int_eq(ipc_open(&rx, fifo_uri("sh"), IPC_RECV | IPC_CREATE, NULL), 0);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 2000), -EPROTO);
	ipc_close(rx);

	/* Shorter than a frame header: still -EPROTO, not a cut-off frame. */
	snprintf(cmd, sizeof(cmd), "printf 'hi\\n' > %s", test_path("sh"));
	ck_assert_int_eq(ipc_open(&rx, fifo_uri("sh"), IPC_RECV | IPC_CREATE, NULL), 0);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 2000), -EPROTO);
	ipc_close(rx);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("driver-fifo");
	TCase *tc = tcase_create("fifo");

	tcase_add_checked_fixture(tc, test_fixture_setup, test_fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fifo_create_mode_and_unlink);
	tcase_add_test(tc, fifo_refuses_other_objects);
	tcase_add_test(tc, fifo_writer_rendezvous_timeout);
	tcase_add_test(tc, fifo_writer_waits_for_reader);
	tcase_add_test(tc, fifo_several_writers);
	tcase_add_test(tc, fifo_plain_shell_writer);
	suite_add_tcase(s, tc);
	return test_run(s);
}
