/* shm driver, private to lib/drivers/shm/: the segment layout (see
 * doc/ipc-shm.7, "Layout"), the per-channel state, and what the files of the
 * driver share. */
#ifndef IPC_SHM_H
#define IPC_SHM_H

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "../../ipc-private.h"

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
#define SHM_RBATCH_MAX 256              /* records one receive claim takes at most */

enum { SIDE_A = 1, SIDE_B = 2 };
enum { R_WRITING = 1, R_COMMITTED, R_ABANDONED = 5 };
enum { EC_DATA = 0, EC_SPACE = 1 };

/* A loan's state (loan.c), changed only by compare-and-swap: two threads
 * racing for one find it taken (-EBUSY), never both win. */
enum { LOAN_FREE = 0, LOAN_BUSY, LOAN_OUT };

struct shm_loan {
	int            state;   /* LOAN_*; the rest is valid while LOAN_OUT */
	uint64_t       pos;     /* the record's position in its ring */
	size_t         len;     /* reserved (send) or message (receive) length */
	unsigned char *buf;     /* what the caller was given */
};

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
	size_t           size;       /* mapping length (without the guard page) */
	uint64_t         cap, mask;  /* our own copies, never re-read */
	uint64_t         stride;     /* ring r's data: SHM_HDR + r * stride */
	int              mirrored;   /* each ring mapped twice (segment.c) */
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
	/* By direction, as spin[]: EC_DATA the receive loan, EC_SPACE the
	 * send loan (loan.c). */
	struct shm_loan  loan[2];
};

/* --- small helpers every file uses --- */

static inline void
shm_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static inline unsigned char *
shm_data(const struct shm_priv *p, int r)
{
	return (unsigned char *)p->seg + SHM_HDR + (size_t)r * p->stride;
}

static inline int
shm_txring(const struct shm_priv *p)
{
	return p->side == SIDE_A ? 0 : 1;
}

static inline int
shm_rxring(const struct shm_priv *p)
{
	return p->side == SIDE_A ? 1 : 0;
}

static inline int64_t
shm_coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int
shm_enter(ipc_channel *ch, int dir)
{
	struct shm_priv *p = ch->priv;

	if (p->spin_max)
		p->cpu[dir] = sched_getcpu();
	return __atomic_load_n(&p->broken, __ATOMIC_RELAXED);
}

static inline int
shm_proto(struct shm_priv *p)
{
	__atomic_store_n(&p->broken, -EPROTO, __ATOMIC_RELAXED);
	return -EPROTO;
}

static inline uint32_t *
shm_rstate(struct shm_priv *p, unsigned char *ring, uint64_t pos)
{
	return (uint32_t *)(void *)(ring + (pos & p->mask));
}

static inline uint32_t *
shm_rlen(struct shm_priv *p, unsigned char *ring, uint64_t pos)
{
	return (uint32_t *)(void *)(ring + (pos & p->mask) + 4);
}

static inline uint64_t
shm_need(uint64_t len)
{
	return SHM_RECHDR + ((len + 7) & ~(uint64_t)7);
}

/* segment.c: the object, its header, checks */
int ipc__shm_ring_check(struct shm_priv *p, int ri);
int ipc__shm_name_ok(const char *name);
int ipc__shm_same_object(const char *name, int fd);
size_t ipc__shm_page(void);
int ipc__shm_create(ipc_channel *ch, const ipc_options *opt);
int ipc__shm_attach(ipc_channel *ch, const ipc_options *opt);

/* slot.c: attachers and liveness */
void ipc__shm_list_add(struct shm_priv *p);
void ipc__shm_list_remove(struct shm_priv *p);
int ipc__shm_byte_lock(int fd, unsigned i, int cmd, short type);
int ipc__shm_byte_held(int fd, unsigned i);
int ipc__shm_tag_alive(struct shm_priv *p, uint32_t tag);
int ipc__shm_peer_gone(struct shm_priv *p, int force);
int ipc__shm_claim_slot(struct shm_priv *p, int side, unsigned first);
void ipc__shm_release_slot(struct shm_priv *p);

/* ring.c: records, locks, claims, copies */
uint64_t ipc__shm_free_limit(struct shm_priv *p, int ri, uint64_t h, uint64_t rp, int reap);
ssize_t ipc__shm_try_send(ipc_channel *ch, const void *buf, size_t len, long long deadline, int reap);
ssize_t ipc__shm_try_recv(ipc_channel *ch, void *buf, size_t cap, int peek, long long deadline, int reap);
ssize_t ipc__shm_try_send_batch(ipc_channel *ch, const struct iovec *msgs, size_t n,
                                long long deadline, int reap);
ssize_t ipc__shm_try_recv_batch(ipc_channel *ch, struct iovec *msgs, size_t n,
                                long long deadline, int reap);
uint64_t ipc__shm_peer_limit(struct shm_priv *p, int exact);
/* ring.c, for loan.c: the copying calls' own steps */
int ipc__shm_lock(ipc_channel *ch, uint32_t *lk, long long deadline);
void ipc__shm_unlock(uint32_t *lk);
ssize_t ipc__shm_reserve(ipc_channel *ch, const struct iovec *msgs, size_t n, long long deadline,
                         int reap, uint64_t *at);
int ipc__shm_next(struct shm_priv *p, struct shm_ring *r, unsigned char *ring, uint64_t *pos,
                  uint64_t *needp, int reap);
uint64_t ipc__shm_claim_word(uint64_t pos, int ri);

/* loan.c: zero-copy loans, the driver's ops */
ssize_t ipc__shm_send_reserve(ipc_channel *ch, void **buf, size_t len, int timeout_ms);
int ipc__shm_send_commit(ipc_channel *ch, void *buf, size_t len);
int ipc__shm_send_abort(ipc_channel *ch, void *buf);
ssize_t ipc__shm_recv_peek(ipc_channel *ch, const void **buf, int timeout_ms);
int ipc__shm_recv_release(ipc_channel *ch, const void *buf);
void ipc__shm_loans_close(struct shm_priv *p);

/* wait.c: eventcounts and the wait policy */
void ipc__shm_notify(struct shm_priv *p, int r, int which);
void ipc__shm_wake_all(struct shm_seg *seg);
int ipc__shm_ready(struct shm_priv *p, int ri, int which, uint64_t need);
int ipc__shm_block(ipc_channel *ch, int ri, int which, uint64_t need, uint32_t departs,
          long long deadline, int *slept);
int ipc__shm_reap_due(struct shm_priv *p, int slept);

/* bell.c: the doorbell */
void ipc__shm_drop_events(struct shm_priv *p);
int ipc__shm_rearm(struct shm_priv *p);
void ipc__shm_ring_bells(struct shm_priv *p, int r);
int ipc__shm_fd(ipc_channel *ch);
/* poll.c: the poll op */
short ipc__shm_poll(ipc_channel *ch, short events, struct ipc_poll_wait *w);

#endif
