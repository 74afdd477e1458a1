/* The socket layer shared by tcp and unix: connect with a deadline, the hello
 * exchange, and a listener whose ipc_accept never waits on one slow peer.
 *
 * Accepted sockets whose hello has not arrived sit in a bounded set (up to
 * IPC__SOCK_PENDING_MAX), each with a short deadline. An epoll descriptor
 * watches the listening socket and every pending one, so ipc_listener_fd()
 * turns readable whenever ipc_accept() may make progress. When the set is
 * full and another peer knocks, the oldest pending handshake is dropped:
 * a libipc peer sends its hello at once, so silent peers are the ones to go. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "sockets.h"

struct ipc__sock_listener *
ipc__sock_listener_get(const ipc_listener *l)
{
	struct ipc__sock_listener *sl = l->priv;

	return sl && sl->live ? sl : NULL;
}

/* A fresh epoll set over the listening socket and a fresh wake-up eventfd,
 * both this process's own. */
static int
sock_events_new(struct ipc__sock_listener *sl)
{
	struct epoll_event ev = { .events = EPOLLIN };

	sl->epfd = epoll_create1(EPOLL_CLOEXEC);
	sl->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sl->epfd < 0 || sl->wakefd < 0)
		return -errno;
	ev.data.fd = sl->fd;
	if (epoll_ctl(sl->epfd, EPOLL_CTL_ADD, sl->fd, &ev) < 0)
		return -errno;
	ev.data.fd = sl->wakefd;
	if (epoll_ctl(sl->epfd, EPOLL_CTL_ADD, sl->wakefd, &ev) < 0)
		return -errno;
	return 0;
}

/* Close a pending connection: its layer (which owns the socket), or the
 * socket. A forked child's copy says nothing on the wire. */
static void
pend_close(struct ipc__sock_pending *p)
{
	if (p->io)
		p->io->ops->close(p->io);
	else
		close(p->fd);
}

int
ipc__sock_listener_new(ipc_listener *l, int fd, int flags,
                       int (*admit)(const struct ipc__sock_listener *, int))
{
	struct ipc__sock_listener *sl = l->priv;

	sl->live = 1;
	sl->fd = fd;
	sl->epfd = sl->wakefd = -1;
	sl->pid = getpid();
	sl->flags = flags;
	sl->max_msg = (uint32_t)ipc__max_msg(&l->opt);
	sl->admit = admit;
	return sock_events_new(sl);
}

void
ipc__sock_listener_free(ipc_listener *l)
{
	struct ipc__sock_listener *sl = ipc__sock_listener_get(l);
	size_t i;

	if (!sl)
		return;
	for (i = 0; i < sl->npend; i++)
		pend_close(&sl->pend[i]);
	if (sl->epfd >= 0)
		close(sl->epfd);
	if (sl->wakefd >= 0)
		close(sl->wakefd);
	if (sl->fd >= 0)
		close(sl->fd);
	free(sl->path);
	sl->live = 0;
}

void
ipc__sock_listener_shutdown(ipc_listener *l)
{
	struct ipc__sock_listener *sl = ipc__sock_listener_get(l);
	uint64_t one = 1;
	ssize_t unused;

	/* A copy inherited from the parent (not yet adopted) shares the
	 * parent's eventfd: the flag alone stops this process's accept. */
	if (sl && sl->wakefd >= 0 && sl->pid == getpid()) {
		unused = write(sl->wakefd, &one, sizeof(one));
		(void)unused;
	}
}

int
ipc__sock_listener_addr(const ipc_listener *l, char *buf, size_t cap)
{
	const struct ipc__sock_listener *sl = ipc__sock_listener_get(l);
	size_t n = strlen(sl->addr);

	if (n >= cap)
		return -ENOSPC;
	memcpy(buf, sl->addr, n + 1);
	return (int)n;
}

/* A listener used in a forked child (a pre-forked server: every worker
 * accepts on the same socket) gets its own epoll set and handshake set, so
 * the processes never see or steal each other's half-open peers. The
 * parent's handshakes stay the parent's: the child only drops its copies. */
static int
sock_adopt(struct ipc__sock_listener *sl)
{
	size_t i;
	int epfd = sl->epfd, wakefd = sl->wakefd, rc;

	if (sl->pid == getpid())
		return 0;
	if ((rc = sock_events_new(sl)) < 0) {
		if (sl->epfd >= 0)
			close(sl->epfd);
		if (sl->wakefd >= 0)
			close(sl->wakefd);
		sl->epfd = epfd;
		sl->wakefd = wakefd;
		return rc;
	}
	for (i = 0; i < sl->npend; i++)
		pend_close(&sl->pend[i]);
	sl->npend = 0;
	close(epfd);
	close(wakefd);
	sl->pid = getpid();
	return 0;
}

int
ipc__sock_listener_fd(ipc_listener *l)
{
	struct ipc__sock_listener *sl = ipc__sock_listener_get(l);
	int rc = sock_adopt(sl);

	return rc < 0 ? rc : sl->epfd;
}

/* ------------------------------------------------------------ handshake */

static int
attach(ipc_channel *ch, int fd, uint32_t peer_max)
{
	struct ipc__bytes *io;
	int rc = ipc__fd_bytes_new(&io, ch, fd, IPC__FD_SOCKET, fd, IPC__FD_SOCKET);

	if (rc == 0) {
		ipc__fd_bytes_own_socket(io);
		if ((rc = ipc__stream_init(ch, io)) < 0)
			ipc__fd_bytes_forget(io);
	}
	if (rc < 0) {
		close(fd);      /* on failure the stream layer did not take it */
		return rc;
	}
	/* The hellos are exchanged: the framing must not repeat them, and a
	 * message the peer would refuse is not sent. */
	if (!(ch->flags & IPC_RAW))
		ipc__stream_set_peer(ch, peer_max);
	return 0;
}

static int
send_hello(ipc_channel *ch, int fd, long long deadline)
{
	unsigned char h[IPC__HELLO_SIZE];
	size_t off = 0;
	ssize_t r;
	int rc;

	ipc__hello_fill(h, (uint32_t)ipc__max_msg(&ch->opt));
	while (off < sizeof(h)) {
		r = send(fd, h + off, sizeof(h) - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return errno == EPIPE || errno == ECONNRESET ? -ECONNREFUSED : -errno;
		if ((rc = ipc_wait_fd(ch, fd, POLLOUT, deadline)) < 0)
			return rc;
	}
	return 0;
}

static int
recv_hello(ipc_channel *ch, int fd, long long deadline, uint32_t *peer_max)
{
	unsigned char h[IPC__HELLO_SIZE];
	size_t got = 0;
	ssize_t r;
	int rc;

	while (got < sizeof(h)) {
		/* Exactly what is missing: frames behind the hello stay queued. */
		r = recv(fd, h + got, sizeof(h) - got, MSG_DONTWAIT);
		if (r > 0) {
			got += (size_t)r;
			if (!ipc__hello_prefix_ok(h, got))
				return -EPROTO;
			continue;
		}
		if (r == 0)
			return got ? -EPROTO : -ECONNREFUSED;
		if (errno == EINTR)
			continue;
		if (errno == ECONNRESET)
			return got ? -EPROTO : -ECONNREFUSED;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if ((rc = ipc_wait_fd(ch, fd, POLLIN, deadline)) < 0)
			return rc;
	}
	return ipc__hello_check(h, peer_max);
}

int
ipc__sock_start(ipc_channel *ch, int fd, long long deadline)
{
	uint32_t peer_max = 0;
	int rc;

	if (!(ch->flags & IPC_RAW)) {
		if ((rc = send_hello(ch, fd, deadline)) < 0 ||
		    (rc = recv_hello(ch, fd, deadline, &peer_max)) < 0) {
			close(fd);
			return rc;
		}
	}
	return attach(ch, fd, peer_max);
}

/* -------------------------------------------------------------- connect */

int
ipc__sock_connect(ipc_channel *ch, const struct sockaddr *sa, socklen_t len,
                  long long deadline)
{
	struct timespec nap = { 0, 500000 };   /* unix backlog full: back off */
	socklen_t elen;
	int fd, rc, err;

	for (;;) {
		fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, sa, len) == 0)
			return fd;
		err = errno;
		if (err == EINPROGRESS || err == EINTR)
			break;
		close(fd);
		/* A unix listener's backlog is full: the kernel says EAGAIN
		 * instead of waiting. Retry until the deadline. */
		if (err != EAGAIN)
			return -err;
		if ((rc = ipc__expired(deadline)) != 0)
			return rc;
		if (atomic_load(&ch->shut))
			return IPC_EOF;
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 8000000)
			nap.tv_nsec *= 2;
	}
	if ((rc = ipc_wait_fd(ch, fd, POLLOUT, deadline)) < 0) {
		close(fd);
		return rc;
	}
	elen = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	if (err) {
		close(fd);
		return -err;
	}
	return fd;
}

/* --------------------------------------------------------------- accept */

static void
pend_drop(struct ipc__sock_listener *sl, size_t i, int why)
{
	sl->dropped[why]++;
	epoll_ctl(sl->epfd, EPOLL_CTL_DEL, sl->pend[i].fd, NULL);
	pend_close(&sl->pend[i]);
	sl->pend[i] = sl->pend[--sl->npend];
}

/* Hand pending slot @p i over to @p ch, sending our hello only now (through
 * the layer for a wrapped peer): a connector's ipc_open() returns when a
 * worker's ipc_accept() has taken it, never while it waits in some busy
 * worker's set.
 * @return 0; 1 the peer is gone (slot dropped); a negative errno. */
static int
pend_take(struct ipc__sock_listener *sl, size_t i, ipc_channel *ch)
{
	unsigned char h[IPC__HELLO_SIZE];
	int fd = sl->pend[i].fd, rc;
	struct ipc__bytes *io = sl->pend[i].io;
	uint32_t peer_max = 0;

	if (io && (sl->flags & IPC_RAW)) {
		epoll_ctl(sl->epfd, EPOLL_CTL_DEL, fd, NULL);
		sl->pend[i] = sl->pend[--sl->npend];
		return sl->wrap->attach(ch, io);
	}
	ipc__hello_check(sl->pend[i].hello, &peer_max);
	ipc__hello_fill(h, sl->max_msg);
	if (io) {
		/* Through the layer: a fresh session takes 12 bytes whole. */
		struct iovec iov = { h, sizeof(h) };

		if (io->ops->writev(io, &iov, 1) != (ssize_t)sizeof(h)) {
			pend_drop(sl, i, IPC__SOCK_DROP_GONE);
			return 1;
		}
	} else if (send(fd, h, sizeof(h), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(h)) {
		pend_drop(sl, i, IPC__SOCK_DROP_GONE);   /* a fresh socket always has room */
		return 1;
	}
	epoll_ctl(sl->epfd, EPOLL_CTL_DEL, fd, NULL);
	sl->pend[i] = sl->pend[--sl->npend];
	if (!io)
		return attach(ch, fd, peer_max);
	if ((rc = sl->wrap->attach(ch, io)) < 0)
		return rc;
	ipc__stream_set_peer(ch, peer_max);
	return 0;
}

/* The wrapped peer's handshake, then its hello through the layer (ours
 * goes out in pend_take). @return 1 complete, 0 waiting, or -1 - the drop
 * reason. */
static int
pend_step_io(struct ipc__sock_listener *sl, struct ipc__sock_pending *p)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = p->fd };
	struct ipc__bytes *io = p->io;
	short want = POLLIN;
	ssize_t r;
	int rc;

	if (!p->shook) {
		rc = sl->wrap->step(io, &want);
		if (rc == -EAGAIN)
			goto wait;
		if (rc < 0)
			return -1 - (rc == -EKEYREJECTED || rc == -EKEYEXPIRED ?
			             IPC__SOCK_DROP_REFUSED :
			             rc == -EPROTO ? IPC__SOCK_DROP_PROTO : IPC__SOCK_DROP_GONE);
		p->shook = 1;
		if (sl->flags & IPC_RAW)
			return 1;
	}
	while (p->got < IPC__HELLO_SIZE) {
		r = io->ops->read(io, p->hello + p->got, IPC__HELLO_SIZE - p->got);
		if (r > 0) {
			p->got += (uint8_t)r;
			if (!ipc__hello_prefix_ok(p->hello, p->got))
				return -1 - IPC__SOCK_DROP_PROTO;
			continue;
		}
		if (r == -EAGAIN)
			goto wait;
		return -1 - (r == -EPROTO ? IPC__SOCK_DROP_PROTO : IPC__SOCK_DROP_GONE);
	}
	return ipc__hello_check(p->hello, &(uint32_t){ 0 }) == 0 ? 1 :
	       -1 - IPC__SOCK_DROP_PROTO;
wait:
	/* The layer may need to write first (a full socket, rarely). */
	if (want & POLLOUT)
		ev.events |= EPOLLOUT;
	epoll_ctl(sl->epfd, EPOLL_CTL_MOD, p->fd, &ev);
	return 0;
}

/* Read what the peer has sent of its hello.
 * @return 1 complete, 0 still waiting, -1 dropped (slot @p i is refilled). */
static int
pend_step(struct ipc__sock_listener *sl, size_t i, int64_t now)
{
	struct ipc__sock_pending *p = &sl->pend[i];
	uint32_t peer_max;
	ssize_t r;
	int rc;

	if (p->io) {
		if ((rc = pend_step_io(sl, p)) == 1)
			return 1;
		if (rc == 0 && now < p->deadline)
			return 0;
		pend_drop(sl, i, rc < 0 ? -1 - rc : IPC__SOCK_DROP_TIMEOUT);
		return -1;
	}
	while (p->got < IPC__HELLO_SIZE) {
		r = recv(p->fd, p->hello + p->got, IPC__HELLO_SIZE - p->got, MSG_DONTWAIT);
		if (r > 0) {
			p->got += (uint8_t)r;
			if (!ipc__hello_prefix_ok(p->hello, p->got))
				break;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (now < p->deadline)
				return 0;
		}
		break;          /* end of file, error, or too slow */
	}
	if (p->got == IPC__HELLO_SIZE && ipc__hello_check(p->hello, &peer_max) == 0)
		return 1;
	if (p->got && (!ipc__hello_prefix_ok(p->hello, p->got) || p->got == IPC__HELLO_SIZE)) {
		/* Not libipc (a TLS client, an HTTP request): our hello, sent
		 * only now, tells it whom it reached (-EPROTO there). */
		unsigned char h[IPC__HELLO_SIZE];

		ipc__hello_fill(h, sl->max_msg);
		(void)!send(p->fd, h, sizeof(h), MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	pend_drop(sl, i, p->got ? IPC__SOCK_DROP_PROTO :
	          now >= p->deadline ? IPC__SOCK_DROP_TIMEOUT : IPC__SOCK_DROP_GONE);
	return -1;
}

/* Take one new connection off the kernel's queue.
 * @return 3 added to the set (at sl->pend[sl->npend - 1]), 1 refused,
 *         2 ready at once (raw: in *ready), 0 none left, or a negative
 *         errno worth reporting (descriptor limits). */
static int
take_new(struct ipc__sock_listener *sl, int64_t now, int *ready)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	struct ipc__bytes *io = NULL;
	size_t i, oldest;
	int fd;

	for (;;) {
		fd = accept4(sl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		switch (errno) {
		case EAGAIN:
#if EWOULDBLOCK != EAGAIN
		case EWOULDBLOCK:
#endif
			return 0;
		case EINTR: case ECONNABORTED: case EPROTO: case EPERM:
			continue;   /* that peer gave up, or a firewall said no */
		default:
			return -errno;
		}
	}
	if (sl->admit && sl->admit(sl, fd) < 0) {
		close(fd);
		return 1;
	}
	if (sl->wrap) {
		/* The layer's handshake first; our hello goes through it. */
		int rc = sl->wrap->start(sl->wrap_arg, fd, sl->flags, &io);

		if (rc < 0) {
			close(fd);
			return rc == -ENOMEM ? rc : 1;
		}
	} else if (sl->flags & IPC_RAW) {
		*ready = fd;
		return 2;
	}       /* a plain peer's hello from us waits for pend_take() */
	if (sl->npend == IPC__SOCK_PENDING_MAX) {
		for (oldest = 0, i = 1; i < sl->npend; i++)
			if (sl->pend[i].deadline < sl->pend[oldest].deadline)
				oldest = i;
		pend_drop(sl, oldest, IPC__SOCK_DROP_GONE);
	}
	ev.data.fd = fd;
	if (epoll_ctl(sl->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int rc = -errno;

		if (io)
			io->ops->close(io);
		else
			close(fd);
		return rc;
	}
	sl->pend[sl->npend++] = (struct ipc__sock_pending){
		.fd = fd,
		.deadline = now + (int64_t)IPC__SOCK_HELLO_MS * 1000000,
		.io = io,
	};
	return 3;
}

int
ipc__sock_accept(ipc_listener *l, ipc_channel *ch, int timeout_ms)
{
	struct ipc__sock_listener *sl = ipc__sock_listener_get(l);
	long long deadline = ipc_deadline(timeout_ms);
	struct epoll_event evs[8];
	int64_t now, soonest;
	size_t i, n;
	int rc, err, fd = -1, wait_ms;

	if ((rc = sock_adopt(sl)) < 0)
		return rc;
	for (;;) {
		if (atomic_load_explicit(&l->shut, memory_order_acquire))
			return IPC_EOF;
		now = ipc__now_ns();
		/* Handshakes in flight first; the first complete one wins. */
		soonest = INT64_MAX;
		for (i = sl->npend; i-- > 0;) {
			rc = pend_step(sl, i, now);
			if (rc == 1 && (rc = pend_take(sl, i, ch)) <= 0)
				return rc;
			if (rc == 0 && sl->pend[i].deadline < soonest)
				soonest = sl->pend[i].deadline;
		}
		/* Then new peers, one at a time, each looked at at once: another
		 * is taken only while none is complete, so a worker never keeps
		 * finished handshakes in its set while it serves (pre-forked
		 * workers share the kernel's queue fairly). Bounded, so a flood
		 * of silent peers cannot starve us. */
		for (err = 0, n = 0; n < IPC__SOCK_PENDING_MAX; n++) {
			rc = take_new(sl, now, &fd);
			if (rc == 2)
				return attach(ch, fd, 0);
			if (rc <= 0) {
				err = rc;   /* out of descriptors: reported below */
				break;
			}
			if (rc == 3 && pend_step(sl, sl->npend - 1, now) == 1 &&
			    (rc = pend_take(sl, sl->npend - 1, ch)) <= 0)
				return rc;
			if (sl->npend && sl->pend[sl->npend - 1].deadline < soonest)
				soonest = sl->pend[sl->npend - 1].deadline;
		}
		/* The listening socket stays readable: waiting would spin. */
		if (err < 0)
			return err;
		if ((rc = ipc__expired(deadline)) != 0)
			return rc;
		wait_ms = ipc__deadline_ms(deadline);
		if (soonest != INT64_MAX) {
			int64_t left = (soonest - now + 999999) / 1000000;

			if (wait_ms < 0 || left < wait_ms)
				wait_ms = (int)left;
		}
		if (epoll_wait(sl->epfd, evs, 8, wait_ms) < 0 && errno != EINTR)
			return -errno;
	}
}
