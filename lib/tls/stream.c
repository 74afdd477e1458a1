/* The TLS byte stream: what the framing layer reads and writes on a
 * tls+tcp:// channel. Non-blocking throughout; every wait is the caller's,
 * against its deadline.
 *
 * OpenSSL never touches the socket for writing. Our BIO reads with recv()
 * and collects what OpenSSL writes in an output buffer that we push with
 * send(MSG_NOSIGNAL), so a SIGPIPE cannot happen and a full socket never
 * leaves OpenSSL halfway through a record that it insists on being retried
 * with the same arguments.
 *
 * All or nothing: once a record is encrypted its bytes are committed (the
 * TLS sequence number is spent). When the socket does not take all of it,
 * writev() reports one byte fewer than it encrypted; the framing keeps that
 * byte as the start of its committed tail and presents it again first, and
 * the next writev() pushes the rest of the record and counts the byte
 * without encrypting it twice. So a -EAGAIN from writev() always means that
 * nothing of that call was encrypted, and a committed frame always has a
 * tail in the framing that something will push. Raw channels promise no
 * such caller: there the record counts whole, and what is left of it goes
 * out with the next write, wait, flush or close.
 *
 * One SSL object is not safe for concurrent use, and one thread may send
 * while another receives: every OpenSSL call and the output buffer are under
 * one mutex, held only for non-blocking work, never across a wait. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "stream.h"

#define TLS_WRITE_MAX  (64u << 10)   /* plaintext per SSL_write: four records */
#define TLS_RECORD     16384         /* largest plaintext of one record */

struct ipc__tls_stream {
	SSL             *ssl;
	int              fd;
	pid_t            owner;          /* the process that made it */
	unsigned         fork_gen;       /* fork generation when it was made */
	pthread_mutex_t  lock;
	int              sock_err;       /* errno of the BIO's last failed call */
	uint8_t          shook;          /* handshake complete */
	uint8_t          reof;           /* recv() said end of file */
	uint8_t          closed_read;    /* readv() has returned end of stream */
	uint8_t          raw;            /* IPC_RAW: no caller comes back with held bytes */
	uint8_t          partial;        /* what OpenSSL holds unread is part of a record */
	uint8_t          hdr[5];         /* the record header being received */
	uint8_t          hdr_got;
	size_t           body_left;      /* bytes of the current record's body to come */
	int              rerr, werr;     /* sticky failures of each direction */
	size_t           held;           /* encrypted, sent, not yet counted (0 or 1) */
	unsigned char   *out;            /* ciphertext not yet in the kernel */
	size_t           out_off, out_len, out_cap;
	unsigned char    stage[TLS_RECORD];   /* small pieces gathered into one record */
};

/* ------------------------------------------------------- fork generations */

/* Bumped in the parent at every fork(): a stream made before it may have a
 * copy in a child that goes on using it, so its owner's close must not send
 * close_notify on the shared connection (as tcp never shutdown()s). */
static atomic_uint fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void
tls_forked(void)
{
	atomic_fetch_add_explicit(&fork_gen, 1, memory_order_relaxed);
}

static void
tls_fork_watch(void)
{
	pthread_atfork(NULL, tls_forked, NULL);
}

/* ------------------------------------------------------------------- BIO */

static BIO_METHOD *tls_bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

/* Follow the record layer as bytes arrive, and judge each record by its
 * first bytes: a content type TLS has (20..23), major version 3, a length
 * TLS allows. A peer that does not speak TLS (a libipc hello, a text line,
 * four bytes of garbage) is -EPROTO at once, not a wait for a header that
 * never completes. */
static int
tls_records_ok(struct ipc__tls_stream *s, const unsigned char *p, size_t n)
{
	size_t off = 0, k;

	while (off < n) {
		if (s->body_left) {
			k = n - off < s->body_left ? n - off : s->body_left;
			s->body_left -= k;
			off += k;
			continue;
		}
		s->hdr[s->hdr_got++] = p[off++];
		if (s->hdr_got == 1 && (s->hdr[0] < 20 || s->hdr[0] > 23))
			return 0;
		if (s->hdr_got == 2 && s->hdr[1] != 3)
			return 0;
		if (s->hdr_got == 5) {
			s->body_left = (size_t)s->hdr[3] << 8 | s->hdr[4];
			s->hdr_got = 0;
			if (s->body_left > TLS_RECORD + 2048)   /* RFC 8446 5.2 */
				return 0;
		}
	}
	return 1;
}

static int
tls_bio_read(BIO *b, char *buf, size_t len, size_t *got)
{
	struct ipc__tls_stream *s = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	*got = 0;
	do
		r = recv(s->fd, buf, len, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r > 0) {
		if (!tls_records_ok(s, (const unsigned char *)buf, (size_t)r)) {
			s->sock_err = EPROTO;
			return 0;
		}
		s->partial = 0;
		*got = (size_t)r;
		return 1;
	}
	if (r == 0) {
		s->reof = 1;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		BIO_set_retry_read(b);
		return 0;
	}
	s->sock_err = errno;
	return 0;
}

/* Everything OpenSSL writes is kept for tls_push(): it never waits. */
static int
tls_bio_write(BIO *b, const char *buf, size_t len, size_t *put)
{
	struct ipc__tls_stream *s = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	*put = 0;
	if (s->out_off && s->out_off == s->out_len)
		s->out_off = s->out_len = 0;
	if (len > s->out_cap - s->out_len) {
		size_t cap = s->out_cap ? s->out_cap : 4096;
		unsigned char *p;

		while (cap - s->out_len < len)
			cap *= 2;
		if (!(p = realloc(s->out, cap))) {
			s->sock_err = ENOMEM;
			return 0;
		}
		s->out = p;
		s->out_cap = cap;
	}
	memcpy(s->out + s->out_len, buf, len);
	s->out_len += len;
	*put = len;
	return 1;
}

static long
tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct ipc__tls_stream *s = BIO_get_data(b);

	(void)num; (void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;       /* tls_push() sends; nothing waits in here */
	case BIO_CTRL_EOF:
		return s->reof;
	case BIO_CTRL_WPENDING:
		return (long)(s->out_len - s->out_off);
	default:
		return 0;
	}
}

static int
tls_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void
tls_bio_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "libipc socket");

	if (!m)
		return;
	if (BIO_meth_set_read_ex(m, tls_bio_read) != 1 ||
	    BIO_meth_set_write_ex(m, tls_bio_write) != 1 ||
	    BIO_meth_set_ctrl(m, tls_bio_ctrl) != 1 ||
	    BIO_meth_set_create(m, tls_bio_create) != 1) {
		BIO_meth_free(m);
		return;
	}
	tls_bio_method = m;
}

/* ---------------------------------------------------------------- output */

/* Push buffered ciphertext into the socket. @return 0 when none is left,
 * -EAGAIN (the socket is full), or the errno of a failed send. */
static int
tls_push(struct ipc__tls_stream *s)
{
	ssize_t r;

	while (s->out_off < s->out_len) {
		r = send(s->fd, s->out + s->out_off, s->out_len - s->out_off,
		         MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r > 0) {
			s->out_off += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -EAGAIN;
		return r < 0 ? -errno : -EPIPE;
	}
	s->out_off = s->out_len = 0;
	return 0;
}

/* A failed OpenSSL call as a return value, with the BIO's errno. */
static int
tls_fail(struct ipc__tls_stream *s, int ret, short *events)
{
	errno = s->sock_err;
	s->sock_err = 0;
	return ipc__tls_result(s->ssl, ret, events);
}

/* ------------------------------------------------------------------ API */

int
ipc__tls_stream_new(struct ipc__tls_stream **out, SSL_CTX *ctx, int fd, const char *name,
                    int server, int raw)
{
	struct ipc__tls_stream *s;
	BIO *bio;
	int rc;

	pthread_once(&bio_once, tls_bio_init);
	pthread_once(&fork_once, tls_fork_watch);
	if (!tls_bio_method || !(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	s->fd = fd;
	s->raw = !!raw;
	s->owner = getpid();
	s->fork_gen = atomic_load_explicit(&fork_gen, memory_order_relaxed);
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return -ENOMEM;
	}
	ERR_clear_error();
	if (!(bio = BIO_new(tls_bio_method))) {
		ERR_clear_error();
		rc = -ENOMEM;
		goto fail;
	}
	BIO_set_data(bio, s);
	if ((rc = ipc__tls_session_new(&s->ssl, ctx, bio, name, server)) < 0)
		goto fail;      /* the session freed the BIO */
	*out = s;
	return 0;
fail:
	pthread_mutex_destroy(&s->lock);
	free(s);
	return rc;
}

int
ipc__tls_stream_handshake(struct ipc__tls_stream *s, short *events)
{
	int rc = 0, r, f;

	*events = 0;
	pthread_mutex_lock(&s->lock);
	if (s->werr || s->rerr) {
		rc = s->werr ? s->werr : s->rerr;
		goto out;
	}
	if (!s->shook) {
		r = SSL_do_handshake(s->ssl);
		if (r == 1)
			s->shook = 1;
		else
			rc = tls_fail(s, r, events);
	}
	/* Whatever it produced goes out now: our next flight, or the alert
	 * that tells the peer why we refuse it. */
	f = tls_push(s);
	if (rc == 0 || rc == -EAGAIN) {
		if (f == -EAGAIN) {
			rc = -EAGAIN;
			*events = POLLOUT;   /* the peer waits for these bytes first */
		} else if (f < 0) {
			rc = -ECONNRESET;    /* the peer is gone mid-handshake */
		}
	}
	if (rc < 0 && rc != -EAGAIN)
		s->werr = s->rerr = rc;
out:
	pthread_mutex_unlock(&s->lock);
	ERR_clear_error();
	return rc;
}

ssize_t
ipc__tls_stream_readv(struct ipc__tls_stream *s, const struct iovec *iov, int n)
{
	size_t total = 0, off = 0;
	int i = 0, r, rc = 0;
	short ev;

	pthread_mutex_lock(&s->lock);
	if (s->rerr || s->closed_read) {
		rc = s->rerr;
		goto out;
	}
	while (i < n) {
		size_t want = iov[i].iov_len - off;

		if (!want) {
			i++;
			off = 0;
			continue;
		}
		r = SSL_read(s->ssl, (char *)iov[i].iov_base + off, want > INT_MAX ? INT_MAX : (int)want);
		if (r > 0) {
			total += (size_t)r;
			off += (size_t)r;
			/* More only while OpenSSL already holds it: a recv() that
			 * would say EAGAIN is a system call for nothing. */
			if (!SSL_has_pending(s->ssl))
				break;
			continue;
		}
		rc = tls_fail(s, r, &ev);
		/* What OpenSSL still holds is an incomplete record: it waits for
		 * the socket like everything else. */
		if (rc == -EAGAIN)
			s->partial = 1;
		if (rc == IPC_EOF) {
			rc = 0;
			if (!total)
				s->closed_read = 1;
		} else if (rc != -EAGAIN && !total) {
			s->rerr = rc;
		} else if (rc != -EAGAIN) {
			s->rerr = rc;     /* reported by the next call */
			rc = 0;
		}
		break;
	}
	/* A read may have queued output (a key update answer, an alert). */
	if (s->out_len)
		tls_push(s);
out:
	pthread_mutex_unlock(&s->lock);
	ERR_clear_error();
	return total ? (ssize_t)total : rc;
}

/* The next piece of plaintext to encrypt: a small first piece is gathered
 * with what follows into one record, so a frame header never travels in a
 * record of its own. */
static size_t
tls_next_chunk(struct ipc__tls_stream *s, const struct iovec *iov, int n, int *i,
               size_t *off, const unsigned char **p)
{
	size_t len = iov[*i].iov_len - *off, got = 0;

	if (len >= TLS_RECORD || *i + 1 >= n) {
		*p = (const unsigned char *)iov[*i].iov_base + *off;
		len = len < TLS_WRITE_MAX ? len : TLS_WRITE_MAX;
		*off += len;
		return len;
	}
	while (*i < n && got < TLS_RECORD) {
		size_t take = iov[*i].iov_len - *off;

		if (take > TLS_RECORD - got)
			take = TLS_RECORD - got;
		memcpy(s->stage + got, (const char *)iov[*i].iov_base + *off, take);
		got += take;
		*off += take;
		if (*off == iov[*i].iov_len) {
			(*i)++;
			*off = 0;
		}
	}
	*p = s->stage;
	return got;
}

ssize_t
ipc__tls_stream_writev(struct ipc__tls_stream *s, const struct iovec *iov, int n)
{
	const unsigned char *p;
	size_t count = 0, len, off = 0, total = 0;
	int i = 0, r, f, rc = 0;
	short ev;

	pthread_mutex_lock(&s->lock);
	if (s->werr) {
		rc = s->werr;
		goto out;
	}
	if (s->out_len) {
		if ((f = tls_push(s)) < 0) {
			if (f != -EAGAIN)
				s->werr = f;
			rc = f;
			goto out;
		}
	}
	for (r = 0; r < n; r++)
		total += iov[r].iov_len;
	if (s->held) {
		/* The first bytes presented are the ones held back: already
		 * encrypted, and now all out. */
		count = s->held < total ? s->held : total;
		s->held -= count;
		goto out;
	}
	while (i < n && count < total) {
		if (off == iov[i].iov_len) {
			i++;
			off = 0;
			continue;
		}
		len = tls_next_chunk(s, iov, n, &i, &off, &p);
		r = SSL_write(s->ssl, p, (int)len);
		if (r <= 0) {
			rc = tls_fail(s, r, &ev);
			s->werr = rc == -EAGAIN ? -EPROTO : rc;   /* our BIO never blocks */
			rc = s->werr;
			break;
		}
		f = tls_push(s);
		if (f == 0) {
			count += len;
			continue;
		}
		if (f == -EAGAIN) {
			/* Committed but not all out: hold one byte back so the
			 * caller comes back with it (see the top of this file). */
			if (!s->raw && count + len > 1) {
				count += len - 1;
				s->held = 1;
			} else {
				count += len;
			}
			break;
		}
		/* The peer is gone; what was encrypted is lost with it. */
		s->werr = f;
		count += len;
		break;
	}
out:
	pthread_mutex_unlock(&s->lock);
	ERR_clear_error();
	return count ? (ssize_t)count : rc;
}

/* A read would return data without the socket: decrypted bytes, or a
 * record read ahead whole and not yet decrypted. */
static int
tls_readable(struct ipc__tls_stream *s)
{
	return SSL_pending(s->ssl) > 0 || (SSL_has_pending(s->ssl) && !s->partial);
}

int
ipc__tls_stream_wait(struct ipc__tls_stream *s, ipc_channel *ch, short events,
                     long long deadline)
{
	int more, rc;

	pthread_mutex_lock(&s->lock);
	if ((events & POLLIN) && tls_readable(s)) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	/* Output we hold goes out while we wait for input: the peer may be
	 * waiting for it before it answers. */
	more = s->out_len && tls_push(s) == -EAGAIN;
	pthread_mutex_unlock(&s->lock);
	rc = ipc_wait_fd(ch, s->fd, (short)(events | (more ? POLLOUT : 0)), deadline);
	if (rc == 0 && more) {
		pthread_mutex_lock(&s->lock);
		tls_push(s);
		pthread_mutex_unlock(&s->lock);
	}
	return rc;
}

int
ipc__tls_stream_flush(struct ipc__tls_stream *s)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = s->out_len ? tls_push(s) : 0;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int
ipc__tls_stream_fd(const struct ipc__tls_stream *s)
{
	return s->fd;
}

size_t
ipc__tls_stream_pending(const struct ipc__tls_stream *cs)
{
	/* The lock is state, not a promise: take it through a non-const alias. */
	struct ipc__tls_stream *s = (struct ipc__tls_stream *)cs;
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = tls_readable(s) ? (size_t)SSL_pending(s->ssl) + 1 : 0;
	pthread_mutex_unlock(&s->lock);
	return n;
}

const SSL *
ipc__tls_stream_ssl(const struct ipc__tls_stream *s)
{
	return s->shook ? s->ssl : NULL;
}

/* Milliseconds left until @p deadline (ipc_deadline's), rounded up. */
static int
tls_ms_left(long long deadline)
{
	struct timespec ts;
	long long left;

	if (deadline <= 0)
		return deadline < 0 ? -1 : 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	left = deadline - ((long long)ts.tv_sec * 1000000000 + ts.tv_nsec);
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Wait until @p deadline for the socket to take more, without a channel. */
static int
tls_wait_out(int fd, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int ms = tls_ms_left(deadline), r;

	if (ms == 0)
		return -ETIMEDOUT;
	r = poll(&p, 1, ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r ? 0 : -ETIMEDOUT;
}

int
ipc__tls_stream_close(struct ipc__tls_stream *s, int linger_ms)
{
	long long deadline = ipc_deadline(linger_ms);
	int rc = 0, f = 0;

	if (!s)
		return 0;
	pthread_mutex_lock(&s->lock);
	/* Committed ciphertext gets the linger to go out, in the process that
	 * made the stream only: a forked copy says nothing on the wire (what a
	 * framed sender committed comes back through its tail, pushed by
	 * writev before this). */
	while (s->owner == getpid() && !s->werr && s->out_len &&
	       (f = tls_push(s)) == -EAGAIN) {
		if ((f = tls_wait_out(s->fd, deadline)) < 0) {
			rc = f;
			break;
		}
	}
	if (!rc && !s->werr && f < 0)
		rc = f == -EPIPE ? -EPIPE : -ECONNRESET;
	/* close_notify only from the process that made the stream, and only
	 * when no fork since may have left a copy that goes on using it. One
	 * try: it is a courtesy, the framing already knows where messages end. */
	if (!rc && s->shook && !s->werr && s->owner == getpid() &&
	    s->fork_gen == atomic_load_explicit(&fork_gen, memory_order_relaxed)) {
		SSL_shutdown(s->ssl);
		tls_push(s);
	} else {
		SSL_set_quiet_shutdown(s->ssl, 1);
	}
	pthread_mutex_unlock(&s->lock);
	SSL_free(s->ssl);
	ERR_clear_error();
	close(s->fd);
	pthread_mutex_destroy(&s->lock);
	free(s->out);
	free(s);
	return rc;
}
