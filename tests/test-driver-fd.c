/* fd: transport quirks: inherited descriptors whose flags we must not touch. */
#include "test-common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

START_TEST(fd_shared_description_untouched)
{
	ipc_channel *rx, *tx;
	int fds[2], keep_r, keep_w;
	char uri[32], buf[8];

	ck_assert_int_eq(pipe(fds), 0);
	keep_r = dup(fds[0]);   /* shares the file description, like a parent shell */
	keep_w = dup(fds[1]);
	snprintf(uri, sizeof(uri), "fd:%d", fds[0]);
	ck_assert_int_eq(ipc_open(&rx, uri, IPC_RECV, NULL), 0);
	snprintf(uri, sizeof(uri), "fd:%d", fds[1]);
	ck_assert_int_eq(ipc_open(&tx, uri, IPC_SEND, NULL), 0);
	ck_assert_int_eq(fcntl(keep_r, F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(fcntl(keep_w, F_GETFL) & O_NONBLOCK, 0);
	/* The channel keeps the descriptor number and makes it close-on-exec. */
	ck_assert_int_eq(ipc_fd(rx), fds[0]);
	ck_assert_int_ne(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, 0);
	/* Timeouts still work although the shared description blocks. */
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 30), -ETIMEDOUT);
	ck_assert_int_eq(ipc_send(tx, "abc", 3, 1000), 3);
	ck_assert_int_eq(ipc_recv(rx, buf, sizeof(buf), 1000), 3);
	ipc_close(rx);
	ipc_close(tx);
	ck_assert_int_eq(fcntl(fds[0], F_GETFD), -1);   /* the channel owned it */
	close(keep_r);
	close(keep_w);
}
END_TEST

static char self_exe[4096];

/* The seed's pattern: dup2() the pipe onto stdin, exec, read "fd:0". */
START_TEST(fd_stdin_after_dup2_exec)
{
	ipc_channel *tx;
	int fds[2], st;
	char uri[32], out[64];
	pid_t pid;
	FILE *f;

	ck_assert_int_eq(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[0], STDIN_FILENO);
		close(fds[0]);
		close(fds[1]);
		dup2(open(test_path("child.out"), O_WRONLY | O_CREAT, 0600), STDOUT_FILENO);
		/* The child re-executes this test binary in its "reader" role
		 * (by its real path: under valgrind /proc/self/exe is valgrind). */
		execl(self_exe, "test-driver-fd", "--stdin-reader", (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	snprintf(uri, sizeof(uri), "fd:%d", fds[1]);
	ck_assert_int_eq(ipc_open(&tx, uri, IPC_SEND, NULL), 0);
	ck_assert_int_eq(ipc_send(tx, "first", 5, 1000), 5);
	ck_assert_int_eq(ipc_send(tx, "", 0, 1000), 0);
	ck_assert_int_eq(ipc_send(tx, "third", 5, 1000), 5);
	ipc_close(tx);
	st = test_wait(pid, 60000);
	ck_assert_int_eq(st, 0);
	f = fopen(test_path("child.out"), "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(out, sizeof(out), f));
	fclose(f);
	unlink(test_path("child.out"));
	ck_assert_str_eq(out, "first||third|EOF\n");
}
END_TEST

static int
stdin_reader(void)
{
	ipc_channel *rx;
	char buf[64];
	ssize_t n;

	if (ipc_open(&rx, "fd:0", IPC_RECV, NULL) < 0)
		return 1;
	while ((n = ipc_recv(rx, buf, sizeof(buf), 30000)) >= 0)
		printf("%.*s|", (int)n, buf);
	printf("%s\n", n == IPC_EOF ? "EOF" : ipc_strerror((int)n));
	ipc_close(rx);
	return n == IPC_EOF ? 0 : 2;
}

START_TEST(fd_two_descriptors_and_socket)
{
	ipc_channel *a, *b;
	int p1[2], p2[2], sv[2];
	char uri[32], buf[8];

	ck_assert_int_eq(pipe(p1), 0);
	ck_assert_int_eq(pipe(p2), 0);
	snprintf(uri, sizeof(uri), "fd:%d,%d", p1[0], p2[1]);
	ck_assert_int_eq(ipc_open(&a, uri, IPC_RECV | IPC_SEND, NULL), 0);
	snprintf(uri, sizeof(uri), "fd:%d,%d", p2[0], p1[1]);
	ck_assert_int_eq(ipc_open(&b, uri, IPC_RECV | IPC_SEND, NULL), 0);
	ck_assert_int_eq(ipc_send(a, "ab", 2, 1000), 2);
	ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), 1000), 2);
	ck_assert_int_eq(ipc_send(b, "ba", 2, 1000), 2);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 1000), 2);
	ipc_close(a);
	ipc_close(b);

	/* One socket carries both directions. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	snprintf(uri, sizeof(uri), "fd:%d", sv[0]);
	ck_assert_int_eq(ipc_open(&a, uri, IPC_RECV | IPC_SEND, NULL), 0);
	snprintf(uri, sizeof(uri), "fd:%d", sv[1]);
	ck_assert_int_eq(ipc_open(&b, uri, IPC_RECV | IPC_SEND, NULL), 0);
	ck_assert_int_eq(ipc_send(a, "xy", 2, 1000), 2);
	ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), 1000), 2);
	ck_assert_int_eq(ipc_send(b, "yx", 2, 1000), 2);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 1000), 2);
	ipc_close(a);
	ipc_close(b);
}
END_TEST

START_TEST(fd_regular_file_raw)
{
	ipc_channel *rx;
	char uri[32], buf[64];
	int fd = open(test_path("data"), O_RDWR | O_CREAT, 0600);
	ssize_t n, got = 0;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "line one\nline two\n", 18), 18);
	lseek(fd, 0, SEEK_SET);
	snprintf(uri, sizeof(uri), "fd:%d", fd);
	ck_assert_int_eq(ipc_open(&rx, uri, IPC_RECV | IPC_RAW, NULL), 0);
	/* A file never blocks: timeout 0 still reads it. */
	while ((n = ipc_recv(rx, buf + got, sizeof(buf) - (size_t)got, 0)) > 0)
		got += n;
	ck_assert_int_eq(n, IPC_EOF);
	ck_assert_int_eq(got, 18);
	ipc_close(rx);
	unlink(test_path("data"));
}
END_TEST

START_TEST(fd_one_pipe_both_ways_refused)
{
	ipc_channel *ch;
	int fds[2];
	char uri[32];

	ck_assert_int_eq(pipe(fds), 0);
	snprintf(uri, sizeof(uri), "fd:%d", fds[0]);
	ck_assert_int_eq(ipc_open(&ch, uri, IPC_RECV | IPC_SEND, NULL), -EINVAL);
	/* Refused: the caller still owns its descriptors. */
	ck_assert_int_ne(fcntl(fds[0], F_GETFD), -1);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

/* A committed message that cannot be finished is reported by ipc_close(). */
START_TEST(fd_close_reports_cut_message)
{
	static unsigned char big[65536];
	ipc_channel *tx, *rx;
	int fds[2];
	char uri[32];

	ck_assert_int_eq(pipe(fds), 0);     /* 64 KiB of room: the frame is 4 more */
	snprintf(uri, sizeof(uri), "fd:%d", fds[0]);
	ck_assert_int_eq(ipc_open(&rx, uri, IPC_RECV, NULL), 0);
	snprintf(uri, sizeof(uri), "fd:%d", fds[1]);
	ck_assert_int_eq(ipc_open(&tx, uri, IPC_SEND, NULL), 0);
	ck_assert_int_eq(ipc_send(tx, big, sizeof(big), 0), sizeof(big));  /* committed */
	ck_assert_int_eq(ipc_send(tx, big, 1, 0), -EAGAIN);                 /* tail first */
	ck_assert_int_eq(ipc_close(tx), -ETIMEDOUT);    /* nobody reads for the 1 s */
	ck_assert_int_eq(ipc_recv(rx, big, sizeof(big), 1000), -ECONNRESET);
	ck_assert_int_eq(ipc_recv(rx, big, sizeof(big), 1000), IPC_EOF);
	ipc_close(rx);
}
END_TEST

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The header is in, the body is not: ipc_recv_alloc waits for the body within
 * its budget (it once spun, and with timeout 0 never returned). */
START_TEST(fd_recv_alloc_partial_message)
{
	static const unsigned char head[] = { 0x89, 'I', 'P', 'C', 1, 0, 0, 0,
	                                      0, 0, 0x10, 0, 0, 0, 0, 100 };
	unsigned char body[100];
	ipc_channel *rx;
	void *p = NULL;
	int fds[2];
	char uri[32];
	int64_t t0;

	memset(body, 'x', sizeof(body));
	ck_assert_int_eq(pipe(fds), 0);
	snprintf(uri, sizeof(uri), "fd:%d", fds[0]);
	ck_assert_int_eq(ipc_open(&rx, uri, IPC_RECV, NULL), 0);
	ck_assert_int_eq(write(fds[1], head, sizeof(head)), sizeof(head));
	ck_assert_int_eq(write(fds[1], body, 10), 10);
	/* The bug this guards against never returned: any bound tells. */
	t0 = now_ms();
	ck_assert_int_eq(ipc_recv_alloc(rx, &p, 0), -EAGAIN);
	ck_assert_int_eq(ipc_recv_alloc(rx, &p, 100), -ETIMEDOUT);
	ck_assert_int_lt(now_ms() - t0, 30000);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(write(fds[1], body + 10, 90), 90);
	ck_assert_int_eq(ipc_recv_alloc(rx, &p, 1000), 100);
	ck_assert_mem_eq(p, body, 100);
	ipc_free(p);
	ipc_close(rx);
	close(fds[1]);
}
END_TEST

/* A terminal nobody reads: sends keep their timeout, and the shared
 * description's flags stay as they were. */
START_TEST(fd_terminal_send_timeout)
{
	static char big[1 << 20];
	ipc_channel *tx;
	int master, slave, keep;
	char uri[32];
	ssize_t n;
	int i;

	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
		test_skip("no pseudo-terminals here");
	slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	ck_assert_int_ge(slave, 0);
	keep = dup(slave);
	snprintf(uri, sizeof(uri), "fd:%d", slave);
	ck_assert_int_eq(ipc_open(&tx, uri, IPC_SEND | IPC_RAW, NULL), 0);
	/* The terminal's buffer is far smaller than 100 MiB: a send that
	 * ignored its timeout would hang here (and Check's timeout fail it). */
	i = 0;
	do
		n = ipc_send(tx, big, sizeof(big), 200);
	while (n > 0 && ++i < 100);
	ck_assert_int_eq(n, -ETIMEDOUT);
	ck_assert_int_eq(fcntl(keep, F_GETFL) & O_NONBLOCK, 0);
	ipc_close(tx);
	close(keep);
	close(master);
}
END_TEST

int
main(int argc, char **argv)
{
	Suite *s;
	TCase *tc;

	if (argc == 2 && strcmp(argv[1], "--stdin-reader") == 0)
		return stdin_reader();
	if (readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1) <= 0)
		test_skip("no /proc/self/exe to re-execute");
	s = suite_create("driver-fd");
	tc = tcase_create("fd");
	tcase_add_checked_fixture(tc, test_fixture_setup, test_fixture_teardown);
	tcase_set_timeout(tc, 120);     /* not Check's 4 s: loaded machines, valgrind */
	tcase_add_test(tc, fd_shared_description_untouched);
	tcase_add_test(tc, fd_stdin_after_dup2_exec);
	tcase_add_test(tc, fd_two_descriptors_and_socket);
	tcase_add_test(tc, fd_regular_file_raw);
	tcase_add_test(tc, fd_one_pipe_both_ways_refused);
	tcase_add_test(tc, fd_close_reports_cut_message);
	tcase_add_test(tc, fd_recv_alloc_partial_message);
	tcase_add_test(tc, fd_terminal_send_timeout);
	suite_add_tcase(s, tc);
	return test_run(s);
}
