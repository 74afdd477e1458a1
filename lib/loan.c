/* Zero-copy loans: ipc_send_reserve, ipc_send_commit, ipc_send_abort,
 * ipc_recv_peek, ipc_recv_release. The core checks the arguments; a driver
 * with loan ops (shm) does the rest, every other one answers -EOPNOTSUPP. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>

#include "ipc-private.h"

/* What every loan call checks first. @p shut: whether ipc_shutdown() stops
 * the call (not for abort and release, which only give a loan back). */
static int
check_loan(ipc_channel *ch, const void *ptr, int timeout_ms, int dir, int shut)
{
	if (!ch || !ptr || timeout_ms < -1)
		return -EINVAL;
	if (!(ch->flags & dir))
		return -EBADF;
	if (shut && atomic_load_explicit(&ch->shut, memory_order_acquire))
		return IPC_EOF;
	if (ch->flags & IPC_RAW)
		return -EINVAL;
	return 0;
}

IPC_EXPORT ssize_t
ipc_send_reserve(ipc_channel *ch, void **buf, size_t len, int timeout_ms)
{
	void *b = NULL;
	ssize_t n;
	int rc;

	if ((rc = check_loan(ch, buf, timeout_ms, IPC_SEND, 1)) < 0)
		return rc;
	if (len > SSIZE_MAX)
		return -EINVAL;
	if (!ch->drv->send_reserve)
		return -EOPNOTSUPP;
	if (len > ipc__max_msg(&ch->opt))
		return -EMSGSIZE;
	if ((n = ch->drv->send_reserve(ch, &b, len, timeout_ms)) >= 0)
		*buf = b;
	return n;
}

IPC_EXPORT int
ipc_send_commit(ipc_channel *ch, void *buf, size_t len)
{
	int rc;

	if ((rc = check_loan(ch, buf, 0, IPC_SEND, 1)) < 0)
		return rc;
	if (!ch->drv->send_commit)
		return -EOPNOTSUPP;
	return ch->drv->send_commit(ch, buf, len);
}

IPC_EXPORT int
ipc_send_abort(ipc_channel *ch, void *buf)
{
	int rc;

	if ((rc = check_loan(ch, buf, 0, IPC_SEND, 0)) < 0)
		return rc;
	if (!ch->drv->send_abort)
		return -EOPNOTSUPP;
	return ch->drv->send_abort(ch, buf);
}

IPC_EXPORT ssize_t
ipc_recv_peek(ipc_channel *ch, const void **buf, int timeout_ms)
{
	const void *b = NULL;
	ssize_t n;
	int rc;

	if ((rc = check_loan(ch, buf, timeout_ms, IPC_RECV, 1)) < 0)
		return rc;
	if (!ch->drv->recv_peek)
		return -EOPNOTSUPP;
	if (ch->recv_parked) {          /* met by an earlier ipc_recv_batch */
		rc = ch->recv_parked;
		ch->recv_parked = 0;
		return rc;
	}
	if ((n = ch->drv->recv_peek(ch, &b, timeout_ms)) >= 0)
		*buf = b;
	return n;
}

IPC_EXPORT int
ipc_recv_release(ipc_channel *ch, const void *buf)
{
	int rc;

	if ((rc = check_loan(ch, buf, 0, IPC_RECV, 0)) < 0)
		return rc;
	if (!ch->drv->recv_release)
		return -EOPNOTSUPP;
	return ch->drv->recv_release(ch, buf);
}
