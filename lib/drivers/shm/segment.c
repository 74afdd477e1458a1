/* shm: the object and its header. Creating, attaching, mapping (with a
 * guard page), judging an existing name, and the checks that every size and
 * position read from the segment passes before use. The layout and the
 * protocol are described in doc/ipc-shm.7. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm.h"

/* Check ring @p ri's positions without its locks. A snapshot is consistent
 * while tail holds still, so tail is read before and after head and rpos;
 * then head <= rpos <= tail <= head + capacity, all 8-aligned, must hold.
 * -EPROTO (and the channel broken) when it does not; 0 also when the ring
 * moved too fast to tell (the locked paths check it anyway). */
int
ipc__shm_ring_check(struct shm_priv *p, int ri)
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

int
ipc__shm_name_ok(const char *name)
{
	size_t n = strlen(name);

	return name[0] == '/' && n >= 2 && n <= NAME_MAX && !strchr(name + 1, '/');
}

int
ipc__shm_same_object(const char *name, int fd)
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
	    ipc__shm_byte_lock(fd, 0, F_OFD_SETLK, F_WRLCK) < 0) {
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
		    ipc__shm_byte_held(fd, i))
			rc = -EEXIST;
	munmap(seg, SHM_HDR);
	if (rc == 0 && ipc__shm_same_object(name, fd))
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

	if (!opt->max_msg)      /* left to the default (the core keeps it 0) */
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

size_t
ipc__shm_page(void)
{
	long n = sysconf(_SC_PAGESIZE);

	return n > 0 ? (size_t)n : 4096;
}

/* Map the segment with a PROT_NONE guard page after it: an access past the
 * end faults instead of reading whatever was mapped there. Each ring is
 * mapped twice, back to back (the "mirror"), so that any record of up to
 * the ring's size starting inside the ring is one contiguous range of
 * memory: a loan (loan.c) hands that range out as it is. The mirror needs
 * the header and the capacity to be whole pages; elsewhere each ring is
 * mapped once and loans answer -EOPNOTSUPP. Page tables are filled now, so
 * no page fault comes in the middle of a message. */
static int
shm_map(struct shm_priv *p, size_t total, uint64_t cap)
{
	size_t guard = ipc__shm_page();
	int mirror = SHM_HDR % guard == 0 && cap % guard == 0;
	size_t span = mirror ? SHM_HDR + 4 * (size_t)cap : total;
	const int prot = PROT_READ | PROT_WRITE, fl = MAP_SHARED | MAP_FIXED | MAP_POPULATE;
	unsigned char *at = mmap(NULL, span + guard, PROT_NONE,
	                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	int r, k, rc = 0;

	if (at == MAP_FAILED)
		return -errno;
	if (!mirror) {
		if (mmap(at, total, prot, fl, p->fd, 0) == MAP_FAILED)
			rc = -errno;
	} else if (mmap(at, SHM_HDR, prot, fl, p->fd, 0) == MAP_FAILED) {
		rc = -errno;
	} else {
		for (r = 0; r < 2 && !rc; r++)
			for (k = 0; k < 2 && !rc; k++)
				if (mmap(at + SHM_HDR + (size_t)(2 * r + k) * cap, (size_t)cap, prot,
				         fl, p->fd, (off_t)(SHM_HDR + (uint64_t)r * cap)) == MAP_FAILED)
					rc = -errno;
	}
	if (rc < 0) {
		munmap(at, span + guard);
		return rc;
	}
	p->seg = (struct shm_seg *)(void *)at;
	p->size = span;
	p->stride = mirror ? 2 * cap : cap;
	p->mirrored = mirror;
	return 0;
}

int
ipc__shm_create(ipc_channel *ch, const ipc_options *opt)
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
		if (ipc__shm_byte_lock(p->fd, 0, F_OFD_SETLK, F_WRLCK) == 0)
			break;
		close(p->fd);
		p->fd = -1;
	}
	p->created = 1;
	if (fchmod(p->fd, opt->mode) < 0 || ftruncate(p->fd, (off_t)total) < 0)
		return -errno;
	if ((rc = posix_fallocate(p->fd, 0, (off_t)total)) != 0)
		return -rc;
	if ((rc = shm_map(p, total, cap)) < 0)
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

int
ipc__shm_attach(ipc_channel *ch, const ipc_options *opt)
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
		if ((n & 15) == 0 && !ipc__shm_same_object(p->name, p->fd)) {
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
	if ((rc = shm_map(p, (size_t)m.total, m.capacity)) < 0)
		return rc;
	p->cap = m.capacity;
	p->mask = m.capacity - 1;
	shm_set_max(p, opt);
	if ((rc = ipc__shm_claim_slot(p, SIDE_B, 1)) < 0)
		return rc;
	/* Event loops on side A look at their peers again: watch this one. */
	if (__atomic_load_n(&p->seg->ring[shm_txring(p)].ec[EC_DATA].pollers,
	                    __ATOMIC_SEQ_CST))
		ipc__shm_ring_bells(p, shm_txring(p));
	return 0;
}
