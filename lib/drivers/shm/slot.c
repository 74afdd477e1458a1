/* shm: attachers. Slots owned through OFD byte locks (the kernel says who
 * is alive), the marks they leave checked by tag, dead slots scrubbed, and
 * fork(): a child gets a slot of its own or none. See doc/ipc-shm.7,
 * "Liveness" and "Several processes per side". */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shm.h"

static pthread_mutex_t shm_list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shm_priv *shm_list;   /* open channels, for fork() */
static pthread_once_t shm_once = PTHREAD_ONCE_INIT;

static void shm_fork_prepare(void);
static void shm_fork_parent(void);
static void shm_fork_child(void);

static void
shm_init_once(void)
{
	pthread_atfork(shm_fork_prepare, shm_fork_parent, shm_fork_child);
}

/* An open channel joins the list the fork() handlers walk. */
void
ipc__shm_list_add(struct shm_priv *p)
{
	pthread_once(&shm_once, shm_init_once);
	pthread_mutex_lock(&shm_list_lock);
	p->next = shm_list;
	shm_list = p;
	p->listed = 1;
	pthread_mutex_unlock(&shm_list_lock);
}

void
ipc__shm_list_remove(struct shm_priv *p)
{
	struct shm_priv **pp;

	if (!p->listed)
		return;
	pthread_mutex_lock(&shm_list_lock);
	for (pp = &shm_list; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	pthread_mutex_unlock(&shm_list_lock);
	p->listed = 0;
}

int
ipc__shm_byte_lock(int fd, unsigned i, int cmd, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = i, .l_len = 1 };

	return fcntl(fd, cmd, &fl) < 0 ? -errno : 0;
}

/* Is byte @p i locked through some other open file description? */
int
ipc__shm_byte_held(int fd, unsigned i)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = i, .l_len = 1 };

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return 1;   /* cannot tell: assume alive, never steal on doubt */
	return fl.l_type != F_UNLCK;
}

/* 1 alive, 0 dead, -EPROTO for a tag that cannot be ours. */
int
ipc__shm_tag_alive(struct shm_priv *p, uint32_t tag)
{
	unsigned id = tag & 127, gen = tag >> 7;

	if (id >= SHM_NSLOTS || gen == 0 || gen > SHM_GENMASK)
		return -EPROTO;
	if (tag == p->tag)
		return 1;
	if (__atomic_load_n(&p->seg->slot[id].gen, __ATOMIC_ACQUIRE) != gen)
		return 0;
	return ipc__shm_byte_held(p->fd, id);
}

/* Under slot @p i's lock, held through our own description: undo what a
 * previous owner that died left behind (an orderly close left nothing). A new
 * generation first: its marks are dead from now on. Then forget what it was
 * reading, take back its share of waiters and pollers, and count it out. */
static uint32_t
shm_slot_scrub(struct shm_seg *seg, unsigned i)
{
	struct shm_slot *s = &seg->slot[i];
	uint32_t gen, old;
	unsigned k;

	gen = (__atomic_load_n(&s->gen, __ATOMIC_RELAXED) + 1) & SHM_GENMASK;
	if (!gen)
		gen = 1;
	__atomic_store_n(&s->gen, gen, __ATOMIC_SEQ_CST);
	__atomic_store_n(&seg->claim[i], 0, __ATOMIC_RELEASE);
	for (k = 0; k < 4; k++) {
		uint32_t v = __atomic_exchange_n(&s->waiting[k], 0, __ATOMIC_ACQ_REL);

		if (v)
			__atomic_fetch_sub(&seg->ring[k / 2].ec[k % 2].waiters, v, __ATOMIC_SEQ_CST);
	}
	old = __atomic_exchange_n(&s->side, 0, __ATOMIC_ACQ_REL);
	if (__atomic_exchange_n(&s->bell, 0, __ATOMIC_ACQ_REL) &&
	    (old == SIDE_A || old == SIDE_B))
		__atomic_fetch_sub(&seg->ring[old == SIDE_A ? 1 : 0].ec[EC_DATA].pollers, 1,
		                   __ATOMIC_SEQ_CST);
	/* Its attach was counted and it never left: a kill, a failed fork()
	 * or an exec() dropped the lock. */
	if ((old == SIDE_A || old == SIDE_B) && __atomic_load_n(&seg->meta.live[old],
	                                                        __ATOMIC_ACQUIRE))
		__atomic_fetch_sub(&seg->meta.live[old], 1, __ATOMIC_SEQ_CST);
	return gen;
}

/* Slot @p i looked dead: take its lock for a moment and scrub it, so that the
 * attach counts say who is really there. */
static void
shm_slot_bury(struct shm_priv *p, unsigned i)
{
	if (ipc__shm_byte_lock(p->fd, i, F_OFD_SETLK, F_WRLCK) < 0)
		return;     /* alive after all, or being taken: nothing to do */
	if (__atomic_load_n(&p->seg->slot[i].side, __ATOMIC_ACQUIRE))
		shm_slot_scrub(p->seg, i);
	ipc__shm_byte_lock(p->fd, i, F_OFD_SETLK, F_UNLCK);
}

/* Has the other side attached at some point and now nobody is left there?
 * Looked at through the kernel at most every SHM_LIVE_NS unless @p force. */
int
ipc__shm_peer_gone(struct shm_priv *p, int force)
{
	struct shm_meta *m = &p->seg->meta;
	int other = p->side == SIDE_A ? SIDE_B : SIDE_A, gone = 1;
	uint32_t departs;
	int64_t now, at;
	unsigned i;

	if (!__atomic_load_n(&m->ever[other], __ATOMIC_ACQUIRE))
		return 0;
	if (__atomic_load_n(&m->live[other], __ATOMIC_ACQUIRE) == 0)
		return 1;
	/* The answer is cached for both threads of a channel (one may send
	 * while another receives): the answer first, then its time, release. */
	/* Anyone who left since the cached answer makes it stale. */
	departs = __atomic_load_n(&m->departs, __ATOMIC_SEQ_CST);
	now = shm_coarse_ns();
	at = __atomic_load_n(&p->live_at, __ATOMIC_ACQUIRE);
	if (!force && at && now - at < SHM_LIVE_NS &&
	    __atomic_load_n(&p->live_departs, __ATOMIC_RELAXED) == departs)
		return __atomic_load_n(&p->peer_gone, __ATOMIC_RELAXED);
	for (i = 0; i < SHM_NSLOTS; i++) {
		if (__atomic_load_n(&p->seg->slot[i].side, __ATOMIC_ACQUIRE) != (uint32_t)other)
			continue;
		if (ipc__shm_byte_held(p->fd, i)) {
			gone = 0;
			continue;
		}
		/* One thread of the channel at a time: both would lock through
		 * the same description and count the dead twice. */
		if (!__atomic_exchange_n(&p->burying, 1, __ATOMIC_ACQUIRE)) {
			shm_slot_bury(p, i);
			__atomic_store_n(&p->burying, 0, __ATOMIC_RELEASE);
		}
	}
	__atomic_store_n(&p->peer_gone, gone, __ATOMIC_RELAXED);
	__atomic_store_n(&p->live_departs, departs, __ATOMIC_RELAXED);
	__atomic_store_n(&p->live_at, now, __ATOMIC_RELEASE);
	return gone;
}

/* Take the first free attacher slot for @p side through @p fd
 * (kernel-arbitrated), and publish @p rxmax, the largest message it takes. */
static int
shm_claim_slot_fd(struct shm_seg *seg, int fd, int side, unsigned first, uint64_t rxmax,
                  uint32_t *tag)
{
	unsigned i;

	for (i = first; i < SHM_NSLOTS; i++) {
		struct shm_slot *s = &seg->slot[i];
		uint32_t gen;
		int rc = ipc__shm_byte_lock(fd, i, F_OFD_SETLK, F_WRLCK);

		if (rc == -EAGAIN || rc == -EACCES)
			continue;
		if (rc < 0)
			return rc;
		gen = shm_slot_scrub(seg, i);
		__atomic_store_n(&seg->ring[side == SIDE_A ? 1 : 0].rxmax[i], (uint32_t)rxmax,
		                 __ATOMIC_RELAXED);
		__atomic_store_n(&s->pid, (uint32_t)getpid(), __ATOMIC_RELAXED);
		__atomic_store_n(&s->side, (uint32_t)side, __ATOMIC_RELEASE);
		*tag = gen << 7 | i;
		__atomic_store_n(&seg->meta.ever[side], 1, __ATOMIC_RELEASE);
		__atomic_fetch_add(&seg->meta.live[side], 1, __ATOMIC_SEQ_CST);
		/* after side: a sender that sees the count move sees our limit */
		__atomic_fetch_add(&seg->meta.attaches, 1, __ATOMIC_SEQ_CST);
		return (int)i;
	}
	return -EUSERS;
}

int
ipc__shm_claim_slot(struct shm_priv *p, int side, unsigned first)
{
	int i = shm_claim_slot_fd(p->seg, p->fd, side, first, p->max_msg, &p->tag);

	if (i < 0)
		return i;
	p->slot = i;
	p->side = side;
	p->slot_pid = getpid();
	return 0;
}

/* Leave our slot: peers see one attacher fewer at once, then get woken. */
void
ipc__shm_release_slot(struct shm_priv *p)
{
	struct shm_seg *seg = p->seg;
	struct shm_slot *s = &seg->slot[p->slot];

	if (__atomic_exchange_n(&s->bell, 0, __ATOMIC_ACQ_REL))
		__atomic_fetch_sub(&seg->ring[shm_rxring(p)].ec[EC_DATA].pollers, 1,
		                   __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->side, 0, __ATOMIC_RELEASE);
	__atomic_fetch_sub(&seg->meta.live[p->side], 1, __ATOMIC_SEQ_CST);
	ipc__shm_byte_lock(p->fd, (unsigned)p->slot, F_OFD_SETLK, F_UNLCK);
	/* Before the wake: a waiter that looked at liveness before this close
	 * sees departs move after it registered, or gets the epoch bump. */
	__atomic_fetch_add(&seg->meta.departs, 1, __ATOMIC_SEQ_CST);
	ipc__shm_wake_all(seg);
	/* pollers of the other side must look too: they may read the end */
	if (__atomic_load_n(&seg->ring[shm_txring(p)].ec[EC_DATA].pollers, __ATOMIC_SEQ_CST))
		ipc__shm_ring_bells(p, shm_txring(p));
	p->slot = -1;
	p->tag = 0;
}

/* fork(): the child would share our open file description, hence our
 * liveness, and our close() would drop its lock. So before the fork, each
 * channel gets a second description of the object and a slot of its own on
 * the same side, held for the child; the parent closes its copy after the
 * fork (the child's copy keeps the lock), and the child switches to it. */
static void
shm_fork_prepare(void)
{
	struct shm_priv *p;
	char path[64];

	pthread_mutex_lock(&shm_list_lock);
	for (p = shm_list; p; p = p->next) {
		uint32_t tag;
		int fd, i;

		p->child_fd = -1;
		if (!p->seg || p->slot < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", p->fd);
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
			continue;   /* no /proc: the child shares our liveness */
		if ((i = shm_claim_slot_fd(p->seg, fd, p->side, 1, p->max_msg, &tag)) < 0) {
			close(fd);
			continue;
		}
		p->child_fd = fd;
		p->child_slot = i;
		p->child_tag = tag;
	}
}

static void
shm_fork_parent(void)
{
	struct shm_priv *p;

	for (p = shm_list; p; p = p->next)
		if (p->child_fd >= 0) {
			close(p->child_fd);
			p->child_fd = -1;
		}
	pthread_mutex_unlock(&shm_list_lock);
}

static void
shm_fork_child(void)
{
	struct shm_priv *p;

	for (p = shm_list; p; p = p->next) {
		/* The parent's loans stay the parent's. */
		memset(p->loan, 0, sizeof(p->loan));
		if (p->child_fd < 0) {
			/* No slot for us (all taken, or no /proc): sharing the
			 * parent's would share its liveness and its claim word.
			 * The inherited channel only fails, and closes. */
			if (p->seg && p->slot >= 0) {
				p->slot = -1;
				p->created = 0;
				__atomic_store_n(&p->broken, -EUSERS, __ATOMIC_RELAXED);
				ipc__shm_drop_events(p);
			}
			continue;
		}
		close(p->fd);
		p->fd = p->child_fd;
		p->child_fd = -1;
		p->slot = p->child_slot;
		p->tag = p->child_tag;
		p->slot_pid = getpid();
		__atomic_store_n(&p->seg->slot[p->slot].pid, (uint32_t)p->slot_pid,
		                 __ATOMIC_RELAXED);
		p->created = 0;
		ipc__shm_drop_events(p);     /* the parent's doorbell, not ours */
#ifdef MADV_POPULATE_WRITE
		/* fork() did not copy the shared mapping's page tables */
		madvise(p->seg, p->size, MADV_POPULATE_WRITE);
#endif
	}
	pthread_mutex_unlock(&shm_list_lock);
}
