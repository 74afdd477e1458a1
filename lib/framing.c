/* The framing layer shared by every byte-stream transport (pipe, FIFO, fd:,
 * unix, tcp): hello, length-prefixed frames, read-ahead, committed tails,
 * over any struct ipc__bytes (lib/stream.h). doc/wire-format.md describes
 * the bytes. Only this file knows struct ipc__framing. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "stream.h"

/* The framing state of one channel. The send half and the receive half are
 * touched by different threads. */
struct ipc__framing {
	struct ipc__bytes *io;
	uint8_t  raw;               /* IPC_RAW: no hello, no framing */
	uint32_t max_msg;

	/* send half */
	uint8_t  hello_out;         /* our hello has been queued */
	uint32_t send_limit;        /* the peer's max_msg when a handshake told us, else 0 */
	int      send_err;          /* sticky: the channel can no longer send */
	unsigned char *tail;        /* committed bytes not yet written */
	size_t   tail_off, tail_len, tail_cap;

	/* receive half */
	unsigned char *rbuf;        /* read-ahead; grows only to hold one partial message */
	size_t   rcap, rpos, rend;  /* unread bytes are rbuf[rpos..rend) */
	uint8_t  hello_in;          /* the peer's hello has been checked */
	uint8_t  reof;              /* the stream reported its end */
	uint8_t  rwaited;           /* the last read had to wait: wait before the next */
	uint8_t  rdrained;          /* this call's last read came back short */
	uint8_t  rmapped;           /* rbuf is a mapping of its own (grown past RBUF_SIZE) */
	int      recv_err;          /* sticky: -EPROTO, or -ECONNRESET once then IPC_EOF */
	uint32_t peer_max;          /* peer's max_msg from its hello */
};

/* A stream driver's channel private data starts with our pointer. */
static inline struct ipc__framing *
framing(const ipc_channel *ch)
{
	return ch->priv ? *(struct ipc__framing **)ch->priv : NULL;
}

const unsigned char ipc__hello_magic[4] = { 0x89, 'I', 'P', 'C' };

static void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void
ipc__hello_fill(unsigned char out[IPC__HELLO_SIZE], uint32_t max_msg)
{
	memcpy(out, ipc__hello_magic, 4);
	out[4] = IPC__WIRE_VERSION;
	out[5] = 0;     /* flags */
	out[6] = 0;     /* reserved */
	out[7] = 0;
	put_be32(out + 8, max_msg);
}

int
ipc__hello_check(const unsigned char in[IPC__HELLO_SIZE], uint32_t *peer_max)
{
	uint32_t m = get_be32(in + 8);

	if (memcmp(in, ipc__hello_magic, 4) != 0 || in[4] != IPC__WIRE_VERSION ||
	    in[5] || in[6] || in[7] || m > IPC_MSG_LIMIT)
		return -EPROTO;
	*peer_max = m;
	return 0;
}

int
ipc__hello_prefix_ok(const unsigned char *h, size_t got)
{
	size_t n = got < sizeof(ipc__hello_magic) ? got : sizeof(ipc__hello_magic);

	if (memcmp(h, ipc__hello_magic, n) != 0)
		return 0;
	return got <= 4 || h[4] == IPC__WIRE_VERSION;
}

int
ipc__stream_init(ipc_channel *ch, struct ipc__bytes *io)
{
	struct ipc__framing *s;

	assert(ch->priv && !framing(ch));
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	if (ch->flags & IPC_RECV) {
		s->rcap = IPC__RBUF_SIZE;
		if (!(s->rbuf = malloc(s->rcap))) {
			free(s);
			return -ENOMEM;
		}
	}
	s->io = io;
	s->raw = !!(ch->flags & IPC_RAW);
	s->max_msg = (uint32_t)ipc__max_msg(&ch->opt);
	*(struct ipc__framing **)ch->priv = s;
	return 0;
}

int
ipc__stream_init_fd(ipc_channel *ch, int rfd, int rkind, int wfd, int wkind)
{
	struct ipc__bytes *io;
	int rc;

	if ((rc = ipc__fd_bytes_new(&io, ch, rfd, rkind, wfd, wkind)) < 0)
		return rc;
	if ((rc = ipc__stream_init(ch, io)) < 0)
		ipc__fd_bytes_forget(io);
	return rc;
}

void
ipc__stream_set_peer(ipc_channel *ch, uint32_t peer_max)
{
	struct ipc__framing *s = framing(ch);

	s->hello_out = 1;
	s->hello_in = 1;
	s->peer_max = peer_max;
	s->send_limit = peer_max;
}

/* ---------------------------------------------------------------- send */

/* The stream said -EAGAIN: with timeout 0 that is the answer (no wait
 * needed), else wait for it. */
static int
wait_more(ipc_channel *ch, struct ipc__framing *s, short events, long long deadline)
{
	if (deadline == 0)
		return atomic_load_explicit(&ch->shut, memory_order_acquire) ? IPC_EOF : -EAGAIN;
	return s->io->ops->wait(s->io, events, deadline);
}

/* Drop @p n written bytes from the front of an iovec array. */
static int
iov_advance(struct iovec **iov, int *n, size_t done)
{
	while (*n && done >= (*iov)->iov_len) {
		done -= (*iov)->iov_len;
		(*iov)++;
		(*n)--;
	}
	if (*n) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + done;
		(*iov)->iov_len -= done;
	}
	return *n;
}

/* One write of @p iov: a large one blocks in the kernel where the stream
 * and the deadline allow (one system call, not one per kernel buffer's
 * worth, and no wake-up to user space in between). */
static ssize_t
io_writev(ipc_channel *ch, const struct iovec *iov, int n, long long deadline)
{
	struct ipc__bytes *io = framing(ch)->io;
	size_t left = 0;
	int i;

	if (io->ops->writev_block && ipc__block_ok(deadline)) {
		for (i = 0; i < n && left < IPC__BLOCK_MIN; i++)
			left += iov[i].iov_len;
		if (left >= IPC__BLOCK_MIN) {
			if (atomic_load_explicit(&ch->shut, memory_order_acquire))
				return IPC_EOF;
			return io->ops->writev_block(io, iov, n, deadline);
		}
	}
	return io->ops->writev(io, iov, n);
}

/* Write iov until done or the deadline. @p *written counts bytes out.
 * @return 0 when all is out, or the reason it stopped. */
static int
write_all(ipc_channel *ch, const struct iovec *src, int n, long long deadline,
          size_t *written)
{
	struct ipc__framing *s = framing(ch);
	struct iovec v[2], *iov = v;
	ssize_t r;
	int rc;

	assert(n <= 2);
	memcpy(v, src, (size_t)n * sizeof(*v));   /* the caller's array stays whole */

	while (n) {
		r = io_writev(ch, iov, n, deadline);
		if (r > 0) {
			*written += (size_t)r;
			iov_advance(&iov, &n, (size_t)r);
			continue;
		}
		if (r != -EAGAIN)
			return (int)r;
		if ((rc = wait_more(ch, s, POLLOUT, deadline)) < 0)
			return rc;
	}
	return 0;
}

/* Keep what is left of a committed frame; it goes out before anything else. */
static int
keep_tail(struct ipc__framing *s, struct iovec *iov, int n, size_t skip)
{
	size_t need = 0, off = 0;
	int i;

	for (i = 0; i < n; i++)
		need += iov[i].iov_len;
	need -= skip;
	if (need > s->tail_cap) {
		unsigned char *t = realloc(s->tail, need);

		if (!t)
			return -ENOMEM;
		s->tail = t;
		s->tail_cap = need;
	}
	for (i = 0; i < n; i++) {
		const unsigned char *b = iov[i].iov_base;
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		memcpy(s->tail + off, b + skip, l - skip);
		off += l - skip;
		skip = 0;
	}
	s->tail_off = 0;
	s->tail_len = need;
	return 0;
}

static int
flush_tail(ipc_channel *ch, long long deadline)
{
	struct ipc__framing *s = framing(ch);
	struct iovec iov = { s->tail + s->tail_off, s->tail_len - s->tail_off };
	size_t written = 0;
	int rc = write_all(ch, &iov, 1, deadline, &written);

	s->tail_off += written;
	if (s->tail_off == s->tail_len)
		s->tail_off = s->tail_len = 0;
	if (rc < 0 && rc != -EAGAIN && rc != -ETIMEDOUT && rc != IPC_EOF)
		s->send_err = rc;   /* the peer is gone: the frame stays cut off */
	return rc;
}

static ssize_t
raw_send(ipc_channel *ch, const void *buf, size_t len, long long deadline)
{
	struct ipc__framing *s = framing(ch);
	struct iovec iov = { (void *)buf, len };
	ssize_t r;
	int rc;

	if (!len)
		return 0;
	for (;;) {
		r = s->io->ops->writev(s->io, &iov, 1);
		if (r > 0)
			return r;
		if (r != -EAGAIN)
			return r;
		if ((rc = wait_more(ch, s, POLLOUT, deadline)) < 0)
			return rc;
	}
}

ssize_t
ipc__stream_send(ipc_channel *ch, const void *buf, size_t len, int timeout_ms)
{
	struct ipc__framing *s = framing(ch);
	long long deadline = ipc_deadline(timeout_ms);
	unsigned char head[IPC__HELLO_SIZE + IPC__FRAME_HDR];
	struct iovec iov[2];
	size_t hlen = 0, written = 0;
	int rc;

	if (s->send_err)
		return s->send_err;
	if (s->raw)
		return raw_send(ch, buf, len, deadline);
	if (s->send_limit && len > s->send_limit)
		return -EMSGSIZE;   /* the peer said it would refuse it */
	if (s->tail_len && (rc = flush_tail(ch, deadline)) < 0)
		return rc;      /* nothing of this message was written */

	if (!s->hello_out) {
		ipc__hello_fill(head, s->max_msg);
		hlen = IPC__HELLO_SIZE;
	}
	put_be32(head + hlen, (uint32_t)len);
	hlen += IPC__FRAME_HDR;
	iov[0] = (struct iovec){ head, hlen };
	iov[1] = (struct iovec){ (void *)buf, len };

	if (ipc__crash_at("send-half-frame")) {
		/* Test-only: die with half a frame on the wire. */
		struct iovec half[2] = { iov[0], { (void *)buf, len / 2 } };
		size_t w = 0;

		write_all(ch, half, 2, -1, &w);
		_exit(99);
	}

	rc = write_all(ch, iov, len ? 2 : 1, deadline, &written);
	if (written || rc == 0)
		s->hello_out = 1;
	if (rc == 0)
		return (ssize_t)len;
	if (written == 0)
		return rc == -EPIPE || rc == -ECONNRESET ? (s->send_err = rc) : rc;
	/* Some of the frame is out: it is committed. */
	if (rc == -EAGAIN || rc == -ETIMEDOUT || rc == IPC_EOF) {
		int r2 = keep_tail(s, iov, 2, written);

		if (r2 < 0)
			return s->send_err = r2;
		return (ssize_t)len;    /* committed, even when shutdown stopped us */
	}
	return s->send_err = rc;    /* cut off by the peer's death */
}

/* ---------------------------------------------------------------- batches */

/* Messages per writev: a header and a payload each, plus a hello, within
 * IOV_MAX; with a 64 B message that is 32 KiB, a kernel buffer's worth. */
#define BATCH_MSGS   ((IOV_MAX - 1) / 2)

/* What one call sends: @p n messages of one piece each (ipc_send_batch), or
 * one message of @p n pieces (ipc_sendv, @p gather set). */
struct out_msgs {
	const struct iovec *iov;
	size_t n;
	int gather;
};

/* Write e[0..cnt) until done or the deadline, at most IOV_MAX pieces per
 * call and never modifying e (the bytes of a cut-off message are taken from
 * it afterwards). @p *written counts the bytes out. @return 0 when all is
 * out, or the reason it stopped. */
static int
writev_all(ipc_channel *ch, struct iovec *e, int cnt, long long deadline, size_t *written)
{
	struct ipc__framing *s = framing(ch);
	int idx = 0, rc;
	size_t off = 0;
	ssize_t r;

	while (idx < cnt) {
		struct iovec save = e[idx];
		int k = cnt - idx < IOV_MAX ? cnt - idx : IOV_MAX;

		if (!e[idx].iov_len) {       /* empty pieces: zero-length payloads */
			idx++;
			continue;
		}
		e[idx].iov_base = (char *)e[idx].iov_base + off;
		e[idx].iov_len -= off;
		r = io_writev(ch, e + idx, k, deadline);
		e[idx] = save;
		if (r > 0) {
			*written += (size_t)r;
			off += (size_t)r;
			while (idx < cnt && off >= e[idx].iov_len) {
				off -= e[idx].iov_len;
				idx++;
			}
			continue;
		}
		if (r != -EAGAIN)
			return (int)r;
		if ((rc = wait_more(ch, s, POLLOUT, deadline)) < 0)
			return rc;
	}
	return 0;
}

/* The length of message @p i, or -EMSGSIZE above what either side allows. */
static ssize_t
out_len(const ipc_channel *ch, const struct out_msgs *m, size_t i)
{
	const struct ipc__framing *s = framing(ch);
	size_t len = 0, k;

	if (m->gather) {
		for (k = 0; k < m->n; k++) {
			if (m->iov[k].iov_len > SIZE_MAX - len)
				return -EMSGSIZE;
			len += m->iov[k].iov_len;
		}
	} else {
		len = m->iov[i].iov_len;
	}
	if (len > ipc__max_msg(&ch->opt) || len > IPC_MSG_LIMIT || (s->send_limit && len > s->send_limit))
		return -EMSGSIZE;
	return (ssize_t)len;
}

/* Send the messages of @p m in order, each whole or not at all, with as
 * few writev calls as IOV_MAX allows. @return how many went out (a message
 * cut off by the deadline or a shutdown is committed and counted, as
 * ipc_send); the reason when not even the first did. */
static ssize_t
send_msgs(ipc_channel *ch, const struct out_msgs *m, long long deadline)
{
	struct ipc__framing *s = framing(ch);
	size_t nmsgs = m->gather ? 1 : m->n, done = 0;
	int rc = 0;

	if (s->send_err)
		return s->send_err;
	if (s->tail_len && (rc = flush_tail(ch, deadline)) < 0)
		return rc;      /* nothing of these messages was written */

	while (done < nmsgs) {
		/* headers and piece index ranges of the messages of this writev */
		unsigned char hello[IPC__HELLO_SIZE], hdr[BATCH_MSGS][IPC__FRAME_HDR];
		struct iovec stack_e[2 * BATCH_MSGS + 1], *e = stack_e;
		int first[BATCH_MSGS + 1], cnt = 0;
		size_t ends[BATCH_MSGS], k, nk, written = 0, total = 0;
		ssize_t len;

		if (m->gather && m->n + 2 > sizeof(stack_e) / sizeof(stack_e[0]) &&
		    !(e = malloc((m->n + 2) * sizeof(*e))))
			return -ENOMEM;
		if (!s->hello_out) {
			ipc__hello_fill(hello, s->max_msg);
			e[cnt++] = (struct iovec){ hello, IPC__HELLO_SIZE };
			total = IPC__HELLO_SIZE;
		}
		for (nk = 0; nk < BATCH_MSGS && done + nk < nmsgs; nk++) {
			if ((len = out_len(ch, m, done + nk)) < 0)
				break;
			first[nk] = nk ? cnt : 0;      /* a hello belongs to the first */
			put_be32(hdr[nk], (uint32_t)len);
			e[cnt++] = (struct iovec){ hdr[nk], IPC__FRAME_HDR };
			/* Empty pieces are left out: a stream may copy each piece,
			 * and an empty one may have a NULL base. */
			if (m->gather) {
				for (k = 0; k < m->n; k++)
					if (m->iov[k].iov_len)
						e[cnt++] = m->iov[k];
			} else if (len) {
				e[cnt++] = m->iov[done + nk];
			}
			total += IPC__FRAME_HDR + (size_t)len;
			ends[nk] = total;
		}
		first[nk] = cnt;
		if (nk == 0) {          /* the next message is too large */
			if (e != stack_e)
				free(e);
			rc = -EMSGSIZE;
			break;
		}
		rc = writev_all(ch, e, cnt, deadline, &written);
		if (written || rc == 0)
			s->hello_out = 1;
		for (k = 0; k < nk && ends[k] <= written; k++)
			;
		done += k;
		if (rc == 0 && k == nk) {
			if (e != stack_e)
				free(e);
			continue;
		}
		/* Stopped inside message k (or before it, when written == its start). */
		if (k < nk && written > (k ? ends[k - 1] : 0)) {
			if (rc == -EAGAIN || rc == -ETIMEDOUT || rc == IPC_EOF) {
				int r2 = keep_tail(s, e + first[k], first[k + 1] - first[k],
				                   written - (k ? ends[k - 1] : 0));

				if (r2 < 0)
					rc = s->send_err = r2;
				else
					done++;      /* committed: it goes out first next time */
			} else {
				s->send_err = rc;    /* cut off by the peer's death */
			}
		} else if (rc == -EPIPE || rc == -ECONNRESET) {
			s->send_err = rc;
		}
		if (e != stack_e)
			free(e);
		break;
	}
	if (done)
		return (ssize_t)done;
	return rc;
}

ssize_t
ipc__stream_send_batch(ipc_channel *ch, const struct iovec *msgs, size_t n, int timeout_ms)
{
	struct out_msgs m = { msgs, n, 0 };

	if (framing(ch)->raw)
		return -EINVAL;        /* no messages on a raw stream */
	return send_msgs(ch, &m, ipc_deadline(timeout_ms));
}

ssize_t
ipc__stream_sendv(ipc_channel *ch, const struct iovec *iov, int iovcnt, int timeout_ms)
{
	struct ipc__framing *s = framing(ch);
	long long deadline = ipc_deadline(timeout_ms);
	struct out_msgs m = { iov, (size_t)iovcnt, 1 };
	size_t len = 0;
	ssize_t r;
	int i;

	for (i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;   /* the caller checked the sum */
	if (s->raw) {
		/* Raw: the pieces as bytes, possibly short, as ipc_send. */
		struct iovec *v;
		int rc;

		if (!len)
			return 0;
		if (s->send_err)
			return s->send_err;
		if (!(v = malloc((size_t)iovcnt * sizeof(*v))))
			return -ENOMEM;
		memcpy(v, iov, (size_t)iovcnt * sizeof(*v));
		for (;;) {
			r = s->io->ops->writev(s->io, v, iovcnt < IOV_MAX ? iovcnt : IOV_MAX);
			if (r != -EAGAIN)
				break;
			if ((rc = wait_more(ch, s, POLLOUT, deadline)) < 0) {
				r = rc;
				break;
			}
		}
		free(v);
		return r;
	}
	r = send_msgs(ch, &m, deadline);
	return r == 1 ? (ssize_t)len : r;
}

/* ---------------------------------------------------------------- receive */

/* Read more into @p dst (n bytes room), waiting until the deadline.
 * @return bytes read (> 0), 0 at end of file, or a negative code. */
static ssize_t
read_some(ipc_channel *ch, void *dst, size_t n, long long deadline)
{
	struct ipc__framing *s = framing(ch);
	struct ipc__bytes *io = s->io;
	ssize_t r;
	int rc;

	for (;;) {
		/* While the peer keeps us waiting (ping-pong), wait first: that
		 * saves the read that would only say EAGAIN. */
		if (s->rwaited && deadline != 0 && !io->ops->pending(io) &&
		    (rc = io->ops->wait(io, POLLIN, deadline)) < 0)
			return rc;
		r = io->ops->read(io, dst, n);
		s->rdrained = r > 0 && (size_t)r < n;
		if (r > 0) {
			/* A read that fills the room means a backlog: read first
			 * again next time. */
			if ((size_t)r == n)
				s->rwaited = 0;
			return r;
		}
		if (r != -EAGAIN)
			return r;
		if (atomic_load_explicit(&ch->shut, memory_order_acquire))
			return IPC_EOF;
		if ((rc = wait_more(ch, s, POLLIN, deadline)) < 0)
			return rc;
		s->rwaited = 1;
	}
}

/* End of file in the middle of a frame: -ECONNRESET once, then IPC_EOF. */
static ssize_t
cut_off(struct ipc__framing *s)
{
	s->rpos = s->rend = 0;
	s->recv_err = IPC_EOF;
	return -ECONNRESET;
}

static ssize_t
proto_error(struct ipc__framing *s)
{
	s->rpos = s->rend = 0;
	return s->recv_err = -EPROTO;
}

/* Resize the read-ahead buffer. Past its usual size it lives in its own
 * mapping, grown with mremap(): the pages move, the bytes are never copied
 * (so a large message is copied once, to the caller, whatever the
 * allocator's realloc does). */
static int
rbuf_resize(struct ipc__framing *s, size_t cap)
{
	unsigned char *b;

	if (cap <= IPC__RBUF_SIZE) {
		/* Back to the usual buffer; only ever asked when it is empty. */
		assert(s->rpos == s->rend);
		if (!s->rmapped || !(b = malloc(IPC__RBUF_SIZE)))
			return -ENOMEM;
		munmap(s->rbuf, s->rcap);
		s->rmapped = 0;
		cap = IPC__RBUF_SIZE;
	} else if (s->rmapped) {
		b = mremap(s->rbuf, s->rcap, cap, MREMAP_MAYMOVE);
		if (b == MAP_FAILED)
			return -ENOMEM;
	} else {
		b = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (b == MAP_FAILED)
			return -ENOMEM;
		memcpy(b + s->rpos, s->rbuf + s->rpos, s->rend - s->rpos);
		free(s->rbuf);
		s->rmapped = 1;
	}
	s->rbuf = b;
	s->rcap = cap;
	return 0;
}

/* Move the unread bytes to the front when @p need bytes would not fit. */
static void
rbuf_compact(struct ipc__framing *s, size_t need)
{
	if (s->rpos && s->rcap - s->rpos < need) {
		memmove(s->rbuf, s->rbuf + s->rpos, s->rend - s->rpos);
		s->rend -= s->rpos;
		s->rpos = 0;
	}
}

/* Make room for at least @p need bytes from rpos on, growing by doubling so
 * that a message that arrives piece by piece costs amortised linear time. */
static int
rbuf_reserve(struct ipc__framing *s, size_t need)
{
	size_t cap = s->rcap * 2;

	rbuf_compact(s, need);
	if (s->rcap - s->rpos >= need)
		return 0;
	if (cap < s->rpos + need)
		cap = s->rpos + need;
	return rbuf_resize(s, cap);
}

/* Shrink a buffer that grew for one large message once it is drained. */
static void
rbuf_settle(struct ipc__framing *s)
{
	if (s->rpos == s->rend) {
		s->rpos = s->rend = 0;
		if (s->rcap > IPC__RBUF_SIZE)
			(void)rbuf_resize(s, IPC__RBUF_SIZE);   /* else keep it */
	}
}

/* One read into the buffer, toward @p want unread bytes. The buffer grows
 * with what arrives (doubling, never past @p want), not with what the peer
 * claims, and each call reads only bytes not yet buffered.
 * @return 0 after a read, IPC_EOF at end of file, or a negative code. */
static int
fill_some(ipc_channel *ch, size_t want, long long deadline)
{
	struct ipc__framing *s = framing(ch);
	ssize_t r;

	if (s->reof)
		return IPC_EOF;
	/* Timeout 0: a short read emptied the stream, so the next read would
	 * only say EAGAIN; new bytes re-arm the caller's edge-style ipc_fd()
	 * whether or not we ask. Halves the system calls of an event loop. */
	if (deadline == 0 && s->rdrained && !s->io->ops->pending(s->io))
		return wait_more(ch, s, POLLIN, 0);
	rbuf_compact(s, want);
	if (s->rend == s->rcap) {
		size_t cap = s->rcap * 2;
		int rc;

		if (cap > s->rpos + want)
			cap = s->rpos + want;
		if ((rc = rbuf_resize(s, cap)) < 0)
			return rc;
	}
	r = read_some(ch, s->rbuf + s->rend, s->rcap - s->rend, deadline);
	if (r == 0 || r == -ECONNRESET) {
		/* A reset is the peer's end too; the caller reports a frame it
		 * cut off as -ECONNRESET, once. */
		s->reof = 1;
		return IPC_EOF;
	}
	if (r < 0)
		return (int)r;
	s->rend += (size_t)r;
	return 0;
}

/* Fill the buffer until it holds @p want unread bytes.
 * @return 0, IPC_EOF at end of file, or a negative code. */
static int
fill(ipc_channel *ch, size_t want, long long deadline)
{
	struct ipc__framing *s = framing(ch);
	int rc;

	while (s->rend - s->rpos < want)
		if ((rc = fill_some(ch, want, deadline)) < 0)
			return rc;
	return 0;
}

/* Judge the record at rpos from whatever of it has arrived, even one byte: a
 * peer that does not speak libipc (`printf 'hi' > fifo`) is refused at once,
 * not after it has sent a whole header or closed. */
static int
record_start_ok(const struct ipc__framing *s)
{
	const unsigned char *p = s->rbuf + s->rpos;
	size_t avail = s->rend - s->rpos;

	if (!avail)
		return 1;
	if (p[0] & 0x80)
		return ipc__hello_prefix_ok(p, avail);
	return s->hello_in;     /* a frame before any hello is not ours */
}

/* Wait for the next frame header, consuming hellos on the way.
 * @return the payload length, or a negative code. */
static ssize_t
next_header(ipc_channel *ch, long long deadline)
{
	struct ipc__framing *s = framing(ch);
	unsigned char *p;
	size_t avail, need;
	uint32_t len;
	int rc;

	for (;;) {
		if (!record_start_ok(s))
			return proto_error(s);
		avail = s->rend - s->rpos;
		p = s->rbuf + s->rpos;
		/* A hello: first on every stream, and again whenever another
		 * writer joins a FIFO. */
		need = avail && (p[0] & 0x80) ? IPC__HELLO_SIZE : IPC__FRAME_HDR;
		if (avail < need) {
			rc = fill_some(ch, need, deadline);
			if (rc == IPC_EOF)
				return s->rend == s->rpos ? IPC_EOF : cut_off(s);
			if (rc < 0)
				return rc;
			continue;       /* judge the new bytes first */
		}
		if (need == IPC__HELLO_SIZE) {
			if (ipc__hello_check(p, &s->peer_max) < 0)
				return proto_error(s);
			s->hello_in = 1;
			s->rpos += IPC__HELLO_SIZE;
			continue;
		}
		len = get_be32(p);
		if (len > s->max_msg)
			return proto_error(s);   /* checked before anything is allocated */
		return (ssize_t)len;
	}
}

static ssize_t
raw_recv(ipc_channel *ch, void *buf, size_t cap, long long deadline)
{
	struct ipc__framing *s = framing(ch);
	ssize_t r;

	if (s->rend > s->rpos) {
		size_t n = s->rend - s->rpos;

		if (n > cap)
			n = cap;
		memcpy(buf, s->rbuf + s->rpos, n);
		s->rpos += n;
		return (ssize_t)n;
	}
	if (s->reof)
		return IPC_EOF;
	r = read_some(ch, buf, cap, deadline);
	if (r == 0) {
		s->reof = 1;
		return IPC_EOF;
	}
	return r;
}

static ssize_t
recv_checked(ipc_channel *ch)
{
	struct ipc__framing *s = framing(ch);
	int rc = s->recv_err;

	if (rc == -ECONNRESET)
		s->recv_err = IPC_EOF;
	return rc;
}

/* Read a large body straight into @p buf, from *@p have_io bytes in to
 * @p len, with one blocking system call where the stream and the deadline
 * allow. @return 0 when it is all in; -ECONNRESET when the stream ended
 * first; else why it stopped (timeout, shutdown), with *@p have_io the
 * bytes in so far. */
static ssize_t
read_body(ipc_channel *ch, void *buf, size_t *have_io, size_t len, long long deadline)
{
	struct ipc__framing *s = framing(ch);
	size_t have = *have_io;
	ssize_t r = 0;

	while (have < len) {
		if (s->io->ops->read_block && ipc__block_ok(deadline)) {
			/* One system call for the body, woken by each segment
			 * inside the kernel; the slice bounds how late we see
			 * ipc_shutdown(). */
			if (atomic_load_explicit(&ch->shut, memory_order_acquire)) {
				r = IPC_EOF;
				break;
			}
			r = s->io->ops->read_block(s->io, (char *)buf + have, len - have);
			if (r > 0) {
				have += (size_t)r;
				continue;
			}
			if (r != -EAGAIN)
				break;
			/* A slice without a byte: a stalled peer, waited for
			 * as any other (shutdown, deadline). */
			if ((r = s->io->ops->wait(s->io, POLLIN, deadline)) < 0)
				break;
			continue;
		}
		/* A short read drained the stream: wait before the next one
		 * rather than ask and hear EAGAIN. */
		if (s->rdrained)
			s->rwaited = 1;
		r = read_some(ch, (char *)buf + have, len - have, deadline);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	*have_io = have;
	if (have == len)
		return 0;
	return r == 0 || r == -ECONNRESET ? -ECONNRESET : r;
}

/* One framed message into @p buf. */
static ssize_t
recv_one(ipc_channel *ch, void *buf, size_t cap, long long deadline)
{
	struct ipc__framing *s = framing(ch);
	size_t total, have;
	ssize_t len, r;
	int rc;

	if ((len = next_header(ch, deadline)) < 0)
		return len;
	if ((size_t)len > cap)
		return -EMSGSIZE;       /* stays queued */
	total = IPC__FRAME_HDR + (size_t)len;
	have = s->rend - s->rpos;
	/* A message that fits the read-ahead buffer, one that has already
	 * been parked there, and every message received event-loop style
	 * (timeout 0 until -EAGAIN) collect in the buffer: each call reads
	 * only new bytes, and the message is copied out once, whole. */
	if (have < total &&
	    (total <= s->rcap || deadline == 0 || have > IPC__RBUF_SIZE)) {
		rc = fill(ch, total, deadline);
		if (rc == IPC_EOF)
			return cut_off(s);
		if (rc < 0)
			return rc;      /* what arrived stays buffered */
		have = s->rend - s->rpos;
	}
	if (have >= total) {
		memcpy(buf, s->rbuf + s->rpos + IPC__FRAME_HDR, (size_t)len);
		s->rpos += total;
		rbuf_settle(s);
		return len;
	}
	/* A large message with a blocking budget: read the rest straight into
	 * the caller's buffer. If we must stop half-way, park what we have in
	 * the read-ahead buffer (once: later calls go on from there). */
	have -= IPC__FRAME_HDR;
	memcpy(buf, s->rbuf + s->rpos + IPC__FRAME_HDR, have);
	r = read_body(ch, buf, &have, (size_t)len, deadline);
	if (r >= 0) {
		s->rpos = s->rend = 0;
		rbuf_settle(s);
		return len;
	}
	if (r == -ECONNRESET) {
		s->reof = 1;
		return cut_off(s);
	}
	/* Timeout or shutdown: nothing is lost, the message stays queued. */
	if ((rc = rbuf_reserve(s, IPC__FRAME_HDR + have)) < 0)
		return s->recv_err = rc;
	memcpy(s->rbuf + s->rpos + IPC__FRAME_HDR, buf, have);
	s->rend = s->rpos + IPC__FRAME_HDR + have;
	return r;
}

ssize_t
ipc__stream_recv(ipc_channel *ch, void *buf, size_t cap, int timeout_ms)
{
	struct ipc__framing *s = framing(ch);
	long long deadline = ipc_deadline(timeout_ms);

	if (s->recv_err)
		return recv_checked(ch);
	if (s->raw)
		return raw_recv(ch, buf, cap, deadline);
	s->rdrained = 0;
	return recv_one(ch, buf, cap, deadline);
}

/* The first message waits as ipc_recv; the others come from what is already
 * buffered, or from reads that do not block (none once a read came back
 * short: the stream is drained). The batch stops at the first message that
 * does not fit its buffer, which stays queued. */
ssize_t
ipc__stream_recv_batch(ipc_channel *ch, struct iovec *msgs, size_t n, int timeout_ms)
{
	struct ipc__framing *s = framing(ch);
	size_t i;
	ssize_t r;

	if (s->raw)
		return -EINVAL;        /* no messages on a raw stream */
	if (s->recv_err)
		return recv_checked(ch);
	s->rdrained = 0;
	if ((r = recv_one(ch, msgs[0].iov_base, msgs[0].iov_len, ipc_deadline(timeout_ms))) < 0)
		return r;
	msgs[0].iov_len = (size_t)r;
	for (i = 1; i < n; i++) {
		if (atomic_load_explicit(&ch->shut, memory_order_acquire))
			break;
		r = recv_one(ch, msgs[i].iov_base, msgs[i].iov_len, 0);
		if (r < 0) {
			/* A peer that died inside the next message: its one
			 * -ECONNRESET is the next call's (then IPC_EOF). */
			if (r == -ECONNRESET)
				s->recv_err = -ECONNRESET;
			break;
		}
		msgs[i].iov_len = (size_t)r;
	}
	return (ssize_t)i;
}

ssize_t
ipc__stream_recv_size(ipc_channel *ch, int timeout_ms)
{
	struct ipc__framing *s = framing(ch);

	if (s->recv_err)
		return recv_checked(ch);
	s->rdrained = 0;
	return next_header(ch, ipc_deadline(timeout_ms));
}

int
ipc__stream_fd_of(const ipc_channel *ch)
{
	const struct ipc__framing *s = framing(ch);
	int fd;

	if (!s)
		return -ENOTCONN;
	fd = s->io->ops->fd(s->io, POLLIN);
	return fd >= 0 ? fd : s->io->ops->fd(s->io, POLLOUT);
}

int
ipc__stream_fd(ipc_channel *ch)
{
	return ipc__stream_fd_of(ch);
}

int
ipc__stream_pending(const ipc_channel *ch)
{
	const struct ipc__framing *s = framing(ch);
	size_t avail = s->rend - s->rpos;
	const unsigned char *p = s->rbuf + s->rpos;

	if (s->recv_err || s->reof || s->io->ops->pending(s->io))
		return 1;
	if (s->raw)
		return avail > 0;
	/* Skip buffered hellos to see whether a whole frame is here. */
	while (avail >= IPC__HELLO_SIZE && (p[0] & 0x80)) {
		p += IPC__HELLO_SIZE;
		avail -= IPC__HELLO_SIZE;
	}
	return avail >= IPC__FRAME_HDR && !(p[0] & 0x80) &&
	       avail - IPC__FRAME_HDR >= get_be32(p);
}

short
ipc__stream_poll(ipc_channel *ch, short events, struct ipc_poll_wait *w)
{
	const struct ipc__framing *s = framing(ch);
	int rfd = s->io->ops->fd(s->io, POLLIN), wfd = s->io->ops->fd(s->io, POLLOUT);
	short known = 0;

	/* The receive side's descriptor is polled even when only room is
	 * asked for: its POLLHUP / POLLERR are always reported. */
	w->fd[0] = rfd >= 0 ? rfd : wfd;
	w->events[0] = 0;
	w->fd[1] = -1;
	w->events[1] = 0;
	if ((events & IPC_POLLIN) && rfd >= 0) {
		w->events[0] |= POLLIN;
		if (ipc__stream_pending(ch))
			known |= IPC_POLLIN;
	}
	if ((events & IPC_POLLOUT) && wfd >= 0) {
		if (wfd == w->fd[0]) {
			w->events[0] |= POLLOUT;
		} else {
			w->fd[1] = wfd;
			w->events[1] = POLLOUT;
		}
	}
	return known;
}

int
ipc__stream_flush(ipc_channel *ch, int timeout_ms)
{
	struct ipc__framing *s = framing(ch);
	int rc;

	if (!s->tail_len)
		return 0;
	if (s->send_err)
		return s->send_err;
	rc = flush_tail(ch, ipc_deadline(timeout_ms));
	return rc < 0 ? rc : 0;
}

void
ipc__stream_close(ipc_channel *ch)
{
	struct ipc__framing *s = framing(ch);

	if (!s)
		return;         /* the driver failed before the framing took over */
	/* Finish a committed frame, bounded; never from a forked copy, which
	 * would send the owner's bytes twice. */
	if (s->tail_len && !ipc_channel_foreign(ch) && !s->send_err) {
		int rc = atomic_load(&ch->shut) ? -ECONNRESET
		         : flush_tail(ch, ipc_deadline(IPC__CLOSE_LINGER_MS));

		if (rc < 0)
			ch->close_err = rc;     /* a committed message was cut short */
	}
	s->io->ops->close(s->io);
	if (s->rmapped)
		munmap(s->rbuf, s->rcap);
	else
		free(s->rbuf);
	free(s->tail);
	free(s);
	*(struct ipc__framing **)ch->priv = NULL;
}
