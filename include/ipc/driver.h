/* libipc: the transport interface. Every built-in transport is one of these
 * tables, and a program can add its own with ipc_register_driver(). */
#ifndef IPC_DRIVER_H
#define IPC_DRIVER_H

#include <ipc/channel.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The layout of struct ipc_driver this header declares. 1 was 0.1's table
 *  (no size, one priv_size), which ipc_register_driver() still accepts. From 2
 *  on the table only grows at its end, and size says how much of it a driver
 *  was compiled with: the number changes only for an incompatible layout. */
#define IPC_DRIVER_ABI 2

/** What ipc_poll() waits on for one channel; filled by the driver's poll op. */
struct ipc_poll_wait {
	int   fd[2];        /* descriptors to poll(2), -1 when unused */
	short events[2];    /* poll(2) events (POLLIN, POLLOUT) asked of each */
	int   recheck;      /* 0: the descriptors' POLLIN/POLLOUT/POLLHUP/POLLERR are
	                       the channel's; 1: they only say "something changed",
	                       and ipc_poll() asks the poll op again for the truth */
};

struct ipc_driver {
	unsigned    abi;        /* IPC_DRIVER_ABI: first in every version */
	size_t      size;       /* sizeof(struct ipc_driver) as compiled; members past
	                           it are taken as NULL / 0, so old tables keep working */
	const char *scheme;     /* "fifo", "tcp" ...: letters, digits, '+', '-', '.' */
	size_t      priv_size;  /* per-channel state, zeroed, see ipc_channel_priv() */
	size_t      listener_priv_size;  /* per-listener state, see ipc_listener_priv() */

	/* Required. Set up @p ch for @p addr (the URI after "scheme:"). May block
	 * up to opt->open_timeout_ms. On failure return a negative errno; close()
	 * is then called to release whatever was half set up. @p opt is never NULL:
	 * the core fills in defaults. */
	int     (*open)(ipc_channel *ch, const char *addr, int flags,
	                const ipc_options *opt);
	/* Required. Same contract as ipc_send() / ipc_recv(); the core has checked
	 * the arguments and the direction already. */
	ssize_t (*send)(ipc_channel *ch, const void *buf, size_t len, int timeout_ms);
	ssize_t (*recv)(ipc_channel *ch, void *buf, size_t cap, int timeout_ms);
	/* May be NULL (-EOPNOTSUPP): size of the next message, left queued. */
	ssize_t (*recv_size)(ipc_channel *ch, int timeout_ms);
	/* May be NULL (-EOPNOTSUPP): pollable, edge-style descriptor. Not const:
	 * a driver may create it on the first call (see ipc_fd(3)). */
	int     (*fd)(ipc_channel *ch);
	/* May be NULL: non-zero when a receive would answer at once from state
	 * the descriptor does not show (read-ahead). Never blocks. Used by
	 * ipc_poll() only when poll is NULL. */
	int     (*pending)(const ipc_channel *ch);
	/* May be NULL: ipc_poll() then polls fd() for POLLIN / POLLOUT as asked
	 * and adds pending(). Otherwise: fill @p w with what to wait on for
	 * @p events (IPC_POLLIN, IPC_POLLOUT; only directions the channel has)
	 * and return which of them hold already from state the descriptors do
	 * not show. Never blocks; called before every wait of ipc_poll(). */
	short   (*poll)(ipc_channel *ch, short events, struct ipc_poll_wait *w);
	/* May be NULL: wake this driver's own waiters after ipc_shutdown(). Must be
	 * async-signal-safe. The core already wakes waits made with ipc_wait_fd(). */
	void    (*shutdown)(ipc_channel *ch);
	/* May be NULL (0: nothing held back): push out what an earlier send
	 * committed but did not finish writing; as ipc_flush(). */
	int     (*flush)(ipc_channel *ch, int timeout_ms);
	/* Required. Release everything; copes with a half-open channel. Called in
	 * a process that is not the opener too: then it only closes descriptors. */
	void    (*close)(ipc_channel *ch);
	/* May be NULL (-EOPNOTSUPP). */
	int     (*peer_cred)(const ipc_channel *ch, struct ipc_peer *out);

	/* Optional, for transports that accept connections; NULL otherwise. */
	int     (*listen)(ipc_listener *l, const char *addr, int flags,
	                  const ipc_options *opt);
	/* Required with listen. May block up to @p timeout_ms; must return
	 * IPC_EOF soon after listener_shutdown() (the core returns IPC_EOF for
	 * every later call without calling it). */
	int     (*accept)(ipc_listener *l, ipc_channel *ch, int timeout_ms);
	int     (*listener_addr)(const ipc_listener *l, char *buf, size_t cap);
	/* May be NULL (-EOPNOTSUPP); may create the descriptor on first call. */
	int     (*listener_fd)(ipc_listener *l);
	/* May be NULL: wake a blocked accept() after ipc_listener_shutdown().
	 * Must be async-signal-safe. */
	void    (*listener_shutdown)(ipc_listener *l);
	/* Required with listen. */
	void    (*listener_close)(ipc_listener *l);

	/* Many messages per call (0.2). Each may be NULL: the core then loops
	 * over send / recv with the same semantics (sendv gathers into one
	 * buffer first). Same contracts as ipc_sendv(), ipc_send_batch() and
	 * ipc_recv_batch(); the core has checked the arguments, the direction,
	 * max_msg of the first message, and that the channel is not IPC_RAW
	 * (batches only; sendv is called on raw channels too). */
	ssize_t (*sendv)(ipc_channel *ch, const struct iovec *iov, int iovcnt, int timeout_ms);
	ssize_t (*send_batch)(ipc_channel *ch, const struct iovec *msgs, size_t n,
	                      int timeout_ms);
	ssize_t (*recv_batch)(ipc_channel *ch, struct iovec *msgs, size_t n, int timeout_ms);

	/* Zero-copy loans (0.2), as ipc_send_reserve(3) describes them. NULL:
	 * -EOPNOTSUPP. A driver has both calls of a direction's pair or neither
	 * (send_reserve with send_commit and send_abort; recv_peek with
	 * recv_release). The core has checked the arguments, the direction,
	 * ipc_shutdown() (for reserve, commit and peek: abort and release work
	 * after it), that the channel is not IPC_RAW, and the channel's own
	 * max_msg for send_reserve. The driver answers -EBUSY for a second loan
	 * of a direction, -EINVAL for a pointer it did not lend or a commit
	 * longer than the reservation, and gives back loans still out in
	 * close(). */
	ssize_t (*send_reserve)(ipc_channel *ch, void **buf, size_t len, int timeout_ms);
	int     (*send_commit)(ipc_channel *ch, void *buf, size_t len);
	int     (*send_abort)(ipc_channel *ch, void *buf);
	ssize_t (*recv_peek)(ipc_channel *ch, const void **buf, int timeout_ms);
	int     (*recv_release)(ipc_channel *ch, const void *buf);
};

/**
 * Add a transport. The library keeps its own copy of the table.
 * @return 0; -EINVAL (NULL, unknown abi, size smaller than any released
 *         table, missing required member, bad scheme), -E2BIG (non-zero
 *         members this library does not know), -EEXIST (scheme taken),
 *         -ENOSPC (registry full).
 */
int ipc_register_driver(const struct ipc_driver *drv);

/** The driver's per-channel state (priv_size bytes, zeroed at open). */
void *ipc_channel_priv(ipc_channel *ch);
/** The driver's per-listener state (listener_priv_size bytes, zeroed at listen). */
void *ipc_listener_priv(ipc_listener *l);
/** Non-zero in a process other than the one that opened @p ch (after fork):
 *  close() must then leave shared state and names alone. */
int ipc_channel_foreign(const ipc_channel *ch);

/**
 * Wait until @p fd has @p events (POLLIN, POLLOUT) or the channel is shut down,
 * retrying EINTR with the time left.
 * @param deadline_ns  from ipc_deadline(); the same value bounds a whole call
 * @return 0 (ready, or POLLERR/POLLHUP), -EAGAIN (deadline 0), -ETIMEDOUT,
 *         IPC_EOF (ipc_shutdown), or a negative errno from poll(2).
 */
int ipc_wait_fd(ipc_channel *ch, int fd, short events, long long deadline_ns);
/** A deadline for @p timeout_ms, to pass to ipc_wait_fd() and to compare
 *  only with -1 (forever) and 0 (do not block): any other value is an
 *  absolute time whose unit the library may change. */
long long ipc_deadline(int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
