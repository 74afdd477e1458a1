/* shm: the rings. Records, the reservation and claim locks whose holder
 * may die, claims and reaping, the copies in and out, and the peer's
 * max_msg. See doc/ipc-shm.7, "Layout" and "Crashes". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"

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
			if ((rc = ipc__shm_tag_alive(p, cur)) < 0)
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
uint64_t
ipc__shm_free_limit(struct shm_priv *p, int ri, uint64_t h, uint64_t rp, int reap)
{
	uint64_t limit = rp;
	unsigned i;

	for (i = 0; i < SHM_NSLOTS; i++) {
		uint64_t c = __atomic_load_n(&p->seg->claim[i], __ATOMIC_ACQUIRE), pos = c & ~7ull;

		if (!(c & 1) || ((c >> 1) & 3) != (uint64_t)ri || pos < h || pos >= limit)
			continue;
		/* Our own slot (the other thread of this channel) is alive; any
		 * other holder is dead only when no description holds its lock. */
		if (reap && (int)i != p->slot && !ipc__shm_byte_held(p->fd, i)) {
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
	limit = ipc__shm_free_limit(p, ri, h, rp, reap);
	if (limit > h)
		__atomic_store_n(&r->head, limit, __ATOMIC_RELEASE);
	return 0;
}

/* Reserve records for as many of @p msgs as fit whole, in order, under one
 * plock with one publication of the tail: their headers say WRITING with
 * our tag, so a receiver skips them if we die before committing. Space is
 * reclaimed at most once per call. Returns how many (>= 1) with *@p at the
 * first one's position, SHM_BLOCKED when not even the first fits, or a
 * negative code. Every send reserves here: ipc_send, batches, loans. */
ssize_t
ipc__shm_reserve(ipc_channel *ch, const struct iovec *msgs, size_t n, long long deadline,
                 int reap, uint64_t *at)
{
	struct shm_priv *p = ch->priv;
	int ri = shm_txring(p);
	struct shm_ring *r = &p->seg->ring[ri];
	unsigned char *ring = shm_data(p, ri);
	uint64_t tail, head, end;
	int rc, reclaimed = 0;
	size_t k;

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
	for (k = 0, end = tail; k < n; k++) {
		uint64_t need = shm_need(msgs[k].iov_len);

		if (end + need - head > p->cap) {
			/* Free what receivers are done with, once per call. */
			if (reclaimed)
				break;
			if (shm_reclaim(p, ri, tail, reap) < 0) {
				shm_unlock(&r->plock);
				return shm_proto(p);
			}
			reclaimed = 1;
			head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
			if (end + need - head > p->cap)
				break;
		}
		/* Headers of records beyond the published tail: nobody reads
		 * them before the tail below covers them. */
		__atomic_store_n(shm_rlen(p, ring, end), (uint32_t)msgs[k].iov_len,
		                 __ATOMIC_RELAXED);
		__atomic_store_n(shm_rstate(p, ring, end), p->tag << 3 | R_WRITING,
		                 __ATOMIC_RELAXED);
		end += need;
	}
	if (k == 0) {
		shm_unlock(&r->plock);
		return SHM_BLOCKED;
	}
	if (p->spin_max && __atomic_load_n(&r->pcpu, __ATOMIC_RELAXED) != (uint32_t)p->cpu[EC_SPACE])
		__atomic_store_n(&r->pcpu, (uint32_t)p->cpu[EC_SPACE], __ATOMIC_RELAXED);
	__atomic_store_n(&r->tail, end, __ATOMIC_RELEASE);
	shm_unlock(&r->plock);
	*at = tail;
	return (ssize_t)k;
}

ssize_t
ipc__shm_try_send(ipc_channel *ch, const void *buf, size_t len, long long deadline, int reap)
{
	struct shm_priv *p = ch->priv;
	int ri = shm_txring(p);
	unsigned char *ring = shm_data(p, ri);
	struct iovec one = { (void *)buf, len };
	uint64_t tail;
	ssize_t k;

	if ((k = ipc__shm_reserve(ch, &one, 1, deadline, reap, &tail)) < 0)
		return k;
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
	ipc__shm_notify(p, ri, EC_DATA);
	p->done[EC_SPACE]++;
	return (ssize_t)len;
}

/* Many messages under one reservation (each within the peer's limit: the
 * caller checked), then copied and committed one by one, so that receivers
 * may start on the first while the rest are copied; one notify at the end.
 * Returns how many (>= 1), SHM_BLOCKED when not even the first fits, or a
 * negative code. A sender that dies after the tail moved leaves WRITING
 * records, which receivers skip (shm_next). */
ssize_t
ipc__shm_try_send_batch(ipc_channel *ch, const struct iovec *msgs, size_t n,
                        long long deadline, int reap)
{
	struct shm_priv *p = ch->priv;
	int ri = shm_txring(p);
	unsigned char *ring = shm_data(p, ri);
	uint64_t pos;
	ssize_t k, i;

	if ((k = ipc__shm_reserve(ch, msgs, n, deadline, reap, &pos)) < 0)
		return k;
	if (ipc__crash_at("shm-batch-reserved"))
		_exit(99);
	/* Positions come from our own lengths, never from the segment. */
	for (i = 0; i < k; i++) {
		shm_put(p, ring, pos + SHM_RECHDR, msgs[i].iov_base, msgs[i].iov_len);
		__atomic_store_n(shm_rstate(p, ring, pos), R_COMMITTED, __ATOMIC_RELEASE);
		pos += shm_need(msgs[i].iov_len);
		if (i + 1 < k && ipc__crash_at("shm-batch-midcommit"))
			_exit(99);
	}
	ipc__shm_notify(p, ri, EC_DATA);
	p->done[EC_SPACE] += (unsigned)k;
	return k;
}

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
			if ((alive = ipc__shm_tag_alive(p, st >> 3)) < 0)
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

ssize_t
ipc__shm_try_recv(ipc_channel *ch, void *buf, size_t cap, int peek, long long deadline, int reap)
{
	struct shm_priv *p = ch->priv;
	int ri = shm_rxring(p);
	struct shm_ring *r = &p->seg->ring[ri];
	unsigned char *ring = shm_data(p, ri);
	uint64_t pos, need;
	int len, rc, loaned;

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
			ipc__shm_notify(p, ri, EC_SPACE);    /* abandoned records may be freed */
		return len;
	}
	if (peek || (size_t)len > cap) {
		shm_unlock(&r->clock);
		return peek ? len : -EMSGSIZE;
	}
	if (p->spin_max && __atomic_load_n(&r->ccpu, __ATOMIC_RELAXED) != (uint32_t)p->cpu[EC_DATA])
		__atomic_store_n(&r->ccpu, (uint32_t)p->cpu[EC_DATA], __ATOMIC_RELAXED);
	/* The claim is visible before the read position moves past it. A
	 * receive loan's claim (loan.c) lies below this record and covers it
	 * too: the slot's one claim word is left to the loan. */
	loaned = __atomic_load_n(&p->loan[EC_DATA].state, __ATOMIC_RELAXED) == LOAN_OUT;
	if (!loaned)
		__atomic_store_n(&p->seg->claim[p->slot], shm_claim_word(pos, ri),
		                 __ATOMIC_RELAXED);
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
	if (!loaned)
		__atomic_store_n(&p->seg->claim[p->slot], 0, __ATOMIC_RELEASE);
	ipc__shm_notify(p, ri, EC_SPACE);
	p->done[EC_DATA]++;
	return len;
}

/* Up to @p n committed records in one claim: under one clock, each found
 * and checked by shm_next() (which also skips abandoned records), the read
 * position moved past each; one claim word, for the first record's position,
 * pins everything from there until the copies are done (see
 * ipc__shm_free_limit). The walk stops at a record not committed yet, at one
 * too big for its buffer (-EMSGSIZE when it is the first), or at
 * SHM_RBATCH_MAX. A broken record after the first ends the batch; the
 * channel is then broken, and the next call says so. */
ssize_t
ipc__shm_try_recv_batch(ipc_channel *ch, struct iovec *msgs, size_t n, long long deadline,
                        int reap)
{
	struct shm_priv *p = ch->priv;
	int ri = shm_rxring(p);
	struct shm_ring *r = &p->seg->ring[ri];
	unsigned char *ring = shm_data(p, ri);
	uint64_t at[SHM_RBATCH_MAX], pos, need;
	size_t k, i;
	int len, rc, loaned;

	if (n > SHM_RBATCH_MAX)
		n = SHM_RBATCH_MAX;
	if (!reap) {
		uint64_t rp = __atomic_load_n(&r->rpos, __ATOMIC_RELAXED);

		if (rp == shm_rx_tail(p, r, rp))
			return SHM_BLOCKED;
	}
	if ((rc = shm_lock(ch, &r->clock, deadline)) < 0)
		return rc;
	len = shm_next(p, r, ring, &pos, &need, reap);
	if (len < 0) {
		shm_unlock(&r->clock);
		if (len == -EPROTO)
			return shm_proto(p);
		if (reap)
			ipc__shm_notify(p, ri, EC_SPACE);    /* abandoned records may be freed */
		return len;
	}
	if ((size_t)len > msgs[0].iov_len) {
		shm_unlock(&r->clock);
		return -EMSGSIZE;
	}
	if (p->spin_max && __atomic_load_n(&r->ccpu, __ATOMIC_RELAXED) != (uint32_t)p->cpu[EC_DATA])
		__atomic_store_n(&r->ccpu, (uint32_t)p->cpu[EC_DATA], __ATOMIC_RELAXED);
	/* The claim is visible before the read position moves past the first;
	 * a receive loan's claim (loan.c) lies below and covers them all. */
	loaned = __atomic_load_n(&p->loan[EC_DATA].state, __ATOMIC_RELAXED) == LOAN_OUT;
	if (!loaned)
		__atomic_store_n(&p->seg->claim[p->slot], shm_claim_word(pos, ri),
		                 __ATOMIC_RELAXED);
	for (k = 0;;) {
		at[k] = pos;
		msgs[k].iov_len = (size_t)len;
		__atomic_store_n(&r->rpos, pos + need, __ATOMIC_RELEASE);
		if (++k == n)
			break;
		len = shm_next(p, r, ring, &pos, &need, reap);
		if (len == -EPROTO) {
			shm_proto(p);
			break;
		}
		if (len < 0 || (size_t)len > msgs[k].iov_len)
			break;
	}
	shm_unlock(&r->clock);
	if (ipc__crash_at("shm-rbatch-claimed"))
		_exit(99);
	for (i = 0; i < k; i++)
		shm_get(p, ring, at[i] + SHM_RECHDR, msgs[i].iov_base, msgs[i].iov_len);
	/* Release: every read of the records is done before the space goes. */
	if (!loaned)
		__atomic_store_n(&p->seg->claim[p->slot], 0, __ATOMIC_RELEASE);
	ipc__shm_notify(p, ri, EC_SPACE);
	p->done[EC_DATA] += (unsigned)k;
	return (ssize_t)k;
}

/* The largest message every receiver of the other side takes: the smallest
 * limit its attachers published (the ring's size while there is none). The
 * cheap answer counts every slot that says it is of that side, and is kept
 * until someone attaches; @p exact asks the kernel who is alive, so that a
 * dead attacher's limit stops counting. */
uint64_t
ipc__shm_peer_limit(struct shm_priv *p, int exact)
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
		    (exact && !ipc__shm_byte_held(p->fd, i)))
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

/* For loan.c, which takes the same steps as the copying calls. */
int
ipc__shm_lock(ipc_channel *ch, uint32_t *lk, long long deadline)
{
	return shm_lock(ch, lk, deadline);
}

void
ipc__shm_unlock(uint32_t *lk)
{
	shm_unlock(lk);
}

int
ipc__shm_next(struct shm_priv *p, struct shm_ring *r, unsigned char *ring, uint64_t *pos,
              uint64_t *needp, int reap)
{
	return shm_next(p, r, ring, pos, needp, reap);
}

uint64_t
ipc__shm_claim_word(uint64_t pos, int ri)
{
	return shm_claim_word(pos, ri);
}
