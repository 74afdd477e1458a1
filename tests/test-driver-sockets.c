/* tcp and unix: what the conformance suite cannot say about listeners.
 *   test-driver-sockets tcp|unix          the common cases plus the scheme's own
 *   test-driver-sockets tcp ipv6          IPv6 loopback (skipped without ::1)
 *   test-driver-sockets tcp netns         two network namespaces joined by veth
 *   test-driver-sockets unix uid          a peer of another uid (needs root)
 * Every wait is bounded; clients really fork. */
#include "test-common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *scheme;
static char uri[600];           /* the listener's bound address, for children */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Where a fresh listener for this scheme binds. */
static const char *
listen_uri(const char *name)
{
	static char u[600];

	if (strcmp(scheme, "tcp") == 0)
		snprintf(u, sizeof(u), "tcp://127.0.0.1:0");
	else
		snprintf(u, sizeof(u), "unix:%s", test_path(name));
	return u;
}

static ipc_listener *
make_listener(int flags)
{
	ipc_listener *l;

	ck_assert_int_eq(ipc_listen(&l, listen_uri("s.sock"), flags, NULL), 0);
	ck_assert_int_gt(ipc_listener_addr(l, uri, sizeof(uri)), 0);
	return l;
}

/* "tls" (netns only): the client's certificate, for mutual TLS. */
static struct ipc_tls client_tls;

static ipc_options
opts(int open_timeout_ms)
{
	ipc_options o = IPC_OPTIONS_INIT;

	o.open_timeout_ms = open_timeout_ms;
	if (strcmp(scheme, "tls") == 0)
		o.tls = &client_tls;
	return o;
}

/* Message @p seq of client @p id: its size and bytes depend on both. */
static size_t
msg_len(int id, uint32_t seq)
{
	if (seq % 500 == 499)
		return 70000;       /* larger than the read-ahead buffer */
	return (seq * 131u + (unsigned)id * 17u) % 1500u;
}

static void
msg_fill(unsigned char *p, size_t len, int id, uint32_t seq)
{
	uint32_t x = seq * 2654435761u + (uint32_t)id * 40503u + (uint32_t)len;
	size_t i;

	for (i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (unsigned char)(x >> 16);
	}
}

/* A raw socket connected to the listener at uri (no libipc). */
static int
raw_connect(void)
{
	struct timeval tv = { 5, 0 };
	int fd;

	if (strncmp(uri, "tcp://", 6) == 0) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		const char *colon = strrchr(uri, ':');

		sa.sin_port = htons((uint16_t)atoi(colon + 1));
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	} else {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		ck_assert_uint_lt(strlen(uri + 5), sizeof(sa.sun_path));
		memcpy(sa.sun_path, uri + 5, strlen(uri + 5));
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* After the listener dropped @p fd: read its hello (if any), then end of
 * file or a reset, never a timeout. */
static void
assert_dropped(int fd)
{
	unsigned char b[64];
	ssize_t n;
	int i;

	for (i = 0; i < 8; i++) {
		n = recv(fd, b, sizeof(b), 0);
		if (n <= 0)
			break;
	}
	ck_assert_msg(n == 0 || (n < 0 && errno == ECONNRESET),
	              "peer not dropped: recv %zd (%s)", n, n < 0 ? strerror(errno) : "");
	close(fd);
}

static int plain_socket_file(const char *path, int do_listen);

/* ------------------------------------------------------------ echo */

struct echo_stats {
	int eof;            /* clients that finished cleanly */
	int dropped;        /* clients dropped on an error */
	int last_err;
	int served;         /* messages echoed */
};

/* Serve echo to @p expect clients in this process with poll(2) over the
 * listener and every channel, following the edge rule: drain until -EAGAIN. */
static void
echo_serve(ipc_listener *l, int expect, int ms, struct echo_stats *st)
{
	static unsigned char buf[100000];
	ipc_channel *ch[128];
	struct pollfd p[129];
	int64_t end = now_ms() + ms;
	int n = 0, i, rc, polled;
	ipc_channel *c;
	ssize_t r;

	memset(st, 0, sizeof(*st));
	while (st->eof + st->dropped < expect && now_ms() < end) {
		p[0] = (struct pollfd){ .fd = ipc_listener_fd(l), .events = POLLIN };
		for (i = 0; i < n; i++)
			p[i + 1] = (struct pollfd){ .fd = ipc_fd(ch[i]), .events = POLLIN };
		rc = poll(p, (nfds_t)n + 1, 100);
		ck_assert_int_ge(rc, 0);
		polled = n;     /* channels accepted below have no revents yet */
		if (p[0].revents)
			while (n < 128 && ipc_accept(l, &c, 0) == 0)
				ch[n++] = c;
		for (i = polled - 1; i >= 0; i--) {
			if (!p[i + 1].revents)
				continue;
			for (;;) {
				r = ipc_recv(ch[i], buf, sizeof(buf), 0);
				if (r >= 0) {
					ck_assert_int_eq(ipc_send(ch[i], buf, (size_t)r, 10000), r);
					st->served++;
					continue;
				}
				if (r == -EAGAIN)
					break;
				if (r == IPC_EOF)
					st->eof++;
				else {
					st->dropped++;
					st->last_err = (int)r;
				}
				ipc_close(ch[i]);
				ch[i] = ch[--n];
				break;
			}
		}
	}
	for (i = 0; i < n; i++)
		ipc_close(ch[i]);
}

struct client_arg {
	int      id;
	uint32_t count;
};

static int
echo_client(void *p)
{
	struct client_arg *a = p;
	static unsigned char out[70000], in[70000];
	ipc_options o = opts(60000);    /* the server starts after all forks */
	ipc_channel *c;
	uint32_t seq;
	ssize_t n;
	size_t len;

	if (ipc_open(&c, uri, IPC_SEND | IPC_RECV, &o) < 0)
		return 1;
	for (seq = 0; seq < a->count; seq++) {
		len = msg_len(a->id, seq);
		msg_fill(out, len, a->id, seq);
		if (ipc_send(c, out, len, 30000) != (ssize_t)len)
			return 2;
		n = ipc_recv(c, in, sizeof(in), 30000);
		if (n != (ssize_t)len)
			return 3;
		if (memcmp(in, out, len) != 0)
			return 4;
	}
	ipc_close(c);
	return 0;
}

START_TEST(sock_echo_64_clients)
{
	static struct client_arg args[64];
	struct echo_stats st;
	ipc_listener *l = make_listener(0);
	pid_t pids[64];
	uint32_t count = (uint32_t)test_scale(2000);
	int i;

	for (i = 0; i < 64; i++) {
		args[i] = (struct client_arg){ i, count };
		pids[i] = test_fork(echo_client, &args[i]);
	}
	echo_serve(l, 64, 300000, &st);
	for (i = 0; i < 64; i++)
		ck_assert_int_eq(test_wait(pids[i], 10000), 0);
	ck_assert_int_eq(st.eof, 64);
	ck_assert_int_eq(st.dropped, 0);
	ck_assert_int_eq(st.served, 64 * (int)count);
	ipc_listener_close(l);
}
END_TEST

/* -------------------------------------------------- dying peers */

static int
echo_one(void *p)
{
	static unsigned char buf[1000];
	ipc_listener *l = p;
	ipc_channel *c;
	ssize_t n;

	if (ipc_accept(l, &c, 10000) < 0)
		return 1;
	for (;;) {
		n = ipc_recv(c, buf, sizeof(buf), 20000);
		if (n < 0)
			return 2;
		if (n == 7 && memcmp(buf, "kill-me", 7) == 0) {
			/* Most likely the client waits in its recv by then (or
			 * it finds the end at once: the same verdict). */
			test_wait_asleep(getppid(), 10000);
			raise(SIGKILL);
		}
		if (ipc_send(c, buf, (size_t)n, 20000) != n)
			return 3;
	}
}

START_TEST(sock_server_killed)
{
	ipc_listener *l = make_listener(0);
	ipc_options o = opts(5000);
	ipc_channel *c;
	char buf[64];
	ssize_t n;
	pid_t pid;
	int i;

	pid = test_fork(echo_one, l);
	ck_assert_int_eq(ipc_open(&c, uri, IPC_SEND | IPC_RECV, &o), 0);
	ipc_listener_close(l);
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(ipc_send(c, "ping", 4, 5000), 4);
		ck_assert_int_eq(ipc_recv(c, buf, sizeof(buf), 5000), 4);
	}
	ck_assert_int_eq(ipc_send(c, "kill-me", 7, 5000), 7);
	/* The end, not the timeout: no clock needed to tell them apart. */
	n = ipc_recv(c, buf, sizeof(buf), 60000);
	ck_assert_msg(n == IPC_EOF || n == -ECONNRESET, "recv after kill: %zd", n);
	ck_assert_int_eq(test_wait(pid, 30000), 128 + SIGKILL);
	/* Sending to a dead server fails cleanly, without SIGPIPE. */
	n = ipc_send(c, "x", 1, 1000);
	n = n == 1 ? ipc_send(c, "x", 1, 1000) : n;
	ck_assert_msg(n == 1 || n == -EPIPE || n == -ECONNRESET, "send after kill: %zd", n);
	ipc_close(c);
}
END_TEST

static int
crash_client(void *p)
{
	static unsigned char big[100000];
	ipc_options o = opts(10000);
	ipc_channel *c;

	(void)p;
	setenv("IPC_CRASH_AT", "send-half-frame", 1);   /* before the first send */
	if (ipc_open(&c, uri, IPC_SEND | IPC_RECV, &o) < 0)
		return 1;
	ipc_send(c, big, sizeof(big), 10000);
	return 2;       /* not reached: the crash point _exit(99)s */
}

START_TEST(sock_client_killed_mid_frame)
{
	static struct client_arg args[3];
	ipc_listener *l = make_listener(0);
	struct echo_stats st;
	pid_t good[3], bad;
	int i;

	bad = test_fork(crash_client, NULL);
	for (i = 0; i < 3; i++) {
		args[i] = (struct client_arg){ i, (uint32_t)test_scale(300) };
		good[i] = test_fork(echo_client, &args[i]);
	}
	echo_serve(l, 4, 60000, &st);
	ck_assert_int_eq(test_wait(bad, 5000), 99);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(test_wait(good[i], 10000), 0);
	ck_assert_int_eq(st.eof, 3);
	ck_assert_int_eq(st.dropped, 1);
	ck_assert_int_eq(st.last_err, -ECONNRESET);
	ipc_listener_close(l);
}
END_TEST

/* ------------------------------------------- peers that are not libipc */

static int
one_roundtrip(void *p)
{
	ipc_options o = opts(30000);
	ipc_channel *c;
	char buf[16];

	(void)p;
	if (ipc_open(&c, uri, IPC_SEND | IPC_RECV, &o) < 0)
		return 1;
	if (ipc_send(c, "alive", 6, 5000) != 6)
		return 2;
	if (ipc_recv(c, buf, sizeof(buf), 5000) != 6 || strcmp(buf, "alive") != 0)
		return 3;
	ipc_close(c);
	return 0;
}

/* The listener still serves a real client. */
static void
assert_serving(ipc_listener *l)
{
	pid_t pid = test_fork(one_roundtrip, NULL);
	ipc_channel *c;
	char buf[16];

	ck_assert_int_eq(ipc_accept(l, &c, 5000), 0);
	ck_assert_int_eq(ipc_recv(c, buf, sizeof(buf), 5000), 6);
	ck_assert_int_eq(ipc_send(c, buf, 6, 5000), 6);
	ck_assert_int_eq(test_wait(pid, 5000), 0);
	ipc_close(c);
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static size_t
hello(unsigned char *h, unsigned version, uint32_t max)
{
	h[0] = 0x89; h[1] = 'I'; h[2] = 'P'; h[3] = 'C';
	h[4] = (unsigned char)version;
	h[5] = h[6] = h[7] = 0;
	put32(h + 8, max);
	return 12;
}

START_TEST(sock_garbage_refused)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	ipc_listener *l = make_listener(0);
	unsigned char b[64];
	ipc_channel *c;
	void *big;
	size_t i;
	int fd;

	/* An HTTP request, random bytes, bad hellos: never become a channel. */
	for (i = 0; i < 4; i++) {
		size_t n;

		fd = raw_connect();
		if (i == 0) {
			n = sizeof(http) - 1;
			memcpy(b, http, n);
		} else if (i == 1) {
			for (n = 0; n < sizeof(b); n++)
				b[n] = (unsigned char)(n * 77 + 0x17);
		} else if (i == 2) {
			n = hello(b, 1, 0xffffffffu);    /* oversized max_msg */
		} else {
			n = hello(b, 9, 1024);           /* unknown version */
		}
		ck_assert_int_eq(write(fd, b, n), (ssize_t)n);
		ck_assert_int_eq(ipc_accept(l, &c, 300), -ETIMEDOUT);
		assert_dropped(fd);
		assert_serving(l);
	}

	/* A good hello, then a 4 GiB frame: a channel that answers -EPROTO. */
	fd = raw_connect();
	hello(b, 1, 1024);
	put32(b + 12, 0xffffffffu);
	ck_assert_int_eq(write(fd, b, 16), 16);
	ck_assert_int_eq(ipc_accept(l, &c, 5000), 0);
	ck_assert_int_eq(ipc_recv(c, b, sizeof(b), 5000), -EPROTO);
	ipc_close(c);
	close(fd);

	/* A 2 GiB frame (under the wire limit, over max_msg): refused before
	 * anything is allocated. */
	fd = raw_connect();
	hello(b, 1, 1024);
	put32(b + 12, 0x7fffffffu);
	ck_assert_int_eq(write(fd, b, 16), 16);
	ck_assert_int_eq(ipc_accept(l, &c, 5000), 0);
	ck_assert_int_eq(ipc_recv_alloc(c, &big, 5000), -EPROTO);
	ipc_close(c);
	close(fd);
	assert_serving(l);
	ipc_listener_close(l);
}
END_TEST

/* Has the listener closed its end of raw peer @p fd? */
static int
peer_dropped(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

START_TEST(sock_silent_peers)
{
	ipc_listener *l = make_listener(0);
	int fds[80], i, good, dropped;
	unsigned char h[16];
	ipc_channel *c;
	char buf[16];
	pid_t pid;

	/* One silent peer: accept does not wait on it, so its handshake
	 * (1.5 s to go) is still pending after a 100 ms accept... */
	fds[0] = raw_connect();
	ck_assert_int_eq(ipc_accept(l, &c, 100), -ETIMEDOUT);
	ck_assert_int_eq(ipc_accept(l, &c, 0), -EAGAIN);
	ck_assert(!peer_dropped(fds[0]));
	/* ...and drops it after the handshake deadline. */
	ck_assert_int_eq(ipc_accept(l, &c, 2500), -ETIMEDOUT);
	assert_dropped(fds[0]);

	/* A flood of silent peers, more than the handshake set (64) holds, and
	 * behind them a peer whose hello is already there: it is served while
	 * the silent ones are still pending (only the overflow was dropped),
	 * not after they time out. Every byte is in before the accept, so no
	 * clock decides the verdict. */
	for (i = 0; i < 80; i++)
		fds[i] = raw_connect();
	ck_assert_int_eq(ipc_accept(l, &c, 0), -EAGAIN);
	good = raw_connect();
	ck_assert_int_eq(write(good, h, hello(h, 1, 1024)), 12);
	ck_assert_int_eq(ipc_accept(l, &c, 5000), 0);
	for (dropped = i = 0; i < 80; i++)
		dropped += peer_dropped(fds[i]);
	ck_assert_int_le(dropped, 80 - 63);
	ipc_close(c);
	close(good);

	/* A real client behind them is served too. */
	pid = test_fork(one_roundtrip, NULL);
	ck_assert_int_eq(ipc_accept(l, &c, 30000), 0);
	ck_assert_int_eq(ipc_recv(c, buf, sizeof(buf), 5000), 6);
	ck_assert_int_eq(ipc_send(c, "alive", 6, 5000), 6);
	ck_assert_int_eq(test_wait(pid, 5000), 0);
	ipc_close(c);
	for (i = 0; i < 80; i++)
		close(fds[i]);
	ipc_listener_close(l);
}
END_TEST

START_TEST(sock_listener_fd_pollable)
{
	ipc_listener *l = make_listener(0);
	struct pollfd p = { .fd = ipc_listener_fd(l), .events = POLLIN };
	ipc_channel *c = NULL;
	char buf[16];
	pid_t pid;
	int i, rc = -1;

	ck_assert_int_ge(p.fd, 0);
	ck_assert_int_eq(poll(&p, 1, 0), 0);
	pid = test_fork(one_roundtrip, NULL);
	for (i = 0; i < 10 && rc != 0; i++) {
		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		rc = ipc_accept(l, &c, 0);
		ck_assert_msg(rc == 0 || rc == -EAGAIN, "accept: %d", rc);
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(poll(&p, 1, 0), 0);   /* nothing else is waiting */
	ck_assert_int_eq(ipc_recv(c, buf, sizeof(buf), 5000), 6);
	ck_assert_int_eq(ipc_send(c, buf, 6, 5000), 6);
	ck_assert_int_eq(test_wait(pid, 5000), 0);
	ipc_close(c);
	ipc_listener_close(l);
}
END_TEST

/* Out of descriptors: ipc_accept says so at once, it does not spin until
 * its timeout; the connection waits in the kernel for a later call. */
static int
accept_emfile(void *p)
{
	ipc_listener *l = p;
	struct rlimit rl;
	ipc_channel *c;
	int64_t t0;
	int silent, fd, d, rc;

	silent = raw_connect();     /* a handshake in flight, as well */
	if (ipc_accept(l, &c, 0) != -EAGAIN)
		return 9;
	fd = raw_connect();
	while ((d = dup(fd)) >= 0 && d < fd)
		;           /* fill every hole below fd: the child just exits */
	if (d < 0)
		return 8;
	/* d is the lowest free descriptor: room for the channel's eventfd
	 * there, none for the accepted socket. */
	close(d);
	rl.rlim_cur = rl.rlim_max = (rlim_t)d + 1;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 10;
	t0 = now_ms();
	/* At once, not after spinning until the timeout (far off). */
	rc = ipc_accept(l, &c, 60000);
	if (rc != -EMFILE)
		return 11;
	if (now_ms() - t0 > 30000)
		return 12;
	close(fd);
	close(silent);
	return 0;
}

START_TEST(sock_accept_emfile)
{
	ipc_listener *l;

	if (test_under_valgrind()) {
		/* valgrind keeps descriptors of its own above the limit: the
		 * child's setrlimit cannot work there. */
		printf("sock_accept_emfile: under valgrind, skipped\n");
		return;
	}
	l = make_listener(0);

	ck_assert_int_eq(test_wait(test_fork(accept_emfile, l), 90000), 0);
	ipc_listener_close(l);
}
END_TEST

/* A listening socket made without libipc; uri is set to reach it. */
static int
plain_listener(void)
{
	int fd;

	if (strcmp(scheme, "tcp") == 0) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t len = sizeof(sa);

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		ck_assert_int_eq(listen(fd, 4), 0);
		ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
		snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u", ntohs(sa.sin_port));
		return fd;
	}
	snprintf(uri, sizeof(uri), "unix:%s", test_path("plain.sock"));
	return plain_socket_file(test_path("plain.sock"), 1);
}

START_TEST(sock_raw_mode)
{
	ipc_listener *l = make_listener(IPC_RAW);
	ipc_channel *c;
	char buf[32];
	int fd, l2;

	/* A raw listener talks to a plain socket: no hello either way. */
	fd = raw_connect();
	ck_assert_int_eq(write(fd, "plain", 5), 5);
	ck_assert_int_eq(ipc_accept(l, &c, 5000), 0);
	ck_assert_int_eq(ipc_recv(c, buf, sizeof(buf), 5000), 5);
	ck_assert_int_eq(memcmp(buf, "plain", 5), 0);
	ck_assert_int_eq(ipc_send(c, "back", 4, 5000), 4);
	ck_assert_int_eq(recv(fd, buf, sizeof(buf), 0), 4);
	ck_assert_int_eq(memcmp(buf, "back", 4), 0);
	close(fd);
	ck_assert_int_eq(ipc_recv(c, buf, sizeof(buf), 5000), IPC_EOF);
	ipc_close(c);
	ipc_listener_close(l);

	/* A raw client talks to a plain server: the seed's, say. */
	fd = plain_listener();
	ck_assert_int_eq(ipc_open(&c, uri, IPC_SEND | IPC_RECV | IPC_RAW, NULL), 0);
	l2 = accept(fd, NULL, NULL);
	ck_assert_int_ge(l2, 0);
	ck_assert_int_eq(ipc_send(c, "ping", 4, 5000), 4);
	ck_assert_int_eq(read(l2, buf, sizeof(buf)), 4);    /* no hello before it */
	ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
	ck_assert_int_eq(write(l2, "pong", 4), 4);
	ck_assert_int_eq(ipc_recv(c, buf, sizeof(buf), 5000), 4);
	ck_assert_int_eq(memcmp(buf, "pong", 4), 0);
	close(l2);
	ck_assert_int_eq(ipc_recv(c, buf, sizeof(buf), 5000), IPC_EOF);
	ipc_close(c);
	close(fd);
	if (strcmp(scheme, "unix") == 0)
		unlink(test_path("plain.sock"));
}
END_TEST

START_TEST(sock_open_timeout)
{
	ipc_listener *l = make_listener(0);
	ipc_options o = opts(300);
	ipc_channel *c;
	int64_t t0 = now_ms();

	/* Nobody calls ipc_accept: no hello comes, the open is bounded. */
	ck_assert_int_eq(ipc_open(&c, uri, IPC_SEND | IPC_RECV, &o), -ETIMEDOUT);
	ck_assert_int_ge(now_ms() - t0, 250);
	ck_assert_int_lt(now_ms() - t0, 30000);    /* bounded, however loaded */
	ipc_listener_close(l);
	/* Nobody listens at all. */
	ck_assert_int_eq(ipc_open(&c, uri, IPC_SEND | IPC_RECV, &o),
	                 strcmp(scheme, "tcp") == 0 ? -ECONNREFUSED : -ENOENT);
}
END_TEST

START_TEST(sock_peer_cred)
{
	ipc_channel *tx, *rx;
	struct ipc_peer p;

	ck_assert_int_eq(test_pair(scheme, &tx, &rx), 0);
	if (strcmp(scheme, "tcp") == 0) {
		ck_assert_int_eq(ipc_peer_cred(rx, &p), -EOPNOTSUPP);
	} else {
		ck_assert_int_eq(ipc_peer_cred(rx, &p), 0);
		ck_assert_int_eq(p.pid, getpid());
		ck_assert_int_eq(p.uid, geteuid());
		ck_assert_int_eq(p.gid, getegid());
		ck_assert_int_eq(ipc_peer_cred(tx, &p), 0);
		ck_assert_int_eq(p.uid, geteuid());
	}
	test_unpair(tx, rx);
}
END_TEST

/* A pre-forked server: workers accept on one inherited listener, each with
 * its own handshakes; every client is served exactly once. The workers
 * serve until the parent closes prefork_stop (every client is done): an
 * accept timeout as the end would leave a late client unserved. */
static int prefork_stop[2];

static int
prefork_worker(void *p)
{
	ipc_listener *l = p;
	struct pollfd pf[2] = {
		{ .fd = ipc_listener_fd(l), .events = POLLIN },
		{ .fd = prefork_stop[0], .events = POLLIN },
	};
	ipc_channel *c;
	char buf[16];
	int served = 0, rc;

	close(prefork_stop[1]);
	while (poll(pf, 2, 60000) > 0 && !pf[1].revents) {
		/* Readable: a peer to take, or a handshake to advance (or another
		 * worker was quicker). */
		if ((rc = ipc_accept(l, &c, 0)) == -EAGAIN)
			continue;
		if (rc < 0)
			return 101;
		if (ipc_recv(c, buf, sizeof(buf), 30000) != 6 || ipc_send(c, buf, 6, 30000) != 6)
			return 100;
		ipc_close(c);
		served++;
	}
	if (!pf[1].revents)
		return 102;     /* a minute without a client or the word to stop */
	close(prefork_stop[0]);
	ipc_listener_close(l);      /* a child's close: the file stays */
	return served;
}

START_TEST(sock_prefork_workers)
{
	ipc_listener *l = make_listener(0);
	pid_t w[2], c[12];
	int i, served = 0, st;

	ck_assert_int_eq(pipe2(prefork_stop, O_CLOEXEC), 0);
	for (i = 0; i < 2; i++)
		w[i] = test_fork(prefork_worker, l);
	close(prefork_stop[0]);
	for (i = 0; i < 12; i++)
		c[i] = test_fork(one_roundtrip, NULL);
	for (i = 0; i < 12; i++)
		ck_assert_int_eq(test_wait(c[i], 60000), 0);
	close(prefork_stop[1]);
	for (i = 0; i < 2; i++) {
		st = test_wait(w[i], 60000);
		ck_assert_int_le(st, 12);
		served += st;
	}
	ck_assert_int_eq(served, 12);
	ipc_listener_close(l);
}
END_TEST

/* Each side learns the other's max_msg from its hello: a message the peer
 * would refuse is -EMSGSIZE at the sender, and the channel stays usable. */
static int
send_to_small(void *p)
{
	static unsigned char big[2000];
	ipc_options o = opts(5000);
	ipc_channel *c;

	(void)p;
	if (ipc_open(&c, uri, IPC_SEND | IPC_RECV, &o) < 0)
		return 1;
	if (ipc_send(c, big, 1001, 5000) != -EMSGSIZE)
		return 2;
	if (ipc_send(c, big, 1000, 5000) != 1000)
		return 3;
	ipc_close(c);
	return 0;
}

START_TEST(sock_peer_max)
{
	ipc_options small = IPC_OPTIONS_INIT;
	static unsigned char big[2000];
	unsigned char h[16];
	ipc_listener *l;
	ipc_channel *s;
	pid_t pid;
	int fd;

	/* A listener that takes at most 1000 bytes, and a libipc client. */
	small.max_msg = 1000;
	ck_assert_int_eq(ipc_listen(&l, listen_uri("s.sock"), 0, &small), 0);
	ck_assert_int_gt(ipc_listener_addr(l, uri, sizeof(uri)), 0);
	pid = test_fork(send_to_small, NULL);
	ck_assert_int_eq(ipc_accept(l, &s, 5000), 0);
	ck_assert_int_eq(ipc_recv(s, big, sizeof(big), 5000), 1000);
	ck_assert_int_eq(test_wait(pid, 5000), 0);
	ipc_close(s);

	/* A raw peer whose hello says 1000: the listener's side holds back. */
	fd = raw_connect();
	hello(h, 1, 1000);
	ck_assert_int_eq(write(fd, h, 12), 12);
	ck_assert_int_eq(ipc_accept(l, &s, 5000), 0);
	ck_assert_int_eq(ipc_send(s, big, 1001, 1000), -EMSGSIZE);
	ck_assert_int_eq(ipc_send(s, big, 1000, 1000), 1000);
	ck_assert_int_eq(recv(fd, h, 12, MSG_WAITALL), 12);    /* the listener's hello */
	ck_assert_int_eq(h[8] << 24 | h[9] << 16 | h[10] << 8 | h[11], 1000);
	ck_assert_int_eq(recv(fd, h, 4, MSG_WAITALL), 4);      /* then the frame */
	ck_assert_int_eq(h[2] << 8 | h[3], 1000);
	ipc_close(s);
	close(fd);
	ipc_listener_close(l);

	/* With max_msg left at its default, the hello still says the default
	 * (16 MiB), never 0 ("no limit"): the peer must learn the real one. */
	ck_assert_int_eq(ipc_listen(&l, listen_uri("d.sock"), 0, NULL), 0);
	ck_assert_int_gt(ipc_listener_addr(l, uri, sizeof(uri)), 0);
	fd = raw_connect();
	hello(h, 1, 1000);
	ck_assert_int_eq(write(fd, h, 12), 12);
	ck_assert_int_eq(ipc_accept(l, &s, 5000), 0);
	ck_assert_int_eq(recv(fd, h, 12, MSG_WAITALL), 12);
	ck_assert_uint_eq((uint32_t)h[8] << 24 | h[9] << 16 | h[10] << 8 | h[11], 16u << 20);
	ipc_close(s);
	close(fd);
	ipc_listener_close(l);
}
END_TEST

/* ------------------------------------------------------------ tcp */

START_TEST(tcp_addresses)
{
	static const char *bad[] = {
		"tcp://:0", "tcp://127.0.0.1", "tcp://127.0.0.1:", "tcp://127.0.0.1:65536",
		"tcp://127.0.0.1:x", "tcp://::1:0", "tcp://[::1]0", "tcp:127.0.0.1:0",
		"tcp://127.0.0.1:-1",
	};
	ipc_listener *l;
	ipc_channel *c;
	char a[64];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(ipc_listen(&l, bad[i], 0, NULL) == -EINVAL, "%s", bad[i]);
	ck_assert_int_eq(ipc_open(&c, "tcp://*:80", IPC_SEND, NULL), -EINVAL);
	ck_assert_int_eq(ipc_open(&c, "tcp://127.0.0.1:0", IPC_SEND, NULL), -EINVAL);
	ck_assert_int_eq(ipc_open(&c, "tcp://:80", IPC_SEND, NULL), -EINVAL);

	ck_assert_int_eq(ipc_listen(&l, "tcp://127.0.0.1:0", 0, NULL), 0);
	ck_assert_int_gt(ipc_listener_addr(l, a, sizeof(a)), 0);
	ck_assert_msg(strncmp(a, "tcp://127.0.0.1:", 16) == 0 && atoi(a + 16) > 0, "%s", a);
	ck_assert_int_eq(ipc_listener_addr(l, a, 10), -ENOSPC);
	ipc_listener_close(l);
}
END_TEST

START_TEST(tcp_nodelay_and_localhost)
{
	ipc_channel *tx, *rx;
	socklen_t n = sizeof(int);
	ipc_listener *l;
	int on = 0;

	ck_assert_int_eq(test_pair("tcp", &tx, &rx), 0);
	ck_assert_int_eq(getsockopt(ipc_fd(tx), IPPROTO_TCP, TCP_NODELAY, &on, &n), 0);
	ck_assert_int_ne(on, 0);
	on = 0;
	ck_assert_int_eq(getsockopt(ipc_fd(rx), IPPROTO_TCP, TCP_NODELAY, &on, &n), 0);
	ck_assert_int_ne(on, 0);
	test_unpair(tx, rx);

	/* A host name, through getaddrinfo. */
	ck_assert_int_eq(ipc_listen(&l, "tcp://localhost:0", 0, NULL), 0);
	ck_assert_int_gt(ipc_listener_addr(l, uri, sizeof(uri)), 0);
	assert_serving(l);
	ipc_listener_close(l);
}
END_TEST

START_TEST(tcp_rebind_at_once)
{
	ipc_listener *l;
	ipc_channel *s;
	char buf[16];
	pid_t pid;

	ck_assert_int_eq(ipc_listen(&l, "tcp://127.0.0.1:0", 0, NULL), 0);
	ck_assert_int_gt(ipc_listener_addr(l, uri, sizeof(uri)), 0);
	pid = test_fork(one_roundtrip, NULL);
	ck_assert_int_eq(ipc_accept(l, &s, 5000), 0);
	ck_assert_int_eq(ipc_recv(s, buf, sizeof(buf), 5000), 6);
	ck_assert_int_eq(ipc_send(s, buf, 6, 5000), 6);
	ck_assert_int_eq(test_wait(pid, 5000), 0);
	ipc_close(s);               /* the server closes first: TIME_WAIT here */
	ipc_listener_close(l);
	/* A restarted server takes the same port at once. */
	ck_assert_int_eq(ipc_listen(&l, uri, 0, NULL), 0);
	ipc_listener_close(l);
}
END_TEST

START_TEST(tcp_every_interface)
{
	ipc_listener *l;
	char a[80];
	int port;

	ck_assert_int_eq(ipc_listen(&l, "tcp://*:0", 0, NULL), 0);
	ck_assert_int_gt(ipc_listener_addr(l, a, sizeof(a)), 0);
	ck_assert_msg(strncmp(a, "tcp://[::]:", 11) == 0 || strncmp(a, "tcp://0.0.0.0:", 14) == 0,
	              "%s", a);
	port = atoi(strrchr(a, ':') + 1);
	ck_assert_int_gt(port, 0);
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
	assert_serving(l);
	if (a[6] == '[') {      /* dual-stack: IPv6 loopback too */
		snprintf(uri, sizeof(uri), "tcp://[::1]:%d", port);
		assert_serving(l);
	}
	ipc_listener_close(l);
}
END_TEST

START_TEST(tcp_ipv6_loopback)
{
	ipc_listener *l;
	char a[80];

	ck_assert_int_eq(ipc_listen(&l, "tcp://[::1]:0", 0, NULL), 0);
	ck_assert_int_gt(ipc_listener_addr(l, a, sizeof(a)), 0);
	ck_assert_msg(strncmp(a, "tcp://[::1]:", 12) == 0, "%s", a);
	snprintf(uri, sizeof(uri), "%s", a);
	assert_serving(l);
	/* An explicit IPv6 address is IPv6 only: IPv4 loopback is refused. */
	{
		ipc_options o = opts(2000);
		ipc_channel *c;

		snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%s", strrchr(a, ':') + 1);
		ck_assert_int_eq(ipc_open(&c, uri, IPC_SEND, &o), -ECONNREFUSED);
	}
	ipc_listener_close(l);
}
END_TEST

/* -------------------------------------------------- two namespaces */

static char ns_a[32], ns_b[32], ns_ip[32];
static int ns_pipe[2];

static int
join_ns(const char *name)
{
	char p[96];
	int fd, rc;

	snprintf(p, sizeof(p), "/var/run/netns/%s", name);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	rc = setns(fd, CLONE_NEWNET);
	close(fd);
	return rc;
}

static int
ns_server(void *p)
{
	struct client_arg *a = p;
	ipc_listener *l;
	ipc_channel *c;
	char u[80] = "";        /* all 80 bytes go down the pipe */
	static unsigned char buf[70000];
	ssize_t n;
	uint32_t i;

	ipc_options o = IPC_OPTIONS_INIT;
	struct ipc_tls t;

	if (join_ns(ns_a) < 0)
		return 1;
	if (strcmp(scheme, "tls") == 0) {
		/* Mutual TLS across the veth pair: each side checks the other. */
		test_tls_conf(&t, "server", IPC_TLS_REQUIRE_CLIENT_CERT);
		o.tls = &t;
		snprintf(u, sizeof(u), "tls+tcp://%s:0", ns_ip);
	} else {
		snprintf(u, sizeof(u), "tcp://%s:0", ns_ip);
	}
	if (ipc_listen(&l, u, 0, &o) < 0 || ipc_listener_addr(l, u, sizeof(u)) < 0)
		return 2;
	if (write(ns_pipe[1], u, sizeof(u)) != sizeof(u))
		return 3;
	if (ipc_accept(l, &c, 60000) < 0)
		return 4;
	for (i = 0; i < a->count; i++) {
		n = ipc_recv(c, buf, sizeof(buf), 10000);
		if (n < 0 || ipc_send(c, buf, (size_t)n, 10000) != n)
			return 5;
	}
	ipc_close(c);
	ipc_listener_close(l);
	return 0;
}

static int
ns_client(void *p)
{
	char u[80];

	if (join_ns(ns_b) < 0)
		return 11;
	if (read(ns_pipe[0], u, sizeof(u)) != sizeof(u))
		return 12;
	snprintf(uri, sizeof(uri), "%s", u);
	return echo_client(p) ? 13 : 0;
}

START_TEST(tcp_two_namespaces)
{
	struct client_arg a = { 7, (uint32_t)test_scale(1000) };
	pid_t s, c;

	ck_assert_int_eq(pipe(ns_pipe), 0);
	s = test_fork(ns_server, &a);
	c = test_fork(ns_client, &a);
	close(ns_pipe[0]);
	close(ns_pipe[1]);
	ck_assert_int_eq(test_wait(c, 60000), 0);
	ck_assert_int_eq(test_wait(s, 10000), 0);
}
END_TEST

static int
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void
netns_down(void)
{
	sh("ip netns del %s >/dev/null 2>&1", ns_a);
	sh("ip netns del %s >/dev/null 2>&1", ns_b);
}

/* Two namespaces, a veth pair between them, 10.x.y.1 and 10.x.y.2. */
static void
netns_up(void)
{
	unsigned pid = (unsigned)getpid();
	unsigned x = (pid >> 8) & 0xff, y = pid & 0xff;

	snprintf(ns_a, sizeof(ns_a), "ipc-test-%u-a", pid);
	snprintf(ns_b, sizeof(ns_b), "ipc-test-%u-b", pid);
	snprintf(ns_ip, sizeof(ns_ip), "10.%u.%u.1", x, y);
	if (sh("ip netns add %s 2>/dev/null", ns_a) != 0)
		test_skip("cannot create network namespaces (needs root and ip(8))");
	if (sh("ip netns add %s", ns_b) != 0 ||
	    sh("ip link add ipcv%ua netns %s type veth peer name ipcv%ub netns %s",
	       pid, ns_a, pid, ns_b) != 0 ||
	    sh("ip -n %s addr add 10.%u.%u.1/24 dev ipcv%ua", ns_a, x, y, pid) != 0 ||
	    sh("ip -n %s addr add 10.%u.%u.2/24 dev ipcv%ub", ns_b, x, y, pid) != 0 ||
	    sh("ip -n %s link set ipcv%ua up", ns_a, pid) != 0 ||
	    sh("ip -n %s link set ipcv%ub up", ns_b, pid) != 0 ||
	    sh("ip -n %s link set lo up", ns_a) != 0 ||
	    sh("ip -n %s link set lo up", ns_b) != 0) {
		netns_down();
		test_skip("cannot join two network namespaces with a veth pair");
	}
}

/* ------------------------------------------------------------ unix */

static int
plain_socket_file(const char *path, int do_listen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (do_listen)
		ck_assert_int_eq(listen(fd, 4), 0);
	return fd;
}

START_TEST(unix_stale_and_live)
{
	const char *p = test_path("s.sock");
	ipc_listener *l, *l2;
	struct stat st;
	int fd;

	/* A socket file nobody listens on (a crashed server's) is replaced. */
	fd = plain_socket_file(p, 0);
	close(fd);
	l = make_listener(0);
	assert_serving(l);
	/* A live one is not. */
	ck_assert_int_eq(ipc_listen(&l2, uri, 0, NULL), -EADDRINUSE);
	assert_serving(l);
	ipc_listener_close(l);
	ck_assert_int_eq(lstat(p, &st), -1);

	/* Nor is a live socket of another program. */
	fd = plain_socket_file(p, 1);
	ck_assert_int_eq(ipc_listen(&l2, uri, 0, NULL), -EADDRINUSE);
	ck_assert_int_eq(lstat(p, &st), 0);
	close(fd);
	unlink(p);
}
END_TEST

START_TEST(unix_not_a_socket)
{
	char p[600], target[600], u[700];
	ipc_listener *l;
	struct stat st;
	int fd;

	snprintf(p, sizeof(p), "%s", test_path("s.sock"));
	snprintf(target, sizeof(target), "%s", test_path("target.sock"));
	snprintf(u, sizeof(u), "unix:%s", p);
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ck_assert_int_eq(write(fd, "data", 4), 4);
	close(fd);
	ck_assert_int_eq(ipc_listen(&l, u, 0, NULL), -ENOTSOCK);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert(S_ISREG(st.st_mode) && st.st_size == 4);
	unlink(p);

	ck_assert_int_eq(mkfifo(p, 0600), 0);
	ck_assert_int_eq(ipc_listen(&l, u, 0, NULL), -ENOTSOCK);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	unlink(p);

	/* A symlink to a stale socket is not followed, not removed. */
	fd = plain_socket_file(target, 0);
	close(fd);
	ck_assert_int_eq(symlink(target, p), 0);
	ck_assert_int_eq(ipc_listen(&l, u, 0, NULL), -ENOTSOCK);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	ck_assert_int_eq(lstat(target, &st), 0);
	unlink(p);
	unlink(target);
}
END_TEST

START_TEST(unix_mode)
{
	ipc_options o = IPC_OPTIONS_INIT;
	const char *p = test_path("s.sock");
	ipc_listener *l;
	struct stat st;
	mode_t old;

	l = make_listener(0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ipc_listener_close(l);

	/* The exact mode, whatever the umask. */
	old = umask(077);
	o.mode = 0660;
	ck_assert_int_eq(ipc_listen(&l, uri, 0, &o), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0660);
	ipc_listener_close(l);
	umask(022);
	o.mode = 0666;
	ck_assert_int_eq(ipc_listen(&l, uri, 0, &o), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0666);
	ipc_listener_close(l);
	umask(old);
}
END_TEST

static int
close_listener_child(void *p)
{
	ipc_listener_close(p);
	return 0;
}

START_TEST(unix_close_ownership)
{
	const char *p = test_path("s.sock");
	ipc_listener *l = make_listener(0), *l2;
	struct stat st;

	/* A forked child's close leaves the file alone. */
	ck_assert_int_eq(test_wait(test_fork(close_listener_child, l), 5000), 0);
	ck_assert_int_eq(lstat(p, &st), 0);
	assert_serving(l);
	/* A successor's socket at the same name is not ours to remove. */
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(ipc_listen(&l2, uri, 0, NULL), 0);
	ipc_listener_close(l);
	ck_assert_int_eq(lstat(p, &st), 0);
	assert_serving(l2);
	ipc_listener_close(l2);
	ck_assert_int_eq(lstat(p, &st), -1);
}
END_TEST

/* Pipes: go (children start together), done (each has tried), release
 * (winners let go only once every child has tried). */
static int race_go[2], race_done[2], race_release[2];

static int
race_listen(void *p)
{
	ipc_listener *l;
	char b;
	int rc;

	(void)p;
	close(race_go[1]);
	close(race_done[0]);
	close(race_release[1]);
	alarm(20);                          /* never outlive a broken test */
	if (read(race_go[0], &b, 1) != 0)
		return 3;
	rc = ipc_listen(&l, uri, 0, NULL);
	if (write(race_done[1], "x", 1) != 1)
		return 4;
	if (rc == -EADDRINUSE)
		return 1;
	if (rc < 0)
		return 2;
	if (read(race_release[0], &b, 1) != 0)  /* hold it while the others try */
		return 5;
	ipc_listener_close(l);
	return 0;
}

START_TEST(unix_stale_race)
{
	const char *p = test_path("s.sock");
	pid_t pids[6];
	int i, round, won, lost, st;
	char b[6];

	snprintf(uri, sizeof(uri), "unix:%s", p);
	for (round = 0; round < 5; round++) {
		close(plain_socket_file(p, 0));     /* stale */
		ck_assert_int_eq(pipe(race_go), 0);
		ck_assert_int_eq(pipe(race_done), 0);
		ck_assert_int_eq(pipe(race_release), 0);
		for (i = 0; i < 6; i++)
			pids[i] = test_fork(race_listen, NULL);
		close(race_go[0]);
		close(race_done[1]);
		close(race_release[0]);
		close(race_go[1]);                  /* go */
		for (i = 0; i < 6; i += (int)st)
			ck_assert_int_gt(st = (int)read(race_done[0], b, sizeof(b) - (size_t)i), 0);
		close(race_release[1]);             /* everyone has tried */
		close(race_done[0]);
		for (won = lost = i = 0; i < 6; i++) {
			st = test_wait(pids[i], 10000);
			won += st == 0;
			lost += st == 1;
		}
		ck_assert_int_eq(won, 1);
		ck_assert_int_eq(lost, 5);
		ck_assert_int_eq(access(p, F_OK), -1);
	}
}
END_TEST

static int
listen_report(void *p)
{
	int *fds = p;
	ipc_listener *l;
	char r;

	close(fds[0]);
	close(fds[2]);      /* the parent's lock: its copy must not stay here */
	r = ipc_listen(&l, uri, 0, NULL) == 0 ? 'y' : 'n';
	if (write(fds[1], &r, 1) != 1)
		return 1;
	if (r == 'y')
		ipc_listener_close(l);
	return 0;
}

/* Another server holds "<path>.lock" (mid-setup): ipc_listen waits for it,
 * and follows the holder's protocol (remove the file, then unlock). */
START_TEST(unix_lock_respected)
{
	char p[600], lock[700];
	struct pollfd pf;
	int fds[3], lk;
	pid_t pid;
	char r;

	snprintf(p, sizeof(p), "%s", test_path("s.sock"));
	snprintf(lock, sizeof(lock), "%s.lock", p);
	snprintf(uri, sizeof(uri), "unix:%s", test_path("s.sock"));
	close(plain_socket_file(p, 0));         /* stale */
	lk = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(lk, 0);
	ck_assert_int_eq(flock(lk, LOCK_EX), 0);
	ck_assert_int_eq(pipe(fds), 0);
	fds[2] = lk;
	pid = test_fork(listen_report, fds);
	close(fds[1]);
	pf = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	ck_assert_int_eq(poll(&pf, 1, 300), 0);     /* still waiting for the lock */
	ck_assert_int_eq(access(p, F_OK), 0);       /* and the stale file is untouched */
	unlink(lock);
	close(lk);
	ck_assert_int_eq(poll(&pf, 1, 5000), 1);
	ck_assert_int_eq(read(fds[0], &r, 1), 1);
	ck_assert_int_eq(r, 'y');
	ck_assert_int_eq(test_wait(pid, 5000), 0);
	close(fds[0]);
	ck_assert_int_eq(access(p, F_OK), -1);
	ck_assert_int_eq(access(lock, F_OK), -1);
}
END_TEST

START_TEST(unix_abstract)
{
	ipc_listener *l, *l2;
	ipc_channel *c;
	char u[80], a[80];
	pid_t pid;

	snprintf(u, sizeof(u), "unix:@ipc-test-%d-abs", (int)getpid());
	ck_assert_int_eq(ipc_listen(&l, u, 0, NULL), 0);
	ck_assert_int_gt(ipc_listener_addr(l, a, sizeof(a)), 0);
	ck_assert_str_eq(a, u);
	ck_assert_int_eq(ipc_listen(&l2, u, 0, NULL), -EADDRINUSE);
	snprintf(uri, sizeof(uri), "%s", a);
	pid = test_fork(one_roundtrip, NULL);
	ck_assert_int_eq(ipc_accept(l, &c, 5000), 0);
	ck_assert_int_eq(ipc_recv(c, a, sizeof(a), 5000), 6);
	ck_assert_int_eq(ipc_send(c, a, 6, 5000), 6);
	ck_assert_int_eq(test_wait(pid, 5000), 0);
	ipc_close(c);
	ipc_listener_close(l);
}
END_TEST

START_TEST(unix_addresses)
{
	char u[300];
	ipc_listener *l;
	ipc_channel *c;

	memset(u, 'a', sizeof(u));
	memcpy(u, "unix:/", 6);
	u[200] = 0;
	ck_assert_int_eq(ipc_listen(&l, u, 0, NULL), -ENAMETOOLONG);
	ck_assert_int_eq(ipc_open(&c, u, IPC_SEND, NULL), -ENAMETOOLONG);
	ck_assert_int_eq(ipc_listen(&l, "unix:", 0, NULL), -EINVAL);
	ck_assert_int_eq(ipc_listen(&l, "unix:@", 0, NULL), -EINVAL);
	ck_assert_int_eq(ipc_open(&c, "unix:", IPC_SEND, NULL), -EINVAL);
}
END_TEST

/* ------------------------------------------------ another uid (root) */

#define NOBODY 65534

static int
as_nobody_open(void *p)
{
	ipc_options o = opts(30000);
	ipc_channel *c;
	struct ipc_peer peer;
	int rc;

	(void)p;
	if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		return 100;
	rc = ipc_open(&c, uri, IPC_SEND | IPC_RECV, &o);
	if (rc < 0)
		return -rc;
	/* Let in: the listener is root's, which a client accepts. */
	if (ipc_peer_cred(c, &peer) < 0 || peer.uid != 0)
		return 101;
	if (ipc_send(c, "nobody", 7, 5000) != 7)
		return 102;
	ipc_close(c);
	return 0;
}

static void
uid_case(const char *u, int flags, int want_refused)
{
	ipc_listener *l;
	ipc_channel *c;
	struct ipc_peer peer;
	char buf[16];
	pid_t pid;

	ck_assert_int_eq(ipc_listen(&l, u, flags, &(ipc_options){ .size = sizeof(ipc_options),
	                 .mode = 0666 }), 0);
	snprintf(uri, sizeof(uri), "%s", u);
	pid = test_fork(as_nobody_open, NULL);
	if (want_refused) {
		int i, st = -1;

		/* Accept until the client has its answer: never a channel. The
		 * refusal happens inside ipc_accept, so a client that comes late
		 * still needs one running. */
		for (i = 0; i < 600 && st < 0; i++) {
			ck_assert_int_eq(ipc_accept(l, &c, 100), -ETIMEDOUT);
			if (waitpid(pid, &st, WNOHANG) == pid)
				st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			else
				st = -1;
		}
		if (st < 0)
			st = test_wait(pid, 1);
		ck_assert_int_eq(st, ECONNREFUSED);
	} else {
		ck_assert_int_eq(ipc_accept(l, &c, 5000), 0);
		ck_assert_int_eq(ipc_peer_cred(c, &peer), 0);
		ck_assert_int_eq(peer.uid, NOBODY);
		ck_assert_int_eq(peer.pid, pid);
		ck_assert_int_eq(ipc_recv(c, buf, sizeof(buf), 5000), 7);
		ck_assert_str_eq(buf, "nobody");
		ipc_close(c);
		ck_assert_int_eq(test_wait(pid, 5000), 0);
	}
	ipc_listener_close(l);
}

START_TEST(unix_other_uid_refused)
{
	char u[600];

	/* nobody can reach the directory and the file (0711, 0666): only the
	 * SO_PEERCRED check stands between it and the listener. */
	ck_assert_int_eq(chmod(test_dir(), 0711), 0);
	snprintf(u, sizeof(u), "unix:%s", test_path("u.sock"));
	uid_case(u, 0, 1);
	uid_case(u, IPC_ANY_UID, 0);
	snprintf(u, sizeof(u), "unix:@ipc-test-%d-uid", (int)getpid());
	uid_case(u, 0, 1);
	uid_case(u, IPC_ANY_UID, 0);
}
END_TEST

static int squat_done[2];

static int
nobody_listener(void *p)
{
	int *ready = p, i;
	ipc_listener *l;
	ipc_channel *c;

	if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		return 100;
	if (ipc_listen(&l, uri, 0, NULL) < 0)
		return 101;
	if (write(ready[1], "r", 1) != 1)
		return 102;
	/* Listen until the parent has its answer (it closes its end of
	 * squat_done), at most a minute: not for a fixed time it might miss. */
	close(squat_done[1]);
	for (i = 0; i < 600; i++) {
		struct pollfd pf = { .fd = squat_done[0], .events = POLLIN };

		if (ipc_accept(l, &c, 100) == 0)
			ipc_close(c);
		if (poll(&pf, 1, 0) == 1)
			break;
	}
	ipc_listener_close(l);
	return i < 600 ? 0 : 103;
}

START_TEST(unix_other_uid_listener_refused)
{
	ipc_options o = opts(30000);
	int ready[2];
	ipc_channel *c;
	char b;
	pid_t pid;

	/* A name squatted by another (non-root) uid: the client says no. */
	snprintf(uri, sizeof(uri), "unix:@ipc-test-%d-squat", (int)getpid());
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe2(squat_done, O_CLOEXEC), 0);
	pid = test_fork(nobody_listener, ready);
	close(squat_done[0]);
	ck_assert_int_eq(read(ready[0], &b, 1), 1);
	ck_assert_int_eq(ipc_open(&c, uri, IPC_SEND | IPC_RECV, &o), -EACCES);
	close(squat_done[1]);
	ck_assert_int_eq(test_wait(pid, 30000), 0);
	close(ready[0]);
	close(ready[1]);
}
END_TEST

/* ------------------------------------------------------------ main */

static Suite *
sockets_suite(const char *mode)
{
	Suite *s = suite_create(scheme);
	TCase *tc = tcase_create(mode ? mode : "sockets");
	int tcp = strcmp(scheme, "tcp") == 0;

	tcase_add_checked_fixture(tc, test_fixture_setup, test_fixture_teardown);
	tcase_set_timeout(tc, 300);
	if (!mode) {
		tcase_add_test(tc, sock_echo_64_clients);
		tcase_add_test(tc, sock_server_killed);
		tcase_add_test(tc, sock_garbage_refused);
		tcase_add_test(tc, sock_silent_peers);
		tcase_add_test(tc, sock_listener_fd_pollable);
		tcase_add_test(tc, sock_raw_mode);
		tcase_add_test(tc, sock_accept_emfile);
		tcase_add_test(tc, sock_open_timeout);
		tcase_add_test(tc, sock_peer_cred);
		tcase_add_test(tc, sock_peer_max);
		tcase_add_test(tc, sock_prefork_workers);
		if (tcp) {
			tcase_add_test(tc, tcp_addresses);
			tcase_add_test(tc, tcp_nodelay_and_localhost);
			tcase_add_test(tc, tcp_rebind_at_once);
			tcase_add_test(tc, tcp_every_interface);
		} else {
			tcase_add_test(tc, unix_stale_and_live);
			tcase_add_test(tc, unix_not_a_socket);
			tcase_add_test(tc, unix_mode);
			tcase_add_test(tc, unix_close_ownership);
			tcase_add_test(tc, unix_stale_race);
			tcase_add_test(tc, unix_lock_respected);
			tcase_add_test(tc, unix_abstract);
			tcase_add_test(tc, unix_addresses);
		}
	} else if (strcmp(mode, "hooks") == 0) {
		tcase_add_test(tc, sock_client_killed_mid_frame);   /* a crash point */
	} else if (strcmp(mode, "ipv6") == 0) {
		tcase_add_test(tc, tcp_ipv6_loopback);
	} else if (strcmp(mode, "netns") == 0) {
		tcase_add_test(tc, tcp_two_namespaces);
	} else if (strcmp(mode, "uid") == 0) {
		tcase_add_test(tc, unix_other_uid_refused);
		tcase_add_test(tc, unix_other_uid_listener_refused);
	}
	suite_add_tcase(s, tc);
	return s;
}

/* Can this machine bind the IPv6 loopback? */
static int
have_ipv6_loopback(void)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

int
main(int argc, char **argv)
{
	const char *mode = argc > 2 ? argv[2] : NULL;
	int rc;

	if (argc < 2 || (strcmp(argv[1], "tcp") && strcmp(argv[1], "unix") &&
	                 (strcmp(argv[1], "tls") || !mode || strcmp(mode, "netns")))) {
		fprintf(stderr, "usage: %s tcp|unix [hooks|ipv6|netns|uid], %s tls netns\n",
		        argv[0], argv[0]);
		return 2;
	}
	scheme = argv[1];
	signal(SIGPIPE, SIG_DFL);   /* a SIGPIPE would kill the test: none may come */
	if (mode && strcmp(mode, "hooks") == 0)
		test_need_hooks("clients killed by a crash point mid-frame");
	if (mode && strcmp(mode, "ipv6") == 0 && !have_ipv6_loopback())
		test_skip("no IPv6 loopback (::1) on this machine");
	if (mode && strcmp(mode, "uid") == 0) {
		if (geteuid() != 0)
			test_skip("refusing another uid needs root to become nobody");
	}
	if (mode && strcmp(mode, "netns") == 0) {
		if (geteuid() != 0)
			test_skip("network namespaces need root");
		netns_up();
		if (strcmp(argv[1], "tls") == 0) {
			char san[48];

			if (!test_have_listener("tls+tcp://127.0.0.1:0")) {
				netns_down();
				test_skip("libipc has no tls+tcp:// driver");
			}
			/* The listener's address must be in its certificate. */
			snprintf(san, sizeof(san), "IP:%s", ns_ip);
			setenv("IPC_TEST_TLS_SAN", san, 1);
			test_tls_certs();
			test_tls_conf(&client_tls, "client", 0);
		}
	}
	rc = test_run(sockets_suite(mode));
	if (mode && strcmp(mode, "netns") == 0)
		netns_down();
	return rc;
}
