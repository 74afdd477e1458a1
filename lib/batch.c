/* Many messages per call: ipc_sendv, ipc_send_batch, ipc_recv_batch. A
 * driver with its own ops does them (the framed streams in the framing
 * layer: one writev per IOV_MAX pieces, batches received from the read-ahead
 * buffer); every other driver gets the same semantics from a loop over its
 * single send and receive. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc-private.h"

static int
check_ch(ipc_channel *ch, int timeout_ms, int dir)
{
	if (!ch || timeout_ms < -1)
		return -EINVAL;
	if (!(ch->flags & dir))
		return -EBADF;
	if (atomic_load_explicit(&ch->shut, memory_order_acquire))
		return IPC_EOF;
	return 0;
}

/* Every piece must be readable as told and the total fit a ssize_t. */
static int
check_pieces(const struct iovec *iov, size_t n, size_t *sum)
{
	size_t i, total = 0;

	if (!iov && n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!iov[i].iov_base && iov[i].iov_len)
			return -EINVAL;
		if (iov[i].iov_len > SSIZE_MAX - total)
			return -EINVAL;
		total += iov[i].iov_len;
	}
	if (sum)
		*sum = total;
	return 0;
}

/* The time left of a call's budget: -1 forever, 0 never blocks. */
static int
time_left(int timeout_ms, long long deadline)
{
	int ms;

	if (timeout_ms <= 0)
		return timeout_ms;
	ms = ipc__deadline_ms(deadline);
	return ms > 0 ? ms : -ETIMEDOUT;
}

IPC_EXPORT ssize_t
ipc_sendv(ipc_channel *ch, const struct iovec *iov, int iovcnt, int timeout_ms)
{
	size_t len, off = 0;
	unsigned char *buf;
	ssize_t r;
	int rc, i;

	if ((rc = check_ch(ch, timeout_ms, IPC_SEND)) < 0)
		return rc;
	if (iovcnt < 0 || iovcnt > IOV_MAX || check_pieces(iov, (size_t)iovcnt, &len) < 0)
		return -EINVAL;
	if (!(ch->flags & IPC_RAW) && len > ipc__max_msg(&ch->opt))
		return -EMSGSIZE;
	if (ch->drv->sendv)
		return ch->drv->sendv(ch, iov, iovcnt, timeout_ms);
	if (iovcnt <= 1)
		return ch->drv->send(ch, iovcnt ? iov[0].iov_base : NULL, len, timeout_ms);
	/* A driver without gathering: one message, so one copy into one buffer. */
	if (!(buf = malloc(len ? len : 1)))
		return -ENOMEM;
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	r = ch->drv->send(ch, buf, len, timeout_ms);
	free(buf);
	return r;
}

IPC_EXPORT ssize_t
ipc_send_batch(ipc_channel *ch, const struct iovec *msgs, size_t n, int timeout_ms)
{
	long long deadline;
	ssize_t r = -EMSGSIZE;
	size_t i;
	int rc, ms;

	if ((rc = check_ch(ch, timeout_ms, IPC_SEND)) < 0)
		return rc;
	if (!msgs || !n || n > SSIZE_MAX || (ch->flags & IPC_RAW))
		return -EINVAL;
	for (i = 0; i < n; i++)
		if ((!msgs[i].iov_base && msgs[i].iov_len) || msgs[i].iov_len > SSIZE_MAX)
			return -EINVAL;
	if (msgs[0].iov_len > ipc__max_msg(&ch->opt))
		return -EMSGSIZE;
	if (ch->drv->send_batch)
		return ch->drv->send_batch(ch, msgs, n, timeout_ms);
	/* n sends in one budget; the first failure ends the batch, and is the
	 * answer only when nothing went out (a later call meets it again). */
	deadline = ipc_deadline(timeout_ms);
	for (i = 0; i < n; i++) {
		if (msgs[i].iov_len > ipc__max_msg(&ch->opt))
			break;
		if ((ms = time_left(timeout_ms, deadline)) == -ETIMEDOUT) {
			r = -ETIMEDOUT;
			break;
		}
		if ((r = ch->drv->send(ch, msgs[i].iov_base, msgs[i].iov_len, ms)) < 0)
			break;
	}
	return i ? (ssize_t)i : r;
}

IPC_EXPORT ssize_t
ipc_recv_batch(ipc_channel *ch, struct iovec *msgs, size_t n, int timeout_ms)
{
	ssize_t r;
	size_t i;
	int rc;

	if ((rc = check_ch(ch, timeout_ms, IPC_RECV)) < 0)
		return rc;
	if (!msgs || !n || n > SSIZE_MAX || (ch->flags & IPC_RAW))
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!msgs[i].iov_base && msgs[i].iov_len)
			return -EINVAL;
	if (ch->recv_parked) {
		rc = ch->recv_parked;
		ch->recv_parked = 0;
		return rc;
	}
	if (ch->drv->recv_batch)
		return ch->drv->recv_batch(ch, msgs, n, timeout_ms);
	/* Wait for the first; take the others only if they are there now. */
	if ((r = ch->drv->recv(ch, msgs[0].iov_base, msgs[0].iov_len, timeout_ms)) < 0)
		return r;
	msgs[0].iov_len = (size_t)r;
	for (i = 1; i < n; i++) {
		r = ch->drv->recv(ch, msgs[i].iov_base, msgs[i].iov_len, 0);
		if (r < 0) {
			/* Nothing more now, or a message for a larger buffer: it
			 * stays queued. An error is the next call's answer. */
			if (r != -EAGAIN && r != -EMSGSIZE && r != IPC_EOF)
				ch->recv_parked = (int)r;
			break;
		}
		msgs[i].iov_len = (size_t)r;
	}
	return (ssize_t)i;
}
