/* shm: a queue pair in one POSIX shared-memory object.
 *
 * Layout (offsets, never pointers; doc/ipc-shm.7 has the long version):
 *
 *   0      meta: magic (published last, release), version, sizes, and per
 *          side an "ever attached" flag and a count of open attachers
 *   512    ring control 0 (A -> B), 1024 ring control 1 (B -> A)
 *   1536   64 claim words: the record attacher i is copying out
 *   2048   64 attacher slots of 32 bytes
 *   4096   ring 0 data (capacity bytes, a power of two), then ring 1 data
 *
 * Liveness comes from the kernel: attacher slot i is owned by whoever holds
 * an F_OFD_SETLK write lock on byte i of the object; the kernel drops it when
 * the owner dies. Each owner stamps the slot with a generation, and every
 * mark it leaves in a ring ("tag" = generation << 7 | slot) can be checked
 * later: the tag is alive while the slot is locked by another description
 * and still carries that generation. fork() gives the child a slot of its own.
 *
 * A ring is a byte queue of variable-size records, each an 8-byte header
 * (state word, length) plus the payload rounded up to 8 bytes; the payload
 * may wrap around the end of the data area, the header never does. Three
 * 64-bit positions only grow: head (freed) <= rpos (claimed by a receiver)
 * <= tail (reserved by a sender). A record's state goes
 *   WRITING(writer tag) -> COMMITTED
 * or WRITING -> ABANDONED when its writer died before committing.
 *
 * Senders serialise only the reservation (a few loads and stores, no copy)
 * with a lock word holding the holder's tag; receivers likewise serialise
 * the claim: a receiver writes the record's position into its claim word,
 * moves rpos past it, unlocks, copies, and clears its claim. Copies run
 * outside the locks, so several senders and receivers copy in parallel, and
 * a receiver never writes to the ring itself. A waiter finding a lock held
 * checks the holder's tag from time to time and takes the lock over when the
 * holder is dead: every store made under a lock leaves the ring consistent
 * (the header is written before tail moves, the claim before rpos), so the
 * new holder just carries on. No robust mutex: nothing the kernel writes to
 * depends on the segment's contents.
 *
 * A receiver that finds a WRITING record whose writer is dead marks it
 * ABANDONED and skips it. A sender that needs space moves head up to rpos,
 * or to the lowest record a receiver still claims; the claim of a receiver
 * that died is dropped. So a killed process loses at most the record it held,
 * and nothing torn is ever delivered (a reader copies only COMMITTED records,
 * and a sender overwrites only what no live receiver claims).
 *
 * Waiting is an eventcount per condition (data, space) per ring: a futex word
 * "epoch" and a waiter count. A waiter reads epoch, registers, re-checks the
 * condition, then sleeps on epoch; a notifier publishes, fences, and only when
 * the count is non-zero bumps epoch and wakes. Sleeps last at most 100 ms so
 * that peer liveness is re-checked, and a waiter also looks again when the
 * departure counter moved (every orderly close bumps it). Before sleeping, a
 * waiter spins a short, adaptive while when the peer last ran on another CPU;
 * when it ran on ours, it yields once instead if that lately let the peer
 * move a batch, and otherwise sleeps at once.
 *
 * Everything read from the segment is checked before use; offsets are always
 * masked with our own copy of the capacity, so a scribbling peer gets this
 * side -EPROTO, never an access outside the mapping. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../ipc-private.h"

#define SHM_MAGIC      0x4d485349u      /* "ISHM" little-endian */
#define SHM_VERSION    2u
#define SHM_HDR        4096u
#define SHM_NSLOTS     64u
#define SHM_MIN_CAP    4096u
#define SHM_MAX_CAP    (1u << 30)
#define SHM_RECHDR     8u
#define SHM_GENMASK    ((1u << 22) - 1)
#define SHM_WAIT_NS    (100 * 1000000LL) /* longest sleep between liveness checks */
#define SHM_LIVE_NS    (50 * 1000000LL)  /* how long a liveness answer is trusted */
#define SHM_SPIN_MAX   60000            /* ns: a bit more than a sleep/wake-up costs */
#define SHM_SPIN_PROBE 2000

enum { SIDE_A = 1, SIDE_B = 2 };
enum { R_WRITING = 1, R_COMMITTED, R_ABANDONED = 5 };
enum { EC_DATA = 0, EC_SPACE = 1 };

#define SHM_BLOCKED    (-EINPROGRESS)   /* internal: the call would wait */
#define SHM_WOKEN      1
#define SHM_TIMEDOUT   2

struct shm_ec {
	uint32_t epoch;     /* futex word */
	uint32_t waiters;   /* how many sleep (or are about to) on epoch */
	uint32_t pollers;   /* how many attachers armed a doorbell */
	uint32_t pad[13];
};

struct shm_ring {
	/* producers */
	uint32_t plock;
	uint32_t pad0;
	uint64_t tail;
	uint64_t head;
	uint32_t pcpu;          /* CPU the last sender ran on: a hint for spinning */
	uint32_t pad1[9];
	/* consumers */
	uint32_t clock;
	uint32_t pad2;
	uint64_t rpos;
	uint32_t ccpu;          /* CPU the last receiver ran on */
	uint32_t pad3[11];
	struct shm_ec ec[2];    /* EC_DATA, EC_SPACE */
	uint32_t rxmax[64];     /* max_msg of the receiver in slot i on this ring */
};

struct shm_slot {
	uint32_t side;          /* 0 free, SIDE_A, SIDE_B; valid while byte i is locked */
	uint32_t gen;
	uint32_t waiting[4];    /* this attacher's share of ring[k/2].ec[k%2].waiters */
	uint32_t pid;           /* informational only */
	uint32_t bell;          /* doorbell armed (ipc_fd) */
};

struct shm_meta {
	uint32_t magic;
	uint32_t version;
	uint32_t hdr_size;
	uint32_t nslots;
	uint64_t capacity;
	uint64_t total;
	uint32_t ever[3];       /* indexed by side */
	uint32_t live[3];
	uint64_t bellkey;       /* random: names the doorbell sockets */
	uint32_t departs;       /* bumped by every orderly close */
	uint32_t attaches;      /* bumped by every slot taken: limits may have changed */
};

struct shm_seg {
	struct shm_meta meta;
	char            pad0[512 - sizeof(struct shm_meta)];
	struct shm_ring ring[2];
	uint64_t        claim[SHM_NSLOTS];  /* slot i's owner copies out: pos | ring << 1 | 1 */
	struct shm_slot slot[SHM_NSLOTS];
};

_Static_assert(sizeof(struct shm_ring) == 512, "ring control is 512 bytes");
_Static_assert(offsetof(struct shm_seg, slot) == 2048, "slots at 2048");
_Static_assert(sizeof(struct shm_seg) == SHM_HDR, "header is one page");

struct shm_priv {
	char            *name;       /* "/name" */
	int              fd;
	int              bellfd;     /* doorbell socket, -1 until ipc_fd() */
	int              epfd;       /* what ipc_fd() returns: bell + peers' pidfds */
	int              pidfd[SHM_NSLOTS];  /* watched peer processes, by slot */
	uint32_t         pidof[SHM_NSLOTS];
	struct shm_seg  *seg;
	size_t           size;       /* mapping length */
	uint64_t         cap, mask;  /* our own copies, never re-read */
	uint64_t         max_msg;    /* largest message we accept (published) */
	uint64_t         peer_max;   /* smallest limit among the peer's receivers */
	uint32_t         peer_max_at;  /* meta.attaches when peer_max was computed */
	int              peer_max_ok;
	int              bellout;    /* socket that rings peers' doorbells */
	uint64_t         rx_tail;    /* see shm_rx_tail() */
	int              side;
	int              slot;
	uint32_t         tag;
	int              created;    /* this process made the name */
	pid_t            slot_pid;   /* the process that claimed the slot */
	struct shm_priv *next;       /* in shm_list */
	int              listed;
	int              child_fd;   /* during fork(): the child's description */
	int              child_slot;
	uint32_t         child_tag;
	int              broken;     /* sticky -EPROTO (or -EUSERS: see shm_fork_child) */
	int              burying;    /* a thread is scrubbing dead slots */
	/* Per direction (EC_DATA: receiving, EC_SPACE: sending), so that one
	 * thread may send while another receives. */
	int64_t          spin[2];    /* ns to spin before sleeping */
	int64_t          spin_max;
	int              cpu[2];     /* sched_getcpu() at the start of the call */
	unsigned         misses[2];
	unsigned         done[2];    /* messages moved since the last wait */
	int              yielded[2]; /* the last wait ended with a yield */
	int              yscore[2];  /* how well yielding paid lately */
	int64_t          live_at;    /* when peer liveness was last looked at */
	int64_t          reap_at;    /* when record holders were last looked at */
	int64_t          wait_ns;    /* longest sleep; SHM_WAIT_NS */
	int              peer_gone;  /* its answer */
	uint32_t         live_departs; /* meta.departs when it was given */
};

/* Close what ipc_fd() made. */
static void
shm_drop_events(struct shm_priv *p)
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

static inline void
shm_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static unsigned char *
shm_data(const struct shm_priv *p, int r)
{
	return (unsigned char *)p->seg + SHM_HDR + (size_t)r * p->cap;
}

static int
shm_txring(const struct shm_priv *p)
{
	return p->side == SIDE_A ? 0 : 1;
}

static int
shm_rxring(const struct shm_priv *p)
{
	return p->side == SIDE_A ? 1 : 0;
}

static int64_t
shm_coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- futex eventcounts --- */

static void
shm_futex_wait(uint32_t *w, uint32_t v, int64_t ns)
{
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };

	syscall(SYS_futex, w, FUTEX_WAIT, v, &ts, NULL, 0);
}

static void
shm_futex_wake(uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void shm_ring_bells(struct shm_priv *p, int r);

/* Publish-then-notify: the caller's stores are ordered before the read of the
 * waiter count by the fence, pairing with the waiter's locked increment. */
static void
shm_notify(struct shm_priv *p, int r, int which)
{
	struct shm_ec *ec = &p->seg->ring[r].ec[which];

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&ec->waiters, __ATOMIC_RELAXED)) {
		__atomic_fetch_add(&ec->epoch, 1, __ATOMIC_SEQ_CST);
		shm_futex_wake(&ec->epoch);
	}
	if (which == EC_DATA && __atomic_load_n(&ec->pollers, __ATOMIC_RELAXED))
		shm_ring_bells(p, r);
}

static void
shm_wake_all(struct shm_seg *seg)
{
	int r, k;

	for (r = 0; r < 2; r++)
		for (k = 0; k < 2; k++) {
			__atomic_fetch_add(&seg->ring[r].ec[k].epoch, 1, __ATOMIC_SEQ_CST);
			shm_futex_wake(&seg->ring[r].ec[k].epoch);
		}
}

/* --- liveness --- */

static int
shm_byte_lock(int fd, unsigned i, int cmd, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = i, .l_len = 1 };

	return fcntl(fd, cmd, &fl) < 0 ? -errno : 0;
}

/* Is byte @p i locked through some other open file description? */
static int
shm_byte_held(int fd, unsigned i)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = i, .l_len = 1 };

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return 1;   /* cannot tell: assume alive, never steal on doubt */
	return fl.l_type != F_UNLCK;
}

/* 1 alive, 0 dead, -EPROTO for a tag that cannot be ours. */
static int
shm_tag_alive(struct shm_priv *p, uint32_t tag)
{
	unsigned id = tag & 127, gen = tag >> 7;

	if (id >= SHM_NSLOTS || gen == 0 || gen > SHM_GENMASK)
		return -EPROTO;
	if (tag == p->tag)
		return 1;
	if (__atomic_load_n(&p->seg->slot[id].gen, __ATOMIC_ACQUIRE) != gen)
		return 0;
	return shm_byte_held(p->fd, id);
}

static void shm_slot_bury(struct shm_priv *p, unsigned i);

/* Has the other side attached at some point and now nobody is left there?
 * Looked at through the kernel at most every SHM_LIVE_NS unless @p force. */
static int
shm_peer_gone(struct shm_priv *p, int force)
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
		if (shm_byte_held(p->fd, i)) {
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
	if (shm_byte_lock(p->fd, i, F_OFD_SETLK, F_WRLCK) < 0)
		return;     /* alive after all, or being taken: nothing to do */
	if (__atomic_load_n(&p->seg->slot[i].side, __ATOMIC_ACQUIRE))
		shm_slot_scrub(p->seg, i);
	shm_byte_lock(p->fd, i, F_OFD_SETLK, F_UNLCK);
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
		int rc = shm_byte_lock(fd, i, F_OFD_SETLK, F_WRLCK);

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

static int
shm_claim_slot(struct shm_priv *p, int side, unsigned first)
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
static void
shm_release_slot(struct shm_priv *p)
{
	struct shm_seg *seg = p->seg;
	struct shm_slot *s = &seg->slot[p->slot];

	if (__atomic_exchange_n(&s->bell, 0, __ATOMIC_ACQ_REL))
		__atomic_fetch_sub(&seg->ring[shm_rxring(p)].ec[EC_DATA].pollers, 1,
		                   __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->side, 0, __ATOMIC_RELEASE);
	__atomic_fetch_sub(&seg->meta.live[p->side], 1, __ATOMIC_SEQ_CST);
	shm_byte_lock(p->fd, (unsigned)p->slot, F_OFD_SETLK, F_UNLCK);
	/* Before the wake: a waiter that looked at liveness before this close
	 * sees departs move after it registered, or gets the epoch bump. */
	__atomic_fetch_add(&seg->meta.departs, 1, __ATOMIC_SEQ_CST);
	shm_wake_all(seg);
	/* pollers of the other side must look too: they may read the end */
	if (__atomic_load_n(&seg->ring[shm_txring(p)].ec[EC_DATA].pollers, __ATOMIC_SEQ_CST))
		shm_ring_bells(p, shm_txring(p));
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
		if (p->child_fd < 0) {
			/* No slot for us (all taken, or no /proc): sharing the
			 * parent's would share its liveness and its claim word.
			 * The inherited channel only fails, and closes. */
			if (p->seg && p->slot >= 0) {
				p->slot = -1;
				p->created = 0;
				__atomic_store_n(&p->broken, -EUSERS, __ATOMIC_RELAXED);
				shm_drop_events(p);
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
		shm_drop_events(p);     /* the parent's doorbell, not ours */
#ifdef MADV_POPULATE_WRITE
		/* fork() did not copy the shared mapping's page tables */
		madvise(p->seg, p->size, MADV_POPULATE_WRITE);
#endif
	}
	pthread_mutex_unlock(&shm_list_lock);
}

static int
shm_enter(ipc_channel *ch, int dir)
{
	struct shm_priv *p = ch->priv;

	if (p->spin_max)
		p->cpu[dir] = sched_getcpu();
	return __atomic_load_n(&p->broken, __ATOMIC_RELAXED);
}

static int
shm_proto(struct shm_priv *p)
{
	__atomic_store_n(&p->broken, -EPROTO, __ATOMIC_RELAXED);
	return -EPROTO;
}

#ifdef IPC_TEST_HOOKS
/* Test builds only: IPC_SHM_TEST_PAUSE="<point>:<wfd>:<rfd>" stops the first
 * thread that passes <point>: it writes one byte to wfd, then waits for one
 * on rfd. Lets a test act while a receiver is in the middle of a copy. */
static void
shm_test_pause(const char *point)
{
	static int done;
	const char *env = getenv("IPC_SHM_TEST_PAUSE");
	size_t n = strlen(point);
	int wfd, rfd;
	char c = 'P';

	if (!env || strncmp(env, point, n) != 0 || env[n] != ':' ||
	    sscanf(env + n + 1, "%d:%d", &wfd, &rfd) != 2 ||
	    __atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
		return;
	if (write(wfd, &c, 1) == 1)
		while (read(rfd, &c, 1) < 0 && errno == EINTR)
			;
}
#endif

/* --- locks whose holder may die --- */

static int
shm_lock(ipc_channel *ch, uint32_t *lk, long long deadline)
{
	struct shm_priv *p = ch->priv;
	unsigned n;

	for (n = 1;; n++) {
		uint32_t cur = 0;
		int rc;

		if (__atomic_compare_exchange_n(lk, &cur, p->tag, 0, __ATOMIC_ACQUIRE,
		                                __ATOMIC_RELAXED))
			return 0;
		if (n < 128 && p->spin_max) {
			shm_relax();
			continue;
		}
		if ((n & 63) == 0) {
			if ((rc = shm_tag_alive(p, cur)) < 0)
				return shm_proto(p);
			if (rc == 0 && __atomic_compare_exchange_n(lk, &cur, p->tag, 0,
			                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return 0;   /* the holder died: its stores are all complete */
			if (atomic_load_explicit(&ch->shut, memory_order_acquire))
				return IPC_EOF;
			if (deadline >= 0 && (deadline > 0 || n > 1024) &&
			    (rc = ipc__expired(deadline)) != 0)
				return rc;
		}
		if (n < 4096) {
			sched_yield();
		} else {
			struct timespec nap = { 0, 200000 };

			nanosleep(&nap, NULL);
		}
	}
}

static void
shm_unlock(uint32_t *lk)
{
	__atomic_store_n(lk, 0, __ATOMIC_RELEASE);
}

/* --- copies with wrap-around --- */

static void
shm_put(struct shm_priv *p, unsigned char *ring, uint64_t pos, const void *src, size_t n)
{
	size_t off = (size_t)(pos & p->mask), first = (size_t)p->cap - off;

	if (n == 0)
		return;     /* src may be NULL */
	if (n <= first) {
		memcpy(ring + off, src, n);
	} else {
		memcpy(ring + off, src, first);
		memcpy(ring, (const unsigned char *)src + first, n - first);
	}
}

static void
shm_get(struct shm_priv *p, const unsigned char *ring, uint64_t pos, void *dst, size_t n)
{
	size_t off = (size_t)(pos & p->mask), first = (size_t)p->cap - off;

	if (n == 0)
		return;     /* dst may be NULL */
	if (n <= first) {
		memcpy(dst, ring + off, n);
	} else {
		memcpy(dst, ring + off, first);
		memcpy((unsigned char *)dst + first, ring, n - first);
	}
}

static uint32_t *
shm_rstate(struct shm_priv *p, unsigned char *ring, uint64_t pos)
{
	return (uint32_t *)(void *)(ring + (pos & p->mask));
}

static uint32_t *
shm_rlen(struct shm_priv *p, unsigned char *ring, uint64_t pos)
{
	return (uint32_t *)(void *)(ring + (pos & p->mask) + 4);
}

static uint64_t
shm_need(uint64_t len)
{
	return SHM_RECHDR + ((len + 7) & ~(uint64_t)7);
}

/* Length of the record at @p pos, checked to lie within [pos, limit]. */
static int
shm_reclen(struct shm_priv *p, unsigned char *ring, uint64_t pos, uint64_t limit,
           uint64_t *need)
{
	uint32_t len = __atomic_load_n(shm_rlen(p, ring, pos), __ATOMIC_RELAXED);

	if (len > p->cap - SHM_RECHDR)
		return -EPROTO;
	*need = shm_need(len);
	if (pos + *need > limit)
		return -EPROTO;
	return (int)len;
}

/* --- send --- */

/* The claim word of a receiver copying out the record at @p pos of ring
 * @p ri; the word's index names its owner (the slot). */
static uint64_t
shm_claim_word(uint64_t pos, int ri)
{
	return pos | (uint64_t)ri << 1 | 1;
}

/* How far the senders may free ring @p ri: up to the read position, but not
 * past a record that a receiver is still copying out. Only claims on this
 * ring count. A claim whose owner is dead (the kernel dropped its slot lock)
 * is dropped when @p reap (its message is lost); without @p reap no system
 * call is made. Claims outside [head, rpos) are stale and ignored. */
static uint64_t
shm_free_limit(struct shm_priv *p, int ri, uint64_t h, uint64_t rp, int reap)
{
	uint64_t limit = rp;
	unsigned i;

	for (i = 0; i < SHM_NSLOTS; i++) {
		uint64_t c = __atomic_load_n(&p->seg->claim[i], __ATOMIC_ACQUIRE), pos = c & ~7ull;

		if (!(c & 1) || ((c >> 1) & 3) != (uint64_t)ri || pos < h || pos >= limit)
			continue;
		/* Our own slot (the other thread of this channel) is alive; any
		 * other holder is dead only when no description holds its lock. */
		if (reap && (int)i != p->slot && !shm_byte_held(p->fd, i)) {
			/* The reader died copying it out: the message is lost. */
			__atomic_compare_exchange_n(&p->seg->claim[i], &c, 0, 0, __ATOMIC_ACQ_REL,
			                            __ATOMIC_RELAXED);
			continue;
		}
		limit = pos;
	}
	return limit;
}

/* Under plock: move head up to what no receiver needs any more. */
static int
shm_reclaim(struct shm_priv *p, int ri, uint64_t tail, int reap)
{
	struct shm_ring *r = &p->seg->ring[ri];
	uint64_t h = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	uint64_t rp = __atomic_load_n(&r->rpos, __ATOMIC_ACQUIRE), limit;

	if (rp < h || rp > tail || (rp & 7))
		return -EPROTO;
	limit = shm_free_limit(p, ri, h, rp, reap);
	if (limit > h)
		__atomic_store_n(&r->head, limit, __ATOMIC_RELEASE);
	return 0;
}

static ssize_t
shm_try_send(ipc_channel *ch, const void *buf, size_t len, long long deadline, int reap)
{
	struct shm_priv *p = ch->priv;
	int ri = shm_txring(p);
	struct shm_ring *r = &p->seg->ring[ri];
	unsigned char *ring = shm_data(p, ri);
	uint64_t need = shm_need(len), tail, head;
	int rc;

	if ((rc = shm_lock(ch, &r->plock, deadline)) < 0)
		return rc;
	if (ipc__crash_at("shm-send-locked"))
		_exit(99);
	tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	if (tail < head || tail - head > p->cap || ((tail | head) & 7)) {
		shm_unlock(&r->plock);
		return shm_proto(p);
	}
	if (tail + need - head > p->cap) {
		if (shm_reclaim(p, ri, tail, reap) < 0) {
			shm_unlock(&r->plock);
			return shm_proto(p);
		}
		head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
		if (tail + need - head > p->cap) {
			shm_unlock(&r->plock);
			return SHM_BLOCKED;
		}
	}
	if (p->spin_max && __atomic_load_n(&r->pcpu, __ATOMIC_RELAXED) != (uint32_t)p->cpu[EC_SPACE])
		__atomic_store_n(&r->pcpu, (uint32_t)p->cpu[EC_SPACE], __ATOMIC_RELAXED);
	/* Header first, then the reservation becomes visible. */
	__atomic_store_n(shm_rlen(p, ring, tail), (uint32_t)len, __ATOMIC_RELAXED);
	__atomic_store_n(shm_rstate(p, ring, tail), p->tag << 3 | R_WRITING, __ATOMIC_RELAXED);
	__atomic_store_n(&r->tail, tail + need, __ATOMIC_RELEASE);
	shm_unlock(&r->plock);
	if (ipc__crash_at("shm-send-reserved"))
		_exit(99);
#ifdef IPC_TEST_HOOKS
	if (len > 0) {  /* in two halves, to die in between */
		size_t half = len / 2;

		shm_put(p, ring, tail + SHM_RECHDR, buf, half);
		if (ipc__crash_at("shm-send-midcopy"))
			_exit(99);
		shm_put(p, ring, tail + SHM_RECHDR + half, (const unsigned char *)buf + half,
		        len - half);
	}
#else
	shm_put(p, ring, tail + SHM_RECHDR, buf, len);
#endif
	__atomic_store_n(shm_rstate(p, ring, tail), R_COMMITTED, __ATOMIC_RELEASE);
	shm_notify(p, ri, EC_DATA);
	p->done[EC_SPACE]++;
	return (ssize_t)len;
}

/* --- receive --- */

/* The senders' tail as last seen, re-read (acquire) only once the read
 * position has caught up with it: tail only grows, and every header below a
 * tail we acquired is visible. Saves the senders' cache line per message. */
static uint64_t
shm_rx_tail(struct shm_priv *p, struct shm_ring *r, uint64_t rp)
{
	if (rp < p->rx_tail && p->rx_tail - rp <= p->cap)
		return p->rx_tail;
	return p->rx_tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
}

/* Under clock: find the next COMMITTED record, skipping dead writers' ones.
 * Returns its length with *pos set, SHM_BLOCKED, or a negative code. */
static int
shm_next(struct shm_priv *p, struct shm_ring *r, unsigned char *ring, uint64_t *pos,
         uint64_t *needp, int reap)
{
	for (;;) {
		uint64_t rp = __atomic_load_n(&r->rpos, __ATOMIC_RELAXED);
		uint64_t tail = shm_rx_tail(p, r, rp);
		uint64_t need;
		uint32_t st;
		int len, alive;

		if (rp > tail || tail - rp > p->cap || ((rp | tail) & 7))
			return -EPROTO;
		if (rp == tail)
			return SHM_BLOCKED;
		st = __atomic_load_n(shm_rstate(p, ring, rp), __ATOMIC_ACQUIRE);
		if ((len = shm_reclen(p, ring, rp, tail, &need)) < 0)
			return -EPROTO;
		switch (st & 7) {
		case R_COMMITTED:
			/* never more than we said we take (max_msg, one rule) */
			if (st != R_COMMITTED || (uint64_t)len > p->max_msg)
				return -EPROTO;
			*pos = rp;
			*needp = need;
			return len;
		case R_WRITING:
			if (!reap)
				return SHM_BLOCKED;
			if ((alive = shm_tag_alive(p, st >> 3)) < 0)
				return -EPROTO;
			if (alive)
				return SHM_BLOCKED;
			if (!__atomic_compare_exchange_n(shm_rstate(p, ring, rp), &st, R_ABANDONED,
			                                 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
				continue;
			__atomic_store_n(&r->rpos, rp + need, __ATOMIC_RELEASE);
			continue;
		case R_ABANDONED:
			/* a receiver died between marking it and moving on */
			if (st != R_ABANDONED)
				return -EPROTO;
			__atomic_store_n(&r->rpos, rp + need, __ATOMIC_RELEASE);
			continue;
		default:
			return -EPROTO;
		}
	}
}

static ssize_t
shm_try_recv(ipc_channel *ch, void *buf, size_t cap, int peek, long long deadline, int reap)
{
	struct shm_priv *p = ch->priv;
	int ri = shm_rxring(p);
	struct shm_ring *r = &p->seg->ring[ri];
	unsigned char *ring = shm_data(p, ri);
	uint64_t pos, need;
	int len, rc;

	/* Cheap look without the lock: nothing there at all. */
	if (!reap) {
		uint64_t rp = __atomic_load_n(&r->rpos, __ATOMIC_RELAXED);

		if (rp == shm_rx_tail(p, r, rp))
			return SHM_BLOCKED;
	}
	if ((rc = shm_lock(ch, &r->clock, deadline)) < 0)
		return rc;
	if (ipc__crash_at("shm-recv-locked"))
		_exit(99);
	len = shm_next(p, r, ring, &pos, &need, reap);
	if (len < 0) {
		shm_unlock(&r->clock);
		if (len == -EPROTO)
			return shm_proto(p);
		if (reap)
			shm_notify(p, ri, EC_SPACE);    /* abandoned records may be freed */
		return len;
	}
	if (peek || (size_t)len > cap) {
		shm_unlock(&r->clock);
		return peek ? len : -EMSGSIZE;
	}
	if (p->spin_max && __atomic_load_n(&r->ccpu, __ATOMIC_RELAXED) != (uint32_t)p->cpu[EC_DATA])
		__atomic_store_n(&r->ccpu, (uint32_t)p->cpu[EC_DATA], __ATOMIC_RELAXED);
	/* The claim is visible before the read position moves past it. */
	__atomic_store_n(&p->seg->claim[p->slot], shm_claim_word(pos, ri), __ATOMIC_RELAXED);
	__atomic_store_n(&r->rpos, pos + need, __ATOMIC_RELEASE);
	shm_unlock(&r->clock);
	if (ipc__crash_at("shm-recv-claimed"))
		_exit(99);
#ifdef IPC_TEST_HOOKS
	if (len > 0) {  /* in two halves, to stop in between */
		size_t half = (size_t)len / 2;

		shm_get(p, ring, pos + SHM_RECHDR, buf, half);
		if (ipc__crash_at("shm-recv-midcopy"))
			_exit(99);
		shm_test_pause("shm-recv-midcopy");
		shm_get(p, ring, pos + SHM_RECHDR + half, (unsigned char *)buf + half,
		        (size_t)len - half);
	}
#else
	shm_get(p, ring, pos + SHM_RECHDR, buf, (size_t)len);
#endif
	/* Release: our reads of the record are done before a sender that sees
	 * the claim gone may overwrite it. */
	__atomic_store_n(&p->seg->claim[p->slot], 0, __ATOMIC_RELEASE);
	shm_notify(p, ri, EC_SPACE);
	p->done[EC_DATA]++;
	return len;
}

/* --- waiting --- */

/* Check ring @p ri's positions without its locks. A snapshot is consistent
 * while tail holds still, so tail is read before and after head and rpos;
 * then head <= rpos <= tail <= head + capacity, all 8-aligned, must hold.
 * -EPROTO (and the channel broken) when it does not; 0 also when the ring
 * moved too fast to tell (the locked paths check it anyway). */
static int
shm_ring_check(struct shm_priv *p, int ri)
{
	struct shm_ring *r = &p->seg->ring[ri];
	unsigned n;

	for (n = 0; n < 4; n++) {
		uint64_t t = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		uint64_t h = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
		uint64_t rp = __atomic_load_n(&r->rpos, __ATOMIC_ACQUIRE);

		if (__atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) != t)
			continue;
		if (((t | h | rp) & 7) || h > rp || rp > t || t - h > p->cap)
			return shm_proto(p);
		return 0;
	}
	return 0;
}

/* Would a retry make progress? Read-only but for the verdict on a broken
 * ring; every offset is checked before it is used. */
static int
shm_ready(struct shm_priv *p, int ri, int which, uint64_t need)
{
	struct shm_ring *r = &p->seg->ring[ri];
	unsigned char *ring = shm_data(p, ri);

	if (which == EC_DATA) {
		uint64_t rp = __atomic_load_n(&r->rpos, __ATOMIC_SEQ_CST);
		uint64_t t = __atomic_load_n(&r->tail, __ATOMIC_SEQ_CST);

		if (rp == t)
			return 0;
		/* rpos was read first, so rpos <= tail in any sane ring; an
		 * aligned rpos keeps the state word inside the data area. */
		if ((rp & 7) || (t & 7) || rp > t) {
			shm_proto(p);
			return 1;   /* the retry reports it */
		}
		return (__atomic_load_n(shm_rstate(p, ring, rp), __ATOMIC_SEQ_CST) & 7) != R_WRITING;
	} else {
		uint64_t h = __atomic_load_n(&r->head, __ATOMIC_SEQ_CST);
		uint64_t t = __atomic_load_n(&r->tail, __ATOMIC_SEQ_CST);
		uint64_t rp = __atomic_load_n(&r->rpos, __ATOMIC_SEQ_CST);

		if (t + need - h <= p->cap)
			return 1;
		if (rp <= h || rp > t)
			return rp > t;  /* nothing to free; a broken ring: let the call see it */
		if (t + need - rp > p->cap)
			return 0;       /* not even up to rpos: leave the claims alone */
		return t + need - shm_free_limit(p, ri, h, rp, 0) <= p->cap;
	}
}

static int
shm_same_cpu(struct shm_priv *p, int ri, int which)
{
	struct shm_ring *r = &p->seg->ring[ri];
	uint32_t peer = __atomic_load_n(which == EC_DATA ? &r->pcpu : &r->ccpu,
	                                __ATOMIC_RELAXED);

	return p->cpu[which] >= 0 && peer == (uint32_t)p->cpu[which];
}

/* Did the last yield let the peer do a batch (several messages before we
 * had to wait again)? A ping-pong gains nothing from yielding, and on a
 * CPU shared with other processes loses its turn to them: stop yielding
 * there, and try again now and then. */
static int
shm_yield_pays(struct shm_priv *p, int which)
{
	if (p->yielded[which]) {
		if (p->done[which] > 1)
			p->yscore[which] = p->yscore[which] < 8 ? p->yscore[which] + 1 : 8;
		else
			p->yscore[which] = p->yscore[which] > -8 ? p->yscore[which] - 2 : -8;
	}
	p->yielded[which] = 0;
	p->done[which] = 0;
	return p->yscore[which] >= 0 || (++p->misses[which] & 255) == 0;
}

/* Spin a little, then sleep on the eventcount. Returns 0 to retry (after a
 * *slept: 0 no sleep, SHM_WOKEN woken by a change, SHM_TIMEDOUT the sleep
 * ran out), or -EAGAIN / -ETIMEDOUT / IPC_EOF. */
static int
shm_block(ipc_channel *ch, int ri, int which, uint64_t need, uint32_t departs,
          long long deadline, int *slept)
{
	struct shm_priv *p = ch->priv;
	struct shm_ec *ec = &p->seg->ring[ri].ec[which];
	uint32_t *mine = &p->seg->slot[p->slot].waiting[ri * 2 + which];
	int64_t ns = p->wait_ns;
	uint32_t e;
	int64_t spin = p->spin[which], end;
	unsigned i;

	*slept = 0;
	if (deadline == 0)
		return -EAGAIN;
	/* Spinning while the peer waits for our CPU only burns its time. */
	if (shm_same_cpu(p, ri, which)) {
		/* The peer last ran on our CPU. If it is not asleep (no waiter
		 * on the conditions it waits for), it is runnable there,
		 * preempted by us: let it run once, which is cheaper than a
		 * futex sleep and wake-up pair, and lets a sender fill the ring
		 * for a batch. If it sleeps, yielding would only hand our time
		 * to other processes. */
		if (shm_yield_pays(p, which) &&
		    !__atomic_load_n(&p->seg->ring[ri].ec[which ^ 1].waiters, __ATOMIC_RELAXED) &&
		    !__atomic_load_n(&p->seg->ring[ri ^ 1].ec[which].waiters, __ATOMIC_RELAXED)) {
			sched_yield();
			if (shm_ready(p, ri, which, need)) {
				p->yielded[which] = 1;
				return 0;
			}
		}
		spin = 0;
	} else if (spin == 0 && p->spin_max && (++p->misses[which] & 15) == 0)
		spin = p->spin_max;     /* now and then, see whether spinning pays again:
		                         * long enough to cover a sleeping peer's wake-up */
	if (spin > 0) {
		/* A sender short of space waits, while it spins, for an eighth of
		 * the ring: it then runs a while without touching the receivers'
		 * cache lines instead of trailing them message by message. */
		uint64_t want = which == EC_SPACE && need < p->cap / 8 ? p->cap / 8 : need;

		end = ipc__now_ns() + spin;
		for (i = 1;; i++) {
			shm_relax();
			if (shm_ready(p, ri, which, want)) {
				spin = p->spin[which] * 2 + SHM_SPIN_PROBE;
				p->spin[which] = spin > p->spin_max ? p->spin_max : spin;
				return 0;
			}
			if ((i & 15) == 0 && ipc__now_ns() >= end)
				break;
		}
		if (want != need && shm_ready(p, ri, which, need))
			return 0;   /* enough for this message after all */
		p->spin[which] /= 2;    /* the peer did not come in time: spin less */
		if (p->spin[which] < SHM_SPIN_PROBE)
			p->spin[which] = 0;
	}
	e = __atomic_load_n(&ec->epoch, __ATOMIC_ACQUIRE);
	__atomic_fetch_add(&ec->waiters, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(mine, 1, __ATOMIC_SEQ_CST);
	if (!shm_ready(p, ri, which, need) &&
	    __atomic_load_n(&p->seg->meta.departs, __ATOMIC_SEQ_CST) == departs &&
	    !atomic_load_explicit(&ch->shut, memory_order_acquire)) {
		if (deadline > 0) {
			int64_t left = deadline - ipc__now_ns();

			if (left < ns)
				ns = left > 0 ? left : 0;
		}
		if (ns > 0)
			shm_futex_wait(&ec->epoch, e, ns);
		*slept = __atomic_load_n(&ec->epoch, __ATOMIC_ACQUIRE) == e ? SHM_TIMEDOUT
		                                                             : SHM_WOKEN;
	}
	__atomic_fetch_sub(mine, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_sub(&ec->waiters, 1, __ATOMIC_SEQ_CST);
	if (atomic_load_explicit(&ch->shut, memory_order_acquire))
		return IPC_EOF;
	return ipc__expired(deadline);
}

/* Looking at a record holder's liveness costs a system call: do it after a
 * sleep that timed out, or at most every SHM_LIVE_NS otherwise. */
static int
shm_reap_due(struct shm_priv *p, int slept)
{
	int64_t now = shm_coarse_ns();

	if (slept != SHM_TIMEDOUT &&
	    now - __atomic_load_n(&p->reap_at, __ATOMIC_RELAXED) < SHM_LIVE_NS)
		return 0;
	__atomic_store_n(&p->reap_at, now, __ATOMIC_RELAXED);
	return 1;
}

/* The largest message every receiver of the other side takes: the smallest
 * limit its attachers published (the ring's size while there is none). The
 * cheap answer counts every slot that says it is of that side, and is kept
 * until someone attaches; @p exact asks the kernel who is alive, so that a
 * dead attacher's limit stops counting. */
static uint64_t
shm_peer_limit(struct shm_priv *p, int exact)
{
	struct shm_seg *seg = p->seg;
	uint32_t other = p->side == SIDE_A ? SIDE_B : SIDE_A;
	uint32_t at = __atomic_load_n(&seg->meta.attaches, __ATOMIC_ACQUIRE);
	uint64_t lim = p->cap - SHM_RECHDR;
	int ri = shm_txring(p);
	unsigned i;

	if (!exact && p->peer_max_ok && at == p->peer_max_at)
		return p->peer_max;
	for (i = 0; i < SHM_NSLOTS; i++) {
		uint64_t m;

		if (__atomic_load_n(&seg->slot[i].side, __ATOMIC_ACQUIRE) != other ||
		    (exact && !shm_byte_held(p->fd, i)))
			continue;
		m = __atomic_load_n(&seg->ring[ri].rxmax[i], __ATOMIC_RELAXED);
		if (m < lim)
			lim = m;
	}
	p->peer_max = lim;
	p->peer_max_at = at;
	p->peer_max_ok = 1;
	return lim;
}

static ssize_t
shm_send(ipc_channel *ch, const void *buf, size_t len, int timeout_ms)
{
	struct shm_priv *p = ch->priv;
	long long deadline = ipc_deadline(timeout_ms);
	int reap = 0, slept = 0, rc;
	ssize_t n;

	if ((rc = shm_enter(ch, EC_SPACE)) < 0)
		return rc;
	if (len > shm_peer_limit(p, 0) && len > shm_peer_limit(p, 1))
		return -EMSGSIZE;
	for (;;) {
		/* Taken before the liveness look: a departure after it makes
		 * shm_block() return at once instead of sleeping. */
		uint32_t departs = __atomic_load_n(&p->seg->meta.departs, __ATOMIC_SEQ_CST);

		/* A fresh look through the kernel after a sleep ran out, or
		 * when someone left since the cached answer. */
		if (shm_peer_gone(p, slept == SHM_TIMEDOUT))
			return -EPIPE;
		n = shm_try_send(ch, buf, len, deadline, reap);
		if (n != SHM_BLOCKED)
			return n;
		if ((rc = __atomic_load_n(&p->broken, __ATOMIC_RELAXED)) < 0)
			return rc;  /* a look while waiting found the segment broken */
		if (!reap && shm_reap_due(p, slept)) {
			reap = 1;   /* free what dead readers held, then retry */
			continue;
		}
		if ((rc = shm_block(ch, shm_txring(p), EC_SPACE, shm_need(len), departs,
		                    deadline, &slept)) < 0)
			return rc;
		reap = 0;
	}
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
		    shm_byte_held(p->fd, i))
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
static int
shm_rearm(struct shm_priv *p)
{
	char c;
	int ri = shm_rxring(p);

	while (recv(p->bellfd, &c, 1, MSG_DONTWAIT) >= 0)
		;
	if (!__atomic_exchange_n(&p->seg->slot[p->slot].bell, 1, __ATOMIC_SEQ_CST))
		__atomic_fetch_add(&p->seg->ring[ri].ec[EC_DATA].pollers, 1, __ATOMIC_SEQ_CST);
	shm_watch_peers(p);
	/* forced: the drain must see the end of a peer that just died */
	return shm_ready(p, ri, EC_DATA, 0) || shm_peer_gone(p, 1);
}

static ssize_t
shm_recv_common(ipc_channel *ch, void *buf, size_t cap, int peek, int timeout_ms)
{
	struct shm_priv *p = ch->priv;
	long long deadline = ipc_deadline(timeout_ms);
	int reap = 0, slept = 0, rearmed = 0, rc;
	ssize_t n;

	if ((rc = shm_enter(ch, EC_DATA)) < 0)
		return rc;
	for (;;) {
		uint32_t departs = __atomic_load_n(&p->seg->meta.departs, __ATOMIC_SEQ_CST);

		n = shm_try_recv(ch, buf, cap, peek, deadline, reap);
		if (n != SHM_BLOCKED)
			return n;
		if ((rc = __atomic_load_n(&p->broken, __ATOMIC_RELAXED)) < 0)
			return rc;  /* a look while waiting found the segment broken */
		if (!reap && shm_reap_due(p, slept)) {
			reap = 1;   /* skip records of writers that died, then retry */
			continue;
		}
		/* Nothing committed: an end when nobody is left to send. The
		 * check is made after the ring was seen empty, and a closing
		 * peer commits before it leaves, so nothing sent is lost. */
		if (shm_peer_gone(p, slept == SHM_TIMEDOUT)) {
			n = shm_try_recv(ch, buf, cap, peek, deadline, 1);
			return n == SHM_BLOCKED ? IPC_EOF : n;
		}
		rc = shm_block(ch, shm_rxring(p), EC_DATA, 0, departs, deadline, &slept);
		if (rc == -EAGAIN && p->bellfd >= 0 && !rearmed) {
			rearmed = 1;
			if (shm_rearm(p))
				continue;
		}
		if (rc < 0)
			return rc;
		reap = 0;
	}
}

static ssize_t
shm_recv(ipc_channel *ch, void *buf, size_t cap, int timeout_ms)
{
	return shm_recv_common(ch, buf, cap, 0, timeout_ms);
}

static ssize_t
shm_recv_size(ipc_channel *ch, int timeout_ms)
{
	return shm_recv_common(ch, NULL, 0, 1, timeout_ms);
}

static void
shm_shutdown(ipc_channel *ch)
{
	struct shm_priv *p = ch->priv;

	if (p->seg)
		shm_wake_all(p->seg);
}

/* --- doorbell for ipc_fd() --- */

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

static void
shm_ring_bells(struct shm_priv *p, int r)
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

static int
shm_fd(const ipc_channel *cch)
{
	ipc_channel *ch = (ipc_channel *)cch;
	struct shm_priv *p = ch->priv;
	struct epoll_event ev = { .events = EPOLLIN };
	struct sockaddr_un sa;
	socklen_t salen;
	int rc;

	if ((rc = shm_enter(ch, EC_DATA)) < 0)
		return rc;
	/* ipc_poll() asks for the descriptor each time: look at both rings */
	if ((rc = shm_ring_check(p, 0)) < 0 || (rc = shm_ring_check(p, 1)) < 0)
		return rc;
	if (p->epfd >= 0)
		return p->epfd;
	p->bellfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->bellfd < 0 || p->epfd < 0) {
		rc = -errno;
		shm_drop_events(p);
		return rc;
	}
	shm_bell_addr(p, (unsigned)p->slot, p->tag >> 7, &sa, &salen);
	ev.data.fd = p->bellfd;
	if (bind(p->bellfd, (struct sockaddr *)&sa, salen) < 0 ||
	    epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->bellfd, &ev) < 0) {
		rc = -errno;
		shm_drop_events(p);
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

/* A receive would answer at once: a committed message, or the end (only the
 * cheap look at the attach counts; never a system call). */
static int
shm_pending(const ipc_channel *ch)
{
	struct shm_priv *p = ch->priv;
	struct shm_meta *m;
	int other;

	if (!p->seg || __atomic_load_n(&p->broken, __ATOMIC_RELAXED))
		return p->seg != NULL;
	if (shm_ring_check(p, shm_rxring(p)) < 0)
		return 1;   /* the receive reports it */
	m = &p->seg->meta;
	other = p->side == SIDE_A ? SIDE_B : SIDE_A;
	if (shm_ready(p, shm_rxring(p), EC_DATA, 0))
		return 1;
	return __atomic_load_n(&m->ever[other], __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&m->live[other], __ATOMIC_ACQUIRE);
}

/* --- open / close --- */

static int
shm_name_ok(const char *name)
{
	size_t n = strlen(name);

	return name[0] == '/' && n >= 2 && n <= NAME_MAX && !strchr(name + 1, '/');
}

static int
shm_same_object(const char *name, int fd)
{
	struct stat a, b;
	int fd2 = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
	int same;

	if (fd2 < 0)
		return 0;
	same = fstat(fd, &a) == 0 && fstat(fd2, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
	close(fd2);
	return same;
}

/* Is @p m the header of a libipc segment of @p size bytes? */
static int
shm_meta_ok(const struct shm_meta *m, uint64_t size)
{
	return m->version == SHM_VERSION && m->hdr_size == SHM_HDR && m->nslots == SHM_NSLOTS &&
	       m->capacity >= SHM_MIN_CAP && m->capacity <= SHM_MAX_CAP &&
	       !(m->capacity & (m->capacity - 1)) && m->total == SHM_HDR + 2 * m->capacity &&
	       size == m->total;
}

/* The name exists. Remove it only when it is provably a libipc channel
 * nobody runs any more: a regular file of our uid, of a libipc size, whose
 * header is ours (published, or written in full by a creator that died just
 * before publishing it), and whose creator and every other side-A attacher
 * are dead (their locks are free). Anything else is -EEXIST and left alone:
 * another program's object, a FIFO, and also an empty or all-zero object,
 * which a creator that died before writing its header would leave, but which
 * cannot be told from someone else's. 0 means "try again". */
static int
shm_take_stale(const char *name)
{
	struct shm_seg *seg;
	struct shm_meta m;
	struct stat st;
	int fd, rc = 0;
	unsigned i;

	fd = shm_open(name, O_RDWR | O_CLOEXEC | O_NONBLOCK, 0);
	if (fd < 0)
		return errno == ENOENT ? 0 : -EEXIST;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_size < (off_t)(SHM_HDR + 2 * SHM_MIN_CAP) ||
	    st.st_size > (off_t)(SHM_HDR + 2 * (uint64_t)SHM_MAX_CAP) ||
	    shm_byte_lock(fd, 0, F_OFD_SETLK, F_WRLCK) < 0) {
		close(fd);
		return -EEXIST;
	}
	seg = mmap(NULL, SHM_HDR, PROT_READ, MAP_SHARED, fd, 0);
	if (seg == MAP_FAILED) {
		close(fd);
		return -EEXIST;
	}
	m.magic = __atomic_load_n(&seg->meta.magic, __ATOMIC_ACQUIRE);
	memcpy((char *)&m + sizeof(m.magic), (char *)&seg->meta + sizeof(m.magic),
	       sizeof(m) - sizeof(m.magic));
	if ((m.magic != SHM_MAGIC && m.magic != 0) || !shm_meta_ok(&m, (uint64_t)st.st_size))
		rc = -EEXIST;
	for (i = 1; i < SHM_NSLOTS && rc == 0; i++)
		if (__atomic_load_n(&seg->slot[i].side, __ATOMIC_ACQUIRE) == SIDE_A &&
		    shm_byte_held(fd, i))
			rc = -EEXIST;
	munmap(seg, SHM_HDR);
	if (rc == 0 && shm_same_object(name, fd))
		shm_unlink(name);
	close(fd);
	return rc;
}

/* The largest message we take, published in our slot's entry of the ring
 * we receive on. Without an explicit max_msg, half the ring (1 MiB with the
 * default capacity); an explicit one may go up to the whole ring. */
static void
shm_set_max(struct shm_priv *p, const ipc_options *opt)
{
	uint64_t whole = p->cap - SHM_RECHDR;

	if (opt->max_msg == IPC__DEFAULT_MAX_MSG)
		p->max_msg = p->cap / 2;
	else
		p->max_msg = opt->max_msg < whole ? opt->max_msg : whole;
}

static uint64_t
shm_random(void)
{
	uint64_t v = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, &v, sizeof(v)) != sizeof(v))
			v = 0;
		close(fd);
	}
	return v ^ (uint64_t)ipc__now_ns() ^ (uint64_t)getpid() << 32;
}

static size_t
shm_page(void)
{
	long n = sysconf(_SC_PAGESIZE);

	return n > 0 ? (size_t)n : 4096;
}

/* Map the segment with a PROT_NONE guard page after it: an access past the
 * end faults instead of reading whatever was mapped there. Page tables are
 * filled now, so no page fault comes in the middle of a message. */
static int
shm_map(struct shm_priv *p, size_t total)
{
	size_t guard = shm_page();
	void *at = mmap(NULL, total + guard, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (at == MAP_FAILED)
		return -errno;
	if (mmap(at, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_POPULATE,
	         p->fd, 0) == MAP_FAILED) {
		int rc = -errno;

		munmap(at, total + guard);
		return rc;
	}
	p->seg = at;
	p->size = total;
	return 0;
}

static int
shm_create(ipc_channel *ch, const ipc_options *opt)
{
	struct shm_priv *p = ch->priv;
	uint64_t cap = SHM_MIN_CAP;
	size_t total;
	int attempt, rc;

	if (opt->capacity > SHM_MAX_CAP)
		return -EINVAL;
	while (cap < opt->capacity)
		cap <<= 1;
	total = SHM_HDR + 2 * (size_t)cap;
	for (attempt = 0;; attempt++) {
		if (attempt == 8)
			return -EEXIST;
		p->fd = shm_open(p->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (p->fd < 0) {
			if (errno != EEXIST)
				return -errno;
			if ((rc = shm_take_stale(p->name)) < 0)
				return rc;
			continue;
		}
		/* Slot 0 is the creator's; a racer judging the new object stale
		 * may hold it for a moment: then start over. */
		if (shm_byte_lock(p->fd, 0, F_OFD_SETLK, F_WRLCK) == 0)
			break;
		close(p->fd);
		p->fd = -1;
	}
	p->created = 1;
	if (fchmod(p->fd, opt->mode) < 0 || ftruncate(p->fd, (off_t)total) < 0)
		return -errno;
	if ((rc = posix_fallocate(p->fd, 0, (off_t)total)) != 0)
		return -rc;
	if ((rc = shm_map(p, total)) < 0)
		return rc;
	p->cap = cap;
	p->mask = cap - 1;
	shm_set_max(p, opt);
	p->seg->ring[1].rxmax[0] = (uint32_t)p->max_msg;
	p->seg->meta.version = SHM_VERSION;
	p->seg->meta.hdr_size = SHM_HDR;
	p->seg->meta.nslots = SHM_NSLOTS;
	p->seg->meta.capacity = cap;
	p->seg->meta.total = total;
	p->seg->meta.bellkey = shm_random();
	/* Slot 0's lock is already ours. */
	p->seg->slot[0].gen = 1;
	p->seg->slot[0].pid = (uint32_t)getpid();
	p->seg->slot[0].side = SIDE_A;
	p->slot = 0;
	p->tag = 1u << 7;
	p->side = SIDE_A;
	p->slot_pid = getpid();
	p->seg->meta.ever[SIDE_A] = 1;
	p->seg->meta.live[SIDE_A] = 1;
	if (ipc__crash_at("shm-create-init"))
		_exit(99);
	__atomic_store_n(&p->seg->meta.magic, SHM_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

static int
shm_attach(ipc_channel *ch, const ipc_options *opt)
{
	struct shm_priv *p = ch->priv;
	long long deadline = ipc_deadline(opt->open_timeout_ms);
	struct timespec nap = { 0, 100000 };
	struct shm_seg *hdr = NULL;
	struct shm_meta m;
	struct stat st;
	unsigned n;
	int rc;

	if ((p->fd = shm_open(p->name, O_RDWR | O_CLOEXEC, 0)) < 0)
		return -errno;
	for (n = 1;; n++) {
		if (fstat(p->fd, &st) < 0)
			return -errno;
		if (!S_ISREG(st.st_mode))
			return -ENOTSUP;
		if (st.st_uid != geteuid() && st.st_uid != 0)
			return -EACCES;
		if (!hdr && st.st_size >= (off_t)SHM_HDR) {
			hdr = mmap(NULL, SHM_HDR, PROT_READ, MAP_SHARED, p->fd, 0);
			if (hdr == MAP_FAILED)
				return -errno;
		}
		if (hdr && __atomic_load_n(&hdr->meta.magic, __ATOMIC_ACQUIRE) == SHM_MAGIC)
			break;
		/* Not initialised yet. Its creator may have died half-way and
		 * another taken the name over: follow the name. */
		if ((n & 15) == 0 && !shm_same_object(p->name, p->fd)) {
			int fd = shm_open(p->name, O_RDWR | O_CLOEXEC, 0);

			if (fd >= 0) {
				close(p->fd);
				p->fd = fd;
				if (hdr)
					munmap(hdr, SHM_HDR);
				hdr = NULL;
				continue;
			}
		}
		if (atomic_load_explicit(&ch->shut, memory_order_acquire))
			rc = IPC_EOF;
		else if (deadline > 0 && ipc__now_ns() + nap.tv_nsec >= deadline)
			rc = -ETIMEDOUT;
		else
			rc = 0;
		if (rc) {
			if (hdr)
				munmap(hdr, SHM_HDR);
			return rc;
		}
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 10000000)
			nap.tv_nsec *= 2;
	}
	memcpy(&m, &hdr->meta, sizeof(m));
	munmap(hdr, SHM_HDR);
	if (fstat(p->fd, &st) < 0 || !shm_meta_ok(&m, (uint64_t)st.st_size))
		return -EPROTO;
	if ((rc = shm_map(p, (size_t)m.total)) < 0)
		return rc;
	p->cap = m.capacity;
	p->mask = m.capacity - 1;
	shm_set_max(p, opt);
	if ((rc = shm_claim_slot(p, SIDE_B, 1)) < 0)
		return rc;
	/* Event loops on side A look at their peers again: watch this one. */
	if (__atomic_load_n(&p->seg->ring[shm_txring(p)].ec[EC_DATA].pollers,
	                    __ATOMIC_SEQ_CST))
		shm_ring_bells(p, shm_txring(p));
	return 0;
}


static int
shm_ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

static int
shm_open_ch(ipc_channel *ch, const char *addr, int flags, const ipc_options *opt)
{
	struct shm_priv *p = ch->priv;
	int rc;

	p->fd = -1;
	p->bellfd = -1;
	p->bellout = -1;
	p->epfd = -1;
	for (rc = 0; rc < (int)SHM_NSLOTS; rc++)
		p->pidfd[rc] = -1;
	p->slot = -1;
	if (flags & (IPC_RAW | IPC_ANY_UID))
		return -EINVAL;
	if (!shm_name_ok(addr))
		return -EINVAL;
	if (!(p->name = strdup(addr)))
		return -ENOMEM;
	pthread_once(&shm_once, shm_init_once);
	p->child_fd = -1;
	p->spin_max = shm_ncpus() > 1 ? SHM_SPIN_MAX : 0;
	p->cpu[0] = p->cpu[1] = -1;
	p->spin[0] = p->spin[1] = p->spin_max;
	p->wait_ns = SHM_WAIT_NS;
#ifdef IPC_TEST_HOOKS
	/* Test builds only: lengthen the sleeps so that a lost wake-up shows
	 * as a timeout instead of being covered by the liveness re-check. */
	if (getenv("IPC_SHM_TEST_WAIT_MS"))
		p->wait_ns = atoll(getenv("IPC_SHM_TEST_WAIT_MS")) * 1000000;
	if (p->wait_ns <= 0)
		p->wait_ns = SHM_WAIT_NS;
#endif
	if ((p->bellout = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	rc = flags & IPC_CREATE ? shm_create(ch, opt) : shm_attach(ch, opt);
	if (rc == 0) {
		pthread_mutex_lock(&shm_list_lock);
		p->next = shm_list;
		shm_list = p;
		p->listed = 1;
		pthread_mutex_unlock(&shm_list_lock);
	}
	return rc;
}

static void
shm_close(ipc_channel *ch)
{
	struct shm_priv *p = ch->priv;
	int own = !ipc_channel_foreign(ch);

	if (p->listed) {
		struct shm_priv **pp;

		pthread_mutex_lock(&shm_list_lock);
		for (pp = &shm_list; *pp; pp = &(*pp)->next)
			if (*pp == p) {
				*pp = p->next;
				break;
			}
		pthread_mutex_unlock(&shm_list_lock);
		p->listed = 0;
	}
	/* The slot belongs to the process that claimed it: the opener, or a
	 * forked child (see shm_fork_prepare). A child that could not get one
	 * has none (slot -1). */
	if (p->seg && p->slot >= 0 && p->slot_pid == getpid())
		shm_release_slot(p);
	if (p->created && own && p->fd >= 0 && shm_same_object(p->name, p->fd))
		shm_unlink(p->name);
	if (p->seg)
		munmap(p->seg, p->size + shm_page());
	if (p->fd >= 0)
		close(p->fd);
	shm_drop_events(p);
	if (p->bellout >= 0)
		close(p->bellout);
	p->bellout = -1;
	free(p->name);
	p->seg = NULL;
	p->fd = -1;
	p->name = NULL;
}

const struct ipc_driver ipc__drv_shm = {
	.abi       = IPC_DRIVER_ABI,
	.scheme    = "shm",
	.priv_size = sizeof(struct shm_priv),
	.open      = shm_open_ch,
	.send      = shm_send,
	.recv      = shm_recv,
	.recv_size = shm_recv_size,
	.fd        = shm_fd,
	.pending   = shm_pending,
	.shutdown  = shm_shutdown,
	.close     = shm_close,
};
