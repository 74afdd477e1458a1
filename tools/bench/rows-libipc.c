/* ipc-bench rows: libipc itself, one row per transport, against the raw row
 * of the same mechanism (rows-raw.c). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define SHM_CAPACITY (4u << 20)     /* room for a 1 MiB message and then some */

/* --- libipc --- */

static int
lib_send(struct ep *e, const void *buf, size_t len)
{
	ssize_t r = ipc_send(e->tx, buf, len, -1);

	return r < 0 ? (int)r : 0;
}

static ssize_t
lib_recv(struct ep *e, void *buf, size_t cap)
{
	return ipc_recv(e->rx, buf, cap, -1);
}

static void
lib_close(struct ep *e)
{
	if (e->rx != e->tx)
		ipc_close(e->rx);
	ipc_close(e->tx);
	e->rx = e->tx = NULL;
}


/* ipc_sendv: a 16-byte application header and the payload, two pieces. */
static int
lib_sendv(struct ep *e, const void *buf, size_t len)
{
	size_t h = len < 16 ? len : 16;
	struct iovec v[2] = { { (void *)buf, h }, { (char *)buf + h, len - h } };
	ssize_t r = ipc_sendv(e->tx, v, 2, -1);

	return r < 0 ? (int)r : 0;
}

/* ipc_send_batch of n copies; with timeout -1 it sends all n or fails. */
static int
lib_send_batch(struct ep *e, const void *buf, size_t len, size_t n)
{
	struct iovec m[MAX_BATCH];
	size_t i;
	ssize_t r;

	for (i = 0; i < n; i++)
		m[i] = (struct iovec){ (void *)buf, len };
	r = ipc_send_batch(e->tx, m, n, -1);
	return r < 0 ? (int)r : r == (ssize_t)n ? 0 : -EIO;
}

/* The batch rows receive with ipc_recv_batch into MAX_BATCH buffers and
 * hand the messages out one by one (one copy, as the raw-wv rows' reader). */
#define QSLOT 4160                  /* the batch rows' largest size and then some */

static ssize_t
lib_recv_batched(struct ep *e, void *buf, size_t cap)
{
	struct iovec *q;
	ssize_t r;
	size_t i;

	if (!e->rbuf && !(e->rbuf = malloc(MAX_BATCH * (QSLOT + sizeof(struct iovec)))))
		return -ENOMEM;
	q = (struct iovec *)(e->rbuf + MAX_BATCH * QSLOT);
	if (e->roff == e->rlen) {
		for (i = 0; i < MAX_BATCH; i++)
			q[i] = (struct iovec){ e->rbuf + i * QSLOT, QSLOT };
		if ((r = ipc_recv_batch(e->rx, q, MAX_BATCH, -1)) < 0) {
			if (r != -EMSGSIZE)
				return r;
			return ipc_recv(e->rx, buf, cap, -1);   /* the harness's own commands */
		}
		e->roff = 0;
		e->rlen = (size_t)r;
	}
	i = e->roff++;
	if (q[i].iov_len > cap)
		return -EMSGSIZE;
	memcpy(buf, q[i].iov_base, q[i].iov_len);
	return (ssize_t)q[i].iov_len;
}

static void
lib_close_batched(struct ep *e)
{
	lib_close(e);
	free(e->rbuf);
	e->rbuf = NULL;
}

const struct ep_ops bench_lib_ops = { lib_send, lib_recv, lib_close, NULL };
static const struct ep_ops libv_ops = { lib_sendv, lib_recv, lib_close, NULL };
static const struct ep_ops libb_ops = { lib_send, lib_recv_batched, lib_close_batched,
	                                lib_send_batch };

/* The row's flavour of the endpoint: single calls, sendv, or batches. */
static const struct ep_ops *
ops_for(const struct run *r)
{
	if (r->im->batch)
		return &libb_ops;
	if (strcmp(r->im->impl, "sendv") == 0)
		return &libv_ops;
	return &bench_lib_ops;
}


static int
pipe_lib_prepare(struct run *r)
{
	int rc;

	if ((rc = ipc_pipe(&r->ch[0], 0)) < 0)          /* parent -> child */
		return rc;
	return ipc_pipe(&r->ch[2], 0);                 /* child -> parent */
}

static int
pipe_lib_attach(struct run *r, int child, struct ep *e)
{
	ep_init(e, ops_for(r));
	if (child) {
		ipc_close(r->ch[1]);
		ipc_close(r->ch[2]);
		e->rx = r->ch[0];
		e->tx = r->ch[3];
	} else {
		ipc_close(r->ch[0]);
		ipc_close(r->ch[3]);
		e->rx = r->ch[2];
		e->tx = r->ch[1];
	}
	memset(r->ch, 0, sizeof(r->ch));
	return 0;
}


static int
fd_lib_attach(struct run *r, int child, struct ep *e)
{
	char uri[64];
	int rc;

	ep_init(e, ops_for(r));
	if (child) {
		close_fd(&r->fd[1]);
		close_fd(&r->fd[2]);
		snprintf(uri, sizeof(uri), "fd:%d,%d", r->fd[0], r->fd[3]);
	} else {
		close_fd(&r->fd[0]);
		close_fd(&r->fd[3]);
		snprintf(uri, sizeof(uri), "fd:%d,%d", r->fd[2], r->fd[1]);
	}
	if ((rc = ipc_open(&e->tx, uri, IPC_SEND | IPC_RECV, NULL)) < 0)
		return rc;
	e->rx = e->tx;
	r->fd[0] = r->fd[1] = r->fd[2] = r->fd[3] = -1;   /* the channel owns them */
	return 0;
}


static int
fifo_lib_prepare(struct run *r)
{
	static const ipc_options o = { .size = sizeof(o), .open_timeout_ms = 10000 };

	dir_path(r->path[0], sizeof(r->path[0]), "lib-p2c.fifo");
	dir_path(r->path[1], sizeof(r->path[1]), "lib-c2p.fifo");
	snprintf(r->uri, sizeof(r->uri), "fifo:%s", r->path[1]);
	/* The parent reads child -> parent: a reader opens at once. */
	return ipc_open(&r->ch[0], r->uri, IPC_RECV | IPC_CREATE, &o);
}

static int
fifo_lib_attach(struct run *r, int child, struct ep *e)
{
	static const ipc_options o = { .size = sizeof(o), .open_timeout_ms = 10000 };
	char uri[320];
	int64_t end = now_ns() + 10000000000LL;
	int rc;

	ep_init(e, ops_for(r));
	snprintf(uri, sizeof(uri), "fifo:%s", r->path[0]);
	if (child) {
		ipc_close(r->ch[0]);        /* the parent's: closing our copy leaves it be */
		if ((rc = ipc_open(&e->rx, uri, IPC_RECV | IPC_CREATE, &o)) < 0)
			return rc;
		return ipc_open(&e->tx, r->uri, IPC_SEND, &o);
	}
	e->rx = r->ch[0];
	r->ch[0] = NULL;
	/* The child creates parent -> child; wait for it to appear. */
	while ((rc = ipc_open(&e->tx, uri, IPC_SEND, &o)) == -ENOENT && now_ns() < end &&
	       !timed_out)
		usleep(500);
	return rc;
}

/* --- sockets through libipc listeners: tcp, unix --- */

static int
listen_lib(struct run *r, const char *uri)
{
	int rc;

	if ((rc = ipc_listen(&r->lst, uri, 0, NULL)) < 0)
		return rc;
	rc = ipc_listener_addr(r->lst, r->uri, sizeof(r->uri));
	return rc < 0 ? rc : 0;
}

static int
tcp_lib_prepare(struct run *r)
{
	return listen_lib(r, "tcp://127.0.0.1:0");
}

static int
unix_lib_prepare(struct run *r)
{
	char uri[320];

	dir_path(r->path[0], sizeof(r->path[0]), "lib.sock");
	snprintf(uri, sizeof(uri), "unix:%s", r->path[0]);
	return listen_lib(r, uri);
}

static int
sock_lib_attach(struct run *r, int child, struct ep *e)
{
	static const ipc_options o = { .size = sizeof(o), .open_timeout_ms = 10000 };
	int rc;

	ep_init(e, ops_for(r));
	if (child)
		rc = ipc_open(&e->tx, r->uri, IPC_SEND | IPC_RECV, &o);
	else
		rc = ipc_accept(r->lst, &e->tx, 10000);
	e->rx = e->tx;
	return rc;
}

void
sock_lib_cleanup(struct run *r)
{
	ipc_listener_close(r->lst);
	r->lst = NULL;
	if (r->path[0][0])
		unlink(r->path[0]);     /* only if the driver left it */
}

/* --- shm --- */

static int
shm_lib_prepare(struct run *r)
{
	static const ipc_options o = { .size = sizeof(o), .capacity = SHM_CAPACITY };

	snprintf(r->uri, sizeof(r->uri), "shm:/ipc-bench-%d-lib", (int)getpid());
	return ipc_open(&r->ch[0], r->uri, IPC_SEND | IPC_RECV | IPC_CREATE, &o);
}

static int
shm_lib_attach(struct run *r, int child, struct ep *e)
{
	static const ipc_options o = { .size = sizeof(o), .open_timeout_ms = 10000 };
	int rc;

	ep_init(e, ops_for(r));
	if (child) {
		ipc_close(r->ch[0]);        /* the creator's: our copy only unmaps */
		r->ch[0] = NULL;
		rc = ipc_open(&e->tx, r->uri, IPC_SEND | IPC_RECV, &o);
		e->rx = e->tx;
		return rc;
	}
	e->tx = e->rx = r->ch[0];
	r->ch[0] = NULL;
	return 0;
}

/* --- shm: the receiver reads every byte it is given (a checksum), from its
 * own copy (copy+sum) or in the ring (loan); the loan sender builds each
 * message in the ring (the same bytes the copying sender copies in). --- */

static volatile uint64_t sum_sink;   /* keeps the checksums alive */

static uint64_t
checksum(const unsigned char *p, size_t len)
{
	uint64_t s = 0, w;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		s += w;
	}
	for (; i < len; i++)
		s += p[i];
	return s;
}

static ssize_t
lib_recv_sum(struct ep *e, void *buf, size_t cap)
{
	ssize_t r = ipc_recv(e->rx, buf, cap, -1);

	if (r > 0)
		sum_sink += checksum(buf, (size_t)r);
	return r;
}

/* The message stays in the ring: nothing is copied into @p buf. */
static ssize_t
loan_recv_sum(struct ep *e, void *buf, size_t cap)
{
	const void *p;
	ssize_t r = ipc_recv_peek(e->rx, &p, -1);
	int rc;

	(void)buf;
	if (r < 0)
		return r;
	if ((size_t)r > cap) {
		ipc_recv_release(e->rx, p);
		return -EMSGSIZE;
	}
	sum_sink += checksum(p, (size_t)r);
	return (rc = ipc_recv_release(e->rx, p)) < 0 ? rc : r;
}

static int
loan_send(struct ep *e, const void *buf, size_t len)
{
	void *p;
	ssize_t r = ipc_send_reserve(e->tx, &p, len, -1);

	if (r < 0)
		return (int)r;
	if (len)
		memcpy(p, buf, len);
	return ipc_send_commit(e->tx, p, len);
}

/* The parent receives the streams, the child sends them (and receives the
 * harness's commands, which must be copied out). */
static const struct ep_ops sum_rx_ops = { lib_send, lib_recv_sum, lib_close, NULL };
static const struct ep_ops loan_rx_ops = { lib_send, loan_recv_sum, lib_close, NULL };
static const struct ep_ops loan_tx_ops = { loan_send, lib_recv, lib_close, NULL };

static int
shm_sum_attach(struct run *r, int child, struct ep *e)
{
	int rc = shm_lib_attach(r, child, e);
	int loan = strcmp(r->im->impl, "loan") == 0;

	if (child)
		e->ops = loan ? &loan_tx_ops : &bench_lib_ops;
	else
		e->ops = loan ? &loan_rx_ops : &sum_rx_ops;
	return rc;
}

/* ------------------------------------------------------------ the rows */

const struct impl bench_rows_libipc[] = {
	{ "pipe", "libipc", "raw", pipe_lib_prepare, pipe_lib_attach, no_cleanup, NULL, 0 },
	{ "fifo", "libipc", "raw", fifo_lib_prepare, fifo_lib_attach, fifo_cleanup, NULL, 0 },
	{ "fd", "libipc", "raw", pipe_raw_prepare, fd_lib_attach, fd_cleanup,
	  "fd:R,W over two pipes", 0 },
	{ "tcp", "libipc", "raw", tcp_lib_prepare, sock_lib_attach, sock_lib_cleanup, NULL, 0 },
	{ "unix", "libipc", "raw", unix_lib_prepare, sock_lib_attach, sock_lib_cleanup, NULL, 0 },
	{ "shm", "libipc", "raw-sem", shm_lib_prepare, shm_lib_attach, no_cleanup, NULL, 0 },
	{ "tcp", "sendv", "raw", tcp_lib_prepare, sock_lib_attach, sock_lib_cleanup,
	  "ipc_sendv of a 16-byte header + the payload", 0 },
	{ "unix", "sendv", "raw", unix_lib_prepare, sock_lib_attach, sock_lib_cleanup,
	  "ipc_sendv of a 16-byte header + the payload", 0 },
#define BATCH_ROWS(tr, prep, att, clean) \
	{ tr, "batch16", "raw-wv16", prep, att, clean, "ipc_send_batch of 16, ipc_recv_batch", 16 }, \
	{ tr, "batch64", "raw-wv64", prep, att, clean, "ipc_send_batch of 64, ipc_recv_batch", 64 }, \
	{ tr, "batch256", "raw-wv256", prep, att, clean, "ipc_send_batch of 256, ipc_recv_batch", 256 }
	BATCH_ROWS("pipe", pipe_lib_prepare, pipe_lib_attach, no_cleanup),
	BATCH_ROWS("tcp", tcp_lib_prepare, sock_lib_attach, sock_lib_cleanup),
	BATCH_ROWS("unix", unix_lib_prepare, sock_lib_attach, sock_lib_cleanup),
	{ "shm", "copy+sum", "libipc", shm_lib_prepare, shm_sum_attach, no_cleanup,
	  "ipc_send / ipc_recv, the receiver checksums every byte; one-way", 0 },
	{ "shm", "loan", "copy+sum", shm_lib_prepare, shm_sum_attach, no_cleanup,
	  "ipc_send_reserve + commit, ipc_recv_peek + checksum in place + release; one-way", 0 },
	{ "shm", "batch16", "libipc", shm_lib_prepare, shm_lib_attach, no_cleanup,
	  "ipc_send_batch of 16, ipc_recv_batch; against unbatched libipc", 16 },
	{ "shm", "batch64", "libipc", shm_lib_prepare, shm_lib_attach, no_cleanup,
	  "ipc_send_batch of 64, ipc_recv_batch; against unbatched libipc", 64 },
	{ "shm", "batch256", "libipc", shm_lib_prepare, shm_lib_attach, no_cleanup,
	  "ipc_send_batch of 256, ipc_recv_batch; against unbatched libipc", 256 },
};
const size_t bench_nrows_libipc = sizeof(bench_rows_libipc) / sizeof(bench_rows_libipc[0]);
