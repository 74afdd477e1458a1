/* libipc: signals as readable events, and one poll over channels,
 * listeners and signal watchers. */
#ifndef IPC_SIGNAL_H
#define IPC_SIGNAL_H

#include <ipc/channel.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ipc_sigwatch ipc_sigwatch;

struct ipc_siginfo {
	int   signo;  /* signal number */
	pid_t pid;    /* sender's pid (0 from the kernel) */
	uid_t uid;    /* sender's real uid */
	int   value;  /* payload of ipc_notify()/sigqueue(), else 0 */
};

/**
 * Watch @p n signals: blocks them in the calling thread and reads them
 * through a signalfd. Create watchers before threads: a signal reaches the
 * watcher only while every thread blocks it.
 * @return 0; -EINVAL (n == 0, SIGKILL, SIGSTOP, invalid number), -EBUSY
 *         (another thread does not block the set), -ENOMEM, -EMFILE, -ENFILE.
 */
int ipc_sigwatch_open(ipc_sigwatch **out, const int *signals, size_t n);
/** Pollable descriptor, readable while a watched signal is pending. */
int ipc_sigwatch_fd(const ipc_sigwatch *w);
/** Take one pending signal. @return 0; -EAGAIN / -ETIMEDOUT, -EINVAL;
 *  -EBADF or -EIO (a short record) when the watcher's descriptor was closed
 *  or replaced behind its back. */
int ipc_sigwatch_read(ipc_sigwatch *w, struct ipc_siginfo *out, int timeout_ms);
/** Close the watcher and restore, in the calling thread, the signal mask the
 *  library changed there: a signal no other watcher reads is unblocked if a
 *  watcher opened in this thread blocked it. Closed from another thread, the
 *  opener's mask stays as it is. Signals unblocked while still pending are
 *  discarded. @return 0, or -errno from close(2); the watcher is freed. */
int ipc_sigwatch_close(ipc_sigwatch *w);
/** Send @p signo with payload @p value to @p pid (sigqueue).
 *  @return 0; -EINVAL, -ESRCH, -EPERM, -EAGAIN (queue full). */
int ipc_notify(pid_t pid, int signo, int value);

enum {                    /* ipc_pollitem.events / .revents */
	IPC_POLLIN  = 1 << 0, /* a receive / accept / read would not block */
	IPC_POLLOUT = 1 << 1, /* a send would not block */
	IPC_POLLHUP = 1 << 2, /* peer gone or channel shut down (revents only) */
	IPC_POLLERR = 1 << 3, /* broken channel (revents only) */
};

/** One of ch, l, w is set; the others are NULL. */
struct ipc_pollitem {
	ipc_channel  *ch;
	ipc_listener *l;
	ipc_sigwatch *w;
	short events, revents;
};

/**
 * Wait until one item is ready. A channel whose next message already sits in
 * the library's read-ahead buffer is reported readable at once.
 * @return the number of items with revents set; 0 on timeout; -EINVAL,
 *         -EOPNOTSUPP (a transport without a pollable descriptor), -ENOMEM.
 */
int ipc_poll(struct ipc_pollitem *items, size_t n, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
