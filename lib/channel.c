/* Public entry points: argument checks, options, then the driver's ops. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ipc-private.h"
#include <ipc/version.h>

#define IPC__KNOWN_FLAGS (IPC_SEND | IPC_RECV | IPC_CREATE | IPC_RAW | IPC_ANY_UID)

int
ipc__options_fill(ipc_options *out, const ipc_options *in)
{
	*out = (ipc_options)IPC_OPTIONS_INIT;
	if (in) {
		const unsigned char *p = (const unsigned char *)in;
		size_t i;

		/* 0.1's struct ended before .tls: that size stays valid. */
		if (in->size != IPC__OPTIONS_SIZE_0_1 && in->size < sizeof(ipc_options))
			return -EINVAL;
		for (i = sizeof(ipc_options); i < in->size; i++)
			if (p[i])
				return -E2BIG;
		memcpy(out, in, in->size < sizeof(*out) ? in->size : sizeof(*out));
		out->size = sizeof(ipc_options);
	}
	if (out->max_msg > IPC_MSG_LIMIT || out->mode > 07777 || out->open_timeout_ms < -1)
		return -EINVAL;
	/* max_msg stays 0 ("the default") for the driver to see: shm's
	 * default depends on its ring, and an explicit 16 MiB is not it. */
	if (!out->capacity)
		out->capacity = IPC__DEFAULT_CAPACITY;
	if (!out->mode)
		out->mode = IPC__DEFAULT_MODE;
	if (!out->open_timeout_ms)
		out->open_timeout_ms = -1;
	return 0;
}

int
ipc__channel_new(ipc_channel **out, const struct ipc_driver *drv, int flags,
                 const ipc_options *opt)
{
	ipc_channel *ch = calloc(1, sizeof(*ch) + drv->priv_size);

	if (!ch)
		return -ENOMEM;
	ch->drv = drv;
	ch->flags = flags;
	ch->owner = getpid();
	ch->opt = *opt;
	ch->priv = drv->priv_size ? (void *)(ch + 1) : NULL;
	ch->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ch->wakefd < 0) {
		int rc = -errno;

		free(ch);
		return rc;
	}
	*out = ch;
	return 0;
}

void
ipc__channel_free(ipc_channel *ch)
{
	free(ch->ralloc);
	if (ch->wakefd >= 0)
		close(ch->wakefd);
	free(ch);
}

IPC_EXPORT int
ipc_open(ipc_channel **out, const char *uri, int flags, const ipc_options *opt)
{
	const struct ipc_driver *drv;
	const char *scheme, *addr;
	ipc_options o;
	ipc_channel *ch;
	size_t slen;
	int rc;

	if (!out || (flags & ~IPC__KNOWN_FLAGS) || !(flags & (IPC_SEND | IPC_RECV)))
		return -EINVAL;
	if ((rc = ipc__options_fill(&o, opt)) < 0)
		return rc;
	if ((rc = ipc__uri_split(uri, &scheme, &slen, &addr)) < 0)
		return rc;
	if (!(drv = ipc__driver_find(scheme, slen)))
		return -EPROTONOSUPPORT;
	if ((rc = ipc__channel_new(&ch, drv, flags, &o)) < 0)
		return rc;
	rc = drv->open(ch, addr, flags, &ch->opt);
	if (rc < 0) {
		drv->close(ch);
		ipc__channel_free(ch);
		return rc;
	}
	*out = ch;
	return 0;
}

static int
check_io(ipc_channel *ch, const void *buf, size_t len, int timeout_ms, int dir)
{
	if (!ch || (!buf && len) || timeout_ms < -1 || len > SSIZE_MAX)
		return -EINVAL;
	if (!(ch->flags & dir))
		return -EBADF;
	if (atomic_load_explicit(&ch->shut, memory_order_acquire))
		return IPC_EOF;
	return 0;
}

IPC_EXPORT ssize_t
ipc_send(ipc_channel *ch, const void *buf, size_t len, int timeout_ms)
{
	int rc = check_io(ch, buf, len, timeout_ms, IPC_SEND);

	if (rc < 0)
		return rc;
	if (!(ch->flags & IPC_RAW) && len > ipc__max_msg(&ch->opt))
		return -EMSGSIZE;
	return ch->drv->send(ch, buf, len, timeout_ms);
}

IPC_EXPORT ssize_t
ipc_recv(ipc_channel *ch, void *buf, size_t cap, int timeout_ms)
{
	int rc = check_io(ch, buf, cap, timeout_ms, IPC_RECV);

	if (rc < 0)
		return rc;
	if ((ch->flags & IPC_RAW) && !cap)
		return -EINVAL;
	if (ch->recv_parked) {          /* met by an earlier ipc_recv_batch */
		rc = ch->recv_parked;
		ch->recv_parked = 0;
		return rc;
	}
	return ch->drv->recv(ch, buf, cap, timeout_ms);
}

IPC_EXPORT ssize_t
ipc_recv_size(ipc_channel *ch, int timeout_ms)
{
	int rc = check_io(ch, NULL, 0, timeout_ms, IPC_RECV);

	if (rc < 0)
		return rc;
	if (ch->flags & IPC_RAW)
		return -EINVAL;
	if (!ch->drv->recv_size)
		return -EOPNOTSUPP;
	if (ch->recv_parked) {          /* met by an earlier ipc_recv_batch */
		rc = ch->recv_parked;
		ch->recv_parked = 0;
		return rc;
	}
	return ch->drv->recv_size(ch, timeout_ms);
}

/* The time left of a call's budget, in ipc_send/ipc_recv terms. */
static int
time_left(int timeout_ms, long long deadline)
{
	int ms;

	if (timeout_ms <= 0)
		return timeout_ms;      /* -1 forever, 0 never blocks */
	ms = ipc__deadline_ms(deadline);
	return ms > 0 ? ms : -ETIMEDOUT;
}

IPC_EXPORT ssize_t
ipc_recv_alloc(ipc_channel *ch, void **buf, int timeout_ms)
{
	long long deadline = ipc_deadline(timeout_ms);
	ssize_t n, got;
	int ms;

	if (!buf)
		return -EINVAL;
	for (;;) {
		/* The size is checked against max_msg by the driver before we
		 * allocate it. The body may still be on its way: the receive
		 * waits for it within the same budget. */
		if ((ms = time_left(timeout_ms, deadline)) == -ETIMEDOUT)
			return -ETIMEDOUT;
		if ((n = ipc_recv_size(ch, ms)) < 0)
			return n;
		/* The buffer stays on the channel while the message is on its
		 * way, so an event loop calling again and again until -EAGAIN
		 * allocates it once, not once per call. */
		if (!ch->ralloc || ch->ralloc_len != (size_t)n) {
			void *p = ch->ralloc ? realloc(ch->ralloc, n ? (size_t)n : 1)
			                     : malloc(n ? (size_t)n : 1);

			if (!p)
				return -ENOMEM;
			ch->ralloc = p;
			ch->ralloc_len = (size_t)n;
		}
		if ((ms = time_left(timeout_ms, deadline)) == -ETIMEDOUT)
			got = -ETIMEDOUT;
		else
			got = ipc_recv(ch, ch->ralloc, (size_t)n, ms);
		if (got >= 0) {
			*buf = ch->ralloc;
			ch->ralloc = NULL;
			return got;
		}
		/* -EMSGSIZE: another receiver took that message (shm) and the next
		 * one is larger; size it again. Anything else is the answer. */
		if (got != -EMSGSIZE)
			return got;
	}
}

IPC_EXPORT void
ipc_free(void *buf)
{
	free(buf);
}

IPC_EXPORT int
ipc_close(ipc_channel *ch)
{
	int rc;

	if (!ch)
		return 0;
	ch->drv->close(ch);
	rc = ch->close_err;
	ipc__channel_free(ch);
	return rc;
}

IPC_EXPORT int
ipc_fd(ipc_channel *ch)
{
	if (!ch)
		return -EINVAL;
	if (!ch->drv->fd)
		return -EOPNOTSUPP;
	return ch->drv->fd(ch);
}

IPC_EXPORT int
ipc_flush(ipc_channel *ch, int timeout_ms)
{
	int rc = check_io(ch, NULL, 0, timeout_ms, IPC_SEND);

	if (rc < 0)
		return rc;
	return ch->drv->flush ? ch->drv->flush(ch, timeout_ms) : 0;
}

IPC_EXPORT int
ipc_shutdown(ipc_channel *ch)
{
	uint64_t one = 1;
	ssize_t unused;

	if (!ch)
		return -EINVAL;
	atomic_store_explicit(&ch->shut, 1, memory_order_release);
	unused = write(ch->wakefd, &one, sizeof(one));   /* wakes ipc_wait_fd() */
	(void)unused;
	if (ch->drv->shutdown)
		ch->drv->shutdown(ch);
	return 0;
}

IPC_EXPORT int
ipc_peer_cred(const ipc_channel *ch, struct ipc_peer *out)
{
	if (!ch || !out)
		return -EINVAL;
	if (!ch->drv->peer_cred)
		return -EOPNOTSUPP;
	return ch->drv->peer_cred(ch, out);
}

IPC_EXPORT void *
ipc_channel_priv(ipc_channel *ch)
{
	return ch ? ch->priv : NULL;
}

IPC_EXPORT int
ipc_channel_foreign(const ipc_channel *ch)
{
	return ch && ch->owner != getpid();
}

IPC_EXPORT const char *
ipc_version(void)
{
	return IPC_VERSION_STRING;
}

/* --- listeners --- */

IPC_EXPORT int
ipc_listen(ipc_listener **out, const char *uri, int flags, const ipc_options *opt)
{
	const struct ipc_driver *drv;
	const char *scheme, *addr;
	ipc_listener *l;
	ipc_options o;
	size_t slen;
	int rc;

	if (!out || (flags & ~(IPC_RAW | IPC_ANY_UID)))
		return -EINVAL;
	if ((rc = ipc__options_fill(&o, opt)) < 0)
		return rc;
	if ((rc = ipc__uri_split(uri, &scheme, &slen, &addr)) < 0)
		return rc;
	if (!(drv = ipc__driver_find(scheme, slen)))
		return -EPROTONOSUPPORT;
	if (!drv->listen)
		return -EOPNOTSUPP;
	if (!(l = calloc(1, sizeof(*l) + drv->listener_priv_size)))
		return -ENOMEM;
	l->drv = drv;
	l->flags = flags;
	l->owner = getpid();
	l->opt = o;
	l->priv = drv->listener_priv_size ? (void *)(l + 1) : NULL;
	if ((rc = drv->listen(l, addr, flags, &l->opt)) < 0) {
		drv->listener_close(l);
		free(l);
		return rc;
	}
	*out = l;
	return 0;
}

IPC_EXPORT int
ipc_accept(ipc_listener *l, ipc_channel **out, int timeout_ms)
{
	ipc_channel *ch = NULL;
	int rc;

	if (!l || !out || timeout_ms < -1)
		return -EINVAL;
	if (atomic_load_explicit(&l->shut, memory_order_acquire))
		return IPC_EOF;
	rc = ipc__channel_new(&ch, l->drv, IPC_SEND | IPC_RECV | (l->flags & IPC_RAW), &l->opt);
	if (rc < 0)
		return rc;
	if ((rc = l->drv->accept(l, ch, timeout_ms)) < 0) {
		l->drv->close(ch);
		ipc__channel_free(ch);
		/* Whatever stopped it, a shut-down listener's answer is the end. */
		return atomic_load_explicit(&l->shut, memory_order_acquire) ? IPC_EOF : rc;
	}
	*out = ch;
	return 0;
}

IPC_EXPORT int
ipc_listener_addr(const ipc_listener *l, char *buf, size_t cap)
{
	if (!l || !buf || !cap)
		return -EINVAL;
	if (!l->drv->listener_addr)
		return -EOPNOTSUPP;
	return l->drv->listener_addr(l, buf, cap);
}

IPC_EXPORT int
ipc_listener_fd(ipc_listener *l)
{
	if (!l)
		return -EINVAL;
	if (!l->drv->listener_fd)
		return -EOPNOTSUPP;
	return l->drv->listener_fd(l);
}

IPC_EXPORT int
ipc_listener_shutdown(ipc_listener *l)
{
	if (!l)
		return -EINVAL;
	atomic_store_explicit(&l->shut, 1, memory_order_release);
	if (l->drv->listener_shutdown)
		l->drv->listener_shutdown(l);
	return 0;
}

IPC_EXPORT int
ipc_listener_close(ipc_listener *l)
{
	if (!l)
		return 0;
	l->drv->listener_close(l);
	free(l);
	return 0;
}

IPC_EXPORT void *
ipc_listener_priv(ipc_listener *l)
{
	return l ? l->priv : NULL;
}
