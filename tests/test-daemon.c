/* The echo daemon example under load: 16 clients stream messages through it,
 * it reloads its configuration on SIGHUP, and SIGTERM arrives while every
 * client is mid-stream. Every message the daemon accepted must have been
 * answered (the clients count what they got back), and it must exit 0.
 *   test-daemon <path of the built echo-daemon>
 * The clients reach it over fd: channels (pipes it inherits), over tcp and
 * unix listeners, and over shm channels it attaches to, as far as those
 * drivers are built. */
#include "test-common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NCLIENTS 16
#define WINDOW   8          /* messages a client keeps in flight */
#define STARTED  20         /* replies a client gets before it says "started" */

static const char *daemon_path;

enum mode { MODE_FD, MODE_LISTEN, MODE_SHM };

/* How a client reaches the daemon: inherited pipes, a URI to connect to, or
 * a shared-memory channel the test created and the daemon attached to. */
struct client {
	int id;
	ipc_channel *ch;       /* shm mode: opened by the parent, used after fork */
	ipc_channel **others;  /* shm mode: everyone's, to close the others' copies */
	int c2d[2], d2c[2];    /* fd mode: client -> daemon, daemon -> client */
	char uri[300];         /* listener mode */
	int status_fd;         /* 's' after STARTED replies, 'p' at the first prefixed one */
	int result_fd;         /* one struct result at the end */
	int *all_fds;          /* fd mode: every pipe end, to close the others' */
	int nall;
};

struct result {
	int id;
	int ok;
	long got;
};

static void
msg_of(char *buf, size_t cap, int id, long i)
{
	static const char pad[] = "................................................"
	                          "................................................";
	snprintf(buf, cap, "client %d message %ld %.*s", id, i, (int)(i % 90), pad);
}

static int
client_main(void *arg)
{
	struct client *c = arg;
	char msg[256], want[300], buf[300];
	struct result r = { .id = c->id, .ok = 1 };
	long sent = 0, limit = test_scale(1000000);
	int send_ok = 1, prefixed = 0, rc, i;
	ipc_channel *ch;
	ssize_t n;

	if (c->ch) {
		for (i = 0; i < NCLIENTS; i++)
			if (c->others[i] != c->ch)
				ipc_close(c->others[i]);   /* a copy: descriptors only */
		ch = c->ch;
		rc = 0;
	} else if (c->uri[0]) {
		rc = ipc_open(&ch, c->uri, IPC_SEND | IPC_RECV, NULL);
	} else {
		for (i = 0; i < c->nall; i++)
			if (c->all_fds[i] != c->c2d[1] && c->all_fds[i] != c->d2c[0])
				close(c->all_fds[i]);
		snprintf(buf, sizeof(buf), "fd:%d,%d", c->d2c[0], c->c2d[1]);
		rc = ipc_open(&ch, buf, IPC_SEND | IPC_RECV, NULL);
	}
	if (rc < 0)
		return 10;
	for (;;) {
		while (send_ok && sent - r.got < WINDOW && sent < limit) {
			msg_of(msg, sizeof(msg), c->id, sent);
			if (ipc_send(ch, msg, strlen(msg), 10000) < 0)
				send_ok = 0;    /* the daemon stopped reading: collect what is left */
			else
				sent++;
		}
		n = ipc_recv(ch, buf, sizeof(buf) - 1, 10000);
		if (n == IPC_EOF || n == -ECONNRESET)
			break;
		if (n < 0) {
			r.ok = 0;     /* a timeout or a broken stream */
			break;
		}
		buf[n] = 0;
		msg_of(msg, sizeof(msg), c->id, r.got);
		/* After the reload every answer carries the new prefix. */
		if (!prefixed && strncmp(buf, "R:", 2) == 0) {
			prefixed = 1;
			if (write(c->status_fd, "p", 1) != 1)
				r.ok = 0;
		}
		snprintf(want, sizeof(want), "%s%s", prefixed ? "R:" : "", msg);
		if (strcmp(buf, want) != 0) {
			r.ok = 0;
			break;
		}
		if (++r.got == STARTED && write(c->status_fd, "s", 1) != 1)
			r.ok = 0;
		if (r.got > sent) {
			r.ok = 0;
			break;
		}
	}
	ipc_close(ch);
	if (write(c->result_fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		return 11;
	return r.ok ? 0 : 12;
}

/* Daemon output accumulated so far, and a bounded wait for a word in it. */
static char out[1 << 16];
static size_t outlen;

static int
wait_output(int fd, const char *word, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	while (!strstr(out, word)) {
		if (poll(&p, 1, ms) <= 0)
			return -1;
		n = read(fd, out + outlen, sizeof(out) - 1 - outlen);
		if (n <= 0)
			return -1;
		outlen += (size_t)n;
		out[outlen] = 0;
	}
	return 0;
}

/* Wait for @p count bytes equal to @p what on @p fd (others are kept count of
 * in @p other). */
static int
wait_status(int fd, char what, int count, int *other, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	while (count > 0) {
		if (poll(&p, 1, ms) <= 0 || read(fd, &c, 1) != 1)
			return -1;
		if (c == what)
			count--;
		else
			(*other)++;
	}
	return 0;
}

static void
write_config(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* Run the whole scenario; @p listen_uris only for MODE_LISTEN. */
static void
run_scenario(enum mode mode, const char *const *listen_uris, size_t nlisten)
{
	struct client cl[NCLIENTS];
	ipc_channel *shm[NCLIENTS] = { 0 };
	int status[2], result[2], outp[2], all[NCLIENTS * 4], nall = 0;
	int ps = 0, ss = 0, i, rc;
	char *argv[NCLIENTS + 4], *conf;
	char uris[NCLIENTS][96];
	unsigned long long acc = 0, ans = 0, gone = 0;
	long total = 0;
	pid_t daemon, kids[NCLIENTS];
	struct result r;
	const char *line;

	conf = strdup(test_path("echo.conf"));
	write_config(conf, "# test configuration\nprefix=\n");
	ck_assert_int_eq(pipe2(status, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(result, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(outp, O_CLOEXEC), 0);
	memset(cl, 0, sizeof(cl));
	argv[0] = (char *)daemon_path;
	argv[1] = conf;
	for (i = 0; i < NCLIENTS; i++) {
		cl[i].id = i;
		cl[i].status_fd = status[1];
		cl[i].result_fd = result[1];
		cl[i].all_fds = all;
		if (mode == MODE_LISTEN)
			continue;
		if (mode == MODE_SHM) {
			snprintf(uris[i], sizeof(uris[i]), "shm:/ipc-test-echo-%ld-%d",
			         (long)getpid(), i);
			ck_assert_int_eq(ipc_open(&shm[i], uris[i],
			                          IPC_SEND | IPC_RECV | IPC_CREATE, NULL), 0);
			cl[i].ch = shm[i];
			cl[i].others = shm;
			argv[2 + i] = uris[i];
			continue;
		}
		ck_assert_int_eq(pipe2(cl[i].c2d, O_CLOEXEC), 0);
		ck_assert_int_eq(pipe2(cl[i].d2c, O_CLOEXEC), 0);
		all[nall++] = cl[i].c2d[0];
		all[nall++] = cl[i].c2d[1];
		all[nall++] = cl[i].d2c[0];
		all[nall++] = cl[i].d2c[1];
		snprintf(uris[i], sizeof(uris[i]), "fd:%d,%d", cl[i].c2d[0], cl[i].d2c[1]);
		argv[2 + i] = uris[i];
	}
	for (i = 0; i < NCLIENTS; i++)
		cl[i].nall = nall;
	if (mode == MODE_LISTEN)
		for (i = 0; i < (int)nlisten; i++)
			argv[2 + i] = (char *)listen_uris[i];
	argv[2 + (mode == MODE_LISTEN ? (int)nlisten : NCLIENTS)] = NULL;

	fflush(NULL);
	daemon = fork();
	ck_assert_int_ge(daemon, 0);
	if (daemon == 0) {
		/* Only the daemon's own ends survive the exec. */
		for (i = 0; i < NCLIENTS && mode == MODE_FD; i++) {
			fcntl(cl[i].c2d[0], F_SETFD, 0);
			fcntl(cl[i].d2c[1], F_SETFD, 0);
		}
		dup2(outp[1], STDOUT_FILENO);
		execv(daemon_path, argv);
		_exit(127);
	}
	close(outp[1]);
	out[0] = 0;
	outlen = 0;
	ck_assert_msg(wait_output(outp[0], "ready\n", 10000) == 0, "daemon said: %s", out);

	for (i = 0; i < NCLIENTS; i++) {
		if (mode == MODE_LISTEN) {
			/* Clients spread over every listener, in the order printed. */
			int k = i % (int)nlisten, j;

			line = out;
			for (j = 0; j <= k; j++) {
				line = strstr(line, "listening ");
				ck_assert_ptr_nonnull(line);
				line += strlen("listening ");
			}
			snprintf(cl[i].uri, sizeof(cl[i].uri), "%.*s", (int)strcspn(line, "\n"), line);
		}
		kids[i] = test_fork(client_main, &cl[i]);
	}
	for (i = 0; i < nall; i++)
		close(all[i]);
	close(status[1]);
	close(result[1]);

	/* Everyone mid-stream, then a reload every client sees, then SIGTERM. */
	ck_assert_msg(wait_status(status[0], 's', NCLIENTS, &ps, 20000) == 0,
	              "clients did not all start");
	/* A broken file is refused and the old configuration kept. */
	write_config(conf, "prefix=X:\nbogus=1\n");
	ck_assert_int_eq(kill(daemon, SIGHUP), 0);
	ck_assert_msg(wait_output(outp[0], "reload failed: ", 10000) == 0, "daemon said: %s", out);
	ck_assert_ptr_null(strstr(out, "reloaded"));
	write_config(conf, "prefix=R:\n");
	ck_assert_int_eq(kill(daemon, SIGHUP), 0);
	ck_assert_msg(wait_output(outp[0], "reloaded\n", 10000) == 0, "daemon said: %s", out);
	ck_assert_msg(wait_status(status[0], 'p', NCLIENTS - ps, &ss, 20000) == 0,
	              "not every client saw the new prefix");
	ck_assert_int_eq(kill(daemon, SIGTERM), 0);
	rc = test_wait(daemon, 20000);
	wait_output(outp[0], "gone", 1000);
	ck_assert_msg(rc == 0, "daemon exited %d; said: %s", rc, out);
	line = strstr(out, "accepted ");
	ck_assert_msg(line && sscanf(line, "accepted %llu answered %llu gone %llu",
	                             &acc, &ans, &gone) == 3, "daemon said: %s", out);

	for (i = 0; i < NCLIENTS; i++)
		ck_assert_int_eq(test_wait(kids[i], 20000), 0);
	for (i = 0; i < NCLIENTS; i++) {
		ck_assert_int_eq(read(result[0], &r, sizeof(r)), (ssize_t)sizeof(r));
		ck_assert(r.ok);
		ck_assert_int_ge(r.got, STARTED);
		total += r.got;
	}
	printf("daemon: accepted %llu answered %llu gone %llu; clients got %ld\n",
	       acc, ans, gone, total);
	ck_assert_int_eq(gone, 0);
	ck_assert_int_eq(acc, ans);
	ck_assert_int_eq((long long)ans, total);   /* every answer reached its client */
	close(status[0]);
	close(result[0]);
	close(outp[0]);
	for (i = 0; i < NCLIENTS; i++)
		ipc_close(shm[i]);          /* the creator removes the objects */
	unlink(conf);
	free(conf);
}

START_TEST(daemon_fd_clients)
{
	run_scenario(MODE_FD, NULL, 0);
}
END_TEST

START_TEST(daemon_shm_clients)
{
	run_scenario(MODE_SHM, NULL, 0);
}
END_TEST

static char net_uris[2][300];
static const char *net_list[2];
static size_t net_n;

START_TEST(daemon_net_clients)
{
	size_t i;

	for (i = 0; i < net_n; i++)
		if (strncmp(net_list[i], "unix:", 5) == 0) {
			snprintf(net_uris[i], sizeof(net_uris[i]), "unix:%s", test_path("echo.sock"));
			net_list[i] = net_uris[i];
		}
	run_scenario(MODE_LISTEN, net_list, net_n);
}
END_TEST

/* Is the driver for @p scheme registered? A bogus address answers anything
 * but -EPROTONOSUPPORT when it is. */
static int
have_scheme(const char *scheme)
{
	ipc_options o = IPC_OPTIONS_INIT;
	ipc_channel *c;
	char uri[64];
	int rc;

	o.open_timeout_ms = 1;
	snprintf(uri, sizeof(uri), "%s:", scheme);
	rc = ipc_open(&c, uri, IPC_SEND, &o);
	if (rc == 0)
		ipc_close(c);
	return rc != -EPROTONOSUPPORT;
}

int
main(int argc, char **argv)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("echo-daemon");

	if (argc != 2) {
		fprintf(stderr, "usage: %s ECHO-DAEMON\n", argv[0]);
		return 2;
	}
	daemon_path = argv[1];
	if (access(daemon_path, X_OK) != 0)
		test_skip("echo-daemon not built");
	tcase_add_checked_fixture(tc, test_fixture_setup, test_fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, daemon_fd_clients);
	if (test_have_listener("tcp://127.0.0.1:0"))
		net_list[net_n++] = "tcp://127.0.0.1:0";
	if (test_have_listener("unix:@ipc-test-probe"))
		net_list[net_n++] = "unix:";   /* a path in the test's directory */
	if (net_n)
		tcase_add_test(tc, daemon_net_clients);
	else
		printf("note: no tcp or unix driver built; no network clients\n");
	if (have_scheme("shm"))
		tcase_add_test(tc, daemon_shm_clients);
	else
		printf("note: no shm driver built; no shared-memory clients\n");
	suite_add_tcase(s, tc);
	return test_run(s);
}
