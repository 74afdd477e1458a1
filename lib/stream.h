/* Byte streams and the framing layer on top of them. Internal: nothing here
 * is installed.
 *
 *   driver (pipe, fifo, fd:, unix, tcp; later tls+tcp)
 *     -> framing.c   hello, length prefix, read-ahead, committed tails
 *       -> struct ipc__bytes   one byte stream, through its ops table
 *            stream-fd.c: descriptors, today's system calls, SIGPIPE guard
 *
 * A stream driver opens its transport, wraps it in a struct ipc__bytes and
 * hands that to ipc__stream_init(); from then on the framing layer's
 * functions are the driver's send/recv/fd/poll/close ops. The framing state
 * belongs to framing.c alone: a stream driver's per-channel private data
 * starts with a `struct ipc__framing *` that only framing.c reads or writes.
 */
#ifndef IPC_STREAM_H
#define IPC_STREAM_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "ipc-private.h"

struct ipc__bytes;

/* One kind of byte stream. Every op is called by the framing layer only;
 * the send half (writev) and the receive half (read) may be called from two
 * threads at once, everything else from one. None may block except wait. */
struct ipc__bytes_ops {
	/* Read up to @p n (> 0) bytes. @return the count (> 0); 0 at the
	 * orderly end of the stream; -EAGAIN when nothing is there now (then
	 * wait(POLLIN) before trying again); -ECONNRESET or another negative
	 * errno when the stream broke. Never blocks, never returns -EINTR. */
	ssize_t (*read)(struct ipc__bytes *b, void *buf, size_t n);
	/* Write some of @p iov (@p n entries, at least one byte in all).
	 * @return the count written (> 0, possibly short); -EAGAIN when no room
	 * now; -EPIPE / -ECONNRESET when the peer is gone; another negative
	 * errno. Never blocks, never raises SIGPIPE, never returns 0 or -EINTR. */
	ssize_t (*writev)(struct ipc__bytes *b, const struct iovec *iov, int n);
	/* Wait until read (POLLIN) or writev (POLLOUT) may make progress, the
	 * channel is shut down, or @p deadline (from ipc_deadline()) passes.
	 * @return 0 (try again: may still say -EAGAIN); -EAGAIN (deadline 0),
	 * -ETIMEDOUT, IPC_EOF (ipc_shutdown), or a negative errno. */
	int     (*wait)(struct ipc__bytes *b, short events, long long deadline);
	/* The descriptor an event loop polls to learn that read (@p events
	 * POLLIN) or writev (POLLOUT) may make progress; -1 when that
	 * direction has none. Never fails otherwise. */
	int     (*fd)(const struct ipc__bytes *b, short events);
	/* Bytes the stream holds already, which its descriptor does not show
	 * (a TLS record decrypted ahead); 0 for plain descriptors. */
	size_t  (*pending)(const struct ipc__bytes *b);
	/* May be NULL. read / writev that may block in the kernel, for a large
	 * body of a call that may wait (ipc__block_ok): read_block for all @p n
	 * bytes, for at most IPC__BLOCK_SLICE_MS; writev_block likewise where
	 * @p deadline lets it, else as writev. ipc_shutdown() cannot wake them
	 * sooner than that slice. @return as read / writev; -EAGAIN when the
	 * slice passed with nothing done (then wait() as usual). */
	ssize_t (*read_block)(struct ipc__bytes *b, void *buf, size_t n);
	ssize_t (*writev_block)(struct ipc__bytes *b, const struct iovec *iov, int n,
	                        long long deadline);
	/* Close the descriptors and free @p b. In a process that did not open
	 * the channel (after fork) it must only close descriptors: no
	 * shutdown(2), no goodbye on the wire. */
	void    (*close)(struct ipc__bytes *b);
};

/* The part every implementation starts with. */
struct ipc__bytes {
	const struct ipc__bytes_ops *ops;
	ipc_channel *ch;            /* whose ipc_shutdown() stops wait() */
};

/* Calls that block in the kernel do it for at most this long at a time, so
 * that ipc_shutdown() from another thread is seen soon after. */
#define IPC__BLOCK_SLICE_MS 10
/* Bodies at least this large are read and written with those calls. */
#define IPC__BLOCK_MIN      (64u << 10)

/* May a call with @p deadline block in the kernel for a slice? */
static inline int
ipc__block_ok(long long deadline)
{
	return deadline < 0 ||
	       (deadline > 0 && deadline - ipc__now_ns() >= 2 * IPC__BLOCK_SLICE_MS * 1000000LL);
}

/* --- stream-fd.c: the descriptor implementation --- */

/* How a descriptor is driven without blocking. */
enum ipc__fdkind {
	IPC__FD_NONBLOCK = 1,  /* our own file description, O_NONBLOCK set */
	IPC__FD_SOCKET,        /* a socket: MSG_DONTWAIT / MSG_NOSIGNAL per call */
	IPC__FD_BLOCKING,      /* shared description we must not change: poll first */
};

/* A byte stream over @p rfd (reads) and @p wfd (writes); either may be -1,
 * both may be equal. @return 0; -ENOMEM, and then the caller still owns the
 * descriptors. */
int  ipc__fd_bytes_new(struct ipc__bytes **out, ipc_channel *ch, int rfd, int rkind,
                       int wfd, int wkind);
/* IPC_INHERIT: @p fd is the blocking description of the same pipe or socket
 * that ipc_fd() gives out (and polls); the stream closes it too. */
void ipc__fd_bytes_export(struct ipc__bytes *b, int fd);
/* The socket is our own (tcp, unix): a large body may be read and written
 * with calls that block in the kernel (its description loses O_NONBLOCK;
 * every other call passes MSG_DONTWAIT). */
void ipc__fd_bytes_own_socket(struct ipc__bytes *b);
/* Free a stream that ipc__stream_init() refused, leaving its descriptors. */
void ipc__fd_bytes_forget(struct ipc__bytes *b);

/* --- framing.c: the framing layer --- */

/* Put @p ch's framing over @p io, which it owns from then on (closed by
 * ipc__stream_close). @return 0; -ENOMEM, and then @p io is still the
 * caller's. */
int     ipc__stream_init(ipc_channel *ch, struct ipc__bytes *io);
/* ipc__fd_bytes_new() + ipc__stream_init(): on failure the caller still
 * owns the descriptors. */
int     ipc__stream_init_fd(ipc_channel *ch, int rfd, int rkind, int wfd, int wkind);
/* Both hellos were exchanged before the framing took over (sockets): do not
 * send ours again, expect none, and refuse to send above @p peer_max. */
void    ipc__stream_set_peer(ipc_channel *ch, uint32_t peer_max);

/* Driver ops, shared as they are. */
ssize_t ipc__stream_send(ipc_channel *ch, const void *buf, size_t len, int timeout_ms);
ssize_t ipc__stream_recv(ipc_channel *ch, void *buf, size_t cap, int timeout_ms);
ssize_t ipc__stream_recv_size(ipc_channel *ch, int timeout_ms);
/* ipc_sendv / ipc_send_batch / ipc_recv_batch; the core checked the
 * arguments (n >= 1, iovcnt within IOV_MAX, lengths summed without overflow). */
ssize_t ipc__stream_sendv(ipc_channel *ch, const struct iovec *iov, int iovcnt, int timeout_ms);
ssize_t ipc__stream_send_batch(ipc_channel *ch, const struct iovec *msgs, size_t n,
                               int timeout_ms);
ssize_t ipc__stream_recv_batch(ipc_channel *ch, struct iovec *msgs, size_t n, int timeout_ms);
int     ipc__stream_fd(ipc_channel *ch);
int     ipc__stream_fd_of(const ipc_channel *ch);   /* the same, for const callers */
int     ipc__stream_pending(const ipc_channel *ch);
short   ipc__stream_poll(ipc_channel *ch, short events, struct ipc_poll_wait *w);
int     ipc__stream_flush(ipc_channel *ch, int timeout_ms);
void    ipc__stream_close(ipc_channel *ch);  /* finishes a committed tail, closes */

/* The 12-byte hello each framed sender writes first; check returns -EPROTO. */
void    ipc__hello_fill(unsigned char out[IPC__HELLO_SIZE], uint32_t max_msg);
int     ipc__hello_check(const unsigned char in[IPC__HELLO_SIZE], uint32_t *peer_max);
/* Non-zero while the @p got bytes seen so far can still begin a hello. */
int     ipc__hello_prefix_ok(const unsigned char *h, size_t got);

#endif
