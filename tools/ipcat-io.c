/* ipcat: stdin cut into messages, and what arrives formatted onto stdout.
 * Both go through fd: channels in IPC_RAW mode, so that reading and writing
 * never block the event loop (the library gives us our own non-blocking
 * descriptions of a pipe or terminal, leaving the shell's alone) and a
 * closed stdout is -EPIPE, never SIGPIPE. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcat.h"

#define IO_CHUNK   (64u << 10)   /* read size, and output buffered before a write */

int
io_open(struct cat *c, int read_stdin)
{
	int rc;

	if ((rc = ipc_open(&c->out, "fd:1", IPC_SEND | IPC_RAW, NULL)) < 0)
		return cat_fail("stdout (fd:1)", rc);
	c->ilimit = c->o->opt.max_msg ? c->o->opt.max_msg : 16u << 20;
	if (!read_stdin) {
		c->in_eof = 1;
		return 0;
	}
	/* A closed stdin is an empty one. */
	if (fcntl(0, F_GETFD) < 0) {
		c->in_eof = 1;
		return 0;
	}
	if ((rc = ipc_open(&c->in, "fd:0", IPC_RECV | IPC_RAW, NULL)) < 0)
		return cat_fail("stdin (fd:0)", rc);
	return 0;
}

void
io_close(struct cat *c)
{
	ipc_close(c->in);
	ipc_close(c->out);
	c->in = c->out = NULL;
	free(c->ibuf);
	free(c->obuf);
	free(c->rbuf);
	c->ibuf = c->obuf = c->rbuf = NULL;
}

static int
grow(char **buf, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : IO_CHUNK;
	char *b;

	while (n < need)
		n *= 2;
	if (n == *cap)
		return 0;
	if (!(b = realloc(*buf, n)))
		return -ENOMEM;
	*buf = b;
	*cap = n;
	return 0;
}

/* Read what stdin has now, without waiting.
 * @return 1 bytes were read, 0 nothing yet (-EAGAIN), IPC_EOF, or an error;
 *         -EMSGSIZE when one message would grow past the limit. */
int
io_fill(struct cat *c)
{
	ssize_t r;
	int rc;

	if (c->in_eof || !c->in)
		return IPC_EOF;
	if (c->o->split != SPLIT_RAW && c->ilen - c->ioff > c->ilimit)
		return -EMSGSIZE;       /* no separator within max_msg + 1 bytes */
	if (c->ioff) {              /* what was sent makes room, once per read */
		memmove(c->ibuf, c->ibuf + c->ioff, c->ilen - c->ioff);
		c->ilen -= c->ioff;
		c->ioff = 0;
	}
	if ((rc = grow(&c->ibuf, &c->icap, c->ilen + IO_CHUNK)) < 0)
		return rc;
	r = ipc_recv(c->in, c->ibuf + c->ilen, c->icap - c->ilen, 0);
	if (r == -EAGAIN)
		return 0;
	if (r == IPC_EOF) {
		c->in_eof = 1;
		return IPC_EOF;
	}
	if (r < 0)
		return (int)r;
	c->ilen += (size_t)r;
	return 1;
}

/* The next whole message in the stdin buffer, if there is one.
 * @return 1 and the message (valid until io_consume), or 0. */
int
io_next(struct cat *c, const char **msg, size_t *len)
{
	char sep = c->o->split == SPLIT_NUL ? '\0' : '\n';
	char *base = c->ibuf + c->ioff, *p;
	size_t avail = c->ilen - c->ioff;

	*msg = base;
	switch (c->o->split) {
	case SPLIT_RAW:
		if (!avail)
			return 0;
		*len = c->ipend = avail;
		return 1;
	case SPLIT_WHOLE:
		if (!c->in_eof || c->whole_done)
			return 0;
		*len = c->ipend = avail;
		c->whole_done = 1;
		return 1;
	case SPLIT_LINE:
	case SPLIT_NUL:
		break;
	}
	p = avail > c->iscan ? memchr(base + c->iscan, sep, avail - c->iscan) : NULL;
	if (p) {
		*len = (size_t)(p - base);
		c->ipend = *len + 1;
		return 1;
	}
	c->iscan = avail;
	if (c->in_eof && avail) {       /* a last line without its newline */
		*len = c->ipend = avail;
		return 1;
	}
	return 0;
}

/* Drop the message io_next() handed out; the bytes move only before the
 * next read, so a buffer of many lines costs one copy, not one per line. */
void
io_consume(struct cat *c)
{
	c->ioff += c->ipend;
	c->ipend = c->iscan = 0;
	if (c->ioff == c->ilen)
		c->ioff = c->ilen = 0;
}

static int
put(struct cat *c, const void *p, size_t n)
{
	int rc;

	if ((rc = grow(&c->obuf, &c->ocap, c->olen + n)) < 0)
		return rc;
	memcpy(c->obuf + c->olen, p, n);
	c->olen += n;
	return 0;
}

static int
putf(struct cat *c, const char *fmt, size_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), fmt, v);

	return put(c, tmp, (size_t)n);
}

/* hexdump -C: offset, 16 bytes in hex, the printable ones; then the length
 * on a line of its own, which also ends the message. */
static int
put_hex(struct cat *c, const unsigned char *m, size_t len)
{
	static const char hx[] = "0123456789abcdef";
	char line[80];
	size_t off, i;
	int rc;

	for (off = 0; off < len; off += 16) {
		char *q = line + snprintf(line, sizeof(line), "%08zx  ", off);

		for (i = 0; i < 16; i++) {
			if (off + i < len) {
				*q++ = hx[m[off + i] >> 4];
				*q++ = hx[m[off + i] & 15];
				*q++ = ' ';
			} else {
				memcpy(q, "   ", 3);
				q += 3;
			}
			if (i == 7)
				*q++ = ' ';
		}
		*q++ = ' ';
		*q++ = '|';
		for (i = 0; i < 16 && off + i < len; i++)
			*q++ = m[off + i] >= 0x20 && m[off + i] < 0x7f ? (char)m[off + i] : '.';
		*q++ = '|';
		*q++ = '\n';
		if ((rc = put(c, line, (size_t)(q - line))) < 0)
			return rc;
	}
	return putf(c, "%08zx\n", len);
}

/* One received message (or raw chunk) onto the output buffer. */
int
io_emit(struct cat *c, const void *msg, size_t len)
{
	const struct cat_opts *o = c->o;
	int rc;

	if (o->size && (rc = putf(c, o->hex ? "%zu\n" : "%zu ", len)) < 0)
		return rc;
	if (o->hex)
		rc = put_hex(c, msg, len);
	else if ((rc = put(c, msg, len)) == 0 && o->split != SPLIT_RAW)
		rc = put(c, o->split == SPLIT_NUL ? "" : "\n", 1);
	if (rc < 0)
		return rc;
	return c->olen >= IO_CHUNK ? io_flush(c) : 0;
}

/* Write the output buffer out, waiting for room without missing a signal.
 * @return 0 (also when a signal stopped us: c->stop), or a negative code. */
int
io_flush(struct cat *c)
{
	size_t off = 0;
	ssize_t r;
	int rc = 0;

	while (off < c->olen && !c->stop) {
		r = ipc_send(c->out, c->obuf + off, c->olen - off, 0);
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r != -EAGAIN) {
			rc = (int)r;
			break;
		}
		if ((rc = loop_wait_out(c, c->out, -1)) < 0)
			break;
	}
	c->olen = 0;
	return rc;
}
