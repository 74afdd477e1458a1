/* Fuzz target: the framed stream receive path (lib/framing.c), driven only
 * through the public API. The input is what a peer writes into a stream,
 * as a little writer script, and where the receiver reads in between:
 *
 *   header  u8 mode, u32 max_msg (0: the default)
 *           mode bits 0-1 the stream: 0 socketpair as fd:N, 1 pipe as fd:N,
 *                     2 ipc_pipe() written through ipc_fd() of its send end,
 *                     3 a memfd holding the whole stream before the open
 *           bit 2     IPC_RAW
 *           bit 3     drain event-loop style (timeout 0, ipc_poll on -EAGAIN)
 *           bits 4-7  which receive calls the drain cycles through
 *   ops     0x00-0x3f  op+1 literal bytes follow
 *           0x40       u16 n, then n literal bytes
 *           0x41       u32 m: a hello carrying max_msg m (valid if m <= 2^31-1)
 *           0x42       u24 n, u8 s: a frame of n bytes (pattern from s)
 *           0x43       u24 n, u8 b: n bytes of value b
 *           0x44-0xbf  one receive with timeout 0; the op picks the call
 *                      and the buffer (see recv_step)
 *           0xc0-0xff  ipc_recv_batch with timeout 0 over n buffers (op bits
 *                      0-2 and 3-4, see recv_batch_step), then min(n, 8)
 *                      bytes that size the buffers, cycled
 *
 * At the end the writer closes and the receiver drains until it returns an
 * end (IPC_EOF, -ECONNRESET, -EPROTO). Every answer is checked against a
 * model of doc/wire-format.md run over the same bytes: messages whole, in
 * order, byte for byte, never above cap or max_msg; -EMSGSIZE only for a
 * message larger than the buffer (in a batch, only for the first: a later
 * one stops the batch there); a batch takes every message already written
 * until one does not fit; the end the document names, and -EPROTO
 * as soon as the bytes written make it certain (no -EAGAIN then); the
 * sticky errors stay; no descriptor is left open (under ASan, no memory). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <ipc/ipc.h>

#include "fuzz-common.h"

#define WIRE_MAX   (1u << 20)      /* bytes one input may write */
#define DRAIN_MS   5000            /* the writer is gone: every byte is there */
#define DEFAULT_MAX_MSG (16u << 20)

enum { T_SOCKET, T_PIPE_FD, T_IPC_PIPE, T_FILE };

struct msg {
	size_t off, len;
};

/* What doc/wire-format.md says a receiver gets from the whole stream. */
struct model {
	struct msg *m;
	size_t      n, cap;
	int         end;        /* IPC_EOF, -ECONNRESET or -EPROTO */
	size_t      proto_at;   /* -EPROTO: the stream is bad once this many
	                           bytes are there, writer or not */
	long long   cut_len;    /* a complete header whose body was cut off, else -1 */
};

struct run {
	int            transport, raw, evloop;
	size_t         max_msg;
	unsigned char *wire;
	size_t         wlen, wcap;
	size_t         wpos;        /* bytes of wire written so far */
	int            wfd;         /* our write end, -1 once closed */
	ipc_channel   *wch;         /* T_IPC_PIPE: the send end that owns wfd */
	ipc_channel   *ch;
	int            closed;      /* the writer is gone */
	struct model   md;
	size_t         next;        /* framed: index of the next message due */
	size_t         rawpos;      /* raw: bytes delivered so far */
	int            ended;       /* the receiver returned an end */
	ssize_t        end_rc;
	size_t         batches, batched;  /* FUZZ_VERBOSE: batches with messages, their messages */
};

/* ------------------------------------------------------------ the model */

static void
model_add(struct model *md, size_t off, size_t len)
{
	if (md->n == md->cap) {
		md->cap = md->cap ? md->cap * 2 : 16;
		if (!(md->m = realloc(md->m, md->cap * sizeof(*md->m))))
			fz_fail("out of memory");
	}
	md->m[md->n++] = (struct msg){ off, len };
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* How many bytes of a hello it takes to see it is bad (0: it is good).
 * The magic and the version are judged byte by byte as they arrive; the
 * flags, reserved bytes and max_msg once all 12 are there. */
static size_t
hello_bad_at(const unsigned char *h, size_t n)
{
	static const unsigned char good[5] = { 0x89, 'I', 'P', 'C', 1 };
	size_t i;

	for (i = 0; i < 5 && i < n; i++)
		if (h[i] != good[i])
			return i + 1;
	if (n < 12)
		return 0;
	return h[5] || h[6] || h[7] || (h[8] & 0x80) ? 12 : 0;
}

/* The reader pseudo-code of doc/wire-format.md: every record judged from
 * its first byte, a hello's magic and version as they arrive. */
static void
model_run(struct model *md, const unsigned char *w, size_t n, size_t max_msg)
{
	size_t pos = 0, bad;
	int hello = 0;

	md->cut_len = -1;
	for (;;) {
		size_t left = n - pos;
		uint32_t len;

		if (!left) {
			md->end = IPC_EOF;
			return;
		}
		if (w[pos] & 0x80) {
			if ((bad = hello_bad_at(w + pos, left < 12 ? left : 12))) {
				md->end = -EPROTO;
				md->proto_at = pos + bad;
				return;
			}
			if (left < 12) {
				md->end = -ECONNRESET;
				return;
			}
			hello = 1;
			pos += 12;
			continue;
		}
		if (!hello) {
			md->end = -EPROTO;
			md->proto_at = pos + 1;
			return;
		}
		if (left < 4) {
			md->end = -ECONNRESET;
			return;
		}
		len = be32(w + pos);
		if (len > max_msg) {
			md->end = -EPROTO;
			md->proto_at = pos + 4;
			return;
		}
		if (left - 4 < len) {
			md->end = -ECONNRESET;
			md->cut_len = len;
			return;
		}
		model_add(md, pos + 4, len);
		pos += 4 + (size_t)len;
	}
}

/* ------------------------------------------------------------ receiving */

static const size_t caps[8] = { 0, 1, 4, 12, 100, 4096, 65536, (1u << 20) + 3 };

/* The end was returned: later calls give -EPROTO again, or IPC_EOF. */
static void
check_after_end(struct run *r, ssize_t rc, const char *call)
{
	ssize_t want = r->end_rc == -EPROTO ? -EPROTO : IPC_EOF;

	FZ_ASSERT(rc == want, "%s after the end (%zd): %zd, want %zd", call, r->end_rc, rc, want);
}

/* A negative answer of any receive call. */
static void
check_negative(struct run *r, ssize_t rc, const char *call, int timeout)
{
	if (rc == -EAGAIN) {
		FZ_ASSERT(timeout == 0, "%s: -EAGAIN with timeout %d", call, timeout);
		/* A bad record is refused as soon as its bytes are there. */
		FZ_ASSERT(r->raw || r->ended || r->md.end != -EPROTO || r->next < r->md.n ||
		          r->wpos < r->md.proto_at, "%s: -EAGAIN, but the %zu bytes written "
		          "already make the stream bad (-EPROTO at %zu)", call, r->wpos,
		          r->md.proto_at);
		return;
	}
	FZ_ASSERT(rc != -ETIMEDOUT, "%s: timed out after %d ms with %s", call, timeout,
	          r->closed ? "the writer gone and every byte in the kernel" : "data");
	FZ_ASSERT(rc == -EPROTO || rc == -ECONNRESET || rc == IPC_EOF,
	          "%s: unexpected %zd (%s)", call, rc, ipc_strerror((int)rc));
	if (r->ended) {
		check_after_end(r, rc, call);
		return;
	}
	if (r->raw) {
		FZ_ASSERT(rc == IPC_EOF && r->closed && r->rawpos == r->wlen,
		          "raw %s: %zd after %zu of %zu bytes", call, rc, r->rawpos, r->wlen);
	} else {
		FZ_ASSERT(r->next == r->md.n, "%s: %zd after %zu of %zu messages", call, rc,
		          r->next, r->md.n);
		FZ_ASSERT(r->closed || rc == -EPROTO, "%s: %zd while the writer is still there",
		          call, rc);
		FZ_ASSERT(rc == r->md.end, "%s: end %zd, the wire format says %d",
		          call, rc, r->md.end);
	}
	r->ended = 1;
	r->end_rc = rc;
}

/* A message of @p n bytes arrived in @p buf (buffer of @p cap bytes). */
static void
check_message(struct run *r, const unsigned char *buf, ssize_t n, size_t cap, const char *call)
{
	FZ_ASSERT((size_t)n <= cap, "%s: %zd bytes into a buffer of %zu", call, n, cap);
	FZ_ASSERT(!r->ended, "%s: a message after the end %zd", call, r->end_rc);
	if (r->raw) {
		FZ_ASSERT(n >= 1, "raw %s: 0 bytes", call);
		FZ_ASSERT(r->rawpos + (size_t)n <= r->wpos, "raw %s: %zd bytes, only %zu unread",
		          call, n, r->wpos - r->rawpos);
		FZ_ASSERT(n == 0 || memcmp(buf, r->wire + r->rawpos, (size_t)n) == 0,
		          "raw %s: bytes differ at offset %zu", call, r->rawpos);
		r->rawpos += (size_t)n;
		return;
	}
	FZ_ASSERT((size_t)n <= r->max_msg, "%s: %zd bytes, above max_msg %zu", call, n, r->max_msg);
	FZ_ASSERT(r->next < r->md.n, "%s: a message of %zd bytes the stream does not hold",
	          call, n);
	FZ_ASSERT((size_t)n == r->md.m[r->next].len, "%s: message %zu has %zd bytes, not %zu",
	          call, r->next, n, r->md.m[r->next].len);
	FZ_ASSERT(n == 0 || memcmp(buf, r->wire + r->md.m[r->next].off, (size_t)n) == 0,
	          "%s: message %zu torn or garbled", call, r->next);
	r->next++;
}

/* The length of the message due next, as far as the framing can know it. */
static long long
due_len(const struct run *r)
{
	if (r->next < r->md.n)
		return (long long)r->md.m[r->next].len;
	return r->md.cut_len;
}

static ssize_t
recv_cap(struct run *r, size_t cap, int timeout)
{
	unsigned char *buf = malloc(cap ? cap : 1);   /* exact size: ASan sees overruns */
	ssize_t n;

	if (!buf)
		fz_fail("out of memory");
	n = ipc_recv(r->ch, buf, cap, timeout);
	if (n >= 0) {
		check_message(r, buf, n, cap, "ipc_recv");
	} else if (n == -EMSGSIZE) {
		FZ_ASSERT(!r->raw && !r->ended, "ipc_recv: -EMSGSIZE %s",
		          r->raw ? "in raw mode" : "after the end");
		FZ_ASSERT(due_len(r) > (long long)cap, "ipc_recv: -EMSGSIZE with cap %zu, "
		          "the next message has %lld bytes", cap, due_len(r));
	} else if (n == -EINVAL) {
		FZ_ASSERT(r->raw && cap == 0, "ipc_recv: -EINVAL with cap %zu", cap);
	} else {
		check_negative(r, n, "ipc_recv", timeout);
	}
	free(buf);
	return n;
}

static ssize_t
recv_size(struct run *r, int timeout)
{
	ssize_t n = ipc_recv_size(r->ch, timeout);

	if (r->raw) {
		FZ_ASSERT(n == -EINVAL, "raw ipc_recv_size: %zd, want -EINVAL", n);
		return n;
	}
	if (n >= 0) {
		FZ_ASSERT(!r->ended, "ipc_recv_size: %zd after the end", n);
		FZ_ASSERT((size_t)n <= r->max_msg, "ipc_recv_size: %zd above max_msg", n);
		FZ_ASSERT(n == due_len(r), "ipc_recv_size: %zd, the next message has %lld bytes",
		          n, due_len(r));
		return n;
	}
	check_negative(r, n, "ipc_recv_size", timeout);
	return n;
}

static ssize_t
recv_alloc(struct run *r, int timeout)
{
	void *buf = NULL;
	ssize_t n = ipc_recv_alloc(r->ch, &buf, timeout);

	if (r->raw) {
		FZ_ASSERT(n == -EINVAL, "raw ipc_recv_alloc: %zd, want -EINVAL", n);
		return n;
	}
	if (n >= 0) {
		FZ_ASSERT(buf, "ipc_recv_alloc: %zd and no buffer", n);
		check_message(r, buf, n, (size_t)n, "ipc_recv_alloc");
		ipc_free(buf);
		return n;
	}
	FZ_ASSERT(!buf, "ipc_recv_alloc: %zd but *buf was set", n);
	check_negative(r, n, "ipc_recv_alloc", timeout);
	return n;
}

#define BATCH_SPECS   8             /* sizing bytes one batch op reads */
#define BATCH_BYTES   (4u << 20)    /* room one batch may allocate */

/* The room of buffer @p i of a batch from its sizing byte @p b: bits 0-2
 * 0-5 caps[bits 3-5], 6 exactly the size of the message due i-th from
 * now, 7 one byte less; bit 6 with room 0: a NULL base. */
static size_t
batch_cap(const struct run *r, size_t i, unsigned b)
{
	long long due = -1;

	if (r->next + i < r->md.n)
		due = (long long)r->md.m[r->next + i].len;
	else if (r->next + i == r->md.n)
		due = r->md.cut_len;
	switch (b & 7) {
	case 6:
		return due >= 0 ? (size_t)due : 16;
	case 7:
		return due > 0 ? (size_t)due - 1 : 0;
	default:
		return caps[(b >> 3) & 7];
	}
}

/* ipc_recv_batch over n = ((how & 7) + 1) << 2 * ((how >> 3) & 3) buffers
 * (1 to 512), sized by @p spec (k bytes, cycled), each malloc'd to its
 * exact room so that ASan sees an overrun. */
static ssize_t
recv_batch_step(struct run *r, unsigned how, const uint8_t *spec, size_t k, int timeout)
{
	size_t n = (size_t)((how & 7) + 1) << (2 * ((how >> 3) & 3)), i, room = 0;
	struct iovec *iov = calloc(n, sizeof(*iov));
	size_t *cap = calloc(n, sizeof(*cap));
	ssize_t got;

	if (!iov || !cap)
		fz_fail("out of memory");
	for (i = 0; i < n; i++) {
		unsigned b = spec[i % k];

		cap[i] = batch_cap(r, i, b);
		if (cap[i] > BATCH_BYTES - room)
			cap[i] = caps[4];       /* the budget is spent: small ones */
		room += cap[i];
		iov[i].iov_len = cap[i];
		if (!(cap[i] == 0 && (b & 0x40)) &&
		    !(iov[i].iov_base = malloc(cap[i] ? cap[i] : 1)))
			fz_fail("out of memory");
	}
	got = ipc_recv_batch(r->ch, iov, n, timeout);
	for (i = 0; i < n; i++)
		FZ_ASSERT(i < (size_t)(got > 0 ? got : 0) || iov[i].iov_len == cap[i],
		          "ipc_recv_batch: %zd, but buffer %zu's length changed to %zu", got, i,
		          iov[i].iov_len);
	if (r->raw) {
		FZ_ASSERT(got == -EINVAL, "raw ipc_recv_batch: %zd, want -EINVAL", got);
	} else if (got > 0) {
		FZ_ASSERT((size_t)got <= n, "ipc_recv_batch: %zd messages into %zu buffers", got, n);
		for (i = 0; i < (size_t)got; i++)
			check_message(r, iov[i].iov_base, (ssize_t)iov[i].iov_len, cap[i],
			              "ipc_recv_batch");
		r->batches++;
		r->batched += (size_t)got;
		/* Short only where it must be: the next message is not all
		 * written yet (every written byte is in the kernel: this thread
		 * is the writer), does not fit its buffer, or is the end. */
		if ((size_t)got < n && r->next < r->md.n) {
			const struct msg *m = &r->md.m[r->next];

			FZ_ASSERT(m->off + m->len > r->wpos || m->len > cap[got],
			          "ipc_recv_batch: %zd of %zu, but message %zu (%zu bytes) is all "
			          "there and fits buffer %zd (%zu)", got, n, r->next, m->len, got,
			          cap[got]);
		}
	} else if (got == 0) {
		fz_fail("ipc_recv_batch: 0 messages (at least 1 or an error)");
	} else if (got == -EMSGSIZE) {
		FZ_ASSERT(!r->ended, "ipc_recv_batch: -EMSGSIZE after the end");
		FZ_ASSERT(due_len(r) > (long long)cap[0], "ipc_recv_batch: -EMSGSIZE with the "
		          "first buffer %zu, the next message has %lld bytes", cap[0], due_len(r));
	} else {
		check_negative(r, got, "ipc_recv_batch", timeout);
	}
	for (i = 0; i < n; i++)
		free(iov[i].iov_base);
	free(iov);
	free(cap);
	return got;
}

/* One receive. @p how: bits 6-7 both set, ipc_recv_batch sized by the
 * @p k bytes at @p spec (none: bytes made from @p how); else bits 0-2 the
 * call (0-3 ipc_recv with a buffer of caps[bits 3-5], 4 ipc_recv_size,
 * 5 ipc_recv_alloc, 6 ipc_recv with exactly the next message's size, 7 one
 * byte less). */
static ssize_t
recv_step(struct run *r, unsigned how, const uint8_t *spec, size_t k, int timeout)
{
	long long due = due_len(r);
	uint8_t made[BATCH_SPECS];
	size_t i;

	how &= 0xff;
	if ((how & 0xc0) == 0xc0) {
		if (!k) {
			/* every other buffer (the first too) fits exactly */
			for (i = 0; i < BATCH_SPECS; i++) {
				made[i] = (uint8_t)(how * 0x9d + i * 0x3b);
				if (!(i & 1))
					made[i] = (uint8_t)((made[i] & ~7u) | 6);
			}
			spec = made;
			k = BATCH_SPECS;
		}
		return recv_batch_step(r, how, spec, k, timeout);
	}
	switch (how & 7) {
	case 4:
		return recv_size(r, timeout);
	case 5:
		return recv_alloc(r, timeout);
	case 6:
		return recv_cap(r, due >= 0 ? (size_t)due : 16, timeout);
	case 7:
		return recv_cap(r, due > 0 ? (size_t)due - 1 : 0, timeout);
	default:
		return recv_cap(r, caps[(how >> 3) & 7], timeout);
	}
}

/* The writer found the stream full: a receive that always takes bytes. */
static void
make_room(struct run *r)
{
	if (r->raw)
		recv_cap(r, 65536, 0);
	else
		recv_alloc(r, 0);
}

/* ------------------------------------------------------------ writing */

static void
wire_add(struct run *r, const void *p, size_t n)
{
	if (n > WIRE_MAX - r->wlen)
		n = WIRE_MAX - r->wlen;
	if (!n)
		return;
	if (r->wlen + n > r->wcap) {
		size_t c = r->wcap ? r->wcap : 4096;

		while (c < r->wlen + n)
			c *= 2;
		if (!(r->wire = realloc(r->wire, c)))
			fz_fail("out of memory");
		r->wcap = c;
	}
	memcpy(r->wire + r->wlen, p, n);
	r->wlen += n;
}

static void
wire_fill(struct run *r, size_t n, unsigned seed, int pattern)
{
	unsigned char chunk[4096];
	size_t i, k;

	while (n && r->wlen < WIRE_MAX) {
		k = n < sizeof(chunk) ? n : sizeof(chunk);
		for (i = 0; i < k; i++)
			chunk[i] = (unsigned char)(pattern ? seed + r->wlen + i : seed);
		wire_add(r, chunk, k);
		n -= k;
	}
}

/* Write the next @p n bytes of the wire into the stream, making room by
 * receiving when it is full. Once the receiver has ended, nothing more. */
static void
write_out(struct run *r, size_t n)
{
	unsigned stuck = 0;

	while (n && !r->ended) {
		ssize_t w;

		if (r->transport == T_SOCKET)
			w = send(r->wfd, r->wire + r->wpos, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			w = write(r->wfd, r->wire + r->wpos, n);
		if (w > 0) {
			r->wpos += (size_t)w;
			n -= (size_t)w;
			stuck = 0;
			continue;
		}
		FZ_ASSERT(w < 0 && (errno == EAGAIN || errno == EINTR), "write: %s",
		          strerror(errno));
		FZ_ASSERT(++stuck < 100000, "the receiver takes nothing from a full stream");
		make_room(r);
	}
}

/* One op of the script. Pass 0 builds the wire; pass 1 writes it and
 * receives in between. */
static void
script_op(struct run *r, struct fz *f, int pass)
{
	unsigned op = fz_u8(f);
	size_t n, got, k;
	unsigned char h[12];
	const uint8_t *p = NULL;
	uint32_t v;

	if (op <= 0x40) {
		n = op < 0x40 ? op + 1 : fz_u16(f);
		p = fz_bytes(f, n, &got);
		if (pass == 0)
			wire_add(r, p, got);
		else
			n = got;
	} else if (op == 0x41) {
		v = fz_u32(f);
		memcpy(h, "\x89IPC\x01\0\0\0", 8);
		h[8] = (unsigned char)(v >> 24);
		h[9] = (unsigned char)(v >> 16);
		h[10] = (unsigned char)(v >> 8);
		h[11] = (unsigned char)v;
		if (pass == 0)
			wire_add(r, h, sizeof(h));
		n = sizeof(h);
	} else if (op == 0x42 || op == 0x43) {
		v = fz_u24(f);
		got = fz_u8(f);
		if (pass == 0 && op == 0x42) {
			h[0] = (unsigned char)(v >> 24);
			h[1] = (unsigned char)(v >> 16);
			h[2] = (unsigned char)(v >> 8);
			h[3] = (unsigned char)v;
			wire_add(r, h, 4);
		}
		if (pass == 0)
			wire_fill(r, v, (unsigned)got, op == 0x42);
		n = v + (op == 0x42 ? 4 : 0);
	} else {
		k = 0;
		if ((op & 0xc0) == 0xc0) {
			/* a batch: its sizing bytes, read in both passes */
			n = (size_t)((op & 7) + 1) << (2 * ((op >> 3) & 3));
			p = fz_bytes(f, n < BATCH_SPECS ? n : BATCH_SPECS, &k);
		}
		if (pass == 1 && !r->ended)
			recv_step(r, op, k ? p : NULL, k, 0);
		return;
	}
	if (pass == 1) {
		/* the same bytes as pass 0 wrote, clipped at WIRE_MAX */
		if (n > r->wlen - r->wpos)
			n = r->wlen - r->wpos;
		if (r->transport != T_FILE)
			write_out(r, n);
	}
}

/* ------------------------------------------------------------ set-up */

static int
open_stream(struct run *r, const ipc_options *opt, int flags)
{
	char uri[32];
	int fds[2], rc;

	switch (r->transport) {
	case T_SOCKET:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
			fz_fail("socketpair: %s", strerror(errno));
		break;
	case T_PIPE_FD:
		if (pipe2(fds, O_CLOEXEC) < 0 || fcntl(fds[1], F_SETFL, O_NONBLOCK) < 0)
			fz_fail("pipe: %s", strerror(errno));
		break;
	case T_IPC_PIPE: {
		ipc_channel *e[2];

		if ((rc = ipc_pipe(e, flags & IPC_RAW)) < 0)
			fz_fail("ipc_pipe: %s", ipc_strerror(rc));
		r->ch = e[0];
		r->wch = e[1];
		r->wfd = ipc_fd(e[1]);
		FZ_ASSERT(r->wfd >= 0, "ipc_fd of a pipe's send end: %d", r->wfd);
		return 0;
	}
	default:
		if ((fds[0] = memfd_create("ipc-fuzz-stream", MFD_CLOEXEC)) < 0)
			fz_fail("memfd_create: %s", strerror(errno));
		if (r->wlen && write(fds[0], r->wire, r->wlen) != (ssize_t)r->wlen)
			fz_fail("memfd write: %s", strerror(errno));
		lseek(fds[0], 0, SEEK_SET);
		fds[1] = -1;
		r->wpos = r->wlen;
		r->closed = 1;  /* the whole stream is there from the start */
		break;
	}
	snprintf(uri, sizeof(uri), "fd:%d", fds[0]);
	rc = ipc_open(&r->ch, uri, IPC_RECV | flags, opt);
	if (rc < 0) {
		close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		return rc;
	}
	r->wfd = fds[1];
	return 0;
}

static void
close_writer(struct run *r)
{
	if (r->wch)
		FZ_ASSERT(ipc_close(r->wch) == 0, "ipc_close of an unused send end failed");
	else if (r->wfd >= 0)
		close(r->wfd);
	r->wch = NULL;
	r->wfd = -1;
	r->closed = 1;
}

/* After the writer is gone every byte is in the kernel: receive until the
 * end, then once more to see it stay. */
static void
drain(struct run *r, unsigned seed)
{
	struct ipc_pollitem it = { .ch = r->ch, .events = IPC_POLLIN };
	unsigned i, again = 0;
	int timeout = r->evloop ? 0 : DRAIN_MS;
	ssize_t n;

	for (i = 0; !r->ended; i++) {
		n = recv_step(r, seed + i * 0x2b, NULL, 0, timeout);
		if (n == -EAGAIN) {
			/* ipc_fd's rule: a drain ends at -EAGAIN, then the loop
			 * waits for the descriptor. It must fire: all is there. */
			FZ_ASSERT(++again < 1000, "-EAGAIN over and over with every byte there");
			FZ_ASSERT(ipc_poll(&it, 1, DRAIN_MS) == 1,
			          "-EAGAIN, then ipc_poll sees nothing for %d ms: an event loop "
			          "would hang", DRAIN_MS);
		} else {
			again = 0;
		}
		FZ_ASSERT(i < 10000000, "the drain never ends");
	}
	recv_step(r, seed ^ 5, NULL, 0, timeout);
	recv_step(r, seed ^ 4, NULL, 0, timeout);
	recv_step(r, seed | 0xc0, NULL, 0, timeout);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size }, script;
	ipc_options opt = IPC_OPTIONS_INIT;
	struct run r = { .wfd = -1 };
	int fds = fz_fd_count(), rc;
	unsigned mode = fz_u8(&f);
	uint32_t max = fz_u32(&f);

	r.transport = mode & 3;
	r.raw = !!(mode & 4);
	r.evloop = !!(mode & 8);
	opt.max_msg = max;
	r.max_msg = max ? max : DEFAULT_MAX_MSG;
	if (r.transport == T_IPC_PIPE)
		r.max_msg = DEFAULT_MAX_MSG;    /* ipc_pipe() takes no options */

	script = f;
	while (script.n)
		script_op(&r, &script, 0);
	r.md.cut_len = -1;
	if (!r.raw)
		model_run(&r.md, r.wire, r.wlen, r.max_msg);

	rc = open_stream(&r, &opt, r.raw ? IPC_RAW : 0);
	if (rc < 0) {
		FZ_ASSERT(rc == -EINVAL && max > 0x7fffffffu, "ipc_open(fd:) failed: %s",
		          ipc_strerror(rc));
	} else {
		FZ_ASSERT(max <= 0x7fffffffu || r.transport == T_IPC_PIPE,
		          "ipc_open took max_msg %u", (unsigned)max);
		script = f;
		while (script.n)
			script_op(&r, &script, 1);
		close_writer(&r);
		drain(&r, mode >> 4);
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "  %zu bytes, %zu messages (%zu raw bytes, %zu in %zu "
			        "batches), end %zd\n", r.wlen, r.next, r.rawpos, r.batched,
			        r.batches, r.end_rc);
		FZ_ASSERT(ipc_close(r.ch) == 0, "ipc_close of a receiver failed");
	}
	free(r.wire);
	free(r.md.m);
	rc = fz_fd_count();
	FZ_ASSERT(rc == fds, "descriptor leak: %d open before, %d after", fds, rc);
	return 0;
}
