/* tls+tcp://: the tcp transport with TLS between the socket and the framing.
 * Addresses, connect, bind and the listener's bounded handshake set are
 * tcp's (lib/drivers/tcp.c, lib/sockets.c); the TLS byte stream
 * (lib/tls/stream.c) sits under the framing, so the hello and every frame
 * travel inside TLS and the wire format is unchanged one layer up. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../sockets.h"
#include "../tls/driver.h"
#include "../tls/stream.h"

#define TLS_HOST_MAX 256

/* The TLS stream as the framing layer's byte stream. */
struct tls_bytes {
	struct ipc__bytes       base;
	struct ipc__tls_stream *s;
};

/* Channel state: the framing's pointer first (framing.c's), then ours. */
struct tls_chan {
	void             *framing;
	struct tls_bytes *b;
};

/* Listener state is the socket layer's (struct ipc__sock_listener), with
 * the SSL_CTX as its wrap argument. */

static ssize_t
tls_b_read(struct ipc__bytes *b, void *buf, size_t n)
{
	struct iovec iov = { buf, n };

	return ipc__tls_stream_readv(((struct tls_bytes *)b)->s, &iov, 1);
}

static ssize_t
tls_b_writev(struct ipc__bytes *b, const struct iovec *iov, int n)
{
	return ipc__tls_stream_writev(((struct tls_bytes *)b)->s, iov, n);
}

static int
tls_b_wait(struct ipc__bytes *b, short events, long long deadline)
{
	return ipc__tls_stream_wait(((struct tls_bytes *)b)->s, b->ch, events, deadline);
}

static int
tls_b_fd(const struct ipc__bytes *b, short events)
{
	(void)events;
	return ipc__tls_stream_fd(((const struct tls_bytes *)b)->s);
}

static size_t
tls_b_pending(const struct ipc__bytes *b)
{
	return ipc__tls_stream_pending(((const struct tls_bytes *)b)->s);
}

static void
tls_b_close(struct ipc__bytes *b)
{
	struct tls_bytes *t = (struct tls_bytes *)b;

	ipc__tls_stream_close(t->s, IPC__CLOSE_LINGER_MS);
	free(t);
}

static const struct ipc__bytes_ops tls_bytes_ops = {
	.read = tls_b_read,
	.writev = tls_b_writev,
	.wait = tls_b_wait,
	.fd = tls_b_fd,
	.pending = tls_b_pending,
	.close = tls_b_close,
};

/* A stream over @p fd (taken over on success). */
static int
tls_bytes_new(struct tls_bytes **out, SSL_CTX *ctx, int fd, const char *name, int server,
              int raw)
{
	struct tls_bytes *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return -ENOMEM;
	if ((rc = ipc__tls_stream_new(&t->s, ctx, fd, name, server, raw)) < 0) {
		free(t);
		return rc;
	}
	t->base.ops = &tls_bytes_ops;
	*out = t;
	return 0;
}

/* Hand @p t to @p ch's framing (taken over, whatever happens). */
static int
tls_attach(ipc_channel *ch, struct tls_bytes *t)
{
	struct tls_chan *c = ch->priv;
	int rc;

	t->base.ch = ch;
	if ((rc = ipc__stream_init(ch, &t->base)) < 0) {
		tls_b_close(&t->base);
		return rc;
	}
	c->b = t;
	return 0;
}

/* ------------------------------------------------------------- connector */

/* The handshake, bounded by @p deadline. */
static int
tls_handshake(ipc_channel *ch, struct tls_bytes *t, long long deadline)
{
	short ev;
	int rc;

	while ((rc = ipc__tls_stream_handshake(t->s, &ev)) == -EAGAIN)
		if ((rc = ipc__tls_stream_wait(t->s, ch, ev, deadline)) < 0)
			return rc;
	return rc;
}

/* Our hello, then the listener's, inside TLS. A listener that refused our
 * certificate says so here, in its alert (TLS 1.3: after our handshake). */
static int
tls_hellos(ipc_channel *ch, struct tls_bytes *t, long long deadline, uint32_t *peer_max)
{
	unsigned char h[IPC__HELLO_SIZE];
	size_t off = 0;
	ssize_t r;
	int rc;

	ipc__hello_fill(h, (uint32_t)ipc__max_msg(&ch->opt));
	while (off < sizeof(h)) {
		struct iovec iov = { h + off, sizeof(h) - off };

		if ((r = tls_b_writev(&t->base, &iov, 1)) > 0) {
			off += (size_t)r;
			continue;
		}
		if (r != -EAGAIN)
			return r == -EPIPE ? -ECONNREFUSED : (int)r;
		if ((rc = tls_b_wait(&t->base, POLLOUT, deadline)) < 0)
			return rc;
	}
	for (off = 0; off < sizeof(h);) {
		/* Exactly what is missing: frames behind it stay for the framing. */
		if ((r = tls_b_read(&t->base, h + off, sizeof(h) - off)) > 0) {
			off += (size_t)r;
			if (!ipc__hello_prefix_ok(h, off))
				return -EPROTO;
			continue;
		}
		if (r == 0)
			return off ? -EPROTO : -ECONNREFUSED;
		if (r != -EAGAIN)
			return (int)r;
		if ((rc = tls_b_wait(&t->base, POLLIN, deadline)) < 0)
			return rc;
	}
	return ipc__hello_check(h, peer_max);
}

static int
tls_open(ipc_channel *ch, const char *addr, int flags, const ipc_options *opt)
{
	long long deadline = ipc_deadline(opt->open_timeout_ms);
	struct tls_bytes *t = NULL;
	char host[TLS_HOST_MAX];
	struct ipc_tls conf;
	uint32_t peer_max = 0;
	SSL_CTX *ctx;
	int fd, rc;

	if ((rc = ipc__tls_conf_fill(&conf, opt->tls)) < 0 ||
	    (rc = ipc__tls_ctx_new(&ctx, &conf, 0)) < 0)
		return rc;
	if ((fd = ipc__tcp_connect(ch, addr, deadline, host, sizeof(host))) < 0) {
		SSL_CTX_free(ctx);
		return fd;
	}
	rc = tls_bytes_new(&t, ctx, fd, conf.server_name ? conf.server_name : host, 0,
	                   flags & IPC_RAW);
	SSL_CTX_free(ctx);      /* the session keeps its own reference */
	if (rc < 0) {
		close(fd);
		return rc;
	}
	t->base.ch = ch;
	if ((rc = tls_handshake(ch, t, deadline)) < 0 ||
	    (!(flags & IPC_RAW) && (rc = tls_hellos(ch, t, deadline, &peer_max)) < 0)) {
		tls_b_close(&t->base);
		return rc;
	}
	if ((rc = tls_attach(ch, t)) < 0)
		return rc;
	if (!(flags & IPC_RAW))
		ipc__stream_set_peer(ch, peer_max);
	return 0;
}

/* -------------------------------------------------------------- listener */

static int
tls_wrap_start(void *arg, int fd, int flags, struct ipc__bytes **io)
{
	struct tls_bytes *t;
	int rc;

	if ((rc = tls_bytes_new(&t, arg, fd, NULL, 1, flags & IPC_RAW)) < 0)
		return rc;
	*io = &t->base;
	return 0;
}

static int
tls_wrap_step(struct ipc__bytes *io, short *events)
{
	return ipc__tls_stream_handshake(((struct tls_bytes *)io)->s, events);
}

static int
tls_wrap_attach(ipc_channel *ch, struct ipc__bytes *io)
{
	return tls_attach(ch, (struct tls_bytes *)io);
}

static const struct ipc__sock_wrap tls_wrap = {
	.start = tls_wrap_start,
	.step = tls_wrap_step,
	.attach = tls_wrap_attach,
};

static int
tls_listen(ipc_listener *l, const char *addr, int flags, const ipc_options *opt)
{
	struct ipc__sock_listener *sl;
	struct ipc_tls conf;
	SSL_CTX *ctx;
	int rc;

	/* The configuration first: a bad key is refused before anything binds. */
	if ((rc = ipc__tls_conf_fill(&conf, opt->tls)) < 0 ||
	    (rc = ipc__tls_ctx_new(&ctx, &conf, 1)) < 0)
		return rc;
	if ((rc = ipc__tcp_listen(l, addr, flags, "tls+tcp")) < 0) {
		SSL_CTX_free(ctx);
		return rc;
	}
	sl = ipc__sock_listener_get(l);
	sl->wrap = &tls_wrap;
	sl->wrap_arg = ctx;
	return 0;
}

static void
tls_listener_close(ipc_listener *l)
{
	struct ipc__sock_listener *sl = ipc__sock_listener_get(l);

	if (sl)
		SSL_CTX_free(sl->wrap_arg);
	ipc__sock_listener_free(l);
}

/* --------------------------------------------------------------- queries */

int
ipc__tls_channel_peer_cert(const ipc_channel *ch, char *subject, size_t cap,
                           unsigned char sha256[32])
{
	const struct tls_chan *c = ch->priv;
	const SSL *ssl;

	if (!c || !c->b || !(ssl = ipc__tls_stream_ssl(c->b->s)))
		return -ENOTCONN;
	return ipc__tls_peer_cert(ssl, subject, cap, sha256);
}

const struct ipc_driver ipc__drv_tls = {
	.abi = IPC_DRIVER_ABI,
	.size = sizeof(struct ipc_driver),
	.scheme = "tls+tcp",
	.priv_size = sizeof(struct tls_chan),
	.listener_priv_size = sizeof(struct ipc__sock_listener),
	.open = tls_open,
	.send = ipc__stream_send,
	.sendv      = ipc__stream_sendv,
	.send_batch = ipc__stream_send_batch,
	.recv_batch = ipc__stream_recv_batch,
	.recv = ipc__stream_recv,
	.recv_size = ipc__stream_recv_size,
	.fd = ipc__stream_fd,
	.flush = ipc__stream_flush,
	.poll = ipc__stream_poll,
	.close = ipc__stream_close,
	.listen = tls_listen,
	.accept = ipc__sock_accept,
	.listener_addr = ipc__sock_listener_addr,
	.listener_fd = ipc__sock_listener_fd,
	.listener_shutdown = ipc__sock_listener_shutdown,
	.listener_close = tls_listener_close,
};
