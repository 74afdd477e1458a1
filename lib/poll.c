/* ipc_poll: one wait over channels, listeners and signal watchers, built only
 * on the driver ops (poll, or fd and pending) so every transport takes part
 * alike: the driver says what to wait on and what it knows already. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "ipc-private.h"

#define POLL_STACK_ITEMS 16

/* Where each item's descriptors sit in the pollfd array (-1: not polled). */
struct poll_slot {
	int   rd, wr, wake;
	int   ended;      /* the channel is shut down or its driver reported its end */
	int   failed;     /* no descriptor: the channel is broken (reported at once) */
	int   recheck;    /* its descriptors only say "ask the driver again" */
	int   fd;         /* ipc_fd() of the channel */
	short want;       /* the item's events, less directions the channel lacks */
	short known;      /* what the driver knows without the kernel */
};

static short
poll_map(short re)
{
	short ev = 0;

	if (re & POLLIN)
		ev |= IPC_POLLIN;
	if (re & POLLOUT)
		ev |= IPC_POLLOUT;
	if (re & POLLHUP)
		ev |= IPC_POLLHUP;
	if (re & (POLLERR | POLLNVAL))
		ev |= IPC_POLLERR;
	return ev;
}

/* A driver without a poll op: its fd() stands for both directions (as a
 * socket's does), and pending() for its read-ahead. No guessing from the
 * descriptor's file type: a driver whose descriptor cannot tell (an epoll
 * set, an eventfd) says so with a poll op, as shm does. */
static short
poll_default(ipc_channel *ch, short want, int fd, struct ipc_poll_wait *w)
{
	w->fd[0] = fd;
	w->events[0] = (short)(((want & IPC_POLLIN) ? POLLIN : 0) |
	                       ((want & IPC_POLLOUT) ? POLLOUT : 0));
	w->fd[1] = -1;
	w->events[1] = 0;
	w->recheck = 0;
	if ((want & IPC_POLLIN) && ch->drv->pending && ch->drv->pending(ch))
		return IPC_POLLIN;
	return 0;
}

static short
poll_ask(ipc_channel *ch, short want, int fd, struct ipc_poll_wait *w)
{
	if (ch->drv->poll) {
		w->fd[0] = w->fd[1] = -1;
		w->events[0] = w->events[1] = 0;
		w->recheck = 0;
		return ch->drv->poll(ch, want, w) & (want | IPC_POLLERR);
	}
	return poll_default(ch, want, fd, w);
}

/* Check one item and lay out its descriptors. Returns the number of pollfds
 * used, or a negative errno. */
static int
poll_prepare(struct ipc_pollitem *it, struct pollfd *p, struct poll_slot *sl)
{
	short want = it->events;
	struct ipc_poll_wait w;
	int fd, used = 0;

	sl->rd = sl->wr = sl->wake = -1;
	sl->ended = sl->recheck = sl->failed = 0;
	sl->known = 0;
	if (!!it->ch + !!it->l + !!it->w != 1 ||
	    (want & ~(IPC_POLLIN | IPC_POLLOUT | IPC_POLLHUP | IPC_POLLERR)))
		return -EINVAL;
	if (it->w) {
		p[0] = (struct pollfd){ .fd = ipc_sigwatch_fd(it->w),
		                        .events = (want & IPC_POLLIN) ? POLLIN : 0 };
		sl->rd = 0;
		return 1;
	}
	if (it->l) {
		if ((fd = ipc_listener_fd(it->l)) < 0)
			return fd;
		p[0] = (struct pollfd){ .fd = fd, .events = (want & IPC_POLLIN) ? POLLIN : 0 };
		sl->rd = 0;
		return 1;
	}
	/* A channel that has ended needs no descriptor: it is reported at once. */
	if (atomic_load_explicit(&it->ch->shut, memory_order_acquire)) {
		sl->ended = 1;
		return 0;
	}
	if (!(it->ch->flags & IPC_RECV))
		want &= ~IPC_POLLIN;
	if (!(it->ch->flags & IPC_SEND))
		want &= ~IPC_POLLOUT;
	sl->want = want & (IPC_POLLIN | IPC_POLLOUT);
	if ((fd = ipc_fd(it->ch)) == IPC_EOF) {
		sl->ended = 1;
		return 0;
	}
	if (fd == -EOPNOTSUPP)
		return fd;      /* the caller's mistake: this item can never be polled */
	if (fd < 0) {
		/* This channel's own failure (a corrupt segment, no attacher
		 * slot, no descriptor to be had): the other items are polled
		 * as usual, and this one is ready at once, so that the call in
		 * the direction asked answers the error. */
		sl->failed = 1;
		sl->known = IPC_POLLERR | sl->want;
		return 0;
	}
	sl->fd = fd;
	sl->known = poll_ask(it->ch, sl->want, fd, &w);
	sl->recheck = w.recheck;
	if (w.fd[0] >= 0) {
		p[used] = (struct pollfd){ .fd = w.fd[0], .events = w.events[0] };
		sl->rd = used++;
	}
	if (w.fd[1] >= 0) {
		p[used] = (struct pollfd){ .fd = w.fd[1], .events = w.events[1] };
		sl->wr = used++;
	}
	if (it->ch->wakefd >= 0) {   /* ipc_shutdown() from another thread wakes us */
		p[used] = (struct pollfd){ .fd = it->ch->wakefd, .events = POLLIN };
		sl->wake = used++;
	}
	return used;
}

/* What the library knows without asking the kernel: a shut-down channel, a
 * message already sitting in the read-ahead buffer, room in a ring. */
static short
poll_known(const struct ipc_pollitem *it, const struct poll_slot *sl)
{
	if (!it->ch)
		return 0;
	if (sl->ended || atomic_load_explicit(&it->ch->shut, memory_order_acquire))
		return IPC_POLLHUP;
	return sl->known;
}

/* Ask the driver again before a wait (and after one, for a driver whose
 * descriptors only say that something changed). */
static void
poll_refresh(const struct ipc_pollitem *it, struct poll_slot *sl)
{
	struct ipc_poll_wait w;

	if (it->ch && !sl->ended && !sl->failed)
		sl->known = poll_ask(it->ch, sl->want, sl->fd, &w);
}

static short
poll_collect(const struct ipc_pollitem *it, const struct pollfd *p,
             struct poll_slot *sl)
{
	short ev, re = 0;

	if (sl->rd >= 0)
		re = p[sl->rd].revents;
	if (sl->wr >= 0)
		re |= p[sl->wr].revents;
	if (it->ch && sl->recheck && re)
		poll_refresh(it, sl);
	ev = poll_known(it, sl);
	if (ev & IPC_POLLHUP)
		return ev;
	if (sl->wake >= 0 && p[sl->wake].revents) {
		if (atomic_load_explicit(&it->ch->shut, memory_order_acquire))
			return IPC_POLLHUP;
	}
	ev |= sl->recheck ? poll_map(re) & (IPC_POLLHUP | IPC_POLLERR) : poll_map(re);
	/* Report only what was asked for, plus HUP and ERR, which always are. */
	return ev & (it->events | IPC_POLLHUP | IPC_POLLERR);
}

IPC_EXPORT int
ipc_poll(struct ipc_pollitem *items, size_t n, int timeout_ms)
{
	struct pollfd pstack[POLL_STACK_ITEMS * 3], *p = pstack;
	struct poll_slot sstack[POLL_STACK_ITEMS], *sl = sstack;
	long long deadline;
	size_t i, m = 0;
	int rc, ready, wait_ms;

	if ((!items && n) || timeout_ms < -1 || n > (size_t)(INT32_MAX / 3))
		return -EINVAL;
	if (n > POLL_STACK_ITEMS) {
		p = malloc(n * 3 * sizeof(*p));
		sl = malloc(n * sizeof(*sl));
		if (!p || !sl) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		items[i].revents = 0;
		if ((rc = poll_prepare(&items[i], p + m, &sl[i])) < 0)
			goto out;
		if (sl[i].rd >= 0)
			sl[i].rd += (int)m;
		if (sl[i].wr >= 0)
			sl[i].wr += (int)m;
		if (sl[i].wake >= 0)
			sl[i].wake += (int)m;
		m += (size_t)rc;
	}

	deadline = ipc_deadline(timeout_ms);
	for (;;) {
		/* Something already known ready: look at the kernel's side without
		 * waiting, so the answer is complete. */
		wait_ms = ipc__deadline_ms(deadline);
		for (i = 0; i < n; i++) {
			poll_refresh(&items[i], &sl[i]);
			if (poll_known(&items[i], &sl[i]))
				wait_ms = 0;
		}
		rc = poll(p, (nfds_t)m, wait_ms);
		if (rc < 0 && errno != EINTR) {
			rc = -errno;
			goto out;
		}
		ready = 0;
		if (rc >= 0) {
			for (i = 0; i < n; i++)
				if ((items[i].revents = poll_collect(&items[i], p, &sl[i])) != 0)
					ready++;
		}
		if (ready) {
			rc = ready;
			goto out;
		}
		/* EINTR, a wakeup that was not for us, or the time ran out. */
		if (deadline == 0 || ipc__expired(deadline)) {
			rc = 0;
			goto out;
		}
	}
out:
	if (p != pstack)
		free(p);
	if (sl != sstack)
		free(sl);
	return rc;
}
