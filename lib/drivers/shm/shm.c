/* shm: a queue pair in one POSIX shared-memory object, the transport's ops
 * table. The protocol (layout, records, claims, liveness, waiting, the
 * doorbell) is described once, in doc/ipc-shm.7; the files beside this one
 * each hold one part of it: segment.c, slot.c, ring.c, wait.c, bell.c. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shm.h"

static ssize_t
shm_send(ipc_channel *ch, const void *buf, size_t len, int timeout_ms)
{
	struct shm_priv *p = ch->priv;
	long long deadline = ipc_deadline(timeout_ms);
	int reap = 0, slept = 0, rc;
	ssize_t n;

	if ((rc = shm_enter(ch, EC_SPACE)) < 0)
		return rc;
	if (len > ipc__shm_peer_limit(p, 0) && len > ipc__shm_peer_limit(p, 1))
		return -EMSGSIZE;
	for (;;) {
		/* Taken before the liveness look: a departure after it makes
		 * ipc__shm_block() return at once instead of sleeping. */
		uint32_t departs = __atomic_load_n(&p->seg->meta.departs, __ATOMIC_SEQ_CST);

		/* A fresh look through the kernel after a sleep ran out, or
		 * when someone left since the cached answer. */
		if (ipc__shm_peer_gone(p, slept == SHM_TIMEDOUT))
			return -EPIPE;
		n = ipc__shm_try_send(ch, buf, len, deadline, reap);
		if (n != SHM_BLOCKED)
			return n;
		if ((rc = __atomic_load_n(&p->broken, __ATOMIC_RELAXED)) < 0)
			return rc;  /* a look while waiting found the segment broken */
		if (!reap && ipc__shm_reap_due(p, slept)) {
			reap = 1;   /* free what dead readers held, then retry */
			continue;
		}
		if ((rc = ipc__shm_block(ch, shm_txring(p), EC_SPACE, shm_need(len), departs,
		                    deadline, &slept)) < 0)
			return rc;
		reap = 0;
	}
}

/* Whether the peer's receivers take a message of @p len (ipc_send's rule). */
static int
shm_fits_peer(ipc_channel *ch, size_t len)
{
	struct shm_priv *p = ch->priv;

	return len <= ipc__max_msg(&ch->opt) &&
	       (len <= ipc__shm_peer_limit(p, 0) || len <= ipc__shm_peer_limit(p, 1));
}

/* n sends in one budget, as many per reservation as fit (see
 * ipc__shm_try_send_batch); between reservations the same wait as
 * shm_send. A message larger than the peer takes ends the batch before it.
 * Once something went out, a failure only ends the batch: the count is the
 * answer, and the next call meets the failure again. */
static ssize_t
shm_send_batch(ipc_channel *ch, const struct iovec *msgs, size_t n, int timeout_ms)
{
	struct shm_priv *p = ch->priv;
	long long deadline = ipc_deadline(timeout_ms);
	int reap = 0, slept = 0, rc;
	size_t m, done = 0;
	ssize_t k;

	if ((rc = shm_enter(ch, EC_SPACE)) < 0)
		return rc;
	for (m = 0; m < n && shm_fits_peer(ch, msgs[m].iov_len); m++)
		;
	if (m == 0)
		return -EMSGSIZE;
	for (;;) {
		uint32_t departs = __atomic_load_n(&p->seg->meta.departs, __ATOMIC_SEQ_CST);

		if (ipc__shm_peer_gone(p, slept == SHM_TIMEDOUT))
			return done ? (ssize_t)done : -EPIPE;
		k = ipc__shm_try_send_batch(ch, msgs + done, m - done, deadline, reap);
		if (k > 0) {
			if ((done += (size_t)k) == m)
				return (ssize_t)m;
			/* the rest did not fit: wait for room as for a single send */
		} else if (k != SHM_BLOCKED) {
			return done ? (ssize_t)done : k;
		}
		if ((rc = __atomic_load_n(&p->broken, __ATOMIC_RELAXED)) < 0)
			return done ? (ssize_t)done : rc;
		if (!reap && ipc__shm_reap_due(p, slept)) {
			reap = 1;   /* free what dead readers held, then retry */
			continue;
		}
		if ((rc = ipc__shm_block(ch, shm_txring(p), EC_SPACE, shm_need(msgs[done].iov_len),
		                         departs, deadline, &slept)) < 0)
			return done ? (ssize_t)done : rc;
		reap = 0;
	}
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

		n = ipc__shm_try_recv(ch, buf, cap, peek, deadline, reap);
		if (n != SHM_BLOCKED)
			return n;
		if ((rc = __atomic_load_n(&p->broken, __ATOMIC_RELAXED)) < 0)
			return rc;  /* a look while waiting found the segment broken */
		if (!reap && ipc__shm_reap_due(p, slept)) {
			reap = 1;   /* skip records of writers that died, then retry */
			continue;
		}
		/* Nothing committed: an end when nobody is left to send. The
		 * check is made after the ring was seen empty, and a closing
		 * peer commits before it leaves, so nothing sent is lost. */
		if (ipc__shm_peer_gone(p, slept == SHM_TIMEDOUT)) {
			n = ipc__shm_try_recv(ch, buf, cap, peek, deadline, 1);
			return n == SHM_BLOCKED ? IPC_EOF : n;
		}
		rc = ipc__shm_block(ch, shm_rxring(p), EC_DATA, 0, departs, deadline, &slept);
		if (rc == -EAGAIN && p->bellfd >= 0 && !rearmed) {
			rearmed = 1;
			if (ipc__shm_rearm(p))
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

/* Waits for the first message only, as shm_recv; then takes what is
 * committed behind it in the same claim (ipc__shm_try_recv_batch). */
static ssize_t
shm_recv_batch(ipc_channel *ch, struct iovec *msgs, size_t n, int timeout_ms)
{
	struct shm_priv *p = ch->priv;
	long long deadline = ipc_deadline(timeout_ms);
	int reap = 0, slept = 0, rearmed = 0, rc;
	ssize_t k;

	if ((rc = shm_enter(ch, EC_DATA)) < 0)
		return rc;
	for (;;) {
		uint32_t departs = __atomic_load_n(&p->seg->meta.departs, __ATOMIC_SEQ_CST);

		k = ipc__shm_try_recv_batch(ch, msgs, n, deadline, reap);
		if (k != SHM_BLOCKED)
			return k;
		if ((rc = __atomic_load_n(&p->broken, __ATOMIC_RELAXED)) < 0)
			return rc;
		if (!reap && ipc__shm_reap_due(p, slept)) {
			reap = 1;
			continue;
		}
		/* the end only once the ring was seen empty (see shm_recv_common) */
		if (ipc__shm_peer_gone(p, slept == SHM_TIMEDOUT)) {
			k = ipc__shm_try_recv_batch(ch, msgs, n, deadline, 1);
			return k == SHM_BLOCKED ? IPC_EOF : k;
		}
		rc = ipc__shm_block(ch, shm_rxring(p), EC_DATA, 0, departs, deadline, &slept);
		if (rc == -EAGAIN && p->bellfd >= 0 && !rearmed) {
			rearmed = 1;
			if (ipc__shm_rearm(p))
				continue;
		}
		if (rc < 0)
			return rc;
		reap = 0;
	}
}

static void
shm_shutdown(ipc_channel *ch)
{
	struct shm_priv *p = ch->priv;

	if (p->seg)
		ipc__shm_wake_all(p->seg);
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
	if (ipc__shm_ring_check(p, shm_rxring(p)) < 0)
		return 1;   /* the receive reports it */
	m = &p->seg->meta;
	other = p->side == SIDE_A ? SIDE_B : SIDE_A;
	if (ipc__shm_ready(p, shm_rxring(p), EC_DATA, 0))
		return 1;
	return __atomic_load_n(&m->ever[other], __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&m->live[other], __ATOMIC_ACQUIRE);
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
	if (!ipc__shm_name_ok(addr))
		return -EINVAL;
	if (!(p->name = strdup(addr)))
		return -ENOMEM;
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
	rc = flags & IPC_CREATE ? ipc__shm_create(ch, opt) : ipc__shm_attach(ch, opt);
	if (rc == 0)
		ipc__shm_list_add(p);
	return rc;
}

static void
shm_close(ipc_channel *ch)
{
	struct shm_priv *p = ch->priv;
	int own = !ipc_channel_foreign(ch);

	ipc__shm_list_remove(p);
	/* The slot belongs to the process that claimed it: the opener, or a
	 * forked child (see shm_fork_prepare() in slot.c). A child that could
	 * not get one has none (slot -1). */
	if (p->seg && p->slot >= 0 && p->slot_pid == getpid()) {
		ipc__shm_loans_close(p);    /* before the slot's tag and claim go */
		ipc__shm_release_slot(p);
	}
	if (p->created && own && p->fd >= 0 && ipc__shm_same_object(p->name, p->fd))
		shm_unlink(p->name);
	if (p->seg)
		munmap(p->seg, p->size + ipc__shm_page());
	if (p->fd >= 0)
		close(p->fd);
	ipc__shm_drop_events(p);
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
	.size      = sizeof(struct ipc_driver),
	.scheme    = "shm",
	.priv_size = sizeof(struct shm_priv),
	.open      = shm_open_ch,
	.send      = shm_send,
	.recv      = shm_recv,
	.recv_size = shm_recv_size,
	.fd        = ipc__shm_fd,
	.pending   = shm_pending,
	.poll      = ipc__shm_poll,
	.shutdown  = shm_shutdown,
	.close     = shm_close,
	.send_batch   = shm_send_batch,
	.recv_batch   = shm_recv_batch,
	.send_reserve = ipc__shm_send_reserve,
	.send_commit  = ipc__shm_send_commit,
	.send_abort   = ipc__shm_send_abort,
	.recv_peek    = ipc__shm_recv_peek,
	.recv_release = ipc__shm_recv_release,
};
