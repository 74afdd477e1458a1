/* shm: the poll op behind ipc_poll(). The ring says exactly whether a
 * receive or a send would make progress; the descriptor of ipc_fd() (the
 * doorbell set) only says that something changed. A poller that finds no
 * room raises the EC_SPACE poller flag of the ring it sends on; the receiver
 * that frees room there rings the doorbells of that ring's senders (the
 * ones armed for data on the other ring, see ipc__shm_notify). */
#include <poll.h>

#include "shm.h"

static int
shm_room(struct shm_priv *p)
{
	return ipc__shm_ready(p, shm_txring(p), EC_SPACE, shm_need(1));
}

short
ipc__shm_poll(ipc_channel *ch, short events, struct ipc_poll_wait *w)
{
	struct shm_priv *p = ch->priv;
	short known = 0;

	w->fd[0] = p->epfd;     /* made by ipc_fd(), which ipc_poll() called */
	w->events[0] = POLLIN;
	w->recheck = 1;
	if (!p->seg)
		return events;  /* closed under us: every call answers at once */
	/* Broken: ipc_poll(3) reports it as an error, with the directions
	 * asked, whose calls answer at once and say why. */
	if (__atomic_load_n(&p->broken, __ATOMIC_RELAXED) ||
	    ipc__shm_ring_check(p, shm_txring(p)) < 0 ||
	    ipc__shm_ring_check(p, shm_rxring(p)) < 0)
		return (short)(events | IPC_POLLERR);
	if ((events & IPC_POLLIN) && ch->drv->pending(ch))
		known |= IPC_POLLIN;
	if (events & IPC_POLLOUT) {
		if (shm_room(p)) {
			known |= IPC_POLLOUT;
		} else {
			/* Ask for a doorbell when room frees, then look again:
			 * room freed before the flag was seen is found here. */
			__atomic_store_n(&p->seg->ring[shm_txring(p)].ec[EC_SPACE].pollers, 1,
			                 __ATOMIC_SEQ_CST);
			if (shm_room(p))
				known |= IPC_POLLOUT;
		}
	}
	/* Nothing yet: drain the doorbell and arm it again, so that the set
	 * turns readable for the next change, not for the one just seen. */
	if (!known && p->bellfd >= 0 && ipc__shm_rearm(p) && (events & IPC_POLLIN))
		known |= IPC_POLLIN;
	return known;
}
