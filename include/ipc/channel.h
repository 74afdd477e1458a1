/* libipc: the channel API. One calling convention for every transport:
 * open a channel, send a message, receive a message, close. */
#ifndef IPC_CHANNEL_H
#define IPC_CHANNEL_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ipc_channel  ipc_channel;
typedef struct ipc_listener ipc_listener;

/** Orderly end of stream. Outside errno's range 1..4095, frozen forever. */
#define IPC_EOF (-4096)

/** Largest message a framed stream can carry (the length prefix is 31 bits). */
#define IPC_MSG_LIMIT 0x7fffffffu

enum {                     /* flags for ipc_open, ipc_pipe, ipc_listen */
	IPC_SEND    = 1 << 0,  /* this end sends */
	IPC_RECV    = 1 << 1,  /* this end receives */
	IPC_CREATE  = 1 << 2,  /* create the named object (FIFO, shm); its owner removes it on close */
	IPC_RAW     = 1 << 3,  /* byte stream, no framing: talk to programs that do not use libipc */
	IPC_ANY_UID = 1 << 4,  /* unix listener: accept peers of any uid (default: own euid only) */
	IPC_INHERIT = 1 << 5,  /* ipc_pipe / ipc_pair: ends a child can dup2() onto 0/1/2 and exec */
};

enum {                     /* struct ipc_tls flags */
	IPC_TLS_REQUIRE_CLIENT_CERT = 1 << 0,  /* listener: refuse clients without a valid cert */
	IPC_TLS_1_2                 = 1 << 1,  /* allow TLS 1.2 too (default: TLS 1.3 only) */
};

/** TLS configuration for tls+tcp:// (see ipc-tls(7)). The strings are read
 *  during ipc_open()/ipc_listen() only. */
struct ipc_tls {
	size_t      size;         /* sizeof(struct ipc_tls), with the same rules as ipc_options.size */
	const char *cert_file;    /* PEM: own certificate chain (required on a listener) */
	const char *key_file;     /* PEM: its private key, mode 0600 or stricter (default: cert_file) */
	const char *ca_file;      /* PEM bundle of trusted CAs; NULL: the system's store */
	const char *server_name;  /* connector: the name to verify; NULL: the URI's host */
	unsigned    flags;        /* IPC_TLS_REQUIRE_CLIENT_CERT, IPC_TLS_1_2 */
};

/** Initialiser for struct ipc_tls with .size set. */
#define IPC_TLS_INIT { sizeof(struct ipc_tls), 0, 0, 0, 0, 0 }

typedef struct ipc_options {
	size_t   size;            /* sizeof(ipc_options); 0 or too small -> -EINVAL; unknown
	                             non-zero bytes past the fields this version knows -> -E2BIG */
	size_t   max_msg;         /* largest message accepted; default 16 MiB (shm: bounded by capacity) */
	size_t   capacity;        /* shm ring bytes per direction; default 2 MiB */
	unsigned mode;            /* exact permissions of created FIFOs, shm objects and unix socket
	                             files, applied with fchmod (never through umask); default 0600 */
	int      open_timeout_ms; /* connect / FIFO rendezvous / shm attach; default (0): wait
	                             forever, like open(2) and connect(2) */
	/* since 0.2 (a 0.1 caller's smaller .size is accepted: the field reads NULL) */
	const struct ipc_tls *tls; /* tls+tcp:// only, read during ipc_open/ipc_listen;
	                             NULL for every other scheme */
} ipc_options;

/** Initialiser with .size set and every field at its default. Positional,
 *  every field named: clean in C and in every C++ standard (designated
 *  initialisers are C++20 only), with -Wextra's missing-field check too. */
#define IPC_OPTIONS_INIT { sizeof(ipc_options), 0, 0, 0, 0, 0 }

/**
 * Open a channel to the transport named by @p uri ("fifo:/tmp/x", "fd:0" ...).
 * @param out    receives the channel on success, untouched on failure
 * @param uri    "scheme:address"; see libipc(7) and ipc-<scheme>(7)
 * @param flags  IPC_SEND and/or IPC_RECV, optionally IPC_CREATE, IPC_RAW
 * @param opt    NULL for defaults, or an ipc_options with .size set
 * @return 0; -EINVAL (bad uri, flags or options), -E2BIG (options from a newer
 *         version with non-zero unknown fields), -EPROTONOSUPPORT (unknown
 *         scheme), -ETIMEDOUT (open_timeout_ms ran out), -EACCES / -ENOTSUP
 *         (the path is not ours or not the right kind of object), -ENOMEM,
 *         or the negative errno of the failed system call.
 */
int ipc_open(ipc_channel **out, const char *uri, int flags, const ipc_options *opt);

/**
 * Send one message. Framed channels: all or nothing (see ipc_send(3)).
 * @param timeout_ms  -1 waits forever, 0 never blocks, n > 0 bounds the call
 * @return @p len; -EAGAIN / -ETIMEDOUT (nothing written), -EMSGSIZE (larger
 *         than max_msg), -EPIPE (no receiver left), -ECONNRESET, IPC_EOF
 *         (after ipc_shutdown), -EBADF (not opened for sending), -EINVAL.
 *         Raw channels may return a short count.
 */
ssize_t ipc_send(ipc_channel *ch, const void *buf, size_t len, int timeout_ms);

/**
 * Receive one whole message into @p buf.
 * @return message length (0 is a valid empty message); IPC_EOF (peer closed,
 *         or ipc_shutdown); -EAGAIN / -ETIMEDOUT (nothing in time), -EMSGSIZE
 *         (@p cap too small, the message stays queued), -EPROTO (peer does
 *         not speak libipc or sent a malformed frame; the channel is broken),
 *         -ECONNRESET (peer died in the middle of a message), -EBADF, -EINVAL.
 */
ssize_t ipc_recv(ipc_channel *ch, void *buf, size_t cap, int timeout_ms);

/**
 * Send ONE message gathered from @p iovcnt pieces (a header and a payload
 * without copying them together); one system call on streams. Since 0.2.
 * @param iov, iovcnt  the pieces, 0..IOV_MAX of them; the message is their
 *                     concatenation (0 pieces: an empty message)
 * @return the message's total length; errors as ipc_send(). Raw channels
 *         write the pieces as bytes and may return a short count.
 */
ssize_t ipc_sendv(ipc_channel *ch, const struct iovec *iov, int iovcnt, int timeout_ms);

/**
 * Send @p n messages, msgs[i] being message i, in order, each whole or not at
 * all, exactly as n ipc_send() calls would; on streams one system call per
 * IOV_MAX pieces (about 500 messages). Since 0.2.
 * @return how many were sent, 1..n: fewer when the timeout, ipc_shutdown(),
 *         a failure or a message above max_msg stopped the batch (the next
 *         call meets the reason); a message cut off at the end by the timeout
 *         is committed (finished before anything else) and counted. With
 *         timeout -1 it returns n unless the channel fails. Errors only when
 *         not even the first message went out: as ipc_send(); -EINVAL also for
 *         n == 0 and on raw channels.
 */
ssize_t ipc_send_batch(ipc_channel *ch, const struct iovec *msgs, size_t n, int timeout_ms);

/**
 * Receive up to @p n messages, message i into msgs[i] (iov_len is the room on
 * entry and the message's length on return), waiting only for the first:
 * the others are those already buffered or readable now. A message larger
 * than its buffer stops the batch there and stays queued. Since 0.2.
 * @return how many were received (>= 1); errors as ipc_recv() when the first
 *         could not be (-EMSGSIZE: msgs[0] too small); -EINVAL also for
 *         n == 0 and on raw channels. An error met after the first message
 *         is the next receive's answer.
 */
ssize_t ipc_recv_batch(ipc_channel *ch, struct iovec *msgs, size_t n, int timeout_ms);

/**
 * Zero-copy loans, shm only (-EOPNOTSUPP elsewhere): a message built in and
 * read from the ring itself. A handle holds at most one send loan and one
 * receive loan at a time. While a send loan is out, later messages of every
 * sender wait behind it (in order, as behind a slow send); while a receive
 * loan is out, its record and the ring space after it stay taken. A process
 * that dies holding a loan loses only that message. Since 0.2; see
 * ipc_send_reserve(3).
 *
 * Reserve room for one message of @p len bytes and set *buf to it (*buf is
 * untouched on error). Blocks, as ipc_send(), until the room is there.
 * @return @p len; -EBUSY (a send loan is out), -EMSGSIZE (above the peer's
 *         max_msg), -EOPNOTSUPP, errors as ipc_send().
 */
ssize_t ipc_send_reserve(ipc_channel *ch, void **buf, size_t len, int timeout_ms);
/** Send the reserved message: its first @p len bytes (len <= reserved).
 *  Never blocks. @return 0; -EINVAL (@p buf is not the loan's, @p len too
 *  long: the loan stays out), IPC_EOF (ipc_shutdown: the loan stays out
 *  until abort or close), -EPROTO (a broken segment: the loan is given
 *  back unsent), -EBADF, -EOPNOTSUPP. */
int     ipc_send_commit(ipc_channel *ch, void *buf, size_t len);
/** Give the reserved room back unsent (works after ipc_shutdown() too).
 *  @return 0; -EINVAL, -EBADF, -EOPNOTSUPP. */
int     ipc_send_abort(ipc_channel *ch, void *buf);
/** Take the next message as a read-only loan: *buf points at its bytes in
 *  the ring until ipc_recv_release(). Blocks as ipc_recv().
 *  @return the message's length; -EBUSY (a receive loan is out),
 *  -EOPNOTSUPP, errors as ipc_recv(). */
ssize_t ipc_recv_peek(ipc_channel *ch, const void **buf, int timeout_ms);
/** Give a received loan back (works after ipc_shutdown() too); the message
 *  is not delivered again. @return 0; -EINVAL, -EBADF, -EOPNOTSUPP. */
int     ipc_recv_release(ipc_channel *ch, const void *buf);

/** Close @p ch and free it, always; NULL is a no-op. Only the opening process
 *  unlinks what it created. A message committed but not yet fully written
 *  gets up to 1 s to go out. @return 0; -ETIMEDOUT / -EPIPE / -ECONNRESET when
 *  that message could not be finished (the peer sees it cut off). */
int ipc_close(ipc_channel *ch);

/** Wait for the next message and return its size without consuming it.
 *  Errors as ipc_recv(); -EINVAL on a raw channel. */
ssize_t ipc_recv_size(ipc_channel *ch, int timeout_ms);

/** Receive the next message into a buffer the library allocates (release it
 *  with ipc_free()); *buf is untouched on error. Errors as ipc_recv(), -ENOMEM. */
ssize_t ipc_recv_alloc(ipc_channel *ch, void **buf, int timeout_ms);

/** Free a buffer returned by ipc_recv_alloc(). */
void ipc_free(void *buf);

/**
 * An anonymous pipe, like pipe(2): ends[0] receives, ends[1] sends. Both ends
 * survive fork(); each process closes the end it does not use. With
 * IPC_INHERIT the ends are blocking file descriptions (ipc_fd() gives them)
 * that a child may dup2() onto 0/1/2 before exec; they stay close-on-exec
 * until then, and the library's own calls keep their timeouts.
 * @param flags  0, IPC_RAW, IPC_INHERIT
 * @return 0; -EINVAL, -EMFILE, -ENFILE, -ENOMEM.
 */
int ipc_pipe(ipc_channel *ends[2], int flags);

/** Listen on @p uri (tcp, unix). @return 0 or a negative errno (see ipc_listen(3)). */
int ipc_listen(ipc_listener **out, const char *uri, int flags, const ipc_options *opt);
/** Accept one peer. @return 0; -EAGAIN / -ETIMEDOUT, IPC_EOF, negative errno. */
int ipc_accept(ipc_listener *l, ipc_channel **out, int timeout_ms);
/** Write the bound URI (e.g. the real port after port 0) into @p buf.
 *  @return its length; -ENOSPC if @p cap is too small, -EINVAL. */
int ipc_listener_addr(const ipc_listener *l, char *buf, size_t cap);
/** Pollable descriptor, readable when ipc_accept may succeed. Created on the
 *  first call in each process (a forked worker gets its own), so not const.
 *  @return a descriptor owned by the listener; -EOPNOTSUPP, -EINVAL, -EMFILE. */
int ipc_listener_fd(ipc_listener *l);
/** Thread- and async-signal-safe: a blocked ipc_accept() on @p l and every
 *  later one return IPC_EOF; ipc_listener_fd() turns readable.
 *  ipc_listener_close() still frees it. @return 0 or -EINVAL. (0.2) */
int ipc_listener_shutdown(ipc_listener *l);
/** Stop listening and free @p l. @return 0 or a negative errno. */
int ipc_listener_close(ipc_listener *l);

struct ipc_peer { pid_t pid; uid_t uid; gid_t gid; };
/** Credentials of the peer process (unix). @return 0; -EOPNOTSUPP elsewhere. */
int ipc_peer_cred(const ipc_channel *ch, struct ipc_peer *out);

/**
 * The verified certificate of a TLS peer (tls+tcp://): its subject in RFC 2253
 * form, NUL-terminated, and its SHA-256 fingerprint (over the DER encoding).
 * @param subject, cap  may be NULL and 0 to ask for the length only
 * @param sha256        may be NULL
 * @return the subject's length (without the NUL); -ERANGE (@p cap too small,
 *         nothing written), -ENOTCONN (the peer sent no certificate),
 *         -EOPNOTSUPP (not a TLS channel), -EINVAL, -ENOMEM.
 */
int ipc_peer_cert(const ipc_channel *ch, char *subject, size_t cap,
                  unsigned char sha256[32]);

/**
 * Pollable descriptor of @p ch. Edge-style for every driver: when it fires,
 * receive with timeout 0 until -EAGAIN, which re-arms it. Stream transports
 * return the descriptor they already have; shm creates its wake-up set on
 * the first call (so not const). An IPC_INHERIT end returns the descriptor
 * a child may dup2().
 * @return a descriptor owned by the channel; -EOPNOTSUPP, -EINVAL, -EMFILE.
 */
int ipc_fd(ipc_channel *ch);

/**
 * Push out the rest of a message an earlier ipc_send() committed but could
 * not finish within its timeout (the "committed tail"). (0.2)
 * @return 0 when nothing of an earlier send is left to write; -EAGAIN /
 *         -ETIMEDOUT (some is still held), -EPIPE / -ECONNRESET (the peer is
 *         gone: the message stays cut off), IPC_EOF (ipc_shutdown), -EBADF
 *         (not opened for sending), -EINVAL.
 */
int ipc_flush(ipc_channel *ch, int timeout_ms);

/**
 * A connected pair of duplex channels, socketpair(AF_UNIX, SOCK_STREAM):
 * what one end sends the other receives, both ways. Both ends survive
 * fork(); each process closes the end it does not use. (0.2)
 * @param flags  0, IPC_RAW, IPC_INHERIT
 * @return 0; -EINVAL, -EMFILE, -ENFILE, -ENOMEM.
 */
int ipc_pair(ipc_channel *ends[2], int flags);

/**
 * Thread- and async-signal-safe: every blocked or later call on @p ch
 * returns IPC_EOF. ipc_close() still frees it. @return 0 or -EINVAL.
 */
int ipc_shutdown(ipc_channel *ch);

/** Text for a return value as it is: -EPIPE, IPC_EOF, 0 ... Never NULL. */
const char *ipc_strerror(int rc);

/** The library's version, "MAJOR.MINOR.PATCH". */
const char *ipc_version(void);

#ifdef __cplusplus
}
#endif
#endif
