/* The socket layer shared by the tcp and unix drivers: non-blocking connect,
 * the hello exchange, and listeners that never block on a slow peer.
 * Internal: nothing here is installed. */
#ifndef IPC_SOCKETS_H
#define IPC_SOCKETS_H

#include <sys/socket.h>
#include <sys/types.h>

#include "stream.h"

#define IPC__SOCK_PENDING_MAX 64     /* handshakes in flight per listener */
#define IPC__SOCK_HELLO_MS    1500   /* a peer's hello must arrive within this */
#define IPC__SOCK_ADDR_MAX    160    /* longest listener URI we print */

/* A layer between accepted sockets and the framing (tls+tcp://). The
 * listener drives its handshake without blocking, in the same bounded set
 * and within the same deadline as the hello, which then goes through it. */
struct ipc__sock_wrap {
	/* Wrap the accepted socket @p fd (taken over on success); @p flags are
	 * the listener's (IPC_RAW). */
	int  (*start)(void *arg, int fd, int flags, struct ipc__bytes **io);
	/* One non-blocking step of the layer's handshake: 0 done, -EAGAIN with
	 * *@p events to wait for, or why the peer is refused. */
	int  (*step)(struct ipc__bytes *io, short *events);
	/* Hand @p io to @p ch's framing (taken over, whatever happens). */
	int  (*attach)(ipc_channel *ch, struct ipc__bytes *io);
};

/* Why a pending handshake was dropped: counted per listener. */
enum {
	IPC__SOCK_DROP_TIMEOUT,     /* past the deadline */
	IPC__SOCK_DROP_PROTO,       /* not a libipc hello, not TLS, bad records */
	IPC__SOCK_DROP_REFUSED,     /* a certificate that failed verification */
	IPC__SOCK_DROP_GONE,        /* the peer went away, or the set was full */
	IPC__SOCK_DROP_N
};

/* One accepted connection whose hello has not fully arrived yet. */
struct ipc__sock_pending {
	int           fd;
	uint8_t       got;                      /* bytes of hello read so far */
	uint8_t       shook;                    /* io: the layer's handshake is done */
	unsigned char hello[IPC__HELLO_SIZE];
	int64_t       deadline;                 /* monotonic ns: dropped after */
	struct ipc__bytes *io;                  /* the wrap's stream over fd, or NULL */
};

/* Listener state: the listener's private data (listener_priv_size). */
struct ipc__sock_listener {
	int      live;          /* set up by ipc__sock_listener_new() */
	int      fd;            /* the listening socket */
	int      epfd;          /* epoll over fd, wakefd and every pending handshake */
	int      wakefd;        /* eventfd: ipc_listener_shutdown() wakes accept */
	pid_t    pid;           /* the process epfd, wakefd and pend[] belong to */
	int      flags;         /* IPC_RAW, IPC_ANY_UID */
	uint32_t max_msg;
	/* Run on every accepted socket before its hello; < 0 refuses it. */
	int    (*admit)(const struct ipc__sock_listener *sl, int fd);
	/* tls+tcp://: the layer every accepted socket gets, and its argument. */
	const struct ipc__sock_wrap *wrap;
	void    *wrap_arg;
	unsigned long dropped[IPC__SOCK_DROP_N];
	size_t   npend;
	struct ipc__sock_pending pend[IPC__SOCK_PENDING_MAX];
	char     addr[IPC__SOCK_ADDR_MAX];   /* bound URI, for ipc_listener_addr */
	/* unix only: the socket file we made, removed by its owner on close */
	char    *path;
	dev_t    dev;
	ino_t    ino;
};

/* Set up the listener state around the bound, listening socket @p fd (taken
 * over even on failure). */
int  ipc__sock_listener_new(ipc_listener *l, int fd, int flags,
                            int (*admit)(const struct ipc__sock_listener *, int));
struct ipc__sock_listener *ipc__sock_listener_get(const ipc_listener *l);
/* Close every descriptor and free the state (the file, if any, is the
 * driver's business and must be handled first). Copes with half set up. */
void ipc__sock_listener_free(ipc_listener *l);

/* Driver ops shared as they are. A channel's close is ipc__stream_close():
 * no shutdown(2), so a copy handed to a forked child keeps working after the
 * opener closes its own, as with pipes; the peer sees end of file when the
 * last copy is closed. */
int  ipc__sock_accept(ipc_listener *l, ipc_channel *ch, int timeout_ms);
int  ipc__sock_listener_addr(const ipc_listener *l, char *buf, size_t cap);
int  ipc__sock_listener_fd(ipc_listener *l);
void ipc__sock_listener_shutdown(ipc_listener *l);   /* async-signal-safe */

/* Non-blocking connect of a fresh socket to @p sa, waiting until @p deadline.
 * @return the connected descriptor (non-blocking, close-on-exec) or < 0. */
int  ipc__sock_connect(ipc_channel *ch, const struct sockaddr *sa, socklen_t len,
                       long long deadline);
/* Exchange hellos on a connected socket (nothing with IPC_RAW), then hand the
 * descriptor to the stream layer. Takes @p fd over, whatever happens.
 * @return 0; -EPROTO (the peer does not speak libipc), -ECONNREFUSED (closed
 * before its hello), -ETIMEDOUT, IPC_EOF (ipc_shutdown), a negative errno. */
int  ipc__sock_start(ipc_channel *ch, int fd, long long deadline);

/* tcp.c, shared with tls+tcp://. Parse "//host:port", resolve and connect
 * until @p deadline (TCP_NODELAY set); the host as written goes to @p host.
 * @return the connected descriptor or a negative errno (as ipc_open). */
int  ipc__tcp_connect(ipc_channel *ch, const char *addr, long long deadline, char *host,
                      size_t hostcap);
/* Parse, resolve, bind and listen, and hang the listener state on @p l; its
 * address reads "<scheme>://host:port". */
int  ipc__tcp_listen(ipc_listener *l, const char *addr, int flags, const char *scheme);

#endif
