/* ipc-bench rows: libzmq PAIR and nng pair1 over tcp:// and ipc://, when
 * ipc-bench is built with them. Their ratio is against the raw row. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#ifdef HAVE_ZMQ
#include <zmq.h>
#endif
#ifdef HAVE_NNG
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#endif

/* --- libzmq PAIR --- */

#ifdef HAVE_ZMQ
static int
zmq_ep_send(struct ep *e, const void *buf, size_t len)
{
	while (zmq_send(e->zsock, buf, len, 0) < 0) {
		if (zmq_errno() != EINTR || timed_out)
			return zmq_errno() == EAGAIN || zmq_errno() == EINTR ? -ETIMEDOUT : -zmq_errno();
	}
	return 0;
}

static ssize_t
zmq_ep_recv(struct ep *e, void *buf, size_t cap)
{
	int n;

	while ((n = zmq_recv(e->zsock, buf, cap, 0)) < 0) {
		if (zmq_errno() != EINTR || timed_out)
			return zmq_errno() == EAGAIN || zmq_errno() == EINTR ? -ETIMEDOUT : -zmq_errno();
	}
	return (size_t)n > cap ? -EMSGSIZE : n;
}

static void
zmq_ep_close(struct ep *e)
{
	if (e->zsock)
		zmq_close(e->zsock);
	if (e->zctx)
		zmq_ctx_term(e->zctx);
	e->zsock = e->zctx = NULL;
}

static const struct ep_ops zmq_ops = { zmq_ep_send, zmq_ep_recv, zmq_ep_close, NULL };
#endif

/* --- nng pair1 --- */

#ifdef HAVE_NNG
/* nng_socket is a struct of one id: the endpoint keeps the id */
#define NS(e) ((nng_socket){ .id = (e)->nsock })

static int
nng_err(int rv)
{
	switch (rv) {
	case NNG_ETIMEDOUT:    return -ETIMEDOUT;
	case NNG_ECLOSED:      return -EPIPE;
	case NNG_ENOMEM:       return -ENOMEM;
	case NNG_ECONNREFUSED: return -ECONNREFUSED;
	default:               return -EIO;
	}
}

static int
nng_ep_send(struct ep *e, const void *buf, size_t len)
{
	int rv = nng_send(NS(e), (void *)buf, len, 0);

	return rv ? nng_err(rv) : 0;
}

static ssize_t
nng_ep_recv(struct ep *e, void *buf, size_t cap)
{
	size_t sz = cap;
	int rv = nng_recv(NS(e), buf, &sz, 0);

	return rv ? nng_err(rv) : (ssize_t)sz;
}

static void
nng_ep_close(struct ep *e)
{
	nng_close(NS(e));
}

static const struct ep_ops nng_ops = { nng_ep_send, nng_ep_recv, nng_ep_close, NULL };
#endif


static int
mq_prepare(struct run *r)
{
	if (strcmp(r->im->transport, "unix") == 0) {
		dir_path(r->path[0], sizeof(r->path[0]), r->im->impl);
		strcat(r->path[0], ".sock");
	}
	return 0;
}

#ifdef HAVE_ZMQ
static int
zmq_attach(struct run *r, int child, struct ep *e)
{
	char ep_name[512];
	size_t len = sizeof(ep_name);
	int tmo = 10000, zero = 0, rc;

	ep_init(e, &zmq_ops);
	if (!(e->zctx = zmq_ctx_new()) || !(e->zsock = zmq_socket(e->zctx, ZMQ_PAIR)))
		return -zmq_errno();
	zmq_setsockopt(e->zsock, ZMQ_RCVTIMEO, &tmo, sizeof(tmo));
	zmq_setsockopt(e->zsock, ZMQ_SNDTIMEO, &tmo, sizeof(tmo));
	zmq_setsockopt(e->zsock, ZMQ_LINGER, &zero, sizeof(zero));
	if (child) {
		if ((rc = rv_recv(r, ep_name, sizeof(ep_name))) < 0)
			return rc;
		return zmq_connect(e->zsock, ep_name) < 0 ? -zmq_errno() : 0;
	}
	if (r->path[0][0])
		snprintf(ep_name, sizeof(ep_name), "ipc://%s", r->path[0]);
	else
		snprintf(ep_name, sizeof(ep_name), "tcp://127.0.0.1:*");
	if (zmq_bind(e->zsock, ep_name) < 0)
		return -zmq_errno();
	if (zmq_getsockopt(e->zsock, ZMQ_LAST_ENDPOINT, ep_name, &len) < 0)
		return -zmq_errno();
	return rv_send(r, ep_name);
}
#endif

#ifdef HAVE_NNG
static int
nng_attach(struct run *r, int child, struct ep *e)
{
	char url[512];
	nng_listener l;
	nng_socket s;
	int rv, port;

	ep_init(e, &nng_ops);
	if ((rv = nng_pair1_open(&s)) != 0)
		return nng_err(rv);
	e->nsock = s.id;
	nng_socket_set_ms(NS(e), NNG_OPT_RECVTIMEO, 10000);
	nng_socket_set_ms(NS(e), NNG_OPT_SENDTIMEO, 10000);
	/* Queues of 128 messages each way, about what a pipe buffers for small
	 * messages; nng's default of 0 would make streaming a lock-step. */
	nng_socket_set_int(NS(e), NNG_OPT_RECVBUF, 128);
	nng_socket_set_int(NS(e), NNG_OPT_SENDBUF, 128);
	if (child) {
		if ((rv = rv_recv(r, url, sizeof(url))) < 0)
			return rv;
		return (rv = nng_dial(NS(e), url, NULL, 0)) ? nng_err(rv) : 0;
	}
	if (r->path[0][0])
		snprintf(url, sizeof(url), "ipc://%s", r->path[0]);
	else
		snprintf(url, sizeof(url), "tcp://127.0.0.1:0");
	if ((rv = nng_listener_create(&l, NS(e), url)) || (rv = nng_listener_start(l, 0)))
		return nng_err(rv);
	if (!r->path[0][0]) {
		if ((rv = nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port)))
			return nng_err(rv);
		snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	}
	return rv_send(r, url);
}
#endif

static void
mq_cleanup(struct run *r)
{
	if (r->path[0][0])
		unlink(r->path[0]);
}

const struct impl bench_rows_mq[] = {
#ifdef HAVE_ZMQ
	{ "tcp", "zmq", "raw", mq_prepare, zmq_attach, mq_cleanup, "PAIR", 0 },
	{ "unix", "zmq", "raw", mq_prepare, zmq_attach, mq_cleanup, "PAIR over ipc://", 0 },
#endif
#ifdef HAVE_NNG
	{ "tcp", "nng", "raw", mq_prepare, nng_attach, mq_cleanup, "pair1", 0 },
	{ "unix", "nng", "raw", mq_prepare, nng_attach, mq_cleanup, "pair1 over ipc://", 0 },
#endif
	{ NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0 },
};
const size_t bench_nrows_mq = sizeof(bench_rows_mq) / sizeof(bench_rows_mq[0]) - 1;
