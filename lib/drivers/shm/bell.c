/* shm: the doorbell behind ipc_fd(). An abstract datagram socket per armed
 * attacher, rung by the other side's senders, plus pidfds of the peers so a
 * killed one still wakes the loop. See doc/ipc-shm.7, "Event loops". */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "shm.h"

/* Close what ipc_fd() made. */
void
ipc__shm_drop_events(struct shm_priv *p)
{
	unsigned i;

	for (i = 0; i < SHM_NSLOTS; i++) {
		if (p->pidfd[i] >= 0)
			close(p->pidfd[i]);
		p->pidfd[i] = -1;
		p->pidof[i] = 0;
	}
	if (p->epfd >= 0)
		close(p->epfd);
	if (p->bellfd >= 0)
		close(p->bellfd);
	p->epfd = p->bellfd = -1;
}

/* A killed peer cannot ring the doorbell, so ipc_fd() also watches each
 * live peer attacher's process through a pidfd: it becomes readable when the
 * process ends. The pid comes from the segment and is only a hint for waking
 * up: whether the peer is gone is still decided by its OFD lock. A pidfd
 * that fired is not watched again, so a dead peer wakes the loop once. */
static void
shm_watch_peers(struct shm_priv *p)
{
	uint32_t other = p->side == SIDE_A ? SIDE_B : SIDE_A;
	unsigned i;

	for (i = 0; i < SHM_NSLOTS; i++) {
		struct shm_slot *sl = &p->seg->slot[i];
		uint32_t want = 0;

		if (__atomic_load_n(&sl->side, __ATOMIC_ACQUIRE) == other &&
		    ipc__shm_byte_held(p->fd, i))
			want = __atomic_load_n(&sl->pid, __ATOMIC_RELAXED);
		if (want == p->pidof[i]) {
			struct pollfd pf = { .fd = p->pidfd[i], .events = POLLIN };

			if (p->pidfd[i] >= 0 && poll(&pf, 1, 0) == 1) {
				epoll_ctl(p->epfd, EPOLL_CTL_DEL, p->pidfd[i], NULL);
				close(p->pidfd[i]);
				p->pidfd[i] = -1;   /* fired once: enough */
			}
			continue;
		}
		if (p->pidfd[i] >= 0) {
			epoll_ctl(p->epfd, EPOLL_CTL_DEL, p->pidfd[i], NULL);
			close(p->pidfd[i]);
			p->pidfd[i] = -1;
		}
		p->pidof[i] = want;
		if (want && want <= INT_MAX) {
			int fd = (int)syscall(SYS_pidfd_open, (pid_t)want, 0);
			struct epoll_event ev = { .events = EPOLLIN };

			if (fd < 0)
				continue;   /* no pidfds here: the doorbell alone */
			fcntl(fd, F_SETFD, FD_CLOEXEC);
			ev.data.fd = fd;
			if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
				close(fd);
				continue;
			}
			p->pidfd[i] = fd;
		}
	}
}

/* ipc_fd(): a drain ended in -EAGAIN, so arm the doorbell again. Returns
 * non-zero when data came in meanwhile and the caller should look again. */
int
ipc__shm_rearm(struct shm_priv *p)
{
	char c;
	int ri = shm_rxring(p);

	while (recv(p->bellfd, &c, 1, MSG_DONTWAIT) >= 0)
		;
	if (!__atomic_exchange_n(&p->seg->slot[p->slot].bell, 1, __ATOMIC_SEQ_CST))
		__atomic_fetch_add(&p->seg->ring[ri].ec[EC_DATA].pollers, 1, __ATOMIC_SEQ_CST);
	shm_watch_peers(p);
	/* forced: the drain must see the end of a peer that just died */
	return ipc__shm_ready(p, ri, EC_DATA, 0) || ipc__shm_peer_gone(p, 1);
}

/* Each attacher that asks for ipc_fd() binds a datagram socket in the
 * abstract namespace named after the object's random key, its slot and its
 * generation. A sender that commits while the receiving ring has pollers
 * sends one empty datagram to each armed attacher of the other side and
 * disarms it; the receiver re-arms when a drain ends in -EAGAIN. */
static void
shm_bell_addr(struct shm_priv *p, unsigned slot, uint32_t gen, struct sockaddr_un *sa,
              socklen_t *len)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "libipc-shm/%016llx/%u/%u",
	             (unsigned long long)__atomic_load_n(&p->seg->meta.bellkey,
	                                                 __ATOMIC_RELAXED), slot, gen);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

void
ipc__shm_ring_bells(struct shm_priv *p, int r)
{
	int side = r == 0 ? SIDE_B : SIDE_A;    /* the side receiving on ring r */
	struct sockaddr_un sa;
	socklen_t salen;
	unsigned i;

	/* The socket was made at open: ringing never needs a new descriptor,
	 * so a process out of them (EMFILE) cannot lose a doorbell. */
	if (p->bellout < 0)
		return;
	for (i = 0; i < SHM_NSLOTS; i++) {
		struct shm_slot *sl = &p->seg->slot[i];

		if (__atomic_load_n(&sl->side, __ATOMIC_ACQUIRE) != (uint32_t)side ||
		    !__atomic_load_n(&sl->bell, __ATOMIC_ACQUIRE))
			continue;
		if (!__atomic_exchange_n(&sl->bell, 0, __ATOMIC_ACQ_REL))
			continue;
		__atomic_fetch_sub(&p->seg->ring[r].ec[EC_DATA].pollers, 1, __ATOMIC_SEQ_CST);
		shm_bell_addr(p, i, __atomic_load_n(&sl->gen, __ATOMIC_ACQUIRE), &sa, &salen);
		sendto(p->bellout, "", 0, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa,
		       salen);
	}
}

int
ipc__shm_fd(ipc_channel *ch)
{
	struct shm_priv *p = ch->priv;
	struct epoll_event ev = { .events = EPOLLIN };
	struct sockaddr_un sa;
	socklen_t salen;
	int rc;

	if ((rc = shm_enter(ch, EC_DATA)) < 0)
		return rc;
	/* ipc_poll() asks for the descriptor each time: look at both rings */
	if ((rc = ipc__shm_ring_check(p, 0)) < 0 || (rc = ipc__shm_ring_check(p, 1)) < 0)
		return rc;
	if (p->epfd >= 0)
		return p->epfd;
	p->bellfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->bellfd < 0 || p->epfd < 0) {
		rc = -errno;
		ipc__shm_drop_events(p);
		return rc;
	}
	shm_bell_addr(p, (unsigned)p->slot, p->tag >> 7, &sa, &salen);
	ev.data.fd = p->bellfd;
	if (bind(p->bellfd, (struct sockaddr *)&sa, salen) < 0 ||
	    epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->bellfd, &ev) < 0) {
		rc = -errno;
		ipc__shm_drop_events(p);
		return rc;
	}
	shm_watch_peers(p);
	/* Armed from the start, and readable at once: the caller drains. */
	if (!__atomic_exchange_n(&p->seg->slot[p->slot].bell, 1, __ATOMIC_SEQ_CST))
		__atomic_fetch_add(&p->seg->ring[shm_rxring(p)].ec[EC_DATA].pollers, 1,
		                   __ATOMIC_SEQ_CST);
	sendto(p->bellfd, "", 0, MSG_DONTWAIT, (struct sockaddr *)&sa, salen);
	return p->epfd;
}
