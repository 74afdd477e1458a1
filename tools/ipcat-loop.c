/* ipcat: the event loop. One ipc_poll over the signal watcher, stdin, the
 * listener and every peer; no signal handler, so nothing races: a signal is
 * just one more readable item. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipcat.h"

#define MAX_PEERS  64      /* --all: peers served at once */
#define SLICE_MS   50      /* a send that must wait looks at signals this often */

enum { PEER_OPEN, PEER_ENDED, CAT_DONE };   /* what a drain found */

int64_t
cat_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
cat_fail(const char *what, int rc)
{
	fprintf(stderr, "ipcat: %s: %s\n", what, ipc_strerror(rc));
	return CAT_ERROR;
}

void
loop_stats(const struct cat *c)
{
	double s = (double)(cat_now_ns() - c->st.start_ns) / 1e9;

	if (s <= 0)
		s = 1e-9;
	fprintf(stderr, "ipcat: received %llu messages (%llu bytes), sent %llu messages "
	        "(%llu bytes) in %.3f s: %.0f msg/s %.2f MB/s in, %.0f msg/s %.2f MB/s out\n",
	        (unsigned long long)c->st.msgs_in, (unsigned long long)c->st.bytes_in,
	        (unsigned long long)c->st.msgs_out, (unsigned long long)c->st.bytes_out, s,
	        (double)c->st.msgs_in / s, (double)c->st.bytes_in / s / 1e6,
	        (double)c->st.msgs_out / s, (double)c->st.bytes_out / s / 1e6);
}

/* SIGUSR1 prints the counters; SIGCHLD only wakes us (--pipe reaps its
 * child at the end); everything else watched ends the program cleanly. */
int
loop_signal(struct cat *c, const struct ipc_siginfo *si)
{
	if (si->signo == SIGUSR1)
		loop_stats(c);
	else if (si->signo != SIGCHLD)
		c->stop = 1;
	return 0;
}

static void
take_signals(struct cat *c)
{
	struct ipc_siginfo si;

	while (ipc_sigwatch_read(c->w, &si, 0) == 0)
		loop_signal(c, &si);
}

/* Wait until @p ch can take more bytes or a signal comes.
 * @return 0 (look at c->stop), -ETIMEDOUT, or a negative code of ipc_poll. */
int
loop_wait_out(struct cat *c, ipc_channel *ch, int timeout_ms)
{
	struct ipc_pollitem it[2] = {
		{ .w = c->w, .events = IPC_POLLIN },
		{ .ch = ch, .events = IPC_POLLOUT },
	};
	int rc = ipc_poll(it, 2, timeout_ms);

	if (rc == 0)
		return -ETIMEDOUT;
	if (rc < 0)
		return rc;
	if (it[0].revents)
		take_signals(c);
	return 0;
}

static int drain(struct cat *c, struct cat_peer *p, const char *uri);

/* Wait up to a slice for room on @p p's send side, watching signals and
 * printing what @p p sends meanwhile (two peers that both send a lot would
 * otherwise wait on each other). @return 0, CAT_DONE (-n was reached by
 * what arrived), or an error. */
static int
wait_room(struct cat *c, struct cat_peer *p, const char *uri)
{
	int rc;

	if (p->rx && !c->o->echo) {
		struct ipc_pollitem it[3] = {
			{ .w = c->w, .events = IPC_POLLIN },
			{ .ch = p->tx, .events = IPC_POLLOUT },
			{ .ch = p->rx, .events = IPC_POLLIN },
		};

		if ((rc = ipc_poll(it, 3, SLICE_MS)) < 0)
			return rc;
		if (it[0].revents)
			take_signals(c);
		if (it[2].revents && (rc = drain(c, p, uri)) != PEER_OPEN)
			return rc == PEER_ENDED ? -EPIPE : rc;
		return 0;
	}
	rc = loop_wait_out(c, p->tx, SLICE_MS);
	return rc == -ETIMEDOUT ? 0 : rc;
}

/* One whole message out to @p p, or with @p msg NULL what is left of one
 * (ipc_flush: the committed tail of a send that ran out of time), bounded
 * by -t. Every call is a slice, so that no wait hides a signal.
 * @return 0, CAT_DONE, or an error. */
static int
send_msg(struct cat *c, struct cat_peer *p, const char *uri, const char *msg, size_t len)
{
	const struct cat_opts *o = c->o;
	int64_t deadline = o->timeout_ms >= 0 ? cat_now_ns() + (int64_t)o->timeout_ms * 1000000 : -1;
	int raw = o->split == SPLIT_RAW;
	size_t whole = len;

	for (;;) {
		int left = deadline < 0 ? -1 : (int)((deadline - cat_now_ns() + 999999) / 1000000);
		int slice = left < 0 || left > SLICE_MS ? SLICE_MS : left;
		ssize_t r;
		int rc;

		if (c->stop)
			return 0;
		if (deadline >= 0 && left <= 0)
			return -ETIMEDOUT;
		if (!msg) {
			if ((r = ipc_flush(p->tx, slice)) == 0)
				return 0;
		} else {
			r = ipc_send(p->tx, msg, len, slice);
			if (r >= 0 && raw && (size_t)r < len) {
				msg += r;       /* raw sends may be short */
				len -= (size_t)r;
				continue;
			}
			if (r >= 0) {
				c->st.msgs_out++;
				c->st.bytes_out += whole;
				return 0;
			}
		}
		if (r != -EAGAIN && r != -ETIMEDOUT)
			return (int)r;
		if ((rc = wait_room(c, p, uri)) != 0)
			return rc;
	}
}

/* A receive buffer for the next message, grown to its size. */
static ssize_t
recv_one(struct cat *c, ipc_channel *ch)
{
	ssize_t r, need;
	char *b;

	if (!c->rbuf) {
		c->rcap = 64u << 10;
		if (!(c->rbuf = malloc(c->rcap)))
			return -ENOMEM;
	}
	r = ipc_recv(ch, c->rbuf, c->rcap, 0);
	if (r != -EMSGSIZE || c->o->split == SPLIT_RAW)
		return r;
	if ((need = ipc_recv_size(ch, 0)) < 0)
		return need;
	if (!(b = realloc(c->rbuf, (size_t)need)))
		return -ENOMEM;
	c->rbuf = b;
	c->rcap = (size_t)need;
	return ipc_recv(ch, c->rbuf, c->rcap, 0);
}

/* Everything @p p has for us now (the descriptor is edge-style: read until
 * -EAGAIN). @return PEER_OPEN, PEER_ENDED, CAT_DONE (-n reached), or an error. */
static int
drain(struct cat *c, struct cat_peer *p, const char *uri)
{
	const struct cat_opts *o = c->o;
	int rc;

	while (!c->stop) {
		ssize_t r;

		if (!c->count_sent && o->count >= 0 && c->received >= o->count)
			return CAT_DONE;        /* not one message more than -n */
		r = recv_one(c, p->rx);

		if (r == -EAGAIN)
			return PEER_OPEN;
		if (r == IPC_EOF)
			return PEER_ENDED;
		if (r < 0)
			return (int)r;
		c->st.msgs_in++;
		c->st.bytes_in += (uint64_t)r;
		c->received++;
		if (o->echo) {
			if ((rc = send_msg(c, p, uri, c->rbuf, (size_t)r)) != 0)
				return rc;
		} else if ((rc = io_emit(c, c->rbuf, (size_t)r)) < 0) {
			cat_fail("stdout", rc);
			return -ECANCELED;      /* reported: the caller only stops */
		}
	}
	return PEER_OPEN;
}

static void
peer_close(struct cat_peer *p)
{
	if (p->tx && p->tx != p->rx)
		ipc_close(p->tx);
	ipc_close(p->rx);
	p->rx = p->tx = NULL;
}

/* A server (--keep, --all) outlives a peer that fails: say so, drop it. */
static int
server_mode(const struct cat *c)
{
	return c->o->keep || c->o->all;
}

static void
peer_drop(struct cat_peer *p, const char *uri, int rc)
{
	fprintf(stderr, "ipcat: %s: a peer: %s\n", uri, ipc_strerror(rc));
	peer_close(p);
}

/* The stdin messages buffered now, to every peer that sends.
 * @return 0, CAT_DONE (-n reached), or an error. */
static int
feed(struct cat *c, struct cat_peer *peers, size_t n, const char *uri)
{
	const char *msg;
	size_t len, i;
	int rc;

	while (!c->stop && io_next(c, &msg, &len)) {
		for (i = 0; i < n; i++) {
			if (!peers[i].tx)
				continue;
			rc = send_msg(c, &peers[i], uri, msg, len);
			if (rc < 0 && rc != -ECANCELED && server_mode(c))
				peer_drop(&peers[i], uri, rc);
			else if (rc != 0)
				return rc;
		}
		io_consume(c);
		c->sent++;
		if (c->count_sent && c->o->count >= 0 && c->sent >= c->o->count)
			return CAT_DONE;
	}
	return 0;
}

/* --print-addr on tls+tcp://: who the verified peer is, on stderr, as
 *   ipcat: peer: CN=client,O=libipc test sha256:AB:CD:...
 * (or "no certificate" for a client the listener did not ask for one). */
void
loop_peer_cert(const struct cat *c, const ipc_channel *ch)
{
	unsigned char sha[32];
	char *subject = NULL, hex[sizeof(sha) * 3];
	size_t i;
	int rc;

	if (!c->o->print_addr || !c->o->is_tls || !ch)
		return;
	/* The length first: a subject has no fixed bound. */
	rc = ipc_peer_cert(ch, NULL, 0, NULL);
	if (rc >= 0 && !(subject = malloc((size_t)rc + 1)))
		rc = -ENOMEM;
	if (rc >= 0)
		rc = ipc_peer_cert(ch, subject, (size_t)rc + 1, sha);
	if (rc == -ENOTCONN) {
		fprintf(stderr, "ipcat: peer: no certificate\n");
	} else if (rc < 0) {
		fprintf(stderr, "ipcat: peer: %s\n", ipc_strerror(rc));
	} else {
		for (i = 0; i < sizeof(sha); i++)
			snprintf(hex + 3 * i, 4, "%02X%s", sha[i], i + 1 < sizeof(sha) ? ":" : "");
		fprintf(stderr, "ipcat: peer: %s sha256:%s\n", subject, hex);
	}
	fflush(stderr);
	free(subject);
}

static int
accept_one(struct cat *c, ipc_listener *l, struct cat_peer *p)
{
	ipc_channel *ch;
	int rc = ipc_accept(l, &ch, 0);

	if (rc < 0)
		return rc;
	loop_peer_cert(c, ch);
	p->rx = (c->o->dir & DIR_RECV) ? ch : NULL;
	p->tx = (c->o->dir & DIR_SEND) ? ch : NULL;
	if (!p->rx && !p->tx)
		ipc_close(ch);
	return 1;
}

/* A bad peer (it hung up during its hello, spoke something else) must not
 * end a server: these are not worth stopping for. */
static int
accept_soft(int rc)
{
	return rc == -EAGAIN || rc == -ETIMEDOUT || rc == -ECONNABORTED ||
	       rc == -EPROTO || rc == -ECONNRESET || rc == IPC_EOF;
}

int
loop_serve(struct cat *c, ipc_listener *l, struct cat_peer *first, const char *uri)
{
	const struct cat_opts *o = c->o;
	struct ipc_pollitem items[3 + MAX_PEERS];
	struct cat_peer peers[MAX_PEERS];
	size_t n = 0, i, k, maxp = o->all ? MAX_PEERS : 1;
	int accepting = l != NULL, rc = 0, status = CAT_OK, stdin_done = 0;
	int items_stdin, items_l, items_peer0;

	if (first)
		peers[n++] = *first;
	while (!c->stop) {
		int has_tx = 0;

		for (i = 0; i < n; i++)
			has_tx |= peers[i].tx != NULL;
		/* stdin first: whatever it has buffered goes out. */
		if (has_tx && (rc = feed(c, peers, n, uri)) != 0)
			break;
		for (i = n; i-- > 0;)
			if (!peers[i].rx && !peers[i].tx)
				peers[i] = peers[--n];     /* dropped by feed() */
		if (c->reads_stdin && c->in_eof && c->ilen == c->ioff && !stdin_done && !o->listen) {
			/* The input is over (and sent). A child of --pipe gets its
			 * end of file; a send-only channel has no more to do;
			 * otherwise we wait only for the replies -n asked for. */
			stdin_done = 1;
			if (n && peers[0].rx && peers[0].tx && peers[0].tx != peers[0].rx) {
				if ((rc = send_msg(c, &peers[0], uri, NULL, 0)) != 0)
					break;
				ipc_close(peers[0].tx);
				peers[0].tx = NULL;
			} else if (!n || !peers[0].rx || o->count < 0) {
				break;
			}
		}
		if ((rc = io_flush(c)) < 0) {
			status = cat_fail("stdout", rc);
			rc = 0;
			break;
		}
		if (c->stop)
			break;

		k = 0;
		items[k++] = (struct ipc_pollitem){ .w = c->w, .events = IPC_POLLIN };
		items_stdin = items_l = -1;
		if (c->in && !c->in_eof && has_tx) {
			items_stdin = (int)k;
			items[k++] = (struct ipc_pollitem){ .ch = c->in, .events = IPC_POLLIN };
		}
		if (accepting && n < maxp) {
			items_l = (int)k;
			items[k++] = (struct ipc_pollitem){ .l = l, .events = IPC_POLLIN };
		}
		items_peer0 = (int)k;
		for (i = 0; i < n; i++) {
			/* A peer we only send to is watched for its end. */
			items[k++] = (struct ipc_pollitem){
				.ch = peers[i].rx ? peers[i].rx : peers[i].tx,
				.events = peers[i].rx ? IPC_POLLIN : 0 };
		}
		if ((rc = ipc_poll(items, k, o->timeout_ms)) == 0) {
			rc = -ETIMEDOUT;
			break;
		}
		if (rc < 0)
			break;
		rc = 0;
		if (items[0].revents)
			take_signals(c);
		if (items_stdin >= 0 && items[items_stdin].revents) {
			rc = io_fill(c);
			if (rc < 0 && rc != IPC_EOF) {
				status = cat_fail("stdin", rc);
				rc = 0;
				break;
			}
			rc = 0;
		}
		if (items_l >= 0 && items[items_l].revents) {
			rc = accept_one(c, l, &peers[n]);
			if (rc == 1 && (peers[n].rx || peers[n].tx)) {
				n++;
				if (!o->keep && !o->all) {
					/* One peer: later ones are refused, not left hanging. */
					ipc_listener_close(l);
					l = NULL;
					accepting = 0;
				}
			} else if (rc < 0 && !accept_soft(rc)) {
				break;
			}
			rc = 0;
		}
		/* Peers, last to first so that removing one keeps the others' places. */
		for (i = n; i-- > 0;) {
			int r, idx = items_peer0 + (int)i;

			if (idx >= (int)k || !items[idx].revents)
				continue;
			if (peers[i].rx) {
				r = drain(c, &peers[i], uri);
			} else {
				/* Only sending: HUP/ERR is the reader leaving. */
				r = (items[idx].revents & (IPC_POLLHUP | IPC_POLLERR)) ? -EPIPE : PEER_OPEN;
			}
			if (r == PEER_OPEN)
				continue;
			if (r < 0 && r != -ECANCELED && server_mode(c)) {
				peer_drop(&peers[i], uri, r);
				peers[i] = peers[--n];
				continue;
			}
			if (r == CAT_DONE || r < 0) {
				rc = r;
				break;
			}
			peer_close(&peers[i]);
			peers[i] = peers[--n];
			if (!o->keep && !o->all) {
				rc = CAT_DONE;      /* the one peer is done */
				break;
			}
		}
		if (rc || status != CAT_OK)
			break;
	}
	if (rc == CAT_DONE)
		rc = 0;
	if (rc == -ECANCELED) {         /* already reported */
		status = CAT_ERROR;
		rc = 0;
	}
	/* An orderly end: what is left of a last message goes out first (the
	 * peer may still answer meanwhile, and that is printed). */
	for (i = 0; i < n && rc == 0 && status == CAT_OK; i++)
		if (peers[i].tx && (rc = send_msg(c, &peers[i], uri, NULL, 0)) > 0)
			rc = 0;
	if (rc == 0 && status == CAT_OK && (rc = io_flush(c)) < 0) {
		status = cat_fail("stdout", rc);
		rc = 0;
	}
	if (rc < 0)
		status = cat_fail(uri, rc);
	for (i = 0; i < n; i++) {
		/* A committed message that could not be finished is an error too. */
		int crc = 0;

		if (peers[i].tx && peers[i].tx != peers[i].rx)
			crc = ipc_close(peers[i].tx);
		if (peers[i].rx) {
			int r2 = ipc_close(peers[i].rx);

			crc = crc ? crc : r2;
		}
		if (crc < 0 && status == CAT_OK && !c->stop)
			status = cat_fail(uri, crc);
	}
	if (l)
		ipc_listener_close(l);
	return status;
}
