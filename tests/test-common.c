#include "test-common.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#ifdef HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[256];
static int fds_before;

long
test_scale(long n)
{
	const char *s = getenv("IPC_STRESS");
	long k = s ? atol(s) : 1;

	n *= k > 0 ? k : 1;
	/* memcheck runs 20-50x slower: a tenth of the messages still takes
	 * every path, in a time CI can afford. */
	if (test_under_valgrind())
		n = n >= 10 ? n / 10 : 1;
	return n;
}

const char *
test_dir(void)
{
	if (!dir[0]) {
		const char *t = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/ipc-test-XXXXXX", t ? t : "/tmp");
		if (!mkdtemp(dir))
			ck_abort_msg("mkdtemp: %s", strerror(errno));
	}
	return dir;
}

const char *
test_path(const char *name)
{
	static char p[512];

	snprintf(p, sizeof(p), "%s/%s", test_dir(), name);
	return p;
}

int
test_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;   /* the DIR's own descriptor */
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

/* Shared-memory names of a process that had this pid before us (pid_max is
 * often 32768, and the suites run in parallel): seen at setup, they are not
 * ours, so teardown neither blames nor removes them. */
static char stale_shm[16][128];
static int nstale_shm;

static void
shm_prefix(char *out, size_t cap)
{
	snprintf(out, cap, "ipc-test-%ld-", (long)getpid());
}

static int
shm_was_stale(const char *name)
{
	int i;

	for (i = 0; i < nstale_shm; i++)
		if (strcmp(stale_shm[i], name) == 0)
			return 1;
	return 0;
}

void
test_fixture_setup(void)
{
	char prefix[64];
	struct dirent *e;
	DIR *d;

	dir[0] = 0;
	test_dir();
	nstale_shm = 0;
	shm_prefix(prefix, sizeof(prefix));
	if ((d = opendir("/dev/shm"))) {
		while ((e = readdir(d)) && nstale_shm < 16)
			if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 &&
			    strlen(e->d_name) < sizeof(stale_shm[0]))
				strcpy(stale_shm[nstale_shm++], e->d_name);
		closedir(d);
	}
	fds_before = test_fd_count();
}

void
test_fixture_teardown(void)
{
	int after = test_fd_count();
	DIR *d = opendir(dir);
	struct dirent *e;
	char left[256] = "";

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && !left[0])
			snprintf(left, sizeof(left), "%s", e->d_name);
	if (d)
		closedir(d);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	dir[0] = 0;
	/* Shared-memory names this test process made (test_pair's shm names
	 * carry its pid): any still there is a leak; sweep it either way. */
	if ((d = opendir("/dev/shm"))) {
		char prefix[64];

		shm_prefix(prefix, sizeof(prefix));
		while ((e = readdir(d)))
			if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 &&
			    !shm_was_stale(e->d_name)) {
				char name[300];

				if (!left[0])
					snprintf(left, sizeof(left), "/dev/shm/%.200s", e->d_name);
				snprintf(name, sizeof(name), "/%s", e->d_name);
				shm_unlink(name);
			}
		closedir(d);
	}
	ck_assert_msg(after == fds_before, "descriptor leak: %d open before, %d after",
	              fds_before, after);
	ck_assert_msg(!left[0], "test left %s behind", left);
}

int
test_two_way(const char *scheme)
{
	return strcmp(scheme, "pipe") && strcmp(scheme, "fifo") && strcmp(scheme, "fd");
}

/* Socket pairs: the listener's accept runs in a thread, because ipc_open
 * waits for the listener's hello, which ipc_accept sends. */
struct pair_accept {
	ipc_listener *l;
	ipc_channel  *ch;
	atomic_int    stop;
	int           rc;
};

static void *
pair_accept_main(void *arg)
{
	struct pair_accept *a = arg;
	int i;

	for (i = 0; i < 200 && !atomic_load(&a->stop); i++) {
		a->rc = ipc_accept(a->l, &a->ch, 50);
		if (a->rc != -ETIMEDOUT)
			break;
	}
	return NULL;
}

/* @p lopt for the listener, @p opt for the connector. */
static int
pair_socket2(const char *uri, ipc_channel **tx, ipc_channel **rx, int flags,
             const ipc_options *lopt, const ipc_options *opt)
{
	struct pair_accept a = { .rc = -ETIMEDOUT };
	char addr[256];
	pthread_t t;
	int rc;

	if ((rc = ipc_listen(&a.l, uri, flags & IPC_RAW, lopt)) < 0)
		return rc;
	if ((rc = ipc_listener_addr(a.l, addr, sizeof(addr))) < 0 ||
	    (rc = -pthread_create(&t, NULL, pair_accept_main, &a)) < 0) {
		ipc_listener_close(a.l);
		return rc;
	}
	rc = ipc_open(tx, addr, IPC_SEND | IPC_RECV | flags, opt);
	if (rc < 0)
		atomic_store(&a.stop, 1);
	pthread_join(t, NULL);
	ipc_listener_close(a.l);
	if (rc < 0 || a.rc < 0) {
		if (rc == 0)
			ipc_close(*tx);
		if (a.rc == 0)
			ipc_close(a.ch);
		*tx = NULL;
		return rc < 0 ? rc : a.rc;
	}
	*rx = a.ch;
	return 0;
}

static int
pair_socket(const char *uri, ipc_channel **tx, ipc_channel **rx, int flags,
            const ipc_options *opt)
{
	return pair_socket2(uri, tx, rx, flags, opt, opt);
}

/* ------------------------------------------------------------------ tls */

static char tls_dir[256];
static pid_t tls_maker;

static int
rm_tree(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

static void
tls_certs_remove(void)
{
	if (tls_dir[0] && getpid() == tls_maker)
		nftw(tls_dir, rm_tree, 8, FTW_DEPTH | FTW_PHYS);
}

const char *
test_tls_certs(void)
{
	const char *script = getenv("IPC_TEST_TLS_CERTS"), *t = getenv("TMPDIR");
	char cmd[1024];

	if (tls_dir[0])
		return tls_dir;
	if (!script)
		test_skip("IPC_TEST_TLS_CERTS does not name tests/tls-certs.sh");
	if (system("openssl version > /dev/null 2>&1") != 0)
		test_skip("no openssl command to make certificates with");
	snprintf(tls_dir, sizeof(tls_dir), "%s/ipc-tls-%ld-XXXXXX", t ? t : "/tmp",
	         (long)getpid());
	if (!mkdtemp(tls_dir)) {
		fprintf(stderr, "mkdtemp %s: %s\n", tls_dir, strerror(errno));
		exit(1);
	}
	tls_maker = getpid();
	atexit(tls_certs_remove);
	snprintf(cmd, sizeof(cmd), "sh '%s' '%s' %s", script, tls_dir,
	         getenv("IPC_TEST_TLS_SAN") ? getenv("IPC_TEST_TLS_SAN") : "");
	if (system(cmd) != 0) {
		fprintf(stderr, "%s failed\n", cmd);
		exit(1);
	}
	return tls_dir;
}

const char *
test_tls_file(const char *name)
{
	static char p[4][512];
	static unsigned k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", test_tls_certs(), name);
	return p[k];
}

void
test_tls_conf(struct ipc_tls *t, const char *name, unsigned flags)
{
	static char pem[8][512], key[8][512];
	static unsigned k;

	*t = (struct ipc_tls)IPC_TLS_INIT;
	t->ca_file = test_tls_file("ca.pem");
	t->flags = flags;
	if (name) {
		k = (k + 1) % 8;
		snprintf(pem[k], sizeof(pem[k]), "%s/%s.pem", test_tls_certs(), name);
		snprintf(key[k], sizeof(key[k]), "%s/%s.key", test_tls_certs(), name);
		t->cert_file = pem[k];
		t->key_file = key[k];
	}
}

/* Mutual TLS: the listener requires the client's certificate. */
static int
pair_tls(ipc_channel **tx, ipc_channel **rx, int flags, const ipc_options *opt)
{
	ipc_options lo = IPC_OPTIONS_INIT, co = IPC_OPTIONS_INIT;
	struct ipc_tls lt, ct;

	if (opt) {
		lo = *opt;
		co = *opt;
	}
	test_tls_conf(&lt, "server", IPC_TLS_REQUIRE_CLIENT_CERT);
	test_tls_conf(&ct, "client", 0);
	if (!lo.tls)
		lo.tls = &lt;
	if (!co.tls)
		co.tls = &ct;
	return pair_socket2("tls+tcp://127.0.0.1:0", tx, rx, flags, &lo, &co);
}

int
test_pair_opt(const char *scheme, ipc_channel **tx, ipc_channel **rx, int flags,
              const ipc_options *opt)
{
	char uri[600];
	int rc;

	*tx = *rx = NULL;
	if (strcmp(scheme, "pipe") == 0) {
		ipc_channel *e[2];

		if (opt)
			return -EINVAL;     /* ipc_pipe() takes no options */
		if ((rc = ipc_pipe(e, flags)) < 0)
			return rc;
		*rx = e[0];
		*tx = e[1];
		return 0;
	}
	if (strcmp(scheme, "fd") == 0) {
		int fds[2];

		if (pipe(fds) < 0)
			return -errno;
		snprintf(uri, sizeof(uri), "fd:%d", fds[0]);
		if ((rc = ipc_open(rx, uri, IPC_RECV | flags, opt)) < 0)
			return rc;
		snprintf(uri, sizeof(uri), "fd:%d", fds[1]);
		if ((rc = ipc_open(tx, uri, IPC_SEND | flags, opt)) < 0) {
			ipc_close(*rx);
			return rc;
		}
		return 0;
	}
	if (strcmp(scheme, "fifo") == 0) {
		snprintf(uri, sizeof(uri), "fifo:%s", test_path("pair.fifo"));
		if ((rc = ipc_open(rx, uri, IPC_RECV | IPC_CREATE | flags, opt)) < 0)
			return rc;
		if ((rc = ipc_open(tx, uri, IPC_SEND | flags, opt)) < 0) {
			ipc_close(*rx);
			return rc;
		}
		return 0;
	}
	if (strcmp(scheme, "tcp") == 0)
		return pair_socket("tcp://127.0.0.1:0", tx, rx, flags, opt);
	if (strcmp(scheme, "unix") == 0) {
		snprintf(uri, sizeof(uri), "unix:%s", test_path("pair.sock"));
		return pair_socket(uri, tx, rx, flags, opt);
	}
	if (strcmp(scheme, "shm") == 0) {
		static unsigned counter;
		char path[sizeof(uri) + 16];

		/* The creator receives, the opener sends; both are two-way. */
		/* A name a previous holder of our pid left is not ours: skip it. */
		do {
			snprintf(uri, sizeof(uri), "shm:/ipc-test-%ld-%u", (long)getpid(), ++counter);
			snprintf(path, sizeof(path), "/dev/shm%s", uri + 4);
		} while (access(path, F_OK) == 0);
		if ((rc = ipc_open(rx, uri, IPC_SEND | IPC_RECV | IPC_CREATE | flags, opt)) < 0)
			return rc;
		if ((rc = ipc_open(tx, uri, IPC_SEND | IPC_RECV | flags, opt)) < 0) {
			ipc_close(*rx);
			return rc;
		}
		return 0;
	}
	if (strcmp(scheme, "pair") == 0) {
		ipc_channel *e[2];

		if (opt)
			return -EINVAL;     /* ipc_pair() takes no options */
		if ((rc = ipc_pair(e, flags)) < 0)
			return rc;
		*rx = e[0];
		*tx = e[1];
		return 0;
	}
	if (strcmp(scheme, "seqpacket") == 0) {
		int sv[2];

		if (opt || flags)
			return -EINVAL;     /* the test driver takes neither */
		rc = ipc_register_driver(&test_seqpacket_driver);
		if (rc < 0 && rc != -EEXIST)
			return rc;
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			return -errno;
		snprintf(uri, sizeof(uri), "seqpacket:%d", sv[0]);
		if ((rc = ipc_open(rx, uri, IPC_SEND | IPC_RECV, NULL)) < 0) {
			close(sv[0]);
			close(sv[1]);
			return rc;
		}
		snprintf(uri, sizeof(uri), "seqpacket:%d", sv[1]);
		if ((rc = ipc_open(tx, uri, IPC_SEND | IPC_RECV, NULL)) < 0) {
			ipc_close(*rx);
			close(sv[1]);
			return rc;
		}
		return 0;
	}
	if (strcmp(scheme, "tls") == 0)
		return pair_tls(tx, rx, flags, opt);
	/* Later transports add their pair here. */
	return -EPROTONOSUPPORT;
}

int
test_pair(const char *scheme, ipc_channel **tx, ipc_channel **rx)
{
	return test_pair_opt(scheme, tx, rx, 0, NULL);
}

void
test_unpair(ipc_channel *tx, ipc_channel *rx)
{
	ipc_close(tx);
	ipc_close(rx);
}

pid_t
test_fork(int (*fn)(void *), void *arg)
{
	pid_t p;

	fflush(NULL);
	p = fork();
	ck_assert_int_ge(p, 0);
	if (p == 0) {
#if defined(HAVE_VALGRIND_H) && defined(VALGRIND_CLO_CHANGE)
		/* What the child holds at its _exit is the parent's (channels it
		 * inherited, the test's buffers): the parent's leak check covers
		 * it. Memory errors in the child still count. */
		VALGRIND_CLO_CHANGE("--leak-check=no");
#endif
		_exit(fn(arg));
	}
	return p;
}

int
test_wait(pid_t pid, int ms)
{
	struct timespec nap = { 0, 1000000 };
	int st, i;

	for (i = 0; i < ms; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0)
			return -1;
		nanosleep(&nap, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

pid_t
test_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* The state letter of /proc/<tid>/stat (after the command's last ')'). */
static char
proc_state(pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)tid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

int
test_wait_asleep(pid_t tid, int ms)
{
	struct timespec nap = { 0, 1000000 };
	int i;

	for (i = 0; i < ms; i++) {
		char s = proc_state(tid);

		if (s == 'S' || s == 'D')
			return 0;
		if (s == 0)
			return -1;      /* gone */
		nanosleep(&nap, NULL);
	}
	return -1;
}

void
test_skip(const char *why)
{
	printf("SKIP: %s\n", why);
	fflush(stdout);
	exit(77);
}

int
test_have_hooks(void)
{
#ifdef IPC_TEST_HOOKS
	return 1;
#else
	return 0;
#endif
}

void
test_need_hooks(const char *what)
{
	char why[256];

	if (test_have_hooks())
		return;
	snprintf(why, sizeof(why), "%s need the library's test hooks "
	         "(configure with -Dtest_hooks=true)", what);
	test_skip(why);
}

int
test_under_valgrind(void)
{
#ifdef HAVE_VALGRIND_H
	if (RUNNING_ON_VALGRIND)
		return 1;
#endif
	return getenv("IPC_TEST_VALGRIND") != NULL;
}

void
test_skip_under_valgrind(const char *why)
{
	char msg[300];

	if (!test_under_valgrind())
		return;
	snprintf(msg, sizeof(msg), "under valgrind: %s", why);
	test_skip(msg);
}

static int
run_suite(Suite *s, int force_fork)
{
	SRunner *sr = srunner_create(s);
	int failed;

	if (force_fork)
		srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int
test_run(Suite *s)
{
	return run_suite(s, 0);
}

int
test_run_forked(Suite *s)
{
	return run_suite(s, 1);
}

/* A transport of the tests' own, through exactly the public driver
 * interface: "seqpacket:N" wraps an inherited SOCK_SEQPACKET descriptor,
 * whose kernel keeps message boundaries for us. Each datagram carries one
 * tag byte before the message, so that a zero-length read is the end of the
 * stream and never an empty message. */
struct seqpacket_priv { int fd; size_t max; };

/* One datagram must fit the socket buffer (default 208 KiB): 128 KiB at most. */
#define SEQPACKET_MAX (128u << 10)

static int
seqpacket_open(ipc_channel *ch, const char *addr, int flags, const ipc_options *opt)
{
	struct seqpacket_priv *p = ipc_channel_priv(ch);

	if (flags & (IPC_RAW | IPC_CREATE | IPC_ANY_UID))
		return -EINVAL;
	p->fd = atoi(addr);
	/* 0: the caller left the default, which is ours to choose. */
	p->max = opt->max_msg && opt->max_msg < SEQPACKET_MAX ? opt->max_msg : SEQPACKET_MAX;
	return p->fd > 0 ? 0 : -EINVAL;
}

static ssize_t
seqpacket_send(ipc_channel *ch, const void *buf, size_t len, int timeout_ms)
{
	struct seqpacket_priv *p = ipc_channel_priv(ch);
	long long deadline = ipc_deadline(timeout_ms);
	struct iovec iov[2] = { { (void *)"m", 1 }, { (void *)buf, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t n;
	int rc;

	if (len > p->max)
		return -EMSGSIZE;
	while ((n = sendmsg(p->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if ((rc = ipc_wait_fd(ch, p->fd, POLLOUT, deadline)) < 0)
			return rc;
	}
	return n - 1;
}

/* Wait for the next datagram; @return its message length or a code. */
static ssize_t
seqpacket_next(ipc_channel *ch, long long deadline)
{
	struct seqpacket_priv *p = ipc_channel_priv(ch);
	char tag;
	ssize_t n;
	int rc;

	while ((n = recv(p->fd, &tag, 1, MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return errno == ECONNRESET ? IPC_EOF : -errno;
		if ((rc = ipc_wait_fd(ch, p->fd, POLLIN, deadline)) < 0)
			return rc;
	}
	if (n == 0)
		return IPC_EOF;
	return tag == 'm' ? n - 1 : -EPROTO;
}

static ssize_t
seqpacket_recv_size(ipc_channel *ch, int timeout_ms)
{
	return seqpacket_next(ch, ipc_deadline(timeout_ms));
}

static ssize_t
seqpacket_recv(ipc_channel *ch, void *buf, size_t cap, int timeout_ms)
{
	struct seqpacket_priv *p = ipc_channel_priv(ch);
	ssize_t n = seqpacket_next(ch, ipc_deadline(timeout_ms));
	char tag;
	struct iovec iov[2] = { { &tag, 1 }, { buf, cap } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };

	if (n < 0)
		return n;
	if ((size_t)n > cap)
		return -EMSGSIZE;
	n = recvmsg(p->fd, &m, MSG_DONTWAIT);
	return n < 0 ? -errno : n - 1;
}

static int
seqpacket_fd(ipc_channel *ch)
{
	return ((struct seqpacket_priv *)ipc_channel_priv(ch))->fd;
}

static void
seqpacket_close(ipc_channel *ch)
{
	struct seqpacket_priv *p = ipc_channel_priv(ch);

	if (p->fd > 0)
		close(p->fd);
}

const struct ipc_driver test_seqpacket_driver = {
	.abi = IPC_DRIVER_ABI, .size = sizeof(struct ipc_driver),
	.scheme = "seqpacket", .priv_size = sizeof(struct seqpacket_priv),
	.open = seqpacket_open, .send = seqpacket_send, .recv = seqpacket_recv,
	.recv_size = seqpacket_recv_size, .fd = seqpacket_fd, .close = seqpacket_close,
};

void
test_seqpacket_pair(const char *scheme, ipc_channel **a, ipc_channel **b)
{
	char uri[64];
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	snprintf(uri, sizeof(uri), "%s:%d", scheme, sv[0]);
	ck_assert_int_eq(ipc_open(a, uri, IPC_SEND | IPC_RECV, NULL), 0);
	snprintf(uri, sizeof(uri), "%s:%d", scheme, sv[1]);
	ck_assert_int_eq(ipc_open(b, uri, IPC_SEND | IPC_RECV, NULL), 0);
}

int
test_have_listener(const char *uri)
{
	ipc_listener *l;
	int rc = ipc_listen(&l, uri, 0, NULL);

	if (rc == 0)
		ipc_listener_close(l);
	return rc != -EPROTONOSUPPORT;
}
