/* libipc: the transport interface. Every built-in transport is one of these
 * tables, and a program can add its own with ipc_register_driver(). */
#ifndef IPC_DRIVER_H
#define IPC_DRIVER_H

#include <ipc/channel.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Bumped whenever struct ipc_driver changes incompatibly. */
#define IPC_DRIVER_ABI 1

/** What ipc_poll() waits on for one channel; filled by the driver's poll op. */
struct ipc_poll_wait {
	int   fd[2];        /* descriptors to poll(2), -1 when unused */
	short events[2];    /* poll(2) events (POLLIN, POLLOUT) asked of each */
	int   recheck;      /* 0: the descriptors' POLLIN/POLLOUT/POLLHUP/POLLERR are
	                       the channel's; 1: they only say "something changed",
	                       and ipc_poll() asks the poll op again for the truth */
};

struct ipc_driver {
	unsigned    abi;        /* IPC_DRIVER_ABI: first, so the struct can grow */
	const char *scheme;     /* "fifo", "tcp" ...: letters, digits, '+', '-', '.' */
	size_t      priv_size;  /* per-channel state, zeroed, see ipc_channel_priv() */

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
	/* May be NULL (-EOPNOTSUPP): pollable, edge-style descriptor. */
	int     (*fd)(const ipc_channel *ch);
	/* May be NULL: non-zero when a receive would answer at once from state
	 * the descriptor does not show (read-ahead). Never blocks. */
	int     (*pending)(const ipc_channel *ch);
	/* May be NULL: wake this driver's own waiters after ipc_shutdown(). Must be
	 * async-signal-safe. The core already wakes waits made with ipc_wait_fd(). */
	void    (*shutdown)(ipc_channel *ch);
	/* Required. Release everything; copes with a half-open channel. Called in
	 * a process that is not the opener too: then it only closes descriptors. */
	void    (*close)(ipc_channel *ch);

	/* Optional, for transports that accept connections; NULL otherwise. */
	int     (*listen)(ipc_listener *l, const char *addr, int flags,
	                  const ipc_options *opt);
	int     (*accept)(ipc_listener *l, ipc_channel *ch, int timeout_ms);
	int     (*listener_addr)(const ipc_listener *l, char *buf, size_t cap);
	int     (*listener_fd)(const ipc_listener *l);
	void    (*listener_close)(ipc_listener *l);
	/* May be NULL (-EOPNOTSUPP). */
	int     (*peer_cred)(const ipc_channel *ch, struct ipc_peer *out);
	/* May be NULL: ipc_poll() then polls fd() for POLLIN / POLLOUT as asked
	 * and adds pending(). Otherwise: fill @p w with what to wait on for
	 * @p events (IPC_POLLIN, IPC_POLLOUT; only directions the channel has)
	 * and return which of them hold already from state the descriptors do
	 * not show. Never blocks; called before every wait of ipc_poll(). */
	short   (*poll)(ipc_channel *ch, short events, struct ipc_poll_wait *w);
};

/**
 * Add a transport. The table must outlive every channel that uses it.
 * @return 0; -EINVAL (NULL, wrong abi, missing required member, bad scheme),
 *         -EEXIST (scheme taken), -ENOSPC (registry full).
 */
int ipc_register_driver(const struct ipc_driver *drv);

/** The driver's per-channel state (priv_size bytes, zeroed at open). */
void *ipc_channel_priv(ipc_channel *ch);
/** The driver's per-listener state (priv_size bytes, zeroed at listen). */
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
/** Absolute monotonic deadline for @p timeout_ms: -1 = forever, 0 = now. */
long long ipc_deadline(int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
