/* shm: waiting. Futex eventcounts per ring and condition, the lock-free
 * "would a retry progress" look, and the spin / yield / sleep policy. See
 * doc/ipc-shm.7, "Waiting". */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"

static void
shm_futex_wait(uint32_t *w, uint32_t v, int64_t ns)
{
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };

	syscall(SYS_futex, w, FUTEX_WAIT, v, &ts, NULL, 0);
}

#if defined(__SANITIZE_THREAD__)
#define SHM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHM_TSAN 1
#endif
#endif

static void
shm_futex_wake(uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Publish-then-notify: the caller's stores are ordered before the read of the
 * waiter count by the fence, pairing with the waiter's locked increment. */
void
ipc__shm_notify(struct shm_priv *p, int r, int which)
{
	struct shm_ec *ec = &p->seg->ring[r].ec[which];

#ifdef SHM_TSAN
	/* ThreadSanitizer does not model fences: the same order through a
	 * read-modify-write it understands (slower: it takes the line). */
	if (__atomic_fetch_add(&ec->waiters, 0, __ATOMIC_SEQ_CST)) {
#else
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&ec->waiters, __ATOMIC_RELAXED)) {
#endif
		__atomic_fetch_add(&ec->epoch, 1, __ATOMIC_SEQ_CST);
		shm_futex_wake(&ec->epoch);
	}
	if (which == EC_DATA && __atomic_load_n(&ec->pollers, __ATOMIC_RELAXED))
		ipc__shm_ring_bells(p, r);
	/* Room freed on ring r for a poller (poll.c): its senders receive on
	 * the other ring, and their doorbells are the ones armed there. */
	if (which == EC_SPACE && __atomic_load_n(&ec->pollers, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&ec->pollers, 0, __ATOMIC_SEQ_CST))
		ipc__shm_ring_bells(p, r ^ 1);
}

void
ipc__shm_wake_all(struct shm_seg *seg)
{
	int r, k;

	for (r = 0; r < 2; r++)
		for (k = 0; k < 2; k++) {
			__atomic_fetch_add(&seg->ring[r].ec[k].epoch, 1, __ATOMIC_SEQ_CST);
			shm_futex_wake(&seg->ring[r].ec[k].epoch);
		}
}

/* Would a retry make progress? Read-only but for the verdict on a broken
 * ring; every offset is checked before it is used. */
int
ipc__shm_ready(struct shm_priv *p, int ri, int which, uint64_t need)
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
		return t + need - ipc__shm_free_limit(p, ri, h, rp, 0) <= p->cap;
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
int
ipc__shm_block(ipc_channel *ch, int ri, int which, uint64_t need, uint32_t departs,
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
			if (ipc__shm_ready(p, ri, which, need)) {
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
			if (ipc__shm_ready(p, ri, which, want)) {
				spin = p->spin[which] * 2 + SHM_SPIN_PROBE;
				p->spin[which] = spin > p->spin_max ? p->spin_max : spin;
				return 0;
			}
			if ((i & 15) == 0 && ipc__now_ns() >= end)
				break;
		}
		if (want != need && ipc__shm_ready(p, ri, which, need))
			return 0;   /* enough for this message after all */
		p->spin[which] /= 2;    /* the peer did not come in time: spin less */
		if (p->spin[which] < SHM_SPIN_PROBE)
			p->spin[which] = 0;
	}
	e = __atomic_load_n(&ec->epoch, __ATOMIC_ACQUIRE);
	__atomic_fetch_add(&ec->waiters, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(mine, 1, __ATOMIC_SEQ_CST);
	if (!ipc__shm_ready(p, ri, which, need) &&
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
int
ipc__shm_reap_due(struct shm_priv *p, int slept)
{
	int64_t now = shm_coarse_ns();

	if (slept != SHM_TIMEDOUT &&
	    now - __atomic_load_n(&p->reap_at, __ATOMIC_RELAXED) < SHM_LIVE_NS)
		return 0;
	__atomic_store_n(&p->reap_at, now, __ATOMIC_RELAXED);
	return 1;
}
