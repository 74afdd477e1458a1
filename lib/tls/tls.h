/* The OpenSSL side of tls+tcp://: contexts built from struct ipc_tls, the
 * per-connection session (peer verification), OpenSSL's failures as errno
 * values, and the peer's certificate. Internal: nothing here is installed,
 * and only files under lib/tls/ and the tls driver include OpenSSL. */
#ifndef IPC_TLS_H
#define IPC_TLS_H

#include <openssl/ssl.h>

#include "ipc-private.h"

/* Copy @p in (NULL: every field at its default) into @p out under the rules of
 * ipc_options.size: 0 or too small -EINVAL, non-zero unknown bytes -E2BIG,
 * unknown flags -EINVAL. */
int ipc__tls_conf_fill(struct ipc_tls *out, const struct ipc_tls *in);

/* A context for a connector (@p server 0) or a listener (1): TLS 1.3 only
 * unless IPC_TLS_1_2, peer verification on (listener: only with
 * IPC_TLS_REQUIRE_CLIENT_CERT), no renegotiation, compression or tickets.
 * @return 0; -EINVAL (a listener without cert_file, unreadable PEM, key not
 *         matching the certificate, a key with a passphrase), -EACCES (key
 *         file open to group or others, or not ours to read), -ENOENT,
 *         -EKEYEXPIRED (a listener's own certificate outside its validity),
 *         -ENOMEM. */
int ipc__tls_ctx_new(SSL_CTX **out, const struct ipc_tls *conf, int server);

/* A session on the connected socket @p fd (not taken over: the caller closes
 * it after SSL_free). A connector verifies @p name (server_name, else the
 * URI's host): an IP literal against the certificate's IP addresses, anything
 * else as a DNS name, also sent as SNI. @p bio: a BIO the caller made for fd
 * (its own BIO that never raises SIGPIPE), owned by the session from here on.
 * @return 0; -ENOMEM, -EINVAL (a name OpenSSL cannot check). */
int ipc__tls_session_new(SSL **out, SSL_CTX *ctx, BIO *bio, const char *name, int server);

/* The result @p ret of a failed SSL_do_handshake/SSL_read/SSL_write/
 * SSL_shutdown on @p ssl as a return value: -EAGAIN with *@p events the poll
 * events to wait for (POLLIN/POLLOUT); IPC_EOF for the peer's close_notify (or
 * its end of stream, SSL_OP_IGNORE_UNEXPECTED_EOF); -EKEYREJECTED (chain,
 * name or missing certificate refused, here or by the peer's alert),
 * -EKEYEXPIRED (a certificate outside its validity), -EPROTO (the peer does
 * not speak TLS, or not a version we allow, or sent a malformed record),
 * -ECONNRESET (any other alert, or the connection broke), -ENOMEM, or the
 * errno of a failed system call (set errno to 0 before the SSL call, so a
 * stale value is not taken for the socket's). Clears OpenSSL's error queue. */
int ipc__tls_result(SSL *ssl, int ret, short *events);

/* Clear OpenSSL's per-thread error queue: every path out of a TLS call runs
 * it, so one channel's failure never leaks into another's answer. */
void ipc__tls_clear_errors(void);

/* The peer's verified certificate, as ipc_peer_cert(3) returns it. */
int ipc__tls_peer_cert(const SSL *ssl, char *subject, size_t cap, unsigned char sha256[32]);

#endif
