/* Fuzz target: the listener's handshake (lib/sockets.c) on a unix listener.
 * Up to four hostile clients, plain sockets driven by the input, connect,
 * send arbitrary bytes (or hellos and frames), shut down and close, while
 * the listener accepts with timeout 0; then well-behaved clients arrive
 * and the listener must still serve each of them: accept it, deliver its
 * message, and answer it.
 *
 *   u8  mode   bit 0: socket file in a private directory (else abstract)
 *              bits 1-2: how many well-behaved clients come at the end, 1..4
 *   u16 the listener's max_msg above 64
 *   ops: u8 op, bits 0-1 the client, bits 2-7 what it does:
 *        0 connect; 1 u8 n, n bytes: send them; 2 u32 m: send a hello with
 *        max_msg m; 3 u16 n: send a frame of n bytes; 4 shutdown(SHUT_WR);
 *        5 close; 6 read what the listener sent; 8 close the oldest channel
 *        accepted so far; anything else: ipc_accept(timeout 0), and a
 *        channel it returns is drained with timeout 0 and answered.
 *
 * Checked: no crash; every ipc_accept answer is a channel, -EAGAIN or a
 * descriptor error; what a client reads starts with the listener's valid
 * hello; each well-behaved client is accepted, its message delivered and
 * answered within a generous bound; nothing left behind (descriptors, the
 * socket file). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ipc/ipc.h>

#include "fuzz-common.h"

#define NHOSTILE  4
#define NACCEPTED 8
#define SERVE_MS  5000      /* a well-behaved client is served within this */

struct client {
	int           fd;
	unsigned char seen[12];     /* the first bytes the listener sent */
	size_t        nseen;
};

struct run {
	ipc_listener *l;
	struct sockaddr_un sa;
	socklen_t     salen;
	unsigned char hello[12];    /* what the listener must send first */
	struct client c[NHOSTILE];
	ipc_channel  *acc[NACCEPTED];
	size_t        nacc;
};

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void
hello_bytes(unsigned char h[12], uint32_t max)
{
	memcpy(h, "\x89IPC\x01\0\0\0", 8);
	put32(h + 8, max);
}

static int
client_connect(struct run *r)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		fz_fail("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&r->sa, r->salen) < 0)
		fz_fail("connect to the listener: %s", strerror(errno));
	return fd;
}

static void
client_send(struct client *c, const void *p, size_t n)
{
	/* A full socket buffer drops the rest: the listener reads slowly. */
	if (c->fd >= 0 && n)
		send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Whatever a client reads must start with the listener's hello. */
static void
client_read(struct run *r, struct client *c)
{
	unsigned char buf[4096];
	ssize_t n;

	while (c->fd >= 0 && (n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		size_t k = 12 - c->nseen < (size_t)n ? 12 - c->nseen : (size_t)n;

		memcpy(c->seen + c->nseen, buf, k);
		c->nseen += k;
		FZ_ASSERT(memcmp(c->seen, r->hello, c->nseen) == 0,
		          "a client read %zu bytes that are not the listener's hello", c->nseen);
	}
}

static void
drop_oldest(struct run *r)
{
	if (!r->nacc)
		return;
	ipc_close(r->acc[0]);
	memmove(r->acc, r->acc + 1, --r->nacc * sizeof(r->acc[0]));
}

/* Receive with timeout 0 until the channel has nothing more, then answer. */
static void
drain_channel(ipc_channel *ch)
{
	unsigned char buf[256];
	ssize_t n;
	int i;

	for (i = 0; i < 64; i++) {
		n = ipc_recv(ch, buf, sizeof(buf), 0);
		FZ_ASSERT(n <= (ssize_t)sizeof(buf), "ipc_recv: %zd bytes into %zu", n, sizeof(buf));
		if (n == -EMSGSIZE) {
			n = ipc_recv_size(ch, 0);
			FZ_ASSERT(n > (ssize_t)sizeof(buf), "-EMSGSIZE, then ipc_recv_size says %zd", n);
			break;
		}
		if (n < 0)
			break;
	}
	ipc_send(ch, "reply", 5, 0);
}

static void
accept_once(struct run *r)
{
	ipc_channel *ch = NULL;
	int rc = ipc_accept(r->l, &ch, 0);

	if (rc == -EAGAIN)
		return;
	FZ_ASSERT(rc == 0, "ipc_accept(timeout 0): %d (%s)", rc, ipc_strerror(rc));
	drain_channel(ch);
	if (r->nacc == NACCEPTED)
		drop_oldest(r);
	r->acc[r->nacc++] = ch;
}

static void
hostile_op(struct run *r, struct fz *f)
{
	unsigned op = fz_u8(f), what = op >> 2;
	struct client *c = &r->c[op & 3];
	unsigned char buf[4 + 65535];
	const uint8_t *p;
	size_t n;

	if (what <= 3 && c->fd < 0)
		c->fd = client_connect(r);
	switch (what) {
	case 0:
		break;
	case 1:
		p = fz_bytes(f, fz_u8(f), &n);
		client_send(c, p, n);
		break;
	case 2:
		hello_bytes(buf, fz_u32(f));
		client_send(c, buf, 12);
		break;
	case 3:
		n = fz_u16(f);
		put32(buf, (uint32_t)n);
		memset(buf + 4, 'h', n);
		client_send(c, buf, 4 + n);
		break;
	case 4:
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_WR);
		break;
	case 5:
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		c->nseen = 0;
		break;
	case 6:
		client_read(r, c);
		break;
	case 8:
		drop_oldest(r);
		break;
	default:
		accept_once(r);
	}
}

/* A well-behaved client: hello and one frame at once, as a libipc
 * connector sends them; then the listener must accept it, deliver the
 * frame and answer it. */
static void
serve_good(struct run *r, unsigned ngood)
{
	static unsigned serial;
	struct { int fd; char msg[64]; int served; } g[4];
	unsigned char out[12 + 4 + 64];
	unsigned i, served = 0, tries;

	for (i = 0; i < ngood; i++) {
		size_t len;

		g[i].fd = client_connect(r);
		g[i].served = 0;
		len = (size_t)snprintf(g[i].msg, sizeof(g[i].msg), "good-%ld-%u-%u",
		                       (long)getpid(), ++serial, i);
		hello_bytes(out, 1 << 20);
		put32(out + 12, (uint32_t)len);
		memcpy(out + 16, g[i].msg, len);
		FZ_ASSERT(send(g[i].fd, out, 16 + len, MSG_NOSIGNAL) == (ssize_t)(16 + len),
		          "a good client could not send its hello: %s", strerror(errno));
	}
	for (tries = 0; served < ngood; tries++) {
		ipc_channel *ch = NULL;
		char buf[64];
		ssize_t n;
		int rc;

		FZ_ASSERT(tries < 64, "the listener keeps accepting others, not the good clients");
		rc = ipc_accept(r->l, &ch, SERVE_MS);
		FZ_ASSERT(rc == 0, "ipc_accept with %u good clients waiting: %d (%s)",
		          ngood - served, rc, ipc_strerror(rc));
		/* The good frame went out with the hello: it is there already. */
		n = ipc_recv(ch, buf, sizeof(buf) - 1, 0);
		for (i = 0; i < ngood && n > 0; i++)
			if (!g[i].served && (size_t)n == strlen(g[i].msg) &&
			    memcmp(buf, g[i].msg, (size_t)n) == 0)
				break;
		if (n <= 0 || i == ngood) {
			drain_channel(ch);  /* a hostile client with a valid hello */
			ipc_close(ch);
			continue;
		}
		FZ_ASSERT(ipc_send(ch, g[i].msg, (size_t)n, SERVE_MS) == n,
		          "cannot answer a good client");
		g[i].served = 1;
		served++;
		ipc_close(ch);
	}
	/* Each one reads the listener's hello, then its answer. */
	for (i = 0; i < ngood; i++) {
		size_t want = 12 + 4 + strlen(g[i].msg), got = 0;
		struct pollfd p = { .fd = g[i].fd, .events = POLLIN };
		ssize_t k;

		while (got < want) {
			FZ_ASSERT(poll(&p, 1, SERVE_MS) == 1, "a good client waits for its answer");
			k = recv(g[i].fd, out + got, want - got, 0);
			FZ_ASSERT(k > 0, "a good client: %s", k ? strerror(errno) : "end of file");
			got += (size_t)k;
		}
		FZ_ASSERT(memcmp(out, r->hello, 12) == 0, "a good client got no valid hello");
		FZ_ASSERT(memcmp(out + 16, g[i].msg, want - 16) == 0, "a good client got another answer");
		close(g[i].fd);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned counter;
	struct fz f = { data, size };
	ipc_options opt = IPC_OPTIONS_INIT;
	struct run r;
	unsigned mode = fz_u8(&f), i;
	char uri[200];
	const char *left;
	int before = fz_fd_count(), rc;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < NHOSTILE; i++)
		r.c[i].fd = -1;
	opt.max_msg = 64 + fz_u16(&f);
	hello_bytes(r.hello, (uint32_t)opt.max_msg);
	r.sa.sun_family = AF_UNIX;
	if (mode & 1) {
		snprintf(uri, sizeof(uri), "unix:%s/l%u.sock", fz_dir(), ++counter);
		snprintf(r.sa.sun_path, sizeof(r.sa.sun_path), "%s", uri + 5);
		r.salen = (socklen_t)sizeof(r.sa);
	} else {
		snprintf(uri, sizeof(uri), "unix:@ipc-fuzz-%ld-l%u", (long)getpid(), ++counter);
		memcpy(r.sa.sun_path + 1, uri + 6, strlen(uri + 6));
		r.salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(uri + 5));
	}
	rc = ipc_listen(&r.l, uri, 0, &opt);
	FZ_ASSERT(rc == 0, "ipc_listen(%s): %s", uri, ipc_strerror(rc));

	while (f.n)
		hostile_op(&r, &f);
	serve_good(&r, 1 + ((mode >> 1) & 3));

	for (i = 0; i < NHOSTILE; i++)
		if (r.c[i].fd >= 0)
			close(r.c[i].fd);
	while (r.nacc)
		drop_oldest(&r);
	FZ_ASSERT(ipc_listener_close(r.l) == 0, "ipc_listener_close failed");
	if ((left = fz_dir_leftover()))
		fz_fail("the listener left %s behind", left);
	rc = fz_fd_count();
	FZ_ASSERT(rc == before, "descriptor leak: %d open before, %d after", before, rc);
	return 0;
}
