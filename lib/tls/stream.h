/* The TLS byte stream under the framing layer (lib/tls/stream.c): a
 * non-blocking TLS session over a connected socket. Internal. */
#ifndef IPC_TLS_STREAM_H
#define IPC_TLS_STREAM_H

#include <sys/uio.h>

#include "tls.h"

struct ipc__tls_stream;

/* A session on the connected, non-blocking socket @p fd, taken over only on
 * success (closed by ipc__tls_stream_close). @p name and @p server as
 * ipc__tls_session_new; @p raw: IPC_RAW, no framing comes back with a tail.
 * @return 0; -ENOMEM, -EINVAL. */
int     ipc__tls_stream_new(struct ipc__tls_stream **out, SSL_CTX *ctx, int fd,
                            const char *name, int server, int raw);
/* One non-blocking step of the handshake. @return 0 done; -EAGAIN with
 * *@p events to wait for; or the refusal (ipc__tls_result's codes), sticky. */
int     ipc__tls_stream_handshake(struct ipc__tls_stream *s, short *events);
/* Plaintext into @p iov. @return bytes (> 0); 0 at the end of the stream;
 * -EAGAIN; -EPROTO, -ECONNRESET, -EKEY*: sticky. Never blocks. */
ssize_t ipc__tls_stream_readv(struct ipc__tls_stream *s, const struct iovec *iov, int n);
/* Encrypt and send from @p iov. @return bytes counted (> 0; fewer than given
 * when the socket filled: the caller presents the rest, first, next time);
 * -EAGAIN (nothing of this call encrypted); or the connection's failure,
 * sticky. Never blocks, never raises SIGPIPE. */
ssize_t ipc__tls_stream_writev(struct ipc__tls_stream *s, const struct iovec *iov, int n);
/* Wait for @p events (POLLIN: data inside OpenSSL counts at once) until
 * @p deadline, pushing held output meanwhile. Errors as ipc_wait_fd(). */
int     ipc__tls_stream_wait(struct ipc__tls_stream *s, ipc_channel *ch, short events,
                             long long deadline);
/* Push held ciphertext now. @return 0 (none left), -EAGAIN, or an errno. */
int     ipc__tls_stream_flush(struct ipc__tls_stream *s);
int     ipc__tls_stream_fd(const struct ipc__tls_stream *s);
/* Non-zero while OpenSSL holds received data a read would return without
 * the socket turning readable again (edge-style ipc_fd). */
size_t  ipc__tls_stream_pending(const struct ipc__tls_stream *s);
/* The session after its handshake (for ipc_peer_cert), else NULL. */
const SSL *ipc__tls_stream_ssl(const struct ipc__tls_stream *s);
/* Send close_notify (only its maker, and only when no fork since), give held
 * output up to @p linger_ms, free everything, close the socket. NULL: no-op.
 * @return 0; -ETIMEDOUT / -EPIPE / -ECONNRESET when held output was cut off. */
int     ipc__tls_stream_close(struct ipc__tls_stream *s, int linger_ms);

#endif
