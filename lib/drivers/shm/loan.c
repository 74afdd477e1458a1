/* shm: zero-copy loans. A send loan is a record reserved as a send reserves
 * it (WRITING, with our tag) and handed to the caller to fill; a receive
 * loan is a record claimed as a receive claims it (claim word, read
 * position moved past it) and handed to the caller to read. No lock is
 * held while a loan is out. The mirror mapping (segment.c) makes every
 * record one contiguous range. See doc/ipc-shm.7, "Loans". */
#include <errno.h>
#include <unistd.h>

#include "shm.h"

/* Take the loan of one direction, or -EBUSY when it is out or being taken. */
static int
loan_take(struct shm_loan *l)
{
	int free_ = LOAN_FREE;

	return __atomic_compare_exchange_n(&l->state, &free_, LOAN_BUSY, 0, __ATOMIC_ACQUIRE,
	                                   __ATOMIC_RELAXED) ? 0 : -EBUSY;
}

static void
loan_put(struct shm_loan *l, int state)
{
	__atomic_store_n(&l->state, state, __ATOMIC_RELEASE);
}

/* Take back the loan that lent @p buf: -EINVAL when none is out or @p buf is
 * not its pointer (it stays out). */
static int
loan_back(struct shm_loan *l, const void *buf)
{
	int out = LOAN_OUT;

	if (!__atomic_compare_exchange_n(&l->state, &out, LOAN_BUSY, 0, __ATOMIC_ACQUIRE,
	                                 __ATOMIC_RELAXED))
		return -EINVAL;
	if (l->buf != buf) {
		loan_put(l, LOAN_OUT);
		return -EINVAL;
	}
	return 0;
}

/* shm_enter() for a loan's holder: the segment's verdict, or -EOPNOTSUPP
 * where the rings are not mirrored (segment.c). */
static int
loan_enter(ipc_channel *ch, int dir)
{
	struct shm_priv *p = ch->priv;
	int rc = shm_enter(ch, dir);

	if (rc == 0 && !p->mirrored)
		rc = -EOPNOTSUPP;
	return rc;
}

/* Where the caller's bytes of the record at @p pos start: the record never
 * ends past the ring's second mapping (pos & mask < cap, the record is at
 * most cap bytes). */
static unsigned char *
loan_ptr(struct shm_priv *p, int ri, uint64_t pos)
{
	return shm_data(p, ri) + ((pos + SHM_RECHDR) & p->mask);
}

ssize_t
ipc__shm_send_reserve(ipc_channel *ch, void **buf, size_t len, int timeout_ms)
{
	struct shm_priv *p = ch->priv;
	struct shm_loan *l = &p->loan[EC_SPACE];
	long long deadline = ipc_deadline(timeout_ms);
	int reap = 0, slept = 0, rc;
	uint64_t pos = 0;
	ssize_t n;

	/* The loan first: only its holder touches the direction's state. */
	if ((rc = loan_take(l)) < 0)
		return rc;
	if ((rc = loan_enter(ch, EC_SPACE)) == 0 && len > ipc__shm_peer_limit(p, 0) &&
	    len > ipc__shm_peer_limit(p, 1))
		rc = -EMSGSIZE;
	if (rc < 0) {
		loan_put(l, LOAN_FREE);
		return rc;
	}
	/* The wait of shm_send() (shm.c), around a reservation. */
	for (;;) {
		uint32_t departs = __atomic_load_n(&p->seg->meta.departs, __ATOMIC_SEQ_CST);

		if (ipc__shm_peer_gone(p, slept == SHM_TIMEDOUT)) {
			n = -EPIPE;
			break;
		}
		n = ipc__shm_reserve(ch, &(struct iovec){ NULL, len }, 1, deadline, reap, &pos);
		if (n > 0)
			n = (ssize_t)len;
		if (n != SHM_BLOCKED)
			break;
		if ((rc = __atomic_load_n(&p->broken, __ATOMIC_RELAXED)) < 0) {
			n = rc;
			break;
		}
		if (!reap && ipc__shm_reap_due(p, slept)) {
			reap = 1;
			continue;
		}
		if ((rc = ipc__shm_block(ch, shm_txring(p), EC_SPACE, shm_need(len), departs,
		                         deadline, &slept)) < 0) {
			n = rc;
			break;
		}
		reap = 0;
	}
	if (n < 0) {
		loan_put(l, LOAN_FREE);
		return n;
	}
	l->pos = pos;
	l->len = len;
	l->buf = loan_ptr(p, shm_txring(p), pos);
	*buf = l->buf;
	loan_put(l, LOAN_OUT);
	if (ipc__crash_at("shm-loan-reserved"))
		_exit(99);
	return n;
}

/* The record is abandoned as a dead writer's would be: never delivered.
 * Receivers waiting behind it are woken to step over it. */
static void
loan_abandon(struct shm_priv *p, struct shm_loan *l)
{
	int ri = shm_txring(p);

	__atomic_store_n(shm_rstate(p, shm_data(p, ri), l->pos), R_ABANDONED, __ATOMIC_RELEASE);
	ipc__shm_notify(p, ri, EC_DATA);
}

/* The record's length is the committed one; what is left of the reserved
 * space becomes an ABANDONED filler record, which receivers step over. */
int
ipc__shm_send_commit(ipc_channel *ch, void *buf, size_t len)
{
	struct shm_priv *p = ch->priv;
	struct shm_loan *l = &p->loan[EC_SPACE];
	int ri = shm_txring(p);
	unsigned char *ring = shm_data(p, ri);
	uint64_t need, keep;
	int rc;

	if ((rc = loan_back(l, buf)) < 0)
		return rc;
	if (len > l->len) {
		loan_put(l, LOAN_OUT);
		return -EINVAL;
	}
	if ((rc = __atomic_load_n(&p->broken, __ATOMIC_RELAXED)) < 0) {
		loan_abandon(p, l);     /* nobody can receive it: given back */
		loan_put(l, LOAN_FREE);
		return rc;
	}
	need = shm_need(l->len);
	keep = shm_need(len);
	if (keep < need) {
		__atomic_store_n(shm_rlen(p, ring, l->pos + keep), (uint32_t)(need - keep - SHM_RECHDR),
		                 __ATOMIC_RELAXED);
		__atomic_store_n(shm_rstate(p, ring, l->pos + keep), R_ABANDONED, __ATOMIC_RELAXED);
	}
	/* Our own length, whatever a peer wrote there meanwhile; the release
	 * publishes it, the filler and the caller's bytes together. */
	__atomic_store_n(shm_rlen(p, ring, l->pos), (uint32_t)len, __ATOMIC_RELAXED);
	__atomic_store_n(shm_rstate(p, ring, l->pos), R_COMMITTED, __ATOMIC_RELEASE);
	loan_put(l, LOAN_FREE);
	ipc__shm_notify(p, ri, EC_DATA);
	p->done[EC_SPACE]++;
	return 0;
}

int
ipc__shm_send_abort(ipc_channel *ch, void *buf)
{
	struct shm_priv *p = ch->priv;
	struct shm_loan *l = &p->loan[EC_SPACE];
	int rc;

	if ((rc = loan_back(l, buf)) < 0)
		return rc;
	loan_abandon(p, l);
	loan_put(l, LOAN_FREE);
	return 0;
}

/* Claim the next committed record as ipc__shm_try_recv() does, but leave it
 * in the ring: the claim stays until the loan is released. Every index and
 * length passes ipc__shm_next()'s checks (aligned, within [rpos, tail],
 * length <= max_msg, record within the tail). */
static ssize_t
loan_try_peek(ipc_channel *ch, long long deadline, int reap, uint64_t *at)
{
	struct shm_priv *p = ch->priv;
	int ri = shm_rxring(p);
	struct shm_ring *r = &p->seg->ring[ri];
	unsigned char *ring = shm_data(p, ri);
	uint64_t pos, need;
	int len, rc;

	if ((rc = ipc__shm_lock(ch, &r->clock, deadline)) < 0)
		return rc;
	len = ipc__shm_next(p, r, ring, &pos, &need, reap);
	if (len < 0) {
		ipc__shm_unlock(&r->clock);
		if (len == -EPROTO)
			return shm_proto(p);
		if (reap)
			ipc__shm_notify(p, ri, EC_SPACE);
		return len;
	}
	if (p->spin_max && __atomic_load_n(&r->ccpu, __ATOMIC_RELAXED) != (uint32_t)p->cpu[EC_DATA])
		__atomic_store_n(&r->ccpu, (uint32_t)p->cpu[EC_DATA], __ATOMIC_RELAXED);
	__atomic_store_n(&p->seg->claim[p->slot], ipc__shm_claim_word(pos, ri), __ATOMIC_RELAXED);
	__atomic_store_n(&r->rpos, pos + need, __ATOMIC_RELEASE);
	ipc__shm_unlock(&r->clock);
	*at = pos;
	return len;
}

ssize_t
ipc__shm_recv_peek(ipc_channel *ch, const void **buf, int timeout_ms)
{
	struct shm_priv *p = ch->priv;
	struct shm_loan *l = &p->loan[EC_DATA];
	long long deadline = ipc_deadline(timeout_ms);
	int reap = 0, slept = 0, rearmed = 0, rc;
	uint64_t pos = 0;
	ssize_t n;

	if ((rc = loan_take(l)) < 0)
		return rc;
	if ((rc = loan_enter(ch, EC_DATA)) < 0) {
		loan_put(l, LOAN_FREE);
		return rc;
	}
	/* The wait of shm_recv_common() (shm.c), around a claim. */
	for (;;) {
		uint32_t departs = __atomic_load_n(&p->seg->meta.departs, __ATOMIC_SEQ_CST);

		n = loan_try_peek(ch, deadline, reap, &pos);
		if (n != SHM_BLOCKED)
			break;
		if ((rc = __atomic_load_n(&p->broken, __ATOMIC_RELAXED)) < 0) {
			n = rc;
			break;
		}
		if (!reap && ipc__shm_reap_due(p, slept)) {
			reap = 1;
			continue;
		}
		if (ipc__shm_peer_gone(p, slept == SHM_TIMEDOUT)) {
			n = loan_try_peek(ch, deadline, 1, &pos);
			if (n == SHM_BLOCKED)
				n = IPC_EOF;
			break;
		}
		rc = ipc__shm_block(ch, shm_rxring(p), EC_DATA, 0, departs, deadline, &slept);
		if (rc == -EAGAIN && p->bellfd >= 0 && !rearmed) {
			rearmed = 1;
			if (ipc__shm_rearm(p))
				continue;
		}
		if (rc < 0) {
			n = rc;
			break;
		}
		reap = 0;
	}
	if (n < 0) {
		loan_put(l, LOAN_FREE);
		return n;
	}
	l->pos = pos;
	l->len = (size_t)n;
	l->buf = loan_ptr(p, shm_rxring(p), pos);
	*buf = l->buf;
	loan_put(l, LOAN_OUT);
	if (ipc__crash_at("shm-loan-peeked"))
		_exit(99);
	return n;
}

/* Our reads of the record are done before a sender that sees the claim gone
 * may overwrite it (release). */
static void
loan_unclaim(struct shm_priv *p)
{
	__atomic_store_n(&p->seg->claim[p->slot], 0, __ATOMIC_RELEASE);
	ipc__shm_notify(p, shm_rxring(p), EC_SPACE);
	p->done[EC_DATA]++;
}

int
ipc__shm_recv_release(ipc_channel *ch, const void *buf)
{
	struct shm_priv *p = ch->priv;
	struct shm_loan *l = &p->loan[EC_DATA];
	int rc;

	if ((rc = loan_back(l, buf)) < 0)
		return rc;
	loan_unclaim(p);
	loan_put(l, LOAN_FREE);
	return 0;
}

/* Closing with loans out: a reserved record is abandoned, a peeked one
 * released (it is not delivered again). The caller owns the slot. */
void
ipc__shm_loans_close(struct shm_priv *p)
{
	if (__atomic_load_n(&p->loan[EC_SPACE].state, __ATOMIC_ACQUIRE) == LOAN_OUT)
		loan_abandon(p, &p->loan[EC_SPACE]);
	if (__atomic_load_n(&p->loan[EC_DATA].state, __ATOMIC_ACQUIRE) == LOAN_OUT)
		loan_unclaim(p);
	p->loan[EC_SPACE].state = p->loan[EC_DATA].state = LOAN_FREE;
}
